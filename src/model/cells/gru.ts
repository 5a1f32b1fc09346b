// GRU, with PyTorch's equations and gate layout (weights stack the gates r, z, n):
//
//   r = σ(W_ir·x + b_ir + W_hr·h + b_hr)      z = σ(W_iz·x + b_iz + W_hz·h + b_hz)
//   n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn))
//   h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
//
// The reset gate multiplies the recurrent part of n alone, so the two products stay apart: each
// step computes W_hh·h_{t-1} + b_hh into its own slab (kept for backward), then the pointwise
// math (the backend's fused gruForward, else the loops below) combines it with the input
// projection. Backward, per step (dh = dL/dh_t):
//
//   dn = dh⊙(1−z)⊙(1−n²)    dz = dh⊙(h_{t-1}−n)⊙z(1−z)    dr = dn⊙(W_hn·h+b_hn)⊙r(1−r)
//   input side (dG): (dr, dz, dn)       recurrent side (dGh): (dr, dz, dn⊙r)
//   dL/dh_{t-1} = dh⊙z + W_hhᵀ·dGh  (dh⊙z here, the product the driver's: keepsDh)

import { Epi, type Kernels } from '../backend/index.js';
import type { Float } from '../kernels.js';
import type { Cell, LayerCache, LayerParams, Backflow, BackScratch } from './types.js';
import { packRecurrent, sigmoid } from './common.js';

interface GruCache extends LayerCache {
  /** (maxT, maxB, 3H) W_hh·h_{t-1} + b_hh of every step (the reset gate multiplies its n block). */
  Gh: Float;
}

export const gruCell: Cell<GruCache> = {
  name: 'gru',
  G: 3,
  states: ['h'],
  keepsDh: true,

  alloc(k: Kernels, maxB: number, maxT: number, H: number): GruCache {
    const GH = 3 * H, Hs = k.floats((maxT + 1) * maxB * H);
    const Gx = k.floats(maxT * maxB * GH), Gh = k.floats(maxT * maxB * GH), dG = k.floats(maxT * maxB * GH), dGh = k.floats(maxT * maxB * GH);
    return {
      H, G: 3, states: [Hs], Hs, Gx, Gh, dG, dGh,
      Wf: k.floats(k.packedSize(H, GH)), Wb: k.floats(k.packedSize(GH, H)),
    };
  },

  slab: (c) => [c.Gx, 0],

  prepare(k: Kernels, c: GruCache, lp: LayerParams): void {
    packRecurrent(k, c, lp);
  },

  step(k: Kernels, c: GruCache, lp: LayerParams, B: number, t: number, r: number): void {
    const H = c.H, GH = 3 * H, go = (t - 1) * B * GH, Gh = c.Gh;
    k.gemmPacked(Gh, go, GH, c.Hs, (t - 1) * B * H, H, 1, c.Wf, r, GH, H, 0, lp.bhh, Epi.None); // W_hh·h_{t-1} + b_hh
    (k.gruForward ?? gruForward).call(k, c.Gx, go, Gh, go, lp.bih, c.Hs, (t - 1) * B * H, c.Hs, t * B * H, r, H);
  },

  stepBackward(k: Kernels, c: GruCache, _lp: LayerParams, B: number, t: number, r: number, s: BackScratch): void {
    const H = c.H, go = (t - 1) * B * 3 * H;
    (k.gruBackward ?? gruBackward).call(k, c.dG, go, c.dGh, go, c.Gx, go, c.Gh, go, c.Hs, (t - 1) * B * H, s.dh, 0, r, H); // dh ← dh⊙z
  },

  steps(k: Kernels, c: GruCache, lp: LayerParams, B: number, T: number, R: Int32Array): boolean {
    if (!k.gruSteps) return false;
    k.gruSteps(c.Gx, c.Gh, c.Hs, c.Wf, lp.bhh, lp.bih, R, B, T, c.H);
    return true;
  },

  stepsBackward(k: Kernels, c: GruCache, _lp: LayerParams, B: number, T: number, R: Int32Array, flow: Backflow, s: BackScratch): boolean {
    if (!k.gruStepsBackward) return false;
    k.gruStepsBackward(c.dG, c.dGh, s.dh, c.Gx, c.Gh, c.Hs, c.Wb, R, B, T, c.H, flow.inflow);
    return true;
  },
};

/** The pointwise forward (Kernels.gruForward's contract) in plain loops: gi becomes (r, z, n), h_t is written. */
export function gruForward(gi: Float, gio: number, gh: Float, gho: number, bih: Float, hPrev: Float, hpo: number, h: Float, ho: number, rows: number, H: number): void {
  for (let r = 0; r < rows; r++) {
    const ir = gio + r * 3 * H, hr = gho + r * 3 * H, sr = r * H;
    for (let j = 0; j < H; j++) {
      const rt = sigmoid(gi[ir + j] + bih[j] + gh[hr + j]);
      const zt = sigmoid(gi[ir + H + j] + bih[H + j] + gh[hr + H + j]);
      const nt = Math.tanh(gi[ir + 2 * H + j] + bih[2 * H + j] + rt * gh[hr + 2 * H + j]);
      gi[ir + j] = rt; gi[ir + H + j] = zt; gi[ir + 2 * H + j] = nt;
      h[ho + sr + j] = (1 - zt) * nt + zt * hPrev[hpo + sr + j];
    }
  }
}

/** The pointwise backward (Kernels.gruBackward's contract) in plain loops: dgi, dgh; dh becomes dh⊙z. */
export function gruBackward(dgi: Float, dgio: number, dgh: Float, dgho: number, gi: Float, gio: number, gh: Float, gho: number,
  hPrev: Float, hpo: number, dh: Float, dho: number, rows: number, H: number): void {
  for (let r = 0; r < rows; r++) {
    const ir = gio + r * 3 * H, hr = gho + r * 3 * H, di = dgio + r * 3 * H, dhh = dgho + r * 3 * H, sr = r * H;
    for (let j = 0; j < H; j++) {
      const rt = gi[ir + j], zt = gi[ir + H + j], nt = gi[ir + 2 * H + j];
      const dht = dh[dho + sr + j];
      const dn = dht * (1 - zt) * (1 - nt * nt); //                      through n's tanh
      const dz = dht * (hPrev[hpo + sr + j] - nt) * zt * (1 - zt); //    through z's σ
      const dr = dn * gh[hr + 2 * H + j] * rt * (1 - rt); //             through r's σ
      dgi[di + j] = dr; dgi[di + H + j] = dz; dgi[di + 2 * H + j] = dn;
      dgh[dhh + j] = dr; dgh[dhh + H + j] = dz; dgh[dhh + 2 * H + j] = dn * rt;
      dh[dho + sr + j] = dht * zt;
    }
  }
}
