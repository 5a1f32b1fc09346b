// The vanilla (Elman) RNN of the classic derivation, forward and backpropagation through time.
//
//   a_0 = 0
//   z_t = Waa·a_{t-1} + Wax·x_t + ba          x_t one-hot (a gather) or Wemb[token]
//   a_t = tanh(z_t)
//   many-to-one:  ŷ = softmax(Wya·a_{len} + by), one loss per sequence at its last real token
//   many-to-many: ŷ_t = softmax(Wya·a_t + by), one loss per real step
//
// The whole batch advances one timestep at a time as matrix products. Caches are time-major:
// A[t] is the (B, H) block at offset t*B*H. Padding: at step t only the first R[t] rows are
// computed (R[t] = 1 + the last row still real at t; with rows sorted by length, exactly the
// real ones); rows inside R[t] that are already past their end get dz = 0 in the backward pass,
// so nothing computed from padding reaches a loss, a gradient, or a state that is read.
//
// forward/backward compute SUMS over the batch (loss sum, gradient of the loss sum); dividing by
// the number of sequences or real tokens happens once, where shards are combined.
//
// Target replication (training only, many-to-one, weight α = stepLoss; Lipton et al. 2016): every
// state a_t, t ≤ len, also predicts the sequence's label, adding α·(1/len)·Σ_t CE(softmax(Wya·a_t
// + by), y) to the objective. It gives early steps a gradient of their own, so the state learns
// to carry its evidence forward; the prediction is still read at the last token.
//
// Dropout (training only, inverted): x_t ← x_t ⊙ m_t/(1−rate) on embedded inputs, and the
// many-to-one classifier reads a_{len} ⊙ m/(1−rate). Masks are drawn from (step key, example id,
// t, unit), so a sequence gets the same mask alone or in any batch, shard or padding.

import type { ModelSpec } from './spec.js';
import type { Params } from './params.js';
import type { Batch } from './batch.js';
import {
  type Float, matmulABt, transpose, addBiasRows, colSumAcc, gatherRows, scatterAddRows,
  tanhInPlace, tanhBackward, softmaxRow, argmaxRow, sumSquares, fill, copy, addTo, scale, dropout, mulInPlace,
} from './kernels.js';

/** Dropout for one training step: the rate, and the step's key (stepKey(seed, step)). */
export interface Dropout {
  rate: number;
  key: number;
}

/** The mask's "timestep" for the state the many-to-one classifier reads (inputs use t = 0..T-1). */
const OUTPUT_MASK_T = 0x7fffffff;

/** Everything forward caches for backward, allocated once for the largest batch (maxB × maxT). */
export interface Workspace {
  spec: ModelSpec;
  maxB: number;
  maxT: number;
  R: Int32Array; //         (maxT+1) rows computed at step t
  A: Float; //              (maxT+1, maxB, H) states; A[0] = 0
  X: Float | null; //       (maxT, maxB, E) embedded inputs (embedding input only), after dropout
  Mx: Float | null; //      (maxT, maxB, E) their dropout masks
  Hlast: Float; //          (maxB, H) many-to-one: state at each sequence's last real token, after dropout
  Mh: Float; //             (maxB, H) its dropout mask
  /** The dropout of the last forward (null: none). */
  drop: Dropout | null;
  /** Target replication weight of the last forward (0: none); many-to-one only. */
  stepLoss: number;
  P2: Float; //             (maxT, maxB, C) many-to-one, target replication: every step's probabilities, then dlogits
  dOut2: Float; //          (maxT, maxB, H) the gradient they send to each state
  PT2: Float; //            (C, maxT·maxB)
  P: Float; //              many-to-one (maxB, C) / many-to-many (maxT, maxB, C): probabilities, then dlogits
  dOut: Float; //           same rows as P, width H: gradient reaching the states from the outputs
  dA: Float; //             (maxB, H) dL/da_t, running backwards through time
  dZ: Float; //             (maxT, maxB, H) dL/dz_t for every step (weight gradients are one product after the loop)
  dX: Float | null; //      (maxB, E) embedding input only
  // Thread-local copies of the dense weights and their gradients: the product kernel never
  // touches a SharedArrayBuffer (V8 reads typed arrays on one ~25% slower in that loop).
  Waa: Float; //            (H, H)
  Wax: Float | null; //     (H, E) embedding input only
  Wya: Float; //            (C, H)
  dW: Float; //             (max(H·H, H·E, C·H)) a weight gradient before it is added to g
  // Transposed copies, so that every product is a row-by-row dot product (matmulABt):
  WaaT: Float; //           (H, H)
  WaxT: Float | null; //    (E, H) embedding input only
  WyaT: Float; //           (H, C)
  AT: Float; //             (H, (maxT+1)·maxB) states, column = (t, b)
  dZT: Float; //            (H, maxT·maxB)
  XT: Float | null; //      (E, maxT·maxB)
  PT: Float; //             (C, rows of P)
  HlastT: Float; //         (H, maxB)
  /** Σ over real rows of ‖dL/da_t‖ and the number of those rows, per step t = 1..T (index t-1). */
  stepNormSum: Float64Array;
  stepNormCount: Float64Array;
  /** Token rows of the token table (Wax one-hot / Wemb) touched by this batch, deduplicated. */
  touched: Int32Array;
  touchedCount: number;
  touchedMark: Uint8Array;
}

