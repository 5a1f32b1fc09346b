// Learning-rate warm-up (train.warmupSteps) and reduce-on-plateau (train.plateau): the rule against
// PyTorch's ReduceLROnPlateau (fixture by test/fixtures/pytorch/make.py), the learning rate of each
// step of a run, and a resumed run that continues bit for bit (the plateau's state is in the
// checkpoint). Class weights through the worker pool. Worker threads load dist/: `npm run build` first.

import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { train } from '../src/index.js';
import { xoExamples } from './helpers/examples.js';
import { plateauStep, plateauLr } from '../src/train/plateau.js';
import { lrAt } from '../src/train/run.js';
import { checkConfig } from '../src/config/load.js';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { ROOT, finalState, checkpoints } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'workers', 'shard.js'))) throw new Error('dist/workers/shard.js is missing: run `npm run build` first');
});

t.test('reduce-on-plateau: the learning rate after each validation loss equals PyTorch\'s ReduceLROnPlateau', async (t) => {
  const doc = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'pytorch', 'plateau.json'), 'utf8')) as { cases: Array<{ lr: number; factor: number; patience: number; minLr: number; losses: number[]; lrAfter: number[] }> };
  for (const c of doc.cases) {
    const st = {};
    const ours = c.losses.map((loss) => { plateauStep(st, loss, c); return plateauLr(c.lr, (st as { lrScale?: number }).lrScale, c); });
    t.ok(ours.every((v, i) => Math.abs(v - c.lrAfter[i]) <= 1e-12 * c.lr), `factor ${c.factor}, patience ${c.patience}, minLr ${c.minLr}: ${ours.join(', ')}`);
  }
});

t.test('warm-up: lr × s / warmupSteps for the first steps, times the cosine schedule', async (t) => {
  const cfg = (train: object) => checkConfig({ name: 'x', data: { source: 'memory' }, model: { task: 'many-to-one', hidden: 4 }, train }, { label: 'c', configDir: '.' });
  const c = cfg({ lr: 0.01, warmupSteps: 4 });
  t.same([1, 2, 3, 4, 5, 100].map((s) => lrAt(c, s, 200)), [0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01]);
  const cos = cfg({ lr: 0.01, warmupSteps: 4, lrSchedule: 'cosine', lrMinRatio: 0 });
  const plain = cfg({ lr: 0.01, lrSchedule: 'cosine', lrMinRatio: 0 });
  t.equal(lrAt(cos, 2, 11), lrAt(plain, 2, 11) * 0.5);
  t.equal(lrAt(cos, 11, 11), 0);
  t.throws(() => cfg({ warmupSteps: -1 }), /train\.warmupSteps/);
  t.throws(() => cfg({ plateau: { factor: 1 } }), /train\.plateau\.factor/);
});

const DATA = { train: xoExamples(160, 1), val: xoExamples(40, 2), test: xoExamples(20, 3) };
const CONFIG = {
  name: 'sched', seed: 4,
  model: { task: 'many-to-one' as const, hidden: 12, input: { embedding: 6 } },
  // A high learning rate: the validation loss goes up and down, so the plateau rule acts.
  train: { epochs: 4, batchSize: 16, lr: 0.08, workers: 2, kernels: 'js' as const, warmupSteps: 5, validateEvery: 3, plateau: { factor: 0.5, patience: 0, minLr: 0.005 } },
  checkpoint: { every: 0, keepLast: 50 },
};

