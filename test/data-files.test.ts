// User files: JSON Lines, CSV/TSV, plain text; hash splits; every bad-input case and its message.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataConfig } from '../src/config/types.js';
import { decodeTokens, formatReport, loadDataset, splitOf, type Dataset, type SplitName } from '../src/data/index.js';
import { DataError, UserError } from '../src/util/errors.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'data');

/** A fresh folder holding `files`; removed when the test ends. */
function folder(t: Test, files: Record<string, string | Buffer>): string {
  const d = mkdtempSync(join(tmpdir(), 'rnn-data-'));
  for (const [name, body] of Object.entries(files)) writeFileSync(join(d, name), body);
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function load(dir: string, data: Partial<DataConfig>, task: 'many-to-one' | 'many-to-many' = 'many-to-one'): Dataset {
  return loadDataset({ source: 'files', ...data } as DataConfig, { configDir: dir, task });
}

/** The DataError thrown by fn; its message is printed so the test log shows what users see. */
function dataError(t: Test, fn: () => unknown): DataError {
  try {
    fn();
  } catch (e) {
    t.type(e, DataError);
    t.ok((e as UserError).exitCode > 0, 'non-zero exit code');
    t.comment(`message: ${(e as Error).message}`);
    return e as DataError;
  }
  t.fail('expected a DataError');
  return new DataError('none');
}

/** Texts of a split, decoded (char tokenizer without truncation recovers them exactly). */
function texts(ds: Dataset, s: SplitName): string[] {
  const sp = ds.splits[s];
  const out: string[] = [];
  for (let i = 0; i < sp.count; i++) out.push(decodeTokens(sp.tokens.subarray(sp.starts[i], sp.starts[i] + sp.lengths[i]), ds.vocab, ds.tokenizer));
  return out;
}

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

t.test('JSON Lines, CSV and TSV with separate train/val/test files', async (t) => {
  const rows = [{ text: 'good movie', label: 'pos' }, { text: 'bad film', label: 'neg' }, { text: 'great', label: 'pos' }];
  const dir = folder(t, {
    'train.jsonl': jsonl(rows),
    'val.jsonl': jsonl([{ text: 'good', label: 'neg' }]),
    'train.csv': 'id,label,text\n1,pos,"good, really"\n2,neg,"she said ""bad""\nand left"\n\n3,pos,great\n',
    'train.tsv': 'text\tlabel\ngood\tpos\nbad\tneg\n',
  });
  const a = load(dir, { format: 'jsonl', train: 'train.jsonl', val: 'val.jsonl' });
  t.same(a.labelNames, ['neg', 'pos'], 'labels default to the sorted training labels');
  t.same(Array.from(a.splits.train.labels), [1, 0, 1]);
  t.same(texts(a, 'train'), ['good movie', 'bad film', 'great']);
  t.equal(a.splits.val.count, 1);
  t.equal(a.splits.test.count, 0, 'no test file: an empty test split');
  t.equal(a.tokenizer.maxLength, 256);
  t.comment(formatReport(a.report));

  const c = load(dir, { format: 'csv', train: 'train.csv' });
  t.same(texts(c, 'train'), ['good, really', 'she said "bad"\nand left', 'great'], 'RFC 4180 quoting, multi-line field');
  const tsv = load(dir, { format: 'tsv', train: 'train.tsv', labels: ['pos', 'neg'] });
  t.same(Array.from(tsv.splits.train.labels), [0, 1], 'data.labels fixes the class ids');
});

t.test('one file split by hash; adding rows never moves existing rows', async (t) => {
  const make = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ text: `example number ${from + i}`, label: i % 3 === 0 ? 'a' : 'b' }));
  const base = make(400);
  const more = [...make(150, 1000).slice(0, 75), ...base, ...make(150, 1000).slice(75)]; // new rows before and after
  const dir = folder(t, { 'small.jsonl': jsonl(base), 'big.jsonl': jsonl(more) });
  const cfg = { format: 'jsonl' as const, split: { val: 0.2, test: 0.1 } };
  const small = load(dir, { ...cfg, file: 'small.jsonl' });
  const big = load(dir, { ...cfg, file: 'big.jsonl' });
  const where = (ds: Dataset) => {
    const m = new Map<string, SplitName>();
    for (const s of ['train', 'val', 'test'] as const) for (const x of texts(ds, s)) m.set(x, s);
    return m;
  };
  const ws = where(small), wb = where(big);
  let moved = 0;
  for (const [x, s] of ws) if (wb.get(x) !== s) moved++;
  t.equal(moved, 0, 'every row of the small file is in the same split in the big file');
  t.equal(ws.size, 400);
  const sizes = (ds: Dataset) => `train ${ds.splits.train.count} / val ${ds.splits.val.count} / test ${ds.splits.test.count}`;
  t.comment(`400 rows: ${sizes(small)}; 550 rows: ${sizes(big)}`);
  t.ok(Math.abs(small.splits.val.count / 400 - 0.2) < 0.06 && Math.abs(small.splits.test.count / 400 - 0.1) < 0.05, 'split fractions near 0.2 / 0.1');
  t.equal(splitOf('example number 7', { val: 0.2, test: 0.1 }), ws.get('example number 7'), 'splitOf tells where a key goes');
  // The vocabulary and report come from the training split only, and are deterministic.
  t.same(load(dir, { ...cfg, file: 'small.jsonl' }).vocab, small.vocab);
});

