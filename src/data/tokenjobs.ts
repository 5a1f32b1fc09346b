// The tokenizer's two jobs in prepare (prepare.ts): count the tokens of training text, encode
// text to ids. Worker threads (workers/prepare.ts) and the calling thread run these same
// functions; this module imports only the tokenizer, so a thread starts quickly.

import { encodeInto, IntBuf, keptTokens, vocabLookup } from './tokenize.js';
import type { TokenizerSpec } from './types.js';

/** What an encode task returns: the ids of its texts, concatenated, and per text its stats. */
export interface Encoded {
  tokens: Int32Array;
  lengths: Int32Array;
  unk: Int32Array;
  text: Int32Array;
  truncated: Uint8Array;
}

/** The tokenizer's two jobs on a batch of texts; the worker thread runs these same functions. */
export function tokenizerJobs(tok: TokenizerSpec) {
  const count = keptTokens(tok);
  let lookup: Map<string, number> | null = null;
  const buf = new IntBuf(1 << 16);
  return {
    count(texts: string[]): Map<string, number> {
      const m = new Map<string, number>();
      for (const t of texts) count(t, m);
      return m;
    },
    /** The vocabulary, and the spec to encode with (a tokenizer may have learnt more in pass 1). */
    setVocab(tokens: string[], spec: TokenizerSpec = tok): void {
      lookup = vocabLookup({ tokens });
      tok = spec;
    },
    encode(texts: string[]): Encoded {
      const n = texts.length;
      const r: Encoded = { tokens: new Int32Array(0), lengths: new Int32Array(n), unk: new Int32Array(n), text: new Int32Array(n), truncated: new Uint8Array(n) };
      buf.length = 0;
      for (let i = 0; i < n; i++) {
        if (texts[i] === '') continue; // a row left out (its label is unknown)
        const st = encodeInto(texts[i], tok, lookup!, buf);
        r.lengths[i] = st.length; r.unk[i] = st.unk; r.text[i] = st.textTokens; r.truncated[i] = st.truncated ? 1 : 0;
      }
      r.tokens = buf.data.slice(0, buf.length);
      return r;
    },
  };
}

