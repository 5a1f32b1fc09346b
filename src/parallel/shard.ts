// One thread's part of a training step or an evaluation, the same code in the main thread (which
// computes shard 0) and in every worker thread (shards 1..W-1): forward + BPTT on its shard,
// reading the shared parameters in place and writing gradient sums into its slot; its part of the
// sum of the slots; its slice of the optimizer step. The phases are separate methods: the caller
// puts the barriers between them (a worker thread waits synchronously, the main thread spins and
// then yields to its event loop, see coordinator.ts). The numeric work runs on the backend the
// coordinator chose, created on the run's shared memory, with this thread's workspace in it.

import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { SYNC_COUNT, SYNC_GEN, SYNC_ABORT, SYNC_ASLEEP, WAKE_MESSAGE, SYNC_PHASE, PHASE_GRADIENT, PHASE_REDUCE, PHASE_UPDATE, type WorkerInit, type StepTask, type StepResult, type EvalTask, type ShardResult, type UpdateTask } from './protocol.js';
import { viewsOf, type Params } from '../model/params.js';
import { allocWorkspace, forwardBackward, forward, type Workspace } from '../model/rnn.js';
import { allocBatch, type Batch } from '../model/batch.js';
import { createKernels } from '../model/backend/index.js';
import { fillBatch, continuesChunk, type EncodedSplit } from '../data/index.js';
import { tokenRows, stepUpdate } from '../optim/step.js';
import { argmaxRow, fill } from '../model/kernels.js';
import { updateRange, adamConsts } from '../optim/optim.js';
import { SharedArena } from '../util/shared.js';
import { stepKey } from '../util/prng.js';
import { addSpanCounts, type BioScheme, type SpanCounts } from '../model/metrics.js';

/** How long a worker thread spins at a barrier before it sleeps, at most, ms. */
const SPIN_MS = 0.5;

/**
 * How long a thread spins before it sleeps, adapted to the waits it sees. While waits end within
 * `max` (a machine with cores to spare) it spins up to that long, saving the wake-up; after a
 * longer wait it halves the spin (and doubles it back after short ones): on a machine with more
 * runnable threads than cores, a spinning thread burns the time slice the thread it waits for
 * needs, and every wait gets longer (measured: W-small's 2-worker steps 10x slower).
 */
export class Spin {
  ms: number;
  constructor(readonly max: number) { this.ms = max; }
  /** After a wait of `waited` ms: back up (doubling) after short waits, halved after long ones. */
  saw(waited: number): void { this.ms = waited <= this.max ? Math.min(this.max, 2 * this.ms + 0.01) : this.ms / 2; }
}

const barrierSpin = new Spin(SPIN_MS);

/** Loads of the watched word between two readings of the clock in spinWhile. */
const SPIN_LOADS = 256;

/**
 * Spin while sync[index] === value, until performance.now() reaches `until` (ms) or the abort
 * flag is set; whether the value changed. The clock is read once every SPIN_LOADS loads (about a
 * microsecond): each reading allocates a number, and a loop that read it on every load made a
 * worker thread allocate about 200 kB in each small step and stop for a scavenge every ~20 steps
 * (measured with --trace-gc, W-small, 2 workers), with the other threads waiting for it.
 */
export function spinWhile(sync: Int32Array, index: number, value: number, until: number): boolean {
  for (;;) {
    for (let i = 0; i < SPIN_LOADS; i++) if (Atomics.load(sync, index) !== value) return true;
    if (Atomics.load(sync, SYNC_ABORT) !== 0 || performance.now() >= until) return Atomics.load(sync, index) !== value;
  }
}

/**
 * Wait synchronously until all W threads of the step arrive (a worker thread); throw if the step
 * was aborted. Spin first (up to SPIN_MS, see Spin): the others usually arrive within that, and
 * waking from Atomics.wait costs tens of microseconds, a tenth of a small workload's step. Then
 * sleep in short waits that check the abort flag.
 */
export function barrier(sync: Int32Array, W: number): void {
  const gen = Atomics.load(sync, SYNC_GEN);
  if (arrive(sync, W)) return;
  const t0 = performance.now();
  spinWhile(sync, SYNC_GEN, gen, t0 + barrierSpin.ms);
  while (Atomics.load(sync, SYNC_GEN) === gen) {
    if (Atomics.load(sync, SYNC_ABORT) !== 0) throw new Error('stopped: another worker failed in this step');
    Atomics.wait(sync, SYNC_GEN, gen, 50);
  }
  barrierSpin.saw(performance.now() - t0);
}

