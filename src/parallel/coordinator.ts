// The coordinator: cuts each batch into shards balanced by real tokens, runs them on a pool of
// piscina worker threads that read the shared parameters in place, sums the per-shard gradient
// slots in a fixed order, and applies the update (the same applyUpdate as the single-process
// loop). A worker failure aborts the step before anything is applied.

import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import type { ModelSpec } from '../model/spec.js';
import { makeLayout, allocParams, type Params, type Layout } from '../model/params.js';
import { sharedBuffer, sharedInt32 } from '../util/shared.js';
import { tokenRows, prepareUpdate, type UpdateStats } from '../train/step.js';
import { fill, addTo, copy } from '../model/kernels.js';
import type { Optimizer } from '../train/optim.js';
import type { EncodedSplit, SplitName } from '../data/index.js';
import type { WorkerInit, SlotBuffers, GradTask, EvalTask, UpdateTask, ShardResult } from './protocol.js';
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
  splits: Partial<Record<SplitName, EncodedSplit>>;
  /** The parameters, on shared memory (allocParams' float32 arena). */
  params: Params;
  /** The optimizer, with its moments on shared memory (new Optimizer(size, opts, true)); not needed to evaluate only. */
  optimizer?: Optimizer;
  inject?: WorkerInit['inject'];
}

export interface GradStepResult {
  lossSum: number;
  count: number;
  correct: number;
  shards: number;
  fwdBwdMsMax: number;
  fwdBwdMsMean: number;
}

export interface StepTimings { fwdBwdMsMax: number; fwdBwdMsMean: number; reduceMs: number; updateMs: number }

export interface EvalResult { lossSum: number; count: number; correct: number; confusion: number[] | null }

export class WorkerFailure extends UserError {
  constructor(readonly step: number, cause: string) {
    super(`training stopped at step ${step}: a worker thread failed (${cause}). No update was applied for this step; the parameters are those after step ${step - 1}.`);
    this.name = 'WorkerFailure';
  }
}

export class Coordinator {
  readonly workers: number;
  readonly layout: Layout;
  readonly params: Params;
  /** The reduced gradient (sums, then the mean after applyUpdate scales it). */
  readonly grad: Params;
  private readonly pool: Piscina;
  private readonly slots: SlotBuffers[];
  private readonly slotViews: Float32Array[];
  private readonly orders: Partial<Record<SplitName, Int32Array>>;
  private readonly fence: Int32Array;
  private readonly union: Int32Array; //  token rows nonzero in `grad`
  private unionCount = 0;
  private readonly mark: Uint8Array;
  private closed = false;
  /** The per-step gradient-norm profile of the last step: mean ‖dL/da_t‖ for t = 1..T. */
  readonly stepNorms: Float64Array;
  stepNormsT = 0;

