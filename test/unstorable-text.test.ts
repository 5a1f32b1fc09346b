// Text that UTF-8 cannot hold (issue 21, item 1): a lone UTF-16 surrogate in a data row, a label,
// an in-memory example or the config used to give a run that ended `done` with every checkpoint
// unreadable. It is refused where it enters, naming the place; the checkpoint writer refuses it too,
// so no file that cannot be read back is ever written under a checkpoint's name.

import t from 'tap';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { train } from '../src/index.js';
import { encodeCheckpoint } from '../src/checkpoint/index.js';
import { writeCheckpointAtomic } from '../src/checkpoint/files.js';
import { loneSurrogateAt } from '../src/util/text.js';
import { tinyCheckpoint } from './fixtures/checkpoint/data.js';
import { node } from './helpers/cli.js';

const HALF = '\ud83d'; // the first half of 😀 (\ud83d\ude00)

t.test('loneSurrogateAt: pairs are fine, either half alone is found', async (t) => {
  t.equal(loneSurrogateAt('plain ascii'), -1);
  t.equal(loneSurrogateAt('a😀b'), -1, 'a well-formed pair');
  t.equal(loneSurrogateAt(`ab${HALF}c`), 2, 'a high surrogate alone');
  t.equal(loneSurrogateAt('x\ude00'), 1, 'a low surrogate alone');
  t.equal(loneSurrogateAt('\ude00\ud83d'), 0, 'the halves in the wrong order');
  t.equal(loneSurrogateAt(`😀${HALF}`), 2, 'after a pair');
});

t.test('the checkpoint writer refuses a lone surrogate and leaves no file', async (t) => {
  const dir = t.testdir({});
  for (const [what, edit] of [
    ['vocabulary token', (c: ReturnType<typeof tinyCheckpoint>) => { c.vocab[c.vocab.length - 1] = `x${HALF}`; }],
    ['label name', (c: ReturnType<typeof tinyCheckpoint>) => { if (c.labelNames.length > 0) c.labelNames[0] = HALF; else c.vocab[4] = HALF; }],
  ] as const) {
    const c = tinyCheckpoint();
    edit(c);
    t.throws(() => encodeCheckpoint(c), { name: 'CheckpointError', message: /lone UTF-16 surrogate/ }, `${what}: encode refuses`);
    const file = join(dir, `step-${what.replace(/ /g, '-')}.ckpt`);
    t.throws(() => writeCheckpointAtomic(file, c), { name: 'CheckpointError', message: /lone UTF-16 surrogate/ }, `${what}: the writer refuses`);
    t.notOk(existsSync(file), `${what}: no file under the final name`);
  }
  t.same(readdirSync(dir), [], 'and no temporary file either');
});

const CONFIG = (file: string) => ({
  name: 'surrogate', seed: 1,
  data: { source: 'files', format: 'jsonl', file, split: { val: 0.2, test: 0.2 } },
  model: { task: 'many-to-one', hidden: 8, input: { embedding: 4 } },
  train: { epochs: 1, batchSize: 8, lr: 0.01, workers: 1, kernels: 'js' },
});

function jsonl(bad: string): string {
  const rows: string[] = [];
  for (let i = 0; i < 40; i++) rows.push(JSON.stringify({ text: `name${i} ${'ab'.repeat(i % 5)}`, label: i % 2 ? 'odd' : 'even' }));
  rows.splice(6, 0, bad); // line 7
  return rows.join('\n') + '\n';
}

t.test('train: a JSON Lines row with a lone surrogate is refused with its file and line (exit 2), nothing written', async (t) => {
  for (const [what, row, re] of [
    ['text', '{"text": "half an emoji \\ud83d here", "label": "odd"}', /data\.jsonl:7: the text field "text" holds a lone UTF-16 surrogate \(\\ud83d.*at character 15/],
    ['label', '{"text": "fine", "label": "odd\\ud83d"}', /data\.jsonl:7: the label field "label" holds a lone UTF-16 surrogate/],
    ['id', '{"text": "fine", "label": "odd", "id": "\\ude00"}', /data\.jsonl:7: the id field holds a lone UTF-16 surrogate/],
  ] as const) {
    const dir = t.testdir({ 'data.jsonl': jsonl(row), 'c.json': JSON.stringify(CONFIG('data.jsonl')) });
    const r = node('train', ['--config', join(dir, 'c.json'), '--out', join(dir, 'runs'), '--quiet']);
    t.equal(r.status, 2, `${what}: exit 2`);
    t.match(r.stderr, re, `${what}: the message names the file, the line and the character`);
    t.match(r.stderr, /both halves of the pair/, `${what}: and says how to fix it`);
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
    t.notOk(existsSync(join(dir, 'runs', 'surrogate', 'checkpoints')) && readdirSync(join(dir, 'runs', 'surrogate', 'checkpoints')).length > 0, `${what}: no checkpoint`);
  }
});

t.test('train: with data.skipInvalid the row is skipped and reported, and every checkpoint reads back', async (t) => {
  const dir = t.testdir({ 'data.jsonl': jsonl('{"text": "half \\ud83d", "label": "odd"}') });
  const cfg = CONFIG('data.jsonl');
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ ...cfg, data: { ...cfg.data, skipInvalid: true } }));
  const r = node('train', ['--config', join(dir, 'c.json'), '--out', join(dir, 'runs')]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /skipped 1/);
  const ckpts = readdirSync(join(dir, 'runs', 'surrogate', 'checkpoints')).filter((f) => f.endsWith('.ckpt'));
  t.ok(ckpts.length > 0);
  for (const f of ckpts) {
    const e = node('inspect', [join(dir, 'runs', 'surrogate', 'checkpoints', f)]);
    t.equal(e.status, 0, `${f} reads back: ${e.stderr}`);
  }
});

