// Helpers the output heads share.

import type { Float } from '../kernels.js';
import type { Batch } from '../batch.js';

/**
 * The batch's real steps as rows r = t·B + b of the time-major state slabs (t < lengths[b]), in
 * that order, with their targets; returns how many. `rows` and `targets` hold maxT·maxB.
 */
export function realRows(batch: Batch, rows: Int32Array, targets: Int32Array): number {
  const { B, T, lengths } = batch;
  let n = 0;
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      if (t >= lengths[b]) continue;
      rows[n] = t * B + b;
      targets[n++] = batch.targets[b * T + t];
    }
  }
  return n;
}

/** x[o..o+C) ← log softmax(x[o..o+C)) (sums in float64): generation's and prediction's log-probabilities. */
export function logSoftmaxRow(x: Float, o: number, C: number): void {
  let max = -Infinity;
  for (let c = 0; c < C; c++) if (x[o + c] > max) max = x[o + c];
  let sum = 0;
  for (let c = 0; c < C; c++) sum += Math.exp(x[o + c] - max);
  const lse = max + Math.log(sum);
  for (let c = 0; c < C; c++) x[o + c] -= lse;
}

/**
 * x[o..o+C) ← softmax(x[o..o+C)) (sums in float64; one exp per element, which backward then
 * reuses: dlogits = p − onehot(y) is one subtraction); returns log p(at) in float64, from the
 * logits, so a tiny probability keeps its exact log (−1: none, returns 0).
 */
export function softmaxPick(x: Float, o: number, C: number, at = -1): number {
  let max = -Infinity;
  for (let c = 0; c < C; c++) if (x[o + c] > max) max = x[o + c];
  const logit = at >= 0 ? x[o + at] : max;
  let sum = 0;
  for (let c = 0; c < C; c++) {
    const e = Math.exp(x[o + c] - max);
    x[o + c] = e;
    sum += e;
  }
  const picked = at >= 0 ? logit - max - Math.log(sum) : 0;
  const inv = 1 / sum;
  for (let c = 0; c < C; c++) x[o + c] *= inv;
  return picked;
}
