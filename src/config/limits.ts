// Sizes the config's rules check and the code below it obeys: one home, below src/data (bpe.ts).

/** A BPE vocabulary's first merge id: after the 4 special tokens and the 256 bytes (the smallest vocabulary). */
export const FIRST_MERGE = 4 + 256;
/** The largest BPE vocabulary. */
export const MAX_BPE_VOCAB = 1 << 22;