/** Arrive at the barrier; true if this was the last of W to arrive (and so released the others). */
export function arrive(sync: Int32Array, W: number): boolean {
  if (Atomics.add(sync, SYNC_COUNT, 1) !== W - 1) return false;
  Atomics.store(sync, SYNC_COUNT, 0);
  Atomics.add(sync, SYNC_GEN, 1);
  Atomics.notify(sync, SYNC_GEN);
  wakeMain(sync);
  return true;
}

/**
 * After a worker thread changed what the main thread may wait on in a step (a barrier, the done
 * count, the abort flag): if the main thread went to sleep (SYNC_ASLEEP), wake it with a message.
 * Its Atomics.waitAsync would only see the change at its timeout (Node 20). The main thread sets
 * the flag, then checks again before it sleeps, so one of the two always sees the other.
 * Nothing in the main thread itself (it has no parent).
 */
export function wakeMain(sync: Int32Array): void {
  if (Atomics.load(sync, SYNC_ASLEEP) !== 0 && Atomics.exchange(sync, SYNC_ASLEEP, 0) !== 0) parentPort?.postMessage({ [WAKE_MESSAGE]: 1 });
}

/**
 * Tests only (inject mode 'vanish'): end this OS thread at once, as a thread killed from outside
 * does: no JS runs after it, no 'exit' event. The Node-API addon RNN_TRAINER_TEST_VANISH names
 * (test/fixtures/vanish.c) calls SYS_exit.
 */
function vanish(): never {
  const addon = process.env.RNN_TRAINER_TEST_VANISH;
  if (!addon) throw new Error('inject mode vanish needs RNN_TRAINER_TEST_VANISH (the compiled test/fixtures/vanish.c)');
  (createRequire(import.meta.url)(addon) as { vanish(): never }).vanish();
  throw new Error('unreachable: the thread did not end');
}

export class ShardRunner {
  private readonly layout;
  private readonly params: Params;
  private readonly slots: Params[];
  private readonly slotData: Float32Array[];
  private readonly grad: Float32Array;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly width: number;
  /** The token table's rows, and where the dense tensors start (after its padding to 4 elements). */
  private readonly rows: number;
  private readonly denseStart: number;
  private readonly ws: Workspace;
  private readonly batch: Batch;
  // This step's token rows (the union of the slots' touched rows, in slot order): every thread
  // builds the same list; the thread of shard 0 also publishes it, for the next step to zero.
  private readonly union: Int32Array;
  /** 1 for the rows in `union` while a fused update runs (an Int32 per row, in the arena, for the SIMD kernel), else 0. */
  private readonly mark: Int32Array;
  // This thread's rows of the last union and of this one (r mod W = k), where the SIMD kernels read them.
  private readonly mine: Int32Array;
  /** r mod ownerW for each token row r (see own()). */
  private readonly owner: Int32Array;
  private ownerW = 0;
  /** Each slot's touched rows (slots[k].touched from index 1), where the kernels read them. */
  private readonly touchedRows: Int32Array[];

  /** `main`: this is the main thread (the test hook then only throws: exiting or hanging would take the process). */
  constructor(private readonly init: WorkerInit, arena: SharedArena, private readonly main: boolean) {
    const spec = init.spec;
    this.layout = init.layout;
    const size = this.layout.size;
    this.params = viewsOf(this.layout, arena.float32At(init.params, size));
    this.slots = init.slots.map((s) => viewsOf(this.layout, arena.float32At(s.grad, size)));
    this.slotData = this.slots.map((s) => s.data as Float32Array);
    this.grad = arena.float32At(init.grad, size);
    this.m = init.moments ? arena.float32At(init.moments.m, size) : new Float32Array(0);
    this.v = init.moments && init.moments.v >= 0 ? arena.float32At(init.moments.v, size) : new Float32Array(0);
    ({ width: this.width, denseStart: this.denseStart } = tokenRows(this.layout));
    this.rows = this.layout.tensors[0].shape[0];
    this.ws = allocWorkspace(spec, init.maxB, init.maxT, createKernels(init.kernels, arena));
    if (init.classWeights) this.ws.classWeights = Float64Array.from(init.classWeights);
    this.batch = allocBatch(init.maxB, init.maxT);
    this.union = new Int32Array(spec.V);
    this.mark = arena.int32(spec.V);
    this.mine = arena.int32(spec.V);
    this.touchedRows = init.slots.map((s) => s.touched.subarray(1));
    this.owner = new Int32Array(spec.V);
  }

