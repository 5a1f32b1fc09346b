import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../src/util/errors.js';
import { checkConfig, diffConfigs, loadConfig, type ResolvedConfig } from '../src/config/load.js';
import { configSchema } from '../src/config/schema.js';
import { allKeyPaths, resolveRef, type Schema } from '../src/config/validate.js';
import { didYouMean, editDistance } from '../src/config/suggest.js';
import { schemaText, schemaFile } from '../src/build-schema.mjs';

const FIX = 'test/fixtures/config';

function configError(t: Test, fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    t.type(e, ConfigError);
    t.equal((e as ConfigError).exitCode, 2, 'exit code 2');
    return (e as Error).message;
  }
  t.fail('expected a ConfigError');
  return '';
}

t.test('the committed schema is what build-schema generates from src/config/types.ts', async (t) => {
  t.equal(readFileSync(schemaFile, 'utf8'), schemaText(), 'configs/config.schema.json is up to date (run `npm run build`)');
});

t.test('every field of the schema is documented; every default is in its description', async (t) => {
  const root = configSchema();
  for (const path of allKeyPaths(root)) {
    let s: Schema = root;
    for (const k of path) {
      const r = resolveRef(s, root);
      const holder = r.properties ? r : r.anyOf!.map((b) => resolveRef(b, root)).find((b) => b.properties)!;
      s = holder.properties![k];
    }
    const p = resolveRef(s, root);
    t.ok(p.description, `${path.join('.')} has a description`);
    if ('default' in p) t.match(p.description!, `Default: ${JSON.stringify(p.default)}.`, `${path.join('.')} says its default`);
  }
  const hidden = root.$defs!.ModelConfig.properties!.hidden;
  t.equal(hidden.type, 'integer');
  t.equal(hidden.minimum, 1);
  t.same(root.$defs!.TrainConfig.properties!.lr, { type: 'number', default: 0.001, exclusiveMinimum: 0, description: 'Learning rate. Default: 0.001.' });
  t.equal(root.additionalProperties, false);
});

t.test('every config in configs/ and every good fixture validates', async (t) => {
  const files = [
    ...readdirSync('configs').filter((f) => f.endsWith('.json') && f !== 'config.schema.json').map((f) => join('configs', f)),
    ...readdirSync(FIX).filter((f) => /^good-.*\.json$/.test(f)).map((f) => join(FIX, f)),
  ];
  t.ok(files.length >= 3);
  for (const f of files) {
    const { config, configDir } = loadConfig(f);
    t.ok(config.name, `${f} loads`);
    t.ok(existsSync(join(configDir, JSON.parse(readFileSync(f, 'utf8')).$schema ?? 'x')), `${f} has a $schema that exists`);
  }
});

t.test('defaults are filled in; what has no default stays optional', async (t) => {
  const { config } = loadConfig(join(FIX, 'good-names.json'));
  t.equal(config.train.epochs, 1, 'given value kept');
  t.equal(config.train.clipNorm, 5);
  t.equal(config.train.optimizer, 'adam');
  t.equal(config.model.input, 'onehot');
  t.equal(config.seed, 1);
  t.equal(config.out, '../runs');
  t.same(config.checkpoint, { every: 200, keepLast: 3 });
  t.same(config.data.vocab, { maxSize: 20000, minFreq: 1 });
  t.same(config.data.split, { val: 0.1, test: 0.1 });
  t.equal(config.train.workers, undefined);
  t.equal(config.data.labels, undefined);
  // Every field the schema knows is present after defaults, except those without a default.
  const optional = new Set(['$schema', 'train.workers', 'data.format', 'data.train', 'data.val', 'data.test', 'data.file', 'data.shards', 'data.labels', 'model.input.embedding', 'train.earlyStopping', 'train.earlyStopping.patience', 'train.earlyStopping.minDelta',
    'model.adaptiveSoftmax', 'model.adaptiveSoftmax.cutoffs', 'model.adaptiveSoftmax.divValue', 'model.adaptiveSoftmax.headBias', 'train.classWeights', 'model.input.pretrained', 'model.input.freeze', 'train.plateau', 'train.plateau.factor', 'train.plateau.patience', 'train.plateau.minLr']);
  for (const path of allKeyPaths(configSchema())) {
    const p = path.join('.');
    if (optional.has(p)) continue;
    const v = path.reduce<any>((o, k) => o?.[k], config);
    t.not(v, undefined, `${p} has a value`);
  }
});

