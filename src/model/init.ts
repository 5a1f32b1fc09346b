// Seeded initialization. Two schemes (model.init):
//
// `standard` (default), the usual conventions (Keras; the vanilla RNN's since the start):
//   Wemb    N(0, 1)                                  (PyTorch nn.Embedding)
//   W_ih    one-hot layer 0: U(±1/√H)                (a token's column acts as an embedding of width H)
//           otherwise: Glorot uniform U(±√(6/(I+H))) per gate block
//   W_hh    per gate block (H×H): orthogonal × gain (Saxe et al. 2014; Keras' default recurrent
//           init), or N(0, gain²/H)
//   Wya     Glorot uniform U(±√(6/(H+C)))
//   biases  zero
// Tied weights: Wemb is also the output weight, so it is drawn U(±√(3/E)) instead, entries of
//   variance 1/E, rows of about unit norm (N(0, 1) rows would make logits of size √E; this is
//   PyTorch's word_language_model U(±0.1) at E = 300, and on the char LM of test/fixtures/train
//   E = H = 16 it beat both U(±0.1) and the untied model); Wproj (E ≠ H) Glorot uniform, or
//   U(±1/√H) with `pytorch`.
// Adaptive softmax (either scheme): as nn.AdaptiveLogSoftmaxWithLoss's nn.Linear layers draw
//   them, U(±1/√fan_in): head weight and bias and the tail projections 1/√H, tail outputs 1/√hsz.
// `pytorch`: every weight and bias of the recurrent layers and of the output layer U(±1/√H), as
//   nn.RNN/nn.LSTM/nn.GRU and nn.Linear(H, C) draw them (Wemb N(0, 1) as nn.Embedding).
// Either way, the LSTM's forget-gate bias b_if is then raised by forgetBias (default 1; Jozefowicz
// et al. 2015), once: in bias_ih only, so the forget gate's total bias b_if + b_hf starts at
// forgetBias, not twice that.
//
// chrono = T > 0 replaces that with chrono initialization (Tallec & Ollivier 2018), for
// dependencies up to T steps: per unit, b = log(u), u ~ U(1, T − 1), so the state starts by
// keeping its content over characteristic times spread up to T: LSTM b_f = b and b_i = −b; GRU
// (h = (1 − z)⊙n + z⊙h_{t-1}) b_z = b. The bias_hh blocks of those gates are zeroed, so the
// gates' total biases are exactly these. A gated cell then learns a dependency across 100 steps
// in a few hundred steps instead of waiting thousands at chance (README, long-range dependency).
//
// Draws run in tensor order (Wemb, then each layer's W_ih, W_hh, biases, then the output layer),
// so a single-layer vanilla RNN gets exactly the weights it always got from a seed.

import type { Params } from './params.js';
import type { ModelSpec } from './spec.js';
import { Rng } from '../util/prng.js';
import { drain, drainAsync } from '../util/slices.js';
import type { Float } from './kernels.js';
import { nativeOrthogonal, type NativeOrthogonal } from './backend/native.js';

export interface InitOptions {
  recurrentInit: 'orthogonal' | 'normal';
  recurrentScale: number;
  /** `standard` (above) or `pytorch`; default standard. */
  init?: 'standard' | 'pytorch';
  /** Added to the LSTM forget gate's bias_ih block; default 1. */
  forgetBias?: number;
  /** Chrono initialization for dependencies up to this many steps (LSTM and GRU); 0 (default): off. */
  chrono?: number;
  /**
   * What computes the orthogonal blocks' columns: `native` (the addon, columns side by side in
   * SIMD lanes; the default when it is built) or `js` (`reflectColumns` below). Same bits.
   */
  engine?: 'native' | 'js';
}

export const defaultInit: InitOptions = { recurrentInit: 'orthogonal', recurrentScale: 1, init: 'standard', forgetBias: 1, chrono: 0 };

export function initParams(p: Params, spec: ModelSpec, rng: Rng, opts: InitOptions = defaultInit): void {
  drain(initSteps(p, spec, rng, opts));
}

