// The library's two entry points: train() runs a training run and returns its summary with the
// trained Model; Model.load() reads a saved one.

import { trainRun, type RunOptions, type RunSummary } from './train/run.js';
import { Model } from './infer/model.js';
import { UserError } from './util/errors.js';

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
export async function train(options: RunOptions): Promise<TrainResult> {
  const summary = await trainRun(options);
  if (summary.distributed && summary.distributed.rank !== 0) {
    throw new UserError(`train(): rank ${summary.distributed.rank} of a distributed run wrote no files (rank 0 writes the checkpoints and returns the model); on the other ranks call trainRun(), which returns the run's summary, or Model.load() a checkpoint rank 0 wrote`);
  }
  if (!summary.modelCheckpoint) throw new UserError(`the run in ${summary.runDir} wrote no checkpoint`);
  return { ...summary, model: Model.load(summary.modelCheckpoint) };
}
