// The sequence driver: a stack of recurrent layers of one cell (rnn, LSTM or GRU: ./cells/),
// forward and backpropagation through time, with everything that does not depend on the cell.
//
//   h⁰_t = x_t: one-hot (a row gather of layer 0's input weight) or Wemb[token]
//   hˡ_t = cell(W_ihˡ·hˡ⁻¹_t, hˡ_{t-1})   for layers l = 0..L-1 (the vanilla cell: a_t = tanh(Waa·a_{t-1} + Wax·x_t + ba))
//   many-to-one:  ŷ = softmax(Wya·hᴸ⁻¹_{len} + by), one loss per sequence at its last real token
//   many-to-many: ŷ_t = softmax(Wya·hᴸ⁻¹_t + by), one loss per real step (target: the next token)
//   tagging:      the same head, C tags, target: token t's tag (batch.targets as well)
//
// Per layer, the input projection of every step is one product before the time loop (as PyTorch
// does); then the cell advances the whole batch one timestep at a time, each step one product
// with its recurrent weight, packed once per batch, and its gate math. Backward runs the layers
// top-down: the cell's BPTT leaves the pre-activation gradients of every step, and the weight
// gradients are one product each over all T·B rows; the gradient for the layer below's states is
// one product too. Every product and elementwise loop goes through the workspace's compute backend
// (ws.k: js, wasm or native), with operands described by strides, so nothing is transposed or
// copied. Caches are time-major (./cells/types.ts). Padding: at step t only the first R[t] rows are
// computed (R[t] = 1 + the last row still real at t; with rows sorted by length, exactly the real
// ones); rows inside R[t] that are already past their end get no gradient, so nothing computed
// from padding reaches a loss, a gradient, or a state that is read.
//
// forward/backward compute SUMS over the batch (loss sum, gradient of the loss sum); dividing by
// the number of sequences or real tokens happens once, where shards are combined.
//
// Target replication (training only, many-to-one, weight α = stepLoss; Lipton et al. 2016): every
// top-layer state h_t, t ≤ len, also predicts the sequence's label, adding α·(1/len)·Σ_t
// CE(softmax(Wya·h_t + by), y) to the objective. It gives early steps a gradient of their own, so
// the state learns to carry its evidence forward; the prediction is still read at the last token.
//
// Dropout (training only, inverted), at rate `rate`: x_t ← x_t ⊙ m_t/(1−rate) on embedded inputs,
// on the states each stacked layer receives from the layer below, and on the state the
// many-to-one classifier reads. Masks are drawn from (step key, example id, t, unit), so a
// sequence gets the same mask alone or in any batch, shard or padding.
//
// Initial state: zero, or (withState0) each row's carried state from ws.state0 — the state a
// language model's previous chunk of the same document ended in. Forward always leaves every row's
// state at its last real token in ws.state1. No gradient flows into the initial state (truncated
// BPTT at chunk boundaries).
//
// The gradient-through-time profile records ‖dL/dh_t‖ of the TOP layer (the one the outputs read).
//
// Bidirectional (spec.bidirectional, PyTorch's bidirectional=True): each layer also runs a reverse
// direction, the same cell with weights of its own, over each row's tokens in reverse order: from
// its last real token to its first, never from the padding. The driver reverses the input of each
// row within its own length (rev_τ = x_{len+1−τ}), runs the same time loop, and reads the reverse
// state of original step t at τ = len+1−t; a layer's output at t is [h→_t, h←_t] (2H wide), the
// next layer's input. A classifier reads [h→_len, h←_1] (PyTorch's h_n of both directions): the
// forward state at the last real token and the reverse state after reading the row back to its
// first. Backward runs each direction's BPTT on the gradient reaching its states, reversed the
// same way. Rows keep their lengths when reversed, so R[t] and the padding rules hold unchanged.

import type { ModelSpec } from './spec.js';
import { directionsOf, headWidth, layersOf, stateSize } from './spec.js';
import type { Params } from './params.js';
import type { Batch } from './batch.js';
import { type Float, fill, dropout, copy } from './kernels.js';
import { Epi, JsKernels, type Inflow, type Kernels } from './backend/index.js';
import { AddressedKernels } from './backend/addressed.js';
import { cellOf, type Cell, type LayerCache, type Backflow, type BackScratch } from './cells/index.js';
import { packRecurrentBackward } from './cells/common.js';
import type { LayerParams } from './params.js';
import { headOf, type OutputHead } from './head/index.js';

/** Dropout for one training step: the rate, and the step's key (stepKey(seed, step)). */
export interface Dropout {
  rate: number;
  key: number;
}

/** The mask's "timestep" for the state the many-to-one classifier reads (inputs use t = 0..T-1). */
const OUTPUT_MASK_T = 0x7fffffff;
/** Masks on layer l ≥ 1's inputs use t = LAYER_MASK_T + l·2^20 + (t-1), away from the inputs' and the output's. */
const LAYER_MASK_T = 0x40000000;

/**
 * Everything forward caches for backward, allocated once for the largest batch (maxB × maxT), in
 * memory the backend's kernels address directly.
 */
