// The bench's oneDNN side (src/bench/onednn.ts, `npm run bench -- --compare onednn`): it reads the
// tool's output, says in one line and goes on where the compiler or oneDNN is missing, and where
// oneDNN is installed compiles the tool once into the cache folder and runs it. Nothing is timed:
// the runs are the smallest shapes, checked for what they print, not for speed.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOnednn, onednnCacheDir, onednnSource, parseOnednnOutput, runOnednn } from '../src/bench/onednn.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = join(ROOT, 'dist', 'src', 'bench', 'bench.js');
const SOURCE = onednnSource(ROOT);
const scratch = () => mkdtempSync(join(tmpdir(), 'rnn-onednn-'));

t.test("parses the tool's output (as oneDNN 2.6.3 printed it)", async (t) => {
  const r = parseOnednnOutput('impl fwd: ref  bwd: ref  oneDNN 2.6.3\nrnn E=128 H=256 B=64 T=128: 26.260 ms/step  311958 tokens/s  183.96 GFLOP/s\n');
  t.same(r, { cell: 'rnn', E: 128, H: 256, B: 64, T: 128, msPerStep: 26.26, tokensPerSec: 311958, gflops: 183.96, implFwd: 'ref', implBwd: 'ref', version: '2.6.3' });
  const l = parseOnednnOutput('impl fwd: ref  bwd: ref\nlstm E=64 H=128 B=32 T=64: 9.5 ms/step  215578 tokens/s  47.00 GFLOP/s\n');
  t.equal(l.cell, 'lstm');
  t.equal(l.tokensPerSec, 215578);
  t.equal(l.version, undefined, 'the version is optional (the tool as first written did not print it)');
  t.throws(() => parseOnednnOutput('usage: dnnl_rnn_bench rnn|lstm E H B T [iters] [warmup]\n'), /unexpected output from the oneDNN tool: usage/);
  t.throws(() => parseOnednnOutput(''), /\(none\)/);
});

t.test('skips with one line where the compiler or oneDNN is missing', async (t) => {
  const dir = scratch();
  const none = buildOnednn(SOURCE, join(dir, 'cache'), '/nonexistent/bin/g++');
  t.same(Object.keys(none), ['note']);
  t.match((none as { note: string }).note, /^oneDNN comparison skipped: no C\+\+ compiler `\/nonexistent\/bin\/g\+\+`/);
  // Compilers that fail as g++ does without libdnnl-dev: the header, or the library at link time.
  for (const [name, msg] of [['no-header', `${SOURCE}:7:10: fatal error: dnnl.hpp: No such file or directory`], ['no-lib', '/usr/bin/ld: cannot find -ldnnl: No such file or directory']]) {
    const cxx = join(dir, name);
    writeFileSync(cxx, `#!/bin/sh\necho '${msg}' >&2\nexit 1\n`);
    chmodSync(cxx, 0o755);
    const r = buildOnednn(SOURCE, join(dir, 'cache'), cxx) as { note: string };
    t.equal(r.note, 'oneDNN comparison skipped: oneDNN is not installed (`apt-get install -y libdnnl-dev`)', name);
  }
  t.match((buildOnednn(join(dir, 'missing.cpp'), join(dir, 'cache')) as { note: string }).note, /its source .*missing\.cpp is missing/);

  // The bench goes on without it: our rows, the note, exit 0.
  const r = spawnSync(process.execPath, [BENCH, '--compare', 'onednn', '--workloads', 'W-small', '--input', 'embedding', '--workers', '1', '--seconds', '0.05'], {
    encoding: 'utf8', env: { ...process.env, CXX: '/nonexistent/bin/g++', XDG_CACHE_HOME: join(dir, 'xdg') },
  });
  t.equal(r.status, 0, r.stderr);
  const notes = r.stdout.split('\n').filter((l) => l.includes('oneDNN'));
  t.same(notes, ['oneDNN comparison skipped: no C++ compiler `/nonexistent/bin/g++` (install g++, or set CXX)'], 'one line about oneDNN');
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { impl: string; vsOnednn?: number });
  t.ok(rows.length === 1 && rows[0].impl === 'rnn-trainer' && rows[0].vsOnednn === undefined, 'our row, without a oneDNN ratio');
});

t.test('the cache folder is outside the repository', async (t) => {
  t.equal(onednnCacheDir({ XDG_CACHE_HOME: '/x/cache' }), '/x/cache/rnn-trainer/onednn');
  t.match(onednnCacheDir({ HOME: '/home/u' }), /\/\.cache\/rnn-trainer\/onednn$/);
});

const dir = scratch();
const cache = join(dir, 'xdg', 'rnn-trainer', 'onednn');
const built = buildOnednn(SOURCE, cache);
if ('note' in built) {
  t.comment(`${built.note}: the real tool's run is not checked here`);
} else {
  t.test('where oneDNN is installed: compiled once into the cache, run, read', async (t) => {
    t.ok(built.compiled && built.binary.startsWith(cache) && existsSync(built.binary), built.binary);
    t.same(buildOnednn(SOURCE, cache), { binary: built.binary, compiled: false }, 'the second time, the cached tool');
    for (const cell of ['rnn', 'lstm'] as const) {
      const r = await runOnednn(built.binary, cell, { E: 4, H: 8, B: 2, T: 3 }, 1, 1, 0);
      t.match(r, { cell, E: 4, H: 8, B: 2, T: 3 }, `${cell}: the shape it ran`);
      t.ok(r.tokensPerSec > 0 && r.msPerStep > 0, `${cell}: a rate`);
      t.match(r.version, /^\d+\.\d+\.\d+$/, `oneDNN ${r.version}, ${r.implFwd}/${r.implBwd}`);
    }
    await t.rejects(runOnednn(built.binary, 'rnn', { E: 4, H: -1, B: 2, T: 3 }, 1, 1, 0), /oneDNN tool .* exited/, 'a failed run says so');

    const b = spawnSync(process.execPath, [BENCH, '--compare', 'onednn', '--onednn-threads', '1', '--workloads', 'W-small', '--input', 'embedding,onehot', '--workers', '1', '--seconds', '0.05'], {
      encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: join(dir, 'xdg') },
    });
    t.equal(b.status, 0, b.stderr);
    const rows = b.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const dnnl = rows.filter((r) => r.impl === 'onednn');
    t.equal(dnnl.length, 1, 'oneDNN on the embedding row only (it has no one-hot input)');
    t.match(dnnl[0], { workload: 'W-small', input: 'embedding', cell: 'rnn', workers: 1 });
    const ours = rows.find((r) => r.impl === 'rnn-trainer' && r.input === 'embedding')!;
    t.equal(ours.onednnTokensPerSec, dnnl[0].tokensPerSec);
    t.equal(ours.vsOnednn, +((ours.tokensPerSec as number) / (dnnl[0].tokensPerSec as number)).toFixed(3));
    t.match(b.stdout, /oneDNN's figure is its RNN layer alone .*no embedding, head or optimizer/);
    t.match(b.stdout, /^oneDNN \d+\.\d+\.\d+ .* on .+$/m, 'its version and the CPU model');
    t.match(b.stdout, /^W-small +1 +\d+ +\d+ +1 +[\d.]+ /m, 'the comparison row');
  });
}
