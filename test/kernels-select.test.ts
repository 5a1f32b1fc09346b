// Choosing the compute backend: auto takes the fastest that loads, a forced one that cannot load
// is a clear error, and the flag beats the environment beats the config. A run names its backend
// in the header, in metrics.jsonl and in its checkpoints.

import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveKernels, kernelsChoice, factoryOf, createKernels, KERNELS_ENV, KERNELS_CHOICES } from '../src/model/backend/index.js';
import { configSchema } from '../src/config/schema.js';
import { SharedArena } from '../src/util/shared.js';
import { node, ROOT, noStack } from './helpers/cli.js';

const CONFIG = join(ROOT, 'test', 'fixtures', 'train', 'names.json');

t.test('auto picks the fastest backend that loads, and says why it skipped one', async (t) => {
  const r = resolveKernels('auto');
  const native = factoryOf('native'), wasm = factoryOf('wasm');
  if (!('error' in native)) t.equal(r.name, 'native', `native loads here (${native.isa}): auto takes it`);
  else if (!('error' in wasm)) { t.equal(r.name, 'wasm'); t.match(r.note, /native kernels unavailable/); }
  else t.equal(r.name, 'js');
  t.equal(resolveKernels('js').name, 'js');
  t.throws(() => resolveKernels('cuda'), /unknown kernels "cuda": use auto, js, wasm, native/);
});

t.test('the backend list is spelled once: the config schema\'s train.kernels enum is KERNELS_CHOICES', async (t) => {
  const s = configSchema() as { $defs: Record<string, { properties?: Record<string, { enum?: string[] }> }> };
  const train = s.$defs.TrainConfig;
  t.same([...(train?.properties?.kernels.enum ?? [])].sort(), [...KERNELS_CHOICES].sort());
});

t.test('a resolved choice is created as it is, ISA included, whatever the environment says', async (t) => {
  const arena = new SharedArena(1 << 16);
  for (const name of ['wasm', 'native'] as const) {
    const f = factoryOf(name);
    if ('error' in f) { t.comment(`${name}: ${f.error}`); continue; }
    t.equal(createKernels({ name, isa: f.isa }, arena).isa, f.isa, `${name} at ${f.isa}`);
  }
  const saved = process.env.RNN_TRAINER_WASM_RELAXED;
  try {
    process.env.RNN_TRAINER_WASM_RELAXED = '0';
    const relaxed = factoryOf('wasm', 'relaxed-simd128');
    if (!('error' in relaxed)) t.equal(createKernels({ name: 'wasm', isa: 'relaxed-simd128' }, arena).isa, 'relaxed-simd128', 'a worker given relaxed SIMD runs it though its environment says 0');
  } finally {
    if (saved === undefined) delete process.env.RNN_TRAINER_WASM_RELAXED; else process.env.RNN_TRAINER_WASM_RELAXED = saved;
  }
});

t.test('the flag beats the environment, which beats the config', async (t) => {
  const saved = process.env[KERNELS_ENV];
  try {
    delete process.env[KERNELS_ENV];
    t.equal(kernelsChoice(undefined, 'wasm'), 'wasm');
    t.equal(kernelsChoice(undefined, undefined), 'auto');
    process.env[KERNELS_ENV] = 'js';
    t.equal(kernelsChoice(undefined, 'wasm'), 'js');
    t.equal(kernelsChoice('native', 'wasm'), 'native');
  } finally {
    if (saved === undefined) delete process.env[KERNELS_ENV]; else process.env[KERNELS_ENV] = saved;
  }
});

t.test('a run records its backend: header, metrics.jsonl and checkpoint', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'rnn-kernels-'));
  const r = node('train', ['--config', CONFIG, '--out', out, '--workers', '1', '--max-steps', '3', '--kernels', 'wasm']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /1 worker thread, wasm\/(relaxed-)?simd128 kernels/);
  const rows = readFileSync(join(out, 'names-tiny', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.match(rows.find((x) => x.kind === 'train' && x.fwdBwdMs !== undefined)?.kernels, /^wasm\/(relaxed-)?simd128$/, 'metrics rows name the backend');
  const ins = node('inspect', [join(out, 'names-tiny', 'checkpoints', 'step-000000003.ckpt')]);
  t.equal(ins.status, 0, ins.stderr);
  t.match(JSON.parse(ins.stdout).training.kernels, /^wasm\/(relaxed-)?simd128$/, 'the checkpoint names the backend');

  // Resuming on another backend is allowed, with a note that the bits will differ.
  const res = node('train', ['--config', CONFIG, '--out', out, '--quiet', '--workers', '1', '--max-steps', '4', '--kernels', 'js', '--resume', 'latest']);
  t.equal(res.status, 0, res.stderr);
  t.match(res.stderr, /resume: train.kernels changed "wasm" -> "js" \(allowed; the run will differ/);
});

t.test('a bad backend name is a one-line error with the choices', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'rnn-kernels-'));
  const flag = node('train', ['--config', CONFIG, '--out', out, '--kernels', 'gpu']);
  t.equal(flag.status, 2);
  t.match(flag.stderr, /--kernels.*gpu/);
  t.ok(noStack(flag.stderr));
  const env = { ...process.env, [KERNELS_ENV]: 'gpu' };
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'train.js'), '--config', CONFIG, '--out', out], { encoding: 'utf8', env });
  t.equal(r.status, 2, r.stderr);
  t.match(r.stderr, /RNN_TRAINER_KERNELS=gpu is not a compute backend: use auto, js, wasm, native/);
  t.ok(noStack(r.stderr));
});
