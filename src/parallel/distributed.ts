// Data-parallel training across processes and hosts on MPI (`train.js --distributed mpi`, under
// mpirun or srun). Every rank holds the whole model and runs its own worker pool; its step path
// is DistributedStep, the local step (step.ts) decorated with the exchange between the local
// step's two phases (1 and 5 below are the local step's own code). A step is:
//
//   1. gradient   each rank cuts the batch by the single-process rule into ranks × W token-balanced
//                 shards and runs shards [rank·W, (rank+1)·W) on its W workers, which sum their
//                 slots into the rank's `grad` (Coordinator.gradient): dense part + touched rows.
//   2. agree      MPI_Allgather of a header per rank: [step, status, rows, loss sum, count, correct,
//                 stop asked].
//                 Every rank checks the same things on the same numbers: all at the same step, all
//                 ok. Otherwise every rank stops with an error naming the failed rank(s) and the
//                 step, before anything is applied. Loss sums and counts are summed here, in
//                 float64 and rank order, so the reported loss and the 1/count scale are exact.
//   3. rows       MPI_Allgatherv of the touched token rows; their union, in rank order.
//   4. allreduce  the union's rows of `grad`, its dense part and (language models carrying state)
//                 the batch rows' carried states, packed into one buffer of the shared arena,
//                 summed by ONE MPI_Allreduce(SUM) in place, unpacked.
//   5. update     Σ g² of the summed gradient (the same bits on every rank), clipping, and the
//                 optimizer step on every rank's workers (Coordinator.update).
//
// So only the touched rows of the token table and the dense tensors cross the network:
// 4 · (rows · width + dense + carried) bytes per step. Evaluation runs whole on every rank (no
// traffic; the same numbers, so the same best-metric decisions); rank 0 alone writes files.
//
// A signal (mpirun sends SIGTERM to every rank when one dies or the job is cancelled) stops the
// rank at once: a collective would never complete. The message names the step; that step is in
// no checkpoint, and the newest checkpoint (rank 0 writes whole files: temp and rename) is intact.

import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { ConfigError, UserError } from '../util/errors.js';
import { arenaOf } from '../util/shared.js';
import { sumSquares, copy } from '../model/kernels.js';
import { tokenRows } from '../optim/step.js';
import { StallWatchdog, stallSeconds } from './watchdog.js';
import { WorkerFailure, type PartGradient, type SummedGradient } from './coordinator.js';
import type { ExchangeStats, LocalStep, StepBatch, StepStats, TrainStep } from './step.js';

/** The binding (native/mpi/mpi.cc). Collectives are in place, one at a time. */
interface MpiBinding {
  init(): { rank: number; size: number; processor: string; library: string };
  allreduce(view: Float32Array | Float64Array | Int32Array, op: 'sum' | 'min' | 'max'): Promise<void>;
  allgather<T extends Float64Array | Int32Array | Uint8Array>(send: T, recv: T): Promise<void>;
  allgatherv(send: Int32Array, recv: Int32Array, counts: Int32Array): Promise<void>;
  bcast(view: Uint8Array | Int32Array | Float64Array, root: number): Promise<void>;
  barrier(): Promise<void>;
  abort(code: number): never;
  finalize(): void;
}

export const DISTRIBUTED = ['mpi'] as const;
export type DistributedKind = (typeof DISTRIBUTED)[number];

const ADDON = join('native', 'mpi', 'build', 'Release', 'rnn_mpi.node');
const INSTALL = 'install Open MPI (Debian/Ubuntu: `apt-get install openmpi-bin libopenmpi-dev`), then rebuild (`npm rebuild` or `npm run build`)';

/** The built binding's path, found upward from this file; RNN_TRAINER_MPI_ADDON names another (tests: a missing one is a machine without MPI). */
function addonPath(): string | null {
  const forced = process.env.RNN_TRAINER_MPI_ADDON;
  if (forced) return existsSync(forced) ? forced : null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) if (existsSync(join(dir, ADDON))) return join(dir, ADDON);
  return null;
}

