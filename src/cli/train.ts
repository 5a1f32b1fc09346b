// node dist/train.js --config FILE [...]: train a recurrent network (see --help). A shell over the
// library's trainRun: flags become its options, its callbacks drive the progress line, and its
// summary is printed with the commands that come next.

import { constants } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs, runMain } from './args.js';
import { command, quote } from './command.js';
import { printSummary, type OutStream } from './progress.js';
import { followRun } from '../train/follow.js';
import { formatDuration } from '../util/format.js';
import { trainRun, describeSubset, type RunOptions, type RunSummary, type EvalMetrics, type RunMessage } from '../train/run.js';
import { DISTRIBUTED, type DistributedKind } from '../parallel/distributed.js';
import { ConfigError } from '../util/errors.js';
import { KERNELS_CHOICES } from '../model/backend/index.js';
import { PRECISIONS } from '../model/backend/precision.js';

runMain(async () => {
  const args = parseArgs(process.argv.slice(2), {
    name: 'train.js',
    summary: 'Train a recurrent network on the data and model a config describes. Progress goes to stdout; '
      + 'checkpoints, metrics.jsonl and report.html to the run directory (<out>/<name>/).',
    flags: {
      config: { type: 'string', required: true, value: 'FILE', help: 'The run configuration (JSON; see configs/config.schema.json).' },
      out: { type: 'string', value: 'DIR', help: 'Directory for run directories (default: the config\'s "out", relative to the config file).' },
      resume: { type: 'string', value: 'PATH|latest|auto', help: 'Continue from a checkpoint file, or from the newest valid one of the run (latest: there must be one; auto: else start fresh, as a scheduler re-running a job needs).' },
      workers: { type: 'number', integer: true, min: 1, value: 'N', help: 'Worker threads (default: train.workers, else all cores).' },
      kernels: { type: 'string', choices: KERNELS_CHOICES, value: 'NAME', help: 'Compute backend (default: RNN_TRAINER_KERNELS, else train.kernels, else auto: the fastest here).' },
      precision: { type: 'string', choices: PRECISIONS, value: 'f32|bf16', help: 'Arithmetic of the products over all rows in training (a full softmax head, input projections, weight gradients) (default: train.precision, else f32; bf16: native kernels on a CPU with AVX512-BF16, README "Mixed precision (bf16)").' },
      maxSteps: { type: 'number', integer: true, min: 1, value: 'N', help: 'Stop after global step N (steps before a resume count).' },
      seed: { type: 'number', integer: true, min: 0, value: 'N', help: 'Seed of initialization and data order.' },
      set: { type: 'string', repeat: true, value: 'PATH=VALUE', help: 'Override a config field, e.g. --set train.lr=0.003 (repeatable).' },
      quiet: { type: 'boolean', help: 'Print only errors, warnings and the final summary (no data report, model header or progress).' },
      stallTimeout: { type: 'number', min: 0, value: 'SECONDS', help: 'A step with no progress for this long ends the run with an error naming the worker thread (or, with --distributed, the collective) that stopped answering (default: 20 times the slowest step, at least 120 s; between ranks, 600 s; 0: never).' },
      distributed: { type: 'string', choices: DISTRIBUTED, value: 'mpi', help: 'Data-parallel training over the processes of an MPI job (`mpirun -np N node dist/train.js ... --distributed mpi`, or srun): each rank runs its worker pool on its share of every batch; rank 0 writes the files and prints.' },
    },
    examples: [
      ['node dist/train.js --config configs/small.json', 'first names -> gender, under a minute'],
      ['node dist/train.js --config configs/large.json --workers 2', 'the spam-assassin classifier'],
      ['node dist/train.js --config configs/large.json --resume latest', 'continue a stopped run'],
      ['node dist/train.js --config configs/large.json --resume auto', 'continue if there is a checkpoint, else start (jobs that may be re-run)'],
      ['node dist/train.js --config configs/small.json --set train.lr=0.003 --set model.hidden=64', 'override fields'],
      ['mpirun -np 4 --hostfile hosts node dist/train.js --config configs/large.json --distributed mpi', '4 processes, on the hosts the file lists (README: "Training on several hosts")'],
    ],
  });
  const stop = new AbortController();
  let stopSignal: NodeJS.Signals | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`\n${sig} again: exiting now without writing a checkpoint\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${sig}: finishing the current step, then writing a checkpoint (press Ctrl-C again to exit at once)\n`);
    stopSignal ??= sig;
    stop.abort(sig);
  };
  // Distributed runs stop every rank at once on a signal (src/parallel/distributed.ts): mpirun
  // signals all ranks when one dies, and a step cannot be finished without it.
  if (!args.distributed) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  // A closed stdout (`train.js ... | head`, a log reader that died) ends the run like a first
  // Ctrl-C: the step in progress is finished and checkpointed, instead of an EPIPE stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    if (stop.signal.aborted) return;
    process.stderr.write('\nstdout was closed: finishing the current step, then writing a checkpoint (continue with --resume latest)\n');
    stop.abort('stdout closed');
  });
  process.stderr.on('error', () => { /* nowhere left to report to */ });

  const out: OutStream = process.stdout;
  const follow = followRun(out, args.quiet);
  // --quiet: errors (thrown) and the summary only, plus the lines a quiet log still needs: warnings,
  // what a resume did, a kernels fallback. No data report, no model header, no progress.
  const quietKeeps = new Set<RunMessage['kind']>(['warning', 'resume', 'kernels']);
  const options: RunOptions = {
    config: args.config, out: args.out, resume: args.resume, workers: args.workers, kernels: args.kernels, precision: args.precision, maxSteps: args.maxSteps,
    seed: args.seed, set: args.set, signal: stop.signal, stallTimeoutMs: args.stallTimeout === undefined ? undefined : args.stallTimeout * 1000, distributed: args.distributed as DistributedKind | undefined, inject: testInjection(),
    onMessage: (m) => {
      if (m.kind === 'epoch') follow.log(m.text);
      else if (!args.quiet || quietKeeps.has(m.kind)) process.stderr.write(m.text + '\n');
    },
    ...follow.callbacks,
  };
  const summary = await trainRun(options);
  follow.done();
  if (!summary.distributed || summary.distributed.rank === 0) printRunSummary(summary, options, out);
  // Stopped by a signal, even with its checkpoint written, is not done: exit as the shell reports
  // a signal (130 for SIGINT, 143 for SIGTERM) so `train && deploy` does not go on.
  if (summary.interrupted && stopSignal) return 128 + constants.signals[stopSignal];
});

