// The contract between the model and the compiled backends (`wasm`, `native`): kernels that
// address ONE shared WebAssembly.Memory (the run's SharedArena) by byte offset. Both backends
// implement exactly this interface; `addressed.ts` adapts it to the typed-array `Kernels` the
// model calls, so model code never sees an address.
//
// Conventions
// - Every pointer argument (c, a, b, x, ...) is a BYTE offset into the memory; data are float32
//   except `ids` (int32). Strides and sizes are in ELEMENTS. `NONE` (-1) means "no pointer".
// - Matrix operands are described by strides, so no caller ever makes a transposed copy:
//     A[m,k] = a[m*rsA + k*csA]      (M × K)
//     B[k,n] = b[k*rsB + n*csB]      (K × N)
//     C[m,n] = c[m*ldc + n]          (M × N, rows contiguous)
// - Determinism and padding invariance: each C[m,n] is computed with the same operations in the
//   same order whatever M, N, the position of (m, n) in a tile, and the other rows or columns
//   in the call (tails use the same micro-kernel on zero-padded packs, not a different loop),
//   and the same whether B was packed by packB or by gemm itself. So a row's result does not
//   depend on the batch it sits in, nor on how the batch was sharded.
// - Kernels never allocate from JavaScript's point of view: `scratchBytes` of memory at
//   `scratch` (given once, at creation, per thread) is all the packing space they use.
// - Safe in every worker thread: each thread creates its own instance on the shared memory.

export const NONE = -1;

/** Epilogues applied to C after the product (and after adding `bias`), while the tile is hot. */
export const Epi = {
  None: 0,
  /** C = tanh(C): the vanilla recurrence a_t = tanh(Waa·a_{t-1} + xproj_t + ba). */
  Tanh: 1,
} as const;
export type Epi = (typeof Epi)[keyof typeof Epi];

export interface RawKernels {
  /** What actually runs, for logs: e.g. 'avx512', 'avx2-fma', 'generic', 'simd128', 'relaxed-simd128'. */
  readonly isa: string;

  /** Bytes a packed B of K×N takes (packB's dst). */
  packedBytes(K: number, N: number): number;
  /** Pack B (K × N, strides rsB/csB) at b into the backend's panel layout at dst. */
  packB(dst: number, b: number, rsB: number, csB: number, K: number, N: number): void;
  /**
   * C = (beta ? C : 0) + A·B (+ bias[n] if bias !== NONE), then the epilogue. beta is 0 or 1.
   * Any K (weight gradients sum over K = T·B rows, thousands): blocked internally.
   */
  gemm(c: number, ldc: number, a: number, rsA: number, csA: number, b: number, rsB: number, csB: number,
    M: number, N: number, K: number, beta: number, bias: number, epi: Epi): void;
  /** The native backend at avx512 on a CPU with AVX512-BF16 only: gemm on bf16-rounded A and B, float32 sums (native/bf16.h), no epilogue. */
  gemmBf16?(c: number, ldc: number, a: number, rsA: number, csA: number, b: number, rsB: number, csB: number,
    M: number, N: number, K: number, beta: number, bias: number): void;
  /** gemm with B already packed by packB(·, ·, ·, ·, K, N): bit-identical to gemm on the unpacked B. */
  gemmPacked(c: number, ldc: number, a: number, rsA: number, csA: number, bp: number,
    M: number, N: number, K: number, beta: number, bias: number, epi: Epi): void;

  /** x[i] = tanh(x[i]) for i < n (float32; max relative error vs Math.tanh ≤ 2e-7, odd, |tanh| ≤ 1). */
  tanh(x: number, n: number): void;
  /** dz[i] = da[i]·(1 − a[i]²) for i < n. */
  tanhBackward(dz: number, da: number, a: number, n: number): void;
  /** y[i] += x[i] for i < n. */
  addTo(y: number, x: number, n: number): void;
  /** x[i] *= m[i] for i < n. */
  mulInPlace(x: number, m: number, n: number): void;
  /** Σ over rows r < rows of sqrt(Σ_n x[r*ldx + n]²), accumulated in float64. */
  sumRowNorms(x: number, ldx: number, rows: number, N: number): number;
  /** out[r*ldo + n] (+)= table[ids[r*idStride]*ldt + n] for r < rows, n < N (acc: 1 = add, 0 = overwrite). */
  gatherRows(out: number, ldo: number, table: number, ldt: number, ids: number, idStride: number, rows: number, N: number, acc: number): void;
  /** table[ids[r*idStride]*ldt + n] += src[r*lds + n] for r < rows in order, n < N (the backward of gatherRows). */
  scatterAddRows(table: number, ldt: number, src: number, lds: number, ids: number, idStride: number, rows: number, N: number): void;
  /** db[n] += Σ_m d[m*ldd + n] for n < N, m < M in order. */
  colSumAcc(db: number, d: number, ldd: number, M: number, N: number): void;

