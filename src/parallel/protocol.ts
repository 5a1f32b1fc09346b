// What the coordinator and the worker threads share. Everything big lives in SharedArrayBuffers
// handed over once, at pool creation, through piscina's workerData; a task is a small descriptor.

import type { ModelSpec } from '../model/spec.js';
import type { EncodedSplit, SplitName } from '../data/index.js';
import type { OptimizerOptions } from '../optim/optim.js';
import type { BackendName } from '../model/backend/index.js';

/** A gradient slot: where one shard's gradient sums go. Shard k of every step writes slot k. */
export interface SlotBuffers {
  /** Byte offset in the arena of the gradient sums, laid out like the parameters (Float32). */
  grad: number;
  /** [0] = number of touched token rows, then the row ids (they are the only nonzero rows of the token table). */
  touched: Int32Array;
  /** Σ over rows of ‖dL/da_t‖ and the row count, per step t (the vanishing-gradient profile). */
  normSum: Float64Array;
  normCount: Float64Array;
}

/**
 * Language models with train.carryState: each batch row's carried state, in shared memory. Index
 * 0 is training's, 1 evaluation's (a validation pass in the middle of training must not disturb
 * the streams being trained). A task reads and writes only the rows of its shard.
 */
export interface CarryBuffers {
  /** Values per row: stateSize(spec). */
  S: number;
  /** rows × S: the state each row's stream ended in. */
  state: [Float32Array, Float32Array];
  /** The chunk id each row's stream ended at (-1: none): a row's next chunk carries the state only if it continues that one. */
  ids: [Int32Array, Int32Array];
}

export interface WorkerInit {
  spec: ModelSpec;
  /** The compute backend every worker creates on the arena (resolved once, in the main thread). */
  kernels: BackendName;
  /** Step barriers and the abort flag (see SYNC_* below), and each task's phase. */
  sync: Int32Array;
  /** Per task k: [4k] loss sum, [4k+1] count, [4k+2] Σ g² of its part of the reduction; read in task order by all. */
  partials: Float64Array;
  /** Rows in unions[0] and unions[1] (written by task 0 of the step that built them). */
  unionCounts: Int32Array;
  /**
   * The run's SharedArena: parameters, reduced gradient, gradient slots and optimizer moments, all
   * Float32 laid out like the parameters, at these byte offsets; read and written in place.
   */
  memory: WebAssembly.Memory;
  params: number;
  grad: number;
  moments: { m: number; v: number } | null;
  /** The slots' byte addresses (Int32, one per slot) in the arena: the SIMD reduction's table. */
  slotTable: number;
  slots: SlotBuffers[];
  /** Token rows nonzero in the reduced gradient: this step's (unions[cur]) and the last step's (unions[1 - cur]). */
  unions: [Int32Array, Int32Array];
  splits: Partial<Record<SplitName, EncodedSplit>>;
  /** Example-id lists that tasks index into: the epoch's order for train, a fixed order for eval. */
  orders: Partial<Record<SplitName, Int32Array>>;
  maxB: number;
  maxT: number;
  bpttWindow: number;
  /** Dropout rate while training, and the run's seed (each step's masks are keyed by both). */
  dropout: number;
  seed: number;
  /** Target replication weight (many-to-one; 0 = off). */
  stepLoss: number;
  /** train.classWeights: the training loss weight of each class (many-to-one), or null: all 1. */
  classWeights: number[] | null;
  /** Carried states (train.carryState, many-to-many), or null: every sequence starts from zero. */
  carry: CarryBuffers | null;
  /** Step counter: the coordinator bumps it (Atomics) after each update, workers read it on each task. */
  fence: Int32Array;
  /** Tests only: make the worker fail at this step (or, `during: 'eval'`, in evaluation), by throwing, killing its thread, or never answering. */
  inject?: { failAtStep: number; mode: 'throw' | 'exit' | 'hang' | 'vanish'; during?: 'step' | 'eval' };
}

/** The key of the message a worker posts once, { [TID_MESSAGE]: OS thread id, threadId }: the coordinator's liveness check. */
export const TID_MESSAGE = 'rnnTrainerTid';

/** Indices into WorkerInit.sync. */
export const SYNC_COUNT = 0; //  tasks arrived at the current barrier
export const SYNC_GEN = 1; //    barrier generation: bumped by the last to arrive
export const SYNC_ABORT = 2; //  set by the coordinator when a task failed: the others stop waiting
export const SYNC_PHASE = 4; //  + k: the phase task k has reached in this step (PHASE_*)
export const PHASE_GRADIENT = 1, PHASE_REDUCE = 2, PHASE_UPDATE = 3;

/**
 * One training step on one worker, in one round trip: forward + BPTT of the shard into slot k;
 * barrier; its part of the slot sum (the dense elements [lo, hi) and the token rows r with
 * r mod W = k; the last step's rows zeroed first by the same task, so no two tasks touch a row);
 * barrier; then every task reads the same loss, count and Σ g² (in task order), and applies the
 * clipped optimizer step to its slice [ulo, uhi) — or nothing, if the loss or gradient is not finite.
 * W tasks run at once, one per thread; tasks k ≥ S (fewer shards than workers) have no shard.
 */
export interface StepTask {
  kind: 'step';
  step: number;
  split: SplitName;
  off: number; // into orders[split]
  n: number; //   0: no shard for this task
  k: number; //   task index = slot
  W: number;
  S: number; //   shards (slots to sum)
  lo: number;
  hi: number;
  cur: 0 | 1; //  this step's union buffer
  row0: number; // the shard's first row within the batch (carried states are kept by row)
  /** The optimizer step: its number (1-based), options (lr for this step), clipping, and this task's slice. */
  update: { step: number; opts: OptimizerOptions; clipNorm: number; ulo: number; uhi: number };
  /**
   * Stop after the slot sum (distributed training: the reduced gradient is this rank's share, to be
   * summed over the ranks before an UpdateTask applies it). The result's gradNorm is then this
   * task's Σ g², and nothing is updated.
   */
  gradientOnly?: boolean;
}

/** The optimizer step on slice [lo, hi) of the parameters, with gradient scale·grad (distributed training). */
export interface UpdateTask {
  kind: 'update';
  step: number;
  opts: OptimizerOptions;
  scale: number;
  lo: number;
  hi: number;
}

export interface StepResult {
  lossSum: number;
  count: number;
  correct: number;
  /** The batch's totals (the same in every task). */
  batchLoss: number;
  batchCount: number;
  gradNorm: number;
  clipped: boolean;
  /** false: the loss or the gradient was not finite, and nothing was updated. */
  finite: boolean;
  /** Wall time of each phase in this worker, ms: batch fill + forward + BPTT, slot sum, update. */
  fwdBwdMs: number;
  reduceMs: number;
  updateMs: number;
}

export interface EvalTask {
  kind: 'eval';
  split: SplitName;
  off: number;
  n: number;
  /** Also count (label, prediction) pairs: a C×C confusion matrix, row = true label (tagging: one pair per token). */
  confusion: boolean;
  /** Tagging with BIO tags (and confusion): count spans too, with this scheme (BioScheme's arrays as lists). */
  bio?: { kind: number[]; type: number[] };
  /** Carry states (CarryBuffers index 1) by row, the shard's first row being row0 of its batch. */
  carry?: { row0: number };
}

export interface ShardResult {
  lossSum: number;
  count: number;
  correct: number;
  /** Forward + backward time in this worker, ms. */
  ms: number;
  confusion?: number[];
  /** Tagging with BIO tags: [correct, predicted, gold] spans. */
  spans?: [number, number, number];
}