export interface Workspace {
  spec: ModelSpec;
  maxB: number;
  maxT: number;
  /** The compute backend every product and elementwise loop runs on. */
  k: Kernels;
  cell: Cell;
  /** One cache per layer, bottom first. */
  layers: LayerCache[];
  /** Directions D (2: bidirectional) and the width of a layer's output, D·H: what the output layer reads. */
  D: 1 | 2;
  Hout: number;
  /** Bidirectional: each layer's reverse direction (empty otherwise), and the layers' outputs. */
  rev: LayerCache[];
  /** Bidirectional: (maxT, maxB, 2H) each layer's output [h→_t, h←_t] in the input's time order (the top one is A). */
  O: Float[];
  XR: Float | null; //      bidirectional: (maxT, maxB, max(E, 2H)) a reverse direction's input: each row reversed within its length
  dF: Float | null; //      bidirectional: (maxT, maxB, H) the gradient reaching the forward states from outside the recurrence
  dR: Float | null; //      bidirectional: (maxT, maxB, H) the same for the reverse states, in reverse time
  dO: Float | null; //      bidirectional: (maxT, maxB, 2H) the gradient reaching a layer's output
  dIn: Float | null; //     bidirectional: (maxT, maxB, max(E, 2H)) a reverse direction's input gradient, in reverse time
  tokensRev: Int32Array; // bidirectional: (maxB·maxT) each row's tokens reversed within its length
  R: Int32Array; //         (maxT+1) rows computed at step t
  tokens: Int32Array; //    (maxB·maxT) the batch's token ids, where the kernels can read them
  A: Float; //              (maxT+1, maxB, H) the top layer's states (= layers[L-1].Hs); A[0] = the initial state.
  //                        Bidirectional: (maxT, maxB, 2H) the top layer's output (= O[L-1]); see topAt
  X: Float | null; //       (maxT, maxB, E) embedded inputs (embedding input only), after dropout
  Mx: Float | null; //      (maxT, maxB, E) their dropout masks
  /** Layer l ≥ 1: its inputs after dropout and their masks (maxT, maxB, H); allocated at the first dropout. */
  Xl: Array<Float | null>;
  Ml: Array<Float | null>;
  Hlast: Float; //          (maxB, Hp) many-to-one: what the classifier reads (pooling: a_len, mean, max, or all three), after dropout
  /** Width of Hlast: D·H, or 3·D·H for meanmax pooling (spec.ts: headWidth). */
  Hp: number;
  /** Whether Hlast starts with a_len (pooling last or meanmax): its gradient then enters at the last real step. */
  poolLast: boolean;
  /** Max pooling: the step t (1-based) each row's max of each unit came from, (maxB, D·H). */
  argmax: Int32Array;
  dPool: Float | null; //   pooling mean or max: (maxT, maxB, D·H) the gradient the pooled states send to each step's output
  Mh: Float; //             (maxB, H) its dropout mask
  /** The dropout of the last forward (null: none). */
  drop: Dropout | null;
  /** Target replication weight of the last forward (0: none); many-to-one only. */
  stepLoss: number;
  /**
   * Class weights of the training loss (many-to-one; null: all 1): row b weighs w[label_b], and
   * the result's count and correct are Σ w and Σ w·hit, so 1/count makes the loss Σ w·nll / Σ w
   * (PyTorch's CrossEntropyLoss(weight=w), reduction "mean"). Evaluation (no g) ignores them.
   */
  classWeights: Float64Array | null;
  P2: Float; //             (maxT, maxB, C) many-to-one, target replication: every step's probabilities, then dlogits
  dOut2: Float; //          (maxT, maxB, H) the gradient they send to each state
  P: Float; //              many-to-one (maxB, C) / many-to-many (maxT, maxB, C): probabilities, then dlogits
  dOut: Float; //           same rows as P, width H: gradient reaching the top states from the outputs
  /** Per output row (maxT·maxB; rows of P or P2): the target, the loss weight (0: padding), the argmax. */
  ys: Int32Array;
  wy: Float;
  am: Int32Array;
  dh: Float; //             (maxB, H) dL/dh_t, running backwards through time (the cells' scratch)
  dc: Float; //             (maxB, H) dL/d(the second state) (the LSTM's c)
  /** The cells' backward scratch, one (maxB, H) per state of the cell: dh, dc, then any more. */
  dS: Float[];
  dExt: Float | null; //    (maxT, maxB, H) more than one layer: the gradient reaching a layer's states from the layer above
  dX: Float | null; //      (maxT, maxB, E) dL/dx_t, embedding input only
  /** Per row: every layer's states (Cell.states: h, then c for the LSTM), S = stateSize(spec) values. */
  state0: Float; //         (maxB, S) the initial states forward starts from when asked (withState0)
  state1: Float; //         (maxB, S) the states at each row's last real token, after every forward
  /** Σ over real rows of ‖dL/dh_t‖ (top layer) and the number of those rows, per step t = 1..T (index t-1). */
  stepNormSum: Float64Array;
  stepNormCount: Float64Array;
  /** Token rows of the token table (one-hot input weight / Wemb) touched by this batch, deduplicated. */
  touched: Int32Array;
  touchedCount: number;
  touchedMark: Uint8Array;
  /** The output layer when it is not the full softmax on Wya (./head/: adaptive softmax, tied with a projection); ws.P is then empty. */
  head: OutputHead | null;
}

export interface ForwardResult {
  lossSum: number; // Σ of −log p(target) over sequences (many-to-one) or real tokens (many-to-many)
  auxSum?: number; // target replication: Σ over sequences of α·mean_t −log p_t(label); the objective is lossSum + auxSum
  count: number; //   sequences or real tokens
  correct: number; // argmax = target
}

export { stateSize };

/**
 * Bytes allocWorkspace(spec, maxB, maxT) takes, without taking them (the memory check before a
 * run allocates anything): the allocation runs on kernels that only count what they are asked
 * for, plus the few arrays allocWorkspace makes itself.
 */
export function workspaceBytes(spec: ModelSpec, maxB: number, maxT: number): number {
  let bytes = 0;
  class Counting extends JsKernels {
    override floats(n: number): Float { bytes += 4 * n; return new Float32Array(0); }
    override ints(n: number): Int32Array { bytes += 4 * n; return new Int32Array(0); }
  }
  allocWorkspace(spec, maxB, maxT, new Counting('float32'));
  // R (Int32, maxT+1), the step-norm sums (2 × Float64, maxT), touched (Int32) and its marks (Uint8, V).
  return bytes + (maxT + 1) * 4 + maxT * 16 + Math.min(spec.V, maxB * maxT) * 4 + spec.V;
}

/**
 * A workspace on backend `k` (or the js reference of a dtype). With wasm or native kernels, the
 * parameters and gradients passed later must live in the arena `k` allocates from.
 */
export function allocWorkspace(spec: ModelSpec, maxB: number, maxT: number, k: Kernels | 'float32' | 'float64' = 'float32'): Workspace {
  if (typeof k === 'string') k = new JsKernels(k);
  const { H, C, E, V } = spec;
  const L = layersOf(spec), D = directionsOf(spec), Hout = D * H;
  const cell = cellOf(spec.cell);
  const outRows = spec.task === 'many-to-one' ? maxB : maxT * maxB;
  const m2o = spec.task === 'many-to-one';
  const f = (n: number) => k.floats(n);
  const layers = Array.from({ length: L }, () => cell.alloc(k, maxB, maxT, H));
  const bi = D === 2, slab = maxT * maxB, Hp = headWidth(spec), pooled = m2o && spec.pooling !== undefined && spec.pooling !== 'last';
  const rev = bi ? Array.from({ length: L }, () => cell.alloc(k, maxB, maxT, H)) : [];
  const O = bi ? Array.from({ length: L }, () => f(slab * Hout)) : [];
  const wide = Math.max(E, Hout);
  const head = headOf(spec, k, outRows);
  const ws: Workspace = {
    spec, maxB, maxT, k, cell, layers, D, Hout, rev, O,
    XR: bi ? f(slab * wide) : null,
    dF: bi ? f(slab * H) : null,
    dR: bi ? f(slab * H) : null,
    dO: bi ? f(slab * Hout) : null,
    dIn: bi ? f(slab * wide) : null,
    tokensRev: bi ? k.ints(maxB * maxT) : k.ints(0),
    R: new Int32Array(maxT + 1),
    tokens: k.ints(maxB * maxT),
    A: bi ? O[L - 1] : layers[L - 1].Hs,
    X: E > 0 ? f(maxT * maxB * E) : null,
    Mx: E > 0 ? f(maxT * maxB * E) : null,
    Xl: new Array<Float | null>(L).fill(null),
    Ml: new Array<Float | null>(L).fill(null),
    Hlast: f(maxB * Hp),
    Mh: f(maxB * Hp),
    Hp,
    poolLast: spec.pooling === undefined || spec.pooling === 'last' || spec.pooling === 'meanmax',
    argmax: new Int32Array(spec.pooling === 'max' || spec.pooling === 'meanmax' ? maxB * Hout : 0),
    dPool: pooled ? f(slab * Hout) : null,
    drop: null,
    stepLoss: 0,
    classWeights: null,
    // Target replication only; untouched (so never paged in) otherwise.
    P2: f(m2o ? maxT * maxB * C : 0),
    dOut2: f(m2o ? maxT * maxB * Hout : 0),
    P: f(head ? 0 : outRows * C),
    dOut: f(outRows * (m2o ? Hp : Hout)),
    ys: k.ints(maxT * maxB),
    wy: f(maxT * maxB),
    am: k.ints(maxT * maxB),
    dh: f(maxB * H),
    dc: f(maxB * H),
    dS: [],
    dExt: L > 1 && !bi ? f(maxT * maxB * H) : null,
    dX: E > 0 ? f(maxT * maxB * E) : null,
    state0: f(maxB * stateSize(spec)),
    state1: f(maxB * stateSize(spec)),
    stepNormSum: new Float64Array(maxT),
    stepNormCount: new Float64Array(maxT),
    touched: new Int32Array(Math.min(V, maxB * maxT)),
    touchedCount: 0,
    touchedMark: new Uint8Array(V),
    head,
  };
  ws.dS = [ws.dh, ws.dc, ...Array.from({ length: Math.max(0, cell.states.length - 2) }, () => f(maxB * H))].slice(0, cell.states.length);
  return ws;
}

