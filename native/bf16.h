// The bf16 product of train.precision "bf16" (AVX512-BF16's vdpbf16ps): C = (beta ? C : 0) +
// bf16(A)·bf16(B) (+ bias), A and B rounded to bfloat16 as they are packed (round to nearest even,
// as vcvtneps2bf16: NaN kept quiet, float32 subnormals to zero), products and sums in float32.
// kernels.cc includes this inside an `avx512f,avx512bf16` target region and namespace.
//
// Layout: vdpbf16ps multiplies PAIRS of bf16 along K per 32-bit lane, so both packs hold K in
// pairs (k = 2q, 2q+1 in one uint32, the even k in the low half; an odd K ends with a zero).
//   A: MR-row panels, pair-major: A[q·MR + i]            (broadcast to every lane)
//   B: NR-column panels, pair-major: B[q·NR + j]         (NV zmm per pair)
// Determinism: C[m,n] is the chain c = dp(c, a_q, b_q) over the pairs q in order, starting from C
// (beta, or a previous K block) or 0, then + bias[n]: the same for any tile position, M or N (tails
// run the same micro-kernel on zero-padded packs). KC is even, so no pair straddles two K blocks.

namespace bf16 {

static const int MR = 8, NV = 2, NR = NV * 16, KC = 256, MC = 128, NC = 512; // 8×32 tile: 16 zmm accumulators
/** uint32 words of scratch: one A block (MC × KC/2) and one B block (KC/2 × NC). */
static const long SCRATCH_WORDS = (long)MC * (KC / 2) + (long)(KC / 2) * NC;

/** float32 → bfloat16 bits as vcvtneps2bf16 rounds: subnormals to ±0, NaN quiet, else to nearest even. */
static inline uint32_t round(float x) {
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0) return (u >> 16) & 0x8000u;
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

static inline void micro(int np, const uint32_t* A, const uint32_t* B, float* C, long ldc, bool load, const float* bias) {
  __m512 c[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) c[i][j] = load ? _mm512_loadu_ps(C + i * ldc + j * 16) : _mm512_setzero_ps();
  for (int q = 0; q < np; q++) {
    __m512bh b[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) b[j] = (__m512bh)_mm512_loadu_si512(B + j * 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(A[i]));
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) c[i][j] = _mm512_dpbf16_ps(c[i][j], a, b[j]);
    }
    A += MR;
    B += NR;
  }
  if (bias) {
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) {
      const __m512 bj = _mm512_loadu_ps(bias + j * 16);
#pragma GCC unroll 16
      for (int i = 0; i < MR; i++) c[i][j] = _mm512_add_ps(c[i][j], bj);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) _mm512_storeu_ps(C + i * ldc + j * 16, c[i][j]);
}

/** One mr×nr tile: partial tiles go through a full MR×NR copy, so the same micro-kernel runs. */
static inline void tile(int np, const uint32_t* A, const uint32_t* B, float* C, long ldc, int mr, int nr, bool load,
                        const float* bias) {
  if (mr == MR && nr == NR) return micro(np, A, B, C, ldc, load, bias);
  alignas(64) float t[MR * NR] = {};
  alignas(64) float bt[NR] = {};
  if (load)
    for (int i = 0; i < mr; i++)
      for (int j = 0; j < nr; j++) t[i * NR + j] = C[i * ldc + j];
  if (bias)
    for (int j = 0; j < nr; j++) bt[j] = bias[j];
  micro(np, A, B, t, NR, load, bias ? bt : nullptr);
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) C[i * ldc + j] = t[i * NR + j];
}

/** x[k·cs] for k < kc as a pair word at pair q (zero past kc). */
static inline uint32_t pairAt(const float* x, long cs, int q, int kc) {
  const int k = 2 * q;
  return round(x[k * cs]) | (k + 1 < kc ? round(x[(k + 1) * cs]) << 16 : 0u);
}

