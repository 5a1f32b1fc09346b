// The data layer's public API.
//
// loadDataset(cfg) reads user files (JSON Lines, CSV/TSV, plain text) or a built-in corpus
// (names, spam-assassin, moby-dick), assigns each example to train/val/test by a hash of its key,
// builds the vocabulary from the training split, and encodes every split into flat Int32Arrays on
// SharedArrayBuffers (tokens + starts + lengths + labels). Workers receive those arrays once; a
// batch is then just indices: epochPlan(split, seed, epoch) gives the order, fillBatch copies
// examples into a preallocated Batch. Vocab, labelNames and TokenizerSpec are plain JSON, saved
// with the model so that encodeText (prediction) and decodeTokens (generation) use the same ids;
// loadExamplesWithVocab encodes a new file (evaluation) with such a saved vocabulary.

export type { EncodedSplit, Vocab, TokenizerSpec, Dataset, DataReport, SplitReport, EpochPlan, RowIssue, SplitName, Task } from './types.js';
export { PAD, UNK, BOS, EOS, SPECIALS, SPLIT_NAMES } from './types.js';
export { loadDataset, loadExamplesWithVocab, examplesWithVocab, formatOfExtension, type ExternalFile, type ExternalFileOptions } from './load.js';
export { withDataDefaults, type ResolvedDataConfig } from './defaults.js';
export { encodeText, decodeTokens, tokenize, buildVocab, OovCounter, bpeOfSpec } from './tokenize.js';
export { BpeTrainer, Bpe, bpeOf, bpeProblem, BPE_ALGORITHM, PRETOKEN_PATTERN, BYTE_CHARS } from './bpe.js';
export { epochPlan, streamPlan, continuesChunk, paddingFraction, fillBatch, longestExample, segmentCounts, segment, splitTokens, leadingCounts, local, EpochBatches, ORDER_STREAM, POOL_BATCHES } from './batches.js';
export { formatReport } from './report.js';
export { spamBody, clearCorpusCache } from './corpora.js';
export { hash32, splitOf } from './hash.js';
export { hasSplits, type Example, type Documents, type InMemoryData } from './memory.js';
