// prepare's output is byte-identical to what it was before its fast paths (byte-level char and
// word tokenizers, BPE word cache, batched transfers to the threads): fixed generated corpora
// (char, word and bpe language models; CSV and JSON Lines classifiers; CRLF, a BOM, NFC-changing
// text, lowercase, emoji and other multi-byte characters, invalid UTF-8 skipped, multi-line
// quoted fields, tiny blocks and shards) are prepared and every output file's SHA-256 is compared
// with test/fixtures/data/prepare-golden.json, recorded from main at 9c2a5a3 (before the change)
// with `PREPARE_GOLDEN_WRITE=1 npx tap test/data-prepare-golden.test.ts`. meta.json is hashed
// without report.ms (timings) and indexCrc32c (index.bin's CRC, added later; index.bin is hashed).

import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareData } from '../src/data/prepare.js';
import type { DataConfig } from '../src/config/types.js';

const FIXTURE = new URL('./fixtures/data/prepare-golden.json', import.meta.url);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

// Words of many kinds: ASCII, capitals, apostrophes (ASCII and U+2019), digits, punctuation
// runs, Latin-1 and combining accents (NFC changes "e\u0301" to "é"), Greek, CJK, emoji (surrogate
// pairs), a tab, the non-breaking space, the ligature "ﬁ" (lowercase keeps it), Turkish İ (its
// lowercase is two code points), 's and 'll for BPE's contractions.
const WORDS = ['the', 'The', 'whale', 'sea', 'ship', 'Ahab', "don't", 'O\u2019Brien', "it's", "we'll", 'naïve', 'cafe\u0301', 'Ünïcödé', 'ΑΘΗΝΑ',
  '東京', '😀', '👍🏽', 'x,y', '--', '...', '42', '3.14', 'a\tb', 'non\u00a0break', 'ﬁne', 'İstanbul', '(paren)', '"quoted"', 'ÆSIR', 'straße'];

function words(r: () => number, n: number): string {
  const zipf = () => Math.min(WORDS.length - 1, Math.floor(WORDS.length * r() ** 2.5));
  return Array.from({ length: n }, () => WORDS[zipf()]).join(r() < 0.1 ? '  ' : ' ');
}

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

function corpora(dir: string): void {
  const r = rng(11);
  // Plain text: paragraphs, some CRLF, blank lines with spaces, a BOM, one line of invalid UTF-8.
  const paras = Array.from({ length: 1500 }, (_, i) => Array.from({ length: 1 + Math.floor(r() * 4) }, () => words(r, 1 + Math.floor(r() * 25))).join(i % 9 === 0 ? '\r\n' : '\n'));
  writeFileSync(join(dir, 'lm.txt'), '\ufeff' + paras.join('\n\n  \n') + '\n');
  const bad = Buffer.concat([Buffer.from(paras.slice(0, 300).join('\n\n') + '\n\n'), Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0x0a, 0x0a]), Buffer.from(paras.slice(300, 600).join('\n\n'))]);
  writeFileSync(join(dir, 'bad.txt'), bad);
  writeFileSync(join(dir, 'a.txt'), paras.slice(0, 900).join('\n\n'));
  writeFileSync(join(dir, 'b.txt'), paras.slice(900, 1200).join('\n\n'));
  writeFileSync(join(dir, 'c.txt'), paras.slice(1200).join('\n\n'));
  // Labelled rows: CSV with ids, quoted and multi-line fields; JSON Lines with CRLF and escapes.
  const rows = Array.from({ length: 2000 }, (_, i) => ({ text: words(r, 1 + Math.floor(r() * 40)) + (i % 7 === 0 ? '\nsecond line' : ''), label: ['pos', 'neg', 'mixed'][Math.floor(r() * 3)], id: i % 5 === 0 ? `r${i}` : undefined }));
  writeFileSync(join(dir, 'cls.csv'), 'id,text,label\n' + rows.map((x) => `${x.id ?? ''},${csvField(x.text)},${x.label}`).join('\n') + '\n');
  writeFileSync(join(dir, 'cls.jsonl'), rows.map((x) => JSON.stringify(x)).join('\r\n') + '\n');
}

