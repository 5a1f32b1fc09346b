// One W-medium classifier training step (forward + BPTT, bench/workloads.json) on a backend, for
// instruction counts under callgrind: run it with steps = 1 and steps = 3; the difference / 2 is a
// step's instructions, without the start-up.
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null node bench/callgrind-step.mjs native lstm 3
import { makeLayout, allocParams } from '../dist/src/model/params.js';
import { initParams } from '../dist/src/model/init.js';
import { allocWorkspace, forwardBackward } from '../dist/src/model/rnn.js';
import { batchFrom } from '../dist/src/model/batch.js';
import { createKernels } from '../dist/src/model/backend/index.js';
import { arenaOf } from '../dist/src/util/shared.js';
import { Rng } from '../dist/src/util/prng.js';

const [backend = 'native', cell = 'lstm', steps = '1'] = process.argv.slice(2);
const { V, E, H, C, B, T } = { V: 10000, E: 64, H: 128, C: 5, B: 32, T: 64 };
const spec = { cell, task: 'many-to-one', V, H, C, E };
const layout = makeLayout(spec);
const p = allocParams(layout, 'float32');
initParams(p, spec, new Rng(1));
const arena = arenaOf(p.data);
const g = allocParams(layout, 'float32', arena ?? undefined);
const ws = allocWorkspace(spec, B, T, createKernels(backend, arena));
const r = new Rng(2);
const batch = batchFrom(Array.from({ length: B }, () => Array.from({ length: T }, () => 1 + r.int(V - 1))), { labels: Array.from({ length: B }, () => r.int(C)), T });
let loss = 0;
for (let s = 0; s < Number(steps); s++) loss += forwardBackward(p, g, ws, batch).lossSum;
console.log(backend, cell, steps, loss);
