// The minimal gated unit (MGU, Zhou et al. 2016), one gate f doing the GRU's r and z both, with
// the forget gate applied after the recurrent product as PyTorch's GRU applies its reset
// (weights stack the gates f, n):
//
//   f = σ(W_if·x + b_if + W_hf·h + b_hf)
//   n = tanh(W_in·x + b_in + f ⊙ (W_hn·h + b_hn))
//   h_t = (1 − f) ⊙ h_{t-1} + f ⊙ n
//
// It is the example of a cell in one file: it declares its gates and states, its caches, one
// step forward and one step backward, in pointwise loops on the kernels' arrays (no backend has
// a fused kernel for it). It is not offered in configs; tests register it (registerCell).
// Backward, per step (dh = dL/dh_t; gh = W_hh·h_{t-1} + b_hh):
//
//   dn = dh⊙f⊙(1−n²)    df = (dh⊙(n − h_{t-1}) + dn⊙gh_n)⊙f(1−f)
//   input side (dG): (df, dn)       recurrent side (dGh): (df, dn⊙f)
//   dL/dh_{t-1} = dh⊙(1−f) + W_hhᵀ·dGh  (dh⊙(1−f) here, the product the driver's: keepsDh)

import { Epi, type Kernels } from '../backend/index.js';
import type { Float } from '../kernels.js';
import type { Cell, LayerCache, LayerParams, BackScratch } from './types.js';
import { packRecurrent, sigmoid } from './common.js';

interface MguCache extends LayerCache {
  /** (maxT, maxB, 2H) W_hh·h_{t-1} + b_hh of every step (the gate multiplies its n block). */
  Gh: Float;
}

export const mguCell: Cell<MguCache> = {
  name: 'mgu',
  G: 2,
  states: ['h'],
  keepsDh: true,

  alloc(k: Kernels, maxB: number, maxT: number, H: number): MguCache {
    const GH = 2 * H, Hs = k.floats((maxT + 1) * maxB * H), n = maxT * maxB * GH;
    return {
      H, G: 2, states: [Hs], Hs, Gx: k.floats(n), Gh: k.floats(n), dG: k.floats(n), dGh: k.floats(n),
      Wf: k.floats(k.packedSize(H, GH)), Wb: k.floats(k.packedSize(GH, H)),
    };
  },

  slab: (c) => [c.Gx, 0],

  prepare(k: Kernels, c: MguCache, lp: LayerParams): void {
    packRecurrent(k, c, lp);
  },

  step(k: Kernels, c: MguCache, lp: LayerParams, B: number, t: number, r: number): void {
    const H = c.H, GH = 2 * H, go = (t - 1) * B * GH, gi = c.Gx, gh = c.Gh, b = lp.bih, hs = c.Hs;
    k.gemmPacked(gh, go, GH, hs, (t - 1) * B * H, H, 1, c.Wf, r, GH, H, 0, lp.bhh, Epi.None); // W_hh·h_{t-1} + b_hh
    for (let row = 0; row < r; row++) {
      const ir = go + row * GH, hp = (t - 1) * B * H + row * H, ho = t * B * H + row * H;
      for (let j = 0; j < H; j++) {
        const f = sigmoid(gi[ir + j] + b[j] + gh[ir + j]);
        gi[ir + j] = f;
        const n = Math.tanh(gi[ir + H + j] + b[H + j] + gi[ir + j] * gh[ir + H + j]);
        gi[ir + H + j] = n;
        hs[ho + j] = (1 - gi[ir + j]) * hs[hp + j] + gi[ir + j] * gi[ir + H + j];
      }
    }
  },

  stepBackward(_k: Kernels, c: MguCache, _lp: LayerParams, B: number, t: number, r: number, s: BackScratch): void {
    const H = c.H, GH = 2 * H, go = (t - 1) * B * GH, gi = c.Gx, gh = c.Gh, hs = c.Hs, dG = c.dG, dGh = c.dGh, dh = s.dh;
    for (let row = 0; row < r; row++) {
      const ir = go + row * GH, hp = (t - 1) * B * H + row * H, sr = row * H;
      for (let j = 0; j < H; j++) {
        const f = gi[ir + j], n = gi[ir + H + j], d = dh[sr + j];
        const dn = d * f * (1 - n * n); //                                      through n's tanh
        const df = (d * (n - hs[hp + j]) + dn * gh[ir + H + j]) * f * (1 - f); // through h's mix and n's gate, then σ
        dG[ir + j] = df; dG[ir + H + j] = dn;
        dGh[ir + j] = df; dGh[ir + H + j] = dn * f;
        dh[sr + j] = d * (1 - f); //                                            the part of dL/dh_{t-1} that skips W_hh
      }
    }
  },
};
