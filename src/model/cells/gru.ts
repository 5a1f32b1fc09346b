// GRU, with PyTorch's equations and gate layout (weights stack the gates r, z, n):
//
//   r = σ(W_ir·x + b_ir + W_hr·h + b_hr)      z = σ(W_iz·x + b_iz + W_hz·h + b_hz)
//   n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn))
//   h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
//
// The reset gate multiplies the recurrent part of n alone, so the two products stay apart: each
// step computes W_hh·h_{t-1} + b_hh into its own slab (kept for backward), then the pointwise
// kernel combines it with the input projection. Backward, per step (dh = dL/dh_t):
//
//   dn = dh⊙(1−z)⊙(1−n²)    dz = dh⊙(h_{t-1}−n)⊙z(1−z)    dr = dn⊙(W_hn·h+b_hn)⊙r(1−r)
//   input side (dG): (dr, dz, dn)       recurrent side (dGh): (dr, dz, dn⊙r)
//   dL/dh_{t-1} = dh⊙z + W_hhᵀ·dGh

import { Epi, type Kernels } from '../backend/index.js';
import type { LayerParams } from '../params.js';
import { fill } from '../kernels.js';
import type { Cell, LayerCache, Backflow, BackScratch } from './types.js';
import { packRecurrent, packRecurrentBackward } from './common.js';

export const gruCell: Cell = {
  name: 'gru',
  G: 3,

  alloc(k: Kernels, maxB: number, maxT: number, H: number): LayerCache {
    const GH = 3 * H;
    return {
      H, G: 3, Hs: k.floats((maxT + 1) * maxB * H), Cs: null,
      Gx: k.floats(maxT * maxB * GH), Gh: k.floats(maxT * maxB * GH), dG: k.floats(maxT * maxB * GH), dGh: k.floats(maxT * maxB * GH),
      Wf: k.floats(k.packedSize(H, GH)), Wb: k.floats(k.packedSize(GH, H)), bsum: null,
    };
  },

  slab: (c) => [c.Gx, 0],

  prepare(k: Kernels, c: LayerCache, lp: LayerParams): void {
    packRecurrent(k, c, lp);
  },

  step(k: Kernels, c: LayerCache, lp: LayerParams, B: number, t: number, r: number): void {
    const H = c.H, GH = 3 * H, go = (t - 1) * B * GH, Gh = c.Gh!;
    k.gemmPacked(Gh, go, GH, c.Hs, (t - 1) * B * H, H, 1, c.Wf, r, GH, H, 0, lp.bhh, Epi.None); // W_hh·h_{t-1} + b_hh
    k.gruForward(c.Gx, go, Gh, go, lp.bih, c.Hs, (t - 1) * B * H, c.Hs, t * B * H, r, H);
  },

  backward(k: Kernels, c: LayerCache, lp: LayerParams, B: number, T: number, R: Int32Array, flow: Backflow, s: BackScratch): void {
    packRecurrentBackward(k, c, lp);
    const H = c.H, GH = 3 * H, { dG } = c, dGh = c.dGh!, dh = s.dh;
    fill(dh, 0, B * H, 0);
    for (let t = T; t >= 1; t--) {
      const r = R[t], go = (t - 1) * B * GH;
      flow.enter(dh, t, r);
      k.gruBackward(dG, go, dGh, go, c.Gx, go, c.Gh!, go, c.Hs, (t - 1) * B * H, dh, 0, r, H); // dh ← dh⊙z
      flow.zeroPastEnd(dG, go, GH, t, r);
      flow.zeroPastEnd(dGh, go, GH, t, r);
      fill(dG, go + r * GH, (B - r) * GH, 0);
      fill(dGh, go + r * GH, (B - r) * GH, 0);
      if (flow.flows(t)) {
        k.gemmPacked(dh, 0, H, dGh, go, GH, 1, c.Wb, r, H, GH, 1, null, Epi.None); // += W_hhᵀ·dGh
        fill(dh, r * H, (B - r) * H, 0);
      } else {
        fill(dh, 0, B * H, 0);
      }
    }
  },
};
