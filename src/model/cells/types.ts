// The cell seam. A cell is one recurrence: its step (one product of h_{t-1} with the packed W_hh
// plus its pointwise gate kernel; the driver runs it for t = 1..T, and generation for one token
// from a carried state) and its backward through time. It owns its caches and nothing else: the
// sequence driver (../rnn.ts) computes the input projection of every step first, reads the
// states the steps leave, hands backward the gradient reaching each
// state from outside the recurrence (outputs, the layer above), and turns the pre-activation
// gradients backward leaves into weight gradients. Cells call only the kernels (k), so every
// backend runs every cell.
//
// Caches are time-major: a state slab t is the (B, H) block at t*B*H (t = 0 is the initial state),
// a gate slab t the (B, G·H) block at (t-1)*B*G·H for step t = 1..T. At step t only the first R[t]
// rows are computed (the rows still real, with rows sorted by length).

import type { Float } from '../kernels.js';
import type { Kernels } from '../backend/index.js';
import type { LayerParams } from '../params.js';

/** One layer's caches, allocated once for maxB × maxT. */
export interface LayerCache {
  H: number;
  /** Gate blocks G: the layer's pre-activations are G·H wide. */
  G: number;
  /** (maxT+1, maxB, H) states h_0..h_T; the driver writes h_0 (zero or a carried state). */
  Hs: Float;
  /** LSTM: (maxT+1, maxB, H) cell states c_0..c_T; c_0 like h_0. */
  Cs: Float | null;
  /** Where the driver writes W_ih·x_t for t = 1..T (slab t at xo + (t-1)·B·G·H, rows G·H wide): see Cell.slab. */
  Gx: Float;
  /** GRU: (maxT, maxB, 3H) W_hh·h_{t-1} + b_hh of every step (the reset gate multiplies its n block). */
  Gh: Float | null;
  /** (maxT, maxB, G·H) dL/d(W_ih·x_t + b_ih): what the input weights, b_ih and the input receive. */
  dG: Float;
  /** GRU: (maxT, maxB, 3H) dL/d(W_hh·h_{t-1} + b_hh); the other cells use dG for both sides. */
  dGh: Float | null;
  /** W_hh packed for the forward product (B = W_hhᵀ) and the backward one (B = W_hh), once per batch. */
  Wf: Float;
  Wb: Float;
  /** rnn (layers ≥ 1) and LSTM: b_ih + b_hh, added once in each step's product. */
  bsum: Float | null;
}

/** What backward needs from the driver at each step. */
export interface Backflow {
  /**
   * Adds the gradient reaching h_t from outside the recurrence (the outputs, or the layer above)
   * into dh (rows < r), records the gradient-through-time profile, and zeroes rows past their end.
   */
  enter(dh: Float, t: number, r: number): void;
  /** Whether the gradient flows from step t into step t-1 (truncated BPTT cuts it at window boundaries). */
  flows(t: number): boolean;
  /** Zero `width` values of each row < r of slab (a, o) whose sequence ended before t (unsorted batches only). */
  zeroPastEnd(a: Float, o: number, width: number, t: number, r: number): void;
}

/** Scratch the driver lends the cells' backward: dL/dh and dL/dc of the step being processed. */
export interface BackScratch {
  dh: Float; // (maxB, H)
  dc: Float; // (maxB, H)
}

export interface Cell {
  readonly name: 'rnn' | 'lstm' | 'gru';
  readonly G: number;
  alloc(k: Kernels, maxB: number, maxT: number, H: number): LayerCache;
  /** The array and offset of the input-projection slabs (row stride G·H, slab t at off + (t-1)·B·G·H). */
  slab(c: LayerCache, B: number): [Float, number];
  /** Once per batch, before forward: pack W_hh for the forward products, sum the biases the step's product adds. */
  prepare(k: Kernels, c: LayerCache, lp: LayerParams): void;
  /** One timestep: h_t (rows < r) from h_{t-1} and the projection (the driver runs t = 1..T). */
  step(k: Kernels, c: LayerCache, lp: LayerParams, B: number, t: number, r: number): void;
  /** BPTT: dG (and dGh) for every step, every row (zero where nothing was computed). */
  backward(k: Kernels, c: LayerCache, lp: LayerParams, B: number, T: number, R: Int32Array, flow: Backflow, s: BackScratch): void;
}
