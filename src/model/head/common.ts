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