/** Per-rank header words of step 2 (float64). */
const H_STEP = 0, H_STATUS = 1, H_ROWS = 2, H_LOSS = 3, H_COUNT = 4, H_CORRECT = 5, H_STOP = 6, H_WORDS = 7;
const OK = 0, FAILED = 1, NOT_FINITE = 2;
/** Bytes of a failed rank's message, exchanged after the header. */
const NOTE_BYTES = 480;
/** The ranks' least stall limit, ms (see StallWatchdog). */
const RANKS_STALL_FLOOR_MS = 600_000;

export class DistributedFailure extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'DistributedFailure';
  }
}

/**
 * The step path over the ranks: a LocalStep decorated with the exchange between its two phases,
 * gradient → exchange (agree, rows, allreduce) → update. The clipping and the optimizer step are
 * the local step's (Coordinator.update): every rank applies the same sum.
 */
export class DistributedStep implements TrainStep {
  /** Some rank was asked to stop (its AbortSignal) during the last step: every rank stops after it. */
  private agreedStop = false;

  constructor(private readonly mpi: Distributed, private readonly local: LocalStep, private readonly signal?: AbortSignal) {
    mpi.prepare(local.exchangeShape());
  }

  async step(b: StepBatch): Promise<StepStats & ExchangeStats> {
    const ts = performance.now();
    const stop = this.signal?.aborted ?? false;
    this.mpi.begin(b.step);
    // 1. this rank's shards (a failure is told to every rank in the exchange)
    let part: PartGradient | null = null, failure = '';
    try {
      part = await this.local.gradient(b, this.mpi.rank, this.mpi.size);
    } catch (e) {
      failure = e instanceof WorkerFailure ? `a worker thread failed (${e.detail})` : e instanceof Error ? e.message : String(e);
    }
    const x = await this.mpi.exchange(b.step, part, failure, stop);
    // 5. the update, from the sum (the same on every rank)
    const r = await this.local.update(x.summed);
    this.agreedStop = x.stop;
    this.mpi.counted(performance.now() - ts, x);
    return { ...r, allreduceBytes: x.allreduceBytes, allreduceMs: x.allreduceMs };
  }

  stopped(): boolean {
    return this.agreedStop;
  }

  summary(): string {
    return this.mpi.summary();
  }
}

export class Distributed {
  readonly rank: number;
  readonly size: number;
  /** Each rank's host (MPI_Get_processor_name), by rank. */
  hosts: string[] = [];
  readonly library: string;
  /** The step this rank is at (0: before the first), and the collective it waits in, if any: named in errors and on signals. */
  private step = 0;
  private waiting: string | null = null;
  private finalized = false;
  // Buffers of the step, allocated once in prepare(): the header of every rank, the rows of every
  // rank and their union, the pack buffer (in the parameters' arena, so the allreduce reads it in place).
  private head = new Float64Array(H_WORDS);
  private heads = new Float64Array(0);
  private rowCounts = new Int32Array(0);
  private allRows = new Int32Array(0);
  private union = new Int32Array(0);
  private mark = new Uint8Array(0);
  private pack: Float32Array = new Float32Array(0);
  private note = new Uint8Array(NOTE_BYTES);
  private notes = new Uint8Array(0);
  /** Totals for the summary line: steps, payload bytes, allreduce and step times (ms). */
  readonly totals = { steps: 0, bytes: 0, allreduceMs: 0, stepMs: 0 };

  /** Whether an MPI launcher (mpirun, srun) started this process; else MPI_Init made it a single rank (a "singleton"). */
  readonly launched: boolean;

  private constructor(private readonly mpi: MpiBinding, stallTimeoutMs: number | undefined) {
    this.watchdog = new StallWatchdog(stallTimeoutMs, RANKS_STALL_FLOOR_MS);
    // Before MPI_Init: a singleton's MPI_Init sets these variables itself.
    this.launched = ['OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'PMIX_RANK', 'SLURM_PROCID'].some((k) => process.env[k] !== undefined);
    const me = mpi.init();
    this.rank = me.rank;
    this.size = me.size;
    this.library = me.library;
    this.hosts = [me.processor];
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => this.onSignal(sig));
  }

