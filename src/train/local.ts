// The single-process training step: forward + BPTT over a whole batch in this thread, then the
// shared update. Tests of the model use it directly; the parallel coordinator runs the same
// forwardBackward in workers and the same applyUpdate here.

import type { ModelSpec } from '../model/spec.js';
import { makeLayout, allocParams, type Params } from '../model/params.js';
import { SharedArena, arenaOf } from '../util/shared.js';
import { stepKey } from '../util/prng.js';
import { allocWorkspace, forwardBackward, forward, type Workspace } from '../model/rnn.js';
import { createKernels, type ResolvedKernels } from '../model/backend/index.js';
import type { Batch } from '../model/batch.js';
import { Optimizer, type OptimizerOptions } from '../optim/optim.js';
import { applyUpdate, zeroGrad } from '../optim/step.js';

export interface StepResult {
  loss: number; //     mean loss over `count`
  accuracy: number;
  count: number;
  gradNorm: number; // before clipping
  clipped: boolean;
  finite: boolean;
}

export class LocalTrainer {
  readonly p: Params;
  readonly g: Params;
  readonly ws: Workspace;
  readonly opt: Optimizer;
  private readonly clipNorm: number;
  private readonly bpttWindow: number;
  private readonly dropout: number;
  private readonly seed: number;
  private readonly stepLoss: number;

  constructor(
    readonly spec: ModelSpec,
    maxB: number,
    maxT: number,
    opts: { optimizer: OptimizerOptions; clipNorm: number; bpttWindow?: number; params?: Params; dropout?: number; seed?: number; stepLoss?: number; kernels: ResolvedKernels },
  ) {
    this.clipNorm = opts.clipNorm;
    this.bpttWindow = opts.bpttWindow ?? 0;
    this.dropout = opts.dropout ?? 0;
    this.seed = opts.seed ?? 0;
    this.stepLoss = opts.stepLoss ?? 0;
    const layout = makeLayout(spec);
    this.p = opts.params ?? allocParams(layout, 'float32');
    // Gradient and moments in the parameters' arena: the optimizer step runs as one kernel of the backend.
    const arena = arenaOf(this.p.data) ?? new SharedArena(layout.size * 4 * 3);
    this.g = allocParams(layout, 'float32', arena);
    this.ws = allocWorkspace(spec, maxB, maxT, createKernels(opts.kernels, arena));
    this.opt = new Optimizer(layout.size, opts.optimizer, arena);
  }

  /** Gradient sums of one batch into g (zeroed first); returns forward's sums. */
  gradients(batch: Batch) {
    zeroGrad(this.p.layout, this.g.data, this.ws.touched, this.ws.touchedCount);
    // Masks keyed as in the workers: by the step this gradient is for.
    const drop = this.dropout > 0 ? { rate: this.dropout, key: stepKey(this.seed, this.opt.step + 1) } : null;
    return forwardBackward(this.p, this.g, this.ws, batch, this.bpttWindow, drop, this.stepLoss);
  }

  step(batch: Batch): StepResult {
    const r = this.gradients(batch);
    const u = applyUpdate(this.p, this.g, this.ws.touched, this.ws.touchedCount, r.count, this.opt, this.clipNorm, this.ws.k);
    return { loss: r.lossSum / r.count, accuracy: r.correct / r.count, count: r.count, ...u };
  }

  evaluate(batch: Batch) {
    const r = forward(this.p, this.ws, batch);
    return { loss: r.lossSum / r.count, accuracy: r.correct / r.count, ...r };
  }
}
