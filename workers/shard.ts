// A worker thread. A training step is one task (StepTask): forward + BPTT on its shard, reading
// the shared parameters in place and writing gradient sums into its slot; a barrier; its part of
// the sum of the slots; a barrier; its slice of the optimizer step. Evaluation tasks run the
// forward pass on a batch. The numeric work runs on the backend the coordinator chose, created
// here on the run's shared memory, with this thread's workspace allocated in it.

import { workerData } from 'piscina';
import { performance } from 'node:perf_hooks';
import { readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parentPort, threadId } from 'node:worker_threads';
import {
  SYNC_COUNT, SYNC_GEN, SYNC_ABORT, SYNC_PHASE, PHASE_GRADIENT, PHASE_REDUCE, PHASE_UPDATE, TID_MESSAGE,
  type WorkerInit, type StepTask, type StepResult, type EvalTask, type ShardResult, type UpdateTask,
} from '../src/parallel/protocol.js';
import { makeLayout, viewsOf, type Params } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { allocBatch } from '../src/model/batch.js';
import { createKernels } from '../src/model/backend/index.js';
import { fillBatch, continuesChunk, type EncodedSplit } from '../src/data/index.js';
import { zeroGrad, tokenRows, clipScale } from '../src/optim/step.js';
import { argmaxRow, sumSlots, sumSlotRows, zeroRows, fill } from '../src/model/kernels.js';
import { updateRange } from '../src/optim/optim.js';
import { SharedArena } from '../src/util/shared.js';
import { addSpanCounts, type BioScheme, type SpanCounts } from '../src/model/metrics.js';
import { stepKey } from '../src/util/prng.js';

const init = workerData as WorkerInit;

// This thread's OS thread id, for the coordinator's liveness check: a thread that ends without a
// word (killed from outside, a native crash of that thread alone) sends no 'exit' event.
try {
  parentPort?.postMessage({ [TID_MESSAGE]: Number(readlinkSync('/proc/thread-self').split('/')[2]), threadId });
} catch { /* no /proc (not Linux): the stall timeout alone catches it */ }
const spec = init.spec;
const layout = makeLayout(spec);
const arena = SharedArena.attach(init.memory);
const params = viewsOf(layout, arena.float32At(init.params, layout.size));
const slots: Params[] = init.slots.map((s) => viewsOf(layout, arena.float32At(s.grad, layout.size)));
const slotData = slots.map((s) => s.data as Float32Array);
const slotTable = arena.int32At(init.slotTable, init.slots.length);
const grad = arena.float32At(init.grad, layout.size);
const m = init.moments ? arena.float32At(init.moments.m, layout.size) : new Float32Array(0);
const v = init.moments && init.moments.v >= 0 ? arena.float32At(init.moments.v, layout.size) : new Float32Array(0);
const { width } = tokenRows(layout);
const ws = allocWorkspace(spec, init.maxB, init.maxT, createKernels(init.kernels, arena));
if (init.classWeights) ws.classWeights = Float64Array.from(init.classWeights);
const batch = allocBatch(init.maxB, init.maxT);
const { sync, partials } = init;
// This step's token rows (the union of the slots' touched rows, in slot order): every task
// builds the same list; task 0 also publishes it, for the next step to zero.
const union = new Int32Array(spec.V);
const mark = new Uint8Array(spec.V);
// This task's rows of the last union and of this one (r mod W = k), where the SIMD kernels read them.
const mine = arena.int32(spec.V);

/** How long a task spins at a barrier before it sleeps, ms. */
const SPIN_MS = 0.5;

/** Wait until all W tasks of the step arrive; throw if the coordinator aborted the step. */
function barrier(W: number): void {
  const gen = Atomics.load(sync, SYNC_GEN);
  if (Atomics.add(sync, SYNC_COUNT, 1) === W - 1) {
    Atomics.store(sync, SYNC_COUNT, 0);
    Atomics.add(sync, SYNC_GEN, 1);
    Atomics.notify(sync, SYNC_GEN);
    return;
  }
  // Spin for up to SPIN_MS first: the other tasks usually arrive within that, and waking from
  // Atomics.wait costs tens of microseconds, a tenth of a small workload's step. Then sleep in
  // short waits that check the abort flag.
  const until = performance.now() + SPIN_MS;
  while (performance.now() < until) if (Atomics.load(sync, SYNC_GEN) !== gen) return;
  while (Atomics.load(sync, SYNC_GEN) === gen) {
    if (Atomics.load(sync, SYNC_ABORT) !== 0) throw new Error('stopped: another worker failed in this step');
    Atomics.wait(sync, SYNC_GEN, gen, 50);
  }
}

