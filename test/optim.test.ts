// The optimizers against the update rules as PyTorch documents them (torch.optim.Adam, AdamW, SGD
// with momentum), written out naively in float64; and the update split into ranges (one per
// worker thread) is bit-identical to the whole.

import t from 'tap';
import { Optimizer, updateRange, type OptimizerOptions } from '../src/optim/optim.js';
import { Rng } from '../src/util/prng.js';

function reference(o: OptimizerOptions, p0: number[], grads: number[][]): number[] {
  const p = [...p0], m = p0.map(() => 0), v = p0.map(() => 0);
  grads.forEach((g, s) => {
    const step = s + 1;
    for (let i = 0; i < p.length; i++) {
      if (o.kind === 'adam') {
        p[i] *= 1 - o.lr * (o.weightDecay ?? 0); // AdamW: decoupled decay
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
        const mhat = m[i] / (1 - o.beta1 ** step), vhat = v[i] / (1 - o.beta2 ** step);
        p[i] -= (o.lr * mhat) / (Math.sqrt(vhat) + o.eps);
      } else {
        const d = g[i] + (o.weightDecay ?? 0) * p[i];
        m[i] = o.momentum * m[i] + d; // PyTorch's buffer: b = μ·b + d (dampening 0)
        p[i] -= o.lr * m[i];
      }
    }
  });
  return p;
}

const base = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0.9 };
for (const o of [
  { ...base, kind: 'adam', weightDecay: 0 },
  { ...base, kind: 'adam', weightDecay: 0.1 },
  { ...base, kind: 'sgd', weightDecay: 0 },
  { ...base, kind: 'sgd', weightDecay: 0.01 },
] as OptimizerOptions[]) {
  t.test(`${o.kind}${o.weightDecay ? ` with weight decay ${o.weightDecay}` : ''} follows the documented update`, async (t) => {
    const r = new Rng(3);
    const n = 64, steps = 20;
    const p0 = Array.from({ length: n }, () => r.normal());
    const grads = Array.from({ length: steps }, () => Array.from({ length: n }, () => r.normal() * 0.1));
    const want = reference(o, p0, grads);
    const p = Float32Array.from(p0);
    const opt = new Optimizer(n, o);
    // Gradient sums of a batch of 4, scaled by 1/4 inside the update (as the trainer does).
    for (const g of grads) opt.update(p, Float32Array.from(g, (x) => x * 4), 0.25);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(p[i] - want[i]) / Math.max(1e-3, Math.abs(want[i])));
    t.ok(worst < 1e-5, `max relative difference to the float64 reference: ${worst.toExponential(2)}`);
  });
}

t.test('the update split into ranges equals the update of the whole, bit for bit', async (t) => {
  const o: OptimizerOptions = { ...base, kind: 'adam', weightDecay: 0.05 };
  const r = new Rng(9);
  const n = 1000;
  const p0 = Float32Array.from({ length: n }, () => r.normal());
  const g = Float32Array.from({ length: n }, () => r.normal());
  const whole = Float32Array.from(p0), parts = Float32Array.from(p0);
  const m1 = new Float32Array(n), v1 = new Float32Array(n), m2 = new Float32Array(n), v2 = new Float32Array(n);
  for (let step = 1; step <= 5; step++) {
    updateRange(o, step, whole, g, m1, v1, 0.5, 0, n);
    for (const [lo, hi] of [[0, 336], [336, 672], [672, 1000]]) updateRange(o, step, parts, g, m2, v2, 0.5, lo, hi);
  }
  t.ok(Buffer.from(whole.buffer).equals(Buffer.from(parts.buffer)));
});
