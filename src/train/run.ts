// A training run, as a library: config (a file or an object) and data (files, a built-in corpus,
// or examples in memory) → model → parallel steps over epochs, with validation, early stopping,
// checkpoints, metrics.jsonl, a report, and exact resume. It prints nothing: what happens is told
// through callbacks (onStart, onStep, onValidation, onCheckpoint, onMessage), and an AbortSignal
// stops it gracefully. The command train.js is a shell over it (src/cli/train.ts): the progress
// line and the summary consume these callbacks and the returned RunSummary.
//
// Beside it: events.ts (the callbacks' events and the summary), resume.ts (which checkpoint, and
// whether it fits), rundir.ts (the metrics log and gradient profile of the run directory).

import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ModelSpec } from '../model/spec.js';
import { makeLayout, allocParams, type Layout, type Params } from '../model/params.js';
import { initParamsAsync } from '../model/init.js';
import { Optimizer } from '../optim/optim.js';
import { Coordinator } from '../parallel/coordinator.js';
import { LocalStep, type TrainStep } from '../parallel/step.js';
import { kernelsChoice, resolveKernels, type KernelsChoice, type ResolvedKernels } from '../model/backend/index.js';
import { withPrecision } from '../model/backend/precision.js';
import { workerCount } from '../util/threads.js';
import { loadDataset, epochPlan, streamPlan, paddingFraction, longestExample, formatReport, segmentCounts, segment, leadingCounts, splitTokens, local, EpochBatches, type Dataset, type SplitName, type InMemoryData, type EpochPlan, type EncodedSplit } from '../data/index.js';
import { evaluateSegments } from '../parallel/evalsplit.js';
import { loadConfig, checkConfig, type ResolvedConfig, type LoadedConfig, type Config } from '../config/load.js';
import type { DataConfig } from '../config/types.js';
import { CheckpointDir, readCheckpoint, type CheckpointData, type TrainingData } from '../checkpoint/index.js';
import { MetricsLog, readMetrics, dedupeResumed, writeReport, type MetricsRow } from '../report/html.js';
import { formatDuration } from '../util/format.js';
import { Rng } from '../util/prng.js';
import { arenaOf } from '../util/shared.js';
import { UserError, ConfigError } from '../util/errors.js';
import { makeDirs, onDisk } from '../util/files.js';
import { checkpointOf, restore, loadParams, optimizerOptions } from './state.js';
import { bestScore, bestRule, improves } from '../report/best.js';
import { bioScheme, spanMetrics, taggingMetrics } from '../model/metrics.js';
import { plateauStep, plateauLr } from './plateau.js';
import { setAsideCheckpoints, lastCheckpointStep, readProfiles, trimProfiles, lastElapsed, PROFILE_FILE } from './rundir.js';
import { findResume, checkResumeFits, type Resumed } from './resume.js';
import type { RunMessage, StartEvent, StepEvent, EvalMetrics, ValidationEvent, CheckpointEvent, RunSummary, EvaluationEvent } from './events.js';

export type { RunMessage, StartEvent, StepEvent, EvalMetrics, ValidationEvent, CheckpointEvent, RunSummary, EvaluationEvent } from './events.js';
import { RunLock } from './lock.js';
import { checkMemory, memoryNeed, type MemoryPlan } from './memory.js';
import { Distributed, DistributedStep, type DistributedKind } from '../parallel/distributed.js';
import { decodeCheckpoint, encodeCheckpoint } from '../checkpoint/codec.js';
import { generateText } from '../infer/generate.js';
import { decodeTokens, SPECIALS } from '../data/index.js';
import { readVectors } from '../data/vectors.js';

/** A config object, as a program writes it: `data` may be left out (or its `source`) when the examples come in memory. */
export type ConfigInput = Omit<Config, 'data'> & { data?: Omit<DataConfig, 'source'> & { source?: DataConfig['source'] } };

export interface RunOptions {
  /** A config file, or a config object (its relative paths, `out` included, are relative to `baseDir`). */
  config: string | ConfigInput;
  /** For a config object: the folder its relative paths are relative to (default: the current directory). */
  baseDir?: string;
  /**
   * Examples in memory (data.source "memory", which is then the default): a classifier's
   * { text, label } objects, a language model's documents (strings); one collection, split by
   * hash as data.file is, or { train, val?, test? }.
   */
  data?: InMemoryData;
  /** `path=value` overrides of config fields, validated as the config is. */
  set?: string[];
  /** Directory of run directories (default: the config's `out`). */
  out?: string;
  /** A checkpoint file; `latest`: the newest valid one of the run (there must be one); `auto`: that, else start fresh. */
  resume?: string;
  workers?: number;
  /** Compute backend (auto, native, wasm, js): overrides RNN_TRAINER_KERNELS and train.kernels. */
  kernels?: string;
  /** train.precision (f32, bf16): overrides the config's. */
  precision?: string;
  maxSteps?: number;
  seed?: number;
  /**
   * Stops the run after the current step, with a checkpoint (RunSummary.interrupted); an evaluation
   * within a batch (after a finished step, its checkpoint is written); the initialization within
   * a fraction of a second (no checkpoint: there is no step yet).
   */
  signal?: AbortSignal;
  // A callback may be async (what it returns is ignored unless it is a promise): the run awaits its promise (onMessage's: before the next step), and
  // one that rejects ends the run as one that throws does, with its error.
  /** Once the model and data are ready, before the first step. */
  onStart?: (e: StartEvent) => unknown;
  /** After every step. */
  onStep?: (e: StepEvent) => unknown;
  /** After every validation. */
  onValidation?: (e: ValidationEvent) => unknown;
  /** After every checkpoint written. */
  onCheckpoint?: (e: CheckpointEvent) => unknown;
  /** During a validation or test: after each batch evaluated (called where nothing waits: keep it synchronous). */
  onEvaluation?: (e: EvaluationEvent) => void;
  /** What a person would want to read: the data report, the model, warnings, what a resume did. */
  onMessage?: (m: RunMessage) => unknown;
  /**
   * How long a step may make no progress before a worker thread (or, distributed, a rank) is taken
   * to have stopped answering and the run ends with an error naming it. Default: 20 times the
   * slowest step so far, at least 2 minutes (between ranks, 10).
   */
  stallTimeoutMs?: number;
  /**
   * false: write no file at all (no run directory, checkpoints, metrics or report); the run's
   * checkpoints are kept in memory, and train() returns the model from them. Not with `resume` or
   * `distributed`. Default true.
   */
  output?: boolean;
  /** Tests only: make a worker fail at this step (distributed: on this rank only, if given). */
  inject?: { failAtStep: number; mode: 'throw' | 'exit' | 'hang' | 'vanish'; rank?: number };
  /**
   * Data-parallel over the processes of an MPI job (mpirun, srun): src/parallel/distributed.ts.
   * Rank 0 alone writes files and calls the callbacks; the AbortSignal stops every rank after the
   * step in which any rank saw it aborted.
   */
  distributed?: DistributedKind;
}

const INIT_STREAM = 0x1417;
const noop = () => {};

/**
 * onMessage's promises (an async callback), each handled at once (a rejection is kept, not left
 * unhandled to kill the process); flush() awaits them and throws the first rejection.
 */
