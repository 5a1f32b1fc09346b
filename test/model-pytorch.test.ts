// Against an independent implementation: PyTorch's nn.RNN, nn.LSTM and nn.GRU (float64, a packed
// padded batch), through the fixtures test/fixtures/pytorch/make.py wrote: for every cell, 1 and 2
// layers, both tasks and both inputs (and bidirectional classifiers of 1 and 2 layers), the loss sum and the gradient of every tensor agree to 1e-6
// relative. The weights load one to one under the mapping documented in src/model/spec.ts.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams, tensor } from '../src/model/params.js';
import { allocWorkspace, forwardBackward } from '../src/model/rnn.js';
import { batchFrom } from '../src/model/batch.js';

interface Fixture {
  spec: ModelSpec; T: number; lengths: number[]; tokens: number[][];
  labels: number[] | null; targets: number[][] | null;
  lossSum: number; params: Record<string, number[]>; grads: Record<string, number[]>;
}

for (const file of ['rnn', 'lstm', 'gru', 'rnn-bidirectional', 'lstm-bidirectional', 'gru-bidirectional', 'pooling']) {
  const doc = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'pytorch', `${file}.json`), 'utf8')) as { generator: string; cases: Fixture[] };
  for (const f of doc.cases) {
    const s = f.spec;
    t.test(`${s.cell} ×${s.layers}${s.bidirectional ? ' bidirectional' : ''}${s.pooling ? `, ${s.pooling} pooling` : ''}, ${s.task}, ${s.E ? `embedding E=${s.E}` : 'one-hot'}: loss and every gradient equal PyTorch's to 1e-6`, async (t) => {
      const layout = makeLayout(s);
      t.same(layout.tensors.map((x) => x.name).sort(), Object.keys(f.params).sort(), 'the same tensors, one to one');
      const p = allocParams(layout, 'float64'), g = allocParams(layout, 'float64');
      for (const x of layout.tensors) {
        t.equal(f.params[x.name].length, x.size, `${x.name}: ${x.size} values`);
        tensor(layout, p.data, x.name).set(f.params[x.name]);
      }
      const batch = batchFrom(f.tokens, { T: f.T, labels: f.labels ?? undefined, targets: f.targets ?? undefined });
      const r = forwardBackward(p, g, allocWorkspace(s, batch.B, batch.T, 'float64'), batch);
      const lossRel = Math.abs(r.lossSum - f.lossSum) / Math.abs(f.lossSum);
      t.ok(lossRel < 1e-6, `loss sum ${r.lossSum} vs PyTorch ${f.lossSum} (rel ${lossRel.toExponential(2)})`);
      for (const x of layout.tensors) {
        const ours = tensor(layout, g.data, x.name), ref = f.grads[x.name];
        let worst = 0, scale = 0;
        for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]) / Math.max(Math.abs(ref[i]), 1e-9 * scale));
        t.ok(worst < 1e-6, `d${x.name}: max relative difference ${worst.toExponential(2)}`);
      }
    });
  }
}
