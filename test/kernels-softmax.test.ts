// The output layer's fused softmax cross-entropy (Kernels.softmaxXent) of every backend against the
// float64 js reference: probabilities and dlogits, the loss sum, the argmax, dby, on rows of many
// widths (vector tails), padded rows, logits far apart (exp's clamp) and ties (the first index wins);
// the native ISA levels bit for bit equal; a row's results the same alone and among other rows.

import t from 'tap';
import { JsKernels } from '../src/model/backend/js.js';
import { nativeFactory, nativeIsas } from '../src/model/backend/native.js';
import { wasmFactory, relaxedSimdSupported } from '../src/model/backend/wasm.js';
import type { RawKernels } from '../src/model/backend/raw.js';
import { Rng } from '../src/util/prng.js';

const NONE = -1;

/** A shared memory with a bump allocator (64-byte aligned), at least `scratch` bytes kept first for wasm. */
class Mem {
  readonly memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
  private top: number;
  constructor(readonly scratch: number) { this.top = Math.ceil((scratch + 64) / 64) * 64; }
  alloc(n: number): number {
    const at = Math.ceil(this.top / 64) * 64;
    this.top = at + 4 * Math.max(1, n);
    const have = this.memory.buffer.byteLength;
    if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / 65536));
    return at;
  }
}

interface Case { rows: number; C: number; weights: number[]; spread: number; ties?: boolean }

const cases: Case[] = [
  { rows: 3, C: 1, weights: [1, 0, 1], spread: 1 },
  { rows: 4, C: 5, weights: [1, 1, 0, 0.25], spread: 2 },
  { rows: 3, C: 16, weights: [1, 0.5, 1], spread: 3 },
  { rows: 5, C: 37, weights: [0, 1, 1, 0, 2], spread: 4 },
  { rows: 2, C: 100, weights: [1, 1], spread: 60 }, // exp(x − max) far below float32's range
  { rows: 3, C: 1003, weights: [1, 0, 0.1], spread: 5 },
  { rows: 2, C: 64, weights: [1, 1], spread: 1, ties: true },
];

/** Rows of float32 logits, targets, weights and a dby to add to. */
interface Data { rows: number; C: number; x: Float64Array; ys: Int32Array; weights: number[]; db: Float64Array }

function input(c: Case, seed: number): Data {
  const rng = new Rng(seed);
  const x = Float64Array.from({ length: c.rows * c.C }, () => Math.fround(c.spread * rng.normal()));
  if (c.ties) for (let r = 0; r < c.rows; r++) { x[r * c.C + 7] = 50; x[r * c.C + 40] = 50; } // the max twice
  const ys = Int32Array.from({ length: c.rows }, () => rng.int(c.C));
  const db = Float64Array.from({ length: c.C }, () => Math.fround(rng.normal()));
  return { rows: c.rows, C: c.C, x, ys, weights: c.weights, db };
}

interface Out { x: Float64Array; loss: number; am: Int32Array; db: Float64Array }

/** The float64 reference: JsKernels('float64'). */
function reference(d: Data, grad: 0 | 1): Out {
  const x = d.x.slice(), db = d.db.slice(), am = new Int32Array(d.rows);
  const loss = new JsKernels('float64').softmaxXent(x, 0, d.C, d.rows, d.C, d.ys, 0, Float64Array.from(d.weights), 0, am, 0, grad ? db : null, grad);
  return { x, loss, am, db };
}

type Run = (d: Data, grad: 0 | 1) => Out & { bits: Uint32Array };

function jsRun(d: Data, grad: 0 | 1) {
  const x32 = Float32Array.from(d.x), db32 = Float32Array.from(d.db), am = new Int32Array(d.rows);
  const loss = new JsKernels('float32').softmaxXent(x32, 0, d.C, d.rows, d.C, d.ys, 0, Float32Array.from(d.weights), 0, am, 0, grad ? db32 : null, grad);
  return { x: Float64Array.from(x32), loss, am, db: Float64Array.from(db32), bits: new Uint32Array(x32.buffer) };
}

