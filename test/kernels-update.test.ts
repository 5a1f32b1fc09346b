// The update's kernels in the backend seam (Kernels.adamStep, sumSlots, ...): every backend (js,
// wasm, native at each ISA level this CPU runs) gives the bits of kernels.ts's JavaScript twins,
// which compute each float32 operation in order; on odd lengths and offsets (every vector tail)
// and 1 to 3 slots. The sums of squares also agree with a plain float64 sum, and Adam with the
// float64 formula, within float32 rounding.

import t from 'tap';
import { AddressedKernels } from '../src/model/backend/addressed.js';
import { JsKernels } from '../src/model/backend/js.js';
import { nativeFactory, nativeIsas } from '../src/model/backend/native.js';
import { wasmFactory } from '../src/model/backend/wasm.js';
import type { Kernels } from '../src/model/backend/types.js';
import { adamStepJs, sgdStepJs, sumSlotsJs, sumSlotRowsJs, zeroRowsJs, sumSlotsAdamJs, sumSlotRowsAdamJs, adamUnmarkedJs, type AdamConsts } from '../src/model/kernels.js';
import { adamConsts } from '../src/optim/optim.js';
import { SharedArena } from '../src/util/shared.js';
import { Rng } from '../src/util/prng.js';

const rng = new Rng(23);
const arena = new SharedArena(0);
const backends: Kernels[] = [new JsKernels('float32'), new AddressedKernels('wasm', wasmFactory('simd128'), arena)];
for (const isa of nativeIsas()) {
  const f = nativeFactory(isa);
  if (!('error' in f)) backends.push(new AddressedKernels('native', f, arena));
}
const label = (k: Kernels) => `${k.name}/${k.isa}`;

