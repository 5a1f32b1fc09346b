// Byte-level BPE, the GPT-2 family's subword tokenizer (Sennrich et al. 2016; Radford et al. 2019).
//
// Text (normalized first: normalizeText) is cut into pre-tokens by GPT-2's pattern
// (PRETOKEN_PATTERN): the contractions 's 't 're 've 'm 'll 'd, runs of letters, of digits, of
// other non-space characters, each with one leading space attached, and whitespace runs. A
// pre-token is taken as its UTF-8 bytes, and the base vocabulary is the 256 bytes, so every text
// encodes and <unk> is never produced. Training learns merges: again and again the most frequent
// adjacent pair of symbols, over all pre-tokens weighted by their counts, becomes a new symbol.
// Encoding a pre-token applies the merges by rank (the one learned first, first).
//
// Ids: 0..3 the specials, 4 + b the byte b, 260 + k the k-th merge. A token's vocabulary string is
// its bytes through GPT-2's byte-to-unicode map (printable and lossless: the printable Latin-1
// bytes stand for themselves, the others are shifted to U+0100..U+0143), and merge k is written as
// GPT-2's merges.txt writes it: "left right" (a mapped string never holds a space: 0x20 is 'Ġ').
//
// A lone UTF-16 surrogate (training data refuses them: src/util/text.ts, but a prompt may hold one)
// is encoded as TextEncoder encodes it, as U+FFFD. Decoding ids that cut a multi-byte character
// (generation can end anywhere) gives U+FFFD for the cut bytes; it never throws.

import { SPECIALS, PAD, UNK, BOS, EOS } from './types.js';
import { pretokenEnd, UnitTable } from './scan.js';
import { FIRST_MERGE, MAX_BPE_VOCAB } from '../config/limits.js';

/** Id of byte 0. */
export const BYTE_BASE = SPECIALS.length;
// The id of the first merge and the largest vocabulary, which the config's rules check (src/config/limits.ts).
export { FIRST_MERGE, MAX_BPE_VOCAB };
if (FIRST_MERGE !== BYTE_BASE + 256) throw new Error('bpe.ts: FIRST_MERGE must follow the special tokens and the 256 bytes');

// JavaScript's \s spelled out, so that engines whose \s differs (Python's) split the same.
const WS = '\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
/** GPT-2's pre-tokenizer pattern (Unicode property classes; JavaScript `u` flag, Python `regex`). */
export const PRETOKEN_PATTERN = `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`;

/** How to encode and decode with saved merges, for another runtime (the ONNX metadata). */
export const BPE_ALGORITHM = [
  'Byte-level BPE (GPT-2\'s scheme), applied to the normalized text.',
  'Pre-tokens: every match of bpe_pattern, in order (Unicode property classes; JavaScript `u` flag or Python `regex`).',
  'Symbols of a pre-token: its UTF-8 bytes, byte b as token id 4 + b (a lone UTF-16 surrogate is encoded as U+FFFD, bytes EF BF BD).',
  'Merges: bpe_merges[k] is "left right", two vocabulary strings; it joins adjacent symbols id(left), id(right) into id 260 + k (its rank is k).',
  'Encoding a pre-token: while some adjacent pair of symbols is a merge, take the merge of lowest rank among them and replace each of its occurrences, scanning left to right without overlap, by its id. The remaining symbols are the token ids; no id is ever <unk>.',
  'Vocabulary strings: token id i >= 4 is its bytes, each written as the character bpe_byte_map[b] (GPT-2\'s bytes_to_unicode), so vocab[4 + b] = bpe_byte_map[b] and vocab[260 + k] = left + right of merge k.',
  'Decoding: concatenate the tokens\' bytes (each character of vocab[id] through bpe_byte_map inverted), leave out <pad>, <s>, </s>, and read the bytes as UTF-8; <unk> and invalid or cut sequences read as U+FFFD.',
].join('\n');