class Told {
  private readonly pending: Promise<void>[] = [];
  private failure: { error: unknown } | null = null;
  add(p: unknown): void {
    if (p instanceof Promise) this.pending.push(p.then(noop, (error: unknown) => { this.failure ??= { error }; }));
  }
  async flush(): Promise<void> {
    await Promise.all(this.pending.splice(0));
    if (this.failure) throw this.failure.error;
  }
}

/** The resolved run: config with flags applied, where it writes, how many workers. */
interface Resolved {
  loaded: LoadedConfig;
  /** The config file, or null for an object. */
  configFile: string | null;
  cfg: ResolvedConfig;
  runDir: string;
  workers: number;
  /** The compute backend: --kernels, else RNN_TRAINER_KERNELS, else train.kernels (which records the choice), resolved once. */
  kernels: ResolvedKernels;
  /** The config's `out` was inside node_modules and the run writes under the current folder instead. */
  outMoved: boolean;
  /** RunOptions.output: the run writes its directory (false: nothing on disk). */
  files: boolean;
}

export async function trainRun(o: RunOptions): Promise<RunSummary> {
  const t0 = performance.now();
  const dist = o.distributed ? await Distributed.open(o.distributed, o.stallTimeoutMs) : null;
  // Distributed: rank 0 alone writes files and reports; the other ranks only throw their errors.
  if (dist && dist.rank !== 0) o = { ...o, onStart: undefined, onStep: undefined, onValidation: undefined, onCheckpoint: undefined, onMessage: undefined };
  const r = resolveRun(o);
  // onMessage is called where nothing can wait: its promises are collected, awaited after each step.
  const told = new Told();
  const say = (kind: RunMessage['kind'], text: string) => told.add((o.onMessage ?? noop)({ kind, text }));
  if (dist) r.workers = await dist.agreeWorkers(r.workers, (text) => say('warning', text));
  if (!r.files && (o.resume !== undefined || o.distributed !== undefined)) throw new ConfigError(`output: false keeps the run in memory, so it cannot ${o.resume !== undefined ? 'resume from a checkpoint (leave out resume)' : 'run distributed (leave out distributed)'}`);
  if (r.outMoved && r.files) say('warning', `note: ${r.loaded.file} is inside node_modules; the run writes to ${relative(process.cwd(), r.runDir)} (in the current folder) instead of beside the config, where the next npm install could delete it. Give --out to choose.`);
  // Sizes first: a model that cannot fit (even with the smallest vocabulary and one-step batches)
  // is refused before the data loads.
  checkRunMemory(r.cfg, r.workers, r.loaded.file, { spec: smallestSpec(r.cfg), maxB: 1, maxT: 1 }, 'at least', dist !== null);
  if (r.files) onDisk('create the run directory', r.runDir, () => makeDirs(r.runDir));
  // One trainer per run directory; released when trainRun returns or the process exits.
  const lock = (!dist || dist.rank === 0) && r.files ? RunLock.acquire(r.runDir, (m) => say('warning', `warning: ${m}`)) : null;
  try {
    await told.flush();
    const run = await Run.open(o, r, t0, say, dist, told);
    if (!run) return stoppedBeforeStart(r, t0);
    await told.flush();
    const summary = await run.train();
    await dist?.close();
    return summary;
  } finally {
    lock?.release();
  }
}

/** The config (file or object, with the flags as --set overrides, validated the same way), the run directory and the workers. */
function resolveRun(o: RunOptions): Resolved {
  const sets = [...(o.set ?? [])];
  if (o.seed !== undefined) sets.push(`seed=${o.seed}`);
  if (o.workers !== undefined) sets.push(`train.workers=${o.workers}`);
  if (o.maxSteps !== undefined) sets.push(`train.maxSteps=${o.maxSteps}`);
  if (o.precision !== undefined) sets.push(`train.precision=${o.precision}`);
  const loaded = typeof o.config === 'string' ? loadConfig(o.config, sets) : configObject(o.config, o, sets);
  const cfg = loaded.config;
  if (o.data !== undefined && cfg.data.source !== 'memory') {
    throw new ConfigError(`${loaded.file}: data.source is "${cfg.data.source}", and examples were passed in memory too; remove data.source (it is then "memory") or leave out the examples`);
  }
  const choice = kernelsChoice(o.kernels, cfg.train.kernels);
  const kernels = withPrecision(resolveKernels(choice), cfg.train.precision);
  cfg.train.kernels = choice as KernelsChoice; // config.resolved.json and the checkpoints say what was chosen
  const workers = workerCount(cfg.train.workers);
  let outDir = resolve(o.out ?? resolve(loaded.configDir, cfg.out));
  // A config shipped in an installed package (node_modules/rnn-trainer/configs/...): its runs go to
  // the current folder, not into node_modules, which the next `npm install` may delete.
  const inPackages = o.out === undefined && /(^|[\\/])node_modules([\\/]|$)/.test(relative(process.cwd(), outDir).startsWith('..') ? outDir : relative(process.cwd(), outDir));
  if (inPackages) outDir = resolve(cfg.out);
  const runDir = resolve(outDir, cfg.name);
  // The schema allows a single folder name only; this is the backstop: nothing outside --out.
  if (dirname(runDir) !== outDir || cfg.name === '.' || cfg.name === '..') throw new ConfigError(`name: ${JSON.stringify(cfg.name)} is not a single folder name inside ${outDir}`);
  return { loaded, configFile: typeof o.config === 'string' ? loaded.file : null, cfg, runDir, workers, kernels, outMoved: inPackages, files: o.output !== false };
}

/** A config given as an object: `data.source` defaults to "memory" when examples come with it, and `out` to `runs`. */
function configObject(raw: ConfigInput, o: RunOptions, sets: string[]): LoadedConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`config: expected a config object or a file name, found ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`);
  const c = structuredClone(raw) as ConfigInput & Record<string, unknown>;
  if (o.data !== undefined) {
    if (c.data === undefined) c.data = { source: 'memory' };
    else if (typeof c.data === 'object' && c.data !== null && c.data.source === undefined) c.data = { ...c.data, source: 'memory' };
  }
  if (c.out === undefined) c.out = 'runs';
  const configDir = resolve(o.baseDir ?? process.cwd());
  return { config: checkConfig(c, { label: 'config', configDir, overrides: sets }), configDir, file: 'config' };
}

type Say = (kind: RunMessage['kind'], text: string) => void;

/** What a Run is made of (Run.open builds it from the options, the data and the checkpoint). */
interface RunContext {
  o: RunOptions;
  r: Resolved;
  say: Say;
  /** When trainRun began (performance.now()). */
  t0: number;
  /** The checkpoint resumed from, or null for a fresh start. */
  resumed: Resumed | null;
  data: Dataset;
  /** The training data's fingerprint (resume checks it). */
  fingerprint: string;
  spec: ModelSpec;
  params: Params;
  opt: Optimizer;
  rng: Rng;
  /** The training state: counters, best so far, RNG, carried states (from the checkpoint, or fresh). */
  st: TrainingData;
  ckdir: CheckpointDir;
  /** The worker pool: evaluation, carried states, the gradient profile. */
  co: Coordinator;
  /** The training step (LocalStep over co, or DistributedStep decorating it). */
  path: TrainStep;
  metrics: Pick<MetricsLog, 'append' | 'close'>;
  /** "name/isa" of the compute backend. */
  kernelsName: string;
  /** The MPI job (rank 0 alone writes), or null for one process. */
  dist: Distributed | null;
  /** onMessage's promises not yet awaited. */
  told: Told;
}

