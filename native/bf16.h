// The bf16 product of train.precision "bf16" (AVX512-BF16's vdpbf16ps): C = (beta ? C : 0) +
// bf16(A)·bf16(B) (+ bias), A and B rounded to bfloat16 as they are packed (round to nearest even,
// as vcvtneps2bf16: NaN kept quiet, float32 subnormals to zero), products and sums in float32.
// kernels.cc includes this inside an `avx512f,avx512bf16` target region and namespace.
//
// Layout: vdpbf16ps multiplies PAIRS of bf16 along K per 32-bit lane, so both packs hold K in
// pairs (k = 2q, 2q+1 in one uint32, the even k in the low half; an odd K ends with a zero).
//   A: MR-row panels, pair-major: A[q·MR + i]            (broadcast to every lane)
//   B: NR-column panels, pair-major: B[q·NR + j]         (NV zmm per pair)
// Packing rounds 16 pairs at once (vcvtne2ps2bf16; the same rounding as round() below, which the
// strided fallback uses) and transposes 8 rows or columns at a time into the panels.
// Determinism: C[m,n] is the chain c = dp(c, a_q, b_q) over the pairs q in order, starting from C
// (beta, or a previous K block) or 0, then + bias[n]: the same for any tile position, M or N (tails
// run the same micro-kernel on zero-padded packs). KC is even, so no pair straddles two K blocks.

namespace bf16 {

// 8×32 tile: 16 zmm accumulators (8×48 measured slower on dL/dh and dWya); KC = 512: a B micro-panel of 32 KiB in L1
static const int MR = 8, NV = 2, NR = NV * 16, KC = 512, MC = 128, NC = 512;
static_assert(MR == 8 && NR % 8 == 0, "the packs transpose 8 rows (A) or 8 columns (B) at a time");
static_assert(KC % 2 == 0, "a K block holds whole pairs");
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
  partialTile<MR, NR>(C, ldc, mr, nr, load, bias, [&](float* t, const float* bt) { micro(np, A, B, t, NR, load, bt); });
}

/** x[k·cs] for k < kc as a pair word at pair q (zero past kc): the packs' scalar fallback. */
static inline uint32_t pairAt(const float* x, long cs, int q, int kc) {
  const int k = 2 * q;
  return round(x[k * cs]) | (k + 1 < kc ? round(x[(k + 1) * cs]) << 16 : 0u);
}

static inline __mmask16 mask16(int n) { return n <= 0 ? 0 : n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1); }

/** 16 pair words (x[2t], x[2t+1]) from x[0..n) contiguous (n ≤ 32 used, zero past n), rounded by vcvtne2ps2bf16. */
static inline __m512i pairsAlong(const float* x, int n) {
  const __m512 lo = _mm512_maskz_loadu_ps(mask16(n), x), hi = _mm512_maskz_loadu_ps(mask16(n - 16), x + 16);
  return (__m512i)_mm512_cvtne2ps_pbh(hi, lo); // lo's 16 first
}

/** 16 pair words (r0[t], r1[t]) from two contiguous rows, t < n ≤ 16 (zero past n; r1 null: a zero row). */
static inline __m512i pairsAcross(const float* r0, const float* r1, int n) {
  const __mmask16 m = mask16(n);
  const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, r0)));
  if (!r1) return lo;
  const __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, r1)));
  return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

/**
 * Eight rows' pair words side by side: v[i] holds row i's words t = 0..15; dst[t·stride + i] = v[i][t]
 * for t < n (8 words per t, as a panel of 8 rows or 8 of B's columns wants them). A transpose in
 * three rounds of two-source permutes (32-, 64-, 128-bit units), not 128 scalar stores.
 */
