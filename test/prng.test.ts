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
