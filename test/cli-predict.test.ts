// `node dist/predict.js` as a user runs it: a names classifier (--text, stdin) and a tiny
// character language model (--generate), trained here in a few seconds. Needs `npm run build`.

import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/infer/model.js';
import { allocWorkspace, forward } from '../src/model/rnn.js';
import { batchFrom } from '../src/model/batch.js';
import { encodeText } from '../src/data/index.js';

import { ROOT, DIST, node, train, lmText, LM_CONFIG, noStack } from './helpers/cli.js';
const lines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l));

t.before(() => {
  if (!existsSync(join(DIST, 'predict.js'))) throw new Error('dist/predict.js is missing: run `npm run build` first');
});

t.test('classifier: --text and stdin', async (t) => {
  const d = t.testdir({});
  const ckpt = train(join(ROOT, 'configs', 'small.json'), d, 'names-small', ['--max-steps', '60']).ckpt;

  const r = node('predict', ['--checkpoint', ckpt, '--text', 'Maria', '--text', 'John']);
  t.equal(r.status, 0, r.stderr);
  const out = lines(r.stdout);
  t.equal(out.length, 2);
  t.same(out.map((o) => o.text), ['Maria', 'John']);
  for (const o of out) {
    t.same(Object.keys(o), ['text', 'label', 'probs']);
    t.same(Object.keys(o.probs), ['female', 'male'], 'labels in class-id order');
    const sum = o.probs.female + o.probs.male;
    t.ok(Math.abs(sum - 1) < 1e-5, `${o.text}: probabilities sum to 1 (${sum})`);
    t.equal(o.label, o.probs.female >= o.probs.male ? 'female' : 'male', `${o.text}: the label is the most probable class`);
  }

  // Against the batch forward in this process, on the checkpoint's parameters and vocabulary.
  const m = loadModel(ckpt);
  const seqs = ['Maria', 'John'].map((s) => Array.from(encodeText(s, m.tokenizer, { tokens: m.vocab })));
  const batch = batchFrom(seqs, { labels: [0, 0] });
  const ws = allocWorkspace(m.spec, batch.B, batch.T);
  forward(m.params, ws, batch);
  const worst = Math.max(...out.flatMap((o, b) => [Math.abs(o.probs.female - ws.P[b * 2]), Math.abs(o.probs.male - ws.P[b * 2 + 1])]));
  t.ok(worst < 1e-5, `the printed probabilities are the model's (largest difference ${worst.toExponential(2)}, printed to 6 digits)`);

  t.equal(r.stderr, '', 'every character known: no warning');
  // Characters the names never had: a warning on stderr (how many, which), the predictions as before.
  const oovWarning = /^warning: 3 of 8 characters in the input are not in the model's vocabulary \("★", "漢", "字"\); the model reads each as <unk>, so its output is less reliable\n$/;
  const u = node('predict', ['--checkpoint', ckpt, '--text', 'Ma★ria', '--text', '漢字']);
  t.equal(u.status, 0, u.stderr);
  t.match(u.stderr, oovWarning, '--text: one warning line');
  t.equal(lines(u.stdout).length, 2);
  const us = node('predict', ['--checkpoint', ckpt], { input: 'Ma★ria\n漢字\n' });
  t.match(us.stderr, oovWarning, 'stdin: one warning line, at the end');
  const s = node('predict', ['--checkpoint', ckpt], { input: 'Maria\n\n   \nJohn\r\n' });
  t.equal(s.status, 0, s.stderr);
  t.same(lines(s.stdout), out, 'stdin: one line per input, blank lines skipped; the same predictions');

  const many = Array.from({ length: 150 }, (_, i) => ['Anna', 'Peter', 'Lucy'][i % 3]).join('\n');
  const big = lines(node('predict', ['--checkpoint', ckpt], { input: many }).stdout);
  t.equal(big.length, 150, 'more lines than one batch');
  t.same(big[147], big[0]);

  const gen = node('predict', ['--checkpoint', ckpt, '--generate', '10']);
  t.equal(gen.status, 2);
  t.match(gen.stderr, /is a classifier; --generate only apply to language models/);

  const missing = node('predict', ['--checkpoint', join(d, 'nope.ckpt'), '--text', 'x']);
  t.equal(missing.status, 2, 'an input error: exit 2');
  t.match(missing.stderr, /^error: checkpoint .*nope\.ckpt: cannot be read: ENOENT/);
  t.ok(noStack(missing.stderr), 'no stack trace');
});

