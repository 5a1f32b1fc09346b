// Seeded initialization, following the usual conventions (Keras / PyTorch):
//   Wemb  N(0, 1)                                  (PyTorch nn.Embedding)
//   Wax   one-hot: U(±1/√H)                        (PyTorch nn.RNN; a token's column acts as an embedding of width H)
//         embedding: Glorot uniform U(±√(6/(E+H)))
//   Waa   orthogonal × gain (Saxe et al. 2014; Keras' default recurrent init), or N(0, gain²/H)
//   Wya   Glorot uniform U(±√(6/(H+C)))
//   ba, by  zero

import type { Params } from './params.js';
import type { ModelSpec } from './spec.js';
import { Rng } from '../util/prng.js';
import type { Float } from './kernels.js';

export interface InitOptions {
  recurrentInit: 'orthogonal' | 'normal';
  recurrentScale: number;
}

export const defaultInit: InitOptions = { recurrentInit: 'orthogonal', recurrentScale: 1 };

export function initParams(p: Params, spec: ModelSpec, rng: Rng, opts: InitOptions = defaultInit): void {
  const { V, H, C, E } = spec;
  p.data.fill(0);
  if (E > 0) {
    for (let i = 0; i < V * E; i++) p.Wemb![i] = rng.normal();
    uniform(p.Wax, Math.sqrt(6 / (E + H)), rng);
  } else {
    uniform(p.Wax, 1 / Math.sqrt(H), rng);
  }
  if (opts.recurrentInit === 'orthogonal') orthogonal(p.Waa, H, opts.recurrentScale, rng);
  else for (let i = 0; i < H * H; i++) p.Waa[i] = (rng.normal() * opts.recurrentScale) / Math.sqrt(H);
  uniform(p.Wya, Math.sqrt(6 / (H + C)), rng);
}

function uniform(w: Float, limit: number, rng: Rng): void {
  for (let i = 0; i < w.length; i++) w[i] = (2 * rng.uniform() - 1) * limit;
}

/** An orthogonal n×n matrix times gain: Gram-Schmidt (twice, for stability) on Gaussian rows, in float64. */
function orthogonal(w: Float, n: number, gain: number, rng: Rng): void {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) q[i] = rng.normal();
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        const rj = j * n;
        let d = 0;
        for (let k = 0; k < n; k++) d += q[ri + k] * q[rj + k];
        for (let k = 0; k < n; k++) q[ri + k] -= d * q[rj + k];
      }
    }
    let norm = 0;
    for (let k = 0; k < n; k++) norm += q[ri + k] * q[ri + k];
    norm = Math.sqrt(norm);
    for (let k = 0; k < n; k++) q[ri + k] /= norm;
  }
  for (let i = 0; i < n * n; i++) w[i] = q[i] * gain;
}
