// Tied weights and the adaptive softmax in whole runs (the real command, dist/): config errors;
// a run stopped and resumed ends in exactly the state of an uninterrupted one (1 and 2 workers);
// the checkpoint records the output layer, stores the tied table once (parameters and moments),
// and evaluates and generates from it. Needs `npm run build`.

import t from 'tap';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ConfigError } from '../src/util/errors.js';
import { checkConfig } from '../src/config/load.js';
import { readCheckpoint } from '../src/checkpoint/index.js';
import { LM, ROOT, TRAIN, checkpoints, exit0, finalState, train, trainAsync } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(TRAIN)) throw new Error(`${TRAIN} is missing: run \`npm run build\` first`);
});

t.test('config errors: what cannot be tied or made adaptive, and why', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const check = (data: object, model: object): string => {
    try {
      checkConfig({ name: 'x', data, model, train: {} }, { label: 'c.json', configDir: dir });
    } catch (e) {
      t.type(e, ConfigError);
      return (e as Error).message;
    }
    return 'accepted';
  };
  const lm = { source: 'moby-dick' }, names = { source: 'names' };
  t.match(check(names, { task: 'many-to-one', hidden: 4, input: { embedding: 4 }, tieWeights: true }), /c\.json: model\.tieWeights: expected false for a many-to-one model: its output weight has a row per class, not per token/);
  t.match(check(lm, { task: 'many-to-many', hidden: 4, tieWeights: true }), /model\.tieWeights: expected false with a one-hot input: there is no embedding table to share/);
  t.match(check(lm, { task: 'many-to-many', hidden: 4, input: { embedding: 4 }, tieWeights: true, adaptiveSoftmax: { cutoffs: [10] } }), /model\.tieWeights: expected false with model\.adaptiveSoftmax/);
  t.match(check(names, { task: 'many-to-one', hidden: 4, adaptiveSoftmax: { cutoffs: [10] } }), /model\.adaptiveSoftmax: only applies to language models/);
  t.match(check(lm, { task: 'many-to-many', hidden: 4, adaptiveSoftmax: { cutoffs: [10, 10] } }), /model\.adaptiveSoftmax\.cutoffs\[1\]: expected cutoffs in increasing order, found 10 after 10/);
  t.match(check(lm, { task: 'many-to-many', hidden: 4, adaptiveSoftmax: { cutoffs: [0] } }), /model\.adaptiveSoftmax\.cutoffs\[0\]: expected a token id >= 1/);
  t.match(check(lm, { task: 'many-to-many', hidden: 4, adaptiveSoftmax: { cutoffs: [] } }), /model\.adaptiveSoftmax\.cutoffs: expected at least one cutoff/);
  t.match(check(lm, { task: 'many-to-many', hidden: 4, adaptiveSoftmax: { cutoffs: [5, 9], divValue: 4 } }), /model\.adaptiveSoftmax\.divValue: expected the last tail cluster's projection ⌊hidden \/ divValue\^2⌋ to keep at least 1 unit, found ⌊4 \/ 4\^2⌋ = 0/);
  t.match(check(lm, { task: 'many-to-many', hidden: 4, adaptiveSoftmax: { cutoffs: [5.5] } }), /model\.adaptiveSoftmax\.cutoffs\[0\]: expected an integer/);
  t.equal(check(lm, { task: 'many-to-many', hidden: 8, input: { embedding: 4 }, tieWeights: true }), 'accepted', 'tied, E ≠ H');
  t.equal(check(lm, { task: 'many-to-many', hidden: 32, adaptiveSoftmax: { cutoffs: [5, 9] } }), 'accepted', 'adaptive');
  const resolved = checkConfig({ name: 'x', data: lm, model: { task: 'many-to-many', hidden: 32, adaptiveSoftmax: { cutoffs: [5, 9] } }, train: {} }, { label: 'c.json', configDir: dir });
  t.same(resolved.model.adaptiveSoftmax, { cutoffs: [5, 9], divValue: 4, headBias: false }, "PyTorch's defaults filled in");
  t.equal(resolved.model.tieWeights, false, 'untied by default');
  // Cutoffs beyond the vocabulary are known only once the data is read.
  const dirs = mkdtempSync(join(tmpdir(), 'heads-'));
  const r = train('--config', LM, '--out', dirs, '--quiet', '--max-steps', '1', '--set', 'model.adaptiveSoftmax={"cutoffs":[10,5000]}');
  t.equal(r.status, 2, 'exit 2');
  // Named by the --set that gave the cutoffs (the config file has none).
  t.match(r.stderr, /^error: --set model\.adaptiveSoftmax=\{"cutoffs":\[10,5000\]\}: model\.adaptiveSoftmax\.cutoffs\[1\]: expected a token id below the vocabulary size V = \d+ \(from the data\), found 5000/m);
  t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
});

