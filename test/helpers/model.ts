// Shared helpers for model tests: random specs, batches and parameters, and an independent
// naive float64 RNN (plain loops over nested arrays, no kernels) used as a reference.

import { Rng } from '../../src/util/prng.js';
import type { ModelSpec } from '../../src/model/spec.js';
import { makeLayout, allocParams, type Params } from '../../src/model/params.js';
import { initParams } from '../../src/model/init.js';
import { batchFrom, type Batch } from '../../src/model/batch.js';

export function randomParams(spec: ModelSpec, seed: number, dtype: 'float32' | 'float64' = 'float64', scale = 1): Params {
  const p = allocParams(makeLayout(spec), dtype);
  initParams(p, spec, new Rng(seed));
  // Nonzero biases too, so their gradients are exercised.
  const r = new Rng(seed + 1000);
  for (let i = 0; i < p.ba.length; i++) p.ba[i] = 0.1 * r.normal();
  for (let i = 0; i < p.by.length; i++) p.by[i] = 0.1 * r.normal();
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

/**
 * The classic derivation, written out naively: returns the mean loss. `hold(b, t)` may return a
 * fixed state to use as a_t when computing a_{t+1} (to build truncated-BPTT references).
 */
export function naiveLoss(spec: ModelSpec, p: Params, batch: Batch, hold?: (b: number, t: number) => number[] | null): { loss: number; states: number[][][] } {
  const { H, C, E } = spec;
  let lossSum = 0, count = 0;
  const states: number[][][] = [];
  for (let b = 0; b < batch.B; b++) {
    let a = new Array(H).fill(0);
    const seqStates: number[][] = [a];
    for (let t = 0; t < batch.lengths[b]; t++) {
      const tok = batch.tokens[b * batch.T + t];
      const x = E > 0 ? row(p, 'Wemb', tok, E) : null;
      const next = new Array(H).fill(0);
      for (let i = 0; i < H; i++) {
        let z = p.ba[i];
        for (let j = 0; j < H; j++) z += p.Waa[i * H + j] * a[j];
        if (x) for (let k = 0; k < E; k++) z += p.Wax[i * E + k] * x[k];
        else z += p.Wax[tok * H + i]; // Wax stored (V, H): column tok of the H×V matrix
        next[i] = Math.tanh(z);
      }
      a = hold?.(b, t + 1) ?? next;
      seqStates.push(next);
      const isOut = spec.task === 'many-to-many' || t === batch.lengths[b] - 1;
      if (isOut) {
        const logits = new Array(C).fill(0).map((_, c) => {
          let s = p.by[c];
          for (let i = 0; i < H; i++) s += p.Wya[c * H + i] * next[i];
          return s;
        });
        const mx = Math.max(...logits);
        const lse = mx + Math.log(logits.reduce((s, l) => s + Math.exp(l - mx), 0));
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
