// A training run: config → data → model → parallel steps over epochs, with validation,
// checkpoints, metrics, progress, a report, and exact resume. The command `train.js` is a thin
// wrapper around trainRun().

import { mkdirSync, appendFileSync, existsSync, writeFileSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ModelSpec } from '../model/spec.js';
import { makeLayout, allocParams } from '../model/params.js';
import { initParams } from '../model/init.js';
import { Optimizer } from './optim.js';
import { Coordinator } from '../parallel/coordinator.js';
import { resolveKernels, KERNELS_ENV, BACKENDS } from '../model/backend/index.js';
import { loadDataset, epochPlan, streamPlan, paddingFraction, longestExample, formatReport, type Dataset, type SplitName } from '../data/index.js';
import { loadConfig, diffConfigs, withNewDefaults, type ResolvedConfig } from '../config/load.js';
import { CheckpointDir, readCheckpoint, specDifferences, stepOfFileName, type CheckpointData, type TrainingData } from '../checkpoint/index.js';
import { MetricsLog, readMetrics, dedupeResumed, writeReport, type MetricsRow } from '../report/html.js';
import { readRunLog } from '../report/metrics.js';
import { Progress, printSummary, formatDuration, type OutStream } from '../cli/progress.js';
import { Rng } from '../util/prng.js';
import { arenaOf } from '../util/shared.js';
import { UserError, ConfigError, CheckpointError } from '../util/errors.js';
import { makeDirs, onDisk, writeTextReplacing } from '../util/files.js';
import { checkpointOf, restore, loadParams, optimizerOptions } from './state.js';
import { RunLock } from './lock.js';
import { checkMemory, memoryNeed, type MemoryPlan } from './memory.js';
import { Distributed, type DistributedKind } from '../parallel/distributed.js';
import { decodeCheckpoint } from '../checkpoint/codec.js';

export interface RunOptions {
  config: string;
  set?: string[];
  out?: string;
  /** A checkpoint file; `latest`: the newest valid one of the run (there must be one); `auto`: that, else start fresh. */
  resume?: string;
  workers?: number;
  /** Compute backend (auto, native, wasm, js): overrides RNN_TRAINER_KERNELS and train.kernels. */
  kernels?: string;
  maxSteps?: number;
  seed?: number;
  quiet?: boolean;
  /** Where progress and messages go (default stdout / stderr). */
  stdout?: OutStream;
  stderr?: OutStream;
  /** Tests only: make a worker fail at this step (distributed: on this rank only, if given). */
  inject?: { failAtStep: number; mode: 'throw' | 'exit' | 'hang'; rank?: number };
  /** Data-parallel over processes and hosts (mpirun / srun): see src/parallel/distributed.ts. */
  distributed?: DistributedKind;
}

export interface EvalMetrics {
  loss: number;
  accuracy: number;
  count: number;
  /** Bits per token (many-to-many): loss / ln 2. */
  bitsPerToken?: number;
  confusion?: number[][];
}

export interface RunSummary {
  runDir: string;
  steps: number;
  stoppedEarly: boolean;
  best: { metric: number; step: number };
  val?: EvalMetrics;
  test?: EvalMetrics;
  /** Test metrics of the best validation checkpoint, when it is not the last one and was kept. */
  testBest?: EvalMetrics & { step: number; file: string };
  lastCheckpoint: string | null;
  seconds: number;
}

/** Stops the loop after the current step (SIGINT / SIGTERM). */
export class StopSignal {
  requested = false;
  /** The signal that asked for the stop, if any: the command exits 128 + its number. */
  signal?: NodeJS.Signals;
  request(signal?: NodeJS.Signals): void {
    this.requested = true;
    this.signal ??= signal;
  }
}

const PROFILE_FILE = 'grad-profile.jsonl';
/** Lines of `say` that --quiet keeps. */
const QUIET_KEEPS = /^\s*(warning:|kernels:|resume:|resumed from |--resume auto:)/;
const INIT_STREAM = 0x1417;

