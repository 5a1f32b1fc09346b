// ONNX export (src/export/onnx.ts, node dist/export.js), checked by running the exported files in
// onnxruntime-node: for every cell × task × input × 1 and 2 layers, on a padded batch (rows of
// different lengths, unsorted, one as long as the batch, padding past every row), ORT's
// probabilities equal our forward pass's (float32 and float64) within 1e-5; the metadata holds what
// a consumer needs to encode text as training did (checked by encoding with it alone, as the
// README does); models the file cannot reproduce are refused with an error naming the feature;
// and the command exports a trained checkpoint whose ONNX predictions equal predict.js's, running
// the README's onnxruntime-node example. Needs `npm run build`.

import t from 'tap';
import ort from 'onnxruntime-node';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CELLS, type ModelSpec, type Task } from '../src/model/spec.js';
import { makeLayout, allocParams, type Params } from '../src/model/params.js';
import { allocWorkspace, forward } from '../src/model/rnn.js';
import type { Batch } from '../src/model/batch.js';
import { SPECIALS, type TokenizerSpec } from '../src/data/types.js';
import { encodeText, tokenize } from '../src/data/index.js';
import { readCheckpoint, writeCheckpointAtomic } from '../src/checkpoint/index.js';
import { loadModel } from '../src/infer/model.js';
import { exportOnnx, checkExportable, readOnnxMetadata, onnxGateOrder, ExportError, WORD_PATTERN, ONNX_OPSET, type ExportableModel } from '../src/export/onnx.js';
import { randomParams, randomBatch } from './helpers/model.js';
import { ROOT, DIST, node, train, noStack } from './helpers/cli.js';

t.before(() => {
  if (!existsSync(join(DIST, 'export.js'))) throw new Error('dist/export.js is missing: run `npm run build` first');
});

const TOKENIZER: TokenizerSpec = { kind: 'char', lowercase: true, bos: true, eos: true, maxLength: 0, truncate: 'start', reverse: false };
const vocabOf = (V: number) => [...SPECIALS, ...Array.from({ length: V - SPECIALS.length }, (_, i) => String.fromCharCode(97 + i))];

function modelOf(spec: ModelSpec, params: Params): ExportableModel {
  return { spec, params, vocab: vocabOf(spec.V), labelNames: spec.task !== 'many-to-many' ? Array.from({ length: spec.C }, (_, c) => `class${c}`) : [], tokenizer: TOKENIZER };
}

/** ORT's probabilities for a padded batch: (B, C) or (B, T, C). */
async function runOrt(bytes: Uint8Array, batch: Batch): Promise<{ probs: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const { B, T } = batch;
    const out = await session.run({
      tokens: new ort.Tensor('int32', Int32Array.from(batch.tokens.subarray(0, B * T)), [B, T]),
      lengths: new ort.Tensor('int32', Int32Array.from(batch.lengths.subarray(0, B)), [B]),
    });
    return { probs: out.probabilities.data as Float32Array, dims: out.probabilities.dims };
  } finally {
    await session.release();
  }
}

/** Largest |ORT − ours| over the real outputs: ours is (B, C) or time-major (T, B, C), ORT's (B, C) or (B, T, C). */
function maxDiff(task: Task, ortP: Float32Array, ours: ArrayLike<number>, batch: Batch, C: number): number {
  let d = 0;
  if (task === 'many-to-one') {
    for (let i = 0; i < batch.B * C; i++) d = Math.max(d, Math.abs(ortP[i] - ours[i]));
    return d;
  }
  for (let b = 0; b < batch.B; b++) {
    for (let s = 0; s < batch.lengths[b]; s++) {
      for (let c = 0; c < C; c++) d = Math.max(d, Math.abs(ortP[(b * batch.T + s) * C + c] - ours[(s * batch.B + b) * C + c]));
    }
  }
  return d;
}

// Unsorted lengths, one as long as the batch (8), one of 1, and padding after every other row.
const LENGTHS = [5, 8, 2, 1, 7, 4];
const T_PAD = 8;
const worst = { f32: 0, f64: 0 };