  /**
   * MPI_Init through the binding; a clear error (exit 2) where it was not built. `stallTimeoutMs`:
   * the stall limit of a step's collectives (--stall-timeout; 0: none; default: see watchdog).
   */
  static async open(kind: DistributedKind, stallTimeoutMs?: number): Promise<Distributed> {
    if (kind !== 'mpi') throw new ConfigError(`--distributed: expected mpi, found \`${kind}\``);
    const path = addonPath();
    if (!path) throw new ConfigError(`--distributed mpi: the MPI binding is not built (${ADDON} is missing): ${INSTALL}`);
    let mpi: MpiBinding;
    try {
      mpi = createRequire(import.meta.url)(path) as MpiBinding;
    } catch (e) {
      throw new ConfigError(`--distributed mpi: cannot load ${path} (${(e as Error).message.split('\n')[0]}): ${INSTALL}`);
    }
    const d = new Distributed(mpi, stallTimeoutMs);
    d.hosts = await d.gatherStrings(d.hosts[0], 'the host names');
    return d;
  }

  /** `rank 1 (host-b)` */
  who(r: number): string {
    return `rank ${r} (${this.hosts[r] ?? '?'})`;
  }

  /**
   * A rank that stops answering without dying (hung, stopped, cut off by a network that drops
   * packets) would hold every other rank in a collective for ever, as mpirun sees no process end:
   * the collectives of a step give up after the watchdog's limit and end the job with MPI_Abort
   * (default at least 10 minutes: rank 0 writes a checkpoint while the others wait).
   */
  private readonly watchdog: StallWatchdog;

  /** One collective, awaited; its name is what a signal, an MPI error or the stall limit names. `watched`: a step's, under the stall limit. */
  private async collective<T>(what: string, run: () => Promise<T>, watched = false): Promise<T> {
    this.waiting = what;
    const watch = watched ? this.watchdog.arm((limit) => this.stalled(what, limit)) : undefined;
    try {
      return await run();
    } catch (e) {
      throw new DistributedFailure(`${this.who(this.rank)}: ${this.stepName()}: ${what} across the ranks failed (${(e as Error).message}): a rank died or the network between the hosts failed. ` +
        'Nothing of this step was applied; continue from the newest checkpoint with --resume latest.');
    } finally {
      watch?.stop();
      this.waiting = null;
    }
  }

  /** The stall limit passed in a step's collective: say which, where and why, and end every rank. */
  private stalled(what: string, limit: number): void {
    process.stderr.write(`\nerror: ${this.who(this.rank)}: ${this.stepName()}: no answer from the other ranks in ${what} for ${stallSeconds(limit)}: ` +
      `a rank stopped answering (hung, stopped, or cut off by the network). Ending every rank with MPI_Abort; nothing of this step was applied, ` +
      `and the newest checkpoint is intact: continue with --resume latest (the limit is --stall-timeout).\n`);
    this.mpi.abort(1);
  }

  private stepName(): string {
    return this.step > 0 ? `step ${this.step}` : 'before the first step';
  }

  /**
   * A signal in distributed mode stops the rank at once: mpirun signals every rank when one died
   * (or the job was cancelled), and a collective with a dead rank never completes.
   */
  private onSignal(sig: NodeJS.Signals): void {
    const where = this.waiting ? `, waiting for the other ranks in ${this.waiting}` : '';
    process.stderr.write(`\nerror: ${this.who(this.rank)}: stopped by ${sig} at ${this.stepName()}${where}. mpirun sends it to every rank when a rank died or the job was cancelled. ` +
      `${this.step > 0 ? `Step ${this.step} is in no checkpoint; ` : ''}the newest checkpoint is intact (rank 0 writes whole files): continue with --resume latest.\n`);
    process.exit(128 + constants.signals[sig]);
  }

  /** Every rank's string (at most NOTE_BYTES bytes of UTF-8), by rank. */
  private async gatherStrings(s: string, what: string, bytes = NOTE_BYTES): Promise<string[]> {
    const note = bytes === NOTE_BYTES ? this.note : new Uint8Array(bytes);
    const all = new Uint8Array(bytes * this.size);
    note.fill(0).set(Buffer.from(s, 'utf8').subarray(0, bytes));
    await this.collective(`MPI_Allgather of ${what}`, () => this.mpi.allgather(note, all));
    return Array.from({ length: this.size }, (_, r) => Buffer.from(all.subarray(r * bytes, (r + 1) * bytes)).toString('utf8').replace(/\0+$/, ''));
  }


