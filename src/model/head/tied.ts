// The tied output layer with a projection (Press & Wolf 2017, E ≠ H): the embedding table Wemb
// (V, E) is also the output weight, read after a projection Wproj (E, H) of the top state:
//
//   z_t = Wproj·a_t            logits_t = Wemb·z_t + by            loss = Σ −log softmax(logits_t)[y_t]
//
//   backward: dlogits = p − onehot(y);  dWemb += dlogitsᵀ·z (every row: the table's gradient is
//   dense);  dby += Σ dlogits;  dz = dlogits·Wemb;  dWproj += dzᵀ·a;  dL/da = dz·Wproj
//
// The softmax and cross-entropy run in the backend's fused kernel (softmaxXent, as the full
// softmax's): in training it leaves dlogits in P and adds them to dby, so backward is products only.
// The embedding's own gradient (the scatter-add over the batch's tokens) is added to the same
// tensor by the sequence driver's backward, after this. With E = H no projection is needed and
// rnn.ts's full softmax runs on Wya, which is then the same view as Wemb (params.ts).

import type { Params } from '../params.js';
import type { Float } from '../kernels.js';
import type { Batch } from '../batch.js';
import type { Workspace, ForwardResult } from '../rnn.js';
import { Epi, type Kernels } from '../backend/index.js';
import type { ModelSpec } from '../spec.js';
import type { OutputHead } from './types.js';
import { logSoftmaxRow } from './common.js';

export class TiedProjectionHead implements OutputHead {
  private readonly Z: Float; //   (maxRows, E) the projected states z_t
  private readonly dZ: Float; //  (maxRows, E)
  private readonly P: Float; //   (maxRows, C) probabilities (forward only) or dlogits (training)

  constructor(private readonly spec: ModelSpec, private readonly k: Kernels, maxRows: number) {
    const { E, C } = spec;
    this.Z = k.floats(maxRows * E);
    this.dZ = k.floats(maxRows * E);
    this.P = k.floats(maxRows * C);
  }

  /** Log-probabilities of `rows` states (stride H) into out (stride C): z = Wproj·a, then log softmax(Wemb·z + by). */
  private logits(p: Params, states: Float, so: number, rows: number, out: Float, oo: number): void {
    const { H, E, C } = this.spec, k = this.k;
    k.gemm(this.Z, 0, E, states, so, H, 1, p.Wproj!, 0, 1, H, rows, E, H, 0, null, Epi.None); //  z = Wproj·a
    k.gemm(out, oo, C, this.Z, 0, E, 1, p.Wemb!, 0, 1, E, rows, C, E, 0, p.by, Epi.None); //      Wemb·z + by
  }

  /** Training (g given): P becomes dlogits = p − onehot (zeros on padding), added to g.by; else probabilities. */
  forward(p: Params, ws: Workspace, batch: Batch, g: Params | null = null): ForwardResult {
    const { H, C } = this.spec, P = this.P, { B, T, lengths } = batch, rows = T * B;
    this.logits(p, ws.A, B * H, rows, P, 0);
    let count = 0;
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const r = t * B + b, real = t < lengths[b];
        ws.ys[r] = real ? batch.targets[b * T + t] : 0;
        ws.wy[r] = real ? 1 : 0;
        if (real) count++;
      }
    }
    const lossSum = this.k.softmaxXent(P, 0, C, rows, C, ws.ys, 0, ws.wy, 0, ws.am, 0, g ? g.by : null, g ? 1 : 0);
    let correct = 0;
    for (let r = 0; r < rows; r++) if (ws.wy[r] !== 0 && ws.am[r] === ws.ys[r]) correct++;
    return { lossSum, count, correct };
  }

  backward(p: Params, g: Params, ws: Workspace, batch: Batch): void {
    const { H, E, C } = this.spec, { B, T } = batch, k = ws.k, P = this.P, rows = T * B;
    // P holds dlogits (forward with g), dby is added.
    k.gemm(g.Wemb!, 0, E, P, 0, 1, C, this.Z, 0, E, 1, C, E, rows, 1, null, Epi.None); //   dWemb += dlogitsᵀ·z
    k.gemm(this.dZ, 0, E, P, 0, C, 1, p.Wemb!, 0, E, 1, rows, E, C, 0, null, Epi.None); //   dz = dlogits·Wemb
    k.gemm(g.Wproj!, 0, H, this.dZ, 0, 1, E, ws.A, B * H, H, 1, E, H, rows, 1, null, Epi.None); // dWproj += dzᵀ·a
    k.gemm(ws.dOut, 0, H, this.dZ, 0, E, 1, p.Wproj!, 0, H, 1, rows, H, E, 0, null, Epi.None); //  dL/da = dz·Wproj
  }

  logProbs(p: Params, states: Float, so: number, rows: number, out: Float, oo: number): void {
    const C = this.spec.C;
    this.logits(p, states, so, rows, out, oo);
    for (let r = 0; r < rows; r++) logSoftmaxRow(out, oo + r * C, C);
  }
}
