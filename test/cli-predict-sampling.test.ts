// Generation options from the library (Model.generate / stream / session) and the command line
// (predict.js --top-k, --top-p, --stop) on small language models trained here with character,
// word and BPE tokens. Needs `npm run build`.

import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../src/infer/model.js';
import { allocWorkspace, forward } from '../src/model/rnn.js';
import { batchFrom } from '../src/model/batch.js';
import { encodeText } from '../src/data/index.js';
import { ConfigError } from '../src/util/errors.js';
import { DIST, node, train, lmText, LM_CONFIG, noStack } from './helpers/cli.js';

t.before(() => {
  if (!existsSync(join(DIST, 'predict.js'))) throw new Error('dist/predict.js is missing: run `npm run build` first');
});

const dir = t.testdir({ 'lm.txt': lmText(60), 'lm.json': JSON.stringify(LM_CONFIG) });
const ckpts = Object.fromEntries((['char', 'word', 'bpe'] as const).map((tok) => [tok, train(join(dir, 'lm.json'), join(dir, `runs-${tok}`), 'tiny-lm', ['--max-steps', '40', '--set', `data.tokenizer=${tok}`]).ckpt]));

for (const [tok, ckpt] of Object.entries(ckpts)) {
  t.test(`${tok} tokens: stream = generate, stop strings, the session = the batch forward`, async (t) => {
    const m = Model.load(ckpt);
    const prompt = 'the cat sat';
    const decodedPrompt = m.generate(prompt, { length: 0 });
    for (const o of [{ seed: 3 }, { seed: 4, topK: 3, temperature: 1.2 }, { seed: 5, topP: 0.8 }, { seed: 6, topK: 5, topP: 0.9, temperature: 0.7 }]) {
      const text = m.generate(prompt, { ...o, length: 60 });
      let streamed = '', n = 0, badIds = 0;
      for await (const p of m.stream(prompt, { ...o, length: 60 })) {
        streamed += p.text;
        n++;
        if (!(Number.isInteger(p.token) && p.token >= 0 && p.token < m.spec.V)) badIds++;
      }
      t.equal(badIds, 0, 'each piece has its token id');
      t.equal(decodedPrompt + streamed, text, `the iterator's text = generate's (${JSON.stringify(o)})`);
      t.ok(n > 0 && n <= 60, `${n} pieces, one per token`);
      // A stop string from the continuation ends the text before its first occurrence.
      const cont = text.slice(decodedPrompt.length);
      const stop = cont.slice(12, 15);
      if (stop.length === 3) {
        const cut = m.generate(prompt, { ...o, length: 60, stop: [stop, '\u2603'] });
        t.equal(cut, decodedPrompt + cont.slice(0, cont.indexOf(stop)), `stop ${JSON.stringify(stop)}: the text ends before it`);
        let s2 = '';
        for await (const p of m.stream(prompt, { ...o, length: 60, stop })) s2 += p.text;
        t.equal(decodedPrompt + s2, cut, 'the iterator stops there too');
      }
    }
    t.equal(m.generate(prompt, { length: 30, topK: 1, seed: 8 }), m.generate(prompt, { length: 30, temperature: 0 }), 'top-k 1 is greedy');

    const ids = Array.from(encodeText(prompt, { ...m.tokenizer, eos: false, maxLength: 0 }, { tokens: m.vocab }));
    const batch = batchFrom([ids], { targets: [ids.map(() => 0)] });
    const ws = allocWorkspace(m.spec, 1, ids.length);
    forward(m.params, ws, batch);
    const C = m.spec.C, o = (ids.length - 1) * C;
    const s = m.session();
    const viaText = s.feed(prompt).probs();
    const viaIds = s.reset().feed(ids).probs();
    let worst = 0;
    for (let c = 0; c < C; c++) worst = Math.max(worst, Math.abs(viaIds[c] - ws.P[o + c]));
    t.ok(worst < 1e-6, `session.probs() after the prompt = the batch forward's last step (largest difference ${worst.toExponential(2)})`);
    t.same(Array.from(viaText), Array.from(viaIds), 'feed(text) = feed(its ids)');
    t.equal(s.length, ids.length);
    const top = s.top(5);
    t.equal(top.length, Math.min(5, C));
    t.equal(top[0].prob, Math.max(...viaIds));

    t.throws(() => m.generate(prompt, { topK: 0 }), { name: 'ConfigError', message: /topK must be an integer >= 1/ });
    t.throws(() => m.stream(prompt, { topP: 0 }), { name: 'ConfigError', message: /topP must be in \(0, 1\]/ }, 'stream: at the call, not at the first token');
    t.throws(() => m.generate(prompt, { topP: 1.5 }), ConfigError);
    t.throws(() => m.generate(prompt, { stop: '' }), /stop must be a non-empty string/);
  });
}

t.test('predict.js --top-k, --top-p, --stop', async (t) => {
  const ckpt = ckpts.char;
  const run = (...a: string[]) => node('predict', ['--checkpoint', ckpt, '--generate', '60', '--prompt', 'the cat', ...a]);
  const greedy = run('--temperature', '0');
  t.equal(greedy.status, 0, greedy.stderr);
  t.equal(run('--top-k', '1', '--seed', '4').stdout, greedy.stdout, '--top-k 1 is greedy');
  t.equal(run('--top-p', '1e-9', '--seed', '5').stdout, greedy.stdout, 'a tiny --top-p is greedy');
  const m = Model.load(ckpt);
  const sampled = run('--top-k', '4', '--top-p', '0.9', '--temperature', '1.3', '--seed', '7');
  t.equal(sampled.stdout, m.generate('the cat', { length: 60, topK: 4, topP: 0.9, temperature: 1.3, seed: 7 }) + '\n', 'the library\'s text for the same options');

  const full = JSON.parse(run('--seed', '2', '--json').stdout);
  const cont = full.text.slice('the cat'.length);
  const stop = cont.slice(10, 12);
  const cut = run('--seed', '2', '--json', '--stop', stop, '--stop', 'zzz');
  t.equal(cut.status, 0, cut.stderr);
  const j = JSON.parse(cut.stdout);
  t.equal(j.text, 'the cat' + cont.slice(0, cont.indexOf(stop)), '--stop: the text ends before it');
  t.equal(j.stop, stop);
  t.equal(full.stop, null);
  const plain = run('--seed', '2', '--stop', stop, '--stop', 'zzz');
  t.equal(plain.stdout, j.text + '\n', 'printed as it goes: the same text, without the stop string');

  for (const [flags, re] of [[['--top-k', '0'], /--top-k/], [['--top-p', '0'], /--top-p must be in \(0, 1\]/], [['--top-p', '1.5'], /--top-p/], [['--stop', ''], /--stop must be a non-empty string/]] as const) {
    const r = run(...flags);
    t.equal(r.status, 2, `${flags.join(' ')}: exit 2`);
    t.match(r.stderr, re, 'names the flag');
    t.ok(noStack(r.stderr), 'no stack trace');
  }
  const h = node('predict', ['--help']);
  for (const f of ['--top-k K', '--top-p P', '--stop STR']) t.match(h.stdout, f);
});
