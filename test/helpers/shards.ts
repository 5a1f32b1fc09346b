// A split read whole, whether in memory or from token shards (segment after segment through the
// batch window): what tests compare between the two.

import { continuesChunk, segment, segmentCounts, type Dataset, type EncodedSplit } from '../../src/data/index.js';
import { shardWindow } from '../../src/data/shards.js';

/** Every example's length, label (many-to-one), whether it continues a document, and its tokens (many-to-many: with the target), concatenated. */
export function wholeSplit(d: Dataset, sp: EncodedSplit): { lengths: number[]; labels: number[]; cont: boolean[]; tokens: Int32Array } {
  const extra = d.task === 'many-to-many' ? 1 : 0;
  const w = shardWindow(sp);
  const lengths: number[] = [], labels: number[] = [], cont: boolean[] = [], tokens: number[] = [];
  segmentCounts(sp).forEach((n, j) => {
    const seg = segment(sp, j), base = sp.base ? sp.base[0] : 0;
    let total = 0;
    for (let i = 0; i < n; i++) total += seg.lengths[i] + extra;
    if (w) {
      w.reserve(total);
      w.load(Int32Array.from({ length: n }, (_, i) => base + i));
    }
    for (let i = 0; i < n; i++) {
      lengths.push(seg.lengths[i]);
      if (d.task === 'many-to-one') labels.push(seg.labels[i]);
      cont.push(continuesChunk(seg, base + i));
      for (let t = 0; t < seg.lengths[i] + extra; t++) tokens.push(sp.tokens[seg.starts[i] + t]); // (reserve gave sp a new window)
    }
  });
  return { lengths, labels, cont, tokens: Int32Array.from(tokens) };
}