/** GPT-2's byte-to-unicode map: BYTE_CHARS[b] stands for byte b in vocabulary strings and merges. */
export const BYTE_CHARS: readonly string[] = (() => {
  const chars: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars.push(String.fromCharCode(printable ? b : 256 + n++));
  }
  return chars;
})();

/**
 * Counts the pre-tokens of a stream of text, then learns the merges (finish). Memory grows with
 * the unique pre-tokens, not with the text. `add(chunk)` takes normalized text; the chunks of one
 * text (a row, a document) may be cut anywhere, since the pre-tokens near a chunk's end wait for
 * the next chunk; `end()` closes the text. (A stream normalized chunk by chunk equals the text
 * normalized whole when the cuts are at line ends.)
 */
export class BpeTrainer {
  /** Pre-tokens (entries in order of first sight) and their counts. */
  private readonly table = new UnitTable(1 << 12);
  private counts = new Float64Array(1 << 12);
  private tail = '';

  /** Pre-token -> count, in order of first sight. */
  get words(): Map<string, number> {
    const m = new Map<string, number>();
    for (let e = 0; e < this.table.size; e++) m.set(this.table.key(e), this.counts[e]);
    return m;
  }

  /** Unique pre-tokens so far. */
  get size(): number {
    return this.table.size;
  }

  add(chunk: string): void {
    const s = this.tail + chunk;
    let held = s.length;
    for (let p = 0; p < s.length;) {
      const q = pretokenEnd(s, p);
      // A match is final when the text goes on past what decided it: the character after its
      // end (where a run stops; \s+(?!\S) looks one further) and 3 from its start ('re, 'll, 've).
      if (q + 2 > s.length || p + 3 > s.length) {
        held = p;
        break;
      }
      this.count(s, p, q);
      p = q;
    }
    this.tail = s.slice(held);
  }

  /** Ends the current text: its last pre-tokens are counted. */
  end(): void {
    const s = this.tail;
    this.tail = '';
    for (let p = 0; p < s.length;) {
      const q = pretokenEnd(s, p);
      this.count(s, p, q);
      p = q;
    }
  }

  /** A whole text (add, then end). */
  addText(text: string): void {
    this.add(text);
    this.end();
  }

  /** Adds another trainer's counts (prepare's threads each count a part of the text). */
  addCounts(words: Map<string, number>): void {
    for (const [w, n] of words) this.count(w, 0, w.length, n);
  }

  private count(s: string, a: number, b: number, n = 1): void {
    const e = this.table.add(s, a, b);
    if (e === this.counts.length) {
      const c = new Float64Array(2 * e);
      c.set(this.counts);
      this.counts = c;
    }
    this.counts[e] += n;
  }

  /**
   * Ends the open text and learns up to vocabSize - 260 merges (vocabSize counts the 4 specials
   * and the 256 bytes); a pair is merged only if it occurs at least max(2, minFreq) times.
   */
  finish(vocabSize: number, minFreq = 1): Bpe {
    this.end();
    if (!(Number.isInteger(vocabSize) && vocabSize >= FIRST_MERGE && vocabSize <= MAX_BPE_VOCAB)) {
      throw new RangeError(`BPE vocabulary size must be an integer in [${FIRST_MERGE}, ${MAX_BPE_VOCAB}] (4 special tokens and 256 bytes at least), got ${vocabSize}`);
    }
    return new Bpe(learnMerges(this.words, vocabSize - FIRST_MERGE, Math.max(2, minFreq)));
  }
}

/**
 * (a, b) -> a value >= 0, for ids a, b >= 0: open addressing with linear probing over Int32Arrays,
 * so a lookup boxes no key (a Map keyed by a · 2^22 + b allocates a heap number per lookup).
 */
export class PairMap {
  size = 0;
  private mask = 0;
  private ka = new Int32Array(0);
  private kb = new Int32Array(0);
  private val = new Int32Array(0);

