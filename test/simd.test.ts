// The SIMD WebAssembly kernels (src/model/simd.wat) against their JavaScript twins in kernels.ts:
// the same float32 operations in the same order, so the same bits, for every length (the vector
// body and the n mod 4 tail), unaligned offsets, and 1 to 3 gradient slots.

import t from 'tap';
import { adamStep, sgdStep, sumSlots, sumSquares, addressTable, sumSlotRows, zeroRows, sumSlotsAdam, sumSlotRowsAdam, adamUnmarked, type AdamConsts } from '../src/model/kernels.js';
import { setSimd, simdFor } from '../src/model/simd.js';
import { SharedArena, arenaOf, memoryOf } from '../src/util/shared.js';
import { Rng } from '../src/util/prng.js';

const rng = new Rng(11);
const N = 1037;
const filled = (arena: SharedArena, scale = 1, zeros = 0) => {
  const a = arena.float32(N);
  for (let i = 0; i < N; i++) a[i] = rng.uniform() < zeros ? 0 : scale * rng.normal();
  return a;
};
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)));

/** Run `f` on copies of `arrays` with SIMD on and off; the arrays after each run. */
function both(arrays: Float32Array[], f: (xs: Float32Array[]) => number | void): { simd: Float32Array[]; js: Float32Array[]; rs: [unknown, unknown] } {
  const arena = new SharedArena(0);
  const copyOf = () => arrays.map((a) => { const c = arena.float32(a.length); c.set(a); return c; });
  const s = copyOf(), j = copyOf();
  t.ok(simdFor(s[0], s[s.length - 1]), 'the SIMD kernels are used for arrays in one arena');
  const rSimd = f(s);
  setSimd(false);
  try {
    t.equal(simdFor(j[0], j[j.length - 1]), null, 'and not when switched off');
    const rJs = f(j);
    return { simd: s, js: j, rs: [rSimd, rJs] };
  } finally {
    setSimd(true);
  }
}

t.test('adamStep: SIMD = JavaScript, bit for bit', async (t) => {
  const arena = new SharedArena(0);
  const p = filled(arena), g = filled(arena, 3, 0.3), m = filled(arena, 0.1), v = arena.float32(N);
  for (let i = 0; i < N; i++) v[i] = Math.abs(rng.normal()) * 0.01;
  for (const [o, n] of [[0, N], [1, 7], [3, 1], [5, 1000], [17, 3]] as const) {
    for (const decay of [1, 1 - 1e-3]) {
      const c = { scale: 0.37, b1: 0.9, c1: 0.1, b2: 0.999, c2: 1e-3, stepSize: 1e-3 / (1 - 0.9 ** 3), sqrtBc2: Math.sqrt(1 - 0.999 ** 3), eps: 1e-8, decay };
      const r = both([p, g, m, v], ([p, g, m, v]) => adamStep(p, g, m, v, o, n, c));
      for (let k = 0; k < 4; k++) t.same(bits(r.simd[k]), bits(r.js[k]), `array ${'pgmv'[k]}, offset ${o}, n ${n}, decay ${decay}`);
      t.not(bits(r.simd[0]).join(), bits(p).join(), 'the parameters moved');
    }
  }
});

t.test('sgdStep: SIMD = JavaScript, bit for bit', async (t) => {
  const arena = new SharedArena(0);
  const p = filled(arena), g = filled(arena, 2, 0.3), b = filled(arena, 0.1);
  for (const [o, n] of [[0, N], [2, 9], [4, 2]] as const) {
    for (const wd of [0, 0.01]) {
      const r = both([p, g, b], ([p, g, b]) => sgdStep(p, g, b, o, n, 0.5, 0.9, 0.01, wd));
      for (let k = 0; k < 3; k++) t.same(bits(r.simd[k]), bits(r.js[k]), `array ${'pgb'[k]}, offset ${o}, n ${n}, wd ${wd}`);
    }
  }
});

