// data.tokenizer "bpe" end to end: a tiny language model and a tiny classifier train from memory
// and from files (the same checkpoint bits either way), the checkpoint keeps the merges
// and encodes as training did, predict/generate give text, eval works, the ONNX metadata holds the
// merges and is enough for an independent encoder. Worker threads load dist/: needs `npm run build`.

import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { train, Model, type Example } from '../src/index.js';
import { readCheckpoint, writeCheckpointAtomic } from '../src/checkpoint/index.js';
import { loadModel } from '../src/infer/model.js';
import { encodeText } from '../src/data/index.js';
import { FIRST_MERGE } from '../src/data/bpe.js';
import { exportOnnx, readOnnxMetadata } from '../src/export/onnx.js';
import { splitFromConfig } from '../src/infer/evaluate.js';
import { ROOT, node, lmText, noStack } from './helpers/cli.js';

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'workers', 'shard.js'))) throw new Error('dist/workers/shard.js is missing: run `npm run build` first');
});

const bits = (c: ReturnType<typeof readCheckpoint>) => c.params.map((p) => Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).toString('base64'));

const DOCS = lmText(120).trim().split('\n\n');
const LM = {
  name: 'bpe-lm', seed: 3,
  data: { tokenizer: 'bpe' as const, vocab: { maxSize: 300 }, split: { val: 0.2, test: 0.2 }, seqLength: 12, bos: true, eos: true },
  model: { task: 'many-to-many' as const, hidden: 16, input: { embedding: 8 } },
  train: { optimizer: 'adam' as const, lr: 0.02, epochs: 2, batchSize: 8, maxSteps: 30, workers: 2, kernels: 'js' as const, logEvery: 50 },
  checkpoint: { every: 0, keepLast: 1 },
};