/** Throws an error naming the argument and the value when a batch does not fit the model or workspace. */
export function checkBatch(spec: ModelSpec, ws: Workspace, batch: Batch): void {
  const { B, T } = batch;
  if (!Number.isInteger(B) || B < 1 || B > ws.maxB) throw new RangeError(`batch.B = ${B} must be an integer in [1, ${ws.maxB}] (the workspace's maxB)`);
  if (!Number.isInteger(T) || T < 1 || T > ws.maxT) throw new RangeError(`batch.T = ${T} must be an integer in [1, ${ws.maxT}] (the workspace's maxT)`);
  if (batch.tokens.length < B * T) throw new RangeError(`batch.tokens has ${batch.tokens.length} elements, B*T = ${B * T} needed`);
  if (batch.lengths.length < B) throw new RangeError(`batch.lengths has ${batch.lengths.length} elements, B = ${B} needed`);
  const m2o = spec.task === 'many-to-one';
  if (m2o && batch.labels.length < B) throw new RangeError(`batch.labels has ${batch.labels.length} elements, B = ${B} needed`);
  if (!m2o && batch.targets.length < B * T) throw new RangeError(`batch.targets has ${batch.targets.length} elements, B*T = ${B * T} needed`);
  for (let b = 0; b < B; b++) {
    const len = batch.lengths[b];
    if (!(len >= 1 && len <= T)) throw new RangeError(`batch.lengths[${b}] = ${len} must be in [1, T=${T}]`);
    for (let t = 0; t < len; t++) {
      const x = batch.tokens[b * T + t];
      if (!(x >= 0 && x < spec.V)) throw new RangeError(`batch.tokens[${b}*T+${t}] = ${x} is not a token id in [0, V=${spec.V})`);
      if (!m2o) {
        const y = batch.targets[b * T + t];
        if (!(y >= 0 && y < spec.C)) throw new RangeError(`batch.targets[${b}*T+${t}] = ${y} is not a class in [0, C=${spec.C})`);
      }
    }
    if (m2o) {
      const y = batch.labels[b];
      if (!(y >= 0 && y < spec.C)) throw new RangeError(`batch.labels[${b}] = ${y} is not a class in [0, C=${spec.C})`);
    }
  }
}

/** Compiled kernels address one memory: the parameters and gradients must be in it. */
function checkMemory(ws: Workspace, ...params: Params[]): void {
  if (ws.k instanceof AddressedKernels) ws.k.checkArrays(...params.map((p) => p.data));
  else if (ws.k.dtype === 'float64' && params.some((p) => !(p.data instanceof Float64Array))) throw new Error('a float64 workspace needs float64 parameters and gradients');
  if (params.some((p) => p.cell !== ws.spec.cell || p.layers.length !== ws.layers.length)) throw new Error(`the parameters are not those of the workspace's model (${ws.spec.cell}, ${ws.layers.length} layer(s))`);
}

// ---------------------------------------------------------------------------------------------
// Recurrence

/**
 * h_t of every layer for t = 1..T into the layer caches (ws.A: the top layer's); also the
 * rows-per-step table R, the final states in ws.state1, and the touched token rows. withState0:
 * start each row from its state in ws.state0 instead of zero. samePacked: the weights have not
 * changed since the last call on this workspace (generation, token by token), so the packed
 * recurrent weights and summed biases of that call are used as they are. train: a training step's
 * forward (the input projection then runs in bf16 where the run asked for it: rowsGemm).
 */
export function sequenceForward(p: Params, ws: Workspace, batch: Batch, drop: Dropout | null = null, withState0 = false, samePacked = false, train = false): void {
  const { H, E } = ws.spec;
  const { B, T, lengths } = batch;
  const { k, R, tokens, cell } = ws;
  const GH = cell.G * H;
  ws.drop = drop && drop.rate > 0 ? drop : null;
  tokens.set(batch.tokens.subarray(0, B * T));

  // R[t] = 1 + the last row whose length is ≥ t
  for (let t = 1; t <= T; t++) {
    let r = 0;
    for (let b = 0; b < B; b++) if (lengths[b] >= t) r = b + 1;
    R[t] = r;
  }

  if (ws.D === 2) reverseTokens(ws, batch);
  const I = ws.Hout; // a layer's input above layer 0: the output of the one below, D·H wide
  for (let l = 0; l < ws.layers.length; l++) {
    const c = ws.layers[l], lp = p.layers[l];
    initialState(ws, l, B, withState0);
    // The input projection of every step, before the loop: W_ih·x_t.
    const [Y, yo] = cell.slab(c, B);
    if (l > 0) {
      const [x, xo] = layerInput(ws, batch, l, true);
      rowsGemm(k, train, Y, yo, GH, x, xo, I, 1, lp.Wih, 0, 1, I, T * B, GH, I, 0, null); //      X·W_ihᵀ, all steps
    } else if (E > 0) {
      const X = ws.X!;
      for (let t = 1; t <= T; t++) {
        const xt = (t - 1) * B * E;
        k.gatherRows(X, xt, E, p.Wemb!, E, tokens, t - 1, T, R[t], E, false); // x_t = Wemb[token]
        if (ws.drop) for (let b = 0; b < R[t]; b++) dropout(X, xt + b * E, ws.Mx!, xt + b * E, E, ws.drop.rate, ws.drop.key, batch.ids[b], t - 1);
      }
      rowsGemm(k, train, Y, yo, GH, X, 0, E, 1, lp.Wih, 0, 1, E, T * B, GH, E, 0, null);
    } else {
      for (let t = 1; t <= T; t++) k.gatherRows(Y, yo + (t - 1) * B * GH, GH, lp.Wih, GH, tokens, t - 1, T, R[t], GH, false); // the token's column
    }
    if (!samePacked) cell.prepare(k, c, lp);
    steps(k, cell, c, lp, B, T, R); // h_1..h_T (rows < R[t]) from h_0
    if (ws.D === 2) reverseForward(p.reverse[l], ws, batch, l, samePacked, train);
  }
  finalState(ws, batch);

  // Token rows this batch touches: their gradient rows are the only ones that can be nonzero
  // (tied weights: every row is, see step.ts: tokenRows; none are listed).
  ws.touchedCount = 0;
  if (ws.spec.tieWeights) return;
  const mark = ws.touchedMark;
  let n = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < lengths[b]; t++) {
      const x = tokens[b * T + t];
      if (mark[x] === 0) { mark[x] = 1; ws.touched[n++] = x; }
    }
  }
  for (let i = 0; i < n; i++) mark[ws.touched[i]] = 0;
  ws.touchedCount = n;
}

