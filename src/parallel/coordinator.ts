// The coordinator: cuts each batch into shards balanced by real tokens and runs a training step
// on W worker threads (piscina), each running one long loop task that waits on a step counter in
// shared memory, so no thread waits to be woken by a message in a step. While steps are short the
// main thread computes shard 0 itself (its worker thread idles), so no thread start is on the
// critical path either. Each thread computes its shard's gradient sums into its slot, meets the
// others at a barrier in shared memory, sums its part of the slots (in slot order, each thread a
// part of the arena), meets them again, and applies the clipped optimizer step to its slice of
// the parameters (without clipping, sum and Adam are one pass: ShardRunner.fused). Everything
// lives in one SharedArena, so the products run on the chosen compute backend and the reduction
// and the update as SIMD kernels, with no copies. A failure in any thread (or a thread that stops
// answering) aborts the step; nothing is applied unless a thread had already begun its update.

import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import type { ModelSpec } from '../model/spec.js';
import { allocParams, type Params, type Layout } from '../model/params.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sharedBuffer, sharedInt32, arenaOf, type SharedArena } from '../util/shared.js';
import { tokenRows, stepUpdate, type UpdateStats } from '../optim/step.js';
import type { Optimizer } from '../optim/optim.js';
import { local, type EncodedSplit, type SplitName } from '../data/index.js';
import { shardWindow } from '../data/shards.js';
import {
  SYNC_ABORT, SYNC_GEN, SYNC_STEP, SYNC_DONE, SYNC_READY, SYNC_ASLEEP, SYNC_PHASE, PHASE_UPDATE, TID_MESSAGE, WAKE_MESSAGE, BOX_WORDS, RESULT_WORDS, writeTask, readResult, blankTasks,
  type WorkerInit, type SlotBuffers, type StepTask, type StepResult, type EvalTask, type ShardResult, type CarryBuffers, type UpdateTask, type LoopTask,
} from './protocol.js';
import { ShardRunner, Spin, arrive, spinWhile } from './shard.js';
import { stateSize } from '../model/spec.js';
import { UserError } from '../util/errors.js';
import { StallWatchdog, stallSeconds } from './watchdog.js';
import type { BioScheme } from '../model/metrics.js';
import type { ResolvedKernels } from '../model/backend/index.js';
import { workerCount, WORKER_EXEC_ARGV } from '../util/threads.js';

/** The compiled worker. Tests run the TypeScript sources, but worker threads always load dist/. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const root = here.slice(0, here.lastIndexOf(here.includes('/dist/') ? '/dist/' : '/src/'));
  const file = `${root}/dist/workers/shard.js`;
  if (!existsSync(file)) throw new UserError(`worker code not found at ${file}: run \`npm run build\` first`);
  return file;
}

export interface CoordinatorOptions {
  spec: ModelSpec;
  workers?: number;
  /** Largest batch (sequences) and longest sequence the pool must handle. */
  maxB: number;
  maxT: number;
  bpttWindow: number;
  /** Dropout rate while training (default 0) and the seed its masks are keyed by. */
  dropout?: number;
  seed?: number;
  /** Target replication weight while training (default 0). */
  stepLoss?: number;
  /** Class weights of the training loss (many-to-one; default: all 1). */
  classWeights?: number[];
  /**
   * Carry each row's state from chunk to chunk (language models, train.carryState): steps and
   * evaluations then take batches of streamPlan, row b being stream b, and evaluate runs its
   * batches in order (each cut over the workers), since each starts from the last one's states.
   */
  carryState?: boolean;
  splits: Partial<Record<SplitName, EncodedSplit>>;
  /** The parameters (allocParams, float32): the gradient and its slots are allocated in their arena, laid out by their layout (the run's, passed on to the workers). */
  params: Params;
  /** The optimizer, its moments in the parameters' arena (new Optimizer(size, opts, arenaOf(params.data))); not needed to evaluate only. */
  optimizer?: Optimizer;
  /** The compute backend the workers use, as the command resolved it (resolveKernels). */
  kernels: ResolvedKernels;
  /** A step that takes longer than this is taken as a worker that stopped answering (default: see stallTimeout). */
  stallTimeoutMs?: number;
  inject?: WorkerInit['inject'];
  /**
   * Without clipping, sum the slots and apply Adam in one pass per thread (ShardRunner.fused; the
   * same bits). Off by default: measured side by side on every bench workload here it was slower
   * than the two passes (W-medium 1 worker 0.88x, W-large 0.93-0.96x, W-small equal).
   */
  fuseUpdate?: boolean;
  /** model.input.freeze: the token table (the first tensor) is left out of every update slice. */
  freezeTable?: boolean;
}

/** The pool's least stall limit, ms (see StallWatchdog). */
const POOL_STALL_FLOOR_MS = 120_000;
/** How often a waiting step checks that every worker's OS thread still exists, ms. */
const LIVENESS_MS = 250;
/** How long a teardown waits for the threads to stop: a thread that vanished never reports its exit. */
const DESTROY_WAIT_MS = 2000;
/** Linux: the process's threads are listed here; elsewhere only the stall timeout sees a dead thread. */
const TASKS = '/proc/self/task';
const HAS_TASKS = existsSync(TASKS);

export interface TrainStepResult extends Omit<UpdateStats, 'scale'> {
  lossSum: number;
  count: number;
  correct: number;
  shards: number;
  /** Forward + backward of one shard in its worker (batch fill included): slowest and mean. */
  fwdBwdMsMax: number;
  fwdBwdMsMean: number;
  /** The slot sum and the optimizer update (slowest worker of each). */
  reduceMs: number;
  updateMs: number;
}

