// Against an independent implementation: PyTorch's nn.RNN, nn.LSTM and nn.GRU (float64, a packed
// padded batch), through the fixtures test/fixtures/pytorch/make.py wrote: for every cell, 1 and 2
// layers, both tasks and both inputs (and bidirectional classifiers of 1 and 2 layers), the loss sum and the gradient of every tensor agree to 1e-6
// relative. The weights load one to one under the mapping documented in src/model/spec.ts.
// heads.json: language models with tied weights (E = H, and E ≠ H through a projection) and with
// nn.AdaptiveLogSoftmaxWithLoss: the same loss and gradients (the tied table's is the sum of both
// uses), and for the adaptive softmax its log_prob over the whole vocabulary and predict().

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
  logProb?: number[]; correct?: number;
}

for (const file of ['rnn', 'lstm', 'gru', 'rnn-bidirectional', 'lstm-bidirectional', 'gru-bidirectional', 'pooling', 'heads', 'tagging']) {
  const doc = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'pytorch', `${file}.json`), 'utf8')) as { generator: string; cases: Fixture[] };
  for (const f of doc.cases) {
    const s = f.spec;
    const head = s.tieWeights ? `, tied (E=${s.E}, H=${s.H})` : s.adaptive ? `, adaptive softmax ${JSON.stringify(s.adaptive)}` : '';
    t.test(`${s.cell} ×${s.layers}${s.bidirectional ? ' bidirectional' : ''}${s.pooling ? `, ${s.pooling} pooling` : ''}, ${s.task}, ${s.E ? `embedding E=${s.E}` : 'one-hot'}${head}: loss and every gradient equal PyTorch's to 1e-6`, async (t) => {
      const layout = makeLayout(s);
      t.same(layout.tensors.map((x) => x.name).sort(), Object.keys(f.params).sort(), 'the same tensors, one to one');
      const p = allocParams(layout, 'float64'), g = allocParams(layout, 'float64');
      for (const x of layout.tensors) {
        t.equal(f.params[x.name].length, x.size, `${x.name}: ${x.size} values`);
        tensor(layout, p.data, x.name).set(f.params[x.name]);
      }
      const batch = batchFrom(f.tokens, { T: f.T, labels: f.labels ?? undefined, targets: f.targets ?? undefined });
      const ws = allocWorkspace(s, batch.B, batch.T, 'float64');
      const r = forwardBackward(p, g, ws, batch);
      if (f.correct !== undefined) t.equal(r.correct, f.correct, `targets predicted: ${r.correct}, as PyTorch's predict()`);
      const lossRel = Math.abs(r.lossSum - f.lossSum) / Math.abs(f.lossSum);
      t.ok(lossRel < 1e-6, `loss sum ${r.lossSum} vs PyTorch ${f.lossSum} (rel ${lossRel.toExponential(2)})`);
      for (const x of layout.tensors) {
        const ours = tensor(layout, g.data, x.name), ref = f.grads[x.name];
        let worst = 0, scale = 0;
        for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]) / Math.max(Math.abs(ref[i]), 1e-9 * scale));
        t.ok(worst < 1e-6, `d${x.name}: max relative difference ${worst.toExponential(2)}`);
      }
      if (f.logProb) {
        // PyTorch's log_prob of the real rows in (b, t) order; ours from the states, row t·B + b.
        const { B } = batch, C = s.C, out = new Float64Array(C);
        let k = 0, worst = 0;
        for (let b = 0; b < B; b++) {
          for (let t = 0; t < batch.lengths[b]; t++, k++) {
            ws.head!.logProbs(p, ws.A, (t + 1) * B * s.H + b * s.H, 1, out, 0);
            for (let c = 0; c < C; c++) worst = Math.max(worst, Math.abs(out[c] - f.logProb[k * C + c]));
          }
        }
        t.ok(worst < 1e-9, `log_prob over the whole vocabulary, every real row: max difference ${worst.toExponential(2)}`);
      }
    });
  }
}
