// What the cells share: packing the recurrent weight, the step's bias, σ for their pointwise loops.

import type { Kernels } from '../backend/index.js';
import type { Float } from '../kernels.js';
import type { LayerCache, LayerParams } from './types.js';

/** A cache whose step adds b_ih + b_hh in its product (rnn, LSTM): their sum, once per batch. */
export interface SummedBias {
  bsum: Float;
}

/** W_hh (G·H, H) packed as B = W_hhᵀ (K = H, N = G·H) for the forward products h_{t-1}·W_hhᵀ. */
export function packRecurrent(k: Kernels, c: LayerCache, lp: LayerParams): void {
  k.packB(c.Wf, lp.Whh, 0, 1, c.H, c.H, c.G * c.H);
}

/** W_hh packed as B = W_hh (K = G·H, N = H) for the backward products dG_t·W_hh. */
export function packRecurrentBackward(k: Kernels, c: LayerCache, lp: LayerParams): void {
  k.packB(c.Wb, lp.Whh, 0, c.H, 1, c.G * c.H, c.H);
}

/** b_ih + b_hh, once per batch (a layer with one bias uses it as is). */
export function sumBiases(c: SummedBias, lp: LayerParams): void {
  if (!lp.bhh) return;
  const s = c.bsum;
  for (let i = 0; i < s.length; i++) s[i] = lp.bih[i] + lp.bhh[i];
}

/** The bias each step's product adds (rnn, LSTM): both biases, summed. */
export function stepBias(c: SummedBias, lp: LayerParams): Float {
  return lp.bhh ? c.bsum : lp.bih;
}

/** σ(x) = 1/(1 + e^{−x}), in float64: the cells' pointwise loops (a backend's fused kernels have their own). */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
