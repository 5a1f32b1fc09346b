// The kernels of one ISA level, written once over the lane type V (vec.h). kernels.cc includes
// this inside each ISA's `#pragma GCC target` region and namespace, after defining the blocking:
//   MR × NR   the micro-kernel's tile (NR = NV lanes-vectors), in registers
//   KC        the K block: a KC×NR micro-panel of B stays in L1 while MR-row panels of A pass by
//   MC, NC    the blocks of A (L2) and of B (L2/L3) packed per call
// No includes here but vmath.h (exp, tanh, σ).
//
// Determinism: C[m,n] = fma(A[m,K-1], B[K-1,n], ... fma(A[m,0], B[0,n], c0)) with c0 = C[m,n]
// (beta = 1) or 0, the k in order, then + bias[n], then tanh. Each K block starts its sum from
// the previous block's C, so the chain is the same for any blocking, tile position, M or N
// (tails run the same micro-kernel on zero-padded packs), and for packed or unpacked B.

static const int NR = NV * V::W;

#include "vmath.h" // tanh_v, sigmoid_v, vexp

/**
 * C[MR×NR] = (load ? C : 0) + Σ_k A[:,k]·B[k,:] (fma chain), then + bias, then the epilogue.
 * A[i,k] = A[i·rsA + k·csA]: a packed panel (rsA = 1, csA = MR) or, for rows of A that lie
 * contiguous in memory, A itself (rsA = its row stride, csA = 1): the same products in the same
 * order either way.
 */
static inline void micro(int kc, const float* A, long rsA, long csA, const float* B, float* C, long ldc,
                         bool load, const float* bias, int epi) {
  typedef V::T T;
  T c[MR][NV];
  if (load) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) c[i][j] = V::load(C + i * ldc + j * V::W);
  } else {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) c[i][j] = V::zero();
  }
  for (int k = 0; k < kc; k++) {
    T b[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) b[j] = V::load(B + j * V::W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const T a = V::set1(A[i * rsA]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) c[i][j] = V::fma(a, b[j], c[i][j]);
    }
    A += csA;
    B += NR;
  }
  if (bias) {
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) {
      const T bj = V::load(bias + j * V::W);
#pragma GCC unroll 16
      for (int i = 0; i < MR; i++) c[i][j] = V::add(c[i][j], bj);
    }
  }
  if (epi == 1) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) c[i][j] = tanh_v<V>(c[i][j]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) V::store(C + i * ldc + j * V::W, c[i][j]);
}

/** One mr×nr tile (mr ≤ MR, nr ≤ NR): partial tiles go through a full MR×NR copy, so the same micro-kernel runs. */
static inline void tile(int kc, const float* A, long rsA, long csA, const float* B, float* C, long ldc, int mr, int nr,
                        bool load, const float* bias, int epi) {
  if (mr == MR && nr == NR) return micro(kc, A, rsA, csA, B, C, ldc, load, bias, epi);
  partialTile<MR, NR>(C, ldc, mr, nr, load, bias, [&](float* t, const float* bt) { micro(kc, A, rsA, csA, B, t, NR, load, bt, epi); });
}

/** Pack A (mc×kc, strides rsA/csA) into MR-row panels, k-major inside a panel, zero rows past mc. */
static void packA(float* dst, const float* a, long rsA, long csA, int mc, int kc) {
  for (int i0 = 0; i0 < mc; i0 += MR, dst += (long)MR * kc) {
    const int mr = mc - i0 < MR ? mc - i0 : MR;
    const float* p = a + i0 * rsA;
    if (mr == MR && rsA == 1) { // A read transposed (weight gradients): MR contiguous floats per k
      for (int k = 0; k < kc; k++)
        for (int i = 0; i < MR; i++) dst[k * MR + i] = p[k * csA + i];
    } else {
      for (int i = 0; i < MR; i++)
        for (int k = 0; k < kc; k++) dst[k * MR + i] = i < mr ? p[i * rsA + k * csA] : 0.0f;
    }
  }
}