  /**
   * Worker threads per rank: the ranks cut each batch into ranks × W shards, so W must be one
   * number. Each rank's own default (its cores) may differ between hosts: the smallest is taken.
   */
  async agreeWorkers(workers: number, say: (s: string) => void): Promise<number> {
    const all = new Int32Array(this.size);
    await this.collective('MPI_Allgather of the worker counts', () => this.mpi.allgather(new Int32Array([workers]), all));
    const fewest = Math.min(...all);
    if (all.some((w) => w !== fewest)) say(`warning: distributed: the ranks would run ${Array.from(all).join(', ')} worker threads; each runs ${fewest}, the fewest (the ranks cut every batch into ranks × workers shards; set --workers)`);
    return fewest;
  }

  /** The same values on every rank (config, data, parameters): else an error naming the first rank that differs from rank 0, and what. */
  async checkSame(items: Array<[what: string, value: string | Uint8Array | object]>): Promise<void> {
    const hash = (v: string | Uint8Array) => createHash('sha256').update(v).digest('hex').slice(0, 16);
    const asBytes = (v: string | Uint8Array | object) => (typeof v === 'object' && !(v instanceof Uint8Array) ? JSON.stringify(v) : v);
    const digest = items.map(([, v]) => hash(asBytes(v))).join(' ');
    const all = await this.gatherStrings(digest, 'the config, data and parameter fingerprints');
    const mine = all[0].split(' ');
    for (let r = 1; r < this.size; r++) {
      const theirs = all[r].split(' ');
      const i = theirs.findIndex((d, k) => d !== mine[k]);
      if (i >= 0) {
        const [what, v] = items[i];
        // Every rank sees the same digests, so every rank takes part in this second gather: an
        // object (the config) compared field by field, so the message names the fields.
        let where = '';
        if (typeof v === 'object' && !(v instanceof Uint8Array)) {
          const fields = await this.gatherStrings(leaves(v).map(([path, x]) => `${path}=${hash(x).slice(0, 8)}`).join(' '), `the ${what}'s fields`, 64 * 1024);
          const a = new Set(fields[0].split(' ')), b = new Set(fields[r].split(' '));
          const differ = [...new Set([...a, ...b].filter((x) => x && !(a.has(x) && b.has(x))).map((x) => x.slice(0, x.lastIndexOf('='))))];
          if (differ.length > 0) where = ` in ${differ.slice(0, 8).join(', ')}${differ.length > 8 ? ` and ${differ.length - 8} more field${differ.length > 9 ? 's' : ''}` : ''}`;
        }
        throw new ConfigError(`distributed: the ${what} of ${this.who(r)} differ${what.endsWith('s') ? '' : 's'} from rank 0's${where}: every rank must start from the same config, data and checkpoint ` +
          '(the same files on every host, or a shared file system)');
      }
    }
  }

  /**
   * The checkpoint to resume from, chosen by rank 0 (`choose`: its path and bytes, or null for a
   * fresh start; or it throws) and sent to every rank whole: the ranks need no shared file system.
   */
  async shareResume(choose: () => { path: string } | null): Promise<{ path: string; bytes: Uint8Array } | null> {
    // [state, path bytes, checkpoint bytes]; state 0: start fresh, 1: resume, 2: rank 0 failed
    const head = new Float64Array(3);
    let payload = new Uint8Array(0), failure: unknown = null;
    if (this.rank === 0) {
      try {
        const c = choose();
        if (c) {
          const path = Buffer.from(c.path, 'utf8'), bytes = readFileSync(c.path);
          payload = Buffer.concat([path, bytes]);
          head.set([1, path.length, bytes.length]);
        }
      } catch (e) {
        failure = e;
        payload = Buffer.from(e instanceof Error ? e.message : String(e), 'utf8');
        head.set([2, payload.length, 0]);
      }
    }
    await this.collective('MPI_Bcast of the checkpoint to resume from', () => this.mpi.bcast(head, 0));
    if (this.rank !== 0) payload = new Uint8Array(head[1] + head[2]);
    if (payload.length > 0) await this.collective('MPI_Bcast of the checkpoint to resume from', () => this.mpi.bcast(payload, 0));
    if (failure) throw failure;
    if (head[0] === 2) throw new UserError(`distributed: rank 0 could not choose the checkpoint to resume from: ${Buffer.from(payload).toString('utf8')}`);
    if (head[0] === 0) return null;
    return { path: Buffer.from(payload.subarray(0, head[1])).toString('utf8'), bytes: payload.subarray(head[1]) };
  }

