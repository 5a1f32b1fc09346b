// The library API (issue 12): train() from in-memory data with callbacks, an AbortSignal and early
// stopping, and the Model it returns (classify, generate, evaluate, save, load). Worker threads
// load dist/: needs `npm run build`.

import t from 'tap';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { train, Model, type Example, type RunOptions } from '../src/index.js';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { ROOT, TRAIN, finalState } from './fixtures/train/helpers.js';
import { xoExamples } from './helpers/examples.js';

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'workers', 'shard.js'))) throw new Error('dist/workers/shard.js is missing: run `npm run build` first');
});

const examples = xoExamples;
const DATA = { train: examples(240, 1), val: examples(60, 2), test: examples(60, 3) };
const CONFIG = {
  name: 'xo', seed: 3,
  model: { task: 'many-to-one' as const, hidden: 16, input: { embedding: 8 } },
  train: { epochs: 3, batchSize: 16, lr: 0.02, workers: 2, kernels: 'js' as const, logEvery: 5 },
  checkpoint: { every: 0, keepLast: 2 },
};

t.test('train() from examples in memory: callbacks, the summary, and a Model that classifies, evaluates, saves and loads', async (t) => {
  const dir = t.testdir({});
  const seen = { start: 0, steps: [] as number[], validations: [] as number[], checkpoints: [] as string[], kinds: new Set<string>() };
  const r = await train({
    config: CONFIG, data: DATA, baseDir: dir,
    onStart: (e) => { seen.start++; t.equal(e.totalSteps, 45, 'onStart: 3 epochs of 15 batches'); },
    onStep: (e) => seen.steps.push(e.step),
    onValidation: (v) => seen.validations.push(v.step),
    onCheckpoint: (c) => seen.checkpoints.push(c.file),
    onMessage: (m) => seen.kinds.add(m.kind),
  });
  t.equal(seen.start, 1);
  t.same(seen.steps, Array.from({ length: 45 }, (_, i) => i + 1), 'onStep after every step, in order');
  t.same(seen.validations, [15, 30, 45], 'a validation at each epoch end (the last is the final one)');
  t.ok(seen.checkpoints.length >= 3 && seen.checkpoints.every((f) => f.startsWith(join(dir, 'runs', 'xo', 'checkpoints'))), 'checkpoints under <baseDir>/runs/<name>');
  t.ok(seen.kinds.has('data') && seen.kinds.has('model'), 'the data report and the model line are messages');
  t.equal(r.runDir, join(dir, 'runs', 'xo'));
  t.equal(r.steps, 45);
  t.notOk(r.interrupted);
  t.notOk(r.earlyStopped);
  t.equal(r.modelCheckpoint, r.lastCheckpoint);
  t.ok(r.test!.accuracy > 0.75, `it learned: test accuracy ${r.test!.accuracy}`);
  t.ok(existsSync(r.reportPath), 'report.html written');

  const m = r.model;
  t.equal(m.task, 'classifier');
  t.same(m.labels, ['o', 'x']);
  const one = m.classify('xxxab');
  t.equal(one.label, 'x');
  t.ok(Math.abs(one.probs.x + one.probs.o - 1) < 1e-6, 'probabilities sum to 1');
  const many = m.classify(['oooab', 'xaxbx']);
  t.same(many.map((p) => p.label), ['o', 'x']);
  // evaluate() on the test split in memory equals the run's own test pass.
  const ev = await m.evaluate(DATA.test, { workers: 2, batchSize: 16, kernels: 'js' });
  t.equal(ev.count, 60);
  t.ok(Math.abs(ev.loss - r.test!.loss) < 1e-9 && ev.accuracy === r.test!.accuracy, 'evaluate(data) = the run\'s test metrics');
  t.same(ev.confusion!.flat().reduce((a, b) => a + b, 0), 60, 'a confusion matrix over all examples');
  const saved = m.save(join(dir, 'model.ckpt'));
  const back = Model.load(saved);
  t.same(back.classify(['oooab', 'xaxbx']), many, 'a saved and loaded model classifies the same');
  t.throws(() => m.generate('x'), /is a classifier: use classify/);
});

