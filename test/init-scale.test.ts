// Initialization that scales (issue 19, item 5): the faster orthogonal init (fused loops, two rows
// at a time, normals drawn with the state in locals) gives the same bits as the plain loops it
// replaced, so seeded runs and the README's checkpoints are unchanged: checked against that plain
// code (kept here as the reference) and against hashes recorded from it before the change. And
// initParamsAsync yields to the event loop, so an AbortSignal stops it at once.

import t from 'tap';
import { createHash } from 'node:crypto';
import { makeLayout, allocParams, type Params } from '../src/model/params.js';
import { initParams, initParamsAsync, type InitOptions } from '../src/model/init.js';
import type { ModelSpec } from '../src/model/spec.js';
import { Rng } from '../src/util/prng.js';

/** The initialization before the change (src/model/init.ts at f680adf), verbatim in its arithmetic. */
function referenceInit(p: Params, spec: ModelSpec, rng: Rng, opts: InitOptions): void {
  const { V, H, C, E } = spec;
  const torch = opts.init === 'pytorch';
  const k = 1 / Math.sqrt(H);
  const uniform = (w: Float32Array | Float64Array, limit: number) => { for (let i = 0; i < w.length; i++) w[i] = (2 * rng.uniform() - 1) * limit; };
  p.data.fill(0);
  if (E > 0) for (let i = 0; i < V * E; i++) p.Wemb![i] = rng.normal();
  p.layers.forEach((lp, l) => {
    const I = l > 0 ? H : E;
    if (torch) {
      for (const w of [lp.Wih, lp.Whh, lp.bih, lp.bhh]) if (w) uniform(w, k);
    } else {
      if (l === 0 && E === 0) uniform(lp.Wih, k);
      else uniform(lp.Wih, Math.sqrt(6 / (I + H)));
      for (let g = 0; g < p.G; g++) {
        const block = lp.Whh.subarray(g * H * H, (g + 1) * H * H);
        if (opts.recurrentInit === 'orthogonal') {
          const n = H, q = new Float64Array(n * n);
          for (let i = 0; i < n * n; i++) q[i] = rng.normal();
          for (let i = 0; i < n; i++) {
            const ri = i * n;
            for (let pass = 0; pass < 2; pass++) {
              for (let j = 0; j < i; j++) {
                const rj = j * n;
                let d = 0;
                for (let k = 0; k < n; k++) d += q[ri + k] * q[rj + k];
                for (let k = 0; k < n; k++) q[ri + k] -= d * q[rj + k];
              }
            }
            let norm = 0;
            for (let k = 0; k < n; k++) norm += q[ri + k] * q[ri + k];
            norm = Math.sqrt(norm);
            for (let k = 0; k < n; k++) q[ri + k] /= norm;
          }
          for (let i = 0; i < n * n; i++) block[i] = q[i] * opts.recurrentScale;
        } else for (let i = 0; i < H * H; i++) block[i] = (rng.normal() * opts.recurrentScale) / Math.sqrt(H);
      }
    }
    const T = opts.chrono ?? 0;
    if (T > 0 && spec.cell !== 'rnn') {
      for (let j = 0; j < H; j++) {
        const b = Math.log(1 + rng.uniform() * Math.max(0, T - 2));
        lp.bih[H + j] = b;
        lp.bhh![H + j] = 0;
        if (spec.cell === 'lstm') { lp.bih[j] = -b; lp.bhh![j] = 0; }
      }
    } else if (spec.cell === 'lstm') for (let i = H; i < 2 * H; i++) lp.bih[i] += opts.forgetBias ?? 1;
  });
  if (torch) { uniform(p.Wya, k); uniform(p.by, k); } else uniform(p.Wya, Math.sqrt(6 / (H + C)));
}

