// The output layer's fused softmax cross-entropy (Kernels.softmaxXent, src/model/backend/types.ts)
// over the lane type V of vec.h. kernels.cc includes this inside each ISA's namespace, after vec.h
// and before impl.h (whose table lists softmaxXent). No includes here.
//
// The same bits on every level: exp is one template over the lane type (S for the scalar tails and
// the generic level), the same float32 operations in every lane; Σ exp runs in 16 lanes whatever
// the vector width (element c of the first C − C mod 16 into lane c mod 16: one zmm, two ymm or
// 16 scalars), the lanes combined by one fixed tree, then the C mod 16 tail added in order; the
// max and the argmax (the first index of the maximum) do not depend on any order.
//
// expNeg is this file's own exp (Cephes' range reduction and degree-6 polynomial, ≤ 2 ulp for
// x ≤ 0, which is all softmax needs); the `precision` branch brings an accurate vector exp for the
// gates, and one of the two should go when both are merged.

// Lane operations vec.h does not have, overloaded on the lane type (float is S's and generic's).
static inline float roundNearest(float x) { return __builtin_rintf(x); }
/** 2^n for an integral n in [−126, 127]. */
static inline float pow2i(float n) {
  const uint32_t b = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}
/** Bit i set where lane i of a equals b's. */
static inline unsigned equalLanes(float a, float b) { return a == b ? 1u : 0u; }
#ifdef RNN_AVX512
static inline __m512 roundNearest(__m512 x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline __m512 pow2i(__m512 n) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
}
static inline unsigned equalLanes(__m512 a, __m512 b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
#elif defined(RNN_AVX2)
static inline __m256 roundNearest(__m256 x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline __m256 pow2i(__m256 n) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
}
static inline unsigned equalLanes(__m256 a, __m256 b) { return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)); }
#endif

/** exp(x) for x ≤ 0; below −87.3 (where exp leaves float32's normal range) it is exp(−87.3) ≈ 1e−38. */
template <class L>
static inline typename L::T expNeg(typename L::T x0) {
  typedef typename L::T T;
  const T x = L::max(L::set1(-87.3f), x0); // constant first: a NaN comes through
  const T n = roundNearest(L::mul(x, L::set1(1.44269504088896341f)));
  T r = L::fma(n, L::set1(-0.693359375f), x); // x − n·ln 2 in two parts
  r = L::fma(n, L::set1(2.12194440e-4f), r);
  T p = L::fma(L::set1(1.9875691500e-4f), r, L::set1(1.3981999507e-3f));
  p = L::fma(p, r, L::set1(8.3334519073e-3f));
  p = L::fma(p, r, L::set1(4.1665795894e-2f));
  p = L::fma(p, r, L::set1(1.6666665459e-1f));
  p = L::fma(p, r, L::set1(5.0000001201e-1f));
  const T e = L::add(L::fma(p, L::mul(r, r), r), L::set1(1.0f)); // e^r
  return L::mul(e, pow2i(n));
}

/** Σ_c exp(x[c] − m) over C floats, in the 16-lane order the header describes. */
static inline float sumExp(const float* x, int C, float m) {
  typedef V::T T;
  const int NL = 16 / V::W;
  T acc[NL];
  for (int j = 0; j < NL; j++) acc[j] = V::zero();
  const T mv = V::set1(m);
  int c = 0;
  for (; c + 16 <= C; c += 16)
#pragma GCC unroll 16
    for (int j = 0; j < NL; j++) acc[j] = V::add(acc[j], expNeg<V>(V::sub(V::load(x + c + j * V::W), mv)));
  float lane[16];
  for (int j = 0; j < NL; j++) V::store(lane + j * V::W, acc[j]);
  for (int h = 8; h >= 1; h >>= 1)
    for (int i = 0; i < h; i++) lane[i] += lane[i + h];
  float s = lane[0];
  for (; c < C; c++) s += expNeg<S>(x[c] - m);
  return s;
}

/** The largest of C floats, and the first index where it is. */
static inline float maxArg(const float* x, int C, int* arg) {
  typedef V::T T;
  T mv = V::set1(-__builtin_inff());
  int c = 0;
  for (; c + V::W <= C; c += V::W) mv = V::max(V::load(x + c), mv);
  float lane[V::W];
  V::store(lane, mv);
  float m = lane[0];
  for (int i = 1; i < V::W; i++) m = lane[i] > m ? lane[i] : m;
  for (; c < C; c++) m = x[c] > m ? x[c] : m;
  const T want = V::set1(m);
  *arg = 0;
  for (c = 0; c + V::W <= C; c += V::W) {
    const unsigned hit = equalLanes(V::load(x + c), want);
    if (hit) {
      *arg = c + __builtin_ctz(hit);
      return m;
    }
  }
  for (; c < C; c++)
    if (x[c] == m) {
      *arg = c;
      return m;
    }
  return m;
}

/** row[c] = (grad ? w·(e_c·inv) : e_c·inv) with e_c = exp(row[c] − m), for C floats. */
template <class L>
static inline void softmaxUnits(float* x, int c, typename L::T m, typename L::T inv, typename L::T w, bool grad) {
  const typename L::T p = L::mul(expNeg<L>(L::sub(L::load(x + c), m)), inv);
  L::store(x + c, grad ? L::mul(w, p) : p);
}

static double softmaxXent(float* x, long ldx, int rows, int C, const int32_t* ys, const float* wt, int32_t* am,
                          float* db, bool grad) {
  double loss = 0;
  for (int r = 0; r < rows; r++, x += ldx) {
    const float w = wt[r];
    if (w == 0.0f) { // padding: no loss, no gradient
      am[r] = -1;
      if (grad)
        for (int c = 0; c < C; c++) x[c] = 0.0f;
      continue;
    }
    int arg;
    const float m = maxArg(x, C, &arg);
    const float s = sumExp(x, C, m);
    const int y = ys[r];
    am[r] = arg;
    loss += static_cast<double>(w) * (std::log(static_cast<double>(s)) + static_cast<double>(m) - static_cast<double>(x[y]));
    const float inv = 1.0f / s;
    int c = 0;
    for (; c + V::W <= C; c += V::W) softmaxUnits<V>(x, c, V::set1(m), V::set1(inv), V::set1(w), grad);
    for (; c < C; c++) softmaxUnits<S>(x, c, m, inv, w, grad);
    if (!grad) continue;
    x[y] -= w;
    if (db)
      for (c = 0; c < C; c++) db[c] += x[c];
  }
  return loss;
}
