// Bidirectional layers (issue 22): finite differences in float64 for every tensor with dropout and
// target replication (the PyTorch fixtures of test/model-pytorch.test.ts cover plain padded
// batches), and padding that provably changes nothing: the reverse direction starts at each row's
// own last real token, so junk tokens in the padding change no loss, probability or gradient bit.

import t from 'tap';
import type { Cell, ModelSpec } from '../src/model/spec.js';
import { checkSpec, paramTable } from '../src/model/spec.js';
import { makeLayout, allocParams } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { randomParams, randomBatch, checkAgainstFiniteDifferences } from './helpers/model.js';

const EPS = 1e-4;
const spec = (cell: Cell, E: number, layers: number): ModelSpec => ({ cell, task: 'many-to-one', V: 7, H: 3, C: 3, E, layers, bidirectional: true });

t.test('the parameter table: PyTorch\'s names and shapes, the reverse direction after the forward one', async (t) => {
  t.same(paramTable(spec('lstm', 5, 2)).map(([n, s]) => `${n} ${s.join('x')}`), [
    'Wemb 7x5',
    'weight_ih_l0 12x5', 'weight_hh_l0 12x3', 'bias_ih_l0 12', 'bias_hh_l0 12',
    'weight_ih_l0_reverse 12x5', 'weight_hh_l0_reverse 12x3', 'bias_ih_l0_reverse 12', 'bias_hh_l0_reverse 12',
    'weight_ih_l1 12x6', 'weight_hh_l1 12x3', 'bias_ih_l1 12', 'bias_hh_l1 12',
    'weight_ih_l1_reverse 12x6', 'weight_hh_l1_reverse 12x3', 'bias_ih_l1_reverse 12', 'bias_hh_l1_reverse 12',
    'Wya 3x6', 'by 3',
  ]);
  t.same(paramTable(spec('rnn', 0, 1)).map(([n]) => n), ['Wax', 'Waa', 'ba', 'weight_ih_l0_reverse', 'weight_hh_l0_reverse', 'bias_ih_l0_reverse', 'bias_hh_l0_reverse', 'Wya', 'by'],
    'the vanilla RNN keeps Wax, Waa, ba forward; its reverse direction has PyTorch\'s names');
  t.throws(() => checkSpec({ ...spec('gru', 0, 1), task: 'many-to-many', C: 7 }), /language model .*cannot be bidirectional: its reverse direction would read the very tokens it predicts/);
});

const drop = { rate: 0.3, key: 0x5eed };
for (const [s, dropout, stepLoss] of [
  [spec('rnn', 0, 1), null, 0], [spec('lstm', 2, 1), null, 0.5], [spec('gru', 0, 2), drop, 0], [spec('lstm', 3, 2), drop, 0.6], [spec('rnn', 2, 3), drop, 0.3],
] as const) {
  const what = `${s.cell} ×${s.layers} bidirectional, ${s.E ? `embedding E=${s.E}` : 'one-hot'}${dropout ? ', dropout (masks fixed)' : ''}${stepLoss ? `, target replication ${stepLoss}` : ''}`;
  t.test(`finite differences: ${what}, padded unsorted batch`, async (t) => {
    const p = randomParams(s, 61, 'float64');
    for (const lp of p.reverse) for (let i = 0; i < lp.bih.length; i++) lp.bih[i] += 0.05 * Math.sin(i + 1); // nonzero reverse biases
    const batch = randomBatch(s, [4, 1, 6, 3], 62, 6);
    const g = allocParams(makeLayout(s), 'float64');
    const r = forwardBackward(p, g, allocWorkspace(s, batch.B, 6, 'float64'), batch, 0, dropout, stepLoss);
    const analytic = Float64Array.from(g.data);
    const scratch = allocParams(makeLayout(s), 'float64');
    const ws2 = allocWorkspace(s, batch.B, 6, 'float64');
    const loss = () => { const x = forwardBackward(p, scratch, ws2, batch, 0, dropout, stepLoss); return x.lossSum + (x.auxSum ?? 0); };
    t.equal(loss(), r.lossSum + (r.auxSum ?? 0), 'the same objective on every call');
    if (!dropout && !stepLoss) t.equal(forward(p, ws2, batch).lossSum, r.lossSum, 'forward-only gives the same loss');
    checkAgainstFiniteDifferences(t, p, analytic, loss, EPS);
  });
}

