// LSTM, with PyTorch's equations and gate layout (weights stack the gates i, f, g, o):
//
//   (i, f, g, o)_pre = W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh
//   i = σ(i_pre)  f = σ(f_pre)  g = tanh(g_pre)  o = σ(o_pre)
//   c_t = f ⊙ c_{t-1} + i ⊙ g          h_t = o ⊙ tanh(c_t)
//
// A step is one product of h_{t-1} with the packed W_hh accumulating onto the input projection
// (plus the summed biases), then the pointwise gate math (the backend's fused lstmForward, else
// the loops below), which leaves the activated gates in the projection's slab and writes c_t and
// h_t. Backward, per step:
//
//   dc = dL/dc_t (from c_{t+1}) + dh ⊙ o ⊙ (1 − tanh²(c_t))
//   d(i, f, g, o)_pre = (dc⊙g⊙i(1−i), dc⊙c_{t-1}⊙f(1−f), dc⊙i⊙(1−g²), dh⊙tanh(c_t)⊙o(1−o))
//   dL/dc_{t-1} = dc ⊙ f          dL/dh_{t-1} = W_hhᵀ·d(i, f, g, o)_pre (the driver's product)

import { Epi, type Kernels } from '../backend/index.js';
import type { Float } from '../kernels.js';
import type { Cell, LayerCache, LayerParams, Backflow, BackScratch } from './types.js';
import { packRecurrent, sumBiases, sigmoid, type SummedBias } from './common.js';

interface LstmCache extends LayerCache, SummedBias {
  /** (maxT+1, maxB, H) cell states c_0..c_T (= states[1]). */
  Cs: Float;
}

export const lstmCell: Cell<LstmCache> = {
  name: 'lstm',
  G: 4,
  states: ['h', 'c'],
  keepsDh: false,

  alloc(k: Kernels, maxB: number, maxT: number, H: number): LstmCache {
    const GH = 4 * H, Hs = k.floats((maxT + 1) * maxB * H), Cs = k.floats((maxT + 1) * maxB * H);
    const Gx = k.floats(maxT * maxB * GH), dG = k.floats(maxT * maxB * GH);
    return {
      H, G: 4, states: [Hs, Cs], Hs, Cs, Gx, dG, dGh: dG,
      Wf: k.floats(k.packedSize(H, GH)), Wb: k.floats(k.packedSize(GH, H)), bsum: k.floats(GH),
    };
  },

  slab: (c) => [c.Gx, 0],

  prepare(k: Kernels, c: LstmCache, lp: LayerParams): void {
    packRecurrent(k, c, lp);
    sumBiases(c, lp);
  },

  step(k: Kernels, c: LstmCache, _lp: LayerParams, B: number, t: number, r: number): void {
    const H = c.H, GH = 4 * H, go = (t - 1) * B * GH, Cs = c.Cs;
    k.gemmPacked(c.Gx, go, GH, c.Hs, (t - 1) * B * H, H, 1, c.Wf, r, GH, H, 1, c.bsum, Epi.None);
    (k.lstmForward ?? lstmForward).call(k, c.Gx, go, Cs, (t - 1) * B * H, Cs, t * B * H, c.Hs, t * B * H, r, H);
  },

  stepBackward(k: Kernels, c: LstmCache, _lp: LayerParams, B: number, t: number, r: number, s: BackScratch): void {
    const H = c.H, go = (t - 1) * B * 4 * H, Cs = c.Cs;
    (k.lstmBackward ?? lstmBackward).call(k, c.dG, go, c.Gx, go, Cs, (t - 1) * B * H, Cs, t * B * H, s.dh, 0, s.dS[1], 0, r, H);
  },

  steps(k: Kernels, c: LstmCache, _lp: LayerParams, B: number, T: number, R: Int32Array): boolean {
    if (!k.lstmSteps) return false;
    k.lstmSteps(c.Gx, c.Hs, c.Cs, c.Wf, c.bsum, R, B, T, c.H);
    return true;
  },

  stepsBackward(k: Kernels, c: LstmCache, _lp: LayerParams, B: number, T: number, R: Int32Array, flow: Backflow, s: BackScratch): boolean {
    if (!k.lstmStepsBackward) return false;
    k.lstmStepsBackward(c.dG, s.dh, s.dS[1], c.Gx, c.Cs, c.Wb, R, B, T, c.H, flow.inflow);
    return true;
  },
};

/** The pointwise forward (Kernels.lstmForward's contract) in plain loops, on rows of g (4H) and of the states (H). */
export function lstmForward(g: Float, go: number, cPrev: Float, cpo: number, c: Float, co: number, h: Float, ho: number, rows: number, H: number): void {
  for (let r = 0; r < rows; r++) {
    const gr = go + r * 4 * H, sr = r * H;
    for (let j = 0; j < H; j++) {
      const i = sigmoid(g[gr + j]), f = sigmoid(g[gr + H + j]), u = Math.tanh(g[gr + 2 * H + j]), o = sigmoid(g[gr + 3 * H + j]);
      g[gr + j] = i; g[gr + H + j] = f; g[gr + 2 * H + j] = u; g[gr + 3 * H + j] = o;
      // From the stored (rounded) values, as the backward reads them.
      c[co + sr + j] = g[gr + H + j] * cPrev[cpo + sr + j] + g[gr + j] * g[gr + 2 * H + j];
      h[ho + sr + j] = g[gr + 3 * H + j] * Math.tanh(c[co + sr + j]);
    }
  }
}

/** The pointwise backward (Kernels.lstmBackward's contract) in plain loops: dg from dh and dc; dc becomes dL/dc_{t-1}. */
export function lstmBackward(dg: Float, dgo: number, g: Float, go: number, cPrev: Float, cpo: number, c: Float, co: number,
  dh: Float, dho: number, dc: Float, dco: number, rows: number, H: number): void {
  for (let r = 0; r < rows; r++) {
    const gr = go + r * 4 * H, dr = dgo + r * 4 * H, sr = r * H;
    for (let j = 0; j < H; j++) {
      const i = g[gr + j], f = g[gr + H + j], u = g[gr + 2 * H + j], o = g[gr + 3 * H + j];
      const tc = Math.tanh(c[co + sr + j]), dht = dh[dho + sr + j];
      const dct = dc[dco + sr + j] + dht * o * (1 - tc * tc); //       dL/dc_t: from c_{t+1} and through h_t
      dg[dr + j] = dct * u * i * (1 - i); //                             di · σ'
      dg[dr + H + j] = dct * cPrev[cpo + sr + j] * f * (1 - f); //      df · σ'
      dg[dr + 2 * H + j] = dct * i * (1 - u * u); //                    dg · tanh'
      dg[dr + 3 * H + j] = dht * tc * o * (1 - o); //                   do · σ'
      dc[dco + sr + j] = dct * f; //                                     dL/dc_{t-1}
    }
  }
}
