// A worker thread failing in the middle of a run (trainRun's `inject`, tests only): the run stops
// with an error naming the step, the newest checkpoint is valid and from before that step (and
// continues to the same end as an uninterrupted run), and the pool is closed: the process has no
// more threads than before the run. (Piscina unrefs idle threads, so "the process still exits"
// would not show it; the thread count in /proc/self/status does: an open 2-thread pool adds 2.)
// Worker threads load dist/: needs `npm run build`.

import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { trainRun, type RunOptions } from '../src/train/run.js';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { NAMES, ROOT, checkpoints, finalState, stepOf } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'workers', 'shard.js'))) throw new Error('dist/workers/shard.js is missing: run `npm run build` first');
});

/** OS threads of this process (Linux), or null. */
function threads(): number | null {
  try {
    return Number(/^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
  } catch {
    return null;
  }
}

const options = (out: string, more: Partial<RunOptions> = {}): RunOptions => {
  return { config: join(ROOT, NAMES), out, workers: 2, ...more };
};

for (const [mode, failAt] of [['throw', 8], ['exit', 16]] as const) {
  t.test(`a worker ${mode === 'throw' ? 'throwing' : 'thread exiting'} at step ${failAt}: error names the step; the newest checkpoint is valid and older`, async (t) => {
    const dir = t.testdir({});
    const out = join(dir, 'run');
    const runDir = join(out, 'names-tiny');
    const before = threads();
    await t.rejects(trainRun(options(out, { inject: { failAtStep: failAt, mode } })), {
      name: 'WorkerFailure',
      message: new RegExp(`^training stopped at step ${failAt}: a worker thread failed \\(.*\\)\\. No update was applied for this step; the parameters are those after step ${failAt - 1}\\.$`),
    });
    if (before === null) t.comment('no /proc/self/status: thread count not checked');
    else {
      const t0 = Date.now();
      while (threads()! > before && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
      t.equal(threads(), before, 'the pool is closed: no threads left over');
    }
    const files = checkpoints(runDir);
    t.ok(files.length > 0, 'checkpoints were written before the failure');
    const newest = files.at(-1)!;
    // Checkpoints every 3 steps: the newest is the last multiple of 3 before the failing step.
    t.equal(stepOf(newest), Math.floor((failAt - 1) / 3) * 3, 'the newest checkpoint is from before the failure');
    const c = readCheckpoint(newest); // full validation: CRCs, structure
    t.equal(c.training.globalStep, stepOf(newest), 'and reads back valid');

    if (mode === 'exit') {
      // It is a good checkpoint: continuing from it ends where an uninterrupted run ends.
      const ref = join(dir, 'ref');
      await trainRun(options(ref));
      const resumed = options(out, { resume: 'latest' });
      await trainRun(resumed);
      t.same(finalState(runDir), finalState(join(ref, 'names-tiny')), 'resumed after the failure: bit-identical to an uninterrupted run');
    }
  });
}

// A worker thread that vanishes (its OS thread ends without a word, as `gdb -p PID` + `call
// syscall(60, 0)` makes it, or a native crash of that thread alone): no 'exit' event comes, so
// the trainer once waited forever (with or without --stall-timeout) and its teardown waited for
// the dead thread. The coordinator sees the OS thread gone and the command ends at once with one
// line and exit 1, the newest checkpoint intact and the lock released. Needs a C compiler and
// Node's headers (test/fixtures/vanish.c, the hook).
t.test('a worker thread that vanishes mid-step: the command ends at once, one line, exit 1, newest checkpoint intact', async (t) => {
  const include = join(dirname(process.execPath), '..', 'include', 'node');
  if (!existsSync(join(include, 'node_api.h'))) return t.skip(`no Node headers at ${include}`);
  const dir = t.testdir({});
  const addon = join(dir, 'vanish.node');
  const cc = spawnSync('cc', ['-shared', '-fPIC', '-O1', `-I${include}`, join(ROOT, 'test', 'fixtures', 'vanish.c'), '-o', addon], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) return t.skip(`no C compiler: ${cc.error?.message ?? cc.stderr}`);
  const out = join(dir, 'run');
  const t0 = Date.now();
  // No --stall-timeout: its default (2 minutes) must not be what ends the run.
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'train.js'), '--config', NAMES, '--out', out, '--workers', '2', '--quiet'], {
    cwd: ROOT, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL', env: { ...process.env, RNN_TRAINER_TEST_INJECT: '8:vanish', RNN_TRAINER_TEST_VANISH: addon },
  });
  const seconds = (Date.now() - t0) / 1000;
  t.equal(r.signal, null, 'not killed by the test timeout (it did not hang)');
  t.equal(r.status, 1, 'exit 1: the run failed');
  t.ok(seconds < 45, `ended in ${seconds.toFixed(1)} s, well within the 120 s stall limit`);
  t.match(r.stderr, /^error: training stopped at step 8: a worker thread failed \(worker thread \d+ ended without a word \(its OS thread \d+ is gone: killed from outside\?\)\)\. No update was applied for this step; the parameters are those after step 7\.\n$/, 'one line naming the step and what happened');
  const runDir = join(out, 'names-tiny');
  const newest = checkpoints(runDir).at(-1)!;
  t.equal(stepOf(newest), 6, 'the newest checkpoint is from before the failure');
  t.equal(readCheckpoint(newest).training.globalStep, 6, 'and reads back valid');
  t.notOk(existsSync(join(runDir, 'train.lock')), 'the lock is released');
});
