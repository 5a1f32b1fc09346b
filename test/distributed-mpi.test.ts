// Distributed training on MPI (issue 15), with the real commands: `mpirun -np 2 node dist/train.js
// --distributed mpi` over loopback against single-process runs; a failing rank; a killed rank;
// resume from 2 ranks on 1 and back; two "hosts" as network namespaces joined by a veth pair, the
// traffic counted on the veth. Needs `npm run build` with Open MPI installed (CI installs it);
// skipped, with the reason, without it.

import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { ROOT, TRAIN, LM, NAMES, checkpoints, exit0, finalState, fingerprint, stepOf, train, waitFor, type Result, type Running } from './fixtures/train/helpers.js';

const ADDON = join(ROOT, 'native', 'mpi', 'build', 'Release', 'rnn_mpi.node');
const hasMpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' }).status === 0;
const skip = !hasMpirun ? 'mpirun not found (apt-get install openmpi-bin libopenmpi-dev, then npm run build)'
  : !existsSync(ADDON) ? `${ADDON} not built (npm run build builds it where mpicc is installed)` : false;
// Open MPI refuses to run as root unless told; CI runs as root.
const ENV = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };

/** A running `mpirun -np N node dist/train.js ARGS` (or `argv` as given), its output collected. */
class Job {
  readonly child;
  stdout = '';
  stderr = '';
  readonly done: Promise<Result>;
  constructor(argv: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env: { ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => { this.stdout += s; });
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => { this.stderr += s; });
    this.done = new Promise((res) => this.child.on('close', (status, signal) => res({ status, signal, stdout: this.stdout, stderr: this.stderr })));
  }
  get exited(): boolean { return this.child.exitCode !== null || this.child.signalCode !== null; }
}

const mpirunArgs = (np: number, args: string[]) => ['mpirun', '-np', String(np), process.execPath, TRAIN, ...args, '--distributed', 'mpi'];
const mpi = (np: number, args: string[], env: NodeJS.ProcessEnv = {}) => new Job(mpirunArgs(np, args), env).done;

/** Largest ‖a − b‖ / ‖b‖ over the parameter tensors of two checkpoints, and the tensor. */
function relativeDifference(fa: string, fb: string): { rel: number; name: string } {
  const a = readCheckpoint(fa), b = readCheckpoint(fb);
  let worst = { rel: 0, name: '' };
  for (let i = 0; i < a.params.length; i++) {
    const x = a.params[i].data, y = b.params[i].data;
    let d = 0, n = 0;
    for (let j = 0; j < x.length; j++) { d += (x[j] - y[j]) ** 2; n += y[j] ** 2; }
    const rel = Math.sqrt(d / n);
    if (rel > worst.rel) worst = { rel, name: a.params[i].name };
  }
  return worst;
}

/**
 * Two runs' final states the same bit for bit (parameters, moments, counters, RNG), but for the
 * best validation loss: every rank evaluates the whole split on its W workers, so the evaluation
 * sums its shards as one process with W workers does, not R × W: the last bits of that float64
 * sum may differ (1e-12 relative), never the weights.
 */
function sameTraining(t: Test, dirA: string, dirB: string, what: string): void {
  const a = finalState(dirA) as { training: Record<string, number> }, b = finalState(dirB) as { training: Record<string, number> };
  const ma = a.training.bestMetric, mb = b.training.bestMetric;
  t.same({ ...a, training: { ...a.training, bestMetric: 0 } }, { ...b, training: { ...b.training, bestMetric: 0 } }, what);
  t.ok(Math.abs(ma - mb) <= 1e-12 * Math.abs(mb), `${what}: best validation metric ${ma} ≈ ${mb}`);
}

const LM_CARRY = ['--config', LM, '--quiet', '--set', 'train.carryState=true'];

// Runs that several tests compare with, made once (by the first test that needs them) in the
// file's own fixture folder: the LM carrying state on 1 process × 2 workers, and names on 2 ranks
// × 1 worker over loopback.
const SHARED = t.testdir({});
const once = <T>(f: () => T) => { let v: { r: T } | undefined; return () => (v ??= { r: f() }).r; };
const lmOn1x2 = once(() => ({ r: train(...LM_CARRY, '--workers', '2', '--out', join(SHARED, 's2')), dir: join(SHARED, 's2', 'lm-tiny') }));
const namesOn2x1 = once(() => ({ r: mpi(2, ['--config', NAMES, '--quiet', '--workers', '1', '--out', join(SHARED, 'n21')]), dir: join(SHARED, 'n21', 'names-tiny') }));

