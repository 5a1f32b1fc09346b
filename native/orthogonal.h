// Gram-Schmidt of src/model/init.ts (`orthogonal`) for one ISA level: orthogonal.cc includes this
// inside each level's `#pragma GCC target` region and namespace, after defining VL (the doubles of
// its widest vector). No includes here.
//
// W matrices (gate blocks) go side by side, interleaved: element k of row i of matrix w is at
// q[i·R + k·W + w] (R ≥ n·W; a row stride off a multiple of 4 KiB spares the loads of rows j the
// stall of seeming to alias the stores to rows i, i+1 (4K aliasing)), so one vector holds the same element of several matrices and every lane does
// the scalar code's IEEE double operations in the scalar code's order: x = q_i[k] − d·q_p[k] (a
// multiply, then a subtraction), s += x·q_j[k] (a multiply, then an addition), sqrt, division. No
// FMA (binding.gyp: -ffp-contract=off), so the bits are the JavaScript code's on every level.
//
// The pipeline is init.ts's: row i's second pass over rows j < i runs in the same loop as row
// i+1's first pass over the same rows (two independent chains per lane), each subtraction fused
// into the next dot product's loop.

/** L doubles: a GCC vector (lane-wise IEEE arithmetic), or a plain double for L = 1. */
template <int L>
struct Vec {
  typedef double T __attribute__((vector_size(8 * L)));
};
template <>
struct Vec<1> {
  typedef double T;
};

/**
 * How far ahead (doubles) to prefetch the rows j being read: 8 KiB. The whole matrix is read
 * once per row i, so for n in the hundreds and up it comes from L3 or memory, where the hardware
 * prefetcher alone left the loop waiting (twice as slow at n = 724, 1024).
 */
static const int AHEAD = 1024;

/** Rows of W = L·M interleaved matrices, each element M vectors of L lanes. */
template <int L, int M>
struct GramSchmidt {
  typedef typename Vec<L>::T T;
  static const int W = L * M;
  /** One double per matrix: a row's dot product or its pending multiplier d. */
  struct D {
    T v[M];
  };

  static inline T load(const double* p) {
    T x;
    __builtin_memcpy(&x, p, sizeof x);
    return x;
  }
  static inline void store(double* p, T x) { __builtin_memcpy(p, &x, sizeof x); }

  /** Σ_k x_k·c_k, where first (when p) x −= d·p is applied and written back; c may be x itself. */
  static D subtractDot(double* x, const double* p, const D& d, const double* c, int n) {
    D s;
#pragma GCC unroll 8
    for (int m = 0; m < M; m++) s.v[m] = T{};
    if (!p) {
      for (long k = 0; k < static_cast<long>(n) * W; k += W)
#pragma GCC unroll 8
        for (int m = 0; m < M; m++) s.v[m] = s.v[m] + load(x + k + m * L) * load(c + k + m * L);
    } else {
      for (long k = 0; k < static_cast<long>(n) * W; k += W) {
#pragma GCC unroll 8
        for (int m = 0; m < M; m++) {
          const T v = load(x + k + m * L) - d.v[m] * load(p + k + m * L);
          store(x + k + m * L, v);
          s.v[m] = s.v[m] + v * load(c + k + m * L);
        }
      }
    }
    return s;
  }

  /** Two rows a, b at once: each x −= d·p, then d = Σ_k x_k·c_k (two independent chains per lane). */
  static void subtractDot2(double* __restrict a, D& da, double* __restrict b, D& db, const double* p, const double* c,
                           int n) {
    D sa, sb;
#pragma GCC unroll 8
    for (int m = 0; m < M; m++) sa.v[m] = sb.v[m] = T{};
#pragma GCC unroll 2
    for (long k = 0; k < static_cast<long>(n) * W; k += W) {
      __builtin_prefetch(c + k + AHEAD); // past the row's end: the next row j, read next
#pragma GCC unroll 8
      for (int m = 0; m < M; m++) {
        const T pk = load(p + k + m * L), ck = load(c + k + m * L);
        const T xa = load(a + k + m * L) - da.v[m] * pk;
        store(a + k + m * L, xa);
        sa.v[m] = sa.v[m] + xa * ck;
        const T xb = load(b + k + m * L) - db.v[m] * pk;
        store(b + k + m * L, xb);
        sb.v[m] = sb.v[m] + xb * ck;
      }
    }
    da = sa;
    db = sb;
  }

