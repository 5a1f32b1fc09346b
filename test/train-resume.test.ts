// Resume (issue 4), with the real command: a run stopped at step k by --max-steps and continued
// with --resume ends in exactly the state of an uninterrupted run (SHA-256 of every parameter and
// optimizer tensor, counters, RNG state); config changes on resume are refused or logged by kind;
// and resuming from an older checkpoint sets the newer ones aside. Needs `npm run build`.

import t from 'tap';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { LM, NAMES, TRAIN, checkpoints, exit0, finalState, fingerprint, hasStack, stepOf, train, trainAsync } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(TRAIN)) throw new Error(`${TRAIN} is missing: run \`npm run build\` first`);
});

const runDirOf = (out: string, config: string) => join(out, config === NAMES ? 'names-tiny' : 'lm-tiny');

// names: 16 steps an epoch, checkpoints every 3; lm: 17 steps an epoch, every 4. One chain of
// runs stops in the middle of an epoch off the checkpoint grid (k1), is resumed and stopped again
// exactly at the end of the first epoch (k2), and resumed to the end.
const cases = [
  { config: NAMES, total: 32, k1: 7, k2: 16 },
  { config: LM, total: 34, k1: 9, k2: 17 },
];

for (const { config, total, k1, k2 } of cases) {
  for (const workers of ['1', '2']) {
    // Once (names, 2 workers) the last leg resumes from an explicit PATH instead of `latest`.
    const byPath = workers === '2' && config === NAMES;
    t.test(`${basename(config)}, --workers ${workers}: stopped at ${k1} (mid-epoch) and ${k2} (epoch end), resumed with --resume ${byPath ? 'latest, then PATH' : 'latest'}: same final state`, async (t) => {
      const dir = t.testdir({});
      const common = ['--config', config, '--workers', workers, '--quiet'];
      const out = join(dir, 'run');
      const runDir = runDirOf(out, config);
      const [ref, a] = await Promise.all([
        trainAsync(...common, '--out', join(dir, 'ref')),
        trainAsync(...common, '--out', out, '--max-steps', String(k1)),
      ]);
      exit0(t, ref, 'uninterrupted run');
      exit0(t, a, `run to step ${k1}`);
      const want = finalState(runDirOf(join(dir, 'ref'), config));
      t.equal((want.training as { globalStep: number }).globalStep, total, 'the uninterrupted run took every step');
      t.equal(stepOf(checkpoints(runDir).at(-1)!), k1, `the stopped run's newest checkpoint is at step ${k1}`);
      t.notSame(finalState(runDir).params, want.params, `the state at step ${k1} is not yet the final one`);

      const b = train(...common, '--out', out, '--resume', 'latest', '--max-steps', String(k2));
      exit0(t, b, `resumed at ${k1}, run to ${k2}`);
      t.match(b.stderr, new RegExp(`resumed from \\S+step-0+${k1}\\.ckpt at step ${k1} \\(epoch 1, batch ${k1}\\)`), `resumed at step ${k1}, in the middle of epoch 1`);
      const atK2 = checkpoints(runDir).at(-1)!;
      t.equal(stepOf(atK2), k2, `stopped again at step ${k2}`);
      t.equal(readCheckpoint(atK2).training.batchInEpoch, 0, `step ${k2} is an epoch end`);

      const from = byPath ? atK2 : 'latest';
      const c = train(...common, '--out', out, '--resume', from);
      exit0(t, c, `resumed at ${k2}, run to the end`);
      t.match(c.stderr, new RegExp(`resumed from \\S+step-0+${k2}\\.ckpt at step ${k2} \\(epoch 2, batch 0\\)`), `resumed at step ${k2}, at the start of epoch 2`);
      t.same(finalState(runDir), want, 'bit-identical to the uninterrupted run');
    });
  }
}

t.test('a changed model shape is refused, listing the difference; nothing is written', async (t) => {
  const out = t.testdir({});
  const runDir = runDirOf(out, NAMES);
  exit0(t, train('--config', NAMES, '--out', out, '--workers', '1', '--max-steps', '5', '--quiet'), 'stopped run');
  const before = checkpoints(runDir);
  const changes = [
    ['model.hidden=24', /model\.hidden: 16 -> 24/],
    ['model.input="onehot"', /model\.input: \{"embedding":8\} -> "onehot"/],
    ['train.optimizer=sgd', /train\.optimizer: "adam" -> "sgd"/],
    ['data.sample=0.1', /data\.sample: 0\.08 -> 0\.1/],
  ] as const;
  const rs = await Promise.all(changes.map(([set]) => trainAsync('--config', NAMES, '--out', out, '--workers', '1', '--resume', 'latest', '--set', set)));
  for (const [i, [set, diff]] of changes.entries()) {
    const r = rs[i];
    t.equal(r.status, 2, `--set ${set}: exit 2`);
    t.match(r.stderr, /^error: cannot resume from \S+step-000000005\.ckpt: the config changes the model or its data:/m, `--set ${set}: says why`);
    t.match(r.stderr, diff, `--set ${set}: lists the change`);
    t.notOk(hasStack(r.stderr), `--set ${set}: no stack trace`);
  }
  t.same(checkpoints(runDir), before, 'no checkpoint written or moved');
});

