// One optimization step, shared by the single-process loop and the parallel coordinator:
// gradient SUMS (from one shard or reduced over many) → mean → clip by global norm → update.
//
// The token table (Wax with one-hot input, Wemb with an embedding) is the bulk of the parameters
// (V rows), but a batch touches only the rows of its tokens: gradient buffers are kept zero
// outside those rows, so zeroing, scaling and norms visit the dense part plus touched rows only.

import type { Layout, Params } from '../model/params.js';
import type { Float } from '../model/kernels.js';
import { sumSquares, fill } from '../model/kernels.js';
import type { Optimizer } from './optim.js';
import type { Kernels } from '../model/backend/types.js';

/**
 * The token-indexed table is the first tensor of every layout (see paramTable). With tied weights
 * its gradient is dense (the output layer writes every row): the dense part is then the whole
 * arena, from 0, and no rows are listed (the forward pass reports none touched).
 */
export function tokenRows(layout: Layout): { width: number; denseStart: number } {
  const t = layout.tensors[0];
  return { width: t.shape[1], denseStart: layout.sparseRows ? t.offset + Math.ceil(t.size / 4) * 4 : 0 };
}

/** Zero a gradient buffer that is nonzero at most in the dense part and the given token rows. */
export function zeroGrad(layout: Layout, g: Float, rows: Int32Array, nRows: number): void {
  const { width, denseStart } = tokenRows(layout);
  fill(g, denseStart, layout.size - denseStart, 0);
  // Its own loop, not fill(): a batch touches hundreds of rows of a few dozen values, and a call
  // of TypedArray.fill per row costs more than the stores (this loop's stores see one array type).
  for (let i = 0; i < nRows; i++) for (let j = rows[i] * width, e = j + width; j < e; j++) g[j] = 0;
}

export interface UpdateStats {
  gradNorm: number; // global norm of the mean gradient, before clipping
  clipped: boolean;
  finite: boolean; //  false: the gradient is not finite; nothing may be updated
  /** The factor that turns the gradient sums into the (clipped) mean. */
  scale: number;
}

/**
 * g holds gradient sums over `count` sequences (many-to-one) or real tokens (many-to-many), nonzero
 * only in the dense part and the listed token rows: the norm of their mean, and the one factor
 * (1/count, times the clipping factor) the optimizer applies to them.
 */
export function prepareUpdate(layout: Layout, g: Float, rows: Int32Array, nRows: number, count: number, clipNorm: number): UpdateStats {
  const { width, denseStart } = tokenRows(layout);
  // The same sums, in the same order, as the coordinator's reduction with one worker.
  let sq = sumSquares(g, denseStart, layout.size - denseStart);
  for (let i = 0; i < nRows; i++) sq += sumSquares(g, rows[i] * width, width);
  return clipScale(sq, count, clipNorm);
}

/** From Σ g² of the gradient sums: the mean's norm, whether it is clipped, and the factor to apply. */
export function clipScale(sumSq: number, count: number, clipNorm: number): UpdateStats {
  const gradNorm = Math.sqrt(sumSq) / count;
  if (!Number.isFinite(gradNorm)) return { gradNorm, clipped: false, finite: false, scale: 0 };
  const clipped = clipNorm > 0 && gradNorm > clipNorm;
  const scale = (1 / count) * (clipped ? clipNorm / (gradNorm + 1e-6) : 1);
  return { gradNorm, clipped, finite: true, scale };
}

/**
 * The update of a batch from its totals (every step path decides by this): clipScale of Σ g²,
 * and nothing to apply (finite false) when the loss sum is not finite either.
 */
export function stepUpdate(lossSum: number, count: number, sumSq: number, clipNorm: number): UpdateStats {
  const c = clipScale(sumSq, count, clipNorm);
  if (!Number.isFinite(lossSum)) c.finite = false;
  return c;
}

/** prepareUpdate, then the optimizer step in this thread (the single-process loop), on the backend `k` when given. */
export function applyUpdate(
  p: Params, g: Params, rows: Int32Array, nRows: number, count: number, opt: Optimizer, clipNorm: number, k?: Kernels,
): UpdateStats {
  const u = prepareUpdate(p.layout, g.data, rows, nRows, count, clipNorm);
  if (u.finite) opt.update(p.data as Float32Array, g.data as Float32Array, u.scale, k);
  return u;
}