t.test('a language model with BPE tokens: memory = text file, the checkpoint, generate, eval, export', async (t) => {
  const dir = t.testdir({});
  writeFileSync(join(dir, 'docs.txt'), DOCS.join('\n\n') + '\n');
  const mem = await train({ config: LM, data: DOCS, baseDir: dir });
  const file = await train({ config: { ...LM, name: 'bpe-lm-file', data: { ...LM.data, source: 'files' as const, file: 'docs.txt' } }, baseDir: dir });
  const a = readCheckpoint(mem.lastCheckpoint!), b = readCheckpoint(file.lastCheckpoint!);
  t.same(a.vocab, b.vocab, 'the same vocabulary from memory and from the file');
  t.equal(a.tokenizer, b.tokenizer, 'the same merges');
  t.same(bits(a), bits(b), 'bit-identical parameters');

  const tok = JSON.parse(a.tokenizer);
  t.equal(tok.kind, 'bpe');
  t.ok(tok.merges.length > 10 && tok.merges.length <= 300 - FIRST_MERGE, `${tok.merges.length} merges within data.vocab.maxSize`);
  t.equal(a.vocab.length, FIRST_MERGE + tok.merges.length);
  t.equal(a.spec.V, a.vocab.length, 'V is the BPE vocabulary');
  t.ok(a.vocab.includes('Ġthe'), 'a frequent word with its leading space is one token');
  t.equal(mem.test!.accuracy >= 0, true);

  // The loaded model encodes as training did: the training text's ids come out of the checkpoint's tokenizer.
  const m = Model.load(mem.lastCheckpoint!);
  const ids = encodeText(DOCS[0], m.tokenizer, { tokens: m.vocab });
  t.ok(ids.length < DOCS[0].length / 2, `fewer tokens than characters (${ids.length} for ${DOCS[0].length})`);
  t.ok(!ids.includes(1), 'no <unk>');
  const out = m.generate('the cat', { length: 20, seed: 4 });
  t.ok(out.startsWith('the cat') && out.length > 'the cat'.length, `generate returns text: ${JSON.stringify(out)}`);
  t.equal(m.generate('the cat', { length: 20, seed: 4 }), out, 'same seed, same text');
  const saved = m.save(join(dir, 'copy.ckpt'));
  t.equal(Model.load(saved).generate('the cat', { length: 20, seed: 4 }), out, 'a saved and loaded model generates the same');
  const ev = await m.evaluate({ file: join(dir, 'docs.txt') }, { workers: 2, kernels: 'js' });
  t.ok(Number.isFinite(ev.loss) && ev.count > 0, `evaluate: loss ${ev.loss} over ${ev.count} tokens`);

  // The commands: predict --generate and eval.
  const g = node('predict', ['--checkpoint', mem.lastCheckpoint!, '--generate', '15', '--prompt', 'a bird 😀', '--json']);
  t.equal(g.status, 0, g.stderr);
  const gj = JSON.parse(g.stdout);
  t.ok(gj.text.startsWith('a bird 😀'), `predict --generate: the prompt (with an emoji never seen in training) comes back: ${JSON.stringify(gj.text)}`);
  t.equal(g.stderr, '', 'no out-of-vocabulary warning: bytes are never unknown');
  const e = node('eval', ['--checkpoint', mem.lastCheckpoint!, '--data', join(dir, 'docs.txt'), '--workers', '2']);
  t.equal(e.status, 0, e.stderr);

  // ONNX: the metadata holds the merges and the algorithm; an encoder written from it alone agrees.
  const md = readOnnxMetadata(exportOnnx(m));
  t.same(JSON.parse(md.bpe_merges), tok.merges, 'the merges, in rank order');
  t.same(JSON.parse(md.vocab), m.vocab);
  t.match(md.bpe_algorithm, /lowest rank/);
  t.match(md.encoding, /"bpe": token ids by bpe_algorithm/);
  t.notOk('merges' in JSON.parse(md.tokenizer), 'the tokenizer settings without the merges (they have their own key)');
  for (const text of [DOCS[1], 'The Cat sat, on 3 mats! 😀 café\r\nnew line', '  spaces  and\ttabs ']) {
    t.same(encodeFromMetadata(md, text), Array.from(encodeText(text, { ...m.tokenizer, eos: false }, { tokens: m.vocab })), `metadata encoder: ${JSON.stringify(text)}`);
  }

  // eval --split rebuilds the data and checks the merges are the checkpoint's.
  const fm = loadModel(file.lastCheckpoint!);
  t.ok(splitFromConfig(fm, 'test', dir).count > 0, 'the test split of the config\'s data, rebuilt with the same merges');
  const other = { ...fm, tokenizer: { ...fm.tokenizer, merges: fm.tokenizer.merges!.map((l, k) => (k === 7 ? 'a b' : l)) } };
  t.throws(() => splitFromConfig(other, 'test', dir), /BPE merges: \d+ in the checkpoint, \d+ built; first difference at merge 7: "a b" vs /);

  // A damaged checkpoint (a vocabulary string that the merges do not make) is refused with its name.
  const bad = join(dir, 'bad.ckpt');
  writeCheckpointAtomic(bad, { ...a, vocab: a.vocab.map((v, i) => (i === FIRST_MERGE ? v + 'x' : v)) });
  t.throws(() => loadModel(bad), /bad\.ckpt: BPE vocabulary id 260 is .*its merges make/);
  const p = node('predict', ['--checkpoint', bad, '--generate', '3', '--prompt', 'a']);
  t.equal(p.status, 2);
  t.ok(noStack(p.stderr), 'no stack trace');
});