/** One step's batch (the step path's, step.ts): order[off, off+n) of `split`, global step `step` (1-based). */
export interface StepBatch {
  step: number;
  split: SplitName;
  order: Int32Array;
  off: number;
  n: number;
  /** train.clipNorm (0: none). */
  clipNorm: number;
}

/** A step's figures before its update: loss sums, shards, phase times. */
type GradientStats = Omit<TrainStepResult, keyof UpdateStats | 'updateMs'>;

/**
 * A rank's part of a distributed step's gradient (Coordinator.gradient), summed over its workers
 * into `grad`, which is nonzero in the dense part [denseStart, size) and the token rows `rows`
 * only (rows of `width` values). The exchange sums `grad` (and the carried states' rows
 * [lo, hi) of `carry`) over the ranks in place, then summed() gives what update() applies.
 */
export class PartGradient {
  private used = false;
  constructor(
    readonly batch: StepBatch,
    /** This rank's loss sums and timings. */
    readonly stats: GradientStats,
    readonly grad: Float32Array,
    readonly rows: Int32Array,
    readonly width: number,
    readonly denseStart: number,
    /** Language models carrying state: every batch row's carried state (S values a row); this rank's shards hold rows [lo, hi), the others' are to be summed in. */
    readonly carry: { S: number; state: Float32Array; lo: number; hi: number } | null,
    /** Wake the worker threads ahead of the update (they spin through the exchange instead of sleeping). */
    readonly wake: () => void,
  ) {}

  /**
   * The batch's whole gradient, once `grad` (and the carried states) hold the sum over the ranks:
   * its nonzero token rows rows[0, u), the batch's loss sum, count and correct over the ranks,
   * and Σ g² of the summed gradient (the same bits on every rank).
   */
  summed(t: { rows: Int32Array; u: number; lossSum: number; count: number; correct: number; sumSq: number }): SummedGradient {
    if (this.used) throw new Error('PartGradient.summed: this gradient was summed already');
    this.used = true;
    return new SummedGradient(this, t);
  }
}

/** A step's gradient summed over the ranks (PartGradient.summed): what Coordinator.update applies. */
export class SummedGradient {
  constructor(readonly part: PartGradient, readonly totals: Readonly<Parameters<PartGradient['summed']>[0]>) {}
}

export interface EvalResult { lossSum: number; count: number; correct: number; confusion: number[] | null; spans?: [number, number, number] }

/** How an evaluation can be watched and stopped (Coordinator.evaluate). */
export interface EvalRunOptions {
  /** Once aborted, no batch is started any more, and evaluate returns null. */
  signal?: AbortSignal;
  /** After each finished batch: how many of how many. */
  onBatch?: (done: number, batches: number) => void;
  /** Tagging with BIO tags (and confusion): count spans too (EvalResult.spans). */
  bio?: BioScheme | null;
}

export class WorkerFailure extends UserError {
  /** `detail`: what failed, without the step and what it means for the parameters. */
  constructor(readonly step: number, readonly detail: string, partial = false) {
    super(`training stopped at step ${step}: a worker thread failed (${detail}). ${partial
      ? 'The optimizer update of this step may be partly applied: resume from the last checkpoint.'
      : `No update was applied for this step; the parameters are those after step ${step - 1}.`}`);
    this.name = 'WorkerFailure';
  }
}

/** Steps shorter than this bring shard 0 to the main thread; longer than LONG_STEP_MS take it back to a worker thread, ms. */
const SHORT_STEP_MS = 20;
const LONG_STEP_MS = 50;

/** How long the main thread spins at a barrier (or for the workers to finish) before it yields to its event loop, at most, ms. */
const MAIN_SPIN_MS = 0.5;

/** The event loop gets a turn (signals, timers, I/O) at least this often, ms: steps that never wait would starve it. */
const TURN_MS = 5;

/** Thrown in the main thread when a worker thread aborted the step: its own error is its loop task's rejection. */
class StepAborted extends Error {}

export class Coordinator {
  /** Shards per batch, and worker threads. */
  readonly workers: number;
  readonly layout: Layout;
  readonly params: Params;
  /** The reduced gradient: sums over the batch (the update applies 1/count and the clipping factor as it reads them). */
  readonly grad: Params;
  /** The worker threads, one per shard. */
  private readonly pool: Piscina;
  private readonly init: WorkerInit;
  /** Shard 0 in this thread, while steps are short (see onMain); null until the first such step. */
  private runner: ShardRunner | null = null;
  /**
   * Whether this thread computes shard 0 (and its worker thread idles): while steps are short,
   * where waking a thread would cost a good part of the step. Long steps are left to the worker
   * threads alone, so that this thread's event loop answers at once (a second Ctrl-C exits then).
   */
  private onMain = false;
  /** The first shard of the running loops (1: this thread computes shard 0). */
  private loopsFrom: 0 | 1 = 0;
  private readonly slots: SlotBuffers[];
  private readonly orders: Partial<Record<SplitName, Int32Array>>;
  private readonly fence: Int32Array;
  private readonly sync: Int32Array;
  private readonly box: Float64Array;
  private readonly results: Float64Array;
  private readonly partials: Float64Array;
  private readonly carry: CarryBuffers | null;
  /** The token rows nonzero in `grad`, this step's (cur) and the last's, and their counts (see WorkerInit.unions). */
  private readonly unions: [Int32Array, Int32Array];
  private readonly unionCounts: Int32Array;
  /** Which of the workers' two union buffers this step's token rows go to. */
  private cur: 0 | 1 = 0;
  /** A distributed step's part gradient, between gradient() and update(). */
  private pending: PartGradient | null = null;
  private closed = false;
  /** Each worker's OS thread id, by its threadId (the workers post them): the liveness check. */
  private readonly tids = new Map<number, number>();
  /** The stall limit of a step's waits (it scales with the slowest step so far). */
  private readonly watchdog: StallWatchdog;
  /** The worker threads' loop tasks while training (null: not running, e.g. during evaluation). */
  private loops: Promise<unknown>[] | null = null;
  /** Errors the loop tasks ended with (a worker thread that threw, died or left its loop). */
  private loopErrors: Error[] = [];
  private exiting = false;
  /** How long this thread spins in a step's wait before it naps (up to MAIN_SPIN_MS). */
  private readonly spin = new Spin(MAIN_SPIN_MS);
  /** Ends the main thread's nap in a step (see nap()), while it naps. */
  private wake: (() => void) | null = null;
  /** When the event loop last had a turn before a step (see turn()). */
  private lastTurn = 0;
  /** Each thread's part of the step (tasks[0]: this thread's) and its result, reused step after step. */
  private readonly tasks: StepTask[];
  private readonly updateTasks: UpdateTask[];
  private readonly stepResults: StepResult[];
  /** The per-step gradient-norm profile of the last step: mean ‖dL/da_t‖ for t = 1..T. */
  readonly stepNorms: Float64Array;
  stepNormsT = 0;