// Bidirectional classifiers too (direction="bidirectional"; language models cannot be bidirectional).
// And pooled classifier heads (mean, max, meanmax over the real steps).
const VARIANTS: { task: Task; bidirectional: boolean; pooling?: ModelSpec['pooling'] }[] = [
  ...['many-to-one', 'many-to-many'].map((task) => ({ task: task as Task, bidirectional: false })),
  { task: 'many-to-one', bidirectional: true },
  { task: 'many-to-one', bidirectional: false, pooling: 'meanmax' },
  { task: 'many-to-one', bidirectional: true, pooling: 'mean' },
  { task: 'many-to-one', bidirectional: true, pooling: 'max' },
  // Taggers: the per-step head with C tags, one and both directions.
  { task: 'tagging', bidirectional: false },
  { task: 'tagging', bidirectional: true },
];
for (const cell of CELLS) {
  for (const { task, bidirectional, pooling } of VARIANTS) {
    for (const E of [0, 5]) {
      for (const layers of [1, 2]) {
        const V = 13, H = 8, C = task === 'many-to-many' ? V : 3;
        const spec: ModelSpec = { cell, task, V, H, C, E, layers, ...(bidirectional ? { bidirectional } : {}), ...(pooling ? { pooling } : {}) };
        const name = `${cell} × ${layers}${bidirectional ? ' bidirectional' : ''}, ${task}${pooling ? `, ${pooling} pooling` : ''}, ${E > 0 ? `embedding E=${E}` : 'one-hot'}`;
        t.test(`${name}: onnxruntime's probabilities equal our forward's within 1e-5`, async (t) => {
          // Random weights, rounded to float32 so that our float64 forward sees the exported values.
          const seed = 100 * CELLS.indexOf(cell) + 10 * layers + E + (task === 'many-to-one' ? 0 : 1) + (bidirectional ? 50 : 0) + (pooling ? 3 * pooling.length : 0) + (task === 'tagging' ? 7 : 0);
          const p64 = randomParams(spec, seed, 'float64');
          for (let i = 0; i < p64.data.length; i++) p64.data[i] = Math.fround(p64.data[i]);
          const p32 = allocParams(makeLayout(spec), 'float32');
          p32.data.set(p64.data);
          const batch = randomBatch(spec, LENGTHS, seed + 1, T_PAD);

          const ws32 = allocWorkspace(spec, batch.B, batch.T, 'float32');
          forward(p32, ws32, batch);
          const ws64 = allocWorkspace(spec, batch.B, batch.T, 'float64');
          forward(p64, ws64, batch);

          const bytes = exportOnnx(modelOf(spec, p32));
          const { probs, dims } = await runOrt(bytes, batch);
          t.same(dims, task === 'many-to-one' ? [batch.B, C] : [batch.B, batch.T, C], 'probabilities: (N, C) or (N, T, C)');
          const d32 = maxDiff(task, probs, ws32.P, batch, C), d64 = maxDiff(task, probs, ws64.P, batch, C);
          worst.f32 = Math.max(worst.f32, d32);
          worst.f64 = Math.max(worst.f64, d64);
          t.ok(d32 < 1e-5, `vs our float32 forward: max |difference| ${d32.toExponential(2)}`);
          t.ok(d64 < 1e-5, `vs our float64 forward: max |difference| ${d64.toExponential(2)}`);
          // The same export from float64 parameters (the values are float32 already): identical bytes.
          t.same(exportOnnx(modelOf(spec, p64)), bytes, 'float64 parameters export to the same file');
        });
      }
    }
  }
}

