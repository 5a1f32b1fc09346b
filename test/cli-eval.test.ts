// `node dist/eval.js` as a user runs it, on checkpoints trained here (a names classifier and a
// tiny character language model, a few seconds each). Needs `npm run build`.

import t from 'tap';
import { existsSync, mkdirSync, writeFileSync, appendFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT, DIST, node, train, lmText, LM_CONFIG, noStack } from './helpers/cli.js';

t.before(() => {
  if (!existsSync(join(DIST, 'eval.js'))) throw new Error('dist/eval.js is missing: run `npm run build` first');
});

t.test('classifier', async (t) => {
  const d = t.testdir({});
  const run = train(join(ROOT, 'configs', 'small.json'), d, 'names-small', ['--max-steps', '60']);

  t.test('--split test: every field; the accuracy and loss the run reported for the same checkpoint', async (t) => {
    const r = node('eval', ['--checkpoint', run.ckpt, '--split', 'test', '--workers', '2']);
    t.equal(r.status, 0, r.stderr);
    const m = JSON.parse(r.stdout);
    for (const k of ['checkpoint', 'step', 'task', 'data', 'examples', 'labels', 'loss', 'accuracy', 'macroF1', 'macroF1Classes', 'perClass', 'confusion']) t.ok(k in m, `has ${k}`);
    t.same(m.labels, ['female', 'male']);
    t.same(m.data, { split: 'test' });
    t.equal(m.step, 60);
    const total = m.confusion.flat().reduce((a: number, b: number) => a + b, 0);
    t.equal(total, m.examples, 'the confusion matrix sums to the split size');
    t.equal(m.examples, 820, 'the test split of the names corpus');
    t.equal(m.accuracy, run.test.accuracy, 'accuracy = metrics.jsonl kind:test');
    t.equal(m.loss, run.test.loss, 'loss = metrics.jsonl kind:test (same batches, same order)');
    for (const [label, c] of Object.entries<{ precision: number; recall: number; f1: number; support: number; predicted: number }>(m.perClass)) {
      const i = m.labels.indexOf(label);
      t.equal(c.support, m.confusion[i].reduce((a: number, b: number) => a + b, 0), `${label}: support = its row`);
      t.equal(c.recall, m.confusion[i][i] / c.support, `${label}: recall`);
      t.equal(c.precision, m.confusion[i][i] / c.predicted, `${label}: precision`);
      t.ok(Math.abs(c.f1 - (2 * c.precision * c.recall) / (c.precision + c.recall)) < 1e-12, `${label}: F1 = harmonic mean`);
    }
    t.ok(Math.abs(m.macroF1 - (m.perClass.female.f1 + m.perClass.male.f1) / 2) < 1e-15, 'macro-F1 = mean of per-class F1');

    const one = JSON.parse(node('eval', ['--checkpoint', run.ckpt, '--workers', '1', '--batch-size', '7']).stdout);
    t.equal(one.accuracy, m.accuracy, 'test is the default split; 1 worker, other batches: the same accuracy');
    t.same(one.confusion, m.confusion);
    t.ok(Math.abs(one.loss - m.loss) < 1e-6, 'and the same loss up to summation order');
  });

  t.test('--data: a JSON Lines and a CSV file, encoded with the checkpoint\'s vocabulary and labels', async (t) => {
    const rows = [['Maria', 'female'], ['John', 'male'], ['Elizabeth', 'female'], ['Robert', 'male'], ['Kim', 'female'], ['Dana', 'male']];
    writeFileSync(join(d, 'new.jsonl'), rows.map(([text, label]) => JSON.stringify({ text, label })).join('\n') + '\n');
    writeFileSync(join(d, 'new.csv'), 'label,text\n' + rows.map(([text, label]) => `${label},"${text}"`).join('\n') + '\n');
    const js = node('eval', ['--checkpoint', run.ckpt, '--data', join(d, 'new.jsonl'), '--workers', '2']);
    t.equal(js.status, 0, js.stderr);
    const a = JSON.parse(js.stdout);
    t.equal(a.data.format, 'jsonl');
    t.equal(a.examples, rows.length);
    t.equal(a.confusion.flat().reduce((x: number, y: number) => x + y, 0), rows.length);
    const c = node('eval', ['--checkpoint', run.ckpt, '--data', join(d, 'new.csv')]);
    t.equal(c.status, 0, c.stderr);
    const csv = JSON.parse(c.stdout);
    t.equal(csv.data.format, 'csv');
    t.same(csv.confusion, a.confusion, 'same rows, same result, whatever the format');
    t.equal(csv.loss, a.loss);

    // Independent check: predict.js's labels for the same names give the same confusion matrix.
    const p = node('predict', ['--checkpoint', run.ckpt, ...rows.flatMap(([text]) => ['--text', text])]);
    t.equal(p.status, 0, p.stderr);
    const predicted = p.stdout.trim().split('\n').map((l) => JSON.parse(l).label as string);
    const conf = [[0, 0], [0, 0]];
    rows.forEach(([, label], i) => conf[a.labels.indexOf(label)][a.labels.indexOf(predicted[i])]++);
    t.same(a.confusion, conf, 'eval.js and predict.js agree');

    // Other field / column names than the run's: --text-field, --label-field.
    writeFileSync(join(d, 'renamed.csv'), 'gender,name\n' + rows.map(([text, label]) => `${label},${text}`).join('\n') + '\n');
    writeFileSync(join(d, 'renamed.jsonl'), rows.map(([name, gender]) => JSON.stringify({ name, gender })).join('\n') + '\n');
    for (const f of ['renamed.csv', 'renamed.jsonl']) {
      const r = node('eval', ['--checkpoint', run.ckpt, '--data', join(d, f), '--text-field', 'name', '--label-field', 'gender']);
      t.equal(r.status, 0, r.stderr);
      t.same(JSON.parse(r.stdout).confusion, a.confusion, `${f}: --text-field name --label-field gender, the same result`);
    }
    const noField = node('eval', ['--checkpoint', run.ckpt, '--data', 'renamed.csv'], { cwd: d });
    t.equal(noField.status, 2, 'without them: an input error');
    t.match(noField.stderr, /^error: renamed\.csv:1: the header has no column "text" for the text \(columns: "gender", "name"\)\. Pass --text-field with the text column/);
    const noData = node('eval', ['--checkpoint', run.ckpt, '--text-field', 'name']);
    t.equal(noData.status, 2);
    t.match(noData.stderr, /--text-field applies to --data FILE only/);
  });

  t.test('errors: clear message, non-zero exit, no stack trace', async (t) => {
    writeFileSync(join(d, 'bad.jsonl'), '{"text":"Maria","label":"female"}\n{"text":"Bob","label":"male"}\n{"text":"R2D2","label":"robot"}\n');
    const bad = node('eval', ['--checkpoint', run.ckpt, '--data', 'bad.jsonl'], { cwd: d });
    t.equal(bad.status, 2, 'an input error: exit 2');
    t.equal(bad.stdout, '');
    t.match(bad.stderr, /^error: bad\.jsonl:3: label "robot" is not one of the model's labels \("female", "male"\)/, 'names file, line, label and the labels');
    t.match(bad.stderr, /--skip-invalid/, 'and how to skip such rows');
    t.ok(noStack(bad.stderr));
    const skip = node('eval', ['--checkpoint', run.ckpt, '--data', 'bad.jsonl', '--skip-invalid'], { cwd: d });
    t.equal(skip.status, 0, skip.stderr);
    const s = JSON.parse(skip.stdout);
    t.equal(s.examples, 2);
    t.equal(s.data.skipped.count, 1);
    t.equal(s.data.skipped.first[0].line, 3);

    const missing = node('eval', ['--checkpoint', join(d, 'nope.ckpt')]);
    t.equal(missing.status, 2, 'an input error: exit 2');
    t.equal(missing.stdout, '');
    t.match(missing.stderr, `error: checkpoint ${join(d, 'nope.ckpt')}: cannot be read: ENOENT`, 'the checkpoint layer\'s message');
    t.ok(noStack(missing.stderr));

    const noFile = node('eval', ['--checkpoint', run.ckpt, '--data', join(d, 'nothere.csv')]);
    t.equal(noFile.status, 2, 'an input error: exit 2');
    t.match(noFile.stderr, /nothere\.csv: no such file/);

    const both = node('eval', ['--checkpoint', run.ckpt, '--split', 'val', '--data', join(d, 'new.csv')]);
    t.equal(both.status, 2);
    t.match(both.stderr, /--split or --data, not both/);
    const none = node('eval', []);
    t.equal(none.status, 2, '--checkpoint is required: a usage error');
    t.match(none.stderr, /^error: missing --checkpoint FILE/);
    t.ok(noStack(none.stderr));
  });
});

t.test('language model', async (t) => {
  const d = t.testdir({ 'lm.txt': lmText(60), 'lm.json': JSON.stringify(LM_CONFIG) });
  const run = train(join(d, 'lm.json'), join(d, 'runs'), 'tiny-lm');

  t.test('--split: loss and bits per character; the test loss the run reported', async (t) => {
    // The config names lm.txt relative to its folder: run from there, or give --data-root.
    const r = node('eval', ['--checkpoint', run.ckpt, '--split', 'test', '--data-root', d, '--workers', '2']);
    t.equal(r.status, 0, r.stderr);
    const m = JSON.parse(r.stdout);
    t.equal(m.task, 'many-to-many');
    t.equal(m.loss, run.test.loss, 'loss = metrics.jsonl kind:test');
    t.equal(m.accuracy, run.test.accuracy);
    t.ok(Math.abs(m.bitsPerToken - m.loss / Math.LN2) < 1e-12, 'bits = nats / ln 2');
    t.equal(m.bitsPerCharacter, m.bitsPerToken, 'char tokenizer: bits per character');
    t.ok(Math.abs(m.perplexity - Math.exp(m.loss)) < 1e-9);
    t.ok(m.tokens > m.examples, 'one prediction per real token');
    t.notOk('confusion' in m, 'no confusion matrix over the vocabulary');
    const here = node('eval', ['--checkpoint', run.ckpt, '--split', 'val'], { cwd: d });
    t.equal(here.status, 0, here.stderr);

    const elsewhere = node('eval', ['--checkpoint', run.ckpt, '--split', 'test']);
    t.equal(elsewhere.status, 2, 'an input error: exit 2');
    t.match(elsewhere.stderr, /names the data file "lm\.txt".*--data-root DIR/s, 'a relative data path that is not found: how to fix');
  });

  t.test('--data on a text file', async (t) => {
    writeFileSync(join(d, 'more.txt'), lmText(8));
    const r = node('eval', ['--checkpoint', run.ckpt, '--data', join(d, 'more.txt')]);
    t.equal(r.status, 0, r.stderr);
    const m = JSON.parse(r.stdout);
    t.same(m.data.format, 'text');
    t.ok(m.loss > 0 && Number.isFinite(m.loss));
  });

  t.test('data that no longer gives the checkpoint\'s vocabulary is refused', async (t) => {
    const other = join(d, 'changed');
    mkdirSync(other);
    copyFileSync(join(d, 'lm.txt'), join(other, 'lm.txt'));
    appendFileSync(join(other, 'lm.txt'), '\nzebra quiz jumps.\n');
    const r = node('eval', ['--checkpoint', run.ckpt, '--split', 'test', '--data-root', other]);
    t.equal(r.status, 2, 'an input error: exit 2');
    t.match(r.stderr, /no longer gives the model's vocabulary \(vocabulary: \d+ tokens in the checkpoint, \d+ built/);
    t.match(r.stderr, /--data FILE/);
  });
});

t.test('--help', async (t) => {
  const h = node('eval', ['--help']);
  t.equal(h.status, 0);
  t.match(h.stdout, /Usage: eval\.js --checkpoint FILE/);
  t.match(h.stdout, /--split NAME/);
  t.match(h.stdout, /--data FILE/);
  t.match(h.stdout, /Macro-F1 is the mean F1/);
  t.match(h.stdout, /Examples:\n\s+# .*\n\s+node dist\/eval\.js --checkpoint /);
});
