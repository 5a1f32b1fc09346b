// Tied weights and the adaptive softmax (src/model/head/): central finite differences of the
// float64 forward against backward for every tensor, with padding (unsorted lengths, a length-1
// sequence, an all-padding tail); the tied table appears once; the exact log-probabilities of
// logProbs sum to 1 and equal the loss forward reports for each target; accuracy follows the
// argmax of those log-probabilities; checkpoints record the output layer.

import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { batchFrom } from '../src/model/batch.js';
import { zeroGrad } from '../src/optim/step.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint/index.js';
import { rnntrainer } from '../src/checkpoint/pb/checkpoint.js';
import { makeCheckpoint } from './fixtures/checkpoint/data.js';
import { randomParams, randomBatch, checkAgainstFiniteDifferences } from './helpers/model.js';

const LM = { task: 'many-to-many', V: 11, C: 11 } as const;
const specs: Array<[string, ModelSpec]> = [
  ['tied, E = H', { ...LM, cell: 'lstm', H: 4, E: 4, tieWeights: true }],
  ['tied, E ≠ H (projection)', { ...LM, cell: 'gru', H: 5, E: 3, tieWeights: true, layers: 2 }],
  ['adaptive, 2 clusters, head bias', { ...LM, cell: 'lstm', H: 8, E: 3, adaptive: { cutoffs: [4, 7], divValue: 2, headBias: true } }],
  ['adaptive, 1 cluster, no head bias, one-hot', { ...LM, cell: 'rnn', H: 6, E: 0, adaptive: { cutoffs: [5], divValue: 4, headBias: false } }],
];

for (const [name, spec] of specs) {
  t.test(`gradient check: ${name}, padded batch`, async (t) => {
    const layout = makeLayout(spec);
    if (spec.tieWeights) {
      t.notOk(layout.byName.has('Wya'), 'no Wya: the output weight is Wemb');
      t.equal(layout.tensors.filter((x) => x.name === 'Wemb').length, 1, 'Wemb once in the table');
      t.equal(layout.byName.has('Wproj'), spec.E !== spec.H, 'Wproj exactly when E ≠ H');
    }
    const p = randomParams(spec, 7, 'float64');
    const batch = randomBatch(spec, [4, 1, 6, 3], 9, 7);
    const g = allocParams(layout, 'float64');
    const ws = allocWorkspace(spec, batch.B, batch.T, 'float64');
    const r = forwardBackward(p, g, ws, batch);
    t.equal(r.count, 14, 'one loss per real step');
    // What the training loop zeroes before the next step covers every nonzero gradient (tied: the whole table).
    const g2 = allocParams(layout, 'float64');
    g2.data.set(g.data);
    zeroGrad(layout, g2.data, ws.touched, ws.touchedCount);
    t.ok(g2.data.every((x) => x === 0), 'zeroGrad leaves no gradient behind');
    const ws2 = allocWorkspace(spec, batch.B, batch.T, 'float64');
    t.equal(forward(p, ws2, batch).lossSum, r.lossSum, 'forward-only gives the same loss');
    // Of the loss sum (not the mean): the smallest gradients stay above the comparison's floor.
    checkAgainstFiniteDifferences(t, p, g.data, () => forward(p, ws2, batch).lossSum);

    if (!ws.head) return;
    // Exact log-probabilities: each row's distribution sums to 1, its target's is what the loss
    // counts, the argmax is what accuracy counts. Cluster tokens raised in the head, so that its
    // argmax is often a cluster (accuracy then needs the tails), sometimes the target's.
    if (spec.adaptive?.headBias) for (let i = 4; i < p.by.length; i++) p.by[i] += 2;
    const one = randomBatch(spec, [7, 5, 7, 6, 3, 7], 21, 7);
    const ws1 = allocWorkspace(spec, one.B, one.T, 'float64');
    const f = forward(p, ws1, one);
    const C = spec.C, lp = new Float64Array(C);
    let loss = 0, correct = 0, worstSum = 0, viaCluster = 0;
    for (let b = 0; b < one.B; b++) {
      for (let s = 0; s < one.lengths[b]; s++) {
        ws1.head.logProbs(p, ws1.A, (s + 1) * one.B * spec.H + b * spec.H, 1, lp, 0);
        let sum = 0, best = 0;
        for (let c = 0; c < C; c++) { sum += Math.exp(lp[c]); if (lp[c] > lp[best]) best = c; }
        worstSum = Math.max(worstSum, Math.abs(sum - 1));
        const y = one.targets[b * one.T + s];
        loss -= lp[y];
        if (best === y) correct++;
        if (spec.adaptive && best >= spec.adaptive.cutoffs[0]) viaCluster++;
      }
    }
    t.ok(worstSum < 1e-12, `Σ_c p(c) = 1 on every row (worst ${worstSum.toExponential(2)})`);
    t.ok(Math.abs(loss - f.lossSum) < 1e-12 * f.count, `Σ −log p(target) from logProbs ${loss} = forward's loss ${f.lossSum}`);
    t.comment(`${correct} of ${f.count} targets predicted, ${viaCluster} predictions in a tail cluster`);
    t.equal(f.correct, correct, 'accuracy counts the argmax of the full distribution');
  });
}

t.test('checkpoint: the output layer round-trips in the spec; an untied full-softmax spec encodes as before', async (t) => {
  const base: ModelSpec = { cell: 'lstm', task: 'many-to-many', V: 9, H: 4, C: 9, E: 3, layers: 1 };
  for (const spec of [{ ...base, tieWeights: true }, { ...base, adaptive: { cutoffs: [3, 6], divValue: 1.5, headBias: true } }] as ModelSpec[]) {
    const c = makeCheckpoint(spec);
    const back = decodeCheckpoint(encodeCheckpoint(c), 'x.ckpt');
    t.same(back.spec, spec, `spec ${JSON.stringify(spec)}`);
    t.same(back.params.map((p) => [p.name, p.shape]), c.params.map((p) => [p.name, p.shape]), 'the same tensors');
    t.throws(() => decodeCheckpoint(encodeCheckpoint({ ...c, spec: base }), 'x.ckpt'), /Wya|tensors/, 'the tensors must be those of the spec');
  }
  const plain = encodeCheckpoint(makeCheckpoint(base));
  const back = decodeCheckpoint(plain, 'x.ckpt');
  t.notOk('tieWeights' in back.spec || 'adaptive' in back.spec, 'untied, full softmax: neither field');
  const pbSpec = rnntrainer.checkpoint.Checkpoint.decode(plain).spec!;
  t.equal(pbSpec.tieWeights, false, 'tie_weights absent');
  t.equal(pbSpec.adaptiveSoftmax, null, 'adaptive_softmax absent');
});