t.test('bad configs: each its own message, exit code 2', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['bad-unknown-key.json', /bad-unknown-key\.json: trian: unknown key; did you mean `train`\?$/],
    ['bad-wrong-type.json', /model\.hidden: expected an integer >= 1, found "8" \(a string: write the number without quotes\)$/],
    ['bad-missing-data-file.json', /data\.train: expected an existing file, found "does-not-exist\.jsonl" \(no such file: .*does-not-exist\.jsonl\)$/],
    ['bad-negative-lr.json', /bad-negative-lr\.json: train\.lr: expected a number > 0, found -0\.1$/],
    ['bad-hidden-zero.json', /bad-hidden-zero\.json: model\.hidden: expected an integer >= 1, found 0$/],
    ['bad-syntax.json', /bad-syntax\.json:4:3: invalid JSON: /],
  ];
  const seen = new Set<string>();
  for (const [f, re] of cases) {
    const msg = configError(t, () => loadConfig(join(FIX, f)));
    t.match(msg, re, f);
    t.equal(msg.split('\n').length, 1, `${f}: exactly one problem`);
    t.notOk(/\n\s+at /.test(msg), 'no stack trace in the message');
    seen.add(msg.replace(/^.*?\.json:/, ''));
  }
  t.equal(seen.size, cases.length, 'all messages differ');
  t.match(configError(t, () => loadConfig(join(FIX, 'nope.json'))), /config file .*nope\.json: cannot be read: ENOENT: no such file/);
});

t.test('all problems are listed at once', async (t) => {
  const msg = configError(t, () => loadConfig(join(FIX, 'bad-many.json')));
  const lines = msg.split('\n');
  t.match(lines[0], /^8 problems in .*bad-many\.json:$/);
  for (const re of [
    /data\.tokenizer: expected one of `char`, `word`, `bpe`, found "chars"; did you mean `char`\?/,
    /model\.hidden: expected an integer >= 1, found 8\.5/,
    /model\.hiden: unknown key; did you mean `hidden`\?/,
    /train\.lr: expected a number > 0, found 0$/,
    /train\.batchsize: unknown key; did you mean `batchSize`\?/,
    /train\.epochs: expected an integer >= 1, found -1/,
    /: lr: unknown key here; did you mean `train\.lr`\?/,
    /model\.task: expected `many-to-many` for data\.source `moby-dick`/,
  ]) t.ok(lines.some((l) => re.test(l)), `lists ${re}`);
});

t.test('data.format is inferred from the files\' extension when absent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  for (const f of ['a.jsonl', 'a.csv', 'a.tsv', 'a.txt', 'b.txt']) writeFileSync(join(dir, f), 'text\n');
  const base = { name: 'x', model: { task: 'many-to-one', hidden: 4 }, train: {} };
  const load = (data: object, task = 'many-to-one') => checkConfig({ ...base, data, model: { task, hidden: 4 } }, { label: 'c.json', configDir: dir });
  t.equal(load({ source: 'files', train: 'a.jsonl' }).data.format, 'jsonl');
  t.equal(load({ source: 'files', file: 'a.csv' }).data.format, 'csv');
  t.equal(load({ source: 'files', train: 'a.tsv' }).data.format, 'tsv');
  t.equal(load({ source: 'files', train: 'a.txt', val: 'b.txt' }, 'many-to-many').data.format, 'text');
  t.equal(load({ source: 'files', format: 'csv', train: 'a.txt' }).data.format, 'csv', 'an explicit format wins');
});