t.test('without the binding, --distributed mpi says how to install MPI (exit 2)', async (t) => {
  const r = spawnSync(process.execPath, [TRAIN, '--config', NAMES, '--out', t.testdir({}), '--distributed', 'mpi'], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, RNN_TRAINER_MPI_ADDON: '/nonexistent/rnn_mpi.node' },
  });
  t.equal(r.status, 2, 'exit 2');
  t.match(r.stderr, /--distributed mpi: the MPI binding is not built .*apt-get install openmpi-bin libopenmpi-dev.*npm run build/);
  t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
});

t.test('2 ranks over loopback: the single-process weights', { skip }, async (t) => {
  const dir = t.testdir({});
  const out = (name: string) => ['--out', join(dir, name)];
  // The global batch is cut into ranks × workers shards: 2 ranks × 1 worker sum the same two
  // shards as one process with 2 workers, in the same order: the same bits. 2 × 2 adds the
  // ranks' sums of two shards each, one process with 4 workers sums the four in a row: float32
  // rounding differs in the last bits, within 1e-6 of each tensor's norm after the 34 steps.
  const [d21, d22a, d22b, names21] = await Promise.all([
    mpi(2, [...LM_CARRY, '--workers', '1', ...out('d21')]),
    mpi(2, [...LM_CARRY, '--workers', '2', ...out('d22a')]),
    mpi(2, [...LM_CARRY, '--workers', '2', ...out('d22b')]),
    namesOn2x1().r,
  ]);
  for (const [r, what] of [[d21, '2 ranks × 1 worker'], [d22a, '2 ranks × 2 workers'], [d22b, '2 ranks × 2 workers, again'], [names21, 'names, 2 ranks × 1 worker']] as const) {
    exit0(t, r, what);
    t.equal(r.stdout.match(/^done: /gm)?.length, 1, `${what}: one summary (rank 1 is quiet)`);
  }
  const s2 = lmOn1x2().r;
  const s4 = train(...LM_CARRY, '--workers', '4', ...out('s4'));
  const n2 = train('--config', NAMES, '--quiet', '--workers', '2', ...out('n2'));
  for (const [r, what] of [[s2, '1 process × 2 workers'], [s4, '1 process × 4 workers'], [n2, 'names, 1 process × 2 workers']] as const) exit0(t, r, what);

  const lm = (name: string) => join(dir, name, 'lm-tiny');
  sameTraining(t, lm('d21'), lmOn1x2().dir, 'LM carrying state, 2 ranks × 1 worker = 1 process × 2 workers, bit for bit');
  sameTraining(t, namesOn2x1().dir, join(dir, 'n2', 'names-tiny'), 'names, 2 ranks × 1 worker = 1 process × 2 workers, bit for bit');
  t.same(finalState(lm('d22a')), finalState(lm('d22b')), '2 ranks × 2 workers, run twice: bit-identical');
  const last = (name: string) => checkpoints(lm(name)).at(-1)!;
  t.equal(stepOf(last('d22a')), 34, 'every step taken');
  const diff = relativeDifference(last('d22a'), last('s4'));
  t.ok(diff.rel <= 1e-6, `2 ranks × 2 workers vs 1 process × 4 workers: largest ‖Δ‖/‖w‖ ${diff.rel.toExponential(2)} (${diff.name}) ≤ 1e-6`);
  t.notSame(finalState(lm('d22a')).params, finalState(lm('d21')).params, 'the layouts differ (so the comparisons above can fail)');
});