const cases: { name: string; task: 'many-to-one' | 'many-to-many'; data: DataConfig; workers: number; blockBytes?: number; shardTokens?: number }[] = [
  { name: 'char', task: 'many-to-many', data: { source: 'files', file: 'lm.txt' }, workers: 2 },
  { name: 'char-lower-eos-small-blocks', task: 'many-to-many', data: { source: 'files', file: 'lm.txt', lowercase: true, eos: true, bos: true, vocab: { maxSize: 60, minFreq: 2 } }, workers: 1, blockBytes: 501, shardTokens: 3000 },
  { name: 'char-invalid-utf8', task: 'many-to-many', data: { source: 'files', file: 'bad.txt', skipInvalid: true, sample: 0.8 }, workers: 2, blockBytes: 4096 },
  { name: 'word', task: 'many-to-many', data: { source: 'files', file: 'lm.txt', tokenizer: 'word', split: { val: 0.2, test: 0.05 } }, workers: 2, shardTokens: 5000 },
  { name: 'word-lower-vocab-files', task: 'many-to-many', data: { source: 'files', train: 'a.txt', val: 'b.txt', test: 'c.txt', tokenizer: 'word', lowercase: true, vocab: { maxSize: 20, minFreq: 1 } }, workers: 1, blockBytes: 777 },
  { name: 'bpe', task: 'many-to-many', data: { source: 'files', file: 'lm.txt', tokenizer: 'bpe', vocab: { maxSize: 500, minFreq: 1 } }, workers: 2, shardTokens: 7000 },
  { name: 'bpe-lower-small-blocks', task: 'many-to-many', data: { source: 'files', file: 'lm.txt', tokenizer: 'bpe', lowercase: true, eos: true, vocab: { maxSize: 400, minFreq: 3 } }, workers: 1, blockBytes: 333 },
  { name: 'csv-char-end-reverse', task: 'many-to-one', data: { source: 'files', file: 'cls.csv', maxLength: 40, truncate: 'end', reverse: true, bos: true, eos: true }, workers: 2, blockBytes: 1000 },
  { name: 'csv-word-maxlength', task: 'many-to-one', data: { source: 'files', file: 'cls.csv', tokenizer: 'word', maxLength: 9, lowercase: true }, workers: 1 },
  { name: 'jsonl-word-labels', task: 'many-to-one', data: { source: 'files', file: 'cls.jsonl', tokenizer: 'word', labels: ['pos', 'neg', 'mixed'], maxLength: 100000 }, workers: 2 },
  { name: 'jsonl-bpe-end', task: 'many-to-one', data: { source: 'files', file: 'cls.jsonl', tokenizer: 'bpe', vocab: { maxSize: 350, minFreq: 1 }, maxLength: 12, truncate: 'end' }, workers: 2, blockBytes: 2048 },
  { name: 'jsonl-char-start', task: 'many-to-one', data: { source: 'files', file: 'cls.jsonl', maxLength: 25, eos: true }, workers: 1 },
];

/** SHA-256 of each file of a prepared folder (meta.json without its timings and index.bin's CRC, which it repeats). */
function hashes(out: string): Record<string, string> {
  const h: Record<string, string> = {};
  for (const f of readdirSync(out).sort()) {
    let bytes: Buffer | string = readFileSync(join(out, f));
    if (f === 'meta.json') {
      const meta = JSON.parse(bytes.toString('utf8'));
      delete meta.report.ms;
      delete meta.indexCrc32c;
      bytes = JSON.stringify(meta);
    }
    h[f] = createHash('sha256').update(bytes).digest('hex');
  }
  return h;
}

t.test('prepare writes the same bytes as before (recorded hashes)', async (t) => {
  const dir = t.testdir({});
  corpora(dir);
  const got: Record<string, Record<string, string>> = {};
  for (const c of cases) {
    const out = join(dir, `out-${c.name}`);
    await prepareData(c.data, { configDir: dir, task: c.task, out, workers: c.workers, blockBytes: c.blockBytes, shardTokens: c.shardTokens });
    got[c.name] = hashes(out);
  }
  if (process.env.PREPARE_GOLDEN_WRITE === '1') {
    writeFileSync(FIXTURE, JSON.stringify(got, null, 1) + '\n');
    t.pass('fixture written');
    return;
  }
  const want = JSON.parse(readFileSync(FIXTURE, 'utf8')) as typeof got;
  t.same(Object.keys(got), Object.keys(want), 'the same cases');
  for (const c of cases) t.same(got[c.name], want[c.name], `${c.name}: every file`);
  t.ok(Object.values(got).some((h) => Object.keys(h).filter((f) => f.endsWith('.tok')).length > 3), 'some case writes several shards');
});
