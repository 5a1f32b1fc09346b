// The cells' one-call time loops (Kernels.rnnSteps, lstmSteps, gruSteps and their backwards, native
// only) against the per-step path they replace (the same native kernels at the same ISA, without
// those methods): every cache (states, gates, their gradients), the loss, every gradient tensor,
// the final states and the gradient profile must be the SAME BITS, for each cell, at every ISA
// level this CPU runs, on the cases the driver's BPTT
// distinguishes (head at the last token, sorted and unsorted rows, padding, language models, two
// layers, bidirectional, truncated BPTT, dropout, carried state, target replication, pooling,
// steps no row reaches). Each case runs two different batches through one workspace, so a value
// left over from the first would show in the second. Then the two kernels alone against their
// contract (types.ts) written out as per-step kernel calls (the vanilla cell's: the loop around
// the step is one C++ template for every cell), on operands with garbage wherever the
// model keeps zeros (padded rows, rows past R[t]), with every source of the inflow at once.

import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams } from '../src/model/params.js';
import { allocWorkspace, forwardBackward, stateSize, type Workspace, type ForwardResult } from '../src/model/rnn.js';
import { createKernels, Epi, JsKernels, type Inflow, type Kernels } from '../src/model/backend/index.js';
import { nativeIsas } from '../src/model/backend/native.js';
import { arenaOf } from '../src/util/shared.js';
import { Rng } from '../src/util/prng.js';
import type { Float } from '../src/model/kernels.js';
import { randomParams, randomBatch } from './helpers/model.js';

interface Case {
  name: string;
  spec: ModelSpec;
  /** Two batches, one after the other through the same workspace: lengths and T. */
  batches: [number[], number][];
  bptt?: number;
  dropout?: number;
  stepLoss?: number;
  carry?: boolean;
}

// The cell is set per run (every case runs for every cell).
const m2o = (E: number, H: number, more: Partial<ModelSpec> = {}): ModelSpec => ({ cell: 'rnn', task: 'many-to-one', V: 50, H, C: 4, E, ...more });
const lm = (E: number, H: number, more: Partial<ModelSpec> = {}): ModelSpec => ({ cell: 'rnn', task: 'many-to-many', V: 30, H, C: 30, E, ...more });
const CELLS = ['rnn', 'lstm', 'gru'] as const;

const cases: Case[] = [
  { name: 'many-to-one, sorted lengths, padding', spec: m2o(32, 64), batches: [[[16, 16, 12, 12, 12, 7, 3, 1], 16], [[9, 5, 5, 2], 11]] },
  { name: 'many-to-one, one-hot, H with tails', spec: m2o(0, 37), batches: [[[9, 9, 7, 4, 4, 1], 9], [[6, 6, 6], 6]] },
  { name: 'many-to-one, unsorted lengths', spec: m2o(19, 40), batches: [[[3, 12, 7, 12, 1, 9, 2], 12], [[1, 5, 5, 8], 10]] },
  { name: 'many-to-one, steps no row reaches (T > every length)', spec: m2o(8, 24), batches: [[[5, 3, 2], 9], [[2, 7], 8]] },
  { name: 'many-to-one, target replication, dropout', spec: m2o(19, 64), batches: [[[12, 10, 10, 9, 3, 2, 2], 13], [[4, 8, 1], 8]], dropout: 0.2, stepLoss: 0.5 },
  { name: 'many-to-one, mean pooling', spec: m2o(12, 33, { pooling: 'mean' }), batches: [[[8, 3, 6, 1], 8], [[5, 5], 5]] },
  { name: 'many-to-one, meanmax pooling', spec: m2o(12, 33, { pooling: 'meanmax' }), batches: [[[8, 8, 6, 1], 8], [[2, 5], 5]] },
  { name: 'many-to-one, max pooling, target replication', spec: m2o(12, 33, { pooling: 'max' }), batches: [[[8, 8, 6, 1], 8], [[5, 2], 5]], stepLoss: 0.3 },
  { name: 'many-to-one, 2 layers, truncated BPTT 4, dropout', spec: m2o(16, 48, { layers: 2 }), batches: [[[13, 13, 9, 5, 1], 13], [[7, 3, 3], 7]], bptt: 4, dropout: 0.25 },
  { name: 'many-to-one, bidirectional ×2', spec: m2o(7, 24, { layers: 2, bidirectional: true }), batches: [[[8, 6, 2], 8], [[3, 5, 5, 1], 6]], dropout: 0.2 },
  { name: 'language model', spec: lm(8, 64), batches: [[[10, 8, 5], 10], [[12, 12, 3, 1], 12]] },
  { name: 'language model, one-hot, unsorted, truncated BPTT 3', spec: lm(0, 70), batches: [[[4, 17, 16, 16, 1], 17], [[9, 2], 9]], bptt: 3 },
  { name: 'language model, 3 layers, carried state, dropout', spec: lm(10, 32, { layers: 3 }), batches: [[[9, 9, 9, 9], 9], [[6, 9, 2], 9]], carry: true, dropout: 0.1 },
  { name: 'language model, bidirectional', spec: lm(8, 20, { bidirectional: true }), batches: [[[7, 4, 7, 1], 7], [[5, 5], 5]] },
];