  constructor(private readonly o: CoordinatorOptions) {
    this.workers = workerCount(o.workers);
    this.layout = o.params.layout; // the run's layout, computed once where the parameters were allocated
    this.params = o.params;
    this.watchdog = new StallWatchdog(o.stallTimeoutMs, POOL_STALL_FLOOR_MS);
    const arena: SharedArena | undefined = arenaOf(this.params.data);
    if (!arena) throw new Error('Coordinator: parameters must live in a SharedArena (allocParams float32)');
    const { m, v } = o.optimizer ?? {};
    if (m && (arenaOf(m) !== arena || (v!.length > 0 && arenaOf(v!) !== arena))) throw new Error("Coordinator: the optimizer's moments must live in the parameters' arena");
    this.grad = allocParams(this.layout, 'float32', arena);
    const maxRows = Math.min(o.spec.V, o.maxB * o.maxT);
    this.slots = Array.from({ length: this.workers }, () => ({
      grad: arena.float32(this.layout.size).byteOffset,
      touched: arena.int32(1 + maxRows), // in the arena: the kernels zero the slot's rows by this list (ShardRunner)
      normSum: new Float64Array(sharedBuffer(o.maxT * 8), 0, o.maxT),
      normCount: new Float64Array(sharedBuffer(o.maxT * 8), 0, o.maxT),
    }));
    this.orders = {};
    for (const [name, split] of Object.entries(o.splits) as [SplitName, EncodedSplit][]) {
      // Token shards: an order holds one segment's plan (a shard's examples), not the split's.
      this.orders[name] = sharedInt32(Math.max(1, shardWindow(split)?.largest ?? split.count));
      // Token shards: a window for the batches of one round of tasks (evaluate runs up to W at once).
      shardWindow(split)?.reserve(this.workers * o.maxB * (o.maxT + 1));
    }
    this.fence = sharedInt32(1);
    this.sync = sharedInt32(SYNC_PHASE + this.workers);
    this.box = new Float64Array(sharedBuffer(8 * BOX_WORDS * this.workers), 0, BOX_WORDS * this.workers);
    this.results = new Float64Array(sharedBuffer(8 * RESULT_WORDS * this.workers), 0, RESULT_WORDS * this.workers);
    this.stepNorms = new Float64Array(o.maxT);
    const S = stateSize(o.spec);
    const rows = () => new Float32Array(sharedBuffer(4 * o.maxB * S), 0, o.maxB * S);
    const ids = () => sharedInt32(o.maxB).fill(-1);
    this.carry = o.carryState && o.spec.task === 'many-to-many' ? { S, state: [rows(), rows()], ids: [ids(), ids()] } : null;
    this.unions = [sharedInt32(o.spec.V), sharedInt32(o.spec.V)];
    this.unionCounts = sharedInt32(2);
    const init: WorkerInit = {
      spec: o.spec, layout: this.layout, kernels: o.kernels, sync: this.sync,
      partials: (this.partials = new Float64Array(sharedBuffer(32 * this.workers), 0, 4 * this.workers)), unionCounts: this.unionCounts,
      memory: arena.memory, params: this.params.data.byteOffset, grad: this.grad.data.byteOffset,
      moments: m ? { m: m.byteOffset, v: v!.length > 0 ? v!.byteOffset : -1 } : null,
      slots: this.slots, unions: this.unions, splits: o.splits,
      orders: this.orders, maxB: o.maxB, maxT: o.maxT, bpttWindow: o.bpttWindow, dropout: o.dropout ?? 0, seed: o.seed ?? 0, stepLoss: o.stepLoss ?? 0, classWeights: o.classWeights ?? null, carry: this.carry, fence: this.fence,
      box: this.box, results: this.results, inject: o.inject,
    };
    this.init = init;
    this.tasks = [];
    this.updateTasks = [];
    this.stepResults = [];
    for (let k = 0; k < this.workers; k++) {
      const [t, u] = blankTasks();
      this.tasks.push(t);
      this.updateTasks.push(u);
      this.stepResults.push({ lossSum: 0, count: 0, correct: 0, batchLoss: 0, batchCount: 0, gradNorm: 0, clipped: false, finite: true, fwdBwdMs: 0, reduceMs: 0, updateMs: 0 });
    }
    this.pool = new Piscina({
      filename: workerFile(), minThreads: this.workers, maxThreads: this.workers, idleTimeout: 24 * 3600 * 1000, workerData: init,
      execArgv: [...WORKER_EXEC_ARGV],
    });
    // Errors outside a task (a thread dying between tasks) surface at the next run(); keep the
    // EventEmitter from throwing them at top level.
    this.pool.on('error', () => {});
    this.pool.on('message', (m: { [TID_MESSAGE]?: number; [WAKE_MESSAGE]?: number; threadId?: number }) => {
      if (m?.[WAKE_MESSAGE]) this.wake?.();
      if (typeof m?.[TID_MESSAGE] === 'number' && typeof m.threadId === 'number') this.tids.set(m.threadId, m[TID_MESSAGE]);
    });
  }