  constructor(capacity = 1024) {
    let n = 16;
    while (n < 2 * capacity) n *= 2;
    this.alloc(n);
  }

  private alloc(n: number): void {
    this.mask = n - 1;
    this.ka = new Int32Array(n).fill(-1);
    this.kb = new Int32Array(n);
    this.val = new Int32Array(n);
  }

  private slot(a: number, b: number): number {
    let h = Math.imul(a ^ Math.imul(b, 0x85ebca6b), 0x9e3779b1);
    h ^= h >>> 15;
    let i = h & this.mask;
    while (this.ka[i] !== -1 && (this.ka[i] !== a || this.kb[i] !== b)) i = (i + 1) & this.mask;
    return i;
  }

  /** The value of (a, b), or -1. */
  get(a: number, b: number): number {
    const i = this.slot(a, b);
    return this.ka[i] === -1 ? -1 : this.val[i];
  }

  set(a: number, b: number, v: number): void {
    let i = this.slot(a, b);
    if (this.ka[i] === -1) {
      if (2 * (this.size + 1) > this.mask + 1) {
        const { ka, kb, val } = this;
        this.alloc(2 * (this.mask + 1));
        for (let j = 0; j < ka.length; j++) if (ka[j] !== -1) { const k = this.slot(ka[j], kb[j]); this.ka[k] = ka[j]; this.kb[k] = kb[j]; this.val[k] = val[j]; }
        i = this.slot(a, b);
      }
      this.ka[i] = a;
      this.kb[i] = b;
      this.size++;
    }
    this.val[i] = v;
  }
}

/** A growable array of pairs: pa[p], pb[p] the symbols, pc[p] the count over all words, where[p] words it may occur in. */
class Pairs {
  n = 0;
  pa = new Int32Array(1 << 12);
  pb = new Int32Array(1 << 12);
  pc = new Float64Array(1 << 12);
  where: number[][] = [];
  private readonly id = new PairMap(1 << 16);

  of(a: number, b: number): number {
    let p = this.id.get(a, b);
    if (p >= 0) return p;
    p = this.n++;
    if (p === this.pa.length) {
      const grow = <T extends Int32Array | Float64Array>(x: T): T => {
        const y = new (x.constructor as new (n: number) => T)(x.length * 2);
        y.set(x);
        return y;
      };
      this.pa = grow(this.pa); this.pb = grow(this.pb); this.pc = grow(this.pc);
    }
    this.pa[p] = a; this.pb[p] = b; this.pc[p] = 0;
    this.where.push([]);
    this.id.set(a, b, p);
    return p;
  }

  /** Adds `c` occurrences of (a, b) in word w. */
  add(a: number, b: number, c: number, w: number): number {
    const p = this.of(a, b);
    this.pc[p] += c;
    const ws = this.where[p];
    if (ws.length === 0 || ws[ws.length - 1] !== w) ws.push(w);
    return p;
  }
}

/** Lexicographic order of byte strings (a JavaScript loop: ties are frequent and the strings short, so a native call would cost more). */
function compareBytes(x: Uint8Array, y: Uint8Array): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * The merges (flat pairs of ids) of the words and their counts: a pair count table updated only
 * in the words where a merge applies (pair -> the words it occurs in), and a max-heap of pairs
 * with lazy deletion (counts of old pairs only fall; an entry whose count is stale is put back
 * with the current count when it reaches the top). Ties: the higher count first, then the left
 * symbol's bytes, then the right symbol's, lexicographically smallest first. A pair whose bytes
 * another merge already made is skipped, so every token's string is unique.
 */
