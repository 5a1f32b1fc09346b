// The cell seam. A cell is one recurrence, declared as data and two per-step functions: its
// states (h, plus c for the LSTM), its gate count G, its caches, one timestep forward (`step`:
// one product of h_{t-1} with the packed W_hh plus its pointwise gate math) and one timestep
// backward (`stepBackward`). The sequence driver (../rnn.ts) owns everything else, including the
// one time loop in both directions: it computes the input projection of every step first, runs
// step for t = 1..T (generation: one token from a carried state), reads and writes the states,
// and runs BPTT for t = T..1 around stepBackward: the gradient reaching each state from outside
// the recurrence (outputs, the layer above), padding, truncation, and the product with W_hh that
// carries dL/dh into step t-1; then it turns the pre-activation gradients into weight gradients.
// Cells call only the kernels (k): a fused gate kernel when the backend has one
// (Kernels.lstmForward, ...), else the cell's own pointwise loops, so every backend runs every cell.
// A cell may also run a whole time loop in one backend call when the backend has the kernel
// (`steps`, `stepsBackward`: Kernels.rnnSteps, lstmSteps, gruSteps and their backwards), with the
// same bits as the per-step loop; without it the driver runs the loop around step/stepBackward.
//
// Caches are time-major: a state slab t is the (B, H) block at t*B*H (t = 0 is the initial state),
// a gate slab t the (B, G·H) block at (t-1)*B*G·H for step t = 1..T. At step t only the first R[t]
// rows are computed (the rows still real, with rows sorted by length).

import type { Float } from '../kernels.js';
import type { Inflow, Kernels } from '../backend/index.js';

/** One recurrent layer's views into the parameter arena (params.ts builds them from spec.ts's table). */
export interface LayerParams {
  Wih: Float; //  (G·H, I), or (V, G·H) for layer 0 with one-hot input
  Whh: Float; //  (G·H, H)
  bih: Float; //  (G·H)
  bhh: Float | null; // (G·H); null for the vanilla RNN's layer 0 (its one bias ba)
}

/** What every cell's caches have (a cell adds its own: the LSTM's c, the GRU's W_hh·h + b_hh, ...). */
export interface LayerCache {
  H: number;
  /** Gate blocks G: the layer's pre-activations are G·H wide. */
  G: number;
  /** (maxT+1, maxB, H) each state's slabs, in the cell's order (Cell.states), h first; the driver writes slab 0 (zero or a carried state). */
  states: Float[];
  /** states[0]: h_0..h_T. */
  Hs: Float;
  /** Where the driver writes W_ih·x_t for t = 1..T (slab t at xo + (t-1)·B·G·H, rows G·H wide): see Cell.slab. */
  Gx: Float;
  /** (maxT, maxB, G·H) dL/d(W_ih·x_t + b_ih): what the input weights, b_ih and the input receive. */
  dG: Float;
  /** (maxT, maxB, G·H) dL/d(W_hh·h_{t-1} + b_hh): what W_hh, b_hh and h_{t-1} receive; dG itself unless the cell keeps them apart (GRU). */
  dGh: Float;
  /** W_hh packed for the forward product (B = W_hhᵀ) and the backward one (B = W_hh), once per batch. */
  Wf: Float;
  Wb: Float;
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
  /** What enter adds, the profile and flows' truncation, as data: a cell's stepsBackward passes it to its kernel. */
  readonly inflow: Inflow;
}

/** Scratch the driver lends the cells' backward: dL/d(each state) of the step being processed, (maxB, H) each. */
export interface BackScratch {
  /** dL/dh_t (= dS[0]). */
  dh: Float;
  /** One per state, in Cell.states order. */
  dS: Float[];
}

export interface Cell<C extends LayerCache = LayerCache> {
  readonly name: string;
  /** Gate blocks stacked in the weights (PyTorch's order): G·H rows of W_ih, W_hh and the biases. */
  readonly G: number;
  /** The recurrent states, h first ('h'; 'h', 'c' for the LSTM): what a carried state and a checkpoint hold per layer. */
  readonly states: readonly string[];
  /**
   * Whether stepBackward leaves in dh a part of dL/dh_{t-1} that skips W_hh (GRU: dh⊙z), which
   * the driver's product W_hhᵀ·dGh then adds to; else the product overwrites dh.
   */
  readonly keepsDh: boolean;
  alloc(k: Kernels, maxB: number, maxT: number, H: number): C;
  /** The array and offset of the input-projection slabs (row stride G·H, slab t at off + (t-1)·B·G·H). */
  slab(c: C, B: number): [Float, number];
  /** Once per batch, before forward: pack W_hh for the forward products, sum the biases the step's product adds. */
  prepare(k: Kernels, c: C, lp: LayerParams): void;
  /** One timestep: h_t (rows < r) from h_{t-1} and the projection (the driver runs t = 1..T). */
  step(k: Kernels, c: C, lp: LayerParams, B: number, t: number, r: number): void;
  /**
   * One timestep of BPTT (t = T..1), rows < r, from dL/d(states at t) in s.dS: the step's
   * pre-activation gradients into dG (and dGh) at slab t, and dL/d(states at t-1) that do not go
   * through W_hh left in s.dS (the LSTM's dc; the GRU's dh⊙z, with keepsDh).
   */
  stepBackward(k: Kernels, c: C, lp: LayerParams, B: number, t: number, r: number, s: BackScratch): void;
  /** Optional: step for t = 1..T (rows < R[t]) in one backend call; false when the backend has no such kernel (the driver then runs step). */
  steps?(k: Kernels, c: C, lp: LayerParams, B: number, T: number, R: Int32Array): boolean;
  /**
   * Optional: the driver's whole BPTT loop (../rnn.ts cellBackward: flow.enter, stepBackward,
   * padding, truncation, the product with the packed W_hh) in one backend call, the same bits;
   * false when the backend has no such kernel (the driver then runs its loop).
   */
  stepsBackward?(k: Kernels, c: C, lp: LayerParams, B: number, T: number, R: Int32Array, flow: Backflow, s: BackScratch): boolean;
}