  /**
   * A worker whose OS thread is gone while the pool still counts it: it ended without a word
   * (killed from outside, a native crash of that thread alone), so no 'exit' event will come and
   * its task would never settle. Described, or null.
   */
  private vanished(): string | null {
    for (const w of this.pool.threads) {
      const tid = this.tids.get(w.threadId);
      if (tid !== undefined && !existsSync(`${TASKS}/${tid}`)) return `worker thread ${w.threadId} ended without a word (its OS thread ${tid} is gone: killed from outside?)`;
    }
    return null;
  }

  /** Write an order of example ids (e.g. an epoch plan) that tasks on `split` then index into. */
  setOrder(split: SplitName, order: Int32Array): void {
    const dst = this.orders[split];
    if (!dst || order.length > dst.length) throw new Error(`Coordinator.setOrder: ${split} holds ${dst?.length ?? 0} ids, got ${order.length}`);
    if (order.buffer !== dst.buffer || order.byteOffset !== dst.byteOffset) dst.set(order);
  }

  /** The order array of `split` that tasks index into: a plan can be written there directly (PlanOptions.into), saving a copy of 4 bytes per example. */
  orderArray(split: SplitName): Int32Array {
    return this.orders[split]!;
  }

  /**
   * Cut order[off, off+n) (sorted longest first) into at most `parts` (default: the workers)
   * contiguous shards of about equal real tokens. Distributed training cuts every batch into
   * ranks × workers shards by this one rule, so the global batch is the single-process one.
   */
  shards(split: SplitName, off: number, n: number, parts = this.workers): Array<[number, number]> {
    const order = this.orders[split]!, sp = this.o.splits[split]!, lengths = sp.lengths;
    const S = Math.min(parts, n);
    let total = 0;
    for (let i = 0; i < n; i++) total += lengths[local(sp, order[off + i])];
    const out: Array<[number, number]> = [];
    let start = 0, acc = 0;
    for (let i = 0; i < n && out.length < S - 1; i++) {
      acc += lengths[local(sp, order[off + i])];
      const left = n - (i + 1), needed = S - 1 - out.length;
      if (acc >= (total * (out.length + 1)) / S || left === needed) {
        out.push([off + start, i + 1 - start]);
        start = i + 1;
      }
    }
    out.push([off + start, n - start]);
    return out;
  }

  /**
   * One training step on order[off, off+n): gradient, slot sum, clipping and the optimizer update,
   * shard 0 in this thread and the others in the worker threads. The optimizer's lr
   * (opt.opts.lr) must be set for this step. Nothing is updated when the loss or the gradient is
   * not finite (the result says so).
   */
  async step(step: number, split: SplitName, off: number, n: number, clipNorm: number): Promise<TrainStepResult> {
    const opt = this.optimizer();
    await this.turn();
    this.feed(split, off, n);
    const shards = this.shards(split, off, n);
    const optStep = opt.step + 1;
    this.beforeStep(step, split, off, shards, { step: optStep, clipNorm, gradientOnly: false });
    const results = await this.runStep(step);
    const first = results[0];
    if (first.finite) opt.step = optStep;
    return { ...this.totals(results, shards.length), gradNorm: first.gradNorm, clipped: first.clipped, finite: first.finite };
  }

  /**
   * A rank's part of a distributed step: the gradient sums of shards [rank·W, (rank+1)·W) of the
   * batch cut into ranks·W shards, summed over this rank's slots into `grad`. Nothing is updated:
   * the caller sums the part over the ranks, then calls update() with it.
   */
  async gradient(b: StepBatch, rank: number, ranks: number): Promise<PartGradient> {
    this.optimizer();
    if (this.pending) throw new Error('Coordinator.gradient: the last step\'s gradient was not applied');
    const { step, split, off, n } = b;
    await this.turn();
    this.feed(split, off, n);
    const W = this.workers;
    const shards = this.shards(split, off, n, ranks * W).slice(rank * W, (rank + 1) * W);
    this.beforeStep(step, split, off, shards, { step: 0, clipNorm: 0, gradientOnly: true });
    const results = await this.runStep(step);
    const { width, denseStart } = tokenRows(this.layout);
    // This rank's rows of the batch carry its shards' states; the others' rows are summed in.
    const lo = shards.length > 0 ? shards[0][0] - off : 0, hi = shards.length > 0 ? shards[shards.length - 1][0] + shards[shards.length - 1][1] - off : 0;
    const carry = this.carry && { S: this.carry.S, state: this.carry.state[0], lo, hi };
    const { updateMs: _, ...stats } = this.totals(results, shards.length);
    return (this.pending = new PartGradient(b, stats, this.grad.data as Float32Array, this.unions[this.cur].subarray(0, this.unionCounts[this.cur]), width, denseStart, carry, () => this.prewake()));
  }

  /**
   * The second phase of a distributed step: `g`, the pending part summed over the ranks, becomes
   * the gradient (its token rows are the ones the next step zeroes; the carried states the
   * batch's), then the clipping and the optimizer step, each thread its slice; nothing is updated
   * when the loss or the gradient is not finite (the result says so).
   */
  async update(g: SummedGradient): Promise<TrainStepResult> {
    this.optimizer();
    const part = g.part, t = g.totals, b = part.batch;
    if (part !== this.pending) throw new Error('Coordinator.update: not the gradient of the step in flight');
    this.pending = null;
    this.unions[this.cur].set(t.rows.subarray(0, t.u));
    this.unionCounts[this.cur] = t.u;
    if (this.carry) for (let i = 0; i < b.n; i++) this.carry.ids[0][i] = b.order[b.off + i];
    const u = stepUpdate(t.lossSum, t.count, t.sumSq, b.clipNorm);
    const updateMs = u.finite ? await this.applyUpdate(b.step, u.scale) : 0;
    return { ...part.stats, lossSum: t.lossSum, count: t.count, correct: t.correct, updateMs, gradNorm: u.gradNorm, clipped: u.clipped, finite: u.finite };
  }

