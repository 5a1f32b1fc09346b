// Sequence tagging (model.task "tagging", issue 22): finite differences of the per-token loss in
// float64, junk in the padding changes nothing, the JSON Lines and CoNLL readers' bad input named
// by file and line, span F1 against hand-counted cases (conlleval's rules), and a tiny run end to
// end through the library and the commands: resume bit-exact, 1 vs 2 workers, the checkpoint's
// tagger, eval.js's metrics and predict.js's token/TAG lines. Worker threads load dist/: needs
// `npm run build`.

import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { ModelSpec } from '../src/model/spec.js';
import { checkSpec } from '../src/model/spec.js';
import { makeLayout, allocParams } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, forward } from '../src/model/rnn.js';
import { randomParams, randomBatch, checkAgainstFiniteDifferences } from './helpers/model.js';
import { Issues } from '../src/data/readers.js';
import { conllRows, taggedJsonlRows, type TaggedRow } from '../src/data/tagged.js';
import { builtinCorpus } from '../src/data/corpora.js';
import { addSpanCounts, bioScheme, bioSpans, taggingMetrics, type SpanCounts } from '../src/model/metrics.js';
import { train, Model, type RunOptions } from '../src/index.js';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { ROOT, finalState } from './fixtures/train/helpers.js';
import ort from 'onnxruntime-node';
import { readOnnxMetadata } from '../src/export/onnx.js';
import { OnnxTokenizer } from '../src/tokenizer/index.js';

const drop = { rate: 0.3, key: 0x5eed };

// ---------------------------------------------------------------- the model

for (const [cell, bidirectional, E, layers] of [['rnn', true, 0, 1], ['lstm', true, 3, 2], ['gru', true, 0, 2], ['gru', false, 2, 1], ['lstm', false, 0, 2]] as const) {
  const s: ModelSpec = { cell, task: 'tagging', V: 7, H: 3, C: 4, E, layers, bidirectional };
  t.test(`finite differences: tagger ${cell} ×${layers}${bidirectional ? ' bidirectional' : ''}, ${E ? 'embedding' : 'one-hot'}, dropout, padded batch`, async (t) => {
    const p = randomParams(s, 31, 'float64');
    const batch = randomBatch(s, [4, 1, 6, 3], 32, 7); // unsorted, a length-1 row, an all-padding tail
    const g = allocParams(makeLayout(s), 'float64');
    const r = forwardBackward(p, g, allocWorkspace(s, batch.B, 7, 'float64'), batch, 0, drop);
    t.equal(r.count, 14, 'one loss per real token');
    const analytic = Float64Array.from(g.data);
    const scratch = allocParams(makeLayout(s), 'float64'), ws2 = allocWorkspace(s, batch.B, 7, 'float64');
    checkAgainstFiniteDifferences(t, p, analytic, () => forwardBackward(p, scratch, ws2, batch, 0, drop).lossSum, 1e-4);
  });
}

t.test('a tagger reads real tokens only: junk tokens and tags in the padding change nothing', async (t) => {
  for (const bidirectional of [false, true]) {
    const s: ModelSpec = { cell: 'gru', task: 'tagging', V: 9, H: 4, C: 3, E: 2, layers: 2, bidirectional };
    const p = randomParams(s, 8, 'float64');
    const batch = randomBatch(s, [6, 2, 4], 9, 8);
    const run = (b: typeof batch) => {
      const g = allocParams(makeLayout(s), 'float64');
      const ws = allocWorkspace(s, b.B, b.T, 'float64');
      const loss = forwardBackward(p, g, ws, b).lossSum;
      const f = forward(p, allocWorkspace(s, b.B, b.T, 'float64'), b);
      return { loss, g: Array.from(g.data), correct: f.correct, count: f.count };
    };
    const junk = { ...batch, tokens: batch.tokens.slice(), targets: batch.targets.slice() };
    for (let b = 0; b < batch.B; b++) {
      for (let i = batch.lengths[b]; i < batch.T; i++) {
        junk.tokens[b * batch.T + i] = 1 + ((b + i) % 8);
        junk.targets[b * batch.T + i] = (b + 2 * i) % 3;
      }
    }
    t.same(run(junk), run(batch), `${bidirectional ? 'bidirectional' : 'forward only'}: the same loss, gradient and accuracy, bit for bit`);
  }
});

