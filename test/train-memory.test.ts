// Sizes checked before allocation (issue 13): the memory a config needs is computed from it and a
// run that cannot fit is refused with the figure, the limit and the fields to change, exit 2, no
// stack, before the data loads. It used to fail inside an allocation (SharedArena ... exceed,
// WebAssembly.Memory(): Property 'initial', "Invalid typed array length" in a worker). Needs
// `npm run build` for the command tests.

import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { allocWorkspace } from '../src/model/rnn.js';
import { allocBatch } from '../src/model/batch.js';
import { makeLayout } from '../src/model/params.js';
import type { ModelSpec } from '../src/model/spec.js';
import { ARENA_LIMIT_BYTES, checkMemory, memoryNeed, workspaceBytes, type MemoryPlan } from '../src/train/memory.js';
import { ConfigError } from '../src/util/errors.js';
import { bounded } from './helpers/bounded.js';
import { NAMES, TRAIN, exit0, train } from './fixtures/train/helpers.js';

/** Bytes of every typed array in an object (one level deep). */
/** Bytes of every typed array in o, its arrays and nested objects (each array once). */
function typedBytes(o: object, seen = new Set<unknown>()): number {
  let s = 0;
  for (const v of Object.values(o)) {
    if (seen.has(v)) continue;
    seen.add(v);
    if (ArrayBuffer.isView(v)) s += v.byteLength;
    else if (v && typeof v === 'object') s += typedBytes(v, seen);
  }
  return s;
}

t.test('workspaceBytes matches what a worker allocates (allocWorkspace + allocBatch)', async (t) => {
  const specs: ModelSpec[] = [
    { cell: 'rnn', task: 'many-to-one', V: 31, H: 64, C: 2, E: 16 },
    { cell: 'rnn', task: 'many-to-one', V: 5000, H: 48, C: 7, E: 0 },
    { cell: 'rnn', task: 'many-to-many', V: 80, H: 32, C: 80, E: 0 },
    { cell: 'rnn', task: 'many-to-many', V: 300, H: 24, C: 300, E: 12 },
    { cell: 'lstm', task: 'many-to-one', V: 40, H: 20, C: 3, E: 8, layers: 2 },
    { cell: 'gru', task: 'many-to-many', V: 50, H: 16, C: 50, E: 0, layers: 3 },
  ];
  for (const spec of specs) {
    for (const [B, T] of [[1, 1], [32, 24], [7, 100]]) {
      const actual = typedBytes(allocWorkspace(spec, B, T)) + typedBytes(allocBatch(B, T));
      t.equal(workspaceBytes(spec, B, T), actual, `${spec.task} V=${spec.V} H=${spec.H} E=${spec.E}, B=${B} T=${T}: ${actual} bytes`);
    }
  }
});

t.test('memoryNeed: the arena holds parameters, gradient, a slot per worker and the moments', async (t) => {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 31, H: 64, C: 2, E: 16 };
  const P = makeLayout(spec).size * 4;
  const plan = (workers: number, optimizer: MemoryPlan['optimizer']): MemoryPlan => ({ spec, workers, maxB: 32, maxT: 24, optimizer });
  t.equal(memoryNeed(plan(2, 'adam')).arenaBytes, P * 6, 'adam, 2 workers: 6 copies');
  t.equal(memoryNeed(plan(1, 'sgd')).arenaBytes, P * 4, 'sgd, 1 worker: 4 copies');
  t.equal(memoryNeed(plan(3, null)).arenaBytes, P * 5, 'evaluation, 3 workers: 5 copies');
  const n = memoryNeed(plan(2, 'adam'));
  t.equal(n.totalBytes, n.arenaBytes + 2 * workspaceBytes(spec, 32, 24));
});

function refusal(fn: () => void): string {
  try { fn(); } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return '';
}