t.test('plain text: paragraphs are documents, chunked for language modelling', async (t) => {
  const paras = Array.from({ length: 30 }, (_, i) => `Paragraph ${i} line one.\nAnd line two of ${i}.`);
  const dir = folder(t, { 'book.txt': paras.join('\n\n\n') + '\n' });
  const ds = load(dir, { format: 'text', file: 'book.txt', seqLength: 8, eos: true }, 'many-to-many');
  const docs = ds.report.splits.train.documents! + ds.report.splits.val.documents! + ds.report.splits.test.documents!;
  t.equal(docs, 30);
  t.equal(ds.splits.train.labels.length, 0);
  const sp = ds.splits.train;
  for (let i = 0; i < sp.count; i++) {
    t.ok(sp.lengths[i] >= 1 && sp.lengths[i] <= 8);
    if (i + 1 < sp.count && sp.lengths[i] === 8) t.ok(sp.starts[i + 1] === sp.starts[i] + 8 || sp.tokens[sp.starts[i] + 8] === 3, 'contiguous chunks within a document');
  }
  t.equal(ds.tokenizer.maxLength, 0, 'streams are chunked, not truncated');
  t.comment(formatReport(ds.report));
});

t.test('bad input: each case names the file, the line, what is wrong and how to fix it', async (t) => {
  const dir = folder(t, {
    'bad-json.jsonl': '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": "c", label: "x"}\n',
    'bad-utf8.jsonl': Buffer.concat([Buffer.from('{"text": "ok", "label": "x"}\n{"text": "ok2", "label": "y"}\n{"text": "caf'), Buffer.from([0xe9]), Buffer.from('", "label": "x"}\n')]),
    'no-text.jsonl': '{"text": "a", "label": "x"}\n{"body": "b", "label": "y"}\n',
    'no-label.jsonl': '{"text": "a", "label": "x"}\n{"text": "b"}\n',
    'empty-text.jsonl': '{"text": "a", "label": "x"}\n{"text": "  ", "label": "y"}\n',
    'other-label.jsonl': '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": "c", "label": "z"}\n',
    'fields.csv': 'text,label\na,x\nb,y\n"c, d",x\ne,f,x\n',
    'no-column.csv': 'body,label\na,x\n',
    'unclosed.csv': 'text,label\na,x\n"b,y\nc,x\n',
    'one.jsonl': '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n',
    'empty.jsonl': '\n',
    'split-z.jsonl': Array.from({ length: 40 }, (_, i) => `{"text": "row ${i}", "label": "${i === 30 ? 'z' : i % 2 ? 'x' : 'y'}"}\n`).join(''),
  });
  const J = { format: 'jsonl' as const };

  let e = dataError(t, () => load(dir, { ...J, train: 'missing.jsonl' }));
  t.match(e.message, /missing\.jsonl: cannot be read: ENOENT: no such file\. Check the path/);

  e = dataError(t, () => load(dir, { ...J, train: 'bad-utf8.jsonl' }));
  t.match(e.message, /bad-utf8\.jsonl:3: invalid UTF-8 \(byte 0xe9 at byte 14 of the line\)\. Save the file as UTF-8/);
  t.equal(e.line, 3);

  e = dataError(t, () => load(dir, { ...J, train: 'bad-json.jsonl' }));
  t.match(e.message, /bad-json\.jsonl:3: invalid JSON \(.+\)\. Each line must be one JSON object/);
  t.match(e.message, /data\.skipInvalid/, 'mentions the skipInvalid option');

  e = dataError(t, () => load(dir, { format: 'csv', train: 'fields.csv' }));
  t.match(e.message, /fields\.csv:5: the row has 3 fields but the header has 2\. Quote fields/);

  e = dataError(t, () => load(dir, { ...J, train: 'no-text.jsonl' }));
  t.match(e.message, /no-text\.jsonl:2: missing text field "text" \(this row has: body, label\)\. Add it, or set data\.textField/);

  e = dataError(t, () => load(dir, { ...J, train: 'no-label.jsonl' }));
  t.match(e.message, /no-label\.jsonl:2: missing label field "label" .*set data\.labelField/);

  e = dataError(t, () => load(dir, { ...J, train: 'empty-text.jsonl' }));
  t.match(e.message, /empty-text\.jsonl:2: empty text in field "text"/);

  e = dataError(t, () => load(dir, { ...J, train: 'other-label.jsonl', labels: ['x', 'y'] }));
  t.match(e.message, /other-label\.jsonl:3: label "z" is not one of the labels \("x", "y"\)\. Fix the label, or add it to data\.labels/);

  // With data.labels given, a label outside them is an error in every split, not only in training.
  for (const split of ['val', 'test'] as const) {
    e = dataError(t, () => load(dir, { ...J, train: 'one.jsonl', [split]: 'other-label.jsonl', labels: ['x', 'y'] }));
    t.match(e.message, /other-label\.jsonl:3: label "z" is not one of the labels \("x", "y"\)\. Fix the label, or add it to data\.labels/, `in the ${split} file`);
  }
  e = dataError(t, () => load(dir, { ...J, file: 'split-z.jsonl', labels: ['x', 'y'] }));
  t.match(e.message, /split-z\.jsonl:31: label "z" is not one of the labels \("x", "y"\)/, 'in one file split by hash');
  t.equal(load(dir, { ...J, train: 'one.jsonl', val: 'other-label.jsonl', labels: ['x', 'y'], skipInvalid: true }).report.skipped.count, 1, 'skipInvalid: skipped and counted');

  e = dataError(t, () => load(dir, { ...J, train: 'one.jsonl', val: 'other-label.jsonl' }));
  t.match(e.message, /other-label\.jsonl:3: label "z" .*never occurs there/, 'a val label unseen in training');

  e = dataError(t, () => load(dir, { format: 'csv', train: 'no-column.csv' }));
  t.match(e.message, /no-column\.csv:1: the header has no column "text" .*columns: "body", "label".*data\.textField/);

  e = dataError(t, () => load(dir, { format: 'csv', train: 'unclosed.csv' }));
  t.match(e.message, /unclosed\.csv:3: CSV syntax: a quoted field is never closed/);

  e = dataError(t, () => load(dir, { ...J, train: 'one.jsonl', val: 'empty.jsonl' }));
  t.match(e.message, /the val split is empty .*Check val: .*empty\.jsonl: it has no usable rows/);

  e = dataError(t, () => load(dir, { ...J, file: 'one.jsonl', split: { val: 0.1, test: 0.1 } }));
  t.match(e.message, /split is empty: the data has only 2 rows, and each row goes to one split whole\. Give more rows.*set data\.split\.\w+ to 0/, 'two rows cannot fill three splits: the cause is their number');

  // No row at all: the file is named as empty, not reported as an empty split (and never "data.split.train").
  writeFileSync(join(dir, 'blank.txt'), '\n  \n\n');
  writeFileSync(join(dir, 'header.csv'), 'text,label\n');
  for (const [file, task, msg] of [['blank.txt', 'many-to-many', /^data: \S*blank\.txt holds no documents: the text is empty or blank lines only: give a file with text/],
    ['header.csv', 'many-to-one', /^data: \S*header\.csv holds no rows: it is empty or a header only: give a file with rows\.$/]] as const) {
    e = dataError(t, () => load(dir, { file, ...(task === 'many-to-many' ? { seqLength: 8 } : {}) }, task));
    t.match(e.message, msg, `${file}: no rows, said so`);
    t.notMatch(e.message, /split/, `${file}: no split blamed`);
  }
  e = dataError(t, () => load(dir, { ...J, file: 'one.jsonl', split: { val: 0.45, test: 0.45 } }));
  t.match(e.message, /the train split is empty: the data has only 2 rows/, 'no training rows among a few');
  t.notMatch(e.message, /data\.split\.train/, 'no data.split.train (there is no such field)');

  e = dataError(t, () => load(FIXTURES, { ...J, train: 'single-label.jsonl' }));
  t.match(e.message, /one label only \("spam"\)/);
});