t.test('resume: 2 ranks → 1 process → 2 ranks ends where the uninterrupted run does', { skip }, async (t) => {
  const dir = t.testdir({});
  const common = [...LM_CARRY, '--out', join(dir, 'run')];
  const runDir = join(dir, 'run', 'lm-tiny');
  const ref = lmOn1x2();
  exit0(t, ref.r, 'uninterrupted, 1 process × 2 workers');
  exit0(t, await mpi(2, [...common, '--workers', '1', '--max-steps', '9']), '2 ranks to step 9');
  const b = train(...common, '--workers', '2', '--resume', 'latest', '--max-steps', '22');
  exit0(t, b, '1 process from step 9 to 22');
  t.match(b.stderr, /resumed from \S+step-0+9\.ckpt at step 9/, 'the checkpoint rank 0 wrote at step 9');
  const c = await mpi(2, [...common, '--workers', '1', '--resume', 'latest']);
  exit0(t, c, '2 ranks from step 22 to the end');
  t.match(c.stderr, /resumed from \S+step-0+22\.ckpt at step 22/, 'rank 0 chose the newest checkpoint, step 22');
  sameTraining(t, runDir, ref.dir, 'bit-identical to the uninterrupted run (the carried states, resumed twice, are in the weights)');
});

t.test('a rank that fails stops every rank, naming the rank and the step; nothing applied', { skip }, async (t) => {
  const dir = t.testdir({});
  const r = await mpi(2, ['--config', NAMES, '--quiet', '--workers', '1', '--out', dir], { RNN_TRAINER_TEST_INJECT: '5:throw:1' });
  t.not(r.status, 0, 'mpirun exits non-zero');
  const msg = /error: step 5: rank 1 \(\S+\) failed: a worker thread failed \(injected failure at step 5\)\. No rank applied an update for step 5/g;
  t.equal(`${r.stderr}${r.stdout}`.match(msg)?.length, 2, 'both ranks print the error naming rank 1 and step 5', { stderr: r.stderr });
  const files = checkpoints(join(dir, 'names-tiny'));
  t.equal(stepOf(files.at(-1)!), 3, 'the newest checkpoint is step 3 (every 3): step 5 was not applied or saved');
});

t.test('library: an AbortSignal aborted on rank 1 alone stops every rank after the same step, with a checkpoint', { skip }, async (t) => {
  const dir = t.testdir({});
  const r = await new Job(['mpirun', '-np', '2', process.execPath, join(ROOT, 'test', 'fixtures', 'mpi', 'abort-one-rank.mjs'), NAMES, dir]).done;
  exit0(t, r, 'both ranks return');
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).sort((a, b) => a.rank - b.rank);
  t.same(rows.map((x) => [x.rank, x.steps, x.interrupted]), [[0, 1, true], [1, 1, true]], 'both stopped, interrupted, after step 1');
  t.match(rows[0].lastCheckpoint, /step-0+1\.ckpt$/, 'rank 0 wrote the checkpoint of step 1');
  t.equal(rows[1].lastCheckpoint, null, 'rank 1 wrote none');
});

t.test('ranks started with different configs are refused before the first step', { skip }, async (t) => {
  const dir = t.testdir({});
  const args = [process.execPath, TRAIN, '--config', NAMES, '--quiet', '--workers', '1', '--out', dir, '--distributed', 'mpi'];
  const r = await new Job(['mpirun', '-np', '1', ...args, ':', '-np', '1', ...args, '--set', 'train.lr=0.02']).done;
  t.not(r.status, 0, 'mpirun exits non-zero');
  t.match(r.stderr, /error: distributed: the config of rank 1 \(\S+\) differs from rank 0's in train\.lr: /, 'names rank 1 and the field that differs');
  t.equal(checkpoints(join(dir, 'names-tiny')).length, 0, 'no step was taken');
});

/** The pid of rank `rank` among mpirun's children (its OMPI_COMM_WORLD_RANK). */
function rankPid(mpirunPid: number, rank: number): number | null {
  const kids = spawnSync('ps', ['-o', 'pid=', '--ppid', String(mpirunPid)], { encoding: 'utf8' }).stdout.split('\n').map(Number).filter((p) => p > 0);
  for (const pid of kids) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return pid;
    } catch { /* exited */ }
  }
  return null;
}

