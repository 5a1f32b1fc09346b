// The output layer's fused path (outputForward with a gradient: softmaxXent's dlogits and dby, then
// dWya and dh as products) against central finite differences in float64, for a language model
// with padding (unsorted lengths, an all-padding tail) and for target replication; and padded
// steps contributing nothing: their targets may hold anything.

import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams, tensor, type Params } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import type { Batch } from '../src/model/batch.js';
import { randomParams, randomBatch } from './helpers/model.js';
import { Rng } from '../src/util/prng.js';

/** The objective forwardBackward differentiates: the loss sum (+ target replication's). */
function objective(spec: ModelSpec, p: Params, batch: Batch, stepLoss: number): number {
  const ws = allocWorkspace(spec, batch.B, batch.T, 'float64');
  ws.stepLoss = stepLoss;
  if (stepLoss === 0) return forward(p, ws, batch).lossSum;
  const g = allocParams(p.layout, 'float64');
  const r = forwardBackward(p, g, ws, batch, 0, null, stepLoss);
  return r.lossSum + (r.auxSum ?? 0);
}

function check(t: Tap.Test, spec: ModelSpec, lengths: number[], T: number, stepLoss: number): void {
  const p = randomParams(spec, 5, 'float64');
  const batch = randomBatch(spec, lengths, 6, T);
  const g = allocParams(p.layout, 'float64');
  forwardBackward(p, g, allocWorkspace(spec, batch.B, batch.T, 'float64'), batch, 0, null, stepLoss);
  const rng = new Rng(3);
  for (const name of ['Wya', 'by', 'weight_hh_l0', 'weight_ih_l0']) {
    const pv = tensor(p.layout, p.data, name), gv = tensor(p.layout, g.data, name);
    let worst = 0;
    for (let n = 0; n < 12; n++) {
      const i = rng.int(pv.length), x = pv[i], h = 1e-5;
      pv[i] = x + h;
      const up = objective(spec, p, batch, stepLoss);
      pv[i] = x - h;
      const down = objective(spec, p, batch, stepLoss);
      pv[i] = x;
      const fd = (up - down) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - gv[i]) / Math.max(1e-3, Math.abs(fd)));
    }
    t.ok(worst < 1e-5, `d${name}: worst relative difference to finite differences ${worst.toExponential(2)}`);
  }
}

t.test('language model (full softmax), padded batch: gradients equal finite differences', async (t) => {
  const spec: ModelSpec = { cell: 'lstm', task: 'many-to-many', V: 11, H: 5, C: 11, E: 3 };
  check(t, spec, [4, 2, 5, 1], 7, 0); // unsorted, a length-1 sequence, two all-padding steps
});

t.test('target replication (every step predicts the label): gradients equal finite differences', async (t) => {
  const spec: ModelSpec = { cell: 'gru', task: 'many-to-one', V: 9, H: 4, C: 3, E: 0 };
  check(t, spec, [5, 3, 3, 1], 6, 0.5);
});

t.test('padded steps contribute nothing: any targets there give the same bits', async (t) => {
  const spec: ModelSpec = { cell: 'lstm', task: 'many-to-many', V: 37, H: 6, C: 37, E: 4 };
  const p = randomParams(spec, 8, 'float64');
  const layout = makeLayout(spec);
  const run = (garbage: boolean) => {
    const batch = randomBatch(spec, [6, 3, 1], 9, 8);
    if (garbage) for (let b = 0; b < batch.B; b++) for (let s = batch.lengths[b]; s < batch.T; s++) batch.targets[b * batch.T + s] = (b * 7 + s) % spec.C;
    const g = allocParams(layout, 'float64');
    const r = forwardBackward(p, g, allocWorkspace(spec, batch.B, batch.T, 'float64'), batch);
    return { r, g: [...g.data] };
  };
  const a = run(false), b = run(true);
  t.same(b.r, a.r, 'loss, count, correct');
  t.ok(a.g.every((v, i) => Object.is(v, b.g[i])), 'every gradient bit');
  t.equal(a.r.count, 10, 'count = the real tokens');
});
