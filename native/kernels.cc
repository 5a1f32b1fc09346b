// rnn_kernels: the `native` backend's kernels (src/model/backend/raw.ts is the contract) as a
// Node-API addon. Every pointer argument is a byte offset into one shared WebAssembly.Memory,
// whose base address attach() takes once: a shared memory's whole maximum is reserved up front,
// so the base never moves when the memory grows.
//
// ISA levels: avx512 (AVX-512F/VL/DQ + FMA), avx2 (AVX2 + FMA), generic; chosen at run time, each
// compiled from impl.h under its own `#pragma GCC target`. All levels run the same float32
// operations in the same order (FMA in the products, `fmaf` in generic; none in vmath.h's exp,
// tanh and σ, which also give the wasm kernels' bits), so they give the same bits.
//
// Thread safety: no global mutable state. Each attach() makes an instance (base pointer, packing
// scratch) that only the functions it returns use, and a thread makes its own.

#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "tile.h"
#define RNN_X86 1
#endif

/** Adam's constants at one step, rounded to float32 (src/model/kernels.ts f32Consts). */
struct AdamC {
  float scale, b1, c1, b2, c2, stepSize, sqrtBc2, eps, decay;
};

/** One ISA level's kernels; sizes in floats. */
struct Isa {
  const char* name;
  int NR;
  long scratchFloats;
  long (*packedFloats)(int K, int N);
  void (*packB)(float* dst, const float* b, long rsB, long csB, int K, int N);
  void (*gemm)(float* scratch, float* C, long ldc, const float* A, long rsA, long csA, const float* B, long rsB,
               long csB, const float* bp, int M, int N, int K, bool beta, const float* bias, int epi);
  void (*tanh)(float* x, int n);
  void (*tanhBackward)(float* dz, const float* da, const float* a, int n);
  void (*addTo)(float* y, const float* x, int n);
  void (*mulInPlace)(float* x, const float* m, int n);
  double (*sumRowNorms)(const float* x, long ldx, int rows, int N);
  void (*gatherRows)(float* out, long ldo, const float* table, long ldt, const int32_t* ids, long idStride, int rows,
                     int N, bool acc);
  void (*scatterAddRows)(float* table, long ldt, const float* src, long lds, const int32_t* ids, long idStride,
                         int rows, int N);
  void (*colSumAcc)(float* db, const float* d, long ldd, int M, int N);
  void (*lstmForward)(float* g, const float* cp, float* c, float* h, int rows, int H);
  void (*lstmBackward)(float* dg, const float* g, const float* cp, const float* c, const float* dh, float* dc, int rows, int H);
  void (*gruForward)(float* gi, const float* gh, const float* b, const float* hp, float* h, int rows, int H);
  void (*gruBackward)(float* dgi, float* dgh, const float* gi, const float* gh, const float* hp, float* dh, int rows, int H);
  double (*softmaxXent)(float* x, long ldx, int rows, int C, const int32_t* ys, const float* wt, int32_t* am, float* db,
                        bool grad);
  // The update's streaming kernels (update.h).
  void (*adam)(float* p, const float* g, float* m, float* v, long n, const AdamC& c);
  void (*sgd)(float* p, const float* g, float* b, long n, float scale, float mu, float lr, float wd);
  double (*sumSlots)(uint8_t* base, float* dst, const int32_t* table, int S, long off, long n);
  double (*sumSlotRows)(uint8_t* base, float* dst, const int32_t* table, int S, const int32_t* rows, int n, int width, double sq);
  void (*zeroRows)(float* dst, const int32_t* rows, int n, int width);
  double (*sumSlotsAdam)(uint8_t* base, float* p, float* m, float* v, const int32_t* table, int S, long off, long n, const AdamC& c);
  double (*sumSlotRowsAdam)(uint8_t* base, float* p, float* m, float* v, const int32_t* table, int S, const int32_t* rows, int n,
                            int width, double sq, const AdamC& c);
  void (*adamUnmarked)(float* p, float* m, float* v, const int32_t* mark, int r0, int r1, int width, const AdamC& c);
};

#ifdef RNN_X86
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,fma")
#define RNN_AVX512 1
namespace avx512 {
#define NAME "avx512"
static const int MR = 8, NV = 2, KC = 256, MC = 128, NC = 512; // 8×32 tile: 16 zmm accumulators
#include "vec.h"
#include "softmax.h"
#include "update.h"
#include "impl.h"
#undef NAME
}  // namespace avx512
#undef RNN_AVX512
#pragma GCC pop_options

