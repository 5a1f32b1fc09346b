// The float32 peak of one core, measured: a loop of independent fused multiply-adds on registers
// only (no memory traffic), at the widest vector level the CPU runs. The benchmark reports each
// kernel's GFLOP/s as a share of this figure, which accounts for what a datasheet leaves out
// (a VM's clock, 512-bit FMAs issued at half rate on some cores).
#include <node_api.h>
#include <immintrin.h>
#include <time.h>

namespace {

double cpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); // CPU time: other processes on the host do not count
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// 12 independent accumulators (named, so they stay in registers) cover the FMA latency ×
// throughput of current x86 cores.
#define FMA_LOOP(T, SET1, FMA, FIRST, LANES)                                            \
  T a0 = SET1(1.00f), a1 = SET1(1.01f), a2 = SET1(1.02f), a3 = SET1(1.03f);          \
  T a4 = SET1(1.04f), a5 = SET1(1.05f), a6 = SET1(1.06f), a7 = SET1(1.07f);          \
  T a8 = SET1(1.08f), a9 = SET1(1.09f), a10 = SET1(1.10f), a11 = SET1(1.11f);        \
  const T m = SET1(0.999999f), c = SET1(1e-7f);                                      \
  for (long it = 0; it < iters; it++) {                                              \
    a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);  \
    a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);  \
    a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c); \
  }                                                                                  \
  *keep = FIRST(a0) + FIRST(a1) + FIRST(a2) + FIRST(a3) + FIRST(a4) + FIRST(a5)      \
    + FIRST(a6) + FIRST(a7) + FIRST(a8) + FIRST(a9) + FIRST(a10) + FIRST(a11);       \
  return 2.0 * LANES * 12 * iters;

__attribute__((target("avx512f"))) double loop512(long iters, float* keep) { FMA_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32, 16) }
__attribute__((target("avx2,fma"))) double loop256(long iters, float* keep) { FMA_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32, 8) }

/** fmaPeak(seconds) → { gflops, isa }: the best of a few timed runs of the widest loop. */
napi_value fmaPeak(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, v;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double seconds = 0.2;
  if (argc >= 1) napi_get_value_double(env, argv[0], &seconds);
  __builtin_cpu_init();
  const bool w512 = __builtin_cpu_supports("avx512f"), w256 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  double best = 0;
  float keep = 0;
  if (w512 || w256) {
    const double end = cpuSeconds() + seconds;
    while (cpuSeconds() < end) {
      const double t0 = cpuSeconds();
      const double flop = w512 ? loop512(2000000, &keep) : loop256(2000000, &keep);
      const double g = flop / (cpuSeconds() - t0) / 1e9;
      if (g > best) best = g;
    }
  }
  napi_create_object(env, &out);
  napi_create_double(env, best, &v);
  napi_set_named_property(env, out, "gflops", v);
  napi_create_string_utf8(env, w512 ? "avx512" : w256 ? "avx2-fma" : "none", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "isa", v);
  napi_create_double(env, keep, &v);
  napi_set_named_property(env, out, "sink", v);
  return out;
}

} // namespace

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "fmaPeak", NAPI_AUTO_LENGTH, fmaPeak, nullptr, &fn);
  napi_set_named_property(env, exports, "fmaPeak", fn);
  return exports;
}
