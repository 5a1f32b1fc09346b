// Checkpoint files: atomic writes and their failures, the checkpoint directory's retention,
// --resume latest (newest valid, skipping invalid ones with a warning), SIGKILL at any moment.

import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  CheckpointDir,
  checkpointFileName,
  readCheckpoint,
  stepOfFileName,
  tempPathFor,
  writeCheckpointAtomic,
  type CheckpointData,
  type FileOps,
} from '../src/checkpoint/index.js';
import { CheckpointError } from '../src/util/errors.js';
import { tinyCheckpoint } from './fixtures/checkpoint/data.js';

const atStep = (step: number, bestStep = 0): CheckpointData => {
  const c = tinyCheckpoint();
  c.training.globalStep = step;
  c.training.bestStep = bestStep;
  c.params[1].data[0] = step; // Waa[0] records the step
  return c;
};
const steps = (dir: CheckpointDir) => dir.list().map((f) => stepOfFileName(f));
const errno = (code: string) => Object.assign(new Error(`${code}: simulated failure`), { code });

/** Save steps 100, 200, 300; return the directory and the bytes of each file. */
function threeSaved(t: Test, fileOps?: Partial<FileOps>) {
  const runDir = t.testdir({});
  const good = new CheckpointDir(runDir, { keepLast: 5 });
  for (const s of [100, 200, 300]) good.save(atStep(s));
  const before = new Map(good.list().map((f) => [f, readFileSync(f)]));
  return { runDir, dir: new CheckpointDir(runDir, { keepLast: 5, fileOps }), before };
}

/** Every earlier checkpoint is still there, byte for byte, and valid; no temporary file is left. */
function intact(t: Test, dir: CheckpointDir, before: Map<string, Buffer>) {
  t.same(dir.list(), [...before.keys()], 'the same checkpoints');
  for (const [f, bytes] of before) {
    t.ok(readFileSync(f).equals(bytes), `${f} unchanged`);
    t.equal(readCheckpoint(f).params[1].data[0], stepOfFileName(f), `${f} valid`);
  }
  t.same(readdirSync(dir.dir).filter((n) => n.includes('.tmp-')), [], 'no temporary file left');
}

t.test('names: step-<9 digits>.ckpt, sorted by step, other files ignored', async (t) => {
  t.equal(checkpointFileName(1200), 'step-000001200.ckpt');
  t.equal(checkpointFileName(12345678901), 'step-12345678901.ckpt');
  t.equal(stepOfFileName('/a/step-000001200.ckpt'), 1200);
  t.equal(stepOfFileName('step-12.ckpt'), null);
  t.equal(stepOfFileName('.step-000001200.ckpt.tmp-42'), null);
  const runDir = t.testdir({ checkpoints: { 'notes.txt': 'x', 'step-000000005.ckpt.bak': 'x', '.step-000000009.ckpt.tmp-1': 'x' } });
  const dir = new CheckpointDir(runDir, { keepLast: 10 });
  t.same(dir.list(), []);
  for (const s of [1000000000, 5, 999999999]) dir.save(atStep(s));
  t.same(steps(dir), [5, 999999999, 1000000000], 'numeric order, not lexical');
  t.same(new CheckpointDir(t.testdir({}), { keepLast: 1 }).list(), [], 'no directory yet: empty');
});

t.test('atomic write: file appears complete under its final name; round trip from disk', async (t) => {
  const d = t.testdir({});
  const path = join(d, 'a.ckpt');
  const c = atStep(7);
  writeCheckpointAtomic(path, c);
  t.same(readdirSync(d), ['a.ckpt'], 'only the final file');
  const back = readCheckpoint(path);
  t.equal(back.training.globalStep, 7);
  t.same(Array.from(back.params[1].data), Array.from(c.params[1].data));
  t.equal(tempPathFor(path), join(d, `.a.ckpt.tmp-${process.pid}`));
});

