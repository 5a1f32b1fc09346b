// The compute-backend seam: every numeric kernel the model's hot loops call, on typed arrays with
// element offsets (as in kernels.ts: outputs first, sizes last). Three implementations:
//   js      the reference (kernels in plain JavaScript), float32 and float64; gradient checks use
//           its float64 path
//   wasm    WebAssembly SIMD128 (relaxed SIMD where the runtime has it), on the run's shared memory
//   native  a Node-API addon with runtime CPU dispatch (AVX-512, AVX2+FMA, generic)
// wasm and native implement the byte-addressed RawKernels of raw.ts; addressed.ts adapts them.
// Model code gets a Kernels from its Workspace and never asks which one it is.

import type { Float, AdamConsts } from '../kernels.js';
import { Epi } from './raw.js';

export { Epi };
export type BackendName = 'js' | 'wasm' | 'native';
export type KernelsChoice = 'auto' | BackendName;
/** The backends: the one list (flags' choices, messages and the config's enum, which a test compares with it). */
export const BACKENDS: readonly BackendName[] = ['js', 'wasm', 'native'];
/** What a user may ask for: auto (the fastest that loads here) or a backend. */
export const KERNELS_CHOICES: readonly KernelsChoice[] = ['auto', ...BACKENDS];

/**
 * The kernels choice, resolved once per command (resolveKernels): the backend and the ISA it runs
 * at. It is passed on as a value (to the worker threads, evaluation, prediction, Model), and every
 * thread creates exactly this backend at this ISA (createKernels), probing nothing again.
 */
export interface ResolvedKernels {
  name: BackendName;
  /** 'avx512', 'avx2', 'generic' (native); 'simd128', 'relaxed-simd128' (wasm); 'float32' (js). */
  isa: string;
  /** Why a faster backend was skipped (said once, in the run header). */
  note?: string;
  /** train.precision "bf16" (precision.ts withPrecision): the products over all rows in bf16 (Kernels.gemmBf16). Absent: float32. */
  precision?: 'bf16';
  /** What runs in bf16 and the probe's rates, for the run header. */
  precisionNote?: string;
}

/**
 * What reaches a layer's states from outside the recurrence during BPTT, as data
 * (Kernels.rnnStepsBackward, ...; ../rnn.ts Flow.enter adds the same in its per-step loop), in this order:
 * the head's gradient at each row's last real token, then the time-major arrays.
 */
export interface Inflow {
  /** Each row's real length (rows < B). */
  lengths: Int32Array;
  /** Many-to-one: dL/dh of row b at its last real token, at b·lastStride (null: none). */
  last: Float | null;
  lastStride: number;
  /** Time-major gradients reaching h_t (slab t at (t−1)·B·H, rows of H), added in order (at most two). */
  ext: Float[];
  /** Truncated BPTT: no gradient flows from h_t into h_{t−1} when t−1 is a multiple of window (0: untruncated). */
  window: number;
  /** The gradient-through-time profile, at t−1: Σ over rows < R[t] of ‖dL/dh_t‖ (sumRowNorms) and the real rows (null: not recorded). */
  normSum: Float64Array | null;
  normCount: Float64Array | null;
}

/**
 * Products describe their operands by strides, so nobody makes a transposed copy:
 *   A[m,k] = a[ao + m*rsA + k*csA],  B[k,n] = b[bo + k*rsB + n*csB],  C[m,n] = c[co + m*ldc + n].
 * `bias` (a whole view, e.g. a layer's b_ih) is added to every row of C before the epilogue. Each C[m,n] is
 * computed the same way whatever the other rows in the call (padding invariance, sharding).
 */
export interface Kernels {
  readonly name: BackendName;
  /** What runs, for logs and checkpoints: 'avx512', 'simd128', 'float64', ... */
  readonly isa: string;
  readonly dtype: 'float32' | 'float64';

  /** Zeroed arrays these kernels can address (in the run's arena for wasm and native). Allocate once. */
  floats(n: number): Float;
  ints(n: number): Int32Array;

