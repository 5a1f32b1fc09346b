// Stewart's algorithm of src/model/init.ts (`orthogonal`, `reflectColumns`) for one ISA level:
// orthogonal.cc includes this inside each level's `#pragma GCC target` region and namespace, after
// defining VL (the doubles of its widest vector). No includes here.
//
// Column j of Q is S_j·M_0(M_1(···M_K e_j)), K = min(j, n − 2), M_k = I − v_k v_kᵀ on coordinates
// k..n−1 (v_k[t] at xs[k·n − k(k+1)/2 + t]). B = L·M columns go side by side, one per lane (a
// column's element t at c[t·B + b]), so one vector holds the same element of B columns, and each
// lane does the JavaScript code's IEEE double operations in its order: s += v·c (a multiply, then
// an addition), c − s·v (a multiply, then a subtraction). No FMA (binding.gyp: -ffp-contract=off),
// so the bits are the JavaScript code's on every level. The block starts at the K of its last
// column: for a column j below it, reflections k > j see c = e_j's zeros (s = ±0, c unchanged), so
// its bits are those of starting at its own K, and any split into blocks gives the same bits.

/** L doubles: a GCC vector (lane-wise IEEE arithmetic), or a plain double for L = 1. */
template <int L>
struct Vec {
  typedef double T __attribute__((vector_size(8 * L)));
};
template <>
struct Vec<1> {
  typedef double T;
};

/** Blocks of B = L·M columns, each row of a block M vectors of L lanes. */
template <int L, int M>
struct Stewart {
  typedef typename Vec<L>::T T;
  static const int B = L * M;
  /** One double per column: a pending dot product s. */
  struct D {
    T v[M];
  };

  static inline T load(const double* p) {
    T x;
    __builtin_memcpy(&x, p, sizeof x);
    return x;
  }
  static inline void store(double* p, T x) { __builtin_memcpy(p, &x, sizeof x); }
  static inline T splat(double x) { return x - T{}; }  // x in every lane (x − 0 = x, −0 too)

  /** Where v_k[t] is in xs, minus t. */
  static inline const double* vOf(const double* xs, long n, long k) { return xs + (k * n - k * (k + 1) / 2); }

  /**
   * Columns j0..j0+nb−1 (nb ≤ B; spare lanes hold zero columns) of Q into out (row-major n×n,
   * float or double): out[t·n + j] = c_j[t]·sg[j] (sg: S_j·gain). c: n·B doubles of scratch.
   */
  template <typename Out>
  static void block(const double* xs, int n, const double* sg, Out* out, int j0, int nb, double* c) {
    __builtin_memset(c, 0, sizeof(double) * n * B);
    for (int b = 0; b < nb; b++) c[static_cast<long>(j0 + b) * B + b] = 1;
    const int K = j0 + nb - 1 < n - 2 ? j0 + nb - 1 : n - 2;
    if (K >= 0) {  // n = 1: Q = S (no reflection)
      D s;
#pragma GCC unroll 8
      for (int m = 0; m < M; m++) s.v[m] = T{};
      const double* v = vOf(xs, n, K);
      for (long t = K; t < n; t++) {
        const T x = splat(v[t]);
#pragma GCC unroll 8
        for (int m = 0; m < M; m++) s.v[m] = s.v[m] + x * load(c + t * B + m * L);
      }
      // M_k with s = v_k·c, summing the next s = v_{k−1}·c in the same pass (coordinate k − 1 first:
      // M_k leaves it), M independent chains of L lanes.
      for (int k = K; k >= 1; k--) {
        const double* y = vOf(xs, n, k - 1);
        const long q = k - 1;
        D u;
        const T yq = splat(y[q]);
#pragma GCC unroll 8
        for (int m = 0; m < M; m++) u.v[m] = yq * load(c + q * B + m * L);
        for (long t = k; t < n; t++) {
          const T x = splat(v[t]), yt = splat(y[t]);
#pragma GCC unroll 8
          for (int m = 0; m < M; m++) {
            const T cn = load(c + t * B + m * L) - s.v[m] * x;
            store(c + t * B + m * L, cn);
            u.v[m] = u.v[m] + yt * cn;
          }
        }
        s = u;
        v = y;
      }
      for (long t = 0; t < n; t++) {
        const T x = splat(v[t]);
#pragma GCC unroll 8
        for (int m = 0; m < M; m++) store(c + t * B + m * L, load(c + t * B + m * L) - s.v[m] * x);
      }
    }
    for (long t = 0; t < n; t++)
      for (int b = 0; b < nb; b++) out[t * n + j0 + b] = static_cast<Out>(c[t * B + b] * sg[j0 + b]);
  }

  template <typename Out>
  static void columns(const double* xs, int n, const double* sg, Out* out, int j0, int j1, double* c) {
    for (int j = j0; j < j1; j += B) block(xs, n, sg, out, j, j1 - j < B ? j1 - j : B, c);
  }
};

/** 4 vectors of 8 lanes (AVX-512), else 8 vectors: enough independent sums per lane to hide the adds' latency (at n = 1024, 8 vectors of 2 lanes ran 15% faster than 4, of 4 lanes about as fast). */
typedef Stewart<VL, VL == 8 ? 4 : 8> Level;

/** Columns j0..j1−1 of the n×n orthogonal matrix of xs and sg into out (float or double); c: columnScratch(n) doubles. */
static void orthogonalColumns(const double* xs, int n, const double* sg, void* out, bool f32, int j0, int j1, double* c) {
  if (f32) Level::columns(xs, n, sg, static_cast<float*>(out), j0, j1, c);
  else Level::columns(xs, n, sg, static_cast<double*>(out), j0, j1, c);
}
static long columnScratch(int n) { return static_cast<long>(n) * Level::B; }
