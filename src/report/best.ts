// Which validation result is the best: one rule, used by training (best checkpoint, early
// stopping), the end-of-run summary and the report, so they never disagree.
//
// A classifier is judged by validation accuracy, a tagger by token accuracy, a language model by
// validation loss (bits per token is the same order); a tie keeps the earlier step.

export type Task = 'many-to-one' | 'many-to-many' | 'tagging';

/** Higher is better: accuracy for a classifier, minus the loss for a language model. */
export function bestScore(task: Task, v: { loss: number; accuracy: number }): number {
  return task !== 'many-to-many' ? v.accuracy : -v.loss;
}

/** The rule in words, for the summary and the report. */
export function bestRule(task: Task): string {
  return task !== 'many-to-many' ? `highest validation ${task === 'tagging' ? 'token ' : ''}accuracy, earliest step on a tie` : 'lowest validation loss, earliest step on a tie';
}

/** True if `score` beats `best` (NaN: no best yet). Ties do not: the earlier step is kept. */
export function improves(score: number, best: number): boolean {
  return Number.isFinite(score) && (Number.isNaN(best) || score > best);
}

/** The best of validation rows (in step order) by the rule, or undefined. */
export function bestRow<R extends { step: number; loss?: number; accuracy?: number }>(task: Task, rows: R[]): R | undefined {
  let best: R | undefined, bestS = NaN;
  for (const r of rows) {
    const s = bestScore(task, { loss: r.loss ?? NaN, accuracy: r.accuracy ?? NaN });
    if (improves(s, bestS)) { best = r; bestS = s; }
  }
  return best;
}