/** The cell's step for t = 1..T: one backend call when the cell and backend have it, else one call per step. */
function steps(k: Kernels, cell: Cell, c: LayerCache, lp: LayerParams, B: number, T: number, R: Int32Array): void {
  if (cell.steps?.(k, c, lp, B, T, R)) return;
  for (let t = 1; t <= T; t++) cell.step(k, c, lp, B, t, R[t]);
}

/** The states at t = 0 of layer l (h_0, and c_0 for the LSTM): zero, or each row's carried state. */
function initialState(ws: Workspace, l: number, B: number, withState0: boolean): void {
  const H = ws.spec.H, c = ws.layers[l];
  const n = c.states.length, S = stateSize(ws.spec), at = l * n * H;
  if (!withState0) {
    for (const x of c.states) fill(x, 0, B * H, 0);
    return;
  }
  for (let b = 0; b < B; b++) for (let i = 0; i < n; i++) copy(c.states[i], b * H, ws.state0, b * S + at + i * H, H);
}

/**
 * Layer l's reverse direction, after its forward one: the same cell over each row's input reversed
 * within its length, from a zero state; then the layer's output O[l] = [h→_t, h←_{len+1−t}].
 */
function reverseForward(lp: LayerParams, ws: Workspace, batch: Batch, l: number, samePacked: boolean, train: boolean): void {
  const { H, E } = ws.spec, { B, T } = batch, { k, R, cell } = ws;
  const c = ws.rev[l], GH = cell.G * H, W = ws.Hout, XR = ws.XR!;
  for (const x of c.states) fill(x, 0, B * H, 0);
  const [Y, yo] = cell.slab(c, B);
  if (l > 0) {
    const [x, xo] = layerInput(ws, batch, l, false); //                                    built by the forward direction
    reverseRows(XR, x, xo, W, batch);
    rowsGemm(k, train, Y, yo, GH, XR, 0, W, 1, lp.Wih, 0, 1, W, T * B, GH, W, 0, null);
  } else if (E > 0) {
    reverseRows(XR, ws.X!, 0, E, batch); //                                                the same embedded (and dropped) inputs
    rowsGemm(k, train, Y, yo, GH, XR, 0, E, 1, lp.Wih, 0, 1, E, T * B, GH, E, 0, null);
  } else {
    for (let t = 1; t <= T; t++) k.gatherRows(Y, yo + (t - 1) * B * GH, GH, lp.Wih, GH, ws.tokensRev, t - 1, T, R[t], GH, false);
  }
  if (!samePacked) cell.prepare(k, c, lp);
  steps(k, cell, c, lp, B, T, R);
  // The layer's output, in the input's time order.
  const O = ws.O[l], fwd = ws.layers[l].Hs, rev = c.Hs, lengths = batch.lengths;
  for (let t = 1; t <= T; t++) {
    for (let b = 0; b < B; b++) {
      const o = (t - 1) * B * W + b * W, len = lengths[b];
      if (t > len) { fill(O, o, W, 0); continue; }
      copy(O, o, fwd, t * B * H + b * H, H);
      copy(O, o + H, rev, (len + 1 - t) * B * H + b * H, H);
    }
  }
}

/** Each row's tokens reversed within its length (padding stays padding), for the reverse directions. */
function reverseTokens(ws: Workspace, batch: Batch): void {
  const { B, T, lengths } = batch, src = ws.tokens, dst = ws.tokensRev;
  for (let b = 0; b < B; b++) {
    const len = lengths[b], row = b * T;
    for (let t = 0; t < T; t++) dst[row + t] = t < len ? src[row + len - 1 - t] : 0;
  }
}

/**
 * dst slab τ (rows of w at (τ−1)·B·w) = src slab len+1−τ for each row (src slab t at so + (t−1)·B·w),
 * zero past the row's length: a row's time reversed within its own length. Its own inverse.
 */
function reverseRows(dst: Float, src: Float, so: number, w: number, batch: Batch): void {
  const { B, T, lengths } = batch;
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    for (let t = 1; t <= T; t++) {
      const o = (t - 1) * B * w + b * w;
      if (t > len) fill(dst, o, w, 0);
      else copy(dst, o, src, so + (len - t) * B * w + b * w, w);
    }
  }
}

/** Every row's state at its last real token, every layer, into ws.state1. */
function finalState(ws: Workspace, batch: Batch): void {
  const H = ws.spec.H, S = stateSize(ws.spec), { B, lengths } = batch;
  let at = 0;
  // Bidirectional: layer l's forward, then its reverse direction (whose last step is τ = len).
  const caches = ws.D === 2 ? ws.layers.flatMap((c, l) => [c, ws.rev[l]]) : ws.layers;
  for (const c of caches) {
    for (let b = 0; b < B; b++) {
      const o = lengths[b] * B * H + b * H;
      for (let i = 0; i < c.states.length; i++) copy(ws.state1, b * S + at + i * H, c.states[i], o, H);
    }
    at += c.states.length * H;
  }
}

/**
 * Layer l ≥ 1's input, h^{l-1}_t for t = 1..T (rows of H at stride H, slab t at offset (t-1)·B·H):
 * the layer below's states, or (dropout) a masked copy, built when `build`.
 */
function layerInput(ws: Workspace, batch: Batch, l: number, build: boolean): [Float, number] {
  const { H } = ws.spec, { B, T } = batch, W = ws.Hout;
  // The layer below's states (slab t at t·B·H), or its 2H-wide output (slab t at (t−1)·B·2H).
  const [below, bo] = ws.D === 2 ? [ws.O[l - 1], 0] : [ws.layers[l - 1].Hs, B * H];
  if (!ws.drop) return [below, bo];
  const n = ws.maxT * ws.maxB * W;
  const X = (ws.Xl[l] ??= ws.k.floats(n)), M = (ws.Ml[l] ??= ws.k.floats(n));
  if (build) {
    for (let t = 1; t <= T; t++) {
      for (let b = 0; b < ws.R[t]; b++) {
        const o = (t - 1) * B * W + b * W;
        copy(X, o, below, bo + o, W);
        dropout(X, o, M, o, W, ws.drop.rate, ws.drop.key, batch.ids[b], LAYER_MASK_T + l * 0x100000 + (t - 1));
      }
    }
  }
  return [X, 0];
}

