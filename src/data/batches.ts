// Batches: an epoch's order of examples, and filling a preallocated Batch from it.
//
// Training order, reproducible from (seed, epoch) alone so a resumed run rebuilds it exactly:
//   1. shuffle all example ids with Rng(seed, ORDER_STREAM + epoch);
//   2. cut the shuffled ids into pools of POOL_BATCHES batches and sort each pool by length,
//      longest first (ties keep their shuffled order), so a batch holds similar lengths;
//   3. cut each pool into batches and shuffle the order of the batches.
// Every example is in exactly one batch per epoch. Without shuffle (evaluation) the whole split is
// sorted by length, longest first, ties by id.

import type { Batch } from '../model/batch.js';
import { Rng } from '../util/prng.js';
import type { EncodedSplit, EpochPlan, Task } from './types.js';

/** Rng stream offset of the data order, away from the small stream numbers other code uses with the same seed. */
export const ORDER_STREAM = 0x0da7a000;

/** Batches per pool: larger pools pad less, smaller pools mix lengths more. */
export const POOL_BATCHES = 50;

export function epochPlan(split: EncodedSplit, opts: PlanOptions): EpochPlan {
  const { batchSize: B } = opts;
  if (!Number.isInteger(B) || B < 1) throw new Error(`epochPlan: batchSize must be an integer >= 1, got ${B}`);
  const n = split.count;
  const len = split.lengths;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const nb = Math.ceil(n / B);

  if (opts.shuffle === false) {
    order.sort((a, b) => len[b] - len[a] || a - b);
    return { order: opts.into ? copyInto(order, opts.into) : order, batchStarts: cuts(n, B) };
  }

  const rng = new Rng(opts.seed, ORDER_STREAM + opts.epoch);
  rng.shuffle(order);
  const pool = B * POOL_BATCHES;
  for (let p = 0; p < n; p += pool) {
    const part = order.slice(p, Math.min(n, p + pool));
    const pos = new Int32Array(part.length);
    for (let i = 0; i < pos.length; i++) pos[i] = i;
    pos.sort((a, b) => len[part[b]] - len[part[a]] || a - b);
    for (let i = 0; i < pos.length; i++) order[p + i] = part[pos[i]];
  }
  // Shuffle whole batches; batch k of the pooled order starts at k*B.
  const batches = new Int32Array(nb);
  for (let k = 0; k < nb; k++) batches[k] = k;
  rng.shuffle(batches);
  const out = orderArray(n, opts.into);
  const batchStarts = new Int32Array(nb + 1);
  let at = 0;
  for (let k = 0; k < nb; k++) {
    batchStarts[k] = at;
    const from = batches[k] * B;
    const to = Math.min(n, from + B);
    out.set(order.subarray(from, to), at);
    at += to - from;
  }
  batchStarts[nb] = n;
  return { order: out, batchStarts };
}

/**
 * Whether chunk `i` of a many-to-many split continues chunk i−1 of the same document: chunks of a
 * document are consecutive ids, each starting where the last one's inputs ended (a new document
 * starts one token later, after its predecessor's last target). Splits read from token shards
 * say so in `first`.
 */
export function continuesChunk(split: EncodedSplit, i: number): boolean {
  if (split.first) return i > 0 && split.first[i] === 0;
  return i > 0 && split.starts[i] === split.starts[i - 1] + split.lengths[i - 1];
}

/**
 * Language models that carry their state from chunk to chunk (train.carryState): B parallel
 * streams, as min-char-rnn and char-rnn read a text. The documents (runs of continuing chunks)
 * are shuffled with Rng(seed, ORDER_STREAM + epoch) (kept in order without shuffle), their chunks
 * concatenated, and the sequence cut into B contiguous streams of ⌈N/B⌉ chunks (the last one
 * shorter); batch k holds the k-th chunk of every stream still running, stream b at row b. So a
 * row's next chunk is the one after its last, and the state it ended in can start the next.
 */