export async function trainRun(o: RunOptions, stop = new StopSignal()): Promise<RunSummary> {
  const out = o.stdout ?? process.stdout;
  const err = o.stderr ?? process.stderr;
  const dist = o.distributed ? await Distributed.open(o.distributed) : null;
  // Distributed: rank 0 alone writes files and output; the other ranks report only their errors.
  const writer = !dist || dist.rank === 0;
  // --quiet: errors (thrown) and the summary only, plus the lines a quiet log still needs: warnings
  // and what a resume did (which checkpoint, which config changes). No data report, no model header.
  const say = (s: string) => {
    const lines = o.quiet ? s.split('\n').filter((l) => QUIET_KEEPS.test(l)) : [s];
    if (lines.length > 0 && writer) err.write(lines.join('\n') + '\n');
  };
  const t0 = performance.now();

  // ---- config (command-line flags are --set overrides, validated the same way)
  const sets = [...(o.set ?? [])];
  if (o.seed !== undefined) sets.push(`seed=${o.seed}`);
  if (o.workers !== undefined) sets.push(`train.workers=${o.workers}`);
  const envKernels = process.env[KERNELS_ENV];
  if (o.kernels === undefined && envKernels && !['auto', ...BACKENDS].includes(envKernels)) {
    throw new ConfigError(`${KERNELS_ENV}=${envKernels} is not a compute backend: use auto, ${BACKENDS.join(', ')} (or unset it)`);
  }
  const kernelsOverride = o.kernels ?? envKernels;
  if (kernelsOverride) sets.push(`train.kernels=${kernelsOverride}`);
  if (o.maxSteps !== undefined) sets.push(`train.maxSteps=${o.maxSteps}`);
  const loaded = loadConfig(o.config, sets);
  const cfg = loaded.config;
  const workers = dist ? await dist.agreeWorkers(cfg.train.workers ?? availableParallelism(), say) : cfg.train.workers ?? availableParallelism();
  // Sizes first: a model that cannot fit (even with the smallest vocabulary and one-step batches)
  // is refused before the data loads.
  checkRunMemory(cfg, workers, loaded.file, { V: 4, C: cfg.model.task === 'many-to-one' ? Math.max(2, cfg.data.labels?.length ?? 2) : 4, maxB: 1, maxT: 1 }, 'at least');
  const outDir = resolve(o.out ?? resolve(loaded.configDir, cfg.out));
  const runDir = resolve(outDir, cfg.name);
  // The schema allows a single folder name only; this is the backstop: nothing outside --out.
  if (dirname(runDir) !== outDir || cfg.name === '.' || cfg.name === '..') throw new ConfigError(`name: ${JSON.stringify(cfg.name)} is not a single folder name inside ${outDir}`);
  onDisk('create the run directory', runDir, () => makeDirs(runDir));
  // One trainer per run directory; released when trainRun returns or the process exits.
  const lock = writer ? RunLock.acquire(runDir, (m) => say(`warning: ${m}`)) : null;
  try {
    const summary = await trainLocked(o, stop, { loaded, cfg, runDir, workers, t0, say, out, dist });
    await dist?.close();
    return summary;
  } finally {
    lock?.release();
  }
}

interface Prepared {
  loaded: ReturnType<typeof loadConfig>;
  cfg: ResolvedConfig;
  runDir: string;
  workers: number;
  t0: number;
  say: (s: string) => void;
  out: OutStream;
  dist: Distributed | null;
}