t.test('language model: --generate', async (t) => {
  const d = t.testdir({ 'lm.txt': lmText(60), 'lm.json': JSON.stringify(LM_CONFIG) });
  const ckpt = train(join(d, 'lm.json'), join(d, 'runs'), 'tiny-lm').ckpt;
  const gen = (...a: string[]) => {
    const r = node('predict', ['--checkpoint', ckpt, '--generate', '40', '--prompt', 'the cat', '--json', ...a]);
    t.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { prompt: string; text: string; tokens: number; ids: number[] };
  };
  const a = gen('--seed', '5', '--temperature', '1.5');
  t.equal(a.prompt, 'the cat');
  t.ok(a.text.startsWith('the cat'), 'the prompt, then its continuation');
  t.equal(a.tokens, 40, 'N tokens (the model has <s>, so </s> starts a new document)');
  t.same(gen('--seed', '5', '--temperature', '1.5'), a, 'deterministic for a seed');
  t.notSame(gen('--seed', '6', '--temperature', '1.5').ids, a.ids, 'another seed, another text');

  const g1 = gen('--temperature', '0', '--seed', '1');
  t.same(gen('--temperature', '0', '--seed', '2'), g1, 'temperature 0 is greedy: the seed does not matter');
  // Greedy, checked against the batch forward over the growing sequence, in this process.
  const m = loadModel(ckpt);
  const seq = Array.from(encodeText('the cat', { ...m.tokenizer, eos: false }, { tokens: m.vocab }));
  const want: number[] = [];
  for (let k = 0; k < 12; k++) {
    const batch = batchFrom([seq], { targets: [seq.map(() => 0)] });
    const ws = allocWorkspace(m.spec, 1, seq.length);
    forward(m.params, ws, batch);
    const o = (seq.length - 1) * m.spec.C;
    let best = 0;
    for (let c = 1; c < m.spec.C; c++) if (ws.P[o + c] > ws.P[o + best]) best = c;
    want.push(best);
    if (best === 3) { seq.length = 0; seq.push(2); } else seq.push(best); // </s>: a new document from <s>
  }
  t.same(g1.ids.slice(0, 12), want, 'greedy ids = argmax of the batch forward');

  const plain = node('predict', ['--checkpoint', ckpt, '--generate', '40', '--prompt', 'the cat', '--temperature', '0']);
  t.equal(plain.stdout, g1.text + '\n', 'without --json: the text');
  t.equal(plain.stderr, '', 'a known prompt: no warning');
  const odd = node('predict', ['--checkpoint', ckpt, '--generate', '5', '--prompt', 'the ★']);
  t.equal(odd.status, 0, odd.stderr);
  t.match(odd.stderr, /^warning: 1 of \d+ (character|word)s in the prompt are not in the model's vocabulary \("★"\); the model reads each as <unk>/, 'a prompt with an unknown token: a warning');

  const noGen = node('predict', ['--checkpoint', ckpt, '--text', 'the']);
  t.equal(noGen.status, 2);
  t.match(noGen.stderr, /is a language model: generate text with --generate N/);
});

t.test('--help', async (t) => {
  const h = node('predict', ['--help']);
  t.equal(h.status, 0);
  t.match(h.stdout, /Usage: predict\.js --checkpoint FILE/);
  for (const f of ['--text STR', '--generate N', '--temperature X', '--prompt STR', '--seed S']) t.match(h.stdout, f);
  t.match(h.stdout, /Examples:\n\s+# .*\n\s+node dist\/predict\.js --checkpoint /);
});