t.test('in-memory data trains exactly as the same examples in JSON Lines files', async (t) => {
  const dir = t.testdir({});
  for (const s of ['train', 'val', 'test'] as const) writeFileSync(join(dir, `${s}.jsonl`), DATA[s].map((e) => JSON.stringify(e)).join('\n') + '\n');
  const mem = await train({ config: { ...CONFIG, name: 'mem' }, data: DATA, baseDir: dir });
  const files = await train({ config: { ...CONFIG, name: 'files', data: { source: 'files', train: 'train.jsonl', val: 'val.jsonl', test: 'test.jsonl' } }, baseDir: dir });
  const a = readCheckpoint(mem.lastCheckpoint!), b = readCheckpoint(files.lastCheckpoint!);
  t.same(a.vocab, b.vocab);
  t.same(a.params.map((p) => Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).toString('base64')),
    b.params.map((p) => Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).toString('base64')), 'bit-identical parameters');
  t.equal(mem.test!.loss, files.test!.loss);
});

t.test('an AbortSignal stops after the current step with a checkpoint; resuming ends bit-identical to an uninterrupted run', async (t) => {
  const dir = t.testdir({});
  const full = await train({ config: { ...CONFIG, name: 'full' }, data: DATA, baseDir: dir });
  const stop = new AbortController();
  const o: RunOptions = { config: { ...CONFIG, name: 'cut' }, data: DATA, baseDir: dir, signal: stop.signal, onStep: (e) => { if (e.step === 20) stop.abort(); } };
  const cut = await train(o);
  t.ok(cut.interrupted);
  t.equal(cut.steps, 20);
  t.match(cut.lastCheckpoint, /step-0+20\.ckpt$/);
  t.equal(cut.test, undefined, 'no final evaluation after a stop');
  const resumed = await train({ ...o, signal: undefined, onStep: undefined, resume: 'latest' });
  t.equal(resumed.steps, 45);
  t.same(finalState(resumed.runDir), finalState(full.runDir), 'the same final state');
});

t.test('early stopping: patience counts validations without improvement; the run ends with the best weights', async (t) => {
  const dir = t.testdir({});
  // A learning rate too small to change any prediction: every validation ties the first (a tie is
  // not an improvement), so the run stops after 1 + patience validations, at the first one's weights.
  const cfg = { ...CONFIG, name: 'es', train: { ...CONFIG.train, lr: 1e-9, epochs: 10, validateEvery: 4, earlyStopping: { patience: 2 } } };
  const vals: Array<{ step: number; sinceBest: number; improved: boolean }> = [];
  const r = await train({ config: cfg, data: DATA, baseDir: dir, onValidation: (v) => vals.push({ step: v.step, sinceBest: v.sinceBest, improved: v.improved }) });
  t.ok(r.earlyStopped);
  t.equal(r.steps, 12, 'validations at steps 4, 8, 12; stopped at the third');
  t.same(vals.slice(0, 3), [{ step: 4, sinceBest: 0, improved: true }, { step: 8, sinceBest: 1, improved: false }, { step: 12, sinceBest: 2, improved: false }]);
  t.equal(r.best.step, 4);
  t.match(r.modelCheckpoint, /step-0+4\.ckpt$/, 'the model is the best checkpoint');
  t.same(r.model.step, 4);
  t.match(r.best.rule, /highest validation accuracy/);
  // Resumed, a run that stopped early stays stopped.
  const again = await train({ config: cfg, data: DATA, baseDir: dir, resume: 'latest' });
  t.ok(again.earlyStopped);
  t.equal(again.steps, 12);
});

t.test('early stopping with validateEvery: an epoch-end validation a few steps after a grid one adds no tick', async (t) => {
  const dir = t.testdir({});
  // 15 batches an epoch, validateEvery 6: validations at 6, 12, 15 (epoch end), 18, ... Every one
  // ties the first (lr too small to change a prediction). Counting 15 as a tick stopped at 15, three
  // steps after 12 and 9 after the best (the README's example stopped 212 steps after its best with
  // validateEvery 200 and patience 3); now patience × validateEvery steps pass: stopped at 18.
  const cfg = { ...CONFIG, name: 'es-grid', train: { ...CONFIG.train, lr: 1e-9, epochs: 10, validateEvery: 6, earlyStopping: { patience: 2 } } };
  const vals: Array<[number, number]> = [];
  const r = await train({ config: cfg, data: DATA, baseDir: dir, onValidation: (v) => vals.push([v.step, v.sinceBest]) });
  t.ok(r.earlyStopped);
  t.same(vals, [[6, 0], [12, 1], [15, 1], [18, 2]], 'the epoch-end validation at 15 neither ticks nor resets');
  t.equal(r.steps - r.best.step, 2 * 6, 'stopped patience × validateEvery steps after the best');
  t.equal(r.best.step, 6);
});