/**
 * initParams that gives the event loop a turn every `sliceMs` (default 50) and stops at the next
 * turn once `signal` is aborted (returning false, the parameters half drawn): a large model's
 * orthogonal init takes seconds, and Ctrl-C must not wait for it. Same bits as initParams.
 */
export async function initParamsAsync(p: Params, spec: ModelSpec, rng: Rng, opts: InitOptions = defaultInit, signal?: AbortSignal, sliceMs = 50): Promise<boolean> {
  return (await drainAsync(initSteps(p, spec, rng, opts), signal, sliceMs)) !== null;
}

/** The initialization, yielding between pieces of work (rows of an orthogonal matrix) so a caller can pause it. */
function* initSteps(p: Params, spec: ModelSpec, rng: Rng, opts: InitOptions): Generator<void> {
  const { V, H, C, E } = spec;
  const G = p.G;
  const torch = opts.init === 'pytorch';
  const k = 1 / Math.sqrt(H);
  p.data.fill(0);
  if (E > 0 && spec.tieWeights) uniform(p.Wemb!, Math.sqrt(3 / E), rng);
  else if (E > 0) rng.fillNormal(p.Wemb!, 0, V * E); // rng.normal() each
  const D = p.reverse.length > 0 ? 2 : 1;
  // In table order: each layer's forward direction, then its reverse one (bidirectional).
  const directions = p.layers.flatMap((lp, l) => (D === 2 ? [[lp, l], [p.reverse[l], l]] : [[lp, l]]) as [typeof lp, number][]);
  const ortho = !torch && opts.recurrentInit === 'orthogonal' ? new Orthogonal(H, opts.recurrentScale, opts.engine === 'js' ? null : nativeOrthogonal()) : null;
  for (const [lp, l] of directions) {
    const I = l > 0 ? D * H : E;
    if (torch) {
      for (const w of [lp.Wih, lp.Whh, lp.bih, lp.bhh]) if (w) uniform(w, k, rng);
    } else {
      if (l === 0 && E === 0) uniform(lp.Wih, k, rng);
      else uniform(lp.Wih, Math.sqrt(6 / (I + H)), rng); // a gate block's fan: I in, H out
      for (let g = 0; g < G; g++) {
        const block = lp.Whh.subarray(g * H * H, (g + 1) * H * H);
        if (ortho) yield* ortho.block(block, rng);
        else for (let i = 0; i < H * H; i++) block[i] = (rng.normal() * opts.recurrentScale) / Math.sqrt(H);
      }
    }
    const T = opts.chrono ?? 0;
    if (T > 0 && spec.cell !== 'rnn') chrono(lp.bih, lp.bhh!, spec.cell, H, T, rng);
    else if (spec.cell === 'lstm') for (let i = H; i < 2 * H; i++) lp.bih[i] += opts.forgetBias ?? 1; // gates i, f, g, o
  }
  if (p.adaptive) {
    const a = p.adaptive;
    uniform(a.head, k, rng);
    uniform(a.headBias, k, rng);
    a.proj.forEach((w, i) => {
      uniform(w, k, rng);
      uniform(a.out[i], 1 / Math.sqrt(w.length / H), rng); // fan_in = hsz
    });
    return;
  }
  if (p.Wproj) uniform(p.Wproj, torch ? k : Math.sqrt(6 / (E + H)), rng);
  if (torch) {
    const kOut = 1 / Math.sqrt(p.Wya.length / C); // nn.Linear(fan_in, C): U(±1/√fan_in), fan_in = D·H (3·D·H: meanmax)
    if (!spec.tieWeights) uniform(p.Wya, kOut, rng);
    uniform(p.by, spec.tieWeights ? k : kOut, rng);
  } else if (!spec.tieWeights) {
    uniform(p.Wya, Math.sqrt(6 / (p.Wya.length / C + C)), rng);
  }
}

/** Chrono biases (above): LSTM gates i, f, g, o get b_i = −b, b_f = b; GRU gates r, z, n get b_z = b. */
function chrono(bih: Float, bhh: Float, cell: 'lstm' | 'gru', H: number, T: number, rng: Rng): void {
  const keep = H; // f (LSTM) and z (GRU) are both the second block
  for (let j = 0; j < H; j++) {
    const b = Math.log(1 + rng.uniform() * Math.max(0, T - 2));
    bih[keep + j] = b;
    bhh[keep + j] = 0;
    if (cell === 'lstm') { bih[j] = -b; bhh[j] = 0; }
  }
}