t.test('the adaptive softmax with a bpe vocabulary (ids not sorted by frequency) is warned about', async (t) => {
  const out = t.testdir({});
  const adaptive = ['--set', 'model.adaptiveSoftmax={"cutoffs":[20,40]}'];
  const bpe = train('--config', LM, '--out', out, '--quiet', '--max-steps', '1', '--workers', '1', ...adaptive, '--set', 'data.tokenizer=bpe', '--set', 'data.vocab.maxSize=300');
  t.equal(bpe.status, 0, 'bpe: trains', { stderr: bpe.stderr });
  t.match(bpe.stderr, /^warning: model\.adaptiveSoftmax's shortlist is the ids below 20, which assumes ids sorted by frequency, as the char and word vocabularies are; a bpe vocabulary is not/m, 'bpe: the warning');
  const char = train('--config', LM, '--out', out, '--quiet', '--max-steps', '1', '--workers', '1', ...adaptive, '--set', 'name=char');
  t.equal(char.status, 0, 'char: trains', { stderr: char.stderr });
  t.notMatch(char.stderr, /sorted by frequency/, 'char: no warning (its ids are sorted by frequency)');
});

// 1 and 2 workers agree with the single-thread loop step by step: test/parallel.test.ts.
const heads: Array<[string, string, string[]]> = [
  ['tied, E ≠ H (projection)', '1', ['--set', 'model.tieWeights=true', '--set', 'model.cell=lstm']],
  ['tied, E = H', '2', ['--set', 'model.tieWeights=true', '--set', 'model.input={"embedding":16}']],
  ['adaptive softmax', '1', ['--set', 'model.adaptiveSoftmax={"cutoffs":[8,20],"divValue":2,"headBias":true}', '--set', 'model.cell=gru']],
];

for (const [name, workers, sets] of heads) {
  t.test(`${name}, --workers ${workers}: stopped at 5, resumed: bit-identical to the uninterrupted run`, async (t) => {
    const dir = t.testdir({});
    const common = ['--config', LM, '--workers', workers, '--quiet', ...sets];
    const [ref, a] = await Promise.all([trainAsync(...common, '--out', join(dir, 'ref'), '--max-steps', '10'), trainAsync(...common, '--out', join(dir, 'run'), '--max-steps', '5')]);
    exit0(t, ref, 'uninterrupted run');
    exit0(t, a, 'run to step 5');
    const b = train(...common, '--out', join(dir, 'run'), '--resume', 'latest', '--max-steps', '10');
    exit0(t, b, 'resumed');
    t.same(finalState(join(dir, 'run', 'lm-tiny')), finalState(join(dir, 'ref', 'lm-tiny')), 'same parameters, moments, counters');

    const last = checkpoints(join(dir, 'ref', 'lm-tiny')).at(-1)!;
    const c = readCheckpoint(last);
    const names = c.params.map((p) => p.name);
    if (name.startsWith('tied')) {
      t.equal(c.spec.tieWeights, true, 'the spec says tied');
      t.notOk(names.includes('Wya'), 'no Wya in the checkpoint');
      t.equal(names.filter((n) => n === 'Wemb').length, 1, 'Wemb once');
      t.equal(names.includes('Wproj'), c.spec.E !== c.spec.H, 'Wproj exactly when E ≠ H');
      for (const m of c.optimizer.moments) t.equal(m.tensors.filter((x) => x.name === 'Wemb').length, 1, `moment ${m.name}: Wemb once`);
    } else {
      t.same(c.spec.adaptive, { cutoffs: [8, 20], divValue: 2, headBias: true }, 'the spec holds the adaptive softmax');
      t.same(names.slice(-6), ['head.weight', 'head.bias', 'tail.0.0.weight', 'tail.0.1.weight', 'tail.1.0.weight', 'tail.1.1.weight'], "PyTorch's names");
    }
    // Evaluation and generation read the output layer from the checkpoint.
    const ev = spawnSync(process.execPath, [join(ROOT, 'dist', 'eval.js'), '--checkpoint', last, '--split', 'test', '--data-root', join(ROOT, 'test', 'fixtures', 'train')], { cwd: ROOT, encoding: 'utf8' });
    t.equal(ev.status, 0, `eval exits 0 ${ev.stderr}`);
    t.match(ev.stdout, /perplexity/i, 'reports perplexity');
    const gen = spawnSync(process.execPath, [join(ROOT, 'dist', 'predict.js'), '--checkpoint', last, '--generate', '20', '--prompt', 'the ', '--seed', '1'], { cwd: ROOT, encoding: 'utf8' });
    t.equal(gen.status, 0, `generate exits 0 ${gen.stderr}`);
  });
}
