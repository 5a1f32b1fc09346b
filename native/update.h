// The update's streaming kernels of one ISA level: the sum of the gradient slots (with the sum of
// squares the clipping norm is taken from), Adam and SGD, and the slot sum and Adam fused. They
// read and write every parameter once per step. kernels.cc includes this inside each ISA's
// `#pragma GCC target` region and namespace, after vec.h (the lane types V and S).
//
// Bits: every element sees the float32 operations of the wasm kernels (src/model/simd.wat) and of
// their JavaScript twins (src/model/kernels.ts), in the same order: adds, multiplies, divides and
// square roots, each correctly rounded, no FMA (the addon is built with -ffp-contract=off), so
// any lane width gives the same bits. The sum of squares is taken in float64 in four lanes
// (element i of a range into lane i mod 4, each lane in element order), then
// ((l0 + l1) + (l2 + l3)) + the n mod 4 tail squares in order, as the wasm kernel sums it.

/** Σ x² in float64, four lanes in element order (the wasm kernel's sum). */
struct Sq4 {
#if defined(RNN_AVX512) || defined(RNN_AVX2)
  __m256d acc;
  Sq4() : acc(_mm256_setzero_pd()) {}
  void add4(const float* x) {
    const __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(x));
    acc = _mm256_add_pd(acc, _mm256_mul_pd(d, d));
  }
  double total(double tail) const {
    alignas(32) double l[4];
    _mm256_store_pd(l, acc);
    return ((l[0] + l[1]) + (l[2] + l[3])) + tail;
  }
#else
  double l[4] = {0, 0, 0, 0};
  void add4(const float* x) {
    for (int j = 0; j < 4; j++) l[j] += static_cast<double>(x[j]) * static_cast<double>(x[j]);
  }
  double total(double tail) const { return ((l[0] + l[1]) + (l[2] + l[3])) + tail; }
#endif
};

/** g = Σ_k slot_k[i] (k in order; none: +0) at byte offset `off` + 4i of each slot (table: their addresses in `base`). */
template <class L>
static inline typename L::T slotSum(uint8_t* base, const int32_t* table, int nSlots, long off) {
  if (nSlots == 0) return L::zero();
  typename L::T x = L::load(reinterpret_cast<const float*>(base + static_cast<uint32_t>(table[0]) + off));
  for (int k = 1; k < nSlots; k++) x = L::add(x, L::load(reinterpret_cast<const float*>(base + static_cast<uint32_t>(table[k]) + off)));
  return x;
}

/** Adam on one lane-vector at element i with gradient g: g' = g·scale; m = b1·m + c1·g'; v = b2·v + (c2·g')·g'; p = p·decay − (stepSize·m) / (√v / sqrtBc2 + eps). */
template <class L>
static inline void adamAt(float* p, float* m, float* v, long i, typename L::T g, const AdamC& c) {
  typedef typename L::T T;
  const T gi = L::mul(g, L::set1(c.scale));
  const T mi = L::add(L::mul(L::set1(c.b1), L::load(m + i)), L::mul(L::set1(c.c1), gi));
  const T vi = L::add(L::mul(L::set1(c.b2), L::load(v + i)), L::mul(L::mul(L::set1(c.c2), gi), gi));
  L::store(m + i, mi);
  L::store(v + i, vi);
  const T den = L::add(L::div(L::sqrt(vi), L::set1(c.sqrtBc2)), L::set1(c.eps));
  L::store(p + i, L::sub(L::mul(L::load(p + i), L::set1(c.decay)), L::div(L::mul(L::set1(c.stepSize), mi), den)));
}

static void adam(float* p, const float* g, float* m, float* v, long n, const AdamC& c) {
  long i = 0;
  for (; i + V::W <= n; i += V::W) adamAt<V>(p, m, v, i, V::load(g + i), c);
  for (; i < n; i++) adamAt<S>(p, m, v, i, g[i], c);
}

/** SGD with momentum buffer b and L2 decay wd: b = (μ·b + g·scale) + wd·p; p = p − lr·b. */
template <class L>
static inline void sgdAt(float* p, const float* g, float* b, long i, float scale, float mu, float lr, float wd) {
  typedef typename L::T T;
  const T bi = L::add(L::add(L::mul(L::set1(mu), L::load(b + i)), L::mul(L::load(g + i), L::set1(scale))), L::mul(L::set1(wd), L::load(p + i)));
  L::store(b + i, bi);
  L::store(p + i, L::sub(L::load(p + i), L::mul(L::set1(lr), bi)));
}

static void sgd(float* p, const float* g, float* b, long n, float scale, float mu, float lr, float wd) {
  long i = 0;
  for (; i + V::W <= n; i += V::W) sgdAt<V>(p, g, b, i, scale, mu, lr, wd);
  for (; i < n; i++) sgdAt<S>(p, g, b, i, scale, mu, lr, wd);
}

/**
 * The slot sum of n elements at byte offset `off` of every slot, then (dst) stored at dst or
 * (p, m, v) Adam applied with it; returns its Σ g². One function for both: the same sums.
 */