const base: InitOptions = { recurrentInit: 'orthogonal', recurrentScale: 1, init: 'standard', forgetBias: 1, chrono: 0 };
// [spec, options, sha256 prefix of the float32 parameters from seed 7, stream 0x1417, recorded before the change]
const cases: Array<[ModelSpec, Partial<InitOptions>, string]> = [
  [{ cell: 'rnn', task: 'many-to-one', V: 30, H: 17, C: 3, E: 0, layers: 1 }, {}, '2b81f8d9208c68c4'],
  [{ cell: 'lstm', task: 'many-to-many', V: 40, H: 33, C: 40, E: 8, layers: 2 }, {}, 'cb6fb57652235efc'],
  [{ cell: 'gru', task: 'many-to-many', V: 20, H: 64, C: 20, E: 0, layers: 3 }, {}, '18b8e7cb16186182'],
  [{ cell: 'lstm', task: 'many-to-one', V: 50, H: 128, C: 5, E: 16, layers: 1 }, { recurrentScale: 0.9 }, '82a8e066e7555fb4'],
  [{ cell: 'gru', task: 'many-to-one', V: 50, H: 24, C: 5, E: 0, layers: 2 }, { recurrentInit: 'normal', recurrentScale: 1.2 }, '4b88636c7ab637ac'],
  [{ cell: 'lstm', task: 'many-to-many', V: 50, H: 24, C: 50, E: 0, layers: 2 }, { init: 'pytorch' }, '973dd7bdbf245829'],
  [{ cell: 'gru', task: 'many-to-many', V: 50, H: 24, C: 50, E: 4, layers: 2 }, { chrono: 50 }, '3ac7d494d75ee417'],
];
const hash = (p: Params) => createHash('sha256').update(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength)).digest('hex').slice(0, 16);

t.test('initParams gives the bits of the plain loops (and the hashes recorded before the change)', async (t) => {
  for (const [spec, o, recorded] of cases) {
    const opts = { ...base, ...o };
    const p = allocParams(makeLayout(spec), 'float32'), ref = allocParams(makeLayout(spec), 'float32');
    const rng = new Rng(7, 0x1417), refRng = new Rng(7, 0x1417);
    initParams(p, spec, rng, opts);
    referenceInit(ref, spec, refRng, opts);
    const what = `${spec.cell} H=${spec.H} ${JSON.stringify(o)}`;
    t.ok(Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).equals(Buffer.from(ref.data.buffer, ref.data.byteOffset, ref.data.byteLength)), `${what}: same bits as the reference`);
    t.same(rng.getState(), refRng.getState(), `${what}: the generator ends in the same state`);
    t.equal(hash(p), recorded, `${what}: the hash recorded before the change`);
  }
  // Every small size (odd, even, 1), float64 too: the two-row pipeline's edges.
  for (let H = 1; H <= 12; H++) {
    const spec: ModelSpec = { cell: 'lstm', task: 'many-to-many', V: 5, H, C: 5, E: 0, layers: 1 };
    const p = allocParams(makeLayout(spec), 'float64'), ref = allocParams(makeLayout(spec), 'float64');
    initParams(p, spec, new Rng(H), base);
    referenceInit(ref, spec, new Rng(H), base);
    t.same(Array.from(p.data), Array.from(ref.data), `H=${H}: same values`);
  }
});

t.test('Rng.fillNormal draws what normal() draws, and leaves the same state', async (t) => {
  const a = new Rng(11, 3), b = new Rng(11, 3);
  const out = new Float64Array(1000);
  a.fillNormal(out, 10, 990);
  const ref = Array.from({ length: 980 }, () => b.normal());
  t.same(Array.from(out.subarray(10, 990)), ref);
  t.equal(out[0] + out[999], 0, 'nothing written outside the range');
  t.same(a.getState(), b.getState());
  t.equal(a.uniform(), b.uniform());
});

t.test('initParamsAsync: the same bits; an AbortSignal stops it within a slice', async (t) => {
  const spec: ModelSpec = { cell: 'gru', task: 'many-to-many', V: 10, H: 48, C: 10, E: 4, layers: 2 };
  const p = allocParams(makeLayout(spec), 'float32'), ref = allocParams(makeLayout(spec), 'float32');
  t.equal(await initParamsAsync(p, spec, new Rng(5), base, undefined, 0), true, 'ran to the end (yielding at every row)');
  initParams(ref, spec, new Rng(5), base);
  t.equal(hash(p), hash(ref));

  // Large enough to take seconds in one go (three 640 × 640 orthogonal blocks); stopped after 30 ms.
  const big: ModelSpec = { cell: 'gru', task: 'many-to-many', V: 10, H: 640, C: 10, E: 0, layers: 1 };
  const ac = new AbortController();
  let abortedAt = 0;
  setTimeout(() => { abortedAt = performance.now(); ac.abort(); }, 30);
  const done = await initParamsAsync(allocParams(makeLayout(big), 'float32'), big, new Rng(5), base, ac.signal);
  const late = performance.now() - abortedAt;
  t.equal(done, false, 'stopped');
  t.ok(abortedAt > 0 && late < 500, `returned ${late.toFixed(0)} ms after the abort`);
});
