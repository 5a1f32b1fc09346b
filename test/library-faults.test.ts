// What a program using the library gets when it or its input is wrong (issue 21, items 9, 10, 12,
// 13): typed errors saying what was expected (not raw TypeErrors), an async callback that rejects
// ending the run as a throwing one does (not an unhandled rejection killing the process), a
// finished run resumed logging nothing twice, NaN in a config named as NaN, and an unknown
// RNN_TRAINER_KERNELS being the user's input (exit 2) in every command. Needs `npm run build`.

import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { train, Model, type Example, type RunOptions } from '../src/index.js';
import { ROOT, checkpoints } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'workers', 'shard.js'))) throw new Error('dist/workers/shard.js is missing: run `npm run build` first');
});

const examples = (n: number, seed: number): Example[] =>
  Array.from({ length: n }, (_, i) => { const x = (i * 7 + seed) % 5; return { text: 'ab'.repeat(1 + x) + 'x'.repeat(x % 2 ? 2 : 0), label: x % 2 ? 'odd' : 'even' }; });
const DATA = { train: examples(64, 1), val: examples(16, 2), test: examples(16, 3) };
const CONFIG = {
  name: 'c', seed: 3,
  model: { task: 'many-to-one' as const, hidden: 8, input: { embedding: 4 } },
  train: { epochs: 2, batchSize: 16, lr: 0.02, workers: 2, kernels: 'js' as const },
  checkpoint: { every: 2, keepLast: 2 },
};
const run = (dir: string, more: Partial<RunOptions> & { name?: string } = {}): RunOptions =>
  ({ config: { ...CONFIG, name: more.name ?? 'c' }, data: DATA, baseDir: dir, ...more });

t.test('typed errors, not TypeErrors: Model.load, classify and generate given the wrong kind of value', async (t) => {
  const dir = t.testdir({});
  const clf = (await train(run(dir, { name: 'clf' }))).model;
  const lm = (await train({ config: { name: 'lm', seed: 1, model: { task: 'many-to-many', hidden: 8 }, data: { seqLength: 8, split: { val: 0.2, test: 0.2 } }, train: { epochs: 1, batchSize: 4, workers: 1, kernels: 'js' } }, data: Array.from({ length: 20 }, (_, i) => `abc abd ${i}`), baseDir: dir })).model;
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['Model.load(123)', () => Model.load(123 as unknown as string), /^Model\.load: expected the path of a checkpoint file \(a non-empty string\), found 123$/],
    ['Model.load(undefined)', () => Model.load(undefined as unknown as string), /^Model\.load: expected the path of a checkpoint file \(a non-empty string\), found nothing$/],
    ['classify(null)', () => clf.classify(null as unknown as string), /^classify: expected a text \(a string\) or a list of texts, found null$/],
    ['classify(123)', () => clf.classify(123 as unknown as string), /^classify: expected a text \(a string\) or a list of texts, found 123$/],
    ['generate(12345)', () => lm.generate(12345 as unknown as string), /^generate: expected the prompt as a string \(or nothing\), found 12345$/],
    ["generate('ab', null)", () => lm.generate('ab', null as unknown as object), /^generate: expected options \{ length, temperature, topK, topP, stop, seed \} \(an object, or nothing\), found null$/],
  ];
  for (const [what, f, message] of cases) t.throws(f, { name: 'ConfigError', exitCode: 2, message }, what);
});

t.test('an async callback that rejects ends the run as a throwing one does, with its error and its checkpoints', async (t) => {
  const dir = t.testdir({});
  const boom = (step: number) => new Error(`callback failed at step ${step}`);
  await t.rejects(train(run(dir, { name: 'sync', onStep: (e) => { if (e.step === 3) throw boom(3); } })), { message: 'callback failed at step 3' }, 'a sync throw: the run rejects with its error');
  for (const [name, more] of [
    ['onStep', { onStep: async (e: { step: number }) => { await new Promise((r) => setTimeout(r, 1)); if (e.step === 3) throw boom(3); } }],
    ['onCheckpoint', { onCheckpoint: async (e: { step: number }) => { if (e.step === 4) throw boom(4); } }],
    ['onValidation', { onValidation: async () => { throw boom(4); } }],
    ['onMessage', { onMessage: async (m: { kind: string }) => { if (m.kind === 'model') throw boom(0); } }],
    ['onStart', { onStart: async () => { throw boom(0); } }],
  ] as const) {
    await t.rejects(train(run(dir, { name, ...more } as Partial<RunOptions>)), { message: /^callback failed at step \d$/ }, `${name}: the run rejects with the callback's error`);
    t.notOk(existsSync(join(dir, 'runs', name, 'train.lock')), `${name}: the lock is released`);
  }
  t.same(checkpoints(join(dir, 'runs', 'onStep')).map((f) => f.slice(-9)), checkpoints(join(dir, 'runs', 'sync')).map((f) => f.slice(-9)), 'async onStep: the same checkpoints as the sync throw');
});

t.test('--resume auto of a finished run: nothing trained, nothing logged twice, the same summary', async (t) => {
  const dir = t.testdir({});
  const first = await train(run(dir));
  const metrics = join(first.runDir, 'metrics.jsonl');
  const before = readFileSync(metrics, 'utf8');
  const said: string[] = [];
  const again = await train(run(dir, { resume: 'auto', onMessage: (m) => said.push(m.text) }));
  t.equal(readFileSync(metrics, 'utf8'), before, 'metrics.jsonl unchanged: no second validation or test row');
  t.ok(said.includes(`the run had already finished at step ${first.steps}: nothing to train; its final evaluations are not logged again`), 'it says so');
  t.equal(again.steps, first.steps);
  t.same(again.test, first.test, 'the summary has the same test metrics');
  t.same(again.val, first.val, 'and the same final validation');
});

t.test('NaN and Infinity in a config object are named as such, not as null', async (t) => {
  const dir = t.testdir({});
  await t.rejects(train({ ...run(dir), config: { ...CONFIG, train: { ...CONFIG.train, lr: NaN, clipNorm: Infinity } } }), {
    name: 'ConfigError', message: /train\.lr: expected a number > 0, found NaN\n.*train\.clipNorm: expected a number >= 0, found Infinity/s,
  });
});

t.test('RNN_TRAINER_KERNELS=cuda is the user\'s input: exit 2 in train, eval and predict alike', async (t) => {
  const dir = t.testdir({});
  const ckpt = (await train(run(dir))).lastCheckpoint!;
  const data = join(dir, 'test.jsonl');
  writeFileSync(data, DATA.test.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const env = { ...process.env, RNN_TRAINER_KERNELS: 'cuda' };
  const cmd = (name: string, args: string[]) => spawnSync(process.execPath, [join(ROOT, 'dist', `${name}.js`), ...args], { cwd: ROOT, encoding: 'utf8', env });
  for (const [name, args] of [
    ['train', ['--config', 'test/fixtures/train/names.json', '--out', dir, '--max-steps', '1']],
    ['eval', ['--checkpoint', ckpt, '--data', data]],
    ['predict', ['--checkpoint', ckpt, '--text', 'abab']],
  ] as const) {
    const r = cmd(name, [...args]);
    t.equal(r.status, 2, `${name}: exit 2`);
    t.match(r.stderr, /^error: RNN_TRAINER_KERNELS=cuda is not a compute backend: use auto, .* \(or unset it\)\n$/, `${name}: one line naming the variable`);
  }
});