function uniform(w: Float, limit: number, rng: Rng): void {
  rng.fillSymmetric(w, limit); // w[i] = (2·rng.uniform() − 1)·limit
}

/**
 * Random orthogonal n×n matrices times gain, Haar-distributed: the Q of a Gaussian matrix's QR
 * factorization with R's diagonal made positive (what Gram-Schmidt on Gaussian vectors gives), by
 * Stewart's algorithm (1980; scipy.stats.ortho_group). Householder QR reduces column k of the
 * Gaussian matrix, after the reflections of the columns before it, to a vector that is again
 * N(0, I_{n−k}) and independent of them, so it is drawn fresh: x_k of length n − k, k = 0..n−1,
 * n(n+1)/2 normals in all (half of Gram-Schmidt's n²), drawn in that order in one polar-method
 * stream (Rng.fillNormalPairs). For k < n − 1 the reflection M_k = I − v_k v_kᵀ (v_k = x_k +
 * sign(x_k0)‖x_k‖e_0, scaled to ‖v_k‖² = 2) acts on coordinates k..n−1 and takes x_k to
 * −sign(x_k0)‖x_k‖e_k, so R_kk has the sign S_k = −sign(x_k0); S_{n−1} = sign(x_{n−1}). Then
 * Q = M_0 M_1 ··· M_{n−2} diag(S), and column j of Q is S_j·M_0(M_1(···M_K e_j)), K = min(j, n − 2)
 * (the later reflections leave e_j alone): every column is a chain of its own, so columns run side
 * by side, each v_k loaded once for all of them (native/orthogonal.h: one per SIMD lane), ⅔n³
 * multiply-adds per matrix where Gram-Schmidt twice took 2n³ in one dependent chain. Orthogonal to
 * float64 rounding (Householder is backward stable). One per model: the scratch serves every block
 * (all are H×H). Yields between pieces of work (initParamsAsync).
 */
class Orthogonal {
  private readonly xs: Float64Array; // x_k, then v_k, at xs[k·n − k(k+1)/2 + t], t = k..n−1
  private readonly sg: Float64Array; // S_j·gain
  private readonly c: Float64Array; // the JavaScript columns: 8 of n
  constructor(private readonly n: number, private readonly gain: number, private readonly gs: NativeOrthogonal | null) {
    this.xs = new Float64Array((n * (n + 1)) / 2);
    this.sg = new Float64Array(n);
    this.c = gs ? new Float64Array(0) : new Float64Array(8 * n);
  }

  *block(w: Float, rng: Rng): Generator<void> {
    const { n, xs, sg, gs } = this;
    const chunk = 1 << 16; // even: the pairs of the stream do not depend on the chunks
    for (let i = 0; i < xs.length; i += chunk) {
      rng.fillNormalPairs(xs, i, Math.min(i + chunk, xs.length));
      yield;
    }
    for (let k = 0; k + 1 < n; k++) sg[k] = -householder(xs, k * n - (k * (k - 1)) / 2, n - k) * this.gain;
    sg[n - 1] = (xs[xs.length - 1] < 0 ? -1 : 1) * this.gain;
    yield;
    // Native: 64 columns a call (a multiple of every level's block), at H = 1024 a few ms.
    for (let j0 = 0; j0 < n; j0 += gs ? 64 : 8) {
      if (gs) gs.columns(xs, n, sg, w, j0, Math.min(j0 + 64, n));
      else reflectColumns(this.c, xs, n, j0, sg, w);
      yield;
    }
  }
}

/** x (length m at xs[at]) becomes its Householder vector v, ‖v‖² = 2 (scipy's steps); returns sign(x_0) (+1 for 0). */
function householder(xs: Float64Array, at: number, m: number): number {
  let norm2 = 0;
  for (let i = at; i < at + m; i++) norm2 += xs[i] * xs[i];
  const x0 = xs[at], d = x0 < 0 ? -1 : 1;
  if (norm2 === 0) { xs[at] = Math.SQRT2; return d; } // never drawn; M = I − 2e_0e_0ᵀ keeps Q orthogonal
  xs[at] = x0 + d * Math.sqrt(norm2);
  const scale = Math.sqrt((norm2 - x0 * x0 + xs[at] * xs[at]) / 2);
  for (let i = at; i < at + m; i++) xs[i] /= scale;
  return d;
}