/** Everything of a run between its start and its summary. */
class Run {
  private lastCheckpoint: string | null;
  private val: EvalMetrics | undefined;
  private interrupted = false;
  private earlyStopped = false;
  private readonly batchesPerEpoch: number;
  private readonly maxSteps: number;
  private readonly totalSteps: number;
  private readonly profileEvery: number;
  /** train.validateEvery, or for a short language-model run the one chosen for it (0: epoch ends only). */
  private readonly validateEvery: number;
  private readonly planOf: typeof epochPlan;
  private readonly elapsedBefore: number;
  /** Whether there is validation data (data.split.val 0, or no data.val file: none). */
  private readonly hasVal: boolean;
  /** The step of the last validation (-1: none in this process). */
  private lastValidated = -1;
  /** Real tokens since the last metrics row, and when it was written: the row's tokens/s. */
  private tokensSinceLog = 0;
  private timeSinceLog = performance.now();
  /** Writes the run directory: not a distributed rank other than 0. */
  private readonly writer: boolean;
  /** RunOptions.output: false keeps the checkpoints in memory (the last, and the best validation's). */
  private readonly files: boolean;
  private readonly kept: { last?: Kept; best?: Kept } = {};
  /** What validation runs on: the validation split, or its first sequences within train.validateTokens (how many of each segment). */
  private readonly valPart: { counts: number[]; tokens: number };
  /** Row kinds metrics.jsonl already holds for the final step of a run resumed after it finished: not logged again. */
  private logged = new Set<MetricsRow['kind']>();
  private readonly resumedAt: number | null;

  private readonly o: RunOptions;
  private readonly r: Resolved;
  private readonly say: Say;
  private readonly t0: number;
  private readonly data: Dataset;
  private readonly fingerprint: string;
  private readonly spec: ModelSpec;
  private readonly params: Params;
  private readonly opt: Optimizer;
  private readonly rng: Rng;
  private readonly st: TrainingData;
  private readonly ckdir: CheckpointDir;
  private readonly co: Coordinator;
  private readonly path: TrainStep;
  private readonly metrics: RunContext['metrics'];
  private readonly kernelsName: string;
  private readonly dist: Distributed | null;
  private readonly told: Told;

  private constructor(c: RunContext) {
    ({ o: this.o, r: this.r, say: this.say, t0: this.t0, data: this.data, fingerprint: this.fingerprint, spec: this.spec, params: this.params, opt: this.opt, rng: this.rng,
      st: this.st, ckdir: this.ckdir, co: this.co, path: this.path, metrics: this.metrics, kernelsName: this.kernelsName, dist: this.dist, told: this.told } = c);
    const { r, data, resumed, dist } = c;
    this.writer = !dist || dist.rank === 0;
    this.files = r.files;
    const cfg = r.cfg;
    this.lastCheckpoint = resumed?.path ?? null;
    this.batchesPerEpoch = segmentCounts(data.splits.train).reduce((a, n) => a + Math.ceil(n / cfg.train.batchSize), 0);
    this.maxSteps = cfg.train.maxSteps > 0 ? cfg.train.maxSteps : Infinity;
    this.totalSteps = Math.min(this.maxSteps, cfg.train.epochs * this.batchesPerEpoch);
    this.profileEvery = Math.max(1, Math.round(this.totalSteps / 12));
    // A language model trained for a few epochs would have a validation per epoch only (two points
    // on the report's curves): with validateEvery 0 it validates about 5 times over the run instead.
    // (No closer than logEvery steps: a run of a few steps is not validated at every one.)
    const every = Math.max(cfg.train.logEvery, Math.ceil(this.totalSteps / SHORT_LM_VALIDATIONS));
    this.validateEvery = cfg.train.validateEvery > 0 ? cfg.train.validateEvery
      : this.spec.task === 'many-to-many' && cfg.train.epochs < SHORT_LM_VALIDATIONS && every < this.totalSteps ? every : 0;
    this.planOf = this.spec.task === 'many-to-many' && cfg.train.carryState ? streamPlan : epochPlan;
    this.elapsedBefore = resumed ? lastElapsed(r.runDir) : 0;
    this.hasVal = data.splits.val.count > 0;
    this.valPart = leadingCounts(data.splits.val, cfg.train.validateTokens);
    this.resumedAt = resumed ? resumed.c.training.globalStep : null;
  }

