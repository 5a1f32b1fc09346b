// The coordinator: cuts each batch into shards balanced by real tokens, runs them on a pool of
// piscina worker threads that read the shared parameters in place, has the workers sum the
// per-shard gradient slots (in slot order, each worker a part of the arena), clips, and has them
// apply the optimizer step on slices of the arena. Everything lives in one SharedArena, so the
// reduction and the update run as SIMD kernels. A worker failure aborts the step before anything
// is applied.

import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import type { ModelSpec } from '../model/spec.js';
import { makeLayout, allocParams, type Params, type Layout } from '../model/params.js';
import { sharedBuffer, sharedInt32, arenaOf, type SharedArena } from '../util/shared.js';
import { tokenRows, clipScale, type UpdateStats } from '../train/step.js';
import type { Optimizer } from '../train/optim.js';
import type { EncodedSplit, SplitName } from '../data/index.js';
import type { WorkerInit, SlotBuffers, GradTask, EvalTask, ReduceTask, UpdateTask, ShardResult } from './protocol.js';
import { UserError } from '../util/errors.js';

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
  splits: Partial<Record<SplitName, EncodedSplit>>;
  /** The parameters (allocParams, float32): the gradient and its slots are allocated in their arena. */
  params: Params;
  /** The optimizer, its moments in the parameters' arena (new Optimizer(size, opts, arenaOf(params.data))); not needed to evaluate only. */
  optimizer?: Optimizer;
  inject?: WorkerInit['inject'];
}

export interface GradStepResult {
  lossSum: number;
  count: number;
  correct: number;
  shards: number;
  /** Forward + backward of one shard in its worker (batch fill included): slowest and mean. */
  fwdBwdMsMax: number;
  fwdBwdMsMean: number;
  /** Wall time of the reduction (union of token rows, slot sums in the workers). */
  reduceMs: number;
}

export interface StepTimings { fwdBwdMsMax: number; fwdBwdMsMean: number; reduceMs: number; updateMs: number }

export interface EvalResult { lossSum: number; count: number; correct: number; confusion: number[] | null }

export class WorkerFailure extends UserError {
  constructor(readonly step: number, cause: string, partial = false) {
    super(`training stopped at step ${step}: a worker thread failed (${cause}). ${partial
      ? 'The optimizer update of this step may be partly applied: resume from the last checkpoint.'
      : `No update was applied for this step; the parameters are those after step ${step - 1}.`}`);
    this.name = 'WorkerFailure';
  }
}

export class Coordinator {
  readonly workers: number;
  readonly layout: Layout;
  readonly params: Params;
  /** The reduced gradient: sums over the batch (the update applies 1/count and the clipping factor as it reads them). */
  readonly grad: Params;
  private readonly pool: Piscina;
  private readonly slots: SlotBuffers[];
  private readonly orders: Partial<Record<SplitName, Int32Array>>;
  private readonly fence: Int32Array;
  /** Token rows nonzero in `grad`: unions[cur] this step's, unions[1 - cur] the last step's. */
  private readonly unions: [Int32Array, Int32Array];
  private cur: 0 | 1 = 0;
  private unionCount = 0;
  private readonly mark: Uint8Array;
  /** Σ g² of the reduced gradient sums of the last gradients() call. */
  private sumSq = 0;
  private closed = false;
  /** The per-step gradient-norm profile of the last step: mean ‖dL/da_t‖ for t = 1..T. */
  readonly stepNorms: Float64Array;
  stepNormsT = 0;