/** What a layer's backward receives at each step: from the outputs (top layer) or from the layer above (dExt). */
class Flow implements Backflow {
  /** Set by from() for each layer (direction) before its BPTT; enter adds exactly these. */
  readonly inflow: Inflow;
  real = 0;
  constructor(private readonly ws: Workspace, private readonly batch: Batch, bpttWindow: number) {
    this.inflow = { lengths: batch.lengths, last: null, lastStride: ws.Hp, ext: [], window: bpttWindow, normSum: null, normCount: null };
  }

  /**
   * The sources of the next layer's BPTT: the top layer's from the outputs, a lower one's from the
   * layer above (dExt), or (bidirectional) the gradient reaching this direction's states, `ext`.
   * profile: whether its ‖dL/dh_t‖ is the profile's (the top layer's; its forward direction when bidirectional).
   */
  from(top: boolean, profile: boolean, ext: Float | null = null): void {
    const ws = this.ws, f = this.inflow, m2o = ws.spec.task === 'many-to-one', head = !ext && top;
    f.last = head && m2o && ws.poolLast ? ws.dOut : null; //   a_len's share of what the head read
    f.ext.length = 0;
    if (ext) f.ext.push(ext);
    else if (!top) f.ext.push(ws.dExt!);
    else if (!m2o) f.ext.push(ws.dOut);
    else if (ws.stepLoss > 0) f.ext.push(ws.dOut2);
    if (head && m2o && ws.dPool) f.ext.push(ws.dPool); //        pooled over every step
    f.normSum = profile ? ws.stepNormSum : null;
    f.normCount = profile ? ws.stepNormCount : null;
  }

  enter(dh: Float, t: number, r: number): void {
    const { ws, batch, inflow: f } = this;
    const { H } = ws.spec, { B, lengths } = batch, k = ws.k;
    const zt = (t - 1) * B * H, last = f.last, Hp = f.lastStride;
    let real = 0;
    // The head's gradient for the rows ending at t: one addTo per run of such rows where it read
    // a_len alone (rows sorted by length: usually one run), else per row.
    for (let b = 0, run = -1; b <= r; b++) {
      const ends = last !== null && b < r && lengths[b] === t;
      if (b < r && lengths[b] >= t) real++;
      if (ends && run < 0) run = b;
      if (run >= 0 && (!ends || Hp !== H)) {
        const e = ends ? b + 1 : b;
        k.addTo(dh, run * H, last!, run * Hp, (e - run) * H);
        run = -1;
      }
    }
    this.real = real;
    for (const x of f.ext) k.addTo(dh, 0, x, zt, r * H);
    this.zeroPastEnd(dh, 0, H, t, r); // nothing reaches them; kept exactly zero
    if (f.normSum) {
      f.normSum[t - 1] = k.sumRowNorms(dh, 0, H, r, H);
      f.normCount![t - 1] = real;
    }
  }

  flows(t: number): boolean {
    const w = this.inflow.window;
    return t > 1 && !(w > 0 && (t - 1) % w === 0);
  }

  zeroPastEnd(a: Float, o: number, width: number, t: number, r: number): void {
    if (this.real === r) return;
    const lengths = this.batch.lengths;
    for (let b = 0; b < r; b++) if (lengths[b] < t) fill(a, o + b * width, width, 0);
  }
}

/**
 * BPTT through every layer, top-down. Expects ws.dOut to hold the gradient reaching each top state
 * from the outputs (outputForward/outputBackward fill it). Accumulates (+=) into g; records
 * ‖dL/dh_t‖ of the top layer per step. bpttWindow > 0 truncates: no gradient flows from h_t into
 * h_{t-1} across window boundaries.
 */
export function sequenceBackward(p: Params, g: Params, ws: Workspace, batch: Batch, bpttWindow = 0): void {
  const { H, E } = ws.spec;
  const { B, T } = batch;
  const { k, R, tokens, cell } = ws;
  const GH = cell.G * H, rows = T * B;
  ws.stepNormSum.fill(0, 0, T);
  ws.stepNormCount.fill(0, 0, T);
  const flow = new Flow(ws, batch, bpttWindow);
  const scratch: BackScratch = { dh: ws.dh, dS: ws.dS };
  if (ws.D === 2) {
    biBackward(p, g, ws, batch, flow, scratch);
    return;
  }

  for (let l = ws.layers.length - 1; l >= 0; l--) {
    const c = ws.layers[l], lp = p.layers[l], lg = g.layers[l], top = l === ws.layers.length - 1;
    flow.from(top, top); //                                        the top layer's gradient is the profile's
    cellBackward(k, cell, c, lp, B, T, R, flow, scratch);

    // Weight gradients over all steps at once: one product each over the T·B rows.
    if (l > 0) {
      const [x, xo] = layerInput(ws, batch, l, false);
      const dIn = ws.dExt!;
      directionGrads(k, c, lg, x, xo, H, rows);
      k.gemm(dIn, 0, H, c.dG, 0, GH, 1, lp.Wih, 0, H, 1, rows, H, GH, 0, null, Epi.None); //  dL/dh^{l-1}_t = W_ihᵀ·dG_t
      if (ws.drop) k.mulInPlace(dIn, 0, ws.Ml[l]!, 0, rows * H); //                           through the masks
    } else if (E > 0) {
      const dX = ws.dX!, X = ws.X!;
      directionGrads(k, c, lg, X, 0, E, rows);
      k.gemm(dX, 0, E, c.dG, 0, GH, 1, lp.Wih, 0, E, 1, rows, E, GH, 0, null, Epi.None); //   dL/dx_t = W_ihᵀ·dG_t
      if (ws.drop) k.mulInPlace(dX, 0, ws.Mx!, 0, rows * E); //                              through the masks
      for (let t = 1; t <= T; t++) k.scatterAddRows(g.Wemb!, E, dX, (t - 1) * B * E, E, tokens, t - 1, T, R[t], E);
    } else {
      directionGrads(k, c, lg, null, 0, 0, rows);
      for (let t = 1; t <= T; t++) k.scatterAddRows(lg.Wih, GH, c.dG, (t - 1) * B * GH, GH, tokens, t - 1, T, R[t], GH); // dW_ih[:, x_t] += dG_t
    }
  }
}

/**
 * BPTT of one direction of one layer, t = T..1: the gradient reaching h_t from outside (flow), the
 * cell's step backward (the pre-activation gradients of step t into dG, dGh), padding rows zeroed,
 * and dL/dh_{t-1} = W_hhᵀ·dGh_t, added to what the cell left in dh when it keeps a part (GRU: dh⊙z).
 * Truncated BPTT (flow.flows) lets no state's gradient pass a window boundary.
 */
