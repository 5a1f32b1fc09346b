// `node dist/train.js` as a user runs it (issue 5): bad configs and bad --set values (exit 2, one
// message each, no stack trace), --set changing a run, plain output when piped, a non-finite loss
// or update (stops, names the step and the last good checkpoint, never writes a non-finite
// checkpoint), and the files of a finished run. Needs `npm run build`.

import t from 'tap';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { LM, NAMES, Running, TRAIN, checkpoints, exit0, hasStack, nonFinite, stepOf, train, trainAsync, waitFor } from './fixtures/train/helpers.js';

t.before(() => {
  if (!existsSync(TRAIN)) throw new Error(`${TRAIN} is missing: run \`npm run build\` first`);
});

const BAD = 'test/fixtures/config';

t.test('bad configs: each its own message, exit 2, no stack trace', async (t) => {
  const cases = [
    ['bad-unknown-key.json', /^error: \S+bad-unknown-key\.json: trian: unknown key; did you mean `train`\?\n$/],
    ['bad-wrong-type.json', /^error: \S+bad-wrong-type\.json: model\.hidden: expected an integer >= 1, found "8" \(a string: write the number without quotes\)\n$/],
    ['bad-missing-data-file.json', /^error: \S+bad-missing-data-file\.json: data\.train: expected an existing file, found "does-not-exist\.jsonl" \(no such file: \S+does-not-exist\.jsonl\)\n$/],
    ['bad-negative-lr.json', /^error: \S+bad-negative-lr\.json: train\.lr: expected a number > 0, found -0\.1\n$/],
    ['bad-hidden-zero.json', /^error: \S+bad-hidden-zero\.json: model\.hidden: expected an integer >= 1, found 0\n$/],
  ] as const;
  const rs = await Promise.all(cases.map(([f]) => trainAsync('--config', join(BAD, f))));
  for (const [i, [f, re]] of cases.entries()) {
    t.equal(rs[i].status, 2, `${f}: exit 2`);
    t.match(rs[i].stderr, re, `${f}: the message, alone`);
    t.notOk(hasStack(rs[i].stderr), `${f}: no stack trace`);
    t.equal(rs[i].stdout, '', `${f}: nothing on stdout`);
  }
  t.equal(new Set(rs.map((r) => r.stderr.replace(/\S+\.json/g, ''))).size, cases.length, 'five different messages');
});

t.test('bad --set values: exit 2, naming the --set', async (t) => {
  const cases = [
    ['train.epochs=zero', /^error: --set train\.epochs=zero: train\.epochs: expected an integer >= 1, found "zero"\n$/],
    ['model.hiden=3', /^error: --set model\.hiden=3: model\.hiden: unknown key; did you mean `hidden`\?\n$/],
    ['train.lr', /^error: --set train\.lr: expected path=value, e\.g\. --set train\.lr=0\.01\n$/],
    ['train.lr=-1', /^error: --set train\.lr=-1: train\.lr: expected a number > 0, found -1\n$/],
  ] as const;
  const rs = await Promise.all(cases.map(([s]) => trainAsync('--config', NAMES, '--set', s)));
  for (const [i, [s, re]] of cases.entries()) {
    t.equal(rs[i].status, 2, `--set ${s}: exit 2`);
    t.match(rs[i].stderr, re, `--set ${s}: the message`);
    t.notOk(hasStack(rs[i].stderr), `--set ${s}: no stack trace`);
  }
});