  /** Elements of a packed K×N operand (packB's dst). */
  packedSize(K: number, N: number): number;
  /** Pack B (K × N) once, for products that reuse it (a recurrent weight over all T steps). */
  packB(dst: Float, b: Float, bo: number, rsB: number, csB: number, K: number, N: number): void;
  /** C = (beta ? C : 0) + A·B (+ bias), then the epilogue. */
  gemm(c: Float, co: number, ldc: number, a: Float, ao: number, rsA: number, csA: number,
    b: Float, bo: number, rsB: number, csB: number, M: number, N: number, K: number,
    beta: 0 | 1, bias: Float | null, epi: Epi): void;
  /**
   * train.precision "bf16" only (native, AVX512-BF16): gemm with A and B rounded to bfloat16 (to
   * nearest even) and float32 products and sums (vdpbf16ps: pairs along K), no epilogue. The
   * training products over all rows (rnn.ts rowsGemm) call it when it is there.
   */
  gemmBf16?(c: Float, co: number, ldc: number, a: Float, ao: number, rsA: number, csA: number,
    b: Float, bo: number, rsB: number, csB: number, M: number, N: number, K: number, beta: 0 | 1, bias: Float | null): void;
  /** gemm on a B packed by packB: bit-identical to gemm on the unpacked B. */
  gemmPacked(c: Float, co: number, ldc: number, a: Float, ao: number, rsA: number, csA: number,
    bp: Float, M: number, N: number, K: number, beta: 0 | 1, bias: Float | null, epi: Epi): void;

  /** dz = da·(1 − a²): the backward of a = tanh(z), written through a. */
  tanhBackward(dz: Float, dzo: number, da: Float, dao: number, a: Float, ao: number, n: number): void;
  /** y += x */
  addTo(y: Float, yo: number, x: Float, xo: number, n: number): void;
  /** x *= m (a dropout mask's backward) */
  mulInPlace(x: Float, xo: number, m: Float, mo: number, n: number): void;
  /** Σ over `rows` rows (stride ldx) of each row's Euclidean norm over N values. */
  sumRowNorms(x: Float, xo: number, ldx: number, rows: number, N: number): number;
  /** out[r] (+)= table[ids[io + r*idStride]] for r < rows (rows of N; strides ldo, ldt). */
  gatherRows(out: Float, oo: number, ldo: number, table: Float, ldt: number, ids: Int32Array, io: number, idStride: number,
    rows: number, N: number, acc: boolean): void;
  /** table[ids[io + r*idStride]] += src[r], r in order: gatherRows' backward. */
  scatterAddRows(table: Float, ldt: number, src: Float, so: number, lds: number, ids: Int32Array, io: number, idStride: number,
    rows: number, N: number): void;
  /** db[n] += Σ_m d[do + m*ldd + n] */
  colSumAcc(db: Float, d: Float, doff: number, ldd: number, M: number, N: number): void;

  /**
   * The output layer's softmax cross-entropy, fused, over `rows` rows of logits x (C wide, row
   * stride ldx, in place). Row r has target y = ys[yo + r] and weight w = wt[wo + r]; w = 0 marks
   * a padded row. For each row with w ≠ 0: m = max_c x_c, am[ao + r] = the first c with x_c = m,
   * s = Σ_c exp(x_c − m), nll = log s + m − x_y, and the row becomes softmax(x) (grad = 0) or the
   * gradient of w·nll, dlogits = w·(softmax(x) − onehot(y)) (grad = 1), which is also added to
   * db (a C-vector, when given) row by row in order. A row with w = 0 gets am = −1 and, with grad,
   * zeros. Returns Σ_r w·nll (float64, rows in order). A row's results depend on that row alone.
   */
  softmaxXent(x: Float, xo: number, ldx: number, rows: number, C: number, ys: Int32Array, yo: number,
    wt: Float, wo: number, am: Int32Array, ao: number, db: Float | null, grad: 0 | 1): number;

