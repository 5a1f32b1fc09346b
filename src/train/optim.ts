// Optimizers and gradient clipping, as loops over the flat arena. Moments share the parameters'
// layout. Formulas follow PyTorch's torch.optim.Adam and SGD(momentum) exactly.

import type { Float } from '../model/kernels.js';

export interface OptimizerOptions {
  kind: 'adam' | 'sgd';
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  momentum: number;
}

export const defaultOptimizer: OptimizerOptions = { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0.9 };

export class Optimizer {
  /** Adam: first and second moments; SGD: the momentum buffer in m (v unused, empty). */
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** Updates applied so far (Adam's bias correction uses it). */
  step = 0;

  constructor(readonly size: number, public opts: OptimizerOptions) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(opts.kind === 'adam' ? size : 0);
  }

  /** p −= update(g), in place. */
  update(p: Float, g: Float): void {
    const { lr, beta1, beta2, eps, momentum } = this.opts;
    const n = this.size, m = this.m, v = this.v;
    this.step++;
    if (this.opts.kind === 'adam') {
      const bc1 = 1 - Math.pow(beta1, this.step);
      const bc2 = 1 - Math.pow(beta2, this.step);
      const stepSize = lr / bc1;
      const sqrtBc2 = Math.sqrt(bc2);
      for (let i = 0; i < n; i++) {
        const gi = g[i];
        const mi = (m[i] = beta1 * m[i] + (1 - beta1) * gi);
        const vi = (v[i] = beta2 * v[i] + (1 - beta2) * gi * gi);
        p[i] -= (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const b = (m[i] = momentum * m[i] + g[i]);
        p[i] -= lr * b;
      }
    }
  }
}

/** Global L2 norm of g (in float64). */
export function globalNorm(g: Float): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}
