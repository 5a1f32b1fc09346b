// What tripped a new user (issue 24): commands printed for a local install, shipped configs that
// wrote into node_modules, and messages that missed the cause.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DIST, ROOT, node } from './helpers/cli.js';

const NAMES = { name: 'n', seed: 1, data: { source: 'names', sample: 0.05 }, model: { task: 'many-to-one', hidden: 8 }, train: { maxSteps: 2, workers: 1, kernels: 'js' } };

t.test('the next steps a run prints work where the user types them: `npx rnn-eval` when the bin is on PATH only through node_modules/.bin', async (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify(NAMES) });
  const bin = join(dir, 'proj', 'node_modules', '.bin');
  mkdirSync(bin, { recursive: true });
  for (const c of ['train', 'eval', 'predict']) symlinkSync(join(DIST, `${c}.js`), join(bin, `rnn-${c}`));
  const r = spawnSync(process.execPath, [join(DIST, 'train.js'), '--config', join(dir, 'c.json'), '--out', join(dir, 'runs')], {
    cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH}` },
  });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^\s+evaluate\s+npx rnn-eval --checkpoint /m, 'evaluate: npx rnn-eval');
  t.match(r.stdout, /^\s+predict\s+npx rnn-predict --checkpoint /m, 'predict: npx rnn-predict');
  const plain = spawnSync(process.execPath, [join(DIST, 'train.js'), '--config', join(dir, 'c.json'), '--out', join(dir, 'runs2')], { cwd: dir, encoding: 'utf8' });
  t.match(plain.stdout, /^\s+evaluate\s+node \S+eval\.js --checkpoint /m, 'not on PATH: node with the absolute path');
});

t.test('a config inside node_modules writes its run under the current folder, and says so', async (t) => {
  const dir = t.testdir({});
  const cfgDir = join(dir, 'node_modules', 'rnn-trainer', 'configs');
  mkdirSync(cfgDir, { recursive: true });
  writeFileSync(join(cfgDir, 'small.json'), JSON.stringify({ ...NAMES, out: 'runs' }));
  const r = spawnSync(process.execPath, [join(DIST, 'train.js'), '--config', join('node_modules', 'rnn-trainer', 'configs', 'small.json')], { cwd: dir, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(join(dir, 'runs', 'n', 'metrics.jsonl')), 'the run is in ./runs/n');
  t.notOk(existsSync(join(cfgDir, '..', 'runs')), 'nothing written into node_modules');
  t.match(r.stderr, /inside node_modules; the run writes to runs\/n/);
  const out = spawnSync(process.execPath, [join(DIST, 'train.js'), '--config', join(cfgDir, 'small.json'), '--out', join(dir, 'elsewhere')], { cwd: dir, encoding: 'utf8' });
  t.equal(out.status, 0);
  t.ok(existsSync(join(dir, 'elsewhere', 'n')), '--out still chooses');
});

t.test('messages that name the cause', async (t) => {
  const dir = t.testdir({
    'one.txt': 'a single paragraph of text with no blank line in it at all, so it is one document\nand a second line of it\n',
    'lm.json': JSON.stringify({ name: 'lm', data: { source: 'files', file: 'one.txt', seqLength: 8 }, model: { task: 'many-to-many', hidden: 8 }, train: { maxSteps: 1 } }),
    'nosource.json': JSON.stringify({ name: 'x', data: { file: 'one.txt', seqLength: 8 }, model: { task: 'many-to-many', hidden: 8 }, train: { maxSteps: 1 } }),
  });
  const one = node('train', ['--config', join(dir, 'lm.json'), '--out', join(dir, 'runs')]);
  t.equal(one.status, 2);
  t.match(one.stderr, /the val split is empty: the data has only one document, and each document goes to one split whole\. A text file's documents are its paragraphs, separated by blank lines/, 'one document: says so');
  const ns = node('train', ['--config', join(dir, 'nosource.json'), '--out', join(dir, 'runs')]);
  t.notMatch(ns.stderr, /it is `undefined`/, 'data.file without data.source: no `undefined` in the message');
  t.match(ns.stderr, /the data has only one document/, 'data.file without data.source reads the file');
  const bare = node('train', ['reviews.json']);
  t.equal(bare.status, 2);
  t.match(bare.stderr, /unexpected argument `reviews\.json`: did you mean `--config reviews\.json`\?/);
  const ck = node('eval', ['model.ckpt']);
  t.match(ck.stderr, /did you mean `--checkpoint model\.ckpt`\?/);
  t.ok(ROOT);
});