async function trainLocked(o: RunOptions, stop: StopSignal, { loaded, cfg, runDir, workers, t0, say, out, dist }: Prepared): Promise<RunSummary> {
  const writer = !dist || dist.rank === 0;
  const ckdir = new CheckpointDir(runDir, { keepLast: cfg.checkpoint.keepLast });

  // ---- resume: find and read the checkpoint first, so a bad one fails before the data loads
  let resumed: { path: string; c: CheckpointData } | null = null;
  const chooseResume = () => {
  if (o.resume === 'latest' || o.resume === 'auto') {
    const r = ckdir.loadLatestValid((m) => say(`warning: ${m}`));
    if (r) resumed = { path: r.path, c: r.checkpoint };
    else if (o.resume === 'latest') throw new CheckpointError(`--resume latest: no valid checkpoint in ${ckdir.dir}; start without --resume, or use --resume auto (it starts fresh when there is none)`);
    if (o.resume === 'auto') {
      say(r ? `--resume auto: resuming from the newest valid checkpoint, ${relative(process.cwd(), r.path)}`
        : `--resume auto: no valid checkpoint in ${relative(process.cwd(), ckdir.dir) || '.'}; starting a new run`);
    }
  } else if (o.resume) {
    resumed = { path: resolve(o.resume), c: readCheckpoint(resolve(o.resume)) };
  }
  return resumed;
  };
  if (!dist) chooseResume();
  else {
    // Rank 0 chooses (and validates) the checkpoint; every rank decodes the same bytes.
    const shared = await dist.shareResume(chooseResume);
    if (shared && dist.rank !== 0) resumed = { path: shared.path, c: decodeCheckpoint(shared.bytes, shared.path) };
  }
  if (resumed) {
    const saved = withNewDefaults(JSON.parse(resumed.c.config));
    const changes = diffConfigs(saved, cfg);
    const refused = changes.filter((c) => c.kind === 'shape');
    if (refused.length > 0) {
      throw new ConfigError(`cannot resume from ${resumed.path}: the config changes the model or its data:\n` +
        refused.map((c) => `  ${c.path}: ${JSON.stringify(c.from)} -> ${JSON.stringify(c.to)}`).join('\n') +
        `\nresume with the config the checkpoint was made with, or start a new run (another name or --out).`);
    }
    for (const c of changes) say(`resume: ${c.path} changed ${JSON.stringify(c.from)} -> ${JSON.stringify(c.to)}${c.kind === 'safe' ? '' : ' (allowed; the run will differ from an uninterrupted one)'}`);
  }

  // ---- data
  const data = loadDataset(cfg.data, { configDir: loaded.configDir, task: cfg.model.task });
  say(formatReport(data.report));
  const fingerprint = dataFingerprint(data);
  const input = cfg.model.input;
  const spec: ModelSpec = {
    cell: cfg.model.cell, task: cfg.model.task, V: data.vocab.tokens.length, H: cfg.model.hidden,
    C: cfg.model.task === 'many-to-one' ? data.labelNames.length : data.vocab.tokens.length,
    E: input === 'onehot' ? 0 : input.embedding, layers: cfg.model.layers,
  };
  if (resumed) {
    const diffs = specDifferences(resumed.c.spec, spec);
    if (diffs.length > 0) throw new CheckpointError(`cannot resume from ${resumed.path}: the model differs:\n  ${diffs.join('\n  ')}`, resumed.path);
    if (resumed.c.vocab.join('\u0000') !== data.vocab.tokens.join('\u0000') || resumed.c.labelNames.join('\u0000') !== data.labelNames.join('\u0000')) {
      throw new CheckpointError(`cannot resume from ${resumed.path}: the vocabulary or labels built from the data differ from the checkpoint's (the data changed)`, resumed.path);
    }
    if (resumed.c.dataFingerprint && resumed.c.dataFingerprint !== fingerprint) say('warning: the training data differs from the data of the checkpoint; the run will not match an uninterrupted one');
  }

  // ---- model, optimizer, training state
  const splitNames = ['train', 'val', 'test'] as SplitName[];
  const maxT = Math.max(...splitNames.map((s) => longestExample(data.splits[s])), 1);
  // A batch never holds more sequences than a split has: a huge train.batchSize is a full batch.
  const maxB = Math.max(1, Math.min(cfg.train.batchSize, Math.max(...splitNames.map((s) => data.splits[s].count))));
  checkRunMemory(cfg, workers, loaded.file, { V: spec.V, C: spec.C, maxB, maxT }, 'from the data');
  const layout = makeLayout(spec);
  const params = allocParams(layout, 'float32');
  const opt = new Optimizer(layout.size, optimizerOptions(cfg), arenaOf(params.data));
  const rng = new Rng(cfg.seed, INIT_STREAM);
  let st: TrainingData;
  if (resumed) {
    restore(resumed.c, params, opt, resumed.path);
    st = { ...resumed.c.training };
    rng.setState(st.rngState);
    say(`resumed from ${resumed.path} at step ${st.globalStep} (epoch ${st.epoch + 1}, batch ${st.batchInEpoch})`);
  } else {
    initParams(params, spec, rng, { init: cfg.model.init, recurrentInit: cfg.model.recurrentInit, recurrentScale: cfg.model.recurrentScale, forgetBias: cfg.model.forgetBias, chrono: cfg.model.chrono });
    st = { globalStep: 0, epoch: 0, batchInEpoch: 0, rngState: rng.getState(), bestMetric: NaN, bestStep: 0, seed: cfg.seed };
  }
  if (writer) setAsideCheckpoints(ckdir, resumed ? st.globalStep : -1, say);

  const batchSize = cfg.train.batchSize;
  const batchesPerEpoch = Math.ceil(data.splits.train.count / batchSize);
  const maxSteps = cfg.train.maxSteps > 0 ? cfg.train.maxSteps : Infinity;
  const totalSteps = Math.min(maxSteps, cfg.train.epochs * batchesPerEpoch);
  const m2o = spec.task === 'many-to-one';
  const kernels = resolveKernels(cfg.train.kernels);
  const kernelsName = `${kernels.name}/${kernels.isa}`;
  if (kernels.note) say(`kernels: ${kernels.note}`);
  // Said when the backend changed without the config saying so (auto on another machine or build).
  const savedKernels = resumed ? (JSON.parse(resumed.c.config) as ResolvedConfig).train.kernels : undefined;
  if (resumed?.c.training.kernels && resumed.c.training.kernels !== kernelsName && savedKernels === cfg.train.kernels) say(`resume: the checkpoint was trained with ${resumed.c.training.kernels} kernels, this run uses ${kernelsName} (allowed; the run will differ from an uninterrupted one in the last bits)`);
  say(`model: ${spec.cell}${cfg.model.layers > 1 ? ` × ${cfg.model.layers} layers` : ''} ${spec.task}, V=${spec.V} H=${spec.H} C=${spec.C} ${spec.E ? `embedding E=${spec.E}` : 'one-hot input'}, ${countParams(layout).toLocaleString('en-US')} parameters; ${workers} worker thread${workers > 1 ? 's' : ''}, ${kernelsName} kernels; run directory ${relative(process.cwd(), runDir) || '.'}`);
  const resolvedFile = join(runDir, 'config.resolved.json');
  if (writer) onDisk('write', resolvedFile, () => writeFileSync(resolvedFile, JSON.stringify(cfg, null, 2) + '\n'));

  // Language models carry each row's state from chunk to chunk: batches are streams (streamPlan).
  const carry = !m2o && cfg.train.carryState;
  const planOf = carry ? streamPlan : epochPlan;
  const co = new Coordinator({ spec, workers, maxB, maxT, bpttWindow: cfg.train.bpttWindow, dropout: cfg.model.dropout, seed: cfg.seed, stepLoss: cfg.train.stepLoss, carryState: carry, splits: data.splits, params, optimizer: opt, kernels: kernels.name, inject: o.inject?.rank === undefined || o.inject.rank === dist?.rank ? o.inject : undefined });
  if (carry && st.carry) co.setCarried(st.carry);
  if (dist) {
    say(`distributed: ${dist.library}, ${dist.size} rank${dist.size > 1 ? 's' : ''} × ${workers} worker thread${workers > 1 ? 's' : ''} (${dist.hosts.map((h, r) => `rank ${r} on ${h}`).join(', ')})${dist.launched ? '' : '; not started by mpirun or srun, so this is one rank'}`);
    await dist.checkSame([['config', JSON.stringify(cfg)], ['training data', fingerprint], ['parameters and optimizer state', new Uint8Array(params.data.buffer, params.data.byteOffset, params.data.byteLength)], ['training state', JSON.stringify(st)]]);
    dist.prepare(layout, co, spec.V, maxB, maxT);
  }
  // A fresh start by --resume auto drops the rows of the attempt that left no checkpoint.
  const metrics = writer ? new MetricsLog(runDir, resumed ? { resumeStep: st.globalStep } : o.resume === 'auto' ? { resumeStep: 0 } : {}) : { append() {}, close() {} };
  if (writer) trimProfiles(runDir, resumed ? st.globalStep : 0);
  const progress = new Progress({ stream: out, totalSteps, epochs: cfg.train.epochs, logEverySteps: cfg.train.logEvery, quiet: o.quiet || !writer });
  const elapsedBefore = resumed ? lastElapsed(runDir) : 0;
  const elapsed = () => elapsedBefore + (performance.now() - t0) / 1000;

  let lastCheckpoint: string | null = resumed?.path ?? null;
  const save = () => {
    st.rngState = rng.getState();
    st.kernels = kernelsName;
    st.carry = co.carried();
    const c = checkpointOf(spec, params, opt, st, data, cfg, fingerprint);
    // A finite loss and gradient can still give an infinite update (a huge train.lr): such a
    // state must not become the "last good checkpoint".
    const bad = nonFiniteTensor(c);
    if (bad) throw nonFinite(st.globalStep, bad, lastCheckpoint);
    if (writer) lastCheckpoint = ckdir.save(c);
    return lastCheckpoint;
  };
  const evaluate = async (split: SplitName, confusion = false): Promise<EvalMetrics> => {
    const plan = planOf(data.splits[split], { batchSize, seed: cfg.seed, epoch: 0, shuffle: false });
    const r = await co.evaluate(split, plan.order, plan.batchStarts, confusion);
    const loss = r.lossSum / r.count;
    const m: EvalMetrics = { loss, accuracy: r.correct / r.count, count: r.count };
    if (!m2o) m.bitsPerToken = loss / Math.LN2;
    if (r.confusion) m.confusion = Array.from({ length: spec.C }, (_, i) => r.confusion!.slice(i * spec.C, (i + 1) * spec.C));
    return m;
  };
  const validate = async (): Promise<EvalMetrics> => {
    const v = await evaluate('val');
    const score = m2o ? v.accuracy : -v.loss; // higher is better
    if (!(score <= st.bestMetric)) { st.bestMetric = score; st.bestStep = st.globalStep; }
    metrics.append({ step: st.globalStep, epoch: st.epoch + 1, kind: 'val', loss: v.loss, accuracy: v.accuracy, elapsedSec: elapsed() });
    progress.log(`validation after step ${st.globalStep}: loss ${v.loss.toFixed(4)}${m2o ? `, accuracy ${(v.accuracy * 100).toFixed(2)}%` : `, ${v.bitsPerToken!.toFixed(3)} bits/token`}`);
    return v;
  };

  let stoppedEarly = false;
  let val: EvalMetrics | undefined;
  let test: EvalMetrics | undefined;
  let testBest: (EvalMetrics & { step: number; file: string }) | undefined;
  const profileEvery = Math.max(1, Math.round(totalSteps / 12));
  try {
    let tokensSinceLog = 0, timeSinceLog = performance.now();
    training: while (st.epoch < cfg.train.epochs && st.globalStep < maxSteps) {
      const plan = planOf(data.splits.train, { batchSize, seed: cfg.seed, epoch: st.epoch });
      co.setOrder('train', plan.order);
      if (st.batchInEpoch === 0) progress.log(`epoch ${st.epoch + 1}/${cfg.train.epochs}: ${plan.batchStarts.length - 1} batches, padding ${(paddingFraction(data.splits.train, plan) * 100).toFixed(1)}%`);
      while (st.batchInEpoch < plan.batchStarts.length - 1) {
        if (stop.requested) { stoppedEarly = true; break training; }
        if (st.globalStep >= maxSteps) break training;
        const k = st.batchInEpoch;
        const step = st.globalStep + 1;
        const ts = performance.now();
        const lr = (opt.opts.lr = lrAt(cfg, step, cfg.train.epochs * batchesPerEpoch));
        const g = dist
          ? await dist.trainStep(co, step, 'train', plan.order, plan.batchStarts[k], plan.batchStarts[k + 1] - plan.batchStarts[k], cfg.train.clipNorm)
          : await co.step(step, 'train', plan.batchStarts[k], plan.batchStarts[k + 1] - plan.batchStarts[k], cfg.train.clipNorm);
        const u = g;
        const lossMean = g.lossSum / g.count;
        if (!Number.isFinite(lossMean)) throw nonFinite(step, 'loss', lastCheckpoint);
        if (!u.finite) throw nonFinite(step, 'gradient', lastCheckpoint);
        const tu = performance.now();
        st.globalStep = step;
        st.batchInEpoch = k + 1;
        // real tokens of the batch
        const lengths = data.splits.train.lengths;
        let tokens = 0;
        for (let i = plan.batchStarts[k]; i < plan.batchStarts[k + 1]; i++) tokens += lengths[plan.order[i]];
        tokensSinceLog += tokens;
        progress.update({ step, epoch: st.epoch + 1, loss: lossMean, accuracy: g.correct / g.count, tokensPerSec: tokens / ((tu - ts) / 1000), lr });
        if (step % cfg.train.logEvery === 0 || step === 1) {
          const now = performance.now();
          const row: MetricsRow = {
            step, epoch: st.epoch + 1, kind: 'train', loss: lossMean, accuracy: g.correct / g.count, gradNorm: u.gradNorm,
            clipped: u.clipped, lr, tokensPerSec: tokensSinceLog / ((now - timeSinceLog) / 1000),
            fwdBwdMs: round2(g.fwdBwdMsMax), reduceMs: round2(g.reduceMs), updateMs: round2(g.updateMs), kernels: kernelsName, elapsedSec: elapsed(),
          };
          metrics.append(row);
          tokensSinceLog = 0;
          timeSinceLog = now;
        } else if (u.clipped) {
          // Every clipping event is in the log, not only those on logged steps.
          metrics.append({ step, epoch: st.epoch + 1, kind: 'train', loss: lossMean, accuracy: g.correct / g.count, gradNorm: u.gradNorm, clipped: true, lr, elapsedSec: elapsed() });
        }
        if (writer && (step === 1 || step % profileEvery === 0)) {
          const profileFile = join(runDir, PROFILE_FILE);
          onDisk('append to', profileFile, () => appendFileSync(profileFile, JSON.stringify({ step, norms: Array.from(co.stepNorms.subarray(0, co.stepNormsT), (x) => +x.toPrecision(4)) }) + '\n'),
            'The checkpoints written so far are kept: once fixed, continue with --resume latest');
        }
        const epochDone = st.batchInEpoch === plan.batchStarts.length - 1;
        if (epochDone) {
          val = await validate();
          st.epoch++;
          st.batchInEpoch = 0;
          save();
          break; // next epoch: a new plan
        } else if (cfg.checkpoint.every > 0 && step % cfg.checkpoint.every === 0) {
          save();
        }
      }
    }
    progress.done();
    // However the run ends here (done, --max-steps, stopped), its last state is on disk.
    if (lastCheckpointStep(lastCheckpoint) !== st.globalStep) save();
    if (dist) say(dist.summary());
    // The final evaluations are rank 0's report (the best checkpoint is on its disk).
    if (!writer) return { runDir, steps: st.globalStep, stoppedEarly, best: { metric: st.bestMetric, step: st.bestStep }, lastCheckpoint: null, seconds: elapsed() };
    if (!stoppedEarly) {
      if (!val || st.batchInEpoch !== 0) val = await validate();
      test = await evaluate('test', m2o);
      metrics.append({ step: st.globalStep, epoch: st.epoch, kind: 'test', loss: test.loss, accuracy: test.accuracy, elapsedSec: elapsed() });
      // Also the test score of the best validation checkpoint (what early stopping would keep).
      const bestFile = st.bestStep > 0 && st.bestStep !== st.globalStep ? ckdir.pathFor(st.bestStep) : null;
      if (bestFile && existsSync(bestFile)) {
        const final = Float32Array.from(params.data);
        loadParams(readCheckpoint(bestFile), params, bestFile);
        testBest = { ...(await evaluate('test', false)), step: st.bestStep, file: bestFile };
        (params.data as Float32Array).set(final);
      }
    }
  } finally {
    metrics.close();
    await co.destroy().catch(() => {});
  }

  // ---- report and summary
  const seconds = elapsed();
  const rows = dedupeResumed(readMetrics(join(runDir, 'metrics.jsonl')));
  const profiles = readProfiles(runDir);
  const reportPath = writeReport(runDir, {
    runName: cfg.name, config: cfg, metrics: rows, stepGradNorms: profiles, lm: !m2o,
    confusion: test?.confusion ? { labels: data.labelNames, matrix: test.confusion } : undefined,
    test: test ? { loss: test.loss, accuracy: test.accuracy, ...(test.bitsPerToken !== undefined ? { bitsPerToken: test.bitsPerToken } : {}) } : undefined,
    facts: [['parameters', countParams(layout)], ['vocabulary', spec.V], ['workers', workers], ['steps', st.globalStep], ['wall time', formatDuration(seconds)]],
  }, `The run itself ${stoppedEarly ? 'stopped' : 'finished'} at step ${st.globalStep}; its checkpoints and metrics.jsonl are kept (last checkpoint: ${lastCheckpoint ?? '(none)'})`);
  const ckRel = lastCheckpoint ? relative(process.cwd(), lastCheckpoint) : '(none)';
  if (stoppedEarly) {
    printSummary(`stopped at step ${st.globalStep}`, [
      ['checkpoint', ckRel],
      ['resume with', resumeCommand(o, relative(process.cwd(), loaded.file))],
    ], out);
  } else {
    const fmt = (m: EvalMetrics) => m2o ? `loss ${m.loss.toFixed(4)}, accuracy ${(m.accuracy * 100).toFixed(2)}%` : `loss ${m.loss.toFixed(4)}, ${m.bitsPerToken!.toFixed(3)} bits/token`;
    printSummary(`done: ${st.globalStep} steps in ${formatDuration(seconds)}`, [
      ['best validation', `${m2o ? `accuracy ${(st.bestMetric * 100).toFixed(2)}%` : `loss ${(-st.bestMetric).toFixed(4)}`} at step ${st.bestStep}`],
      ['final validation', val ? fmt(val) : '-'],
      ['test', test ? fmt(test) : '-'],
      ...(testBest ? [['test, best checkpoint', `${fmt(testBest)} (step ${testBest.step}: ${relative(process.cwd(), testBest.file)})`] as [string, string]] : []),
      ['checkpoints', relative(process.cwd(), ckdir.dir)],
      ['report', relative(process.cwd(), reportPath)],
      ['evaluate', `node dist/eval.js --checkpoint ${ckRel} --split test`],
      ['predict', m2o ? `node dist/predict.js --checkpoint ${ckRel} --text "..."` : `node dist/predict.js --checkpoint ${ckRel} --generate 300 --prompt "..."`],
    ], out);
  }
  return { runDir, steps: st.globalStep, stoppedEarly, best: { metric: st.bestMetric, step: st.bestStep }, val, test, testBest, lastCheckpoint, seconds };
}

