// Types of the data layer. An encoded corpus is a few flat Int32Arrays on SharedArrayBuffers;
// everything else here (vocabulary, label names, tokenizer spec, report) is plain JSON, so it can
// be saved with the model and used again by evaluation, prediction and resume.

export type SplitName = 'train' | 'val' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'val', 'test'];

/** many-to-one: a label per sequence; many-to-many: language modelling; tagging: a tag per input token. */
export type Task = 'many-to-one' | 'many-to-many' | 'tagging';

/** One split. All arrays are views on SharedArrayBuffers, readable by worker threads without copies. */
export interface EncodedSplit {
  name: SplitName;
  /** Number of examples. */
  count: number;
  /** All token ids of the split, concatenated. */
  tokens: Int32Array;
  /** [count] example i's input is tokens[starts[i] .. starts[i]+lengths[i]). */
  starts: Int32Array;
  /** [count] input length in tokens, >= 1. */
  lengths: Int32Array;
  /** [count] class id (many-to-one); length 0 for many-to-many. */
  labels: Int32Array;
  /** Tagging: the tag id of every token, aligned with `tokens` (example i's tags are tags[starts[i] ..+lengths[i])). */
  tags?: Int32Array;
  /**
   * [count] many-to-many read from token shards: 1 where chunk i starts a document. Their `tokens`
   * is a window that holds one batch at a time (see shards.ts), so `starts` cannot tell.
   */
  first?: Uint8Array;
  /**
   * [1] Read from token shards: the split's examples come a segment (a shard file's) at a time, and
   * starts, lengths, labels and first hold the loaded segment's; example i is their entry i − base[0].
   */
  base?: Int32Array;
}
// Many-to-many: example i is a chunk of a document's token stream; its targets are
// tokens[starts[i]+1 .. starts[i]+lengths[i]+1), so the stream holds that one extra token. Chunks
// never cross a document boundary (a chapter of Moby Dick, a row, a paragraph of a text file).

/** id -> token. Ids 0..3 are always '<pad>', '<unk>', '<s>', '</s>'. */
export interface Vocab {
  tokens: string[];
}

export const PAD = 0;
export const UNK = 1;
export const BOS = 2;
export const EOS = 3;
export const SPECIALS = ['<pad>', '<unk>', '<s>', '</s>'];

/** All that is needed to encode new text exactly as the training data was encoded. */
export interface TokenizerSpec {
  kind: 'char' | 'word' | 'bpe';
  lowercase: boolean;
  /** `<s>` before each sequence (many-to-one) or each document's stream (many-to-many). */
  bos: boolean;
  /** `</s>` after each sequence or stream. */
  eos: boolean;
  /** Longest encoded sequence, `<s>`/`</s>` included; 0 = no limit (many-to-many streams are chunked, not truncated). */
  maxLength: number;
  /** Which part of a long sequence is kept. */
  truncate: 'start' | 'end';
  /** Kept text tokens are fed last-to-first (many-to-one); absent in older checkpoints = false. */
  reverse?: boolean;
  /**
   * kind "bpe": the merges in rank order, as GPT-2's merges.txt lines ("left right", the two
   * tokens' vocabulary strings); merge k makes token id 260 + k (src/data/bpe.ts).
   */
  merges?: string[];
}

/** A row that was skipped (skipInvalid) or dropped (built-in corpora), with where and why. */
export interface RowIssue {
  file: string;
  line: number;
  reason: string;
}

export interface SplitReport {
  /** Examples: sequences (many-to-one) or chunks (many-to-many). */
  examples: number;
  /** Documents the chunks came from (many-to-many). */
  documents?: number;
  /** Tokens of all example inputs (padding excluded). */
  tokens: number;
  /** Fraction of text tokens encoded as `<unk>` (`<s>`, `</s>` not counted). */
  oovRate: number;
  /** Label -> count (many-to-one); tag -> tokens (tagging). */
  labels?: Record<string, number>;
  /** Sequences cut to maxLength (many-to-one). */
  truncated?: number;
  minLength: number;
  maxLength: number;
  meanLength: number;
}

export interface DataReport {
  source: string;
  task: Task;
  /** Where the examples came from (files, or the built-in package). */
  inputs: string[];
  /** Fraction of examples used (data.sample). */
  sample: number;
  /** How each example was assigned to a split. */
  splitBy: string;
  splits: Record<SplitName, SplitReport>;
  vocabSize: number;
  labelNames: string[];
  /** Invalid rows skipped because of data.skipInvalid: how many, and the first few. */
  skipped: { count: number; first: RowIssue[] };
  /** Rows dropped on purpose, by reason (e.g. names in both lists), with a count and a few examples. */
  dropped: { reason: string; count: number; examples: string[] }[];
  /** Examples whose split key equals another's; they are kept, and land in the same split. */
  duplicates: { count: number; note: string };
  /** Bytes of the typed arrays of all splits. */
  bytes: number;
  /** Milliseconds spent reading the source, and encoding. */
  ms: { read: number; encode: number };
}

export interface Dataset {
  task: Task;
  vocab: Vocab;
  /** class id -> label (many-to-one), tag id -> tag (tagging); empty for many-to-many. */
  labelNames: string[];
  tokenizer: TokenizerSpec;
  splits: Record<SplitName, EncodedSplit>;
  report: DataReport;
  /** Identity of the encoded data for resume checks, when it is not read from the arrays (token shards). */
  fingerprint?: string;
}

/** One epoch's plan. Batch k is order[batchStarts[k] .. batchStarts[k+1]), sorted by length descending. */
export interface EpochPlan {
  order: Int32Array;
  /** [batches + 1]; the last entry is order.length. */
  batchStarts: Int32Array;
}