  constructor(private readonly o: CoordinatorOptions) {
    this.workers = Math.max(1, o.workers ?? availableParallelism());
    this.layout = makeLayout(o.spec);
    this.params = o.params;
    if (!(this.params.data.buffer instanceof SharedArrayBuffer)) throw new Error('Coordinator: parameters must live in shared memory');
    if (o.optimizer && !(o.optimizer.m.buffer instanceof SharedArrayBuffer)) throw new Error('Coordinator: optimizer moments must live in shared memory');
    this.grad = allocParams(this.layout, 'float32');
    const maxRows = Math.min(o.spec.V, o.maxB * o.maxT);
    this.slots = Array.from({ length: this.workers }, () => ({
      grad: sharedBuffer(this.layout.size * 4),
      touched: sharedInt32(1 + maxRows),
      normSum: new Float64Array(sharedBuffer(o.maxT * 8), 0, o.maxT),
      normCount: new Float64Array(sharedBuffer(o.maxT * 8), 0, o.maxT),
    }));
    this.slotViews = this.slots.map((s) => new Float32Array(s.grad, 0, this.layout.size));
    this.orders = {};
    for (const [name, split] of Object.entries(o.splits) as [SplitName, EncodedSplit][]) this.orders[name] = sharedInt32(Math.max(1, split.count));
    this.fence = sharedInt32(1);
    this.union = new Int32Array(o.spec.V);
    this.mark = new Uint8Array(o.spec.V);
    this.stepNorms = new Float64Array(o.maxT);
    const init: WorkerInit = {
      spec: o.spec, params: this.params.data.buffer as SharedArrayBuffer, slots: this.slots, splits: o.splits,
      grad: this.grad.data.buffer as SharedArrayBuffer, moments: { m: o.optimizer?.m ?? new Float32Array(0), v: o.optimizer?.v ?? new Float32Array(0) },
      orders: this.orders, maxB: o.maxB, maxT: o.maxT, bpttWindow: o.bpttWindow, fence: this.fence, inject: o.inject,
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
    let results: ShardResult[];
    try {
      results = await Promise.all(shards.map(([o, m], k) => this.pool.run({ kind: 'grad', step, split, off: o, n: m, slot: k } satisfies GradTask)));
    } catch (e) {
      await this.destroy();
      throw new WorkerFailure(step, e instanceof Error ? e.message : String(e));
    }
    this.reduce(shards.length);
    let lossSum = 0, count = 0, correct = 0, msMax = 0, msSum = 0;
    for (const r of results) {
      lossSum += r.lossSum; count += r.count; correct += r.correct;
      msMax = Math.max(msMax, r.ms); msSum += r.ms;
    }
    return { lossSum, count, correct, shards: shards.length, fwdBwdMsMax: msMax, fwdBwdMsMean: msSum / results.length };
  }

  /** Σ of slots 0..S-1 into this.grad, always in slot order (bit-reproducible for a worker count). */
  private reduce(S: number): void {
    const g = this.grad.data;
    const { width, denseStart } = tokenRows(this.layout);
    const denseN = this.layout.size - denseStart;
    copy(g, denseStart, this.slotViews[0], denseStart, denseN);
    for (let k = 1; k < S; k++) addTo(g, denseStart, this.slotViews[k], denseStart, denseN);
    // Token rows: clear last step's, then add each slot's touched rows.
    for (let i = 0; i < this.unionCount; i++) fill(g, this.union[i] * width, width, 0);
    let u = 0;
    for (let k = 0; k < S; k++) {
      const touched = this.slots[k].touched, src = this.slotViews[k];
      for (let i = 1, e = 1 + touched[0]; i < e; i++) {
        const row = touched[i];
        if (this.mark[row] === 0) { this.mark[row] = 1; this.union[u++] = row; }
        addTo(g, row * width, src, row * width, width);
      }
    }
    for (let i = 0; i < u; i++) this.mark[this.union[i]] = 0;
    this.unionCount = u;
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
    const u = prepareUpdate(this.layout, this.grad.data, this.union, this.unionCount, count, clipNorm);
    if (!u.finite) return u;
    const step = opt.step + 1;
    const size = this.layout.size, W = this.workers;
    const tasks: Promise<unknown>[] = [];
    Atomics.add(this.fence, 0, 1);
    for (let k = 0; k < W; k++) {
      const lo = Math.floor((size * k) / W / 16) * 16, hi = k === W - 1 ? size : Math.floor((size * (k + 1)) / W / 16) * 16;
      if (hi > lo) tasks.push(this.pool.run({ kind: 'update', step, opts: opt.opts, scale: u.scale, lo, hi } satisfies UpdateTask));
    }
    try {
      await Promise.all(tasks);
    } catch (e) {
      // A partial update may have been applied: the parameters of this step are not trustworthy.
      await this.destroy();
      throw new WorkerFailure(step, `during the optimizer update: ${e instanceof Error ? e.message : String(e)}; the parameters may be partly updated, resume from the last checkpoint`);
    }
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
