// `mpirun -np R node dist/src/bench/bench.js --mpi`: the cost of the distributed step's allreduce
// beside the step, on the reference workloads. Every rank trains the same random batches
// (bench.ts's randomSplit, one seed) with `--workers` threads through DistributedStep, whose exchange
// times its one MPI_Allreduce and counts its payload: 4 · (touched rows · width + dense values)
// bytes. Rank 0 prints medians over the measured steps (after 2 warm-up steps).

import { performance } from 'node:perf_hooks';
import type { ModelSpec } from '../model/spec.js';
import { makeLayout, allocParams } from '../model/params.js';
import { initParams } from '../model/init.js';
import { Coordinator, type CoordinatorOptions } from '../parallel/coordinator.js';
import { Distributed, DistributedStep } from '../parallel/distributed.js';
import { LocalStep } from '../parallel/step.js';
import { tokenRows } from '../optim/step.js';
import { Optimizer, defaultOptimizer } from '../optim/optim.js';
import { Rng } from '../util/prng.js';
import { arenaOf } from '../util/shared.js';
import type { EncodedSplit } from '../data/index.js';
import type { Workload } from './flops.js';

export interface MpiBenchOptions {
  workloads: Array<[string, Workload]>;
  workers: number[];
  input: Array<'embedding' | 'onehot'>;
  kernels: CoordinatorOptions['kernels'];
  /** Measured steps per row (after 2 warm-up steps). */
  steps: number;
  randomSplit: (w: Workload, batches: number, rng: Rng) => EncodedSplit;
}

const BATCHES = 4;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchMpi(o: MpiBenchOptions): Promise<void> {
  const dist = await Distributed.open('mpi');
  const log = (s: string) => { if (dist.rank === 0) console.log(s); };
  log(`distributed step on ${dist.size} rank${dist.size > 1 ? 's' : ''} (${dist.library}; ${dist.hosts.map((h, r) => `rank ${r} on ${h}`).join(', ')}); medians over ${o.steps} steps after 2 warm-up steps`);
  const rows: string[] = [];
  for (const [name, w] of o.workloads) {
    for (const input of o.input) {
      for (const workers of o.workers) {
        const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: w.V, H: w.H, C: w.C, E: input === 'embedding' ? w.E : 0 };
        const p = allocParams(makeLayout(spec), 'float32');
        initParams(p, spec, new Rng(1));
        const opt = new Optimizer(p.layout.size, defaultOptimizer, arenaOf(p.data));
        const split = o.randomSplit(w, BATCHES, new Rng(2));
        const co = new Coordinator({ spec, workers, maxB: w.B, maxT: w.T, bpttWindow: 0, splits: { train: split }, params: p, optimizer: opt, kernels: o.kernels });
        const order = Int32Array.from({ length: split.count }, (_, i) => i);
        co.setOrder('train', order);
        const path = new DistributedStep(dist, new LocalStep(co));
        const step: number[] = [], allreduce: number[] = [], bytes: number[] = [];
        try {
          for (let s = 1; s <= o.steps + 2; s++) {
            const t0 = performance.now();
            const r = await path.step({ step: s, split: 'train', order, off: ((s - 1) % BATCHES) * w.B, n: w.B, clipNorm: 0 });
            if (s <= 2) continue;
            step.push(performance.now() - t0);
            allreduce.push(r.allreduceMs);
            bytes.push(r.allreduceBytes);
          }
        } finally {
          await co.destroy();
        }
        const { width, denseStart } = tokenRows(p.layout);
        const meanBytes = bytes.reduce((a, b) => a + b, 0) / bytes.length;
        const rowsPerStep = (meanBytes / 4 - (p.layout.size - denseStart)) / width;
        const ms = median(allreduce), stepMs = median(step);
        rows.push(`${name.padEnd(10)} ${input.padEnd(10)} ${`${dist.size}×${workers}`.padStart(6)} ${(meanBytes / 1024).toFixed(1).padStart(12)} ${rowsPerStep.toFixed(0).padStart(6)} ${String(p.layout.size - denseStart).padStart(7)} ${ms.toFixed(2).padStart(13)} ${stepMs.toFixed(1).padStart(8)} ${((ms / stepMs) * 100).toFixed(1).padStart(5)}%`);
        log(JSON.stringify({ workload: name, input, ranks: dist.size, workers, bytesPerStep: Math.round(meanBytes), tokenRows: Math.round(rowsPerStep), dense: p.layout.size - denseStart, allreduceMs: +ms.toFixed(3), stepMs: +stepMs.toFixed(2) }));
      }
    }
  }
  log('\nworkload   input      ranks×W  KiB per step   rows   dense  allreduce ms  step ms  share');
  for (const r of rows) log(r);
  await dist.close();
}