const N = 1061; // 66·16 + 5: whole 16-, 8- and 4-lane vectors, then a tail
const randomArray = (n: number, scale = 1, zeros = 0) => {
  const a = arena.float32(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() < zeros ? 0 : scale * rng.normal();
  return a;
};
const copyOf = (a: Float32Array) => { const c = arena.float32(a.length); c.set(a); return c; };
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const consts = (step: number, scale: number, weightDecay = 0): AdamConsts =>
  adamConsts({ kind: 'adam', lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, momentum: 0, weightDecay }, step, scale);

/** p, m, v (v ≥ 0) and a gradient with zeros. */
function state() {
  const v = randomArray(N, 0.01);
  for (let i = 0; i < N; i++) v[i] = Math.abs(v[i]);
  return { p: randomArray(N), g: randomArray(N, 3, 0.2), m: randomArray(N, 0.1), v };
}
type State = ReturnType<typeof state>;
const clone = (s: State): State => ({ p: copyOf(s.p), g: copyOf(s.g), m: copyOf(s.m), v: copyOf(s.v) });

/** Slots with zeros and large and tiny values. */
const slotsOf = (S: number) => Array.from({ length: S }, () => randomArray(N, rng.uniform() < 0.5 ? 1e-3 : 10, 0.1));

t.test('every backend runs the update kernels', async (t) => {
  t.ok(backends.length >= 2, `backends: ${backends.map(label).join(', ')}`);
  t.ok(backends.some((k) => k.name === 'native') || nativeIsas().length === 0, 'native at every level the addon runs here');
});

t.test('adamStep: every backend = the JavaScript twin, bit for bit; ≈ float64 Adam', async (t) => {
  const s0 = state();
  for (const [o, n] of [[0, N], [3, N - 3], [5, 17], [1, 3]]) {
    for (const c of [consts(1, 0.5), consts(7, 1 / 3, 0.01)]) {
      const ref = clone(s0);
      adamStepJs(ref.p, ref.g, ref.m, ref.v, o, n, c);
      for (const k of backends) {
        const s = clone(s0);
        k.adamStep(s.p, s.g, s.m, s.v, o, n, c);
        t.same([bits(s.p), bits(s.m), bits(s.v)], [bits(ref.p), bits(ref.m), bits(ref.v)], `${label(k)} o=${o} n=${n}`);
      }
      // The twin against the float64 formula (PyTorch's Adam with AdamW's decay), element by element.
      let worst = 0;
      for (let i = o; i < o + n; i++) {
        const g = s0.g[i] * c.scale, m = c.b1 * s0.m[i] + c.c1 * g, v = c.b2 * s0.v[i] + c.c2 * g * g;
        const p = s0.p[i] * c.decay - (c.stepSize * m) / (Math.sqrt(v) / c.sqrtBc2 + c.eps);
        worst = Math.max(worst, Math.abs(ref.p[i] - p) / Math.max(1e-3, Math.abs(p)));
      }
      t.ok(worst < 1e-5, `float64 Adam within ${worst.toExponential(1)}`);
    }
  }
});

t.test('sgdStep: every backend = the JavaScript twin, bit for bit', async (t) => {
  const s0 = state();
  const ref = clone(s0);
  sgdStepJs(ref.p, ref.g, ref.m, 3, N - 3, 0.25, 0.9, 0.01, 1e-4);
  for (const k of backends) {
    const s = clone(s0);
    k.sgdStep(s.p, s.g, s.m, 3, N - 3, 0.25, 0.9, 0.01, 1e-4);
    t.same([bits(s.p), bits(s.m)], [bits(ref.p), bits(ref.m)], label(k));
  }
});

t.test('sumSlots and sumSlotRows: every backend = the twin (sums and Σ g²); Σ g² ≈ float64', async (t) => {
  for (const S of [1, 2, 3]) {
    const slots = slotsOf(S);
    for (const [o, n] of [[0, N], [7, N - 7], [2, 13], [4, 3]]) {
      const ref = arena.float32(N);
      const sq = sumSlotsJs(ref, o, slots, S, o, n);
      let plain = 0;
      for (let i = o; i < o + n; i++) plain += ref[i] * ref[i];
      t.ok(Math.abs(sq - plain) <= 1e-12 * plain, `S=${S} o=${o} n=${n}: Σ g² ${sq} ≈ ${plain}`);
      for (const k of backends) {
        const dst = arena.float32(N);
        const got = k.sumSlots(dst, o, slots, S, o, n);
        t.same({ sq: got, dst: bits(dst) }, { sq, dst: bits(ref) }, `${label(k)} S=${S} o=${o} n=${n}`);
      }
    }
    const width = 21, rows = arena.int32(5);
    rows.set([3, 0, 49, 17, 4]);
    for (const k of backends) {
      const ref = arena.float32(N), dst = arena.float32(N);
      const sq = sumSlotRowsJs(ref, slots, S, rows, 5, width, 0.5);
      t.same({ sq: k.sumSlotRows(dst, slots, S, rows, 5, width, 0.5), dst: bits(dst) }, { sq, dst: bits(ref) }, `${label(k)} rows, S=${S}`);
      k.zeroRows(dst, rows, 2, width);
      zeroRowsJs(ref, rows, 2, width);
      t.same(bits(dst), bits(ref), `${label(k)} zeroRows`);
      t.ok(dst.subarray(3 * width, 4 * width).every((x) => x === 0) && dst[49 * width] !== 0, 'the rows listed, and only those');
    }
  }
});

t.test('the fused slot sum + Adam: every backend = the twin, bit for bit', async (t) => {
  const c = consts(3, 1 / 7);
  for (const S of [0, 1, 2, 3]) {
    const slots = slotsOf(Math.max(1, S)), s0 = state();
    const ref = clone(s0);
    const sq = sumSlotsAdamJs(ref.p, ref.m, ref.v, 5, N - 5, slots, S, c);
    for (const k of backends) {
      const s = clone(s0);
      const got = k.sumSlotsAdam(s.p, s.m, s.v, 5, N - 5, slots, S, c);
      t.same({ sq: got, p: bits(s.p), m: bits(s.m), v: bits(s.v) }, { sq, p: bits(ref.p), m: bits(ref.m), v: bits(ref.v) }, `${label(k)} S=${S}`);
    }
  }
  const slots = slotsOf(2), s0 = state(), width = 19, rows = arena.int32(4), mark = arena.int32(N / width | 0);
  rows.set([2, 40, 0, 9]);
  for (const r of rows) mark[r] = 1;
  const ref = clone(s0);
  const sq = sumSlotRowsAdamJs(ref.p, ref.m, ref.v, slots, 2, rows, 4, width, 0.25, c);
  adamUnmarkedJs(ref.p, ref.m, ref.v, mark, 1, 50, width, c);
  for (const k of backends) {
    const s = clone(s0);
    const got = k.sumSlotRowsAdam(s.p, s.m, s.v, slots, 2, rows, 4, width, 0.25, c);
    k.adamUnmarked(s.p, s.m, s.v, mark, 1, 50, width, c);
    t.same({ sq: got, p: bits(s.p), m: bits(s.m), v: bits(s.v) }, { sq, p: bits(ref.p), m: bits(ref.m), v: bits(ref.v) }, `${label(k)} rows, unmarked`);
  }
  // adamUnmarked = adamStep on a zero gradient, on the unmarked rows only.
  const a = clone(s0), b = clone(s0), zero = arena.float32(N);
  adamUnmarkedJs(a.p, a.m, a.v, mark, 0, 50, width, c);
  for (let r = 0; r < 50; r++) if (!mark[r]) adamStepJs(b.p, zero, b.m, b.v, r * width, width, c);
  t.same(bits(a.p), bits(b.p), 'adamUnmarked is Adam with g = 0 on the unmarked rows');
});
