// The step path (src/parallel/step.ts): the two phases a decorator uses (gradient, then update of
// the summed gradient) give the pool's one-round-trip step bit for bit when the "exchange" is one
// rank's identity; and the order gradient → summed → update is enforced.

import t from 'tap';
import { createHash } from 'node:crypto';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams } from '../src/model/params.js';
import { initParams } from '../src/model/init.js';
import { Coordinator } from '../src/parallel/coordinator.js';
import { resolveKernels } from '../src/model/backend/index.js';
import { LocalStep, type StepBatch } from '../src/parallel/step.js';
import { Optimizer, defaultOptimizer } from '../src/optim/optim.js';
import { epochPlan } from '../src/data/index.js';
import { sumSquares } from '../src/model/kernels.js';
import { Rng } from '../src/util/prng.js';
import { arenaOf } from '../src/util/shared.js';
import { syntheticSplit } from './helpers/model.js';

const BATCH = 16, STEPS = 6;
const spec: ModelSpec = { cell: 'gru', task: 'many-to-one', V: 20, H: 8, C: 3, E: 6, layers: 1 };

function setup(workers: number) {
  const split = syntheticSplit(spec, 120, 3, 20, 7);
  const p = allocParams(makeLayout(spec), 'float32');
  initParams(p, spec, new Rng(1));
  const opt = new Optimizer(p.layout.size, defaultOptimizer, arenaOf(p.data));
  const co = new Coordinator({ spec, workers, maxB: BATCH, maxT: 20, bpttWindow: 0, seed: 9, splits: { train: split }, params: p, optimizer: opt, kernels: resolveKernels('js') });
  const plan = epochPlan(split, { batchSize: BATCH, seed: 3, epoch: 0 });
  co.setOrder('train', plan.order);
  const batch = (k: number): StepBatch => ({ step: k + 1, split: 'train', order: plan.order, off: plan.batchStarts[k], n: plan.batchStarts[k + 1] - plan.batchStarts[k], clipNorm: 0 });
  const hash = () => createHash('sha256').update(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength)).digest('hex');
  return { co, opt, batch, hash, local: new LocalStep(co) };
}

/** One rank's "sum over the ranks": the part as it is (Σ g² over its rows, then the dense part, as the exchange packs them). */
function alone(part: Awaited<ReturnType<LocalStep['gradient']>>) {
  const { grad, rows, width, denseStart } = part;
  let sumSq = 0;
  for (let i = 0; i < rows.length; i++) sumSq += sumSquares(grad, rows[i] * width, width);
  sumSq += sumSquares(grad, denseStart, grad.length - denseStart);
  const { lossSum, count, correct } = part.stats;
  return part.summed({ rows: Int32Array.from(rows), u: rows.length, lossSum, count, correct, sumSq });
}

for (const workers of [1, 2]) {
  t.test(`${workers} worker${workers > 1 ? 's' : ''}: gradient → summed → update = the pool's step, bit for bit`, async (t) => {
    const a = setup(workers), b = setup(workers);
    try {
      for (let k = 0; k < STEPS; k++) {
        const ra = await a.local.step(a.batch(k));
        const rb = await b.local.update(alone(await b.local.gradient(b.batch(k), 0, 1)));
        t.equal(b.hash(), a.hash(), `step ${k + 1}: the same parameters`);
        t.same([rb.lossSum, rb.count, rb.correct, rb.finite], [ra.lossSum, ra.count, ra.correct, ra.finite], `step ${k + 1}: the same loss sums`);
      }
      t.equal(b.opt.step, STEPS, 'the optimizer counted every step');
      t.not(a.hash(), setup(workers).hash(), 'the steps changed the parameters');
    } finally {
      await a.co.close();
      await b.co.close();
    }
  });
}

t.test('the order is enforced: no update without its gradient, none twice, no second gradient before the update', async (t) => {
  const s = setup(2);
  try {
    const part = await s.local.gradient(s.batch(0), 0, 1);
    await t.rejects(s.local.gradient(s.batch(1), 0, 1), /the last step's gradient was not applied/, 'a second gradient before the update');
    const summed = alone(part);
    t.throws(() => alone(part), /summed already/, 'a part is summed once');
    await s.local.update(summed);
    await t.rejects(s.local.update(summed), /not the gradient of the step in flight/, 'an update applied twice');
    t.equal(s.opt.step, 1, 'one optimizer step');
  } finally {
    await s.co.close();
  }
});
