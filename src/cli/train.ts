// node dist/train.js --config FILE [...]: train a recurrent network (see --help).

import { constants } from 'node:os';
import { parseArgs, runMain } from './args.js';
import { trainRun, StopSignal, type RunOptions } from '../train/run.js';
import { DISTRIBUTED, type DistributedKind } from '../parallel/distributed.js';
import { ConfigError } from '../util/errors.js';

/**
 * Tests only: RNN_TRAINER_TEST_INJECT=STEP:MODE[:RANK] makes a worker fail at STEP (MODE throw,
 * exit or hang), on rank RANK only in a distributed run: how the tests make one rank fail.
 */
function testInjection(): RunOptions['inject'] {
  const v = process.env.RNN_TRAINER_TEST_INJECT;
  if (!v) return undefined;
  const m = /^(\d+):(throw|exit|hang)(?::(\d+))?$/.exec(v);
  if (!m) throw new ConfigError(`RNN_TRAINER_TEST_INJECT=${v}: expected STEP:throw|exit|hang[:RANK] (a test hook; unset it)`);
  return { failAtStep: Number(m[1]), mode: m[2] as 'throw' | 'exit' | 'hang', rank: m[3] === undefined ? undefined : Number(m[3]) };
}

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
      kernels: { type: 'string', choices: ['auto', 'native', 'wasm', 'js'] as const, value: 'NAME', help: 'Compute backend (default: RNN_TRAINER_KERNELS, else train.kernels, else auto: the fastest here).' },
      maxSteps: { type: 'number', integer: true, min: 1, value: 'N', help: 'Stop after global step N (steps before a resume count).' },
      seed: { type: 'number', integer: true, min: 0, value: 'N', help: 'Seed of initialization and data order.' },
      set: { type: 'string', repeat: true, value: 'PATH=VALUE', help: 'Override a config field, e.g. --set train.lr=0.003 (repeatable).' },
      quiet: { type: 'boolean', help: 'Print only errors, warnings and the final summary (no data report, model header or progress).' },
      distributed: { type: 'string', choices: DISTRIBUTED, value: 'mpi', help: 'Data-parallel training over the processes of an MPI job (`mpirun -np N node dist/train.js ... --distributed mpi`, or srun): each rank runs its worker pool on its share of every batch; rank 0 writes the files.' },
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
  const stop = new StopSignal();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`\n${sig} again: exiting now without writing a checkpoint\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${sig}: finishing the current step, then writing a checkpoint (press Ctrl-C again to exit at once)\n`);
    stop.request(sig);
  };
  // Distributed runs handle signals in src/parallel/distributed.ts: every rank stops at once.
  if (!args.distributed) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  // A closed stdout (`train.js ... | head`, a log reader that died) ends the run like a first
  // Ctrl-C: the step in progress is finished and checkpointed, instead of an EPIPE stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    if (stop.requested) return;
    process.stderr.write('\nstdout was closed: finishing the current step, then writing a checkpoint (continue with --resume latest)\n');
    stop.request();
  });
  process.stderr.on('error', () => { /* nowhere left to report to */ });
  const summary = await trainRun({
    config: args.config, out: args.out, resume: args.resume, workers: args.workers, kernels: args.kernels, maxSteps: args.maxSteps,
    seed: args.seed, set: args.set, quiet: args.quiet, distributed: args.distributed as DistributedKind | undefined, inject: testInjection(),
  }, stop);
  // Stopped by a signal, even with its checkpoint written, is not done: exit as the shell reports
  // a signal (130 for SIGINT, 143 for SIGTERM) so `train && deploy` does not go on.
  if (summary.stoppedEarly && stop.signal) return 128 + constants.signals[stop.signal];
});
