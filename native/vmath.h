// exp, tanh and σ over a lane type L (vec.h), for the gate kernels, the tanh epilogue and any
// kernel that needs e^x (vexp: a softmax). The same algorithm, constants and operation order as
// the wasm kernels (VMATH and vmathWat in src/model/backend/wasm-gen.mjs) and as the float32
// emulation the tests hold them to (test/helpers/activations.ts), so native and wasm give the same
// bits. No fused multiply-add (one rounding per operation, as wasm SIMD128 has it): the result
// does not depend on the ISA level. Max error over dense grids (float64 reference): exp 1 ulp,
// tanh 2.5 ulp (1.7e-7 relative), σ 2.3 ulp (1.8e-7 relative, also where σ is tiny).
// Included by impl.h inside each ISA's namespace, after vec.h (no includes here).

/**
 * The range reduction shared by vexp and vtanh: x = n·ln2 + r with |r| ≤ ln2/2 (x clamped to
 * [−87.34, 88.37]); scale = 2^n, u = e^r − 1 = r + r²·P(r) (Cephes' expf polynomial).
 * n = round(x·log2 e) by adding 1.5·2^23 + 127: the sum's low bits then hold n + 127, the
 * exponent field of 2^n, and shifting them left by 23 makes 2^n. r = x − n·ln2 in two parts
 * (Cody-Waite: n·0.693359375 is exact).
 */
template <class L>
static inline void vexpCore(typename L::T x, typename L::T& scale, typename L::T& u) {
  typedef typename L::T T;
  const T magic = L::set1(12583039.0f);
  const T xc = L::min(L::set1(88.37f), L::max(L::set1(-87.33654475f), x)); // NaN comes through
  const T s = L::add(L::mul(xc, L::set1(1.44269504088896341f)), magic);
  const T n = L::sub(s, magic);
  T r = L::sub(xc, L::mul(n, L::set1(0.693359375f)));
  r = L::sub(r, L::mul(n, L::set1(-2.12194440e-4f)));
  T p = L::set1(1.9875691500e-4f);
  p = L::add(L::mul(p, r), L::set1(1.3981999507e-3f));
  p = L::add(L::mul(p, r), L::set1(8.3334519073e-3f));
  p = L::add(L::mul(p, r), L::set1(4.1665795894e-2f));
  p = L::add(L::mul(p, r), L::set1(1.6666665459e-1f));
  p = L::add(L::mul(p, r), L::set1(5.0000001201e-1f));
  u = L::add(L::mul(p, L::mul(r, r)), r);
  scale = L::shl23(s);
}

/** e^x: 0 below −87.34 (where e^x is below the smallest normal float), e^88.37 above 88.37; NaN → NaN. */
template <class L>
static inline typename L::T vexp(typename L::T x) {
  typename L::T scale, u;
  vexpCore<L>(x, scale, u);
  return L::zeroBelow(x, L::mul(L::add(u, L::set1(1.0f)), scale), -87.33654475f);
}

/**
 * tanh x = −m / (2 + m), m = e^{−2|x|} − 1 (as scale·u + (scale − 1): no cancellation near 0),
 * with the sign of x: odd bit for bit, |tanh| ≤ 1, tanh(±0) = ±0, ±1 from |x| ≈ 9 on.
 */
template <class L>
static inline typename L::T tanh_v(typename L::T x) {
  typedef typename L::T T;
  T scale, u;
  vexpCore<L>(L::mul(L::abs(x), L::set1(-2.0f)), scale, u);
  const T m = L::add(L::mul(u, scale), L::sub(scale, L::set1(1.0f)));
  return L::copysign(L::div(m, L::add(m, L::set1(2.0f))), x);
}

/** σ(x) = 1 / (1 + e^{−|x|}) for x ≥ 0, e^{−|x|} / (1 + e^{−|x|}) for x < 0: accurate relative to σ even where σ is tiny. */
template <class L>
static inline typename L::T sigmoid_v(typename L::T x) {
  typedef typename L::T T;
  const T one = L::set1(1.0f);
  const T e = vexp<L>(L::mul(L::abs(x), L::set1(-1.0f)));
  return L::div(L::ifNeg(x, e, one), L::add(one, e));
}
