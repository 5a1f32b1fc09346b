// Microbenchmark of the `wasm` backend's sgemm on one thread (not a test): GFLOP/s of
//   - the recurrence step, gemmPacked (B,H)·(H,H) with B = Waaᵀ packed once, for B = 32, 64 and
//     H = 64, 128, 256 (alone, and fused with beta = 1 and the tanh epilogue as the forward runs it);
//   - the weight gradient, gemm with M = N = H, K = T·B and A transposed (rsA = 1), B unpacked.
// Shapes run in interleaved rounds (the host's speed drifts); each prints the median and best round.
//
//   node dist/src/model/backend/wasm-bench.mjs [--isa simd128|relaxed-simd128] [--rounds 7] [--ms 100]
//
// Runs from dist/ (after `npm run build`), where ./wasm.js is the compiled wasm.ts.

import { wasmFactory, defaultWasmIsa } from './wasm.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const isa = arg('isa', defaultWasmIsa());
const rounds = +arg('rounds', 7);
const ms = +arg('ms', 100);
const TB = 2048; // K of the weight gradient: T = 32 steps × B = 64 sequences

const factory = wasmFactory(isa);
const memory = new WebAssembly.Memory({ initial: 2048, maximum: 65536, shared: true }); // 128 MiB
const k = factory.create(memory, 64);
const f32 = new Float32Array(memory.buffer);
let top = 64 + factory.scratchBytes + 64;
const alloc = (n) => {
  const at = top;
  top = Math.ceil((at + 4 * n) / 64) * 64 + 64;
  for (let i = 0; i < n; i++) f32[at / 4 + i] = Math.random() - 0.5;
  return at;
};

const cases = [];
for (const H of [64, 128, 256]) {
  for (const B of [32, 64]) {
    const a = alloc(B * H), w = alloc(H * H), c = alloc(B * H), bp = alloc(k.packedBytes(H, H) / 4);
    k.packB(bp, w, 1, H, H, H); // B[k,n] = Waa[n,k]
    cases.push({ name: `gemmPacked (${B},${H})·(${H},${H})`, flops: 2 * B * H * H, run: () => k.gemmPacked(c, H, a, H, 1, bp, B, H, H, 0, -1, 0) });
    cases.push({ name: `  + beta 1, tanh`, flops: 2 * B * H * H, run: () => k.gemmPacked(c, H, a, H, 1, bp, B, H, H, 1, -1, 1) });
  }
}
for (const H of [64, 128, 256]) {
  const x = alloc(TB * H), d = alloc(TB * H), g = alloc(H * H);
  cases.push({ name: `gemm dW (${H},${TB})ᵀ·(${TB},${H})`, flops: 2 * H * H * TB, run: () => k.gemm(g, H, x, 1, H, d, H, 1, H, H, TB, 1, -1, 0) });
}

// warm-up: V8 compiles with Liftoff first and tiers up hot functions to TurboFan
for (const c of cases) {
  const t0 = performance.now();
  while (performance.now() - t0 < 200) c.run();
}
for (const c of cases) c.rates = [];
// rates per CPU second of this process (process.cpuUsage), not per wall second: on a shared host
// the thread is descheduled at times, and CPU time does not count those gaps
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; };
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    let n = 0;
    const t0 = performance.now(), c0 = cpu();
    do { c.run(); n++; } while (performance.now() - t0 < ms);
    c.rates.push((c.flops * n) / ((cpu() - c0) * 1e6));
  }
}
console.log(`wasm backend, isa ${isa}, Node ${process.versions.node}, one thread; GFLOP per CPU second, median (best) of ${rounds} rounds`);
for (const c of cases) {
  const s = [...c.rates].sort((x, y) => x - y);
  console.log(`${c.name.padEnd(34)} ${s[s.length >> 1].toFixed(1).padStart(6)}  (${s[s.length - 1].toFixed(1)})`);
}
