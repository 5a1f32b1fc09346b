// Sampling options (temperature → top-k → top-p), stop strings, the token iterator and the
// stateful session (src/infer/generate.ts, src/infer/session.ts), on small random models:
// top-k = 1 and a tiny top-p are greedy; with nothing filtered the draws are plain temperature
// sampling's, bit for bit (against a reference written here); the kept sets follow the
// definitions (frequencies against probabilities computed here); a session fed token by token
// gives the batch forward's probabilities.

import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { allocWorkspace, forward } from '../src/model/rnn.js';
import { batchFrom } from '../src/model/batch.js';
import { Stepper, Sampler, generate, generateText, TextGenerator, SAMPLE_STREAM, neverGenerated, type TextModel } from '../src/infer/generate.js';
import { Session } from '../src/infer/session.js';
import { samplingOptions, stopStrings } from '../src/infer/model.js';
import { SPECIALS, PAD, BOS, EOS } from '../src/data/index.js';
import { ConfigError } from '../src/util/errors.js';
import { Rng } from '../src/util/prng.js';
import { randomParams } from './helpers/model.js';

const specs: Array<[string, ModelSpec]> = [
  ['RNN, embedding input', { cell: 'rnn', task: 'many-to-many', V: 13, H: 10, C: 13, E: 5 }],
  ['LSTM, 2 layers, one-hot input', { cell: 'lstm', task: 'many-to-many', V: 13, H: 9, C: 13, E: 0, layers: 2 }],
  ['GRU, embedding input', { cell: 'gru', task: 'many-to-many', V: 13, H: 8, C: 13, E: 4 }],
];

/** A character model over specials + 'abcdefghi' (13 tokens) with random weights. */
function charModel(spec: ModelSpec, seed: number, scale = 2): TextModel {
  return {
    spec, params: randomParams(spec, seed, 'float32', scale),
    vocab: [...SPECIALS, ...'abcdefghi'],
    tokenizer: { kind: 'char', lowercase: false, bos: true, eos: true, maxLength: 0, truncate: 'end' },
  };
}

/**
 * Plain temperature sampling, written independently: float64 softmax of logits / T over the tokens
 * not in `never`, inverse CDF, one uniform per token.
 */
function plainSampling(spec: ModelSpec, m: TextModel, prompt: number[], n: number, T: number, seed: number, never: number[] = []): number[] {
  const s = new Stepper(spec, m.params);
  for (const x of prompt) s.step(x);
  const rng = new Rng(seed, SAMPLE_STREAM);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const max = Math.max(...Array.from(s.logits, (l) => l / T));
    const e = Array.from(s.logits, (l, c) => (never.includes(c) ? 0 : Math.exp(l / T - max)));
    const z = e.reduce((a, b) => a + b, 0);
    const u = rng.uniform();
    let acc = 0, tok = -1;
    for (let c = 0; c < e.length && tok < 0; c++) if (u < (acc += e[c] / z)) tok = c;
    out.push(tok);
    s.step(tok);
  }
  return out;
}

