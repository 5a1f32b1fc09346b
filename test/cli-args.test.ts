import t, { type Test } from 'tap';
import { CheckpointError, ConfigError, DataError, OutputError } from '../src/util/errors.js';
import { formatHelp, parseArgs, runMain, type CommandSpec } from '../src/cli/args.js';

const spec = {
  name: 'train.js',
  summary: 'Train a recurrent network on the data a config names; writes checkpoints, metrics.jsonl and report.html to the run directory.',
  flags: {
    config: { type: 'string', required: true, value: 'FILE', help: 'The run configuration (JSON).' },
    out: { type: 'string', value: 'DIR', help: 'Directory for run directories (overrides the config).' },
    set: { type: 'string', repeat: true, value: 'PATH=VALUE', help: 'Override a config field, e.g. train.lr=0.01.' },
    workers: { type: 'number', integer: true, min: 1, value: 'N', help: 'Worker threads.' },
    temperature: { type: 'number', min: 0, default: 1, value: 'X', help: 'Sampling temperature.' },
    maxSteps: { type: 'number', integer: true, min: 0, value: 'N', help: 'Stop after N steps.' },
    split: { type: 'string', choices: ['train', 'val', 'test'], default: 'test', value: 'SPLIT', help: 'Which split.' },
    quiet: { type: 'boolean', help: 'No progress bar or log lines.' },
  },
  examples: [['train.js --config configs/small.json', 'train the names classifier'], ['train.js --config configs/lm.json --set train.lr=0.003']],
} as const satisfies CommandSpec;

function err(t: Test, argv: string[]): string {
  try { parseArgs(argv, spec); } catch (e) {
    t.type(e, ConfigError);
    t.equal((e as ConfigError).exitCode, 2);
    return (e as Error).message;
  }
  t.fail(`no error for ${argv.join(' ')}`);
  return '';
}

t.test('parses --flag value, --flag=value, repeats, booleans, numbers, defaults', async (t) => {
  const a = parseArgs(['--config', 'c.json', '--set', 'train.lr=0.1', '--set=train.epochs=2', '--workers=3', '--max-steps', '10', '--quiet', '--temperature', '-0'], spec);
  const config: string = a.config; // typed: required string
  const workers: number | undefined = a.workers;
  const temperature: number = a.temperature; // has a default
  const set: string[] = a.set;
  const quiet: boolean = a.quiet;
  t.same({ config, workers, temperature, set, quiet, maxSteps: a.maxSteps, out: a.out, split: a.split, debug: a.debug },
    { config: 'c.json', workers: 3, temperature: -0, set: ['train.lr=0.1', 'train.epochs=2'], quiet: true, maxSteps: 10, out: undefined, split: 'test', debug: false });
  t.equal(parseArgs(['--config=x', '--debug', '--temperature=0.5'], spec).temperature, 0.5);
  t.equal(parseArgs(['--config', 'x', '--quiet=false'], spec).quiet, false);
  t.same(parseArgs(['--config', '--odd-name.json'.slice(1)], spec).config, '-odd-name.json', 'a value may start with a single dash');
});

t.test('clear errors', async (t) => {
  t.equal(err(t, ['--confg', 'x']), 'unknown option --confg; did you mean --config?');
  t.equal(err(t, ['--config', 'x', '--max-step', '3']), 'unknown option --max-step; did you mean --max-steps?');
  t.match(err(t, ['--config', 'x', '--frobnicate']), /^unknown option --frobnicate; run `train.js --help` for the list$/);
  t.equal(err(t, ['--config']), '--config needs a value: --config FILE');
  t.equal(err(t, ['--config', '--quiet']), '--config needs a value: --config FILE');
  t.match(err(t, []), /^missing --config FILE: the run configuration \(JSON\); run `train.js --help`/);
  t.equal(err(t, ['--config', 'x', '--workers', '0']), '--workers: expected an integer >= 1, found `0`');
  t.equal(err(t, ['--config', 'x', '--workers', 'two']), '--workers: expected an integer >= 1, found `two`');
  t.equal(err(t, ['--config', 'x', '--split', 'tset']), '--split: expected one of train, val, test, found `tset`; did you mean test?');
  t.equal(err(t, ['--config', 'x', '--config', 'y']), '--config is given more than once');
  t.equal(err(t, ['--config', 'x', '--quiet=yes']), '--quiet takes no value (found `yes`)');
  t.match(err(t, ['--config', 'x', 'extra']), /^unexpected argument `extra`/);
});

