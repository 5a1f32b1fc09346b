// One trainer per run directory (issue 13), and --resume auto. Two trainers started at once on
// one run directory: one runs, the other is refused naming the holder, and the run's checkpoints
// hold the winner's weights. A --resume latest while the first run goes on: refused. A lock left
// by a killed trainer (or by a pid now reused) is taken over with a warning; one from another
// host is not. The lock is gone however a trainer ends. --resume auto after a kill before the
// first checkpoint starts fresh and ends as an uninterrupted run. Needs `npm run build`.

import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { NAMES, Running, TRAIN, checkpoints, exit0, finalState, hasStack, train, trainAsync, waitFor } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(TRAIN)) throw new Error(`${TRAIN} is missing: run \`npm run build\` first`);
});

const RUN = 'names-tiny';
const LOCK = 'train.lock';
// 16 epochs of 16 steps: long enough to still be running when a second trainer starts.
// About 3 s: on the js kernels and wider than the fixture's model, so the run is still going when
// the second trainer starts (the compiled kernels would finish it first).
const LONG = ['--config', NAMES, '--set', 'train.epochs=16', '--set', 'model.hidden=160', '--workers', '1', '--quiet', '--kernels', 'js'];

/** A pid that is certainly not running: a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

t.test('two trainers started at once on one run directory: one runs, the other is refused; the checkpoints are the winner\'s', async (t) => {
  const dir = t.testdir({});
  const out = join(dir, 'shared');
  const [a, b] = [new Running([...LONG, '--out', out, '--seed', '1']), new Running([...LONG, '--out', out, '--seed', '2'])];
  const refs = [trainAsync(...LONG, '--out', join(dir, 'ref1'), '--seed', '1'), trainAsync(...LONG, '--out', join(dir, 'ref2'), '--seed', '2')];
  const [ra, rb] = await Promise.all([a.done, b.done]);
  const won = [ra, rb].filter((r) => r.status === 0);
  const lost = [ra, rb].filter((r) => r.status !== 0);
  t.equal(won.length, 1, 'exactly one ran to the end');
  t.equal(lost.length, 1, 'the other was refused');
  if (won.length !== 1 || lost.length !== 1) return;
  const winner = ra.status === 0 ? a : b;
  t.equal(lost[0].status, 1, 'refused: exit 1');
  t.match(lost[0].stderr, new RegExp(`^error: the run directory \\S*${RUN} is in use by another trainer \\(pid ${winner.child.pid} on ${hostname()}, since \\S+: .*\\)\\. `
    + 'Two trainers on one run directory would overwrite each other\'s checkpoints\\. Wait for it to finish, stop it \\(kill \\d+: .*\\), or start this run elsewhere \\(--out DIR or --set name=NAME\\)\\.$', 'm'), 'names the holder and how to proceed');
  t.notOk(hasStack(lost[0].stderr), 'no stack trace');
  t.notOk(/^done:/m.test(lost[0].stdout), 'the refused one does not claim to be done');
  for (const r of await Promise.all(refs)) exit0(t, r, 'reference run');
  const seed = winner === a ? 1 : 2;
  t.same(finalState(join(out, RUN)), finalState(join(dir, `ref${seed}`, RUN)), `the run directory holds the winner's run (seed ${seed}), bit for bit`);
  t.notOk(existsSync(join(out, RUN, LOCK)), 'the lock is released at the end');
});

t.test('--resume latest with a changed learning rate while the run goes on: refused, the run unharmed', async (t) => {
  const dir = t.testdir({});
  const out = join(dir, 'run');
  const ref = trainAsync(...LONG, '--out', join(dir, 'ref'));
  const first = new Running([...LONG, '--out', out]);
  await waitFor('the first checkpoint', () => checkpoints(join(out, RUN)).length > 0, first);
  const second = train(...LONG, '--out', out, '--resume', 'latest', '--set', 'train.lr=0.02');
  t.equal(second.status, 1, 'the second trainer: exit 1', { stderr: second.stderr.slice(-1500) });
  t.match(second.stderr, new RegExp(`is in use by another trainer \\(pid ${first.child.pid} `));
  exit0(t, await first.done, 'the first run');
  exit0(t, await ref, 'the reference run');
  t.same(finalState(join(out, RUN)), finalState(join(dir, 'ref', RUN)), 'the first run ends as if alone');
  t.ok(checkpoints(join(out, RUN)).length > 0, 'its checkpoints are in place');
});

t.test('a stale lock is taken over with a warning; a lock from another host is not', async (t) => {
  const dir = t.testdir({});
  const cases: Array<[string, object]> = [
    ['a dead pid', { pid: deadPid(), host: hostname(), since: '2020-01-01T00:00:00.000Z', command: 'train.js (killed)' }],
    // A live pid (this test's) whose start time is not the recorded one: a pid reused after a restart.
    ['a reused pid', { pid: process.pid, host: hostname(), procStart: '1', since: '2020-01-01T00:00:00.000Z', command: 'train.js (before a reboot)' }],
  ];
  for (const [what, owner] of cases) {
    const out = join(dir, what.replace(/ /g, '-'));
    mkdirSync(join(out, RUN), { recursive: true });
    writeFileSync(join(out, RUN, LOCK), JSON.stringify(owner) + '\n');
    const r = train('--config', NAMES, '--out', out, '--quiet', '--max-steps', '3');
    exit0(t, r, what);
    t.match(r.stderr, new RegExp(`^warning: \\S*${LOCK} was left by a trainer that is no longer running \\(pid ${(owner as { pid: number }).pid} on ${hostname()}, since 2020-01-01T00:00:00\\.000Z\\); taking over the run directory$`, 'm'), `${what}: warned`);
    t.notOk(existsSync(join(out, RUN, LOCK)), `${what}: released at the end`);
  }
  const out = join(dir, 'other-host');
  mkdirSync(join(out, RUN), { recursive: true });
  const foreign = JSON.stringify({ pid: 1234, host: 'elsewhere.example', since: '2020-01-01T00:00:00.000Z', command: 'train.js' }) + '\n';
  writeFileSync(join(out, RUN, LOCK), foreign);
  const r = train('--config', NAMES, '--out', out, '--quiet', '--max-steps', '3');
  t.equal(r.status, 1, 'another host: exit 1');
  t.match(r.stderr, /is locked by a trainer on another host \(pid 1234 on elsewhere\.example, .*\), which cannot be checked from here\. If it is no longer running, remove \S+train\.lock and start again/);
  t.equal(readFileSync(join(out, RUN, LOCK), 'utf8'), foreign, 'its lock is left alone');
  writeFileSync(join(out, RUN, LOCK), 'garbage');
  const g = train('--config', NAMES, '--out', out, '--quiet', '--max-steps', '3');
  t.equal(g.status, 1, 'an unreadable lock: exit 1');
  t.match(g.stderr, /is locked: \S+train\.lock exists but does not say which trainer holds it \(a trainer may be starting there\)\. Once it is 5 s old it is taken as left by a killed trainer: try again then\./);
});

// A trainer killed (SIGKILL) stays a zombie until its parent reaps it, forever where nothing does
// (a container without an init): its pid answers kill(0) and keeps its start time, but it has
// exited. An empty lock (a trainer killed between creating the file and writing it) or a torn one,
// once a few seconds old, was left by a killed trainer too. All are taken over with a warning.
t.test('a lock held by a zombie, or empty, or torn and old: taken over with a warning', async (t) => {
  const dir = t.testdir({});
  // sh's background child exits at once; sh then becomes `sleep`, which never reaps it: a zombie.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => { parent.kill('SIGKILL'); });
  const zombie = Number(await new Promise<string>((r) => parent.stdout!.setEncoding('utf8').once('data', r)));
  const stat = () => { const s = readFileSync(`/proc/${zombie}/stat`, 'utf8'); return s.slice(s.lastIndexOf(')') + 2).split(' '); };
  await waitFor('the child to become a zombie', () => stat()[0] === 'Z');
  const old = new Date(Date.now() - 60_000);
  const cases: Array<[string, string, RegExp]> = [
    ['a zombie', JSON.stringify({ pid: zombie, host: hostname(), procStart: stat()[19], since: '2020-01-01T00:00:00.000Z', command: 'train.js (killed)' }) + '\n',
      new RegExp(`was left by a trainer that is no longer running \\(pid ${zombie} on `)],
    ['an empty lock', '', /was empty and \d+ s old: left by a trainer killed while creating it; taking over the run directory$/m],
    ['a torn lock', '{"pid":12', /was unreadable and \d+ s old: left by a trainer killed while creating it; taking over the run directory$/m],
  ];
  for (const [what, text, warning] of cases) {
    const out = join(dir, what.replace(/ /g, '-'));
    mkdirSync(join(out, RUN), { recursive: true });
    writeFileSync(join(out, RUN, LOCK), text);
    utimesSync(join(out, RUN, LOCK), old, old);
    const r = train('--config', NAMES, '--out', out, '--quiet', '--max-steps', '3');
    exit0(t, r, what);
    t.match(r.stderr, warning, `${what}: warned`);
    t.notOk(existsSync(join(out, RUN, LOCK)), `${what}: released at the end`);
  }
});

t.test('the lock is released however the trainer ends: an error, SIGTERM, a second SIGINT', async (t) => {
  const dir = t.testdir({});
  const out = join(dir, 'run');
  const lock = join(out, RUN, LOCK);
  const e = train('--config', NAMES, '--out', out, '--quiet', '--resume', 'latest');
  t.equal(e.status, 2, 'an input error after the lock was taken: exit 2');
  t.notOk(existsSync(lock), 'released after an error');
  for (const signals of [['SIGTERM'], ['SIGINT', 'SIGINT']] as const) {
    const run = new Running([...LONG, '--out', out]);
    await waitFor('the lock and a first step', () => existsSync(lock) && existsSync(join(out, RUN, 'metrics.jsonl')), run);
    for (const s of signals) { run.child.kill(s); await new Promise((r) => setTimeout(r, 5)); }
    const r = await run.done;
    // SIGTERM: stopped after its checkpoint, 143; a second SIGINT: at once, 130 (a first one would be 130 too).
    t.equal(r.status, signals[0] === 'SIGTERM' ? 143 : 130, `${signals.join(' + ')}: exit ${r.status}`);
    t.notOk(existsSync(lock), `${signals.join(' + ')}: released`);
  }
});

t.test('--resume auto: after a kill before the first checkpoint it starts fresh; later it resumes', async (t) => {
  const dir = t.testdir({});
  // All the names (200 steps an epoch, the first checkpoint at step 200), on the js kernels with
  // H = 128 (about 5 ms a step): a second or so to kill it before that checkpoint, even under load.
  const args = ['--config', NAMES, '--set', 'data.sample=1', '--set', 'checkpoint.every=0', '--set', 'model.hidden=128', '--kernels', 'js', '--max-steps', '240', '--workers', '1', '--quiet'];
  const out = join(dir, 'job');
  const ref = trainAsync(...args, '--out', join(dir, 'ref'));
  const run = new Running([...args, '--out', out]);
  await waitFor('the first metrics row', () => existsSync(join(out, RUN, 'metrics.jsonl')) && readFileSync(join(out, RUN, 'metrics.jsonl'), 'utf8').length > 0, run);
  run.child.kill('SIGKILL');
  t.equal((await run.done).signal, 'SIGKILL', 'killed');
  t.same(checkpoints(join(out, RUN)), [], 'killed before the first checkpoint');
  t.ok(existsSync(join(out, RUN, LOCK)), 'its lock is left behind');

  const latest = train(...args, '--out', out, '--resume', 'latest');
  t.equal(latest.status, 2, '--resume latest: nothing to resume, exit 2');
  t.match(latest.stderr, /--resume latest: no valid checkpoint in \S+; start without --resume, or use --resume auto \(it starts fresh when there is none\)/);

  const fresh = train(...args, '--out', out, '--resume', 'auto');
  exit0(t, fresh, '--resume auto with no checkpoint');
  t.match(fresh.stderr, /^--resume auto: no valid checkpoint in \S+; starting a new run$/m, 'says it starts fresh');
  exit0(t, await ref, 'the reference run');
  t.same(finalState(join(out, RUN)), finalState(join(dir, 'ref', RUN)), 'ends as the uninterrupted run, bit for bit');
  const rows = readFileSync(join(out, RUN, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.equal(rows.filter((r) => r.kind === 'train' && r.step === 1).length, 1, 'metrics.jsonl holds the new start only');

  const again = train(...args, '--out', out, '--resume', 'auto');
  exit0(t, again, '--resume auto with a checkpoint');
  t.match(again.stderr, /^--resume auto: resuming from the newest valid checkpoint, \S+step-000000240\.ckpt$/m, 'says which checkpoint it resumes');
});
