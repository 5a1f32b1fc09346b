// Resume (issue 4), with the real command: a run stopped at step k by --max-steps and continued
// with --resume ends in exactly the state of an uninterrupted run (SHA-256 of every parameter and
// optimizer tensor, counters, RNG state). Config changes on resume and checkpoints of abandoned
// timelines: train-resume-changes.test.ts. Needs `npm run build`.

import t from 'tap';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { LM, NAMES, TRAIN, checkpoints, exit0, finalState, stepOf, train, trainAsync } from './fixtures/train/helpers.js';

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
    // Once (names, 2 workers) the last leg resumes from an explicit PATH instead of `latest`; once
    // (names, 1 worker) the learning rate follows the cosine schedule, a function of the step.
    const byPath = workers === '2' && config === NAMES;
    const cosine = workers === '1' && config === NAMES;
    t.test(`${basename(config)}, --workers ${workers}${cosine ? ', cosine lr' : ''}: stopped at ${k1} (mid-epoch) and ${k2} (epoch end), resumed with --resume ${byPath ? 'latest, then PATH' : 'latest'}: same final state`, async (t) => {
      const dir = t.testdir({});
      const common = ['--config', config, '--workers', workers, '--quiet', ...(cosine ? ['--set', 'train.lrSchedule=cosine'] : [])];
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

// Every cell: a gated run stopped mid-epoch and resumed ends where the uninterrupted one does.
for (const { config, set, workers, k } of [
  { config: NAMES, set: ['model.cell=gru'], workers: '1', k: 7 },
  { config: LM, set: ['model.cell=lstm', 'model.layers=2'], workers: '2', k: 9 },
]) {
  t.test(`${basename(config)}, ${set.join(' ')}, --workers ${workers}: stopped at ${k}, resumed: same final state`, async (t) => {
    const dir = t.testdir({});
    const common = ['--config', config, '--workers', workers, '--quiet', ...set.flatMap((s) => ['--set', s])];
    const out = join(dir, 'run');
    const [ref, a] = await Promise.all([
      trainAsync(...common, '--out', join(dir, 'ref')),
      trainAsync(...common, '--out', out, '--max-steps', String(k)),
    ]);
    exit0(t, ref, 'uninterrupted run');
    exit0(t, a, `run to step ${k}`);
    const c = train(...common, '--out', out, '--resume', 'latest');
    exit0(t, c, `resumed at ${k}, run to the end`);
    t.same(finalState(runDirOf(out, config)), finalState(runDirOf(join(dir, 'ref'), config)), 'bit-identical to the uninterrupted run');
    t.equal(readCheckpoint(checkpoints(runDirOf(out, config)).at(-1)!).spec.cell, set[0].slice('model.cell='.length), 'the checkpoint names the cell');
  });
}
