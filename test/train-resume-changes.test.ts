// Resume (issue 4), with the real command: config changes are refused (model shape) or allowed
// and logged (safe, behaviour); checkpoints of an abandoned timeline (an explicit older --resume
// PATH, invalid newer files, an earlier run when starting over) are moved to
// checkpoints/abandoned-<time>/ so `latest` and retention never take them. Needs `npm run build`.

import t from 'tap';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readCheckpoint, writeCheckpointAtomic } from '../src/checkpoint/index.js';
import { NAMES, TRAIN, checkpoints, exit0, finalState, hasStack, stepOf, train, trainAsync } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(TRAIN)) throw new Error(`${TRAIN} is missing: run \`npm run build\` first`);
});

const runDirOf = (out: string) => join(out, 'names-tiny');

t.test('a changed model shape is refused, listing the difference; nothing is written', async (t) => {
  const out = t.testdir({});
  const runDir = runDirOf(out);
  exit0(t, train('--config', NAMES, '--out', out, '--workers', '1', '--max-steps', '5', '--quiet'), 'stopped run');
  const before = checkpoints(runDir);
  const changes = [
    ['model.hidden=24', /model\.hidden: 16 -> 24/],
    ['model.input="onehot"', /model\.input: \{"embedding":8\} -> "onehot"/],
    ['train.optimizer=sgd', /train\.optimizer: "adam" -> "sgd"/],
    ['data.sample=0.1', /data\.sample: 0\.08 -> 0\.1/],
    ['model.cell=lstm', /model\.cell: "rnn" -> "lstm"/],
    ['model.layers=2', /model\.layers: 1 -> 2/],
    ['data.labels=["female","male"]', /data\.labels: \(not set\) -> \["female","male"\]/], // a field absent from the checkpoint's config: not "undefined"
  ] as const;
  // One at a time: the run directory's lock refuses a second trainer while one holds it.
  const rs = changes.map(([set]) => train('--config', NAMES, '--out', out, '--workers', '1', '--resume', 'latest', '--set', set));
  for (const [i, [set, diff]] of changes.entries()) {
    const r = rs[i];
    t.equal(r.status, 2, `--set ${set}: exit 2`);
    t.match(r.stderr, /^error: cannot resume from \S+step-000000005\.ckpt: the config changes the model or its data:/m, `--set ${set}: says why`);
    t.match(r.stderr, diff, `--set ${set}: lists the change`);
    t.notOk(hasStack(r.stderr), `--set ${set}: no stack trace`);
  }
  t.same(checkpoints(runDir), before, 'no checkpoint written or moved');
});

t.test('a checkpoint written before cells, layers and their options existed resumes, with no change reported', async (t) => {
  const out = t.testdir({});
  const runDir = runDirOf(out);
  exit0(t, train('--config', NAMES, '--out', out, '--workers', '1', '--max-steps', '5', '--quiet'), 'stopped run');
  const file = checkpoints(runDir).at(-1)!;
  const c = readCheckpoint(file);
  const cfg = JSON.parse(c.config);
  for (const k of ['layers', 'init', 'forgetBias', 'chrono']) delete cfg.model[k]; // as an older version resolved it
  delete cfg.train.carryState;
  delete c.spec.layers;
  writeCheckpointAtomic(file, { ...c, config: JSON.stringify(cfg) });
  const r = train('--config', NAMES, '--out', out, '--workers', '1', '--resume', 'latest', '--max-steps', '8', '--quiet');
  exit0(t, r, 'resumed');
  t.notMatch(r.stderr, /resume: (model\.\w+|train\.carryState) changed/, 'no change of the model (or of carrying state, which a classifier ignores) reported');
  t.equal(stepOf(checkpoints(runDir).at(-1)!), 8, 'ran on to step 8');
});

t.test('safe and behaviour changes are allowed and logged', async (t) => {
  const dir = t.testdir({});
  const out = join(dir, 'run');
  const ref = join(dir, 'ref');
  const runDir = runDirOf(out);
  const [a, refRun] = await Promise.all([
    trainAsync('--config', NAMES, '--out', out, '--workers', '2', '--max-steps', '7', '--quiet'),
    trainAsync('--config', NAMES, '--out', ref, '--workers', '2', '--set', 'train.epochs=3', '--quiet'),
  ]);
  exit0(t, a, 'stopped run');
  exit0(t, refRun, 'reference run');
  const r = train('--config', NAMES, '--out', out, '--resume', 'latest', '--quiet',
    '--workers', '1', '--set', 'train.lr=0.02', '--set', 'train.epochs=3', '--set', 'train.clipNorm=2');
  exit0(t, r, 'resumed with changes');
  t.match(r.stderr, /resume: train\.lr changed 0\.01 -> 0\.02\n/);
  t.match(r.stderr, /resume: train\.epochs changed 2 -> 3\n/);
  t.match(r.stderr, /resume: train\.workers changed 2 -> 1\n/);
  t.match(r.stderr, /resume: train\.clipNorm changed 5 -> 2 \(allowed; the run will differ from an uninterrupted one\)/);
  t.equal(stepOf(checkpoints(runDir).at(-1)!), 48, 'three epochs of 16 steps');
  const saved = JSON.parse(readCheckpoint(checkpoints(runDir).at(-1)!).config);
  t.equal(saved.train.lr, 0.02, 'the new settings are in the new checkpoints');
  // The same changes make a different run: the equality tests above are not vacuous.
  t.notSame(finalState(runDir).params, finalState(runDirOf(ref)).params, 'a resumed run with another lr ends elsewhere');
});

