// The library's two entry points: train() runs a training run and returns its summary with the
// trained Model; Model.load() reads a saved one.

import { trainRun, type RunOptions, type RunSummary, type RunMessage } from './train/run.js';
import { followRun } from './train/follow.js';
import { Model, type ModelOptions } from './infer/model.js';
import type { KernelsChoice } from './model/backend/index.js';
import { UserError } from './util/errors.js';

export interface TrainOptions extends RunOptions {
  /**
   * Draw train.js's progress on stderr: the bar with ETA on a terminal, a log line every few
   * steps elsewhere, the validations and epochs. Your callbacks are called as well.
   */
  progress?: boolean;
}

export interface TrainResult extends RunSummary {
  /** The weights the run ended with: the best validation's after early stopping, else the last step's. */
  model: Model;
}

/**
 * Train a model: `config` is a config file or object, `data` (optional) examples in memory. The run
 * writes its run directory (<out>/<name>/: checkpoints, metrics.jsonl, report.html) as the command
 * does, and prints nothing: pass onStep, onValidation, onCheckpoint, onMessage to follow it, and an
 * AbortSignal to stop it (the last step is checkpointed; the result says `interrupted`).
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const summary = options.progress ? await withProgress(options) : await trainRun(options);
  if (summary.distributed && summary.distributed.rank !== 0) {
    throw new UserError(`train(): rank ${summary.distributed.rank} of a distributed run wrote no files (rank 0 writes the checkpoints and returns the model); on the other ranks call trainRun(), which returns the run's summary, or Model.load() a checkpoint rank 0 wrote`);
  }
  // The model computes on the backend the run was asked for (a bad name failed the run already).
  const modelOptions: ModelOptions = { kernels: options.kernels as KernelsChoice | undefined };
  if (summary.inMemory) return { ...summary, model: Model.fromCheckpoint(summary.inMemory, undefined, modelOptions) };
  if (!summary.modelCheckpoint) throw new UserError(`the run in ${summary.runDir} wrote no checkpoint`);
  return { ...summary, model: Model.load(summary.modelCheckpoint, modelOptions) };
}

/** trainRun with the progress of train.js drawn on stderr, beside the caller's callbacks. */
async function withProgress(o: TrainOptions): Promise<RunSummary> {
  const f = followRun(process.stderr);
  const both = <E>(ours: (e: E) => unknown, theirs: ((e: E) => unknown) | undefined) => (e: E) => { ours(e); return theirs?.(e); };
  try {
    return await trainRun({
      ...o,
      onStart: both(f.callbacks.onStart, o.onStart), onStep: both(f.callbacks.onStep, o.onStep),
      onValidation: both(f.callbacks.onValidation, o.onValidation), onEvaluation: both(f.callbacks.onEvaluation, o.onEvaluation) as RunOptions['onEvaluation'],
      onMessage: both((m: RunMessage) => { if (m.kind === 'epoch') f.log(m.text); }, o.onMessage),
    });
  } finally {
    f.done();
  }
}
