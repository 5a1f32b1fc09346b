// `npm run bench`: training tokens/s on the reference workloads (../shared/bench/workloads.json),
// for each worker count asked. Random tokens uniform in [1, V), every sequence of full length T,
// Adam lr 1e-3, many-to-one with C classes. One JSON object per line, then a table.
//
//   npm run bench -- [--workers 1,2] [--workloads W-small,W-medium,W-large] [--input embedding,onehot]
//                    [--seconds S] [--file PATH]

import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { ModelSpec } from '../model/spec.js';
import { makeLayout, allocParams } from '../model/params.js';
import { initParams } from '../model/init.js';
import { Coordinator } from '../parallel/coordinator.js';
import { Optimizer, defaultOptimizer } from '../train/optim.js';
import { Rng } from '../util/prng.js';
import { toShared, arenaOf } from '../util/shared.js';
import type { EncodedSplit } from '../data/index.js';
import { parseArgs, runMain } from '../cli/args.js';

interface Workload { V: number; E: number; H: number; C: number; B: number; T: number }

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function randomSplit(w: Workload, batches: number, rng: Rng): EncodedSplit {
  const count = w.B * batches;
  const tokens = new Int32Array(count * w.T);
  for (let i = 0; i < tokens.length; i++) tokens[i] = 1 + rng.int(w.V - 1);
  const starts = Int32Array.from({ length: count }, (_, i) => i * w.T);
  const lengths = new Int32Array(count).fill(w.T);
  const labels = Int32Array.from({ length: count }, () => rng.int(w.C));
  return { name: 'train', count, tokens: toShared(tokens), starts: toShared(starts), lengths: toShared(lengths), labels: toShared(labels) };
}

interface StepTime { total: number; fwdBwd: number; reduce: number; update: number }

/** A pool training one workload with `workers` threads, timing each step. */
async function runner(w: Workload, input: 'embedding' | 'onehot', workers: number) {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: w.V, H: w.H, C: w.C, E: input === 'embedding' ? w.E : 0 };
  const rng = new Rng(1);
  const batches = 4;
  const split = randomSplit(w, batches, rng);
  const p = allocParams(makeLayout(spec), 'float32');
  initParams(p, spec, rng);
  const opt = new Optimizer(p.layout.size, defaultOptimizer, arenaOf(p.data));
  const co = new Coordinator({ spec, workers, maxB: w.B, maxT: w.T, bpttWindow: 0, splits: { train: split }, params: p, optimizer: opt });
  co.setOrder('train', Int32Array.from({ length: split.count }, (_, i) => i));
  let k = 0;
  const step = async (): Promise<StepTime> => {
    const t0 = performance.now();
    const r = await co.gradients(k, 'train', (k % batches) * w.B, w.B);
    const t1 = performance.now();
    await co.update(r.count, 0);
    const t2 = performance.now();
    k++;
    // Wall-clock parts of a step: forward+backward (dispatch to the slowest shard's end), the
    // reduction of the slots, and the optimizer step.
    return { total: t2 - t0, fwdBwd: t1 - t0 - r.reduceMs, reduce: r.reduceMs, update: t2 - t1 };
  };
  await step(); // warm-up: thread start, JIT
  await step();
  return { step, close: () => co.close() };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Every worker count on one workload, in alternating rounds of about a second each (this VM's
 * speed drifts over seconds; alternating gives every count the same conditions), then the median
 * of each timing over all steps.
 */
async function measure(name: string, w: Workload, input: 'embedding' | 'onehot', counts: number[], seconds: number) {
  const runners = [];
  for (const n of counts) runners.push(await runner(w, input, n));
  const times: StepTime[][] = counts.map(() => []);
  try {
    const start = performance.now();
    const round = Math.min(1000, (seconds * 1000) / 2);
    while (times.some((t) => t.length < 3) || (performance.now() - start < seconds * 1000 * counts.length && times.every((t) => t.length < 400))) {
      for (let i = 0; i < runners.length; i++) {
        const r0 = performance.now();
        do times[i].push(await runners[i].step());
        while (performance.now() - r0 < round && times[i].length < 400);
      }
    }
  } finally {
    for (const r of runners) await r.close();
  }
  return counts.map((workers, i) => {
    const rows = times[i];
    const med = (f: (r: StepTime) => number) => +median(rows.map(f)).toFixed(2);
    const stepMs = median(rows.map((r) => r.total));
    return {
      workload: name, input, workers,
      tokensPerSec: Math.round((w.B * w.T) / (stepMs / 1000)),
      stepMs: +stepMs.toFixed(2),
      fwdBwdMs: med((r) => r.fwdBwd),
      reduceMs: med((r) => r.reduce),
      updateMs: med((r) => r.update),
      rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
      steps: rows.length,
    };
  });
}

runMain(async () => {
  const args = parseArgs(process.argv.slice(2), {
    name: 'npm run bench --',
    summary: 'Training tokens/s of the reference workloads, per worker count.',
    examples: [['npm run bench', 'every workload, both inputs, 1 and 2 workers'], ['npm run bench -- --workers 1,2 --workloads W-medium --input onehot']],
    flags: {
      workers: { type: 'string', help: 'comma-separated worker counts', default: '1,2' },
      workloads: { type: 'string', help: 'comma-separated workload names', default: 'W-small,W-medium,W-large' },
      input: { type: 'string', help: 'embedding, onehot, or both', default: 'embedding,onehot' },
      seconds: { type: 'number', min: 0, help: 'measuring time per row (after 2 warm-up steps)', default: 6 },
      file: { type: 'string', help: 'workloads file', default: join(root, '..', 'shared', 'bench', 'workloads.json') },
    },
  });
  const file = args.file;
  if (!existsSync(file)) throw new Error(`workloads file not found: ${file} (pass --file)`);
  const all = JSON.parse(readFileSync(file, 'utf8')).workloads as Record<string, Workload>;
  const out = [];
  for (const name of String(args.workloads).split(',')) {
    const w = all[name];
    if (!w) throw new Error(`unknown workload ${name}; have ${Object.keys(all).join(', ')}`);
    for (const input of String(args.input).split(',') as Array<'embedding' | 'onehot'>) {
      for (const r of await measure(name, w, input, String(args.workers).split(',').map(Number), args.seconds)) {
        console.log(JSON.stringify(r));
        out.push(r);
      }
    }
  }
  console.log('\nmedians over all steps; reduce + update as a share of the step in the last column');
  console.log('workload   input      workers  tokens/s   step ms  fwd+bwd ms  reduce ms  update ms  speedup  r+u');
  for (const r of out) {
    const base = out.find((x) => x.workload === r.workload && x.input === r.input && x.workers === 1);
    const speedup = base ? (r.tokensPerSec / base.tokensPerSec).toFixed(2) + 'x' : '';
    console.log(`${r.workload.padEnd(10)} ${r.input.padEnd(10)} ${String(r.workers).padStart(7)} ${String(r.tokensPerSec).padStart(9)} ${r.stepMs.toFixed(1).padStart(9)} ${r.fwdBwdMs.toFixed(1).padStart(11)} ${r.reduceMs.toFixed(1).padStart(10)} ${r.updateMs.toFixed(1).padStart(10)}  ${speedup.padStart(7)}  ${(((r.reduceMs + r.updateMs) / r.stepMs) * 100).toFixed(1).padStart(4)}%`);
  }
});