t.test('rules across fields', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const base = { name: 'x', model: { task: 'many-to-one', hidden: 4 }, train: {} };
  const check = (data: object, model: object = base.model) =>
    configError(t, () => checkConfig({ ...base, data, model }, { label: 'c.json', configDir: dir }));
  t.match(check({ source: 'files', train: 'a.dat' }), /c\.json: data\.format: cannot tell the format from the file name "a\.dat": set data\.format to `jsonl`, `csv`, `tsv`, `text` or `conll`, or name the files \.jsonl, \.csv, \.tsv, \.txt or \.conll$/m);
  t.match(check({ source: 'files', train: 'a.jsonl', val: 'b.csv' }), /data\.format: the files' extensions say different formats \("a\.jsonl": jsonl, "b\.csv": csv\)/);
  t.match(check({ source: 'files', format: 'csv' }), /data: expected `train` .* or `file`/);
  // The data section's own rules (dataRuleProblems), the same for a data section given on its own (checkDataConfig).
  t.match(check({ source: 'moby-dick', tokenizer: 'bpe', vocab: { maxSize: 100 } }, { task: 'many-to-many', hidden: 4 }), /^c\.json: data\.vocab\.maxSize: expected a size in \[260, 4194304\] with data\.tokenizer `bpe`.*found 100$/m);
  t.match(check({ source: 'moby-dick-segmentation', eos: true }, { task: 'tagging', hidden: 4 }), /^c\.json: data\.eos: expected false with model\.task `tagging`/m);
  writeFileSync(join(dir, 'a.txt'), 'hello');
  t.match(check({ source: 'files', format: 'text', file: 'a.txt' }), /model\.task: expected `many-to-many` for data\.format `text`/);
  t.match(check({ source: 'files', format: 'jsonl', file: 'a.txt' }, { task: 'many-to-many', hidden: 4 }), /model\.task: expected `many-to-one`/);
  t.match(check({ source: 'names', train: 'a.txt' }), /data\.train: only used when data\.source is `files`/);
  t.match(check({ source: 'spam-assassin' }, { task: 'many-to-many', hidden: 4 }), /model\.task: expected `many-to-one` for data\.source `spam-assassin`/);
  t.match(check({ source: 'names', labels: ['a', 'b', 'a'] }), /data\.labels\[2\]: duplicate label "a"/);
  t.match(check({ source: 'names', split: { val: 0.5, test: 0.5 } }), /data\.split: expected val \+ test < 1/);
  t.match(check({ source: 'names' }, { task: 'many-to-one', hidden: 4, input: { embedding: 0 } }), /model\.input\.embedding: expected an integer >= 1, found 0/);
  t.match(check({ source: 'names' }, { task: 'many-to-one', hidden: 4, input: 'one-hot' }), /model\.input: expected `onehot` or an object with `embedding`, found "one-hot"; did you mean `onehot`\?/);
  t.match(check({ source: 'names' }, { task: 'many-to-one', hidden: 4, input: { embeding: 3 } }), /model\.input\.embeding: unknown key; did you mean `embedding`\?/);
  t.match(check({ source: 'moby-dick' }, { task: 'many-to-many', hidden: 4, dropout: 0.2 }), /model\.dropout: expected 0 with a one-hot many-to-many model/);
  t.match(check({ source: 'names' }, { task: 'many-to-one', hidden: 4, dropout: 1 }), /model\.dropout: expected a number from 0 to 0\.9, found 1/);
  // cells and layers
  t.match(check({ source: 'names' }, { task: 'many-to-one', hidden: 4, cell: 'lstn' }), /model\.cell: expected one of `rnn`, `lstm`, `gru`, found "lstn"; did you mean `lstm`\?/);
  t.match(check({ source: 'names' }, { task: 'many-to-one', hidden: 4, layers: 0 }), /model\.layers: expected an integer from 1 to 16, found 0/);
  const ok = (model: object, data: object = { source: 'moby-dick' }) => checkConfig({ ...base, data, model }, { label: 'c.json', configDir: dir });
  t.equal(ok({ task: 'many-to-many', hidden: 4, cell: 'gru', layers: 2, dropout: 0.2 }).model.cell, 'gru', 'dropout between the layers of a one-hot language model');
  const d = ok({ task: 'many-to-many', hidden: 4 });
  t.same([d.model.cell, d.model.layers, d.model.init, d.model.forgetBias, d.model.chrono, d.train.carryState], ['rnn', 1, 'standard', 1, 0, true], 'defaults');
});