t.test('sumSlots: SIMD = JavaScript, bit for bit, and Σ dst² = sumSquares(dst)', async (t) => {
  const src = new SharedArena(0);
  const slots = [filled(src), filled(src, 2), filled(src, 0.5, 0.5)];
  for (const S of [1, 2, 3]) {
    for (const [o, n] of [[0, N], [1, 6], [3, 3], [8, 1021]] as const) {
      const dst = filled(src);
      const r = both([dst, ...slots], ([dst, ...sl]) => {
        const table = arenaOf(dst)!.int32(3);
        addressTable(table, sl);
        return sumSlots(dst, o, sl, S, table, o, n);
      });
      t.same(bits(r.simd[0]), bits(r.js[0]), `dst, S ${S}, offset ${o}, n ${n}`);
      t.equal(r.rs[0], r.rs[1], `Σ dst², S ${S}, offset ${o}, n ${n}`);
      t.equal(r.rs[0], sumSquares(r.simd[0], o, n), 'equals sumSquares of the result');
      let exact = 0;
      for (let i = o; i < o + n; i++) {
        let x = slots[0][i];
        for (let k = 1; k < S; k++) x = Math.fround(x + slots[k][i]);
        t.equal(r.simd[0][i], x, `element ${i}`) || (exact = NaN);
        exact += x * x;
        if (i > o + 8) break;
      }
      for (let i = 0; i < o; i++) if (r.simd[0][i] !== dst[i]) t.fail(`element ${i} before the range changed`);
    }
  }
});

t.test('arrays outside one shared memory take the JavaScript path; addressTable refuses them', async (t) => {
  const a = new SharedArena(0).float32(8), b = new SharedArena(0).float32(8);
  t.equal(simdFor(a, b), null);
  t.equal(simdFor(new Float32Array(8), new Float32Array(8)), null);
  t.ok(memoryOf(a) instanceof WebAssembly.Memory);
  t.throws(() => addressTable(new SharedArena(0).int32(1), [a]), /shared memory/);
});

t.test('an arena grows, and views made before stay valid', async (t) => {
  const arena = new SharedArena(0);
  const first = arena.float32(10);
  first[3] = 7;
  const big = arena.float32(300_000); // past the first 64 KiB page
  big[299_999] = 1;
  t.equal(first[3], 7);
  t.equal(arenaOf(first), arena);
  t.equal(arenaOf(big), arena);
  t.equal(big.byteOffset % 64, 0, '64-byte aligned');
});

t.test('sumSlotRows and zeroRows: SIMD and JavaScript give the same bits', async (t) => {
  const width = 13, V = 40, S = 2;
  const run = (simd: boolean) => {
    setSimd(simd);
    try {
      const arena = new SharedArena(0);
      const dst = arena.float32(V * width), rows = arena.int32(V), table = arena.int32(S);
      const slots = [arena.float32(V * width), arena.float32(V * width)];
      const r = new Rng(4);
      for (const s of slots) for (let i = 0; i < s.length; i++) s[i] = r.normal();
      for (let i = 0; i < dst.length; i++) dst[i] = 9;
      addressTable(table, slots);
      rows.set([7, 2, 39, 11, 0]);
      const sq = sumSlotRows(dst, slots, S, table, rows, 5, width, 0.25);
      rows.set([3, 39], 0);
      zeroRows(dst, rows, 2, width);
      return { sq, dst: Float32Array.from(dst) };
    } finally {
      setSimd(true);
    }
  };
  const a = run(true), b = run(false);
  t.equal(a.sq, b.sq, `Σ squares ${a.sq}`);
  t.ok(Buffer.from(a.dst.buffer).equals(Buffer.from(b.dst.buffer)), 'the same rows summed and zeroed');
  t.equal(a.dst[3 * width], 0, 'row 3 zeroed');
  t.equal(a.dst[39 * width + 12], 0, 'row 39 zeroed after being summed');
  t.equal(a.dst[5 * width], 9, 'rows not listed untouched');
});

t.test('threads allocate from one arena without overlapping', async (t) => {
  const { Worker } = await import('node:worker_threads');
  const arena = new SharedArena(0);
  // The compiled SharedArena (npm test builds first), as the worker threads of a run use it.
  const mod = new URL('../dist/src/util/shared.js', import.meta.url).href;
  const code = `const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.mod).then(({ SharedArena }) => {
      const arena = SharedArena.attach(workerData.memory);
      parentPort.postMessage(Array.from({ length: 200 }, () => arena.float32(250).byteOffset));
    });`;
  // Two threads and this one allocate at once; every range must be distinct.
  const ws = [0, 1].map(() => new Worker(code, { eval: true, workerData: { memory: arena.memory, mod } }));
  const mine = Array.from({ length: 200 }, () => arena.float32(250).byteOffset);
  const theirs = await Promise.all(ws.map((w) => new Promise<number[]>((res) => w.once('message', res))));
  const all = [...mine, ...theirs.flat()].sort((a, b) => a - b);
  let overlap = 0;
  for (let i = 1; i < all.length; i++) if (all[i] - all[i - 1] < 1000) overlap++;
  t.equal(overlap, 0, `${all.length} allocations, none overlapping`);
  await Promise.all(ws.map((w) => w.terminate()));
});