function nonFinite(step: number, what: string, last: string | null): UserError {
  return new UserError(`step ${step}: the ${what} is not finite (NaN or infinity); training stopped and no checkpoint was written for it. ` +
    `Last good checkpoint: ${last ?? '(none yet)'}. Try a lower train.lr or gradient clipping (train.clipNorm).`);
}

/** The first tensor of `c` (parameters, then optimizer moments) holding a NaN or an infinity, named; or null. */
function nonFiniteTensor(c: CheckpointData): string | null {
  const finite = (a: Float32Array) => { for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false; return true; };
  for (const t of c.params) if (!finite(t.data)) return `parameter ${t.name}`;
  for (const m of c.optimizer.moments) for (const t of m.tensors) if (!finite(t.data)) return `optimizer moment ${m.name} of ${t.name}`;
  return null;
}

/**
 * A run goes on from `step` (a resumed checkpoint's, or -1 for a new start): checkpoints of the
 * run directory at later steps belong to an abandoned timeline (an explicit --resume PATH older
 * than the newest, newer files --resume latest skipped as invalid, or every checkpoint of an
 * earlier run when starting over without --resume). Left in place, `--resume latest` and
 * retention would take them for this run's, so they are moved, not deleted, to
 * checkpoints/abandoned-<time>/, with a warning naming them.
 */
