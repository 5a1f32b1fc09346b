// The native kernels (native/kernels.cc through src/model/backend/native.ts) against plain float64
// JavaScript, at every ISA level this CPU runs: sgemm on odd shapes (tails in M, N and K, K past
// the K block, strided and transposed operands, beta, bias, tanh), gemmPacked = gemm and every
// level = every other bit for bit, a row or column computed alone = the same inside a larger
// product, the elementwise kernels exactly as float32 arithmetic, and two worker threads at once.

import t from 'tap';
import { Worker } from 'node:worker_threads';
import { nativeAddonPath, nativeFactory, nativeIsas, type NativeIsa } from '../src/model/backend/native.js';
import type { RawKernels } from '../src/model/backend/raw.js';
import { factoryOf, resolveKernels } from '../src/model/backend/index.js';
import { Rng } from '../src/util/prng.js';

const NONE = -1, TANH = 1;
const f32 = Math.fround;
const rng = new Rng(7);

/** A shared memory with a bump allocator (64-byte aligned, plus `skew` floats to test unaligned addresses). */
class Mem {
  readonly memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  private top = 64;
  f32(n: number, skew = 0): Float32Array {
    const at = Math.ceil(this.top / 64) * 64 + 4 * skew;
    this.top = at + 4 * Math.max(1, n);
    const have = this.memory.buffer.byteLength;
    if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / 65536));
    return new Float32Array(this.memory.buffer, at, n);
  }
  i32(n: number): Int32Array {
    const f = this.f32(n);
    return new Int32Array(f.buffer, f.byteOffset, n);
  }
  random(n: number, skew = 0): Float32Array {
    const f = this.f32(n, skew);
    for (let i = 0; i < n; i++) f[i] = rng.normal();
    return f;
  }
}

