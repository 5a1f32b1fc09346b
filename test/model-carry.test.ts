// Language models that carry their state from chunk to chunk (train.carryState): the stream plan
// keeps each document's chunks consecutive at one row; evaluating chunks with carried states
// gives the loss of reading each document whole; training with carried states gives the same
// weights with 1 and 2 workers. Needs `npm run build` (worker threads load dist/).

import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams } from '../src/model/params.js';
import { initParams } from '../src/model/init.js';
import { Coordinator } from '../src/parallel/coordinator.js';
import { resolveKernels } from '../src/model/backend/index.js';
import { Optimizer, defaultOptimizer } from '../src/optim/optim.js';
import { streamPlan, epochPlan, continuesChunk, longestExample, type EncodedSplit } from '../src/data/index.js';
import { Rng } from '../src/util/prng.js';
import { arenaOf, toShared } from '../src/util/shared.js';

/** Documents of the given lengths (in tokens) as encodeStreams cuts them: chunks of T inputs, each with its next token as target. */
function lmSplit(docs: number[], T: number, V: number, seed: number): EncodedSplit {
  const r = new Rng(seed);
  const tokens: number[] = [], starts: number[] = [], lengths: number[] = [];
  for (const L of docs) {
    const s0 = tokens.length;
    for (let i = 0; i < L; i++) tokens.push(1 + r.int(V - 1));
    for (let p = 0; p < L - 1; p += T) { starts.push(s0 + p); lengths.push(Math.min(T, L - 1 - p)); }
  }
  return {
    name: 'train', count: starts.length, tokens: toShared(Int32Array.from(tokens)), starts: toShared(Int32Array.from(starts)),
    lengths: toShared(Int32Array.from(lengths)), labels: toShared(new Int32Array(0)),
  };
}

const DOCS = [250, 97, 180, 33, 121, 64, 205, 12, 77];

t.test('streamPlan: every chunk once; a row holds consecutive chunks; documents stay whole except where a stream starts', async (t) => {
  const split = lmSplit(DOCS, 16, 11, 1);
  for (const shuffle of [false, true]) {
    const B = 5;
    const plan = streamPlan(split, { batchSize: B, seed: 3, epoch: 2, shuffle });
    t.same([...plan.order].sort((a, b) => a - b), Array.from({ length: split.count }, (_, i) => i), `${shuffle ? 'shuffled' : 'in order'}: every chunk exactly once`);
    let breaks = 0;
    for (let k = 1; k + 1 < plan.batchStarts.length; k++) {
      const rows = plan.batchStarts[k + 1] - plan.batchStarts[k];
      for (let b = 0; b < rows; b++) {
        const prev = plan.order[plan.batchStarts[k - 1] + b], id = plan.order[plan.batchStarts[k] + b];
        if (continuesChunk(split, id) && prev !== id - 1) breaks++;
      }
    }
    t.ok(breaks <= B - 1, `${shuffle ? 'shuffled' : 'in order'}: a chunk's predecessor is the row's last chunk, except at the ${breaks} stream starts (≤ B − 1) that cut a document`);
  }
});

for (const spec of [
  { cell: 'lstm', task: 'many-to-many', V: 11, H: 10, C: 11, E: 4, layers: 2 },
  { cell: 'gru', task: 'many-to-many', V: 11, H: 12, C: 11, E: 0 },
  { cell: 'rnn', task: 'many-to-many', V: 11, H: 12, C: 11, E: 0 },
] as ModelSpec[]) {
  t.test(`${spec.cell}${spec.layers ? ` ×${spec.layers}` : ''}: evaluating chunks with carried states = reading each document whole`, async (t) => {
    const p = allocParams(makeLayout(spec), 'float32');
    initParams(p, spec, new Rng(4));
    const evaluate = async (split: EncodedSplit, carryState: boolean, B: number) => {
      const co = new Coordinator({ spec, workers: 2, maxB: B, maxT: longestExample(split), bpttWindow: 0, carryState, splits: { train: split }, params: p, kernels: resolveKernels('js') });
      try {
        const plan = (carryState ? streamPlan : epochPlan)(split, { batchSize: B, seed: 0, epoch: 0, shuffle: false });
        return await co.evaluate('train', plan.order, plan.batchStarts, false);
      } finally {
        await co.close();
      }
    };
    const whole = await evaluate(lmSplit(DOCS, 1000, 11, 1), false, 4);
    const rel = (x: { lossSum: number }) => Math.abs(x.lossSum - whole.lossSum) / whole.lossSum;
    // One stream: no document is cut, so every chunk but a document's first starts from the state its predecessor ended in.
    const one = await evaluate(lmSplit(DOCS, 16, 11, 1), true, 1);
    t.equal(one.count, whole.count, 'the same tokens');
    t.ok(rel(one) < 1e-6, `one stream: loss sum ${one.lossSum} vs ${whole.lossSum} whole (rel ${rel(one).toExponential(2)})`);
    const zero = await evaluate(lmSplit(DOCS, 16, 11, 1), false, 4);
    t.ok(rel(zero) > 1e-5, `every chunk from a zero state: another loss (rel ${rel(zero).toExponential(2)})`);
    // Four streams (cut in three places, where a stream starts from zero), sharded over 2 workers: every token once.
    t.equal((await evaluate(lmSplit(DOCS, 16, 11, 1), true, 4)).count, whole.count, 'four streams: the same tokens');
  });
}

t.test('training with carried states: 2 workers = 1 worker; the carried state changes the run', async (t) => {
  const spec: ModelSpec = { cell: 'lstm', task: 'many-to-many', V: 11, H: 12, C: 11, E: 5 };
  const split = lmSplit(DOCS, 16, 11, 2);
  const run = async (workers: number, carryState: boolean) => {
    const p = allocParams(makeLayout(spec), 'float32');
    initParams(p, spec, new Rng(1));
    const opt = new Optimizer(p.layout.size, { ...defaultOptimizer, lr: 0.01 }, arenaOf(p.data));
    const co = new Coordinator({ spec, workers, maxB: 6, maxT: 16, bpttWindow: 0, carryState, splits: { train: split }, params: p, optimizer: opt, kernels: resolveKernels('js') });
    try {
      let step = 0;
      for (let epoch = 0; epoch < 2; epoch++) {
        const plan = (carryState ? streamPlan : epochPlan)(split, { batchSize: 6, seed: 3, epoch });
        co.setOrder('train', plan.order);
        for (let k = 0; k + 1 < plan.batchStarts.length; k++) await co.step(++step, 'train', plan.batchStarts[k], plan.batchStarts[k + 1] - plan.batchStarts[k], 1);
      }
      return { w: Float32Array.from(p.data), carried: co.carried()! };
    } finally {
      await co.close();
    }
  };
  const one = await run(1, true), two = await run(2, true), none = await run(2, false);
  let num = 0, den = 0, other = 0;
  for (let i = 0; i < one.w.length; i++) {
    num = Math.max(num, Math.abs(one.w[i] - two.w[i]));
    den = Math.max(den, Math.abs(one.w[i]));
    other = Math.max(other, Math.abs(one.w[i] - none.w[i]));
  }
  t.ok(num / den < 1e-5, `2 workers within 1e-5 of 1 worker (${(num / den).toExponential(2)})`);
  t.same(Array.from(two.carried.ids), Array.from(one.carried.ids), 'the same chunks carried at every row');
  t.ok(other / den > 1e-3, 'carrying the state trains another model');
});