// train.precision "bf16": the large products on AVX512-BF16 (bf16.h), where the CPU has it.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bf16,fma")
#include "bf16.h"
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define RNN_AVX2 1
namespace avx2 {
#define NAME "avx2"
static const int MR = 6, NV = 2, KC = 256, MC = 120, NC = 512; // 6×16 tile: 12 ymm accumulators
#include "vec.h"
#include "softmax.h"
#include "update.h"
#include "impl.h"
#undef NAME
}  // namespace avx2
#undef RNN_AVX2
#pragma GCC pop_options
#endif

namespace generic {
#define NAME "generic"
static const int MR = 4, NV = 4, KC = 256, MC = 128, NC = 512; // 4×4 scalar tile
#include "vec.h"
#include "softmax.h"
#include "update.h"
#include "impl.h"
#undef NAME
}  // namespace generic

// The cells' time loops, each one call instead of one (or several) per timestep t: the same
// kernels in the same order as the per-step path (src/model/cells/*.ts step and stepBackward
// inside src/model/rnn.ts's loops, Flow.enter and cellBackward), so the same bits. Slab t of a
// state array is (B, H) at t·B·H (h_0 first), of a gate array (B, G·H) at (t−1)·B·G·H.

static const int EPI_NONE = 0, EPI_TANH = 1;

/** The vanilla cell, t = 1..T: h_t = tanh(h_{t-1}·Wf + bias + h_t) on rows < R[t] (h_t's slab holds the input projection). */
static void rnnSteps(const Isa& k, float* scratch, float* h, const float* Wf, const float* bias, const int32_t* R, int B, int T,
                     int H) {
  const long slab = static_cast<long>(B) * H;
  for (int t = 1; t <= T; t++)
    k.gemm(scratch, h + t * slab, H, h + (t - 1) * slab, H, 1, nullptr, 0, 0, Wf, R[t], H, H, true, bias, EPI_TANH);
}

/** The LSTM, t = 1..T: g_t += h_{t-1}·Wf + bias, then the gates, c_t and h_t (lstmForward) on rows < R[t]. */
static void lstmSteps(const Isa& k, float* scratch, float* g, float* h, float* c, const float* Wf, const float* bias,
                      const int32_t* R, int B, int T, int H) {
  const long slab = static_cast<long>(B) * H, GH = 4L * H;
  for (int t = 1; t <= T; t++) {
    float* gt = g + (t - 1) * slab * 4;
    k.gemm(scratch, gt, GH, h + (t - 1) * slab, H, 1, nullptr, 0, 0, Wf, R[t], GH, H, true, bias, EPI_NONE);
    k.lstmForward(gt, c + (t - 1) * slab, c + t * slab, h + t * slab, R[t], H);
  }
}

/** The GRU, t = 1..T: gh_t = h_{t-1}·Wf + bhh, then the gates and h_t (gruForward, with bih) on rows < R[t]. */
static void gruSteps(const Isa& k, float* scratch, float* gi, float* gh, float* h, const float* Wf, const float* bhh,
                     const float* bih, const int32_t* R, int B, int T, int H) {
  const long slab = static_cast<long>(B) * H, GH = 3L * H;
  for (int t = 1; t <= T; t++) {
    const long go = (t - 1) * slab * 3;
    k.gemm(scratch, gh + go, GH, h + (t - 1) * slab, H, 1, nullptr, 0, 0, Wf, R[t], GH, H, false, bhh, EPI_NONE);
    k.gruForward(gi + go, gh + go, bih, h + (t - 1) * slab, h + t * slab, R[t], H);
  }
}

/** What reaches h_t from outside the recurrence, the profile and the window (src/model/backend/types.ts: Inflow). */
struct Inflow {
  const int32_t* len;  // each row's length
  const float* last;   // the head's gradient at row b's last real token, at b·lastStride (or null)
  int lastStride;
  const float* ext0;   // time-major gradients (or null), added in this order
  const float* ext1;
  double* norms;       // 2T: Σ_rows ‖dh_t‖ at t−1, the real rows at T + t−1 (or null)
  int window;          // truncated BPTT: no gradient from t into t−1 when t−1 is a multiple of it (0: none)
};

/** Zero `width` values of each row b < r of a whose sequence ended before t. */
static void zeroPastEnd(float* a, long width, const int32_t* len, int t, int r) {
  for (int b = 0; b < r; b++)
    if (len[b] < t) std::memset(a + b * width, 0, width * sizeof(float));
}

