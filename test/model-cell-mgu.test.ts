// A new cell in one file: the minimal gated unit (src/model/cells/mgu.ts), registered here and run
// by the unchanged driver: its forward against the equations written out with nested arrays, its
// BPTT against central finite differences in float64 (both tasks, both inputs, stacked, padded,
// truncated, bidirectional, carried state), and every backend's float32 run (its pointwise loops
// on their arrays) against the float64 one.

import t from 'tap';
import type { Cell, ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams, type Params } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { registerCell } from '../src/model/cells/index.js';
import { mguCell } from '../src/model/cells/mgu.js';
import { createKernels } from '../src/model/backend/index.js';
import { arenaOf } from '../src/util/shared.js';
import { randomParams, randomBatch, checkAgainstFiniteDifferences, availableBackends } from './helpers/model.js';
import type { Batch } from '../src/model/batch.js';

registerCell(mguCell);
const mgu = 'mgu' as Cell;
const spec = (task: ModelSpec['task'], E: number, layers: number, bidirectional = false): ModelSpec =>
  ({ cell: mgu, task, V: 7, H: 4, C: task === 'many-to-one' ? 3 : 7, E, layers, bidirectional });
const name = (s: ModelSpec) => `mgu ×${s.layers}${s.bidirectional ? ' bidirectional' : ''}, ${s.task}, ${s.E ? `embedding E=${s.E}` : 'one-hot'}`;

/** Σ over real tokens of −log softmax(Wya·h_t + by)[target], one layer, embedding input, from the MGU's equations. */
function naiveLossSum(s: ModelSpec, p: Params, batch: Batch): number {
  const { H, E, C } = s, lp = p.layers[0], sig = (x: number) => 1 / (1 + Math.exp(-x));
  let sum = 0;
  for (let b = 0; b < batch.B; b++) {
    let h = new Array(H).fill(0);
    for (let t = 0; t < batch.lengths[b]; t++) {
      const tok = batch.tokens[b * batch.T + t];
      const x = Array.from({ length: E }, (_, e) => p.Wemb![tok * E + e]);
      const pre = (row: number, v: number[], W: ArrayLike<number>, I: number) => v.reduce((a, vi, i) => a + W[row * I + i] * vi, 0);
      const f = Array.from({ length: H }, (_, j) => sig(pre(j, x, lp.Wih, E) + lp.bih[j] + pre(j, h, lp.Whh, H) + lp.bhh![j]));
      const n = Array.from({ length: H }, (_, j) => Math.tanh(pre(H + j, x, lp.Wih, E) + lp.bih[H + j] + f[j] * (pre(H + j, h, lp.Whh, H) + lp.bhh![H + j])));
      h = h.map((hj, j) => (1 - f[j]) * hj + f[j] * n[j]);
      const logits = Array.from({ length: C }, (_, c) => pre(c, h, p.Wya, H) + p.by[c]);
      const m = Math.max(...logits), lse = m + Math.log(logits.reduce((a, z) => a + Math.exp(z - m), 0));
      sum += lse - logits[batch.targets[b * batch.T + t]];
    }
  }
  return sum;
}

t.test('forward: the loss of the equations written out (many-to-many, embedding, padded batch)', async (t) => {
  const s = spec('many-to-many', 3, 1);
  const p = randomParams(s, 5, 'float64');
  const batch = randomBatch(s, [5, 2, 4], 6, 5);
  const r = forward(p, allocWorkspace(s, batch.B, 5, 'float64'), batch);
  const ref = naiveLossSum(s, p, batch);
  t.ok(Math.abs(r.lossSum - ref) < 1e-12 * Math.abs(ref), `loss sum ${r.lossSum} = ${ref}`);
});

function gradCheck(t: Tap.Test, s: ModelSpec, lengths: number[], T: number, seed: number, withState0 = false) {
  const p = randomParams(s, seed, 'float64');
  const batch = randomBatch(s, lengths, seed + 1, T);
  const ws = allocWorkspace(s, batch.B, T, 'float64');
  if (withState0) for (let i = 0; i < ws.state0.length; i++) ws.state0[i] = Math.sin(1 + 3 * i);
  const g = allocParams(makeLayout(s), 'float64');
  const r = forwardBackward(p, g, ws, batch, 0, null, 0, withState0);
  const analytic = Float64Array.from(g.data);
  const ws2 = allocWorkspace(s, batch.B, T, 'float64');
  ws2.state0.set(ws.state0);
  const scratch = allocParams(makeLayout(s), 'float64');
  checkAgainstFiniteDifferences(t, p, analytic, () => forwardBackward(p, scratch, ws2, batch, 0, null, 0, withState0).lossSum, 1e-4);
  t.equal(forward(p, ws2, batch, withState0).lossSum, r.lossSum, 'forward-only gives the same loss');
}