export interface ForwardResult {
  lossSum: number; // Σ of −log p(target) over sequences (many-to-one) or real tokens (many-to-many)
  auxSum?: number; // target replication: Σ over sequences of α·mean_t −log p_t(label); the objective is lossSum + auxSum
  count: number; //   sequences or real tokens
  correct: number; // argmax = target
}

export function allocWorkspace(spec: ModelSpec, maxB: number, maxT: number, dtype: 'float32' | 'float64' = 'float32'): Workspace {
  const F = dtype === 'float64' ? Float64Array : Float32Array;
  const { H, C, E, V } = spec;
  const outRows = spec.task === 'many-to-one' ? maxB : maxT * maxB;
  return {
    spec, maxB, maxT,
    R: new Int32Array(maxT + 1),
    A: new F((maxT + 1) * maxB * H),
    X: E > 0 ? new F(maxT * maxB * E) : null,
    Mx: E > 0 ? new F(maxT * maxB * E) : null,
    Hlast: new F(maxB * H),
    Mh: new F(maxB * H),
    drop: null,
    stepLoss: 0,
    // Target replication only; untouched (so never paged in) otherwise.
    P2: new F(spec.task === 'many-to-one' ? maxT * maxB * C : 0),
    dOut2: new F(spec.task === 'many-to-one' ? maxT * maxB * H : 0),
    PT2: new F(spec.task === 'many-to-one' ? C * maxT * maxB : 0),
    P: new F(outRows * C),
    dOut: new F(outRows * H),
    dA: new F(maxB * H),
    dZ: new F(maxT * maxB * H),
    dX: E > 0 ? new F(maxB * E) : null,
    Waa: new F(H * H),
    Wax: E > 0 ? new F(H * E) : null,
    Wya: new F(C * H),
    dW: new F(Math.max(H * H, H * E, C * H)),
    WaaT: new F(H * H),
    WaxT: E > 0 ? new F(E * H) : null,
    WyaT: new F(H * C),
    AT: new F(H * (maxT + 1) * maxB),
    dZT: new F(H * maxT * maxB),
    XT: E > 0 ? new F(E * maxT * maxB) : null,
    PT: new F(C * outRows),
    HlastT: new F(H * maxB),
    stepNormSum: new Float64Array(maxT),
    stepNormCount: new Float64Array(maxT),
    touched: new Int32Array(Math.min(V, maxB * maxT)),
    touchedCount: 0,
    touchedMark: new Uint8Array(V),
  };
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

// ---------------------------------------------------------------------------------------------
// Recurrence

/** a_t for t = 1..T into ws.A; also the rows-per-step table R and the touched token rows. */
export function rnnForward(p: Params, ws: Workspace, batch: Batch, drop: Dropout | null = null): void {
  const { H, E } = ws.spec;
  const { B, T, tokens, lengths } = batch;
  const A = ws.A, R = ws.R;
  ws.drop = drop && drop.rate > 0 ? drop : null;

  // R[t] = 1 + the last row whose length is ≥ t
  for (let t = 1; t <= T; t++) {
    let r = 0;
    for (let b = 0; b < B; b++) if (lengths[b] >= t) r = b + 1;
    R[t] = r;
  }
  fill(A, 0, B * H, 0); // a_0 = 0
  copy(ws.Waa, 0, p.Waa, 0, H * H);
  if (E > 0) copy(ws.Wax!, 0, p.Wax, 0, H * E);

  for (let t = 1; t <= T; t++) {
    const r = R[t];
    const at = t * B * H, aprev = (t - 1) * B * H;
    matmulABt(A, at, A, aprev, ws.Waa, 0, r, H, H, false); //           Waa·a_{t-1}
    if (E > 0) {
      const xt = (t - 1) * B * E;
      gatherRows(ws.X!, xt, p.Wemb!, tokens, t - 1, T, r, E, false); //   x_t = Wemb[token]
      if (ws.drop) for (let b = 0; b < r; b++) dropout(ws.X!, xt + b * E, ws.Mx!, xt + b * E, E, ws.drop.rate, ws.drop.key, batch.ids[b], t - 1);
      matmulABt(A, at, ws.X!, xt, ws.Wax!, 0, r, H, E, true); //          + Wax·x_t
    } else {
      gatherRows(A, at, p.Wax, tokens, t - 1, T, r, H, true); //           + Wax·x_t, the token's column
    }
    addBiasRows(A, at, p.ba, r, H); //                                      + ba
    tanhInPlace(A, at, r * H);
  }

  // Token rows this batch touches: their gradient rows are the only ones that can be nonzero.
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

/**
 * BPTT. Expects ws.dOut to hold the gradient reaching each state from the outputs (outputForward/
 * outputBackward fill it). Accumulates (+=) into g; records ‖dL/da_t‖ per step.
 * bpttWindow > 0 truncates: no gradient flows from a_t into a_{t-1} across window boundaries.
 */
export function rnnBackward(p: Params, g: Params, ws: Workspace, batch: Batch, bpttWindow = 0): void {
  const { H, E, task } = ws.spec;
  const { B, T, tokens, lengths } = batch;
  const { A, R, dA, dZ, dOut } = ws;
  const m2o = task === 'many-to-one';

  transpose(ws.WaaT, 0, ws.Waa, 0, H, H);
  if (E > 0) transpose(ws.WaxT!, 0, ws.Wax!, 0, H, E);
  fill(dA, 0, B * H, 0);
  ws.stepNormSum.fill(0, 0, T);
  ws.stepNormCount.fill(0, 0, T);

  for (let t = T; t >= 1; t--) {
    const r = R[t];
    const at = t * B * H, zt = (t - 1) * B * H;

    // dL/da_t = (from a_{t+1}, already in dA) + (from this step's output)
    for (let b = 0; b < r; b++) {
      const len = lengths[b];
      if (len < t) continue;
      const o = m2o ? (len === t ? b * H : -1) : zt + b * H;
      if (o >= 0) for (let h = 0; h < H; h++) dA[b * H + h] += dOut[o + h];
      if (m2o && ws.stepLoss > 0) addTo(dA, b * H, ws.dOut2, zt + b * H, H);
      ws.stepNormSum[t - 1] += Math.sqrt(sumSquares(dA, b * H, H));
      ws.stepNormCount[t - 1] += 1;
    }

    tanhBackward(dZ, zt, dA, 0, A, at, r * H); //                   dz_t = dL/da_t · (1 − a_t²)
    for (let b = 0; b < r; b++) if (lengths[b] < t) fill(dZ, zt + b * H, H, 0); // past its end: no gradient
    fill(dZ, zt + r * H, (B - r) * H, 0);

    if (t > 1 && !(bpttWindow > 0 && (t - 1) % bpttWindow === 0)) {
      matmulABt(dA, 0, dZ, zt, ws.WaaT, 0, r, H, H, false); //         dL/da_{t-1} = Waaᵀ·dz_t
      fill(dA, r * H, (B - r) * H, 0);
    } else {
      fill(dA, 0, B * H, 0);
    }

    if (E > 0) {
      matmulABt(ws.dX!, 0, dZ, zt, ws.WaxT!, 0, r, E, H, false); //    dL/dx_t = Waxᵀ·dz_t
      if (ws.drop) mulInPlace(ws.dX!, 0, ws.Mx!, (t - 1) * B * E, r * E); // through the mask
      scatterAddRows(g.Wemb!, ws.dX!, 0, tokens, t - 1, T, r, E);
    } else {
      scatterAddRows(g.Wax, dZ, zt, tokens, t - 1, T, r, H); //        dWax[:, x_t] += dz_t
    }
  }

  // Weight gradients over all steps at once: one product each instead of T small ones.
  // (ws.AT, the states transposed, was made by outputBackward.)
  const rows = T * B;
  transpose(ws.dZT, 0, dZ, 0, rows, H);
  matmulABt(ws.dW, 0, ws.dZT, 0, ws.AT, 0, H, H, rows, false, rows, rows + B); // dWaa += Σ_t dz_t a_{t-1}ᵀ
  addTo(g.Waa, 0, ws.dW, 0, H * H);
  colSumAcc(g.ba, dZ, 0, rows, H); //                                            dba  += Σ_t dz_t
  if (E > 0) {
    transpose(ws.XT!, 0, ws.X!, 0, rows, E);
    matmulABt(ws.dW, 0, ws.dZT, 0, ws.XT!, 0, H, E, rows, false); //            dWax += Σ_t dz_t x_tᵀ
    addTo(g.Wax, 0, ws.dW, 0, H * E);
  }
}

// ---------------------------------------------------------------------------------------------
// Output layer and loss

/** Logits, softmax, cross-entropy; leaves probabilities in ws.P. */
export function outputForward(p: Params, ws: Workspace, batch: Batch): ForwardResult {
  const { H, C, task } = ws.spec;
  const { B, T, lengths } = batch;
  const P = ws.P;
  copy(ws.Wya, 0, p.Wya, 0, C * H);
  if (task === 'many-to-many') return everyStepForward(p, ws, batch, P, batch.targets, T, 1, 0);
  for (let b = 0; b < B; b++) {
    const src = lengths[b] * B * H + b * H; // a_{len} of row b
    for (let h = 0; h < H; h++) ws.Hlast[b * H + h] = ws.A[src + h];
    if (ws.drop) dropout(ws.Hlast, b * H, ws.Mh, b * H, H, ws.drop.rate, ws.drop.key, batch.ids[b], OUTPUT_MASK_T);
  }
  matmulABt(P, 0, ws.Hlast, 0, ws.Wya, 0, B, C, H, false);
  addBiasRows(P, 0, p.by, B, C);
  let lossSum = 0, correct = 0;
  for (let b = 0; b < B; b++) {
    softmaxRow(P, b * C, C);
    const y = batch.labels[b];
    lossSum -= Math.log(Math.max(P[b * C + y], 1e-30));
    if (argmaxRow(P, b * C, C) === y) correct++;
  }
  const r: ForwardResult = { lossSum, count: B, correct };
  // Target replication: the label from every state, into ws.P2.
  if (ws.stepLoss > 0) r.auxSum = everyStepForward(p, ws, batch, ws.P2, batch.labels, 1, 0, ws.stepLoss).lossSum;
  return r;
}

/**
 * Outputs for every state a_1..a_T at once (rows past a sequence's end are skipped): probabilities
 * into P, the loss against y[b·bStride + t·tStride]. alpha > 0 weighs sequence b's steps by
 * alpha/len_b (target replication); 0 weighs each step 1 (many-to-many).
 */
function everyStepForward(p: Params, ws: Workspace, batch: Batch, P: Float, y: Int32Array, bStride: number, tStride: number, alpha: number): ForwardResult {
  const { H, C } = ws.spec;
  const { B, T, lengths } = batch;
  matmulABt(P, 0, ws.A, B * H, ws.Wya, 0, T * B, C, H, false); //       Wya·a_t for t = 1..T
  addBiasRows(P, 0, p.by, T * B, C);
  let lossSum = 0, correct = 0, count = 0;
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      if (t >= lengths[b]) continue;
      const o = (t * B + b) * C;
      softmaxRow(P, o, C);
      const target = y[b * bStride + t * tStride];
      const nll = -Math.log(Math.max(P[o + target], 1e-30));
      lossSum += alpha > 0 ? (alpha * nll) / lengths[b] : nll;
      if (argmaxRow(P, o, C) === target) correct++;
      count++;
    }
  }
  return { lossSum, count, correct };
}

