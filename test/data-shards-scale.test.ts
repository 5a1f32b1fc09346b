// Token shards at scale (issue 19): more index records than prepare holds in one piece (65,536: the
// rest go through its temporary records file) and than readShardIndex/shardDataset read at once,
// many-to-one and many-to-many, equal to the same data in memory; plans written straight into a
// given order array (the coordinator's) equal to the plans in new arrays, and streamPlan equal to
// its earlier form (kept here as the reference: per-chunk copies, same order).

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset, epochPlan, streamPlan, continuesChunk, type EncodedSplit, type EpochPlan } from '../src/data/index.js';
import { wholeSplit } from './helpers/shards.js';
import { prepareData } from '../src/data/prepare.js';
import { readShardIndex, closeShards } from '../src/data/shards.js';
import { Rng } from '../src/util/prng.js';
import { ORDER_STREAM } from '../src/data/batches.js';

const equal = (a: ArrayLike<unknown>, b: ArrayLike<unknown>) => a.length === b.length && Array.prototype.every.call(a, (x, i) => x === b[i]);


t.test('more records than one piece: prepare and read back = in memory', async (t) => {
  const dir = t.testdir({});
  const r = new Rng(3);
  // 90,000 short rows (over two pieces of 65,536) as classifier lines and as documents.
  const rows = Array.from({ length: 90_000 }, (_, i) => 'abcdefgh'.slice(0, 1 + r.int(7)) + i.toString(36)); // distinct: split by hash
  writeFileSync(join(dir, 'd.tsv'), 'text\tlabel\n' + rows.map((x, i) => `${x}\t${'xyz'[i % 3]}`).join('\n') + '\n');
  writeFileSync(join(dir, 'd.txt'), rows.map((x) => x + 'ij'.slice(0, r.int(3))).join('\n\n') + '\n');
  for (const [task, data] of [
    ['many-to-one', { source: 'files', file: 'd.tsv', maxLength: 6, split: { val: 0.1, test: 0.1 } }],
    ['many-to-many', { source: 'files', file: 'd.txt', seqLength: 3, split: { val: 0.1, test: 0.1 } }],
  ] as const) {
    const out = join(dir, `out-${task}`);
    await prepareData(data, { configDir: dir, task, out, workers: 1, shardTokens: 100_000 });
    const idx = readShardIndex(out);
    t.ok(Math.max(...idx.counts) > 65_536 && idx.counts.every((c) => c > 0), `${task}: ${idx.counts.join('/')} records, ${idx.shards.length} shards`);
    const mem = loadDataset(data, { configDir: dir, task });
    const sh = loadDataset({ ...data, shards: out }, { configDir: dir, task });
    for (const s of ['train', 'val', 'test'] as const) {
      const x = mem.splits[s], y = sh.splits[s];
      t.equal(y.count, x.count, `${task} ${s}: ${x.count} examples`);
      const wx = wholeSplit(mem, x), wy = wholeSplit(sh, y);
      t.ok(equal(wy.lengths, wx.lengths) && equal(wy.labels, wx.labels), `${task} ${s}: lengths and labels`);
      t.ok(equal(wy.tokens, wx.tokens), `${task} ${s}: tokens`);
      if (task === 'many-to-many') t.ok(equal(wy.cont, wx.cont), `${task} ${s}: document boundaries`);
    }
    closeShards(sh);
  }
});

/** streamPlan as it was before it lost its per-chunk copies (src/data/batches.ts at 30d558e). */
function referenceStreamPlan(split: EncodedSplit, o: { batchSize: number; seed: number; epoch: number; shuffle?: boolean }): EpochPlan {
  const B = o.batchSize, n = split.count;
  const docStarts: number[] = [];
  for (let i = 0; i < n; i++) if (!continuesChunk(split, i)) docStarts.push(i);
  const docs = Int32Array.from(docStarts.keys());
  if (o.shuffle !== false) new Rng(o.seed, ORDER_STREAM + o.epoch).shuffle(docs);
  const seq = new Int32Array(n);
  let at = 0;
  for (const d of docs) {
    const end = d + 1 < docStarts.length ? docStarts[d + 1] : n;
    for (let i = docStarts[d]; i < end; i++) seq[at++] = i;
  }
  const S = Math.ceil(n / B), rows = Math.ceil(n / Math.max(1, S));
  const order = new Int32Array(n), batchStarts = new Int32Array(S + 1);
  at = 0;
  for (let k = 0; k < S; k++) {
    batchStarts[k] = at;
    for (let b = 0; b < rows; b++) if (b * S + k < n) order[at++] = seq[b * S + k];
  }
  batchStarts[S] = at;
  return { order, batchStarts };
}

t.test('plans: written into a given array = in a new one; streamPlan = its earlier form', async (t) => {
  const r = new Rng(11);
  for (const n of [0, 1, 7, 100, 1001]) {
    // Documents of 1..5 chunks, chunks of lengths 1..9, laid out as loadDataset lays them out.
    const lengths = new Int32Array(n), starts = new Int32Array(n);
    for (let i = 0, at = 0, left = 0; i < n; i++) {
      if (left === 0) { left = 1 + r.int(5); at += 1; } // a new document starts one token later
      lengths[i] = 1 + r.int(9);
      starts[i] = at;
      at += lengths[i];
      left--;
    }
    const split: EncodedSplit = { name: 'train', count: n, tokens: new Int32Array(0), starts, lengths, labels: new Int32Array(0) };
    for (const B of [1, 3, 32]) {
      for (const shuffle of [true, false]) {
        const o = { batchSize: B, seed: 5, epoch: 2, shuffle };
        const ref = referenceStreamPlan(split, o), a = streamPlan(split, o);
        const into = new Int32Array(n + 3).fill(-7);
        const b = streamPlan(split, { ...o, into });
        t.ok(equal(a.order, ref.order) && equal(a.batchStarts, ref.batchStarts), `streamPlan n=${n} B=${B} shuffle=${shuffle}: the earlier plan`);
        t.ok(b.order.buffer === into.buffer && equal(b.order, a.order) && equal(b.batchStarts, a.batchStarts) && into[n] === -7, `streamPlan n=${n} B=${B} shuffle=${shuffle}: into the given array, nothing past n`);
        const e = epochPlan(split, o), f = epochPlan(split, { ...o, into });
        t.ok(f.order.buffer === into.buffer && equal(f.order, e.order) && equal(f.batchStarts, e.batchStarts), `epochPlan n=${n} B=${B} shuffle=${shuffle}: into the given array`);
      }
    }
  }
  t.throws(() => streamPlan({ name: 'train', count: 5, tokens: new Int32Array(0), starts: new Int32Array(5), lengths: new Int32Array(5).fill(1), labels: new Int32Array(0) }, { batchSize: 2, seed: 1, epoch: 0, into: new Int32Array(4) }), /holds 4 ids/);
});
