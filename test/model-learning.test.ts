import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { initParams } from '../src/model/init.js';
import { batchFrom } from '../src/model/batch.js';
import { LocalTrainer } from '../src/train/local.js';
import { defaultOptimizer } from '../src/train/optim.js';
import { Rng } from '../src/util/prng.js';

// The long-range task: the label is the FIRST token; the other tokens are noise drawn from the
// same alphabet, so the network must carry the first token through the whole sequence.
function firstTokenBatch(rng: Rng, B: number, T: number, classes: number, V: number) {
  const seqs: number[][] = [], labels: number[] = [];
  for (let b = 0; b < B; b++) {
    const y = rng.int(classes);
    const s = [1 + y];
    // Varying lengths: padding is part of the task.
    const len = T - rng.int(3);
    while (s.length < len) s.push(1 + rng.int(V - 1));
    seqs.push(s);
    labels.push(y);
  }
  return batchFrom(seqs, { labels, T });
}

t.test('learns a long-range dependency (label = first token, length 10) to >95% with Adam', async (t) => {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 8, H: 32, C: 4, E: 0 };
  const tr = new LocalTrainer(spec, 32, 10, { optimizer: { ...defaultOptimizer, lr: 0.01 }, clipNorm: 5 });
  initParams(tr.p, spec, new Rng(1));
  const rng = new Rng(2);
  const start = Date.now();
  let steps = 0;
  for (; steps < 600; steps++) {
    tr.step(firstTokenBatch(rng, 32, 10, 4, 8));
    if (steps % 50 === 49 && tr.evaluate(firstTokenBatch(new Rng(99), 32, 10, 4, 8)).accuracy === 1) break;
  }
  const test = new Rng(123);
  let correct = 0, n = 0;
  for (let i = 0; i < 10; i++) {
    const r = tr.evaluate(firstTokenBatch(test, 32, 10, 4, 8));
    correct += r.correct;
    n += r.count;
  }
  t.comment(`${steps + 1} steps in ${Date.now() - start} ms, held-out accuracy ${(correct / n * 100).toFixed(1)}%`);
  t.ok(correct / n > 0.95, `held-out accuracy ${correct / n}`);
});

t.test('vanishing gradient: at length 60, dL/da_1 is far smaller than dL/da_T (untrained, small weights)', async (t) => {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 8, H: 32, C: 4, E: 0 };
  const tr = new LocalTrainer(spec, 16, 60, { optimizer: defaultOptimizer, clipNorm: 0 });
  initParams(tr.p, spec, new Rng(1), { recurrentInit: 'normal', recurrentScale: 0.5 });
  const batch = firstTokenBatch(new Rng(3), 16, 60, 4, 8);
  for (let b = 0; b < batch.B; b++) batch.lengths[b] = 60; // all full length: every step has 16 rows
  tr.gradients(batch);
  const norms = Array.from({ length: 60 }, (_, i) => tr.ws.stepNormSum[i] / tr.ws.stepNormCount[i]);
  t.comment('mean ‖dL/da_t‖ at t = 1, 10, 20, 30, 40, 50, 60: ' + [0, 9, 19, 29, 39, 49, 59].map((i) => norms[i].toExponential(2)).join(', '));
  t.ok(norms[0] < norms[59] * 1e-6, `dL/da_1 / dL/da_60 = ${(norms[0] / norms[59]).toExponential(2)}`);
  // Decay is steady, not a single drop: every 10 steps lose a factor.
  for (let i = 59; i >= 10; i -= 10) t.ok(norms[i - 10] < norms[i], `‖dL/da_${i - 9}‖ < ‖dL/da_${i + 1}‖`);
});

t.test('determinism: same seed, bit-identical weights after 50 steps; another seed differs', async (t) => {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-many', V: 12, H: 16, C: 12, E: 6 };
  const run = (seed: number) => {
    const tr = new LocalTrainer(spec, 8, 12, { optimizer: defaultOptimizer, clipNorm: 1 });
    initParams(tr.p, spec, new Rng(seed));
    const rng = new Rng(seed, 1);
    for (let s = 0; s < 50; s++) {
      const seqs = Array.from({ length: 8 }, () => Array.from({ length: 4 + rng.int(9) }, () => 1 + rng.int(11)));
      tr.step(batchFrom(seqs, { targets: seqs.map((q) => q.map((x) => (x % 11) + 1)), T: 12 }));
    }
    return Buffer.from(tr.p.data.buffer, tr.p.data.byteOffset, tr.p.data.byteLength);
  };
  const a = run(5), b = run(5), c = run(6);
  t.ok(a.equals(b), 'same seed: identical bytes');
  t.notOk(a.equals(c), 'different seed: different weights');
});
