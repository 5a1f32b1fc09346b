// Evaluation that scales (issue 19, item 5): train.validateTokens validates on a leading part of
// the validation split (counted); a long evaluation prints progress lines off a terminal (eval.js,
// train.js); SIGTERM during a long final evaluation stops train.js within a second or two with the
// last step's checkpoint (exit 143); SIGINT during the initialization of a large model stops it
// within a second or two, with no checkpoint (exit 130). Needs `npm run build`.

import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { train, type RunOptions } from '../src/index.js';
import { ROOT, TRAIN, Running, checkpoints, hasStack, waitFor, sleep } from './fixtures/train/helpers.js';

// tap preloads its process-info hook into children (NODE_OPTIONS), whose exit handlers slow a
// signalled child's exit by seconds on a busy machine: the times measured here are the command's own.
delete process.env.NODE_OPTIONS;

t.before(() => {
  if (!existsSync(TRAIN)) throw new Error(`${TRAIN} is missing: run \`npm run build\` first`);
});

/** Deterministic text of about `n` characters: words of a small vocabulary. */
function text(n: number, seed: number): string {
  const words = 'the whale sea ship captain harpoon ocean deep white storm'.split(' ');
  let s = seed >>> 0, out = '';
  while (out.length < n) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out += words[s % words.length] + (s % 7 === 0 ? '.\n' : ' ');
  }
  return out;
}

t.test('train.validateTokens: every validation runs on the same leading sequences, within the budget; the test stays whole', async (t) => {
  const dir = t.testdir({});
  const data = { train: text(3000, 1), val: text(4000, 2), test: text(2000, 3) };
  const config = {
    name: 'budget', seed: 1,
    data: { tokenizer: 'char' as const, seqLength: 16 },
    model: { task: 'many-to-many' as const, hidden: 8, input: { embedding: 4 } },
    train: { epochs: 2, batchSize: 8, lr: 0.01, workers: 1, kernels: 'js' as const, validateTokens: 500 },
  } satisfies RunOptions['config'];
  const counts: number[] = [];
  const r = await train({ config, data, baseDir: dir, onValidation: (v) => counts.push(v.count) });
  t.ok(counts.length >= 5, `validations at each epoch end and about every fifth of the run: ${counts.length}`);
  // Whole chunks of 16 tokens: at most 500, more than 500 − 16.
  t.ok(counts.every((c) => c === counts[0] && c <= 500 && c > 484), `validations on ${counts.join(', ')} tokens`);
  t.equal(r.val?.subset?.tokens, counts[0], 'the summary says it was a subset of the split');
  t.ok(r.val!.subset!.ofTokens > 3900, `of ${r.val?.subset?.ofTokens} tokens`);
  t.ok(r.test && r.test.count > 1900, `the test is whole (${r.test?.count} tokens)`);

  const whole = await train({ config: { ...config, name: 'whole', train: { ...config.train, validateTokens: 0 } }, data, baseDir: dir });
  t.equal(whole.val?.count, r.val?.subset?.ofTokens, 'validateTokens 0: the whole split');
  t.equal(whole.val?.subset, undefined);
});

/** A run folder: a small training text and large validation and test texts (seconds to evaluate on the js kernels). */
function bigEvalRun(dir: string, evalChars: number, model: object = { task: 'many-to-many', hidden: 64, input: { embedding: 8 } }): string {
  writeFileSync(join(dir, 'train.txt'), text(4000, 1));
  writeFileSync(join(dir, 'val.txt'), text(20000, 2));
  writeFileSync(join(dir, 'test.txt'), text(evalChars, 3));
  const config = join(dir, 'c.json');
  writeFileSync(config, JSON.stringify({
    name: 'r', seed: 1, out: 'runs',
    data: { source: 'files', format: 'text', train: 'train.txt', val: 'val.txt', test: 'test.txt', tokenizer: 'char', seqLength: 64 },
    model, train: { epochs: 1, batchSize: 16, lr: 0.01, kernels: 'js', workers: 1 }, checkpoint: { every: 1 },
  }));
  return config;
}

