// The progress a run draws while it trains, from its callbacks: the progress line (a bar on a
// terminal, log lines elsewhere: src/util/progress.ts), the validations, and a line per pass of a
// long validation or test. train.js draws it on stdout; the library's `progress: true` on stderr.

import { Progress, EvalProgress, type OutStream } from '../util/progress.js';
import type { RunOptions } from './run.js';

export interface Follower {
  /** Callbacks to give the run. */
  callbacks: Required<Pick<RunOptions, 'onStart' | 'onStep' | 'onEvaluation' | 'onValidation'>>;
  /** A line above the progress line (e.g. an epoch's start). */
  log(text: string): void;
  /** Ends the progress line. */
  done(): void;
}

/** `quiet`: nothing but what `log` is given is drawn... and not even that (train.js --quiet). */
export function followRun(stream: OutStream, quiet = false): Follower {
  let progress: Progress | undefined;
  let evaluating: EvalProgress | undefined;
  return {
    callbacks: {
      onStart: (e) => { progress = new Progress({ stream, totalSteps: e.totalSteps, epochs: e.epochs, quiet }); },
      onStep: (e) => progress!.update({ step: e.step, epoch: e.epoch, loss: e.loss, accuracy: e.accuracy, tokensPerSec: e.tokensPerSec, lr: e.lr }),
      onEvaluation: (e) => {
        if (quiet) return;
        evaluating ??= new EvalProgress(`${e.split === 'val' ? 'validation' : 'test'} (${e.tokens.toLocaleString('en-US')} tokens)`, { stream });
        evaluating.update(e.done, e.batches);
        if (e.done === e.batches) { evaluating.done(); evaluating = undefined; }
      },
      onValidation: (v) => progress!.log(`validation after step ${v.step}: loss ${v.loss.toFixed(4)}${v.bitsPerToken === undefined ? `, accuracy ${(v.accuracy * 100).toFixed(2)}%` : `, ${v.bitsPerToken.toFixed(3)} bits/token`}${v.improved ? ' (best so far)' : ''}`),
    },
    log: (text) => progress?.log(text),
    done: () => { evaluating?.done(); progress?.done(); },
  };
}