for (const task of ['many-to-one', 'many-to-many'] as const) {
  for (const E of [0, 3]) {
    const s = spec(task, E, 1);
    t.test(`gradient check: ${name(s)}, padded batch`, async (t) => gradCheck(t, s, [4, 1, 6, 3], 7, 31 + E));
  }
}
for (const s of [spec('many-to-one', 3, 2), spec('many-to-many', 0, 2), spec('many-to-one', 3, 2, true), spec('many-to-many', 0, 1, true)]) {
  t.test(`gradient check: ${name(s)}, padded batch`, async (t) => gradCheck(t, s, [5, 2, 6, 1], 6, 41));
}
t.test('gradient check: carried initial state, mgu ×2, many-to-many', async (t) => gradCheck(t, spec('many-to-many', 3, 2), [5, 2, 4], 5, 71, true));

t.test('truncated BPTT (window 2): no gradient crosses a boundary, so the gradient equals the sum over windows of a run from the boundary states', async (t) => {
  // One row of 4 steps, window 2: its gradient = the first window's + the second window's run from h_2 held fixed.
  const s = spec('many-to-many', 3, 1);
  const p = randomParams(s, 81, 'float64');
  const batch = randomBatch(s, [4], 82, 4);
  const full = allocParams(makeLayout(s), 'float64'), cut = allocParams(makeLayout(s), 'float64');
  forwardBackward(p, full, allocWorkspace(s, 1, 4, 'float64'), batch, 0);
  forwardBackward(p, cut, allocWorkspace(s, 1, 4, 'float64'), batch, 2);
  t.notSame(Array.from(cut.data), Array.from(full.data), 'truncation changes the gradient');
  // The last window from its held state: a batch of tokens 3..4 starting from h_2.
  const ws = allocWorkspace(s, 1, 4, 'float64');
  forward(p, ws, { ...batch, T: 2, lengths: Int32Array.of(2), tokens: batch.tokens.slice(0, 2), targets: batch.targets.slice(0, 2) });
  const h2 = Float64Array.from(ws.state1.subarray(0, s.H));
  const head = allocParams(makeLayout(s), 'float64'), tail = allocParams(makeLayout(s), 'float64');
  forwardBackward(p, head, allocWorkspace(s, 1, 2, 'float64'), { ...batch, T: 2, lengths: Int32Array.of(2), tokens: batch.tokens.slice(0, 2), targets: batch.targets.slice(0, 2) });
  const ws3 = allocWorkspace(s, 1, 2, 'float64');
  ws3.state0.set(h2);
  forwardBackward(p, tail, ws3, { ...batch, T: 2, lengths: Int32Array.of(2), tokens: batch.tokens.slice(2, 4), targets: batch.targets.slice(2, 4) }, 0, null, 0, true);
  let worst = 0;
  for (let i = 0; i < cut.data.length; i++) worst = Math.max(worst, Math.abs(cut.data[i] - head.data[i] - tail.data[i]));
  t.ok(worst < 1e-12, `window-2 gradient = the two windows' gradients (max diff ${worst.toExponential(2)})`);
});

for (const backend of availableBackends(t)) {
  t.test(`${backend}: float32 loss and gradients within 1e-4 of float64 (the cell's loops on the backend's arrays)`, async (t) => {
    const s = spec('many-to-one', 5, 2, true);
    const p64 = randomParams(s, 91, 'float64');
    const batch = randomBatch(s, [6, 6, 3, 1], 92, 6);
    const g64 = allocParams(makeLayout(s), 'float64');
    const ref = forwardBackward(p64, g64, allocWorkspace(s, batch.B, 6, 'float64'), batch);
    const p = allocParams(makeLayout(s), 'float32');
    p.data.set(p64.data);
    const arena = arenaOf(p.data)!;
    const g = allocParams(makeLayout(s), 'float32', arena);
    const r = forwardBackward(p, g, allocWorkspace(s, batch.B, 6, createKernels(backend, arena)), batch);
    t.ok(Math.abs(r.lossSum - ref.lossSum) < 1e-4 * Math.abs(ref.lossSum), `loss ${r.lossSum} vs ${ref.lossSum}`);
    let worst = 0, scale = 0;
    for (let i = 0; i < g.data.length; i++) { worst = Math.max(worst, Math.abs(g.data[i] - g64.data[i])); scale = Math.max(scale, Math.abs(g64.data[i])); }
    t.ok(worst < 1e-4 * scale, `gradients: max diff ${worst.toExponential(2)} (largest ${scale.toExponential(2)})`);
  });
}
