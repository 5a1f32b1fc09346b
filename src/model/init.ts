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
   * What runs the orthogonal blocks' Gram-Schmidt: `native` (the addon, several blocks side by
   * side in SIMD lanes; the default when it is built) or `js` (`orthogonal` below). Same bits.
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
  else if (E > 0) for (let i = 0; i < V * E; i++) p.Wemb![i] = rng.normal();
  const D = p.reverse.length > 0 ? 2 : 1;
  // In table order: each layer's forward direction, then its reverse one (bidirectional).
  const directions = p.layers.flatMap((lp, l) => (D === 2 ? [[lp, l], [p.reverse[l], l]] : [[lp, l]]) as [typeof lp, number][]);
  const gs = !torch && opts.recurrentInit === 'orthogonal' && opts.engine !== 'js' ? nativeOrthogonal() : null;
  const sideBySide = gs ? new OrthogonalGroups(gs, H, directions.length * G, opts.recurrentScale) : null;
  for (const [lp, l] of directions) {
    const I = l > 0 ? D * H : E;
    if (torch) {
      for (const w of [lp.Wih, lp.Whh, lp.bih, lp.bhh]) if (w) uniform(w, k, rng);
    } else {
      if (l === 0 && E === 0) uniform(lp.Wih, k, rng);
      else uniform(lp.Wih, Math.sqrt(6 / (I + H)), rng); // a gate block's fan: I in, H out
      for (let g = 0; g < G; g++) {
        const block = lp.Whh.subarray(g * H * H, (g + 1) * H * H);
        if (sideBySide) yield* sideBySide.add(block, rng);
        else if (opts.recurrentInit === 'orthogonal') yield* orthogonal(block, H, opts.recurrentScale, rng);
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
  for (let i = 0; i < w.length; i++) w[i] = (2 * rng.uniform() - 1) * limit;
}

/**
 * An orthogonal n×n matrix times gain: Gram-Schmidt (twice, for stability) on Gaussian rows, in
 * float64. Row i: two passes over the rows j < i of d = q_i·q_j, q_i −= d·q_j, then q_i /= ‖q_i‖.
 * That is n³ dependent multiply-adds (each dot product's sum runs k = 0..n−1 and needs the last
 * subtraction), so the speed is the latency of the chain; the bits must stay those of the plain
 * loops (seeded runs reproduce), so the sums keep their order. Two things shorten the time:
 * each subtraction is fused into the loop of the next dot product (element k is updated, then
 * used, as in two loops), and row i's second pass runs in the same loop as row i+1's first pass
 * over the same rows j < i (both only need rows that are final): two independent chains.
 * Yields after each row (initParamsAsync).
 */
function* orthogonal(w: Float, n: number, gain: number, rng: Rng): Generator<void> {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    rng.fillNormal(q, i * n, (i + 1) * n); // rng.normal() row by row
    yield;
  }
  // Row b = i + 1's first pass (j < i) runs beside row a = i's second pass; its own step j = i follows.
  let db = 0, rpb = -1; // row i's subtraction still to apply, d·q_rp (none while rp < 0)
  for (let i = 0; i < n; i++) {
    const ra = i * n, rb = ra + n, last = i + 1 < n;
    // Row a: its first pass ended (at i − 1) in the last phase; then its step j = i − 1 was left pending.
    let da = db, rpa = rpb;
    if (i > 0) {
      // j = 0: the two rows' pending subtractions differ (row b has none yet).
      da = subtractDot(q, ra, rpa, da, 0, n);
      if (last) db = subtractDot(q, rb, -1, 0, 0, n);
      for (let j = 1; j < i; j++) {
        const rj = j * n, rp = rj - n;
        let sa = 0, sb = 0;
        if (last) {
          for (let k = 0; k < n; k++) {
            const p = q[rp + k], c = q[rj + k];
            const xa = q[ra + k] - da * p;
            q[ra + k] = xa;
            sa += xa * c;
            const xb = q[rb + k] - db * p;
            q[rb + k] = xb;
            sb += xb * c;
          }
          db = sb;
        } else {
          sa = subtractDot(q, ra, rp, da, rj, n);
        }
        da = sa;
      }
      rpa = (i - 1) * n;
    }
    const norm = Math.sqrt(subtractDot(q, ra, rpa, da, ra, n));
    for (let k = 0; k < n; k++) q[ra + k] /= norm;
    // Row b's first pass, last step: j = i, now final.
    if (last) {
      db = subtractDot(q, rb, i > 0 ? (i - 1) * n : -1, db, ra, n);
      rpb = ra;
    }
    yield;
  }
  for (let i = 0; i < n * n; i++) w[i] = q[i] * gain;
}
/** q_i −= d·q_rp (when rp >= 0), then the dot product q_i·q_rj (rows at offsets ri, rp, rj of q, length n). */
function subtractDot(q: Float64Array, ri: number, rp: number, d: number, rj: number, n: number): number {
  let dot = 0;
  if (rp < 0) {
    for (let k = 0; k < n; k++) dot += q[ri + k] * q[rj + k];
  } else {
    for (let k = 0; k < n; k++) {
      const x = q[ri + k] - d * q[rp + k];
      q[ri + k] = x;
      dot += x * q[rj + k];
    }
  }
  return dot;
}

/**
 * `orthogonal` for all of a model's W_hh blocks (all n×n) on the native Gram-Schmidt, with the
 * same bits: each block's normals are drawn at its turn (the rng's order is unchanged) into a
 * group of up to `lanes` blocks (the native code interleaves them), and once a group's last block is drawn its
 * blocks are orthogonalized side by side, one per SIMD lane (native/orthogonal.h), a few rows per
 * call, yielding between calls. A group of a width other than 1, 2, 4, 8 runs in the next one up,
 * the spare lanes copying the first block.
 */
class OrthogonalGroups {
  private buffer: Float64Array | null = null;
  private q: Float64Array = new Float64Array(0);
  private blocks: Float[] = [];
  private size = 0; // blocks in the current group
  private W = 0; // its interleave width
  private R = 0; // its row stride
  constructor(private readonly gs: NativeOrthogonal, private readonly n: number, private left: number, private readonly gain: number) {}

  *add(w: Float, rng: Rng): Generator<void> {
    const { n } = this;
    if (this.blocks.length === 0) {
      this.size = Math.min(this.gs.lanes, this.left);
      this.W = 1 << Math.ceil(Math.log2(this.size));
      this.R = n * this.W + 8; // a row stride off multiples of 4 KiB (native/orthogonal.h)
      this.buffer ??= new Float64Array(n * this.R); // the first group is the widest
      this.q = this.buffer.subarray(0, n * this.R);
    }
    const { q, W, R } = this, lane = this.blocks.length;
    this.blocks.push(w);
    this.left--;
    for (let i = 0; i < n; i++) {
      rng.fillNormal(q, i * R + lane * n, i * R + (lane + 1) * n); // rng.normal() row by row, as drawn (native/orthogonal.h)
      yield;
    }
    if (this.blocks.length === this.size) yield* this.finish();
  }

  private *finish(): Generator<void> {
    const { n, q, W, R, blocks, gain } = this;
    for (let i = 0; i < n; i++) for (let l = blocks.length; l < W; l++) q.copyWithin(i * R + l * n, i * R, i * R + n);
    // Row i costs about 2·i·n·W multiply-adds: calls of up to ~8M (a few ms) keep Ctrl-C responsive.
    for (let i0 = 0; i0 < n;) {
      let i1 = i0, work = 0;
      while (i1 < n && work < 1 << 23) work += 2 * (i1++ + 1) * n * W;
      this.gs.rows(q, n, W, R, i0, i1);
      i0 = i1;
      yield;
    }
    blocks.forEach((w, l) => {
      for (let i = 0; i < n; i++) scaled(w, i * n, q, i * R + l, W, gain, n);
    });
    this.blocks = [];
  }
}
/** dst[at + k] = src[from + k·stride]·gain, k < n (outside the generator: hot loops optimize better in plain functions) */
function scaled(dst: Float, at: number, src: Float64Array, from: number, stride: number, gain: number, n: number): void {
  for (let k = 0; k < n; k++) dst[at + k] = src[from + k * stride] * gain;
}
