// An output layer other than rnn.ts's full softmax over Wya (language models: tied weights with a
// projection, the adaptive softmax). The sequence driver hands it the top layer's states and the
// batch; it returns the loss sum and counts, and its backward leaves dL/dh_t in ws.dOut.

import type { Params } from '../params.js';
import type { Float } from '../kernels.js';
import type { Batch } from '../batch.js';
import type { Workspace, ForwardResult } from '../rnn.js';

export interface OutputHead {
  /**
   * Outputs for every real step of the batch, from the top states a_1..a_T (ws.A, slab t at
   * offset t·B·H): the sum of −log p(target), the count of real steps and how many targets are
   * the most probable token. Keeps what backward needs; g is given in training (a head may then
   * turn its logits into their gradient at once, and add its bias's).
   */
  forward(p: Params, ws: Workspace, batch: Batch, g?: Params | null): ForwardResult;
  /** After forward: the head's gradients accumulated (+=) into g, dL/dh_t of every row (padding: 0) written into ws.dOut. */
  backward(p: Params, g: Params, ws: Workspace, batch: Batch): void;
  /** log p(c | h) for every class c (C wide) of `rows` states at states[so + r·H], into out[oo + r·C]: generation, prediction. */
  logProbs(p: Params, states: Float, so: number, rows: number, out: Float, oo: number): void;
}