for (const [what, spec] of specs) {
  const m = charModel(spec, 4);
  const prompt = [2, 5, 6, 7];
  // No eos/bos here: every token is fed on, so the ids are the sampling's alone.
  const gen = (o: object) => Array.from(generate(spec, m.params, prompt, { tokens: 40, temperature: 1, seed: 3, ...o }));

  t.test(`${what}: top-k = 1 and a tiny top-p are greedy`, async (t) => {
    const greedy = gen({ temperature: 0 });
    for (const seed of [1, 2, 77]) {
      t.same(gen({ topK: 1, seed }), greedy, `top-k 1, seed ${seed}`);
      t.same(gen({ topP: 1e-9, seed, temperature: 1.7 }), greedy, `top-p 1e-9, seed ${seed}, temperature 1.7`);
    }
    t.notSame(gen({ topK: 2 }), greedy, 'top-k 2 samples');
  });

  t.test(`${what}: top-k = V and top-p = 1 give plain temperature sampling, bit for bit`, async (t) => {
    for (const T of [1, 0.6, 2.5]) {
      for (const seed of [1, 9]) {
        const want = plainSampling(spec, m, prompt, 40, T, seed);
        t.same(gen({ temperature: T, seed, topK: spec.C, topP: 1 }), want, `T ${T}, seed ${seed}`);
        t.same(gen({ temperature: T, seed }), want, 'and without the options');
        t.same(gen({ temperature: T, seed, topK: 1000 }), want, 'top-k above V keeps all');
      }
    }
  });

  t.test(`${what}: a session fed token by token gives the batch forward's probabilities and generate's tokens`, async (t) => {
    const text = 'abcfighead';
    const ids = [2, ...Array.from(text, (ch) => m.vocab.indexOf(ch))];
    const batch = batchFrom([ids], { targets: [ids.map(() => 0)] });
    const ws = allocWorkspace(spec, 1, ids.length);
    forward(m.params, ws, batch);
    const C = spec.C;
    const s = new Session(m, 1);
    const stepper = new Stepper(spec, m.params);
    let worst = 0;
    ids.forEach((id, i) => {
      const p = s.feed(id).probs();
      const q = stepper.step(id);
      for (let c = 0; c < C; c++) {
        worst = Math.max(worst, Math.abs(p[c] - ws.P[i * C + c]));
        if (p[c] !== q[c]) t.fail(`step ${i}: the session's probabilities are not generate's stepper's`);
      }
    });
    t.ok(worst < 1e-6, `largest difference from the batch forward ${worst.toExponential(2)} < 1e-6`);
    t.same(Array.from(new Session(m, 1).feed(text).probs()), Array.from(s.probs()), 'feed(text) = <s> and its characters one by one');
    t.same(Array.from(new Session(m, 1).feed('abc').feed('fighead').probs()), Array.from(s.probs()), 'feeding in parts (no <s> after the first)');
    const top = s.top(3);
    t.equal(top.length, 3);
    t.ok(top[0].prob >= top[1].prob && top[1].prob >= top[2].prob, 'most probable first');
    t.same(top.map((x) => x.text), top.map((x) => m.vocab[x.token]), 'their strings (a special token by its name)');
    t.equal(top[0].prob, s.probs()[top[0].token]);

    // Sampling from a session = generate with the same options and seed.
    for (const o of [{ temperature: 1 }, { temperature: 0.8, topK: 4 }, { temperature: 1.3, topK: 6, topP: 0.7 }]) {
      const sess = new Session(m, 11).feed(prompt);
      const got: number[] = [];
      for (let i = 0; i < 30; i++) {
        const tok = sess.sample(o);
        got.push(tok);
        sess.feed(tok);
      }
      t.same(got, gen({ ...o, seed: 11, tokens: 30, never: neverGenerated(m.vocab, m.tokenizer) }), `session.sample = generate without <pad>, <s>: ${JSON.stringify(o)}`);
      sess.reset().feed(prompt);
      t.equal(sess.sample(o), got[0], 'reset: the start again, draws included');
    }
  });
}

t.test('the kept sets: top-k, then top-p on the renormalized top-k, after the temperature', async (t) => {
  // Probabilities at T = 1: 0.4, 0.25, 0.15, 0.1, 0.06, 0.04 (ids shuffled).
  const probs = [0.1, 0.4, 0.06, 0.25, 0.04, 0.15];
  const logits = Float32Array.from(probs, Math.log);
  const sampler = new Sampler(6);
  const rng = new Rng(5);
  /** The expected distribution, computed here: temper, sort, keep, renormalize. */
  const expected = (T: number, k: number, p: number) => {
    const w = probs.map((x) => x ** (1 / T));
    const z = w.reduce((a, b) => a + b, 0);
    const byProb = w.map((x, i) => [x / z, i]).sort((a, b) => b[0] - a[0]).slice(0, k);
    const mass = byProb.reduce((a, [x]) => a + x, 0);
    const kept: number[][] = [];
    let acc = 0;
    for (const [x, i] of byProb) if (kept.length === 0 || acc < p * mass - 1e-12) { kept.push([x, i]); acc += x; }
    const out = new Array(6).fill(0);
    for (const [x, i] of kept) out[i] = x / acc;
    return out;
  };
  const cases: Array<[number, number, number, number[]]> = [
    [1, 3, 1, [1, 3, 5]], [1, 6, 0.6, [1, 3]], [1, 6, 0.66, [1, 3, 5]], [1, 3, 0.9, [1, 3, 5]],
    [1, 4, 0.8, [1, 3, 5]], [2, 6, 0.6, [1, 3, 5]], [2, 6, 0.7, [1, 3, 5, 0]], [0.5, 6, 0.6, [1]],
  ];
  for (const [T, k, p, set] of cases) {
    const want = expected(T, k, p);
    t.same(want.map((x, i) => (x > 0 ? i : -1)).filter((i) => i >= 0).sort(), [...set].sort(), `T ${T}, top-k ${k}, top-p ${p}: the kept set is ${set} (the reference)`);
    const n = 30000;
    const counts = new Array(6).fill(0);
    for (let i = 0; i < n; i++) counts[sampler.sample(logits, { temperature: T, topK: k, topP: p }, rng)]++;
    const worst = Math.max(...counts.map((c, i) => Math.abs(c / n - want[i])));
    t.ok(worst < 0.0145, `T ${T}, top-k ${k}, top-p ${p}: largest frequency error ${worst.toFixed(4)} (about 5 standard errors)`);
    t.ok(counts.every((c, i) => c === 0 || want[i] > 0), 'no removed token drawn');
  }
  // Ties go to the lower id: top-k 1 of two equal maxima is the first, as greedy's argmax.
  const tie = Float32Array.from([0, 2, 1, 2]);
  for (let i = 0; i < 50; i++) t.equal(new Sampler(4).sample(tie, { temperature: 1, topK: 1 }, rng), 1);
});

