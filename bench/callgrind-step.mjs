// One training step (forward + BPTT) on a backend, for instruction counts under callgrind: run it
// with steps = 1 and steps = 3; the difference / 2 is a step's instructions, without the start-up.
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null node bench/callgrind-step.mjs native lstm 3
// Default: the W-medium classifier (bench/workloads.json). `lm [full|adaptive|tied]` instead: a
// language model of LM-large's V = 50,000 and H = 512 (E = 64: the table's start-up, not the step,
// is what valgrind would spend its time on) on a small batch (B = 8, T = 16) with Zipf-distributed
// tokens (src/bench/zipf.ts), and that output layer (adaptive: cutoffs [2000, 10000], divValue 4;
// tied: E ≠ H, through a projection).
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null node bench/callgrind-step.mjs native lstm 3 lm adaptive
// `small [B]`: the W-small classifier (V = 2,000, E = 32, H = 64, C = 2, T = 32) at batch B (default
// its 32; 16 is one thread's share with 2 workers), where the per-step cost of the recurrence shows.
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null node bench/callgrind-step.mjs native rnn 3 small 16
import { makeLayout, allocParams } from '../dist/src/model/params.js';
import { initParams } from '../dist/src/model/init.js';
import { allocWorkspace, forwardBackward } from '../dist/src/model/rnn.js';
import { batchFrom } from '../dist/src/model/batch.js';
import { createKernels } from '../dist/src/model/backend/index.js';
import { arenaOf } from '../dist/src/util/shared.js';
import { Rng } from '../dist/src/util/prng.js';

const [backend = 'native', cell = 'lstm', steps = '1', task = 'classify', head = 'full'] = process.argv.slice(2);
const lm = task === 'lm';
const { V, E, H, C, B, T } = lm
  ? { V: 50000, E: 64, H: 512, C: 50000, B: 8, T: 16 }
  : task === 'small'
    ? { V: 2000, E: 32, H: 64, C: 2, B: Number(head === 'full' ? 32 : head), T: 32 }
    : { V: 10000, E: 64, H: 128, C: 5, B: 32, T: 64 };
const spec = { cell, task: lm ? 'many-to-many' : 'many-to-one', V, H, C, E,
  ...(head === 'adaptive' ? { adaptive: { cutoffs: [2000, 10000], divValue: 4, headBias: false } } : head === 'tied' ? { tieWeights: true } : {}) };
const layout = makeLayout(spec);
const p = allocParams(layout, 'float32');
initParams(p, spec, new Rng(1));
const arena = arenaOf(p.data);
const g = allocParams(layout, 'float32', arena ?? undefined);
const ws = allocWorkspace(spec, B, T, createKernels(backend, arena));
const r = new Rng(2);
// Zipf(1) over ids 1..V−1 (inline, so this script also runs against an older dist/ for a before/after count).
const cdf = new Float64Array(V - 1);
for (let i = 0, s = 0; i < V - 1; i++) cdf[i] = s += 1 / (i + 1);
const zipf = () => {
  const u = r.uniform() * cdf[V - 2];
  let lo = 0, hi = V - 2;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid] < u) lo = mid + 1; else hi = mid; }
  return 1 + lo;
};
const seqs = Array.from({ length: B }, () => Array.from({ length: lm ? T + 1 : T }, () => (lm ? zipf() : 1 + r.int(V - 1))));
const batch = lm
  ? batchFrom(seqs.map((s) => s.slice(0, T)), { targets: seqs.map((s) => s.slice(1)), T })
  : batchFrom(seqs, { labels: Array.from({ length: B }, () => r.int(C)), T });
let loss = 0;
for (let s = 0; s < Number(steps); s++) loss += forwardBackward(p, g, ws, batch).lossSum;
console.log(backend, cell, steps, task, head, loss);