  /**
   * Reads the checkpoint to resume (first: a bad one fails before the data loads), the data, and builds the model and the worker pool.
   * Null when the AbortSignal stopped the initialization.
   */
  static async open(o: RunOptions, r: Resolved, t0: number, say: (kind: RunMessage['kind'], text: string) => void, dist: Distributed | null, told: Told): Promise<Run | null> {
    const { cfg, runDir, workers } = r;
    const writer = (!dist || dist.rank === 0) && r.files;
    const ckdir = new CheckpointDir(runDir, { keepLast: cfg.checkpoint.keepLast });
    let resumed: Resumed | null;
    if (!dist) resumed = findResume(o, r, ckdir, say);
    else {
      // Rank 0 chooses (and checks) the checkpoint; every rank decodes the same bytes.
      let mine: Resumed | null = null;
      const shared = await dist.shareResume(() => (mine = findResume(o, r, ckdir, say)));
      resumed = dist.rank === 0 ? mine : shared && { path: shared.path, c: decodeCheckpoint(shared.bytes, shared.path) };
    }
    const data = loadDataset(cfg.data, { configDir: r.loaded.configDir, task: cfg.model.task, memory: o.data, configFile: r.loaded.file });
    say('data', formatReport(data.report));
    const fingerprint = data.fingerprint ?? dataFingerprint(data);
    const spec = specOf(cfg, data, sourceOf(o, r.loaded.file, 'model.adaptiveSoftmax'));
    if (spec.adaptive && data.tokenizer.kind === 'bpe') {
      say('warning', `warning: model.adaptiveSoftmax's shortlist is the ids below ${spec.adaptive.cutoffs[0]}, which assumes ids sorted by frequency, as the char and word vocabularies are; `
        + 'a bpe vocabulary is not (ids 4-259 are the 256 bytes, then the merges in the order learnt), so frequent tokens land in the tail clusters and the layer loses the speed and accuracy it is for. '
        + 'Use data.tokenizer "word" (or "char"), or the full softmax (remove model.adaptiveSoftmax)');
    }
    if (cfg.train.earlyStopping && data.splits.val.count === 0) {
      throw new ConfigError(`${r.loaded.file}: train.earlyStopping needs validation data, and this run has none; give data.val (or a data.split.val above 0), or remove train.earlyStopping`);
    }
    if (resumed) checkResumeFits(resumed, spec, data, fingerprint, say);

    // ---- model, optimizer, training state
    const splitNames = ['train', 'val', 'test'] as SplitName[];
    const maxT = Math.max(...splitNames.map((s) => longestExample(data.splits[s])), 1);
    // A batch never holds more sequences than a split has: a huge train.batchSize is a full batch.
    const maxB = Math.max(1, Math.min(cfg.train.batchSize, Math.max(...splitNames.map((s) => data.splits[s].count))));
    // The parameters' layout, once: the memory check, the arena, the worker pool (through params.layout) use it.
    const layout = makeLayout(spec);
    checkRunMemory(cfg, workers, r.loaded.file, { spec, layout, maxB, maxT }, 'from the data', o.distributed !== undefined);
    const params = allocParams(layout, 'float32');
    const opt = new Optimizer(layout.size, optimizerOptions(cfg), arenaOf(params.data));
    const rng = new Rng(cfg.seed, INIT_STREAM);
    let st: TrainingData;
    if (resumed) {
      restore(resumed.c, params, opt, resumed.path);
      st = { ...resumed.c.training };
      rng.setState(st.rngState);
      say('resume', `resumed from ${resumed.path} at step ${st.globalStep} (epoch ${st.epoch + 1}, batch ${st.batchInEpoch})`);
    } else {
      // Seconds for a large model: it yields to the event loop, so a signal stops it (not distributed: every rank must init).
      const initOpts = { init: cfg.model.init, recurrentInit: cfg.model.recurrentInit, recurrentScale: cfg.model.recurrentScale, forgetBias: cfg.model.forgetBias, chrono: cfg.model.chrono };
      if (!(await initParamsAsync(params, spec, rng, initOpts, dist ? undefined : o.signal))) return null;
      st = { globalStep: 0, epoch: 0, batchInEpoch: 0, rngState: rng.getState(), bestMetric: NaN, bestStep: 0, seed: cfg.seed };
      loadPretrained(cfg, r.loaded.configDir, data, params, say);
    }
    if (writer) setAsideCheckpoints(ckdir, runDir, resumed ? st.globalStep : -1, (t) => say('warning', t));

    const { kernels } = r;
    const kernelsName = `${kernels.name}/${kernels.isa}`;
    if (kernels.note) say('kernels', `kernels: ${kernels.note}`);
    if (kernels.precisionNote) {
      // The tied and adaptive output layers have products of their own (src/model/head/), in float32.
      const head = spec.tieWeights ? 'tied output layer, ' : spec.adaptive ? 'adaptive softmax, ' : '';
      say('model', `precision: ${kernels.precisionNote}: the products over all rows in training (${head ? '' : 'head, '}input projections, weight gradients); the ${head}recurrence, weights, optimizer and checkpoints float32`);
    }
    // Said when the backend changed without the config saying so (auto on another machine or build).
    const savedKernels = resumed ? (JSON.parse(resumed.c.config) as ResolvedConfig).train.kernels : undefined;
    if (resumed?.c.training.kernels && resumed.c.training.kernels !== kernelsName && savedKernels === cfg.train.kernels) say('resume', `resume: the checkpoint was trained with ${resumed.c.training.kernels} kernels, this run uses ${kernelsName} (allowed; the run will differ from an uninterrupted one in the last bits)`);
    say('model', `model: ${spec.bidirectional ? 'bidirectional ' : ''}${spec.cell}${cfg.model.layers > 1 ? ` × ${cfg.model.layers} layers` : ''} ${spec.task}${spec.pooling ? ` (${spec.pooling} pooling)` : ''}, V=${spec.V} H=${spec.H} C=${spec.C} ${spec.E ? `embedding E=${spec.E}` : 'one-hot input'}${spec.tieWeights ? ', tied weights' : ''}${spec.adaptive ? `, adaptive softmax (cutoffs ${spec.adaptive.cutoffs.join(', ')})` : ''}, ${countParams(layout).toLocaleString('en-US')} parameters; ${workers} worker thread${workers > 1 ? 's' : ''}, ${kernelsName} kernels${kernels.precision ? `, precision ${kernels.precision}` : ''}; run directory ${relative(process.cwd(), runDir) || '.'}`);
    const resolvedFile = join(runDir, 'config.resolved.json');
    if (writer) onDisk('write', resolvedFile, () => writeFileSync(resolvedFile, JSON.stringify(cfg, null, 2) + '\n'));

    // Language models carry each row's state from chunk to chunk: batches are streams (streamPlan).
    const carry = spec.task === 'many-to-many' && cfg.train.carryState;
    const co = new Coordinator({ spec, workers, maxB, maxT, bpttWindow: cfg.train.bpttWindow, dropout: cfg.model.dropout, seed: cfg.seed, stepLoss: cfg.train.stepLoss, classWeights: classWeightsOf(cfg, data, r.loaded.file, say), carryState: carry, splits: data.splits, params, optimizer: opt, kernels, stallTimeoutMs: o.stallTimeoutMs, freezeTable: cfg.model.input !== 'onehot' && cfg.model.input.freeze === true, inject: o.inject?.rank === undefined || o.inject.rank === dist?.rank ? o.inject : undefined });
    if (carry && st.carry) co.setCarried(st.carry);
    if (dist) {
      say('distributed', `distributed: ${dist.library}, ${dist.size} rank${dist.size > 1 ? 's' : ''} × ${workers} worker thread${workers > 1 ? 's' : ''} (${dist.hosts.map((h, k) => `rank ${k} on ${h}`).join(', ')})${dist.launched ? '' : '; not started by mpirun or srun, so this is one rank'}`);
      await dist.checkSame([['config', cfg], ['training data', fingerprint], ['parameters and optimizer state', new Uint8Array(params.data.buffer, params.data.byteOffset, params.data.byteLength)], ['training state', JSON.stringify(st)]]);
    }
    // The step path: the pool's step, or over the ranks that step decorated with the MPI exchange.
    const local = new LocalStep(co, dist ? undefined : o.signal);
    const path: TrainStep = dist ? new DistributedStep(dist, local, o.signal) : local;
    // A fresh start by --resume auto drops the rows of the attempt that left no checkpoint.
    const metrics = writer ? new MetricsLog(runDir, resumed ? { resumeStep: st.globalStep } : o.resume === 'auto' ? { resumeStep: 0 } : {}) : { append: noop, close: noop };
    if (writer) trimProfiles(runDir, resumed ? st.globalStep : 0);
    return new Run({ o, r, say, t0, resumed, data, fingerprint, spec, params, opt, rng, st, ckdir, co, path, metrics, kernelsName, dist, told });
  }

  private elapsed(): number {
    return this.elapsedBefore + (performance.now() - this.t0) / 1000;
  }

