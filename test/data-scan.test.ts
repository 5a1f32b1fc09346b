// The RegExp-free scanners of src/data/scan.ts split text exactly as the RegExps they replace
// (tokenize.ts's word pattern, GPT-2's pre-token pattern in bpe.ts), on random text drawn from
// every class they tell apart; UnitTable finds and adds by code units.

import t from 'tap';
import { nextWord, pretokenEnd, UnitTable } from '../src/data/scan.js';
import { PRETOKEN_PATTERN } from '../src/data/bpe.js';
import { tokenize } from '../src/data/tokenize.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

// Letters, marks, digits (ASCII, Arabic-Indic, astral), every whitespace of \s, apostrophes and
// the contraction letters, punctuation, emoji, lone surrogates, CJK, astral letters.
const PIECES = ['a', 'Z', 's', 't', 'r', 'e', 'v', 'l', 'm', 'd', 'é', '\u0301', '\u0903', '7', '\u0663', '\u2167', '𝟘', '𝐀', '\u{10400}', ' ', ' ', '\t', '\n', '\u000b', '\f', '\r', '\u00a0', '\u1680', '\u2003', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff',
  "'", "'", '\u2019', '.', ',', '-', '"', '😀', '👍🏽', '\ud800', '\udc00', '東', 'Ω', '_', '$', '\u200b', '\u0085'];

function text(r: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)];
  return s;
}

t.test('nextWord = the word RegExp; pretokenEnd = the GPT-2 pre-token RegExp', async (t) => {
  const r = rng(5);
  const pre = new RegExp(PRETOKEN_PATTERN, 'gu');
  const at = new Int32Array(1);
  let bad = 0;
  for (let k = 0; k < 4000 && bad < 5; k++) {
    const s = text(r, 1 + Math.floor(r() * 30));
    const want = tokenize(s, { kind: 'word', lowercase: false }); // already NFC? tokenize normalizes: compare on its input
    const norm = s.normalize('NFC').replace(/\r\n?/g, '\n');
    const got: string[] = [];
    for (let e = nextWord(norm, 0, at); e >= 0; e = nextWord(norm, e, at)) got.push(norm.slice(at[0], e));
    if (JSON.stringify(got) !== JSON.stringify(want)) { bad++; t.same(got, want, `words of ${JSON.stringify(s)}`); }
    const wantP = [...s.matchAll(pre)].map((m) => m[0]);
    const gotP: string[] = [];
    for (let p = 0; p < s.length;) { const q = pretokenEnd(s, p); gotP.push(s.slice(p, q)); p = q; }
    if (JSON.stringify(gotP) !== JSON.stringify(wantP)) { bad++; t.same(gotP, wantP, `pre-tokens of ${JSON.stringify(s)}`); }
  }
  t.equal(bad, 0, '4000 random texts split alike');
});

t.test('UnitTable', async (t) => {
  const u = new UnitTable(2);
  const words = ['', 'a', 'ab', 'ba', '😀', '\ud800', 'x'.repeat(5000), 'abc'];
  const s = words.join('|');
  let at = 0;
  const ids = words.map((w) => { const e = u.add(s, at, at + w.length); at += w.length + 1; return e; });
  t.same(ids, words.map((_, i) => i), 'entries in order of first insertion');
  t.same(words.map((w) => u.find(w, 0, w.length)), ids, 'found again from another string');
  t.same(ids.map((e) => u.key(e)), words, 'keys');
  t.equal(u.find('abd', 0, 3), -1, 'absent');
  for (let i = 0; i < 10000; i++) u.add(`w${i}`, 0, `w${i}`.length);
  t.equal(u.find('w9999', 0, 5), words.length + 9999, 'after growing');
  u.clear();
  t.equal(u.find('a', 0, 1), -1, 'cleared');
});
