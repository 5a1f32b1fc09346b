// Shared helpers for model tests: random specs, batches and parameters, and an independent
// naive float64 RNN (plain loops over nested arrays, no kernels) used as a reference.

import { Rng } from '../../src/util/prng.js';
import type { ModelSpec } from '../../src/model/spec.js';
import { makeLayout, allocParams, type Params } from '../../src/model/params.js';
import { initParams } from '../../src/model/init.js';
import { batchFrom, type Batch } from '../../src/model/batch.js';
import { factoryOf, type BackendName } from '../../src/model/backend/index.js';

export function randomParams(spec: ModelSpec, seed: number, dtype: 'float32' | 'float64' = 'float64', scale = 1): Params {
  const p = allocParams(makeLayout(spec), dtype);
  initParams(p, spec, new Rng(seed));
  // Nonzero biases too, so their gradients are exercised.
  const r = new Rng(seed + 1000);
  for (let i = 0; i < p.layers[0].bih.length; i++) p.layers[0].bih[i] = 0.1 * r.normal(); // layer 0's b_ih (the vanilla cell's ba)
  for (let i = 0; i < p.by.length; i++) p.by[i] = 0.1 * r.normal();
  p.layers.forEach((lp, l) => {
    for (const b of [l > 0 ? lp.bih : null, lp.bhh]) if (b) for (let i = 0; i < b.length; i++) b[i] = 0.1 * r.normal();
  });
  if (scale !== 1) for (let i = 0; i < p.data.length; i++) p.data[i] *= scale;
  return p;
}

/** Random sequences with the given lengths; tokens in [1, V) (0 is padding). */
export function randomBatch(spec: ModelSpec, lengths: number[], seed: number, T?: number): Batch {
  const r = new Rng(seed);
  const seqs = lengths.map((n) => Array.from({ length: n }, () => 1 + r.int(spec.V - 1)));
  if (spec.task === 'many-to-one') return batchFrom(seqs, { labels: lengths.map(() => r.int(spec.C)), T });
  return batchFrom(seqs, { targets: seqs.map((s) => s.map(() => r.int(spec.C))), T });
}