/** dlogits = p − onehot(y) (in place in ws.P), output-layer gradients into g, and ws.dOut for BPTT. */
export function outputBackward(p: Params, g: Params, ws: Workspace, batch: Batch): void {
  const { H, C, task } = ws.spec;
  const { B, T } = batch;
  const P = ws.P;
  // All states, transposed: used by the output layer and by rnnBackward for dWaa.
  transpose(ws.AT, 0, ws.A, 0, (T + 1) * B, H);
  transpose(ws.WyaT, 0, ws.Wya, 0, C, H);
  if (task === 'many-to-many') {
    everyStepBackward(g, ws, batch, P, ws.PT, ws.dOut, batch.targets, T, 1, 0);
    return;
  }
  for (let b = 0; b < B; b++) P[b * C + batch.labels[b]] -= 1;
  transpose(ws.HlastT, 0, ws.Hlast, 0, B, H);
  outputLayerBackward(g, ws, P, ws.PT, ws.HlastT, 0, B, B, ws.dOut); //             from a_len
  if (ws.drop) mulInPlace(ws.dOut, 0, ws.Mh, 0, B * H); //                          through the mask
  if (ws.stepLoss > 0) everyStepBackward(g, ws, batch, ws.P2, ws.PT2, ws.dOut2, batch.labels, 1, 0, ws.stepLoss);
}

