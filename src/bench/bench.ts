// `npm run bench`: training tokens/s on the reference workloads (bench/workloads.json), for each
// worker count asked. Random tokens in [1, V) (classifiers: uniform; language models: Zipf, id 1
// the most frequent: --tokens), Adam lr 1e-3; classifiers many-to-one with C classes, language
// models (--task lm: workloads with "task": "lm", LSTM by default) the next token at every step
// with a full softmax over V, or (--head tied|adaptive) tied weights or the workload's adaptive
// softmax; every sequence of full length T, or (--lengths variable) lengths uniform in [T/4, T],
// tokens/s then counting real tokens. One JSON object per line, then a table.
//
// --compare pytorch runs the same model in PyTorch (bench/pytorch/bench_rnn.py, a child process
// driven over stdin/stdout) in the same alternating rounds, and adds tokens/s side by side, the
// ratio, GFLOP/s per core and the share of the core's peak; --torch-threads 1,2 adds PyTorch on 2
// threads (a child per thread count). --compare onednn runs oneDNN's own f32 RNN/LSTM training
// primitives on the same shapes (bench/peers/onednn, compiled once into a cache folder; skipped with
// a note where oneDNN is not installed), best of 1 and 2 OpenMP threads: the recurrent layer alone,
// no embedding, head or optimizer (src/bench/onednn.ts). --kernels-micro times the per-step recurrent product of each
// compute backend beside torch.mm (src/bench/micro.ts).
//
// With --head tied|adaptive and --compare pytorch, PyTorch trains both its full softmax (the
// baseline: ours/PyTorch is against it) and the same output layer (nn.AdaptiveLogSoftmaxWithLoss
// with the same cutoffs, or a tied Linear), printed as the like-for-like ratio.
//
//   npm run bench -- [--task classify|lm] [--head full|tied|adaptive] [--tokens uniform|zipf] [--workers 1,2] [--workloads W-small,W-medium,W-large]
//                    [--input embedding,onehot] [--lengths full,variable] [--cell rnn|lstm|gru]
//                    [--kernels auto|js|wasm|native] [--compare pytorch,onednn] [--torch-threads 1,2]
//                    [--seconds S] [--file PATH] [--kernels-micro]

import { kernelsOf, KERNELS_CHOICES } from '../model/backend/index.js';
import { withPrecision, PRECISIONS, type Precision } from '../model/backend/precision.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { CELLS, type ModelSpec } from '../model/spec.js';
import { makeLayout, allocParams } from '../model/params.js';
import { initParams } from '../model/init.js';
import { Coordinator, type CoordinatorOptions } from '../parallel/coordinator.js';
import { Optimizer, defaultOptimizer } from '../optim/optim.js';
import { Rng } from '../util/prng.js';
import { toShared, arenaOf } from '../util/shared.js';
import type { EncodedSplit } from '../data/index.js';
import { parseArgs, runMain } from '../cli/args.js';
import { ConfigError } from '../util/errors.js';
import { flopsPerToken, corePeak, cpuModel, lmHeadSpec, type Workload, type Peak, type BenchHead } from './flops.js';
import { zipfSampler } from './zipf.js';
import { adaptiveShape } from '../model/spec.js';
import { TorchChild, torchScript, pythonPath } from './pytorch.js';
import { kernelsMicro } from './micro.js';
import { buildOnednn, onednnSource, runOnednn, ONEDNN_CELLS, type OnednnRun } from './onednn.js';
import { benchMpi } from './mpi.js';
import { benchData } from './data.js';

type Input = 'embedding' | 'onehot';
type Lengths = 'full' | 'variable';
type Tokens = 'uniform' | 'zipf';

/**
 * The cells our trainer implements. PyTorch runs rnn, lstm and gru; to bench a new cell of ours, add
 * it here (one line; ModelSpec['cell'] must include it).
 */

/** The repository: this file is src/bench/bench.ts, or dist/src/bench/bench.js once built. */
const here = dirname(fileURLToPath(import.meta.url));
const root = here.includes('/dist/') ? join(here, '..', '..', '..') : join(here, '..', '..');

const isLm = (w: Workload) => w.task === 'lm';

/**
 * `batches` batches of B random sequences; lengths T, or uniform in [floor(T/4), T]. A language
 * model's sequence holds one more token, its last target (the data's many-to-many layout). Token
 * ids in [1, V): uniform, or Zipf (id 1 + r with P ∝ 1/(r + 1), src/bench/zipf.ts: ids sorted by
 * frequency, as a word vocabulary's are, which is what an adaptive softmax's shortlist assumes).
 */
function randomSplit(w: Workload, batches: number, rng: Rng, lengths: Lengths, dist: Tokens = 'uniform'): EncodedSplit {
  const count = w.B * batches;
  const span = isLm(w) ? w.T + 1 : w.T;
  const tokens = new Int32Array(count * span);
  const zipf = dist === 'zipf' ? zipfSampler(w.V - 1) : null;
  for (let i = 0; i < tokens.length; i++) tokens[i] = 1 + (zipf ? zipf(rng) : rng.int(w.V - 1));
  const starts = Int32Array.from({ length: count }, (_, i) => i * span);
  const lo = Math.floor(w.T / 4);
  const lens = Int32Array.from({ length: count }, () => (lengths === 'full' ? w.T : lo + rng.int(w.T - lo + 1)));
  const labels = isLm(w) ? new Int32Array(0) : Int32Array.from({ length: count }, () => rng.int(w.C));
  return { name: 'train', count, tokens: toShared(tokens), starts: toShared(starts), lengths: toShared(lens), labels: toShared(labels) };
}