/**
 * Tests only: RNN_TRAINER_TEST_INJECT=STEP:MODE[:RANK] makes a worker fail at STEP (MODE throw,
 * exit, hang, or vanish: its OS thread ends without a word, see workers/shard.ts), on rank RANK
 * only in a distributed run: how the tests make one rank fail.
 */
function testInjection(): RunOptions['inject'] {
  const v = process.env.RNN_TRAINER_TEST_INJECT;
  if (!v) return undefined;
  const m = /^(\d+):(throw|exit|hang|vanish)(?::(\d+))?$/.exec(v);
  if (!m) throw new ConfigError(`RNN_TRAINER_TEST_INJECT=${v}: expected STEP:throw|exit|hang|vanish[:RANK] (a test hook; unset it)`);
  return { failAtStep: Number(m[1]), mode: m[2] as NonNullable<RunOptions['inject']>['mode'], rank: m[3] === undefined ? undefined : Number(m[3]) };
}

function printRunSummary(s: RunSummary, o: RunOptions, out: OutStream): void {
  const m2o = s.task !== 'many-to-many'; // a label per sequence or per token: judged by accuracy
  const here = (p: string) => relative(process.cwd(), p) || '.';
  if (s.interrupted) {
    printSummary(`stopped at step ${s.steps}`, [
      ['checkpoint', s.lastCheckpoint ? here(s.lastCheckpoint) : '(none)'],
      s.lastCheckpoint ? ['resume with', resumeCommand(o)] : ['start again with', resumeCommand(o).replace(/ --resume latest$/, '')],
    ], out);
    return;
  }
  const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(2)}%`);
  const tags = (m: EvalMetrics) => (m.spans ? `, span F1 ${pct(m.spans.f1)}` : '') + (m.perTag ? `; F1 per tag: ${Object.entries(m.perTag).map(([t, c]) => `${t} ${pct(c.f1)}`).join(', ')}` : '');
  const fmt = (m: EvalMetrics) => m2o ? `loss ${m.loss.toFixed(4)}, ${s.task === 'tagging' ? 'token ' : ''}accuracy ${(m.accuracy * 100).toFixed(2)}%${tags(m)}` : `loss ${m.loss.toFixed(4)}, ${m.bitsPerToken!.toFixed(3)} bits/token`;
  const best = Number.isNaN(s.best.metric) ? '-' : `${m2o ? `accuracy ${(s.best.metric * 100).toFixed(2)}%` : `loss ${(-s.best.metric).toFixed(4)}`} at step ${s.best.step} (best = ${s.best.rule})`;
  // The commands work from any folder: absolute paths, and the installed command names when they are on PATH.
  const model = s.modelCheckpoint ?? '(none)';
  printSummary(`done: ${s.steps} steps in ${formatDuration(s.seconds)}${s.earlyStopped ? ` (early stopping: the model is the best checkpoint, step ${s.best.step})` : ''}`, [
    ['best validation', best],
    ['final validation', s.val ? fmt(s.val) + (s.val.subset ? ` on ${describeSubset(s.val.subset)}` : '') : '-'],
    ['test', s.test ? fmt(s.test) : '-'],
    ...(s.testBest ? [['test, best checkpoint', `${fmt(s.testBest)} (step ${s.testBest.step}: ${here(s.testBest.file)})`] as [string, string]] : []),
    ['checkpoints', here(s.checkpointDir)],
    ['report', here(s.reportPath)],
    ['evaluate', `${command('eval')} --checkpoint ${quote(model)} ${s.dataRoot ? `--data-root ${quote(s.dataRoot)} ` : ''}--split test`],
    ['predict', m2o ? `${command('predict')} --checkpoint ${quote(model)} --text "..."` : `${command('predict')} --checkpoint ${quote(model)} --generate 300 --prompt "..."`],
  ], out);
}

/** The command that continues this run: the same config, overrides and flags, with --resume latest. */
function resumeCommand(o: RunOptions): string {
  const args = ['--config', resolve(o.config as string)];
  if (o.out !== undefined) args.push('--out', resolve(o.out));
  for (const s of o.set ?? []) args.push('--set', s);
  if (o.workers !== undefined) args.push('--workers', String(o.workers));
  if (o.kernels !== undefined) args.push('--kernels', o.kernels);
  if (o.precision !== undefined) args.push('--precision', o.precision);
  if (o.seed !== undefined) args.push('--seed', String(o.seed));
  if (o.maxSteps !== undefined) args.push('--max-steps', String(o.maxSteps));
  return [command('train'), ...args.map(quote), '--resume', 'latest'].join(' ');
}

