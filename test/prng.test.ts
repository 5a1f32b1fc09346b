import t from 'tap';
import { Rng } from '../src/util/prng.js';

t.test('same seed and stream give the same numbers; state round-trips', async (t) => {
  const a = new Rng(42, 3);
  const b = new Rng(42, 3);
  const xs = Array.from({ length: 100 }, () => a.nextU32());
  const ys = Array.from({ length: 100 }, () => b.nextU32());
  t.same(xs, ys);
  const s = a.getState();
  const next = a.uniform();
  t.equal(Rng.fromState(s).uniform(), next);
  t.not(new Rng(42, 4).nextU32(), new Rng(42, 3).nextU32());
});

t.test('uniform and normal have the right moments', async (t) => {
  const r = new Rng(7);
  let s = 0, s2 = 0, n = 20000;
  for (let i = 0; i < n; i++) { const z = r.normal(); s += z; s2 += z * z; }
  t.ok(Math.abs(s / n) < 0.03, `mean ${s / n}`);
  t.ok(Math.abs(s2 / n - 1) < 0.05, `var ${s2 / n}`);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < n; i++) counts[r.int(10)]++;
  for (const c of counts) t.ok(Math.abs(c - n / 10) < 200, `bucket ${c}`);
});

t.test('fillNormal draws what normal() draws, fillSymmetric what (2·uniform() − 1)·limit gives; both leave the same state', async (t) => {
  const a = new Rng(11, 3), b = new Rng(11, 3);
  const out = new Float64Array(1000);
  a.fillNormal(out, 10, 990);
  t.same(Array.from(out.subarray(10, 990)), Array.from({ length: 980 }, () => b.normal()));
  t.equal(out[0] + out[999], 0, 'nothing written outside the range');
  t.same(a.getState(), b.getState());
  const f = new Float32Array(500);
  a.fillSymmetric(f, 0.3, 5, 495);
  t.same(Array.from(f.subarray(5, 495)), Array.from(Float32Array.from({ length: 490 }, () => (2 * b.uniform() - 1) * 0.3)));
  t.equal(f[4] + f[495], 0, 'nothing written outside the range');
  t.same(a.getState(), b.getState());
});

/** Marsaglia's polar method, plainly: the reference of fillNormalPairs. */
function polar(r: Rng, count: number): number[] {
  const out: number[] = [];
  while (out.length < count) {
    let x: number, y: number, s: number;
    do {
      x = 2 * r.uniform() - 1;
      y = 2 * r.uniform() - 1;
      s = x * x + y * y;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    out.push(x * f);
    if (out.length < count) out.push(y * f);
  }
  return out;
}

t.test('fillNormalPairs: the polar method, pairs not split by even pieces, an odd count drops its last y', async (t) => {
  const a = new Rng(5, 1), b = new Rng(5, 1);
  const out = new Float64Array(1001);
  a.fillNormalPairs(out, 0, 1001);
  t.same(Array.from(out), polar(b, 1001), 'the plain polar method');
  t.same(a.getState(), b.getState(), 'the same state after (the odd count\'s last pair is used up)');
  const c = new Rng(5, 1), pieces = new Float64Array(1001);
  for (const [from, to] of [[0, 2], [2, 512], [512, 1000], [1000, 1001]]) c.fillNormalPairs(pieces, from, to);
  t.same(Array.from(pieces), Array.from(out), 'even pieces give the one call\'s numbers');
  const f = new Float32Array(9);
  new Rng(5, 1).fillNormalPairs(f, 2, 7);
  t.same(Array.from(f), [0, 0, ...Array.from(Float32Array.from(out.subarray(0, 5))), 0, 0], 'a range of a Float32Array, nothing written outside it');
});

t.test('fillNormalPairs: standard normal moments and quantiles', async (t) => {
  const n = 200_000, z = new Float64Array(n);
  new Rng(13).fillNormalPairs(z);
  let s = 0, s2 = 0, s4 = 0;
  const below = [0, 0, 0];
  for (const v of z) {
    s += v; s2 += v * v; s4 += v ** 4;
    if (v < -1) below[0]++;
    if (v < 0) below[1]++;
    if (v < 1.5) below[2]++;
  }
  // standard errors at n = 200,000: mean 0.0022, variance 0.0032, fourth moment 0.022, fractions ≤ 0.0011
  t.ok(Math.abs(s / n) < 0.01, `mean ${(s / n).toFixed(4)}`);
  t.ok(Math.abs(s2 / n - 1) < 0.015, `variance ${(s2 / n).toFixed(4)}`);
  t.ok(Math.abs(s4 / n - 3) < 0.1, `fourth moment ${(s4 / n).toFixed(3)} (3)`);
  [0.158655, 0.5, 0.933193].forEach((p, i) => t.ok(Math.abs(below[i] / n - p) < 0.005, `P(z < ${[-1, 0, 1.5][i]}) = ${(below[i] / n).toFixed(4)} (Φ: ${p})`));
});