  constructor(private readonly o: CoordinatorOptions) {
    this.workers = Math.max(1, o.workers ?? availableParallelism());
    this.layout = makeLayout(o.spec);
    this.params = o.params;
    const arena: SharedArena | undefined = arenaOf(this.params.data);
    if (!arena) throw new Error('Coordinator: parameters must live in a SharedArena (allocParams float32)');
    const { m, v } = o.optimizer ?? {};
    if (m && (arenaOf(m) !== arena || (v!.length > 0 && arenaOf(v!) !== arena))) throw new Error("Coordinator: the optimizer's moments must live in the parameters' arena");
    this.grad = allocParams(this.layout, 'float32', arena);
    const maxRows = Math.min(o.spec.V, o.maxB * o.maxT);
    const slotTable = arena.int32(this.workers);
    this.slots = Array.from({ length: this.workers }, () => ({
      grad: arena.float32(this.layout.size).byteOffset,
      touched: sharedInt32(1 + maxRows),
      normSum: new Float64Array(sharedBuffer(o.maxT * 8), 0, o.maxT),
      normCount: new Float64Array(sharedBuffer(o.maxT * 8), 0, o.maxT),
    }));
    this.orders = {};
    for (const [name, split] of Object.entries(o.splits) as [SplitName, EncodedSplit][]) this.orders[name] = sharedInt32(Math.max(1, split.count));
    this.fence = sharedInt32(1);
    this.slots.forEach((sl, k) => (slotTable[k] = sl.grad));
    this.unions = [sharedInt32(o.spec.V), sharedInt32(o.spec.V)];
    this.mark = new Uint8Array(o.spec.V);
    this.stepNorms = new Float64Array(o.maxT);
    const init: WorkerInit = {
      spec: o.spec, memory: arena.memory, params: this.params.data.byteOffset, grad: this.grad.data.byteOffset,
      moments: m ? { m: m.byteOffset, v: v!.length > 0 ? v!.byteOffset : -1 } : null,
      slotTable: slotTable.byteOffset, slots: this.slots, unions: this.unions, splits: o.splits,
      orders: this.orders, maxB: o.maxB, maxT: o.maxT, bpttWindow: o.bpttWindow, dropout: o.dropout ?? 0, seed: o.seed ?? 0, stepLoss: o.stepLoss ?? 0, fence: this.fence, inject: o.inject,
    };
    this.pool = new Piscina({
      filename: workerFile(), minThreads: this.workers, maxThreads: this.workers, idleTimeout: 24 * 3600 * 1000, workerData: init,
      // Workers run compiled JS: do not inherit a TypeScript loader from the parent (tests run under one).
      execArgv: [],
    });
    // Errors outside a task (a thread dying between tasks) surface at the next run(); keep the
    // EventEmitter from throwing them at top level.
    this.pool.on('error', () => {});
  }

  /** Write an order of example ids (e.g. an epoch plan) that tasks on `split` then index into. */
  setOrder(split: SplitName, order: Int32Array): void {
    const dst = this.orders[split];
    if (!dst || order.length > dst.length) throw new Error(`Coordinator.setOrder: ${split} holds ${dst?.length ?? 0} ids, got ${order.length}`);
    dst.set(order);
  }

  /** Cut order[off, off+n) (sorted longest first) into at most `workers` contiguous shards of about equal real tokens. */
  shards(split: SplitName, off: number, n: number): Array<[number, number]> {
    const order = this.orders[split]!, lengths = this.o.splits[split]!.lengths;
    const S = Math.min(this.workers, n);
    let total = 0;
    for (let i = 0; i < n; i++) total += lengths[order[off + i]];
    const out: Array<[number, number]> = [];
    let start = 0, acc = 0;
    for (let i = 0; i < n && out.length < S - 1; i++) {
      acc += lengths[order[off + i]];
      const left = n - (i + 1), needed = S - 1 - out.length;
      if (acc >= (total * (out.length + 1)) / S || left === needed) {
        out.push([off + start, i + 1 - start]);
        start = i + 1;
      }
    }
    out.push([off + start, n - start]);
    return out;
  }

  /** Forward + BPTT of order[off, off+n) on the workers; leaves the reduced gradient SUMS in this.grad. */
  async gradients(step: number, split: SplitName, off: number, n: number): Promise<GradStepResult> {
    if (this.closed) throw new Error('Coordinator: the pool is closed');
    const shards = this.shards(split, off, n);
    Atomics.add(this.fence, 0, 1); // release: workers see the parameters as updated so far
    const results = await this.runAll(step, shards.map(([o, m], k) => ({ kind: 'grad', step, split, off: o, n: m, slot: k }) satisfies GradTask)) as ShardResult[];
    const t0 = performance.now();
    await this.reduce(step, shards.length);
    const reduceMs = performance.now() - t0;
    let lossSum = 0, count = 0, correct = 0, msMax = 0, msSum = 0;
    for (const r of results) {
      lossSum += r.lossSum; count += r.count; correct += r.correct;
      msMax = Math.max(msMax, r.ms); msSum += r.ms;
    }
    return { lossSum, count, correct, shards: shards.length, fwdBwdMsMax: msMax, fwdBwdMsMean: msSum / results.length, reduceMs };
  }

  /** Run tasks on the pool; a failure destroys the pool and becomes a WorkerFailure naming the step. */
  private async runAll(step: number, tasks: Array<GradTask | ReduceTask | UpdateTask>, during = '', partial = false): Promise<unknown[]> {
    try {
      return await Promise.all(tasks.map((t) => this.pool.run(t)));
    } catch (e) {
      await this.destroy();
      throw new WorkerFailure(step, `${during}${e instanceof Error ? e.message : String(e)}`, partial);
    }
  }

