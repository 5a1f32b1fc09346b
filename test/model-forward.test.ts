import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { batchFrom } from '../src/model/batch.js';
import { randomParams, randomBatch, maxRelDiff } from './helpers/model.js';

t.test('closed form: hand-set weights give the values computed by hand', async (t) => {
  // H=1, V=3, C=2. Sequence [1, 2], label 0.
  //   a1 = tanh(Wax[:,1] + ba)          = tanh(-1 + 0.1)
  //   a2 = tanh(Waa·a1 + Wax[:,2] + ba) = tanh(0.8·a1 + 2 + 0.1)
  //   logits = Wya·a2 + by = [a2, -a2 + 0.2];  loss = logsumexp(logits) - logits[0]
  // Values from Python's math module: a1 = -0.7162978701990245, a2 = 0.9099032186224092,
  // loss = 0.1806009178505772.
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 3, H: 1, C: 2, E: 0 };
  for (const dtype of ['float64', 'float32'] as const) {
    const p = allocParams(makeLayout(spec), dtype);
    p.layers[0].Wih.set([0.5, -1, 2]);
    p.layers[0].Whh.set([0.8]);
    p.layers[0].bih.set([0.1]);
    p.Wya.set([1, -1]);
    p.by.set([0, 0.2]);
    const ws = allocWorkspace(spec, 1, 2, dtype);
    const r = forward(p, ws, batchFrom([[1, 2]], { labels: [0] }));
    const tol = dtype === 'float64' ? 1e-15 : 1e-6;
    t.ok(Math.abs(ws.A[1] - -0.7162978701990245) < tol, `${dtype}: a1 = ${ws.A[1]}`);
    t.ok(Math.abs(ws.A[2] - 0.9099032186224092) < tol, `${dtype}: a2 = ${ws.A[2]}`);
    t.ok(Math.abs(r.lossSum - 0.1806009178505772) < tol, `${dtype}: loss = ${r.lossSum}`);
    t.equal(r.correct, 1);
  }
});

for (const [cell, layers] of [['rnn', 1], ['lstm', 2], ['gru', 2]] as const) for (const task of ['many-to-one', 'many-to-many'] as const) {
  const spec: ModelSpec = { cell, task, V: 11, H: 8, C: task === 'many-to-one' ? 3 : 11, E: 0, layers };

  t.test(`padding invariance (${cell} ×${layers}, ${task}): a sequence alone and inside a padded batch`, async (t) => {
    // float32, as in training: per-sequence losses do not depend on padding or neighbours.
    const p = randomParams(spec, 3, 'float32');
    const alone = randomBatch(spec, [4], 9);
    const padded = batchFrom([[...alone.tokens.subarray(0, 4)]], {
      labels: [alone.labels[0]], targets: [[...alone.targets.subarray(0, 4)]], T: 12,
    });
    const big = randomBatch(spec, [9, 12, 4, 7], 10, 12);
    for (let s = 0; s < 4; s++) { big.tokens[2 * 12 + s] = alone.tokens[s]; big.targets[2 * 12 + s] = alone.targets[s]; }
    big.labels[2] = alone.labels[0];
    const loss = (b: typeof alone) => {
      const ws = allocWorkspace(spec, b.B, b.T, 'float32');
      forward(p, ws, b);
      const C = spec.C;
      if (task === 'many-to-one') return [-Math.log(ws.P[(b.B === 1 ? 0 : 2) * C + alone.labels[0]])];
      const row = b.B === 1 ? 0 : 2;
      return [0, 1, 2, 3].map((s) => -Math.log(ws.P[(s * b.B + row) * C + alone.targets[s]]));
    };
    const l0 = loss(alone), l1 = loss(padded), l2 = loss(big);
    t.ok(maxRelDiff(l0, l1).rel < 1e-6, `padding only: ${l0} vs ${l1}`);
    t.ok(maxRelDiff(l0, l2).rel < 1e-6, `inside a batch of longer sequences: ${l0} vs ${l2}`);

    // Gradients: padding only changes nothing (float32, bit for bit or nearly)…
    const grad = (b: typeof alone, dtype: 'float32' | 'float64', pp = p) => {
      const g = allocParams(makeLayout(spec), dtype);
      forwardBackward(pp, g, allocWorkspace(spec, b.B, b.T, dtype), b);
      return g.data;
    };
    const ga = grad(alone, 'float32'), gp = grad(padded, 'float32');
    t.ok(maxRelDiff(ga, gp).rel < 1e-6, `gradient alone vs padded: max rel diff ${maxRelDiff(ga, gp).rel}`);
    // …and a batch's gradient sum is exactly the sum of its sequences' (float64, so rounding from
    // a different summation order does not hide a leak of padding into the gradient).
    const p64 = randomParams(spec, 3, 'float64');
    const gBig = grad(big, 'float64', p64);
    const sum = new Float64Array(gBig.length);
    for (let b = 0; b < big.B; b++) {
      const L = big.lengths[b];
      const one = batchFrom([[...big.tokens.subarray(b * 12, b * 12 + L)]], { labels: [big.labels[b]], targets: [[...big.targets.subarray(b * 12, b * 12 + L)]] });
      const gb = grad(one, 'float64', p64);
      for (let i = 0; i < sum.length; i++) sum[i] += gb[i];
    }
    const d = maxRelDiff(gBig, sum, 1e-9);
    t.ok(d.rel < 1e-6, `batch gradient = Σ sequence gradients: max rel diff ${d.rel.toExponential(2)}`);
  });
}

