// Training steps of the W-small classifier (bench/workloads.json; embedding input, full lengths,
// Adam) through the Coordinator with W worker threads, for per-thread instruction counts under
// callgrind: run it with two step counts, separate threads, and take the difference per thread.
//   valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=/tmp/cg.%p \
//     node bench/callgrind-pool.mjs native 2 20
// Arguments: backend (native|wasm|js), workers, steps, warm-up steps before them (default 4), workload.
import { readFileSync } from 'node:fs';
import { makeLayout, allocParams } from '../dist/src/model/params.js';
import { initParams } from '../dist/src/model/init.js';
import { Coordinator } from '../dist/src/parallel/coordinator.js';
import { Optimizer, defaultOptimizer } from '../dist/src/optim/optim.js';
import { kernelsOf } from '../dist/src/model/backend/index.js';
import { toShared, arenaOf } from '../dist/src/util/shared.js';
import { Rng } from '../dist/src/util/prng.js';

const [backend = 'native', workers = '2', steps = '20', warm = '4', name = 'W-small'] = process.argv.slice(2);
const w = JSON.parse(readFileSync(new URL('./workloads.json', import.meta.url), 'utf8')).workloads[name];
const spec = { cell: 'rnn', task: 'many-to-one', V: w.V, H: w.H, C: w.C, E: w.E };
const rng = new Rng(1);
const p = allocParams(makeLayout(spec), 'float32');
initParams(p, spec, rng);
const opt = new Optimizer(p.layout.size, defaultOptimizer, arenaOf(p.data));
const BATCHES = 4, count = w.B * BATCHES;
const tokens = new Int32Array(count * w.T);
for (let i = 0; i < tokens.length; i++) tokens[i] = 1 + rng.int(w.V - 1);
const split = {
  name: 'train', count, tokens: toShared(tokens),
  starts: toShared(Int32Array.from({ length: count }, (_, i) => i * w.T)),
  lengths: toShared(new Int32Array(count).fill(w.T)),
  labels: toShared(Int32Array.from({ length: count }, () => rng.int(w.C))),
};
const co = new Coordinator({ spec, workers: Number(workers), maxB: w.B, maxT: w.T, bpttWindow: 0, splits: { train: split }, params: p, optimizer: opt, kernels: kernelsOf(backend) });
co.setOrder('train', Int32Array.from({ length: count }, (_, i) => i));
let loss = 0;
co.onMain = true;
const total = Number(warm) + Number(steps);
// Valgrind makes every step slow: keep shard 0 on the main thread, as short steps run it natively.
for (let k = 1; k <= total; k++, co.onMain = true) loss += (await co.step(k, 'train', ((k - 1) % BATCHES) * w.B, w.B, 0)).lossSum;
await co.close();
console.log(backend, workers, steps, name, loss);
