// The output directory fails (issue 13): --out a regular file, on a read-only file system, or on
// a full one. Every file system error of the trainer is one line naming the path and the fix,
// exit code 1, no stack trace, and no temporary file left behind; checkpoints on disk stay
// valid. The full and read-only cases use a small tmpfs (skipped, with the reason, where one
// cannot be mounted). Needs `npm run build`.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MetricsLog } from '../src/report/metrics.js';
import { writeReport, type ReportData } from '../src/report/html.js';
import { loadConfig } from '../src/config/load.js';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { OutputError } from '../src/util/errors.js';
import { NAMES, checkpoints, hasStack, train } from './fixtures/train/helpers.js';
import { fillTo, mountTmpfs, tmpfsUnavailable } from './helpers/tmpfs.js';

const NO_TMPFS = tmpfsUnavailable();

/** Every file under `dir` whose name marks a temporary file (ours end in .tmp or hold .tmp-). */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/\.tmp$|\.tmp-\d+$|\.stale-\d+$/.test(e.name)) out.push(join(d, e.name));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

function thrown(fn: () => unknown): Error | undefined {
  try { fn(); } catch (e) { return e as Error; }
  return undefined;
}

t.test('--out is a regular file: refused with the path and the fix, exit 1', async (t) => {
  const dir = t.testdir({ 'a-file': 'x' });
  const r = train('--config', NAMES, '--out', join(dir, 'a-file'), '--quiet');
  t.equal(r.status, 1, 'exit 1', { stderr: r.stderr });
  t.match(r.stderr, /^error: cannot create the run directory .*a-file\/names-tiny: ENOTDIR: .*; a part of the path is a file, not a directory: remove or rename that file, or give another --out DIR$/m);
  t.notOk(hasStack(r.stderr), 'no stack trace');
});

t.test('hostile run names write nothing outside --out', async (t) => {
  const dir = t.testdir({ out: {} });
  const out = join(dir, 'out');
  for (const name of ['../escaped', join(dir, 'absolute'), '..', '.', '']) {
    const r = train('--config', NAMES, '--out', out, '--quiet', '--set', `name=${name}`, '--max-steps', '2');
    t.equal(r.status, 2, `name ${JSON.stringify(name)}: exit 2`, { stderr: r.stderr.slice(-1500) });
    t.match(r.stderr, /name: expected a single folder name \(not empty, no \/ or \\, not \. or \.\.\)/);
    t.notOk(hasStack(r.stderr), 'no stack trace');
  }
  t.same(readdirSync(dir).sort(), ['out'], 'nothing beside --out');
  t.same(readdirSync(out), [], 'nothing in it either');
});

t.test('read-only output: the run directory or its lock cannot be created', { skip: NO_TMPFS ?? false }, async (t) => {
  const ro = mountTmpfs(t, '1m', true);
  const r = train('--config', NAMES, '--out', join(ro, 'runs'), '--quiet');
  t.equal(r.status, 1, 'new run: exit 1', { stderr: r.stderr });
  t.match(r.stderr, /^error: cannot create the run directory .*\/runs\/names-tiny: EROFS: read-only file system.*; the file system is read-only: give a writable --out DIR$/m);
  t.notOk(hasStack(r.stderr), 'no stack trace');

  // A run directory that exists (from an earlier run) on a file system that is now read-only.
  const ro2 = mountTmpfs(t, '1m');
  const done = train('--config', NAMES, '--out', ro2, '--quiet', '--max-steps', '3');
  t.equal(done.status, 0, 'a run on the file system while it is writable', { stderr: done.stderr });
  execFileSync('mount', ['-o', 'remount,ro', ro2]);
  const resumed = train('--config', NAMES, '--out', ro2, '--quiet', '--resume', 'latest');
  t.equal(resumed.status, 1, 'resume on it once read-only: exit 1', { stderr: resumed.stderr });
  t.match(resumed.stderr, /^error: cannot create the lock file .*\/names-tiny\/train\.lock: EROFS: read-only file system/m);
  t.notOk(hasStack(resumed.stderr), 'no stack trace');
});

