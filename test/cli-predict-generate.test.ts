// Step-by-step generation (src/infer/generate.ts) against the batch forward (src/model/rnn.ts):
// the same probabilities after every prefix, greedy decoding equal to an O(N²) reference that
// reruns the batch forward on the whole growing sequence, and sampling that follows the tempered
// distribution and depends on the seed only.

import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { allocWorkspace, forward } from '../src/model/rnn.js';
import { batchFrom } from '../src/model/batch.js';
import { Stepper, generate, sampleToken } from '../src/infer/generate.js';
import { Rng } from '../src/util/prng.js';
import { randomParams } from './helpers/model.js';

const specs: Array<[string, ModelSpec]> = [
  ['one-hot input', { cell: 'rnn', task: 'many-to-many', V: 13, H: 9, C: 13, E: 0 }],
  ['embedding input', { cell: 'rnn', task: 'many-to-many', V: 11, H: 10, C: 11, E: 5 }],
  ['LSTM, 2 layers, one-hot input', { cell: 'lstm', task: 'many-to-many', V: 13, H: 9, C: 13, E: 0, layers: 2 }],
  ['GRU, 2 layers, embedding input', { cell: 'gru', task: 'many-to-many', V: 11, H: 10, C: 11, E: 5, layers: 2 }],
];

/** Probabilities of the batch forward for each sequence at each step: out[b][t] (C values). */
function batchProbs(spec: ModelSpec, p: ReturnType<typeof randomParams>, seqs: number[][]): Float32Array[][] {
  const batch = batchFrom(seqs, { targets: seqs.map((s) => s.map(() => 0)) });
  const ws = allocWorkspace(spec, batch.B, batch.T);
  forward(p, ws, batch);
  const { C } = spec;
  return seqs.map((s, b) => s.map((_, t) => ws.P.slice((t * batch.B + b) * C, (t * batch.B + b + 1) * C) as Float32Array));
}

for (const [what, spec] of specs) {
  t.test(`${what}: stepping gives the batch forward's probabilities after every prefix`, async (t) => {
    const p = randomParams(spec, 7, 'float32');
    const r = new Rng(3);
    // Several lengths in one padded batch, so the batch rows see padding the stepper never does.
    const seqs = [17, 9, 4, 1].map((n) => Array.from({ length: n }, () => 1 + r.int(spec.V - 1)));
    const ref = batchProbs(spec, p, seqs);
    let worst = 0;
    const s = new Stepper(spec, p);
    seqs.forEach((seq, b) => {
      s.reset();
      seq.forEach((tok, i) => {
        const probs = s.step(tok);
        for (let c = 0; c < spec.C; c++) worst = Math.max(worst, Math.abs(probs[c] - ref[b][i][c]));
      });
    });
    t.ok(worst < 1e-6, `largest difference ${worst.toExponential(2)} < 1e-6`);
  });

  t.test(`${what}: greedy generation = argmax of the batch forward over the growing sequence`, async (t) => {
    const p = randomParams(spec, 11, 'float32', 2);
    const prompt = [1, 5, 2];
    const fast = Array.from(generate(spec, p, prompt, { tokens: 25, temperature: 0, seed: 1 }));
    const seq = [...prompt];
    for (let k = 0; k < 25; k++) {
      const last = batchProbs(spec, p, [seq])[0][seq.length - 1];
      let best = 0;
      for (let c = 1; c < spec.C; c++) if (last[c] > last[best]) best = c;
      seq.push(best);
    }
    t.same(fast, seq.slice(prompt.length));
    t.same(Array.from(generate(spec, p, prompt, { tokens: 25, temperature: 0, seed: 99 })), fast, 'greedy does not depend on the seed');
  });
}

