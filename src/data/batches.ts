// Batches: an epoch's order of examples, and filling a preallocated Batch from it.
//
// Training order, reproducible from (seed, epoch) alone so a resumed run rebuilds it exactly:
//   1. shuffle all example ids with Rng(seed, ORDER_STREAM + epoch);
//   2. cut the shuffled ids into pools of POOL_BATCHES batches and sort each pool by length,
//      longest first (ties keep their shuffled order), so a batch holds similar lengths;
//   3. cut each pool into batches and shuffle the order of the batches.
// Every example is in exactly one batch per epoch. Without shuffle (evaluation) the whole split is
// sorted by length, longest first, ties by id.
//
// A split read from token shards comes in segments, one per shard file (shards.ts): an epoch takes
// them in an order shuffled with Rng(seed, ORDER_STREAM + epoch) and plans each one's examples as
// above with a stream of its own (EpochBatches). One segment (every split that fits in memory, and
// any with one shard file) is planned exactly as the whole split.

import type { Batch } from '../model/batch.js';
import { Rng } from '../util/prng.js';
import { shardWindow } from './shards.js';
import type { EncodedSplit, EpochPlan, Task } from './types.js';

/** Rng stream offset of the data order, away from the small stream numbers other code uses with the same seed. */
export const ORDER_STREAM = 0x0da7a000;

/** Batches per pool: larger pools pad less, smaller pools mix lengths more. */
export const POOL_BATCHES = 50;

/** Example i's entry in the split's per-example arrays (token shards: in its loaded segment). */
export const local = (split: EncodedSplit, i: number): number => (split.base ? i - split.base[0] : i);

/** The split's ids of a plan's local example numbers (token shards: + the segment's first id). */
function toIds(split: EncodedSplit, order: Int32Array): Int32Array {
  const base = split.base ? split.base[0] : 0;
  if (base !== 0) for (let i = 0; i < order.length; i++) order[i] += base;
  return order;
}

/** The Rng of an epoch's order: segment `part` of a split in several has a stream of its own. */
function orderRng(opts: PlanOptions): Rng {
  return new Rng(opts.seed, ORDER_STREAM + opts.epoch + (opts.part === undefined ? 0 : (opts.part + 1) * 0x10000));
}

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
    return { order: toIds(split, opts.into ? copyInto(order, opts.into) : order), batchStarts: cuts(n, B) };
  }

  const rng = orderRng(opts);
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
  return { order: toIds(split, out), batchStarts };
}

/**
 * Whether chunk `i` of a many-to-many split continues chunk i−1 of the same document: chunks of a
 * document are consecutive ids, each starting where the last one's inputs ended (a new document
 * starts one token later, after its predecessor's last target). Splits read from token shards
 * say so in `first`.
 */
export function continuesChunk(split: EncodedSplit, i: number): boolean {
  return continuesLocal(split, local(split, i));
}

/** continuesChunk of entry r of the split's arrays (a segment never starts within a document). */
function continuesLocal(split: EncodedSplit, r: number): boolean {
  if (split.first) return r > 0 && split.first[r] === 0;
  return r > 0 && split.starts[r] === split.starts[r - 1] + split.lengths[r - 1];
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
  for (let i = 0; i < n; i++) if (!continuesLocal(split, i)) nd++;
  const docStarts = new Int32Array(nd + 1);
  for (let i = 0, d = 0; i < n; i++) if (!continuesLocal(split, i)) docStarts[d++] = i;
  docStarts[nd] = n;
  const docs = new Int32Array(nd);
  for (let d = 0; d < nd; d++) docs[d] = d;
  if (opts.shuffle !== false) orderRng(opts).shuffle(docs);
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
  return { order: toIds(split, order), batchStarts };
}

/**
 * Plan options; `into`: write the order there (its first count entries) instead of a new array;
 * `part`: the segment's place in its split's segments when there are several (its own Rng stream).
 */
export interface PlanOptions { batchSize: number; seed: number; epoch: number; shuffle?: boolean; into?: Int32Array; part?: number }

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

/** Examples per segment of a split: one per shard file from token shards; an in-memory split is one. */
export function segmentCounts(split: EncodedSplit): number[] {
  const w = shardWindow(split);
  return w ? w.segments.map((g) => g.count) : [split.count];
}

/** Segment j of a split, loaded (token shards), as a split of its examples only: what a plan is made of. */
export function segment(split: EncodedSplit, j: number): EncodedSplit {
  const w = shardWindow(split);
  if (w) return w.select(j);
  if (j !== 0) throw new Error(`segment: an in-memory split has one segment, not ${j + 1}`);
  return split;
}

/** Tokens of all of a split's example inputs. */
export function splitTokens(split: EncodedSplit): number {
  const w = shardWindow(split);
  if (w) return w.segments.reduce((a, g) => a + g.tokens, 0);
  let sum = 0;
  for (let i = 0; i < split.count; i++) sum += split.lengths[i];
  return sum;
}

/**
 * The first examples of a split, whole, holding at most `tokens` tokens (at least one example; all
 * of them for 0): how many of each segment (segmentCounts when all fit), and their tokens.
 */
