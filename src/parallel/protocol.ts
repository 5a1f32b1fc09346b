// What the coordinator and the worker threads share. Everything big lives in SharedArrayBuffers
// handed over once, at pool creation, through piscina's workerData; a task is a small descriptor.

import type { ModelSpec } from '../model/spec.js';
import type { EncodedSplit, SplitName } from '../data/index.js';
import type { OptimizerOptions } from '../train/optim.js';

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

export interface WorkerInit {
  spec: ModelSpec;
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
  /** Step counter: the coordinator bumps it (Atomics) after each update, workers read it on each task. */
  fence: Int32Array;
  /** Tests only: make the worker fail at this step, by throwing or by killing its thread. */
  inject?: { failAtStep: number; mode: 'throw' | 'exit' };
}

export interface GradTask {
  kind: 'grad';
  step: number;
  split: SplitName;
  off: number; // into orders[split]
  n: number;
  slot: number;
}

export interface EvalTask {
  kind: 'eval';
  split: SplitName;
  off: number;
  n: number;
  /** Also count (label, prediction) pairs: a C×C confusion matrix, row = true label. */
  confusion: boolean;
}

/**
 * Sum slots 0..S-1 into the reduced gradient: the dense elements [lo, hi), and the token rows r
 * with r mod W = k (the last step's rows are zeroed first, by the same worker: no two workers
 * touch one row). Returns Σ g² of what it wrote.
 */
export interface ReduceTask {
  kind: 'reduce';
  S: number;
  lo: number;
  hi: number;
  k: number;
  W: number;
  cur: 0 | 1;
  count: number; //     rows in unions[cur]
  prevCount: number; // rows in unions[1 - cur]
}

export interface UpdateTask {
  kind: 'update';
  /** Optimizer step, 1-based (Adam's bias correction). */
  step: number;
  opts: OptimizerOptions;
  /** Gradient factor: 1/count times the clipping factor. */
  scale: number;
  lo: number;
  hi: number;
}

export interface ShardResult {
  lossSum: number;
  count: number;
  correct: number;
  /** Forward + backward time in this worker, ms. */
  ms: number;
  confusion?: number[];
}
