// spinWhile (src/parallel/shard.ts): the step loops' spin on a word in shared memory, which reads
// the clock only once every few hundred loads. It must still see a change at once, give up at its
// deadline, and stop at the abort flag.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { spinWhile } from '../src/parallel/shard.js';
import { SYNC_ABORT, SYNC_STEP } from '../src/parallel/protocol.js';

const sync = () => new Int32Array(new SharedArrayBuffer(4 * 16));

t.test('a value that already differs: true at once', async (t) => {
  const s = sync();
  s[SYNC_STEP] = 3;
  t.equal(spinWhile(s, SYNC_STEP, 2, performance.now() + 10_000), true);
});

t.test('no change: false at the deadline, not before', async (t) => {
  const s = sync(), t0 = performance.now();
  t.equal(spinWhile(s, SYNC_STEP, 0, t0 + 20), false);
  t.ok(performance.now() - t0 >= 20, 'spun until the deadline');
});

t.test('the abort flag ends the spin long before the deadline', async (t) => {
  const s = sync(), t0 = performance.now();
  s[SYNC_ABORT] = 1;
  t.equal(spinWhile(s, SYNC_STEP, 0, t0 + 60_000), false);
  t.ok(performance.now() - t0 < 10_000, 'returned without waiting for the deadline');
});

t.test("another thread's store is seen while spinning", async (t) => {
  const s = sync();
  const w = new Worker(`const { workerData: s } = require('node:worker_threads');
    setTimeout(() => { Atomics.store(s, ${SYNC_STEP}, 1); }, 30);`, { eval: true, workerData: s });
  const t0 = performance.now();
  const changed = spinWhile(s, SYNC_STEP, 0, t0 + 20_000);
  t.equal(changed, true);
  t.equal(Atomics.load(s, SYNC_STEP), 1);
  t.ok(performance.now() - t0 < 20_000, 'did not wait for the deadline');
  await w.terminate();
});