type Loops = 'rnnSteps' | 'rnnStepsBackward' | 'lstmSteps' | 'lstmStepsBackward' | 'gruSteps' | 'gruStepsBackward';
const LOOPS: Loops[] = ['rnnSteps', 'rnnStepsBackward', 'lstmSteps', 'lstmStepsBackward', 'gruSteps', 'gruStepsBackward'];

/** The native kernels at `isa` on the arena, with the one-call loops (oneCall: each call counted) or without them (the per-step path). */
function kernels(isa: string, arena: NonNullable<ReturnType<typeof arenaOf>>, oneCall: boolean, calls: Map<string, number>): Kernels {
  const k = createKernels({ name: 'native', isa }, arena);
  const w = k as unknown as Record<Loops, ((...a: unknown[]) => void) | undefined>;
  for (const name of LOOPS) {
    const f = w[name];
    if (!f) throw new Error(`native ${isa}: no ${name}`);
    w[name] = oneCall ? (...a: unknown[]) => { calls.set(name, (calls.get(name) ?? 0) + 1); f(...a); } : undefined;
  }
  return k;
}

interface Out { r: ForwardResult[]; bytes: Buffer[]; names: string[] }

/** A copy of x's bytes (on a buffer of its own, so a float64 view of it is aligned). */
function bytesOf(x: ArrayBufferView): Buffer {
  const u = new Uint8Array(x.buffer, x.byteOffset, x.byteLength).slice();
  return Buffer.from(u.buffer, 0, u.length);
}

/** Both batches of a case through one workspace: what each leaves (states, gradients, final states, profile). */
function run(c: Case, isa: string, oneCall: boolean, calls: Map<string, number>): Out {
  const layout = makeLayout(c.spec);
  const p = allocParams(layout, 'float32');
  p.data.set(randomParams(c.spec, 7, 'float64').data);
  const arena = arenaOf(p.data)!;
  const maxB = Math.max(...c.batches.map(([l]) => l.length)), maxT = Math.max(...c.batches.map(([, T]) => T));
  const ws: Workspace = allocWorkspace(c.spec, maxB, maxT, kernels(isa, arena, oneCall, calls));
  const out: Out = { r: [], bytes: [], names: [] };
  const keep = (what: string, x: ArrayBufferView) => { out.bytes.push(bytesOf(x)); out.names.push(what); };
  c.batches.forEach(([lengths, T], i) => {
    const g = allocParams(layout, 'float32', arena);
    const batch = randomBatch(c.spec, lengths, 20 + i, T);
    if (c.carry) {
      const r = new Rng(40 + i), S = stateSize(c.spec);
      for (let j = 0; j < lengths.length * S; j++) ws.state0[j] = 0.5 * r.normal();
    }
    const drop = c.dropout ? { rate: c.dropout, key: 91 + i } : null;
    out.r.push(forwardBackward(p, g, ws, batch, c.bptt ?? 0, drop, c.stepLoss ?? 0, c.carry ?? false));
    // Every array of every cache (states, gates, their gradients, packed weights), then the results.
    [...ws.layers, ...ws.rev].forEach((l, j) => {
      for (const [key, x] of Object.entries(l)) if (ArrayBuffer.isView(x)) keep(`batch ${i}: ${key} of cache ${j}`, x);
    });
    keep(`batch ${i}: gradients`, g.data);
    keep(`batch ${i}: final states`, ws.state1);
    keep(`batch ${i}: profile sums`, ws.stepNormSum.subarray(0, T));
    keep(`batch ${i}: profile counts`, ws.stepNormCount.subarray(0, T));
  });
  return out;
}

t.test('the one-call loops are native only: js and wasm keep the per-step path', async (t) => {
  const arena = arenaOf(allocParams(makeLayout(m2o(4, 8)), 'float32').data)!;
  for (const [name, k] of [['js', new JsKernels('float32')], ['wasm', createKernels('wasm', arena)]] as const) {
    const w = k as unknown as Record<Loops, unknown>;
    t.same(LOOPS.filter((m) => w[m] !== undefined), [], `${name}: none of ${LOOPS.join(', ')}`);
  }
});