  /** What a distributed step's exchange buffers are sized by: the layout, the largest batch's rows, the carried state's size, the arena. */
  exchangeShape(): { layout: Layout; V: number; maxB: number; maxT: number; carryS: number; arena: SharedArena } {
    return { layout: this.layout, V: this.o.spec.V, maxB: this.o.maxB, maxT: this.o.maxT, carryS: this.carry?.S ?? 0, arena: arenaOf(this.grad.data)! };
  }

  /** The optimizer step with gradient scale·grad, each thread its slice (after gradient() and the allreduce). */
  private async applyUpdate(step: number, scale: number): Promise<number> {
    const opt = this.optimizer();
    const W = this.workers, optStep = opt.step + 1, t0 = performance.now();
    for (let k = 0; k < W; k++) {
      const u = this.updateTasks[k];
      [u.lo, u.hi] = this.updateSlice(k);
      u.step = optStep; u.opts = opt.opts; u.scale = scale;
    }
    for (let k = 0; k < W; k++) Atomics.store(this.sync, SYNC_PHASE + k, PHASE_UPDATE);
    let ms = 0;
    const onMain = this.onMain;
    try {
      await this.dispatch(this.updateTasks, onMain ? 1 : 0);
      if (onMain) ms = this.mainRunner().updateOnly(this.updateTasks[0]);
      await this.workersDone(t0, onMain ? W - 1 : W);
    } catch (e) {
      throw await this.fail(step, e);
    }
    for (let k = onMain ? 1 : 0; k < W; k++) ms = Math.max(ms, this.results[k * RESULT_WORDS + 5]);
    opt.step = optStep;
    return ms;
  }

  /**
   * A turn of the event loop if it had none for TURN_MS. A step whose barriers all pass while
   * spinning never yields to it (its awaits are microtasks), and a run of such steps would keep
   * signal handlers, timers and AbortSignals from running.
   */
  private turn(): Promise<void> | undefined {
    const now = performance.now();
    if (now - this.lastTurn < TURN_MS) return undefined;
    this.lastTurn = now;
    return nextTurn() as Promise<unknown> as Promise<void>;
  }

  /** Token shards: read order[off, off+n) of `split` into its window (in-memory splits have none). */
  private feed(split: SplitName, off: number, n: number): void {
    const w = shardWindow(this.o.splits[split]!);
    if (!w) return;
    w.load(this.orders[split]!.subarray(off, off + n));
    Atomics.add(this.fence, 0, 1); // release: the tasks that follow see the window
  }

  /** Worker k's slice of the optimizer update, in multiples of 16 elements (64-byte lines: no sharing). */
  private updateSlice(k: number): [number, number] {
    const W = this.workers, t = this.layout.tensors[0];
    // A frozen table is never updated: the slices cover the parameters after it (16-aligned).
    const start = this.o.freezeTable ? Math.ceil((t.offset + t.size) / 16) * 16 : 0, n = this.layout.size - start;
    return [start + Math.floor((n * k) / W / 16) * 16, k === W - 1 ? this.layout.size : start + Math.floor((n * (k + 1)) / W / 16) * 16];
  }

  private optimizer(): Optimizer {
    if (this.closed) throw new Error('Coordinator: the pool is closed');
    if (!this.o.optimizer) throw new Error('Coordinator.step: this pool was made without an optimizer');
    return this.o.optimizer;
  }

  /**
   * Before the step starts: each thread's part of the step on these shards of the batch at `off`
   * (threads beyond the shards have none) into this.tasks. Nothing runs yet; whatever must be in
   * shared memory before any thread reads the batch goes here, before runStep().
   */
  private beforeStep(step: number, split: SplitName, off: number, shards: Array<[number, number]>, u: { step: number; clipNorm: number; gradientOnly: boolean }): void {
    const opt = this.o.optimizer!;
    const W = this.workers, S = shards.length, { denseStart } = tokenRows(this.layout), size = this.layout.size;
    // Without clipping and with fuseUpdate the slot sum and Adam are one pass (ShardRunner.fused), which leaves the
    // reduced gradient and its rows (unions[cur]) as they are: the next two-phase step zeroes those.
    const fused = this.o.fuseUpdate === true && !this.o.freezeTable && u.clipNorm === 0 && !u.gradientOnly && opt.opts.kind === 'adam';
    if (!fused) this.cur = this.cur === 0 ? 1 : 0;
    for (let k = 0; k < W; k++) {
      const [o, m] = k < S ? shards[k] : [0, 0];
      // Dense ranges and update slices in multiples of 16 elements (64-byte lines: no sharing).
      const lo = denseStart + Math.floor(((size - denseStart) * k) / W / 16) * 16;
      const hi = k === W - 1 ? size : denseStart + Math.floor(((size - denseStart) * (k + 1)) / W / 16) * 16;
      const [ulo, uhi] = this.updateSlice(k);
      const t = this.tasks[k];
      t.step = step; t.split = split; t.off = o; t.n = m; t.k = k; t.W = W; t.S = S; t.lo = lo; t.hi = hi; t.cur = this.cur; t.row0 = k < S ? o - off : 0;
      t.update.step = u.step; t.update.opts = opt.opts; t.update.clipNorm = u.clipNorm; t.update.ulo = ulo; t.update.uhi = uhi;
      t.gradientOnly = u.gradientOnly; t.fused = fused;
    }
    for (let k = 0; k < W; k++) Atomics.store(this.sync, SYNC_PHASE + k, 0);
    Atomics.add(this.fence, 0, 1); // release: threads see the parameters as updated so far
  }