  /**
   * Σ of slots 0..S-1 into this.grad, in slot order (bit-reproducible for a worker count), by the
   * workers: worker k sums a k-th of the dense part and the token rows r with r mod W = k.
   */
  private async reduce(step: number, S: number): Promise<void> {
    // This step's token rows: the union of the slots' touched rows, in slot order.
    this.cur = this.cur === 0 ? 1 : 0;
    const union = this.unions[this.cur], prevCount = this.unionCount;
    let u = 0;
    for (let k = 0; k < S; k++) {
      const touched = this.slots[k].touched;
      for (let i = 1, e = 1 + touched[0]; i < e; i++) {
        const row = touched[i];
        if (this.mark[row] === 0) { this.mark[row] = 1; union[u++] = row; }
      }
    }
    for (let i = 0; i < u; i++) this.mark[union[i]] = 0;
    this.unionCount = u;
    const W = this.workers, { denseStart } = tokenRows(this.layout), size = this.layout.size;
    const tasks: ReduceTask[] = [];
    for (let k = 0; k < W; k++) {
      const lo = denseStart + Math.floor(((size - denseStart) * k) / W / 16) * 16;
      const hi = k === W - 1 ? size : denseStart + Math.floor(((size - denseStart) * (k + 1)) / W / 16) * 16;
      tasks.push({ kind: 'reduce', S, lo, hi, k, W, cur: this.cur, count: u, prevCount });
    }
    Atomics.add(this.fence, 0, 1);
    const sq = await this.runAll(step, tasks, 'while summing the gradient slots: ') as number[];
    this.sumSq = 0;
    for (const x of sq) this.sumSq += x;
    // The vanishing-gradient profile, averaged over every real row of the batch.
    this.stepNorms.fill(0);
    let T = 0;
    for (let t = 0; t < this.o.maxT; t++) {
      let s = 0, c = 0;
      for (let k = 0; k < S; k++) { s += this.slots[k].normSum[t]; c += this.slots[k].normCount[t]; }
      if (c > 0) { this.stepNorms[t] = s / c; T = t + 1; }
    }
    this.stepNormsT = T;
  }

  /**
   * Mean, clip, and the optimizer step on the shared parameters, in slices across the workers.
   * Call only after gradients() succeeded. Nothing is updated when the gradient is not finite.
   */
  async update(count: number, clipNorm: number): Promise<UpdateStats> {
    const opt = this.o.optimizer;
    if (!opt) throw new Error('Coordinator.update: this pool was made without an optimizer');
    const u = clipScale(this.sumSq, count, clipNorm);
    if (!u.finite) return u;
    const step = opt.step + 1;
    const size = this.layout.size, W = this.workers;
    const tasks: UpdateTask[] = [];
    for (let k = 0; k < W; k++) {
      const lo = Math.floor((size * k) / W / 16) * 16, hi = k === W - 1 ? size : Math.floor((size * (k + 1)) / W / 16) * 16;
      if (hi > lo) tasks.push({ kind: 'update', step, opts: opt.opts, scale: u.scale, lo, hi });
    }
    Atomics.add(this.fence, 0, 1);
    await this.runAll(step, tasks, 'during the optimizer update: ', true);
    opt.step = step;
    return u;
  }

  /** Loss and accuracy of a whole split in `order`, batches of `batchSize` spread over the workers. */
  async evaluate(split: SplitName, order: Int32Array, batchStarts: Int32Array, confusion: boolean): Promise<EvalResult> {
    this.setOrder(split, order);
    Atomics.add(this.fence, 0, 1);
    const tasks: Promise<ShardResult>[] = [];
    for (let k = 0; k + 1 < batchStarts.length; k++) {
      const off = batchStarts[k], n = batchStarts[k + 1] - off;
      tasks.push(this.pool.run({ kind: 'eval', split, off, n, confusion } satisfies EvalTask));
    }
    let results: ShardResult[];
    try {
      results = (await Promise.all(tasks)) as ShardResult[];
    } catch (e) {
      await this.destroy();
      throw new UserError(`evaluation of the ${split} split failed in a worker thread: ${e instanceof Error ? e.message : String(e)}`);
    }
    const C = this.o.spec.C;
    const out: EvalResult = { lossSum: 0, count: 0, correct: 0, confusion: confusion && this.o.spec.task === 'many-to-one' ? new Array(C * C).fill(0) : null };
    for (const r of results) {
      out.lossSum += r.lossSum; out.count += r.count; out.correct += r.correct;
      if (out.confusion && r.confusion) for (let i = 0; i < r.confusion.length; i++) out.confusion[i] += r.confusion[i];
    }
    return out;
  }

  /** Finish: wait for running tasks, stop the threads. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
  }

  /** Abort: stop the threads at once. */
  async destroy(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.destroy();
  }
}
