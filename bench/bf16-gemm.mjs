// CPU time (process.cpuUsage, best of N) of the output layer's three products of a word LM step in
// float32 (gemm) and in bf16 (gemmBf16: train.precision "bf16", AVX512-BF16), on one worker's rows,
// then of a whole forward + backward of that LSTM LM (E = H, B = 32, rows / 32 steps) in each,
// against the one-core vdpbf16ps peak (what pre-packing or any packing change can win at most: the
// Wya packs' cost, and the step's ratio were the products at that peak), from dist/ (npm run build first):
//   node bench/bf16-gemm.mjs [rows=1024] [V=20000] [H=256] [reps=8]
import { nativeFactory, nativeBf16 } from '../dist/src/model/backend/native.js';
import { makeLayout, allocParams } from '../dist/src/model/params.js';
import { allocWorkspace, forwardBackward } from '../dist/src/model/rnn.js';
import { createKernels } from '../dist/src/model/backend/index.js';
import { arenaOf } from '../dist/src/util/shared.js';
import { initParams } from '../dist/src/model/init.js';
import { Rng } from '../dist/src/util/prng.js';
import { createRequire } from 'node:module';
import { nativeAddonPath } from '../dist/src/model/backend/native.js';

const [R = 1024, V = 20000, H = 256, reps = 8] = process.argv.slice(2).map(Number);
if (!nativeBf16()) {
  console.log('no AVX512-BF16 here (or the native addon is not built): nothing to compare');
  process.exit(0);
}
const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
let top = 64;
const f32 = (n) => {
  const at = Math.ceil(top / 64) * 64;
  top = at + 4 * n;
  if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
  return new Float32Array(memory.buffer, at, n);
};
const f = nativeFactory('avx512');
const k = f.create(memory, 0);
const A = f32(R * H), W = f32(V * H), P = f32(R * V), dW = f32(V * H), dA = f32(R * H), by = f32(V);
for (const x of [A, W, P]) for (let i = 0; i < x.length; i++) x[i] = Math.sin(i) * 0.1;
const at = (x) => x.byteOffset;
// [name, f32 call, bf16 call]: the same operands and strides as src/model/rnn.ts's head.
const products = [
  ['logits = A·Wyaᵀ + by  (R×V, K=H)', () => k.gemm(at(P), V, at(A), H, 1, at(W), 1, H, R, V, H, 0, at(by), 0), () => k.gemmBf16(at(P), V, at(A), H, 1, at(W), 1, H, R, V, H, 0, at(by))],
  ['dA = dZ·Wya           (R×H, K=V)', () => k.gemm(at(dA), H, at(P), V, 1, at(W), H, 1, R, H, V, 0, -1, 0), () => k.gemmBf16(at(dA), H, at(P), V, 1, at(W), H, 1, R, H, V, 0, -1)],
  ['dWya += dZᵀ·A         (V×H, K=R)', () => k.gemm(at(dW), H, at(P), 1, V, at(A), H, 1, V, H, R, 1, -1, 0), () => k.gemmBf16(at(dW), H, at(P), 1, V, at(A), H, 1, V, H, R, 1, -1)],
];
const cpuMs = (fn) => {
  fn();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1e3);
  }
  return best;
};
const gflops = (ms) => ((2 * R * V * H) / ms / 1e6).toFixed(0);
// The one-core peaks the run's startup probe measures (native/peak.cc): what the products can reach.
const peak = createRequire(import.meta.url)(nativeAddonPath().replace(/rnn_kernels\.node$/, 'rnn_peak.node')).bf16Peak(0.2);
console.log(`rows ${R}, V ${V}, H ${H}: CPU ms (best of ${reps}), GFLOP/s (peak: vdpbf16ps ${peak.bf16.toFixed(0)}, f32 FMAs ${peak.f32.toFixed(0)})`);
const head = { f32: 0, bf16: 0 };
for (const [name, f32Call, bf16Call] of products) {
  const a = cpuMs(f32Call), b = cpuMs(bf16Call);
  head.f32 += a;
  head.bf16 += b;
  console.log(`${name}  f32 ${a.toFixed(1)} ms (${gflops(a)})  bf16 ${b.toFixed(1)} ms (${gflops(b)})  ${(a / b).toFixed(2)}x`);
}
// Rounding and packing Wya (each product packs its weight operand once): the same products on 8 rows,
// where the compute is 8/rows of the above and the weight's pack is all of it.
const wyaPack = cpuMs(() => k.gemmBf16(at(P), V, at(A), H, 1, at(W), 1, H, 8, V, H, 0, at(by))) + cpuMs(() => k.gemmBf16(at(dA), H, at(P), V, 1, at(W), H, 1, 8, H, V, 0, -1));
console.log(`bf16 Wya packs (logits + dA products on 8 rows): ${wyaPack.toFixed(1)} ms`);

// A whole step: the same model and batch, float32 kernels against bf16 ones.
const B = 32, T = Math.max(1, Math.round(R / B));
const spec = { cell: 'lstm', task: 'many-to-many', V, H, C: V, E: H };
const layout = makeLayout(spec);
const p = allocParams(layout, 'float32');
initParams(p, spec, new Rng(1));
const arena = arenaOf(p.data);
const g = allocParams(layout, 'float32', arena);
const rng = new Rng(2);
const draw = () => Int32Array.from({ length: B * T }, () => 1 + Math.floor(rng.uniform() * (V - 1)));
const batch = { B, T, tokens: draw(), targets: draw(), lengths: new Int32Array(B).fill(T), labels: new Int32Array(B), ids: Int32Array.from({ length: B }, (_, i) => i) };
const step = {};
for (const precision of ['f32', 'bf16']) {
  const ws = allocWorkspace(spec, B, T, createKernels({ name: 'native', isa: 'avx512', ...(precision === 'bf16' ? { precision } : {}) }, arena));
  step[precision] = cpuMs(() => forwardBackward(p, g, ws, batch));
}
console.log(`forward + backward, LSTM E = H = ${H}, B ${B} × T ${T}: f32 ${step.f32.toFixed(0)} ms, bf16 ${step.bf16.toFixed(0)} ms CPU: ${(step.f32 / step.bf16).toFixed(2)}x`);
// The bound on that ratio from the head alone: its three bf16 products at the vdpbf16ps peak, the rest unchanged.
const atPeak = (3 * 2 * R * V * H) / peak.bf16 / 1e6, rest = step.bf16 - head.bf16;
console.log(`  the head's products ${head.bf16.toFixed(0)} ms of bf16's ${step.bf16.toFixed(0)} (${atPeak.toFixed(0)} ms at the vdpbf16ps peak); at that peak the step would be ${(atPeak + rest).toFixed(0)} ms: ${(step.f32 / (atPeak + rest)).toFixed(2)}x`);