/** Pack B (kc×nc, strides rsB/csB) into NR-column panels `ps` floats apart, zero columns past nc. */
static void packB(float* dst, const float* b, long rsB, long csB, int kc, int nc, long ps) {
  for (int j0 = 0; j0 < nc; j0 += NR, dst += ps) {
    const int nr = nc - j0 < NR ? nc - j0 : NR;
    const float* p = b + j0 * csB;
    if (nr == NR && csB == 1) { // rows contiguous: NR floats per k
      for (int k = 0; k < kc; k++)
        for (int j = 0; j < NR; j++) dst[k * NR + j] = p[k * rsB + j];
    } else {
      for (int j = 0; j < NR; j++)
        for (int k = 0; k < kc; k++) dst[k * NR + j] = j < nr ? p[k * rsB + j * csB] : 0.0f;
    }
  }
}

static long packedFloats(int K, int N) { return (long)((N + NR - 1) / NR) * NR * (K > 0 ? K : 0); }

static void packBAll(float* dst, const float* b, long rsB, long csB, int K, int N) {
  if (K > 0 && N > 0) packB(dst, b, rsB, csB, K, N, (long)K * NR);
}

/**
 * C = (beta ? C : 0) + A·B (+ bias), epilogue. B is either unpacked (strides rsB/csB) or, when bp
 * is set, packed by packBAll for the same K, N. scratch: MC·KC + KC·NC floats.
 */
static void gemm(float* scratch, float* C, long ldc, const float* A, long rsA, long csA,
                 const float* B, long rsB, long csB, const float* bp,
                 int M, int N, int K, bool beta, const float* bias, int epi) {
  if (M <= 0 || N <= 0) return;
  float* As = scratch;
  float* Bs = scratch + (long)MC * KC;
  for (int jc = 0; jc < N; jc += NC) {
    const int nc = N - jc < NC ? N - jc : NC;
    for (int pc = 0; pc < K || pc == 0; pc += KC) { // K = 0 still runs the epilogue once
      const int kc = K - pc < KC ? (K > pc ? K - pc : 0) : KC;
      const bool load = beta || pc > 0, last = pc + kc >= K;
      const float* Bb;
      long ps; // floats between B's micro-panels
      if (bp) {
        Bb = bp + (long)jc * K + (long)pc * NR;
        ps = (long)K * NR;
      } else {
        packB(Bs, B + pc * rsB + jc * csB, rsB, csB, kc, nc, (long)kc * NR);
        Bb = Bs;
        ps = (long)kc * NR;
      }
      for (int ic = 0; ic < M; ic += MC) {
        const int mc = M - ic < MC ? M - ic : MC;
        const float* Ab = A + ic * rsA + pc * csA;
        // Rows of A contiguous (csA = 1: the states, the inputs, dG): the micro-kernel reads the
        // full MR-row panels in place, and only a last partial panel is packed (zero rows past mc).
        // (Packing copied A on every call, a cost the small per-step products felt most.)
        const bool direct = csA == 1 && kc > 0;
        const int full = direct ? mc / MR * MR : 0;
        if (full < mc) packA(As, Ab + (long)full * rsA, rsA, csA, mc - full, kc);
        for (int jr = 0; jr < nc; jr += NR) { // B's micro-panel stays in L1 over the rows
          const float* Bp = Bb + (jr / NR) * ps;
          const int nr = nc - jr < NR ? nc - jr : NR;
          const float* bj = last && bias ? bias + jc + jr : nullptr;
          for (int ir = 0; ir < mc; ir += MR) {
            const int mr = mc - ir < MR ? mc - ir : MR;
            float* Ct = C + (ic + ir) * ldc + jc + jr;
            if (ir < full) tile(kc, Ab + (long)ir * rsA, rsA, 1, Bp, Ct, ldc, mr, nr, load, bj, last ? epi : 0);
            else tile(kc, As + (long)(ir - full) * kc, 1, MR, Bp, Ct, ldc, mr, nr, load, bj, last ? epi : 0);
          }
        }
      }
    }
  }
}

