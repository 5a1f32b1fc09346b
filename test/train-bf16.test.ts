// train.precision "bf16" with the real command (issue 20.7): a character LM trained 51 steps in
// bf16 follows float32's loss curve within 1% at every logged step and validation; a bf16 run
// stopped and resumed ends in exactly the uninterrupted run's state; a bf16 checkpoint is an
// ordinary float32 one; and the refusals (js kernels, a CPU without AVX512-BF16, one where
// vdpbf16ps is not faster: the probe's result injected by RNN_TRAINER_BF16_PROBE) exit 2 with a
// message naming what is missing; a float32 checkpoint resumed in bf16; `npm run bench --
// --precision bf16` (ours, and PyTorch under bf16 autocast where installed) and its refusal. Runs
// that need AVX512-BF16 are skipped, saying so, without it.
// Needs `npm run build`.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { nativeBf16, nativeIsas } from '../src/model/backend/native.js';
import { withPrecision } from '../src/model/backend/precision.js';
import { LM, ROOT, TRAIN, checkpoints, exit0, finalState, hasStack, trainAsync, type Result } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(TRAIN)) throw new Error(`${TRAIN} is missing: run \`npm run build\` first`);
});

const BENCH = join(ROOT, 'dist', 'src', 'bench', 'bench.js');

/** `node SCRIPT ARGS` with extra environment variables. */
function runNode(script: string, env: Record<string, string>, ...args: string[]): Result {
  const r = spawnSync(process.execPath, [script, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
const trainEnv = (env: Record<string, string>, ...args: string[]) => runNode(TRAIN, env, ...args);

// 17 steps an epoch: 3 epochs = 51 steps; H = 64 so that the head is a real product.
const COMMON = ['--config', LM, '--workers', '2', '--quiet', '--kernels', 'native', '--set', 'train.epochs=3', '--set', 'model.hidden=64', '--set', 'train.logEvery=1'];
const runDir = (out: string) => join(out, 'lm-tiny');
const losses = (out: string, name = 'lm-tiny') => readFileSync(join(out, name, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; kind: string; loss: number })
  .filter((m) => m.kind === 'train' || m.kind === 'val');

/** Why a bf16 run is refused on this machine (the trainer's own check, probe included), or null. */
function bf16Refusal(): string | null {
  if (!nativeBf16()) return `${cpus()[0]?.model ?? 'this CPU'} has no AVX512-BF16 (or the native addon is not built)`;
  if (!nativeIsas().includes('avx512')) return 'the native kernels do not run at avx512 here';
  try {
    withPrecision({ name: 'native', isa: 'avx512' }, 'bf16');
    return null;
  } catch (e) {
    return (e as Error).message; // e.g. an Intel core, where vdpbf16ps is no faster than float32
  }
}
const refusal = bf16Refusal();
if (refusal) {
  t.comment(`bf16 training runs skipped: ${refusal}`);
} else {
  // The README's word LM (configs/lm-word.json: Moby-Dick, LSTM E = H = 256), its vocabulary cut
  // to 2,000 words, one worker, 50 steps (about 6 s of CPU each); and the character LM of the
  // other training tests, 51 steps.
  for (const { what, args, runName, steps } of [
    { what: 'configs/lm-word.json (vocabulary 2,000, 50 steps)', args: ['--config', 'configs/lm-word.json', '--workers', '1', '--quiet', '--kernels', 'native', '--max-steps', '50', '--set', 'data.vocab.maxSize=2000', '--set', 'train.logEvery=5', '--set', 'checkpoint.every=25'], runName: 'moby-word-full', steps: 50 },
    { what: 'the character LM fixture (H 64, 51 steps)', args: COMMON, runName: 'lm-tiny', steps: 51 },
  ]) t.test(`${what}: bf16 loss curve within 1% of float32 at every logged step; the checkpoint is float32`, async (t) => {
    const dir = t.testdir({});
    const [f, b] = await Promise.all([
      trainAsync(...args, '--out', join(dir, 'f32')),
      trainAsync(...args, '--out', join(dir, 'bf16'), '--precision', 'bf16'),
    ]);
    exit0(t, f, 'float32 run');
    exit0(t, b, 'bf16 run');
    const lf = losses(join(dir, 'f32'), runName), lb = losses(join(dir, 'bf16'), runName);
    t.equal(lb.length, lf.length, `${lf.length} logged losses each`);
    t.equal(lf.filter((m) => m.kind === 'train').at(-1)?.step, steps, `${steps} steps`);
    let worst = 0, differ = 0;
    for (let i = 0; i < lf.length; i++) {
      worst = Math.max(worst, Math.abs(lb[i].loss - lf[i].loss) / lf[i].loss);
      if (lb[i].loss !== lf[i].loss) differ++;
    }
    t.ok(worst < 0.01, `max relative difference of the losses: ${(100 * worst).toFixed(3)}%`);
    t.ok(differ > 0, `bf16 ran (${differ} of ${lf.length} losses differ from float32's)`);
    t.ok(lf.at(-1)!.loss < lf[0].loss, 'the model learned');
    const ck = readCheckpoint(checkpoints(join(dir, 'bf16', runName)).at(-1)!);
    t.ok(ck.params.every((p) => p.data instanceof Float32Array), 'parameters stored as float32');
    t.equal(JSON.parse(ck.config).train.precision, 'bf16', 'the config in the checkpoint says bf16');
  });

  t.test('a float32 checkpoint resumed in bf16: allowed, and said', (t) => {
    const out = t.testdir({});
    exit0(t, trainEnv({}, ...COMMON, '--out', out, '--max-steps', '8'), 'float32 run to step 8');
    const r = trainEnv({}, ...COMMON, '--out', out, '--resume', 'latest', '--precision', 'bf16');
    exit0(t, r, 'resumed in bf16');
    t.match(r.stderr, /train\.precision changed "f32" -> "bf16"/);
    t.end();
  });

  t.test('the precision line says what runs in bf16: the full softmax does, a tied or adaptive output layer (float32) does not', (t) => {
    for (const [what, set, want] of [
      ['full softmax', [], /^precision: bf16 on AVX512-BF16 .*: the products over all rows in training \(head, input projections, weight gradients\); the recurrence, weights/m],
      ['tied', ['--set', 'model.input={"embedding":8}', '--set', 'model.tieWeights=true'], /: the products over all rows in training \(input projections, weight gradients\); the tied output layer, recurrence, weights/],
      ['adaptive', ['--set', 'model.adaptiveSoftmax={"cutoffs":[10]}'], /: the products over all rows in training \(input projections, weight gradients\); the adaptive softmax, recurrence, weights/],
    ] as const) {
      const r = trainEnv({}, '--config', LM, '--out', t.testdir({}), '--workers', '1', '--kernels', 'native', '--precision', 'bf16', '--max-steps', '1', ...set);
      t.equal(r.status, 0, `${what}: exit 0`, { stderr: r.stderr.slice(-2000) });
      t.match(r.stderr, want, `${what}: the precision line`);
    }
    t.end();
  });

  t.test('npm run bench -- --precision bf16: ours in bf16 (and PyTorch under bf16 autocast where installed)', (t) => {
    const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
    const r = runNode(BENCH, {}, '--precision', 'bf16', '--workloads', 'W-small', '--workers', '1', '--input', 'embedding', '--seconds', '0.3', ...(torch ? ['--compare', 'pytorch'] : []));
    t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-2000) });
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { impl: string; precision?: string; kernels?: string });
    t.ok(rows.some((x) => x.impl === 'rnn-trainer' && x.precision === 'bf16' && /bf16/.test(x.kernels ?? '')), 'our row says bf16');
    if (torch) t.ok(rows.some((x) => x.impl === 'pytorch' && x.precision === 'bf16'), 'PyTorch\'s row says bf16');
    else t.comment('PyTorch not installed: its bf16 autocast side not run');
    t.end();
  });

  t.test('bf16: stopped at step 20 and resumed, the same bits as an uninterrupted run', async (t) => {
    const dir = t.testdir({});
    const common = [...COMMON, '--precision', 'bf16'];
    const out = join(dir, 'run');
    const [ref, a] = await Promise.all([
      trainAsync(...common, '--out', join(dir, 'ref')),
      trainAsync(...common, '--out', out, '--max-steps', '20'),
    ]);
    exit0(t, ref, 'uninterrupted run');
    exit0(t, a, 'run to step 20');
    const c = await trainAsync(...common, '--out', out, '--resume', 'latest');
    exit0(t, c, 'resumed to the end');
    t.same(finalState(runDir(out)), finalState(runDir(join(dir, 'ref'))), 'bit-identical final state');
  });
}