/** A compiled backend's raw kernel, each input at a row stride of C + 3 (strided rows). */
function rawRun(make: (m: Mem) => RawKernels, scratch: number): Run {
  return (c, grad) => {
    const { x, ys, db } = c;
    const mem = new Mem(scratch);
    const k = make(mem);
    const ld = c.C + 3;
    const px = mem.alloc(c.rows * ld), pys = mem.alloc(c.rows), pw = mem.alloc(c.rows), pam = mem.alloc(c.rows), pdb = mem.alloc(c.C);
    const buf = mem.memory.buffer;
    const X = new Float32Array(buf, px, c.rows * ld);
    for (let r = 0; r < c.rows; r++) X.set(x.subarray(r * c.C, (r + 1) * c.C), r * ld);
    new Int32Array(buf, pys, c.rows).set(ys);
    new Float32Array(buf, pw, c.rows).set(c.weights);
    new Float32Array(buf, pdb, c.C).set(db);
    const loss = k.softmaxXent(px, ld, c.rows, c.C, pys, pw, pam, grad ? pdb : NONE, grad);
    const out = new Float64Array(c.rows * c.C);
    const bits = new Uint32Array(c.rows * c.C);
    const U = new Uint32Array(buf, px, c.rows * ld);
    for (let r = 0; r < c.rows; r++) {
      for (let j = 0; j < c.C; j++) { out[r * c.C + j] = X[r * ld + j]; bits[r * c.C + j] = U[r * ld + j]; }
    }
    return { x: out, loss, am: new Int32Array(buf, pam, c.rows).slice(), db: Float64Array.from(new Float32Array(buf, pdb, c.C)), bits };
  };
}

const backends: Array<[string, Run]> = [['js float32', jsRun]];
for (const isa of ['simd128', ...(relaxedSimdSupported() ? ['relaxed-simd128' as const] : [])] as const) {
  const f = wasmFactory(isa);
  backends.push([`wasm ${isa}`, rawRun((m) => f.create(m.memory, 64), f.scratchBytes)]);
}
for (const isa of nativeIsas()) {
  backends.push([`native ${isa}`, rawRun((m) => {
    const f = nativeFactory(isa);
    if ('error' in f) throw new Error(f.error);
    return f.create(m.memory, 0);
  }, 0)]);
}

for (const [name, run] of backends) {
  t.test(`${name}: softmaxXent within float32 rounding of the float64 reference`, async (t) => {
    for (const c of cases) {
      for (const grad of [0, 1] as const) {
        const what = `C=${c.C}, rows ${c.rows}${c.ties ? ', ties' : ''}, ${grad ? 'dlogits' : 'probabilities'}`;
        const d = input(c, c.C);
        const ref = reference(d, grad), got = run(d, grad);
        let worst = 0;
        for (let i = 0; i < ref.x.length; i++) {
          const w = c.weights[Math.floor(i / c.C)] || 1;
          worst = Math.max(worst, Math.abs(got.x[i] - ref.x[i]) / w);
        }
        t.ok(worst < 2e-6, `${what}: max |diff| ${worst.toExponential(2)} (per unit of weight)`);
        t.ok(Math.abs(got.loss - ref.loss) <= 1e-6 * Math.max(1, Math.abs(ref.loss)), `${what}: loss ${got.loss} vs ${ref.loss}`);
        t.same([...got.am], [...ref.am], `${what}: argmax (−1 on padded rows)`);
        if (grad) {
          const dd = Math.max(...ref.db.map((v, i) => Math.abs(got.db[i] - v)));
          t.ok(dd < 1e-5, `${what}: db += dlogits, max |diff| ${dd.toExponential(2)}`);
          t.ok(c.weights.every((w, r) => w !== 0 || got.x.subarray(r * c.C, (r + 1) * c.C).every((v) => v === 0)), `${what}: padded rows zero`);
        }
      }
    }
  });

  t.test(`${name}: a row's results do not depend on the other rows`, async (t) => {
    const d = input({ rows: 4, C: 531, weights: [1, 0.5, 0, 1], spread: 3 }, 9);
    for (const grad of [0, 1] as const) {
      const all = run(d, grad);
      for (let r = 0; r < d.rows; r++) {
        const C = d.C, row = (a: Uint32Array | Float64Array, i: number) => [...a.subarray(i * C, (i + 1) * C)];
        const alone = run({ ...d, rows: 1, x: d.x.slice(r * C, (r + 1) * C), ys: d.ys.slice(r, r + 1), weights: [d.weights[r]] }, grad);
        t.ok(alone.am[0] === all.am[r] && row(alone.bits, 0).every((v, j) => v === row(all.bits, r)[j]), `row ${r} (weight ${d.weights[r]}, ${grad ? 'dlogits' : 'probabilities'}): the same bits alone`);
      }
    }
  });
}

// Native: every ISA level gives the same bits.
const levels = backends.filter(([n]) => n.startsWith('native '));
if (levels.length > 1) {
  t.test(`native: ${levels.map(([n]) => n.slice(7)).join(', ')} bit for bit the same`, async (t) => {
    for (const c of cases) {
      for (const grad of [0, 1] as const) {
        const outs = levels.map(([, run]) => run(input(c, c.C + 1), grad));
        for (let i = 1; i < outs.length; i++) {
          t.ok(outs[i].bits.every((v, j) => v === outs[0].bits[j]) && outs[i].loss === outs[0].loss && outs[i].db.every((v, j) => v === outs[0].db[j]),
            `C=${c.C} ${grad ? 'dlogits' : 'probabilities'}: ${levels[i][0]} = ${levels[0][0]}`);
        }
      }
    }
  });
}
