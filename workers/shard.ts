// A worker thread: runs forward + BPTT on one shard of a batch, reading the shared parameters in
// place and writing gradient sums into the shared slot the task names (the same forwardBackward
// as the single-process path; only the buffers differ); then sums its part of the slots, and
// applies its slice of the optimizer step.

import { workerData } from 'piscina';
import { performance } from 'node:perf_hooks';
import type { WorkerInit, GradTask, EvalTask, ReduceTask, UpdateTask, ShardResult } from '../src/parallel/protocol.js';
import { makeLayout, viewsOf, type Params } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { allocBatch } from '../src/model/batch.js';
import { fillBatch } from '../src/data/index.js';
import { zeroGrad, tokenRows } from '../src/train/step.js';
import { argmaxRow, sumSlots, fill } from '../src/model/kernels.js';
import { updateRange } from '../src/train/optim.js';
import { SharedArena } from '../src/util/shared.js';
import { stepKey } from '../src/util/prng.js';

const init = workerData as WorkerInit;
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
const ws = allocWorkspace(spec, init.maxB, init.maxT);
const batch = allocBatch(init.maxB, init.maxT);

/** Sum this worker's part of the slots into the reduced gradient; Σ g² of it (dense part, then rows in union order). */
function reduce(t: ReduceTask): number {
  let sq = sumSlots(grad, t.lo, slotData, t.S, slotTable, t.lo, t.hi - t.lo);
  const prev = init.unions[1 - t.cur], cur = init.unions[t.cur];
  for (let i = 0; i < t.prevCount; i++) if (prev[i] % t.W === t.k) fill(grad, prev[i] * width, width, 0);
  for (let i = 0; i < t.count; i++) {
    const r = cur[i];
    if (r % t.W === t.k) sq += sumSlots(grad, r * width, slotData, t.S, slotTable, r * width, width);
  }
  return sq;
}

export default function run(task: GradTask | EvalTask | ReduceTask | UpdateTask): ShardResult | number | null {
  Atomics.load(init.fence, 0); // acquire: see the coordinator's last writes to shared memory
  if (task.kind === 'reduce') return reduce(task);
  if (task.kind === 'update') {
    updateRange(task.opts, task.step, params.data as Float32Array, grad, m, v, task.scale, task.lo, task.hi);
    return null;
  }
  const split = init.splits[task.split];
  const order = init.orders[task.split];
  if (!split || !order) throw new Error(`worker: no ${task.split} split was shared with the pool`);
  const t0 = performance.now();
  fillBatch(split, spec.task, order, task.off, task.n, batch);

  if (task.kind === 'eval') {
    const r = forward(params, ws, batch);
    let confusion: number[] | undefined;
    if (task.confusion && spec.task === 'many-to-one') {
      confusion = new Array(spec.C * spec.C).fill(0);
      for (let b = 0; b < batch.B; b++) confusion[batch.labels[b] * spec.C + argmaxRow(ws.P, b * spec.C, spec.C)]++;
    }
    return { lossSum: r.lossSum, count: r.count, correct: r.correct, ms: performance.now() - t0, confusion };
  }

  if (init.inject && task.step === init.inject.failAtStep && task.slot === 0) {
    if (init.inject.mode === 'exit') process.exit(3);
    throw new Error(`injected failure at step ${task.step}`);
  }
  const slot = init.slots[task.slot];
  const g = slots[task.slot];
  zeroGrad(layout, g.data, slot.touched.subarray(1), slot.touched[0]);
  const drop = init.dropout > 0 ? { rate: init.dropout, key: stepKey(init.seed, task.step) } : null;
  const r = forwardBackward(params, g, ws, batch, init.bpttWindow, drop, init.stepLoss);
  slot.touched[0] = ws.touchedCount;
  slot.touched.set(ws.touched.subarray(0, ws.touchedCount), 1);
  slot.normSum.set(ws.stepNormSum.subarray(0, batch.T));
  slot.normSum.fill(0, batch.T);
  slot.normCount.set(ws.stepNormCount.subarray(0, batch.T));
  slot.normCount.fill(0, batch.T);
  return { lossSum: r.lossSum, count: r.count, correct: r.correct, ms: performance.now() - t0 };
}