  /**
   * The fused softmax cross-entropy of types.ts (Kernels.softmaxXent), on float32 rows at x (stride
   * ldx); ys, am int32; wt float32; db NONE or a C-vector. exp is computed in float32 (a few ulp;
   * below e^−87.3 it is e^−87.3), Σ exp in float32, log and the loss sum in float64.
   */
  softmaxXent(x: number, ldx: number, rows: number, C: number, ys: number, wt: number, am: number, db: number, grad: number): number;

  // The update's streaming kernels (types.ts: Kernels says what each computes). A slot `table` is
  // S int32 byte addresses of the slots; element i of slot k is at table[k] + off + 4i. The Adam
  // constants are float32 values (kernels.ts f32Consts), in the order scale, b1, c1, b2, c2,
  // stepSize, sqrtBc2, eps, decay.
  adam(p: number, g: number, m: number, v: number, n: number,
    scale: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number): void;
  sgd(p: number, g: number, b: number, n: number, scale: number, momentum: number, lr: number, wd: number): void;
  sumSlots(dst: number, table: number, S: number, off: number, n: number): number;
  sumSlotRows(dst: number, table: number, S: number, rows: number, n: number, width: number, sq0: number): number;
  zeroRows(dst: number, rows: number, n: number, width: number): void;
  sumSlotsAdam(p: number, m: number, v: number, table: number, S: number, off: number, n: number,
    scale: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number): number;
  sumSlotRowsAdam(p: number, m: number, v: number, table: number, S: number, rows: number, n: number, width: number, sq0: number,
    scale: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number): number;
  adamUnmarked(p: number, m: number, v: number, mark: number, r0: number, r1: number, width: number,
    scale: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number): void;

  // The LSTM and GRU gate kernels (types.ts: Kernels says what each computes), on `rows` rows:
  // gate rows G·H floats apart (G = 4 LSTM, 3 GRU), state rows H apart, bih one row of 3H. Each
  // unit's result depends on that row and unit alone. σ and tanh within 2e-7 relative (σ also where it is
  // tiny: no ½ + ½·tanh(x/2), whose absolute error is all of a small σ).
  /** In place g → (σ(i), σ(f), tanh(g), σ(o)); c = f⊙cPrev + i⊙g; h = o⊙tanh(c). */
  lstmForward(g: number, cPrev: number, c: number, h: number, rows: number, H: number): void;
  /** dg = dL/d(pre-activations); dc: dL/dc_t in, dL/dc_{t-1} out. */
  lstmBackward(dg: number, g: number, cPrev: number, c: number, dh: number, dc: number, rows: number, H: number): void;
  /** gi (W_ih·x) → (r, z, n) in place, from gh (W_hh·h + b_hh) and bih; h = (1 − z)⊙n + z⊙hPrev. */
  gruForward(gi: number, gh: number, bih: number, hPrev: number, h: number, rows: number, H: number): void;
  /** dgi, dgh from (r, z, n), gh and hPrev; dh: dL/dh_t in, dh⊙z out. */
  gruBackward(dgi: number, dgh: number, gi: number, gh: number, hPrev: number, dh: number, rows: number, H: number): void;

  // The cells' time loops in one call (native only; types.ts: Kernels.rnnSteps, ...): R (T+1 int32)
  // in the memory. The backward ones end in the inflow (types.ts Inflow): lengths (B int32), last
  // (NONE or rows lastStride apart), ext0, ext1 (NONE or time-major), norms (NONE or 2T float64: the
  // sums, then the counts), then B, T, H and the window.
  rnnSteps?(h: number, Wf: number, bias: number, R: number, B: number, T: number, H: number): void;
  lstmSteps?(g: number, h: number, c: number, Wf: number, bias: number, R: number, B: number, T: number, H: number): void;
  gruSteps?(gi: number, gh: number, h: number, Wf: number, bhh: number, bih: number, R: number, B: number, T: number, H: number): void;
  rnnStepsBackward?(dG: number, dh: number, h: number, Wb: number, R: number, ...inflow: InflowArgs): void;
  lstmStepsBackward?(dG: number, dh: number, dc: number, g: number, c: number, Wb: number, R: number, ...inflow: InflowArgs): void;
  gruStepsBackward?(dgi: number, dgh: number, dh: number, gi: number, gh: number, h: number, Wb: number, R: number, ...inflow: InflowArgs): void;
}

/** The time loops' inflow, as the raw backward kernels take it. */
export type InflowArgs = [lengths: number, last: number, lastStride: number, ext0: number, ext1: number, norms: number,
  B: number, T: number, H: number, window: number];

/** How a backend is created on a thread: on the run's memory, with its own scratch region. */
export interface RawFactory {
  /** Scratch bytes one instance needs (constant for a build). */
  readonly scratchBytes: number;
  readonly isa: string;
  create(memory: WebAssembly.Memory, scratch: number): RawKernels;
}
