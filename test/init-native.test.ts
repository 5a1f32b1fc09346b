// The orthogonal init on the native addon (native/orthogonal.h: Stewart's algorithm, columns side
// by side in SIMD lanes) gives the JavaScript init's bits: initParams with engine 'native' against
// engine 'js' (init.ts's `reflectColumns`, itself checked against plain loops in
// init-scale.test.ts), for sizes around the blocks' widths, every gate count, bidirectional and
// stacked layers, every ISA level this CPU runs, any split of the columns into calls, float32 and
// float64 weights; and the result is orthogonal. Needs the addon (`npm run build`); skipped without it.

import t, { type Test } from 'tap';
import { makeLayout, allocParams, type Params } from '../src/model/params.js';
import { initParams, initParamsAsync, type InitOptions } from '../src/model/init.js';
import type { ModelSpec } from '../src/model/spec.js';
import { nativeIsas, nativeOrthogonal } from '../src/model/backend/native.js';
import { Rng } from '../src/util/prng.js';
import { orthoError } from './helpers/orthogonal.js';

const gs = nativeOrthogonal();
if (!gs) t.skip('native addon not built');

const base: InitOptions = { recurrentInit: 'orthogonal', recurrentScale: 1, init: 'standard', forgetBias: 1, chrono: 0 };
const bytes = (p: Params) => Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength);

/** Both engines from the same seed: the same bits, and the generator left in the same state. */
function same(t: Test, spec: ModelSpec, opts: InitOptions, what: string, dtype: 'float32' | 'float64' = 'float32'): void {
  const p = allocParams(makeLayout(spec), dtype), ref = allocParams(makeLayout(spec), dtype);
  const rng = new Rng(spec.H, 0x5eed), refRng = new Rng(spec.H, 0x5eed);
  initParams(p, spec, rng, { ...opts, engine: 'native' });
  initParams(ref, spec, refRng, { ...opts, engine: 'js' });
  t.ok(bytes(p).equals(bytes(ref)), `${what}: the JavaScript init's bits`);
  t.same(rng.getState(), refRng.getState(), `${what}: the generator ends in the same state`);
}

const cells = [['rnn', 1], ['gru', 3], ['lstm', 4]] as const;

t.test('native = js, bit for bit: n = 1, 2, 3, 7, 8, 9, 31..33, 64, 65, 129, 300 and G = 1, 3, 4', async (t) => {
  for (const H of [1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 65, 129, 300]) {
    for (const [cell, G] of cells) {
      if (H === 300 && cell !== 'rnn') continue; // the largest size once
      same(t, { cell, task: 'many-to-many', V: 6, H, C: 6, E: 0, layers: 1 }, base, `${cell} (G=${G}) H=${H}`);
    }
  }
});

t.test('native = js: bidirectional, stacked (groups across layers and directions), gain, float64, init options', async (t) => {
  same(t, { cell: 'lstm', task: 'many-to-many', V: 9, H: 33, C: 9, E: 5, layers: 2, bidirectional: true }, base, 'bidirectional 2-layer LSTM (16 blocks)');
  same(t, { cell: 'gru', task: 'many-to-one', V: 9, H: 20, C: 3, E: 0, layers: 3, bidirectional: true }, base, 'bidirectional 3-layer GRU (18 blocks)');
  same(t, { cell: 'gru', task: 'many-to-many', V: 9, H: 17, C: 9, E: 4, layers: 2 }, { ...base, recurrentScale: 0.9, chrono: 40 }, 'GRU 2 layers, gain 0.9, chrono');
  same(t, { cell: 'rnn', task: 'many-to-many', V: 9, H: 65, C: 9, E: 0, layers: 5 }, base, 'RNN 5 layers');
  same(t, { cell: 'lstm', task: 'many-to-many', V: 9, H: 13, C: 9, E: 0, layers: 2 }, { ...base, recurrentScale: 1.3 }, 'LSTM float64, gain 1.3', 'float64');
});

t.test('every ISA level this CPU runs gives the same bits', async (t) => {
  const saved = process.env.RNN_TRAINER_NATIVE_ISA;
  t.teardown(() => { if (saved === undefined) delete process.env.RNN_TRAINER_NATIVE_ISA; else process.env.RNN_TRAINER_NATIVE_ISA = saved; });
  for (const isa of nativeIsas()) {
    process.env.RNN_TRAINER_NATIVE_ISA = isa;
    t.equal(nativeOrthogonal()!.isa, isa, `${isa} selected`);
    same(t, { cell: 'lstm', task: 'many-to-many', V: 6, H: 37, C: 6, E: 0, layers: 2, bidirectional: true }, base, `${isa}: bidirectional 2-layer LSTM`);
    same(t, { cell: 'gru', task: 'many-to-many', V: 6, H: 31, C: 6, E: 0, layers: 1 }, base, `${isa}: GRU`);
  }
});

/** The Householder vectors and column factors of a random n×n matrix, as init.ts makes them (init-scale.test.ts checks those against scipy's steps). */
function householders(n: number, seed: number): { xs: Float64Array; sg: Float64Array } {
  const xs = new Float64Array((n * (n + 1)) / 2), sg = new Float64Array(n);
  new Rng(seed).fillNormalPairs(xs);
  for (let k = 0, at = 0; k < n; at += n - k, k++) {
    const m = n - k, x0 = xs[at], d = x0 < 0 ? -1 : 1;
    if (m === 1) { sg[k] = d * 0.7; break; }
    let norm2 = 0;
    for (let i = at; i < at + m; i++) norm2 += xs[i] * xs[i];
    xs[at] = x0 + d * Math.sqrt(norm2);
    const scale = Math.sqrt((norm2 - x0 * x0 + xs[at] * xs[at]) / 2);
    for (let i = at; i < at + m; i++) xs[i] /= scale;
    sg[k] = -d * 0.7;
  }
  return { xs, sg };
}

