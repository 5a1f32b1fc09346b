// The per-layer model summary (Keras's model.summary()): each layer's parameters by the cells'
// formulas, the totals equal to the parameter table's, and `rnn-inspect --summary`.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout } from '../src/model/params.js';
import { summary, formatSummary } from '../src/model/summary.js';
import { ROOT } from './fixtures/train/helpers.js';

t.test('each layer\'s parameters by the formulas (PyTorch\'s two biases per gate block); the total is the layout\'s', async (t) => {
  const lstm: ModelSpec = { cell: 'lstm', task: 'many-to-one', V: 30, H: 64, C: 2, E: 16, layers: 2 };
  const s = summary(lstm);
  t.same(s.layers.map((l) => [l.name, l.kind, l.shape, l.params]), [
    ['embedding', 'Embedding', '(T, 16)', 30 * 16],
    ['lstm_1', 'LSTM', '(T, 64)', 4 * 64 * (16 + 64) + 2 * 4 * 64],
    ['lstm_2', 'LSTM', '(T, 64)', 4 * 64 * (64 + 64) + 2 * 4 * 64],
    ['pooling', 'Last step', '(64)', 0],
    ['output', 'Dense', '(2)', 2 * 64 + 2],
  ]);
  const specs: ModelSpec[] = [
    lstm,
    { cell: 'rnn', task: 'many-to-many', V: 50, H: 8, C: 50, E: 0, layers: 3 },
    { cell: 'gru', task: 'many-to-one', V: 20, H: 6, C: 4, E: 5, layers: 2, bidirectional: true, pooling: 'meanmax' },
    { cell: 'lstm', task: 'many-to-many', V: 40, H: 8, C: 40, E: 4, layers: 1, tieWeights: true },
    { cell: 'gru', task: 'many-to-many', V: 100, H: 16, C: 100, E: 8, layers: 1, adaptive: { cutoffs: [20, 60], divValue: 2, headBias: true } },
  ];
  for (const spec of specs) {
    const x = summary(spec);
    const tensors = makeLayout(spec).tensors.reduce((a, q) => a + q.size, 0);
    t.equal(x.total, tensors, `${spec.cell} ${spec.task}: total ${x.total} = the sum of the layout's tensors`);
    t.same(x.layers.flatMap((l) => l.tensors.map((q) => q.name)).sort(), makeLayout(spec).tensors.map((q) => q.name).sort(), 'every tensor in one layer');
  }
  const bi = summary(specs[2]);
  t.same(bi.layers.slice(1, 4).map((l) => [l.kind, l.shape, l.params]), [
    ['Bidirectional(GRU)', '(T, 12)', 2 * (3 * 6 * (5 + 6) + 2 * 3 * 6)],
    ['Bidirectional(GRU)', '(T, 12)', 2 * (3 * 6 * (12 + 6) + 2 * 3 * 6)],
    ['Pooling(meanmax)', '(36)', 0],
  ]);
  t.equal(summary(specs[3]).layers.at(-1)!.params, 4 * 8 + 40, 'tied (E ≠ H): the projection 4 × 8 and the bias; the table is counted once, in the embedding');
  const text = formatSummary(lstm, { frozen: true });
  t.match(text, /^Model: lstm many-to-one \(V = 30, H = 64, E = 16, C = 2\)\n_+\nLayer \(type\) +Output shape +Param #\n=+\nembedding \(Embedding\) +\(T, 16\) +480\n/);
  t.match(text, /Total params: 54,882\nTrainable params: 54,402\nNon-trainable params: 480\n/);
});

t.test('rnn-inspect --summary prints the table; the JSON lists the layers', async (t) => {
  const ckpt = join(ROOT, 'test', 'fixtures', 'checkpoint', 'tiny-v1.ckpt');
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'inspect.js'), ckpt, '--summary'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /rnn_1 \(RNN\) +\(T, 3\) +33\npooling \(Last step\) +\(3\) +0\noutput \(Dense\) +\(2\) +8\n=+\nTotal params: 41\n/);
  const j = spawnSync(process.execPath, [join(ROOT, 'dist', 'inspect.js'), ckpt], { encoding: 'utf8' });
  t.same(JSON.parse(j.stdout).layers.map((l: { name: string; params: number }) => [l.name, l.params]), [['rnn_1', 33], ['pooling', 0], ['output', 8]]);
});