/**
 * The driver's BPTT loop (rnn.ts cellBackward) for t = T..1 around a cell's step backward
 * (step(t, r): dG_t (and dGh_t) from dh (and dc); a cell that keeps a part of dh leaves it there):
 * Flow.enter (dh += the inflow; rows past their end zeroed; the profile), the step, padding rows of
 * dG_t and dGh_t zeroed, then dh (+)= dGh_t·Wb (K = G·H), or every state's gradient zeroed where
 * the gradient does not flow into t−1. dc: the LSTM's dL/dc (else null); dGh: dG unless kept apart.
 */
template <class Step>
static void bptt(const Isa& k, float* scratch, const Inflow& f, float* dh, float* dc, float* dG, float* dGh, const float* Wb,
                 int G, bool keepsDh, const int32_t* R, int B, int T, int H, Step step) {
  const long slab = static_cast<long>(B) * H, GH = static_cast<long>(G) * H;
  const bool apart = dGh != dG;
  std::memset(dh, 0, slab * sizeof(float));
  if (dc) std::memset(dc, 0, slab * sizeof(float));
  for (int t = T; t >= 1; t--) {
    const int r = R[t];
    const long zt = (t - 1) * slab, go = (t - 1) * B * GH;
    int real = 0;
    for (int b = 0; b < r; b++) real += f.len[b] >= t;
    if (f.last)
      for (int b = 0; b < r; b++)
        if (f.len[b] == t) k.addTo(dh + static_cast<long>(b) * H, f.last + static_cast<long>(b) * f.lastStride, H);
    if (f.ext0) k.addTo(dh, f.ext0 + zt, r * H);
    if (f.ext1) k.addTo(dh, f.ext1 + zt, r * H);
    if (real != r) zeroPastEnd(dh, H, f.len, t, r);
    if (f.norms) {
      f.norms[t - 1] = k.sumRowNorms(dh, H, r, H);
      f.norms[T + t - 1] = real;
    }
    step(t, r);
    if (real != r) zeroPastEnd(dG + go, GH, f.len, t, r);
    if (real != r && apart) zeroPastEnd(dGh + go, GH, f.len, t, r);
    std::memset(dG + go + r * GH, 0, (B - r) * GH * sizeof(float));
    if (apart) std::memset(dGh + go + r * GH, 0, (B - r) * GH * sizeof(float));
    if (t > 1 && !(f.window > 0 && (t - 1) % f.window == 0)) {
      k.gemm(scratch, dh, H, dGh + go, GH, 1, nullptr, 0, 0, Wb, r, H, static_cast<int>(GH), keepsDh, nullptr, EPI_NONE);
      std::memset(dh + static_cast<long>(r) * H, 0, (B - r) * H * sizeof(float));
    } else {
      std::memset(dh, 0, slab * sizeof(float));
      if (dc) std::memset(dc, 0, slab * sizeof(float));
    }
  }
}

/** The vanilla cell's BPTT: dG_t = dh ⊙ (1 − h_t²) (src/model/cells/rnn.ts stepBackward). */
static void rnnStepsBackward(const Isa& k, float* scratch, const Inflow& f, float* dG, float* dh, const float* h, const float* Wb,
                             const int32_t* R, int B, int T, int H) {
  const long slab = static_cast<long>(B) * H;
  bptt(k, scratch, f, dh, nullptr, dG, dG, Wb, 1, false, R, B, T, H,
       [&](int t, int r) { k.tanhBackward(dG + (t - 1) * slab, dh, h + t * slab, r * H); });
}

/** The LSTM's BPTT: lstmBackward from the activated gates g and the cell states c (cells/lstm.ts stepBackward). */
static void lstmStepsBackward(const Isa& k, float* scratch, const Inflow& f, float* dG, float* dh, float* dc, const float* g,
                              const float* c, const float* Wb, const int32_t* R, int B, int T, int H) {
  const long slab = static_cast<long>(B) * H;
  bptt(k, scratch, f, dh, dc, dG, dG, Wb, 4, false, R, B, T, H, [&](int t, int r) {
    const long go = (t - 1) * slab * 4;
    k.lstmBackward(dG + go, g + go, c + (t - 1) * slab, c + t * slab, dh, dc, r, H);
  });
}