// The fused slot sum + Adam of a step without clipping (and the zero-gradient Adam of the token
// rows no slot touched) against the two-pass path they replace: sumSlots into a gradient, then
// adamStep on it. Every array bit for bit, and Σ g², with SIMD and with the JavaScript twins.
t.test('sumSlotsAdam, sumSlotRowsAdam, adamUnmarked = sumSlots / sumSlotRows then adamStep, bit for bit (SIMD and JavaScript)', async (t) => {
  const width = 13, V = 40, dense = 103, size = V * width + dense;
  const c: AdamConsts = { scale: 1 / 37, b1: 0.9, c1: 0.1, b2: 0.999, c2: 1e-3, stepSize: 1e-3 / (1 - 0.9 ** 5), sqrtBc2: Math.sqrt(1 - 0.999 ** 5), eps: 1e-8, decay: 1 - 1e-4 };
  const touched = [7, 2, 39, 11, 0, 20, 21];
  for (const S of [0, 1, 2, 3]) for (const simd of [true, false]) {
    setSimd(simd);
    try {
      const r = new Rng(5 + S);
      const arena = new SharedArena(0);
      const arrays = () => {
        const p = arena.float32(size), m = arena.float32(size), v = arena.float32(size);
        return { p, m, v };
      };
      const fused = arrays(), ref = arrays();
      for (let i = 0; i < size; i++) {
        fused.p[i] = ref.p[i] = r.normal();
        fused.m[i] = ref.m[i] = i % 5 === 0 ? 0 : 0.01 * r.normal();
        fused.v[i] = ref.v[i] = i % 5 === 0 ? 0 : 1e-4 * Math.abs(r.normal());
      }
      const slots = Array.from({ length: 3 }, () => arena.float32(size));
      const table = arena.int32(3), rows = arena.int32(V), mark = arena.int32(V);
      addressTable(table, slots);
      // Slots nonzero only in the dense part and the touched rows, as the workers keep them.
      for (const sl of slots) {
        for (const row of touched) for (let i = row * width; i < (row + 1) * width; i++) sl[i] = r.normal();
        for (let i = V * width; i < size; i++) sl[i] = r.normal();
      }
      rows.set(touched);
      for (const row of touched) mark[row] = 1;

      // reference: the gradient summed, then Adam over everything
      const g = arena.float32(size);
      const refSq = S === 0 ? 0 : sumSlotRows(g, slots, S, table, rows, touched.length, width, sumSlots(g, V * width, slots, S, table, V * width, dense));
      adamStep(ref.p, g, ref.m, ref.v, 0, size, c);

      // fused: the dense part, the touched rows, then the other rows (in two ranges, as two threads would)
      let sq = sumSlotsAdam(fused.p, fused.m, fused.v, V * width, dense, slots, S, table, c);
      sq = sumSlotRowsAdam(fused.p, fused.m, fused.v, slots, S, table, rows, touched.length, width, sq, c);
      adamUnmarked(fused.p, fused.m, fused.v, mark, 0, 17, width, c);
      adamUnmarked(fused.p, fused.m, fused.v, mark, 17, V, width, c);
      const what = `S ${S}, ${simd ? 'SIMD' : 'JavaScript'}`;
      if (S > 0) t.equal(sq, refSq, `Σ g² (${what})`);
      for (const k of ['p', 'm', 'v'] as const) {
        t.ok(Buffer.from(fused[k].buffer, fused[k].byteOffset, fused[k].byteLength).equals(Buffer.from(ref[k].buffer, ref[k].byteOffset, ref[k].byteLength)), `${k} bit-identical (${what})`);
      }
    } finally {
      setSimd(true);
    }
  }
});