  /** The whole run: steps over the epochs, the final evaluations, the report. */
  async train(): Promise<RunSummary> {
    const { cfg } = this.r;
    const st = this.st;
    let test: EvalMetrics | undefined, testBest: RunSummary['testBest'];
    await (this.o.onStart ?? noop)({
      runDir: this.r.runDir, spec: this.spec, parameters: countParams(this.params.layout), workers: this.r.workers, kernels: this.kernelsName,
      epochs: cfg.train.epochs, totalSteps: this.totalSteps, fromStep: st.globalStep,
    });
    try {
      await this.epochs();
      // However the run ends here (done, --max-steps, stopped), its last state is on disk.
      if (lastCheckpointStep(this.lastCheckpoint) !== st.globalStep) await this.save();
      const traffic = this.path.summary();
      if (traffic) this.say('distributed', traffic);
      // Resumed after it had finished (--resume auto of a requeued job, say): nothing was trained,
      // so the final evaluations already in metrics.jsonl are computed again for the summary only.
      if (this.writer && this.resumedAt === st.globalStep && !this.interrupted) {
        this.logged = new Set(readMetrics(join(this.r.runDir, 'metrics.jsonl')).filter((m) => m.step === st.globalStep).map((m) => m.kind));
        if (this.logged.has('test') || (!this.data.splits.test.count && this.logged.has('val'))) this.say('resume', `the run had already finished at step ${st.globalStep}: nothing to train; its final evaluations are not logged again`);
      }
      // The final evaluations are for rank 0's report (and the best checkpoint is on its disk).
      if (!this.interrupted && this.writer) ({ test, testBest } = await this.finalEvaluations());
      await this.told.flush();
    } finally {
      this.metrics.close();
      await this.co.destroy().catch(() => {});
    }
    return this.summary(test, testBest);
  }

  /** Epochs of steps until the last, maxSteps, the AbortSignal or early stopping. */
  private async epochs(): Promise<void> {
    const { cfg } = this.r;
    const st = this.st;
    // A run resumed after its early stop stays stopped.
    if (this.patienceRunOut()) { this.earlyStopped = true; return; }
    while (st.epoch < cfg.train.epochs && st.globalStep < this.maxSteps) {
      // Token shards: one segment (a shard's examples) planned at a time, the segments in an order of the seed.
      const epoch = new EpochBatches(this.data.splits.train, this.planOf, { batchSize: cfg.train.batchSize, seed: cfg.seed, epoch: st.epoch, into: this.co.orderArray('train') });
      if (st.batchInEpoch === 0 && epoch.batches > 0) {
        const { plan } = epoch.at(0);
        this.say('epoch', `epoch ${st.epoch + 1}/${cfg.train.epochs}: ${epoch.batches} batches, padding ${(paddingFraction(this.data.splits.train, plan) * 100).toFixed(1)}%${epoch.segments > 1 ? ` (in the first of ${epoch.segments} shards)` : ''}`);
      }
      while (st.batchInEpoch < epoch.batches) {
        if (this.path.stopped()) { this.interrupted = true; return; }
        if (st.globalStep >= this.maxSteps) return;
        const at = epoch.at(st.batchInEpoch);
        if (at.fresh) this.co.setOrder('train', at.plan.order);
        await this.step(at.plan, at.k);
        const step = st.globalStep;
        const epochDone = st.batchInEpoch === epoch.batches;
        const onGrid = this.validateEvery > 0 && step % this.validateEvery === 0;
        if (epochDone || onGrid) {
          // Stopped during validation: the step's checkpoint is still written, without that validation.
          // With validateEvery, patience counts the every-N validations only: an epoch-end one a few
          // steps after a grid one sees nearly the same weights and would tick twice for one interval.
          if (this.hasVal) this.val = (await this.validate(this.validateEvery === 0 || onGrid)) ?? this.val;
          if (epochDone) { st.epoch++; st.batchInEpoch = 0; }
          // Every validated state is checkpointed: the best one is always on disk (retention keeps it).
          await this.save();
          if (this.patienceRunOut()) { this.earlyStopped = true; return; }
          if (epochDone) break; // next epoch: a new plan
        } else if (cfg.checkpoint.every > 0 && step % cfg.checkpoint.every === 0) {
          await this.save();
        }
      }
    }
  }

  /** One optimizer step on batch k of `plan` (the epoch's next); the metrics row, the gradient profile, onStep. */
  private async step(plan: EpochPlan, k: number): Promise<void> {
    const { cfg } = this.r;
    const st = this.st;
    const step = st.globalStep + 1;
    const ts = performance.now();
    const lr = (this.opt.opts.lr = plateauLr(lrAt(cfg, step, cfg.train.epochs * this.batchesPerEpoch), st.lrScale, cfg.train.plateau));
    const off = plan.batchStarts[k], n = plan.batchStarts[k + 1] - off;
    const g = await this.path.step({ step, split: 'train', order: plan.order, off, n, clipNorm: cfg.train.clipNorm });
    const lossMean = g.lossSum / g.count;
    if (!Number.isFinite(lossMean)) throw nonFinite(step, 'loss', this.lastCheckpoint);
    if (!g.finite) throw nonFinite(step, 'gradient', this.lastCheckpoint);
    const ms = performance.now() - ts;
    st.globalStep = step;
    st.batchInEpoch++;
    const train = this.data.splits.train;
    let tokens = 0;
    for (let i = off; i < off + n; i++) tokens += train.lengths[local(train, plan.order[i])];
    this.tokensSinceLog += tokens;
    const accuracy = g.correct / g.count;
    if (step % cfg.train.logEvery === 0 || step === 1) {
      const now = performance.now();
      const row: MetricsRow = {
        step, epoch: st.epoch + 1, kind: 'train', loss: lossMean, accuracy, gradNorm: g.gradNorm,
        clipped: g.clipped, lr, tokensPerSec: this.tokensSinceLog / ((now - this.timeSinceLog) / 1000),
        fwdBwdMs: round2(g.fwdBwdMsMax), reduceMs: round2(g.reduceMs), updateMs: round2(g.updateMs), kernels: this.kernelsName, elapsedSec: this.elapsed(),
      };
      this.metrics.append(row);
      this.tokensSinceLog = 0;
      this.timeSinceLog = now;
    } else if (g.clipped) {
      // Every clipping event is in the log, not only those on logged steps.
      this.metrics.append({ step, epoch: st.epoch + 1, kind: 'train', loss: lossMean, accuracy, gradNorm: g.gradNorm, clipped: true, lr, elapsedSec: this.elapsed() });
    }
    if (this.writer && this.files && (step === 1 || step % this.profileEvery === 0)) {
      const profileFile = join(this.r.runDir, PROFILE_FILE);
      onDisk('append to', profileFile, () => appendFileSync(profileFile, JSON.stringify({ step, norms: Array.from(this.co.stepNorms.subarray(0, this.co.stepNormsT), (x) => +x.toPrecision(4)) }) + '\n'),
        'The checkpoints written so far are kept: once fixed, continue with --resume latest');
    }
    await this.told.flush();
    await (this.o.onStep ?? noop)({ step, epoch: st.epoch + 1, loss: lossMean, accuracy, gradNorm: g.gradNorm, clipped: g.clipped, lr, tokens, tokensPerSec: tokens / (ms / 1000) });
  }

  /** Whether early stopping's patience has run out. */
  private patienceRunOut(): boolean {
    const es = this.r.cfg.train.earlyStopping;
    return es !== undefined && (this.st.sinceBest ?? 0) >= es.patience;
  }

