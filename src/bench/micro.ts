// `npm run bench -- --kernels-micro`: GFLOP/s of the product each time step of the recurrence makes,
// (B/workers, H)·(H, G·H) (a shard's states times the recurrent weight, packed once per step), for
// every compute backend that loads here, beside torch.mm of the same shape when PyTorch is installed.
// The compiled backends are timed through their RawFactory (src/model/backend/raw.ts): one shared
// WebAssembly.Memory, create(memory, scratch), packB once, gemmPacked in a timed loop.

import { performance } from 'node:perf_hooks';
import type { RawFactory } from '../model/backend/raw.js';
import { factoryOf, JsKernels, Epi } from '../model/backend/index.js';
import { GATES, type Workload, type Peak } from './flops.js';
import { TorchChild, pythonPath } from './pytorch.js';

interface Timed { gflops: number; usPerCall: number; calls: number }

/** Median over chunks of ~2 ms of calls of `f`, after a warm-up: GFLOP/s of `flop` per call. */
function timeCalls(f: () => void, flop: number, seconds: number): Timed {
  for (let i = 0; i < 20; i++) f();
  let n = 0;
  const c0 = performance.now();
  while (performance.now() - c0 < 10) { f(); n++; }
  const perChunk = Math.max(1, Math.floor((n * 2) / (performance.now() - c0)));
  const per: number[] = [];
  const start = performance.now();
  while (performance.now() - start < seconds * 1000 || per.length === 0) {
    const t0 = performance.now();
    for (let i = 0; i < perChunk; i++) f();
    per.push((performance.now() - t0) / perChunk);
  }
  per.sort((a, b) => a - b);
  const ms = per[per.length >> 1];
  return { gflops: flop / (ms * 1e6), usPerCall: ms * 1000, calls: perChunk * per.length };
}

/** Seeded values in [-1, 1). */
function fillRandom(x: Float32Array, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < x.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    x[i] = (s >>> 0) / 2 ** 31 - 1;
  }
}

/**
 * gemmPacked of A (M×K, rows contiguous) times B = Wᵀ (W: N×K rows contiguous, as the recurrent
 * weight is stored), B packed once, on a fresh shared memory.
 */
function timeRaw(f: RawFactory, M: number, N: number, K: number, seconds: number): Timed & { isa: string } {
  const align = (x: number) => Math.ceil(x / 64) * 64;
  let top = 64;
  const take = (bytes: number) => { const at = top; top = align(top + bytes); return at; };
  const scratch = take(f.scratchBytes);
  const a = take(M * K * 4), w = take(N * K * 4), c = take(M * N * 4);
  // packedBytes needs an instance: ask one on a small memory first, then lay out everything.
  const pages = (bytes: number) => Math.ceil(bytes / 65536) + 1;
  const probe = f.create(new WebAssembly.Memory({ initial: pages(top), maximum: 65536, shared: true }), scratch);
  const bp = take(probe.packedBytes(K, N));
  const memory = new WebAssembly.Memory({ initial: pages(top), maximum: 65536, shared: true });
  const k = f.create(memory, scratch);
  fillRandom(new Float32Array(memory.buffer, a, M * K), 1);
  fillRandom(new Float32Array(memory.buffer, w, N * K), 2);
  k.packB(bp, w, 1, K, K, N); // B[k,n] = W[n,k]
  const r = timeCalls(() => k.gemmPacked(c, N, a, K, 1, bp, M, N, K, 0, -1, 0), 2 * M * N * K, seconds);
  return { ...r, isa: k.isa };
}

/** The js backend through the same packB + gemmPacked. */
function timeJs(M: number, N: number, K: number, seconds: number): Timed & { isa: string } {
  const k = new JsKernels('float32');
  const a = new Float32Array(M * K), w = new Float32Array(N * K), c = new Float32Array(M * N);
  fillRandom(a, 1);
  fillRandom(w, 2);
  const bp = k.floats(k.packedSize(K, N));
  k.packB(bp, w, 0, 1, K, K, N);
  return { ...timeCalls(() => k.gemmPacked(c, 0, N, a, 0, K, 1, bp, M, N, K, 0, null, Epi.None), 2 * M * N * K, seconds), isa: k.isa };
}