  /** The test hook (init.inject): fail here, as asked. */
  private injected(what: string): void {
    const inject = this.init.inject!;
    if (inject.mode !== 'throw' && this.main) throw new Error(`test injection: '${inject.mode}' needs a worker thread (workers ≥ 2), not the main thread`);
    if (inject.mode === 'exit') process.exit(3);
    if (inject.mode === 'vanish') vanish();
    if (inject.mode === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // never answers
    throw new Error(`injected failure ${what}`);
  }

  /** Phase 1: forward + BPTT of the shard into slot k; loss and count go to the shared partials. */
  gradient(t: StepTask): { lossSum: number; count: number; correct: number; ms: number } {
    const t0 = performance.now();
    const { init } = this;
    Atomics.store(init.sync, SYNC_PHASE + t.k, PHASE_GRADIENT);
    const r = t.n > 0 ? this.shardGradient(t) : { lossSum: 0, count: 0, correct: 0 };
    init.partials[4 * t.k] = r.lossSum;
    init.partials[4 * t.k + 1] = r.count;
    return { ...r, ms: performance.now() - t0 };
  }

  private shardGradient(t: StepTask): { lossSum: number; count: number; correct: number } {
    const { init, batch, ws, layout } = this;
    const split = init.splits[t.split], order = init.orders[t.split];
    if (!split || !order) throw new Error(`worker: no ${t.split} split was shared with the pool`);
    fillBatch(split, init.spec.task, order, t.off, t.n, batch);
    // The hook fails in the last shard's thread: a worker thread whenever there are two or more.
    if (init.inject && init.inject.during !== 'eval' && t.step === init.inject.failAtStep && t.k === t.W - 1) this.injected(`at step ${t.step}`);
    const slot = init.slots[t.k];
    const g = this.slots[t.k];
    // The slot's last rows, zeroed by the kernels (a loop in JavaScript costs ~20 instructions a value).
    fill(g.data, this.denseStart, layout.size - this.denseStart, 0);
    ws.k.zeroRows(g.data as Float32Array, this.touchedRows[t.k], slot.touched[0], this.width);
    const drop = init.dropout > 0 ? { rate: init.dropout, key: stepKey(init.seed, t.step) } : null;
    if (init.carry) this.loadCarry(0, t.row0, split);
    const r = forwardBackward(this.params, g, ws, batch, init.bpttWindow, drop, init.stepLoss, init.carry !== null);
    if (init.carry) this.saveCarry(0, t.row0);
    slot.touched[0] = ws.touchedCount;
    slot.touched.set(ws.touched.subarray(0, ws.touchedCount), 1);
    slot.normSum.set(ws.stepNormSum.subarray(0, batch.T));
    slot.normSum.fill(0, batch.T);
    slot.normCount.set(ws.stepNormCount.subarray(0, batch.T));
    slot.normCount.fill(0, batch.T);
    return r;
  }

  /** Phase 2 (after a barrier): this thread's part of the slot sum; Σ g² of it goes to the shared partials. */
  reduce(t: StepTask): number {
    const t0 = performance.now();
    const { init } = this;
    Atomics.store(init.sync, SYNC_PHASE + t.k, PHASE_REDUCE);
    const u = this.buildUnion(t.S);
    init.partials[4 * t.k + 2] = this.reducePart(t, u);
    if (t.k === 0) {
      init.unions[t.cur].set(this.union.subarray(0, u));
      init.unionCounts[t.cur] = u;
    }
    return performance.now() - t0;
  }

  /**
   * Phase 3 (after a barrier): every thread reads the same loss, count and Σ g² (in shard order)
   * and applies the clipped optimizer step to its slice, or nothing if they are not finite.
   */
  update(t: StepTask): Pick<StepResult, 'batchLoss' | 'batchCount' | 'gradNorm' | 'clipped' | 'finite' | 'updateMs'> {
    const t0 = performance.now();
    const { partials, sync } = this.init;
    let batchLoss = 0, batchCount = 0, sumSq = 0;
    for (let k = 0; k < t.W; k++) { batchLoss += partials[4 * k]; batchCount += partials[4 * k + 1]; sumSq += partials[4 * k + 2]; }
    const c = stepUpdate(batchLoss, batchCount, sumSq, t.update.clipNorm);
    const finite = c.finite;
    if (finite) {
      Atomics.store(sync, SYNC_PHASE + t.k, PHASE_UPDATE);
      const o = t.update;
      updateRange(o.opts, o.step, this.params.data as Float32Array, this.grad, this.m, this.v, c.scale, o.ulo, o.uhi, this.ws.k);
    }
    return { batchLoss, batchCount, gradNorm: c.gradNorm, clipped: c.clipped, finite, updateMs: performance.now() - t0 };
  }

  /**
   * Phase 2 of a step without clipping (t.fused; after the one barrier): the slot sum and Adam in
   * one pass over this thread's part, which is the reduce's part (the dense range [lo, hi), the
   * touched token rows r with r mod W = k, in union order) plus the untouched rows of its range of
   * the token table, updated with a zero gradient without reading one. The reduced gradient is
   * never written. Σ g² of the part goes to the partials, summed as reduce() sums it, so the norm
   * the caller takes from them is the two-phase step's to the bit; so is every updated element.
   * Nothing is updated when the loss is not finite. A gradient that is not finite is only known
   * after the update (the caller reports it, and training stops on it): then the parameters are
   * spoiled in memory, where the two-phase step would have left them unchanged.
   */
  fused(t: StepTask): { batchLoss: number; batchCount: number; ms: number } {
    const t0 = performance.now();
    const { init, union, mark, mine, width, slotData, m, v } = this, k = this.ws.k;
    const p = this.params.data as Float32Array;
    let batchLoss = 0, batchCount = 0;
    for (let k = 0; k < t.W; k++) { batchLoss += init.partials[4 * k]; batchCount += init.partials[4 * k + 1]; }
    Atomics.store(init.sync, SYNC_PHASE + t.k, PHASE_REDUCE);
    const u = this.buildUnion(t.S, true);
    let sq = 0;
    if (Number.isFinite(batchLoss) && batchCount > 0) {
      Atomics.store(init.sync, SYNC_PHASE + t.k, PHASE_UPDATE);
      const c = adamConsts(t.update.opts, t.update.step, 1 / batchCount); // clipScale's factor without clipping
      sq = k.sumSlotsAdam(p, m, v, t.lo, t.hi - t.lo, slotData, t.S, c);
      const n = this.own(union, u, t);
      sq = k.sumSlotRowsAdam(p, m, v, slotData, t.S, mine, n, width, sq, c);
      if (this.layout.sparseRows) {
        const V = this.rows;
        k.adamUnmarked(p, m, v, mark, Math.floor((V * t.k) / t.W), Math.floor((V * (t.k + 1)) / t.W), width, c);
        // The table's padding to 4 elements: zero, and Adam keeps it so, as the dense update does.
        if (t.k === t.W - 1) k.sumSlotsAdam(p, m, v, V * width, this.denseStart - V * width, slotData, 0, c);
      }
    }
    for (let i = 0; i < u; i++) mark[union[i]] = 0;
    init.partials[4 * t.k + 2] = sq;
    return { batchLoss, batchCount, ms: performance.now() - t0 };
  }

  /** The optimizer step on a slice, after the ranks' allreduce (distributed training); ms. */
  updateOnly(t: UpdateTask): number {
    const t0 = performance.now();
    updateRange(t.opts, t.step, this.params.data as Float32Array, this.grad, this.m, this.v, t.scale, t.lo, t.hi, this.ws.k);
    return performance.now() - t0;
  }

  /** The union of slots 0..S-1's touched rows, in slot order, into `union`; returns its length. `keep`: leave them marked. */
  private buildUnion(S: number, keep = false): number {
    const { union, mark } = this;
    let u = 0;
    for (let k = 0; k < S; k++) {
      const touched = this.init.slots[k].touched;
      for (let i = 1, e = 1 + touched[0]; i < e; i++) {
        const row = touched[i];
        if (mark[row] === 0) { mark[row] = 1; union[u++] = row; }
      }
    }
    if (!keep) for (let i = 0; i < u; i++) mark[union[i]] = 0;
    return u;
  }

  /** Sum this thread's part of the slots into the reduced gradient; Σ g² of it (dense part, then rows in union order). */
  private reducePart(t: StepTask, u: number): number {
    const { init, grad, slotData, mine, width, union } = this, k = this.ws.k;
    const sq = k.sumSlots(grad, t.lo, slotData, t.S, t.lo, t.hi - t.lo);
    k.zeroRows(grad, mine, this.own(init.unions[1 - t.cur], init.unionCounts[1 - t.cur], t), width);
    return k.sumSlotRows(grad, slotData, t.S, mine, this.own(union, u, t), width, sq);
  }

  /** This thread's rows (r mod W = k) of rows[0, n), in order, into `mine`; how many. */
  private own(rows: Int32Array, n: number, t: StepTask): number {
    // r mod W from a table: a division per row (tens of cycles) was most of these loops.
    if (this.ownerW !== t.W) {
      this.ownerW = t.W;
      for (let r = 0; r < this.owner.length; r++) this.owner[r] = r % t.W;
    }
    const { mine, owner } = this, k = t.k;
    let m = 0;
    for (let i = 0; i < n; i++) if (owner[rows[i]] === k) mine[m++] = rows[i];
    return m;
  }

  /** Rows' initial states (withState0): each row's carried state where its chunk continues the row's last, else zero. */
  private loadCarry(which: 0 | 1, row0: number, split: EncodedSplit): void {
    const { batch, ws } = this;
    const c = this.init.carry!, S = c.S, state = c.state[which], ids = c.ids[which];
    for (let b = 0; b < batch.B; b++) {
      const row = row0 + b, id = batch.ids[b];
      if (ids[row] === id - 1 && continuesChunk(split, id)) ws.state0.set(state.subarray(row * S, row * S + S), b * S);
      else fill(ws.state0, b * S, S, 0);
    }
  }

  /** Each row's state at its chunk's end, and the chunk, for the row's next chunk. */
  private saveCarry(which: 0 | 1, row0: number): void {
    const { batch, ws } = this;
    const c = this.init.carry!, S = c.S;
    for (let b = 0; b < batch.B; b++) {
      c.state[which].set(ws.state1.subarray(b * S, b * S + S), (row0 + b) * S);
      c.ids[which][row0 + b] = batch.ids[b];
    }
  }

  /** Loss (and counts, and a confusion matrix if asked) of the forward pass on one evaluation batch or shard. */
  evaluate(task: EvalTask): ShardResult {
    const { init, batch, ws } = this;
    if (init.inject?.during === 'eval' && init.inject.mode === 'hang' && !this.main) this.injected('in evaluation');
    const split = init.splits[task.split], order = init.orders[task.split];
    if (!split || !order) throw new Error(`worker: no ${task.split} split was shared with the pool`);
    const t0 = performance.now();
    fillBatch(split, init.spec.task, order, task.off, task.n, batch);
    if (task.carry) this.loadCarry(1, task.carry.row0, split);
    const r = forward(this.params, ws, batch, task.carry !== undefined);
    if (task.carry) this.saveCarry(1, task.carry.row0);
    let confusion: number[] | undefined;
    const { spec } = init;
    if (task.confusion && spec.task === 'many-to-one') {
      confusion = new Array(spec.C * spec.C).fill(0);
      for (let b = 0; b < batch.B; b++) confusion[batch.labels[b] * spec.C + argmaxRow(ws.P, b * spec.C, spec.C)]++;
    }
    let spans: SpanCounts | undefined;
    if (task.confusion && spec.task === 'tagging') {
      // Every real token's (tag, predicted tag); the predictions are the head's argmax rows t·B + b.
      const { B, T, lengths, targets } = batch, am = ws.am;
      confusion = new Array(spec.C * spec.C).fill(0);
      for (let b = 0; b < B; b++) for (let t = 0; t < lengths[b]; t++) confusion[targets[b * T + t] * spec.C + am[t * B + b]]++;
      if (task.bio) {
        spans = [0, 0, 0];
        const s: BioScheme = { kind: Uint8Array.from(task.bio.kind), type: Int32Array.from(task.bio.type) }, g: number[] = [], p: number[] = [];
        for (let b = 0; b < B; b++) addSpanCounts(targets, b * T, 1, am, b, B, lengths[b], s, spans, g, p);
      }
    }
    return { lossSum: r.lossSum, count: r.count, correct: r.correct, ms: performance.now() - t0, confusion, spans };
  }
}