  /**
   * Allocate the step's buffers once: rows of a batch of maxB × maxT tokens at most (and V), the
   * pack buffer in the parameters' arena: rows · width + dense + the carried states of maxB rows.
   */
  prepare(shape: ReturnType<LocalStep['exchangeShape']>): void {
    const { layout, V, maxB, maxT, carryS, arena } = shape;
    const { width, denseStart } = tokenRows(layout);
    const maxRows = Math.min(V, maxB * maxT);
    this.heads = new Float64Array(H_WORDS * this.size);
    this.rowCounts = new Int32Array(this.size);
    this.allRows = new Int32Array(maxRows * this.size);
    this.union = new Int32Array(maxRows);
    this.mark = new Uint8Array(V);
    this.notes = new Uint8Array(NOTE_BYTES * this.size);
    this.pack = arena.float32(maxRows * width + (layout.size - denseStart) + maxB * carryS);
  }

  /**
   * Steps 2 to 4 of a distributed step (see the top of this file), between this rank's gradient
   * (`part`, or null and `failure` when it failed) and the update: the ranks agree, then the
   * part's gradient and carried states are summed over the ranks in place. `stop`: this rank was
   * asked to stop (every rank learns it).
   */
  async exchange(step: number, part: PartGradient | null, failure: string, stop: boolean): Promise<{ summed: SummedGradient; stop: boolean } & ExchangeStats> {
    const R = this.size;
    let status = OK, note = failure;
    if (!part) status = FAILED;
    else if (!Number.isFinite(part.stats.lossSum)) { status = NOT_FINITE; note = 'its loss is not finite (NaN or infinity)'; }

    // 2. agree on the step and that every rank is ok
    this.head.set([step, status, part?.rows.length ?? 0, part?.stats.lossSum ?? 0, part?.stats.count ?? 0, part?.stats.correct ?? 0, stop ? 1 : 0]);
    await this.collective('MPI_Allgather of the step header', () => this.mpi.allgather(this.head, this.heads), true);
    const h = (r: number, w: number) => this.heads[r * H_WORDS + w];
    for (let r = 0; r < R; r++) {
      if (h(r, H_STEP) !== step) throw new DistributedFailure(`distributed: the ranks disagree on the step: ${this.who(r)} is at step ${h(r, H_STEP)}, ${this.who(this.rank)} at step ${step}. Nothing was applied; continue with --resume latest.`);
    }
    const failed = Array.from({ length: R }, (_, r) => r).filter((r) => h(r, H_STATUS) !== OK);
    if (failed.length > 0) {
      this.note.fill(0).set(Buffer.from(note, 'utf8').subarray(0, NOTE_BYTES));
      await this.collective('MPI_Allgather of the failure messages', () => this.mpi.allgather(this.note, this.notes), true);
      const text = (r: number) => Buffer.from(this.notes.subarray(r * NOTE_BYTES, (r + 1) * NOTE_BYTES)).toString('utf8').replace(/\0+$/, '');
      throw new DistributedFailure(`step ${step}: ${failed.map((r) => `${this.who(r)} failed: ${text(r)}`).join('; ')}. ` +
        `No rank applied an update for step ${step}; the parameters are those after step ${step - 1}. Continue from the newest checkpoint with --resume latest.`);
    }
    let lossSum = 0, count = 0, correct = 0, stopAll = false;
    for (let r = 0; r < R; r++) { lossSum += h(r, H_LOSS); count += h(r, H_COUNT); correct += h(r, H_CORRECT); stopAll ||= h(r, H_STOP) !== 0; }
    const l = part!;

    // 3. the union of the ranks' touched rows, in rank order
    for (let r = 0; r < R; r++) this.rowCounts[r] = h(r, H_ROWS);
    await this.collective('MPI_Allgatherv of the touched token rows', () => this.mpi.allgatherv(l.rows, this.allRows, this.rowCounts), true);
    let u = 0, total = 0;
    for (let r = 0; r < R; r++) total += this.rowCounts[r];
    for (let i = 0; i < total; i++) {
      const row = this.allRows[i];
      if (this.mark[row] === 0) { this.mark[row] = 1; this.union[u++] = row; }
    }
    for (let i = 0; i < u; i++) this.mark[this.union[i]] = 0;

    // 4. pack [rows of the union | dense part | carried states of the batch rows], ONE allreduce, unpack
    const { grad, width, denseStart, carry } = l, size = grad.length, pack = this.pack, dense = size - denseStart, n = l.batch.n;
    for (let i = 0; i < u; i++) copy(pack, i * width, grad, this.union[i] * width, width); // no view per row: thousands a step
    pack.set(grad.subarray(denseStart, size), u * width);
    let len = u * width + dense;
    if (carry) {
      // This rank's rows carry its shards' states; the others' are zero here, so the sum is every row's.
      const rows = pack.subarray(len, len + n * carry.S).fill(0);
      rows.set(carry.state.subarray(carry.lo * carry.S, carry.hi * carry.S), carry.lo * carry.S);
      len += n * carry.S;
    }
    // The worker threads' loops went to sleep after the gradient: wake them now, so they spin
    // through the allreduce and the update finds them awake (no wake-up on its critical path).
    l.wake();
    const ta = performance.now();
    await this.collective(`MPI_Allreduce of the gradient (${u} token rows, ${dense} dense values)`, () => this.mpi.allreduce(pack.subarray(0, len), 'sum'), true);
    const allreduceMs = performance.now() - ta;
    const sumSq = sumSquares(pack, 0, u * width + dense);
    for (let i = 0; i < u; i++) copy(grad, this.union[i] * width, pack, i * width, width);
    grad.set(pack.subarray(u * width, u * width + dense), denseStart);
    if (carry) carry.state.set(pack.subarray(u * width + dense, len));
    return { summed: l.summed({ rows: this.union, u, lossSum, count, correct, sumSq }), stop: stopAll, allreduceBytes: 4 * len, allreduceMs };
  }