t.test('a language model from documents in memory: generate and evaluate', async (t) => {
  const dir = t.testdir({});
  const docs = Array.from({ length: 40 }, (_, i) => `the cat sat on the mat ${i % 7}. the dog ran to the cat.`);
  const vals: number[] = [];
  const r = await train({
    config: { name: 'lm', seed: 2, model: { task: 'many-to-many', hidden: 24 }, data: { seqLength: 16, bos: true, eos: true, split: { val: 0.2, test: 0.2 } }, train: { epochs: 4, batchSize: 8, lr: 0.02, workers: 2, kernels: 'js' } },
    data: docs, baseDir: dir, onValidation: (v) => vals.push(v.step),
  });
  t.equal(r.model.task, 'language model');
  // 4 epochs (< 5) and validateEvery 0: about 5 validations over the run, not one per epoch.
  t.ok(vals.length >= 5, `validations at ${vals.join(', ')} of ${r.steps} steps`);
  const report = readFileSync(r.reportPath, 'utf8');
  t.match(report, /<h2>Sample<\/h2><p class="note">200 tokens generated from &lt;s&gt; by the weights of step \d+, temperature 0\.8, seed 2\.<\/p><pre class="sample">[^<]+</, 'the report shows a generated sample');
  t.match(report, /test bits per token</);
  const a = r.model.generate('the ', { length: 30, seed: 5 });
  t.ok(a.startsWith('the ') && a.length > 4, 'the prompt and its continuation');
  t.equal(r.model.generate('the ', { length: 30, seed: 5 }), a, 'the same seed, the same text');
  t.equal(r.model.generate('the ', { length: 30, temperature: 0 }), r.model.generate('the ', { length: 30, temperature: 0, seed: 9 }), 'greedy ignores the seed');
  const ev = await r.model.evaluate(docs.slice(0, 5));
  t.ok(ev.bitsPerToken! > 0 && ev.bitsPerToken! < 4, `bits per token ${ev.bitsPerToken}`);
  t.throws(() => r.model.classify('x'), /is a language model: use generate/);
});

t.test('bad in-memory data and configs get the same kind of errors as files', async (t) => {
  const dir = t.testdir({});
  const bad = [...DATA.train.slice(0, 3), { text: 'xxa' } as unknown as Example];
  await t.rejects(train({ config: CONFIG, data: { train: bad, val: DATA.val, test: DATA.test }, baseDir: dir }),
    { name: 'DataError', message: /^data\.train\[3\]: label: expected a string, found nothing\. Give each example its label as a string\./ });
  await t.rejects(train({ config: CONFIG, data: { train: DATA.train, val: [...DATA.val, { text: 'xxa', label: 'maybe' }], test: DATA.test }, baseDir: dir }),
    { name: 'DataError', message: /^data\.val\[60\]: label "maybe" is not one of the labels \("o", "x"\)/ });
  await t.rejects(train({ config: CONFIG, data: 'just a string', baseDir: dir }), { name: 'DataError', message: /expected an array of \{ text, label \} examples for a classifier/ });
  await t.rejects(train({ config: { ...CONFIG, data: { source: 'names' } }, data: DATA, baseDir: dir }), { name: 'ConfigError', message: /data\.source is "names", and examples were passed in memory too/ });
  await t.rejects(train({ config: { ...CONFIG, train: { ...CONFIG.train, lr: -1 } }, data: DATA, baseDir: dir }), { name: 'ConfigError', message: /^config: train\.lr: expected a number > 0/ });
  // A config file cannot name in-memory data: the command says where such data comes from.
  writeFileSync(join(dir, 'mem.json'), JSON.stringify({ ...CONFIG, data: { source: 'memory' } }));
  const cli = spawnSync(process.execPath, [TRAIN, '--config', join(dir, 'mem.json')], { cwd: dir, encoding: 'utf8' });
  t.equal(cli.status, 2);
  t.match(cli.stderr, /data\.source "memory" takes its examples from a program/);
  t.notMatch(cli.stderr, /\n\s+at /, 'no stack trace');
});