  private async save(): Promise<string> {
    const st = this.st;
    st.rngState = this.rng.getState();
    st.kernels = this.kernelsName;
    st.carry = this.co.carried();
    const c = checkpointOf(this.spec, this.params, this.opt, st, this.data, this.r.cfg, this.fingerprint);
    // A finite loss and gradient can still give an infinite update (a huge train.lr): such a
    // state must not become the "last good checkpoint".
    const bad = nonFiniteTensor(c);
    if (bad) throw nonFinite(st.globalStep, bad, this.lastCheckpoint);
    if (!this.writer) return this.lastCheckpoint ?? '';
    if (!this.files) {
      // Encoded: c's tensors are views of the live parameters.
      this.kept.last = { step: st.globalStep, bytes: encodeCheckpoint(c) };
      if (st.bestStep === st.globalStep) this.kept.best = this.kept.last;
      this.lastCheckpoint = `(in memory) step ${st.globalStep}`;
      return this.lastCheckpoint;
    }
    this.lastCheckpoint = this.ckdir.save(c);
    await (this.o.onCheckpoint ?? noop)({ step: st.globalStep, file: this.lastCheckpoint });
    return this.lastCheckpoint;
  }

  /** Metrics of the validation (valPart) or test split; null when the AbortSignal stopped it (the run is then interrupted). */
  private async evaluate(split: 'val' | 'test', confusion = false): Promise<EvalMetrics | null> {
    const whole = this.data.splits[split];
    const part = split === 'val' ? this.valPart : { counts: segmentCounts(whole), tokens: splitTokens(whole) };
    const tokens = part.tokens;
    const on = this.o.onEvaluation;
    const bio = this.spec.task === 'tagging' ? bioScheme(this.data.labelNames) : null;
    const r = await evaluateSegments(this.co, split, whole, this.planOf, this.r.cfg.train.batchSize, confusion, {
      bio,
      // Distributed, every rank must evaluate to the end (rank 0's figures are shared).
      signal: this.dist ? undefined : this.o.signal,
      onBatch: on && ((done, batches) => on({ split, done, batches, tokens })),
    }, part.counts);
    if (!r) { this.interrupted = true; return null; }
    const loss = r.lossSum / r.count;
    const m: EvalMetrics = { loss, accuracy: r.correct / r.count, count: r.count };
    if (this.spec.task === 'many-to-many') m.bitsPerToken = loss / Math.LN2;
    if (r.spans) m.spans = spanMetrics(r.spans);
    if (r.confusion && this.spec.task === 'tagging') m.perTag = taggingMetrics(r.lossSum, r.count, r.confusion, this.data.labelNames).perTag;
    if (r.confusion) m.confusion = Array.from({ length: this.spec.C }, (_, i) => r.confusion!.slice(i * this.spec.C, (i + 1) * this.spec.C));
    const sequences = part.counts.reduce((a, n) => a + n, 0);
    if (sequences < whole.count) m.subset = { sequences, ofSequences: whole.count, tokens, ofTokens: splitTokens(whole) };
    return m;
  }

  /**
   * The validation split; the best result so far by the one rule (best.ts); early stopping's
   * count of validations in a row without an improvement of more than minDelta over that best.
   * `ticks` false (an epoch-end validation off the validateEvery grid) may set a new best (and
   * restart the count) but adds no tick. The final validation (`counts` false) comes after the
   * last checkpoint and counts for nothing.
   */
  private async validate(ticks: boolean, counts = true): Promise<EvalMetrics | null> {
    const st = this.st;
    const v = await this.evaluate('val');
    if (!v) return null;
    if (this.dist) {
      await this.dist.shareEval(v);
      if (this.spec.task === 'many-to-many') v.bitsPerToken = v.loss / Math.LN2;
    }
    const score = bestScore(this.spec.task, v);
    const before = st.bestMetric;
    const improved = improves(score, before);
    if (improved) { st.bestMetric = score; st.bestStep = st.globalStep; }
    if (counts) {
      const minDelta = this.r.cfg.train.earlyStopping?.minDelta ?? 0;
      const better = improved && (Number.isNaN(before) || improves(score, before + minDelta));
      st.sinceBest = better ? 0 : (st.sinceBest ?? 0) + (ticks ? 1 : 0);
      const plateau = this.r.cfg.train.plateau;
      if (plateau && ticks && plateauStep(st, v.loss, plateau)) {
        const next = plateauLr(lrAt(this.r.cfg, st.globalStep + 1, this.r.cfg.train.epochs * this.batchesPerEpoch), st.lrScale, plateau);
        this.say('schedule', `step ${st.globalStep}: validation loss ${v.loss.toFixed(4)} has not fallen for ${plateau.patience + 1} validations; learning rate × ${plateau.factor} (train.plateau): ${+next.toPrecision(4)}`);
      }
    }
    this.lastValidated = st.globalStep;
    if (!this.logged.has('val')) this.metrics.append({ step: st.globalStep, epoch: st.epoch + 1, kind: 'val', loss: v.loss, accuracy: v.accuracy, elapsedSec: this.elapsed() });
    await (this.o.onValidation ?? noop)({
      ...v, step: st.globalStep, epoch: st.epoch + 1, improved, best: { step: st.bestStep, metric: st.bestMetric },
      sinceBest: st.sinceBest ?? 0, rule: bestRule(this.spec.task),
    });
    return v;
  }

  /**
   * After the last step: validation (unless the last step was just validated) and test; and the
   * test of the best validation checkpoint when it is another one (what early stopping keeps;
   * after early stopping, the run's weights become that checkpoint's).
   */
  private async finalEvaluations(): Promise<{ test?: EvalMetrics; testBest?: RunSummary['testBest'] }> {
    const st = this.st;
    if (this.hasVal && this.lastValidated !== st.globalStep) {
      const v = await this.validate(false, false);
      if (!v) return {};
      this.val = v;
    }
    if (this.data.splits.test.count === 0) return {};
    const test = await this.evaluate('test', this.spec.task !== 'many-to-many');
    if (!test) return {};
    if (!this.logged.has('test')) this.metrics.append({ step: st.globalStep, epoch: st.epoch, kind: 'test', loss: test.loss, accuracy: test.accuracy, elapsedSec: this.elapsed() });
    const bestFile = st.bestStep > 0 && st.bestStep !== st.globalStep ? this.ckdir.pathFor(st.bestStep) : null;
    const bestKept = this.files ? null : this.kept.best;
    if (!bestFile || (bestKept ? bestKept.step !== st.bestStep : !existsSync(bestFile))) return { test };
    const final = Float32Array.from(this.params.data);
    loadParams(bestKept ? decodeCheckpoint(bestKept.bytes, IN_MEMORY) : readCheckpoint(bestFile), this.params, bestFile);
    const best = await this.evaluate('test', this.spec.task !== 'many-to-many');
    (this.params.data as Float32Array).set(final);
    return best ? { test, testBest: { ...best, step: st.bestStep, file: bestFile } } : { test };
  }

  /**
   * A language model's sample for the report, from the run's last weights: from <s> when the model
   * was trained with it, else from its most frequent token.
   */
  private sample(): { sample?: string; sampleNote?: string } {
    const { vocab, tokenizer } = this.data;
    const prompt = tokenizer.bos ? '' : decodeTokens([SPECIALS.length], vocab, tokenizer);
    const o = { tokens: SAMPLE_TOKENS, temperature: SAMPLE_TEMPERATURE, seed: this.r.cfg.seed };
    const g = generateText({ spec: this.spec, params: this.params, vocab: vocab.tokens, tokenizer }, prompt, o);
    const from = prompt ? `the prompt ${JSON.stringify(prompt)}` : '<s>';
    return { sample: g.text, sampleNote: `${SAMPLE_TOKENS} tokens generated from ${from} by the weights of step ${this.st.globalStep}, temperature ${SAMPLE_TEMPERATURE}, seed ${this.r.cfg.seed}.` };
  }