t.test('options for the other task are refused, by one rule: set to anything but their default', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  writeFileSync(join(dir, 'a.jsonl'), '{"text":"a","label":"x"}\n');
  const lm = { name: 'x', data: { source: 'moby-dick' }, model: { task: 'many-to-many', hidden: 4 }, train: {} };
  const m2o = { name: 'x', data: { source: 'names' }, model: { task: 'many-to-one', hidden: 4 }, train: {} };
  const files = { name: 'x', data: { source: 'files', format: 'jsonl', file: 'a.jsonl' }, model: { task: 'many-to-one', hidden: 4 }, train: {} };
  const load = (c: object, sets: string[]) => () => checkConfig(c, { label: 'c.json', configDir: dir, overrides: sets });
  for (const [c, set, field, task] of [
    [lm, 'data.labelField="y"', 'data.labelField', 'many-to-one'],
    [lm, 'data.labels=["a","b"]', 'data.labels', 'many-to-one'],
    [lm, 'data.maxLength=10', 'data.maxLength', 'many-to-one'],
    [lm, 'data.truncate="end"', 'data.truncate', 'many-to-one'],
    [lm, 'data.reverse=true', 'data.reverse', 'many-to-one'],
    [lm, 'train.stepLoss=1', 'train.stepLoss', 'many-to-one'],
    [m2o, 'data.seqLength=32', 'data.seqLength', 'many-to-many'],
    [m2o, 'train.bpttWindow=8', 'train.bpttWindow', 'many-to-many'],
  ] as const) {
    const msg = configError(t, load(c, [set]));
    const f = field.replace('.', '\\.');
    t.match(msg, new RegExp(`^--set ${set.replace(/[.[\]]/g, '\\$&')}: ${f}: only applies to model\\.task \`${task}\` \\(.+\\), and this run's model\\.task is \`${task === 'many-to-one' ? 'many-to-many' : 'many-to-one'}\`; remove it`), `${field} for the other task: refused, naming the task`);
  }
  t.match(configError(t, load(m2o, ['data.textField="body"'])), /data\.textField: only applies to data read from JSON Lines, CSV or TSV files .*this run reads the built-in data\.source `names`/);
  // Their defaults are accepted where they do not apply (config.resolved.json lists every field).
  t.doesNotThrow(load(lm, ['data.labelField="label"', 'data.maxLength=256', 'data.truncate="start"', 'data.reverse=false', 'train.stepLoss=0']));
  t.doesNotThrow(load(m2o, ['data.seqLength=64', 'train.bpttWindow=0']));
  t.doesNotThrow(load(files, ['data.labelField="y"', 'data.textField="t"']), 'where they apply');
});

t.test('run names are one folder name: nothing is written outside out', async (t) => {
  const base = { name: 'x', data: { source: 'names' }, model: { task: 'many-to-one', hidden: 4 }, train: {} };
  for (const name of ['../escaped', '/abs/path', '..', '.', '', 'a/b', 'a\\b', 'nul\u0000x']) {
    t.match(configError(t, () => checkConfig({ ...base, name }, { label: 'c.json', configDir: '.' })),
      /^c\.json: name: expected a single folder name \(not empty, no \/ or \\, not \. or \.\.\), found /, `${JSON.stringify(name)} refused`);
  }
  for (const name of ['run-1', '..x', 'a.b', 'names small', '.hidden']) t.doesNotThrow(() => checkConfig({ ...base, name }, { label: 'c.json', configDir: '.' }), `${JSON.stringify(name)} accepted`);
});

t.test('a config file that is a directory, or too large, is refused before it is read', async (t) => {
  // /dev/zero and FIFOs are in hostile-files.test.ts: in a child process, under a memory and a
  // time bound (read in this process, a reader without the check would take the test with it).
  const dir = t.testdir({ 'big.json': ' '.repeat(1024 * 1024 + 1) });
  t.match(configError(t, () => loadConfig(dir)), /is a directory, not a regular file/);
  t.match(configError(t, () => loadConfig(join(dir, 'big.json'))), /big\.json: is 1 MiB \(1,048,577 bytes\), more than the 1 MiB a config file may be/);
});