// JSON.stringify escapes a lone surrogate, so the config stored as JSON text is safe; but strings
// of the config become checkpoint strings of their own (data.labels are the label names).
t.test('a config string with a lone surrogate is a config error naming the field', async (t) => {
  const dir = t.testdir({ 'data.jsonl': jsonl('{"text": "x", "label": "odd"}') });
  const cfg = CONFIG('data.jsonl');
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ ...cfg, data: { ...cfg.data, textField: 'text\ud83d' } }).replace('text\ud83d', 'text\\ud83d'));
  const r = node('train', ['--config', join(dir, 'c.json'), '--out', join(dir, 'runs')]);
  t.equal(r.status, 2);
  t.match(r.stderr, /data\.textField: holds a lone UTF-16 surrogate/);
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ ...cfg, data: { ...cfg.data, labels: ['odd', 'even\ude00'] } }));
  const l = node('train', ['--config', join(dir, 'c.json'), '--out', join(dir, 'runs')]);
  t.equal(l.status, 2);
  t.match(l.stderr, /data\.labels\[1\]: holds a lone UTF-16 surrogate \(\\ude00/);
});

t.test('library: in-memory text, labels and documents with a lone surrogate are DataErrors with their place', async (t) => {
  const dir = t.testdir({});
  const ex = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `w${i} ${'xy'.repeat(i % 4)}`, label: i % 2 ? 'a' : 'b' }));
  const base = { name: 'mem', model: { task: 'many-to-one' as const, hidden: 8 }, train: { epochs: 1, batchSize: 8, workers: 1, kernels: 'js' as const } };
  const bad = ex(30);
  bad[3] = { text: `cut ${HALF}`, label: 'a' };
  await t.rejects(train({ config: base, data: { train: bad, val: ex(8), test: ex(8) }, baseDir: dir }), { name: 'DataError', message: /data\.train\[3\]: text holds a lone UTF-16 surrogate/ });
  const badLabel = ex(30);
  badLabel[5] = { text: 'ok', label: `b${HALF}` };
  await t.rejects(train({ config: base, data: { train: badLabel, val: ex(8), test: ex(8) }, baseDir: dir }), /data\.train\[5\]: label holds a lone UTF-16 surrogate/);
  const nan = ex(30) as { text: string; label: unknown }[];
  nan[2] = { text: 'ok', label: NaN };
  await t.rejects(train({ config: base, data: { train: nan as never, val: ex(8), test: ex(8) }, baseDir: dir }), /data\.train\[2\]: label: NaN is not a class name/, 'NaN is no label (issue 21, item 11)');
  nan[2] = { text: 'ok', label: Infinity };
  await t.rejects(train({ config: base, data: { train: nan as never, val: ex(8), test: ex(8) }, baseDir: dir }), /data\.train\[2\]: label: Infinity is not a class name/);
  const lm = { name: 'lm', model: { task: 'many-to-many' as const, hidden: 8 }, data: { tokenizer: 'char' as const, seqLength: 8 }, train: { epochs: 1, batchSize: 2, workers: 1, kernels: 'js' as const } };
  const docs = Array.from({ length: 20 }, (_, i) => `document ${i} with some text`);
  docs[4] = `broken ${HALF} document`;
  await t.rejects(train({ config: lm, data: docs, baseDir: dir }), /data\[4\]: the text holds a lone UTF-16 surrogate/);
  await t.rejects(train({ config: lm, data: `one paragraph\n\ntwo ${HALF}\n`, baseDir: dir }), /paragraph at line 3.*lone UTF-16 surrogate/);
});
