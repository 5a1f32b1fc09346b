// Training-only terms of the objective. Dropout: its gradient against central finite differences
// of the same (masked) loss in float64; masks depend on the example, not on its place in a batch;
// none at evaluation. Target replication (stepLoss): the gradient of loss + auxiliary loss against
// finite differences, and the auxiliary loss against its definition.

import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { batchFrom } from '../src/model/batch.js';
import { stepKey } from '../src/util/prng.js';
import { randomParams, randomBatch, maxRelDiff, checkAgainstFiniteDifferences } from './helpers/model.js';

const drop = { rate: 0.4, key: stepKey(7, 3) };

for (const [task, E, stepLoss] of [['many-to-one', 4, 0], ['many-to-one', 0, 0], ['many-to-many', 4, 0], ['many-to-one', 4, 0.7], ['many-to-one', 0, 0.7]] as const) {
  t.test(`gradient check with dropout ${drop.rate}${stepLoss ? ` and stepLoss ${stepLoss}` : ''}: ${task}, ${E ? `embedding E=${E}` : 'one-hot'}`, async (t) => {
    const spec: ModelSpec = { cell: 'rnn', task, V: 7, H: 5, C: task === 'many-to-one' ? 3 : 7, E };
    const p = randomParams(spec, 21, 'float64');
    const batch = randomBatch(spec, [4, 1, 6, 3], 22, 6);
    const g = allocParams(makeLayout(spec), 'float64');
    const ws = allocWorkspace(spec, batch.B, 6, 'float64');
    const r = forwardBackward(p, g, ws, batch, 0, drop, stepLoss);
    const analytic = Float64Array.from(g.data);
    const scratch = allocParams(makeLayout(spec), 'float64');
    const ws2 = allocWorkspace(spec, batch.B, 6, 'float64');
    const loss = () => { const x = forwardBackward(p, scratch, ws2, batch, 0, drop, stepLoss); return x.lossSum + (x.auxSum ?? 0); };
    t.equal(loss(), r.lossSum + (r.auxSum ?? 0), 'the masks are the same on every call');
    t.equal(r.auxSum === undefined, stepLoss === 0, 'an auxiliary loss only with stepLoss');
    t.not(forward(p, ws2, batch).lossSum, r.lossSum, 'dropout changes the training loss; evaluation has none');
    checkAgainstFiniteDifferences(t, p, analytic, loss);
  });
}

t.test('a sequence gets the same mask alone or anywhere in a padded batch', async (t) => {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 9, H: 6, C: 2, E: 5 };
  const p = randomParams(spec, 4, 'float64');
  const seqs = [[1, 2, 3, 4, 5], [6, 7], [8, 1, 2]];
  const grad = (idx: number[]) => {
    const b = batchFrom(idx.map((i) => seqs[i]), { labels: idx.map((i) => i % 2), ids: idx.map((i) => 100 + i), T: 7 });
    const g = allocParams(makeLayout(spec), 'float64');
    const r = forwardBackward(p, g, allocWorkspace(spec, 3, 7, 'float64'), b, 0, drop);
    return { g: g.data, loss: r.lossSum };
  };
  const all = grad([2, 0, 1]);
  const sum = new Float64Array(all.g.length);
  let loss = 0;
  for (const i of [0, 1, 2]) {
    const one = grad([i]);
    loss += one.loss;
    for (let k = 0; k < sum.length; k++) sum[k] += one.g[k];
  }
  t.ok(Math.abs(loss - all.loss) < 1e-12, 'loss: batch = Σ alone');
  t.ok(maxRelDiff(all.g, sum).rel < 1e-10, 'gradient: batch = Σ alone');
  const other = forwardBackward(p, allocParams(makeLayout(spec), 'float64'), allocWorkspace(spec, 1, 7, 'float64'),
    batchFrom([seqs[0]], { labels: [0], ids: [999], T: 7 }), 0, drop);
  t.not(other.lossSum, grad([0]).loss, 'another example id draws another mask');
});

t.test('stepLoss: the auxiliary loss is α·mean over real steps of −log p_t(label), from the unmasked states', async (t) => {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 6, H: 4, C: 3, E: 0 };
  const p = randomParams(spec, 8, 'float64');
  const seqs = [[1, 2, 3], [4, 5]];
  const b = batchFrom(seqs, { labels: [2, 0], T: 4 });
  const ws = allocWorkspace(spec, 2, 4, 'float64');
  const r = forwardBackward(p, allocParams(makeLayout(spec), 'float64'), ws, b, 0, null, 0.5);
  // Reference: each prefix alone through forward() (its last state is a_t), plain cross-entropy.
  let want = 0;
  seqs.forEach((s, i) => {
    let sum = 0;
    for (let t = 1; t <= s.length; t++) sum += forward(p, allocWorkspace(spec, 1, 4, 'float64'), batchFrom([s.slice(0, t)], { labels: [[2, 0][i]] })).lossSum;
    want += (0.5 * sum) / s.length;
  });
  t.ok(Math.abs(r.auxSum! - want) < 1e-12, `auxSum ${r.auxSum} = ${want}`);
  t.equal(r.lossSum, forward(p, allocWorkspace(spec, 2, 4, 'float64'), b).lossSum, 'the reported loss is the plain one');
});
