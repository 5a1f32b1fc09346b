// train.classWeights: the weighted cross-entropy of a classifier's training loss. Against
// PyTorch's CrossEntropyLoss(weight=w) with the mean reduction (which divides by the sum of the
// batch's weights; fixtures by test/fixtures/pytorch/make.py), against central finite differences
// of an independent weighted loss (float64), and the weights a config gives ("balanced", a map).

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams, tensor } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { batchFrom } from '../src/model/batch.js';
import { randomParams, randomBatch, checkAgainstFiniteDifferences } from './helpers/model.js';
import { classWeightsOf } from '../src/train/run.js';
import { checkConfig } from '../src/config/load.js';

interface Fixture {
  spec: ModelSpec; T: number; tokens: number[][]; labels: number[];
  lossMean: number; classWeights: number[]; params: Record<string, number[]>; grads: Record<string, number[]>;
}

const doc = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'pytorch', 'classweights.json'), 'utf8')) as { cases: Fixture[] };
for (const f of doc.cases) {
  const s = f.spec;
  t.test(`${s.cell} ×${s.layers}, ${s.E ? `E=${s.E}` : 'one-hot'}, weights ${f.classWeights.join(', ')}, labels ${f.labels.join(', ')}: the mean loss and its gradients equal PyTorch's`, async (t) => {
    const layout = makeLayout(s);
    const p = allocParams(layout, 'float64'), g = allocParams(layout, 'float64');
    for (const x of layout.tensors) tensor(layout, p.data, x.name).set(f.params[x.name]);
    const batch = batchFrom(f.tokens, { T: f.T, labels: f.labels });
    const ws = allocWorkspace(s, batch.B, batch.T, 'float64');
    ws.classWeights = Float64Array.from(f.classWeights);
    const r = forwardBackward(p, g, ws, batch);
    const sumW = f.labels.reduce((a, y) => a + f.classWeights[y], 0);
    t.equal(r.count, sumW, `count is the sum of the batch's weights (${sumW}), the mean's divisor`);
    t.ok(Math.abs(r.lossSum / r.count - f.lossMean) < 1e-12, `loss ${r.lossSum / r.count} vs PyTorch ${f.lossMean}`);
    for (const x of layout.tensors) {
      const ours = tensor(layout, g.data, x.name), ref = f.grads[x.name];
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i] / r.count - ref[i]));
      t.ok(worst < 1e-10, `d${x.name}: max difference ${worst.toExponential(2)}`);
    }
    // Evaluation is not weighted: forward() gives the plain sum over the batch.
    const plain = forward(p, allocWorkspace(s, batch.B, batch.T, 'float64'), batch);
    const wsW = allocWorkspace(s, batch.B, batch.T, 'float64');
    wsW.classWeights = Float64Array.from(f.classWeights);
    t.equal(forward(p, wsW, batch).lossSum, plain.lossSum, 'forward (evaluation) ignores the class weights');
    t.equal(plain.count, batch.B);
  });
}

t.test('finite differences of an independent weighted loss (float64), with padding; and with target replication', async (t) => {
  const spec: ModelSpec = { cell: 'lstm', task: 'many-to-one', V: 6, H: 4, C: 3, E: 3, layers: 2 };
  const w = Float64Array.from([0.3, 1.7, 2.5]);
  const p = randomParams(spec, 11, 'float64');
  const batch = randomBatch(spec, [5, 2, 4, 1, 3], 12, 5);
  const g = allocParams(makeLayout(spec), 'float64');
  const ws = allocWorkspace(spec, batch.B, 5, 'float64');
  ws.classWeights = w;
  const r = forwardBackward(p, g, ws, batch);
  const analytic = Float64Array.from(g.data, (x) => x / r.count);
  // The weighted mean from the forward pass's probabilities alone: Σ w_y·(−log p_y) / Σ w_y.
  const wsF = allocWorkspace(spec, batch.B, 5, 'float64');
  const loss = () => {
    forward(p, wsF, batch);
    let num = 0, den = 0;
    for (let b = 0; b < batch.B; b++) { const y = batch.labels[b]; num -= w[y] * Math.log(wsF.P[b * spec.C + y]); den += w[y]; }
    return num / den;
  };
  t.ok(Math.abs(loss() - r.lossSum / r.count) < 1e-12, 'the same loss');
  checkAgainstFiniteDifferences(t, p, analytic, loss);

  // Target replication: each step's term weighs alpha/len · w_y as well (the loss is then the weighted objective's own).
  const g2 = allocParams(makeLayout(spec), 'float64');
  const ws2 = allocWorkspace(spec, batch.B, 5, 'float64');
  ws2.classWeights = w;
  const r2 = forwardBackward(p, g2, ws2, batch, 0, null, 0.5);
  const scratch = allocParams(makeLayout(spec), 'float64'), ws3 = allocWorkspace(spec, batch.B, 5, 'float64');
  ws3.classWeights = w;
  checkAgainstFiniteDifferences(t, p, Float64Array.from(g2.data, (x) => x / r2.count), () => {
    const x = forwardBackward(p, scratch, ws3, batch, 0, null, 0.5);
    return (x.lossSum + (x.auxSum ?? 0)) / x.count;
  });
});

t.test('the weights of a config: "balanced" from the training labels, a map by label name; errors name the field', async (t) => {
  const cfgOf = (classWeights: unknown, task = 'many-to-one') => checkConfig({
    name: 'w', data: { source: 'memory' }, model: { task, hidden: 4 }, train: classWeights === undefined ? {} : { classWeights },
  }, { label: 'c.json', configDir: '.' });
  const labels = Int32Array.from([0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0]); // 9, 2, 1
  const data = { labelNames: ['ham', 'spam', 'x'], splits: { train: { count: labels.length, labels } } } as unknown as Parameters<typeof classWeightsOf>[1];
  const said: string[] = [];
  const w = classWeightsOf(cfgOf('balanced'), data, 'c.json', (_, s) => said.push(s))!;
  t.same(w, [12 / (3 * 9), 12 / (3 * 2), 12 / (3 * 1)], 'N / (C × N_c)');
  t.match(said[0], /class weights \(balanced\): ham 0\.4444, spam 2, x 4/);
  t.same(classWeightsOf(cfgOf({ spam: 5 }), data, 'c.json', () => {}), [1, 5, 1], 'labels left out weigh 1');
  t.equal(classWeightsOf(cfgOf(undefined), data, 'c.json', () => {}), undefined);
  t.throws(() => classWeightsOf(cfgOf({ spma: 5 }), data, 'c.json', () => {}), /train\.classWeights: "spma" is not a label of the data \("ham", "spam", "x"\)/);
  const none = { labelNames: ['a', 'b'], splits: { train: { count: 2, labels: Int32Array.from([0, 0]) } } } as unknown as Parameters<typeof classWeightsOf>[1];
  t.throws(() => classWeightsOf(cfgOf('balanced'), none, 'c.json', () => {}), /no training example has the label "b"/);
  t.throws(() => classWeightsOf(cfgOf('balanced', 'many-to-many'), data, 'c.json', () => {}), /a language model has no per-text classes/);
  t.throws(() => cfgOf({ spam: 0 }), /train\.classWeights/, 'a weight must be above 0');
  t.throws(() => cfgOf('equal'), /train\.classWeights/);
});