const isas = nativeIsas();
if (isas.length === 0) t.comment('native kernels not built here: nothing to compare');
for (const isa of isas) {
  for (const cell of CELLS) {
    for (const c0 of cases) {
      const c: Case = { ...c0, spec: { ...c0.spec, cell } };
      t.test(`native ${isa}: ${cell}, ${c.name}: one call = per step, bit for bit`, async (t) => {
        const calls = new Map<string, number>(), none = new Map<string, number>();
        const one = run(c, isa, true, calls), per = run(c, isa, false, none);
        const L = c.spec.layers ?? 1, D = c.spec.bidirectional ? 2 : 1;
        t.same(Object.fromEntries(calls), { [`${cell}Steps`]: 2 * L * D, [`${cell}StepsBackward`]: 2 * L * D }, 'one call each way per layer and direction, per batch');
        t.equal(none.size, 0);
        for (let i = 0; i < 2; i++) {
          t.equal(one.r[i].lossSum, per.r[i].lossSum, `batch ${i}: loss`);
          t.equal(one.r[i].auxSum, per.r[i].auxSum, `batch ${i}: target replication loss`);
          t.equal(one.r[i].correct, per.r[i].correct, `batch ${i}: correct`);
        }
        t.same(one.names, per.names);
        t.same(one.names.filter((_, i) => !one.bytes[i].equals(per.bytes[i])), [], `every array the same bits (${one.names.length})`);
        // Not vacuous: the gradients and the profile carry something.
        const at = (what: string) => one.bytes[one.names.indexOf(`batch 0: ${what}`)];
        t.ok(at('gradients').some((v) => v !== 0), 'nonzero gradients');
        const sums = at('profile sums');
        t.ok(new Float64Array(sums.buffer, sums.byteOffset, sums.length / 8).some((v) => v > 0), 'the profile recorded');
      });
    }
  }
}

/** Kernels.rnnStepsBackward's contract as per-step calls of the same kernels (types.ts). */
function rnnBackwardRef(k: Kernels, dG: Float, dh: Float, h: Float, Wb: Float, R: Int32Array, B: number, T: number, H: number, f: Inflow): void {
  const len = f.lengths;
  const zeroPastEnd = (a: Float, o: number, t: number, r: number) => { for (let b = 0; b < r; b++) if (len[b] < t) a.fill(0, o + b * H, o + b * H + H); };
  dh.fill(0, 0, B * H);
  for (let t = T; t >= 1; t--) {
    const r = R[t], zt = (t - 1) * B * H;
    let real = 0;
    for (let b = 0; b < r; b++) if (len[b] >= t) real++;
    if (f.last) for (let b = 0; b < r; b++) if (len[b] === t) k.addTo(dh, b * H, f.last, b * f.lastStride, H);
    for (const x of f.ext) k.addTo(dh, 0, x, zt, r * H);
    zeroPastEnd(dh, 0, t, r);
    if (f.normSum) {
      f.normSum[t - 1] = k.sumRowNorms(dh, 0, H, r, H);
      f.normCount![t - 1] = real;
    }
    k.tanhBackward(dG, zt, dh, 0, h, t * B * H, r * H);
    zeroPastEnd(dG, zt, t, r);
    dG.fill(0, zt + r * H, zt + B * H);
    if (t > 1 && !(f.window > 0 && (t - 1) % f.window === 0)) {
      k.gemmPacked(dh, 0, H, dG, zt, H, 1, Wb, r, H, H, 0, null, Epi.None);
      dh.fill(0, r * H, B * H);
    } else {
      dh.fill(0, 0, B * H);
    }
  }
}