t.test('resuming from an older checkpoint moves the newer ones aside', async (t) => {
  const out = t.testdir({});
  const runDir = runDirOf(out);
  const ck = join(runDir, 'checkpoints');
  const common = ['--config', NAMES, '--out', out, '--workers', '2', '--quiet'];
  exit0(t, train(...common, '--max-steps', '20'), 'first run');
  t.same(checkpoints(runDir).map(stepOf), [16, 18, 20], 'epoch end (best), then the 2 newest');

  // Go back to step 16 and take another road (another lr) for 3 steps.
  const r = train(...common, '--resume', join(ck, 'step-000000016.ckpt'), '--set', 'train.lr=0.05', '--max-steps', '19');
  exit0(t, r, 'resumed from step 16');
  t.match(r.stderr, /warning: resuming at step 16, before 2 checkpoints \(step-000000018\.ckpt, step-000000020\.ckpt\) of a later step; they belong to the abandoned continuation and were moved to \S*abandoned-/);
  const aside = readdirSync(ck).filter((n) => n.startsWith('abandoned-'));
  t.equal(aside.length, 1, 'one abandoned-<time> directory');
  t.same(readdirSync(join(ck, aside[0])).sort(), ['step-000000018.ckpt', 'step-000000020.ckpt'], 'the later files, moved, not deleted');
  t.same(checkpoints(runDir).map(stepOf), [16, 18, 19], 'the new timeline only');
  t.equal(JSON.parse(readCheckpoint(join(ck, 'step-000000018.ckpt')).config).train.lr, 0.05, 'step 18 is the new road\'s');

  // `latest` now continues the new timeline, not the abandoned step 20.
  const l = train(...common, '--resume', 'latest', '--set', 'train.lr=0.05', '--max-steps', '21');
  exit0(t, l, 'resumed from latest');
  t.match(l.stderr, /resumed from \S+step-000000019\.ckpt at step 19/);
  t.notMatch(l.stderr, /abandoned/, 'nothing newer to move this time');
});

t.test('starting over without --resume moves the earlier run\'s checkpoints aside', async (t) => {
  const out = t.testdir({});
  const runDir = runDirOf(out);
  const common = ['--config', NAMES, '--out', out, '--workers', '2', '--quiet'];
  exit0(t, train(...common, '--max-steps', '12'), 'earlier run');
  const r = train(...common, '--max-steps', '4');
  exit0(t, r, 'new run');
  t.match(r.stderr, /warning: starting a new run in a run directory with 2 checkpoints \(step-000000009\.ckpt, step-000000012\.ckpt\), metrics\.jsonl and grad-profile\.jsonl of an earlier run; moved them to \S*abandoned-\S+ \(to continue a run, use --resume latest\)/);
  t.same(checkpoints(runDir).map(stepOf), [3, 4], 'only the new run\'s');
  const l = train(...common, '--resume', 'latest', '--max-steps', '5');
  t.match(l.stderr, /resumed from \S+step-000000004\.ckpt at step 4/, '`latest` is the new run\'s');
});

t.test('--resume latest past an invalid newest checkpoint moves that file aside too', async (t) => {
  const out = t.testdir({});
  const runDir = runDirOf(out);
  const common = ['--config', NAMES, '--out', out, '--workers', '2', '--quiet'];
  exit0(t, train(...common, '--max-steps', '12'), 'first run');
  const [older, newest] = checkpoints(runDir);
  writeFileSync(newest, readFileSync(newest).subarray(0, 1000)); // cut short, as by a failing disk
  const r = train(...common, '--resume', 'latest', '--max-steps', '13');
  exit0(t, r, 'resumed');
  t.match(r.stderr, /warning: skipping invalid checkpoint: .*step-000000012\.ckpt: truncated/);
  t.match(r.stderr, new RegExp(`resumed from ${older.replace(/[.]/g, '\\.')} at step 9`));
  t.match(r.stderr, /warning: resuming at step 9, before 1 checkpoint \(step-000000012\.ckpt\) of a later step; it belongs to the abandoned continuation and was moved to \S*abandoned-/);
  t.same(checkpoints(runDir).map(stepOf), [12, 13], 'steps 12 and 13 of this run');
  for (const f of checkpoints(runDir)) t.equal(readCheckpoint(f).training.globalStep, stepOf(f), `${basename(f)} is valid`);
});
