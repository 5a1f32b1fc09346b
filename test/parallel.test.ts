// The coordinator and its worker threads: same results as one thread, reproducible, and a
// failing worker stops training without touching the parameters.

import t from 'tap';
import { createHash } from 'node:crypto';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams } from '../src/model/params.js';
import { initParams } from '../src/model/init.js';
import { Coordinator, WorkerFailure } from '../src/parallel/coordinator.js';
import { Optimizer, defaultOptimizer } from '../src/optim/optim.js';
import { LocalTrainer } from '../src/train/local.js';
import { allocBatch } from '../src/model/batch.js';
import { epochPlan, fillBatch } from '../src/data/index.js';
import { Rng } from '../src/util/prng.js';
import { arenaOf } from '../src/util/shared.js';
import { syntheticSplit, maxRelDiff, availableBackends } from './helpers/model.js';
import { resolveKernels, type BackendName } from '../src/model/backend/index.js';

const BATCH = 16;

interface Extras { dropout?: number; stepLoss?: number; kernels?: BackendName; clipNorm?: number; fuseUpdate?: boolean }

async function trainParallel(spec: ModelSpec, workers: number, steps: number, inject?: { failAtStep: number; mode: 'throw' | 'exit' | 'hang' }, x: Extras = {}) {
  const split = syntheticSplit(spec, 200, 3, 20, 7);
  const p = allocParams(makeLayout(spec), 'float32');
  initParams(p, spec, new Rng(1));
  const opt = new Optimizer(p.layout.size, defaultOptimizer, arenaOf(p.data));
  const co = new Coordinator({ spec, workers, maxB: BATCH, maxT: 20, bpttWindow: 0, dropout: x.dropout, stepLoss: x.stepLoss, seed: 9, splits: { train: split }, params: p, optimizer: opt, kernels: resolveKernels(x.kernels ?? 'js'), inject, fuseUpdate: x.fuseUpdate });
  const hashes: string[] = [];
  const losses: number[] = [];
  const epochLosses: number[] = []; // the mean loss over each whole epoch (every training sequence once)
  const norms: number[] = [];
  try {
    let step = 0;
    for (let epoch = 0; step < steps; epoch++) {
      const plan = epochPlan(split, { batchSize: BATCH, seed: 3, epoch });
      co.setOrder('train', plan.order);
      let lossSum = 0, count = 0;
      for (let k = 0; k + 1 < plan.batchStarts.length && step < steps; k++) {
        step++;
        const r = await co.step(step, 'train', plan.batchStarts[k], plan.batchStarts[k + 1] - plan.batchStarts[k], x.clipNorm ?? 1);
        losses.push(r.lossSum / r.count);
        lossSum += r.lossSum;
        count += r.count;
        if (k + 2 === plan.batchStarts.length) epochLosses.push(lossSum / count);
        norms.push(r.gradNorm);
        hashes.push(createHash('sha256').update(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength)).digest('hex'));
      }
    }
  } finally {
    await co.close();
  }
  return { p: Float32Array.from(p.data), hashes, losses, epochLosses, norms, split };
}

function localTrain(spec: ModelSpec, steps: number, x: Extras = {}) {
  const split = syntheticSplit(spec, 200, 3, 20, 7);
  const tr = new LocalTrainer(spec, BATCH, 20, { optimizer: defaultOptimizer, clipNorm: x.clipNorm ?? 1, dropout: x.dropout, stepLoss: x.stepLoss, seed: 9, kernels: resolveKernels(x.kernels ?? 'js') });
  initParams(tr.p, spec, new Rng(1));
  const batch = allocBatch(BATCH, 20);
  let step = 0;
  for (let epoch = 0; step < steps; epoch++) {
    const plan = epochPlan(split, { batchSize: BATCH, seed: 3, epoch });
    for (let k = 0; k + 1 < plan.batchStarts.length && step < steps; k++, step++) {
      fillBatch(split, spec.task, plan.order, plan.batchStarts[k], plan.batchStarts[k + 1] - plan.batchStarts[k], batch);
      tr.step(batch);
    }
  }
  return Float32Array.from(tr.p.data);
}