t.test('a rank killed mid-run: every rank stops, naming the step; the newest checkpoint is intact and resumes', { skip }, async (t) => {
  const dir = t.testdir({});
  const runDir = join(dir, 'lm-tiny');
  const job = new Job(mpirunArgs(2, [...LM_CARRY, '--workers', '1', '--out', dir, '--set', 'train.epochs=200', '--set', 'checkpoint.every=2']));
  await waitFor('two checkpoints', () => checkpoints(runDir).length >= 2, job as unknown as Running);
  const pid = rankPid(job.child.pid!, 1);
  t.ok(pid, 'found rank 1');
  process.kill(pid!, 'SIGKILL');
  const r = await job.done;
  t.not(r.status, 0, `mpirun exits non-zero (${r.status})`);
  t.match(r.stderr, /error: rank 0 \(\S+\): stopped by SIGTERM at step \d+.*mpirun sends it to every rank when a rank died/, 'rank 0 names its step and why it stopped', { stderr: r.stderr });
  t.match(r.stderr, /process rank 1 .* exited on signal 9/, 'mpirun names the killed rank');
  const newest = checkpoints(runDir).at(-1)!;
  const k = stepOf(newest);
  t.doesNotThrow(() => readCheckpoint(newest), `the newest checkpoint (step ${k}) reads and verifies`);
  const b = train(...LM_CARRY, '--workers', '2', '--out', dir, '--set', 'train.epochs=200', '--set', 'checkpoint.every=2', '--resume', 'latest', '--max-steps', String(k + 3));
  exit0(t, b, 'resumed on 1 process');
  t.match(b.stderr, new RegExp(`resumed from \\S+step-0*${k}\\.ckpt at step ${k}`), `from step ${k}`);
  t.equal(fingerprint(readCheckpoint(checkpoints(runDir).at(-1)!)).optimizerStep, k + 3, 'and took its steps');
});

t.test('a rank that stops answering without dying (SIGSTOP): the others give up after --stall-timeout and end the job, naming the step', { skip }, async (t) => {
  const dir = t.testdir({});
  const runDir = join(dir, 'lm-tiny');
  const job = new Job(mpirunArgs(2, [...LM_CARRY, '--workers', '1', '--out', dir, '--set', 'train.epochs=200', '--set', 'checkpoint.every=2', '--stall-timeout', '3']));
  await waitFor('a checkpoint', () => checkpoints(runDir).length >= 1, job as unknown as Running);
  const pid = rankPid(job.child.pid!, 1);
  t.ok(pid, 'found rank 1');
  process.kill(pid!, 'SIGSTOP');
  t.teardown(() => { try { process.kill(pid!, 'SIGKILL'); } catch { /* gone */ } });
  const t0 = Date.now();
  const r = await job.done;
  t.not(r.status, 0, `mpirun exits non-zero (${r.status})`);
  t.ok(Date.now() - t0 < 60_000, `ended ${((Date.now() - t0) / 1000).toFixed(1)} s after the stop`);
  t.match(r.stderr, /error: rank 0 \(\S+\): step \d+: no answer from the other ranks in MPI_\w+ of [^\n]* for 3\.0 s: a rank stopped answering/, 'rank 0 names the step and the collective', { stderr: r.stderr });
  const newest = checkpoints(runDir).at(-1)!;
  t.doesNotThrow(() => readCheckpoint(newest), 'the newest checkpoint reads and verifies');
});

// ---- two hosts: network namespaces joined by a veth pair, Open MPI's TCP transport between them

const ipOk = process.getuid?.() === 0 && spawnSync('ip', ['-V'], { encoding: 'utf8' }).status === 0;
const NS = [`rnn${process.pid}a`, `rnn${process.pid}b`], VETH = [`rv${process.pid}a`, `rv${process.pid}b`], ADDR = ['10.77.0.1', '10.77.0.2'];
const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });

