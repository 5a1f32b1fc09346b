// A whole split evaluated on a coordinator's pool, segment after segment: a split read from token
// shards holds one segment (a shard file's examples) at a time (src/data/shards.ts); an in-memory
// split is one segment, evaluated by one Coordinator.evaluate as before.

import { segment, segmentCounts, type EncodedSplit, type EpochPlan, type SplitName } from '../data/index.js';
import type { PlanOptions } from '../data/batches.js';
import type { Coordinator, EvalResult, EvalRunOptions } from './coordinator.js';

/**
 * Loss sums, counts (and confusion, spans) of the first counts[j] examples of each segment j of
 * `split` (default: all; leadingCounts for a token budget), each segment in the order of planOf
 * without shuffle, written into the coordinator's order array. onBatch counts the batches of all
 * segments. Null when the signal stopped it.
 */
export async function evaluateSegments(co: Coordinator, name: SplitName, split: EncodedSplit, planOf: (s: EncodedSplit, o: PlanOptions) => EpochPlan, batchSize: number, confusion: boolean, o: EvalRunOptions, counts = segmentCounts(split)): Promise<EvalResult | null> {
  if (counts.length === 0) return co.evaluate(name, new Int32Array(0), Int32Array.of(0), confusion, o); // no examples: the empty sums
  const batches = counts.reduce((a, n) => a + Math.ceil(n / batchSize), 0);
  let before = 0, out: EvalResult | null = null;
  for (let j = 0; j < counts.length; j++) {
    if (counts[j] === 0 && counts.length > 1) continue;
    const seg = segment(split, j);
    const sp = counts[j] < seg.count ? { ...seg, count: counts[j] } : seg;
    const plan = planOf(sp, { batchSize, seed: 0, epoch: 0, shuffle: false, into: co.orderArray(name) });
    const from = before, on = o.onBatch;
    const r = await co.evaluate(name, plan.order, plan.batchStarts, confusion, { ...o, onBatch: on && ((done) => on(from + done, batches)) });
    if (!r) return null;
    before += plan.batchStarts.length - 1;
    out = out ? sum(out, r) : r;
  }
  return out;
}

function sum(a: EvalResult, b: EvalResult): EvalResult {
  a.lossSum += b.lossSum; a.count += b.count; a.correct += b.correct;
  if (a.confusion && b.confusion) for (let i = 0; i < a.confusion.length; i++) a.confusion[i] += b.confusion[i];
  if (a.spans && b.spans) for (let i = 0; i < 3; i++) a.spans[i] += b.spans[i];
  return a;
}
