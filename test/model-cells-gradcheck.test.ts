// Central finite differences in float64 against BPTT for every tensor of every cell (rnn, LSTM,
// GRU): both tasks, both inputs, padded batches, stacked layers, truncated BPTT, dropout with its
// masks held fixed (inputs, between layers, classifier state), target replication, and a carried
// initial state. Steps of 1e-4 (gradients of 1e-8 drown in rounding at 1e-5). The loss of the plain checks is the naive reference of test/helpers (the
// equations written out with nested arrays), so the forward is checked against it too.

import t from 'tap';
import type { Cell, ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward, stateSize } from '../src/model/rnn.js';
import { randomParams, randomBatch, naiveLoss, checkAgainstFiniteDifferences, type NaiveState } from './helpers/model.js';

const EPS = 1e-4;

const spec = (cell: Cell, task: ModelSpec['task'], E: number, layers: number): ModelSpec =>
  ({ cell, task, V: 7, H: 4, C: task === 'many-to-one' ? 3 : 7, E, layers });
const name = (s: ModelSpec) => `${s.cell} ×${s.layers}, ${s.task}, ${s.E ? `embedding E=${s.E}` : 'one-hot'}`;

function gradCheck(t: Tap.Test, s: ModelSpec, lengths: number[], T: number, bpttWindow: number, seed: number) {
  const p = randomParams(s, seed, 'float64');
  const batch = randomBatch(s, lengths, seed + 1, T);
  const g = allocParams(makeLayout(s), 'float64');
  const r = forwardBackward(p, g, allocWorkspace(s, batch.B, T, 'float64'), batch, bpttWindow);
  const analytic = Float64Array.from(g.data, (x) => x / r.count);
  const base = naiveLoss(s, p, batch);
  t.ok(Math.abs(base.loss - r.lossSum / r.count) < 1e-12, `forward loss ${r.lossSum / r.count} equals the naive reference ${base.loss}`);
  // Truncated BPTT is the gradient of the loss with the states at window boundaries held fixed.
  const hold = bpttWindow > 0 ? (b: number, k: number) => (k % bpttWindow === 0 ? base.states[b][k] : null) : undefined;
  checkAgainstFiniteDifferences(t, p, analytic, () => naiveLoss(s, p, batch, hold).loss, EPS);
  t.equal(forward(p, allocWorkspace(s, batch.B, T, 'float64'), batch).lossSum, r.lossSum, 'forward-only gives the same loss');
}

for (const cell of ['lstm', 'gru'] as const) {
  for (const task of ['many-to-one', 'many-to-many'] as const) {
    for (const E of [0, 3]) {
      const s = spec(cell, task, E, 1);
      t.test(`gradient check: ${name(s)}, padded batch`, async (t) => gradCheck(t, s, [4, 1, 6, 3], 7, 0, 31 + E));
    }
  }
}

for (const s of [spec('rnn', 'many-to-one', 3, 2), spec('lstm', 'many-to-many', 0, 2), spec('gru', 'many-to-one', 0, 2), spec('lstm', 'many-to-one', 3, 3), spec('gru', 'many-to-many', 3, 2)]) {
  t.test(`gradient check: stacked layers, ${name(s)}, padded batch`, async (t) => gradCheck(t, s, [5, 2, 6, 1], 6, 0, 41));
}

for (const s of [spec('lstm', 'many-to-many', 0, 1), spec('gru', 'many-to-many', 3, 1), spec('rnn', 'many-to-many', 0, 2), spec('lstm', 'many-to-many', 3, 2)]) {
  t.test(`gradient check: truncated BPTT (window 2), ${name(s)}: the gradient with boundary states held fixed`, async (t) => gradCheck(t, s, [5, 3, 6], 6, 2, 51));
}