/** The union of slots 0..S-1's touched rows, in slot order, into `union`; returns its length. */
function buildUnion(S: number): number {
  let u = 0;
  for (let k = 0; k < S; k++) {
    const touched = init.slots[k].touched;
    for (let i = 1, e = 1 + touched[0]; i < e; i++) {
      const row = touched[i];
      if (mark[row] === 0) { mark[row] = 1; union[u++] = row; }
    }
  }
  for (let i = 0; i < u; i++) mark[union[i]] = 0;
  return u;
}

/** Sum this task's part of the slots into the reduced gradient; Σ g² of it (dense part, then rows in union order). */
function reduce(t: StepTask, u: number): number {
  const sq = sumSlots(grad, t.lo, slotData, t.S, slotTable, t.lo, t.hi - t.lo);
  const prev = init.unions[1 - t.cur], prevCount = init.unionCounts[1 - t.cur];
  let n = 0;
  for (let i = 0; i < prevCount; i++) if (prev[i] % t.W === t.k) mine[n++] = prev[i];
  zeroRows(grad, mine, n, width);
  n = 0;
  for (let i = 0; i < u; i++) if (union[i] % t.W === t.k) mine[n++] = union[i];
  return sumSlotRows(grad, slotData, t.S, slotTable, mine, n, width, sq);
}

/** Rows' initial states (withState0): each row's carried state where its chunk continues the row's last, else zero. */
function loadCarry(which: 0 | 1, row0: number, split: EncodedSplit): void {
  const c = init.carry!, S = c.S, state = c.state[which], ids = c.ids[which];
  for (let b = 0; b < batch.B; b++) {
    const row = row0 + b, id = batch.ids[b];
    if (ids[row] === id - 1 && continuesChunk(split, id)) ws.state0.set(state.subarray(row * S, row * S + S), b * S);
    else fill(ws.state0, b * S, S, 0);
  }
}

/** Each row's state at its chunk's end, and the chunk, for the row's next chunk. */
function saveCarry(which: 0 | 1, row0: number): void {
  const c = init.carry!, S = c.S;
  for (let b = 0; b < batch.B; b++) {
    c.state[which].set(ws.state1.subarray(b * S, b * S + S), (row0 + b) * S);
    c.ids[which][row0 + b] = batch.ids[b];
  }
}

