// The page's stand-in for src/data/index.ts: the tokenizer and the special tokens only, without
// the data loaders (files, corpora), which need Node. Substituted by the page bundler (../html.ts).

export { PAD, UNK, BOS, EOS, SPECIALS } from '../../data/types.js';
export { encodeText, decodeTokens, tokenize, OovCounter, bpeOfSpec } from '../../data/tokenize.js';
export { Bpe, bpeOf, BYTE_CHARS } from '../../data/bpe.js';