/** The GRU's BPTT: gruBackward, dh ← dh⊙z, which the product adds to (cells/gru.ts stepBackward). */
static void gruStepsBackward(const Isa& k, float* scratch, const Inflow& f, float* dgi, float* dgh, float* dh, const float* gi,
                             const float* gh, const float* h, const float* Wb, const int32_t* R, int B, int T, int H) {
  const long slab = static_cast<long>(B) * H;
  bptt(k, scratch, f, dh, nullptr, dgi, dgh, Wb, 3, true, R, B, T, H, [&](int t, int r) {
    const long go = (t - 1) * slab * 3;
    k.gruBackward(dgi + go, dgh + go, gi + go, gh + go, h + (t - 1) * slab, dh, r, H);
  });
}

/** Whether this CPU runs bf16.h (AVX512-BF16 on top of the avx512 level). */
static bool hasBf16() {
#ifdef RNN_X86
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

/** The levels this CPU (and OS) runs, best first. */
static int supported(const Isa** out) {
  int n = 0;
#ifdef RNN_X86
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma"))
    out[n++] = &avx512::isa;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out[n++] = &avx2::isa;
#endif
  out[n++] = &generic::isa;
  return n;
}

// ---- Node-API glue ----

/** One attach(): the memory's base, the level, the packing scratch; freed when its last function is. */
struct Inst {
  uint8_t* base;
  const Isa* isa;
  float* scratch;
  uint32_t* bf16Scratch; // bf16.h's packs (null without AVX512-BF16 or at another level than avx512)
  napi_ref memory; // keeps the memory's buffer alive as long as a function can write to it
  int live;        // functions not yet finalized
};

#ifdef RNN_X86
static const long BF16_SCRATCH_WORDS = bf16::SCRATCH_WORDS;
#else
static const long BF16_SCRATCH_WORDS = 0;
#endif

/** Bytes an instance holds outside the memory: the packing scratch, and the bf16 packs where there are. */
static int64_t instanceBytes(const Inst* I) {
  return static_cast<int64_t>(I->isa->scratchFloats * sizeof(float)) + (I->bf16Scratch ? BF16_SCRATCH_WORDS * 4 : 0);
}

static void release(napi_env env, void* data, void*) {
  Inst* I = static_cast<Inst*>(data);
  if (--I->live > 0) return;
  napi_delete_reference(env, I->memory);
  int64_t left;
  napi_adjust_external_memory(env, -instanceBytes(I), &left);
  std::free(I->scratch);
  std::free(I->bf16Scratch);
  delete I;
}

static const int MAX_ARGS = 19;

static napi_status number(napi_env env, napi_value x, int32_t* v) { return napi_get_value_int32(env, x, v); }
static napi_status number(napi_env env, napi_value x, double* v) { return napi_get_value_double(env, x, v); }

/**
 * The instance and n numeric arguments (int32, or double for the update's kernels, which take
 * float constants); false (with a TypeError pending) if one is missing or not a number.
 */
template <class T>
static bool args(napi_env env, napi_callback_info info, int n, T* v, Inst** I) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  void* data;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  *I = static_cast<Inst*>(data);
  if (static_cast<int>(argc) < n) {
    napi_throw_type_error(env, nullptr, "rnn_kernels: too few arguments");
    return false;
  }
  for (int i = 0; i < n; i++) {
    if (number(env, argv[i], &v[i]) != napi_ok) {
      napi_throw_type_error(env, nullptr, "rnn_kernels: arguments must be numbers");
      return false;
    }
  }
  return true;
}

// Byte offsets up to 4 GiB arrive as int32 (napi_get_value_int32 keeps the low 32 bits).
template <class T>
static inline T* at(const Inst* I, int32_t off) {
  return reinterpret_cast<T*>(I->base + static_cast<uint32_t>(off));
}
template <class T>
static inline T* opt(const Inst* I, int32_t off) {
  return off == -1 ? nullptr : at<T>(I, off);
}

#define KERNEL(name, n) \
  static napi_value js_##name(napi_env env, napi_callback_info info) { \
    int32_t a[n];                                                       \
    Inst* I;                                                            \
    if (!args(env, info, n, a, &I)) return nullptr;                     \
    const Isa& k = *I->isa;                                             \
    (void)k;
#define END \
  return nullptr; \
  }

KERNEL(packedBytes, 2)
napi_value r;
napi_create_double(env, 4.0 * k.packedFloats(a[0], a[1]), &r);
return r;
END

// packB(dst, b, rsB, csB, K, N)
KERNEL(packB, 6)
k.packB(at<float>(I, a[0]), at<float>(I, a[1]), a[2], a[3], a[4], a[5]);
END