t.test('write failures: a clear error, earlier checkpoints intact, nothing half-written', async (t) => {
  await t.test('disk full in the middle of the data', async (t) => {
    let written = 0;
    const { dir, before, runDir } = threeSaved(t, {
      writeSync: (fd, buf, off, len) => {
        if (written + len > 500) throw errno('ENOSPC');
        written += len;
        return writeSync(fd, buf, off, len);
      },
    });
    t.throws(() => dir.save(atStep(400)), { name: 'CheckpointError', message: /cannot write checkpoint .*step-000000400\.ckpt: ENOSPC/ });
    t.notOk(existsSync(join(runDir, 'checkpoints', checkpointFileName(400))), 'no file under the final name');
    intact(t, dir, before);
  });
  await t.test('short writes are continued, not mistaken for success', async (t) => {
    const { dir } = threeSaved(t, { writeSync: (fd, buf, off, len) => writeSync(fd, buf, off, Math.min(len, 7)) });
    dir.save(atStep(400));
    t.equal(readCheckpoint(dir.pathFor(400)).training.globalStep, 400);
  });
  await t.test('fsync fails (EIO)', async (t) => {
    const { dir, before } = threeSaved(t, { fsyncSync: () => { throw errno('EIO'); } });
    t.throws(() => dir.save(atStep(400)), { message: /cannot write checkpoint .*step-000000400\.ckpt: EIO/ });
    intact(t, dir, before);
  });
  await t.test('rename fails when replacing a checkpoint of the same step: the old one stays', async (t) => {
    const { dir, before } = threeSaved(t, { renameSync: () => { throw errno('EXDEV'); } });
    t.throws(() => dir.save(atStep(300)), { message: /step-000000300\.ckpt: EXDEV/ });
    intact(t, dir, before);
  });
  await t.test('the temporary path is taken by a directory (real file system, no mock)', async (t) => {
    const { dir, before } = threeSaved(t);
    mkdirSync(tempPathFor(dir.pathFor(400)));
    t.throws(() => dir.save(atStep(400)), { message: /cannot write checkpoint .*step-000000400\.ckpt: EISDIR/ });
    t.same(dir.list(), [...before.keys()]);
    for (const f of before.keys()) t.ok(readCheckpoint(f));
  });
  await t.test('the run directory is a file', async (t) => {
    const d = t.testdir({ run: 'not a directory' });
    t.throws(() => new CheckpointDir(join(d, 'run'), { keepLast: 2 }).save(atStep(1)), { name: 'CheckpointError', message: /cannot create checkpoint directory/ });
  });
  await t.test('a malformed state is refused before anything is written', async (t) => {
    const { dir, before } = threeSaved(t);
    const c = atStep(400);
    c.params[0].shape = [3, 7];
    t.throws(() => dir.save(c), { name: 'CheckpointError', message: /cannot write checkpoint .*step-000000400\.ckpt: invalid checkpoint data: params tensor Wax has shape \[3, 7\]/ });
    intact(t, dir, before);
  });
});

t.test('retention: the last K plus the best', async (t) => {
  const dir = new CheckpointDir(t.testdir({}), { keepLast: 2 });
  for (const s of [100, 200, 300, 400, 500]) dir.save(atStep(s, 200));
  t.same(steps(dir), [200, 400, 500], 'keepLast=2 plus best (200)');
  dir.save(atStep(600, 600));
  t.same(steps(dir), [500, 600], 'best moved to the newest: 200 goes');
  dir.save(atStep(700, 650));
  t.same(steps(dir), [600, 700], 'a best step without a file keeps nothing extra');
  dir.save(atStep(700, 650));
  t.same(steps(dir), [600, 700], 'saving the same step again replaces it');
  t.throws(() => new CheckpointDir('x', { keepLast: 0 }), CheckpointError);
});

t.test('latest valid: skips invalid newer files with a warning naming each', async (t) => {
  const runDir = t.testdir({});
  const dir = new CheckpointDir(runDir, { keepLast: 10 });
  t.equal(dir.latestValid(() => t.fail('no warning expected')), null, 'none yet');
  for (const s of [1, 2, 3, 4]) dir.save(atStep(s));
  truncateSync(dir.pathFor(4), 100);
  const bytes = readFileSync(dir.pathFor(3));
  bytes[bytes.length - 100] ^= 0xff; // inside by's data or the trailer
  writeFileSync(dir.pathFor(3), bytes);
  const warnings: string[] = [];
  const got = dir.loadLatestValid((m) => warnings.push(m));
  t.equal(got?.path, dir.pathFor(2));
  t.equal(got?.checkpoint.training.globalStep, 2);
  t.equal(dir.latestValid(() => {}), dir.pathFor(2));
  t.equal(warnings.length, 2, warnings.join('\n'));
  t.match(warnings[0], /step-000000004\.ckpt: truncated/);
  t.match(warnings[1], /step-000000003\.ckpt: corrupt/);
  t.ok(existsSync(dir.pathFor(4)) && existsSync(dir.pathFor(3)), 'invalid files are left for the user to look at');
  for (const s of [1, 2]) writeFileSync(dir.pathFor(s), 'garbage');
  const w2: string[] = [];
  t.equal(dir.latestValid((m) => w2.push(m)), null, 'all invalid: null');
  t.equal(w2.length, 4);
});

t.test('SIGKILL at random moments never leaves an invalid checkpoint', async (t) => {
  const runDir = t.testdir({});
  const script = join(import.meta.dirname, 'fixtures', 'checkpoint', 'killer.ts');
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / 2 ** 24;
  const dir = new CheckpointDir(runDir, { keepLast: 3 });
  let lastSaved = 0;
  for (let round = 0; round < 3; round++) {
    const child = spawn(process.execPath, [...process.execArgv, script, runDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      let killing = false;
      child.stdout.on('data', (d) => {
        out += d;
        if (!killing && out.includes('saved')) {
          killing = true; // a few saves in, at a random moment
          setTimeout(() => child.kill('SIGKILL'), 20 + rnd() * 150);
        }
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code}`))));
    });
    t.notMatch(out, /warning/, `round ${round}: the child found no invalid checkpoint`);
    const saved = [...out.matchAll(/saved (\d+)/g)].map((m) => Number(m[1]));
    t.equal(saved[0], lastSaved + 1, `round ${round}: resumed right after the newest valid checkpoint`);
    lastSaved = saved[saved.length - 1];
    for (const f of dir.list()) t.equal(readCheckpoint(f).params[1].data[0], stepOfFileName(f), `round ${round}: ${f} valid`);
    const newest = stepOfFileName(dir.list().at(-1)!)!;
    t.ok(newest === lastSaved || newest === lastSaved + 1, `round ${round}: newest file ${newest}, last reported ${lastSaved}`);
    lastSaved = newest;
  }
});
