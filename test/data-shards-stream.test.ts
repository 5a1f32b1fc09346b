// Streamed epochs over token shards (issue 19): a split read from shards holds one segment (a shard
// file's examples) at a time, and an epoch takes the segments in an order of the seed, each planned
// on its own (EpochBatches). One segment plans exactly as the whole split did; several give every
// example exactly once per epoch, in an order fixed by the seed, a resumed epoch continues the same
// batches from any batch, the batches hold the in-memory examples of the same ids, and the split's
// arrays are sized by the largest shard, not the corpus. Training from many shards and resuming in
// the middle of a shard is bit-exact (needs `npm run build`).

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset, epochPlan, streamPlan, fillBatch, segmentCounts, leadingCounts, splitTokens, EpochBatches, type EncodedSplit, type EpochPlan } from '../src/data/index.js';
import type { PlanOptions } from '../src/data/batches.js';
import { prepareData } from '../src/data/prepare.js';
import { readShardIndex, shardWindow, closeShards } from '../src/data/shards.js';
import { allocBatch } from '../src/model/batch.js';
import type { DataConfig } from '../src/config/types.js';
import { Rng } from '../src/util/prng.js';
import { exit0, finalState, train, trainAsync } from './fixtures/train/helpers.js';

const equal = (a: ArrayLike<unknown>, b: ArrayLike<unknown>) => a.length === b.length && Array.prototype.every.call(a, (x, i) => x === b[i]);
type PlanOf = (s: EncodedSplit, o: PlanOptions) => EpochPlan;

/** Every batch of an epoch, as arrays of ids, walking EpochBatches from batch `from`. */
function walk(split: EncodedSplit, planOf: PlanOf, o: PlanOptions, from = 0): number[][] {
  const e = new EpochBatches(split, planOf, o);
  const out: number[][] = [];
  for (let k = from; k < e.batches; k++) {
    const { plan, k: j } = e.at(k);
    out.push(Array.from(plan.order.subarray(plan.batchStarts[j], plan.batchStarts[j + 1])));
  }
  return out;
}

function corpus(dir: string): void {
  const r = new Rng(5);
  const w = ['the', 'whale', 'sea', 'ship', 'ahab', 'white', 'and', 'of', 'naïve'];
  const para = () => Array.from({ length: 1 + r.int(3) }, () => Array.from({ length: 2 + r.int(12) }, () => w[r.int(w.length)]).join(' ')).join('\n');
  writeFileSync(join(dir, 'd.txt'), Array.from({ length: 400 }, para).join('\n\n') + '\n');
  writeFileSync(join(dir, 'd.tsv'), 'text\tlabel\n' + Array.from({ length: 600 }, (_, i) => `${para().replace(/\n/g, ' ')} ${i}\t${'xyz'[i % 3]}`).join('\n') + '\n');
}

const LM: DataConfig = { source: 'files', file: 'd.txt', seqLength: 6, eos: true, split: { val: 0.1, test: 0.1 } };
const CL: DataConfig = { source: 'files', file: 'd.tsv', tokenizer: 'word', maxLength: 9, split: { val: 0.1, test: 0.1 } };

t.test('one segment: the plan of the whole split, as before (in memory and from one shard file)', async (t) => {
  const dir = t.testdir({});
  corpus(dir);
  for (const [task, data, plans] of [['many-to-many', LM, [epochPlan, streamPlan]], ['many-to-one', CL, [epochPlan]]] as const) {
    const out = join(dir, `one-${task}`);
    await prepareData(data, { configDir: dir, task, out, workers: 1 });
    const mem = loadDataset(data, { configDir: dir, task });
    const sh = loadDataset({ ...data, shards: out }, { configDir: dir, task });
    t.equal(segmentCounts(sh.splits.train).length, 1, `${task}: one segment`);
    for (const planOf of plans) {
      for (const epoch of [0, 2]) {
        const o = { batchSize: 7, seed: 3, epoch };
        const whole = planOf(mem.splits.train, o);
        const want = Array.from({ length: whole.batchStarts.length - 1 }, (_, k) => Array.from(whole.order.subarray(whole.batchStarts[k], whole.batchStarts[k + 1])));
        t.same(walk(mem.splits.train, planOf, o), want, `${task} ${planOf.name} epoch ${epoch}: in memory, the whole split's plan`);
        t.same(walk(sh.splits.train, planOf, { ...o, into: new Int32Array(sh.splits.train.count) }), want, `${task} ${planOf.name} epoch ${epoch}: from one shard, the same`);
      }
    }
    closeShards(sh);
  }
});