/** Two namespaces, a veth pair, addresses; null, or why they could not be made. */
function makeHosts(): string | null {
  for (const [args, what] of [
    [['netns', 'add', NS[0]], 'ip netns add'], [['netns', 'add', NS[1]], 'ip netns add'],
    [['link', 'add', VETH[0], 'type', 'veth', 'peer', 'name', VETH[1]], 'ip link add (veth)'],
    [['link', 'set', VETH[0], 'netns', NS[0]], 'ip link set netns'], [['link', 'set', VETH[1], 'netns', NS[1]], 'ip link set netns'],
    [['-n', NS[0], 'addr', 'add', `${ADDR[0]}/24`, 'dev', VETH[0]], 'ip addr add'], [['-n', NS[1], 'addr', 'add', `${ADDR[1]}/24`, 'dev', VETH[1]], 'ip addr add'],
    [['-n', NS[0], 'link', 'set', VETH[0], 'up'], 'ip link set up'], [['-n', NS[1], 'link', 'set', VETH[1], 'up'], 'ip link set up'],
    [['-n', NS[0], 'link', 'set', 'lo', 'up'], 'ip link set up'], [['-n', NS[1], 'link', 'set', 'lo', 'up'], 'ip link set up'],
  ] as const) {
    const r = ip(...args);
    if (r.status !== 0) return `${what} failed: ${r.stderr.trim()}`;
  }
  return null;
}

const vethBytes = () => ({
  tx: Number(spawnSync('ip', ['netns', 'exec', NS[0], 'cat', `/sys/class/net/${VETH[0]}/statistics/tx_bytes`], { encoding: 'utf8' }).stdout),
  rx: Number(spawnSync('ip', ['netns', 'exec', NS[0], 'cat', `/sys/class/net/${VETH[0]}/statistics/rx_bytes`], { encoding: 'utf8' }).stdout),
});

t.test('two hosts (network namespaces, a veth pair): the allreduce crosses the interface', { skip: skip || (ipOk ? false : 'needs root and iproute2 (ip) to make network namespaces') }, async (t) => {
  t.teardown(() => { for (const ns of NS) ip('netns', 'del', ns); }); // deleting a namespace deletes its end of the veth pair
  const why = makeHosts();
  if (why) return t.skip(`network namespaces cannot be made here: ${why}`);
  const dir = t.testdir({});
  // Open MPI starts the daemon of the other "host" through plm_rsh_agent (as it would through
  // ssh): here, into its namespace, with a host name of its own (an UTS namespace).
  const agent = join(dir, 'netns-agent.sh');
  writeFileSync(agent, `#!/bin/sh\nhost=$1; shift\nif [ "$host" = ${ADDR[1]} ]; then ns=${NS[1]}; name=hostb; else ns=${NS[0]}; name=hosta; fi\nexec ip netns exec $ns unshare --uts sh -c "hostname $name; $*"\n`);
  chmodSync(agent, 0o755);
  const before = vethBytes();
  const cmd = ['mpirun', '--host', ADDR.join(','), '-np', '2', '--mca', 'plm_rsh_agent', agent, '--mca', 'btl', 'tcp,self',
    '--mca', 'btl_tcp_if_include', '10.77.0.0/24', '--mca', 'oob_tcp_if_include', '10.77.0.0/24',
    process.execPath, TRAIN, '--config', NAMES, '--workers', '1', '--out', join(dir, 'out'), '--distributed', 'mpi'].map((a) => `'${a}'`).join(' ');
  const r = await new Job(['ip', 'netns', 'exec', NS[0], 'unshare', '--uts', 'sh', '-c', `hostname hosta; exec ${cmd}`]).done;
  exit0(t, r, 'trained on the two hosts');
  t.match(r.stderr, /rank 0 on hosta, rank 1 on hostb/, 'one rank on each host');
  const m = /distributed: (\d+) steps on 2 ranks: allreduce of .* per step \((\d+) bytes in all\)/.exec(r.stderr);
  t.ok(m, 'rank 0 reports the allreduce volume', { stderr: r.stderr.slice(-2000) });
  const payload = Number(m?.[2] ?? Infinity);
  const after = vethBytes();
  // With 2 ranks, every allreduce algorithm sends each rank's N values' worth (half reduced,
  // half gathered back, or all of it): at least the payload each way.
  t.ok(after.tx - before.tx >= payload, `veth tx grew by ${after.tx - before.tx} bytes ≥ the ${payload} bytes of the allreduces`);
  t.ok(after.rx - before.rx >= payload, `veth rx grew by ${after.rx - before.rx} bytes ≥ the ${payload} bytes of the allreduces`);
  const loop = namesOn2x1();
  exit0(t, await loop.r, 'the same run over loopback');
  t.same(finalState(join(dir, 'out', 'names-tiny')), finalState(loop.dir), 'the same bits as over loopback');
});