/** Pack A (mc×kc, strides rsA/csA) into MR-row panels of np = ⌈kc/2⌉ pairs; rows past mc are zero. */
static void packA(uint32_t* dst, const float* a, long rsA, long csA, int mc, int kc) {
  const int np = (kc + 1) / 2;
  for (int i0 = 0; i0 < mc; i0 += MR, dst += (long)MR * np) {
    const int mr = mc - i0 < MR ? mc - i0 : MR;
    const float* p = a + i0 * rsA;
    if (rsA == 1) { // A read transposed (dWya: dlogitsᵀ): the rows inner
      for (int q = 0; q < np; q++)
        for (int i = 0; i < MR; i++) dst[q * MR + i] = i < mr ? pairAt(p + i, csA, q, kc) : 0u;
    } else { // a row of A contiguous: K inner
      for (int i = 0; i < MR; i++)
        for (int q = 0; q < np; q++) dst[q * MR + i] = i < mr ? pairAt(p + i * rsA, csA, q, kc) : 0u;
    }
  }
}

/** Pack B (kc×nc, strides rsB/csB) into NR-column panels `ps` words apart; columns past nc are zero. */
static void packB(uint32_t* dst, const float* b, long rsB, long csB, int kc, int nc, long ps) {
  const int np = (kc + 1) / 2;
  for (int j0 = 0; j0 < nc; j0 += NR, dst += ps) {
    const int nr = nc - j0 < NR ? nc - j0 : NR;
    const float* p = b + j0 * csB;
    if (csB == 1) { // a row of B contiguous: the columns inner
      for (int q = 0; q < np; q++)
        for (int j = 0; j < NR; j++) dst[q * NR + j] = j < nr ? pairAt(p + j, rsB, q, kc) : 0u;
    } else { // a column of B contiguous (Wyaᵀ): K inner
      for (int j = 0; j < NR; j++)
        for (int q = 0; q < np; q++) dst[q * NR + j] = j < nr ? pairAt(p + j * csB, rsB, q, kc) : 0u;
    }
  }
}

/** C = (beta ? C : 0) + bf16(A)·bf16(B) (+ bias); scratch: SCRATCH_WORDS words. */
static void gemm(uint32_t* scratch, float* C, long ldc, const float* A, long rsA, long csA, const float* B, long rsB,
                 long csB, int M, int N, int K, bool beta, const float* bias) {
  if (M <= 0 || N <= 0) return;
  uint32_t* As = scratch;
  uint32_t* Bs = scratch + (long)MC * (KC / 2);
  for (int jc = 0; jc < N; jc += NC) {
    const int nc = N - jc < NC ? N - jc : NC;
    for (int pc = 0; pc < K || pc == 0; pc += KC) { // K = 0 still adds the bias once
      const int kc = K - pc < KC ? (K > pc ? K - pc : 0) : KC, np = (kc + 1) / 2;
      const bool load = beta || pc > 0, last = pc + kc >= K;
      packB(Bs, B + pc * rsB + jc * csB, rsB, csB, kc, nc, (long)np * NR);
      for (int ic = 0; ic < M; ic += MC) {
        const int mc = M - ic < MC ? M - ic : MC;
        packA(As, A + ic * rsA + pc * csA, rsA, csA, mc, kc);
        for (int jr = 0; jr < nc; jr += NR) { // B's micro-panel stays in L1 over the rows
          const uint32_t* Bp = Bs + (long)(jr / NR) * np * NR;
          const int nr = nc - jr < NR ? nc - jr : NR;
          const float* bj = last && bias ? bias + jc + jr : nullptr;
          for (int ir = 0; ir < mc; ir += MR)
            tile(np, As + (long)ir * np, Bp, C + (long)(ic + ir) * ldc + jc + jr, ldc, mc - ir < MR ? mc - ir : MR, nr,
                 load, bj);
        }
      }
    }
  }
}

}  // namespace bf16