function cellBackward(k: Kernels, cell: Cell, c: LayerCache, lp: LayerParams, B: number, T: number, R: Int32Array, flow: Backflow, s: BackScratch): void {
  packRecurrentBackward(k, c, lp);
  if (cell.stepsBackward?.(k, c, lp, B, T, R, flow, s)) return; // the loop below in one backend call
  const H = c.H, GH = c.G * H, { dG, dGh } = c, dh = s.dh, apart = dGh !== dG;
  for (const d of s.dS) fill(d, 0, B * H, 0);
  for (let t = T; t >= 1; t--) {
    const r = R[t], go = (t - 1) * B * GH;
    flow.enter(dh, t, r);
    cell.stepBackward(k, c, lp, B, t, r, s);
    flow.zeroPastEnd(dG, go, GH, t, r);
    if (apart) flow.zeroPastEnd(dGh, go, GH, t, r);
    fill(dG, go + r * GH, (B - r) * GH, 0);
    if (apart) fill(dGh, go + r * GH, (B - r) * GH, 0);
    if (flow.flows(t)) {
      k.gemmPacked(dh, 0, H, dGh, go, GH, 1, c.Wb, r, H, GH, cell.keepsDh ? 1 : 0, null, Epi.None); // (+)= W_hhᵀ·dGh_t
      fill(dh, r * H, (B - r) * H, 0);
    } else {
      for (const d of s.dS) fill(d, 0, B * H, 0); //                   truncated: no state's gradient passes the boundary
    }
  }
}

/**
 * A direction's weight gradients after its BPTT, each one product over all T·B rows: dW_hh, the
 * biases, and dW_ih from its input x (rows of I at xo); x null: layer 0's one-hot input weight,
 * which the caller scatters by token.
 */
function directionGrads(k: Kernels, c: LayerCache, lg: LayerParams, x: Float | null, xo: number, I: number, rows: number): void {
  const H = c.H, GH = c.G * H, dGh = c.dGh;
  rowsGemm(k, true, lg.Whh, 0, H, dGh, 0, 1, GH, c.Hs, 0, H, 1, GH, H, rows, 1, null); //   dW_hh += Σ_t dGh_t h_{t-1}ᵀ
  k.colSumAcc(lg.bih, c.dG, 0, GH, rows, GH); //                                          db_ih += Σ_t dG_t
  if (lg.bhh) k.colSumAcc(lg.bhh, dGh, 0, GH, rows, GH); //                               db_hh += Σ_t dGh_t
  if (x) rowsGemm(k, true, lg.Wih, 0, I, c.dG, 0, 1, GH, x, xo, I, 1, GH, I, rows, 1, null); // dW_ih += Σ_t dG_t xᵀ
}

/**
 * BPTT of a bidirectional stack, top-down: at each layer the gradient reaching its output
 * (2H wide, input time) is split into the forward states' (dF) and the reverse states' (dR, in
 * reverse time); each direction runs its cell's BPTT and weight gradients; their input gradients,
 * the reverse one put back in input time, sum into the gradient reaching the layer below.
 */
function biBackward(p: Params, g: Params, ws: Workspace, batch: Batch, flow: Flow, scratch: BackScratch): void {
  const { H, E } = ws.spec, { B, T } = batch, { k, R, cell } = ws;
  const GH = cell.G * H, W = ws.Hout, rows = T * B, L = ws.layers.length;
  const dF = ws.dF!, dR = ws.dR!, dO = ws.dO!, dIn = ws.dIn!, XR = ws.XR!;
  fill(dF, 0, rows * H, 0);
  fill(dR, 0, rows * H, 0);
  if (ws.spec.task === 'many-to-one') {
    // The classifier read [h→_len, h←_len (in reverse time: after the whole row)].
    for (let b = 0; ws.poolLast && b < B; b++) {
      const at = (batch.lengths[b] - 1) * B * H + b * H;
      k.addTo(dF, at, ws.dOut, b * ws.Hp, H);
      k.addTo(dR, at, ws.dOut, b * ws.Hp + H, H);
    }
    if (ws.stepLoss > 0) splitOutput(ws, batch, ws.dOut2);
    if (ws.dPool) splitOutput(ws, batch, ws.dPool);
  } else {
    splitOutput(ws, batch, ws.dOut);
  }
  for (let l = L - 1; l >= 0; l--) {
    if (l < L - 1) {
      fill(dF, 0, rows * H, 0);
      fill(dR, 0, rows * H, 0);
      splitOutput(ws, batch, dO);
    }
    const c = ws.layers[l], r = ws.rev[l], lp = p.layers[l], rp = p.reverse[l], lg = g.layers[l], rg = g.reverse[l];
    flow.from(false, l === L - 1, dF);
    cellBackward(k, cell, c, lp, B, T, R, flow, scratch);
    flow.from(false, false, dR);
    cellBackward(k, cell, r, rp, B, T, R, flow, scratch);
    if (l > 0 || E > 0) {
      const I = l > 0 ? W : E;
      const [x, xo] = l > 0 ? layerInput(ws, batch, l, false) : [ws.X!, 0];
      directionGrads(k, c, lg, x, xo, I, rows);
      reverseRows(XR, x, xo, I, batch);
      directionGrads(k, r, rg, XR, 0, I, rows);
      const dx = l > 0 ? dO : ws.dX!;
      k.gemm(dx, 0, I, c.dG, 0, GH, 1, lp.Wih, 0, I, 1, rows, I, GH, 0, null, Epi.None); //   W_ihᵀ·dG_t, forward
      k.gemm(dIn, 0, I, r.dG, 0, GH, 1, rp.Wih, 0, I, 1, rows, I, GH, 0, null, Epi.None); //  and reverse, in its own time
      addReversed(k, dx, dIn, I, batch);
      const mask = l > 0 ? ws.Ml[l] : ws.Mx;
      if (ws.drop) k.mulInPlace(dx, 0, mask!, 0, rows * I); //                                 through the masks
      if (l === 0) for (let t = 1; t <= T; t++) k.scatterAddRows(g.Wemb!, E, dx, (t - 1) * B * E, E, ws.tokens, t - 1, T, R[t], E);
    } else {
      directionGrads(k, c, lg, null, 0, 0, rows);
      directionGrads(k, r, rg, null, 0, 0, rows);
      for (let t = 1; t <= T; t++) k.scatterAddRows(lg.Wih, GH, c.dG, (t - 1) * B * GH, GH, ws.tokens, t - 1, T, R[t], GH);
      for (let t = 1; t <= T; t++) k.scatterAddRows(rg.Wih, GH, r.dG, (t - 1) * B * GH, GH, ws.tokensRev, t - 1, T, R[t], GH);
    }
  }
}

/** Adds a gradient reaching a layer's output (rows of 2H, input time) into ws.dF and, reversed, ws.dR. */
function splitOutput(ws: Workspace, batch: Batch, src: Float): void {
  const { H } = ws.spec, { B, T, lengths } = batch, W = ws.Hout, k = ws.k;
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    for (let t = 1; t <= Math.min(len, T); t++) {
      const o = (t - 1) * B * W + b * W;
      k.addTo(ws.dF!, (t - 1) * B * H + b * H, src, o, H);
      k.addTo(ws.dR!, (len - t) * B * H + b * H, src, o + H, H);
    }
  }
}

/** dst (input time) += src (reverse time) for each row's real steps: reverseRows' adjoint, added. */
function addReversed(k: Kernels, dst: Float, src: Float, w: number, batch: Batch): void {
  const { B, lengths } = batch;
  for (let b = 0; b < B; b++) {
    const len = lengths[b];
    for (let t = 1; t <= len; t++) k.addTo(dst, (t - 1) * B * w + b * w, src, (len - t) * B * w + b * w, w);
  }
}