t.test('the spec: a tagger may read both ways; it has no tied weights, adaptive softmax or pooling', async (t) => {
  const base: ModelSpec = { cell: 'lstm', task: 'tagging', V: 20, H: 4, C: 5, E: 4, bidirectional: true };
  t.doesNotThrow(() => checkSpec(base));
  t.throws(() => checkSpec({ ...base, tieWeights: true }), /tieWeights needs a language model/);
  t.throws(() => checkSpec({ ...base, pooling: 'mean' }), /pooling applies to a classifier/);
});

// ---------------------------------------------------------------- readers

const example = (f: (text: string, shown: string, issues: Issues) => unknown, text: string) => () => f(text, 'data/x.file', new Issues(false));
const jsonl = (text: string) => taggedJsonlRows(text, 'data/x.file', { tokensField: 'tokens', tagsField: 'tags' }, new Issues(false));

t.test('JSON Lines: sentences, and each bad one named by file and line', async (t) => {
  const rows = jsonl('{"tokens": ["Paris", "is"], "tags": ["B-LOC", "O"], "id": 4}\n\n{"tokens": ["a"], "tags": ["O"]}\n');
  t.same(rows.map((r) => [r.tokens, r.tags, r.line, r.key]), [[['Paris', 'is'], ['B-LOC', 'O'], 1, 'id:4'], [['a'], ['O'], 3, 'a']]);
  const bad = (text: string, re: RegExp, what: string) => t.throws(() => jsonl(text), { name: 'DataError', message: re }, what);
  bad('{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}', /^data\/x\.file:2: 2 tokens but 1 tags\. Give exactly one tag per token/, 'tokens and tags of different lengths');
  bad('{"tokens": [], "tags": []}', /^data\/x\.file:1: an empty sentence/, 'an empty sentence');
  bad('{"tokens": ["a"]}', /^data\/x\.file:1: missing tags field "tags" .*set data\.tagsField/, 'no tags field');
  bad('{"tokens": ["a", 3], "tags": ["O", "O"]}', /^data\/x\.file:1: tokens\[1\] in field "tokens" is 3, not a string/, 'a token that is not a string');
  bad('{"tokens": ["a", "b"], "tags": ["O", ""]}', /^data\/x\.file:1: token 2 \("b"\): an empty tag/, 'an empty tag');
  bad('{"tokens": ["\\ud83d"], "tags": ["O"]}', /^data\/x\.file:1: token 1 \(".*"\): the token holds a lone UTF-16 surrogate/, 'a lone surrogate');
  bad('{"tokens": ["a"], "tags": ["O"]', /^data\/x\.file:1: invalid JSON/, 'broken JSON');
  // skipInvalid: the bad row is counted, the others kept.
  const issues = new Issues(true);
  const kept = taggedJsonlRows('{"tokens": ["a"], "tags": ["O", "O"]}\n{"tokens": ["b"], "tags": ["O"]}', 'f', { tokensField: 'tokens', tagsField: 'tags' }, issues);
  t.equal(kept.length, 1);
  t.same(issues.skipped.map((i) => i.line), [1]);
});

t.test('CoNLL: token first, tag last; blank lines end sentences; -DOCSTART- skipped; a missing tag named by line', async (t) => {
  const rows = conllRows('-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\nPeter B-PER\n', 'c.conll', new Issues(false));
  t.same(rows.map((r) => [r.tokens, r.tags, r.line]), [[['EU', 'rejects'], ['B-ORG', 'O'], 3], [['Peter'], ['B-PER'], 7]]);
  t.throws(example(conllRows, 'EU B-ORG\nrejects\nit O\n'), { name: 'DataError', message: /^data\/x\.file:2: the token "rejects" has no tag\. Each line is a token and its tag/ });
  t.throws(example(conllRows, 'a O\n\ud83d O\n'), { name: 'DataError', message: /^data\/x\.file:1: line 2: the token holds a lone UTF-16 surrogate/ }, 'a lone surrogate: the sentence\'s line and the token\'s');
  const issues = new Issues(true);
  const kept = conllRows('a O\nb\nc O\n\nd O\n', 'c.conll', issues);
  t.same(kept.map((r) => r.tokens), [['d']], 'skipInvalid: the broken sentence is skipped whole');
  t.same(issues.skipped.map((i) => i.line), [2]);
});

// ---------------------------------------------------------------- metrics

