// Token shards (src/data/shards.ts, prepare.ts): the streamed prepare gives the examples, ids,
// vocabulary and labels loadDataset gives in memory, read back through the batch window; the
// format round-trips; every kind of damaged shard folder is refused with one line naming the file.

import t from 'tap';
import { readFileSync, writeFileSync, truncateSync, copyFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset, epochPlan, streamPlan, fillBatch, type Dataset, type SplitName } from '../src/data/index.js';
import { wholeSplit } from './helpers/shards.js';
import { prepareData, writeDataset, preparedSettings } from '../src/data/prepare.js';
import { readShardIndex, shardDataset, shardWindow, closeShards, INDEX_FILE, META_FILE, shardFileName, SHARD_HEADER, INDEX_HEADER, SHARD_ENTRY } from '../src/data/shards.js';
import { withDataDefaults } from '../src/data/defaults.js';
import { allocBatch } from '../src/model/batch.js';
import type { DataConfig } from '../src/config/types.js';
import { DataError, ConfigError } from '../src/util/errors.js';
import { crc32c } from '../src/util/crc32c.js';

const SPLITS: SplitName[] = ['train', 'val', 'test'];

const whole = (d: Dataset, s: SplitName) => wholeSplit(d, d.splits[s]);
const examples = (d: Dataset, s: SplitName) => whole(d, s).tokens;

/** Element-wise equality (tap's deep compare is slow on long arrays). */
const equal = (a: ArrayLike<unknown>, b: ArrayLike<unknown>) => a.length === b.length && Array.prototype.every.call(a, (x, i) => x === b[i]);

function sameData(t: Tap.Test, a: Dataset, b: Dataset, what: string): void {
  t.same(b.vocab.tokens, a.vocab.tokens, `${what}: vocabulary`);
  t.same(b.labelNames, a.labelNames, `${what}: labels`);
  t.same(b.tokenizer, a.tokenizer, `${what}: tokenizer`);
  for (const s of SPLITS) {
    const x = a.splits[s], y = b.splits[s];
    t.ok(x.count > 0 || s !== 'train', `${what}: ${s} has examples`);
    t.equal(y.count, x.count, `${what}: ${s} count`);
    const wa = whole(a, s), wb = whole(b, s);
    t.ok(equal(wb.lengths, wa.lengths) && equal(wb.labels, wa.labels), `${what}: ${s} lengths and labels`);
    t.ok(equal(wb.tokens, wa.tokens), `${what}: ${s} tokens`);
    if (a.task === 'many-to-many') t.ok(equal(wb.cont, wa.cont), `${what}: ${s} document boundaries`);
  }
}

