// What the cells share: packing the recurrent weight and the step's bias.

import type { Kernels } from '../backend/index.js';
import type { LayerParams } from '../params.js';
import type { Float } from '../kernels.js';
import type { LayerCache } from './types.js';

/** W_hh (G·H, H) packed as B = W_hhᵀ (K = H, N = G·H) for the forward products h_{t-1}·W_hhᵀ. */
export function packRecurrent(k: Kernels, c: LayerCache, lp: LayerParams): void {
  k.packB(c.Wf, lp.Whh, 0, 1, c.H, c.H, c.G * c.H);
}

/** W_hh packed as B = W_hh (K = G·H, N = H) for the backward products dG_t·W_hh. */
export function packRecurrentBackward(k: Kernels, c: LayerCache, lp: LayerParams): void {
  k.packB(c.Wb, lp.Whh, 0, c.H, 1, c.G * c.H, c.H);
}

/** b_ih + b_hh, once per batch (a layer with one bias uses it as is). */
export function sumBiases(c: LayerCache, lp: LayerParams): void {
  if (!lp.bhh) return;
  const s = c.bsum!;
  for (let i = 0; i < s.length; i++) s[i] = lp.bih[i] + lp.bhh[i];
}

/** The bias each step's product adds (rnn, LSTM): both biases, summed. */
export function stepBias(c: LayerCache, lp: LayerParams): Float {
  return lp.bhh ? c.bsum! : lp.bih;
}