t.test('span F1: conlleval\'s rules on hand-counted cases', async (t) => {
  const names = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC'];
  const s = bioScheme(names)!;
  const id = (tags: string) => tags.split(' ').map((x) => names.indexOf(x));
  const spans = (tags: string) => { const out: number[] = []; bioSpans(id(tags), 0, 1, id(tags).length, s, out); return out; };
  const PER = s.type[1], LOC = s.type[3];
  t.same(spans('B-PER I-PER O B-LOC'), [0, 1, PER, 3, 3, LOC]);
  t.same(spans('I-LOC I-LOC O'), [0, 1, LOC], 'an I-X without a B starts a span');
  t.same(spans('B-PER I-LOC I-LOC'), [0, 0, PER, 1, 2, LOC], 'an I of another type starts a new span');
  t.same(spans('B-PER B-PER I-PER'), [0, 0, PER, 1, 2, PER], 'B-X after X starts a new span');
  const count = (gold: string, pred: string) => {
    const c: SpanCounts = [0, 0, 0];
    const g = id(gold), p = id(pred);
    addSpanCounts(g, 0, 1, p, 0, 1, g.length, s, c, [], []);
    return c;
  };
  t.same(count('B-PER I-PER O B-LOC', 'B-PER I-PER O I-LOC'), [2, 2, 2], 'both right (I-LOC after O begins the LOC span)');
  t.same(count('B-PER I-PER I-PER', 'B-PER I-PER B-PER'), [0, 2, 1], 'a span cut in two is no correct span');
  t.same(count('B-PER O B-LOC I-LOC', 'B-PER O B-PER I-PER'), [1, 2, 2], 'the right ends but the wrong type');
  t.same(count('O O', 'O O'), [0, 0, 0]);
  // Strided layouts as the evaluation reads them: gold b·T + t, predictions t·B + b.
  const gold = [1, 2, 0, /* row 1 */ 3, 0, 0], pred = [1, 3, 2, 0, 0, 0]; // pred row 0 = [1, 2, 0], row 1 = [3, 0, 0]
  const c: SpanCounts = [0, 0, 0];
  for (let b = 0; b < 2; b++) addSpanCounts(gold, b * 3, 1, pred, b, 2, 3, s, c, [], []);
  t.same(c, [2, 2, 2]);

  t.ok(bioScheme(['B', 'I']), 'B and I alone: spans of one unnamed type (words)');
  t.equal(bioScheme(['NN', 'VB']), null, 'not BIO tags: no spans');
  t.equal(bioScheme(['O', 'I-X']), null, 'no B tag: no spans');
  const m = taggingMetrics(6, 10, [6, 1, 2, 1], ['B', 'I'], [3, 4, 5]);
  t.equal(m.accuracy, 0.7);
  t.same(m.perTag.B, { precision: 6 / 8, recall: 6 / 7, f1: 12 / 15, support: 7, predicted: 8 });
  t.same(m.spans, { precision: 0.75, recall: 0.6, f1: 6 / 9, correct: 3, predicted: 4, gold: 5 });
});

t.test('the built-in moby-dick-segmentation: every non-space character of the novel, B where a word begins', async (t) => {
  const seg = builtinCorpus('moby-dick-segmentation').rows as TaggedRow[], moby = builtinCorpus('moby-dick').rows;
  let chars = 0, words = 0;
  for (const ch of moby) {
    chars += ch.text.replace(/\s+/g, '').length;
    words += ch.text.split(/\s+/).filter((w) => w !== '').length;
  }
  t.equal(seg.reduce((n, r) => n + r.tokens.length, 0), chars, 'every character but whitespace, once');
  t.equal(seg.reduce((n, r) => n + r.tags.filter((x) => x === 'B').length, 0), words, 'a B per word');
  t.ok(seg.every((r) => r.tags[0] === 'B' && r.tokens.every((c) => !/\s/.test(c)) && r.tags.every((x) => x === 'B' || x === 'I')));
  t.same(seg[0].key, moby[0].key, 'keyed by its chapter');
});

// ---------------------------------------------------------------- end to end