// gemm(c, ldc, a, rsA, csA, b, rsB, csB, M, N, K, beta, bias, epi)
KERNEL(gemm, 14)
k.gemm(I->scratch, at<float>(I, a[0]), a[1], at<float>(I, a[2]), a[3], a[4], at<float>(I, a[5]), a[6], a[7], nullptr,
       a[8], a[9], a[10], a[11] != 0, opt<float>(I, a[12]), a[13]);
END

// gemmPacked(c, ldc, a, rsA, csA, bp, M, N, K, beta, bias, epi)
KERNEL(gemmPacked, 12)
k.gemm(I->scratch, at<float>(I, a[0]), a[1], at<float>(I, a[2]), a[3], a[4], nullptr, 0, 0, at<float>(I, a[5]), a[6],
       a[7], a[8], a[9] != 0, opt<float>(I, a[10]), a[11]);
END

// gemmBf16(c, ldc, a, rsA, csA, b, rsB, csB, M, N, K, beta, bias): train.precision "bf16" (bf16.h)
KERNEL(gemmBf16, 13)
#ifdef RNN_X86
bf16::gemm(I->bf16Scratch, at<float>(I, a[0]), a[1], at<float>(I, a[2]), a[3], a[4], at<float>(I, a[5]), a[6], a[7], a[8],
           a[9], a[10], a[11] != 0, opt<float>(I, a[12]));
#endif
END

KERNEL(tanh, 2)
k.tanh(at<float>(I, a[0]), a[1]);
END

KERNEL(tanhBackward, 4)
k.tanhBackward(at<float>(I, a[0]), at<float>(I, a[1]), at<float>(I, a[2]), a[3]);
END

KERNEL(addTo, 3)
k.addTo(at<float>(I, a[0]), at<float>(I, a[1]), a[2]);
END

KERNEL(mulInPlace, 3)
k.mulInPlace(at<float>(I, a[0]), at<float>(I, a[1]), a[2]);
END

KERNEL(sumRowNorms, 4)
napi_value r;
napi_create_double(env, k.sumRowNorms(at<float>(I, a[0]), a[1], a[2], a[3]), &r);
return r;
END

// gatherRows(out, ldo, table, ldt, ids, idStride, rows, N, acc)
KERNEL(gatherRows, 9)
k.gatherRows(at<float>(I, a[0]), a[1], at<float>(I, a[2]), a[3], at<int32_t>(I, a[4]), a[5], a[6], a[7], a[8] != 0);
END

// scatterAddRows(table, ldt, src, lds, ids, idStride, rows, N)
KERNEL(scatterAddRows, 8)
k.scatterAddRows(at<float>(I, a[0]), a[1], at<float>(I, a[2]), a[3], at<int32_t>(I, a[4]), a[5], a[6], a[7]);
END

// colSumAcc(db, d, ldd, M, N)
KERNEL(colSumAcc, 5)
k.colSumAcc(at<float>(I, a[0]), at<float>(I, a[1]), a[2], a[3], a[4]);
END

// lstmForward(g, cPrev, c, h, rows, H)
KERNEL(lstmForward, 6)
k.lstmForward(at<float>(I, a[0]), at<float>(I, a[1]), at<float>(I, a[2]), at<float>(I, a[3]), a[4], a[5]);
END

// lstmBackward(dg, g, cPrev, c, dh, dc, rows, H)
KERNEL(lstmBackward, 8)
k.lstmBackward(at<float>(I, a[0]), at<float>(I, a[1]), at<float>(I, a[2]), at<float>(I, a[3]), at<float>(I, a[4]),
               at<float>(I, a[5]), a[6], a[7]);
END

// gruForward(gi, gh, bih, hPrev, h, rows, H)
KERNEL(gruForward, 7)
k.gruForward(at<float>(I, a[0]), at<float>(I, a[1]), at<float>(I, a[2]), at<float>(I, a[3]), at<float>(I, a[4]), a[5], a[6]);
END

// gruBackward(dgi, dgh, gi, gh, hPrev, dh, rows, H)
KERNEL(gruBackward, 8)
k.gruBackward(at<float>(I, a[0]), at<float>(I, a[1]), at<float>(I, a[2]), at<float>(I, a[3]), at<float>(I, a[4]),
              at<float>(I, a[5]), a[6], a[7]);
END