function kernelsAt(isa: NativeIsa, memory: WebAssembly.Memory): RawKernels {
  const f = nativeFactory(isa);
  if ('error' in f) throw new Error(f.error);
  return f.create(memory, 0);
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = bits(a), y = bits(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

type Layout = 'row' | 'trans' | 'padded';
interface Case { M: number; N: number; K: number; la: Layout; lb: Layout; beta: 0 | 1; bias: boolean; epi: 0 | 1 }

/** Strides of an R×C operand stored in layout l: [rs, cs, floats]. */
function strides(l: Layout, R: number, C: number): [number, number, number] {
  if (l === 'row') return [C, 1, R * C];
  if (l === 'trans') return [1, R, R * C];
  return [C + 3, 1, R * (C + 3)]; // rows with 3 floats of padding
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 5, 7], [8, 32, 16], [13, 70, 300], [33, 129, 257], [64, 256, 256], [50, 96, 600], [5, 40, 0],
];
const LAYOUTS: Layout[] = ['row', 'trans', 'padded'];
const CASES: Case[] = [];
for (const [M, N, K] of SHAPES) {
  for (const la of LAYOUTS) {
    for (const lb of LAYOUTS) {
      const i = CASES.length;
      CASES.push({ M, N, K, la, lb, beta: (i & 1) as 0 | 1, bias: (i & 2) !== 0, epi: ((i >> 2) & 1) as 0 | 1 });
    }
  }
}

/** Operands of a case, in memory. C is M×ldc with ldc = N + 2, its padding set to a sentinel. */
function operands(mem: Mem, c: Case) {
  const [rsA, csA, na] = strides(c.la, c.M, c.K), [rsB, csB, nb] = strides(c.lb, c.K, c.N);
  const ldc = c.N + 2;
  const C0 = mem.random(c.M * ldc);
  for (let m = 0; m < c.M; m++) C0.fill(99, m * ldc + c.N, m * ldc + ldc);
  return { A: mem.random(na, 1), rsA, csA, B: mem.random(nb), rsB, csB, bias: mem.random(c.N), C0, ldc };
}
type Ops = ReturnType<typeof operands>;

/** float64 reference and the error bound for each C element: 1e-5 of the magnitudes summed. */
function reference(c: Case, o: Ops): { ref: Float64Array; tol: Float64Array } {
  const ref = new Float64Array(c.M * c.N), tol = new Float64Array(c.M * c.N);
  for (let m = 0; m < c.M; m++) {
    for (let n = 0; n < c.N; n++) {
      let s = c.beta ? o.C0[m * o.ldc + n] : 0, mag = Math.abs(s);
      for (let k = 0; k < c.K; k++) {
        const p = o.A[m * o.rsA + k * o.csA] * o.B[k * o.rsB + n * o.csB];
        s += p;
        mag += Math.abs(p);
      }
      if (c.bias) { s += o.bias[n]; mag += Math.abs(o.bias[n]); }
      if (c.epi === TANH) s = Math.tanh(s);
      ref[m * c.N + n] = s;
      tol[m * c.N + n] = 1e-5 * mag + 3e-6 * Math.abs(s) + 1e-30;
    }
  }
  return { ref, tol };
}

/** C after gemm (or gemmPacked via bp) on a fresh copy of C0, for rows [m0, m1) and columns [n0, n1). */
function product(k: RawKernels, mem: Mem, c: Case, o: Ops, packed: boolean, m0 = 0, m1 = c.M, n0 = 0, n1 = c.N): Float32Array {
  const C = mem.f32(o.C0.length);
  C.set(o.C0);
  const at = (x: Float32Array, i: number) => x.byteOffset + 4 * i;
  const cOff = at(C, m0 * o.ldc + n0), aOff = at(o.A, m0 * o.rsA), bias = c.bias ? at(o.bias, n0) : NONE;
  if (packed) {
    const bp = mem.f32(k.packedBytes(c.K, n1 - n0) / 4);
    k.packB(bp.byteOffset, at(o.B, n0 * o.csB), o.rsB, o.csB, c.K, n1 - n0);
    k.gemmPacked(cOff, o.ldc, aOff, o.rsA, o.csA, bp.byteOffset, m1 - m0, n1 - n0, c.K, c.beta, bias, c.epi);
  } else {
    k.gemm(cOff, o.ldc, aOff, o.rsA, o.csA, at(o.B, n0 * o.csB), o.rsB, o.csB, m1 - m0, n1 - n0, c.K, c.beta, bias, c.epi);
  }
  return C;
}

const rows = (C: Float32Array, ldc: number, m0: number, m1: number, n0: number, n1: number) => {
  const out = new Float32Array((m1 - m0) * (n1 - n0));
  for (let m = m0; m < m1; m++) out.set(C.subarray(m * ldc + n0, m * ldc + n1), (m - m0) * (n1 - n0));
  return out;
};

function run(): void {
  const isas = nativeIsas();
  t.ok(isas.length > 0 && isas[isas.length - 1] === 'generic', `levels on this CPU: ${isas.join(', ')}`);
  const mem = new Mem();
  const ops = CASES.map((c) => operands(mem, c));
  const results = new Map<string, Float32Array[]>(); // isa → C of each case

  for (const isa of isas) {
    t.test(`sgemm at ${isa}`, async (t) => {
      const f = nativeFactory(isa);
      if ('error' in f) throw new Error(f.error);
      t.equal(f.isa, isa);
      t.equal(f.scratchBytes, 0, 'no scratch in the memory');
      const k = f.create(mem.memory, 0);
      t.equal(k.isa, isa);
      const out: Float32Array[] = [];
      for (const [i, c] of CASES.entries()) {
        const o = ops[i], name = `M ${c.M} N ${c.N} K ${c.K}, A ${c.la}, B ${c.lb}, beta ${c.beta}, bias ${c.bias}, epi ${c.epi}`;
        const C = product(k, mem, c, o, false);
        out.push(C);
        const { ref, tol } = reference(c, o);
        let bad = 0, sentinel = true;
        for (let m = 0; m < c.M; m++) {
          for (let n = 0; n < o.ldc; n++) {
            const got = C[m * o.ldc + n];
            if (n >= c.N) sentinel &&= got === 99;
            else if (!(Math.abs(got - ref[m * c.N + n]) <= tol[m * c.N + n])) bad++;
          }
        }
        t.equal(bad, 0, `${name}: within 1e-5 of float64`);
        t.ok(sentinel, `${name}: C's padding untouched`);
        t.ok(sameBits(product(k, mem, c, o, true), C), `${name}: gemmPacked = gemm, bit for bit`);
        // A row alone, a column range alone: the same bits as inside the whole product.
        for (const m of new Set([c.M - 1, c.M >> 1])) {
          for (const packed of [false, true]) {
            const alone = product(k, mem, c, o, packed, m, m + 1);
            t.ok(sameBits(rows(alone, o.ldc, m, m + 1, 0, c.N), rows(C, o.ldc, m, m + 1, 0, c.N)), `${name}: row ${m} alone (packed ${packed})`);
          }
        }
        const n0 = Math.min(c.N - 1, 5);
        const cols = product(k, mem, c, o, false, 0, c.M, n0, c.N);
        t.ok(sameBits(rows(cols, o.ldc, 0, c.M, n0, c.N), rows(C, o.ldc, 0, c.M, n0, c.N)), `${name}: columns ${n0}.. alone`);
      }
      results.set(isa, out);
    });
  }

  t.test('every ISA level gives the same bits', async (t) => {
    const [first, ...rest] = isas;
    for (const isa of rest) {
      const diff = CASES.filter((_, i) => !sameBits(results.get(isa)![i], results.get(first)![i])).length;
      t.equal(diff, 0, `${isa} = ${first} on all ${CASES.length} products`);
    }
  });

  for (const isa of isas) {
    t.test(`elementwise kernels at ${isa}`, async (t) => {
      const k = kernelsAt(isa, mem.memory);

      // tanh: special values, the clamp, tiny arguments, and a vector body with a tail, unaligned
      const special = [0, -0, 1e-45, -1e-45, 1e-38, 3e-4, 4e-4, 5e-4, 0.5, 1, 7.99, 8, 9, 20, 88, 1e30, Infinity, -Infinity, NaN];
      const n = 10007, x = mem.f32(n, 1);
      for (let i = 0; i < n; i++) {
        x[i] = i < special.length ? special[i] : i % 3 === 0 ? rng.normal() * 1e-3 : (rng.uniform() - 0.5) * 24;
      }
      const x0 = Float32Array.from(x), neg = mem.f32(n, 3);
      for (let i = 0; i < n; i++) neg[i] = -x0[i];
      k.tanh(x.byteOffset, n);
      k.tanh(neg.byteOffset, n);
      let worst = 0, odd = true, bounded = true;
      for (let i = 0; i < n; i++) {
        const want = Math.tanh(x0[i]);
        if (Number.isNaN(want)) { t.ok(Number.isNaN(x[i]), 'tanh(NaN) is NaN'); continue; }
        const rel = want === 0 ? Math.abs(x[i]) : Math.abs(x[i] - want) / Math.abs(want);
        worst = Math.max(worst, rel);
        odd &&= Object.is(neg[i], -x[i]);
        bounded &&= Math.abs(x[i]) <= 1;
      }
      t.ok(worst <= 2e-7, `tanh: max relative error ${worst.toExponential(2)} ≤ 2e-7`);
      t.ok(odd, 'tanh is odd, bit for bit (and keeps the sign of zero)');
      t.ok(bounded, '|tanh| ≤ 1');
      t.equal(x[special.indexOf(Infinity)], 1);
      t.equal(x[special.indexOf(-Infinity)], -1);

      // tanhBackward, addTo, mulInPlace: exactly the float32 operations
      const m = 1001, da = mem.random(m, 1), a = mem.random(m, 2), dz = mem.f32(m, 3);
      k.tanhBackward(dz.byteOffset, da.byteOffset, a.byteOffset, m);
      t.ok(dz.every((v, i) => v === f32(da[i] * f32(1 - f32(a[i] * a[i])))), 'tanhBackward = da·(1 − a²) in float32');
      const y = mem.random(m), y0 = Float32Array.from(y);
      k.addTo(y.byteOffset, da.byteOffset, m);
      t.ok(y.every((v, i) => v === f32(y0[i] + da[i])), 'addTo in float32');
      k.mulInPlace(y.byteOffset, a.byteOffset, m - 2);
      t.ok(y.every((v, i) => v === (i < m - 2 ? f32(f32(y0[i] + da[i]) * a[i]) : f32(y0[i] + da[i]))), 'mulInPlace in float32, n respected');

      // sumRowNorms: float64 sums in order, so exactly the JavaScript value (fewer rows than its
      // blocks of 4 or 8, whole blocks, blocks and a tail; columns in blocks of 4 and a tail; values
      // from 1e-30 to 1e30, whose squares float32 could not hold)
      const rowNorms = (xs: Float32Array, ldx: number, R: number, Nn: number) => {
        let want = 0;
        for (let r = 0; r < R; r++) {
          let s = 0;
          for (let j = 0; j < Nn; j++) s += xs[r * ldx + j] * xs[r * ldx + j];
          want += Math.sqrt(s);
        }
        return want;
      };
      for (const [R, Nn, wide] of [[7, 37, 0], [8, 37, 0], [19, 37, 0], [16, 64, 1], [5, 4, 1], [3, 2, 0]]) {
        const ldx = Nn + 3, xs = mem.random(R * ldx);
        if (wide) for (let i = 0; i < xs.length; i++) xs[i] *= 10 ** (30 * Math.sin(i));
        t.equal(k.sumRowNorms(xs.byteOffset, ldx, R, Nn), rowNorms(xs, ldx, R, Nn), `sumRowNorms of ${R} rows in float64`);
      }
      // Row by row (the other three rows of its block zero), where a different order of the row's
      // sum is not hidden among other rows' roots: 120 random rows of 67.
      const ldxR = 70, blk = mem.f32(4 * ldxR);
      let same = 0;
      for (let trial = 0; trial < 120; trial++) {
        for (let i = 0; i < 67; i++) blk[i] = rng.normal() * (1 + (i % 7));
        if (k.sumRowNorms(blk.byteOffset, ldxR, 4, 67) === rowNorms(blk, ldxR, 4, 67)) same++;
      }
      t.equal(same, 120, 'sumRowNorms of 120 single rows: the JavaScript value');

      // gatherRows / scatterAddRows with repeated ids, strided ids and padded rows
      const V = 11, N = 19, ldt = 21, ldo = 23, B = 9, idStride = 2;
      const table = mem.random(V * ldt), ids = mem.i32(B * idStride);
      for (let r = 0; r < B; r++) ids[r * idStride] = r % 4 === 3 ? 2 : rng.int(V);
      for (const acc of [0, 1]) {
        const out = mem.random(B * ldo), out0 = Float32Array.from(out);
        k.gatherRows(out.byteOffset, ldo, table.byteOffset, ldt, ids.byteOffset, idStride, B, N, acc);
        let ok = true;
        for (let r = 0; r < B; r++) {
          for (let j = 0; j < ldo; j++) {
            const tv = table[ids[r * idStride] * ldt + j];
            ok &&= out[r * ldo + j] === (j >= N ? out0[r * ldo + j] : acc ? f32(out0[r * ldo + j] + tv) : tv);
          }
        }
        t.ok(ok, `gatherRows, acc ${acc}`);
      }
      const src = mem.random(B * ldo), tab = mem.random(V * ldt), want2 = Float32Array.from(tab);
      for (let r = 0; r < B; r++) for (let j = 0; j < N; j++) want2[ids[r * idStride] * ldt + j] = f32(want2[ids[r * idStride] * ldt + j] + src[r * ldo + j]);
      k.scatterAddRows(tab.byteOffset, ldt, src.byteOffset, ldo, ids.byteOffset, idStride, B, N);
      t.ok(sameBits(tab, want2), 'scatterAddRows adds rows in order');

      // colSumAcc over m in order
      const M = 13, ldd = 22, d = mem.random(M * ldd), db = mem.random(N + 1), want3 = Float32Array.from(db);
      for (let r = 0; r < M; r++) for (let j = 0; j < N; j++) want3[j] = f32(want3[j] + d[r * ldd + j]);
      k.colSumAcc(db.byteOffset, d.byteOffset, ldd, M, N);
      t.ok(sameBits(db, want3), 'colSumAcc in order, db[N] untouched');
    });
  }

  t.test('kernels created before memory.grow() reach memory added after', async (t) => {
    const m2 = new Mem();
    const k = kernelsAt(isas[0], m2.memory);
    m2.f32(3 << 20); // grows by 12 MiB
    const x = m2.random(100);
    const want = Array.from(x, (v) => Math.tanh(v));
    k.tanh(x.byteOffset, 100);
    t.ok(x.every((v, i) => Math.abs(v - want[i]) <= 2e-7 * Math.abs(want[i])), 'tanh beyond the first size');
  });

  t.test('environment: RNN_TRAINER_NATIVE_ISA picks the level, a wrong one is an error', async (t) => {
    const saved = process.env.RNN_TRAINER_NATIVE_ISA;
    try {
      for (const isa of isas) {
        process.env.RNN_TRAINER_NATIVE_ISA = isa;
        const f = factoryOf('native');
        t.equal('error' in f ? f.error : f.isa, isa);
        t.equal(resolveKernels('native').isa, isa, 'the resolved choice carries it');
      }
      process.env.RNN_TRAINER_NATIVE_ISA = 'sse9';
      const bad = factoryOf('native');
      t.match('error' in bad ? bad.error : '', /RNN_TRAINER_NATIVE_ISA ISA "sse9".*avx512, avx2, generic/);
      // Read where the choice is resolved only: a factory asked for a level (a worker's) ignores it.
      const forced = nativeFactory(isas[isas.length - 1]);
      t.equal('error' in forced ? forced.error : forced.isa, isas[isas.length - 1], 'an explicit level wins over the environment');
    } finally {
      if (saved === undefined) delete process.env.RNN_TRAINER_NATIVE_ISA;
      else process.env.RNN_TRAINER_NATIVE_ISA = saved;
    }
  });

  t.test('two worker threads at once on the same memory, every level', async (t) => {
    const c = CASES.find((c) => c.M === 64 && c.la === 'row' && c.lb === 'trans')!;
    const o = ops[CASES.indexOf(c)];
    const code = `
      const { workerData: w, parentPort } = require('node:worker_threads');
      const addon = require(w.path);
      const k = addon.attach(new Uint8Array(w.memory.buffer), w.isa);
      for (let r = 0; r < 200; r++) {
        k.gemm(w.c, w.ldc, w.a, w.rsA, w.csA, w.b, w.rsB, w.csB, w.M, w.N, w.K, 0, w.bias, 1);
        k.tanh(w.x, w.n);
      }
      parentPort.postMessage(k.isa);`;
    for (const isa of isas) {
      const k = kernelsAt(isa, mem.memory);
      const want = mem.f32(c.M * o.ldc);
      k.gemm(want.byteOffset, o.ldc, o.A.byteOffset, o.rsA, o.csA, o.B.byteOffset, o.rsB, o.csB, c.M, c.N, c.K, 0, o.bias.byteOffset, TANH);
      const xs = mem.random(999), x1 = mem.f32(999), x2 = mem.f32(999), ref = mem.f32(999);
      x1.set(xs); x2.set(xs); ref.set(xs);
      const outs = [mem.f32(c.M * o.ldc), mem.f32(c.M * o.ldc)], xsOut = [x1, x2];
      const ran = await Promise.all(outs.map((C, w) => new Promise<string>((resolve, reject) => {
        const worker = new Worker(code, {
          eval: true,
          workerData: {
            path: nativeAddonPath(), memory: mem.memory, isa, c: C.byteOffset, ldc: o.ldc, a: o.A.byteOffset, rsA: o.rsA, csA: o.csA,
            b: o.B.byteOffset, rsB: o.rsB, csB: o.csB, M: c.M, N: c.N, K: c.K, bias: o.bias.byteOffset, x: xsOut[w].byteOffset, n: 999,
          },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      })));
      t.same(ran, [isa, isa], `both workers ran ${isa}`);
      t.ok(outs.every((C) => sameBits(C, want)), `${isa}: both workers' products = the main thread's, bit for bit`);
      for (let r = 0; r < 200; r++) k.tanh(ref.byteOffset, 999); // tanh in place 200 times, as the workers did
      t.ok(xsOut.every((x) => sameBits(x, ref)), `${isa}: both workers' tanh = the main thread's`);
    }
  });
}

// Every level is tested by name, so an environment forcing one (or a CPU whose only level is
// not the default) does not skip any; only an addon that did not build does.
if (nativeIsas().length === 0) {
  const why = (nativeFactory() as { error: string }).error;
  console.log(`# skipping: ${why}`);
  t.plan(0, why);
} else {
  run();
}
