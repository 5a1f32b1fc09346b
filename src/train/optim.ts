// Optimizers, as loops over the flat arena. Moments share the parameters' layout. Formulas follow
// PyTorch's torch.optim.Adam and SGD(momentum). The update of element i depends on element i
// alone, so any split of [0, size) into ranges (one per worker thread) gives the same bits.

import type { Float } from '../model/kernels.js';
import { sharedFloat32 } from '../util/shared.js';

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

  /** `shared`: moments on SharedArrayBuffers, so worker threads can apply the update in slices. */
  constructor(readonly size: number, public opts: OptimizerOptions, shared = false) {
    const alloc = (n: number) => (shared ? sharedFloat32(n) : new Float32Array(n));
    this.m = alloc(size);
    this.v = alloc(opts.kind === 'adam' ? size : 0);
  }

  /** p −= update(scale·g) over the whole arena, in this thread. */
  update(p: Float, g: Float, scale = 1): void {
    this.step++;
    updateRange(this.opts, this.step, p, g, this.m, this.v, scale, 0, this.size);
  }
}

/** The update of elements [lo, hi) at optimizer step `step` (1-based), with gradient scale·g. */
export function updateRange(
  o: OptimizerOptions, step: number, p: Float, g: Float, m: Float32Array, v: Float32Array, scale: number, lo: number, hi: number,
): void {
  const { lr, beta1, beta2, eps, momentum } = o;
  const wd = o.weightDecay ?? 0;
  if (o.kind === 'adam') {
    const stepSize = lr / (1 - Math.pow(beta1, step));
    const sqrtBc2 = Math.sqrt(1 - Math.pow(beta2, step));
    const c1 = 1 - beta1, c2 = 1 - beta2;
    const decay = 1 - lr * wd; // PyTorch AdamW: p *= 1 − lr·wd before the Adam step
    for (let i = lo; i < hi; i++) {
      const gi = g[i] * scale;
      const mi = (m[i] = beta1 * m[i] + c1 * gi);
      const vi = (v[i] = beta2 * v[i] + c2 * gi * gi);
      const pi = wd > 0 ? p[i] * decay : p[i];
      p[i] = pi - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
    }
  } else {
    for (let i = lo; i < hi; i++) {
      const b = (m[i] = momentum * m[i] + g[i] * scale + wd * p[i]);
      p[i] -= lr * b;
    }
  }
}
