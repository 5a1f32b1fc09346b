// A worker thread: runs forward + BPTT on one shard of a batch, reading the shared parameters in
// place and writing gradient sums into the shared slot the task names. Same code as the
// single-process path (forwardBackward); only the buffers differ.

import { workerData } from 'piscina';
import { performance } from 'node:perf_hooks';
import type { WorkerInit, GradTask, EvalTask, UpdateTask, ShardResult } from '../src/parallel/protocol.js';
import { makeLayout, viewsOf, type Params } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { allocBatch } from '../src/model/batch.js';
import { fillBatch } from '../src/data/index.js';
import { zeroGrad } from '../src/train/step.js';
import { argmaxRow } from '../src/model/kernels.js';
import { updateRange } from '../src/train/optim.js';

const init = workerData as WorkerInit;
const spec = init.spec;
const layout = makeLayout(spec);
const params = viewsOf(layout, new Float32Array(init.params, 0, layout.size));
const slots: Params[] = init.slots.map((s) => viewsOf(layout, new Float32Array(s.grad, 0, layout.size)));
const grad = new Float32Array(init.grad, 0, layout.size);
const ws = allocWorkspace(spec, init.maxB, init.maxT);
const batch = allocBatch(init.maxB, init.maxT);

export default function run(task: GradTask | EvalTask | UpdateTask): ShardResult | null {
  Atomics.load(init.fence, 0); // acquire: see the coordinator's last writes to shared memory
  if (task.kind === 'update') {
    updateRange(task.opts, task.step, params.data, grad, init.moments.m, init.moments.v, task.scale, task.lo, task.hi);
    return null;
  }
  const split = init.splits[task.split];
  const order = init.orders[task.split];
  if (!split || !order) throw new Error(`worker: no ${task.split} split was shared with the pool`);
  fillBatch(split, spec.task, order, task.off, task.n, batch);
  const t0 = performance.now();

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
  const r = forwardBackward(params, g, ws, batch, init.bpttWindow);
  slot.touched[0] = ws.touchedCount;
  slot.touched.set(ws.touched.subarray(0, ws.touchedCount), 1);
  slot.normSum.set(ws.stepNormSum.subarray(0, batch.T));
  slot.normSum.fill(0, batch.T);
  slot.normCount.set(ws.stepNormCount.subarray(0, batch.T));
  slot.normCount.fill(0, batch.T);
  return { lossSum: r.lossSum, count: r.count, correct: r.correct, ms: performance.now() - t0 };
}