// The time loops. The backward ones end in the inflow: R, lengths, last, lastStride, ext0, ext1, norms, B, T, H, window.
#define INFLOW(j) \
  Inflow{at<int32_t>(I, a[j + 1]), opt<float>(I, a[j + 2]), a[j + 3], opt<float>(I, a[j + 4]), opt<float>(I, a[j + 5]), \
         opt<double>(I, a[j + 6]), a[j + 10]}
#define F(j) at<float>(I, a[j])

// rnnSteps(h, Wf, bias, R, B, T, H)
KERNEL(rnnSteps, 7)
rnnSteps(k, I->scratch, F(0), F(1), F(2), at<int32_t>(I, a[3]), a[4], a[5], a[6]);
END

// lstmSteps(g, h, c, Wf, bias, R, B, T, H)
KERNEL(lstmSteps, 9)
lstmSteps(k, I->scratch, F(0), F(1), F(2), F(3), F(4), at<int32_t>(I, a[5]), a[6], a[7], a[8]);
END

// gruSteps(gi, gh, h, Wf, bhh, bih, R, B, T, H)
KERNEL(gruSteps, 10)
gruSteps(k, I->scratch, F(0), F(1), F(2), F(3), opt<float>(I, a[4]), F(5), at<int32_t>(I, a[6]), a[7], a[8], a[9]);
END

// rnnStepsBackward(dG, dh, h, Wb, R, lengths, last, lastStride, ext0, ext1, norms, B, T, H, window)
KERNEL(rnnStepsBackward, 15)
rnnStepsBackward(k, I->scratch, INFLOW(4), F(0), F(1), F(2), F(3), at<int32_t>(I, a[4]), a[11], a[12], a[13]);
END

// lstmStepsBackward(dG, dh, dc, g, c, Wb, R, lengths, last, lastStride, ext0, ext1, norms, B, T, H, window)
KERNEL(lstmStepsBackward, 17)
lstmStepsBackward(k, I->scratch, INFLOW(6), F(0), F(1), F(2), F(3), F(4), F(5), at<int32_t>(I, a[6]), a[13], a[14], a[15]);
END

// gruStepsBackward(dgi, dgh, dh, gi, gh, h, Wb, R, lengths, last, lastStride, ext0, ext1, norms, B, T, H, window)
KERNEL(gruStepsBackward, 18)
gruStepsBackward(k, I->scratch, INFLOW(7), F(0), F(1), F(2), F(3), F(4), F(5), F(6), at<int32_t>(I, a[7]), a[14], a[15], a[16]);
END
#undef F
#undef INFLOW

// softmaxXent(x, ldx, rows, C, ys, wt, am, db, grad) → Σ w·nll
KERNEL(softmaxXent, 9)
napi_value r;
napi_create_double(env, k.softmaxXent(at<float>(I, a[0]), a[1], a[2], a[3], at<int32_t>(I, a[4]), at<float>(I, a[5]),
                                      at<int32_t>(I, a[6]), opt<float>(I, a[7]), a[8] != 0), &r);
return r;
END

// The update's kernels: numbers read as doubles (byte offsets and counts are integers, the Adam
// and SGD constants float32 values, so both convert exactly).
#define KERNELD(name, n) \
  static napi_value js_##name(napi_env env, napi_callback_info info) { \
    double a[n];                                                        \
    Inst* I;                                                            \
    if (!args(env, info, n, a, &I)) return nullptr;                     \
    const Isa& k = *I->isa;
#define PTR(T, x) at<T>(I, static_cast<int32_t>(static_cast<int64_t>(x)))
#define INT(x) static_cast<int>(x)
#define ADAMC(j) \
  AdamC{static_cast<float>(a[j]), static_cast<float>(a[j + 1]), static_cast<float>(a[j + 2]), static_cast<float>(a[j + 3]), \
        static_cast<float>(a[j + 4]), static_cast<float>(a[j + 5]), static_cast<float>(a[j + 6]), static_cast<float>(a[j + 7]), \
        static_cast<float>(a[j + 8])}

static napi_value toJs(napi_env env, double x) {
  napi_value r;
  napi_create_double(env, x, &r);
  return r;
}

// adam(p, g, m, v, n, scale, b1, c1, b2, c2, stepSize, sqrtBc2, eps, decay)
KERNELD(adam, 14)
k.adam(PTR(float, a[0]), PTR(float, a[1]), PTR(float, a[2]), PTR(float, a[3]), static_cast<long>(a[4]), ADAMC(5));
END

