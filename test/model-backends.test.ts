// Every compute backend present on this machine against the float64 js reference: the loss and
// every gradient tensor of forward + BPTT within 1e-4 relative, on padded batches of both tasks,
// both inputs, with truncated BPTT, dropout and target replication; and padding invariance on
// each backend. A backend that does not load here is reported, with the reason.

import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams, tensor } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { batchFrom } from '../src/model/batch.js';
import { createKernels, type BackendName } from '../src/model/backend/index.js';
import { arenaOf } from '../src/util/shared.js';
import { randomParams, randomBatch, availableBackends } from './helpers/model.js';

interface Case { spec: ModelSpec; lengths: number[]; T: number; bptt?: number; dropout?: number; stepLoss?: number }

const cases: Case[] = [
  { spec: { cell: 'rnn', task: 'many-to-one', V: 40, H: 37, C: 3, E: 0 }, lengths: [9, 9, 7, 4, 4, 1], T: 9 },
  { spec: { cell: 'rnn', task: 'many-to-one', V: 40, H: 64, C: 5, E: 19 }, lengths: [12, 10, 10, 9, 3, 2, 2], T: 13, dropout: 0.2, stepLoss: 0.5 },
  { spec: { cell: 'rnn', task: 'many-to-many', V: 30, H: 24, C: 30, E: 8 }, lengths: [10, 8, 5], T: 10, bptt: 4 },
  { spec: { cell: 'rnn', task: 'many-to-many', V: 30, H: 70, C: 30, E: 0 }, lengths: [17, 16, 16, 3, 1], T: 17 },
  { spec: { cell: 'lstm', task: 'many-to-one', V: 40, H: 37, C: 3, E: 0, layers: 2 }, lengths: [9, 9, 7, 4, 4, 1], T: 9 },
  { spec: { cell: 'lstm', task: 'many-to-many', V: 30, H: 70, C: 30, E: 8 }, lengths: [12, 11, 11, 3, 1], T: 12, bptt: 5, dropout: 0.2 },
  { spec: { cell: 'gru', task: 'many-to-one', V: 40, H: 64, C: 5, E: 19, layers: 2 }, lengths: [12, 10, 10, 9, 3, 2, 2], T: 13, dropout: 0.2, stepLoss: 0.5 },
  { spec: { cell: 'gru', task: 'many-to-many', V: 30, H: 24, C: 30, E: 0 }, lengths: [10, 8, 5], T: 10, bptt: 4 },
  { spec: { cell: 'lstm', task: 'many-to-one', V: 40, H: 37, C: 3, E: 0, layers: 2, bidirectional: true }, lengths: [9, 9, 7, 4, 4, 1], T: 9, dropout: 0.2, stepLoss: 0.5 },
  { spec: { cell: 'gru', task: 'many-to-one', V: 40, H: 33, C: 5, E: 19, bidirectional: true }, lengths: [12, 10, 10, 9, 3, 2, 2], T: 13 },
  { spec: { cell: 'rnn', task: 'many-to-one', V: 40, H: 24, C: 5, E: 7, layers: 2, bidirectional: true }, lengths: [8, 6, 2], T: 8, dropout: 0.2 },
  // a language model's full softmax over a vocabulary wider than every vector width, with tails
  { spec: { cell: 'lstm', task: 'many-to-many', V: 1037, H: 33, C: 1037, E: 12 }, lengths: [9, 9, 4, 2], T: 11 },
  // the other output layers (src/model/head/), whose softmax runs in the backend's softmaxXent too
  { spec: { cell: 'lstm', task: 'many-to-many', V: 1037, H: 33, C: 1037, E: 12, tieWeights: true }, lengths: [9, 9, 4, 2], T: 11 },
  { spec: { cell: 'gru', task: 'many-to-many', V: 1037, H: 33, C: 1037, E: 12, adaptive: { cutoffs: [40, 300], divValue: 2, headBias: true } }, lengths: [9, 9, 4, 2], T: 11 },
  { spec: { cell: 'lstm', task: 'many-to-many', V: 1037, H: 40, C: 1037, E: 0, adaptive: { cutoffs: [500], divValue: 4, headBias: false } }, lengths: [12, 7, 7, 1], T: 12 },
];