const backends = availableBackends(t);
for (const [spec, x0] of [
  [{ cell: 'rnn', task: 'many-to-one', V: 50, H: 24, C: 3, E: 0 }, { stepLoss: 0.5 }],
  [{ cell: 'rnn', task: 'many-to-many', V: 30, H: 16, C: 30, E: 8 }, { dropout: 0.3 }],
  [{ cell: 'lstm', task: 'many-to-one', V: 50, H: 12, C: 3, E: 0, layers: 2 }, { stepLoss: 0.5, dropout: 0.2 }],
  [{ cell: 'gru', task: 'many-to-many', V: 30, H: 12, C: 30, E: 8, layers: 2 }, { dropout: 0.3 }],
  // Output heads: the tied table's gradient is dense (reduced and updated whole); the adaptive softmax.
  [{ cell: 'rnn', task: 'many-to-many', V: 30, H: 16, C: 30, E: 16, tieWeights: true }, { dropout: 0.2 }],
  [{ cell: 'rnn', task: 'many-to-many', V: 30, H: 16, C: 30, E: 8, tieWeights: true }, {}],
  [{ cell: 'gru', task: 'many-to-many', V: 30, H: 16, C: 30, E: 8, adaptive: { cutoffs: [6, 15], divValue: 2, headBias: true } }, {}],
] as Array<[ModelSpec, Extras]>) for (const kernels of backends) {
  const x = { ...x0, kernels };
  const what = `${spec.cell}${spec.layers ? ` ×${spec.layers}` : ''}, ${spec.task}, ${spec.E ? 'embedding' : 'one-hot'}${spec.tieWeights ? `, tied E=${spec.E} H=${spec.H}` : ''}${spec.adaptive ? ', adaptive softmax' : ''}, ${JSON.stringify(x)}`;
  t.test(`50 steps: 2 workers = 1 worker = single thread (${what})`, async (t) => {
    const one = await trainParallel(spec, 1, 50, undefined, x);
    const two = await trainParallel(spec, 2, 50, undefined, x);
    const local = localTrain(spec, 50, x);
    // One worker sums one slot: the same arithmetic as the single-thread loop, bit for bit.
    t.ok(Buffer.from(one.p.buffer).equals(Buffer.from(local.buffer)), '1 worker is bit-identical to the single-thread loop');
    // Two workers sum two partial sums: equal up to float32 rounding of the order of summation.
    let num = 0, den = 0;
    for (let i = 0; i < one.p.length; i++) { num = Math.max(num, Math.abs(one.p[i] - two.p[i])); den = Math.max(den, Math.abs(one.p[i])); }
    t.comment(`max |w1 - w2| / max |w1| = ${(num / den).toExponential(2)}; last loss ${one.losses[49].toFixed(4)} vs ${two.losses[49].toFixed(4)}`);
    t.ok(num / den < 1e-5, `2 workers within 1e-5 of 1 worker (${(num / den).toExponential(2)})`);
    // Over the same sequences (whole epochs): one batch's loss against another batch's is mostly
    // the batches' difference (these synthetic tasks start near chance, dropout adds noise).
    const [first, , third] = one.epochLosses;
    t.ok(third < first, `the loss went down: mean over the training set ${first.toFixed(4)} in epoch 1, ${third.toFixed(4)} in epoch 3`);
    const again = await trainParallel(spec, 2, 50, undefined, x);
    t.same(again.hashes, two.hashes, 'same seed and worker count: bit-identical weights at every step');
  });
}