// Tied weights: the embedding table is the Gather's and (transposed) the output's, stored once.
for (const [cell, E, H] of [['lstm', 8, 8], ['gru', 5, 8]] as const) {
  const spec: ModelSpec = { cell, task: 'many-to-many', V: 13, H, C: 13, E, tieWeights: true };
  t.test(`${cell}, tied weights, E=${E} H=${H}: onnxruntime's probabilities equal our forward's within 1e-5`, async (t) => {
    const p64 = randomParams(spec, 70 + E, 'float64');
    for (let i = 0; i < p64.data.length; i++) p64.data[i] = Math.fround(p64.data[i]);
    const p32 = allocParams(makeLayout(spec), 'float32');
    p32.data.set(p64.data);
    const batch = randomBatch(spec, LENGTHS, 71 + E, T_PAD);
    const bytes = exportOnnx(modelOf(spec, p32));
    const { probs } = await runOrt(bytes, batch);
    const ours = new Float64Array(batch.T * batch.B * spec.C);
    for (const p of [p32, p64]) {
      const ws = allocWorkspace(spec, batch.B, batch.T, p === p32 ? 'float32' : 'float64');
      forward(p, ws, batch);
      // The full softmax leaves probabilities in ws.P; the projection head gives log-probabilities.
      if (ws.head) {
        ws.head.logProbs(p, ws.A, batch.B * H, batch.T * batch.B, ours, 0);
        for (let i = 0; i < ours.length; i++) ours[i] = Math.exp(ours[i]);
      } else ours.set(ws.P.subarray(0, ours.length));
      const d = maxDiff('many-to-many', probs, ours, batch, spec.C);
      t.ok(d < 1e-5, `vs our ${p === p32 ? 'float32' : 'float64'} forward: max |difference| ${d.toExponential(2)}`);
    }
    const inits = (await import('../src/export/pb/onnx.js')).onnx.ModelProto.decode(bytes).graph!.initializer.map((x) => x.name);
    t.equal(inits.filter((n) => n === 'embedding').length, 1, 'the table is stored once');
    t.notOk(inits.includes('Wya_t'), 'no separate output weight');
    t.equal(inits.includes('Wproj_t'), E !== H, 'the projection exactly when E ≠ H');
  });
}

t.test('largest differences over all cells, tasks, inputs and layer counts', async (t) => {
  t.comment(`ORT vs our float32 forward: ${worst.f32.toExponential(2)}; vs float64: ${worst.f64.toExponential(2)}`);
  t.ok(worst.f32 < 1e-5 && worst.f64 < 1e-5);
});

t.test('gate order: PyTorch\'s blocks to ONNX\'s', async (t) => {
  t.same(onnxGateOrder('rnn'), [0]);
  t.same(onnxGateOrder('lstm'), [0, 3, 1, 2], 'LSTM i,f,g,o -> i,o,f,c');
  t.same(onnxGateOrder('gru'), [1, 0, 2], 'GRU r,z,n -> z,r,h');
});