t.test('stop strings end the text, and are not in it; the iterator gives the same text', async (t) => {
  const m = charModel({ cell: 'gru', task: 'many-to-many', V: 13, H: 8, C: 13, E: 4 }, 9, 1);
  const o = { tokens: 120, temperature: 1, seed: 4 };
  const full = generateText(m, 'abc', o);
  const cont = full.text.slice(3);
  t.ok(full.text.startsWith('abc') && cont.length > 40, 'a long continuation to cut');
  t.equal(full.stop, undefined);
  for (const stop of [[cont.slice(20, 22)], [cont.slice(30, 33), cont.slice(25, 27)], ['\n\n'], [cont.slice(0, 1)]]) {
    const first = Math.min(...stop.map((s) => cont.indexOf(s)).filter((i) => i >= 0));
    const g = generateText(m, 'abc', { ...o, stop });
    t.equal(g.text, 'abc' + cont.slice(0, first), `stop ${JSON.stringify(stop)}: the text ends before the first stop string`);
    t.ok(stop.includes(g.stop!), 'which stop string ended it');
    t.same(Array.from(g.ids), Array.from(full.ids.subarray(0, g.ids.length)), 'the same tokens, up to the stop');
    // The iterator: pieces concatenated = the continuation; no piece gives out a part of the stop string.
    const it = new TextGenerator(m, 'abc', { ...o, stop });
    let text = '', n = 0;
    for (let p = it.next(); p; p = it.next(), n++) {
      text += p.text;
      t.equal(p.token, g.ids[n]);
    }
    t.equal(n, g.ids.length, 'a piece per token');
    t.equal(it.prompt + text, g.text, 'prompt + pieces = the text');
    const streamed: string[] = [];
    generateText(m, 'abc', { ...o, stop }, undefined, (s) => streamed.push(s), 1);
    t.equal(streamed.join(''), g.text, 'onText, a token at a time: the text');
  }
  // Without a stop, the pieces are the documents joined by blank lines, as generateText returns them.
  const it = new TextGenerator(m, 'abc', o);
  let text = '';
  for (let p = it.next(); p; p = it.next()) text += p.text;
  t.equal(it.prompt + text, full.text, 'prompt + pieces = generateText');
  t.match(full.text, /\n\n/, '(this text has more than one document)');
});

t.test('bad sampling options are ConfigErrors naming the option', async (t) => {
  t.throws(() => samplingOptions({ topK: 0 }), { name: 'ConfigError', message: /topK must be an integer >= 1/ });
  t.throws(() => samplingOptions({ topK: 2.5 }), /topK/);
  t.throws(() => samplingOptions({ topP: 0 }), { name: 'ConfigError', message: /topP must be in \(0, 1\]/ });
  t.throws(() => samplingOptions({ topP: 1.01 }), /topP/);
  t.throws(() => samplingOptions({ topP: NaN }), /topP/);
  t.throws(() => samplingOptions({ temperature: -1 }), /temperature/);
  t.throws(() => samplingOptions({ topP: 0 }, (x) => `--${x}`), /--topP/, 'named as the caller spells it');
  t.throws(() => stopStrings(['.', '']), { name: 'ConfigError', message: /stop \(2\) must be a non-empty string/ });
  t.throws(() => stopStrings(''), /stop must be a non-empty string/);
  t.same(stopStrings('\n'), ['\n']);
  t.same(samplingOptions({}), { temperature: 1, topK: undefined, topP: undefined });
  const m = charModel(specs[0][1], 1);
  const s = new Session(m, 1);
  t.throws(() => s.probs(), ConfigError, 'nothing fed: no distribution yet');
  t.throws(() => s.feed(13), /13 is not a token id/);
});

