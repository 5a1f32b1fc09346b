// One optimization step, shared by the single-process loop and the parallel coordinator:
// gradient SUMS (from one shard or reduced over many) → mean → clip by global norm → update.
//
// The token table (Wax with one-hot input, Wemb with an embedding) is the bulk of the parameters
// (V rows), but a batch touches only the rows of its tokens: gradient buffers are kept zero
// outside those rows, so zeroing, scaling and norms visit the dense part plus touched rows only.

import type { Layout, Params } from '../model/params.js';
import type { Float } from '../model/kernels.js';
import { sumSquares, fill, scale } from '../model/kernels.js';
import type { Optimizer } from './optim.js';

/** The token-indexed table is the first tensor of every layout (see paramTable). */
export function tokenRows(layout: Layout): { width: number; denseStart: number } {
  const t = layout.tensors[0];
  return { width: t.shape[1], denseStart: t.offset + Math.ceil(t.size / 4) * 4 };
}

/** Zero a gradient buffer that is nonzero at most in the dense part and the given token rows. */
export function zeroGrad(layout: Layout, g: Float, rows: Int32Array, nRows: number): void {
  const { width, denseStart } = tokenRows(layout);
  fill(g, denseStart, layout.size - denseStart, 0);
  for (let i = 0; i < nRows; i++) fill(g, rows[i] * width, width, 0);
}

/** g *= s over the dense part and the given token rows; returns ‖g‖² over the same (= all of g). */
export function scaleGrad(layout: Layout, g: Float, rows: Int32Array, nRows: number, s: number): number {
  const { width, denseStart } = tokenRows(layout);
  scale(g, denseStart, layout.size - denseStart, s);
  let sq = sumSquares(g, denseStart, layout.size - denseStart);
  for (let i = 0; i < nRows; i++) {
    scale(g, rows[i] * width, width, s);
    sq += sumSquares(g, rows[i] * width, width);
  }
  return sq;
}

export interface UpdateStats {
  gradNorm: number; // global norm of the mean gradient, before clipping
  clipped: boolean;
  finite: boolean; //  false: loss or gradient not finite; nothing was updated
}

/**
 * g holds gradient sums over `count` sequences (many-to-one) or real tokens (many-to-many), nonzero
 * only in the dense part and the listed token rows. Turns them into the mean, clips, updates p.
 */
export function applyUpdate(
  p: Params, g: Params, rows: Int32Array, nRows: number, count: number, opt: Optimizer, clipNorm: number,
): UpdateStats {
  const sq = scaleGrad(p.layout, g.data, rows, nRows, 1 / count);
  const gradNorm = Math.sqrt(sq);
  if (!Number.isFinite(gradNorm)) return { gradNorm, clipped: false, finite: false };
  const clipped = clipNorm > 0 && gradNorm > clipNorm;
  if (clipped) scaleGrad(p.layout, g.data, rows, nRows, clipNorm / (gradNorm + 1e-6));
  opt.update(p.data, g.data);
  return { gradNorm, clipped, finite: true };
}