/** Byte-level BPE from the ONNX metadata alone, written from its description (no src/data/bpe.ts). */
function encodeFromMetadata(md: Record<string, string>, text: string): number[] {
  const tok = JSON.parse(md.tokenizer), byteMap = JSON.parse(md.bpe_byte_map) as string[];
  const merges = (JSON.parse(md.bpe_merges) as string[]).map((l) => l.split(' '));
  const vocab = JSON.parse(md.vocab) as string[];
  const id = new Map(vocab.map((v, i) => [v, i] as const).slice(4));
  const rank = new Map(merges.map(([l, r], k) => [`${id.get(l)} ${id.get(r)}`, k]));
  let s = text.normalize('NFC').replace(/\r\n?/g, '\n');
  if (tok.lowercase) s = s.toLowerCase();
  const out: number[] = tok.bos ? [2] : [];
  for (const w of s.match(new RegExp(md.bpe_pattern, 'gu')) ?? []) {
    let syms = [...Buffer.from(w, 'utf8')].map((b) => id.get(byteMap[b])!);
    for (;;) {
      let best = Infinity;
      for (let i = 0; i + 1 < syms.length; i++) best = Math.min(best, rank.get(`${syms[i]} ${syms[i + 1]}`) ?? Infinity);
      if (best === Infinity) break;
      const [l, r] = merges[best], z = id.get(l + r)!, next: number[] = [];
      for (let i = 0; i < syms.length;) {
        if (i + 1 < syms.length && `${syms[i]} ${syms[i + 1]}` === `${id.get(l)} ${id.get(r)}`) { next.push(z); i += 2; } else next.push(syms[i++]);
      }
      syms = next;
    }
    out.push(...syms);
  }
  return out;
}

/** Reviews: the label says whether a review is "pos" or "neg" by its words. */
function reviews(n: number, seed: number): Example[] {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const pos = ['wonderful', 'excellent', 'lovely', 'great'], neg = ['terrible', 'awful', 'boring', 'dreadful'], filler = ['the', 'film', 'was', 'and', 'plot', 'acting', 'really'];
  return Array.from({ length: n }, () => {
    const label = rand() < 0.5 ? 'pos' : 'neg';
    const words = Array.from({ length: 4 + Math.floor(rand() * 4) }, () => filler[Math.floor(rand() * filler.length)]);
    words.splice(Math.floor(rand() * words.length), 0, (label === 'pos' ? pos : neg)[Math.floor(rand() * 4)]);
    return { text: words.join(' '), label };
  });
}

t.test('a classifier with BPE tokens: memory = JSON Lines files, classify, predict, truncation', async (t) => {
  const dir = t.testdir({});
  const data = { train: reviews(200, 1), val: reviews(40, 2), test: reviews(40, 3) };
  for (const s of ['train', 'val', 'test'] as const) writeFileSync(join(dir, `${s}.jsonl`), data[s].map((e) => JSON.stringify(e)).join('\n') + '\n');
  const cfg = {
    name: 'bpe-cls', seed: 2,
    data: { tokenizer: 'bpe' as const, vocab: { maxSize: 320 }, maxLength: 12, truncate: 'end' as const },
    model: { task: 'many-to-one' as const, hidden: 16, input: { embedding: 8 } },
    train: { epochs: 8, batchSize: 16, lr: 0.05, workers: 2, kernels: 'js' as const, logEvery: 50 },
    checkpoint: { every: 0, keepLast: 1 },
  };
  const mem = await train({ config: cfg, data, baseDir: dir });
  const files = await train({ config: { ...cfg, name: 'bpe-cls-files', data: { ...cfg.data, source: 'files' as const, train: 'train.jsonl', val: 'val.jsonl', test: 'test.jsonl' } }, baseDir: dir });
  const a = readCheckpoint(mem.lastCheckpoint!), b = readCheckpoint(files.lastCheckpoint!);
  t.same([a.vocab, a.tokenizer], [b.vocab, b.tokenizer], 'the same vocabulary and merges');
  t.same(bits(a), bits(b), 'bit-identical parameters');
  t.ok(a.vocab.includes('Ġwonderful') || a.vocab.includes('Ġexcellent'), 'whole frequent words became tokens');
  t.ok(mem.test!.accuracy > 0.75, `it learned: test accuracy ${mem.test!.accuracy}`);
  const m = mem.model;
  t.same(m.classify(['the film was wonderful and lovely', 'an awful and dreadful plot']).map((p) => p.label), ['pos', 'neg']);
  const r = node('predict', ['--checkpoint', mem.lastCheckpoint!, '--text', 'really excellent acting', '--text', 'ünïcödé 漢字 never seen']);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout.trim().split('\n').length, 2, 'a prediction per text');
  t.equal(r.stderr, '', 'no unknown-token warning');
});