t.test('the file: opset, inputs, outputs, metadata', async (t) => {
  const spec: ModelSpec = { cell: 'gru', task: 'many-to-one', V: 9, H: 4, C: 2, E: 0, layers: 2 };
  const m = modelOf(spec, randomParams(spec, 5, 'float32'));
  const bytes = exportOnnx(m, { metadata: { checkpoint: 'x.ckpt', step: '12' } });
  const session = await ort.InferenceSession.create(bytes);
  t.same(session.inputNames, ['tokens', 'lengths']);
  t.same(session.outputNames, ['probabilities']);
  await session.release();

  const md = readOnnxMetadata(bytes);
  t.equal(md.task, 'many-to-one');
  t.same(JSON.parse(md.vocab), m.vocab);
  t.same(JSON.parse(md.labels), m.labelNames);
  t.same(JSON.parse(md.tokenizer), TOKENIZER);
  t.same(JSON.parse(md.special_tokens), { pad: 0, unk: 1, bos: 2, eos: 3 });
  t.same(JSON.parse(md.model), { cell: 'gru', layers: 2, hidden: 4, vocab_size: 9, classes: 2, embedding: 0 });
  t.equal(md.word_pattern, WORD_PATTERN);
  t.match(md.encoding, /NFC/);
  t.equal(md.checkpoint, 'x.ckpt');
  t.equal(md.step, '12');
  t.throws(() => exportOnnx(m, { metadata: { vocab: 'x' } }), /exporter's own/, 'extra metadata cannot replace the exporter\'s keys');

  const lm: ModelSpec = { cell: 'rnn', task: 'many-to-many', V: 9, H: 4, C: 9, E: 3 };
  const lmd = readOnnxMetadata(exportOnnx(modelOf(lm, randomParams(lm, 5, 'float32'))));
  t.notOk('labels' in lmd, 'a language model has no labels');
  t.match(lmd.outputs, /batch, time, vocab/);

  // The opset and IR version, read back with the generated decoder.
  const { onnx } = await import('../src/export/pb/onnx.js');
  const model = onnx.ModelProto.decode(bytes);
  t.same(model.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', ONNX_OPSET]]);
  t.equal(Number(model.irVersion), 7);
  t.equal(model.producerName, 'rnn-trainer');
  const ops = model.graph!.node!.map((n) => n.opType);
  t.same(ops.filter((o) => o === 'GRU').length, 2, 'one GRU operator per layer');
  const gru = model.graph!.node!.find((n) => n.opType === 'GRU')!;
  t.same(gru.attribute!.filter((a) => a.name === 'linear_before_reset').map((a) => Number(a.i)), [1], 'GRU with linear_before_reset = 1');
  t.same(gru.input!.slice(4), ['lengths'], 'sequence_lens = lengths');
});

// The encoding a consumer writes from the metadata alone (the README's, in JavaScript).
function encodeFromMetadata(md: Record<string, string>, text: string): number[] {
  const vocab = JSON.parse(md.vocab) as string[], tok = JSON.parse(md.tokenizer);
  const ids = new Map(vocab.map((v, i) => [v, i] as const).slice(4));
  let s = text.normalize('NFC').replace(/\r\n?/g, '\n');
  if (tok.lowercase) s = s.toLowerCase();
  let toks = (tok.kind === 'char' ? [...s] : s.match(new RegExp(md.word_pattern, 'gu')) ?? []).map((x) => ids.get(x) ?? 1);
  const keep = tok.maxLength > 0 ? tok.maxLength - tok.bos - tok.eos : Infinity;
  if (toks.length > keep) toks = tok.truncate === 'end' ? toks.slice(toks.length - keep) : toks.slice(0, keep);
  if (tok.reverse) toks.reverse();
  return [...(tok.bos ? [2] : []), ...toks, ...(tok.eos ? [3] : [])];
}

t.test('the metadata is enough to encode text exactly as training does', async (t) => {
  const texts = [
    'Hello, World! It\'s O\u2019Brien\'s 3rd café\r\nline two\rthree', 'Cafe\u0301 \u00a0non\u2009breaking\u3000space \ufeffbom',
    'tabs\tand\u000bvertical\fforms', '\u{1F600} emoji and \u{20BB7} astral', '  ', 'ÅNGSTRÖM straße ΟΔΟΣ İstanbul', '<s> </s> <unk> <pad>',
    'a-b_c.d...e—f "quoted" (paren) [x]{y}', 'x'.repeat(50) + ' end words here',
  ];
  t.test('word_pattern splits as the word tokenizer does', async (t) => {
    const re = new RegExp(WORD_PATTERN, 'gu');
    for (const text of texts) {
      const norm = text.normalize('NFC');
      t.same(norm.match(re) ?? [], tokenize(text, { kind: 'word', lowercase: false }), JSON.stringify(text));
    }
  });
  const words = [...new Set(texts.flatMap((x) => tokenize(x, { kind: 'word', lowercase: true })))].slice(0, 20);
  const chars = [...new Set(texts.flatMap((x) => tokenize(x, { kind: 'char', lowercase: false })))].slice(0, 30);
  for (const kind of ['char', 'word'] as const) {
    for (const [maxLength, truncate, reverse, bos, eos, lowercase] of [
      [0, 'start', false, true, true, true], [6, 'start', false, true, true, false], [6, 'end', false, false, true, true],
      [5, 'end', true, true, false, true], [3, 'start', true, false, false, false], [12, 'end', false, true, true, true],
    ] as const) {
      const tokenizer: TokenizerSpec = { kind, lowercase, bos, eos, maxLength, truncate, reverse };
      const vocab = [...SPECIALS, ...(kind === 'char' ? chars : words)];
      const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: vocab.length, H: 2, C: 2, E: 0 };
      const md = readOnnxMetadata(exportOnnx({ spec, params: randomParams(spec, 1, 'float32'), vocab, labelNames: ['a', 'b'], tokenizer }));
      const same = texts.every((text) => JSON.stringify(encodeFromMetadata(md, text)) === JSON.stringify(Array.from(encodeText(text, tokenizer, { tokens: vocab }))));
      t.ok(same, `${JSON.stringify(tokenizer)}: the same ids as encodeText`);
    }
  }
});