/** Word segmentation of strings over a small lexicon: characters tagged B (a word starts) or I. */
function conll(n: number, seed: number): string {
  const words = ['ab', 'cd', 'ecd', 'f', 'ba'];
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = 2 + Math.floor(rand() * 4);
    for (let w = 0; w < k; w++) [...words[Math.floor(rand() * words.length)]].forEach((c, j) => out.push(`${c} ${j === 0 ? 'B' : 'I'}`));
    out.push('');
  }
  return out.join('\n');
}

const CONFIG = (workers: number, bidirectional = true) => ({
  name: `tag-${workers}-${bidirectional}`, seed: 3,
  data: { source: 'files' as const, train: 'train.conll', val: 'val.conll', test: 'test.conll' },
  model: { task: 'tagging' as const, cell: 'gru' as const, hidden: 10, bidirectional, input: { embedding: 4 } },
  train: { epochs: 3, batchSize: 16, lr: 0.03, workers, kernels: 'js' as const },
  checkpoint: { every: 0, keepLast: 2 },
});

t.test('a tagger end to end: resume bit-exact, 1 vs 2 workers, the checkpoint tags the same, eval.js and predict.js', async (t) => {
  if (!existsSync(join(ROOT, 'dist', 'workers', 'shard.js'))) throw new Error('dist/workers/shard.js is missing: run `npm run build` first');
  const dir = t.testdir({ 'train.conll': conll(200, 1), 'val.conll': conll(30, 2), 'test.conll': conll(40, 3) });
  const full = await train({ config: CONFIG(2), baseDir: dir });
  t.ok(full.test!.accuracy > 0.9, `learns the task (test token accuracy ${full.test!.accuracy})`);
  t.ok(full.test!.spans && full.test!.spans.f1 > 0.8, `span F1 ${full.test!.spans?.f1}`);
  t.same(Object.keys(full.test!.perTag!), ['B', 'I'], 'per-tag metrics in the summary');
  const report = readFileSync(full.reportPath, 'utf8');
  t.match(report, /<h2>Tags<\/h2>.*<th>B<\/th><td>[\d.]+%<\/td>.*<th>spans<\/th>/s, 'the report: per-tag and span scores');
  t.match(report, /test span F1/);

  const stop = new AbortController();
  const o: RunOptions = { config: { ...CONFIG(2), name: 'cut' }, baseDir: dir, signal: stop.signal, onStep: (e) => { if (e.step === 17) stop.abort(); } };
  const cut = await train(o);
  t.ok(cut.interrupted);
  const resumed = await train({ ...o, signal: undefined, onStep: undefined, resume: 'latest' });
  t.same(finalState(resumed.runDir), finalState(full.runDir), 'resumed: the same final state, bit for bit');

  const one = await train({ config: CONFIG(1), baseDir: dir });
  const a = readCheckpoint(one.lastCheckpoint!), b = readCheckpoint(full.lastCheckpoint!);
  t.equal(b.spec.task, 'tagging');
  t.same(b.labelNames, ['B', 'I'], 'the tags are saved as the label names');
  let num = 0, den = 0;
  a.params.forEach((p, i) => p.data.forEach((v, j) => { num = Math.max(num, Math.abs(v - b.params[i].data[j])); den = Math.max(den, Math.abs(b.params[i].data[j])); }));
  t.ok(num / den < 1e-5, `2 workers within 1e-5 of 1 worker (${(num / den).toExponential(2)})`);

  const m = Model.load(full.lastCheckpoint!);
  t.equal(m.task, 'tagger');
  const texts = ['abecdf', 'f ab cd', 'cdab'];
  t.same(m.tag(texts), full.model.tag(texts), 'loaded from the checkpoint, it tags as the trained model');
  t.same(m.tag('ab ba').tokens, ['a', 'b', 'b', 'a'], 'characters without whitespace');

  const ev = spawnSync(process.execPath, [join(ROOT, 'dist', 'eval.js'), '--checkpoint', full.lastCheckpoint!, '--split', 'test', '--data-root', dir, '--workers', '2'], { encoding: 'utf8' });
  t.equal(ev.status, 0, ev.stderr);
  const e = JSON.parse(ev.stdout);
  t.equal(e.accuracy, full.test!.accuracy, 'eval.js: the run\'s test token accuracy');
  t.equal(e.spans.f1, full.test!.spans!.f1, 'eval.js: the run\'s span F1');
  t.same(Object.keys(e.perTag), ['B', 'I']);

  const pr = spawnSync(process.execPath, [join(ROOT, 'dist', 'predict.js'), '--checkpoint', full.lastCheckpoint!, '--text', 'abecd', '--text', 'fcd'], { encoding: 'utf8' });
  t.equal(pr.status, 0, pr.stderr);
  const tagged = m.tag(['abecd', 'fcd']);
  t.equal(pr.stdout, tagged.map((r) => r.tokens.map((x, i) => `${x}/${r.tags[i]}`).join(' ') + '\n').join(''), 'predict.js: token/TAG per token, a line per text');
  const pj = spawnSync(process.execPath, [join(ROOT, 'dist', 'predict.js'), '--checkpoint', full.lastCheckpoint!, '--json'], { encoding: 'utf8', input: 'abecd\n' });
  t.same(JSON.parse(pj.stdout).tags, tagged[0].tags, 'predict.js --json, a text from stdin');

  // ONNX: the exported graph and the package's tokenizer tag as the model does.
  const onnxFile = join(dir, 'tagger.onnx');
  const ex = spawnSync(process.execPath, [join(ROOT, 'dist', 'export.js'), '--checkpoint', full.lastCheckpoint!, '--out', onnxFile], { encoding: 'utf8' });
  t.equal(ex.status, 0, ex.stderr);
  const bytes = readFileSync(onnxFile);
  const tok = new OnnxTokenizer(readOnnxMetadata(bytes));
  t.same(tok.labels, ['B', 'I']);
  const enc = tok.encodeBatch(['abecd', 'f cd']);
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ tokens: new ort.Tensor('int32', enc.tokens, [enc.batch, enc.time]), lengths: new ort.Tensor('int32', enc.lengths, [enc.batch]) });
  await session.release();
  const P = out.probabilities.data as Float32Array, ortTags: string[][] = [];
  for (let b = 0; b < enc.batch; b++) {
    ortTags.push([]);
    for (let s = 0; s < enc.lengths[b]; s++) { const r = (b * enc.time + s) * 2; ortTags[b].push(P[r] >= P[r + 1] ? 'B' : 'I'); }
  }
  t.same(ortTags, m.tag(['abecd', 'f cd']).map((r) => r.tags), 'onnxruntime tags as predict does');
  const html = spawnSync(process.execPath, [join(ROOT, 'dist', 'export.js'), '--checkpoint', full.lastCheckpoint!, '--format', 'html', '--out', join(dir, 'p.html')], { encoding: 'utf8' });
  t.equal(html.status, 2);
  t.match(html.stderr, /cannot export to HTML: .* this model is a tagger/);

  writeFileSync(join(dir, 'bad.conll'), 'a B\nb\n');
  const bad = spawnSync(process.execPath, [join(ROOT, 'dist', 'eval.js'), '--checkpoint', full.lastCheckpoint!, '--data', join(dir, 'bad.conll')], { encoding: 'utf8' });
  t.equal(bad.status, 2, 'bad input: exit 2');
  t.match(bad.stderr, /bad\.conll:2: the token "b" has no tag/);
});

