// The tokenizers' hot loops without a string per token: code points and word boundaries read
// from a character-class table, tokens looked up or counted by a hash of their UTF-16 code units
// (prepare.ts encodes gigabytes; a Map<string> lookup per character or a RegExp match object per
// word cost more than the rest of the pipeline together). Each scanner splits exactly as the
// RegExp it replaces (tokenize.ts WORD_RE, bpe.ts PRETOKEN_PATTERN); test/data-scan.test.ts
// compares them on random text of every class.

/** Class bits of a code point: \p{L}, \p{N}, \p{M}, JavaScript's \s (= bpe.ts's WS); 0: anything else. */
export const L = 1, N = 2, M = 4, S = 8;

let bmp: Uint8Array | null = null;
const astral = new Map<number, number>();
const reL = /^\p{L}$/u, reN = /^\p{N}$/u, reM = /^\p{M}$/u, reS = /^\s$/u;
const classOfString = (ch: string) => (reL.test(ch) ? L : 0) | (reN.test(ch) ? N : 0) | (reM.test(ch) ? M : 0) | (reS.test(ch) ? S : 0);

/** The class table of the 65,536 code units (built once per thread, by the RegExps it stands for). */
function bmpClasses(): Uint8Array {
  if (bmp) return bmp;
  bmp = new Uint8Array(65536);
  for (let c = 0; c < 65536; c++) bmp[c] = classOfString(String.fromCharCode(c));
  return bmp;
}

/** Class of code point cp (a lone surrogate: 0, as the `u` RegExps see it). */
export function classOf(cp: number): number {
  if (cp < 65536) return bmpClasses()[cp];
  let k = astral.get(cp);
  if (k === undefined) astral.set(cp, (k = classOfString(String.fromCodePoint(cp))));
  return k;
}

/** The code point at i of s (a surrogate pair read whole; a lone surrogate as itself). */
export function codePointAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  }
  return c;
}

const width = (cp: number) => (cp >= 0x10000 ? 2 : 1);

/** End of the run of code points from i whose class has a bit of `bits`. */
function runEnd(s: string, i: number, bits: number): number {
  const t = bmpClasses(), n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) {
      if ((t[c] & bits) === 0) return i;
      i++;
    } else {
      const cp = codePointAt(s, i);
      if ((classOf(cp) & bits) === 0) return i;
      i += width(cp);
    }
  }
  return i;
}

/**
 * The next word token of tokenize.ts's WORD_RE at or after i: `[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*`
 * or one code point that is neither such a character nor whitespace. Returns its start in
 * `at[0]` and its end (or -1 when none is left).
 */
export function nextWord(s: string, i: number, at: Int32Array): number {
  const n = s.length, W = L | M | N;
  for (;;) {
    if (i >= n) return -1;
    const cp = codePointAt(s, i), k = classOf(cp);
    if (k & S) { i += width(cp); continue; }
    at[0] = i;
    if ((k & W) === 0) return i + width(cp);
    let e = runEnd(s, i, W);
    for (;;) {
      const q = s.charCodeAt(e);
      if (e + 1 < n && (q === 0x27 || q === 0x2019) && (classOf(codePointAt(s, e + 1)) & W) !== 0) e = runEnd(s, e + 1, W);
      else return e;
    }
  }
}

/**
 * End of the GPT-2 pre-token (bpe.ts PRETOKEN_PATTERN) that starts at i < s.length: every position
 * starts one, so the pre-tokens of a text are its cuts at these ends.
 *   's 't 're 've 'm 'll 'd |  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
 */
export function pretokenEnd(s: string, i: number): number {
  const n = s.length, c = s.charCodeAt(i);
  if (c === 0x27 && i + 1 < n) {
    const d = s.charCodeAt(i + 1);
    if (d === 0x73 || d === 0x74 || d === 0x6d || d === 0x64) return i + 2; // s t m d
    if (i + 2 < n) {
      const e = s.charCodeAt(i + 2);
      if ((d === 0x72 && e === 0x65) || (d === 0x76 && e === 0x65) || (d === 0x6c && e === 0x6c)) return i + 3; // re ve ll
    }
  }
  // An optional leading space, then a run of letters, digits or others.
  const j = c === 0x20 && i + 1 < n ? i + 1 : i;
  const k = classOf(codePointAt(s, j));
  if (!(j > i && k & S)) {
    if (k & L) return runEnd(s, j, L);
    if (k & N) return runEnd(s, j, N);
    if (!(k & S)) return othersEnd(s, j);
  }
  // Whitespace: the run, less its last character when a non-space follows (unless that leaves nothing).
  // (Whitespace is all in the BMP: its last character is e - 1.)
  const e = runEnd(s, i, S);
  return e < n && e - 1 > i ? e - 1 : e;
}