  /** Loss, count and timings summed over the first S results (the tasks that had a shard). */
  private totals(results: StepResult[], S: number): Omit<TrainStepResult, keyof UpdateStats> {
    let lossSum = 0, count = 0, correct = 0, msMax = 0, msSum = 0, reduceMs = 0, updateMs = 0;
    for (let k = 0; k < S; k++) {
      const r = results[k];
      lossSum += r.lossSum; count += r.count; correct += r.correct;
      msMax = Math.max(msMax, r.fwdBwdMs); msSum += r.fwdBwdMs;
    }
    for (const r of results) { reduceMs = Math.max(reduceMs, r.reduceMs); updateMs = Math.max(updateMs, r.updateMs); }
    this.profile(S);
    return { lossSum, count, correct, shards: S, fwdBwdMsMax: msMax, fwdBwdMsMean: S > 0 ? msSum / S : 0, reduceMs, updateMs };
  }

  /**
   * The step in this.tasks on every thread: the worker threads' parts through their mailboxes,
   * shard 0 here while steps are short, meeting at the barriers in shared memory. A failure in any thread stops the
   * others at their next barrier (the abort flag); a step that outlasts the stall timeout is
   * taken as a worker that stopped answering. Either way the pool is destroyed and a
   * WorkerFailure names the step.
   */
  private async runStep(step: number): Promise<StepResult[]> {
    const t0 = performance.now();
    const W = this.workers, t = this.tasks[0], r = this.stepResults[0], onMain = this.onMain;
    try {
      await this.dispatch(this.tasks, onMain ? 1 : 0);
      if (onMain) {
        const runner = this.mainRunner();
        const g = runner.gradient(t);
        r.lossSum = g.lossSum; r.count = g.count; r.correct = g.correct; r.fwdBwdMs = g.ms;
        await this.meet(t0);
        if (t.fused) { r.reduceMs = 0; r.updateMs = runner.fused(t).ms; } else {
          r.reduceMs = runner.reduce(t);
          await this.meet(t0);
          r.updateMs = t.gradientOnly ? 0 : runner.update(t).updateMs;
        }
      }
      await this.workersDone(t0, onMain ? W - 1 : W);
    } catch (e) {
      throw await this.fail(step, e);
    }
    for (let k = onMain ? 1 : 0; k < W; k++) readResult(this.results, k, this.stepResults[k]);
    // Every thread took the same norm and decision from the partials: take them here too (in shard
    // order, as they add them). A fused step's threads do not need them; the caller does.
    let batchLoss = 0, batchCount = 0, sumSq = 0;
    for (let k = 0; k < W; k++) { batchLoss += this.partials[4 * k]; batchCount += this.partials[4 * k + 1]; sumSq += this.partials[4 * k + 2]; }
    const c = stepUpdate(batchLoss, batchCount, sumSq, t.update.clipNorm);
    if (t.gradientOnly) { r.gradNorm = NaN; r.clipped = false; r.finite = true; } // the caller sums over the ranks first
    else { r.gradNorm = c.gradNorm; r.clipped = c.clipped; r.finite = c.finite; }
    const ms = performance.now() - t0;
    this.watchdog.saw(ms);
    if (onMain ? ms > LONG_STEP_MS : ms < SHORT_STEP_MS) this.onMain = !onMain;
    return this.stepResults;
  }

  /** This thread's runner of shard 0 (its workspace is allocated the first time steps are short enough for it). */
  private mainRunner(): ShardRunner {
    return (this.runner ??= new ShardRunner(this.init, arenaOf(this.params.data)!, true));
  }

  /**
   * Post each loop's part of a command to its mailbox and ring: the loops start it at once. `k0`:
   * the first shard on a worker thread (1 when this thread computes shard 0); the loops are
   * (re)started for shards k0..W-1.
   */
  private async dispatch(tasks: Array<StepTask | UpdateTask>, k0: 0 | 1): Promise<void> {
    if (this.loops && this.loopsFrom !== k0) await this.stopLoops();
    this.startLoops(k0);
    Atomics.store(this.sync, SYNC_DONE, 0);
    for (let k = k0; k < this.workers; k++) writeTask(this.box, k, tasks[k]);
    this.ring();
  }

  /**
   * Wake the worker threads' loops ahead of the next command, without one: they spin again (1 ms)
   * before sleeping. Distributed training calls it before the allreduce, so that the update
   * after it finds them awake, not asleep in Atomics.wait.
   */
  private prewake(): void {
    if (this.loops) Atomics.notify(this.sync, SYNC_STEP);
  }

  private ring(): void {
    Atomics.add(this.sync, SYNC_STEP, 1);
    Atomics.notify(this.sync, SYNC_STEP);
  }

  /** The worker threads' loops (see LoopTask) for shards k0..W-1, started at the first step, after each evaluation and when k0 changes. */
  private startLoops(k0: 0 | 1): void {
    if (this.loops || this.workers === k0) return;
    const seq = Atomics.load(this.sync, SYNC_STEP);
    this.loopErrors = [];
    this.loops = [];
    this.loopsFrom = k0;
    Atomics.store(this.sync, SYNC_READY, 0);
    for (let k = k0; k < this.workers; k++) {
      const run = this.pool.run({ kind: 'loop', k, seq } satisfies LoopTask);
      run.then(
        () => { if (!this.exiting) this.loopErrors.push(new Error(`worker thread ${k} left its step loop`)); },
        (e) => { this.loopErrors.push(e instanceof Error ? e : new Error(String(e))); this.wake?.(); },
      );
      this.loops.push(run);
    }
  }

