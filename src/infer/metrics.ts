// Metrics of an evaluation, from sums and a confusion matrix.
//
// Per class c, with TP = confusion[c][c], FP = column c minus TP, FN = row c minus TP:
//   precision = TP / (TP + FP)     null when the class is never predicted (0/0)
//   recall    = TP / (TP + FN)     null when the class has no examples (no support, 0/0)
//   F1        = 2·TP / (2·TP + FP + FN)
// F1 written this way equals the harmonic mean of precision and recall whenever both exist, and
// is 0 when one of them is 0/0 but the class was still involved in a mistake (predicted without
// support, or supported and never predicted). Only a class with no support AND no predictions
// (TP = FP = FN = 0) has no F1 at all: it says nothing about the model on this data, so it is
// reported with f1 null and left out of macro-F1 (the mean of F1 over the other classes), and
// `macroF1Classes` says how many classes the mean is over.

export interface ClassMetrics {
  precision: number | null;
  recall: number | null;
  f1: number | null;
  /** Examples whose true label is this class. */
  support: number;
  /** Examples predicted as this class. */
  predicted: number;
}

export interface ClassificationMetrics {
  loss: number;
  accuracy: number;
  macroF1: number;
  macroF1Classes: number;
  perClass: Record<string, ClassMetrics>;
  /** confusion[i][j]: examples of true class i predicted as class j (labels in class-id order). */
  confusion: number[][];
}

export interface LanguageModelMetrics {
  /** Mean cross-entropy per predicted token, nats. */
  loss: number;
  /** loss / ln 2. With the char tokenizer these are bits per character. */
  bitsPerToken: number;
  perplexity: number;
  /** Next-token accuracy (argmax = the actual next token). */
  accuracy: number;
}

/** confusion: C×C, row-major (row = true class), as Coordinator.evaluate returns it. */
export function classificationMetrics(lossSum: number, count: number, confusion: ArrayLike<number>, labelNames: string[]): ClassificationMetrics {
  const C = labelNames.length;
  if (confusion.length !== C * C) throw new Error(`classificationMetrics: confusion has ${confusion.length} cells, ${C}×${C} expected`);
  const at = (i: number, j: number) => confusion[i * C + j];
  const perClass: Record<string, ClassMetrics> = {};
  let correct = 0, f1Sum = 0, f1Count = 0;
  for (let c = 0; c < C; c++) {
    let support = 0, predicted = 0;
    for (let k = 0; k < C; k++) { support += at(c, k); predicted += at(k, c); }
    const tp = at(c, c), fp = predicted - tp, fn = support - tp;
    correct += tp;
    const f1 = tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : null;
    if (f1 !== null) { f1Sum += f1; f1Count++; }
    perClass[labelNames[c]] = {
      precision: predicted > 0 ? tp / predicted : null,
      recall: support > 0 ? tp / support : null,
      f1, support, predicted,
    };
  }
  return {
    loss: lossSum / count,
    accuracy: correct / count,
    macroF1: f1Count > 0 ? f1Sum / f1Count : 0,
    macroF1Classes: f1Count,
    perClass,
    confusion: Array.from({ length: C }, (_, i) => Array.from({ length: C }, (_, j) => at(i, j))),
  };
}

export function languageModelMetrics(lossSum: number, count: number, correct: number): LanguageModelMetrics {
  const loss = lossSum / count;
  return { loss, bitsPerToken: loss / Math.LN2, perplexity: Math.exp(loss), accuracy: correct / count };
}