t.test('SIGTERM during a long final evaluation: train.js stops within a batch, with the last step\'s checkpoint, exit 143', async (t) => {
  const dir = t.testdir({});
  const config = bigEvalRun(dir, 3_000_000);
  const run = new Running(['--config', config, '--max-steps', '2']);
  // The test pass prints a progress line after a second off a terminal: it is running.
  await waitFor('the test progress line', () => /^test \([\d,]+ tokens\): batch \d+\/\d+/m.test(run.stdout), run, 120_000);
  const t0 = Date.now();
  run.child.kill('SIGTERM');
  const r = await run.done;
  const ms = Date.now() - t0;
  t.equal(r.status, 143, r.stderr);
  t.ok(ms < 3000, `stopped ${ms} ms after the signal`);
  t.notOk(hasStack(r.stderr + r.stdout));
  t.match(r.stdout, /stopped at step 2/);
  t.same(checkpoints(join(dir, 'runs', 'r')).map((f) => f.split('/').pop()), ['step-000000001.ckpt', 'step-000000002.ckpt'], 'the last step\'s checkpoint is there');
  // eval.js on that checkpoint: progress lines on stderr (not a terminal), the JSON on stdout.
  writeFileSync(join(dir, 'more.txt'), text(200_000, 4));
  const e = await new Promise<{ status: number | null; stdout: string; stderr: string }>((res) => {
    const c = spawn(process.execPath, [join(ROOT, 'dist', 'eval.js'), '--checkpoint', join(dir, 'runs', 'r', 'checkpoints', 'step-000000002.ckpt'), '--data', join(dir, 'more.txt'), '--kernels', 'js', '--workers', '1'], { cwd: dir });
    let stdout = '', stderr = '';
    c.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    c.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    c.on('close', (status) => res({ status, stdout, stderr }));
  });
  t.equal(e.status, 0, e.stderr);
  t.ok(JSON.parse(e.stdout).tokens > 190_000, 'the JSON metrics on stdout');
  t.match(e.stderr, /^evaluating [\d,]+ sequences \([\d,]+ tokens\): batch \d+\/\d+ \(\d+%\)/m, 'a progress line on stderr');
  t.notMatch(e.stderr, /\x1b|\r/, 'no control characters off a terminal');
});

t.test('SIGINT during the initialization of a large model: train.js stops within a second or two, no checkpoint, exit 130', async (t) => {
  const dir = t.testdir({});
  // H = 1400: its orthogonal init takes about 0.4 s of CPU (1.5 s before the Householder init),
  // signalled 50 ms after the data report, which comes just before it; the parameters are small
  // (~50 MB with Adam's moments). After the init, a step of this model on the js kernels takes
  // seconds, and a signal waits for it: the signal must land in the init.
  const config = bigEvalRun(dir, 2000, { task: 'many-to-many', cell: 'gru', hidden: 1400, input: { embedding: 8 } });
  const run = new Running(['--config', config, '--max-steps', '1']);
  await waitFor('the data report', () => /vocabulary \d+ tokens/.test(run.stderr), run, 60_000);
  await sleep(50);
  const t0 = Date.now();
  run.child.kill('SIGINT');
  const r = await run.done;
  const ms = Date.now() - t0;
  t.equal(r.status, 130, r.stderr);
  t.ok(ms < 3000, `stopped ${ms} ms after the signal`);
  t.notOk(hasStack(r.stderr + r.stdout));
  t.match(r.stdout, /stopped at step 0/);
  t.notMatch(r.stdout + r.stderr, /model: gru/, 'stopped in the init (the model line follows it)');
  t.notMatch(r.stdout, /--resume latest/, 'nothing to resume');
  t.same(checkpoints(join(dir, 'runs', 'r')), [], 'no checkpoint: there was no step');
});