  /** Step `step` begins: what errors and signals name. */
  begin(step: number): void {
    this.step = step;
  }

  /** A step took `stepMs` with this exchange: the summary's totals and the stall limit. */
  counted(stepMs: number, x: ExchangeStats): void {
    this.watchdog.saw(stepMs);
    this.totals.steps++;
    this.totals.bytes += x.allreduceBytes;
    this.totals.allreduceMs += x.allreduceMs;
    this.totals.stepMs += stepMs;
  }

  /**
   * Every rank evaluates the whole split with the same weights, but hosts with other compute
   * backends may differ in the last bits: rank 0's figures are taken by all, so every rank makes
   * the same best-checkpoint and early-stopping decisions.
   */
  async shareEval(m: { loss: number; accuracy: number; count: number }): Promise<void> {
    const v = new Float64Array([m.loss, m.accuracy, m.count]);
    await this.collective('MPI_Bcast of the validation result', () => this.mpi.bcast(v, 0), true);
    [m.loss, m.accuracy, m.count] = v;
  }

  /** The summary line of the traffic: mean payload per step, and the allreduce's share of the step time. */
  summary(): string {
    const t = this.totals;
    if (t.steps === 0) return `distributed: ${this.size} ranks, no steps taken`;
    return `distributed: ${t.steps} steps on ${this.size} rank${this.size > 1 ? 's' : ''}: allreduce of ${formatBytes(t.bytes / t.steps)} per step (${t.bytes} bytes in all), ` +
      `${(t.allreduceMs / t.steps).toFixed(2)} ms of ${(t.stepMs / t.steps).toFixed(2)} ms per step (mean)`;
  }

  /** MPI_Finalize (every rank, at the end of a run that went well). */
  async close(): Promise<void> {
    if (this.finalized) return;
    this.step = 0;
    await this.collective('MPI_Barrier at the end', () => this.mpi.barrier());
    this.finalized = true;
    this.mpi.finalize();
  }
}

function formatBytes(b: number): string {
  return b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${Math.round(b)} B`;
}

/** An object's leaves as [dotted path, JSON of the value] (arrays are leaves), in key order. */
function leaves(v: object, prefix = ''): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, x] of Object.entries(v)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (typeof x === 'object' && x !== null && !Array.isArray(x)) out.push(...leaves(x, path));
    else out.push([path, JSON.stringify(x) ?? 'undefined']);
  }
  return out;
}
