// Classification and language-model metrics from sums and a confusion matrix (src/model/metrics.ts),
// on small matrices whose values are worked out by hand in the comments.

import t from 'tap';
import { classificationMetrics, languageModelMetrics } from '../src/model/metrics.js';

t.test('per-class precision, recall, F1 and macro-F1', async (t) => {
  // rows = true a, b; columns = predicted a, b
  //   a: TP 3, FN 1 (predicted b), FP 2 (b predicted as a) -> P 3/5, R 3/4, F1 6/9
  //   b: TP 4, FN 2, FP 1                                   -> P 4/5, R 4/6, F1 8/11
  const m = classificationMetrics(5, 10, [3, 1, 2, 4], ['a', 'b']);
  t.equal(m.accuracy, 0.7);
  t.equal(m.loss, 0.5);
  t.same(m.perClass.a, { precision: 3 / 5, recall: 3 / 4, f1: 6 / 9, support: 4, predicted: 5 });
  t.same(m.perClass.b, { precision: 4 / 5, recall: 4 / 6, f1: 8 / 11, support: 6, predicted: 5 });
  t.equal(m.macroF1, (6 / 9 + 8 / 11) / 2);
  t.equal(m.macroF1Classes, 2);
  t.same(m.confusion, [[3, 1], [2, 4]]);
});

t.test('classes without support or predictions', async (t) => {
  // a: 2 right; b: 1 example, predicted as c (no predictions of b); c: no examples, predicted once; d: nothing at all.
  const conf = [
    2, 0, 0, 0,
    0, 0, 1, 0,
    0, 0, 0, 0,
    0, 0, 0, 0,
  ];
  const m = classificationMetrics(1, 3, conf, ['a', 'b', 'c', 'd']);
  t.same(m.perClass.a, { precision: 1, recall: 1, f1: 1, support: 2, predicted: 2 });
  t.same(m.perClass.b, { precision: null, recall: 0, f1: 0, support: 1, predicted: 0 }, 'never predicted: precision 0/0 = null, F1 0');
  t.same(m.perClass.c, { precision: 0, recall: null, f1: 0, support: 0, predicted: 1 }, 'no support but predicted: recall null, F1 0');
  t.same(m.perClass.d, { precision: null, recall: null, f1: null, support: 0, predicted: 0 }, 'neither: no F1');
  t.equal(m.macroF1Classes, 3, 'd is left out of the mean');
  t.equal(m.macroF1, (1 + 0 + 0) / 3);
  t.equal(m.accuracy, 2 / 3);
  t.throws(() => classificationMetrics(0, 1, [1, 0, 0], ['a', 'b']), /4 expected|2×2 expected/);
});

t.test('language model: bits and perplexity', async (t) => {
  const m = languageModelMetrics(100 * Math.LN2, 100, 25);
  t.ok(Math.abs(m.loss - Math.LN2) < 1e-15);
  t.ok(Math.abs(m.bitsPerToken - 1) < 1e-15, 'ln 2 nats = 1 bit');
  t.ok(Math.abs(m.perplexity - 2) < 1e-12);
  t.equal(m.accuracy, 0.25);
});