  /** Row i as drawn (the W matrices' rows one after another, [w][k]) becomes interleaved ([k][w]). */
  static void interleave(double* row, int n, double* tmp) {
    __builtin_memcpy(tmp, row, sizeof(double) * n * W);
    for (int w = 0; w < W; w++)
      for (long k = 0; k < n; k++) row[k * W + w] = tmp[w * n + k];
  }

  /**
   * Finishes rows i0..i1−1 of q (n×n per matrix). Before: rows < i0 are final, row i0 has had its
   * first pass (rows j < i0) applied (i0 = 0: row 0 as drawn), later rows are as drawn. After: the
   * same with i1 for i0. A row as drawn holds the W matrices' rows one after another (JavaScript
   * fills it with contiguous draws); it is interleaved here when first used.
   */
  static void rows(double* q, int n, long R, int i0, int i1, double* tmp) {
    const D none = {};
    D da = none, db = none; // the rows' pending subtractions d·q_p (row a's: none at the start)
    const double* pa = nullptr;
    if (i0 == 0 && i1 > 0) interleave(q, n, tmp);
    for (int i = i0; i < i1; i++) {
      double* a = q + i * R;
      double* b = i + 1 < n ? a + R : nullptr; // row i+1: its first pass beside row i's second
      if (b) interleave(b, n, tmp);
      if (i > 0) {
        da = subtractDot(a, pa, da, q, n);
        if (b) db = subtractDot(b, nullptr, none, q, n);
        for (int j = 1; j < i; j++) {
          if (b) subtractDot2(a, da, b, db, q + (j - 1) * R, q + j * R, n);
          else da = subtractDot(a, q + (j - 1) * R, da, q + j * R, n);
        }
        pa = q + (i - 1) * R;
      }
      const D s = subtractDot(a, pa, da, a, n); // ‖q_i‖²
      D norm;
      for (int m = 0; m < M; m++)
        for (int l = 0; l < L; l++) {
          double v;
          __builtin_memcpy(&v, reinterpret_cast<const double*>(&s.v[m]) + l, 8);
          v = __builtin_sqrt(v);
          __builtin_memcpy(reinterpret_cast<double*>(&norm.v[m]) + l, &v, 8);
        }
      for (long k = 0; k < static_cast<long>(n) * W; k += W)
#pragma GCC unroll 8
        for (int m = 0; m < M; m++) store(a + k + m * L, load(a + k + m * L) / norm.v[m]);
      if (b) { // row i+1's first pass, last step: j = i, now final
        da = subtractDot(b, i > 0 ? pa : nullptr, db, a, n);
        pa = a;
      }
    }
    // Row i1's pending subtraction, applied so that the next call starts from a clean row.
    if (i1 > i0 && i1 < n) {
      double* x = q + i1 * R;
      for (long k = 0; k < static_cast<long>(n) * W; k += W)
#pragma GCC unroll 8
        for (int m = 0; m < M; m++) store(x + k + m * L, load(x + k + m * L) - da.v[m] * load(pa + k + m * L));
    }
  }
};

template <int W>
static void rowsOf(double* q, int n, long R, int i0, int i1, double* tmp) {
  const int L = W < VL ? W : VL;
  GramSchmidt<L, W / L>::rows(q, n, R, i0, i1, tmp);
}

/** Rows i0..i1−1 of W ∈ {1, 2, 4, 8, 16} interleaved matrices (tmp: n·W doubles); false for another W. */
static bool orthogonalRows(double* q, int n, int W, long R, int i0, int i1, double* tmp) {
  switch (W) {
    case 1: rowsOf<1>(q, n, R, i0, i1, tmp); return true;
    case 2: rowsOf<2>(q, n, R, i0, i1, tmp); return true;
    case 4: rowsOf<4>(q, n, R, i0, i1, tmp); return true;
    case 8: rowsOf<8>(q, n, R, i0, i1, tmp); return true;
    case 16: rowsOf<16>(q, n, R, i0, i1, tmp); return true;
    default: return false;
  }
}
