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
import { toShared } from '../util/shared.js';
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

async function measure(name: string, w: Workload, input: 'embedding' | 'onehot', workers: number, seconds: number) {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: w.V, H: w.H, C: w.C, E: input === 'embedding' ? w.E : 0 };
  const rng = new Rng(1);
  const batches = 4;
  const split = randomSplit(w, batches, rng);
  const p = allocParams(makeLayout(spec), 'float32');
  initParams(p, spec, rng);
  const opt = new Optimizer(p.layout.size, defaultOptimizer, true);
  const co = new Coordinator({ spec, workers, maxB: w.B, maxT: w.T, bpttWindow: 0, splits: { train: split }, params: p, optimizer: opt });
  co.setOrder('train', Int32Array.from({ length: split.count }, (_, i) => i));
  const step = async (k: number) => {
    const t0 = performance.now();
    const r = await co.gradients(k, 'train', (k % batches) * w.B, w.B);
    const t1 = performance.now();
    await co.update(r.count, 0);
    const t2 = performance.now();
    return { total: t2 - t0, fwdBwd: r.fwdBwdMsMax, update: t2 - t1, reduceAndWait: t1 - t0 - r.fwdBwdMsMax };
  };
  try {
    await step(0); // warm-up: thread start, JIT
    await step(1);
    const rows: Array<Awaited<ReturnType<typeof step>>> = [];
    const start = performance.now();
    for (let k = 2; rows.length < 3 || (performance.now() - start < seconds * 1000 && rows.length < 200); k++) rows.push(await step(k));
    const mean = (f: (r: (typeof rows)[0]) => number) => rows.reduce((s, r) => s + f(r), 0) / rows.length;
    const stepMs = mean((r) => r.total);
    return {
      workload: name, input, workers,
      tokensPerSec: Math.round((w.B * w.T) / (stepMs / 1000)),
      stepMs: +stepMs.toFixed(2),
      fwdBwdMs: +mean((r) => r.fwdBwd).toFixed(2),
      // Time between the slowest shard finishing and the reduced gradient being ready (reduce + messaging).
      reduceMs: +mean((r) => r.reduceAndWait).toFixed(2),
      updateMs: +mean((r) => r.update).toFixed(2),
      rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
      steps: rows.length,
    };
  } finally {
    await co.close();
  }
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
      for (const workers of String(args.workers).split(',').map(Number)) {
        const r = await measure(name, w, input, workers, args.seconds);
        console.log(JSON.stringify(r));
        out.push(r);
      }
    }
  }
  console.log('\nworkload   input      workers  tokens/s   step ms  fwd+bwd ms  reduce ms  update ms  speedup');
  for (const r of out) {
    const base = out.find((x) => x.workload === r.workload && x.input === r.input && x.workers === 1);
    const speedup = base ? (r.tokensPerSec / base.tokensPerSec).toFixed(2) + 'x' : '';
    console.log(`${r.workload.padEnd(10)} ${r.input.padEnd(10)} ${String(r.workers).padStart(7)} ${String(r.tokensPerSec).padStart(9)} ${r.stepMs.toFixed(1).padStart(9)} ${r.fwdBwdMs.toFixed(1).padStart(11)} ${r.reduceMs.toFixed(1).padStart(10)} ${r.updateMs.toFixed(1).padStart(10)}  ${speedup}`);
  }
});
