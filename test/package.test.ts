// What `npm pack` would publish (issue 12): the library entry with its declarations, the commands,
// the native sources, no tests. Needs `npm run build` (the pack is a dry run without scripts).

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'index.js'))) throw new Error('dist/src/index.js is missing: run `npm run build` first');
});

t.test('npm pack --dry-run: the library, its types, the commands and sources; no tests', async (t) => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
  t.same(files.filter((f) => /(^|\/)test\//.test(f) || /\.test\.[jt]s$/.test(f)), [], 'no test files');
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/train.js', 'dist/src/cli/train.js', 'dist/src/checkpoint/pb/checkpoint.js',
    'dist/src/checkpoint/pb/checkpoint.d.ts', 'native/binding.gyp', 'native/kernels.cc', 'proto/checkpoint.proto', 'configs/small.json', 'README.md', 'LICENSE', 'package.json']) {
    t.ok(files.includes(f), `includes ${f}`);
  }
  t.notOk(files.some((f) => f.startsWith('native/build/')), 'not this machine\'s compiled addon');
  t.notOk(files.some((f) => f.startsWith('src/')), 'no TypeScript sources');

  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  t.same(pkg.exports['.'], { types: './dist/src/index.d.ts', default: './dist/src/index.js' });
  t.equal(pkg.types, 'dist/src/index.d.ts');
  t.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) rnn-trainer authors\n/);
});

t.test('the package root exports the public pieces, with declarations', async (t) => {
  const lib = await import('rnn-trainer'); // resolved through package.json `exports` (self-reference)
  for (const name of ['loadConfig', 'trainRun', 'loadModel', 'Classifier', 'evaluateSplit', 'exportOnnx']) t.type(lib[name as keyof typeof lib], 'function', name);
  const dts = readFileSync(join(ROOT, 'dist', 'src', 'index.d.ts'), 'utf8');
  for (const name of ['loadConfig', 'trainRun', 'loadModel', 'Classifier', 'evaluateSplit', 'exportOnnx']) t.match(dts, new RegExp(`\\b${name}\\b`), `index.d.ts declares ${name}`);
});