t.test('--set overrides any field, validated the same way', async (t) => {
  const f = join(FIX, 'good-names.json');
  const { config } = loadConfig(f, ['train.lr=0.05', 'train.epochs=3', 'name=other', 'checkpoint.every=5', 'model.input={"embedding":16}', 'data.labels=["F","M"]']);
  t.equal(config.train.lr, 0.05);
  t.equal(config.train.epochs, 3);
  t.equal(config.name, 'other', 'a value that is not JSON is a string');
  t.equal(config.checkpoint.every, 5, 'creates a missing section');
  t.same(config.model.input, { embedding: 16 });
  t.same(config.data.labels, ['F', 'M']);
  t.same(loadConfig(f, ['model.input.embedding=8']).config.model.input, { embedding: 8 });
  t.same(loadConfig(f, ['model.input=onehot', 'model.input.embedding=8']).config.model.input, { embedding: 8 }, 'later --set wins');

  const msg = configError(t, () => loadConfig(f, ['train.lr=abc', 'train.epoch=2', 'model.hidden=0', 'nonsense', 'train..lr=1']));
  const lines = msg.split('\n');
  t.match(lines[0], /^5 problems in /);
  t.ok(lines.some((l) => l.includes('--set train.lr=abc: train.lr: expected a number > 0, found "abc"')), 'type-checked');
  t.ok(lines.some((l) => l.includes('--set train.epoch=2: train.epoch: unknown key; did you mean `epochs`?')));
  t.ok(lines.some((l) => l.includes('--set model.hidden=0: model.hidden: expected an integer >= 1, found 0')));
  t.ok(lines.some((l) => l.includes('--set nonsense: expected path=value')));
  t.ok(lines.some((l) => l.includes('--set train..lr=1: `train..lr` is not a field path')));
  t.match(configError(t, () => loadConfig(f, ['train.clipNorm="5"'])), /train\.clipNorm: expected a number >= 0, found "5"/);
});

t.test('diffConfigs classifies changes for --resume', async (t) => {
  const a = loadConfig(join(FIX, 'good-names.json')).config;
  const b = structuredClone(a) as ResolvedConfig;
  b.train.lr = 0.5;
  b.train.epochs = 20;
  b.checkpoint.every = 10;
  b.model.hidden = 64;
  b.data.tokenizer = 'word';
  b.train.batchSize = 8;
  b.train.optimizer = 'sgd';
  b.$schema = 'elsewhere.json';
  const kinds = Object.fromEntries(diffConfigs(a, b).map((c) => [c.path, c.kind]));
  t.same(kinds, {
    'train.lr': 'safe', 'train.epochs': 'safe', 'checkpoint.every': 'safe',
    'model.hidden': 'shape', 'data.tokenizer': 'shape', 'train.optimizer': 'shape',
    'train.batchSize': 'behaviour',
  });
  const c = structuredClone(a) as ResolvedConfig;
  c.model.input = { embedding: 8 };
  t.same(diffConfigs(a, c), [{ path: 'model.input', from: 'onehot', to: { embedding: 8 }, kind: 'shape' }]);
  t.same(diffConfigs(a, structuredClone(a)), []);
  const d = structuredClone(a) as ResolvedConfig;
  d.model.dropout = 0.2;
  t.same(diffConfigs(a, d).map((x) => x.kind), ['behaviour'], 'dropout changes no tensor');
  const cos = structuredClone(a) as ResolvedConfig;
  cos.train.lrSchedule = 'cosine';
  const longer = structuredClone(cos);
  longer.train.epochs += 5;
  t.same(diffConfigs(cos, longer).map((x) => x.kind), ['behaviour'], 'epochs reshape a cosine schedule');
});

t.test('did you mean', async (t) => {
  t.equal(editDistance('batchsize', 'batchSize'), 1);
  t.equal(editDistance('hiden', 'hidden'), 1);
  t.equal(editDistance('ab', 'ba'), 1, 'a swap is one edit');
  t.equal(didYouMean('batch_size', ['batchSize', 'epochs']), 'batchSize');
  t.equal(didYouMean('lerning', ['lr', 'epochs']), undefined, 'nothing close');
});