for (const [cell, E, layers] of [['rnn', 0, 1], ['lstm', 4, 2], ['gru', 0, 2]] as const) {
  t.test(`junk in the padding changes nothing: ${cell} ×${layers} bidirectional, ${E ? 'embedding' : 'one-hot'}`, async (t) => {
    const s = { ...spec(cell, E, layers), V: 11, H: 5 };
    const p = randomParams(s, 5, 'float64');
    const batch = randomBatch(s, [5, 2, 7, 1], 6, 9);
    const run = (b: typeof batch) => {
      const g = allocParams(makeLayout(s), 'float64'), ws = allocWorkspace(s, b.B, b.T, 'float64');
      const r = forwardBackward(p, g, ws, b, 0, drop, 0.4);
      return { loss: r.lossSum + (r.auxSum ?? 0), g: Array.from(g.data), P: Array.from(ws.P.subarray(0, b.B * s.C)) };
    };
    const clean = run(batch);
    const junk = { ...batch, tokens: batch.tokens.slice() };
    for (let b = 0; b < batch.B; b++) for (let i = batch.lengths[b]; i < batch.T; i++) junk.tokens[b * batch.T + i] = 1 + ((b * 7 + i * 3) % (s.V - 1));
    const dirty = run(junk);
    t.equal(dirty.loss, clean.loss, 'the same objective, bit for bit');
    t.same(dirty.P, clean.P, 'the same probabilities, bit for bit');
    t.same(dirty.g, clean.g, 'the same gradient, bit for bit');
  });
}

// Pooled classifier heads (model.pooling): the output layer reads the mean, the max, or [last, mean,
// max] of the top outputs over real steps only.
for (const [cell, pooling, bidirectional, E, layers] of [
  ['rnn', 'mean', false, 0, 1], ['lstm', 'max', false, 3, 2], ['gru', 'meanmax', false, 0, 1],
  ['lstm', 'mean', true, 0, 1], ['gru', 'max', true, 2, 2], ['rnn', 'meanmax', true, 3, 2],
] as const) {
  const s: ModelSpec = { cell, task: 'many-to-one', V: 7, H: 3, C: 3, E, layers, bidirectional, pooling };
  t.test(`finite differences: ${pooling} pooling, ${cell} ×${layers}${bidirectional ? ' bidirectional' : ''}, ${E ? 'embedding' : 'one-hot'}, with dropout`, async (t) => {
    const p = randomParams(s, 71, 'float64');
    const batch = randomBatch(s, [4, 1, 6, 3], 72, 7);
    const g = allocParams(makeLayout(s), 'float64');
    forwardBackward(p, g, allocWorkspace(s, batch.B, 7, 'float64'), batch, 0, drop);
    const analytic = Float64Array.from(g.data);
    const scratch = allocParams(makeLayout(s), 'float64'), ws2 = allocWorkspace(s, batch.B, 7, 'float64');
    checkAgainstFiniteDifferences(t, p, analytic, () => forwardBackward(p, scratch, ws2, batch, 0, drop).lossSum, EPS);
  });
}

t.test('pooling reads real steps only: junk in the padding changes nothing', async (t) => {
  for (const pooling of ['mean', 'max', 'meanmax'] as const) {
    const s: ModelSpec = { cell: 'gru', task: 'many-to-one', V: 9, H: 4, C: 3, E: 0, layers: 1, bidirectional: true, pooling };
    const p = randomParams(s, 8, 'float64');
    const batch = randomBatch(s, [6, 2, 4], 9, 8);
    const run = (b: typeof batch) => {
      const g = allocParams(makeLayout(s), 'float64');
      return { loss: forwardBackward(p, g, allocWorkspace(s, b.B, b.T, 'float64'), b).lossSum, g: Array.from(g.data) };
    };
    const junk = { ...batch, tokens: batch.tokens.slice() };
    for (let b = 0; b < batch.B; b++) for (let i = batch.lengths[b]; i < batch.T; i++) junk.tokens[b * batch.T + i] = 1 + ((b + i) % 8);
    t.same(run(junk), run(batch), `${pooling}: the same loss and gradient, bit for bit`);
  }
  const s: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 9, H: 4, C: 3, E: 0, pooling: 'meanmax' };
  const b = randomBatch(s, [3], 1);
  t.throws(() => forwardBackward(randomParams(s, 1, 'float64'), allocParams(makeLayout(s), 'float64'), allocWorkspace(s, 1, 3, 'float64'), b, 0, null, 0.5), /target replication .*needs the output layer to read one state/);
});
