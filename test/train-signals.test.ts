// Interrupting `node dist/train.js` (issue 4): SIGKILL at various moments after the first
// checkpoint, then --resume latest; SIGINT / SIGTERM once (finish the step, checkpoint, say how to
// resume, exit 130 for SIGINT and 143 for SIGTERM so `train && deploy` stops); SIGINT twice (exit 130 at once, no new checkpoint). Every interrupted run is
// continued to the end and compared, bit for bit, with an uninterrupted one. Needs `npm run build`.

import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { NAMES, ROOT, Running, TRAIN, checkpoints, exit0, finalState, hasStack, stepOf, train, trainAsync, waitFor } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(TRAIN)) throw new Error(`${TRAIN} is missing: run \`npm run build\` first`);
});

// 16 epochs of 16 steps: long enough (a few hundred ms of steps after the first checkpoint at
// step 3) to be interrupted in the middle, short enough to run several times. On the js kernels:
// the compiled ones finish such a run before a signal can land in it.
const LONG = ['--config', NAMES, '--set', 'train.epochs=16', '--workers', '2', '--kernels', 'js'];
const TOTAL = 256;
const runDirOf = (out: string) => join(out, 'names-tiny');

let reference: Promise<Record<string, unknown>> | undefined;
/** Final state of the uninterrupted LONG run (computed once, shared by the tests of this file). */
function uninterrupted(dir: string): Promise<Record<string, unknown>> {
  reference ??= trainAsync(...LONG, '--out', dir, '--quiet').then((r) => {
    if (r.status !== 0) throw new Error(`the reference run failed:\n${r.stderr}`);
    return finalState(runDirOf(dir));
  });
  return reference;
}

/** Splits a command line as printed by the summary (words, '...' quoted). */
function shellWords(s: string): string[] {
  return [...s.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]));
}

