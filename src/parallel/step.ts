// The step path: what a training run calls for each step, one interface for one process and for
// many. LocalStep is one process: the Coordinator's worker pool runs gradient, slot sum, clipping
// and update in one round trip. DistributedStep (distributed.ts) decorates a LocalStep with the
// MPI exchange, using its two phases in the one order the types allow:
//
//   local.gradient(batch, rank, ranks) → PartGradient     this rank's shards, summed over its workers
//   part.summed(totals of the ranks)   → SummedGradient   after the exchange wrote the ranks' sum into part.grad
//   local.update(summed)               → the step's stats the clipping and the optimizer step (Coordinator.update)
//
// A SummedGradient is made from a PartGradient only, once, and update() takes only the one of the
// step in flight: no update before the gradient, none twice, no rows set from outside.

import type { Coordinator, PartGradient, StepBatch, SummedGradient, TrainStepResult } from './coordinator.js';

export type { StepBatch } from './coordinator.js';

/** Distributed steps' figures on top of a step's (DistributedStep). */
export interface ExchangeStats {
  /** Bytes of this step's allreduce payload, and its wall time (ms). */
  allreduceBytes: number;
  allreduceMs: number;
}

export interface StepStats extends TrainStepResult, Partial<ExchangeStats> {}

/** What a run calls: one optimizer step on a batch (the run sets the optimizer's lr before). */
export interface TrainStep {
  step(b: StepBatch): Promise<StepStats>;
  /** Whether the run stops before its next step: this process's AbortSignal, or (distributed) any rank's, agreed in the last step. */
  stopped(): boolean;
  /** A line for the end of the run about the steps (distributed: the traffic), or null. */
  summary(): string | null;
}

/** One process: the Coordinator's step; and its two phases, for a decorator (DistributedStep). */
export class LocalStep implements TrainStep {
  constructor(private readonly co: Coordinator, private readonly signal?: AbortSignal) {}

  step(b: StepBatch): Promise<TrainStepResult> {
    return this.co.step(b.step, b.split, b.off, b.n, b.clipNorm);
  }

  stopped(): boolean {
    return this.signal?.aborted ?? false;
  }

  summary(): string | null {
    return null;
  }

  /** Phase 1: rank `rank` of `ranks`'s part of the batch's gradient (Coordinator.gradient). */
  gradient(b: StepBatch, rank: number, ranks: number): Promise<PartGradient> {
    return this.co.gradient(b, rank, ranks);
  }

  /** Phase 2: clipping and the optimizer step from the summed gradient (Coordinator.update). */
  update(g: SummedGradient): Promise<TrainStepResult> {
    return this.co.update(g);
  }

  /** What the exchange's buffers are sized by (Distributed.prepare). */
  exchangeShape(): ReturnType<Coordinator['exchangeShape']> {
    return this.co.exchangeShape();
  }
}