/** The share of a language model's real targets in each tail cluster of its adaptive softmax (for the FLOP count). */
function clusterShares(w: Workload, split: EncodedSplit): number[] {
  if (!w.adaptive) return [];
  const clusters = adaptiveShape({ cell: 'rnn', task: 'many-to-many', V: w.V, C: w.V, E: w.E, H: w.H, ...lmHeadSpec(w, 'adaptive') }).clusters;
  const n = new Array<number>(clusters.length).fill(0);
  let all = 0;
  for (let s = 0; s < split.count; s++) {
    for (let t = 1; t <= split.lengths[s]; t++, all++) {
      const y = split.tokens[split.starts[s] + t];
      for (let i = clusters.length - 1; i >= 0; i--) if (y >= clusters[i].lo) { n[i]++; break; }
    }
  }
  return n.map((x) => x / all);
}

/** One step's wall-clock parts (ms; NaN where a side does not measure them) and its real tokens. */
interface StepTime { total: number; fwdBwd: number; reduce: number; update: number; tokens: number }

/** Something trained in rounds: our pool at one worker count, or the PyTorch child. */
interface Side {
  /** Steps for about `ms` milliseconds (at least one), at most `maxSteps`. */
  round(ms: number, maxSteps: number): Promise<StepTime[]>;
  /** Steps a side keeps at most: the run ends when one side has this many. */
  cap: number;
  close(): Promise<void>;
}

const BATCHES = 4;

/** A pool training one workload with `workers` threads, timing each step. */
async function ourSide(w: Workload, input: Input, cell: string, head: BenchHead, split: EncodedSplit, workers: number, kernels: CoordinatorOptions['kernels']): Promise<Side> {
  const spec: ModelSpec = { cell: cell as ModelSpec['cell'], task: isLm(w) ? 'many-to-many' : 'many-to-one', V: w.V, H: w.H, C: isLm(w) ? w.V : w.C, E: input === 'embedding' ? w.E : 0, ...(isLm(w) ? lmHeadSpec(w, head) : {}) };
  const rng = new Rng(1);
  const p = allocParams(makeLayout(spec), 'float32');
  initParams(p, spec, rng);
  const opt = new Optimizer(p.layout.size, defaultOptimizer, arenaOf(p.data));
  const co = new Coordinator({ spec, workers, maxB: w.B, maxT: w.T, bpttWindow: 0, splits: { train: split }, params: p, optimizer: opt, kernels });
  // Each batch longest first, as the trainer's bucketed batches are (and PyTorch's packed sequences):
  // then step t computes only the rows still running.
  const order = Int32Array.from({ length: split.count }, (_, i) => i);
  for (let b = 0; b < split.count; b += w.B) order.subarray(b, b + w.B).sort((x, y) => split.lengths[y] - split.lengths[x] || x - y);
  co.setOrder('train', order);
  const batchTokens = Array.from({ length: BATCHES }, (_, b) => split.lengths.subarray(b * w.B, (b + 1) * w.B).reduce((s, x) => s + x, 0));
  let k = 0;
  const step = async (): Promise<StepTime> => {
    const t0 = performance.now();
    const b = k % BATCHES;
    k++;
    const r = await co.step(k, 'train', b * w.B, w.B, 0);
    const t2 = performance.now();
    // One round trip per step: the workers time its phases (the slowest worker of each).
    return { total: t2 - t0, fwdBwd: r.fwdBwdMsMax, reduce: r.reduceMs, update: r.updateMs, tokens: batchTokens[b] };
  };
  await step(); // warm-up: thread start, JIT
  await step();
  return {
    cap: 400,
    async round(ms, maxSteps) {
      const out: StepTime[] = [];
      const r0 = performance.now();
      do out.push(await step());
      while (performance.now() - r0 < ms && out.length < maxSteps);
      return out;
    },
    close: () => co.close(),
  };
}

/** The same workload in the PyTorch child, on the same lengths per batch, tokens of the same distribution, with output layer `head`. */
async function torchSide(torch: TorchChild, id: string, w: Workload, input: Input, cell: string, head: BenchHead, split: EncodedSplit, lengths: Lengths, tokens: Tokens, precision: Precision): Promise<Side> {
  const batchLengths = Array.from({ length: BATCHES }, (_, b) => Array.from(split.lengths.subarray(b * w.B, (b + 1) * w.B)));
  await torch.setup({ ...w, task: w.task ?? 'classify', cell, input, lengths, batchLengths: lengths === 'variable' ? batchLengths : undefined, batches: BATCHES, id, head, tokens, precision });
  return {
    cap: 4000,
    async round(ms, maxSteps) {
      const r = await torch.run(ms / 1000, id, maxSteps);
      return r.ms.map((m, i) => ({ total: m, fwdBwd: NaN, reduce: NaN, update: NaN, tokens: r.stepTokens[i] }));
    },
    close: () => torch.drop(id),
  };
}