function row(p: Params, name: 'Wemb', i: number, n: number): number[] {
  return Array.from(p[name]!.subarray(i * n, i * n + n));
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** One layer's state: h, and c for the LSTM. */
export interface NaiveState { h: number[]; c: number[] }

/**
 * One step of one layer, written out from the equations (PyTorch's, gates stacked in its order):
 * x is the input vector, or null with `tok` for a one-hot layer 0 (its weight stored (V, G·H)).
 */
function naiveCell(spec: ModelSpec, p: Params, l: number, x: number[] | null, tok: number, s: NaiveState): NaiveState {
  const { H } = spec, lp = p.layers[l], G = p.G, I = x ? x.length : 0;
  const gi = new Array(G * H).fill(0), gh = new Array(G * H).fill(0);
  for (let i = 0; i < G * H; i++) {
    let a = lp.bih[i];
    if (x) for (let k = 0; k < I; k++) a += lp.Wih[i * I + k] * x[k];
    else a += lp.Wih[tok * G * H + i];
    gi[i] = a;
    let b = lp.bhh ? lp.bhh[i] : 0;
    for (let k = 0; k < H; k++) b += lp.Whh[i * H + k] * s.h[k];
    gh[i] = b;
  }
  const h = new Array(H).fill(0), c = new Array(H).fill(0);
  for (let j = 0; j < H; j++) {
    if (spec.cell === 'rnn') {
      h[j] = Math.tanh(gi[j] + gh[j]);
    } else if (spec.cell === 'lstm') {
      const i = sigmoid(gi[j] + gh[j]), f = sigmoid(gi[H + j] + gh[H + j]);
      const g = Math.tanh(gi[2 * H + j] + gh[2 * H + j]), o = sigmoid(gi[3 * H + j] + gh[3 * H + j]);
      c[j] = f * s.c[j] + i * g;
      h[j] = o * Math.tanh(c[j]);
    } else {
      const r = sigmoid(gi[j] + gh[j]), z = sigmoid(gi[H + j] + gh[H + j]);
      const n = Math.tanh(gi[2 * H + j] + r * gh[2 * H + j]);
      h[j] = (1 - z) * n + z * s.h[j];
    }
  }
  return { h, c };
}

/**
 * The model written out naively (nested arrays, plain loops, no kernels): returns the mean loss
 * and every state (states[b][t][l], t = 0 the initial state). `hold(b, t)` may return fixed
 * states to use as step t's when computing step t+1 (to build truncated-BPTT references); `init(b)`
 * the initial states (zero by default).
 */
export function naiveLoss(spec: ModelSpec, p: Params, batch: Batch, hold?: (b: number, t: number) => NaiveState[] | null,
  init?: (b: number) => NaiveState[]): { loss: number; states: NaiveState[][][] } {
  const { H, C, E } = spec;
  const L = p.layers.length;
  let lossSum = 0, count = 0;
  const states: NaiveState[][][] = [];
  for (let b = 0; b < batch.B; b++) {
    let s: NaiveState[] = init?.(b) ?? Array.from({ length: L }, () => ({ h: new Array(H).fill(0), c: new Array(H).fill(0) }));
    const seqStates: NaiveState[][] = [s];
    for (let t = 0; t < batch.lengths[b]; t++) {
      const tok = batch.tokens[b * batch.T + t];
      const next: NaiveState[] = [];
      let x: number[] | null = E > 0 ? row(p, 'Wemb', tok, E) : null;
      for (let l = 0; l < L; l++) {
        next.push(naiveCell(spec, p, l, x, tok, s[l]));
        x = next[l].h;
      }
      s = hold?.(b, t + 1) ?? next;
      seqStates.push(next);
      const top = next[L - 1].h;
      const isOut = spec.task === 'many-to-many' || t === batch.lengths[b] - 1;
      if (isOut) {
        const logits = new Array(C).fill(0).map((_, c) => {
          let v = p.by[c];
          for (let i = 0; i < H; i++) v += p.Wya[c * H + i] * top[i];
          return v;
        });
        const mx = Math.max(...logits);
        const lse = mx + Math.log(logits.reduce((v, l) => v + Math.exp(l - mx), 0));
        const y = spec.task === 'many-to-one' ? batch.labels[b] : batch.targets[b * batch.T + t];
        lossSum += lse - logits[y];
        count++;
      }
    }
    states.push(seqStates);
  }
  return { loss: lossSum / count, states };
}

/** Largest elementwise relative difference, |a−b| / max(|a|, |b|, floor). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-7): { rel: number; at: number } {
  let rel = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), Math.abs(b[i]), floor);
    if (d > rel) { rel = d; at = i; }
  }
  return { rel, at };
}

import type { EncodedSplit } from '../../src/data/index.js';
import { toShared } from '../../src/util/shared.js';

/**
 * A synthetic split on shared memory, for parallel tests: random sequences of lengths in
 * [minLen, maxLen]; many-to-one labels = (first token) mod C; many-to-many streams carry one
 * extra token for the shifted targets.
 */
export function syntheticSplit(spec: ModelSpec, count: number, minLen: number, maxLen: number, seed: number): EncodedSplit {
  const r = new Rng(seed);
  const toks: number[] = [], starts: number[] = [], lengths: number[] = [], labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const L = minLen + r.int(maxLen - minLen + 1);
    starts.push(toks.length);
    lengths.push(L);
    for (let t = 0; t < L + (spec.task === 'many-to-many' ? 1 : 0); t++) toks.push(1 + r.int(spec.V - 1));
    if (spec.task === 'many-to-one') labels.push(toks[starts[i]] % spec.C);
  }
  return {
    name: 'train', count,
    tokens: toShared(Int32Array.from(toks)), starts: toShared(Int32Array.from(starts)),
    lengths: toShared(Int32Array.from(lengths)), labels: toShared(Int32Array.from(labels)),
  };
}

/**
 * Central finite differences of `loss` for every parameter tensor, against `analytic` (the same
 * layout as p.data): one assertion per tensor, max relative error below 1e-4.
 */
export function checkAgainstFiniteDifferences(t: Tap.Test, p: Params, analytic: ArrayLike<number>, loss: () => number, eps = 1e-5): void {
  for (const tensor of p.layout.tensors) {
    const numeric = new Float64Array(tensor.size);
    for (let i = 0; i < tensor.size; i++) {
      const k = tensor.offset + i;
      const old = p.data[k];
      p.data[k] = old + eps;
      const lp = loss();
      p.data[k] = old - eps;
      const lm = loss();
      p.data[k] = old;
      numeric[i] = (lp - lm) / (2 * eps);
    }
    const a = Array.prototype.slice.call(analytic, tensor.offset, tensor.offset + tensor.size) as number[];
    const { rel, at } = maxRelDiff(a, numeric);
    t.ok(rel < 1e-4, `${tensor.name} [${tensor.shape}]: max relative error ${rel.toExponential(2)}` + (rel >= 1e-4 ? ` at ${at}: analytic ${a[at]} vs fd ${numeric[at]}` : ''));
  }
}

/**
 * The compute backends that load on this machine (js always); each one missing is reported
 * once, with the reason, as a test comment.
 */
export function availableBackends(t: { comment(s: string): void }): BackendName[] {
  const out: BackendName[] = ['js'];
  for (const name of ['wasm', 'native'] as const) {
    const f = factoryOf(name);
    if ('error' in f) t.comment(`${name} kernels not tested here: ${f.error}`);
    else out.push(name);
  }
  return out;
}
