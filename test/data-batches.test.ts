// Epoch plans (bucketing invariants, reproducibility) and fillBatch.
import t, { type Test } from 'tap';
import { epochPlan, fillBatch, longestExample, paddingFraction, type EncodedSplit, type EpochPlan } from '../src/data/index.js';
import { allocBatch } from '../src/model/batch.js';
import { Rng } from '../src/util/prng.js';
import { sharedInt32, toShared } from '../src/util/shared.js';

/** A split of `n` examples with lengths 1..maxLen; token j of example i is 1000*i + j. */
function synthetic(n: number, maxLen: number, seed = 3, labelled = true): EncodedSplit {
  const rng = new Rng(seed);
  const lengths = new Int32Array(n), starts = new Int32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    lengths[i] = 1 + rng.int(maxLen);
    starts[i] = total;
    total += lengths[i] + 1; // one extra token: the last target (many-to-many)
  }
  const tokens = new Int32Array(total);
  for (let i = 0; i < n; i++) for (let j = 0; j <= lengths[i]; j++) tokens[starts[i] + j] = 1000 * i + j;
  const labels = labelled ? Int32Array.from({ length: n }, (_, i) => i % 3) : new Int32Array(0);
  return { name: 'train', count: n, tokens: toShared(tokens), starts: toShared(starts), lengths: toShared(lengths), labels: labelled ? toShared(labels) : sharedInt32(0) };
}

/** Checks every invariant of a plan. */
function checkPlan(t: Test, s: EncodedSplit, plan: EpochPlan, B: number): void {
  const seen = new Int32Array(s.count);
  for (const i of plan.order) seen[i]++;
  t.ok(seen.every((c) => c === 1), 'each example exactly once');
  t.equal(plan.batchStarts[0], 0);
  t.equal(plan.batchStarts[plan.batchStarts.length - 1], s.count);
  let partial = 0, unsorted = 0;
  for (let k = 0; k + 1 < plan.batchStarts.length; k++) {
    const n = plan.batchStarts[k + 1] - plan.batchStarts[k];
    if (n !== B) partial++;
    for (let j = plan.batchStarts[k] + 1; j < plan.batchStarts[k + 1]; j++) if (s.lengths[plan.order[j]] > s.lengths[plan.order[j - 1]]) unsorted++;
  }
  t.ok(partial <= 1, 'at most one batch smaller than batchSize');
  t.equal(unsorted, 0, 'lengths descend within each batch');
}

t.test('epochPlan: invariants, reproducible from (seed, epoch), different across epochs', async (t) => {
  const s = synthetic(5003, 200);
  const B = 32;
  for (let epoch = 0; epoch < 3; epoch++) checkPlan(t, s, epochPlan(s, { batchSize: B, seed: 9, epoch }), B);
  const a = epochPlan(s, { batchSize: B, seed: 9, epoch: 4 });
  const b = epochPlan(s, { batchSize: B, seed: 9, epoch: 4 });
  // (Typed arrays compared as bytes: tap's deep diff of 5000-element arrays is slow.)
  const same = (x: Int32Array, y: Int32Array) => Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength)) === 0;
  t.ok(same(a.order, b.order) && same(a.batchStarts, b.batchStarts), 'same seed and epoch: same plan (a resumed run rebuilds it)');
  t.notOk(same(a.order, epochPlan(s, { batchSize: B, seed: 9, epoch: 5 }).order), 'another epoch: another order');
  t.notOk(same(a.order, epochPlan(s, { batchSize: B, seed: 10, epoch: 4 }).order), 'another seed: another order');
  const shuffledPad = paddingFraction(s, a);
  // Unbucketed: consecutive ids, whose lengths are independent uniform 1..200.
  const plain: EpochPlan = { order: Int32Array.from({ length: s.count }, (_, i) => i), batchStarts: Int32Array.from({ length: Math.ceil(s.count / B) + 1 }, (_, k) => Math.min(k * B, s.count)) };
  const plainPad = paddingFraction(s, plain);
  t.comment(`padding, lengths uniform 1..200, B=${B}: bucketed ${shuffledPad.toFixed(4)}, unbucketed ${plainPad.toFixed(4)}`);
  t.ok(shuffledPad < 0.05, 'bucketing keeps padding under 5%');
  t.ok(plainPad > 0.4, 'without it, about half is padding');
});

t.test('epochPlan without shuffle: sorted by length, deterministic, seed-independent', async (t) => {
  const s = synthetic(1000, 50);
  const p = epochPlan(s, { batchSize: 64, seed: 1, epoch: 0, shuffle: false });
  checkPlan(t, s, p, 64);
  const q = epochPlan(s, { batchSize: 64, seed: 2, epoch: 7, shuffle: false });
  t.ok(p.order.every((v, i) => v === q.order[i]), 'the same for any seed and epoch');
  for (let j = 1; j < s.count; j++) {
    const a = p.order[j - 1], b = p.order[j];
    if (s.lengths[a] < s.lengths[b] || (s.lengths[a] === s.lengths[b] && a > b)) {
      t.fail(`not sorted at ${j}`);
      break;
    }
  }
  const empty = synthetic(0, 5);
  t.same(epochPlan(empty, { batchSize: 8, seed: 1, epoch: 0 }), { order: new Int32Array(0), batchStarts: new Int32Array([0]) }, 'an empty split has no batches');
});

t.test('fillBatch many-to-one: right-padded tokens, lengths, labels', async (t) => {
  const s = synthetic(50, 12);
  const plan = epochPlan(s, { batchSize: 8, seed: 1, epoch: 0 });
  const batch = allocBatch(8, longestExample(s));
  batch.tokens.fill(-1); // stale values from an earlier batch must be overwritten
  for (let k = 0; k + 1 < plan.batchStarts.length; k++) {
    const off = plan.batchStarts[k], n = plan.batchStarts[k + 1] - off;
    fillBatch(s, 'many-to-one', plan.order, off, n, batch);
    t.equal(batch.B, n);
    t.equal(batch.T, s.lengths[plan.order[off]], 'T is the longest (first) of the batch');
    let bad = 0;
    for (let b = 0; b < n; b++) {
      const i = plan.order[off + b];
      if (batch.lengths[b] !== s.lengths[i] || batch.labels[b] !== s.labels[i]) bad++;
      for (let j = 0; j < batch.T; j++) {
        const want = j < s.lengths[i] ? 1000 * i + j : 0;
        if (batch.tokens[b * batch.T + j] !== want) bad++;
      }
    }
    t.equal(bad, 0, `batch ${k}`);
  }
  t.throws(() => fillBatch(s, 'many-to-one', plan.order, 0, 8, allocBatch(8, 2)), /does not fit/);
});

t.test('fillBatch many-to-many: targets are the next tokens, 0 on padding', async (t) => {
  const s = synthetic(20, 6, 4, false);
  const ids = Int32Array.from([3, 7, 1]);
  const batch = allocBatch(4, 6);
  batch.targets.fill(-1);
  fillBatch(s, 'many-to-many', ids, 0, 3, batch);
  const T = batch.T;
  for (let b = 0; b < 3; b++) {
    const i = ids[b];
    const tk = Array.from(batch.tokens.subarray(b * T, b * T + T));
    const tg = Array.from(batch.targets.subarray(b * T, b * T + T));
    const L = s.lengths[i];
    t.same(tk, Array.from({ length: T }, (_, j) => (j < L ? 1000 * i + j : 0)));
    t.same(tg, Array.from({ length: T }, (_, j) => (j < L ? 1000 * i + j + 1 : 0)));
  }
});