export function leadingCounts(split: EncodedSplit, tokens: number): { counts: number[]; tokens: number } {
  const all = segmentCounts(split), w = shardWindow(split);
  if (!(tokens > 0)) return { counts: all, tokens: splitTokens(split) };
  const counts = all.map(() => 0);
  let sum = 0, taken = 0;
  for (let j = 0; j < all.length; j++) {
    const whole = w ? w.segments[j].tokens : Infinity;
    if (sum + whole <= tokens) { counts[j] = all[j]; sum += whole; taken += all[j]; continue; }
    const seg = segment(split, j);
    let n = 0;
    while (n < seg.count && sum + seg.lengths[n] <= tokens) sum += seg.lengths[n++];
    if (n === 0 && taken === 0 && seg.count > 0) sum += seg.lengths[n++]; // at least one example
    counts[j] = n;
    if (n < seg.count) break;
    taken += n;
  }
  return { counts, tokens: sum };
}

/**
 * An epoch's batches over a split's segments: the segments in an order shuffled with
 * Rng(seed, ORDER_STREAM + epoch) when there are several (kept in order without shuffle), each
 * planned on its own by `planOf` (PlanOptions.part: its place) into `opts.into`. Batch k of the
 * epoch is a batch of the plan of the segment holding it; at(k) loads and plans that segment when
 * it is not the current one, so a resumed run needs (seed, epoch, k) only. One segment: the plan
 * of the whole split, as before.
 */
export class EpochBatches {
  /** Batches of the whole epoch. */
  readonly batches: number;
  /** Segment ids in epoch order, and the epoch's first batch of each (and the total). */
  private readonly order: Int32Array;
  private readonly firstBatch: Float64Array;
  private pos = -1;
  private plan: EpochPlan | null = null;

  constructor(private readonly split: EncodedSplit, private readonly planOf: (split: EncodedSplit, opts: PlanOptions) => EpochPlan, private readonly opts: PlanOptions) {
    const counts = segmentCounts(split);
    this.order = new Int32Array(counts.length);
    for (let j = 0; j < counts.length; j++) this.order[j] = j;
    if (counts.length > 1 && opts.shuffle !== false) new Rng(opts.seed, ORDER_STREAM + opts.epoch).shuffle(this.order);
    this.firstBatch = new Float64Array(counts.length + 1);
    for (let p = 0; p < counts.length; p++) this.firstBatch[p + 1] = this.firstBatch[p] + Math.ceil(counts[this.order[p]] / opts.batchSize);
    this.batches = this.firstBatch[counts.length];
  }

  /** Segments in the epoch. */
  get segments(): number {
    return this.order.length;
  }

  /** The plan holding epoch batch k, k's batch in it, and whether it was planned by this call (the order array was rewritten). */
  at(k: number): { plan: EpochPlan; k: number; fresh: boolean } {
    if (!(k >= 0 && k < this.batches)) throw new Error(`EpochBatches: batch ${k} of ${this.batches}`);
    let p = this.pos, fresh = false;
    if (p < 0 || k < this.firstBatch[p] || k >= this.firstBatch[p + 1]) {
      p = 0;
      while (k >= this.firstBatch[p + 1]) p++;
      this.plan = this.planned(p);
      this.pos = p;
      fresh = true;
    } else shardWindow(this.split)?.loadSegment(this.order[p]); // loaded again if something else loaded another segment (no view allocated per step)
    return { plan: this.plan!, k: k - this.firstBatch[p], fresh };
  }

  /** The plan of the p-th segment of the epoch. */
  planned(p: number): EpochPlan {
    const seg = segment(this.split, this.order[p]);
    const plan = this.planOf(seg, this.order.length > 1 ? { ...this.opts, part: this.order[p] } : this.opts);
    if (plan.batchStarts.length - 1 !== this.firstBatch[p + 1] - this.firstBatch[p]) throw new Error('EpochBatches: a segment planned into another number of batches');
    this.pos = p;
    this.plan = plan;
    return plan;
  }
}

/** Fraction of the token slots of the plan's batches that are padding. */
export function paddingFraction(split: EncodedSplit, plan: EpochPlan): number {
  let slots = 0, real = 0;
  for (let k = 0; k + 1 < plan.batchStarts.length; k++) {
    let T = 0;
    for (let j = plan.batchStarts[k]; j < plan.batchStarts[k + 1]; j++) {
      const l = split.lengths[local(split, plan.order[j])];
      real += l;
      if (l > T) T = l;
    }
    slots += T * (plan.batchStarts[k + 1] - plan.batchStarts[k]);
  }
  return slots > 0 ? 1 - real / slots : 0;
}

/** Longest example of a split: the T to allocate batches for (allocBatch(batchSize, longest)). */
export function longestExample(split: EncodedSplit): number {
  const w = shardWindow(split);
  if (w) return w.longest;
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
    const l = split.lengths[local(split, ids[off + b])];
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
    const i = ids[off + b], r = local(split, i);
    const s = split.starts[r];
    const l = split.lengths[r];
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
      out.labels[b] = split.labels[r];
    }
  }
}