/**
 * Columns j0..j0+7 of Q (native/orthogonal.h's arithmetic, lane by lane): c = e_j, then M_K, ...,
 * M_0, K = min(j0 + 7, n − 2): one pass over coordinates k..n−1 per k applies M_k (s = v_k·c) and
 * sums the next s = v_{k−1}·c, for the 8 columns at once (8 independent chains, each v loaded once
 * for 8); then w[t·n + j] = c_j[t]·sg[j]. Past n: zero columns, not written. Outside the
 * generator, where V8 optimizes loops best.
 */
function reflectColumns(c: Float64Array, xs: Float64Array, n: number, j0: number, sg: Float64Array, w: Float): void {
  c.fill(0);
  for (let b = 0; b < 8 && j0 + b < n; b++) c[b * n + j0 + b] = 1;
  const o1 = n, o2 = 2 * n, o3 = 3 * n, o4 = 4 * n, o5 = 5 * n, o6 = 6 * n, o7 = 7 * n;
  const K = Math.min(j0 + 7, n - 2);
  if (K >= 0) { // n = 1: Q = S
    let a = K * n - (K * (K + 1)) / 2; // v_K[t] = xs[a + t]
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (let t = K; t < n; t++) {
      const x = xs[a + t];
      s0 += x * c[t]; s1 += x * c[o1 + t]; s2 += x * c[o2 + t]; s3 += x * c[o3 + t]; s4 += x * c[o4 + t]; s5 += x * c[o5 + t]; s6 += x * c[o6 + t]; s7 += x * c[o7 + t];
    }
    for (let k = K; k >= 1; k--) {
      const p = (k - 1) * n - ((k - 1) * k) / 2, q = k - 1; // v_{k−1}; coordinate k − 1: M_k leaves it
      const xq = xs[p + q];
      let u0 = xq * c[q], u1 = xq * c[o1 + q], u2 = xq * c[o2 + q], u3 = xq * c[o3 + q], u4 = xq * c[o4 + q], u5 = xq * c[o5 + q], u6 = xq * c[o6 + q], u7 = xq * c[o7 + q];
      for (let t = k; t < n; t++) {
        const x = xs[a + t], y = xs[p + t];
        const c0 = c[t] - s0 * x; c[t] = c0; u0 += y * c0;
        const c1 = c[o1 + t] - s1 * x; c[o1 + t] = c1; u1 += y * c1;
        const c2 = c[o2 + t] - s2 * x; c[o2 + t] = c2; u2 += y * c2;
        const c3 = c[o3 + t] - s3 * x; c[o3 + t] = c3; u3 += y * c3;
        const c4 = c[o4 + t] - s4 * x; c[o4 + t] = c4; u4 += y * c4;
        const c5 = c[o5 + t] - s5 * x; c[o5 + t] = c5; u5 += y * c5;
        const c6 = c[o6 + t] - s6 * x; c[o6 + t] = c6; u6 += y * c6;
        const c7 = c[o7 + t] - s7 * x; c[o7 + t] = c7; u7 += y * c7;
      }
      s0 = u0; s1 = u1; s2 = u2; s3 = u3; s4 = u4; s5 = u5; s6 = u6; s7 = u7;
      a = p;
    }
    for (let t = 0; t < n; t++) {
      const x = xs[t];
      c[t] -= s0 * x; c[o1 + t] -= s1 * x; c[o2 + t] -= s2 * x; c[o3 + t] -= s3 * x; c[o4 + t] -= s4 * x; c[o5 + t] -= s5 * x; c[o6 + t] -= s6 * x; c[o7 + t] -= s7 * x;
    }
  }
  for (let b = 0; b < 8 && j0 + b < n; b++) {
    const g = sg[j0 + b];
    for (let t = 0; t < n; t++) w[t * n + j0 + b] = c[b * n + t] * g;
  }
}
