// The float32 peak of one core, measured: loops of independent fused multiply-adds on registers
// only (no memory traffic), at each vector width the CPU runs (AVX-512, AVX2/FMA) and with 1 to 16
// independent accumulators. One accumulator is bound by the FMA latency; the peak needs at least
// latency × FMA pipes of them in flight (4 cycles × 2 pipes = 8 on current x86 cores), and more
// hide the loop overhead. The benchmark reports each kernel's GFLOP/s as a share of the best of
// all, which accounts for what a datasheet leaves out (a VM's clock, 512-bit FMAs issued at half
// rate on some cores).
#include <node_api.h>
#include <immintrin.h>
#include <time.h>

namespace {

double cpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); // CPU time: other processes on the host do not count
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// N accumulators a[i] = a[i]·m + c, independent of each other; the array is fully unrolled, so
// they live in registers (N ≤ 16: 16 ymm registers hold 14 accumulators + m + c without spills at
// 256 bits; the loop is written so that the compiler keeps them there, checked with objdump).
#define FMA_LOOP(NAME, TARGET, T, SET1, FMA, FIRST, LANES)                            \
  template <int N>                                                                   \
  __attribute__((target(TARGET))) double NAME(long iters, float* keep) {             \
    T a[N];                                                                          \
    _Pragma("GCC unroll 16") for (int i = 0; i < N; i++) a[i] = SET1(1.0f + 0.01f * i); \
    const T m = SET1(0.999999f), c = SET1(1e-7f);                                    \
    for (long it = 0; it < iters; it++) {                                            \
      _Pragma("GCC unroll 16") for (int i = 0; i < N; i++) a[i] = FMA(a[i], m, c);   \
    }                                                                                \
    float s = 0;                                                                     \
    _Pragma("GCC unroll 16") for (int i = 0; i < N; i++) s += FIRST(a[i]);           \
    *keep += s;                                                                      \
    return 2.0 * LANES * N * iters;                                                  \
  }

FMA_LOOP(loop512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32, 16)
FMA_LOOP(loop256, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32, 8)

// vdpbf16ps (AVX512-BF16): per 32-bit lane a += x·y over a PAIR of bf16, 4 FLOP per lane. Where it
// runs at the f32 FMA rate per instruction it doubles the FLOP rate (AMD Zen 5, measured); on Intel
// cores without AMX it issues at half rate, no faster than f32 FMAs. train.precision "bf16" asks.
#define DP(A, X, Y) _mm512_dpbf16_ps(A, (__m512bh)_mm512_castps_si512(X), (__m512bh)_mm512_castps_si512(Y))
FMA_LOOP(loopBf16, "avx512f,avx512bf16", __m512, _mm512_set1_ps, DP, _mm512_cvtss_f32, 32)

typedef double (*Loop)(long, float*);
struct Config {
  const char* isa;
  int accumulators;
  Loop loop;
  bool avx512;
};
const Config CONFIGS[] = {
    {"avx512", 1, loop512<1>, true},  {"avx512", 4, loop512<4>, true},   {"avx512", 8, loop512<8>, true},
    {"avx512", 12, loop512<12>, true}, {"avx512", 16, loop512<16>, true}, {"avx2-fma", 1, loop256<1>, false},
    {"avx2-fma", 4, loop256<4>, false}, {"avx2-fma", 8, loop256<8>, false}, {"avx2-fma", 12, loop256<12>, false},
};

/** The best GFLOP/s of `loop` in short runs over `seconds` of CPU time. */
double bestRate(Loop loop, int accumulators, double seconds, float* keep) {
  double g = 0;
  const double end = cpuSeconds() + seconds;
  do {
    const double t0 = cpuSeconds();
    const double flop = loop(4000000 / accumulators, keep);
    const double x = flop / (cpuSeconds() - t0) / 1e9;
    if (x > g) g = x;
  } while (cpuSeconds() < end);
  return g;
}

void setNumber(napi_env env, napi_value obj, const char* name, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  napi_set_named_property(env, obj, name, v);
}
void setString(napi_env env, napi_value obj, const char* name, const char* s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, name, v);
}

/**
 * fmaPeak(seconds) → { gflops, isa, accumulators, runs: [{ isa, accumulators, gflops }] }: each
 * loop this CPU runs, timed in short runs (the best of each over its share of `seconds`, so a
 * run that was preempted or slowed down does not count); gflops is the best of them all.
 */
napi_value fmaPeak(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, runs;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double seconds = 0.3;
  if (argc >= 1) napi_get_value_double(env, argv[0], &seconds);
  __builtin_cpu_init();
  const bool w512 = __builtin_cpu_supports("avx512f");
  const bool w256 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const int nConfigs = sizeof CONFIGS / sizeof CONFIGS[0];
  int runnable = 0;
  for (int i = 0; i < nConfigs; i++) runnable += CONFIGS[i].avx512 ? w512 : w256;
  napi_create_object(env, &out);
  napi_create_array(env, &runs);
  float keep = 0;
  double best = 0;
  const Config* bestConfig = nullptr;
  uint32_t n = 0;
  for (int i = 0; i < nConfigs; i++) {
    const Config& k = CONFIGS[i];
    if (!(k.avx512 ? w512 : w256)) continue;
    const double g = bestRate(k.loop, k.accumulators, seconds / runnable, &keep); // runs of 4·10^6 FMA instructions (~1-5 ms)
    napi_value r;
    napi_create_object(env, &r);
    setString(env, r, "isa", k.isa);
    setNumber(env, r, "accumulators", k.accumulators);
    setNumber(env, r, "gflops", g);
    napi_set_element(env, runs, n++, r);
    if (g > best) { best = g; bestConfig = &k; }
  }
  setNumber(env, out, "gflops", best);
  setString(env, out, "isa", bestConfig ? bestConfig->isa : "none");
  setNumber(env, out, "accumulators", bestConfig ? bestConfig->accumulators : 0);
  napi_set_named_property(env, out, "runs", runs);
  setNumber(env, out, "sink", keep);
  return out;
}

/**
 * bf16Peak(seconds) → { bf16, f32 } GFLOP/s of vdpbf16ps and of f32 FMAs, both 512 bits wide with 12
 * accumulators (seconds split between them), or null on a CPU without AVX512-BF16: train.precision
 * "bf16" runs only where bf16 is the faster of the two.
 */
napi_value bf16Peak(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double seconds = 0.1;
  if (argc >= 1) napi_get_value_double(env, argv[0], &seconds);
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) {
    napi_get_null(env, &out);
    return out;
  }
  float keep = 0;
  napi_create_object(env, &out);
  setNumber(env, out, "bf16", bestRate(loopBf16<12>, 12, seconds / 2, &keep));
  setNumber(env, out, "f32", bestRate(loop512<12>, 12, seconds / 2, &keep));
  setNumber(env, out, "sink", keep);
  return out;
}

} // namespace

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "fmaPeak", NAPI_AUTO_LENGTH, fmaPeak, nullptr, &fn);
  napi_set_named_property(env, exports, "fmaPeak", fn);
  napi_create_function(env, "bf16Peak", NAPI_AUTO_LENGTH, bf16Peak, nullptr, &fn);
  napi_set_named_property(env, exports, "bf16Peak", fn);
  return exports;
}