t.test('checkMemory: refused with the figures, the limit and the fields, by which term is too large', async (t) => {
  const big: MemoryPlan = { spec: { cell: 'rnn', task: 'many-to-one', V: 31, H: 30000, C: 2, E: 8 }, workers: 2, maxB: 32, maxT: 16, optimizer: 'adam' };
  const m = refusal(() => checkMemory(big, memoryNeed(big), { label: 'c.json', sizes: 'V = 31 tokens', available: 64 * 2 ** 30 }));
  t.match(m, /^c\.json: the run needs more memory than it can have\./);
  t.match(m, /H = 30000 \(model\.hidden\)/);
  t.match(m, /[\d,]+ parameters = 3\.35 GiB \(largest: Waa 30000×30000\)/);
  t.match(m, /shared arena: 20\.1 GiB = 6 × the parameters \(parameters, gradient, 2 worker gradient slots, 2 Adam moments\), \+ [\d.]+ [KMG]iB of workspaces \(the compiled kernels address them there\) = [\d.]+ GiB, more than the 4 GiB WebAssembly's 32-bit memory can address/);
  t.match(m, /Reduce model\.hidden \(the recurrent matrix grows with its square\), train\.workers/);

  const wide: MemoryPlan = { spec: { cell: 'rnn', task: 'many-to-one', V: 20000, H: 64, C: 2, E: 60000 }, workers: 1, maxB: 1, maxT: 1, optimizer: 'adam' };
  t.match(refusal(() => checkMemory(wide, memoryNeed(wide), { label: 'c.json', sizes: '' })), /largest: Wemb 20000×60000\).*\nReduce data\.vocab\.maxSize \(a row per token\), model\.input\.embedding\./s, 'the embedding table: its two fields');

  const batch: MemoryPlan = { spec: { cell: 'rnn', task: 'many-to-many', V: 100, H: 512, C: 100, E: 0 }, workers: 2, maxB: 4096, maxT: 512, optimizer: 'adam' };
  const need = memoryNeed(batch);
  t.ok(need.arenaBytes < ARENA_LIMIT_BYTES, 'the parameters fit');
  const w = refusal(() => checkMemory(batch, need, { label: 'c.json', sizes: '', available: 8 * 2 ** 30 }));
  t.match(w, /workspace: \S+ GiB per worker × 2 \(train\.workers\) for batches of up to 4096 sequences \(train\.batchSize\) of up to 512 steps/);
  t.match(w, /total: \S+ GiB, more than the 8 GiB of memory of this machine/);
  t.match(w, /Reduce train\.batchSize, data\.seqLength, model\.hidden, train\.workers\./, 'the batch: its fields');
  // The workspaces live in the shared arena (the compiled kernels address them there): over 4 GiB
  // of them is refused on any machine; a quarter of the batch fits a larger one.
  t.match(refusal(() => checkMemory(batch, need, { label: 'c.json', sizes: '', available: 64 * 2 ** 30 })), /of workspaces \(the compiled kernels address them there\) = \S+ GiB, more than the 4 GiB/, 'the arena holds the workspaces');
  const quarter: MemoryPlan = { ...batch, maxB: 1024, maxT: 256 };
  t.doesNotThrow(() => checkMemory(quarter, memoryNeed(quarter), { label: 'c.json', sizes: '', available: 64 * 2 ** 30 }), 'a smaller batch fits a larger machine');
});

t.test('train.js: oversize configs are refused at once, exit 2, no stack, before the data loads', { skip: existsSync(TRAIN) ? false : 'run npm run build' }, async (t) => {
  const dir = t.testdir({});
  for (const [sets, fields] of [
    [['model.hidden=30000'], /model\.hidden/],
    [['model.hidden=100000'], /model\.hidden/],
    [['model.hidden=1e9'], /model\.hidden/],
    [['model.input={"embedding":1000000000}'], /model\.input\.embedding/],
    [['model.hidden=12000', 'train.workers=4'], /train\.workers \(each adds a gradient slot/],
    // An LSTM has four gate blocks: a hidden size a vanilla RNN fits in is refused for it.
    [['model.cell=lstm', 'model.hidden=9000', 'train.workers=1'], /model\.hidden/],
  ] as const) {
    const r = await bounded('train', ['--config', NAMES, '--out', dir, '--quiet', ...sets.flatMap((s) => ['--set', s])], { maxMiB: 300, maxMs: 30_000 });
    const what = sets.join(' ');
    t.equal(r.killedFor, null, `${what}: ends by itself (${r.peakMiB} MiB, ${r.ms} ms)`);
    t.equal(r.status, 2, `${what}: exit 2`, { stderr: r.stderr.slice(-2000) });
    t.match(r.stderr, /^error: \S*names\.json: the run needs more memory than it can have\.$/m, `${what}: says so`);
    t.match(r.stderr, /more than the 4 GiB WebAssembly's 32-bit memory can address/, `${what}: with the limit`);
    t.match(r.stderr, fields, `${what}: names the field to change`);
    t.notMatch(r.stderr, /^data: /m, `${what}: before the data loads`);
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  }
  // A batch larger than the data is the whole split: train.batchSize 1e9 trains full-batch.
  const full = train('--config', NAMES, '--out', join(dir, 'full'), '--quiet', '--set', 'train.batchSize=1000000000', '--max-steps', '2');
  exit0(t, full, 'train.batchSize 1e9');
  const ckpt = join(dir, 'full', 'names-tiny', 'checkpoints', 'step-000000002.ckpt');
  const ev = await bounded('eval', ['--checkpoint', ckpt, '--batch-size', '1000000000', '--workers', '1'], { maxMiB: 500, maxMs: 30_000 });
  t.equal(ev.status, 0, 'eval --batch-size 1e9: the whole split in one batch', { stderr: ev.stderr.slice(-1500) });
  t.equal(JSON.parse(ev.stdout || '{}').step, 2);
});