t.test('without validation data: no validations, no best, and early stopping is refused', async (t) => {
  const dir = t.testdir({});
  const vals: number[] = [];
  const r = await train({ config: { ...CONFIG, name: 'noval', train: { ...CONFIG.train, epochs: 1 } }, data: { train: DATA.train, test: DATA.test }, baseDir: dir, onValidation: (v) => vals.push(v.step) });
  t.same(vals, [], 'no validation');
  t.equal(r.val, undefined);
  t.ok(Number.isNaN(r.best.metric) && r.best.step === 0 && r.best.checkpoint === null, 'no best');
  t.ok(r.test!.count === 60, 'the test split is scored');
  await t.rejects(train({ config: { ...CONFIG, name: 'noval-es', train: { ...CONFIG.train, earlyStopping: { patience: 2 } } }, data: { train: DATA.train }, baseDir: dir }),
    { name: 'ConfigError', message: /train\.earlyStopping needs validation data, and this run has none/ });
});

t.test('progress: true draws train.js\'s progress lines on stderr (a log line off a terminal) beside the callbacks', async (t) => {
  const dir = t.testdir({});
  const script = join(dir, 'p.mjs');
  writeFileSync(script, `import { train } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};
const data = Array.from({ length: 200 }, (_, i) => ({ text: 'ab'.repeat(1 + (i % 5)) + (i % 2 ? 'x' : 'o'), label: i % 2 ? 'x' : 'o' }));
const steps = [];
await train({ config: { name: 'p', model: { task: 'many-to-one', hidden: 8 }, train: { epochs: 2, batchSize: 16, workers: 1, kernels: 'js', logEvery: 5 } }, data, baseDir: process.argv[2], progress: true, onStep: (s) => steps.push(s.step) });
console.log(steps.length);
`);
  const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, '20\n', 'the caller\'s onStep still hears every step; nothing on stdout');
  t.match(r.stderr, /^epoch 1\/2: 10 batches/m);
  t.match(r.stderr, /^epoch 2\/2 +step 20\/20 +loss [\d.]+/m);
  t.match(r.stderr, /^validation after step 10: loss [\d.]+, accuracy/m);
  t.notMatch(r.stderr, /\r|\x1b/, 'no terminal redraws off a terminal');
});

t.test('output: false writes no file: the model comes back from memory, early stopping\'s best included', async (t) => {
  const dir = t.testdir({});
  const cps: string[] = [];
  const r = await train({ config: { ...CONFIG, name: 'mem' }, data: DATA, baseDir: dir, output: false, onCheckpoint: (c) => cps.push(c.file) });
  t.same(readdirSync(dir), [], 'nothing in the base directory');
  t.equal(r.steps, 45);
  t.equal(r.reportPath, '');
  t.equal(r.lastCheckpoint, null);
  t.same(cps, [], 'no checkpoint event: there is no file');
  t.ok(r.test && r.test.count === 60, 'the test split is scored');
  // The same run on disk gives the same weights and the same test.
  const disk = await train({ config: { ...CONFIG, name: 'disk' }, data: DATA, baseDir: dir });
  t.same(Array.from(r.model.params.data), Array.from(disk.model.params.data), 'the model in memory is the run\'s, bit for bit');
  t.same(r.test, disk.test);
  t.equal(r.model.classify('xxxa').label, disk.model.classify('xxxa').label);
  const saved = join(dir, 'm.ckpt');
  r.model.save(saved);
  t.ok(existsSync(saved), 'it can still be saved where the caller says');

  // Early stopping: the model is the best validation's, kept in memory.
  const es = { ...CONFIG, name: 'mem-es', train: { ...CONFIG.train, lr: 1e-9, epochs: 10, validateEvery: 4, earlyStopping: { patience: 2 } } };
  const e = await train({ config: es, data: DATA, baseDir: t.testdir({}), output: false });
  t.ok(e.earlyStopped);
  t.equal(e.model.step, 4, 'the best validation\'s weights');
  await t.rejects(train({ config: CONFIG, data: DATA, baseDir: dir, output: false, resume: 'latest' }), { name: 'ConfigError', message: /output: false keeps the run in memory, so it cannot resume/ });
});