  /** End the worker threads' loops (before evaluation and closing): their threads are free for tasks again. */
  private async stopLoops(): Promise<void> {
    if (!this.loops) return;
    this.exiting = true;
    for (let k = this.loopsFrom; k < this.workers; k++) writeTask(this.box, k, null);
    this.ring();
    try {
      await this.watched(this.loops, Promise.all(this.loops));
    } finally {
      this.loops = null;
      this.exiting = false;
    }
  }

  /** This thread's arrival at a step barrier; a promise only if it has to wait past its spin. */
  private meet(t0: number): Promise<void> | undefined {
    const gen = Atomics.load(this.sync, SYNC_GEN);
    if (arrive(this.sync, this.workers)) return undefined;
    return this.waitWhile(SYNC_GEN, gen, t0);
  }

  /** Until `loops` worker threads have finished the command. */
  private async workersDone(t0: number, loops: number): Promise<void> {
    for (let d; (d = Atomics.load(this.sync, SYNC_DONE)) < loops;) await this.waitWhile(SYNC_DONE, d, t0);
  }

  /**
   * Wait while sync[index] === value: spin for MAIN_SPIN_MS (the others are usually within that,
   * and the event loop's turn would cost more), then wait asynchronously, in short waits, so that
   * a worker thread's death, its error, and the stall limit are seen.
   */
  private waitWhile(index: number, value: number, t0: number): Promise<void> | undefined {
    const start = performance.now();
    if (!spinWhile(this.sync, index, value, start + this.spin.ms)) {
      if (Atomics.load(this.sync, SYNC_ABORT) !== 0) throw new StepAborted();
      return this.sleepWhile(index, value, t0, start);
    }
    this.spin.saw(performance.now() - start);
    return undefined;
  }

  private async sleepWhile(index: number, value: number, t0: number, start: number): Promise<void> {
    const limit = this.watchdog.limit();
    const loops = this.loops ? this.workers - this.loopsFrom : 0;
    let since = t0; // the stall clock: from the step's start, or once the loops' threads have started
    let checked = performance.now();
    while (Atomics.load(this.sync, index) === value) {
      if (Atomics.load(this.sync, SYNC_ABORT) !== 0 || this.loopErrors.length > 0) throw new StepAborted();
      const now = performance.now();
      if (Atomics.load(this.sync, SYNC_READY) < loops) since = now;
      else if (limit > 0 && now - since > limit) throw new Error(this.stalled(limit));
      // A thread that vanished is seen within LIVENESS_MS, whatever the stall limit.
      if (HAS_TASKS && now - checked >= LIVENESS_MS) {
        checked = now;
        const dead = this.vanished();
        if (dead) throw new Error(dead);
      }
      // Announce the nap, then look once more: a worker thread that changes the value after this
      // sees the flag and posts a wake-up (wakeMain), one that changed it before is seen here.
      Atomics.store(this.sync, SYNC_ASLEEP, 1);
      if (Atomics.load(this.sync, index) !== value) break;
      await this.nap(20);
    }
    Atomics.store(this.sync, SYNC_ASLEEP, 0);
    this.spin.saw(performance.now() - start);
  }

