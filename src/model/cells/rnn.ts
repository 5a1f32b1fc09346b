// The vanilla (Elman) cell:  h_t = tanh(W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh)
// (layer 0 under the classic names: a_t = tanh(Waa·a_{t-1} + Wax·x_t + ba)). The input
// projection is written straight into the state slabs; each step's product accumulates onto it,
// adds the bias and applies tanh in its epilogue, so a step is one kernel call.
//
// Backward:  dz_t = dL/dh_t ⊙ (1 − h_t²);  dL/dh_{t-1} = W_hhᵀ·dz_t.

import { Epi, type Kernels } from '../backend/index.js';
import type { LayerParams } from '../params.js';
import { fill } from '../kernels.js';
import type { Cell, LayerCache, Backflow, BackScratch } from './types.js';
import { packRecurrent, packRecurrentBackward, sumBiases, stepBias } from './common.js';

export const rnnCell: Cell = {
  name: 'rnn',
  G: 1,

  alloc(k: Kernels, maxB: number, maxT: number, H: number): LayerCache {
    const Hs = k.floats((maxT + 1) * maxB * H);
    return {
      H, G: 1, Hs, Cs: null, Gx: Hs, Gh: null, dG: k.floats(maxT * maxB * H), dGh: null,
      Wf: k.floats(k.packedSize(H, H)), Wb: k.floats(k.packedSize(H, H)), bsum: k.floats(H),
    };
  },

  slab: (c, B) => [c.Hs, B * c.H], // W_ih·x_t goes into h_t's slab, which the step then completes

  prepare(k: Kernels, c: LayerCache, lp: LayerParams): void {
    packRecurrent(k, c, lp);
    sumBiases(c, lp);
  },

  step(k: Kernels, c: LayerCache, lp: LayerParams, B: number, t: number, r: number): void {
    const H = c.H;
    k.gemmPacked(c.Hs, t * B * H, H, c.Hs, (t - 1) * B * H, H, 1, c.Wf, r, H, H, 1, stepBias(c, lp), Epi.Tanh);
  },

  backward(k: Kernels, c: LayerCache, lp: LayerParams, B: number, T: number, R: Int32Array, flow: Backflow, s: BackScratch): void {
    packRecurrentBackward(k, c, lp);
    const { H, Hs, dG } = c, dh = s.dh;
    fill(dh, 0, B * H, 0);
    for (let t = T; t >= 1; t--) {
      const r = R[t], zt = (t - 1) * B * H;
      flow.enter(dh, t, r);
      k.tanhBackward(dG, zt, dh, 0, Hs, t * B * H, r * H); //                  dz_t = dh ⊙ (1 − h_t²)
      flow.zeroPastEnd(dG, zt, H, t, r);
      fill(dG, zt + r * H, (B - r) * H, 0);
      if (flow.flows(t)) {
        k.gemmPacked(dh, 0, H, dG, zt, H, 1, c.Wb, r, H, H, 0, null, Epi.None); // dL/dh_{t-1} = W_hhᵀ·dz_t
        fill(dh, r * H, (B - r) * H, 0);
      } else {
        fill(dh, 0, B * H, 0);
      }
    }
  },
};
