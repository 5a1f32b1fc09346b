// orthogonalRows: the Gram-Schmidt of the orthogonal recurrent init (src/model/init.ts) on several
// gate blocks at once, one per SIMD lane, with the JavaScript code's bits (orthogonal.h). Not a
// backend kernel: init runs once, on a Float64Array, before any backend exists, so this is a plain
// function of the addon (kernels.cc registers it), called a range of rows at a time so that the
// event loop gets a turn between calls (Ctrl-C during a large model's init).

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

typedef bool (*RowsFn)(double* q, int n, int W, long R, int i0, int i1, double* tmp);

/** The best level this CPU runs, or the one named (null if it does not run here). */
static RowsFn level(const char* name) {
#ifdef RNN_X86
  const bool has512 = __builtin_cpu_supports("avx512f"), has2 = __builtin_cpu_supports("avx2");
  if (!name) return has512 ? avx512::orthogonalRows : has2 ? avx2::orthogonalRows : generic::orthogonalRows;
  if (std::strcmp(name, "avx512") == 0) return has512 ? avx512::orthogonalRows : nullptr;
  if (std::strcmp(name, "avx2") == 0) return has2 ? avx2::orthogonalRows : nullptr;
#else
  if (!name) return generic::orthogonalRows;
#endif
  return std::strcmp(name, "generic") == 0 ? generic::orthogonalRows : nullptr;
}

static napi_value fail(napi_env env, const char* msg) {
  napi_throw_error(env, nullptr, msg);
  return nullptr;
}

/**
 * orthogonalRows(q: Float64Array, n, W, R, i0, i1, isa?: string): finishes rows i0..i1−1 of the W
 * interleaved n×n matrices in q, rows R doubles apart (orthogonal.h says how they are laid out and
 * what comes before).
 */
napi_value jsOrthogonalRows(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (argc < 6 || napi_is_typedarray(env, argv[0], &typed) != napi_ok || !typed ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array)
    return fail(env, "orthogonalRows: expected (q: Float64Array, n, W, R, i0, i1, isa?)");
  int32_t v[5];
  for (int i = 0; i < 5; i++)
    if (napi_get_value_int32(env, argv[1 + i], &v[i]) != napi_ok) return fail(env, "orthogonalRows: n, W, R, i0, i1 must be numbers");
  const int n = v[0], W = v[1], R = v[2], i0 = v[3], i1 = v[4];
  if (n < 1 || W < 1 || static_cast<long>(R) < static_cast<long>(n) * W || length != static_cast<size_t>(n) * R ||
      i0 < 0 || i0 > i1 || i1 > n)
    return fail(env, "orthogonalRows: q must hold n rows of R ≥ n·W doubles, and 0 ≤ i0 ≤ i1 ≤ n");
  char name[32];
  const char* want = nullptr;
  napi_valuetype vt = napi_undefined;
  if (argc >= 7) napi_typeof(env, argv[6], &vt);
  if (vt == napi_string) {
    size_t len;
    napi_get_value_string_utf8(env, argv[6], name, sizeof name, &len);
    want = name;
  }
  const RowsFn rows = level(want);
  if (!rows) return fail(env, "orthogonalRows: that ISA level does not run on this CPU");
  double* tmp = static_cast<double*>(std::malloc(sizeof(double) * n * W));
  if (!tmp) return fail(env, "orthogonalRows: out of memory");
  const bool ok = rows(static_cast<double*>(data), n, W, R, i0, i1, tmp);
  std::free(tmp);
  if (!ok) return fail(env, "orthogonalRows: W must be 1, 2, 4, 8 or 16");
  return nullptr;
}
