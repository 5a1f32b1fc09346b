// `node dist/inspect.js CKPT` as a user runs it (needs `npm run build`; `npm test` builds first).

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeCheckpoint } from '../src/checkpoint/index.js';
import { tinyCheckpoint } from './fixtures/checkpoint/data.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'inspect.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const sha256 = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

t.before(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
});

t.test('prints version, step, epoch, spec, config and every tensor with its SHA-256', async (t) => {
  const d = t.testdir({});
  const file = join(d, 'step-000000001.ckpt');
  const c = tinyCheckpoint();
  writeFileSync(file, encodeCheckpoint(c));
  const r = run(file);
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.equal(out.formatVersion, 1);
  t.equal(out.step, c.training.globalStep);
  t.equal(out.epoch, 4);
  t.same(out.spec, c.spec);
  t.same(out.config, JSON.parse(c.config));
  t.same(out.training.rngState, c.training.rngState);
  t.equal(out.vocab.size, 7);
  t.same(
    out.tensors,
    c.params.map((p) => ({ name: p.name, shape: p.shape, dtype: 'float32', sha256: sha256(p.data) })),
  );
  t.same(out.optimizer.moments.map((m: { name: string }) => m.name), ['m', 'v']);
  t.equal(out.optimizer.moments[1].tensors[0].sha256, sha256(c.optimizer.moments[1].tensors[0].data));
  const fixture = run(join(import.meta.dirname, 'fixtures', 'checkpoint', 'tiny-v1.ckpt'));
  t.same(JSON.parse(fixture.stdout).tensors, out.tensors, 'same state, same hashes (a way to compare runs)');
  t.same(JSON.parse(run(file, '--vocab').stdout).vocab, c.vocab, '--vocab prints it all');
});

t.test('bad files: the file and the problem on stderr, exit 2 (an input error), no stack trace', async (t) => {
  const good = encodeCheckpoint(tinyCheckpoint());
  const d = t.testdir({ 'random.ckpt': 'hello, not a checkpoint', 'empty.ckpt': '' });
  writeFileSync(join(d, 'cut.ckpt'), good.subarray(0, good.length - 20));
  const flipped = Buffer.from(good);
  flipped[300] ^= 4;
  writeFileSync(join(d, 'flipped.ckpt'), flipped);
  for (const [name, re] of [
    ['random.ckpt', /not an rnn-trainer checkpoint/],
    ['empty.ckpt', /empty/],
    ['cut.ckpt', /truncated/],
    ['flipped.ckpt', /CRC32C|checksum/],
    ['missing.ckpt', /cannot be read: ENOENT/],
  ] as const) {
    const r = run(join(d, name));
    t.equal(r.status, 2, `${name}: exit 2`);
    t.equal(r.stdout, '', `${name}: nothing on stdout`);
    t.match(r.stderr, join(d, name), `${name}: names the file`);
    t.match(r.stderr, re, `${name}: ${re}`);
    t.notMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
  }
});

t.test('usage', async (t) => {
  const h = run('--help');
  t.equal(h.status, 0);
  t.match(h.stdout, /Usage: rnn-inspect CHECKPOINT/);
  t.match(h.stdout, /Example:\n\s+node dist\/inspect\.js /);
  const none = run();
  t.equal(none.status, 2);
  t.match(none.stderr, /expected one checkpoint file/);
  t.equal(run('--bogus', 'x').status, 2);
});