t.test('a model the file cannot reproduce is refused, naming the feature', async (t) => {
  const spec: ModelSpec = { cell: 'lstm', task: 'many-to-one', V: 9, H: 4, C: 2, E: 3 };
  const good = modelOf(spec, randomParams(spec, 2, 'float32'));
  t.doesNotThrow(() => checkExportable(good));
  const refused = (m: ExportableModel, re: RegExp, what: string) => {
    try {
      exportOnnx(m);
      t.fail(`${what}: exported`);
    } catch (e) {
      t.ok(e instanceof ExportError && e.exitCode === 2, `${what}: an ExportError, exit code 2`);
      t.match((e as Error).message, re, `${what}: ${(e as Error).message}`);
    }
  };
  refused({ ...good, spec: { ...spec, cell: 'indrnn' as ModelSpec['cell'] } }, /cell is "indrnn".*RNN, LSTM, GRU/, 'a cell ONNX has no operator for');
  refused({ ...good, spec: { ...spec, attention: 'dot' } as ModelSpec }, /spec has a field "attention" \(= "dot"\)/, 'a model-spec field the exporter does not know');
  refused({ ...good, tokenizer: { ...TOKENIZER, kind: 'unigram' as 'char' } }, /tokenizer kind is "unigram"/, 'a tokenizer the metadata cannot describe');
  refused({ ...good, tokenizer: { ...TOKENIZER, stripAccents: true } as TokenizerSpec }, /tokenizer has a setting "stripAccents"/, 'a tokenizer setting the metadata does not describe');
  const lm: ModelSpec = { cell: 'lstm', task: 'many-to-many', V: 9, H: 8, C: 9, E: 3, adaptive: { cutoffs: [5], divValue: 4, headBias: false } };
  refused(modelOf(lm, randomParams(lm, 2, 'float32')), /output layer is an adaptive softmax \(model\.adaptiveSoftmax\); ONNX has no operator for it/, 'the adaptive softmax');
  refused({ ...good, vocab: good.vocab.slice(1) }, /vocabulary has 8 tokens, the model spec says V=9/, 'a vocabulary of the wrong size');
});