/** The float32 run of a backend: parameters, gradients and workspace in one arena. */
function run32(name: BackendName, c: Case, p64: ReturnType<typeof randomParams>) {
  const layout = makeLayout(c.spec);
  const p = allocParams(layout, 'float32');
  p.data.set(p64.data);
  const arena = arenaOf(p.data)!;
  const g = allocParams(layout, 'float32', arena);
  const batch = randomBatch(c.spec, c.lengths, 5, c.T);
  const ws = allocWorkspace(c.spec, batch.B, batch.T, createKernels(name, arena));
  const drop = c.dropout ? { rate: c.dropout, key: 77 } : null;
  const r = forwardBackward(p, g, ws, batch, c.bptt ?? 0, drop, c.stepLoss ?? 0);
  return { r, g, ws };
}

for (const name of availableBackends(t)) {
  for (const c of cases) {
    const what = `${name}: ${c.spec.cell}${c.spec.layers ? ` ×${c.spec.layers}` : ''}${c.spec.bidirectional ? ' bidirectional' : ''}, ${c.spec.task}, ${c.spec.E ? `embedding E=${c.spec.E}` : 'one-hot'}, H=${c.spec.H}${c.bptt ? `, bptt ${c.bptt}` : ''}${c.dropout ? ', dropout' : ''}${c.stepLoss ? ', target replication' : ''}${c.spec.tieWeights ? ', tied (projection)' : ''}${c.spec.adaptive ? `, adaptive ${JSON.stringify(c.spec.adaptive.cutoffs)}` : ''}`;
    t.test(`${what}: loss and gradients within 1e-4 of float64 js`, async (t) => {
      const layout = makeLayout(c.spec);
      const p64 = randomParams(c.spec, 11, 'float64');
      const g64 = allocParams(layout, 'float64');
      const batch = randomBatch(c.spec, c.lengths, 5, c.T);
      const drop = c.dropout ? { rate: c.dropout, key: 77 } : null;
      const ref = forwardBackward(p64, g64, allocWorkspace(c.spec, batch.B, batch.T, 'float64'), batch, c.bptt ?? 0, drop, c.stepLoss ?? 0);
      const { r, g } = run32(name, c, p64);
      const obj = (x: typeof r) => x.lossSum + (x.auxSum ?? 0);
      const lossRel = Math.abs(obj(r) - obj(ref)) / Math.abs(obj(ref));
      t.ok(lossRel < 1e-4, `loss ${obj(r)} vs ${obj(ref)} (rel ${lossRel.toExponential(2)})`);
      t.equal(r.correct, ref.correct, 'same argmax count');
      for (const { name: tn } of layout.tensors) {
        const a = tensor(layout, g.data, tn), b = tensor(layout, g64.data, tn);
        let num = 0, den = 0;
        for (let i = 0; i < a.length; i++) { num = Math.max(num, Math.abs(a[i] - b[i])); den = Math.max(den, Math.abs(b[i])); }
        t.ok(den > 0 && num / den < 1e-4, `d${tn}: max |diff| / max |ref| = ${(num / den).toExponential(2)}`);
      }
    });
  }

  for (const [cell, bidirectional] of [['rnn', false], ['lstm', false], ['gru', false], ['lstm', true], ['rnn', true]] as const) t.test(`${name}: ${cell}${bidirectional ? ' bidirectional' : ''}: padding invariance (a sequence alone, padded, and inside a batch)`, async (t) => {
    const spec: ModelSpec = { cell, task: 'many-to-one', V: 23, H: 33, C: 4, E: 6, layers: cell === 'rnn' ? 1 : 2, bidirectional };
    const p64 = randomParams(spec, 3, 'float64');
    const p = allocParams(makeLayout(spec), 'float32');
    p.data.set(p64.data);
    const k = createKernels(name, arenaOf(p.data)!);
    const alone = randomBatch(spec, [5], 9);
    const seq = [...alone.tokens.subarray(0, 5)];
    const padded = batchFrom([seq], { labels: [alone.labels[0]], T: 14 });
    const big = randomBatch(spec, [14, 11, 5, 5, 2], 10, 14);
    big.tokens.set(seq, 3 * 14);
    big.labels[3] = alone.labels[0];
    const probs = (b: typeof alone, row: number) => {
      const ws = allocWorkspace(spec, b.B, b.T, k);
      forward(p, ws, b);
      return Array.from(ws.P.subarray(row * spec.C, (row + 1) * spec.C));
    };
    const p0 = probs(alone, 0);
    t.same(probs(padded, 0), p0, 'padding only: the same bits');
    t.same(probs(big, 3), p0, 'inside a batch of longer and shorter sequences: the same bits');
  });
}
