// The vanilla (Elman) cell:  h_t = tanh(W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh)
// (layer 0 under the classic names: a_t = tanh(Waa·a_{t-1} + Wax·x_t + ba)). The input
// projection is written straight into the state slabs; each step's product accumulates onto it,
// adds the bias and applies tanh in its epilogue, so a step is one kernel call.
//
// Backward:  dz_t = dL/dh_t ⊙ (1 − h_t²);  dL/dh_{t-1} = W_hhᵀ·dz_t (the driver's product).
// On a backend with the time loops (Kernels.rnnSteps/rnnStepsBackward) all T steps are one call
// each way: the per-step calls' fixed cost is a large share of a small layer's (H = 64, 16 rows).

import { Epi, type Kernels } from '../backend/index.js';
import type { Cell, LayerCache, LayerParams, Backflow, BackScratch } from './types.js';
import { packRecurrent, sumBiases, stepBias, type SummedBias } from './common.js';

type RnnCache = LayerCache & SummedBias;

export const rnnCell: Cell<RnnCache> = {
  name: 'rnn',
  G: 1,
  states: ['h'],
  keepsDh: false,

  alloc(k: Kernels, maxB: number, maxT: number, H: number): RnnCache {
    const Hs = k.floats((maxT + 1) * maxB * H), dG = k.floats(maxT * maxB * H);
    return {
      H, G: 1, states: [Hs], Hs, Gx: Hs, dG, dGh: dG,
      Wf: k.floats(k.packedSize(H, H)), Wb: k.floats(k.packedSize(H, H)), bsum: k.floats(H),
    };
  },

  slab: (c, B) => [c.Hs, B * c.H], // W_ih·x_t goes into h_t's slab, which the step then completes

  prepare(k: Kernels, c: RnnCache, lp: LayerParams): void {
    packRecurrent(k, c, lp);
    sumBiases(c, lp);
  },

  step(k: Kernels, c: RnnCache, lp: LayerParams, B: number, t: number, r: number): void {
    const H = c.H;
    k.gemmPacked(c.Hs, t * B * H, H, c.Hs, (t - 1) * B * H, H, 1, c.Wf, r, H, H, 1, stepBias(c, lp), Epi.Tanh);
  },

  stepBackward(k: Kernels, c: RnnCache, _lp: LayerParams, B: number, t: number, r: number, s: BackScratch): void {
    const H = c.H;
    k.tanhBackward(c.dG, (t - 1) * B * H, s.dh, 0, c.Hs, t * B * H, r * H); // dz_t = dh ⊙ (1 − h_t²)
  },

  steps(k: Kernels, c: RnnCache, lp: LayerParams, B: number, T: number, R: Int32Array): boolean {
    if (!k.rnnSteps) return false;
    k.rnnSteps(c.Hs, c.Wf, stepBias(c, lp), R, B, T, c.H);
    return true;
  },

  stepsBackward(k: Kernels, c: RnnCache, _lp: LayerParams, B: number, T: number, R: Int32Array, flow: Backflow, s: BackScratch): boolean {
    if (!k.rnnStepsBackward) return false;
    k.rnnStepsBackward(c.dG, s.dh, c.Hs, c.Wb, R, B, T, c.H, flow.inflow);
    return true;
  },
};