/** End of a run of code points that are neither letters, digits nor whitespace. */
function othersEnd(s: string, i: number): number {
  const t = bmpClasses(), n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) {
      if ((t[c] & (L | N | S)) !== 0) return i;
      i++;
    } else {
      const cp = codePointAt(s, i);
      if ((classOf(cp) & (L | N | S)) !== 0) return i;
      i += width(cp);
    }
  }
  return i;
}

/**
 * Strings (runs of UTF-16 code units of other strings) -> dense entry numbers 0, 1, ... in order
 * of first insertion: open addressing over Int32Arrays, keys copied into one Uint16Array, so a
 * lookup allocates nothing. The caller keeps what each entry stands for (a count, an id) in an
 * array indexed by the entry.
 */
export class UnitTable {
  size = 0;
  private mask = 0;
  /** Per slot: entry + 1 (0: empty) and the key's hash, side by side (one cache line per probe). */
  private slots = new Int32Array(0);
  /** Per entry: start of its key in `units`, and its length. */
  private keys = new Int32Array(2048);
  private units = new Uint16Array(1 << 16);
  private used = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n < 2 * capacity) n *= 2;
    this.mask = n - 1;
    this.slots = new Int32Array(2 * n);
  }

  private static hash(s: string, a: number, b: number): number {
    let h = 0x811c9dc5;
    for (let i = a; i < b; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    return h ^ (h >>> 13);
  }

  /** The slot of s[a, b): holding its entry + 1, or empty (0). */
  private slot(s: string, a: number, b: number, h: number): number {
    const len = b - a, u = this.units, slots = this.slots, keys = this.keys;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const e = slots[2 * i] - 1;
      if (e < 0) return i;
      if (slots[2 * i + 1] !== h || keys[2 * e + 1] !== len) continue;
      const o = keys[2 * e];
      let k = 0;
      while (k < len && u[o + k] === s.charCodeAt(a + k)) k++;
      if (k === len) return i;
    }
  }

  /** Entry of s[a, b), or -1. */
  find(s: string, a: number, b: number): number {
    return this.slots[2 * this.slot(s, a, b, UnitTable.hash(s, a, b))] - 1;
  }

  /** Entry of s[a, b), added when new. */
  add(s: string, a: number, b: number): number {
    const h = UnitTable.hash(s, a, b);
    let i = this.slot(s, a, b, h);
    if (this.slots[2 * i] !== 0) return this.slots[2 * i] - 1;
    if (2 * (this.size + 1) > this.mask + 1) {
      this.rehash(2 * (this.mask + 1));
      i = this.slot(s, a, b, h);
    }
    const e = this.size++, len = b - a;
    if (2 * e === this.keys.length) {
      const k = new Int32Array(2 * this.keys.length);
      k.set(this.keys);
      this.keys = k;
    }
    if (this.used + len > this.units.length) {
      const y = new Uint16Array(Math.max(2 * this.units.length, this.used + len));
      y.set(this.units.subarray(0, this.used));
      this.units = y;
    }
    for (let k = 0; k < len; k++) this.units[this.used + k] = s.charCodeAt(a + k);
    this.keys[2 * e] = this.used;
    this.keys[2 * e + 1] = len;
    this.used += len;
    this.slots[2 * i] = e + 1;
    this.slots[2 * i + 1] = h;
    return e;
  }

  private rehash(n: number): void {
    const old = this.slots;
    this.mask = n - 1;
    this.slots = new Int32Array(2 * n);
    for (let j = 0; j < old.length; j += 2) {
      if (old[j] === 0) continue;
      let i = old[j + 1] & this.mask;
      while (this.slots[2 * i] !== 0) i = (i + 1) & this.mask;
      this.slots[2 * i] = old[j];
      this.slots[2 * i + 1] = old[j + 1];
    }
  }

  /** The string of entry e. */
  key(e: number): string {
    const a = this.keys[2 * e], b = a + this.keys[2 * e + 1];
    let out = '';
    for (let i = a; i < b; i += 4096) out += String.fromCharCode.apply(null, this.units.subarray(i, Math.min(b, i + 4096)) as unknown as number[]);
    return out;
  }

  clear(): void {
    this.slots.fill(0);
    this.size = 0;
    this.used = 0;
  }
}