  /** Sleep for `ms` or until a worker thread's WAKE_MESSAGE (only where a step waits past its spin: it allocates). */
  private nap(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.wake = null; resolve(); }, ms);
      this.wake = () => { clearTimeout(timer); this.wake = null; resolve(); };
    });
  }

  private stalled(limit: number): string {
    return `no answer for ${stallSeconds(limit)} (the slowest step so far took ${(this.watchdog.slowestMs / 1000).toFixed(1)} s): a worker thread stopped answering`;
  }

  /** A step failed (`e`: here, or StepAborted by a worker thread): stop every thread, and name what failed. */
  private async fail(step: number, e: unknown): Promise<WorkerFailure> {
    Atomics.store(this.sync, SYNC_ABORT, 1);
    for (const i of [SYNC_GEN, SYNC_STEP, SYNC_DONE]) Atomics.notify(this.sync, i);
    let partial = false;
    for (let k = 0; k < this.workers; k++) if (this.sync[SYNC_PHASE + k] === PHASE_UPDATE) partial = true;
    let detail = e instanceof Error ? e.message : String(e);
    if (e instanceof StepAborted) {
      // The worker thread's own error is its loop task's rejection: wait for it (briefly).
      const own = () => this.loopErrors.find((x) => !x.message.startsWith('stopped: '));
      for (const until = performance.now() + 5000; !own() && performance.now() < until;) await new Promise((r) => setTimeout(r, 5));
      detail = (own() ?? this.loopErrors[0])?.message ?? 'a worker thread aborted the step';
    }
    await this.destroy();
    return new WorkerFailure(step, `${partial ? 'during the optimizer update: ' : ''}${detail}`, partial);
  }

  /** The vanishing-gradient profile of the last step: mean ‖dL/da_t‖ over every real row of the batch. */
  private profile(S: number): void {
    this.stepNorms.fill(0);
    let T = 0;
    for (let t = 0; t < this.o.maxT; t++) {
      let s = 0, c = 0;
      for (let k = 0; k < S; k++) { s += this.slots[k].normSum[t]; c += this.slots[k].normCount[t]; }
      if (c > 0) { this.stepNorms[t] = s / c; T = t + 1; }
    }
    this.stepNormsT = T;
  }

  /** The carried states of training (for a checkpoint), or undefined without carryState. */
  carried(): { ids: Int32Array; state: Float32Array } | undefined {
    return this.carry ? { ids: Int32Array.from(this.carry.ids[0]), state: Float32Array.from(this.carry.state[0]) } : undefined;
  }

  /** Restore training's carried states (resume). Rows beyond the saved ones start from none. */
  setCarried(c: { ids: Int32Array; state: Float32Array }): void {
    if (!this.carry) return;
    const rows = Math.min(c.ids.length, this.carry.ids[0].length);
    this.carry.ids[0].fill(-1).set(c.ids.subarray(0, rows));
    this.carry.state[0].fill(0).set(c.state.subarray(0, rows * this.carry.S));
  }

  /**
   * Loss and accuracy of a whole split in `order`, batches of `batchSize`: spread over the workers,
   * or with carried states (streamPlan order), in order, each batch cut over the workers. A few
   * batches per worker are in flight at a time, so an aborted `o.signal` stops it within a batch
   * (null: no result); `o.onBatch` hears each finished batch. Sums run in batch order either way.
   */
  async evaluate(split: SplitName, order: Int32Array, batchStarts: Int32Array, confusion: boolean, o: EvalRunOptions = {}): Promise<EvalResult | null> {
    const bio = confusion && o.bio ? { kind: Array.from(o.bio.kind), type: Array.from(o.bio.type) } : null;
    const nb = batchStarts.length - 1;
    let done = 0;
    const finished = () => { done++; o.onBatch?.(done, nb); };
    let results: ShardResult[] = [];
    try {
      await this.stopLoops(); // their threads take the evaluation's tasks
      this.setOrder(split, order);
      Atomics.add(this.fence, 0, 1);
      if (this.carry) {
        this.carry.ids[1].fill(-1);
        for (let k = 0; k < nb; k++) {
          if (o.signal?.aborted) return null;
          const off = batchStarts[k];
          this.feed(split, off, batchStarts[k + 1] - off);
          const shards = this.shards(split, off, batchStarts[k + 1] - off);
          const runs = shards.map(([o, n]) => this.pool.run({ kind: 'eval', split, off: o, n, confusion, carry: { row0: o - off } } satisfies EvalTask) as Promise<ShardResult>);
          results.push(...(await this.watched(runs, Promise.all(runs))));
          finished();
        }
      } else {
        // From token shards, W batches at a time (what the window holds: a round starts when the last
        // one has finished); in memory, a few batches per worker in flight.
        const windowed = shardWindow(this.o.splits[split]!) !== undefined;
        const tasks: Promise<ShardResult>[] = [];
        const inFlight = 4 * this.workers;
        for (let k = 0; k < nb; k++) {
          if (windowed && k % this.workers === 0) {
            if (k > 0) await this.watched(tasks, Promise.all(tasks));
            if (!o.signal?.aborted) this.feed(split, batchStarts[k], batchStarts[Math.min(nb, k + this.workers)] - batchStarts[k]);
          } else if (!windowed && k >= inFlight) await this.watched([tasks[k - inFlight]], tasks[k - inFlight]);
          if (o.signal?.aborted) {
            await Promise.allSettled(tasks); // the threads finish what they hold; the pool stays usable
            return null;
          }
          const off = batchStarts[k], n = batchStarts[k + 1] - off;
          const t = this.pool.run({ kind: 'eval', split, off, n, confusion, ...(bio ? { bio } : {}) } satisfies EvalTask) as Promise<ShardResult>;
          t.then(finished, () => {}); // (a rejection is handled where the tasks are awaited)
          tasks.push(t);
        }
        results = await this.watched(tasks, Promise.all(tasks));
      }
    } catch (e) {
      await this.destroy();
      throw new UserError(`evaluation of the ${split} split failed in a worker thread: ${e instanceof Error ? e.message : String(e)}`);
    }
    const C = this.o.spec.C;
    const out: EvalResult = { lossSum: 0, count: 0, correct: 0, confusion: confusion && this.o.spec.task !== 'many-to-many' ? new Array(C * C).fill(0) : null };
    if (bio) out.spans = [0, 0, 0];
    for (const r of results) {
      out.lossSum += r.lossSum; out.count += r.count; out.correct += r.correct;
      if (out.spans && r.spans) for (let i = 0; i < 3; i++) out.spans[i] += r.spans[i];
      if (out.confusion && r.confusion) for (let i = 0; i < r.confusion.length; i++) out.confusion[i] += r.confusion[i];
    }
    return out;
  }

  /**
   * `all`, or a rejection when none of `runs` has finished for the stall limit (the watchdog's):
   * a worker thread that stopped answering. The clock restarts at each finished task, so a long
   * evaluation of many batches is not cut short.
   */
  private watched<T>(runs: Promise<unknown>[], all: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const watch = this.watchdog.arm((limit) => reject(new Error(this.stalled(limit))));
      // A thread that vanished is seen within LIVENESS_MS, whatever the stall limit.
      const live = HAS_TASKS ? setInterval(() => { const dead = this.vanished(); if (dead) reject(new Error(dead)); }, LIVENESS_MS) : undefined;
      const done = () => { watch.stop(); clearInterval(live); };
      for (const r of runs) r.then(watch.restart, () => {});
      all.then((v) => { done(); resolve(v); }, (e) => { done(); reject(e); });
    });
  }

  /** Finish: end the loops, wait for running tasks, stop the threads. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stopLoops();
    await this.pool.close();
  }

  /**
   * Abort: stop the threads at once. A thread that vanished never reports its exit, so this waits
   * at most DESTROY_WAIT_MS, then lets go of the threads that did not stop (unref: they do not
   * keep the process alive; the command line exits with process.exit, which does not wait for them).
   */
  async destroy(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.sync, SYNC_ABORT, 1);
    for (const i of [SYNC_GEN, SYNC_STEP, SYNC_DONE]) Atomics.notify(this.sync, i);
    const threads = this.pool.threads;
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      this.pool.destroy().then(() => true),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), DESTROY_WAIT_MS); }),
    ]);
    clearTimeout(timer);
    if (!waited) for (const w of threads) w.unref();
  }
}
