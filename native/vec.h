// Vector types for impl.h: one lane type per ISA, with the handful of operations the kernels
// use. Every lane does the same IEEE float32 operation as the scalar type S (fma = one rounding),
// so all ISA levels give the same bits. Included inside each ISA's `#pragma GCC target` region
// and namespace (no includes here).

// min/max are called with the constant first: x86 returns the SECOND operand when either is NaN,
// so a NaN input comes through the clamp; S spells out the same rule.
struct S {
  typedef float T;
  enum { W = 1 };
  static T zero() { return 0.0f; }
  static T set1(float x) { return x; }
  static T load(const float* p) { return *p; }
  static void store(float* p, T x) { *p = x; }
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  static T sqrt(T a) { return __builtin_sqrtf(a); }
  static T fma(T a, T b, T c) { return __builtin_fmaf(a, b, c); }
  static T min(T a, T b) { return a < b ? a : b; }
  static T max(T a, T b) { return a > b ? a : b; }
  /** |x| < t ? x : r */
  static T tiny(T x, T r, float t) { return __builtin_fabsf(x) < t ? x : r; }
  // Bit-level operations of vmath.h (exp, tanh, σ).
  static uint32_t bits(T x) { uint32_t u; __builtin_memcpy(&u, &x, 4); return u; }
  static T fromBits(uint32_t u) { T x; __builtin_memcpy(&x, &u, 4); return x; }
  static T abs(T x) { return fromBits(bits(x) & 0x7fffffffu); }
  /** |mag| with the sign of sgn */
  static T copysign(T mag, T sgn) { return fromBits((bits(mag) & 0x7fffffffu) | (bits(sgn) & 0x80000000u)); }
  /** the float whose bits are x's shifted left by 23 */
  static T shl23(T x) { return fromBits(bits(x) << 23); }
  /** sign bit of x set ? a : b */
  static T ifNeg(T x, T a, T b) { return bits(x) >> 31 ? a : b; }
  /** x < t ? 0 : y (NaN x: y) */
  static T zeroBelow(T x, T y, float t) { return x < t ? 0.0f : y; }
};

#ifdef RNN_AVX512
struct V {
  typedef __m512 T;
  enum { W = 16 };
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float x) { return _mm512_set1_ps(x); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T x) { _mm512_storeu_ps(p, x); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T sqrt(T a) { return _mm512_sqrt_ps(a); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T min(T a, T b) { return _mm512_min_ps(a, b); }
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
  static T tiny(T x, T r, float t) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(_mm512_abs_ps(x), set1(t), _CMP_LT_OQ), r, x);
  }
  static T abs(T x) { return _mm512_abs_ps(x); }
  static T copysign(T mag, T sgn) { // (mag & 0x7fffffff) | (sgn & 0x80000000): one vpternlogd (0xca: m ? mag : sgn, bit by bit)
    const __m512i m = _mm512_set1_epi32(0x7fffffff);
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(m, _mm512_castps_si512(mag), _mm512_castps_si512(sgn), 0xca));
  }
  static T shl23(T x) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(x), 23)); }
  static T ifNeg(T x, T a, T b) {
    return _mm512_mask_blend_ps(_mm512_movepi32_mask(_mm512_castps_si512(x)), b, a);
  }
  static T zeroBelow(T x, T y, float t) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, set1(t), _CMP_NLT_UQ), y); }
};
#elif defined(RNN_AVX2)
struct V {
  typedef __m256 T;
  enum { W = 8 };
  static T zero() { return _mm256_setzero_ps(); }
  static T set1(float x) { return _mm256_set1_ps(x); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T x) { _mm256_storeu_ps(p, x); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  static T sqrt(T a) { return _mm256_sqrt_ps(a); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T tiny(T x, T r, float t) {
    T ax = _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(ax, set1(t), _CMP_LT_OQ));
  }
  static T abs(T x) { return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
  static T copysign(T mag, T sgn) {
    const T sign = _mm256_castsi256_ps(_mm256_set1_epi32(0x80000000));
    return _mm256_or_ps(_mm256_andnot_ps(sign, mag), _mm256_and_ps(sign, sgn));
  }
  static T shl23(T x) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(x), 23)); }
  static T ifNeg(T x, T a, T b) { return _mm256_blendv_ps(b, a, x); } // blendv reads the sign bit
  static T zeroBelow(T x, T y, float t) { return _mm256_andnot_ps(_mm256_cmp_ps(x, set1(t), _CMP_LT_OQ), y); }
};
#else
typedef S V;
#endif