t.test('node dist/export.js', async (t) => {
  const d = t.testdir({});
  const ckpt = train(join(ROOT, 'configs', 'small.json'), d, 'names-small', ['--max-steps', '30']).ckpt;

  t.test('a trained checkpoint, end to end', async (t) => {
    const out = join(d, 'names.onnx');
    const r = node('export', ['--checkpoint', ckpt, '--out', out]);
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /^wrote .*names\.onnx .*ONNX opset 14.*rnn × 1 layer, many-to-one/);
    t.match(r.stdout, /probabilities \(batch, 2\): female, male/);

    // ORT on the file against predict.js on the checkpoint, for texts encoded from the metadata.
    const bytes = readFileSync(out);
    const md = readOnnxMetadata(bytes);
    t.equal(md.checkpoint, 'step-000000030.ckpt');
    t.equal(md.step, '30');
    const texts = ['Maria', 'John', 'Alex', 'Zoë-Anne', 'Christopher-Alexander'];
    const seqs = texts.map((x) => encodeFromMetadata(md, x));
    const B = seqs.length, T = Math.max(...seqs.map((s) => s.length));
    const tokens = new Int32Array(B * T);
    seqs.forEach((s, i) => tokens.set(s, i * T));
    const { probs } = await runOrt(bytes, { B, T, tokens, lengths: Int32Array.from(seqs, (s) => s.length) } as Batch);
    const p = node('predict', ['--checkpoint', ckpt, ...texts.flatMap((x) => ['--text', x])]);
    t.equal(p.status, 0, p.stderr);
    const predicted = p.stdout.trim().split('\n').map((l) => JSON.parse(l));
    let d32 = 0;
    predicted.forEach((row, i) => ['female', 'male'].forEach((label, c) => (d32 = Math.max(d32, Math.abs(row.probs[label] - probs[i * 2 + c])))));
    t.ok(d32 < 1e-5, `predict.js vs ORT: max |difference| ${d32.toExponential(2)} (predict.js rounds to 6 digits)`);

    // The README's onnxruntime-node example, run as written on this file.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Export to ONNX'));
    const example = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    if (!example) {
      t.fail('README: no ```js example in the section "Export to ONNX"');
    } else {
      // In the project (under .tap/), so that its imports resolve to the project's node_modules.
      writeFileSync(join(d, 'example.mjs'), example);
      const run = spawnSync(process.execPath, ['example.mjs'], { cwd: d, encoding: 'utf8' });
      t.equal(run.status, 0, run.stderr);
      const lines = run.stdout.trim().split('\n').map((line) => /^(\S+) (\S+) (\{.*\})$/.exec(line));
      t.ok(lines.length >= 3 && lines.every((m) => m !== null), `one line per text: text, label, probabilities (${run.stdout})`);
      const texts = lines.map((m) => m![1]);
      const refs = node('predict', ['--checkpoint', ckpt, ...texts.flatMap((x) => ['--text', x])]).stdout.trim().split('\n').map((l) => JSON.parse(l));
      for (const [i, m] of lines.entries()) {
        if (!m) continue;
        const ref = refs[i];
        const got = JSON.parse(m[3]);
        t.equal(m[2], ref.label, `${m[1]}: the README example's label is predict.js's`);
        t.ok(Math.abs(got.female - ref.probs.female) < 1e-4, `${m[1]}: female ${got.female} ≈ ${ref.probs.female}`);
      }
    }
  });

  t.test('errors name the problem, exit 2 (the input is wrong, an unreadable checkpoint too), no stack trace', async (t) => {
    // A checkpoint whose tokenizer the metadata cannot describe (as a newer rnn-trainer might write).
    const c = readCheckpoint(ckpt);
    const bpe = join(d, 'unigram.ckpt');
    writeCheckpointAtomic(bpe, { ...c, tokenizer: JSON.stringify({ ...JSON.parse(c.tokenizer), kind: 'unigram' }) });
    t.equal(loadModel(bpe).tokenizer.kind, 'unigram', 'the checkpoint itself loads');
    const out = join(d, 'unigram.onnx');
    const r = node('export', ['--checkpoint', bpe, '--out', out]);
    t.equal(r.status, 2);
    t.match(r.stderr, /^error: cannot export to ONNX: the tokenizer kind is "unigram"/);
    t.ok(noStack(r.stderr), 'no stack trace');
    t.notOk(existsSync(out), 'no file written');

    const cases: Array<[string[], number, RegExp]> = [
      [['--checkpoint', ckpt], 2, /missing --out FILE/],
      [['--checkpoint', ckpt, '--out', join(d, 'no', 'such', 'dir', 'm.onnx')], 2, /the folder .*no\/such\/dir does not exist/],
      [['--checkpoint', ckpt, '--out', d], 2, /is a folder; give the path of the file/],
      [['--checkpoint', ckpt, '--out', ckpt], 2, /is the checkpoint itself/],
      [['--checkpoint', join(d, 'missing.ckpt'), '--out', join(d, 'm.onnx')], 2, /missing\.ckpt: cannot be read/],
      [['--checkpoint', ckpt, '--out', join(d, 'm.onnx'), '--opset', '13'], 2, /unknown option --opset/],
    ];
    for (const [args, status, re] of cases) {
      const x = node('export', args);
      t.equal(x.status, status, `${args.join(' ').replaceAll(d, 'DIR')}: exit ${status}`);
      t.match(x.stderr, re);
      t.ok(noStack(x.stderr), 'no stack trace');
    }
    const h = node('export', ['--help']);
    t.equal(h.status, 0);
    t.match(h.stdout, /Usage: export\.js --checkpoint FILE --out FILE/);
    t.match(h.stdout, /Examples:/);
  });
});
