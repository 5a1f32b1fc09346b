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

// ---------------------------------------------------------------- tagging
//
// Token accuracy and per-tag precision/recall/F1 are classificationMetrics over tokens (the
// confusion matrix counts every real token once). Span F1 (BIO / IOB2 tags, conlleval's rules):
// a span of type X starts at B-X, or at an I-X that does not continue a span of type X (after O,
// after another type, or at the start); it goes on over I-X and ends before anything else. A
// predicted span is correct when a gold span has the same first token, last token and type.
// Tags "B" and "I" without a type are spans of one unnamed type (words, in word segmentation).

/** Per tag id: 0 outside (O), 1 begins (B-X), 2 inside (I-X); and X's id. */
export interface BioScheme {
  kind: Uint8Array;
  type: Int32Array;
}

/** The BIO scheme of these tags, or null when they are not BIO tags (a tag other than O, B[-X], I[-X]; or no B at all). */
export function bioScheme(tagNames: readonly string[]): BioScheme | null {
  const C = tagNames.length, kind = new Uint8Array(C), type = new Int32Array(C), types = new Map<string, number>();
  let begins = 0;
  for (let c = 0; c < C; c++) {
    const t = tagNames[c];
    if (t === 'O') continue;
    const m = /^([BI])(?:[-_](.+))?$/.exec(t);
    if (!m) return null;
    const x = m[2] ?? '';
    if (!types.has(x)) types.set(x, types.size);
    kind[c] = m[1] === 'B' ? 1 : 2;
    type[c] = types.get(x)!;
    if (kind[c] === 1) begins++;
  }
  return begins > 0 ? { kind, type } : null;
}

/** Span counts, added into out: [correct, predicted, gold]. */
export type SpanCounts = [number, number, number];

/**
 * The spans of tags[off + t·stride], t = 0..len-1, as (start, end, type) triples appended to `out`
 * (cleared first); `end` is the last token's t.
 */
export function bioSpans(tags: ArrayLike<number>, off: number, stride: number, len: number, s: BioScheme, out: number[]): void {
  out.length = 0;
  let open = -1; // index in out of the open span's start, -1: none
  for (let t = 0; t < len; t++) {
    const y = tags[off + t * stride], k = s.kind[y], x = s.type[y];
    const continues = k === 2 && open >= 0 && out[open + 2] === x;
    if (open >= 0 && !continues) open = -1;
    if (k === 0 || continues) {
      if (continues) out[open + 1] = t;
      continue;
    }
    open = out.length;
    out.push(t, t, x);
  }
}

/**
 * Adds one sequence's span counts into `counts`: its gold tag ids at gold[go + t·gs], its predicted
 * ones at pred[po + t·ps], t < len. `g`, `p`: scratch arrays.
 */
export function addSpanCounts(gold: ArrayLike<number>, go: number, gs: number, pred: ArrayLike<number>, po: number, ps: number, len: number, s: BioScheme, counts: SpanCounts, g: number[], p: number[]): void {
  bioSpans(gold, go, gs, len, s, g);
  bioSpans(pred, po, ps, len, s, p);
  counts[1] += p.length / 3;
  counts[2] += g.length / 3;
  // Both lists are in order of their starts and do not overlap: one merge pass.
  for (let i = 0, j = 0; i < g.length && j < p.length;) {
    if (g[i] === p[j] && g[i + 1] === p[j + 1] && g[i + 2] === p[j + 2]) counts[0]++;
    if (g[i] <= p[j]) i += 3;
    else j += 3;
  }
}

export interface SpanMetrics {
  precision: number | null;
  recall: number | null;
  f1: number;
  correct: number;
  predicted: number;
  gold: number;
}

export function spanMetrics(c: SpanCounts): SpanMetrics {
  const [tp, predicted, gold] = c;
  return { precision: predicted > 0 ? tp / predicted : null, recall: gold > 0 ? tp / gold : null, f1: predicted + gold > 0 ? (2 * tp) / (predicted + gold) : 0, correct: tp, predicted, gold };
}

export interface TaggingMetrics {
  loss: number;
  /** Token accuracy: tokens whose predicted tag is their tag. */
  accuracy: number;
  macroF1: number;
  macroF1Classes: number;
  /** Per tag, over tokens. */
  perTag: Record<string, ClassMetrics>;
  /** BIO tags only: spans (conlleval). */
  spans?: SpanMetrics;
  confusion: number[][];
}

/** From an evaluation's sums: the token confusion matrix (C×C over tags) and, for BIO tags, the span counts. */
export function taggingMetrics(lossSum: number, count: number, confusion: ArrayLike<number>, tagNames: string[], spans?: SpanCounts | null): TaggingMetrics {
  const c = classificationMetrics(lossSum, count, confusion, tagNames);
  return {
    loss: c.loss, accuracy: c.accuracy, macroF1: c.macroF1, macroF1Classes: c.macroF1Classes, perTag: c.perClass,
    ...(spans ? { spans: spanMetrics(spans) } : {}),
    confusion: c.confusion,
  };
}