function learnMerges(words: Map<string, number>, maxMerges: number, minCount: number): Int32Array {
  const nw = words.size;
  const start = new Int32Array(nw), len = new Int32Array(nw), wc = new Float64Array(nw);
  let total = 0;
  for (const w of words.keys()) total += Buffer.byteLength(w, 'utf8');
  const sym = new Int32Array(total);
  const enc = new TextEncoder();
  let scratch = new Uint8Array(1024);
  let w = 0, at = 0;
  for (const [word, count] of words) {
    if (word.length * 3 > scratch.length) scratch = new Uint8Array(word.length * 3);
    const n = enc.encodeInto(word, scratch).written;
    for (let i = 0; i < n; i++) sym[at + i] = BYTE_BASE + scratch[i];
    start[w] = at; len[w] = n; wc[w] = count;
    at += n;
    w++;
  }

  const tok: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) tok[BYTE_BASE + b] = Uint8Array.of(b);
  const P = new Pairs();
  for (let w = 0; w < nw; w++) {
    for (let i = start[w]; i < start[w] + len[w] - 1; i++) P.add(sym[i], sym[i + 1], wc[w], w);
  }

  // ---- the heap of (pair, count when pushed)
  let hp = new Int32Array(Math.max(16, P.n)), hc = new Float64Array(hp.length), hn = 0;
  const before = (p: number, c: number, q: number, d: number): boolean => {
    if (c !== d) return c > d;
    const x = compareBytes(tok[P.pa[p]], tok[P.pa[q]]);
    return x !== 0 ? x < 0 : compareBytes(tok[P.pb[p]], tok[P.pb[q]]) < 0;
  };
  const push = (p: number, c: number) => {
    if (hn === hp.length) {
      const np = new Int32Array(hn * 2), nc = new Float64Array(hn * 2);
      np.set(hp); nc.set(hc); hp = np; hc = nc;
    }
    let i = hn++;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!before(p, c, hp[up], hc[up])) break;
      hp[i] = hp[up]; hc[i] = hc[up];
      i = up;
    }
    hp[i] = p; hc[i] = c;
  };
  const pop = () => {
    const p = hp[--hn], c = hc[hn];
    let i = 0;
    for (;;) {
      let j = 2 * i + 1;
      if (j >= hn) break;
      if (j + 1 < hn && before(hp[j + 1], hc[j + 1], hp[j], hc[j])) j++;
      if (!before(hp[j], hc[j], p, c)) break;
      hp[i] = hp[j]; hc[i] = hc[j];
      i = j;
    }
    hp[i] = p; hc[i] = c;
  };
  for (let p = 0; p < P.n; p++) if (P.pc[p] >= minCount) push(p, P.pc[p]);

  const merges = new Int32Array(2 * maxMerges);
  const seenWord = new Int32Array(nw); // stamp: word already merged for this merge
  let seenPair = new Int32Array(P.pa.length); // stamp: new pair already listed for the heap
  const fresh: number[] = [];
  const made = new Set<string>(); // the bytes of every merge made, as latin1 strings
  let k = 0;
  while (k < maxMerges && hn > 0) {
    const p = hp[0], c = hc[0];
    pop();
    if (c !== P.pc[p]) {
      if (P.pc[p] >= minCount) push(p, P.pc[p]);
      continue;
    }
    const a = P.pa[p], b = P.pb[p], z = FIRST_MERGE + k, stamp = k + 1;
    const joined = Buffer.concat([tok[a], tok[b]]);
    if (made.has(joined.toString('latin1'))) {
      // Another pair already made these bytes (rare): no second token with the same string.
      P.pc[p] = -1;
      continue;
    }
    made.add(joined.toString('latin1'));
    merges[2 * k] = a; merges[2 * k + 1] = b;
    tok[z] = joined;
    k++;
    fresh.length = 0;
    const note = (q: number) => {
      if (q >= seenPair.length) {
        const s = new Int32Array(P.pa.length);
        s.set(seenPair);
        seenPair = s;
      }
      if (seenPair[q] !== stamp) { seenPair[q] = stamp; fresh.push(q); }
    };
    for (const w of P.where[p]) {
      if (seenWord[w] === stamp) continue;
      seenWord[w] = stamp;
      const s = start[w], e = s + len[w], c = wc[w];
      let o = s;
      for (let r = s; r < e;) {
        if (r + 1 < e && sym[r] === a && sym[r + 1] === b) {
          // The neighbours' pairs: (x, a) becomes (x, z), (b, y) becomes (z, y). The left
          // neighbour is the symbol written last (it may be a z of this same word).
          if (o > s) {
            const x = sym[o - 1];
            if (!(x === a && a === b)) P.pc[P.of(x, a)] -= c;
            note(P.add(x, z, c, w));
          }
          if (r + 2 < e) {
            const y = sym[r + 2];
            if (!(b === a && y === b)) P.pc[P.of(b, y)] -= c;
            note(P.add(z, y, c, w));
          }
          sym[o++] = z;
          r += 2;
        } else {
          sym[o++] = sym[r++];
        }
      }
      len[w] = o - s;
    }
    P.pc[p] = 0; // every occurrence is merged or gone
    P.where[p] = [];
    for (const q of fresh) if (P.pc[q] >= minCount) push(q, P.pc[q]);
  }
  return merges.slice(0, 2 * k);
}