static double sumSlotsTo(uint8_t* base, float* dst, float* p, float* m, float* v, const int32_t* table, int nSlots, long off,
                         long n, const AdamC* c) {
  Sq4 sq;
  alignas(64) float x[V::W < 4 ? 4 : V::W];
  // Whole lane-vectors while they hold whole groups of 4 (not the scalar level), then one element at a time.
  const long vend = V::W >= 4 ? n / V::W * V::W : 0;
  long i = 0;
  for (; i < vend; i += V::W) {
    const V::T g = slotSum<V>(base, table, nSlots, off + 4 * i);
    V::store(x, g);
    if (dst) V::store(dst + i, g);
    else adamAt<V>(p, m, v, i, g, *c);
    for (int j = 0; j < V::W; j += 4) sq.add4(x + j);
  }
  double tail = 0;
  for (; i < n; i++) {
    const float g = slotSum<S>(base, table, nSlots, off + 4 * i);
    if (dst) dst[i] = g;
    else adamAt<S>(p, m, v, i, g, *c);
    x[i & 3] = g;
    if ((i & 3) == 3) sq.add4(x);
    else if (i >= (n & ~3L)) tail += static_cast<double>(g) * static_cast<double>(g);
  }
  return sq.total(tail);
}

static double sumSlots(uint8_t* base, float* dst, const int32_t* table, int nSlots, long off, long n) {
  return sumSlotsTo(base, dst, nullptr, nullptr, nullptr, table, nSlots, off, n, nullptr);
}

/**
 * Token rows come in list order, scattered over the table: the hardware prefetcher cannot guess the
 * next one, and each row waits for memory (measured: summing two slots over a W-large step's 6,693
 * rows of 128 took 4.7x as long as the same bytes in one run). So the row kernels ask for the
 * lines of the row AHEAD places on while they work on this one. A hint: no result changes.
 */
static const int AHEAD = 4;

static inline void prefetchLines(const void* at, long bytes, int write) {
  const char* c = static_cast<const char*>(at);
  for (long o = 0; o < bytes; o += 64) {
    if (write) __builtin_prefetch(c + o, 1, 3);
    else __builtin_prefetch(c + o, 0, 3);
  }
}

/** The lines of token row r in every slot (read) and in the arrays a row kernel writes (dst, or p, m, v). */
static inline void prefetchRow(uint8_t* base, const int32_t* table, int nSlots, float* w0, float* w1, float* w2, int r, int width) {
  const long e = static_cast<long>(r) * width, bytes = 4L * width;
  for (int k = 0; k < nSlots; k++) prefetchLines(base + static_cast<uint32_t>(table[k]) + 4 * e, bytes, 0);
  prefetchLines(w0 + e, bytes, 1);
  if (w1) prefetchLines(w1 + e, bytes, 1);
  if (w2) prefetchLines(w2 + e, bytes, 1);
}

/** sumSlots over token rows r in rows[0..n) (width elements at r·width); sq0 + each row's Σ g², in list order. */
static double sumSlotRows(uint8_t* base, float* dst, const int32_t* table, int nSlots, const int32_t* rows, int n, int width, double sq) {
  for (int i = 0; i < n; i++) {
    if (i + AHEAD < n) prefetchRow(base, table, nSlots, dst, nullptr, nullptr, rows[i + AHEAD], width);
    const long e = static_cast<long>(rows[i]) * width;
    sq += sumSlotsTo(base, dst + e, nullptr, nullptr, nullptr, table, nSlots, 4 * e, width, nullptr);
  }
  return sq;
}

static void zeroRows(float* dst, const int32_t* rows, int n, int width) {
  for (int i = 0; i < n; i++) {
    if (i + AHEAD < n) prefetchLines(dst + static_cast<long>(rows[i + AHEAD]) * width, 4L * width, 1);
    __builtin_memset(dst + static_cast<long>(rows[i]) * width, 0, 4L * width);
  }
}

static double sumSlotsAdam(uint8_t* base, float* p, float* m, float* v, const int32_t* table, int nSlots, long off, long n, const AdamC& c) {
  return sumSlotsTo(base, nullptr, p, m, v, table, nSlots, off, n, &c);
}

static double sumSlotRowsAdam(uint8_t* base, float* p, float* m, float* v, const int32_t* table, int nSlots, const int32_t* rows, int n,
                              int width, double sq, const AdamC& c) {
  for (int i = 0; i < n; i++) {
    if (i + AHEAD < n) prefetchRow(base, table, nSlots, p, m, v, rows[i + AHEAD], width);
    const long e = static_cast<long>(rows[i]) * width;
    sq += sumSlotsTo(base, nullptr, p + e, m + e, v + e, table, nSlots, 4 * e, width, &c);
  }
  return sq;
}

/** Adam with a zero gradient on the token rows r in [r0, r1) with mark[r] = 0 (no slot touched them), without reading one. */
static void adamUnmarked(float* p, float* m, float* v, const int32_t* mark, int r0, int r1, int width, const AdamC& c) {
  for (int r = r0; r < r1;) {
    if (mark[r]) { r++; continue; }
    const int a = r;
    while (r < r1 && !mark[r]) r++;
    const long e = static_cast<long>(a) * width, n = static_cast<long>(r - a) * width;
    long i = 0;
    for (; i + V::W <= n; i += V::W) adamAt<V>(p + e, m + e, v + e, i, V::zero(), c);
    for (; i < n; i++) adamAt<S>(p + e, m + e, v + e, i, 0.0f, c);
  }
}