static inline void transpose8x16(uint32_t* dst, long stride, const __m512i v[8], int n) {
  const __m512i i32lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i i32hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i i64lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), i64hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  const __m512i i128lo = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), i128hi = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  __m512i a[8], b[8];
  for (int r = 0; r < 4; r++) { // rows 2r, 2r+1 interleaved: a[2r] t = 0..7, a[2r+1] t = 8..15 (2 words per t)
    a[2 * r] = _mm512_permutex2var_epi32(v[2 * r], i32lo, v[2 * r + 1]);
    a[2 * r + 1] = _mm512_permutex2var_epi32(v[2 * r], i32hi, v[2 * r + 1]);
  }
  for (int r = 0; r < 2; r++)
    for (int h = 0; h < 2; h++) { // rows 4r..4r+3: b[4r + 2h] t = 8h + 0..3, b[4r + 2h + 1] t = 8h + 4..7 (4 words per t)
      b[4 * r + 2 * h] = _mm512_permutex2var_epi64(a[4 * r + h], i64lo, a[4 * r + 2 + h]);
      b[4 * r + 2 * h + 1] = _mm512_permutex2var_epi64(a[4 * r + h], i64hi, a[4 * r + 2 + h]);
    }
  for (int g = 0; g < 4; g++) { // all 8 rows: t = 4g + 0..3, two t per vector
    const __m512i o[2] = {_mm512_permutex2var_epi64(b[g], i128lo, b[4 + g]), _mm512_permutex2var_epi64(b[g], i128hi, b[4 + g])};
    for (int u = 0; u < 2; u++)
      for (int h = 0; h < 2; h++) {
        const int t = 4 * g + 2 * u + h;
        if (t < n) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + t * stride), _mm512_extracti64x4_epi64(o[u], h));
      }
  }
}

/** dst[t·stride + i] = the pair words of row i < rows (x + i·ld, K contiguous, kc long; zero rows past rows), t < ⌈kc/2⌉, i < 8. */
static inline void pairs8Along(uint32_t* dst, long stride, const float* x, long ld, int rows, int kc) {
  const int np = (kc + 1) / 2;
  __m512i v[8];
  for (int q0 = 0; q0 < np; q0 += 16) {
    for (int i = 0; i < 8; i++) v[i] = i < rows ? pairsAlong(x + i * ld + 2 * q0, kc - 2 * q0) : _mm512_setzero_si512();
    transpose8x16(dst, stride, v, np - q0);
    dst += 16 * stride;
  }
}

/** Pack A (mc×kc, strides rsA/csA) into MR-row panels of np = ⌈kc/2⌉ pairs; rows past mc are zero. */
static void packA(uint32_t* dst, const float* a, long rsA, long csA, int mc, int kc) {
  const int np = (kc + 1) / 2;
  if (rsA == 1 && csA != 1) { // A read transposed (dWya: dlogitsᵀ): two panels' 16 rows side by side in two rows of K
    for (int i0 = 0; i0 < mc; i0 += 2 * MR, dst += 2L * MR * np) {
      const float* p = a + i0;
      const int n = mc - i0 < 2 * MR ? mc - i0 : 2 * MR;
      for (int q = 0; q < np; q++) {
        const __m512i w = pairsAcross(p + 2 * q * csA, 2 * q + 1 < kc ? p + (2 * q + 1) * csA : nullptr, n);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + q * MR), _mm512_castsi512_si256(w));
        if (n > MR) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (long)MR * np + q * MR), _mm512_extracti64x4_epi64(w, 1));
      }
    }
    return;
  }
  for (int i0 = 0; i0 < mc; i0 += MR, dst += (long)MR * np) {
    const int mr = mc - i0 < MR ? mc - i0 : MR;
    const float* p = a + i0 * rsA;
    if (csA == 1) { // a row of A contiguous (the states, dlogits): K pairs along it
      pairs8Along(dst, MR, p, rsA, mr, kc);
    } else {
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
    if (csB == 1) { // a row of B contiguous (Wya in dL/dh, the states in dWya): two rows make a pair
      for (int q = 0; q < np; q++)
        for (int v = 0; v < NV; v++)
          _mm512_storeu_si512(dst + q * NR + v * 16, pairsAcross(p + 2 * q * rsB + v * 16, 2 * q + 1 < kc ? p + (2 * q + 1) * rsB + v * 16 : nullptr, nr - v * 16));
    } else if (rsB == 1) { // a column of B contiguous (Wyaᵀ in the logits): K pairs along it
      for (int j = 0; j < NR; j += 8) pairs8Along(dst + j, NR, p + j * csB, csB, nr - j, kc);
    } else {
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