t.test('skipInvalid skips bad rows and reports how many and where', async (t) => {
  const ds = load(FIXTURES, { format: 'jsonl', train: 'mixed.jsonl', skipInvalid: true, labels: ['ham', 'spam'] });
  t.equal(ds.splits.train.count, 4, 'four good rows');
  t.equal(ds.report.skipped.count, 6);
  t.same(ds.report.skipped.first.map((i) => i.line), [2, 3, 4, 5, 6], 'the first five, in file order');
  t.match(ds.report.skipped.first[0].reason, /invalid JSON/);
  const text = formatReport(ds.report);
  t.match(text, /skipped 6 invalid rows \(data\.skipInvalid\), first: .*mixed\.jsonl:2 invalid JSON/);
  t.comment(text);

  const csv = load(FIXTURES, { format: 'csv', train: 'mixed.csv', skipInvalid: true });
  t.equal(csv.splits.train.count, 3);
  t.same(csv.report.skipped.first.map((i) => i.line), [3, 5]);
  t.comment(formatReport(csv.report));
});

t.test('the data report flags labels in under 0.1% of the training rows', async (t) => {
  const rows = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ text: `row ${i}`, label: i % 2 ? 'a' : 'b' }));
  rows.push(JSON.stringify({ text: 'the rare one', label: 'c' }));
  const dir = folder(t, { 'train.jsonl': rows.join('\n') + '\n', 'even.jsonl': rows.slice(0, 10).join('\n') + '\n' });
  const text = formatReport(load(dir, { format: 'jsonl', train: 'train.jsonl' }).report);
  t.match(text, /^  warning: label "c" is in 1 of 2001 training rows \(0\.050%, under 0\.1%\): too few for the model to learn it; add examples of it, or merge it into another label$/m);
  t.equal(text.match(/warning:/g)?.length, 1, 'only that label');
  t.notMatch(formatReport(load(dir, { format: 'jsonl', train: 'even.jsonl' }).report), /warning:/, 'no rare label: no warning');
});