static void tanhN(float* x, int n) {
  int i = 0;
  for (; i + V::W <= n; i += V::W) V::store(x + i, tanh_v<V>(V::load(x + i)));
  for (; i < n; i++) x[i] = tanh_v<S>(x[i]);
}

// The elementwise kernels: plain loops, lane-wise when vectorized (no reductions), so the same
// bits on every ISA. -ffp-contract=off keeps `1 - a*a` two roundings everywhere.
static void tanhBackward(float* dz, const float* da, const float* a, int n) {
  for (int i = 0; i < n; i++) dz[i] = da[i] * (1.0f - a[i] * a[i]);
}

static void addTo(float* y, const float* x, int n) {
  for (int i = 0; i < n; i++) y[i] += x[i];
}

static void mulInPlace(float* x, const float* m, int n) {
  for (int i = 0; i < n; i++) x[i] *= m[i];
}

static void gatherRows(float* out, long ldo, const float* table, long ldt, const int32_t* ids, long idStride,
                       int rows, int N, bool acc) {
  for (int r = 0; r < rows; r++) {
    float* o = out + r * ldo;
    const float* s = table + ids[r * idStride] * ldt;
    if (acc)
      for (int n = 0; n < N; n++) o[n] += s[n];
    else
      for (int n = 0; n < N; n++) o[n] = s[n];
  }
}

static void scatterAddRows(float* table, long ldt, const float* src, long lds, const int32_t* ids, long idStride,
                           int rows, int N) {
  for (int r = 0; r < rows; r++) { // in order: repeated ids add up the same way every time
    float* o = table + ids[r * idStride] * ldt;
    const float* s = src + r * lds;
    for (int n = 0; n < N; n++) o[n] += s[n];
  }
}

static void colSumAcc(float* db, const float* d, long ldd, int M, int N) {
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) db[n] += d[m * ldd + n];
}

/**
 * Σ_r sqrt(Σ_n x[r,n]²) in float64: each row's sum one chain in n order, the rows' roots added in
 * row order, so the same value on every level (and JavaScript's). A float's square is exact in
 * float64, so a fused multiply-add rounds once, as the add after the product does. It runs at
 * every BPTT step (the gradient-through-time profile) on a few short rows: side by side, rows'
 * chains are independent.
 */
static double sumRowNorms(const float* x, long ldx, int rows, int N) {
  double total = 0;
  int r = 0;
#if defined(RNN_AVX512) || defined(RNN_AVX2)
  // Four rows at a time in one register of four doubles: each 4×4 block of floats transposed, so
  // column n of the four rows is one conversion and one FMA into their four chains.
  for (; r + 4 <= rows; r += 4) {
    const float *x0 = x + r * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
    __m256d s = _mm256_setzero_pd();
    int n = 0;
    for (; n + 4 <= N; n += 4) {
      __m128 a0 = _mm_loadu_ps(x0 + n), a1 = _mm_loadu_ps(x1 + n), a2 = _mm_loadu_ps(x2 + n), a3 = _mm_loadu_ps(x3 + n);
      _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
      __m256d v = _mm256_cvtps_pd(a0);
      s = _mm256_fmadd_pd(v, v, s);
      v = _mm256_cvtps_pd(a1);
      s = _mm256_fmadd_pd(v, v, s);
      v = _mm256_cvtps_pd(a2);
      s = _mm256_fmadd_pd(v, v, s);
      v = _mm256_cvtps_pd(a3);
      s = _mm256_fmadd_pd(v, v, s);
    }
    double q[4];
    _mm256_storeu_pd(q, s);
    const float* xi[4] = {x0, x1, x2, x3};
    for (; n < N; n++)
      for (int i = 0; i < 4; i++) {
        const double v = xi[i][n];
        q[i] += v * v;
      }
    for (int i = 0; i < 4; i++) total += std::sqrt(q[i]);
  }
#else
  // Eight rows side by side: eight chains at once instead of one add's latency per element.
  for (; r + 8 <= rows; r += 8) {
    double s[8] = {};
    for (int n = 0; n < N; n++)
      for (int i = 0; i < 8; i++) {
        const double v = x[(r + i) * ldx + n];
        s[i] += v * v;
      }
    for (int i = 0; i < 8; i++) total += std::sqrt(s[i]);
  }
#endif
  for (; r < rows; r++) {
    double s = 0;
    for (int n = 0; n < N; n++) {
      const double v = x[r * ldx + n];
      s += v * v;
    }
    total += std::sqrt(s);
  }
  return total;
}

