// Microbenchmark of the native kernels (not a test): GFLOP/s of the per-step product
// (B,H)·(H,H) (+ bias, tanh) through gemmPacked, of the weight gradient dWaa = dZᵀ·A_prev through
// gemm (A read transposed, K = T·B), and the cost of one call. One thread.
//   node native/bench.mjs [isa ...]      (default: every level this CPU runs, but a generic
//                                         one that emulates FMA: ~1 GFLOP/s, a minute to time)
import { createRequire } from 'node:module';

const addon = createRequire(import.meta.url)('./build/Release/rnn_kernels.node');
const isas = process.argv.length > 2 ? process.argv.slice(2) : addon.isas.filter((i) => i !== 'generic' || !addon.slowGeneric);
const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
let top = 0;
const alloc = (floats) => {
  const at = top;
  top = Math.ceil((top + floats * 4) / 64) * 64;
  const have = memory.buffer.byteLength;
  if (top > have) memory.grow(Math.ceil((top - have) / 65536));
  const f = new Float32Array(memory.buffer, at, floats);
  for (let i = 0; i < floats; i++) f[i] = (Math.random() - 0.5) * 0.2;
  return at;
};

/**
 * Seconds per call of f, best of 3 runs of ≥ 0.3 s after a warm-up, in this process's CPU time:
 * on a shared machine wall time also counts the time other processes had the core.
 */
function time(f) {
  for (let i = 0; i < 3; i++) f();
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    let n = 0, dt;
    const c0 = process.cpuUsage();
    do {
      for (let i = 0; i < 8; i++) f();
      n += 8;
      const c = process.cpuUsage(c0);
      dt = (c.user + c.system) / 1e6;
    } while (dt < 0.3);
    best = Math.min(best, dt / n);
  }
  return best;
}

const maxH = 256, T = 256;
const x = alloc(64 * 4 * maxH), a = alloc(64 * maxH), w = alloc(4 * maxH * maxH), bias = alloc(4 * maxH);
const bp = alloc(4 * maxH * maxH + 32 * maxH);
const dZ = alloc(T * 64 * maxH), prev = alloc(T * 64 * maxH), dW = alloc(maxH * maxH);

for (const isa of isas) {
  const k = addon.attach(new Uint8Array(memory.buffer), isa);
  console.log(`isa ${k.isa}`);
  for (const [H, N] of [[64, 64], [128, 128], [256, 256], [256, 1024]]) {
    k.packB(bp, w, 1, H, H, N); // Waa read transposed, as a_t·Waaᵀ
    for (const B of [32, 64]) {
      const s = time(() => k.gemmPacked(x, N, a, H, 1, bp, B, N, H, 1, bias, 1));
      console.log(`  gemmPacked (B,H)·(H,N) B=${B} H=${H} N=${N} +bias+tanh: ${(2 * B * N * H / s / 1e9).toFixed(1)} GFLOP/s (${(s * 1e6).toFixed(2)} µs)`);
    }
  }
  for (const H of [64, 128, 256]) {
    const K = T * 64;
    const s = time(() => k.gemm(dW, H, dZ, 1, H, prev, H, 1, H, H, K, 1, -1, 0));
    console.log(`  gemm dWaa (H,K)·(K,H) H=${H} K=${K}: ${(2 * H * H * K / s / 1e9).toFixed(1)} GFLOP/s (${(s * 1e3).toFixed(2)} ms)`);
  }
  const n = 64 * 256;
  const st = time(() => { k.tanh(x, n); k.tanh(x, n); });
  console.log(`  tanh n=${n}: ${(st / 2 / n * 1e9).toFixed(3)} ns/element`);
  const reps = 1e6;
  for (const [name, f] of [
    ['gemm, M = 0 (14 args)', () => { for (let i = 0; i < reps; i++) k.gemm(x, 1, a, 1, 1, w, 1, 1, 0, 0, 0, 0, -1, 0); }],
    ['addTo, n = 0 (3 args)', () => { for (let i = 0; i < reps; i++) k.addTo(x, a, 0); }],
  ]) console.log(`  call overhead, ${name}: ${(time(f) / reps * 1e9).toFixed(1)} ns`);
}
