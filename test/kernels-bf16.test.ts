// train.precision "bf16" (native/bf16.h, vdpbf16ps): the bf16 product against a float64 reference
// computed from the bf16-rounded inputs (only float32 accumulation separates them, so the bound is
// float32's: a kernel that did not round, or rounded the wrong way, is off by ~2^-9 and fails), on
// odd shapes (K odd, K past the K block, M and N tails, N not a multiple of 16, transposed and
// padded operands, beta, bias); rounding to nearest even at ties; a row alone = the same row in a
// larger product, bit for bit; and a model's gradients in bf16 (head, input projections, weight
// gradients) close to float32's, with evaluation (no gradient) and a float32 run untouched. Skipped, saying why, on a CPU
// without AVX512-BF16.

import t from 'tap';
import type { ModelSpec } from '../src/model/spec.js';
import { makeLayout, allocParams, tensor } from '../src/model/params.js';
import { allocWorkspace, forward, forwardBackward } from '../src/model/rnn.js';
import { nativeBf16, nativeFactory } from '../src/model/backend/native.js';
import { createKernels } from '../src/model/backend/index.js';
import type { RawKernels } from '../src/model/backend/raw.js';
import { arenaOf } from '../src/util/shared.js';
import { Rng } from '../src/util/prng.js';
import { randomParams, randomBatch } from './helpers/model.js';

const NONE = -1;

if (!nativeBf16()) {
  t.comment('skipped: no AVX512-BF16 here (the CPU lacks it, or the native addon is not built), so train.precision "bf16" does not run');
  t.pass('nothing to test without AVX512-BF16');
} else {
  run();
}

/** float32 → the float32 value of its bfloat16 (round to nearest even; subnormals to zero), as vcvtneps2bf16. */
function bf16(x: number): number {
  const f = new Float32Array([x]), u = new Uint32Array(f.buffer);
  const v = u[0];
  if ((v & 0x7f800000) === 0) u[0] = v & 0x80000000;
  else u[0] = (((v + 0x7fff + ((v >>> 16) & 1)) >>> 16) << 16) >>> 0;
  return f[0];
}