// sgd(p, g, b, n, scale, momentum, lr, wd)
KERNELD(sgd, 8)
k.sgd(PTR(float, a[0]), PTR(float, a[1]), PTR(float, a[2]), static_cast<long>(a[3]), static_cast<float>(a[4]),
      static_cast<float>(a[5]), static_cast<float>(a[6]), static_cast<float>(a[7]));
END

// sumSlots(dst, table, S, off, n) → Σ dst²
KERNELD(sumSlots, 5)
return toJs(env, k.sumSlots(I->base, PTR(float, a[0]), PTR(int32_t, a[1]), INT(a[2]), static_cast<long>(a[3]), static_cast<long>(a[4])));
END

// sumSlotRows(dst, table, S, rows, n, width, sq0) → sq0 + Σ dst² row by row
KERNELD(sumSlotRows, 7)
return toJs(env, k.sumSlotRows(I->base, PTR(float, a[0]), PTR(int32_t, a[1]), INT(a[2]), PTR(int32_t, a[3]), INT(a[4]), INT(a[5]), a[6]));
END

// zeroRows(dst, rows, n, width)
KERNELD(zeroRows, 4)
k.zeroRows(PTR(float, a[0]), PTR(int32_t, a[1]), INT(a[2]), INT(a[3]));
END

// sumSlotsAdam(p, m, v, table, S, off, n, ...Adam's 9) → Σ g²
KERNELD(sumSlotsAdam, 16)
return toJs(env, k.sumSlotsAdam(I->base, PTR(float, a[0]), PTR(float, a[1]), PTR(float, a[2]), PTR(int32_t, a[3]), INT(a[4]),
                                  static_cast<long>(a[5]), static_cast<long>(a[6]), ADAMC(7)));
END

// sumSlotRowsAdam(p, m, v, table, S, rows, n, width, sq0, ...Adam's 9) → sq0 + Σ g² row by row
KERNELD(sumSlotRowsAdam, 18)
return toJs(env, k.sumSlotRowsAdam(I->base, PTR(float, a[0]), PTR(float, a[1]), PTR(float, a[2]), PTR(int32_t, a[3]), INT(a[4]),
                                     PTR(int32_t, a[5]), INT(a[6]), INT(a[7]), a[8], ADAMC(9)));
END

// adamUnmarked(p, m, v, mark, r0, r1, width, ...Adam's 9)
KERNELD(adamUnmarked, 16)
k.adamUnmarked(PTR(float, a[0]), PTR(float, a[1]), PTR(float, a[2]), PTR(int32_t, a[3]), INT(a[4]), INT(a[5]), INT(a[6]), ADAMC(7));
END

static napi_value fail(napi_env env, const char* msg) {
  napi_throw_error(env, nullptr, msg);
  return nullptr;
}

/** obj[name] = a function of instance I (which it keeps alive). */
static void addFunction(napi_env env, napi_value obj, Inst* I, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, I, &fn);
  I->live++;
  napi_add_finalizer(env, fn, I, release, nullptr, nullptr);
  napi_set_named_property(env, obj, name, fn);
}

/**
 * attach(u8: Uint8Array over the whole memory.buffer, isa?: string) → { isa, packedBytes, packB, gemm, ... }:
 * the kernels on that memory, at the given level (default: the best this CPU runs).
 */
static napi_value js_attach(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool isTyped = false;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &isTyped) != napi_ok || !isTyped)
    return fail(env, "rnn_kernels.attach: expected a Uint8Array over the memory's buffer");
  napi_typedarray_type type;
  size_t length, offset;
  void* data = nullptr;
  napi_value buffer;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset) != napi_ok ||
      type != napi_uint8_array || offset != 0 || data == nullptr)
    return fail(env, "rnn_kernels.attach: expected a Uint8Array over the whole buffer (offset 0)");

  const Isa* levels[3];
  const int n = supported(levels);
  const Isa* isa = levels[0];
  napi_valuetype vt = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &vt);
  if (vt == napi_string) {
    char want[32];
    size_t len;
    napi_get_value_string_utf8(env, argv[1], want, sizeof want, &len);
    isa = nullptr;
    for (int i = 0; i < n; i++)
      if (std::strcmp(want, levels[i]->name) == 0) isa = levels[i];
    if (!isa) return fail(env, "rnn_kernels.attach: that ISA level is not supported on this CPU (see rnn_kernels.isas)");
  }

  float* scratch = nullptr;
  if (posix_memalign(reinterpret_cast<void**>(&scratch), 64, isa->scratchFloats * sizeof(float)) != 0)
    return fail(env, "rnn_kernels.attach: out of memory for the packing scratch");
  // The bf16 packs, at the avx512 level on a CPU with AVX512-BF16 (only then is gemmBf16 there).
  uint32_t* bf16Scratch = nullptr;