/** Pre-tokens cached (a few tens of MB at most). */
const CACHE_MAX = 1 << 19;

/** A trained (or loaded) byte-level BPE: encodes normalized text to ids and decodes ids to text. */
export class Bpe {
  /** Number of merges; the vocabulary has FIRST_MERGE + size ids. */
  readonly size: number;
  /** The bytes of every id (specials: none). */
  private readonly tokBytes: Uint8Array[];
  private readonly rank: PairMap;
  /** Pre-token -> its ids (encodeSpan). */
  private readonly cache = new UnitTable(1 << 12);
  private cacheAt = new Int32Array(1 << 12);
  private cacheLen = new Int32Array(1 << 12);
  private arena = new Int32Array(1 << 16);
  private used = 0;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder('utf-8', { ignoreBOM: true }); // not fatal: a cut character is U+FFFD
  private bytes = new Uint8Array(1024);
  private syms = new Int32Array(1024);
  private starts = new Int32Array(1024);

  /** `merges`: flat pairs of ids, merge k = (merges[2k], merges[2k+1]) -> id 260 + k. */
  constructor(readonly merges: Int32Array) {
    this.size = merges.length >> 1;
    this.rank = new PairMap(this.size);
    this.tokBytes = SPECIALS.map(() => new Uint8Array(0));
    for (let b = 0; b < 256; b++) this.tokBytes.push(Uint8Array.of(b));
    for (let k = 0; k < this.size; k++) {
      const a = merges[2 * k], b = merges[2 * k + 1];
      if (!(a >= BYTE_BASE && b >= BYTE_BASE && a < FIRST_MERGE + k && b < FIRST_MERGE + k)) throw new RangeError(`BPE merge ${k} joins ids ${a} and ${b}, not both earlier tokens`);
      this.tokBytes.push(Buffer.concat([this.tokBytes[a], this.tokBytes[b]]));
      this.rank.set(a, b, k);
    }
  }

  /** Vocabulary size: specials, bytes and merges. */
  get vocabSize(): number {
    return FIRST_MERGE + this.size;
  }

  /** id -> its printable string (specials as themselves, bytes through BYTE_CHARS). */
  vocab(): string[] {
    return this.tokBytes.map((bs, id) => (id < BYTE_BASE ? SPECIALS[id] : Array.from(bs, (b) => BYTE_CHARS[b]).join('')));
  }

  /** The merges as GPT-2's merges.txt lines: "left right", in rank order. */
  mergeStrings(): string[] {
    const v = this.vocab(), out: string[] = [];
    for (let k = 0; k < this.size; k++) out.push(`${v[this.merges[2 * k]]} ${v[this.merges[2 * k + 1]]}`);
    loaded.set(out, this); // bpeOf(these lines) is this
    return out;
  }