const drop = { rate: 0.3, key: 0x5eed };
for (const [s, stepLoss] of [[spec('lstm', 'many-to-one', 3, 2), 0.6], [spec('gru', 'many-to-one', 0, 2), 0], [spec('gru', 'many-to-many', 3, 2), 0], [spec('lstm', 'many-to-many', 0, 2), 0]] as const) {
  t.test(`gradient check with dropout ${drop.rate}${stepLoss ? ` and stepLoss ${stepLoss}` : ''} (masks fixed): ${name(s)}`, async (t) => {
    const p = randomParams(s, 61, 'float64');
    const batch = randomBatch(s, [4, 1, 6, 3], 62, 6);
    const g = allocParams(makeLayout(s), 'float64');
    const r = forwardBackward(p, g, allocWorkspace(s, batch.B, 6, 'float64'), batch, 0, drop, stepLoss);
    const analytic = Float64Array.from(g.data);
    const scratch = allocParams(makeLayout(s), 'float64');
    const ws2 = allocWorkspace(s, batch.B, 6, 'float64');
    const loss = () => { const x = forwardBackward(p, scratch, ws2, batch, 0, drop, stepLoss); return x.lossSum + (x.auxSum ?? 0); };
    t.equal(loss(), r.lossSum + (r.auxSum ?? 0), 'the masks are the same on every call');
    t.not(forward(p, ws2, batch).lossSum, r.lossSum, 'dropout changes the training loss; evaluation has none');
    checkAgainstFiniteDifferences(t, p, analytic, loss, EPS);
  });
}

for (const s of [spec('lstm', 'many-to-many', 3, 2), spec('gru', 'many-to-many', 0, 2), spec('rnn', 'many-to-many', 0, 1)]) {
  t.test(`carried initial state: ${name(s)}: forward from state0 equals the reference, state1 holds the last real states, gradient with the initial state fixed`, async (t) => {
    const p = randomParams(s, 71, 'float64');
    const batch = randomBatch(s, [5, 2, 4], 72, 5);
    const ws = allocWorkspace(s, batch.B, 5, 'float64');
    const S = stateSize(s), H = s.H, lstm = s.cell === 'lstm';
    const init: NaiveState[][] = [];
    for (let b = 0; b < batch.B; b++) {
      init.push([]);
      for (let l = 0; l < s.layers!; l++) {
        const st: NaiveState = { h: Array.from({ length: H }, (_, j) => Math.sin(1 + b + 3 * l + 7 * j)), c: Array.from({ length: H }, (_, j) => Math.cos(2 + b + l + 5 * j)) };
        init[b].push(st);
        const at = b * S + l * (lstm ? 2 : 1) * H;
        ws.state0.set(st.h, at);
        if (lstm) ws.state0.set(st.c, at + H);
      }
    }
    const g = allocParams(makeLayout(s), 'float64');
    const r = forwardBackward(p, g, ws, batch, 0, null, 0, true);
    const ref = naiveLoss(s, p, batch, undefined, (b) => init[b]);
    t.ok(Math.abs(ref.loss - r.lossSum / r.count) < 1e-12, `loss ${r.lossSum / r.count} = reference ${ref.loss}`);
    let worst = 0;
    for (let b = 0; b < batch.B; b++) {
      const last = ref.states[b][batch.lengths[b]];
      for (let l = 0; l < s.layers!; l++) {
        const at = b * S + l * (lstm ? 2 : 1) * H;
        for (let j = 0; j < H; j++) {
          worst = Math.max(worst, Math.abs(ws.state1[at + j] - last[l].h[j]));
          if (lstm) worst = Math.max(worst, Math.abs(ws.state1[at + H + j] - last[l].c[j]));
        }
      }
    }
    t.ok(worst < 1e-14, `state1 = each row's states at its last real token (max diff ${worst.toExponential(2)})`);
    const analytic = Float64Array.from(g.data, (x) => x / r.count);
    checkAgainstFiniteDifferences(t, p, analytic, () => naiveLoss(s, p, batch, undefined, (b) => init[b]).loss, EPS);
  });
}
