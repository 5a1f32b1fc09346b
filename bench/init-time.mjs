// CPU time (user + sys, process.cpuUsage) of initParams for a model shape, from dist/ (npm run build first):
//   node bench/init-time.mjs lstm 1024 [E=256] [layers=1] [js|native]
import { makeLayout, allocParams } from '../dist/src/model/params.js';
import { initParams } from '../dist/src/model/init.js';
import { Rng } from '../dist/src/util/prng.js';

const [cell = 'lstm', H = '1024', E = '256', layers = '1', engine] = process.argv.slice(2);
const spec = { cell, task: 'many-to-many', V: 64, H: +H, C: 64, E: +E, layers: +layers };
const p = allocParams(makeLayout(spec), 'float32');
const t0 = process.cpuUsage();
initParams(p, spec, new Rng(1), { recurrentInit: 'orthogonal', recurrentScale: 1, init: 'standard', forgetBias: 1, chrono: 0, ...(engine ? { engine } : {}) });
const t = process.cpuUsage(t0);
console.log(`${cell} H=${H} E=${E} layers=${layers} ${engine ?? 'default'}: init ${((t.user + t.system) / 1e6).toFixed(2)} s CPU (user ${(t.user / 1e6).toFixed(2)}, sys ${(t.system / 1e6).toFixed(2)})`);
