// orthogonalColumns: Stewart's algorithm of the orthogonal recurrent init (src/model/init.ts),
// columns side by side in SIMD lanes, with the JavaScript code's bits (orthogonal.h). Not a
// backend kernel: init runs once, before any backend exists, so this is a plain function of the
// addon (kernels.cc registers it), called a range of columns at a time so that the event loop
// gets a turn between calls (Ctrl-C during a large model's init).

#include <node_api.h>

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#define RNN_X86 1
#endif

#ifdef RNN_X86
#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {
static const int VL = 8;
#include "orthogonal.h"
}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2")
namespace avx2 {
static const int VL = 4;
#include "orthogonal.h"
}  // namespace avx2
#pragma GCC pop_options
#endif

namespace generic {
static const int VL = 2;
#include "orthogonal.h"
}  // namespace generic

struct Level {
  void (*columns)(const double* xs, int n, const double* sg, void* out, bool f32, int j0, int j1, double* c);
  long (*scratch)(int n);
};
#define LEVEL(ns) Level{ns::orthogonalColumns, ns::columnScratch}

/** The best level this CPU runs, or the one named (false if it does not run here). */
static bool level(const char* name, Level* out) {
#ifdef RNN_X86
  const bool has512 = __builtin_cpu_supports("avx512f"), has2 = __builtin_cpu_supports("avx2");
  if (!name) return *out = has512 ? LEVEL(avx512) : has2 ? LEVEL(avx2) : LEVEL(generic), true;
  if (std::strcmp(name, "avx512") == 0) return has512 && (*out = LEVEL(avx512), true);
  if (std::strcmp(name, "avx2") == 0) return has2 && (*out = LEVEL(avx2), true);
#else
  if (!name) return *out = LEVEL(generic), true;
#endif
  return std::strcmp(name, "generic") == 0 && (*out = LEVEL(generic), true);
}

static napi_value fail(napi_env env, const char* msg) {
  napi_throw_error(env, nullptr, msg);
  return nullptr;
}

/** A Float64Array (or, when f32 is given, a Float32Array too) argument's data and length. */
static bool typed(napi_env env, napi_value v, void** data, size_t* length, bool* f32) {
  bool is = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, length, data, nullptr, nullptr) != napi_ok)
    return false;
  if (f32) *f32 = type == napi_float32_array;
  return type == napi_float64_array || (f32 && type == napi_float32_array);
}

/**
 * orthogonalColumns(xs: Float64Array, n, sg: Float64Array, out: Float32Array | Float64Array, j0,
 * j1, isa?: string): columns j0..j1−1 of the n×n orthogonal matrix whose Householder vectors are
 * in xs (n(n+1)/2 doubles, init.ts) and column factors in sg (n), into out (n·n, row-major).
 */
napi_value jsOrthogonalColumns(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void *xs = nullptr, *sg = nullptr, *out = nullptr;
  size_t xsLength = 0, sgLength = 0, outLength = 0;
  bool f32 = false;
  int32_t n = 0, j0 = 0, j1 = 0;
  if (argc < 6 || !typed(env, argv[0], &xs, &xsLength, nullptr) || napi_get_value_int32(env, argv[1], &n) != napi_ok ||
      !typed(env, argv[2], &sg, &sgLength, nullptr) || !typed(env, argv[3], &out, &outLength, &f32) ||
      napi_get_value_int32(env, argv[4], &j0) != napi_ok || napi_get_value_int32(env, argv[5], &j1) != napi_ok)
    return fail(env, "orthogonalColumns: expected (xs: Float64Array, n, sg: Float64Array, out: Float32Array | Float64Array, j0, j1, isa?)");
  if (n < 1 || n > 46340 || xsLength != static_cast<size_t>(n) * (n + 1) / 2 || sgLength != static_cast<size_t>(n) ||
      outLength != static_cast<size_t>(n) * n || j0 < 0 || j0 > j1 || j1 > n)
    return fail(env, "orthogonalColumns: xs must hold n(n+1)/2 doubles, sg n, out n·n, and 0 ≤ j0 ≤ j1 ≤ n");
  char name[32];
  const char* want = nullptr;
  napi_valuetype vt = napi_undefined;
  if (argc >= 7) napi_typeof(env, argv[6], &vt);
  if (vt == napi_string) {
    size_t len;
    napi_get_value_string_utf8(env, argv[6], name, sizeof name, &len);
    want = name;
  }
  Level lv;
  if (!level(want, &lv)) return fail(env, "orthogonalColumns: that ISA level does not run on this CPU");
  double* c = static_cast<double*>(std::malloc(sizeof(double) * lv.scratch(n)));
  if (!c) return fail(env, "orthogonalColumns: out of memory");
  lv.columns(static_cast<const double*>(xs), n, static_cast<const double*>(sg), out, f32, j0, j1, c);
  std::free(c);
  return nullptr;
}