/**
 * oneDNN's RNN layer alone on `threads` OpenMP threads: each round one run of the tool with about
 * `ms` of steps (estimated from its previous run), every step counted at the run's mean step time.
 */
function onednnSide(o: OnednnConfig, w: Workload, cell: 'rnn' | 'lstm', threads: number): Side {
  let estMs = NaN;
  const run = async (iters: number, warmup: number) => {
    const r = await runOnednn(o.binary, cell, w, threads, iters, warmup);
    o.seen ??= r;
    estMs = r.msPerStep;
    return r;
  };
  return {
    cap: 4000,
    async round(ms, maxSteps) {
      if (!Number.isFinite(estMs)) await run(3, 1);
      const iters = Math.max(1, Math.min(maxSteps, Math.round(ms / Math.max(estMs, 1e-3))));
      const r = await run(iters, 2);
      return Array.from({ length: iters }, () => ({ total: r.msPerStep, fwdBwd: NaN, reduce: NaN, update: NaN, tokens: w.B * w.T }));
    },
    close: async () => {},
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Row {
  workload: string; input: Input; cell: string; lengths: Lengths;
  /** A language model's output layer on this side, and the token distribution of the batches. */
  head?: BenchHead; tokens?: Tokens;
  /** 'rnn-trainer' (ours, `workers` threads), 'pytorch' (`workers` threads: --torch-threads) or 'onednn' (its RNN layer alone, `workers` OpenMP threads). */
  impl: 'rnn-trainer' | 'pytorch' | 'onednn';
  workers: number;
  kernels?: string;
  /** --precision bf16: ours with train.precision "bf16", PyTorch under bf16 autocast. */
  precision?: 'bf16';
  tokensPerSec: number; stepMs: number;
  fwdBwdMs?: number; reduceMs?: number; updateMs?: number; rssMB?: number;
  steps: number;
  /** Training FLOPs per real token counted (workloads.json; the output layer this side computed). */
  flopsPerToken: number;
  /** Training GFLOP/s (that count) per core used, and its share of the core's peak (measured, else assumed: flops.ts). */
  gflopsPerCore: number; peakShare: number | null;
  /** PyTorch on one thread (else its fewest threads), and ours against it (PyTorch's full softmax for a language model). */
  pytorchTokensPerSec?: number; vsPytorch?: number;
  /** --head tied|adaptive: PyTorch with the same output layer (first thread count), and ours against it. */
  pytorchSameHeadTokensPerSec?: number; vsPytorchSameHead?: number;
  /** PyTorch on more threads (--torch-threads), by thread count. */
  pytorchThreads?: Record<string, number>;
  /** oneDNN's RNN layer alone (no embedding, head or optimizer), its best thread count, and ours against it. */
  onednnTokensPerSec?: number; onednnThreads?: number; vsOnednn?: number;
}

interface OnednnConfig {
  binary: string;
  /** OpenMP thread counts to run; ours is compared with the best. */
  threads: number[];
  /** The first run's output (implementation names, version). */
  seen?: OnednnRun;
}

interface Config {
  /** A language model's output layer (ours; PyTorch runs full and, if different, this one), and the token distribution of its batches. */
  head: BenchHead; tokens: Tokens;
  cell: string; kernels: CoordinatorOptions['kernels']; kernelsLabel: string; seconds: number; peak: Peak;
  /** Both sides' precision: ours train.precision, PyTorch's autocast (bf16) or none. */
  precision: Precision;
  /** PyTorch children, fewest threads first (none without --compare pytorch). */
  torch: TorchChild[];
  /** oneDNN's tool (--compare onednn, where it compiled), else null. */
  onednn: OnednnConfig | null;
}

/** oneDNN runs what it has: our classifier's shapes with an embedding, full lengths, rnn or lstm. */
const onednnRuns = (w: Workload, input: Input, lengths: Lengths, cell: string) => !isLm(w) && input === 'embedding' && lengths === 'full' && ONEDNN_CELLS.includes(cell);

/**
 * Every worker count (and PyTorch, when compared) on one workload, in alternating rounds of about a
 * second each (this VM's speed drifts over seconds; alternating gives every side the same
 * conditions), then the median of each timing over all steps.
 */
async function measure(name: string, w: Workload, input: Input, lengths: Lengths, counts: number[], c: Config): Promise<Row[]> {
  const lm = isLm(w), tokens: Tokens = lm ? c.tokens : 'uniform', head: BenchHead = lm ? c.head : 'full';
  const split = randomSplit(w, BATCHES, new Rng(1), lengths, tokens);
  const sides: Side[] = [];
  const who: Array<{ impl: Row['impl']; workers: number; head: BenchHead }> = [];
  const times: StepTime[][] = [];
  try {
    for (const n of counts) {
      sides.push(await ourSide(w, input, c.cell, head, split, n, c.kernels));
      who.push({ impl: 'rnn-trainer', workers: n, head });
    }
    // PyTorch's full softmax (the baseline), and the same output layer as ours when it is another.
    for (const torch of c.torch) {
      for (const h of head === 'full' ? (['full'] as const) : (['full', head] as const)) {
        sides.push(await torchSide(torch, `${name}/${input}/${lengths}/${h}`, w, input, c.cell, h, split, lengths, tokens, c.precision));
        who.push({ impl: 'pytorch', workers: torch.info.threads, head: h });
      }
    }
    if (c.onednn && onednnRuns(w, input, lengths, c.cell)) {
      for (const n of c.onednn.threads) {
        sides.push(onednnSide(c.onednn, w, c.cell as 'rnn' | 'lstm', n));
        who.push({ impl: 'onednn', workers: n, head: 'full' });
      }
    }
    for (const _ of sides) times.push([]);
    const start = performance.now();
    const round = Math.min(1000, (c.seconds * 1000) / 2);
    while (times.some((t) => t.length < 3) || (performance.now() - start < c.seconds * 1000 * sides.length && times.every((t, i) => t.length < sides[i].cap))) {
      for (let i = 0; i < sides.length; i++) times[i].push(...(await sides[i].round(round, Math.max(1, sides[i].cap - times[i].length))));
    }
  } finally {
    for (const s of sides) await s.close();
  }
  const shares = head === 'adaptive' ? clusterShares(w, split) : [];
  const rows = times.map((steps, i): Row => {
    const { impl, workers } = who[i];
    const fpt = flopsPerToken(w, input, c.cell, who[i].head, shares);
    const isTorch = impl !== 'rnn-trainer';
    // Median over steps of each step's real tokens / its time (for full lengths: B·T / median step time).
    const tokensPerSec = Math.round(median(steps.map((r) => r.tokens / (r.total / 1000))));
    const med = (f: (r: StepTime) => number) => +median(steps.map(f)).toFixed(2);
    const gflopsPerCore = (tokensPerSec * fpt) / workers / 1e9;
    const row: Row = {
      workload: name, input, cell: c.cell, lengths, ...(lm ? { head: who[i].head, tokens } : {}), impl, workers,
      ...(c.precision === 'bf16' && impl !== 'onednn' ? { precision: 'bf16' as const } : {}),
      ...(isTorch ? {} : { kernels: c.kernelsLabel }),
      tokensPerSec, stepMs: med((r) => r.total),
      ...(isTorch ? {} : {
        fwdBwdMs: med((r) => r.fwdBwd), reduceMs: med((r) => r.reduce), updateMs: med((r) => r.update),
        rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
      }),
      steps: steps.length,
      flopsPerToken: Math.round(fpt),
      gflopsPerCore: +gflopsPerCore.toFixed(2),
      peakShare: Number.isFinite(c.peak.gflopsPerCore) ? +(gflopsPerCore / c.peak.gflopsPerCore).toFixed(4) : null,
    };
    return row;
  });
  const torchRows = rows.filter((r) => r.impl === 'pytorch' && (r.head ?? 'full') === 'full');
  const sameHead = head === 'full' ? undefined : rows.find((r) => r.impl === 'pytorch' && r.head === head);
  if (torchRows.length > 0) {
    const torchRow = torchRows[0];
    for (const r of rows.slice(0, counts.length)) {
      r.pytorchTokensPerSec = torchRow.tokensPerSec;
      r.vsPytorch = +(r.tokensPerSec / torchRow.tokensPerSec).toFixed(3);
      if (torchRows.length > 1) r.pytorchThreads = Object.fromEntries(torchRows.map((x) => [String(x.workers), x.tokensPerSec]));
      if (sameHead) {
        r.pytorchSameHeadTokensPerSec = sameHead.tokensPerSec;
        r.vsPytorchSameHead = +(r.tokensPerSec / sameHead.tokensPerSec).toFixed(3);
      }
    }
  }
  const dnnl = rows.filter((r) => r.impl === 'onednn').sort((a, b) => b.tokensPerSec - a.tokensPerSec)[0];
  if (dnnl) {
    for (const r of rows.slice(0, counts.length)) {
      r.onednnTokensPerSec = dnnl.tokensPerSec;
      r.onednnThreads = dnnl.workers;
      r.vsOnednn = +(r.tokensPerSec / dnnl.tokensPerSec).toFixed(3);
    }
  }
  return rows;
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);

/** The workloads of --file (name -> sizes): a file that cannot be read or is not of that shape is the user's input (exit 2). */
function readWorkloads(file: string): Record<string, Workload> {
  const fix = 'give a workloads file like bench/workloads.json: { "workloads": { "NAME": { "V": ..., "E": ..., "H": ..., "C": ..., "B": ..., "T": ... } } }';
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`--file ${file}: ${code ? `cannot be read (${code})` : `is not JSON (${(e as Error).message.replace(/\s+/g, ' ')})`}; ${fix}`);
  }
  const all = (parsed as { workloads?: unknown } | null)?.workloads;
  if (typeof all !== 'object' || all === null || Array.isArray(all)) throw new ConfigError(`--file ${file}: has no "workloads" object; ${fix}`);
  for (const [name, w] of Object.entries(all as Record<string, Record<string, unknown>>)) {
    const bad = ['V', 'E', 'H', 'C', 'B', 'T'].find((k) => !(Number.isInteger(w?.[k]) && (w[k] as number) >= 1));
    if (bad) throw new ConfigError(`--file ${file}: workload ${name}: "${bad}" must be an integer >= 1, found ${JSON.stringify(w?.[bad]) ?? 'nothing'}`);
  }
  return all as Record<string, Workload>;
}