t.test('SIGKILL at several moments after the first checkpoint; --resume latest ends as if uninterrupted', async (t) => {
  const dir = t.testdir({});
  const want = uninterrupted(join(dir, 'ref'));
  // Fixed delays after the first checkpoint file appears: right away, mid-run, late.
  for (const delay of [0, 120, 350]) {
    const out = join(dir, `kill-${delay}`);
    const runDir = runDirOf(out);
    const run = new Running([...LONG, '--out', out]);
    await waitFor('the first checkpoint', () => checkpoints(runDir).length > 0, run);
    await new Promise((r) => setTimeout(r, delay));
    run.child.kill('SIGKILL');
    const killed = await run.done;
    t.equal(killed.signal, 'SIGKILL', `delay ${delay} ms: killed while running`, { stdout: killed.stdout.slice(-2000) });
    const at = stepOf(checkpoints(runDir).at(-1)!);
    t.ok(at < TOTAL, `delay ${delay} ms: killed before the end (newest checkpoint at step ${at})`);
    const r = train(...LONG, '--out', out, '--resume', 'latest', '--quiet');
    exit0(t, r, `delay ${delay} ms: resume`);
    const from = Number(/resumed from \S+ at step (\d+)/.exec(r.stderr)?.[1]);
    t.equal(from, at, `delay ${delay} ms: resumed from the newest checkpoint`);
    t.same(finalState(runDir), await want, `delay ${delay} ms: bit-identical to the uninterrupted run`);
  }
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  t.test(`${sig} once: finishes the step, checkpoints, says how to resume, exits ${sig === 'SIGINT' ? 130 : 143}; the printed command resumes`, async (t) => {
    const dir = t.testdir({});
    const want = uninterrupted(join(dir, 'ref'));
    const out = join(dir, 'run');
    const runDir = runDirOf(out);
    const run = new Running([...LONG, '--out', out]);
    await waitFor('the first checkpoint', () => checkpoints(runDir).length > 0, run);
    await new Promise((r) => setTimeout(r, sig === 'SIGINT' ? 30 : 120));
    run.child.kill(sig);
    const r = await run.done;
    const wantCode = sig === 'SIGINT' ? 130 : 143;
    t.equal(r.status, wantCode, `exit ${wantCode}`, { stderr: r.stderr.slice(-2000) });
    t.match(r.stderr, new RegExp(`${sig}: finishing the current step, then writing a checkpoint`));
    t.notOk(hasStack(r.stderr), 'no stack trace');
    const stopped = Number(/stopped at step (\d+)/.exec(r.stdout)?.[1]);
    t.ok(stopped > 0 && stopped < TOTAL, `stopped in the middle, at step ${stopped}`);
    const newest = checkpoints(runDir).at(-1)!;
    t.equal(stepOf(newest), stopped, 'the newest checkpoint is at the step reached');
    t.match(r.stdout, new RegExp(`checkpoint\\s+\\S*step-0*${stopped}\\.ckpt`), 'the summary names it');
    const cmd = /resume with\s+(.+)$/m.exec(r.stdout)?.[1];
    t.ok(cmd, 'the summary says how to resume', { stdout: r.stdout });
    // Run exactly what it says, from another folder (the command has absolute paths): same flags, --resume latest.
    const [exe, script, ...args] = shellWords(cmd!);
    t.equal(exe, 'node');
    t.equal(script, join(ROOT, 'dist', 'train.js'), 'the script, absolute');
    t.same(args.slice(-2), ['--resume', 'latest']);
    const b = spawnSync(process.execPath, [script, ...args, '--quiet'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    exit0(t, b, 'the printed resume command');
    t.notMatch(b.stderr, /resume: \S+ changed/, 'the printed command changes nothing in the config');
    t.match(b.stderr, new RegExp(`resumed from \\S+ at step ${stopped}`));
    t.same(finalState(runDir), await want, 'bit-identical to the uninterrupted run');
  });
}

t.test('SIGINT twice: exit 130 at once, without a new checkpoint', async (t) => {
  const dir = t.testdir({});
  // Slow steps (2-4 s each: the whole training split of 487 sequences in one batch, H=384, one
  // thread, js kernels) with a checkpoint after each and steps still to go when the step-1 file appears: a
  // step is in progress when the first signal comes, and still when the second follows it (the
  // test sends it as soon as the first is taken, a few ms later).
  const SLOW = ['--config', NAMES, '--workers', '1', '--kernels', 'js', '--max-steps', '4', '--set', 'train.epochs=4',
    '--set', 'model.hidden=384', '--set', 'train.batchSize=512', '--set', 'checkpoint.every=1'];
  const once = new Running([...SLOW, '--out', join(dir, 'once')]);
  const twice = new Running([...SLOW, '--out', join(dir, 'twice')]);
  await Promise.all([
    waitFor('the step-1 checkpoint (once)', () => checkpoints(runDirOf(join(dir, 'once'))).length > 0, once),
    waitFor('the step-1 checkpoint (twice)', () => checkpoints(runDirOf(join(dir, 'twice'))).length > 0, twice),
  ]);
  once.child.kill('SIGINT');
  twice.child.kill('SIGINT');
  await waitFor('the first signal to be taken', () => twice.stderr.includes('SIGINT: finishing the current step'), twice);
  twice.child.kill('SIGINT');
  const [a, b] = await Promise.all([once.done, twice.done]);

  t.equal(a.status, 130, 'once: exit 130 (after its checkpoint)', { stderr: a.stderr.slice(-2000) });
  t.same(checkpoints(runDirOf(join(dir, 'once'))).map(stepOf), [1, 2], 'once: the step in progress was finished and checkpointed');

  t.equal(b.status, 130, 'twice: exit 130', { stderr: b.stderr.slice(-2000) });
  t.match(b.stderr, /SIGINT again: exiting now without writing a checkpoint/);
  t.notMatch(b.stdout, /stopped at step|done:/, 'twice: no summary (it did not wait for the run to end)');
  t.same(checkpoints(runDirOf(join(dir, 'twice'))).map(stepOf), [1], 'twice: no new checkpoint');
  t.notOk(hasStack(b.stderr), 'no stack trace');
});
