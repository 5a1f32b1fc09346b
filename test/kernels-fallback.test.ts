// A machine without a C++ compiler: the build still succeeds (one warning line, no addon), and
// training runs on the wasm kernels, saying so once in the run header.

import t from 'tap';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, DIST, noStack } from './helpers/cli.js';

t.test('no compiler: the native build warns once and does not fail', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'rnn-nocc-'));
  cpSync(join(ROOT, 'native'), join(root, 'native'), { recursive: true, filter: (p) => !p.includes(`${join('native', 'build')}`) });
  const build = new URL('../native/build.mjs', import.meta.url).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const ok = (await import(${JSON.stringify(build)})).buildNative(${JSON.stringify(root)}); process.exit(ok ? 10 : 0);`], {
    encoding: 'utf8', env: { ...process.env, CXX: '/nonexistent/c++', CC: '/nonexistent/cc' },
  });
  t.equal(r.status, 0, `the build step returns normally (${r.stderr.slice(0, 300)})`);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: native kernels not built'));
  t.equal(warnings.length, 1, `one warning line: ${warnings[0]}`);
  t.match(warnings[0], /runs will use the wasm kernels/);
  t.notOk(existsSync(join(root, 'native', 'build', 'Release', 'rnn_kernels.node')), 'no addon');
});

t.test('no addon: auto trains on wasm and says why, once', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'rnn-nocc-run-'));
  const r = spawnSync(process.execPath, [join(DIST, 'train.js'), '--config', join(ROOT, 'test', 'fixtures', 'train', 'names.json'), '--out', out, '--workers', '2', '--max-steps', '2'], {
    encoding: 'utf8', env: { ...process.env, RNN_TRAINER_NATIVE_ADDON: join(out, 'missing.node'), RNN_TRAINER_KERNELS: '' },
  });
  t.equal(r.status, 0, r.stderr);
  const notes = r.stderr.split('\n').filter((l) => l.startsWith('kernels: '));
  t.equal(notes.length, 1, notes[0]);
  t.match(notes[0], /native kernels unavailable \(native backend not built.*\); using wasm/);
  t.match(r.stderr, /2 worker threads, wasm\/(relaxed-)?simd128 kernels/);
  t.ok(noStack(r.stderr));
});