function pickList<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const out = list(value);
  if (out.length === 0) throw new ConfigError(`--${flag}: expected ${allowed.join(', ')} (comma-separated), found nothing`);
  for (const v of out) if (!(allowed as readonly string[]).includes(v)) throw new ConfigError(`--${flag}: expected ${allowed.join(', ')} (comma-separated), found \`${v}\``);
  return out as T[];
}

/** The backend choice resolved (auto → the fastest that loads), as the trainer resolves it. */
function resolveOurKernels(choice: string | undefined, precision: Precision = 'f32'): { kernels: CoordinatorOptions['kernels']; label: string; note?: string } {
  const r = withPrecision(kernelsOf(choice), precision, '--precision');
  return { kernels: r, label: `${r.isa && r.isa !== r.name ? `${r.name} (${r.isa})` : r.name}${r.precision ? `, ${r.precision}` : ''}`, note: r.note };
}

const pct = (x: number | null) => (x === null ? '-' : (x * 100).toFixed(1) + '%');

runMain(async () => {
  const args = parseArgs(process.argv.slice(2), {
    name: 'npm run bench --',
    summary: 'Training tokens/s of the reference workloads, per worker count; optionally side by side with PyTorch.',
    examples: [
      ['npm run bench', 'every workload, both inputs, 1 and 2 workers'],
      ['npm run bench -- --workers 1,2 --workloads W-medium --input onehot'],
      ['npm run bench -- --compare pytorch --workloads W-medium --lengths full,variable', 'alternating with PyTorch (1 thread, tuned)'],
      ['npm run bench -- --task lm --compare pytorch --torch-threads 1,2', 'language models (full softmax), beside PyTorch on 1 and on 2 threads'],
      ['npm run bench -- --task lm --head adaptive --workloads LM-large --compare pytorch', 'the adaptive softmax (cutoffs from bench/workloads.json), beside PyTorch\'s full softmax and its AdaptiveLogSoftmaxWithLoss'],
      ['npm run bench -- --compare onednn --input embedding', 'beside oneDNN\'s own f32 RNN training primitives (the RNN layer alone), best of 1 and 2 threads; --cell lstm for its LSTM'],
      ['npm run bench -- --data --workers 2', 'prepare MB/s (char, word, bpe), tokens/s from shards vs in memory, peak RSS on a 2 GB text\'s shards'],
      ['npm run bench -- --task lm --precision bf16 --compare pytorch --torch-threads 1,2', 'mixed precision: ours in bf16 (AVX512-BF16) beside PyTorch\'s bf16 autocast'],
      ['npm run bench -- --kernels-micro', 'GFLOP/s of the per-step product of each backend beside torch.mm'],
      ['mpirun -np 2 node dist/src/bench/bench.js --mpi --workers 1 --input embedding', 'the allreduce of a distributed step (bytes, ms) beside the step time'],
    ],
    flags: {
      workers: { type: 'string', help: 'comma-separated worker counts', default: '1,2' },
      task: { type: 'string', choices: ['classify', 'lm'], help: 'the default workloads: classifiers (W-*) or language models (LM-*, task "lm" in the workloads file)', default: 'classify' },
      workloads: { type: 'string', help: 'comma-separated workload names (default: every workload of --task)' },
      head: { type: 'string', choices: ['full', 'tied', 'adaptive'], help: 'a language model\'s output layer: full softmax, tied weights (embedding input only), or the adaptive softmax with the workload\'s "adaptive" cutoffs and divValue (workloads without them are skipped); with --compare pytorch, PyTorch runs its full softmax and the same layer', default: 'full' },
      tokens: { type: 'string', choices: ['uniform', 'zipf'], help: 'a language model\'s random token ids in [1, V): zipf (P(1 + r) ∝ 1/(r + 1), the same on both sides) or uniform; classifiers always uniform', default: 'zipf' },
      input: { type: 'string', help: 'embedding, onehot, or both', default: 'embedding,onehot' },
      lengths: { type: 'string', help: 'full (every sequence T tokens), variable (uniform in [T/4, T], tokens/s of real tokens), or both: full,variable', default: 'full' },
      cell: { type: 'string', choices: [...CELLS], help: 'recurrent cell (default rnn, lstm with --task lm)' },
      kernels: { type: 'string', choices: KERNELS_CHOICES, help: 'our compute backend (default: RNN_TRAINER_KERNELS, else auto)' },
      precision: { type: 'string', choices: PRECISIONS, help: 'bf16: ours with train.precision "bf16" (native kernels, AVX512-BF16: the products over all rows), PyTorch under torch.autocast(bfloat16); oneDNN stays f32', default: 'f32' },
      compare: { type: 'string', help: 'pytorch: also train the same model in PyTorch (bench/pytorch/bench_rnn.py; interpreter: RNN_TRAINER_PYTHON, else /usr/bin/python3, else python3); onednn: also run oneDNN\'s f32 RNN/LSTM training primitives on the same shapes, the RNN layer alone (bench/peers/onednn; embedding input, full lengths, rnn or lstm; skipped with a note where oneDNN is not installed); or both: pytorch,onednn' },
      onednnThreads: { type: 'string', help: 'with --compare onednn: comma-separated OpenMP thread counts; ours is compared with the best', default: '1,2' },
      torchThreads: { type: 'string', help: 'with --compare pytorch: comma-separated PyTorch thread counts, one tuned child each (ours/PyTorch is against the first)', default: '1' },
      mpi: { type: 'boolean', help: 'instead, under mpirun (`mpirun -np 2 node dist/src/bench/bench.js --mpi`): the distributed step\'s allreduce, its bytes and time beside the step time (src/bench/mpi.ts)' },
      steps: { type: 'number', integer: true, min: 1, help: 'with --mpi: measured steps per row (default 12); with --data: training steps measured per side (default 20)' },
      data: { type: 'boolean', help: 'instead: the data pipeline on a corpus it generates in a temporary folder: prepare MB/s per tokenizer, training tokens/s from shards against in memory, peak RSS while training from a large shard set (src/bench/data.ts)' },
      dataMb: { type: 'number', min: 1, help: 'with --data: MB of generated text (default 64)' },
      dataLarge: { type: 'number', min: 0, help: 'with --data: MB of text of the large shard set whose training peak RSS is measured (default 2048; 0: skip)' },
      kernelsMicro: { type: 'boolean', help: 'instead: GFLOP/s of the per-step product (B/workers, H)·(H, G·H) of each backend, and of torch.mm when PyTorch is installed' },
      seconds: { type: 'number', min: 0, help: 'measuring time per row, after 2 warm-up steps (default 6); with --kernels-micro, per backend and shape (default 0.5)' },
      file: { type: 'string', help: 'workloads file', default: join(root, 'bench', 'workloads.json') },
    },
  });
  const file = args.file;
  const all = readWorkloads(file);
  const task = args.task as 'classify' | 'lm';
  let names = args.workloads !== undefined ? list(args.workloads) : Object.keys(all).filter((n) => (all[n].task ?? 'classify') === task);
  if (names.length === 0) throw new ConfigError(args.workloads !== undefined ? `--workloads \`${args.workloads}\` names no workload; have ${Object.keys(all).join(', ')}` : `${file} has no ${task === 'lm' ? 'language-model ("task": "lm")' : 'classifier'} workload; add one, or pick --task ${task === 'lm' ? 'classify' : 'lm'}`);
  for (const name of names) if (!all[name]) throw new ConfigError(`unknown workload ${name}; have ${Object.keys(all).join(', ')}`);
  const head = args.head as BenchHead;
  if (head !== 'full') {
    const classifiers = names.filter((n) => !isLm(all[n]));
    if (classifiers.length > 0) throw new ConfigError(`--head ${head}: ${classifiers.join(', ')} ${classifiers.length === 1 ? 'is a classifier' : 'are classifiers'}; an output layer over the vocabulary is for language models (--task lm)`);
    const without = head === 'adaptive' ? names.filter((n) => !all[n].adaptive) : [];
    if (without.length > 0 && args.workloads !== undefined) throw new ConfigError(`--head adaptive: workload ${without.join(', ')} has no "adaptive": { "cutoffs": [...], "divValue": 4 } in ${file}; add one or pick another workload`);
    if (without.length > 0) console.log(`--head adaptive: skipping ${without.join(', ')} (no "adaptive" cutoffs in ${file})`);
    names = names.filter((n) => !without.includes(n));
  }
  const counts = list(args.workers).map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new ConfigError(`--workers: expected positive integers, comma-separated, found \`${args.workers}\``);
  // The other modes measure float32 with a full softmax: a training flag they do not read is refused, not dropped.
  const mode = args.mpi ? '--mpi' : args.data ? '--data' : args.kernelsMicro ? '--kernels-micro' : null;
  const unread = [args.precision !== 'f32' ? `--precision ${args.precision}` : '', head !== 'full' ? `--head ${head}` : ''].filter((f) => f);
  if (mode && unread.length > 0) throw new ConfigError(`${unread.join(' and ')}: ${mode} does not read ${unread.length > 1 ? 'them' : 'it'} (it measures float32${mode === '--kernels-micro' ? ' per-step products' : ' training with a full softmax'}); drop ${unread.length > 1 ? 'them' : 'it'}, or drop ${mode} to train the workloads with ${unread.length > 1 ? 'them' : 'it'}`);
  const peak = corePeak();

  if (args.mpi) {
    const ours = resolveOurKernels(args.kernels);
    await benchMpi({
      workloads: names.map((n) => [n, all[n]]), workers: counts, input: pickList('input', args.input, ['embedding', 'onehot'] as const),
      kernels: ours.kernels, steps: args.steps ?? 12, randomSplit: (w, batches, rng) => randomSplit(w, batches, rng, 'full'),
    });
    return;
  }

  if (args.data) {
    await benchData({ mb: args.dataMb ?? 64, largeMb: args.dataLarge ?? 2048, workers: Math.max(...counts), steps: args.steps ?? 20, kernels: args.kernels });
    return;
  }

  if (args.kernelsMicro) {
    await kernelsMicro({ workloads: names.map((n) => [n, all[n]]), counts, cell: args.cell ?? (task === 'lm' ? 'lstm' : 'rnn'), seconds: args.seconds ?? 0.5, peak, torchScript: torchScript(root) });
    return;
  }

  const cell = args.cell ?? (task === 'lm' ? 'lstm' : 'rnn');
  const torchThreads = list(args.torchThreads).map(Number);
  if (torchThreads.length === 0 || torchThreads.some((n) => !Number.isInteger(n) || n < 1)) throw new ConfigError(`--torch-threads: expected positive integers, comma-separated, found \`${args.torchThreads}\``);
  const inputs = pickList('input', args.input, ['embedding', 'onehot'] as const);
  if (head === 'tied' && !inputs.includes('embedding')) throw new ConfigError(`--head tied --input ${args.input}: tying shares the embedding table, and a one-hot input has none, so nothing would be measured; use --input embedding (or --head full)`);
  const lengthModes = pickList('lengths', args.lengths, ['full', 'variable'] as const);
  const precision = args.precision as Precision;
  const ours = resolveOurKernels(args.kernels, precision);
  const compare = args.compare === undefined ? [] : pickList('compare', args.compare, ['pytorch', 'onednn'] as const);
  const onednnThreads = list(args.onednnThreads).map(Number);
  if (onednnThreads.length === 0 || onednnThreads.some((n) => !Number.isInteger(n) || n < 1)) throw new ConfigError(`--onednn-threads: expected positive integers, comma-separated, found \`${args.onednnThreads}\``);
  let onednn: OnednnConfig | null = null;
  if (compare.includes('onednn')) {
    const b = buildOnednn(onednnSource(root));
    if ('note' in b) console.log(b.note);
    else onednn = { binary: b.binary, threads: onednnThreads };
  }
  // Start PyTorch first: a missing python3 or torch is said before any of our rounds run.
  const torchChildren: TorchChild[] = [];
  const out: Row[] = [];
  try {
    if (compare.includes('pytorch')) for (const n of torchThreads) torchChildren.push(await TorchChild.start(torchScript(root), pythonPath(), n));
    const c: Config = { head, tokens: args.tokens as Tokens, cell, kernels: ours.kernels, kernelsLabel: ours.label, seconds: args.seconds ?? 6, peak, precision, torch: torchChildren, onednn };
    for (const name of names) {
      for (const input of inputs) {
        if (head === 'tied' && input === 'onehot') {
          console.log(`--head tied: skipping ${name} with one-hot input (tying shares the embedding table; a one-hot input has none)`);
          continue;
        }
        for (const lengths of lengthModes) {
          for (const r of await measure(name, all[name], input, lengths, counts, c)) {
            console.log(JSON.stringify(r));
            out.push(r);
          }
        }
      }
    }
  } finally {
    for (const tc of torchChildren) await tc.close();
  }
  const torch = torchChildren[0];

  const mine = out.filter((r) => r.impl === 'rnn-trainer');
  const showLengths = lengthModes.some((l) => l !== 'full');
  const lcol = (r: Row) => (showLengths ? ` ${r.lengths.padEnd(8)}` : '');
  const lmRun = names.some((n) => isLm(all[n]));
  console.log(`\nour kernels: ${ours.label}${ours.note ? ` (${ours.note})` : ''}; cell ${cell}${lmRun ? `; output layer ${head}${head === 'adaptive' ? ` (${names.map((n) => `${n}: cutoffs ${JSON.stringify(all[n].adaptive!.cutoffs)}, divValue ${all[n].adaptive!.divValue}`).join('; ')}; no head bias)` : ''}; random tokens ${args.tokens}${args.tokens === 'zipf' ? ' (id 1 + r with P ∝ 1/(r + 1), the same distribution on both sides)' : ''}` : ''}`);
  console.log('medians over all steps; reduce (the slot sum) + update as a share of the step in the last column');
  console.log(`workload   input     ${showLengths ? ' lengths ' : ''} workers  tokens/s   step ms  fwd+bwd ms  reduce ms  update ms  speedup  r+u`);
  for (const r of mine) {
    const base = mine.find((x) => x.workload === r.workload && x.input === r.input && x.lengths === r.lengths && x.workers === 1);
    const speedup = base ? (r.tokensPerSec / base.tokensPerSec).toFixed(2) + 'x' : '';
    console.log(`${r.workload.padEnd(10)} ${r.input.padEnd(10)}${lcol(r)} ${String(r.workers).padStart(7)} ${String(r.tokensPerSec).padStart(9)} ${r.stepMs.toFixed(1).padStart(9)} ${r.fwdBwdMs!.toFixed(1).padStart(11)} ${r.reduceMs!.toFixed(1).padStart(10)} ${r.updateMs!.toFixed(1).padStart(10)}  ${speedup.padStart(7)}  ${(((r.reduceMs! + r.updateMs!) / r.stepMs) * 100).toFixed(1).padStart(4)}%`);
  }
  if (torch) {
    const i = torch.info;
    console.log(`\nPyTorch ${i.torch} (${torch.python}), ${torchChildren.map((x) => x.info.threads).join(' and ')} thread${torchChildren.length === 1 && i.threads === 1 ? '' : 's'}, OpenBLAS core ${i.openblas_core ?? '?'}, ${i.tuned ? `tuned (OpenBLAS env unset, OPENBLAS_NUM_THREADS=${i.threads}, malloc kept)` : 'as installed'}; ours: ${ours.label}`);
    console.log(`GFLOP/s per core: 6·G·(E·H + H·H)${lmRun ? ' (+ the output layer each side computed, for a language model: full 6·V·H; tied 6·V·E (+ 6·E·H); adaptive 6·H·(shortlist + clusters) + the tails\' share of targets x 6·(H·hsz + hsz·size))' : ''} FLOPs per real token (one-hot: without E·H) x tokens/s / cores used (ours: workers; PyTorch: its threads)`);
    console.log(peak.assumption);
    const more = torchChildren.slice(1).map((x) => x.info.threads);
    console.log(`workload   input      ${showLengths ? 'lengths  ' : ''}workers  ours tok/s  PyTorch tok/s  ours/PyTorch  ours GF/s/core  PyTorch GF/s/core  ours peak  PyTorch peak${more.map((n) => `  PyTorch ${n}t tok/s  ours/PyTorch ${n}t`).join('')}`);
    for (const r of mine) {
      const same = (x: Row) => x.impl === 'pytorch' && x.workload === r.workload && x.input === r.input && x.lengths === r.lengths && (x.head ?? 'full') === 'full';
      const t = out.find((x) => same(x) && x.workers === i.threads)!;
      const extra = more.map((n) => {
        const x = out.find((y) => same(y) && y.workers === n)!;
        return `${String(x.tokensPerSec).padStart(19)} ${(r.tokensPerSec / x.tokensPerSec).toFixed(3).padStart(18)}`;
      }).join('');
      console.log(`${r.workload.padEnd(10)} ${r.input.padEnd(10)}${showLengths ? ` ${r.lengths.padEnd(8)}` : ''} ${String(r.workers).padStart(7)} ${String(r.tokensPerSec).padStart(11)} ${String(t.tokensPerSec).padStart(14)} ${(r.tokensPerSec / t.tokensPerSec).toFixed(3).padStart(13)} ${r.gflopsPerCore.toFixed(2).padStart(15)} ${t.gflopsPerCore.toFixed(2).padStart(18)} ${pct(r.peakShare).padStart(10)} ${pct(t.peakShare).padStart(13)}${extra}`);
    }
    if (head !== 'full') {
      console.log(`\nours with output layer ${head} against PyTorch's full softmax (the columns above) and PyTorch's own ${head === 'adaptive' ? 'nn.AdaptiveLogSoftmaxWithLoss (same cutoffs and div_value)' : 'tied Linear'}, ${i.threads} thread${i.threads === 1 ? '' : 's'}`);
      console.log(`workload   input      ${showLengths ? 'lengths  ' : ''}workers  ours tok/s  PyTorch full tok/s  ours/PyTorch full  PyTorch ${head} tok/s  ours/PyTorch ${head}  PyTorch ${head} GF/s`);
      for (const r of mine) {
        if (r.pytorchSameHeadTokensPerSec === undefined) continue;
        const x = out.find((y) => y.impl === 'pytorch' && y.head === head && y.workload === r.workload && y.input === r.input && y.lengths === r.lengths && y.workers === i.threads)!;
        console.log(`${r.workload.padEnd(10)} ${r.input.padEnd(10)}${showLengths ? ` ${r.lengths.padEnd(8)}` : ''} ${String(r.workers).padStart(7)} ${String(r.tokensPerSec).padStart(11)} ${String(r.pytorchTokensPerSec).padStart(19)} ${r.vsPytorch!.toFixed(3).padStart(18)} ${String(x.tokensPerSec).padStart(14 + head.length)} ${r.vsPytorchSameHead!.toFixed(3).padStart(14 + head.length)} ${x.gflopsPerCore.toFixed(2).padStart(13 + head.length)}`);
      }
    }
  }
  const vsDnnl = mine.filter((r) => r.onednnTokensPerSec !== undefined);
  if (onednn && vsDnnl.length > 0) {
    const v = onednn.seen;
    console.log(`\noneDNN${v?.version ? ` ${v.version}` : ''} (bench/peers/onednn, implementation fwd ${v?.implFwd ?? '?'}, bwd ${v?.implBwd ?? '?'}), f32, best of ${onednn.threads.join(' and ')} OpenMP thread${onednn.threads.length === 1 && onednn.threads[0] === 1 ? '' : 's'}, on ${peak.cpu ?? cpuModel()}`);
    console.log("oneDNN's figure is its RNN layer alone (forward_training + backward of one layer): no embedding, head or optimizer; ours is the full training step");
    console.log(peak.assumption);
    console.log(`workload   workers  ours tok/s  oneDNN tok/s  oneDNN threads  ours/oneDNN  ours GF/s/core  oneDNN GF/s/core  ours peak  oneDNN peak`);
    for (const r of vsDnnl) {
      const d = out.find((x) => x.impl === 'onednn' && x.workload === r.workload && x.workers === r.onednnThreads)!;
      console.log(`${r.workload.padEnd(10)} ${String(r.workers).padStart(7)} ${String(r.tokensPerSec).padStart(11)} ${String(d.tokensPerSec).padStart(13)} ${String(d.workers).padStart(15)} ${r.vsOnednn!.toFixed(3).padStart(12)} ${r.gflopsPerCore.toFixed(2).padStart(15)} ${d.gflopsPerCore.toFixed(2).padStart(17)} ${pct(r.peakShare).padStart(10)} ${pct(d.peakShare).padStart(12)}`);
    }
  } else if (onednn) {
    console.log(`\noneDNN: no row it runs (it takes ${ONEDNN_CELLS.join(' or ')} classifiers with --input embedding and --lengths full)`);
  }
});