// ---------------------------------------------------------------------------------------------
// Output layer and loss: the full softmax head
//
// One product gives the logits of every row (Wya·h + by, rows × C, into P: many-to-one B rows,
// many-to-many and target replication T·B rows); then one fused kernel (Kernels.softmaxXent) per
// row takes max, argmax, log Σ exp and the cross-entropy, and in training turns the row into its
// gradient w·(softmax − onehot(y)) in place, adding it to dby as it goes. Backward is then two
// products over all rows: dWya += Pᵀ·h and dh = P·Wya. So the T·B·C buffer is written once (the
// logits), swept once by the kernel (each row, C floats, stays in L1/L2 across its passes) and
// read once by each product.
//
// Why not blocks over the vocabulary with an online log-sum-exp, which needs no T·B·C buffer:
// the gradient of a block needs the row's final log Σ exp, so its logits are computed twice
// (8·C·H FLOPs per row instead of 6·C·H: a third more of the products, which are 91% of a word
// LM step's instructions). Why not blocks of rows: a row block in L2 is 8-16 rows at C = 20,000-
// 50,000, and each block would stream all of Wya and dWya through the cache again (the products
// want all T·B rows: their packed panels of Wya are reused by every row). The buffer's passes
// are streaming, at 4 bytes per 2·H FLOPs of the product that reads or writes each element.
// Measured (callgrind, one word-LM step V = 20,000, E = H = 256, LSTM, B·T = 64, native avx2 as
// valgrind runs it): 702.6M instructions before this path (the products 317.7M, exp in
// JavaScript alone 77M), 347.9M after (the same products, softmaxXent 10.0M).

/** Where the top layer's output at t = 1 starts in ws.A (rows of ws.Hout, slab t at start + (t−1)·B·Hout). */
function topStart(ws: Workspace, B: number): number {
  return ws.D === 1 ? B * ws.spec.H : 0; // h_0 comes first in a cell's states; a bidirectional output has no t = 0
}

/** Row r of the head: target ys[r], weight wy[r] (0: padding), into ws.ys/ws.wy for softmaxXent. */
function setRow(ws: Workspace, r: number, y: number, w: number): void {
  ws.ys[r] = y;
  ws.wy[r] = w;
}

/** Σ over rows with a weight of argmax = target. */
function hits(ws: Workspace, rows: number): number {
  let n = 0;
  for (let r = 0; r < rows; r++) if (ws.wy[r] !== 0 && ws.am[r] === ws.ys[r]) n++;
  return n;
}

/**
 * Logits, softmax, cross-entropy. Forward only (g null): probabilities stay in ws.P (and ws.P2).
 * Training (g given): ws.P holds dlogits instead and dby is accumulated into g. The heads of
 * ./head/ (adaptive softmax, tied with a projection) do their own.
 */
export function outputForward(p: Params, ws: Workspace, batch: Batch, g: Params | null = null): ForwardResult {
  const { H: Hs, C, task } = ws.spec;
  const H = ws.Hout; // what the output layer reads: the top layer's output, D·H wide
  const { B, lengths } = batch;
  const P = ws.P;
  if (ws.head) return ws.head.forward(p, ws, batch, g);
  if (task !== 'many-to-one') return everyStepForward(p, g, ws, batch, P, batch.targets, batch.T, 1, 0);
  const Hp = ws.Hp, pooling = ws.spec.pooling ?? 'last';
  for (let b = 0; b < B; b++) {
    const o = b * Hp;
    if (ws.poolLast) {
      if (ws.D === 1) copy(ws.Hlast, o, ws.A, lengths[b] * B * H + b * H, H); // a_{len} of row b
      else {
        copy(ws.Hlast, o, ws.A, (lengths[b] - 1) * B * H + b * H, Hs); //       h→ at the last real token
        copy(ws.Hlast, o + Hs, ws.A, b * H + Hs, Hs); //                        h← after reading the row back to its first
      }
    }
    if (pooling === 'mean' || pooling === 'meanmax') meanPool(ws, batch, b, o + (pooling === 'meanmax' ? H : 0));
    if (pooling === 'max' || pooling === 'meanmax') maxPool(ws, batch, b, o + (pooling === 'meanmax' ? 2 * H : 0));
    if (ws.drop) dropout(ws.Hlast, o, ws.Mh, o, Hp, ws.drop.rate, ws.drop.key, batch.ids[b], OUTPUT_MASK_T);
  }
  rowsGemm(ws.k, g !== null, P, 0, C, ws.Hlast, 0, Hp, 1, p.Wya, 0, 1, Hp, B, C, Hp, 0, p.by); // Wya·a + by
  const cw = g ? ws.classWeights : null;
  for (let b = 0; b < B; b++) setRow(ws, b, batch.labels[b], cw ? cw[batch.labels[b]] : 1);
  const lossSum = ws.k.softmaxXent(P, 0, C, B, C, ws.ys, 0, ws.wy, 0, ws.am, 0, g ? g.by : null, g ? 1 : 0);
  const r: ForwardResult = cw ? { lossSum, ...weightedCounts(ws, B) } : { lossSum, count: B, correct: hits(ws, B) };
  // Target replication: the label from every state, into ws.P2.
  if (ws.stepLoss > 0) r.auxSum = everyStepForward(p, g, ws, batch, ws.P2, batch.labels, 1, 0, ws.stepLoss, cw).lossSum;
  return r;
}

/** Class weights: Σ w over the rows (ws.wy) and Σ w over those whose argmax is the target. */
function weightedCounts(ws: Workspace, rows: number): { count: number; correct: number } {
  let count = 0, correct = 0;
  for (let r = 0; r < rows; r++) {
    count += ws.wy[r];
    if (ws.am[r] === ws.ys[r]) correct += ws.wy[r];
  }
  return { count, correct };
}

/** Hlast[o..o+D·H) = the mean of row b's top outputs a_1..a_len. */
function meanPool(ws: Workspace, batch: Batch, b: number, o: number): void {
  const H = ws.Hout, { B, lengths } = batch, len = lengths[b], a0 = topStart(ws, B) + b * H, out = ws.Hlast, A = ws.A;
  fill(out, o, H, 0);
  for (let t = 0; t < len; t++) for (let j = 0; j < H; j++) out[o + j] += A[a0 + t * B * H + j];
  for (let j = 0; j < H; j++) out[o + j] /= len;
}

/** Hlast[o..o+D·H) = the elementwise max of row b's top outputs a_1..a_len, and where each came from (the first on a tie). */
function maxPool(ws: Workspace, batch: Batch, b: number, o: number): void {
  const H = ws.Hout, { B, lengths } = batch, len = lengths[b], a0 = topStart(ws, B) + b * H, out = ws.Hlast, A = ws.A, at = ws.argmax;
  for (let j = 0; j < H; j++) {
    let best = A[a0 + j], arg = 1;
    for (let t = 1; t < len; t++) {
      const v = A[a0 + t * B * H + j];
      if (v > best) { best = v; arg = t + 1; }
    }
    out[o + j] = best;
    at[b * H + j] = arg;
  }
}