export function streamPlan(split: EncodedSplit, opts: PlanOptions): EpochPlan {
  const B = opts.batchSize, n = split.count;
  if (!Number.isInteger(B) || B < 1) throw new Error(`streamPlan: batchSize must be an integer >= 1, got ${B}`);
  // Two passes over the chunks (count the documents, then note where each starts): typed arrays
  // of one int per document, no per-chunk copy (a corpus of gigabytes has tens of millions of chunks).
  let nd = 0;
  for (let i = 0; i < n; i++) if (!continuesChunk(split, i)) nd++;
  const docStarts = new Int32Array(nd + 1);
  for (let i = 0, d = 0; i < n; i++) if (!continuesChunk(split, i)) docStarts[d++] = i;
  docStarts[nd] = n;
  const docs = new Int32Array(nd);
  for (let d = 0; d < nd; d++) docs[d] = d;
  if (opts.shuffle !== false) new Rng(opts.seed, ORDER_STREAM + opts.epoch).shuffle(docs);
  // The chunks of the shuffled documents, one after another, are the sequence seq; stream b is
  // seq[b·S, (b+1)·S), and batch k holds seq[b·S + k] at row b (rows with b·S + k < n).
  const S = Math.ceil(n / B), rows = Math.ceil(n / Math.max(1, S)); // streams actually used
  const order = orderArray(n, opts.into), batchStarts = new Int32Array(S + 1);
  let at = 0;
  for (let k = 0; k < S; k++) {
    batchStarts[k] = at;
    for (let b = 0; b < rows; b++) if (b * S + k < n) at++;
  }
  batchStarts[S] = at;
  let p = 0;
  for (let j = 0; j < nd; j++) {
    const d = docs[j];
    for (let i = docStarts[d]; i < docStarts[d + 1]; i++, p++) {
      const b = Math.floor(p / S), k = p - b * S;
      order[batchStarts[k] + b] = i;
    }
  }
  return { order, batchStarts };
}

/** Plan options; `into`: write the order there (its first count entries) instead of a new array. */
export interface PlanOptions { batchSize: number; seed: number; epoch: number; shuffle?: boolean; into?: Int32Array }

function copyInto(order: Int32Array, into: Int32Array): Int32Array {
  const o = orderArray(order.length, into);
  o.set(order);
  return o;
}

function orderArray(n: number, into: Int32Array | undefined): Int32Array {
  if (!into) return new Int32Array(n);
  if (into.length < n) throw new Error(`plan: the order array holds ${into.length} ids, the split has ${n}`);
  return into.subarray(0, n);
}

function cuts(n: number, B: number): Int32Array {
  const nb = Math.ceil(n / B);
  const s = new Int32Array(nb + 1);
  for (let k = 0; k < nb; k++) s[k] = k * B;
  s[nb] = n;
  return s;
}

/** Fraction of the token slots of the plan's batches that are padding. */
export function paddingFraction(split: EncodedSplit, plan: EpochPlan): number {
  let slots = 0, real = 0;
  for (let k = 0; k + 1 < plan.batchStarts.length; k++) {
    let T = 0;
    for (let j = plan.batchStarts[k]; j < plan.batchStarts[k + 1]; j++) {
      const l = split.lengths[plan.order[j]];
      real += l;
      if (l > T) T = l;
    }
    slots += T * (plan.batchStarts[k + 1] - plan.batchStarts[k]);
  }
  return slots > 0 ? 1 - real / slots : 0;
}

/** Longest example of a split: the T to allocate batches for (allocBatch(batchSize, longest)). */
export function longestExample(split: EncodedSplit): number {
  let T = 0;
  for (let i = 0; i < split.count; i++) if (split.lengths[i] > T) T = split.lengths[i];
  return T;
}

/**
 * Fill `out` with examples ids[off .. off+n), right-padded with 0 to T = the longest of them, with
 * labels (many-to-one), next-token targets (many-to-many) or each token's tag (tagging; targets
 * 0 on padding). Allocates nothing.
 */
export function fillBatch(split: EncodedSplit, task: Task, ids: Int32Array, off: number, n: number, out: Batch): void {
  let T = 0;
  for (let b = 0; b < n; b++) {
    const l = split.lengths[ids[off + b]];
    if (l > T) T = l;
  }
  if (n > out.lengths.length || n * T > out.tokens.length) {
    throw new Error(`fillBatch: batch of ${n} x ${T} does not fit a Batch allocated for ${out.lengths.length} sequences and ${out.tokens.length} tokens; allocate it with allocBatch(batchSize, longestExample(split))`);
  }
  out.B = n;
  out.T = T;
  const src = split.tokens;
  const m2m = task === 'many-to-many';
  const tags = task === 'tagging' ? split.tags! : null;
  for (let b = 0; b < n; b++) {
    const i = ids[off + b];
    const s = split.starts[i];
    const l = split.lengths[i];
    const row = b * T;
    out.lengths[b] = l;
    out.ids[b] = i;
    for (let t = 0; t < l; t++) out.tokens[row + t] = src[s + t];
    out.tokens.fill(0, row + l, row + T);
    if (m2m) {
      for (let t = 0; t < l; t++) out.targets[row + t] = src[s + t + 1];
      out.targets.fill(0, row + l, row + T);
    } else if (tags) {
      for (let t = 0; t < l; t++) out.targets[row + t] = tags[s + t];
      out.targets.fill(0, row + l, row + T);
    } else {
      out.labels[b] = split.labels[i];
    }
  }
}