// Without clipping the slot sum and Adam run as one pass per thread (ShardRunner.fused). A clip
// norm too large to act runs the two-phase step with the same factor: the same bits are expected,
// and 1 worker without clipping is still the single-thread loop to the bit.
for (const spec of [
  { cell: 'rnn', task: 'many-to-many', V: 30, H: 16, C: 30, E: 8 },
  { cell: 'lstm', task: 'many-to-one', V: 50, H: 12, C: 3, E: 0 },
  // Tied weights: the token table's gradient is dense (no rows listed): all of it one fused range.
  { cell: 'rnn', task: 'many-to-many', V: 30, H: 16, C: 30, E: 16, tieWeights: true },
] as ModelSpec[]) {
  t.test(`no clipping: the fused slot sum + Adam = the two-phase step, bit for bit (${spec.cell}, ${spec.E ? 'embedding' : 'one-hot'}${spec.tieWeights ? ', tied' : ''})`, async (t) => {
    for (const workers of [1, 2, 3]) {
      const fused = await trainParallel(spec, workers, 20, undefined, { clipNorm: 0, fuseUpdate: true });
      const twoPhase = await trainParallel(spec, workers, 20, undefined, { clipNorm: 1e30 });
      t.same(fused.hashes, twoPhase.hashes, `${workers} worker${workers > 1 ? 's' : ''}: the same weights at every step`);
      t.same(fused.norms, twoPhase.norms, `${workers} worker${workers > 1 ? 's' : ''}: the same gradient norms`);
      if (workers === 1) t.ok(Buffer.from(fused.p.buffer).equals(Buffer.from(localTrain(spec, 20, { clipNorm: 0 }).buffer)), '1 worker = the single-thread loop');
    }
  });
}

// The clean run the three failure modes are compared with: the same for each, computed once.
let cleanRun: ReturnType<typeof trainParallel> | undefined;
for (const mode of ['throw', 'exit', 'hang'] as const) {
  t.test(`a failing worker (${mode}) stops the step with a clear error and leaves the parameters unchanged`, async (t) => {
    const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 50, H: 24, C: 3, E: 0 };
    const clean = await (cleanRun ??= trainParallel(spec, 2, 4));
    let err: unknown;
    const split = syntheticSplit(spec, 200, 3, 20, 7);
    const p = allocParams(makeLayout(spec), 'float32');
    initParams(p, spec, new Rng(1));
    const opt = new Optimizer(p.layout.size, defaultOptimizer, arenaOf(p.data));
    const co = new Coordinator({ spec, workers: 2, maxB: BATCH, maxT: 20, bpttWindow: 0, splits: { train: split }, params: p, optimizer: opt, kernels: resolveKernels('js'), inject: { failAtStep: 5, mode }, stallTimeoutMs: mode === 'hang' ? 3000 : undefined });
    const plan = epochPlan(split, { batchSize: BATCH, seed: 3, epoch: 0 });
    co.setOrder('train', plan.order);
    let hashBefore = '';
    try {
      for (let step = 1; step <= 6; step++) {
        hashBefore = createHash('sha256').update(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength)).digest('hex');
        await co.step(step, 'train', plan.batchStarts[step - 1], plan.batchStarts[step] - plan.batchStarts[step - 1], 1);
      }
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof WorkerFailure, 'a WorkerFailure');
    t.match((err as Error).message, /training stopped at step 5: a worker thread failed/);
    if (mode === 'throw') t.match((err as Error).message, /injected failure at step 5/);
    if (mode === 'hang') t.match((err as Error).message, /stopped answering/);
    t.equal(hashBefore, clean.hashes[3], 'parameters are exactly those after step 4');
    const now = createHash('sha256').update(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength)).digest('hex');
    t.equal(now, clean.hashes[3], 'and stay so after the failure');
    await t.rejects(co.step(6, 'train', 0, 4, 1), /pool is closed/, 'the pool was destroyed');
  });
}

t.test('a worker that stops answering during evaluation: a clear error after the stall limit', async (t) => {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 50, H: 24, C: 3, E: 0 };
  const split = syntheticSplit(spec, 40, 3, 20, 7);
  const p = allocParams(makeLayout(spec), 'float32');
  initParams(p, spec, new Rng(1));
  const co = new Coordinator({ spec, workers: 2, maxB: BATCH, maxT: 20, bpttWindow: 0, splits: { train: split }, params: p, kernels: resolveKernels('js'), inject: { failAtStep: 0, mode: 'hang', during: 'eval' }, stallTimeoutMs: 2000 });
  const plan = epochPlan(split, { batchSize: BATCH, seed: 3, epoch: 0, shuffle: false });
  const t0 = Date.now();
  await t.rejects(co.evaluate('train', plan.order, plan.batchStarts, false), /evaluation of the train split failed in a worker thread: no answer for 2\.0 s .*stopped answering/);
  t.ok(Date.now() - t0 < 10_000, 'within seconds of the limit');
});