t.test('bad input to the model API names the argument and the value', async (t) => {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 5, H: 3, C: 2, E: 0 };
  const p = randomParams(spec, 1, 'float32');
  const g = allocParams(makeLayout(spec), 'float32');
  const ws = allocWorkspace(spec, 2, 4, 'float32');
  const run = (b: ReturnType<typeof batchFrom>) => () => forwardBackward(p, g, ws, b);
  t.throws(run(batchFrom([[1, 7]], { labels: [0] })), /batch\.tokens\[0\*T\+1\] = 7 .*\[0, V=5\)/);
  t.throws(run(batchFrom([[1, -1]], { labels: [0] })), /batch\.tokens\[0\*T\+1\] = -1/);
  t.throws(run(batchFrom([[1, 2]], { labels: [2] })), /batch\.labels\[0\] = 2 .*\[0, C=2\)/);
  const zero = batchFrom([[1, 2], [3]], { labels: [0, 1] });
  zero.lengths[1] = 0;
  t.throws(run(zero), /batch\.lengths\[1\] = 0 must be in \[1, T=2\]/);
  const long = batchFrom([[1, 2]], { labels: [0] });
  long.lengths[0] = 3;
  t.throws(run(long), /batch\.lengths\[0\] = 3 must be in \[1, T=2\]/);
  t.throws(run(batchFrom([[1], [2], [3]], { labels: [0, 0, 0] })), /batch\.B = 3 must be .*\[1, 2\]/);
  t.throws(run(batchFrom([[1, 2, 3, 4, 1]], { labels: [0] })), /batch\.T = 5 must be .*\[1, 4\]/);
  const short = batchFrom([[1, 2]], { labels: [0] });
  short.tokens = new Int32Array(1);
  t.throws(run(short), /batch\.tokens has 1 elements, B\*T = 2 needed/);
  const m2m: ModelSpec = { ...spec, task: 'many-to-many', C: 5 };
  const wsm = allocWorkspace(m2m, 2, 4, 'float32');
  t.throws(() => forwardBackward(randomParams(m2m, 1, 'float32'), allocParams(makeLayout(m2m), 'float32'), wsm, batchFrom([[1, 2]], { targets: [[1, 9]] })), /batch\.targets\[0\*T\+1\] = 9/);
});