t.test('orthogonalColumns: any split into calls, float32 or float64 out, every level: the same bits', async (t) => {
  const saved = process.env.RNN_TRAINER_NATIVE_ISA;
  t.teardown(() => { if (saved === undefined) delete process.env.RNN_TRAINER_NATIVE_ISA; else process.env.RNN_TRAINER_NATIVE_ISA = saved; });
  for (const [n, pieces] of [[1, [1]], [2, [1, 1]], [9, [9]], [23, [5, 0, 11, 7]], [70, [3, 61, 1, 5]], [100, [64, 36]], [130, [1, 128, 1]]] as const) {
    const { xs, sg } = householders(n, 100 + n);
    const whole = new Float64Array(n * n);
    delete process.env.RNN_TRAINER_NATIVE_ISA;
    nativeOrthogonal()!.columns(xs, n, sg, whole, 0, n);
    for (const isa of nativeIsas()) {
      process.env.RNN_TRAINER_NATIVE_ISA = isa;
      const gs = nativeOrthogonal()!;
      const q = new Float64Array(n * n), f = new Float32Array(n * n);
      let j0 = 0;
      for (const m of pieces) { gs.columns(xs, n, sg, q, j0, j0 + m); gs.columns(xs, n, sg, f, j0, j0 + m); j0 += m; }
      t.ok(Buffer.from(q.buffer).equals(Buffer.from(whole.buffer)), `n=${n} ${isa}, calls ${pieces.join('+')}: the one call's bits`);
      t.ok(Buffer.from(f.buffer).equals(Buffer.from(Float32Array.from(whole).buffer)), `n=${n} ${isa}: float32 out = those values rounded`);
    }
    const worst = orthoError(whole, n, 0.7);
    t.ok(worst < 1e-14, `n=${n}: orthogonal (times 0.7): ${worst.toExponential(1)}`);
  }
  const gs = nativeOrthogonal()!, { xs, sg } = householders(3, 1);
  t.throws(() => gs.columns(xs, 3, sg, new Float64Array(8), 0, 3), /out n·n/, 'a wrong size is refused');
  t.throws(() => gs.columns(xs.subarray(1), 3, sg, new Float64Array(9), 0, 3), /xs must hold n\(n\+1\)\/2/, 'a short xs is refused');
  t.throws(() => gs.columns(xs, 3, sg, new Float64Array(9), 2, 4), /0 ≤ j0 ≤ j1 ≤ n/, 'columns past n are refused');
  t.throws(() => gs.columns(xs, 3, sg, new Int32Array(9) as unknown as Float64Array, 0, 3), /expected \(xs: Float64Array/, 'an integer array is refused');
});

t.test('the native init is orthogonal: QᵀQ = I to 1e-12 (times the gain²)', async (t) => {
  const H = 129, gain = 0.8;
  const spec: ModelSpec = { cell: 'gru', task: 'many-to-many', V: 4, H, C: 4, E: 0, layers: 1 };
  const p = allocParams(makeLayout(spec), 'float64');
  initParams(p, spec, new Rng(3), { ...base, recurrentScale: gain, engine: 'native' });
  for (let g = 0; g < 3; g++) {
    const Q = p.layers[0].Whh.subarray(g * H * H, (g + 1) * H * H);
    const worst = orthoError(Q, H, gain);
    t.ok(worst < 1e-12, `block ${g}: max |QᵀQ − gain²·I| = ${worst.toExponential(1)}`);
  }
});

t.test('initParamsAsync on the native engine: same bits; an AbortSignal stops it within a slice', async (t) => {
  const spec: ModelSpec = { cell: 'lstm', task: 'many-to-many', V: 10, H: 70, C: 10, E: 4, layers: 2 };
  const p = allocParams(makeLayout(spec), 'float32'), ref = allocParams(makeLayout(spec), 'float32');
  t.equal(await initParamsAsync(p, spec, new Rng(5), base, undefined, 0), true, 'ran to the end (yielding at every piece)');
  initParams(ref, spec, new Rng(5), { ...base, engine: 'js' });
  t.ok(bytes(p).equals(bytes(ref)), 'same bits as the JavaScript init');

  // Three 2000 × 2000 blocks: about a second of CPU; stopped after 150 ms (in the first block's columns).
  const big: ModelSpec = { cell: 'gru', task: 'many-to-many', V: 4, H: 2000, C: 4, E: 0, layers: 1 };
  const ac = new AbortController();
  const bp = allocParams(makeLayout(big), 'float32');
  let abortedAt = 0;
  const done = initParamsAsync(bp, big, new Rng(5), base, ac.signal);
  setTimeout(() => { abortedAt = performance.now(); ac.abort(); }, 150);
  t.equal(await done, false, 'stopped');
  const late = performance.now() - abortedAt;
  t.ok(abortedAt > 0 && late < 500, `returned ${late.toFixed(0)} ms after the abort`);
});