#ifdef RNN_X86
  if (hasBf16() && std::strcmp(isa->name, "avx512") == 0 &&
      posix_memalign(reinterpret_cast<void**>(&bf16Scratch), 64, BF16_SCRATCH_WORDS * sizeof(uint32_t)) != 0) {
    std::free(scratch);
    return fail(env, "rnn_kernels.attach: out of memory for the bf16 packing scratch");
  }
#endif
  Inst* I = new Inst{static_cast<uint8_t*>(data), isa, scratch, bf16Scratch, nullptr, 0};
  napi_create_reference(env, argv[0], 1, &I->memory);
  int64_t total; // tell the GC what an instance holds, so unreachable ones are collected in time
  napi_adjust_external_memory(env, instanceBytes(I), &total);

  napi_value obj, name;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, isa->name, NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, obj, "isa", name);
  static const struct {
    const char* name;
    napi_callback cb;
  } fns[] = {
      {"packedBytes", js_packedBytes}, {"packB", js_packB},
      {"gemm", js_gemm},               {"gemmPacked", js_gemmPacked},
      {"tanh", js_tanh},               {"tanhBackward", js_tanhBackward},
      {"addTo", js_addTo},             {"mulInPlace", js_mulInPlace},
      {"sumRowNorms", js_sumRowNorms}, {"gatherRows", js_gatherRows},
      {"scatterAddRows", js_scatterAddRows}, {"colSumAcc", js_colSumAcc},
      {"lstmForward", js_lstmForward}, {"lstmBackward", js_lstmBackward},
      {"gruForward", js_gruForward},   {"gruBackward", js_gruBackward},
      {"softmaxXent", js_softmaxXent},
      {"rnnSteps", js_rnnSteps},       {"rnnStepsBackward", js_rnnStepsBackward},
      {"lstmSteps", js_lstmSteps},     {"lstmStepsBackward", js_lstmStepsBackward},
      {"gruSteps", js_gruSteps},       {"gruStepsBackward", js_gruStepsBackward},
      {"adam", js_adam},               {"sgd", js_sgd},
      {"sumSlots", js_sumSlots},       {"sumSlotRows", js_sumSlotRows},
      {"zeroRows", js_zeroRows},       {"sumSlotsAdam", js_sumSlotsAdam},
      {"sumSlotRowsAdam", js_sumSlotRowsAdam}, {"adamUnmarked", js_adamUnmarked},
  };
  for (const auto& f : fns) addFunction(env, obj, I, f.name, f.cb);
  if (bf16Scratch) addFunction(env, obj, I, "gemmBf16", js_gemmBf16);
  return obj;
}

// orthogonal.cc: the orthogonal init's Householder columns (not a kernel of the backend seam).
napi_value jsOrthogonalColumns(napi_env env, napi_callback_info info);

NAPI_MODULE_INIT() {
  const Isa* levels[3];
  const int n = supported(levels);
  napi_value isas, fn;
  napi_create_array_with_length(env, n, &isas);
  for (int i = 0; i < n; i++) {
    napi_value s;
    napi_create_string_utf8(env, levels[i]->name, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, isas, i, s);
  }
  napi_set_named_property(env, exports, "isas", isas);
  napi_value bf16;
  napi_get_boolean(env, hasBf16(), &bf16);
  napi_set_named_property(env, exports, "bf16", bf16); // AVX512-BF16: attach at avx512 gives gemmBf16
  // Without hardware FMA the generic level calls libm's fmaf for every multiply-add: correct (the
  // same bits) but slower than the wasm kernels, so it should only run when asked for.
#if defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
  const bool slow = false;
#else
  const bool slow = true;
#endif
  napi_value slowGeneric;
  napi_get_boolean(env, slow, &slowGeneric);
  napi_set_named_property(env, exports, "slowGeneric", slowGeneric);
  napi_create_function(env, "attach", NAPI_AUTO_LENGTH, js_attach, nullptr, &fn);
  napi_set_named_property(env, exports, "attach", fn);
  napi_create_function(env, "orthogonalColumns", NAPI_AUTO_LENGTH, jsOrthogonalColumns, nullptr, &fn);
  napi_set_named_property(env, exports, "orthogonalColumns", fn);
  return exports;
}
