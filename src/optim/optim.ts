// Optimizers over the flat arena. Moments share the parameters' layout. Formulas follow PyTorch's
// torch.optim.Adam/AdamW and SGD(momentum), computed in float32 as PyTorch does (the loops are the
// adamStep/sgdStep kernels). The update of element i depends on element i alone, so any split of
// [0, size) into ranges (one per worker thread) gives the same bits.

import { adamStep, sgdStep, type AdamConsts } from '../model/kernels.js';
import type { Kernels } from '../model/backend/types.js';
import type { SharedArena } from '../util/shared.js';

export interface OptimizerOptions {
  kind: 'adam' | 'sgd';
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  momentum: number;
  /** Decoupled weight decay (AdamW, Loshchilov & Hutter); for SGD, L2 added to the gradient. */
  weightDecay?: number;
}

export const defaultOptimizer: OptimizerOptions = { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0.9, weightDecay: 0 };

export class Optimizer {
  /** Adam: first and second moments; SGD: the momentum buffer in m (v unused, empty). */
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** Updates applied so far (Adam's bias correction uses it). */
  step = 0;

  /**
   * `arena`: the moments go in the parameters' SharedArena, so worker threads can apply the update
   * in slices and the SIMD kernel reaches parameters, gradient and moments in one memory.
   */
  constructor(readonly size: number, public opts: OptimizerOptions, arena?: SharedArena) {
    const alloc = (n: number) => (arena ? arena.float32(n) : new Float32Array(n));
    this.m = alloc(size);
    this.v = alloc(opts.kind === 'adam' ? size : 0);
  }

  /** p −= update(scale·g) over the whole arena, in this thread (on the backend `k` when given). */
  update(p: Float32Array, g: Float32Array, scale = 1, k?: Kernels): void {
    this.step++;
    updateRange(this.opts, this.step, p, g, this.m, this.v, scale, 0, this.size, k);
  }
}

/**
 * The update of elements [lo, hi) at optimizer step `step` (1-based), with gradient scale·g: on the
 * backend `k` (the worker threads' and the pool's), else on kernels.ts's (SIMD where the arrays
 * share a memory). Either gives the same bits.
 */
export function updateRange(
  o: OptimizerOptions, step: number, p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, scale: number, lo: number, hi: number, k?: Kernels,
): void {
  if (o.kind === 'adam') {
    const c = adamConsts(o, step, scale);
    if (k) k.adamStep(p, g, m, v, lo, hi - lo, c);
    else adamStep(p, g, m, v, lo, hi - lo, c);
  } else if (k) k.sgdStep(p, g, m, lo, hi - lo, scale, o.momentum, o.lr, o.weightDecay ?? 0);
  else sgdStep(p, g, m, lo, hi - lo, scale, o.momentum, o.lr, o.weightDecay ?? 0);
}

/** Adam's constants at optimizer step `step` (1-based) with gradient factor `scale` (the kernels take them). */
export function adamConsts(o: OptimizerOptions, step: number, scale: number): AdamConsts {
  const { lr, beta1, beta2, eps } = o;
  return {
    scale, b1: beta1, c1: 1 - beta1, b2: beta2, c2: 1 - beta2,
    stepSize: lr / (1 - Math.pow(beta1, step)),
    sqrtBc2: Math.sqrt(1 - Math.pow(beta2, step)),
    eps,
    decay: 1 - lr * (o.weightDecay ?? 0), // PyTorch AdamW: p *= 1 − lr·wd before the Adam step
  };
}
