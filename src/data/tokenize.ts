// Tokenizers, vocabulary, and the one encoding path used for training data and for new text
// (prediction), so both get identical ids.
//
// Text is first normalized: Unicode NFC, line endings to '\n', then lowercased if asked.
//   char: one token per Unicode code point (whitespace included; a surrogate pair is one token).
//   word: runs of letters/marks/digits, with inner apostrophes kept (don't, O'Brien); every other
//         non-space character is a token of its own, so punctuation is split off; whitespace is dropped.
//   bpe:  byte-level BPE subwords (src/data/bpe.ts), by the merges saved in the TokenizerSpec;
//         every text encodes (no <unk>) and decodes back to itself.

import { BOS, EOS, PAD, SPECIALS, UNK, type TokenizerSpec, type Vocab } from './types.js';
import { bpeOf, type Bpe } from './bpe.js';

export function normalizeText(s: string, lowercase: boolean): string {
  s = s.normalize('NFC').replace(/\r\n?/g, '\n');
  return lowercase ? s.toLowerCase() : s;
}

const WORD_RE = /[\p{L}\p{M}\p{N}]+(?:['\u2019][\p{L}\p{M}\p{N}]+)*|[^\s\p{L}\p{M}\p{N}]/gu;

/** Calls fn for each token of already-normalized text. */
export function forEachToken(text: string, kind: 'char' | 'word', fn: (token: string) => void): void {
  if (kind === 'char') {
    for (const ch of text) fn(ch);
    return;
  }
  WORD_RE.lastIndex = 0;
  for (let m = WORD_RE.exec(text); m !== null; m = WORD_RE.exec(text)) fn(m[0]);
}

/** Tokens of a text as strings (tests, inspection; the training path does not build these arrays). */
export function tokenize(text: string, tok: { kind: 'char' | 'word'; lowercase: boolean }): string[] {
  const out: string[] = [];
  forEachToken(normalizeText(text, tok.lowercase), tok.kind, (t) => out.push(t));
  return out;
}

/**
 * Counts the tokens of new text (prediction inputs, a prompt) that the vocabulary lacks: the
 * model reads each as <unk>, which a user should hear about rather than get quietly worse output.
 */
export class OovCounter {
  tokens = 0;
  unknown = 0;
  /** The first few distinct unknown tokens. */
  readonly examples: string[] = [];
  private readonly lookup: Map<string, number>;

  constructor(vocab: Vocab, private readonly tok: Pick<TokenizerSpec, 'kind' | 'lowercase'>, private readonly maxExamples = 5) {
    this.lookup = vocabLookup(vocab);
  }

  add(text: string): void {
    if (this.tok.kind === 'bpe') return; // bytes: nothing is unknown
    forEachToken(normalizeText(text, this.tok.lowercase), this.tok.kind, (t) => {
      this.tokens++;
      if (this.lookup.has(t)) return;
      this.unknown++;
      if (this.examples.length < this.maxExamples && !this.examples.includes(t)) this.examples.push(t);
    });
  }

  /** A `warning:` line about `what` (e.g. "the input"), or undefined when every token is known. */
  warning(what: string): string | undefined {
    if (this.unknown === 0) return undefined;
    const unit = this.tok.kind === 'char' ? 'character' : 'word';
    const more = this.unknown > this.examples.length ? ', ...' : '';
    return `warning: ${this.unknown} of ${this.tokens} ${unit}s in ${what} are not in the model's vocabulary `
      + `(${this.examples.map((e) => JSON.stringify(e)).join(', ')}${more}); the model reads each as <unk>, so its output is less reliable`;
  }
}

// ---------------------------------------------------------------- vocabulary

/**
 * Specials first (ids 0..3), then the training tokens seen at least minFreq times, most frequent
 * first, ties broken by the token's code units, so the same training data always gives the same ids.
 */
export function buildVocab(counts: Map<string, number>, maxSize: number, minFreq: number): Vocab {
  const kept = [...counts].filter(([, n]) => n >= minFreq);
  kept.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const tokens = [...SPECIALS, ...kept.slice(0, Math.max(0, maxSize - SPECIALS.length)).map(([t]) => t)];
  return { tokens };
}

// token -> id, built once per vocabulary object.
const lookups = new WeakMap<Vocab, Map<string, number>>();

export function vocabLookup(vocab: Vocab): Map<string, number> {
  let m = lookups.get(vocab);
  if (!m) {
    m = new Map();
    // Specials are not looked up from text: '<s>' in a text is characters, not a marker.
    for (let i = SPECIALS.length; i < vocab.tokens.length; i++) m.set(vocab.tokens[i], i);
    lookups.set(vocab, m);
  }
  return m;
}

// ---------------------------------------------------------------- encoding

/** A growable Int32Array: one buffer reused across all examples of a split. */
export class IntBuf {
  data: Int32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Int32Array(capacity);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const d = new Int32Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    this.data[this.length++] = v;
  }
}

export interface EncodeStats {
  /** Tokens in the kept sequence, markers included. */
  length: number;
  /** `<unk>` among the kept text tokens. */
  unk: number;
  /** Text tokens kept (markers excluded). */
  textTokens: number;
  truncated: boolean;
}

/**
 * Appends the ids of the text tokens of `text` to `out` (the same tokens and truncation slicing
 * as the default of encodeInto: prepare's table-driven char and word tokenizers, tokenjobs.ts);
 * `cs` is where this text's tokens start in `out`.
 */
export type TextIds = (text: string, keep: number, out: IntBuf, cs: number) => void;

/**
 * Appends the encoding of `text` to `out`: [<s>] tokens [</s>], cut to tok.maxLength (when > 0)
 * by dropping text tokens at the end (truncate "start": keep the start) or at the beginning
 * (truncate "end"); the markers are always kept. With tok.reverse the kept text tokens are
 * written last-to-first, between the markers.
 */
export function encodeInto(text: string, tok: TokenizerSpec, lookup: Map<string, number>, out: IntBuf, textIds?: TextIds): EncodeStats {
  const start = out.length;
  if (tok.bos) out.push(BOS);
  const cs = start + (tok.bos ? 1 : 0); // text tokens are out.data[cs .. ce)
  const keep = tok.maxLength > 0 ? tok.maxLength - (tok.bos ? 1 : 0) - (tok.eos ? 1 : 0) : Infinity;
  if (textIds) {
    textIds(text, keep, out, cs);
  } else if (tok.kind === 'bpe') {
    bpeOfSpec(tok).encodeKept(normalizeText(text, tok.lowercase), keep, tok.truncate === 'end', (id) => out.push(id));
  } else {
    const push = (t: string) => out.push(lookup.get(t) ?? UNK);
    forEachKeptToken(text, tok, keep, push, () => out.length - cs, () => (out.length = cs));
  }
  let ce = out.length;
  let truncated = false;
  if (ce - cs > keep) {
    if (tok.truncate === 'end') out.data.copyWithin(cs, ce - keep, ce);
    ce = cs + keep;
    out.length = ce;
    truncated = true;
  }
  if (tok.reverse) out.data.subarray(cs, ce).reverse();
  if (tok.eos) out.push(EOS);
  let unk = 0;
  for (let i = cs; i < ce; i++) if (out.data[i] === UNK) unk++;
  return { length: out.length - start, unk, textTokens: ce - cs, truncated };
}

/** Tokens beyond `keep` that a slice must yield, so a token cut by the slice edge is never kept. */
const SLICE_SPARE = 8;

/**
 * Calls fn for the tokens of `text`, or of a slice of it that holds the `keep` tokens truncation
 * keeps (its start or its end): long texts (e-mails with attachments) need not be tokenized whole.
 * A slice starts at 2 code units per char token or 8 per word token; when it yields fewer than
 * keep + SLICE_SPARE tokens, the tokens so far are undone (`undo`) and a 4x larger slice is tried.
 */
export function forEachKeptToken(text: string, tok: TokenizerSpec, keep: number, fn: (t: string) => void, count: () => number, undo: () => void): void {
  if (tok.kind === 'bpe') throw new Error('internal: forEachKeptToken is for char and word tokens; BPE encodes to ids (Bpe.encodeKept)');
  const kind = tok.kind;
  scanKept(text, tok, keep, (norm) => { forEachToken(norm, kind, fn); return count(); }, undo);
}

/**
 * The slicing of forEachKeptToken: `scan` tokenizes a normalized slice (or the whole text) and
 * says how many tokens the text has so far; `undo` forgets them before a larger slice is tried.
 */
export function scanKept(text: string, tok: TokenizerSpec, keep: number, scan: (norm: string) => number, undo: () => void): void {
  let span = Number.isFinite(keep) ? (tok.kind === 'char' ? 2 : 8) * (keep + SLICE_SPARE) + 64 : Infinity;
  for (; span < text.length; span *= 4) {
    const part = tok.truncate === 'end' ? text.slice(text.length - span) : text.slice(0, span);
    if (scan(normalizeText(part, tok.lowercase)) >= keep + SLICE_SPARE) return;
    undo();
  }
  scan(normalizeText(text, tok.lowercase));
}

const NO_MERGES: string[] = [];

/** The BPE of a tokenizer of kind "bpe" (its saved merges). */
export function bpeOfSpec(tok: TokenizerSpec): Bpe {
  return bpeOf(tok.merges ?? NO_MERGES);
}

/**
 * A counter of the tokens of texts, over the part of each that encoding keeps (the same slicing
 * as encodeInto), so the vocabulary holds exactly the tokens training sees.
 */
export function keptTokens(tok: TokenizerSpec): (text: string, counts: Map<string, number>) => void {
  const kind = tok.kind;
  if (kind === 'bpe') return () => { throw new Error('internal: keptTokens counts char and word tokens; a BPE vocabulary comes from BpeTrainer'); };
  const keep = tok.maxLength > 0 ? tok.maxLength - (tok.bos ? 1 : 0) - (tok.eos ? 1 : 0) : Infinity;
  const seq: string[] = [];
  const push = (t: string) => seq.push(t);
  if (!Number.isFinite(keep)) {
    // Nothing cut (language models): count as the tokens come, with no list of a document's tokens.
    return (text, counts) => forEachToken(normalizeText(text, tok.lowercase), kind, (t) => counts.set(t, (counts.get(t) ?? 0) + 1));
  }
  return (text, counts) => {
    seq.length = 0;
    forEachKeptToken(text, tok, keep, push, () => seq.length, () => (seq.length = 0));
    const from = seq.length > keep && tok.truncate === 'end' ? seq.length - keep : 0;
    const to = Math.min(seq.length, from + keep);
    for (let i = from; i < to; i++) counts.set(seq[i], (counts.get(seq[i]) ?? 0) + 1);
  };
}

/**
 * Token ids of a new text, encoded exactly as training examples were (prediction). For a
 * language-model prompt, pass `{ ...tok, eos: false }` so the prompt does not end the document.
 */
export function encodeText(text: string, tok: TokenizerSpec, vocab: Vocab): Int32Array {
  const buf = new IntBuf(Math.max(16, text.length + 2));
  encodeInto(text, tok, tok.kind === 'bpe' ? NO_LOOKUP : vocabLookup(vocab), buf);
  return buf.data.slice(0, buf.length);
}

const NO_LOOKUP = new Map<string, number>();

// No space before closing punctuation, none after opening brackets.
const NO_SPACE_BEFORE = new Set(['.', ',', ';', ':', '!', '?', '%', ')', ']', '}', "'", '\u2019', '\u201d']);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '$', '\u201c', '\u2018']);

/**
 * Text from token ids (language-model generation). `<pad>`, `<s>`, `</s>` are left out; `<unk>`
 * shows as U+FFFD (char) or `<unk>` (word). Word tokens are joined with spaces, except around
 * punctuation; the original spacing is not recoverable. BPE tokens are bytes: their text is exact,
 * and bytes that do not form a whole character (a cut) show as U+FFFD.
 */
export function decodeTokens(ids: ArrayLike<number>, vocab: Vocab, tok: TokenizerSpec): string {
  if (tok.kind === 'bpe') return bpeOfSpec(tok).decode(ids);
  let s = '';
  let prev = '';
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id === PAD || id === BOS || id === EOS) continue;
    const t = id === UNK || id < 0 || id >= vocab.tokens.length ? (tok.kind === 'char' ? '\uFFFD' : '<unk>') : vocab.tokens[id];
    if (tok.kind === 'word' && s.length > 0 && !NO_SPACE_BEFORE.has(t) && !NO_SPACE_AFTER.has(prev)) s += ' ';
    s += t;
    prev = t;
  }
  return s;
}
