// How many worker threads when the user asks for no number.

import { availableParallelism } from 'node:os';

/**
 * `asked`, else one thread per core this process may use (os.availableParallelism()): the one
 * default of train.workers, --workers (eval.js, prepare.js), EvalOptions.workers and the pool.
 */
export function workerCount(asked?: number): number {
  return Math.max(1, asked ?? availableParallelism());
}

/**
 * execArgv of our worker threads (the piscina pools): no parent loader (workers run compiled
 * JavaScript; tests run under a TypeScript one), and no require(esm). piscina loads a task file
 * with require() first; on Node 20.20 require() of an ES module in a new worker thread sometimes
 * aborts the whole process inside Node's module loader (a V8 fatal error: "IsGraphAsync must be
 * used on an instantiated module", or an assertion in CreateRequiredModuleFacade; 4 of 12 runs of
 * 60 two-thread pool starts here). Without require(esm) that require() throws at once and piscina
 * imports the file instead (0 of 10 such runs aborted).
 */
export const WORKER_EXEC_ARGV: readonly string[] = process.allowedNodeEnvironmentFlags.has('--experimental-require-module')
  ? ['--no-experimental-require-module']
  : [];