t.test('a run: warm-up steps, the plateau\'s reductions after the validations that did not lower the loss; resumed, the same bits', async (t) => {
  const dir = t.testdir({});
  const lrs: number[] = [], vals: Array<{ step: number; loss: number }> = [], said: string[] = [];
  const a = await train({ config: CONFIG, data: DATA, baseDir: dir, onStep: (s) => { lrs[s.step] = s.lr; }, onValidation: (v) => vals.push({ step: v.step, loss: v.loss }), onMessage: (m) => { if (m.kind === 'schedule') said.push(m.text); } });
  t.equal(a.steps, 40);
  // Replayed: the validations on the grid (every 3 steps) drive the rule; the learning rate of each later step follows.
  const st = {}, plateau = CONFIG.train.plateau;
  let scale = 1, reductions = 0, v = 0;
  for (let step = 1; step <= a.steps; step++) {
    const warm = Math.min(1, step / 5);
    const want = scale < 1 ? Math.max(plateau.minLr, 0.08 * warm * scale) : 0.08 * warm;
    if (Math.abs(lrs[step] - want) > 1e-12) { t.fail(`step ${step}: lr ${lrs[step]}, expected ${want}`); break; }
    while (v < vals.length && vals[v].step === step) {
      if (step % 3 === 0 && plateauStep(st, vals[v].loss, plateau)) reductions++;
      v++;
    }
    scale = (st as { lrScale?: number }).lrScale ?? 1;
  }
  t.ok(reductions >= 1, `${reductions} reductions`);
  t.equal(said.length, reductions, 'each reduction is told (onMessage, kind "schedule")');
  t.match(said[0] ?? '', /learning rate × 0\.5 \(train\.plateau\)/);
  const last = readCheckpoint(checkpoints(join(dir, 'runs', 'sched')).at(-1)!).training;
  t.equal(last.lrScale, scale, 'the checkpoint holds the plateau\'s scale');

  // Stopped after the first reduction, then resumed: the same final state as the run in one go.
  const firstCut = Number(/^step (\d+):/.exec(said[0] ?? '')?.[1]);
  t.ok(firstCut > 0 && lrs[firstCut + 1] < lrs[firstCut], `the first reduction after step ${firstCut}`);
  const dir2 = t.testdir({});
  await train({ config: CONFIG, data: DATA, baseDir: dir2, maxSteps: firstCut + 2 });
  const b = await train({ config: CONFIG, data: DATA, baseDir: dir2, resume: 'latest' });
  t.equal(b.steps, 40);
  t.same(finalState(join(dir2, 'runs', 'sched')), finalState(join(dir, 'runs', 'sched')), `stopped at step ${firstCut + 2} and resumed: bit for bit`);
});

t.test('class weights through the worker pool: the training loss is the weighted mean, validation is not weighted', async (t) => {
  const dir = t.testdir({});
  const cfg = { ...CONFIG, name: 'cw', train: { epochs: 1, batchSize: 16, lr: 0.01, workers: 2, kernels: 'js' as const, maxSteps: 1 } };
  const run = async (classWeights?: Record<string, number>) => {
    let loss = NaN, val = NaN, count = NaN;
    await train({ config: { ...cfg, name: classWeights ? 'cw' : 'plain', train: { ...cfg.train, ...(classWeights ? { classWeights } : {}) } }, data: DATA, baseDir: dir,
      onStep: (s) => { loss = s.loss; }, onValidation: (v) => { val = v.loss; count = v.count; } });
    return { loss, val, count };
  };
  const plain = await run(), same = await run({ o: 2, x: 2 }), skew = await run({ o: 1, x: 9 });
  t.ok(Math.abs(same.loss - plain.loss) < 1e-6, 'equal weights: the same mean as none');
  t.not(skew.loss, plain.loss, 'unequal weights change the training loss');
  t.equal(skew.count, DATA.val.length, 'validation counts examples, not weights');
  t.ok(Number.isFinite(skew.val));
});

// Reduce-on-plateau is off unless train.plateau is given: its defaults are filled in only then
// (a config without it once resolved to plateau {factor 0.1, patience 2} and cut the learning
// rate of every run whose validation loss rose three times).
t.test('train.plateau: absent stays absent; given, its defaults are filled in', async (t) => {
  const cfg = (train: object) => checkConfig({ name: 'x', data: { source: 'memory' }, model: { task: 'many-to-one', hidden: 4 }, train }, { label: 'c', configDir: '.' });
  t.equal(cfg({}).train.plateau, undefined, 'no plateau section: off');
  t.same(cfg({ plateau: {} }).train.plateau, { factor: 0.1, patience: 2, minLr: 0 }, 'an empty section: PyTorch\'s defaults');
  t.same(cfg({ plateau: { patience: 5 } }).train.plateau, { factor: 0.1, patience: 5, minLr: 0 }, 'a partial section: the rest defaulted');
});