function setAsideCheckpoints(ckdir: CheckpointDir, step: number, say: (s: string) => void): void {
  const later = ckdir.list().filter((f) => (stepOfFileName(f) ?? -1) > step);
  if (later.length === 0) return;
  const dest = join(ckdir.dir, `abandoned-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  onDisk('set aside checkpoints in', dest, () => {
    mkdirSync(dest, { recursive: true });
    for (const f of later) renameSync(f, join(dest, basename(f)));
  });
  const many = later.length > 1;
  const names = `${later.length} checkpoint${many ? 's' : ''} (${later.map((f) => basename(f)).join(', ')})`;
  say(step < 0
    ? `warning: starting a new run in a run directory with ${names} of an earlier run; moved ${many ? 'them' : 'it'} to ${relative(process.cwd(), dest)} (to continue a run, use --resume latest)`
    : `warning: resuming at step ${step}, before ${names} of a later step; ${many ? 'they belong' : 'it belongs'} to the abandoned continuation and ${many ? 'were' : 'was'} moved to ${relative(process.cwd(), dest)}`);
}

/** The command that continues this run: the same config, overrides and flags, with --resume latest. */
function resumeCommand(o: RunOptions, configFile: string): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const args = ['--config', configFile];
  if (o.out !== undefined) args.push('--out', o.out);
  for (const s of o.set ?? []) args.push('--set', s);
  if (o.workers !== undefined) args.push('--workers', String(o.workers));
  if (o.kernels !== undefined) args.push('--kernels', o.kernels);
  if (o.seed !== undefined) args.push('--seed', String(o.seed));
  if (o.maxSteps !== undefined) args.push('--max-steps', String(o.maxSteps));
  return ['node dist/train.js', ...args.map(q), '--resume', 'latest'].join(' ');
}

function countParams(layout: ReturnType<typeof makeLayout>): number {
  return layout.tensors.reduce((s, t) => s + t.size, 0);
}

/** The learning rate of global step `step` (1-based) of a run planned for `total` steps. */
export function lrAt(cfg: ResolvedConfig, step: number, total: number): number {
  const t = cfg.train;
  if (t.lrSchedule === 'constant' || !Number.isFinite(total) || total <= 1) return t.lr;
  const progress = Math.min(1, (step - 1) / (total - 1));
  return t.lr * (t.lrMinRatio + (1 - t.lrMinRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function lastCheckpointStep(path: string | null): number {
  const m = path ? /step-(\d+)\.ckpt$/.exec(path) : null;
  return m ? Number(m[1]) : -1;
}

/** A hash of the encoded training data: resuming on other data is reported. */
function dataFingerprint(d: Dataset): string {
  const h = createHash('sha256');
  for (const s of ['train', 'val', 'test'] as SplitName[]) {
    const sp = d.splits[s];
    for (const a of [sp.tokens, sp.starts, sp.lengths, sp.labels]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex').slice(0, 32);
}

function readProfiles(runDir: string): Array<{ step: number; norms: number[] }> {
  const f = join(runDir, PROFILE_FILE);
  const rows: Array<{ step: number; norms: number[] }> = [];
  for (const line of readRunLog(f).split('\n')) {
    try { if (line) rows.push(JSON.parse(line)); } catch { /* a line torn by a kill */ }
  }
  const byStep = new Map(rows.map((r) => [r.step, r]));
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** On resume, forget profiles recorded after the checkpoint's step (they will be recorded again). */
function trimProfiles(runDir: string, step: number): void {
  const f = join(runDir, PROFILE_FILE);
  if (!existsSync(f)) return;
  const keep = readProfiles(runDir).filter((r) => r.step <= step);
  writeTextReplacing(f, keep.map((r) => JSON.stringify(r) + '\n').join(''), 'the gradient profile');
}

function lastElapsed(runDir: string): number {
  const rows = readMetrics(join(runDir, 'metrics.jsonl'));
  return rows.length ? rows[rows.length - 1].elapsedSec ?? 0 : 0;
}

/**
 * Refuses (ConfigError, exit 2) a run whose memory need (src/train/memory.ts) does not fit.
 * `sizes`: V, C and the batch shape, from the data, or lower bounds before it loads (`at least`).
 */
function checkRunMemory(cfg: ResolvedConfig, workers: number, label: string, sizes: { V: number; C: number; maxB: number; maxT: number }, how: 'at least' | 'from the data'): void {
  const input = cfg.model.input;
  const p: MemoryPlan = {
    spec: { cell: 'rnn', task: cfg.model.task, V: sizes.V, H: cfg.model.hidden, C: cfg.model.task === 'many-to-one' ? sizes.C : sizes.V, E: input === 'onehot' ? 0 : input.embedding },
    workers, maxB: sizes.maxB, maxT: sizes.maxT, optimizer: cfg.train.optimizer,
  };
  const vocab = how === 'at least' ? `V >= ${sizes.V} tokens (data.vocab.maxSize ${cfg.data.vocab.maxSize})` : `V = ${sizes.V} tokens from the data (data.vocab.maxSize ${cfg.data.vocab.maxSize})`;
  checkMemory(p, memoryNeed(p), { label: relative(process.cwd(), label) || label, sizes: cfg.model.task === 'many-to-one' ? `${vocab}, C = ${sizes.C} classes` : vocab });
}