t.test('full disk at every point of a run: one clean error, nothing temporary left, checkpoints valid', { skip: NO_TMPFS ?? false }, async (t) => {
  const mnt = mountTmpfs(t, '2m');
  const failedAt = new Set<string>();
  // From no space at all up, a page (4 KiB) at a time, until the run fits: each size fails at a
  // later file (the lock, config.resolved.json, a checkpoint, grad-profile.jsonl, metrics.jsonl,
  // report.html). Checkpoints only at epoch ends, none deleted (so no space is freed just before
  // the report), and a metrics row every step make the report the largest file at the end, so
  // that some size fails there.
  for (let free = 0; free <= 256 * 1024; free += 4096) {
    for (const f of readdirSync(mnt)) rmSync(join(mnt, f), { recursive: true, force: true });
    fillTo(mnt, free);
    const r = train('--config', NAMES, '--out', mnt, '--quiet', '--workers', '1', '--set', 'checkpoint.every=0', '--set', 'checkpoint.keepLast=5', '--set', 'train.logEvery=1');
    const what = `${free / 1024} KiB free`;
    t.same(leftovers(mnt), [], `${what}: no temporary file left behind`);
    for (const c of checkpoints(join(mnt, 'names-tiny'))) t.doesNotThrow(() => readCheckpoint(c), `${what}: ${relative(mnt, c)} is valid`);
    if (r.status === 0) {
      t.pass(`${what}: the run fits`);
      break;
    }
    t.equal(r.status, 1, `${what}: exit 1`, { stderr: r.stderr.slice(-1500) });
    t.notOk(hasStack(r.stderr), `${what}: no stack trace`);
    const m = /^error: cannot (?:write|create|append to|open|set aside)[\w ]* (\/\S+?):? .*ENOSPC: no space left on device.*the file system is full: free some space there, or write the run elsewhere with --out DIR/m.exec(r.stderr);
    t.ok(m, `${what}: names the path, the cause and the fix`, { stderr: r.stderr.slice(-1500) });
    if (m) {
      t.ok(m[1].startsWith(mnt), `${what}: the path is in the output directory (${relative(mnt, m[1])})`);
      failedAt.add(m[1].replace(/step-\d+\.ckpt$/, 'step-N.ckpt').slice(mnt.length + 1));
    }
  }
  t.ok(failedAt.has('names-tiny/config.resolved.json'), 'failed at the start', { failedAt: [...failedAt] });
  t.ok(failedAt.has('names-tiny/checkpoints/step-N.ckpt'), 'failed at a checkpoint', { failedAt: [...failedAt] });
  t.ok(failedAt.has('names-tiny/report.html'), 'failed at the report', { failedAt: [...failedAt] });
});

t.test('metrics.jsonl and report.html on a full file system: OutputError naming the file; no report.html.tmp', { skip: NO_TMPFS ?? false }, async (t) => {
  const mnt = mountTmpfs(t, '256k');
  const log = new MetricsLog(mnt);
  const row = { step: 1, epoch: 1, kind: 'train' as const, loss: 0.5 };
  log.append(row);
  fillTo(mnt, 0);
  const appendErr = thrown(() => { for (let i = 0; i < 10_000; i++) log.append(row); });
  t.type(appendErr, OutputError);
  t.match(appendErr?.message, /^cannot append to the metrics log .*metrics\.jsonl: ENOSPC: .*the file system is full.*\. The checkpoints written so far are kept: once fixed, continue with --resume latest$/);
  log.close();

  const { config } = loadConfig('test/fixtures/config/good-names.json');
  const data: ReportData = { runName: 'r', config, metrics: [], stepGradNorms: [] };
  rmSync(join(mnt, 'filler'));
  writeFileSync(join(mnt, 'report.html'), 'the previous report');
  fillTo(mnt, 0);
  const reportErr = thrown(() => writeReport(mnt, data, 'The run itself finished'));
  t.type(reportErr, OutputError);
  t.match(reportErr?.message, /^cannot write the report .*report\.html: ENOSPC: .*the file system is full.*\. The run itself finished$/);
  t.notOk(existsSync(join(mnt, 'report.html.tmp')), 'no report.html.tmp left behind');
  t.equal(readFileSync(join(mnt, 'report.html'), 'utf8'), 'the previous report', 'the previous report is untouched');
  t.ok(statSync(join(mnt, 'metrics.jsonl')).size > 0);
});