t.test('sampling: determined by the seed, and follows softmax(logits / temperature)', async (t) => {
  const spec = specs[1][1];
  const p = randomParams(spec, 5, 'float32');
  const a = generate(spec, p, [1, 2], { tokens: 60, temperature: 1, seed: 42 });
  t.same(Array.from(generate(spec, p, [1, 2], { tokens: 60, temperature: 1, seed: 42 })), Array.from(a), 'same seed, same tokens');
  t.notSame(Array.from(generate(spec, p, [1, 2], { tokens: 60, temperature: 1, seed: 43 })), Array.from(a), 'another seed, other tokens');

  const s = new Stepper(spec, p);
  s.step(3);
  const rng = new Rng(8);
  const scratch = new Float64Array(spec.C);
  for (const temp of [1, 0.5]) {
    const want = Array.from(s.logits, (l) => Math.exp(l / temp));
    const z = want.reduce((x, y) => x + y, 0);
    const n = 40000;
    const counts = new Array(spec.C).fill(0);
    for (let i = 0; i < n; i++) counts[sampleToken(s, temp, rng, scratch)]++;
    const worst = Math.max(...counts.map((k, c) => Math.abs(k / n - want[c] / z)));
    t.ok(worst < 0.012, `temperature ${temp}: largest frequency error ${worst.toFixed(4)} < 0.012 (about 5 standard errors at p = 0.5)`);
  }
});

t.test('end of document: eos is kept, the state restarts from <s>; without <s>, generation stops', async (t) => {
  const spec = specs[0][1];
  const p = randomParams(spec, 2, 'float32');
  // Make token 3 certain after any state: its output bias dominates.
  p.by[3] = 50;
  const stop = generate(spec, p, [1], { tokens: 10, temperature: 1, seed: 1, eos: 3 });
  t.same(Array.from(stop), [3], 'stops at eos without bos');
  const again = generate(spec, p, [1], { tokens: 4, temperature: 0, seed: 1, eos: 3, bos: 2 });
  t.same(Array.from(again), [3, 3, 3, 3], 'continues with new documents up to N tokens');
  t.throws(() => generate(spec, p, [], { tokens: 1, temperature: 0, seed: 1 }), /at least one token/);
});

t.test('sampleToken and generate never return the tokens `never`, greedy or sampled; the stepper\'s probabilities stay the model\'s', async (t) => {
  const spec = specs[0][1];
  const p = randomParams(spec, 2, 'float32');
  p.by[0] = 40; // <pad> and <s> certain, as far as the model goes
  p.by[2] = 39;
  const s = new Stepper(spec, p);
  s.step(1);
  t.ok(s.probs[0] + s.probs[2] > 0.999, 'the model puts its mass on 0 and 2');
  const never = [0, 2];
  const rest = Array.from(s.logits, (l, c) => (never.includes(c) ? -Infinity : l));
  t.equal(sampleToken(s, 0, new Rng(1), new Float64Array(spec.C), never), rest.indexOf(Math.max(...rest)), 'greedy: the argmax of the rest');
  const rng = new Rng(5), scratch = new Float64Array(spec.C);
  for (const temp of [1, 3]) {
    let drawn = 0;
    for (let i = 0; i < 2000; i++) if (never.includes(sampleToken(s, temp, rng, scratch, never))) drawn++;
    t.equal(drawn, 0, `temperature ${temp}: none of 2000 draws is 0 or 2`);
  }
  t.ok(s.probs[0] + s.probs[2] > 0.999, 'the stepper\'s probabilities unchanged');
  for (const o of [{ temperature: 0 }, { temperature: 1 }, { temperature: 1, topK: 2 }, { temperature: 2, topP: 0.5 }]) {
    const ids = Array.from(generate(spec, p, [1], { ...o, tokens: 50, seed: 3, never }));
    t.notOk(ids.some((id) => never.includes(id)), `generate ${JSON.stringify(o)}: none of ${never}`);
  }
  t.equal(generate(spec, p, [1], { tokens: 1, temperature: 0, seed: 3 })[0], 0, 'without never: the model\'s argmax, <pad>');
});