  // The update's streaming kernels, on float32 arrays (for wasm and native in the run's memory):
  // the sum of the workers' gradient slots, the optimizer steps, and the two fused. Each element
  // sees the float32 operations of src/model/kernels.ts's twins (adamStepJs, ...) in their order,
  // so every backend gives the same bits; sums of squares are float64 in four lanes, as sumSquares.

  /** Adam on [o, o+n) with gradient c.scale·g (kernels.ts adamStep says the operations). */
  adamStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: number, n: number, c: AdamConsts): void;
  /** SGD with momentum buffer b and L2 decay wd on [o, o+n) (kernels.ts sgdStep). */
  sgdStep(p: Float32Array, g: Float32Array, b: Float32Array, o: number, n: number, scale: number, momentum: number, lr: number, wd: number): void;
  /** dst[dOff+i] = Σ_k slots[k][sOff+i] (k = 0..S-1 in order) for i < n; returns Σ dst² (as sumSquares sums it). */
  sumSlots(dst: Float32Array, dOff: number, slots: Float32Array[], S: number, sOff: number, n: number): number;
  /** sumSlots over the token rows r in rows[0..n) (`width` elements at r·width); sq0 + each row's Σ dst², in list order. */
  sumSlotRows(dst: Float32Array, slots: Float32Array[], S: number, rows: Int32Array, n: number, width: number, sq0: number): number;
  /** The rows r in rows[0..n) of dst (`width` elements at r·width) set to zero. */
  zeroRows(dst: Float32Array, rows: Int32Array, n: number, width: number): void;
  /** The slot sum of [o, o+n) (S = 0: zero) and Adam with it, the sum never written; returns its Σ g² (kernels.ts sumSlotsAdam). */
  sumSlotsAdam(p: Float32Array, m: Float32Array, v: Float32Array, o: number, n: number, slots: Float32Array[], S: number, c: AdamConsts): number;
  /** sumSlotsAdam over the token rows r in rows[0..n); sq0 + each row's Σ g², in list order. */
  sumSlotRowsAdam(p: Float32Array, m: Float32Array, v: Float32Array, slots: Float32Array[], S: number, rows: Int32Array, n: number, width: number, sq0: number, c: AdamConsts): number;
  /** Adam with a zero gradient on the token rows r in [r0, r1) with mark[r] = 0, without reading a gradient. */
  adamUnmarked(p: Float32Array, m: Float32Array, v: Float32Array, mark: Int32Array, r0: number, r1: number, width: number, c: AdamConsts): void;

  // Optional fused gate kernels of the LSTM and GRU (src/model/cells/), on `rows` rows of one
  // timestep: a speed-up a backend may provide (wasm and native do); a cell without one here runs
  // its own pointwise loops (the js backend's path), with the same contract.
  // Row r of a gate array is G·H wide (gate blocks in PyTorch's order), of a state array H wide;
  // every operand is an array and an element offset, so a cell addresses time slices of its caches.
  // σ(x) = 1/(1 + e^{−x}). Each output element depends only on the same row and unit of the inputs.

  /**
   * LSTM, after g = W_ih·x_t + W_hh·h_{t-1} + b (rows × 4H, gates i, f, g, o): in place i = σ(·),
   * f = σ(·), g = tanh(·), o = σ(·); then c = f⊙cPrev + i⊙g and h = o⊙tanh(c).
   */
  lstmForward?(g: Float, go: number, cPrev: Float, cpo: number, c: Float, co: number, h: Float, ho: number, rows: number, H: number): void;
  /**
   * lstmForward's backward, from the activated gates g, cPrev and c: dh is dL/dh_t, dc is dL/dc_t
   * from step t+1 and becomes dL/dc_{t-1} (in place); dg (rows × 4H) = dL/d(the pre-activations).
   */
  lstmBackward?(dg: Float, dgo: number, g: Float, go: number, cPrev: Float, cpo: number, c: Float, co: number,
    dh: Float, dho: number, dc: Float, dco: number, rows: number, H: number): void;
  /**
   * GRU (PyTorch's): gi = W_ih·x_t (rows × 3H, without bias), gh = W_hh·h_{t-1} + b_hh (rows × 3H):
   * r = σ(gi_r + b_ir + gh_r), z = σ(gi_z + b_iz + gh_z), n = tanh(gi_n + b_in + r⊙gh_n),
   * h = (1 − z)⊙n + z⊙hPrev. gi becomes (r, z, n) in place; gh is only read.
   */
  gruForward?(gi: Float, gio: number, gh: Float, gho: number, bih: Float, hPrev: Float, hpo: number, h: Float, ho: number, rows: number, H: number): void;
  /**
   * gruForward's backward, from gi = (r, z, n), gh and hPrev: dgi, dgh (rows × 3H) = dL/d(gi + b_ih),
   * dL/d(gh); dh (dL/dh_t) becomes dh⊙z in place, the part of dL/dh_{t-1} that skips W_hh.
   */
  gruBackward?(dgi: Float, dgio: number, dgh: Float, dgho: number, gi: Float, gio: number, gh: Float, gho: number,
    hPrev: Float, hpo: number, dh: Float, dho: number, rows: number, H: number): void;

  // Optional time loops of the cells (native): T steps in one call instead of one or more calls
  // per step, the same kernels in the same order, so the same bits as the per-step path (the
  // cells' step and stepBackward inside ../rnn.ts's loops). Slab t of a state array (h, c) is the
  // (B, H) block at t·B·H (h_0 first), of a gate array the (B, G·H) block at (t−1)·B·G·H; step t
  // computes rows < R[t]. Forward: the cell's `step` for t = 1..T. Backward, for t = T..1 from
  // zero state gradients (dh, dc: (B, H) scratch): dh += what `flow` brings to h_t, rows past
  // their end zeroed, the profile; the cell's `stepBackward`; dG_t (and dGh_t) zero on rows past
  // their end and rows ≥ R[t]; then dh (+)= dGh_t·W_hh on Wb (packB of W_hh as B, K = G·H, N = H;
  // added to what the GRU keeps in dh), rows ≥ R[t] zero; or every state's gradient set to zero
  // where the gradient does not flow into t−1 (t = 1, flow.window).

  /** Vanilla: h_t = tanh(h_{t−1}·W_hhᵀ + bias + h_t) (h_t's slab holds the input projection); gemmPacked with Epi.Tanh. */
  rnnSteps?(h: Float, Wf: Float, bias: Float, R: Int32Array, B: number, T: number, H: number): void;
  /** LSTM: g_t += h_{t−1}·W_hhᵀ + bias (gemmPacked), then lstmForward(g_t, c_{t−1}, c_t, h_t). */
  lstmSteps?(g: Float, h: Float, c: Float, Wf: Float, bias: Float, R: Int32Array, B: number, T: number, H: number): void;
  /** GRU: gh_t = h_{t−1}·W_hhᵀ + bhh (gemmPacked), then gruForward(gi_t, gh_t, bih, h_{t−1}, h_t). */
  gruSteps?(gi: Float, gh: Float, h: Float, Wf: Float, bhh: Float | null, bih: Float, R: Int32Array, B: number, T: number, H: number): void;
  /** Vanilla: dG_t = dh ⊙ (1 − h_t²) (tanhBackward). */
  rnnStepsBackward?(dG: Float, dh: Float, h: Float, Wb: Float, R: Int32Array, B: number, T: number, H: number, flow: Inflow): void;
  /** LSTM: lstmBackward(dG_t, g_t, c_{t−1}, c_t, dh, dc). */
  lstmStepsBackward?(dG: Float, dh: Float, dc: Float, g: Float, c: Float, Wb: Float, R: Int32Array, B: number, T: number, H: number, flow: Inflow): void;
  /** GRU: gruBackward(dgi_t, dgh_t, gi_t, gh_t, h_{t−1}, dh); dgh is the product's dGh. */
  gruStepsBackward?(dgi: Float, dgh: Float, dh: Float, gi: Float, gh: Float, h: Float, Wb: Float, R: Int32Array, B: number, T: number, H: number, flow: Inflow): void;
}
