// How many worker threads when the user asks for no number.

import { availableParallelism } from 'node:os';

/**
 * `asked`, else one thread per core this process may use (os.availableParallelism()): the one
 * default of train.workers, --workers (eval.js, prepare.js), EvalOptions.workers and the pool.
 */
export function workerCount(asked?: number): number {
  return Math.max(1, asked ?? availableParallelism());
}