t.test('config: a tagger reads jsonl or conll; conll needs a tagger; options of the other tasks are refused', async (t) => {
  const dir = t.testdir({ 'a.conll': conll(30, 1), 'a.csv': 'text,label\nx,y\n' });
  await t.rejects(train({ config: { ...CONFIG(1), data: { source: 'files', file: 'a.csv' } }, baseDir: dir }), { name: 'ConfigError', message: /model\.task: expected `many-to-one` for data\.format `csv`/ });
  await t.rejects(train({ config: { ...CONFIG(1), model: { ...CONFIG(1).model, task: 'many-to-one' as never }, data: { source: 'files', file: 'a.conll' } }, baseDir: dir }), { name: 'ConfigError', message: /model\.task: expected `tagging` for data\.format `conll` \(it has a tag per token\)/ });
  await t.rejects(train({ config: { ...CONFIG(1), train: { ...CONFIG(1).train, stepLoss: 0.5 } }, baseDir: dir }), { name: 'ConfigError', message: /train\.stepLoss: only applies to model\.task `many-to-one`.*this run's model\.task is `tagging`/ });
  await t.rejects(train({ config: { ...CONFIG(1), data: { ...CONFIG(1).data, textField: 'words' } }, baseDir: dir }), { name: 'ConfigError', message: /data\.textField: only applies to a classifier's or language model's rows .*a tagger reads data\.tokensField/ });
});