/** The pooled parts' gradient (in ws.dOut, after the mask) sent back to each step's output, into ws.dPool. */
function poolBackward(ws: Workspace, batch: Batch): void {
  const H = ws.Hout, Hp = ws.Hp, { B, T, lengths } = batch, dPool = ws.dPool!, d = ws.dOut, pooling = ws.spec.pooling;
  fill(dPool, 0, T * B * H, 0);
  const mean = pooling === 'mean' ? 0 : pooling === 'meanmax' ? H : -1;
  const max = pooling === 'max' ? 0 : pooling === 'meanmax' ? 2 * H : -1;
  for (let b = 0; b < B; b++) {
    const len = lengths[b], o = b * Hp;
    if (mean >= 0) for (let t = 0; t < len; t++) for (let j = 0; j < H; j++) dPool[t * B * H + b * H + j] += d[o + mean + j] / len;
    if (max >= 0) for (let j = 0; j < H; j++) dPool[(ws.argmax[b * H + j] - 1) * B * H + b * H + j] += d[o + max + j];
  }
}

/**
 * Outputs for every state a_1..a_T at once, into P (rows t·B + b; rows past a sequence's end get
 * no loss, and with g zero dlogits), the loss against y[b·bStride + t·tStride]. alpha > 0 weighs
 * sequence b's steps by alpha/len_b (target replication; times its class weight cw[y], if given);
 * 0 weighs each step 1 (many-to-many).
 */
function everyStepForward(p: Params, g: Params | null, ws: Workspace, batch: Batch, P: Float, y: Int32Array, bStride: number, tStride: number, alpha: number, cw: Float64Array | null = null): ForwardResult {
  const { C } = ws.spec, H = ws.Hout;
  const { B, T, lengths } = batch;
  rowsGemm(ws.k, g !== null, P, 0, C, ws.A, topStart(ws, B), H, 1, p.Wya, 0, 1, H, T * B, C, H, 0, p.by); // Wya·a_t + by, t = 1..T
  let count = 0;
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      const real = t < lengths[b];
      if (real) count++;
      const yb = real ? y[b * bStride + t * tStride] : 0;
      setRow(ws, t * B + b, yb, !real ? 0 : alpha > 0 ? (alpha / lengths[b]) * (cw ? cw[yb] : 1) : 1);
    }
  }
  const lossSum = ws.k.softmaxXent(P, 0, C, T * B, C, ws.ys, 0, ws.wy, 0, ws.am, 0, g ? g.by : null, g ? 1 : 0);
  return { lossSum, count, correct: hits(ws, T * B) };
}

/** The output layer's gradients from the dlogits outputForward(·, g) left in ws.P (and ws.P2), and ws.dOut for BPTT. */
export function outputBackward(p: Params, g: Params, ws: Workspace, batch: Batch): void {
  const { task } = ws.spec;
  const { B, T } = batch;
  if (ws.head) return ws.head.backward(p, g, ws, batch);
  if (task !== 'many-to-one') {
    outputLayerBackward(p, g, ws, ws.P, ws.A, topStart(ws, B), T * B, ws.dOut, ws.Hout); // from a_1..a_T
    return;
  }
  outputLayerBackward(p, g, ws, ws.P, ws.Hlast, 0, B, ws.dOut, ws.Hp); //             from what the head read
  if (ws.drop) ws.k.mulInPlace(ws.dOut, 0, ws.Mh, 0, B * ws.Hp); //                   through the mask
  if (ws.dPool) poolBackward(ws, batch);
  if (ws.stepLoss > 0) outputLayerBackward(p, g, ws, ws.P2, ws.A, topStart(ws, B), T * B, ws.dOut2, ws.Hout);
}

/**
 * The output layer's weight gradient and the gradient it sends back, from dlogits P (rows × C)
 * and the states they were read from (rows × H at states[so..]): dWya += Pᵀ·a, dOut = Wyaᵀ·P.
 * (dby was added by softmaxXent.)
 */
function outputLayerBackward(p: Params, g: Params, ws: Workspace, P: Float, states: Float, so: number, rows: number, dOut: Float, H: number): void {
  const { C } = ws.spec;
  const k = ws.k;
  rowsGemm(k, true, g.Wya, 0, H, P, 0, 1, C, states, so, H, 1, C, H, rows, 1, null); //   dWya += dlogitsᵀ·a
  rowsGemm(k, true, dOut, 0, H, P, 0, C, 1, p.Wya, 0, H, 1, rows, H, C, 0, null); //      dL/dh = Wyaᵀ·dlogits
}

/**
 * A product over all B·T rows (C = (beta ? C : 0) + A·B + bias): the full softmax head's three,
 * the input projection and the weight gradients. With train.precision "bf16" (Kernels.gemmBf16)
 * in training, A and B rounded to bf16 with float32 sums; evaluation and float32 runs: gemm.
 * Weight gradients are summed into the float32 gradient either way. The recurrence stays float32.
 */
function rowsGemm(k: Kernels, train: boolean, c: Float, co: number, ldc: number, a: Float, ao: number, rsA: number, csA: number,
  b: Float, bo: number, rsB: number, csB: number, M: number, N: number, K: number, beta: 0 | 1, bias: Float | null): void {
  if (train && k.gemmBf16) k.gemmBf16(c, co, ldc, a, ao, rsA, csA, b, bo, rsB, csB, M, N, K, beta, bias);
  else k.gemm(c, co, ldc, a, ao, rsA, csA, b, bo, rsB, csB, M, N, K, beta, bias, Epi.None);
}

/**
 * One shard's forward and backward: returns the loss sum and counts, accumulates the gradient of
 * the loss SUM into g. The single-process loop and the worker threads both call this.
 */
export function forwardBackward(p: Params, g: Params, ws: Workspace, batch: Batch, bpttWindow = 0, drop: Dropout | null = null, stepLoss = 0, withState0 = false): ForwardResult {
  checkBatch(ws.spec, ws, batch);
  checkMemory(ws, p, g);
  sequenceForward(p, ws, batch, drop, withState0, false, true);
  ws.stepLoss = ws.spec.task === 'many-to-one' ? stepLoss : 0;
  if (ws.stepLoss > 0 && ws.Hp !== ws.Hout) throw new RangeError(`target replication (stepLoss ${stepLoss}) needs the output layer to read one state (pooling "last", "mean" or "max"), not "${ws.spec.pooling}"`);
  const res = outputForward(p, ws, batch, g);
  outputBackward(p, g, ws, batch);
  sequenceBackward(p, g, ws, batch, bpttWindow);
  return res;
}

/** Forward only (evaluation, prediction): loss sum and counts; probabilities stay in ws.P. */
export function forward(p: Params, ws: Workspace, batch: Batch, withState0 = false): ForwardResult {
  checkBatch(ws.spec, ws, batch);
  checkMemory(ws, p);
  sequenceForward(p, ws, batch, null, withState0);
  ws.stepLoss = 0;
  return outputForward(p, ws, batch);
}
