// Training a bidirectional classifier through the library, as a run does: a stop and a resume end
// bit-identical to an uninterrupted run (with 2 workers), 2 workers stay within 1e-5 of 1, the
// saved model classifies as the trained one, and a language model is refused with the reason.
// Worker threads load dist/: needs `npm run build`.

import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { train, Model, type Example, type RunOptions } from '../src/index.js';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { ROOT, finalState } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'workers', 'shard.js'))) throw new Error('dist/workers/shard.js is missing: run `npm run build` first');
});

/** Which of x and o comes first in a string over a, b, x, o: the answer is at the start, so the reverse direction reads it last. */
function examples(n: number, seed: number): Example[] {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out: Example[] = [];
  while (out.length < n) {
    const len = 3 + Math.floor(rand() * 12);
    let text = '';
    for (let i = 0; i < len; i++) text += 'abxo'[Math.floor(rand() * 4)];
    const x = text.indexOf('x'), o = text.indexOf('o');
    if (x >= 0 && o >= 0) out.push({ text, label: x < o ? 'x' : 'o' });
  }
  return out;
}
const DATA = { train: examples(240, 1), val: examples(60, 2), test: examples(60, 3) };
const CONFIG = (workers: number, cell: 'lstm' | 'gru' | 'rnn' = 'gru') => ({
  name: `bi-${cell}-${workers}`, seed: 3,
  model: { task: 'many-to-one' as const, cell, hidden: 12, layers: 2, bidirectional: true, dropout: 0.1, input: { embedding: 6 } },
  train: { epochs: 3, batchSize: 16, lr: 0.02, workers, kernels: 'js' as const, stepLoss: 0.3 },
  checkpoint: { every: 0, keepLast: 2 },
});

t.test('bidirectional: stop and resume equal an uninterrupted run; 2 workers within 1e-5 of 1; the saved model classifies the same', async (t) => {
  const dir = t.testdir({});
  const full = await train({ config: CONFIG(2), data: DATA, baseDir: dir });
  t.ok(full.test!.accuracy > 0.6, `learns the task (test accuracy ${full.test!.accuracy})`);
  const stop = new AbortController();
  const o: RunOptions = { config: { ...CONFIG(2), name: 'cut' }, data: DATA, baseDir: dir, signal: stop.signal, onStep: (e) => { if (e.step === 20) stop.abort(); } };
  const cut = await train(o);
  t.ok(cut.interrupted);
  const resumed = await train({ ...o, signal: undefined, onStep: undefined, resume: 'latest' });
  t.same(finalState(resumed.runDir), finalState(full.runDir), 'resumed: the same final state, bit for bit');

  const one = await train({ config: CONFIG(1), data: DATA, baseDir: dir });
  const a = readCheckpoint(one.lastCheckpoint!), b = readCheckpoint(full.lastCheckpoint!);
  t.ok(a.spec.bidirectional && b.spec.bidirectional, 'the checkpoint says bidirectional');
  let num = 0, den = 0;
  a.params.forEach((p, i) => p.data.forEach((v, j) => { num = Math.max(num, Math.abs(v - b.params[i].data[j])); den = Math.max(den, Math.abs(b.params[i].data[j])); }));
  t.ok(num / den < 1e-5, `2 workers within 1e-5 of 1 worker after 45 steps (${(num / den).toExponential(2)})`);

  const m = Model.load(full.lastCheckpoint!);
  const texts = DATA.test.slice(0, 8).map((e) => e.text);
  t.same(m.classify(texts).map((p) => p.label), full.model.classify(texts).map((p) => p.label), 'loaded from the checkpoint, it classifies as the trained model');
});

t.test('a bidirectional language model is a config error that says why', async (t) => {
  const dir = t.testdir({});
  await t.rejects(train({
    config: { name: 'lm', model: { task: 'many-to-many', hidden: 8, bidirectional: true }, data: { tokenizer: 'char', seqLength: 8 }, train: { epochs: 1, workers: 1, kernels: 'js' } },
    data: ['some text for a language model', 'and another document of it'], baseDir: dir,
  }), { name: 'ConfigError', message: /model\.bidirectional: expected false for a language model .*would read that very token/ });
});
