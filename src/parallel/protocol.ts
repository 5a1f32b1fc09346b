// What the coordinator and the worker threads share. Everything big lives in SharedArrayBuffers
// handed over once, at pool creation, through piscina's workerData. Evaluation tasks are small
// descriptors sent through piscina; training steps are not: each worker thread runs one long
// LoopTask that waits on a step counter in shared memory and reads its part of each step from a
// mailbox there (writeTask/readTask), so no thread waits to be woken by a message in a step.

import type { ModelSpec } from '../model/spec.js';
import type { Layout } from '../model/params.js';
import type { EncodedSplit, SplitName } from '../data/index.js';
import type { OptimizerOptions } from '../optim/optim.js';
import type { ResolvedKernels } from '../model/backend/index.js';

/** A gradient slot: where one shard's gradient sums go. Shard k of every step writes slot k. */
export interface SlotBuffers {
  /** Byte offset in the arena of the gradient sums, laid out like the parameters (Float32). */
  grad: number;
  /** [0] = number of touched token rows, then the row ids (they are the only nonzero rows of the token table); in the arena. */
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
  /** The parameters' layout (the run's makeLayout(spec), plain data): every thread views the arena by it. */
  layout: Layout;
  /** The compute backend every worker creates on the arena, at this ISA (resolved once, in the main thread). */
  kernels: ResolvedKernels;
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
  /** Per thread k, BOX_WORDS words: its part of the next command (writeTask), read by the worker loop. */
  box: Float64Array;
  /** Per thread k, RESULT_WORDS words: its step's loss sum, count, correct and phase times (writeResult). */
  results: Float64Array;
  /** Tests only: make the worker fail at this step (or, `during: 'eval'`, in evaluation), by throwing, killing its thread, or never answering. */
  inject?: { failAtStep: number; mode: 'throw' | 'exit' | 'hang' | 'vanish'; during?: 'step' | 'eval' };
}

/** The key of the message a worker posts once, { [TID_MESSAGE]: OS thread id, threadId }: the coordinator's liveness check. */
export const TID_MESSAGE = 'rnnTrainerTid';

/**
 * The key of the message a worker thread posts to wake the main thread from its wait in a step
 * (see wakeMain in shard.ts): Node 20's Atomics.waitAsync is not woken by another thread's
 * Atomics.notify, only by its timeout.
 */
export const WAKE_MESSAGE = 'rnnTrainerWake';

/** Indices into WorkerInit.sync. */
export const SYNC_COUNT = 0; //  tasks arrived at the current barrier
export const SYNC_GEN = 1; //    barrier generation: bumped by the last to arrive
export const SYNC_ABORT = 2; //  set by the coordinator when a task failed: the others stop waiting
export const SYNC_STEP = 3; //   the command counter: the main thread bumps it (and notifies) to start a command
export const SYNC_ASLEEP = 4; // 1 while the main thread sleeps in a step: a worker that releases it posts WAKE_MESSAGE
export const SYNC_DONE = 5; //   worker threads done with the current command
export const SYNC_READY = 6; //  loop tasks running (their threads started): the stall clock waits for them
export const SYNC_PHASE = 8; //  + k: the phase task k has reached in this step (PHASE_*)
export const PHASE_GRADIENT = 1, PHASE_REDUCE = 2, PHASE_UPDATE = 3;

/**
 * The long task each worker thread k = 1..W-1 runs while training: wait for the command counter
 * (SYNC_STEP) to pass `seq` (spinning briefly, then sleeping), run its part of the command in
 * its mailbox, count itself done (SYNC_DONE), and wait again, until an exit command. Shard 0 is
 * computed by the main thread itself.
 */
export interface LoopTask {
  kind: 'loop';
  k: number;
  /** SYNC_STEP when the loop was started: the first command bumps it past this. */
  seq: number;
}

/** Mailbox commands. */
export const CMD_STEP = 1, CMD_UPDATE = 2, CMD_EXIT = 3;
export const BOX_WORDS = 32;
export const RESULT_WORDS = 8;
const SPLITS: SplitName[] = ['train', 'val', 'test'];
/** The optimizer kinds the mailbox carries (by index). A new OptimizerOptions field must be added to writeTask/readTask too. */
const KINDS: Array<OptimizerOptions['kind']> = ['adam', 'sgd'];