// The gate kernels of the LSTM and GRU (src/model/backend/types.ts says what each computes): per
// row, V::W units at a time, then the row's tail one unit at a time through the same template on
// S, so every unit gets the same float32 operations whatever its position. σ and tanh: vmath.h.

template <class L>
static inline typename L::T oneMinus(typename L::T x) { return L::sub(L::set1(1.0f), x); }

/** One LSTM unit group: gates i, f, g, o at g + {0, H, 2H, 3H} + j activated in place; c, h. */
template <class L>
static inline void lstmUnits(float* g, const float* cp, float* c, float* h, int H, int j) {
  typedef typename L::T T;
  const T i = sigmoid_v<L>(L::load(g + j)), f = sigmoid_v<L>(L::load(g + H + j));
  const T u = tanh_v<L>(L::load(g + 2 * H + j)), o = sigmoid_v<L>(L::load(g + 3 * H + j));
  L::store(g + j, i);
  L::store(g + H + j, f);
  L::store(g + 2 * H + j, u);
  L::store(g + 3 * H + j, o);
  const T ct = L::add(L::mul(f, L::load(cp + j)), L::mul(i, u));
  L::store(c + j, ct);
  L::store(h + j, L::mul(o, tanh_v<L>(ct)));
}

static void lstmForward(float* g, const float* cp, float* c, float* h, int rows, int H) {
  for (int r = 0; r < rows; r++, g += 4L * H, cp += H, c += H, h += H) {
    int j = 0;
    for (; j + V::W <= H; j += V::W) lstmUnits<V>(g, cp, c, h, H, j);
    for (; j < H; j++) lstmUnits<S>(g, cp, c, h, H, j);
  }
}

template <class L>
static inline void lstmBackUnits(float* dg, const float* g, const float* cp, const float* c, const float* dh, float* dc, int H, int j) {
  typedef typename L::T T;
  const T i = L::load(g + j), f = L::load(g + H + j), u = L::load(g + 2 * H + j), o = L::load(g + 3 * H + j);
  const T tc = tanh_v<L>(L::load(c + j)), dht = L::load(dh + j);
  const T dct = L::add(L::load(dc + j), L::mul(L::mul(dht, o), oneMinus<L>(L::mul(tc, tc))));
  L::store(dg + j, L::mul(L::mul(L::mul(dct, u), i), oneMinus<L>(i)));
  L::store(dg + H + j, L::mul(L::mul(L::mul(dct, L::load(cp + j)), f), oneMinus<L>(f)));
  L::store(dg + 2 * H + j, L::mul(L::mul(dct, i), oneMinus<L>(L::mul(u, u))));
  L::store(dg + 3 * H + j, L::mul(L::mul(L::mul(dht, tc), o), oneMinus<L>(o)));
  L::store(dc + j, L::mul(dct, f));
}

