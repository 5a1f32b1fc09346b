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
import type { Float } from './kernels.js';

export interface InitOptions {
  recurrentInit: 'orthogonal' | 'normal';
  recurrentScale: number;
  /** `standard` (above) or `pytorch`; default standard. */
  init?: 'standard' | 'pytorch';
  /** Added to the LSTM forget gate's bias_ih block; default 1. */
  forgetBias?: number;
  /** Chrono initialization for dependencies up to this many steps (LSTM and GRU); 0 (default): off. */
  chrono?: number;
}

export const defaultInit: InitOptions = { recurrentInit: 'orthogonal', recurrentScale: 1, init: 'standard', forgetBias: 1, chrono: 0 };

export function initParams(p: Params, spec: ModelSpec, rng: Rng, opts: InitOptions = defaultInit): void {
  const { V, H, C, E } = spec;
  const G = p.G;
  const torch = opts.init === 'pytorch';
  const k = 1 / Math.sqrt(H);
  p.data.fill(0);
  if (E > 0 && spec.tieWeights) uniform(p.Wemb!, Math.sqrt(3 / E), rng);
  else if (E > 0) for (let i = 0; i < V * E; i++) p.Wemb![i] = rng.normal();
  p.layers.forEach((lp, l) => {
    const I = l > 0 ? H : E;
    if (torch) {
      for (const w of [lp.Wih, lp.Whh, lp.bih, lp.bhh]) if (w) uniform(w, k, rng);
    } else {
      if (l === 0 && E === 0) uniform(lp.Wih, k, rng);
      else uniform(lp.Wih, Math.sqrt(6 / (I + H)), rng); // a gate block's fan: I in, H out
      for (let g = 0; g < G; g++) {
        const block = lp.Whh.subarray(g * H * H, (g + 1) * H * H);
        if (opts.recurrentInit === 'orthogonal') orthogonal(block, H, opts.recurrentScale, rng);
        else for (let i = 0; i < H * H; i++) block[i] = (rng.normal() * opts.recurrentScale) / Math.sqrt(H);
      }
    }
    const T = opts.chrono ?? 0;
    if (T > 0 && spec.cell !== 'rnn') chrono(lp.bih, lp.bhh!, spec.cell, H, T, rng);
    else if (spec.cell === 'lstm') for (let i = H; i < 2 * H; i++) lp.bih[i] += opts.forgetBias ?? 1; // gates i, f, g, o
  });
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
    if (!spec.tieWeights) uniform(p.Wya, k, rng);
    uniform(p.by, k, rng);
  } else if (!spec.tieWeights) {
    uniform(p.Wya, Math.sqrt(6 / (H + C)), rng);
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
  for (let i = 0; i < w.length; i++) w[i] = (2 * rng.uniform() - 1) * limit;
}

/** An orthogonal n×n matrix times gain: Gram-Schmidt (twice, for stability) on Gaussian rows, in float64. */
function orthogonal(w: Float, n: number, gain: number, rng: Rng): void {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) q[i] = rng.normal();
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        const rj = j * n;
        let d = 0;
        for (let k = 0; k < n; k++) d += q[ri + k] * q[rj + k];
        for (let k = 0; k < n; k++) q[ri + k] -= d * q[rj + k];
      }
    }
    let norm = 0;
    for (let k = 0; k < n; k++) norm += q[ri + k] * q[ri + k];
    norm = Math.sqrt(norm);
    for (let k = 0; k < n; k++) q[ri + k] /= norm;
  }
  for (let i = 0; i < n * n; i++) w[i] = q[i] * gain;
}