/** Write thread k's command into the mailbox (CMD_EXIT: `task` null). */
export function writeTask(box: Float64Array, k: number, task: StepTask | UpdateTask | null): void {
  const b = k * BOX_WORDS;
  if (task === null) { box[b] = CMD_EXIT; return; }
  const u = task.kind === 'step' ? task.update : task;
  const o = u.opts;
  box[b] = task.kind === 'step' ? CMD_STEP : CMD_UPDATE;
  box[b + 1] = task.step;
  box[b + 12] = u.step;
  box[b + 13] = KINDS.indexOf(o.kind);
  if (box[b + 13] < 0) throw new Error(`writeTask: the mailbox does not carry optimizer kind ${o.kind}`);
  box[b + 14] = o.lr; box[b + 15] = o.beta1; box[b + 16] = o.beta2; box[b + 17] = o.eps; box[b + 18] = o.momentum; box[b + 19] = o.weightDecay ?? 0;
  if (task.kind === 'update') {
    box[b + 8] = task.lo; box[b + 9] = task.hi; box[b + 24] = task.scale;
    return;
  }
  box[b + 2] = SPLITS.indexOf(task.split);
  box[b + 3] = task.off; box[b + 4] = task.n; box[b + 5] = task.k; box[b + 6] = task.W; box[b + 7] = task.S;
  box[b + 8] = task.lo; box[b + 9] = task.hi; box[b + 10] = task.cur; box[b + 11] = task.row0;
  box[b + 20] = task.update.clipNorm; box[b + 21] = task.update.ulo; box[b + 22] = task.update.uhi;
  box[b + 23] = task.gradientOnly ? 1 : 0;
  box[b + 25] = task.fused ? 1 : 0;
}

/** Read thread k's command from the mailbox into the given objects (reused: nothing allocated per step); returns which. */
export function readTask(box: Float64Array, k: number, step: StepTask, update: UpdateTask): StepTask | UpdateTask | null {
  const b = k * BOX_WORDS, cmd = box[b];
  if (cmd === CMD_EXIT) return null;
  const t = cmd === CMD_STEP ? step : update;
  const u = cmd === CMD_STEP ? step.update : update;
  const o = u.opts;
  t.step = box[b + 1];
  u.step = box[b + 12];
  o.kind = KINDS[box[b + 13]];
  o.lr = box[b + 14]; o.beta1 = box[b + 15]; o.beta2 = box[b + 16]; o.eps = box[b + 17]; o.momentum = box[b + 18]; o.weightDecay = box[b + 19];
  if (cmd === CMD_UPDATE) {
    update.lo = box[b + 8]; update.hi = box[b + 9]; update.scale = box[b + 24];
    return update;
  }
  step.split = SPLITS[box[b + 2]];
  step.off = box[b + 3]; step.n = box[b + 4]; step.k = box[b + 5]; step.W = box[b + 6]; step.S = box[b + 7];
  step.lo = box[b + 8]; step.hi = box[b + 9]; step.cur = box[b + 10] as 0 | 1; step.row0 = box[b + 11];
  step.update.clipNorm = box[b + 20]; step.update.ulo = box[b + 21]; step.update.uhi = box[b + 22];
  step.gradientOnly = box[b + 23] !== 0;
  step.fused = box[b + 25] !== 0;
  return step;
}

/** An empty StepTask and UpdateTask for readTask to fill. */
export function blankTasks(): [StepTask, UpdateTask] {
  const opts = (): OptimizerOptions => ({ kind: 'adam', lr: 0, beta1: 0, beta2: 0, eps: 0, momentum: 0, weightDecay: 0 });
  return [
    { kind: 'step', step: 0, split: 'train', off: 0, n: 0, k: 0, W: 1, S: 1, lo: 0, hi: 0, cur: 0, row0: 0, update: { step: 0, opts: opts(), clipNorm: 0, ulo: 0, uhi: 0 }, gradientOnly: false, fused: false },
    { kind: 'update', step: 0, opts: opts(), scale: 0, lo: 0, hi: 0 },
  ];
}

/** Thread k's part of a step's result, where the main thread reads it: loss sum, count, correct, phase times. */
export function writeResult(results: Float64Array, k: number, r: Pick<StepResult, 'lossSum' | 'count' | 'correct' | 'fwdBwdMs' | 'reduceMs' | 'updateMs'>): void {
  const b = k * RESULT_WORDS;
  results[b] = r.lossSum; results[b + 1] = r.count; results[b + 2] = r.correct;
  results[b + 3] = r.fwdBwdMs; results[b + 4] = r.reduceMs; results[b + 5] = r.updateMs;
}

/** Read thread k's result (writeResult) into `r`. */
export function readResult(results: Float64Array, k: number, r: StepResult): void {
  const b = k * RESULT_WORDS;
  r.lossSum = results[b]; r.count = results[b + 1]; r.correct = results[b + 2];
  r.fwdBwdMs = results[b + 3]; r.reduceMs = results[b + 4]; r.updateMs = results[b + 5];
}

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
  /**
   * No clipping (Adam, clipNorm 0, not gradientOnly): after the first barrier each task sums its
   * part of the slots and applies Adam to it in one pass (ShardRunner.fused), without writing the
   * reduced gradient, and there is no second barrier. Its Σ g² goes to partials[4k+2] for the
   * caller's norm.
   */
  fused?: boolean;
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