t.test('safe and behaviour changes are allowed and logged', async (t) => {
  const dir = t.testdir({});
  const out = join(dir, 'run');
  const ref = join(dir, 'ref');
  const runDir = runDirOf(out, NAMES);
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
  t.notSame(finalState(runDir).params, finalState(runDirOf(ref, NAMES)).params, 'a resumed run with another lr ends elsewhere');
});

t.test('resuming from an older checkpoint moves the newer ones aside', async (t) => {
  const dir = t.testdir({});
  const out = join(dir, 'run');
  const ref = join(dir, 'ref');
  const runDir = runDirOf(out, NAMES);
  const ck = join(runDir, 'checkpoints');
  const common = ['--config', NAMES, '--workers', '2', '--quiet'];
  const [a, refA] = await Promise.all([
    trainAsync(...common, '--out', out, '--max-steps', '20'),
    trainAsync(...common, '--out', ref, '--max-steps', '16'),
  ]);
  exit0(t, a, 'first run');
  exit0(t, refA, 'reference, first part');
  t.same(checkpoints(runDir).map(stepOf), [16, 18, 20], 'epoch end (best), then the 2 newest');

  // Go back to step 16 and take another road (another lr) for 3 steps.
  const [r, refB] = await Promise.all([
    trainAsync(...common, '--out', out, '--resume', join(ck, 'step-000000016.ckpt'), '--set', 'train.lr=0.05', '--max-steps', '19'),
    trainAsync(...common, '--out', ref, '--resume', 'latest', '--set', 'train.lr=0.05', '--max-steps', '21'),
  ]);
  exit0(t, r, 'resumed from step 16');
  exit0(t, refB, 'reference, second part');
  t.match(r.stderr, /warning: resuming at step 16, before 2 checkpoints \(step-000000018\.ckpt, step-000000020\.ckpt\) of a later step; they belong to the abandoned continuation and were moved to \S*abandoned-/);
  const aside = readdirSync(ck).filter((n) => n.startsWith('abandoned-'));
  t.equal(aside.length, 1, 'one abandoned-<time> directory');
  t.same(readdirSync(join(ck, aside[0])).sort(), ['step-000000018.ckpt', 'step-000000020.ckpt'], 'the later files, moved, not deleted');
  t.same(checkpoints(runDir).map(stepOf), [16, 18, 19], 'the new timeline only');
  const mine = fingerprint(readCheckpoint(join(ck, 'step-000000019.ckpt')));

  // `latest` now continues the new timeline, not the abandoned step 20.
  const l = train(...common, '--out', out, '--resume', 'latest', '--set', 'train.lr=0.05', '--max-steps', '21');
  exit0(t, l, 'resumed from latest');
  t.match(l.stderr, /resumed from \S+step-000000019\.ckpt at step 19/);
  t.notMatch(l.stderr, /abandoned/, 'nothing newer to move this time');
  t.same(fingerprint(readCheckpoint(join(ck, 'step-000000019.ckpt'))), mine);
  // The same road without the detour ends in the same state.
  t.same(finalState(runDir), finalState(runDirOf(ref, NAMES)), 'the new timeline is the one resumed from step 16');
});

t.test('starting over without --resume moves the earlier run\'s checkpoints aside', async (t) => {
  const out = t.testdir({});
  const runDir = runDirOf(out, NAMES);
  const common = ['--config', NAMES, '--out', out, '--workers', '2', '--quiet'];
  exit0(t, train(...common, '--max-steps', '12'), 'earlier run');
  const r = train(...common, '--max-steps', '4');
  exit0(t, r, 'new run');
  t.match(r.stderr, /warning: starting a new run in a run directory with 2 checkpoints \(step-000000009\.ckpt, step-000000012\.ckpt\) of an earlier run; moved them to \S*abandoned-\S+ \(to continue a run, use --resume latest\)/);
  t.same(checkpoints(runDir).map(stepOf), [3, 4], 'only the new run\'s');
  const l = train(...common, '--resume', 'latest', '--max-steps', '5');
  t.match(l.stderr, /resumed from \S+step-000000004\.ckpt at step 4/, '`latest` is the new run\'s');
});

t.test('--resume latest past an invalid newest checkpoint moves that file aside too', async (t) => {
  const out = t.testdir({});
  const runDir = runDirOf(out, NAMES);
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