t.test('refused with --kernels js: exit 2, saying bf16 needs the native kernels', (t) => {
  const r = trainEnv({}, '--config', LM, '--out', t.testdir({}), '--kernels', 'js', '--precision', 'bf16');
  t.equal(r.status, 2, 'exit 2');
  t.match(r.stderr, /train\.precision "bf16" runs on the native kernels only, and this run uses js: use --kernels native, or train\.precision "f32" \(the default\)/);
  t.notOk(hasStack(r.stderr), 'no stack trace');
  t.end();
});

t.test('npm run bench -- --precision bf16 --kernels js: exit 2, the same refusal', (t) => {
  const r = runNode(BENCH, {}, '--precision', 'bf16', '--kernels', 'js', '--workloads', 'W-small', '--workers', '1');
  t.equal(r.status, 2, 'exit 2');
  t.match(r.stderr, /--precision "bf16" runs on the native kernels only, and this run uses js/);
  t.end();
});

if (!nativeIsas().includes('avx512')) {
  t.comment('faked-probe refusals skipped: the native kernels do not run at avx512 here');
} else {
  t.test('a CPU without AVX512-BF16 (the probe faked): exit 2 naming the CPU and what it lacks', (t) => {
    const r = trainEnv({ RNN_TRAINER_BF16_PROBE: 'none' }, '--config', LM, '--out', t.testdir({}), '--kernels', 'native', '--precision', 'bf16');
    t.equal(r.status, 2, 'exit 2');
    t.match(r.stderr, /train\.precision "bf16" needs AVX512-BF16 \(vdpbf16ps\), which .+ lacks\./);
    t.ok(r.stderr.includes(cpus()[0].model.trim()), 'names the CPU model');
    t.notOk(hasStack(r.stderr), 'no stack trace');
    t.end();
  });

  t.test('a CPU where vdpbf16ps is slower than f32 FMAs (Intel without AMX; the probe faked): exit 2 with the rates', (t) => {
    const r = trainEnv({ RNN_TRAINER_BF16_PROBE: '103/210' }, '--config', LM, '--out', t.testdir({}), '--kernels', 'native', '--set', 'train.precision=bf16');
    t.equal(r.status, 2, 'exit 2');
    t.match(r.stderr, /vdpbf16ps measures 103 GFLOP\/s per core against 210 for float32 FMAs, less than the 1\.5x/);
    t.end();
  });
}

t.test('an unknown precision is refused by the config validation', (t) => {
  const r = trainEnv({}, '--config', LM, '--out', t.testdir({}), '--set', 'train.precision=fp8');
  t.equal(r.status, 2, 'exit 2');
  t.match(r.stderr, /precision/);
  t.end();
});