t.test('a run, piped: --set changes it; plain output; report, metrics and gradient profile written', async (t) => {
  const dir = t.testdir({});
  const [full, short, lm] = await Promise.all([
    trainAsync('--config', NAMES, '--out', join(dir, 'full'), '--workers', '2'),
    trainAsync('--config', NAMES, '--out', join(dir, 'short'), '--workers', '2', '--set', 'train.epochs=1', '--set', 'name=short-run'),
    trainAsync('--config', LM, '--out', join(dir, 'lm'), '--workers', '2'),
  ]);
  for (const r of [full, short, lm]) exit0(t, r, 'run');

  t.match(full.stdout, /^done: 32 steps in /m, 'the config: 2 epochs of 16 steps');
  // The best validation checkpoint is scored on test too, when it is not the last one.
  const bestStep = Number(/best validation +accuracy [\d.]+% at step (\d+)/.exec(full.stdout)?.[1]);
  if (bestStep === 32) t.notMatch(full.stdout, /test, best checkpoint/, 'best = last: one test line');
  else t.match(full.stdout, new RegExp(`^  test, best checkpoint +loss [\\d.]+, accuracy [\\d.]+% \\(step ${bestStep}: \\S+step-0+${bestStep}\\.ckpt\\)$`, 'm'), `best at step ${bestStep}: its test score`);
  t.match(short.stdout, /^done: 16 steps in /m, '--set train.epochs=1: 1 epoch');
  t.ok(existsSync(join(dir, 'short', 'short-run', 'report.html')), '--set name=short-run: its own run directory');
  t.same(checkpoints(join(dir, 'short', 'short-run')).map(stepOf).at(-1), 16);

  // Piped: progress as plain lines, no escape sequences or carriage returns anywhere.
  for (const [name, r] of [['names', full], ['lm', lm]] as const) {
    t.match(r.stdout, /^epoch 1\/2 {2}step 1\/\d+ {2}loss /m, `${name}: progress lines are there`);
    t.match(r.stdout, /^validation after step \d+: loss /m, `${name}: validation lines are there`);
    for (const [stream, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
      const bad = [...new Set(text.match(/[\x00-\x08\x0b-\x1f\x7f]/g) ?? [])].map((c) => JSON.stringify(c));
      t.same(bad, [], `${name}: no control characters on ${stream}`);
    }
  }

  for (const [name, runDir, m2o] of [['names', join(dir, 'full', 'names-tiny'), true], ['lm', join(dir, 'lm', 'lm-tiny'), false]] as const) {
    const report = readFileSync(join(runDir, 'report.html'), 'utf8');
    t.match(report, new RegExp(`<title>${name === 'names' ? 'names-tiny' : 'lm-tiny'} `), `${name}: report.html names the run`);
    t.match(report, /<svg/, `${name}: with charts`);
    const rows = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const kinds = (k: string) => rows.filter((r) => r.kind === k);
    t.ok(kinds('train').length >= 4, `${name}: train rows`);
    const valSteps = kinds('val').map((r) => r.step);
    if (name === 'names') t.same(valSteps, [16, 32], `${name}: a val row at each epoch end`);
    // A language model of fewer than 5 epochs is also validated every ⌈steps / 5⌉ steps (at least logEvery).
    else t.ok(valSteps.includes(17) && valSteps.includes(34) && valSteps.length >= 4, `${name}: a val row at each epoch end and between: ${valSteps.join(', ')}`);
    t.equal(kinds('test').length, 1, `${name}: one test row`);
    for (const r of rows) t.ok(Number.isFinite(r.loss) && Number.isFinite(r.step), `${name}: ${r.kind} row at step ${r.step} has a finite loss`);
    if (m2o) t.ok(kinds('test')[0].accuracy > 0.5, `${name}: it learned something (test accuracy ${kinds('test')[0].accuracy})`);
    const prof = readFileSync(join(runDir, 'grad-profile.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    t.ok(prof.length >= 2 && prof[0].step === 1, `${name}: gradient profile rows, from step 1`);
    t.ok(prof.every((p) => p.norms.length > 0 && p.norms.every((x: number) => x >= 0)), `${name}: each a list of per-time-step norms`);
  }
});

t.test('a non-finite loss or update stops the run at that step; no non-finite checkpoint', async (t) => {
  const dir = t.testdir({});
  const base = ['--config', NAMES, '--workers', '1', '--quiet'];
  const outs = { loss: join(dir, 'loss'), update: join(dir, 'update') };
  exit0(t, train(...base, '--out', outs.loss, '--max-steps', '6'), 'a good start');
  cpSync(outs.loss, outs.update, { recursive: true });

  // Adam with lr 1e38: parameters near float32's largest value after one step, the logits then
  // overflow and the loss is NaN. A checkpoint is due after every step.
  const a = train(...base, '--out', outs.loss, '--resume', 'latest', '--set', 'train.lr=1e38', '--set', 'train.clipNorm=0', '--set', 'checkpoint.every=1');
  // lr 1e39: the first update itself overflows float32 (loss and gradient of that step are finite).
  const b = train(...base, '--out', outs.update, '--resume', 'latest', '--set', 'train.lr=1e39', '--set', 'train.clipNorm=0', '--set', 'checkpoint.every=1');
  for (const [name, r, re] of [
    ['loss', a, /^error: step (\d+): the loss is not finite \(NaN or infinity\); training stopped and no checkpoint was written for it\. Last good checkpoint: (\S+)\. Try a lower train\.lr or gradient clipping \(train\.clipNorm\)\.$/m],
    ['update', b, /^error: step (\d+): the parameter \w+ is not finite \(NaN or infinity\); training stopped and no checkpoint was written for it\. Last good checkpoint: (\S+)\. /m],
  ] as const) {
    const out = outs[name];
    t.equal(r.status, 1, `${name}: exit 1`, { stderr: r.stderr.slice(-2000) });
    t.notOk(hasStack(r.stderr), `${name}: no stack trace`);
    const m = re.exec(r.stderr);
    t.ok(m, `${name}: the message names the step and the last good checkpoint`, { stderr: r.stderr.slice(-2000) });
    if (!m) continue;
    const step = Number(m[1]);
    const files = checkpoints(join(out, 'names-tiny'));
    t.equal(m[2], files.at(-1), `${name}: the last good checkpoint named is the newest file`);
    t.equal(stepOf(files.at(-1)!), step - 1, `${name}: which is the step before (a checkpoint was due after every step)`);
    if (name === 'update') t.equal(step, 7, 'update: the first step after the resume');
    for (const f of files) t.same(nonFinite(f), [], `${name}: ${f.slice(f.lastIndexOf('/') + 1)} is finite`);
  }
});

t.test('stdout closed by the reader (`train.js | head`): the run stops like a first Ctrl-C, no EPIPE stack', async (t) => {
  const out = t.testdir({});
  const runDir = join(out, 'names-tiny');
  const args = ['--config', NAMES, '--out', out, '--workers', '2', '--set', 'train.epochs=16']; // 256 steps
  const run = new Running(args);
  await waitFor('the first progress line', () => /step 1\/256/.test(run.stdout), run);
  run.child.stdout!.destroy(); // as `head -2` exits: the next write gets EPIPE
  const r = await run.done;
  t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-2000) });
  t.match(r.stderr, /stdout was closed: finishing the current step, then writing a checkpoint \(continue with --resume latest\)/);
  t.notOk(hasStack(r.stderr), 'no stack trace', { stderr: r.stderr.slice(-2000) });
  const at = stepOf(checkpoints(runDir).at(-1)!);
  t.ok(at < 256, `stopped early, at step ${at}, with a checkpoint`);
  const b = train(...args, '--resume', 'latest', '--quiet');
  exit0(t, b, 'resumed');
  t.match(b.stderr, new RegExp(`resumed from \\S+ at step ${at} `));
  t.match(b.stdout, /^done: 256 steps in /m);
});