function words(rnd: () => number, n: number): string {
  const w = ['the', 'whale', 'sea', 'ship', 'Ahab', 'naïve', 'café', '😀', 'o\'clock', 'x,y', 'say "hi"', 'Ünïcödé'];
  return Array.from({ length: n }, () => w[Math.floor(rnd() * w.length)]).join(' ');
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** Files of every format, with multi-line CSV fields, CRLF, a BOM and multi-byte text at block edges. */
function corpus(dir: string): void {
  const r = rng(7);
  const rows = Array.from({ length: 400 }, (_, i) => ({ text: words(r, 1 + Math.floor(r() * 30)) + (i % 7 === 0 ? '\nsecond line' : ''), label: ['a', 'b', 'c'][i % 3], id: i % 11 === 0 ? `r${i}` : undefined }));
  writeFileSync(join(dir, 'd.jsonl'), '\ufeff' + rows.map((x) => JSON.stringify(x)).join('\r\n') + '\n\n');
  writeFileSync(join(dir, 'd.csv'), 'id,text,label\n' + rows.map((x) => `${x.id ?? ''},${csvField(x.text)},${x.label}`).join('\n') + '\n');
  writeFileSync(join(dir, 'd.tsv'), 'text\tlabel\n' + rows.map((x) => `${x.text.replace(/\n/g, ' ')}\t${x.label}`).join('\n') + '\n');
  const paras = Array.from({ length: 300 }, () => Array.from({ length: 1 + Math.floor(r() * 3) }, () => words(r, 1 + Math.floor(r() * 12))).join('\n'));
  writeFileSync(join(dir, 'd.txt'), paras.join('\n\n   \n') + '\n');
  writeFileSync(join(dir, 'a.txt'), paras.slice(0, 200).join('\n\n'));
  writeFileSync(join(dir, 'b.txt'), paras.slice(200, 250).join('\n\n'));
  writeFileSync(join(dir, 'c.txt'), paras.slice(250).join('\n\n'));
}

const cases: { name: string; task: 'many-to-one' | 'many-to-many'; data: DataConfig }[] = [
  { name: 'jsonl, char', task: 'many-to-one', data: { source: 'files', file: 'd.jsonl', maxLength: 40, bos: true, eos: true, truncate: 'end' } },
  { name: 'csv, word, reverse, lowercase, sample', task: 'many-to-one', data: { source: 'files', file: 'd.csv', tokenizer: 'word', lowercase: true, reverse: true, maxLength: 9, sample: 0.7 } },
  { name: 'tsv, word, vocab.maxSize', task: 'many-to-one', data: { source: 'files', file: 'd.tsv', tokenizer: 'word', vocab: { maxSize: 8, minFreq: 1 } } },
  { name: 'text, char', task: 'many-to-many', data: { source: 'files', file: 'd.txt', seqLength: 7, eos: true } },
  { name: 'text, word, separate files', task: 'many-to-many', data: { source: 'files', train: 'a.txt', val: 'b.txt', test: 'c.txt', tokenizer: 'word', seqLength: 5 } },
  { name: 'text, bpe', task: 'many-to-many', data: { source: 'files', file: 'd.txt', tokenizer: 'bpe', vocab: { maxSize: 300, minFreq: 1 }, seqLength: 9 } },
  { name: 'jsonl, bpe, maxLength', task: 'many-to-one', data: { source: 'files', file: 'd.jsonl', tokenizer: 'bpe', vocab: { maxSize: 280, minFreq: 1 }, maxLength: 12, truncate: 'end' } },
];

t.test('prepare (streamed, tiny blocks) = loadDataset in memory, read back through the window', async (t) => {
  const dir = t.testdir({});
  corpus(dir);
  for (const [ci, c] of cases.entries()) {
    for (const workers of ci % 2 === 0 ? [1, 2] : [1]) {
      const out = join(dir, `out-${c.name.replace(/\W+/g, '-')}-${workers}`);
      await prepareData(c.data, { configDir: dir, task: c.task, out, workers, blockBytes: workers === 1 ? 97 : 4096, shardTokens: 500 });
      const mem = loadDataset(c.data, { configDir: dir, task: c.task });
      const sh = loadDataset({ ...c.data, shards: out }, { configDir: dir, task: c.task });
      sameData(t, mem, sh, `${c.name}, ${workers} thread${workers > 1 ? 's' : ''}`);
      t.ok(readShardIndex(out).shards.length > 3, `${c.name}: several shard files`);
      closeShards(sh);
    }
  }
});

t.test('a built-in corpus and writeDataset round-trip', async (t) => {
  const dir = t.testdir({});
  for (const [task, data] of [['many-to-one', { source: 'names', maxLength: 12, eos: true }], ['many-to-many', { source: 'moby-dick', sample: 0.3, seqLength: 50 }]] as const) {
    const out = join(dir, data.source);
    const r = await prepareData(data as DataConfig, { configDir: dir, task, out });
    const mem = loadDataset(data as DataConfig, { configDir: dir, task });
    const sh = loadDataset({ ...(data as DataConfig), shards: out }, { configDir: dir, task });
    sameData(t, mem, sh, data.source);
    t.equal(r.meta.report.vocabSize, mem.vocab.tokens.length, 'the report says the vocabulary size');
    // Chunking is done when read: another seqLength reads the same documents, cut otherwise.
    if (task === 'many-to-many') {
      const mem9 = loadDataset({ ...(data as DataConfig), seqLength: 9 }, { configDir: dir, task });
      const sh9 = shardDataset(readShardIndex(out), 9);
      sameData(t, mem9, sh9, `${data.source}, seqLength 9 at read time`);
    }
  }
  // A vocabulary too large for uint16: uint32 tokens.
  const big = loadDataset({ source: 'names', maxLength: 12 }, { configDir: dir, task: 'many-to-one' });
  const wide = { ...big, vocab: { tokens: [...big.vocab.tokens, ...Array.from({ length: 70000 }, (_, i) => `t${i}`)] } };
  const out = join(dir, 'wide');
  writeDataset(wide, preparedSettings(withDataDefaults({ source: 'names', maxLength: 12 }), 'many-to-one'), out);
  const idx = readShardIndex(out);
  t.equal(idx.dtype, 4, 'uint32 tokens past 65,536 ids');
  t.ok(equal(examples(shardDataset(idx, 64), 'train'), examples(big, 'train')), 'uint32 shards read back');
});

t.test('batches from shards are the in-memory batches, bit for bit (epochPlan, streamPlan, fillBatch)', async (t) => {
  const dir = t.testdir({});
  corpus(dir);
  for (const c of [cases[0], cases[3]]) {
    const out = join(dir, 'out');
    await prepareData(c.data, { configDir: dir, task: c.task, out, workers: 1 });
    const mem = loadDataset(c.data, { configDir: dir, task: c.task });
    const sh = loadDataset({ ...c.data, shards: out }, { configDir: dir, task: c.task });
    const B = 8;
    for (const planOf of c.task === 'many-to-many' ? [epochPlan, streamPlan] : [epochPlan]) {
      for (const epoch of [0, 3]) {
        const pa = planOf(mem.splits.train, { batchSize: B, seed: 5, epoch });
        const pb = planOf(sh.splits.train, { batchSize: B, seed: 5, epoch });
        t.same(Array.from(pb.order), Array.from(pa.order), `${c.name}, ${planOf.name} epoch ${epoch}: same order`);
        t.same(Array.from(pb.batchStarts), Array.from(pa.batchStarts), 'same batches');
        const T = Math.max(...mem.splits.train.lengths);
        const ba = allocBatch(B, T), bb = allocBatch(B, T);
        shardWindow(sh.splits.train)!.reserve(B * (T + 1));
        let same = true;
        for (let k = 0; k + 1 < pa.batchStarts.length; k++) {
          const off = pa.batchStarts[k], n = pa.batchStarts[k + 1] - off;
          fillBatch(mem.splits.train, c.task, pa.order, off, n, ba);
          shardWindow(sh.splits.train)!.load(pb.order.subarray(off, off + n));
          fillBatch(sh.splits.train, c.task, pb.order, off, n, bb);
          same &&= ba.B === bb.B && ba.T === bb.T && ba.tokens.every((x, i) => x === bb.tokens[i]) && ba.targets.every((x, i) => x === bb.targets[i])
            && ba.labels.every((x, i) => x === bb.labels[i]) && ba.lengths.every((x, i) => x === bb.lengths[i]) && ba.ids.every((x, i) => x === bb.ids[i]);
        }
        t.ok(same, 'every filled batch is identical');
      }
    }
  }
});

t.test('training from shards needs the settings they were prepared with', async (t) => {
  const dir = t.testdir({});
  corpus(dir);
  const out = join(dir, 'out');
  await prepareData(cases[3].data, { configDir: dir, task: 'many-to-many', out, workers: 1 });
  t.throws(() => loadDataset({ ...cases[3].data, shards: 'out', tokenizer: 'word' }, { configDir: dir, task: 'many-to-many' }), { name: 'ConfigError', message: /out was prepared with the tokenizer fields .* prepare again/ });
  t.throws(() => loadDataset({ ...cases[3].data, shards: 'nowhere' }, { configDir: dir, task: 'many-to-many' }), { name: 'DataError', message: /data.shards: \S*nowhere does not exist/ });
  t.ok(ConfigError && DataError);
});

// ---------------------------------------------------------------- hostile shard folders

t.test('damaged shard folders: one line naming the file, DataError (exit 2)', async (t) => {
  const dir = t.testdir({});
  corpus(dir);
  const good = join(dir, 'good');
  await prepareData(cases[0].data, { configDir: dir, task: 'many-to-one', out: good, workers: 1, shardTokens: 3000 });
  const other = join(dir, 'other');
  await prepareData({ ...cases[0].data, maxLength: 30 }, { configDir: dir, task: 'many-to-one', out: other, workers: 1, shardTokens: 3000 });
  t.equal(readShardIndex(other).V, readShardIndex(good).V, 'the other prepare has a vocabulary of the same size');
  const copy = (name: string) => {
    const d = join(dir, name);
    mkdirSync(d);
    for (const f of readdirSync(good)) copyFileSync(join(good, f), join(d, f));
    return d;
  };
  const patch = (file: string, at: number, bytes: number[]) => {
    const b = readFileSync(file);
    bytes.forEach((x, i) => (b[at + i] = x));
    writeFileSync(file, b);
  };
  const u32 = (x: number) => [x & 255, (x >>> 8) & 255, (x >>> 16) & 255, (x >>> 24) & 255];
  const damages: [string, (d: string) => void, RegExp, string][] = [
    ['a truncated shard', (d) => truncateSync(join(d, shardFileName(0)), SHARD_HEADER + 10), /truncated: \d+ bytes, \d+ expected/, shardFileName(0)],
    ['a shard cut inside its header', (d) => truncateSync(join(d, shardFileName(1)), 12), /truncated/, shardFileName(1)],
    ['a truncated index', (d) => truncateSync(join(d, INDEX_FILE), readFileSync(join(d, INDEX_FILE)).length - 5), /truncated/, INDEX_FILE],
    ['a shard with the wrong magic', (d) => patch(join(d, shardFileName(0)), 0, [0x50, 0x4b]), /wrong magic/, shardFileName(0)],
    ['an index with the wrong magic', (d) => patch(join(d, INDEX_FILE), 0, [0x7f, 0x45, 0x4c, 0x46]), /wrong magic/, INDEX_FILE],
    ['an index of another version', (d) => patch(join(d, INDEX_FILE), 8, u32(9)), /version 9; this trainer reads version 1/, INDEX_FILE],
    ['a shard of another version', (d) => patch(join(d, shardFileName(0)), 8, u32(2)), /version 2/, shardFileName(0)],
    ['a meta.json of another version', (d) => writeFileSync(join(d, META_FILE), JSON.stringify({ ...JSON.parse(readFileSync(join(d, META_FILE), 'utf8')), version: 7 })), /version 7/, META_FILE],
    ['a record past the end of its shard', (d) => {
      const idx = readShardIndex(d);
      const S = idx.shards.length;
      patch(join(d, INDEX_FILE), INDEX_HEADER + S * SHARD_ENTRY + 8, [0xff, 0xff, 0xff, 0]);
    }, /run past the end of shard-\d+\.tok/, INDEX_FILE],
    ['a flipped token byte', (d) => { const f = join(d, shardFileName(2)); const b = readFileSync(f); b[SHARD_HEADER + 3] ^= 1; writeFileSync(f, b); }, /CRC32C mismatch/, shardFileName(2)],
    ['a flipped index byte', (d) => { const f = join(d, INDEX_FILE); const b = readFileSync(f); b[b.length - 3] ^= 0x10; writeFileSync(f, b); }, /CRC32C mismatch|reserved|label/, INDEX_FILE],
    ['uint16 tokens for a vocabulary past 65,536', (d) => {
      const m = JSON.parse(readFileSync(join(d, META_FILE), 'utf8'));
      m.vocab = [...m.vocab, ...Array.from({ length: 70000 }, (_, i) => `x${i}`)];
      writeFileSync(join(d, META_FILE), JSON.stringify(m));
      patch(join(d, INDEX_FILE), 16, u32(m.vocab.length));
    }, /uint16 cannot hold a vocabulary of \d+ tokens/, INDEX_FILE],
    ['a dtype of 3 bytes', (d) => patch(join(d, INDEX_FILE), 12, u32(3)), /dtype of 3 bytes/, INDEX_FILE],
    ['a token id outside the vocabulary (CRC made to match)', (d) => {
      const f = join(d, shardFileName(0));
      const b = readFileSync(f);
      b[SHARD_HEADER] = 0xff; b[SHARD_HEADER + 1] = 0xff;
      writeFileSync(f, b);
      patch(join(d, INDEX_FILE), INDEX_HEADER + 4, u32(crc32c(b.subarray(SHARD_HEADER))));
      const ix = readFileSync(join(d, INDEX_FILE));
      const crc = crc32c(ix.subarray(INDEX_HEADER));
      patch(join(d, INDEX_FILE), 56, u32(crc));
      writeFileSync(join(d, META_FILE), JSON.stringify({ ...JSON.parse(readFileSync(join(d, META_FILE), 'utf8')), indexCrc32c: crc }));
    }, /token 0 is id 65535, outside the vocabulary/, shardFileName(0)],
    // Files of two prepare runs (same vocabulary size, other shards): the vocabulary must be the one the ids were written with.
    ['the meta.json of another prepare', (d) => copyFileSync(join(other, META_FILE), join(d, META_FILE)), /is not from the prepare run that wrote index\.bin \(it was written with an index of CRC32C 0x[0-9a-f]{8}, index\.bin has 0x[0-9a-f]{8}\): the folder mixes the files of two runs/, META_FILE],
    ['the index.bin of another prepare', (d) => copyFileSync(join(other, INDEX_FILE), join(d, INDEX_FILE)), /is not from the prepare run that wrote index\.bin/, META_FILE],
    // A damaged CRC field of index.bin is the index's corruption, not a meta.json from another run.
    ['a flipped byte in the index CRC', (d) => { const f = join(d, INDEX_FILE); const b = readFileSync(f); b[56] ^= 1; writeFileSync(f, b); }, /index\.bin: CRC32C mismatch: the index is corrupt/, INDEX_FILE],
    ['an indexCrc32c that is not a number', (d) => writeFileSync(join(d, META_FILE), JSON.stringify({ ...JSON.parse(readFileSync(join(d, META_FILE), 'utf8')), indexCrc32c: 'x' })), /indexCrc32c is "x", not a CRC32C/, META_FILE],
    ['a missing shard', (d) => writeFileSync(join(d, shardFileName(1)), ''), /truncated/, shardFileName(1)],
    ['meta.json that is not JSON', (d) => writeFileSync(join(d, META_FILE), '{"format": '), /not valid JSON/, META_FILE],
  ];
  for (const [what, damage, msg, file] of damages) {
    const d = copy(what.replace(/\W+/g, '-'));
    damage(d);
    const err = (() => { try { loadDataset({ ...cases[0].data, shards: d }, { configDir: dir, task: 'many-to-one' }); } catch (e) { return e as Error; } return null; })();
    t.ok(err instanceof DataError, `${what}: a DataError`);
    t.match(err?.message ?? '', msg, `${what}: says what is wrong`);
    t.match(err?.message ?? '', file, `${what}: names ${file}`);
    t.notMatch(err?.message ?? '', /\n/, `${what}: one line`);
  }
  // A folder prepared before meta.json recorded the index's CRC still reads.
  const old = copy('without-indexCrc32c');
  const m = JSON.parse(readFileSync(join(old, META_FILE), 'utf8'));
  delete m.indexCrc32c;
  writeFileSync(join(old, META_FILE), JSON.stringify(m));
  t.equal(readShardIndex(old).V, readShardIndex(good).V, 'a meta.json without indexCrc32c is read');
});
