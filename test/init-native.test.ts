// The orthogonal init on the native addon (native/orthogonal.h: gate blocks side by side in SIMD
// lanes) gives the JavaScript init's bits: initParams with engine 'native' against engine 'js'
// (init.ts's `orthogonal`, itself checked against the plain loops in init-scale.test.ts), for
// sizes around the vector widths and the two-row pipeline's edges, every gate count, bidirectional
// and stacked layers, every ISA level this CPU runs, any split of the rows into calls; and the
// result is orthogonal. Needs the addon (`npm run build`); skipped without it.

import t, { type Test } from 'tap';
import { makeLayout, allocParams, type Params } from '../src/model/params.js';
import { initParams, initParamsAsync, type InitOptions } from '../src/model/init.js';
import type { ModelSpec } from '../src/model/spec.js';
import { nativeIsas, nativeOrthogonal } from '../src/model/backend/native.js';
import { Rng } from '../src/util/prng.js';

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

t.test('native = js, bit for bit: n = 1, 2, 3, 7, 64, 129, 300 and G = 1, 3, 4', async (t) => {
  for (const H of [1, 2, 3, 7, 64, 129, 300]) {
    for (const [cell, G] of cells) {
      if (H === 300 && cell === 'gru') continue; // the largest size once per group width: 1 and 4 (3 runs as 4)
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

/** W Gaussian n×n matrices with rows R apart as drawn (row i: the W matrices' rows i one after another), and each one's JavaScript result. */
function interleaved(n: number, W: number, R: number, seed: number): { q: Float64Array; ref: Float64Array[] } {
  const q = new Float64Array(n * R), ref: Float64Array[] = [];
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-many', V: 2, H: n, C: 2, E: 0, layers: 1 };
  for (let w = 0; w < W; w++) {
    const p = allocParams(makeLayout(spec), 'float64');
    initParams(p, spec, new Rng(seed + w), { ...base, engine: 'js' });
    ref.push(Float64Array.from(p.layers[0].Whh));
    const r = new Rng(seed + w);
    for (let i = 0; i < p.layers[0].Wih.length; i++) r.uniform(); // what initParams draws before W_hh
    for (let i = 0; i < n; i++) r.fillNormal(q, i * R + w * n, i * R + (w + 1) * n);
  }
  return { q, ref };
}

t.test('orthogonalRows: any W, row stride and split into calls gives the same bits', async (t) => {
  for (const [n, W, R, pieces] of [[9, 1, 9, [9]], [9, 2, 18, [1, 1, 1, 1, 1, 1, 1, 1, 1]], [23, 4, 96, [5, 0, 11, 7]], [23, 8, 184, [22, 1]], [12, 16, 200, [3, 9]]] as const) {
    const { q, ref } = interleaved(n, W, R, 100 + n + W);
    let i0 = 0;
    for (const m of pieces) { gs!.rows(q, n, W, R, i0, i0 + m); i0 += m; }
    for (let w = 0; w < W; w++) {
      const got = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) got[i * n + k] = q[i * R + k * W + w];
      t.ok(Buffer.from(got.buffer).equals(Buffer.from(ref[w].buffer)), `n=${n} W=${W} R=${R} calls ${pieces.join('+')}: matrix ${w}`);
    }
  }
  t.throws(() => gs!.rows(new Float64Array(10), 3, 1, 3, 0, 3), /q must hold n rows/, 'a wrong size is refused');
  t.throws(() => gs!.rows(new Float64Array(9 * 3), 3, 3, 9, 0, 3), /W must be 1, 2, 4, 8 or 16/, 'W = 3 is refused');
  t.throws(() => gs!.rows(new Float64Array(9), 3, 1, 3, 2, 4), /0 ≤ i0 ≤ i1 ≤ n/, 'rows past n are refused');
});

t.test('the native init is orthogonal: QᵀQ = I to 1e-12 (times the gain²)', async (t) => {
  const H = 129, gain = 0.8;
  const spec: ModelSpec = { cell: 'gru', task: 'many-to-many', V: 4, H, C: 4, E: 0, layers: 1 };
  const p = allocParams(makeLayout(spec), 'float64');
  initParams(p, spec, new Rng(3), { ...base, recurrentScale: gain, engine: 'native' });
  for (let g = 0; g < 3; g++) {
    const Q = p.layers[0].Whh.subarray(g * H * H, (g + 1) * H * H);
    let worst = 0;
    for (let a = 0; a < H; a++) {
      for (let b = 0; b < H; b++) {
        let s = 0;
        for (let i = 0; i < H; i++) s += Q[i * H + a] * Q[i * H + b];
        worst = Math.max(worst, Math.abs(s - (a === b ? gain * gain : 0)));
      }
    }
    t.ok(worst < 1e-12, `block ${g}: max |QᵀQ − gain²·I| = ${worst.toExponential(1)}`);
  }
});

t.test('initParamsAsync on the native engine: same bits; an AbortSignal stops it within a slice', async (t) => {
  const spec: ModelSpec = { cell: 'lstm', task: 'many-to-many', V: 10, H: 70, C: 10, E: 4, layers: 2 };
  const p = allocParams(makeLayout(spec), 'float32'), ref = allocParams(makeLayout(spec), 'float32');
  t.equal(await initParamsAsync(p, spec, new Rng(5), base, undefined, 0), true, 'ran to the end (yielding at every piece)');
  initParams(ref, spec, new Rng(5), { ...base, engine: 'js' });
  t.ok(bytes(p).equals(bytes(ref)), 'same bits as the JavaScript init');

  // Four 1500 × 1500 blocks: seconds of Gram-Schmidt even side by side; stopped after 30 ms of it.
  const big: ModelSpec = { cell: 'lstm', task: 'many-to-many', V: 4, H: 1500, C: 4, E: 0, layers: 1 };
  const ac = new AbortController();
  const bp = allocParams(makeLayout(big), 'float32');
  let abortedAt = 0;
  const done = initParamsAsync(bp, big, new Rng(5), base, ac.signal);
  // The draws come first (about 0.5 s); abort once the Gram-Schmidt has been running a while.
  setTimeout(() => { abortedAt = performance.now(); ac.abort(); }, 1500);
  t.equal(await done, false, 'stopped');
  const late = performance.now() - abortedAt;
  t.ok(abortedAt > 0 && late < 500, `returned ${late.toFixed(0)} ms after the abort`);
});