  /** The report (report.html) and what the run returns. */
  private summary(test: EvalMetrics | undefined, testBest: RunSummary['testBest']): RunSummary {
    const { cfg, runDir } = this.r;
    const st = this.st;
    const seconds = this.elapsed();
    const distributed = this.dist ? { rank: this.dist.rank, size: this.dist.size } : undefined;
    if (!this.files) {
      const best = this.kept.best?.step === st.bestStep ? this.kept.best : undefined;
      const model = this.earlyStopped && best ? best : this.kept.last;
      return {
        runDir, task: this.spec.task, steps: st.globalStep, interrupted: this.interrupted, earlyStopped: this.earlyStopped,
        best: { metric: st.bestMetric, step: st.bestStep, rule: bestRule(this.spec.task), checkpoint: null }, val: this.val, test, testBest: testBest && { ...testBest, file: IN_MEMORY },
        lastCheckpoint: null, modelCheckpoint: null, checkpointDir: '', reportPath: '', configFile: this.r.configFile, dataRoot: null, seconds, distributed,
        inMemory: model && decodeCheckpoint(model.bytes, IN_MEMORY),
      };
    }
    if (!this.writer) {
      return {
        runDir, task: this.spec.task, steps: st.globalStep, interrupted: this.interrupted, earlyStopped: this.earlyStopped,
        best: { metric: st.bestMetric, step: st.bestStep, rule: bestRule(this.spec.task), checkpoint: null }, val: this.val,
        lastCheckpoint: null, modelCheckpoint: null, checkpointDir: this.ckdir.dir, reportPath: '', configFile: this.r.configFile, dataRoot: null, seconds, distributed,
      };
    }
    const rows = dedupeResumed(readMetrics(join(runDir, 'metrics.jsonl')));
    // After early stopping the run's result is the best checkpoint: the report shows its test scores.
    const shown = this.earlyStopped && testBest ? testBest : test;
    const reportPath = writeReport(runDir, {
      runName: cfg.name, config: cfg, metrics: rows, steps: st.globalStep, stepGradNorms: readProfiles(runDir), lm: this.spec.task === 'many-to-many',
      confusion: shown?.confusion ? { labels: this.data.labelNames, matrix: shown.confusion } : undefined,
      test: shown ? { loss: shown.loss, accuracy: shown.accuracy, ...(shown.bitsPerToken !== undefined ? { bitsPerToken: shown.bitsPerToken } : {}) } : undefined,
      ...(shown?.perTag ? { tagging: { perTag: shown.perTag, spans: shown.spans } } : {}),
      facts: [['parameters', countParams(this.params.layout)], ['vocabulary', this.spec.V], ['workers', this.r.workers], ['wall time', formatDuration(seconds)],
        ...(this.val?.subset ? [['validation', describeSubset(this.val.subset)] as [string, string]] : [])],
      ...(this.spec.task === 'many-to-many' ? this.sample() : {}),
    }, `The run itself ${this.interrupted ? 'stopped' : 'finished'} at step ${st.globalStep}; its checkpoints and metrics.jsonl are kept (last checkpoint: ${this.lastCheckpoint ?? '(none)'})`);
    const bestCheckpoint = st.bestStep > 0 && existsSync(this.ckdir.pathFor(st.bestStep)) ? this.ckdir.pathFor(st.bestStep) : null;
    return {
      runDir, task: this.spec.task, steps: st.globalStep, interrupted: this.interrupted, earlyStopped: this.earlyStopped,
      best: { metric: st.bestMetric, step: st.bestStep, rule: bestRule(this.spec.task), checkpoint: bestCheckpoint },
      val: this.val, test, testBest, lastCheckpoint: this.lastCheckpoint,
      modelCheckpoint: this.earlyStopped && bestCheckpoint ? bestCheckpoint : this.lastCheckpoint,
      checkpointDir: this.ckdir.dir, reportPath, configFile: this.r.configFile, dataRoot: cfg.data.source === 'files' ? this.r.loaded.configDir : null, seconds, distributed,
    };
  }
}

/**
 * model.input.pretrained: the vectors of the vocabulary's tokens found in the file replace their
 * initialized rows of Wemb; the coverage is told. (A fresh run only: a resumed one has its table.)
 */
function loadPretrained(cfg: ResolvedConfig, configDir: string, data: Dataset, params: Params, say: (kind: RunMessage['kind'], text: string) => void): void {
  const input = cfg.model.input;
  if (input === 'onehot' || !input.pretrained || !params.Wemb) return;
  const file = resolve(configDir, input.pretrained);
  const tokens = data.vocab.tokens, E = input.embedding;
  const v = readVectors(file, relative(process.cwd(), file) || file, tokens, E);
  for (let id = 0; id < tokens.length; id++) if (v.found[id]) params.Wemb.set(v.rows.subarray(id * E, id * E + E), id * E);
  const n = (x: number) => x.toLocaleString('en-US');
  say('model', `embeddings: ${n(v.count)} of ${n(tokens.length)} tokens (${(100 * v.count / tokens.length).toFixed(1)}%) from ${basename(file)}${input.freeze ? ', frozen' : ''}`);
  if (v.count === 0) say('warning', `warning: no token of the vocabulary has a vector in ${file}: check data.tokenizer and data.lowercase against the file's words`);
}

/** A checkpoint kept in memory (RunOptions.output false), encoded. */
interface Kept { step: number; bytes: Uint8Array }
const IN_MEMORY = '(in memory)';

/** Validations over a language-model run of fewer epochs than this, when train.validateEvery is 0. */
const SHORT_LM_VALIDATIONS = 5;

/** Tokens of the report's sample of a language model, and its temperature. */
const SAMPLE_TOKENS = 200, SAMPLE_TEMPERATURE = 0.8;

/**
 * train.classWeights as a weight per class id: "balanced" is N / (C × N_c) over the training
 * split's labels (scikit-learn's), a map gives its labels' weights and 1 to the others. Undefined
 * when absent.
 */
export function classWeightsOf(cfg: ResolvedConfig, data: Pick<Dataset, 'labelNames' | 'splits'>, file: string, say: (kind: RunMessage['kind'], text: string) => void): number[] | undefined {
  const cw = cfg.train.classWeights;
  if (cw === undefined) return undefined;
  const where = relative(process.cwd(), file) || file;
  if (cfg.model.task !== 'many-to-one') throw new ConfigError(`${where}: train.classWeights: ${cfg.model.task === 'tagging' ? 'only a classifier\'s labels are weighted, not a tagger\'s tags' : 'a language model has no classes'}; remove it (it weighs a classifier's labels)`);
  const names = data.labelNames, C = names.length;
  if (cw !== 'balanced') {
    const unknown = Object.keys(cw).filter((k) => !names.includes(k));
    if (unknown.length) throw new ConfigError(`${where}: train.classWeights: ${unknown.map((k) => JSON.stringify(k)).join(', ')} ${unknown.length > 1 ? 'are not labels' : 'is not a label'} of the data (${names.map((k) => JSON.stringify(k)).join(', ')}); weigh labels by these names`);
    return names.map((k) => cw[k] ?? 1);
  }
  const train = data.splits.train, n = new Array<number>(C).fill(0);
  segmentCounts(train).forEach((_, j) => {
    const seg = segment(train, j);
    for (let i = 0; i < seg.count; i++) n[seg.labels[i]]++;
  });
  const missing = names.filter((_, c) => n[c] === 0);
  if (missing.length) throw new ConfigError(`${where}: train.classWeights "balanced": no training example has the label ${missing.map((k) => JSON.stringify(k)).join(', ')}, so it has no weight; give the weights as a map, or leave the label out of data.labels`);
  const w = n.map((nc) => train.count / (C * nc));
  say('data', `class weights (balanced): ${names.map((k, c) => `${k} ${+w[c].toPrecision(4)}`).join(', ')}`);
  return w;
}