  /** Ids of one pre-token (cached). The returned array must not be changed. */
  encodeWord(w: string): Int32Array {
    const e = this.encodeSpan(w, 0, w.length), at = this.cacheAt[e];
    return this.arena.subarray(at, at + this.cacheLen[e]);
  }

  /**
   * The cache entry of the pre-token s[a, b): its ids are arena[cacheAt[e] ...] (cacheLen[e] of
   * them). A full cache starts over, in a new arena (views of the old one stay valid).
   */
  private encodeSpan(str: string, a: number, b: number): number {
    const hit = this.cache.find(str, a, b);
    if (hit >= 0) return hit;
    const w = str.slice(a, b);
    if (w.length * 3 > this.bytes.length) {
      this.bytes = new Uint8Array(w.length * 3);
      this.syms = new Int32Array(w.length * 3);
    }
    const s = this.syms;
    let n = this.enc.encodeInto(w, this.bytes).written;
    for (let i = 0; i < n; i++) s[i] = BYTE_BASE + this.bytes[i];
    // The lowest-ranked pair present, merged wherever it occurs, until no pair is a merge.
    while (n > 1) {
      let best = this.size;
      for (let i = 0; i + 1 < n; i++) {
        const r = this.rank.get(s[i], s[i + 1]);
        if (r >= 0 && r < best) best = r;
      }
      if (best === this.size) break;
      const x = this.merges[2 * best], y = this.merges[2 * best + 1], z = FIRST_MERGE + best;
      let o = 0;
      for (let i = 0; i < n;) {
        if (i + 1 < n && s[i] === x && s[i + 1] === y) { s[o++] = z; i += 2; } else s[o++] = s[i++];
      }
      n = o;
    }
    if (this.cache.size >= CACHE_MAX || this.used + n > this.arena.length) {
      this.cache.clear();
      this.used = 0;
      this.arena = new Int32Array(Math.max(this.arena.length, n));
    }
    const e = this.cache.add(str, a, b);
    if (e === this.cacheAt.length) {
      const grow = (x: Int32Array) => { const y = new Int32Array(2 * x.length); y.set(x); return y; };
      this.cacheAt = grow(this.cacheAt); this.cacheLen = grow(this.cacheLen);
    }
    this.arena.set(s.subarray(0, n), this.used);
    this.cacheAt[e] = this.used; this.cacheLen[e] = n;
    this.used += n;
    return e;
  }

  /** Calls fn with the pre-tokens of normalized text, in order. */
  forEachPretoken(text: string, fn: (w: string) => void): void {
    for (let p = 0; p < text.length;) {
      const q = pretokenEnd(text, p);
      fn(text.slice(p, q));
      p = q;
    }
  }

  /**
   * Calls push with the ids of normalized text: of its first pre-tokens, up to at least `keep`
   * ids (all of them when keep is Infinity), or with fromEnd of its last pre-tokens, in order.
   */
  encodeKept(text: string, keep: number, fromEnd: boolean, push: (id: number) => void): void {
    if (!fromEnd || !Number.isFinite(keep)) {
      for (let n = 0, p = 0; p < text.length;) {
        const q = pretokenEnd(text, p), e = this.encodeSpan(text, p, q), at = this.cacheAt[e], len = this.cacheLen[e], ids = this.arena;
        for (let i = at; i < at + len; i++) push(ids[i]);
        if ((n += len) >= keep) return;
        p = q;
      }
      return;
    }
    // From the end: where each pre-token starts, then back from the last until keep ids are covered.
    let ns = 0;
    for (let p = 0; p < text.length; p = pretokenEnd(text, p)) {
      if (ns === this.starts.length) {
        const s = new Int32Array(2 * ns);
        s.set(this.starts);
        this.starts = s;
      }
      this.starts[ns++] = p;
    }
    const st = this.starts, word = (j: number) => this.encodeSpan(text, st[j], j + 1 < ns ? st[j + 1] : text.length);
    let first = ns;
    for (let n = 0; first > 0 && n < keep;) n += this.cacheLen[word(--first)];
    for (let j = first; j < ns; j++) {
      const e = word(j), at = this.cacheAt[e], ids = this.arena;
      for (let i = at; i < at + this.cacheLen[e]; i++) push(ids[i]);
    }
  }

