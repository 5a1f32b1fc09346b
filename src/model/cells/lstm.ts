// LSTM, with PyTorch's equations and gate layout (weights stack the gates i, f, g, o):
//
//   (i, f, g, o)_pre = W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh
//   i = σ(i_pre)  f = σ(f_pre)  g = tanh(g_pre)  o = σ(o_pre)
//   c_t = f ⊙ c_{t-1} + i ⊙ g          h_t = o ⊙ tanh(c_t)
//
// A step is one product of h_{t-1} with the packed W_hh accumulating onto the input projection
// (plus the summed biases), then the pointwise kernel, which leaves the activated gates in the
// projection's slab and writes c_t and h_t. Backward, per step:
//
//   dc = dL/dc_t (from c_{t+1}) + dh ⊙ o ⊙ (1 − tanh²(c_t))
//   d(i, f, g, o)_pre = (dc⊙g⊙i(1−i), dc⊙c_{t-1}⊙f(1−f), dc⊙i⊙(1−g²), dh⊙tanh(c_t)⊙o(1−o))
//   dL/dc_{t-1} = dc ⊙ f          dL/dh_{t-1} = W_hhᵀ·d(i, f, g, o)_pre

import { Epi, type Kernels } from '../backend/index.js';
import type { LayerParams } from '../params.js';
import { fill } from '../kernels.js';
import type { Cell, LayerCache, Backflow, BackScratch } from './types.js';
import { packRecurrent, packRecurrentBackward, sumBiases } from './common.js';

export const lstmCell: Cell = {
  name: 'lstm',
  G: 4,

  alloc(k: Kernels, maxB: number, maxT: number, H: number): LayerCache {
    const GH = 4 * H;
    return {
      H, G: 4, Hs: k.floats((maxT + 1) * maxB * H), Cs: k.floats((maxT + 1) * maxB * H),
      Gx: k.floats(maxT * maxB * GH), Gh: null, dG: k.floats(maxT * maxB * GH), dGh: null,
      Wf: k.floats(k.packedSize(H, GH)), Wb: k.floats(k.packedSize(GH, H)), bsum: k.floats(GH),
    };
  },

  slab: (c) => [c.Gx, 0],

  prepare(k: Kernels, c: LayerCache, lp: LayerParams): void {
    packRecurrent(k, c, lp);
    sumBiases(c, lp);
  },

  step(k: Kernels, c: LayerCache, _lp: LayerParams, B: number, t: number, r: number): void {
    const H = c.H, GH = 4 * H, go = (t - 1) * B * GH, Cs = c.Cs!;
    k.gemmPacked(c.Gx, go, GH, c.Hs, (t - 1) * B * H, H, 1, c.Wf, r, GH, H, 1, c.bsum, Epi.None);
    k.lstmForward(c.Gx, go, Cs, (t - 1) * B * H, Cs, t * B * H, c.Hs, t * B * H, r, H);
  },

  backward(k: Kernels, c: LayerCache, lp: LayerParams, B: number, T: number, R: Int32Array, flow: Backflow, s: BackScratch): void {
    packRecurrentBackward(k, c, lp);
    const H = c.H, GH = 4 * H, Cs = c.Cs!, { dG } = c, { dh, dc } = s;
    fill(dh, 0, B * H, 0);
    fill(dc, 0, B * H, 0);
    for (let t = T; t >= 1; t--) {
      const r = R[t], go = (t - 1) * B * GH;
      flow.enter(dh, t, r);
      k.lstmBackward(dG, go, c.Gx, go, Cs, (t - 1) * B * H, Cs, t * B * H, dh, 0, dc, 0, r, H);
      flow.zeroPastEnd(dG, go, GH, t, r);
      fill(dG, go + r * GH, (B - r) * GH, 0);
      if (flow.flows(t)) {
        k.gemmPacked(dh, 0, H, dG, go, GH, 1, c.Wb, r, H, GH, 0, null, Epi.None); // dL/dh_{t-1} = W_hhᵀ·dG_t
        fill(dh, r * H, (B - r) * H, 0);
      } else {
        fill(dh, 0, B * H, 0); //  truncated: neither h nor c passes the boundary
        fill(dc, 0, B * H, 0);
      }
    }
  },
};
