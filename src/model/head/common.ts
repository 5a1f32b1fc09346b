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

/** x[o..o+C) ← log softmax(x[o..o+C)) (sums in float64); returns the log-probability at `at` in float64 (−1: none). */
export function logSoftmaxRow(x: Float, o: number, C: number, at = -1): number {
  let max = -Infinity;
  for (let c = 0; c < C; c++) if (x[o + c] > max) max = x[o + c];
  let sum = 0;
  for (let c = 0; c < C; c++) sum += Math.exp(x[o + c] - max);
  const lse = max + Math.log(sum);
  const picked = at >= 0 ? x[o + at] - lse : 0;
  for (let c = 0; c < C; c++) x[o + c] -= lse;
  return picked;
}

/** dlogits from log-probabilities in place: x ← exp(x) − onehot(y), the gradient of −log p(y). */
export function dlogitsRow(x: Float, o: number, C: number, y: number): void {
  for (let c = 0; c < C; c++) x[o + c] = Math.exp(x[o + c]);
  x[o + y] -= 1;
}
