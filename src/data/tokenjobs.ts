// The tokenizer's two jobs in prepare (prepare.ts): count the tokens of training text, encode
// text to ids. Worker threads (workers/prepare.ts) and the calling thread run these same
// functions; this module imports only the tokenizer, so a thread starts quickly.
//
// Both give what tokenize.ts's keptTokens and encodeInto give (the same tokens, the same
// truncation slices), without a string per token: char tokens are code points, counted and
// looked up in arrays indexed by the code point; word tokens are found by scan.ts's nextWord and
// counted or looked up in a UnitTable by their code units. Counts stay on the thread across
// tasks (counts() hands them over once at the end of pass 1), so each unique token becomes a
// string once per thread, not once per batch.

import { BpeTrainer } from './bpe.js';
import { codePointAt, nextWord, UnitTable } from './scan.js';
import { encodeInto, IntBuf, normalizeText, scanKept, type TextIds } from './tokenize.js';
import { SPECIALS, UNK, type TokenizerSpec } from './types.js';

/** What an encode task returns: the ids of its texts, concatenated, and per text its stats. */
export interface Encoded {
  tokens: Int32Array;
  lengths: Int32Array;
  unk: Int32Array;
  text: Int32Array;
  truncated: Uint8Array;
}

const CODE_POINTS = 0x110000;
const NO_LOOKUP = new Map<string, number>();

/** The tokenizer's jobs on batches of texts; the worker thread runs these same functions. */
export function tokenizerJobs(tok: TokenizerSpec) {
  const keep = tok.maxLength > 0 ? tok.maxLength - (tok.bos ? 1 : 0) - (tok.eos ? 1 : 0) : Infinity;
  const at = new Int32Array(1);
  const syms = new IntBuf(1 << 16), buf = new IntBuf(1 << 16);
  // Pass 1: counts per code point (char), per entry of `words` (word), or the BPE trainer's.
  let cpCount: Float64Array | null = null;
  let words = new UnitTable(1 << 12), wordCount = new Float64Array(1 << 12);
  let bpe = tok.kind === 'bpe' ? new BpeTrainer() : null;
  // Pass 2: id per code point (char), or per entry of `vocabWords` (word).
  let idOfCp: Int32Array | null = null;
  let vocabWords: UnitTable | null = null, idOfWord = new Int32Array(0);

  /** Appends the symbols of normalized text: code points or ids (char), word entries or ids (word). */
  const symbols = (norm: string, out: IntBuf, encode: boolean) => {
    if (tok.kind === 'char') {
      const map = encode ? idOfCp! : null;
      for (let i = 0; i < norm.length;) {
        const cp = codePointAt(norm, i);
        i += cp >= 0x10000 ? 2 : 1;
        out.push(map ? map[cp] : cp);
      }
      return;
    }
    for (let e = nextWord(norm, 0, at); e >= 0; e = nextWord(norm, e, at)) {
      if (!encode) out.push(words.add(norm, at[0], e));
      else {
        const k = vocabWords!.find(norm, at[0], e);
        out.push(k < 0 ? UNK : idOfWord[k]);
      }
    }
  };
  /** The symbols of the part of `text` that encoding keeps (tokenize.ts's slicing), from out[cs]. */
  const kept = (text: string, out: IntBuf, cs: number, encode: boolean) =>
    scanKept(text, tok, keep, (norm) => { symbols(norm, out, encode); return out.length - cs; }, () => { out.length = cs; });
  const textIds: TextIds = (text, _keep, out, cs) => kept(text, out, cs, true);

  return {
    /** Counts the tokens of training texts (kept on this thread until counts()). */
    count(texts: string[]): void {
      if (bpe) {
        for (const t of texts) bpe.addText(normalizeText(t, tok.lowercase));
        return;
      }
      for (const t of texts) {
        syms.length = 0;
        kept(t, syms, 0, false);
        // The kept tokens, as keptTokens counts them.
        const n = syms.length, from = n > keep && tok.truncate === 'end' ? n - keep : 0, to = Math.min(n, from + keep), d = syms.data;
        if (tok.kind === 'char') {
          cpCount ??= new Float64Array(CODE_POINTS);
          for (let i = from; i < to; i++) cpCount[d[i]]++;
        } else {
          if (words.size > wordCount.length) {
            const c = new Float64Array(2 * words.size);
            c.set(wordCount);
            wordCount = c;
          }
          for (let i = from; i < to; i++) wordCount[d[i]]++;
        }
      }
    },
    /** The tokens counted so far (pre-tokens for BPE) and their counts; the counts start again. */
    counts(): Map<string, number> {
      const m = new Map<string, number>();
      if (bpe) {
        const w = bpe.words;
        bpe = new BpeTrainer();
        return w;
      }
      if (cpCount) {
        for (let cp = 0; cp < CODE_POINTS; cp++) if (cpCount[cp] > 0) m.set(String.fromCodePoint(cp), cpCount[cp]);
        cpCount = null;
      }
      for (let e = 0; e < words.size; e++) if (wordCount[e] > 0) m.set(words.key(e), wordCount[e]);
      words = new UnitTable(1 << 12);
      wordCount = new Float64Array(1 << 12);
      return m;
    },
    /** The vocabulary, and the spec to encode with (a tokenizer may have learnt more in pass 1). */
    setVocab(tokens: string[], spec: TokenizerSpec = tok): void {
      tok = spec;
      // Specials are not looked up from text: '<s>' in a text is characters, not a marker.
      if (tok.kind === 'char') {
        idOfCp = new Int32Array(CODE_POINTS).fill(UNK);
        for (let i = SPECIALS.length; i < tokens.length; i++) {
          const cp = codePointAt(tokens[i], 0);
          if (tokens[i].length === (cp >= 0x10000 ? 2 : 1)) idOfCp[cp] = i;
        }
      } else if (tok.kind === 'word') {
        vocabWords = new UnitTable(tokens.length);
        idOfWord = new Int32Array(tokens.length);
        for (let i = SPECIALS.length; i < tokens.length; i++) idOfWord[vocabWords.add(tokens[i], 0, tokens[i].length)] = i;
      }
    },
    encode(texts: string[]): Encoded {
      const n = texts.length;
      const r: Encoded = { tokens: new Int32Array(0), lengths: new Int32Array(n), unk: new Int32Array(n), text: new Int32Array(n), truncated: new Uint8Array(n) };
      buf.length = 0;
      for (let i = 0; i < n; i++) {
        if (texts[i] === '') continue; // a row left out (its label is unknown)
        const st = encodeInto(texts[i], tok, NO_LOOKUP, buf, tok.kind === 'bpe' ? undefined : textIds);
        r.lengths[i] = st.length; r.unk[i] = st.unk; r.text[i] = st.textTokens; r.truncated[i] = st.truncated ? 1 : 0;
      }
      r.tokens = buf.data.slice(0, buf.length);
      return r;
    },
  };
}