t.test('--help prints generated help and exits 0', async (t) => {
  let printed = '';
  let code: number | undefined;
  const io = { stdout: { write: (s: string) => (printed += s) }, exit: ((c: number) => { code = c; throw new Error('exited'); }) as (c: number) => never };
  t.throws(() => parseArgs(['--config', 'x', '--help'], spec, io), /exited/);
  t.equal(code, 0);
  t.equal(printed, formatHelp(spec));
  t.match(printed, /^Usage: train\.js --config FILE \[options\]\n/);
  t.match(printed, /--config FILE\s+The run configuration \(JSON\)\. \(required\)/);
  t.match(printed, /--set PATH=VALUE\s+Override a config field, e\.g\. train\.lr=0\.01\. \(repeatable\)/);
  t.match(printed, /--max-steps N\s+Stop after N steps\./);
  t.match(printed, /--split SPLIT\s+Which split\. \(default: test; one of: train, val, test\)/);
  t.match(printed, /--help\s+Show this help and exit\./);
  t.match(printed, /Examples:\n  # train the names classifier\n  train\.js --config configs\/small\.json\n  train\.js --config configs\/lm\.json --set train\.lr=0\.003\n$/);
  t.ok(printed.split('\n').every((l) => l.length <= 80), 'lines fit in 80 columns');
  t.throws(() => parseArgs(['-h'], spec, io), /exited/, '-h too, even without the required flags');
});

t.test('runMain: user errors are one line and their exit code; others get a stack', async (t) => {
  const run = async (fn: () => unknown, argv: string[] = [], env: NodeJS.ProcessEnv = {}) => {
    let out = '';
    let code: number | undefined;
    await runMain(fn as () => Promise<void>, { argv, env, stderr: { write: (s: string) => (out += s) }, exit: (c) => { code = c; } });
    return { out, code };
  };
  t.same(await run(() => 3), { out: '', code: 3 });
  t.same(await run(async () => {}), { out: '', code: 0 });
  t.same(await run(() => { throw new ConfigError('configs/x.json: train.lr: expected a number > 0, found -1'); }),
    { out: 'error: configs/x.json: train.lr: expected a number > 0, found -1\n', code: 2 });
  t.same(await run(async () => { throw new DataError('data.jsonl:3: bad row', 'data.jsonl', 3); }), { out: 'error: data.jsonl:3: bad row\n', code: 2 }, 'an input error: 2');
  t.same(await run(async () => { throw new CheckpointError('checkpoint c.ckpt: truncated', 'c.ckpt'); }), { out: 'error: checkpoint c.ckpt: truncated\n', code: 2 }, 'an input error: 2');
  t.same(await run(async () => { throw new OutputError('cannot write r/report.html: ENOSPC', 'r/report.html'); }), { out: 'error: cannot write r/report.html: ENOSPC\n', code: 1 }, 'the run failed: 1');
  const dbg = await run(() => { throw new ConfigError('bad'); }, ['--debug']);
  t.equal(dbg.code, 2);
  t.match(dbg.out, /^error: bad\nConfigError: bad\n\s+at /, 'stack with --debug');
  t.match((await run(() => { throw new ConfigError('bad'); }, [], { RNN_DEBUG: '1' })).out, /\n\s+at /, 'stack with RNN_DEBUG=1');
  const bug = await run(() => { throw new TypeError('x is undefined'); });
  t.equal(bug.code, 1);
  t.match(bug.out, /^error: TypeError: x is undefined\n\s+at /);
});