/** "the first 40 of 1,200 sequences (5,000 of 150,000 tokens; train.validateTokens)" */
export function describeSubset(s: NonNullable<EvalMetrics['subset']>): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return `the first ${n(s.sequences)} of ${n(s.ofSequences)} sequences (${n(s.tokens)} of ${n(s.ofTokens)} tokens; train.validateTokens)`;
}

/** What a run stopped during its initialization returns: no step, no checkpoint. */
function stoppedBeforeStart(r: Resolved, t0: number): RunSummary {
  const task = r.cfg.model.task;
  return {
    runDir: r.runDir, task, steps: 0, interrupted: true, earlyStopped: false, best: { metric: NaN, step: 0, rule: bestRule(task), checkpoint: null },
    lastCheckpoint: null, modelCheckpoint: null, checkpointDir: join(r.runDir, 'checkpoints'), reportPath: '', configFile: r.configFile, dataRoot: null,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** How the model reads a sequence (the spec's fields, left out at their defaults): both ways, and what a classifier pools. */
function readingOf(cfg: ResolvedConfig): Pick<ModelSpec, 'bidirectional' | 'pooling'> {
  return {
    ...(cfg.model.bidirectional ? { bidirectional: true } : {}),
    ...(cfg.model.task === 'many-to-one' && cfg.model.pooling !== 'last' ? { pooling: cfg.model.pooling } : {}),
  };
}

/** Where a config field came from, for a message: the last --set that wrote it (or a section holding it), else the config file. */
function sourceOf(o: RunOptions, file: string, path: string): string {
  const set = [...(o.set ?? [])].reverse().find((x) => {
    const p = x.slice(0, x.indexOf('='));
    return path === p || path.startsWith(`${p}.`);
  });
  return set ? `--set ${set}` : relative(process.cwd(), file) || file;
}

/** The model's sizes: from the config, and V, C from the data; `where` names the config (or the --set) in messages. */
function specOf(cfg: ResolvedConfig, data: Dataset, where: string): ModelSpec {
  const input = cfg.model.input, V = data.vocab.tokens.length;
  return {
    cell: cfg.model.cell, task: cfg.model.task, V, H: cfg.model.hidden,
    C: cfg.model.task !== 'many-to-many' ? data.labelNames.length : V, // classes, or tags
    E: input === 'onehot' ? 0 : input.embedding, layers: cfg.model.layers,
    ...readingOf(cfg),
    ...headOf(cfg, V, where),
  };
}

/** The output layer's fields of the spec (tied weights, adaptive softmax); the cutoffs must fit the vocabulary, known from the data. */
export function headOf(cfg: ResolvedConfig, V: number, where: string): Pick<ModelSpec, 'tieWeights' | 'adaptive'> {
  const a = cfg.model.adaptiveSoftmax;
  if (a) {
    const bad = a.cutoffs.findIndex((c) => c >= V);
    if (bad >= 0) throw new ConfigError(`${where}: model.adaptiveSoftmax.cutoffs[${bad}]: expected a token id below the vocabulary size V = ${V} (from the data), found ${a.cutoffs[bad]}: lower the cutoffs or raise data.vocab.maxSize`);
    return { adaptive: { cutoffs: [...a.cutoffs], divValue: a.divValue, headBias: a.headBias } };
  }
  return cfg.model.tieWeights ? { tieWeights: true } : {};
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

function countParams(layout: Layout): number {
  return layout.tensors.reduce((s, t) => s + t.size, 0);
}

/** The learning rate of global step `step` (1-based) of a run planned for `total` steps. */
export function lrAt(cfg: ResolvedConfig, step: number, total: number): number {
  const t = cfg.train;
  // Linear warm-up: a factor s / warmupSteps on the first warmupSteps steps (a function of the step alone, as the schedule).
  const warm = t.warmupSteps > 0 && step < t.warmupSteps ? step / t.warmupSteps : 1;
  if (t.lrSchedule === 'constant' || !Number.isFinite(total) || total <= 1) return t.lr * warm;
  const progress = Math.min(1, (step - 1) / (total - 1));
  return t.lr * warm * (t.lrMinRatio + (1 - t.lrMinRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** A hash of the encoded training data: resuming on other data is reported. */
function dataFingerprint(d: Dataset): string {
  const h = createHash('sha256');
  for (const s of ['train', 'val', 'test'] as SplitName[]) {
    const sp = d.splits[s];
    for (const a of [sp.tokens, sp.starts, sp.lengths, sp.labels, ...(sp.tags ? [sp.tags] : [])]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex').slice(0, 32);
}

/** The smallest model the config can make (before the data loads: V = 4 tokens, the fewest classes), for the memory check. */
function smallestSpec(cfg: ResolvedConfig): ModelSpec {
  const input = cfg.model.input, V = 4;
  return {
    cell: cfg.model.cell, task: cfg.model.task, V, H: cfg.model.hidden, C: cfg.model.task !== 'many-to-many' ? Math.max(2, cfg.data.labels?.length ?? 2) : V,
    E: input === 'onehot' ? 0 : input.embedding, layers: cfg.model.layers,
    ...readingOf(cfg),
    // V is a lower bound the cutoffs may exceed: the full softmax's size stands in (an upper bound of the head's).
    ...(cfg.model.tieWeights ? { tieWeights: true } : {}),
  };
}

/**
 * Refuses (ConfigError, exit 2) a run whose memory need (src/train/memory.ts) does not fit.
 * `m`: the model and the batch shape, from the data (with the run's layout), or lower bounds before it loads (`at least`).
 */
function checkRunMemory(cfg: ResolvedConfig, workers: number, label: string, m: { spec: ModelSpec; layout?: Layout; maxB: number; maxT: number }, how: 'at least' | 'from the data', distributed: boolean): void {
  const { spec } = m;
  const p: MemoryPlan = { spec, layout: m.layout, workers, maxB: m.maxB, maxT: m.maxT, optimizer: cfg.train.optimizer, distributed, lowerBound: how === 'at least' };
  const vocab = how === 'at least' ? `V >= ${spec.V} tokens (data.vocab.maxSize ${cfg.data.vocab.maxSize})` : `V = ${spec.V} tokens from the data (data.vocab.maxSize ${cfg.data.vocab.maxSize})`;
  checkMemory(p, memoryNeed(p), { label: relative(process.cwd(), label) || label, sizes: cfg.model.task !== 'many-to-many' ? `${vocab}, C = ${spec.C} ${cfg.model.task === 'tagging' ? 'tags' : 'classes'}` : vocab });
}