  /** Ids of normalized text (no markers). */
  encode(text: string): Int32Array {
    const parts: Int32Array[] = [];
    let n = 0;
    this.forEachPretoken(text, (w) => { const ids = this.encodeWord(w); parts.push(ids); n += ids.length; });
    const out = new Int32Array(n);
    n = 0;
    for (const p of parts) { out.set(p, n); n += p.length; }
    return out;
  }

  /** Text of ids: their bytes as UTF-8, a cut or invalid sequence as U+FFFD; <pad>, <s>, </s> left out, <unk> and ids out of range as U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    let n = 0;
    for (let i = 0; i < ids.length; i++) n += ids[i] >= 0 && ids[i] < this.tokBytes.length ? Math.max(3, this.tokBytes[ids[i]].length) : 3;
    const out = new Uint8Array(n);
    n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === PAD || id === BOS || id === EOS) continue;
      if (id === UNK || !(id >= BYTE_BASE && id < this.tokBytes.length)) {
        out[n++] = 0xef; out[n++] = 0xbf; out[n++] = 0xbd; // U+FFFD
        continue;
      }
      out.set(this.tokBytes[id], n);
      n += this.tokBytes[id].length;
    }
    return this.dec.decode(out.subarray(0, n));
  }
}

const loaded = new WeakMap<readonly string[], Bpe>();

/**
 * The Bpe of saved merges lines, built once per array. The lines alone define it: a byte's
 * character is the byte, and merge k's joined string is id 260 + k. Throws a RangeError naming
 * the first line that is not two earlier tokens separated by a space.
 */
export function bpeOf(merges: readonly string[]): Bpe {
  let bpe = loaded.get(merges);
  if (bpe) return bpe;
  const id = new Map<string, number>(BYTE_CHARS.map((ch, b) => [ch, BYTE_BASE + b]));
  const flat = new Int32Array(2 * merges.length);
  for (let k = 0; k < merges.length; k++) {
    const m = merges[k];
    const parts = typeof m === 'string' ? m.split(' ') : [];
    const a = id.get(parts[0]), b = id.get(parts[1]);
    if (parts.length !== 2 || a === undefined || b === undefined) throw new RangeError(`BPE merge ${k} (${JSON.stringify(m)}) is not two earlier tokens separated by a space`);
    const joined = parts[0] + parts[1];
    if (id.has(joined)) throw new RangeError(`BPE merge ${k} (${JSON.stringify(m)}) makes ${JSON.stringify(joined)}, which is already token ${id.get(joined)}`);
    id.set(joined, FIRST_MERGE + k);
    flat[2 * k] = a;
    flat[2 * k + 1] = b;
  }
  bpe = new Bpe(flat);
  loaded.set(merges, bpe);
  return bpe;
}

/**
 * What is wrong with a saved BPE tokenizer (its merges lines and the vocabulary strings), or null:
 * the vocabulary must be the specials, the 256 byte characters, then each merge's joined string.
 */
export function bpeProblem(vocab: readonly string[], merges: unknown): string | null {
  if (!Array.isArray(merges)) return 'the BPE tokenizer has no list of merges';
  let expected: string[];
  try {
    expected = bpeOf(merges).vocab();
  } catch (e) {
    if (e instanceof RangeError) return e.message;
    throw e;
  }
  if (vocab.length !== expected.length) return `the BPE vocabulary has ${vocab.length} tokens, its ${merges.length} merges make ${expected.length}`;
  for (let i = 0; i < vocab.length; i++) {
    if (vocab[i] !== expected[i]) return `BPE vocabulary id ${i} is ${JSON.stringify(vocab[i])}, its merges make ${JSON.stringify(expected[i])}`;
  }
  return null;
}
