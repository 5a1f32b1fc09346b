// The data layer's public API.

export type { EncodedSplit, Vocab, TokenizerSpec, Dataset, DataReport, SplitReport, EpochPlan, RowIssue, SplitName, Task } from './types.js';
export { PAD, UNK, BOS, EOS, SPECIALS, SPLIT_NAMES } from './types.js';
export { loadDataset } from './load.js';
export { withDataDefaults, type ResolvedDataConfig } from './defaults.js';
export { encodeText, decodeTokens, tokenize, buildVocab } from './tokenize.js';
export { epochPlan, paddingFraction, fillBatch, longestExample, ORDER_STREAM, POOL_BATCHES } from './batches.js';
export { formatReport } from './report.js';
export { spamBody, clearCorpusCache } from './corpora.js';
export { hash32, splitOf } from './hash.js';