static void lstmBackward(float* dg, const float* g, const float* cp, const float* c, const float* dh, float* dc, int rows, int H) {
  for (int r = 0; r < rows; r++, dg += 4L * H, g += 4L * H, cp += H, c += H, dh += H, dc += H) {
    int j = 0;
    for (; j + V::W <= H; j += V::W) lstmBackUnits<V>(dg, g, cp, c, dh, dc, H, j);
    for (; j < H; j++) lstmBackUnits<S>(dg, g, cp, c, dh, dc, H, j);
  }
}

template <class L>
static inline void gruUnits(float* gi, const float* gh, const float* b, const float* hp, float* h, int H, int j) {
  typedef typename L::T T;
  const T r = sigmoid_v<L>(L::add(L::add(L::load(gi + j), L::load(b + j)), L::load(gh + j)));
  const T z = sigmoid_v<L>(L::add(L::add(L::load(gi + H + j), L::load(b + H + j)), L::load(gh + H + j)));
  const T n = tanh_v<L>(L::add(L::add(L::load(gi + 2 * H + j), L::load(b + 2 * H + j)), L::mul(r, L::load(gh + 2 * H + j))));
  L::store(gi + j, r);
  L::store(gi + H + j, z);
  L::store(gi + 2 * H + j, n);
  L::store(h + j, L::add(L::mul(oneMinus<L>(z), n), L::mul(z, L::load(hp + j))));
}

static void gruForward(float* gi, const float* gh, const float* b, const float* hp, float* h, int rows, int H) {
  for (int r = 0; r < rows; r++, gi += 3L * H, gh += 3L * H, hp += H, h += H) {
    int j = 0;
    for (; j + V::W <= H; j += V::W) gruUnits<V>(gi, gh, b, hp, h, H, j);
    for (; j < H; j++) gruUnits<S>(gi, gh, b, hp, h, H, j);
  }
}

template <class L>
static inline void gruBackUnits(float* dgi, float* dgh, const float* gi, const float* gh, const float* hp, float* dh, int H, int j) {
  typedef typename L::T T;
  const T r = L::load(gi + j), z = L::load(gi + H + j), n = L::load(gi + 2 * H + j), dht = L::load(dh + j);
  const T dn = L::mul(L::mul(dht, oneMinus<L>(z)), oneMinus<L>(L::mul(n, n)));
  const T dz = L::mul(L::mul(L::mul(dht, L::sub(L::load(hp + j), n)), z), oneMinus<L>(z));
  const T dr = L::mul(L::mul(L::mul(dn, L::load(gh + 2 * H + j)), r), oneMinus<L>(r));
  L::store(dgi + j, dr);
  L::store(dgi + H + j, dz);
  L::store(dgi + 2 * H + j, dn);
  L::store(dgh + j, dr);
  L::store(dgh + H + j, dz);
  L::store(dgh + 2 * H + j, L::mul(dn, r));
  L::store(dh + j, L::mul(dht, z));
}

static void gruBackward(float* dgi, float* dgh, const float* gi, const float* gh, const float* hp, float* dh, int rows, int H) {
  for (int r = 0; r < rows; r++, dgi += 3L * H, dgh += 3L * H, gi += 3L * H, gh += 3L * H, hp += H, dh += H) {
    int j = 0;
    for (; j + V::W <= H; j += V::W) gruBackUnits<V>(dgi, dgh, gi, gh, hp, dh, H, j);
    for (; j < H; j++) gruBackUnits<S>(dgi, dgh, gi, gh, hp, dh, H, j);
  }
}

static const Isa isa = {
  NAME, NR, (long)MC * KC + (long)KC * NC, packedFloats, packBAll, gemm,
  tanhN, tanhBackward, addTo, mulInPlace, sumRowNorms, gatherRows, scatterAddRows, colSumAcc,
  lstmForward, lstmBackward, gruForward, gruBackward, softmaxXent,
  adam, sgd, sumSlots, sumSlotRows, zeroRows, sumSlotsAdam, sumSlotRowsAdam, adamUnmarked,
};