/** everyStepForward's backward: dlogits_t = w·(p_t − onehot(y)), 0 on padded steps, then the layer's gradients. */
function everyStepBackward(g: Params, ws: Workspace, batch: Batch, P: Float, PT: Float, dOut: Float, y: Int32Array, bStride: number, tStride: number, alpha: number): void {
  const { C } = ws.spec;
  const { B, T, lengths } = batch;
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      const o = (t * B + b) * C;
      if (t >= lengths[b]) { fill(P, o, C, 0); continue; } // padded step: no loss, no gradient
      P[o + y[b * bStride + t * tStride]] -= 1;
      if (alpha > 0) scale(P, o, C, alpha / lengths[b]);
    }
  }
  const rows = T * B;
  outputLayerBackward(g, ws, P, PT, ws.AT, B, rows + B, rows, dOut); //              from a_1..a_T
}

/**
 * The output layer's gradients from dlogits P (rows × C) and the states they were read from,
 * given transposed (H × ld, from column `so`): dWya += Pᵀ·a, dby += Σ P, dOut = Wyaᵀ·P.
 */
function outputLayerBackward(g: Params, ws: Workspace, P: Float, PT: Float, statesT: Float, so: number, ld: number, rows: number, dOut: Float): void {
  const { H, C } = ws.spec;
  transpose(PT, 0, P, 0, rows, C);
  matmulABt(ws.dW, 0, PT, 0, statesT, so, C, H, rows, false, rows, ld); //          dWya += dlogitsᵀ·a
  addTo(g.Wya, 0, ws.dW, 0, C * H);
  colSumAcc(g.by, P, 0, rows, C);
  matmulABt(dOut, 0, P, 0, ws.WyaT, 0, rows, H, C, false); //                       dL/da = Wyaᵀ·dlogits
}

/**
 * One shard's forward and backward: returns the loss sum and counts, accumulates the gradient of
 * the loss SUM into g. The single-process loop and the worker threads both call this.
 */
export function forwardBackward(p: Params, g: Params, ws: Workspace, batch: Batch, bpttWindow = 0, drop: Dropout | null = null, stepLoss = 0): ForwardResult {
  checkBatch(ws.spec, ws, batch);
  rnnForward(p, ws, batch, drop);
  ws.stepLoss = ws.spec.task === 'many-to-one' ? stepLoss : 0;
  const res = outputForward(p, ws, batch);
  outputBackward(p, g, ws, batch);
  rnnBackward(p, g, ws, batch, bpttWindow);
  return res;
}

/** Forward only (evaluation, prediction): loss sum and counts; probabilities stay in ws.P. */
export function forward(p: Params, ws: Workspace, batch: Batch): ForwardResult {
  checkBatch(ws.spec, ws, batch);
  rnnForward(p, ws, batch);
  ws.stepLoss = 0;
  return outputForward(p, ws, batch);
}