t.test('never generated: <pad> and <s> (never targets), and </s> when the data had none', async (t) => {
  const withEos = charModel(specs[0][1], 4);
  t.same(neverGenerated(withEos.vocab, withEos.tokenizer), [PAD, BOS]);
  t.same(neverGenerated(withEos.vocab, { eos: false }), [PAD, BOS, EOS], 'trained without </s>: it is never a target either');
  t.same(neverGenerated(['<pad>', 'tok1', 'tok2', 'tok3', 'a'], { eos: true }), [PAD], 'only the specials the vocabulary has');
});

t.test('a model with most of its mass on <pad> and <s> never generates them; </s> still is; the reported probabilities stay the model\'s', async (t) => {
  for (const [what, spec] of specs) {
    const m = charModel(spec, 6);
    // The output bias puts nearly all the mass on <pad> and <s>, as a barely trained model may.
    m.params.by[PAD] += 9;
    m.params.by[BOS] += 8;
    const sess = new Session(m, 5).feed('abc');
    const p = sess.probs();
    t.ok(p[PAD] + p[BOS] > 0.9, `${what}: the model puts ${(p[PAD] + p[BOS]).toFixed(3)} on <pad>, <s>`);
    const ref = new Stepper(spec, m.params);
    for (const id of [BOS, ...Array.from('abc', (ch) => m.vocab.indexOf(ch))]) ref.step(id);
    t.same(Array.from(p), Array.from(ref.probs), `${what}: session.probs() is the model's distribution, <pad> and <s> included`);
    t.same(sess.top(2).map((x) => x.token), [PAD, BOS], `${what}: top() reports them`);

    const opts = [{ temperature: 0 }, { temperature: 1 }, { temperature: 2.5 }, { temperature: 1, topK: 3 }, { temperature: 1.5, topP: 0.9 }, { temperature: 1, topK: 5, topP: 0.5 }];
    for (const o of opts) {
      const seen = new Set<number>();
      for (const seed of [1, 2, 3]) {
        const g = generateText(m, 'ab', { ...o, tokens: 60, seed });
        for (const id of g.ids) seen.add(id);
        const s = new Session(m, seed).feed('ab');
        for (let i = 0; i < 60; i++) {
          const tok = s.sample(o);
          seen.add(tok);
          s.feed(tok);
        }
      }
      t.notOk(seen.has(PAD) || seen.has(BOS), `${what} ${JSON.stringify(o)}: no <pad>, <s> generated (tokens ${[...seen].sort((a, b) => a - b)})`);
    }
    // Greedy: the most probable token that can be generated; </s> when it is that one.
    m.params.by[EOS] += 7;
    const greedy = generateText(m, 'ab', { temperature: 0, tokens: 3, seed: 1 });
    t.same(Array.from(greedy.ids), [EOS, EOS, EOS], `${what}: </s> is generated`);
    m.params.by[EOS] -= 7;
  }
});

t.test('sampling without <pad>, <s> follows the model\'s distribution renormalized over the rest', async (t) => {
  const spec = specs[0][1];
  const m = charModel(spec, 6);
  m.params.by[PAD] += 3;
  m.params.by[BOS] += 2;
  const never = neverGenerated(m.vocab, m.tokenizer);
  const prompt = [2, 5, 6, 7];
  for (const T of [1, 0.7]) {
    for (const seed of [1, 9]) {
      t.same(Array.from(generate(spec, m.params, prompt, { tokens: 40, temperature: T, seed, never })), plainSampling(spec, m, prompt, 40, T, seed, never), `T ${T}, seed ${seed}: bit for bit the reference's draws`);
    }
  }
  // Frequencies of one step's draws against softmax over the tokens left, computed here.
  const s = new Stepper(spec, m.params);
  for (const id of prompt) s.step(id);
  const sampler = new Sampler(spec.C, never);
  const rng = new Rng(4);
  const want = Array.from(s.logits, (l, c) => (never.includes(c) ? 0 : Math.exp(l)));
  const z = want.reduce((a, b) => a + b, 0);
  const n = 40000;
  const counts = new Array(spec.C).fill(0);
  for (let i = 0; i < n; i++) counts[sampler.sample(s.logits, { temperature: 1 }, rng)]++;
  const worst = Math.max(...counts.map((k, c) => Math.abs(k / n - want[c] / z)));
  t.ok(worst < 0.012, `largest frequency error ${worst.toFixed(4)} < 0.012`);
  t.equal(counts[PAD] + counts[BOS], 0);
  t.throws(() => new Sampler(2, [0, 1]), /no token of 2 is left/);
});