function run(): void {
  const rng = new Rng(11);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  let top = 64;
  const f32 = (n: number): Float32Array => {
    const at = Math.ceil(top / 64) * 64;
    top = at + 4 * Math.max(1, n);
    const have = memory.buffer.byteLength;
    if (top > have) memory.grow(Math.ceil((top - have) / 65536));
    return new Float32Array(memory.buffer, at, n);
  };
  const random = (n: number) => { const x = f32(n); for (let i = 0; i < n; i++) x[i] = rng.normal(); return x; };
  const f = nativeFactory('avx512');
  if ('error' in f) throw new Error(f.error);
  const k: RawKernels = f.create(memory, 0);
  const gemm = k.gemmBf16!;

  type Layout = 'row' | 'trans' | 'padded';
  const strides = (l: Layout, R: number, C: number): [number, number, number] =>
    l === 'row' ? [C, 1, R * C] : l === 'trans' ? [1, R, R * C] : [C + 3, 1, R * (C + 3)];

  const cases: Array<{ M: number; N: number; K: number; la: Layout; lb: Layout; beta: 0 | 1; bias: boolean }> = [
    { M: 1, N: 1, K: 1, la: 'row', lb: 'row', beta: 0, bias: false },
    { M: 8, N: 32, K: 2, la: 'row', lb: 'row', beta: 0, bias: false },
    { M: 13, N: 37, K: 7, la: 'row', lb: 'trans', beta: 0, bias: true }, //       the logits: B = Wyaᵀ, K odd
    { M: 64, N: 1003, K: 33, la: 'row', lb: 'trans', beta: 0, bias: true }, //    N past NC, not a multiple of 16
    { M: 37, N: 29, K: 1025, la: 'trans', lb: 'row', beta: 1, bias: false }, //   dWya += dlogitsᵀ·a: K past two K blocks, odd
    { M: 130, N: 40, K: 515, la: 'row', lb: 'row', beta: 0, bias: false }, //     dh = dlogits·Wya: M past MC
    { M: 9, N: 17, K: 256, la: 'padded', lb: 'padded', beta: 1, bias: true },
    { M: 5, N: 3, K: 0, la: 'row', lb: 'row', beta: 1, bias: true }, //          K = 0: C (+ bias)
  ];
  for (const { M, N, K, la, lb, beta, bias } of cases) {
    t.test(`gemmBf16 ${M}×${N}×${K}, A ${la}, B ${lb}, beta ${beta}, ${bias ? 'bias' : 'no bias'}: float64 of the bf16 inputs, within float32 accumulation`, (t) => {
      const [rsA, csA, na] = strides(la, M, K), [rsB, csB, nb] = strides(lb, K, N);
      const a = random(na), b = random(nb), c = random(M * N), by = bias ? random(N) : null;
      const c0 = Float32Array.from(c);
      gemm(c.byteOffset, N, a.byteOffset, rsA, csA, b.byteOffset, rsB, csB, M, N, K, beta, by ? by.byteOffset : NONE);
      let worst = 0, differs = 0;
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let s = beta ? c0[m * N + n] : 0, abs = Math.abs(s), exact = 0;
          for (let q = 0; q < K; q++) {
            const x = bf16(a[m * rsA + q * csA]) * bf16(b[q * rsB + n * csB]);
            s += x; abs += Math.abs(x);
            exact += a[m * rsA + q * csA] * b[q * rsB + n * csB];
          }
          if (by) { s += by[n]; abs += Math.abs(by[n]); }
          // float32 sums: each of K + 2 additions rounds by at most 2^-24 of the running |sum| ≤ abs.
          const err = Math.abs(c[m * N + n] - s) / ((K + 2) * 2 ** -24 * abs + 1e-30);
          worst = Math.max(worst, err);
          if (K > 0 && Math.abs(s - exact - (by ? by[n] : 0) - (beta ? c0[m * N + n] : 0)) > 1e-6 * abs) differs++;
        }
      }
      t.ok(worst <= 1, `max error / float32 accumulation bound = ${worst.toFixed(3)}`);
      if (K >= 7) t.ok(differs > 0, `the inputs were rounded to bf16 (${differs} of ${M * N} differ from the unrounded product)`);
      t.end();
    });
  }

  t.test('rounding: to nearest, ties to even, as vcvtneps2bf16', (t) => {
    const one = f32(1), a = f32(1), c = f32(1);
    one[0] = 1;
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7 (bf16 keeps 7 fraction bits): ties to even 1;
    // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even 1 + 2^-6; just above the first half rounds up.
    for (const [x, want] of [[1 + 2 ** -8, 1], [1 + 3 * 2 ** -8, 1 + 2 ** -6], [1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -7], [-(1 + 2 ** -8), -1], [3.14159, 3.140625], [1e-39, 0]]) {
      a[0] = x;
      gemm(c.byteOffset, 1, a.byteOffset, 1, 1, one.byteOffset, 1, 1, 1, 1, 1, 0, NONE);
      t.equal(c[0], want, `bf16(${x}) = ${want}`);
      t.equal(bf16(x), want, `the test's reference rounds ${x} the same`);
    }
    t.end();
  });

  t.test('a row and a column computed alone = the same inside a larger product, bit for bit', (t) => {
    const M = 70, N = 300, K = 129;
    const a = random(M * K), b = random(K * N), c = f32(M * N), row = f32(N), col = f32(M * 1), bias = random(N);
    gemm(c.byteOffset, N, a.byteOffset, K, 1, b.byteOffset, 1, K, M, N, K, 0, bias.byteOffset);
    gemm(row.byteOffset, N, a.byteOffset + 4 * 45 * K, K, 1, b.byteOffset, 1, K, 1, N, K, 0, bias.byteOffset);
    gemm(col.byteOffset, 1, a.byteOffset, K, 1, b.byteOffset + 4 * 211 * K, 1, K, M, 1, K, 0, bias.byteOffset + 4 * 211);
    t.ok(row.every((x, n) => Object.is(x, c[45 * N + n])), 'row 45');
    t.ok(col.every((x, m) => Object.is(x, c[m * N + 211])), 'column 211');
    t.end();
  });

  // The full softmax head (a word-LM-like many-to-many model, and a classifier).
  const specs: ModelSpec[] = [
    { cell: 'lstm', task: 'many-to-many', V: 300, H: 48, C: 300, E: 24 },
    { cell: 'gru', task: 'many-to-one', V: 50, H: 40, C: 7, E: 16 },
    { cell: 'lstm', task: 'many-to-one', V: 50, H: 24, C: 5, E: 12, layers: 2, bidirectional: true }, // every input projection path
  ];
  for (const spec of specs) {
    t.test(`${spec.cell} ${spec.task}${spec.layers ? `, ${spec.layers} layers` : ''}${spec.bidirectional ? ', bidirectional' : ''}: bf16 gradients within bf16's error of float32's; evaluation and a float32 run unchanged`, (t) => {
      const layout = makeLayout(spec);
      const p = allocParams(layout, 'float32');
      p.data.set(randomParams(spec, 3, 'float64', 0.5).data);
      const arena = arenaOf(p.data)!;
      const batch = randomBatch(spec, [20, 20, 17, 9, 20, 3], 5, 20);
      const kf = createKernels({ name: 'native', isa: 'avx512' }, arena);
      const kb = createKernels({ name: 'native', isa: 'avx512', precision: 'bf16' }, arena);
      t.equal(kf.gemmBf16, undefined, 'float32 kernels have no bf16 product');
      t.type(kb.gemmBf16, 'function', 'bf16 kernels have one');
      const grads = (k: typeof kf) => {
        const g = allocParams(layout, 'float32', arena);
        const r = forwardBackward(p, g, allocWorkspace(spec, batch.B, batch.T, k), batch, 0, null, 0);
        return { g, r };
      };
      const f = grads(kf), b = grads(kb);
      const rel = Math.abs(b.r.lossSum - f.r.lossSum) / f.r.lossSum;
      t.ok(rel < 1e-2, `loss ${b.r.lossSum} vs ${f.r.lossSum} (rel ${rel.toExponential(2)})`);
      let anyDiff = false;
      for (const { name } of layout.tensors) {
        const x = tensor(layout, b.g.data, name), y = tensor(layout, f.g.data, name);
        let num = 0, den = 0;
        for (let i = 0; i < x.length; i++) { num = Math.max(num, Math.abs(x[i] - y[i])); den = Math.max(den, Math.abs(y[i])); }
        if (num > 0) anyDiff = true;
        if (den > 0) t.ok(num / den < 1e-2, `d${name}: max |bf16 − f32| / max |f32| = ${(num / den).toExponential(2)}`);
      }
      t.ok(anyDiff, 'bf16 changed the gradients (its path ran)');
      const again = grads(kf);
      t.same(again.g.data, f.g.data, 'float32 after a bf16 run: the same bits');
      const ef = forward(p, allocWorkspace(spec, batch.B, batch.T, kf), batch), eb = forward(p, allocWorkspace(spec, batch.B, batch.T, kb), batch);
      t.equal(eb.lossSum, ef.lossSum, 'evaluation (no gradient) stays float32: the same loss');
      t.end();
    });
  }
}