t.test('a data section given on its own is held to the config layer\'s rules (dataRuleProblems)', async (t) => {
  const refuse = (d: DataConfig, task: 'many-to-one' | 'many-to-many' | 'tagging', message: RegExp, what: string) =>
    t.throws(() => loadDataset(d, { configDir: '.', task }), { name: 'ConfigError', message }, what);
  refuse({ source: 'files', format: 'jsonl' }, 'many-to-one', /^data: expected `train` .* or `file`/, 'files without train or file');
  refuse({ source: 'files', file: 'a.jsonl', train: 'b.jsonl' }, 'many-to-one', /^data\.file: give either data\.file .* not both/, 'file and train');
  refuse({ source: 'names', format: 'csv' }, 'many-to-one', /^data\.format: only used when data\.source is `files`/, 'a format for a built-in source');
  refuse({ source: 'moby-dick' }, 'tagging', /^model\.task: expected `many-to-many` for data\.source `moby-dick`.*`moby-dick-segmentation`/, 'the task the source needs, with the demo to use');
  refuse({ source: 'files', format: 'text', train: 'a.txt' }, 'many-to-one', /^model\.task: expected `many-to-many` for data\.format `text`/, 'text has no labels');
  refuse({ source: 'names', labels: ['a', 'b', 'a'] }, 'many-to-one', /^data\.labels\[2\]: duplicate label "a"/, 'a label twice');
  refuse({ source: 'names', labels: [] }, 'many-to-one', /^data\.labels: expected at least 2 labels, found 0/, 'no labels');
  refuse({ source: 'names', split: { val: 0.5, test: 0.5 } }, 'many-to-one', /^data\.split: expected val \+ test < 1/, 'nothing left to train on');
  refuse({ source: 'names', bos: true, eos: true, maxLength: 2 }, 'many-to-one', /^data\.maxLength: expected at least 3 with data\.bos\/eos/, 'room for the markers');
  refuse({ source: 'moby-dick-segmentation', bos: true }, 'tagging', /^data\.bos: expected false with model\.task `tagging`/, 'markers on a tagger');
});
