// model.input.pretrained / freeze: word vectors in the GloVe / word2vec / fastText text format
// start the embedding; the coverage is told; frozen, the table never changes, fine-tuned it does.
// Worker threads load dist/: `npm run build` first.

import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { train } from '../src/index.js';
import { readVectors } from '../src/data/vectors.js';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { ROOT, checkpoints } from './fixtures/train/helpers.js';
import { xoExamples } from './helpers/examples.js';

t.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'workers', 'shard.js'))) throw new Error('dist/workers/shard.js is missing: run `npm run build` first');
});

t.test('readVectors: GloVe lines, a fastText header, CRLF, the first of a repeated word; errors name the file and line', async (t) => {
  const dir = t.testdir({
    'glove.txt': 'the 0.5 -1 2.25\ncat 1 2 3\r\nthe 9 9 9\nunused 4 4 4\n',
    'ft.vec': '3 3\ncat 0.125 0 -0.5\n',
    'wide.vec': '2 5\ncat 1 2 3 4 5\n',
    'short.txt': 'the 1 2 3\ncat 1 2\n',
    'nan.txt': 'the 1 2 3\ncat 1 x 3\n',
  });
  const v = readVectors(join(dir, 'glove.txt'), 'glove.txt', ['<pad>', 'the', 'cat', 'dog'], 3);
  t.equal(v.count, 2);
  t.same(Array.from(v.found), [0, 1, 1, 0]);
  t.same(Array.from(v.rows), [0, 0, 0, 0.5, -1, 2.25, 1, 2, 3, 0, 0, 0], 'the first "the" wins; a CRLF line reads');
  const f = readVectors(join(dir, 'ft.vec'), 'ft.vec', ['cat'], 3);
  t.same(Array.from(f.rows), [0.125, 0, -0.5], 'the header line is skipped');
  t.throws(() => readVectors(join(dir, 'wide.vec'), 'wide.vec', ['cat'], 3), { name: 'DataError', message: /^wide\.vec:1: its header says 5 values, and model\.input\.embedding is 3: .*set model\.input\.embedding to 5$/ });
  t.throws(() => readVectors(join(dir, 'short.txt'), 'short.txt', ['cat'], 3), { name: 'DataError', message: /^short\.txt:2: the line of "cat" has 2 values, and model\.input\.embedding is 3/ });
  t.throws(() => readVectors(join(dir, 'nan.txt'), 'nan.txt', ['cat'], 3), { name: 'DataError', message: /^nan\.txt:2: value 2 of "cat" is "x", not a finite number/ });
  t.throws(() => readVectors(join(dir, 'none.txt'), 'none.txt', ['cat'], 3), { name: 'DataError', message: /^none\.txt: cannot read the pretrained vectors \(model\.input\.pretrained\): ENOENT/ });
});

const E = 4;
/** Vectors for a, b and x (not o), a word not in the vocabulary, in a fastText file. */
const VEC = '4 4\na 0.1 0.2 0.3 0.4\nb -1 -0.5 0 0.5\nx 2 2 -2 -2\nzebra 7 7 7 7\n';
const VECTORS: Record<string, number[]> = { a: [0.1, 0.2, 0.3, 0.4], b: [-1, -0.5, 0, 0.5], x: [2, 2, -2, -2] };

async function run(t: Tap.Test, freeze: boolean) {
  const dir = t.testdir({ 'v.vec': VEC });
  const said: string[] = [];
  const r = await train({
    config: {
      name: 'pre', seed: 2, model: { task: 'many-to-one', hidden: 8, input: { embedding: E, pretrained: 'v.vec', freeze } },
      train: { epochs: 2, batchSize: 16, lr: 0.05, workers: 2, kernels: 'js' }, checkpoint: { every: 1, keepLast: 100 },
    },
    data: { train: xoExamples(96, 1), val: xoExamples(20, 2) }, baseDir: dir, onMessage: (m) => { said.push(m.text); },
  });
  const files = checkpoints(r.runDir);
  const table = (f: string) => { const c = readCheckpoint(f); return { vocab: c.vocab, Wemb: c.params.find((p) => p.name === 'Wemb')!.data }; };
  return { said, first: table(files[0]), last: table(files.at(-1)!) };
}

t.test('frozen: the found rows are the file\'s vectors and no row of the table ever changes; the coverage is told', async (t) => {
  const { said, first, last } = await run(t, true);
  const V = last.vocab.length;
  t.ok(said.includes(`embeddings: 3 of ${V} tokens (${(300 / V).toFixed(1)}%) from v.vec, frozen`), said.find((s) => s.startsWith('embeddings')) ?? 'no coverage line');
  for (const [w, vec] of Object.entries(VECTORS)) {
    const id = last.vocab.indexOf(w);
    t.same(Array.from(last.Wemb.subarray(id * E, id * E + E)), vec.map(Math.fround), `${w}: its pretrained vector`);
  }
  t.same(Array.from(last.Wemb), Array.from(first.Wemb), 'the whole table is the same after step 1 and at the end');
});

t.test('fine-tuned: the pretrained rows move', async (t) => {
  const { said, last } = await run(t, false);
  t.ok(said.some((s) => /^embeddings: 3 of \d+ tokens \([\d.]+%\) from v\.vec$/.test(s)));
  const id = last.vocab.indexOf('x');
  t.notSame(Array.from(last.Wemb.subarray(id * E, id * E + E)), VECTORS.x.map(Math.fround), 'x\'s vector was trained');
});

t.test('a frozen embedding cannot be tied to the output layer', async (t) => {
  const { checkConfig } = await import('../src/config/load.js');
  t.throws(() => checkConfig({ name: 'x', data: { source: 'memory' }, model: { task: 'many-to-many', hidden: 4, tieWeights: true, input: { embedding: 4, freeze: true } }, train: {} }, { label: 'c.json', configDir: '.' }),
    /c\.json: model\.input\.freeze: expected false with model\.tieWeights/);
});