function gradient(t: StepTask): { lossSum: number; count: number; correct: number } {
  const split = init.splits[t.split], order = init.orders[t.split];
  if (!split || !order) throw new Error(`worker: no ${t.split} split was shared with the pool`);
  fillBatch(split, spec.task, order, t.off, t.n, batch);
  if (init.inject && init.inject.during !== 'eval' && t.step === init.inject.failAtStep && t.k === 0) {
    if (init.inject.mode === 'exit') process.exit(3);
    if (init.inject.mode === 'vanish') vanish();
    if (init.inject.mode === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // never answers
    throw new Error(`injected failure at step ${t.step}`);
  }
  const slot = init.slots[t.k];
  const g = slots[t.k];
  zeroGrad(layout, g.data, slot.touched.subarray(1), slot.touched[0]);
  const drop = init.dropout > 0 ? { rate: init.dropout, key: stepKey(init.seed, t.step) } : null;
  if (init.carry) loadCarry(0, t.row0, split);
  const r = forwardBackward(params, g, ws, batch, init.bpttWindow, drop, init.stepLoss, init.carry !== null);
  if (init.carry) saveCarry(0, t.row0);
  slot.touched[0] = ws.touchedCount;
  slot.touched.set(ws.touched.subarray(0, ws.touchedCount), 1);
  slot.normSum.set(ws.stepNormSum.subarray(0, batch.T));
  slot.normSum.fill(0, batch.T);
  slot.normCount.set(ws.stepNormCount.subarray(0, batch.T));
  slot.normCount.fill(0, batch.T);
  return r;
}

/**
 * Tests only (inject mode 'vanish'): end this OS thread at once, as a thread killed from outside
 * does: no JS runs after it, no 'exit' event. The Node-API addon RNN_TRAINER_TEST_VANISH names
 * (test/fixtures/vanish.c) calls SYS_exit.
 */
function vanish(): never {
  const addon = process.env.RNN_TRAINER_TEST_VANISH;
  if (!addon) throw new Error('inject mode vanish needs RNN_TRAINER_TEST_VANISH (the compiled test/fixtures/vanish.c)');
  (createRequire(import.meta.url)(addon) as { vanish(): never }).vanish();
  throw new Error('unreachable: the thread did not end');
}

function step(t: StepTask): StepResult {
  const t0 = performance.now();
  Atomics.store(sync, SYNC_PHASE + t.k, PHASE_GRADIENT);
  const r = t.n > 0 ? gradient(t) : { lossSum: 0, count: 0, correct: 0 };
  partials[4 * t.k] = r.lossSum;
  partials[4 * t.k + 1] = r.count;
  barrier(t.W);

  const t1 = performance.now();
  Atomics.store(sync, SYNC_PHASE + t.k, PHASE_REDUCE);
  const u = buildUnion(t.S);
  partials[4 * t.k + 2] = reduce(t, u);
  if (t.k === 0) {
    init.unions[t.cur].set(union.subarray(0, u));
    init.unionCounts[t.cur] = u;
  }
  barrier(t.W);

  const t2 = performance.now();
  if (t.gradientOnly) {
    return {
      lossSum: r.lossSum, count: r.count, correct: r.correct, batchLoss: NaN, batchCount: NaN, gradNorm: partials[4 * t.k + 2], clipped: false, finite: true,
      fwdBwdMs: t1 - t0, reduceMs: t2 - t1, updateMs: 0,
    };
  }
  let batchLoss = 0, batchCount = 0, sumSq = 0;
  for (let k = 0; k < t.W; k++) { batchLoss += partials[4 * k]; batchCount += partials[4 * k + 1]; sumSq += partials[4 * k + 2]; }
  const c = clipScale(sumSq, batchCount, t.update.clipNorm);
  const finite = c.finite && Number.isFinite(batchLoss);
  if (finite) {
    Atomics.store(sync, SYNC_PHASE + t.k, PHASE_UPDATE);
    const o = t.update;
    updateRange(o.opts, o.step, params.data as Float32Array, grad, m, v, c.scale, o.ulo, o.uhi);
  }
  const t3 = performance.now();
  return {
    lossSum: r.lossSum, count: r.count, correct: r.correct, batchLoss, batchCount, gradNorm: c.gradNorm, clipped: c.clipped, finite,
    fwdBwdMs: t1 - t0, reduceMs: t2 - t1, updateMs: t3 - t2,
  };
}

function evaluate(task: EvalTask): ShardResult {
  if (init.inject?.during === 'eval' && init.inject.mode === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // never answers
  const split = init.splits[task.split], order = init.orders[task.split];
  if (!split || !order) throw new Error(`worker: no ${task.split} split was shared with the pool`);
  const t0 = performance.now();
  fillBatch(split, spec.task, order, task.off, task.n, batch);
  if (task.carry) loadCarry(1, task.carry.row0, split);
  const r = forward(params, ws, batch, task.carry !== undefined);
  if (task.carry) saveCarry(1, task.carry.row0);
  let confusion: number[] | undefined;
  if (task.confusion && spec.task === 'many-to-one') {
    confusion = new Array(spec.C * spec.C).fill(0);
    for (let b = 0; b < batch.B; b++) confusion[batch.labels[b] * spec.C + argmaxRow(ws.P, b * spec.C, spec.C)]++;
  }
  let spans: SpanCounts | undefined;
  if (task.confusion && spec.task === 'tagging') {
    // Every real token's (tag, predicted tag); the predictions are the head's argmax rows t·B + b.
    const { B, T, lengths, targets } = batch, am = ws.am;
    confusion = new Array(spec.C * spec.C).fill(0);
    for (let b = 0; b < B; b++) for (let t = 0; t < lengths[b]; t++) confusion[targets[b * T + t] * spec.C + am[t * B + b]]++;
    if (task.bio) {
      spans = [0, 0, 0];
      const s: BioScheme = { kind: Uint8Array.from(task.bio.kind), type: Int32Array.from(task.bio.type) }, g: number[] = [], p: number[] = [];
      for (let b = 0; b < B; b++) addSpanCounts(targets, b * T, 1, am, b, B, lengths[b], s, spans, g, p);
    }
  }
  return { lossSum: r.lossSum, count: r.count, correct: r.correct, ms: performance.now() - t0, confusion, spans };
}

/** The optimizer step on this task's slice (distributed training: after the ranks' allreduce). */
function update(t: UpdateTask): number {
  const t0 = performance.now();
  updateRange(t.opts, t.step, params.data as Float32Array, grad, m, v, t.scale, t.lo, t.hi);
  return performance.now() - t0;
}

export default function run(task: StepTask | EvalTask | UpdateTask): StepResult | ShardResult | number {
  Atomics.load(init.fence, 0); // acquire: see the coordinator's last writes to shared memory
  return task.kind === 'step' ? step(task) : task.kind === 'update' ? update(task) : evaluate(task);
}