t.test('--quiet: only the summary on stdout; on stderr only warnings (no data report, no model header)', async (t) => {
  const out = t.testdir({});
  const args = ['--config', NAMES, '--out', out, '--workers', '1', '--max-steps', '3', '--quiet'];
  const a = train(...args);
  exit0(t, a, 'first run');
  t.equal(a.stderr, '', 'nothing on stderr', { stderr: a.stderr });
  t.match(a.stdout, /^done: 3 steps in /, 'stdout starts with the summary');
  t.notMatch(a.stdout, /^(epoch|validation|step) /m, 'no epoch, validation or step lines');
  // A new run over the first one's checkpoints: the warning still prints, alone.
  const b = train(...args);
  exit0(t, b, 'second run');
  t.match(b.stderr, /^warning: starting a new run in a run directory with 1 checkpoint \(step-0+3\.ckpt\), metrics\.jsonl and grad-profile\.jsonl of an earlier run; moved [^\n]*\n$/, 'the warning, alone');
  // The new run's metrics are its own: no row of the first run is left in them.
  const rows = readFileSync(join(out, 'names-tiny', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; kind: string });
  const keys = rows.map((r) => `${r.kind}@${r.step}`);
  t.same(keys, [...new Set(keys)], 'each row once');
});

t.test('the follow-up commands of the summary run as printed from any folder (data files found through --data-root)', async (t) => {
  const dir = t.testdir({});
  const r = train('--config', LM, '--out', join(dir, 'runs'), '--max-steps', '4', '--workers', '1');
  exit0(t, r, 'train');
  const words = (s: string) => [...s.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]));
  for (const label of ['evaluate', 'predict']) {
    const line = new RegExp(`^  ${label} +(.+)$`, 'm').exec(r.stdout)?.[1];
    t.ok(line, `the summary has a ${label} command`);
    if (!line) continue;
    const [exe, script, ...args] = words(line.replace('"..."', 'the'));
    t.equal(exe, 'node');
    const run = spawnSync(process.execPath, [script, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    t.equal(run.status, 0, `${label}, run from another folder`, { stderr: run.stderr });
  }
});