t.test('several shard files: each example once per epoch, in an order of the seed; resume anywhere; in-memory batches of the same ids; memory by the largest shard', async (t) => {
  const dir = t.testdir({});
  corpus(dir);
  for (const [task, data, plans] of [['many-to-many', LM, [epochPlan, streamPlan]], ['many-to-one', CL, [epochPlan]]] as const) {
    const out = join(dir, `many-${task}`);
    await prepareData(data, { configDir: dir, task, out, workers: 1, shardTokens: 900 });
    const mem = loadDataset(data, { configDir: dir, task });
    const sh = loadDataset({ ...data, shards: out }, { configDir: dir, task });
    const train = sh.splits.train, w = shardWindow(train)!;
    const segs = segmentCounts(train);
    t.ok(segs.length >= 4, `${task}: ${segs.length} segments of ${readShardIndex(out).shards.length} shard files`);
    t.equal(segs.reduce((a, b) => a + b, 0), train.count, 'the segments hold every example');
    // Memory: the split's per-example arrays and an epoch's order hold the largest segment, not the split.
    t.equal(w.largest, Math.max(...segs), 'arrays sized by the largest segment');
    t.ok(train.lengths.length === w.largest && train.starts.length === w.largest && w.largest < train.count / 3, `${w.largest} entries for ${train.count} examples`);
    t.equal(splitTokens(train), splitTokens(mem.splits.train), 'the tokens of all segments');
    const B = 5;
    for (const planOf of plans) {
      const into = new Int32Array(w.largest);
      const o = (epoch: number): PlanOptions => ({ batchSize: B, seed: 9, epoch, into });
      const e0 = walk(train, planOf, o(0));
      const ids = e0.flat().sort((a, b) => a - b);
      t.ok(equal(ids, Array.from({ length: train.count }, (_, i) => i)), `${planOf.name}: every example exactly once in the epoch`);
      t.ok(e0.every((b) => b.length >= 1 && b.length <= B), 'batches of at most B');
      // A batch lies within one segment (one shard file), the shards come in an order of the seed.
      const segOf = (id: number) => w.segments.findIndex((g) => id >= g.base && id < g.base + g.count);
      t.ok(e0.every((b) => b.every((id) => segOf(id) === segOf(b[0]))), 'each batch within one shard');
      const order = e0.map((b) => segOf(b[0])).filter((s, i, a) => i === 0 || a[i - 1] !== s);
      t.equal(order.length, segs.length, 'each shard once, its batches together');
      t.notSame(order, [...order].sort((a, b) => a - b), 'the shards shuffled');
      t.same(walk(train, planOf, o(0)), e0, 'the same seed and epoch: the same batches');
      t.notSame(walk(train, planOf, o(1)), e0, 'another epoch: another order');
      t.notSame(walk(train, planOf, { ...o(0), seed: 10 }), e0, 'another seed: another order');
      // Resume: from a batch in the middle of a later shard, the rest of the same epoch.
      const mid = e0.findIndex((b, k) => k > 0 && segOf(b[0]) === order[2]) + 1;
      t.same(walk(train, planOf, o(0), mid), e0.slice(mid), `resumed at batch ${mid} (inside the third shard): the same batches`);
      // The batches hold the examples of the same ids in memory, bit for bit.
      const T = Math.max(...mem.splits.train.lengths);
      const ba = allocBatch(B, T), bb = allocBatch(B, T);
      w.reserve(B * (T + 1));
      const e = new EpochBatches(train, planOf, o(0));
      let same = true;
      for (let k = 0; k < e.batches; k++) {
        const { plan, k: j } = e.at(k);
        const off = plan.batchStarts[j], n = plan.batchStarts[j + 1] - off;
        w.load(plan.order.subarray(off, off + n));
        fillBatch(train, task, plan.order, off, n, bb);
        fillBatch(mem.splits.train, task, plan.order, off, n, ba);
        same &&= ba.B === bb.B && ba.T === bb.T && equal(ba.tokens, bb.tokens) && equal(ba.targets, bb.targets) && equal(ba.labels, bb.labels) && equal(ba.lengths, bb.lengths) && equal(ba.ids, bb.ids);
      }
      t.ok(same, `${planOf.name}: every batch = the in-memory batch of the same ids`);
    }
    // Validation within a token budget: the leading examples, as in memory.
    for (const cap of [0, 50, 400, 1e9]) {
      const a = leadingCounts(mem.splits.val, cap), b = leadingCounts(sh.splits.val, cap);
      t.equal(b.counts.reduce((x, y) => x + y, 0), a.counts[0], `${task} validateTokens ${cap}: the same examples`);
      t.equal(b.tokens, a.tokens, `${task} validateTokens ${cap}: the same tokens`);
    }
    closeShards(sh);
  }
});

t.test('training from many shard files, resumed in the middle of a shard: bit-exact', async (t) => {
  const dir = t.testdir({});
  corpus(dir);
  const data = { ...LM, seqLength: 8 };
  await prepareData(data, { configDir: dir, task: 'many-to-many', out: join(dir, 'shards'), workers: 1, shardTokens: 2500 });
  t.ok(readShardIndex(join(dir, 'shards')).shards.length >= 5, 'several shard files');
  const cfg = join(dir, 'lm.json');
  writeFileSync(cfg, JSON.stringify({ name: 'lm', out: 'runs', seed: 4, checkpoint: { every: 5, keepLast: 10 }, data: { ...data, shards: 'shards' },
    model: { task: 'many-to-many', cell: 'lstm', hidden: 12, input: { embedding: 6 }, dropout: 0.1 }, train: { epochs: 2, batchSize: 4, carryState: true, optimizer: 'adam', lr: 0.01, logEvery: 5 } }));
  const common = ['--config', cfg, '--workers', '2', '--quiet', '--max-steps', '40'];
  const [whole, part] = await Promise.all([trainAsync(...common, '--out', join(dir, 'whole')), trainAsync(...common.slice(0, -1), '17', '--out', join(dir, 'part'))]);
  exit0(t, whole, 'uninterrupted');
  exit0(t, part, 'stopped at step 17');
  const resumed = train(...common, '--out', join(dir, 'part'), '--resume', 'latest');
  exit0(t, resumed, 'resumed at step 15');
  t.same(finalState(join(dir, 'part', 'lm')), finalState(join(dir, 'whole', 'lm')), 'the uninterrupted run\'s weights, moments and counters, bit for bit');
  t.equal(resumed.stdout.match(/test +loss [\d.]+/)?.[0], whole.stdout.match(/test +loss [\d.]+/)?.[0], 'the same test loss');
});
