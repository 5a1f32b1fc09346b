// The LSTM and GRU gate kernels of every compiled backend (native at each ISA level, wasm SIMD128
// and relaxed) against the float64 JavaScript reference, on rows with a vector body and a tail
// (H = 37): within 4e-7 of the reference (σ and tanh of native/vmath.h are within 2e-7); every
// backend gives the same bits (native at every level, wasm: the same float32 operations in the
// same order, no fused multiply-add); a row computed alone gives the bits it gets inside a batch.
// Backends that do not load here are reported.

import t from 'tap';
import { JsKernels } from '../src/model/backend/js.js';
import { AddressedKernels } from '../src/model/backend/addressed.js';
import { nativeFactory, nativeIsas } from '../src/model/backend/native.js';
import { wasmFactory, relaxedSimdSupported } from '../src/model/backend/wasm.js';
import type { Kernels } from '../src/model/backend/types.js';
import type { RawFactory } from '../src/model/backend/raw.js';
import { SharedArena } from '../src/util/shared.js';
import * as lstm from '../src/model/cells/lstm.js';
import * as gru from '../src/model/cells/gru.js';
import { Rng } from '../src/util/prng.js';

const H = 37, ROWS = 5;
const rng = new Rng(17);
const rand = (n: number, s = 2) => Float64Array.from({ length: n }, () => (rng.uniform() - 0.5) * 2 * s);
// Inputs, float32-representable so every backend starts from the same values.
const f32s = (a: Float64Array) => Float64Array.from(a, Math.fround);
const IN = {
  g4: f32s(rand(ROWS * 4 * H, 4)), g3: f32s(rand(ROWS * 3 * H, 3)), gh3: f32s(rand(ROWS * 3 * H, 3)),
  cp: f32s(rand(ROWS * H)), hp: f32s(rand(ROWS * H, 1)), dh: f32s(rand(ROWS * H, 1)), dc: f32s(rand(ROWS * H, 1)), b3: f32s(rand(3 * H, 1)),
};

/** Runs the four kernels on `k`, `rows` rows starting at row `r0` of the inputs; returns every output. */
function runAll(k: Kernels, rows = ROWS, r0 = 0): Record<string, Float64Array> {
  const arr = (src: Float64Array | number, w = 1) => {
    const a = k.floats(typeof src === 'number' ? src : rows * w);
    if (typeof src !== 'number') a.set(src.subarray(r0 * w, (r0 + rows) * w));
    return a;
  };
  const g = arr(IN.g4, 4 * H), cp = arr(IN.cp, H), c = arr(rows * H), h = arr(rows * H);
  // A backend's fused kernel, else the cell's own loops (the js backend has none).
  const lstmForward = k.lstmForward?.bind(k) ?? lstm.lstmForward, lstmBackward = k.lstmBackward?.bind(k) ?? lstm.lstmBackward;
  const gruForward = k.gruForward?.bind(k) ?? gru.gruForward, gruBackward = k.gruBackward?.bind(k) ?? gru.gruBackward;
  lstmForward(g, 0, cp, 0, c, 0, h, 0, rows, H);
  const dg = arr(rows * 4 * H), dc = arr(IN.dc, H);
  lstmBackward(dg, 0, g, 0, cp, 0, c, 0, arr(IN.dh, H), 0, dc, 0, rows, H);
  const gi = arr(IN.g3, 3 * H), gh = arr(IN.gh3, 3 * H), b = k.floats(3 * H), hn = arr(rows * H);
  b.set(IN.b3);
  gruForward(gi, 0, gh, 0, b, arr(IN.hp, H), 0, hn, 0, rows, H);
  const dgi = arr(rows * 3 * H), dgh = arr(rows * 3 * H), dh = arr(IN.dh, H);
  gruBackward(dgi, 0, dgh, 0, gi, 0, gh, 0, arr(IN.hp, H), 0, dh, 0, rows, H);
  const out = { lstmGates: g, c, h, dg, dc, gruGates: gi, hGru: hn, dgi, dgh, dhGru: dh };
  return Object.fromEntries(Object.entries(out).map(([n, a]) => [n, Float64Array.from(a)]));
}

const ref = runAll(new JsKernels('float64'));

const backends: Array<[string, RawFactory]> = [];
for (const isa of nativeIsas()) {
  const f = nativeFactory(isa);
  if (!('error' in f)) backends.push([`native/${isa}`, f]);
}
if (backends.length === 0) t.comment('native kernels not tested here: not built');
backends.push(['wasm/simd128', wasmFactory('simd128')]);
if (relaxedSimdSupported()) backends.push(['wasm/relaxed-simd128', wasmFactory('relaxed-simd128')]);
else t.comment('wasm relaxed SIMD not tested here: this engine does not run it');

const results = new Map<string, Record<string, Float64Array>>();
for (const [name, f] of backends) {
  t.test(`${name}: gate kernels within 4e-7 of float64, a row alone = the row in a batch`, async (t) => {
    const k = new AddressedKernels(name.startsWith('native') ? 'native' : 'wasm', f, new SharedArena(1 << 20));
    const out = runAll(k);
    results.set(name, out);
    for (const [what, a] of Object.entries(out)) {
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - ref[what][i]) / Math.max(1, Math.abs(ref[what][i])));
      t.ok(worst < 4e-7, `${what}: max error ${worst.toExponential(2)}`);
    }
    const alone = runAll(k, 1, 3);
    let same = true;
    for (const [what, a] of Object.entries(alone)) {
      const w = a.length, all = out[what].subarray(3 * w, 4 * w);
      for (let i = 0; i < w; i++) same &&= Object.is(a[i], all[i]);
    }
    t.ok(same, 'row 3 alone: the same bits');
  });
}

t.test('every backend and level gives the same bits', async (t) => {
  const all = [...results.keys()];
  if (all.length < 2) { t.pass(`${all.length} backend here`); return; }
  const [first, ...rest] = all;
  for (const n of rest) {
    let diff = 0;
    for (const [what, a] of Object.entries(results.get(n)!)) a.forEach((v, i) => { if (!Object.is(v, results.get(first)![what][i])) diff++; });
    t.equal(diff, 0, `${n} = ${first}`);
  }
});