for (const isa of isas) {
  t.test(`native ${isa}: rnnSteps and rnnStepsBackward against their contract, garbage in the padding`, async (t) => {
    const arena = arenaOf(allocParams(makeLayout(m2o(4, 8)), 'float32').data)!;
    const k = createKernels({ name: 'native', isa }, arena);
    const rng = new Rng(5);
    for (const [B, T, H, lengths, window, stride] of [
      [7, 9, 37, [3, 9, 1, 9, 5, 2, 1], 0, 40],
      [5, 8, 64, [8, 8, 6, 3, 3], 3, 64],
      [4, 6, 16, [2, 4, 1, 1], 1, 20], //  window 1: no gradient passes any step
      [3, 7, 20, [4, 2, 1], 2, 20], //      T past every length: steps with R[t] = 0
    ] as [number, number, number, number[], number, number][]) {
      const what = `B=${B} T=${T} H=${H} lengths ${lengths.join(',')} window ${window}`;
      const R = new Int32Array(T + 1);
      for (let s = 1; s <= T; s++) for (let b = 0; b < B; b++) if (lengths[b] >= s) R[s] = b + 1;
      const rand = (n: number, scale = 1) => { const x = k.floats(n) as Float32Array; for (let i = 0; i < n; i++) x[i] = scale * rng.normal(); return x; };
      const W = rand(H * H, 0.3), bias = rand(H), Wf = k.floats(k.packedSize(H, H)), Wb = k.floats(k.packedSize(H, H));
      k.packB(Wf, W, 0, 1, H, H, H);
      k.packB(Wb, W, 0, H, 1, H, H);
      // Forward: garbage in every slab (the projection where rows are computed, else left as it is).
      const h0 = rand((T + 1) * B * H), h1 = k.floats(h0.length) as Float32Array, h2 = k.floats(h0.length) as Float32Array;
      h1.set(h0);
      h2.set(h0);
      k.rnnSteps!(h1, Wf, bias, R, B, T, H);
      for (let s = 1; s <= T; s++) k.gemmPacked(h2, s * B * H, H, h2, (s - 1) * B * H, H, 1, Wf, R[s], H, H, 1, bias, Epi.Tanh);
      t.ok(bytesOf(h1).equals(bytesOf(h2)), `${what}: rnnSteps = gemmPacked per step`);
      // Backward: every source at once, nonzero everywhere (rows past their end, rows ≥ R[t]).
      const f = (normed: boolean): Inflow => ({
        lengths: Int32Array.from(lengths), last: lastG, lastStride: stride, ext: [ext0, ext1], window,
        normSum: normed ? new Float64Array(T) : null, normCount: normed ? new Float64Array(T) : null,
      });
      const lastG = rand(B * stride), ext0 = rand(T * B * H), ext1 = rand(T * B * H);
      const dG0 = rand(T * B * H), dGa = k.floats(dG0.length) as Float32Array, dGb = k.floats(dG0.length) as Float32Array;
      const dha = rand(B * H), dhb = rand(B * H);
      for (const normed of [true, false]) {
        dGa.set(dG0);
        dGb.set(dG0);
        const fa = f(normed), fb = f(normed);
        k.rnnStepsBackward!(dGa, dha, h0, Wb, R, B, T, H, fa); // states |h| > 1 too: 0·(1 − h²) = −0 where a row is not zeroed
        rnnBackwardRef(k, dGb, dhb, h0, Wb, R, B, T, H, fb);
        t.ok(bytesOf(dGa).equals(bytesOf(dGb)), `${what}${normed ? '' : ', no profile'}: dG the same bits`);
        t.ok(bytesOf(dha).equals(bytesOf(dhb)), `${what}: dh the same bits`);
        if (normed) {
          t.ok(bytesOf(fa.normSum!).equals(bytesOf(fb.normSum!)) && bytesOf(fa.normCount!).equals(bytesOf(fb.normCount!)), `${what}: profile the same bits`);
          t.ok(fa.normSum!.some((v) => v > 0), `${what}: profile recorded`);
        }
      }
      t.ok(dGa.some((v) => v !== 0), `${what}: nonzero dG`);
    }
    // One source, and none.
    const B = 3, T = 4, H = 8, R = Int32Array.from([0, 3, 3, 2, 1]), lengths = Int32Array.from([4, 3, 2]);
    const h = k.floats((T + 1) * B * H) as Float32Array, Wb = k.floats(k.packedSize(H, H));
    for (let i = 0; i < h.length; i++) h[i] = 0.1 * rng.normal();
    for (const ext of [[] as Float32Array[], [k.floats(T * B * H) as Float32Array]]) {
      if (ext.length) for (let i = 0; i < ext[0].length; i++) ext[0][i] = rng.normal();
      const inflow = (): Inflow => ({ lengths, last: null, lastStride: H, ext, window: 0, normSum: null, normCount: null });
      const dGa = k.floats(T * B * H) as Float32Array, dGb = k.floats(T * B * H) as Float32Array;
      k.rnnStepsBackward!(dGa, k.floats(B * H), h, Wb, R, B, T, H, inflow());
      rnnBackwardRef(k, dGb, k.floats(B * H) as Float32Array, h, Wb, R, B, T, H, inflow());
      t.ok(bytesOf(dGa).equals(bytesOf(dGb)) && (ext.length === 0) === dGa.every((v) => v === 0), `${ext.length} time-major source(s)`);
    }
  });
}
