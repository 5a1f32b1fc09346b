// Hostile files (issue 13): every reader of a file the user names (a checkpoint, a config, a data
// file) and of the files a run keeps gets a symlink to /dev/zero or /dev/urandom, a FIFO, a
// directory and a 1 GiB file. Each is refused before it is read, with a message naming the path
// and what it is, exit code 2 (1 for the run's own files), no stack trace, under a memory bound
// and a time bound on the process. Needs `npm run build`.

import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { bounded, ROOT, type Bounded } from './helpers/bounded.js';
import { train, noStack } from './helpers/cli.js';

const NAMES = join(ROOT, 'test', 'fixtures', 'train', 'names.json');
const MAX_MIB = 300;

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'train.js'))) throw new Error('dist/ is missing: run `npm run build` first');
});

/** The hostile files, each with what the message must say about it (by the kind of file read). */
function hostile(dir: string) {
  symlinkSync('/dev/zero', join(dir, 'zero'));
  symlinkSync('/dev/urandom', join(dir, 'urandom'));
  const fifo = spawnSync('mkfifo', [join(dir, 'fifo')]);
  if (fifo.status !== 0) throw new Error(`mkfifo failed: ${fifo.stderr}`);
  mkdirSync(join(dir, 'folder'));
  writeFileSync(join(dir, 'big'), '');
  truncateSync(join(dir, 'big'), 2 ** 30); // 1 GiB, sparse: zeros, read quickly if read at all
  return [
    ['zero', /is a character device, not a regular file \(a symbolic link to \/dev\/zero\)/],
    ['urandom', /is a character device, not a regular file \(a symbolic link to \/dev\/urandom\)/],
    ['fifo', /is a FIFO \(named pipe\), not a regular file/],
    ['folder', /is a directory, not a regular file/],
    ['big', null], // depends on the reader: the signature, or the size cap
  ] as const;
}

function refused(t: Test, r: Bounded, what: string, code: number, re: RegExp) {
  t.equal(r.killedFor, null, `${what}: ends by itself (peak ${r.peakMiB} MiB, ${r.ms} ms; bounds ${MAX_MIB} MiB, 30 s)`);
  t.ok(r.peakMiB < MAX_MIB, `${what}: memory stays small (${r.peakMiB} MiB)`);
  t.equal(r.status, code, `${what}: exit ${code}`, { stderr: r.stderr.slice(-1500) });
  t.match(r.stderr, re, `${what}: says what the file is`);
  t.ok(noStack(r.stderr), `${what}: no stack trace`);
}

t.test('every reader refuses special files and oversize files before reading them', async (t) => {
  const dir = t.testdir({});
  const kinds = hostile(dir);
  const good = train(NAMES, join(dir, 'runs'), 'names-tiny', ['--max-steps', '3']).ckpt;
  // A config whose data file is hostile: refused by the config check, before any read.
  const dataConfig = (name: string) => {
    const f = join(dir, `data-${name}.json`);
    writeFileSync(f, JSON.stringify({ name: 'x', data: { source: 'files', format: 'jsonl', file: name }, model: { task: 'many-to-one', hidden: 4 }, train: {} }));
    return f;
  };
  for (const [name, kindRe] of kinds) {
    const p = join(dir, name);
    const ckptRe = kindRe ?? /not an rnn-trainer checkpoint \(it does not start with the "RNNC" signature\)/;
    const readers: Array<[string, string, string[], RegExp]> = [
      ['inspect', 'inspect', [p], ckptRe],
      ['eval --checkpoint', 'eval', ['--checkpoint', p, '--workers', '1'], ckptRe],
      ['predict --checkpoint', 'predict', ['--checkpoint', p, '--text', 'maria'], ckptRe],
      ['train --resume PATH', 'train', ['--config', NAMES, '--out', join(dir, 'resume-runs'), '--resume', p, '--quiet'], ckptRe],
      ['train --config', 'train', ['--config', p, '--out', join(dir, 'cfg-runs')], kindRe ?? /config file .*big: is 1 GiB \(1,073,741,824 bytes\), more than the 1 MiB a config file may be/],
      ['eval --data', 'eval', ['--checkpoint', good, '--data', p, '--format', 'jsonl', '--workers', '1'], name === 'folder' ? /folder: is a folder; give a data file/ : kindRe ?? /big: is 1 GiB \(1,073,741,824 bytes\), more than the 256 MiB a data file may be/],
      ['train with data.file', 'train', ['--config', dataConfig(name), '--out', join(dir, 'data-runs'), '--quiet'],
        kindRe ? new RegExp(`data\\.file: expected a regular file, found "${name}" \\(${join(dir, name).replace(/[/.]/g, '\\$&')} is `) : /"big" holds 1 GiB, more than the 64 MiB read into memory with the char tokenizer\. Prepare token shards.*node dist\/prepare\.js --config \S+ --out \S+big-shards/],
    ];
    for (const [what, cmd, args, re] of readers) {
      const r = await bounded(cmd, args, { maxMiB: MAX_MIB, maxMs: 30_000 });
      refused(t, r, `${name}: ${what}`, 2, re);
      if (!what.startsWith('train with')) t.ok(r.stderr.includes(p) || r.stderr.includes(relative(ROOT, p)), `${name}: ${what}: names the path`);
    }
  }
});

t.test('the files a run keeps (metrics.jsonl, grad-profile.jsonl, the lock) are checked the same way on resume', async (t) => {
  const dir = t.testdir({});
  const kinds = hostile(dir);
  const base = join(dir, 'base');
  train(NAMES, base, 'names-tiny', ['--max-steps', '3']);
  for (const file of ['metrics.jsonl', 'grad-profile.jsonl', 'train.lock']) {
    for (const [name, kindRe] of kinds) {
      if (name === 'big') continue; // a 1 GiB metrics file is a legitimate (if odd) run file below the cap's kind
      const out = join(dir, `${file}-${name}`);
      cpSync(base, out, { recursive: true });
      const target = join(out, 'names-tiny', file);
      rmSync(target, { force: true });
      symlinkSync(join(dir, name), target);
      const r = await bounded('train', ['--config', NAMES, '--out', out, '--resume', 'latest', '--quiet'], { maxMiB: MAX_MIB, maxMs: 30_000 });
      refused(t, r, `${file} -> ${name}`, 1, kindRe!);
      t.match(r.stderr, target, `${file} -> ${name}: names the file`);
    }
  }
});