export interface MicroOptions {
  workloads: Array<[string, Workload]>;
  counts: number[];
  cell: string;
  seconds: number;
  peak: Peak;
  torchScript: string;
}

export async function kernelsMicro(o: MicroOptions): Promise<void> {
  const backends: Array<{ name: string; factory?: RawFactory; error?: string }> = [{ name: 'js' }];
  for (const name of ['wasm', 'native'] as const) {
    const f = factoryOf(name);
    backends.push('error' in f ? { name, error: f.error } : { name, factory: f });
  }
  let torch: TorchChild | null = null;
  let torchError = '';
  try {
    torch = await TorchChild.start(o.torchScript, pythonPath());
  } catch (e) {
    torchError = e instanceof Error ? e.message : String(e);
  }
  const G = GATES[o.cell] ?? 1;
  const rows: Array<{ label: string; cells: Record<string, number | null> }> = [];
  const isas: Record<string, string> = {};
  try {
    for (const [name, w] of o.workloads) {
      for (const workers of o.counts) {
        const M = Math.ceil(w.B / workers), K = w.H, N = G * w.H;
        const cells: Record<string, number | null> = {};
        for (const b of backends) {
          if (b.error) { cells[b.name] = null; continue; }
          const r = b.factory ? timeRaw(b.factory, M, N, K, o.seconds) : timeJs(M, N, K, o.seconds);
          isas[b.name] = r.isa;
          cells[b.name] = r.gflops;
          console.log(JSON.stringify({ mode: 'kernels-micro', workload: name, workers, M, N, K, backend: b.name, isa: r.isa, gflops: +r.gflops.toFixed(2), usPerCall: +r.usPerCall.toFixed(2), calls: r.calls, peakShare: Number.isFinite(o.peak.gflopsPerCore) ? +(r.gflops / o.peak.gflopsPerCore).toFixed(4) : null }));
        }
        if (torch) {
          const r = await torch.mm(M, N, K, o.seconds, true);
          cells.torch = r.gflops;
          console.log(JSON.stringify({ mode: 'kernels-micro', workload: name, workers, M, N, K, backend: 'torch.mm', isa: torch.info.openblas_core ?? '', gflops: r.gflops, usPerCall: r.usPerCall, calls: r.calls, peakShare: Number.isFinite(o.peak.gflopsPerCore) ? +(r.gflops / o.peak.gflopsPerCore).toFixed(4) : null }));
        }
        rows.push({ label: `${name.padEnd(10)} ${String(workers).padStart(7)}  ${`${M}x${K} . ${K}x${N}`.padEnd(18)}`, cells });
      }
    }
  } finally {
    await torch?.close();
  }
  const cols = backends.map((b) => ({ key: b.name, title: b.error ? `${b.name}` : `${b.name} (${isas[b.name] ?? b.factory?.isa ?? ''})` }));
  if (torch) cols.push({ key: 'torch', title: `torch.mm (${torch.info.openblas_core ?? 'BLAS'})` });
  console.log(`\nGFLOP/s of one thread on the per-step product (B/workers, H)·(H, ${G > 1 ? `${G}·` : ''}H), B packed once; median over chunks of calls`);
  console.log(o.peak.assumption);
  console.log(`workload   workers  M x K . K x N       ${cols.map((c) => c.title.padStart(Math.max(12, c.title.length))).join('  ')}`);
  for (const r of rows) {
    console.log(`${r.label} ${cols.map((c) => {
      const v = r.cells[c.key];
      const s = v === null || v === undefined ? '-' : `${v.toFixed(1)} (${Number.isFinite(o.peak.gflopsPerCore) ? ((v / o.peak.gflopsPerCore) * 100).toFixed(0) : '?'}%)`;
      return s.padStart(Math.max(12, c.title.length));
    }).join('  ')}`);
  }
  for (const b of backends) if (b.error) console.log(`${b.name}: not available (${b.error})`);
  if (!torch) console.log(`torch.mm: not measured (${torchError})`);
}

