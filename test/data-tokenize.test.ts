// Tokenizers, vocabulary, encoding with truncation, decoding.
import t from 'tap';
import { buildVocab, decodeTokens, encodeText, tokenize, BOS, EOS, UNK, type TokenizerSpec, type Vocab } from '../src/data/index.js';
import { Rng } from '../src/util/prng.js';

const spec = (o: Partial<TokenizerSpec> = {}): TokenizerSpec => ({
  kind: 'char', lowercase: false, bos: false, eos: false, maxLength: 0, truncate: 'start', ...o,
});

/** A vocabulary holding every token of `texts`, in first-seen order after the specials. */
function vocabOf(texts: string[], tok: TokenizerSpec): Vocab {
  const counts = new Map<string, number>();
  for (const s of texts) for (const w of tokenize(s, tok)) counts.set(w, (counts.get(w) ?? 0) + 1);
  return buildVocab(counts, 1e9, 1);
}

t.test('char tokenizer: one token per code point, NFC, CRLF, lowercase', async (t) => {
  t.same(tokenize('Ab c', spec()), ['A', 'b', ' ', 'c']);
  t.same(tokenize('hi 👋!', spec()), ['h', 'i', ' ', '👋', '!'], 'a surrogate pair is one token');
  t.same(tokenize('e\u0301', spec()), ['é'], 'e + combining acute is composed (NFC) into é');
  t.same(tokenize('a\r\nb\rc', spec()), ['a', '\n', 'b', '\n', 'c'], 'line endings become \\n');
  t.same(tokenize('ÀB', spec({ lowercase: true })), ['à', 'b']);
});

t.test('word tokenizer: punctuation split off, inner apostrophes kept, whitespace dropped', async (t) => {
  t.same(tokenize("Don't stop, O'Brien! 3.14 well-known\n(yes)", spec({ kind: 'word' })),
    ["Don't", 'stop', ',', "O'Brien", '!', '3', '.', '14', 'well', '-', 'known', '(', 'yes', ')']);
  t.same(tokenize('Über  CAFÉ…', spec({ kind: 'word', lowercase: true })), ['über', 'café', '…']);
  t.same(tokenize('naïve $5', spec({ kind: 'word' })), ['naïve', '$', '5']);
  t.same(tokenize('   ', spec({ kind: 'word' })), []);
});

t.test('vocabulary: specials first, then by count, ties by token; maxSize and minFreq; deterministic', async (t) => {
  const a = new Map([['b', 3], ['a', 3], ['c', 1], ['d', 5]]);
  const b = new Map([['c', 1], ['d', 5], ['a', 3], ['b', 3]]); // same counts, other insertion order
  const v = buildVocab(a, 100, 1);
  t.same(v.tokens, ['<pad>', '<unk>', '<s>', '</s>', 'd', 'a', 'b', 'c']);
  t.same(buildVocab(b, 100, 1), v, 'insertion order does not matter');
  t.same(buildVocab(a, 6, 1).tokens, ['<pad>', '<unk>', '<s>', '</s>', 'd', 'a'], 'maxSize counts the specials');
  t.same(buildVocab(a, 100, 3).tokens.slice(4), ['d', 'a', 'b'], 'minFreq 3 drops c');
});

t.test('encodeText: unknown tokens, <s> and </s>; text that looks like a special is plain text', async (t) => {
  const tok = spec({ kind: 'word', bos: true, eos: true });
  const v = vocabOf(['the cat sat'], tok);
  const ids = Array.from(encodeText('the dog sat', tok, v));
  t.same(ids, [BOS, v.tokens.indexOf('the'), UNK, v.tokens.indexOf('sat'), EOS]);
  const c = spec();
  const vc = vocabOf(['<s>'], c);
  t.same(Array.from(encodeText('<s>', c, vc)), ['<', 's', '>'].map((ch) => vc.tokens.indexOf(ch)), '"<s>" in a text is three characters');
  t.notOk(Array.from(encodeText('<s>', c, vc)).includes(BOS));
});

t.test('truncation keeps the start or the end, and always the markers', async (t) => {
  const base = spec({ maxLength: 5, bos: true, eos: true });
  const v = vocabOf(['abcdefgh'], base);
  const id = (s: string) => [...s].map((ch) => v.tokens.indexOf(ch));
  t.same(Array.from(encodeText('abcdefgh', base, v)), [BOS, ...id('abc'), EOS], 'start: keep abc');
  t.same(Array.from(encodeText('abcdefgh', { ...base, truncate: 'end' }, v)), [BOS, ...id('fgh'), EOS], 'end: keep fgh');
  t.same(Array.from(encodeText('ab', base, v)), [BOS, ...id('ab'), EOS], 'short text untouched');
  t.same(Array.from(encodeText('abcdefgh', { ...base, bos: false, eos: false }, v)), id('abcde'));
  t.equal(encodeText('abc', { ...base, maxLength: 5 }, v).length, 5, 'exactly maxLength is not cut');
});

t.test('reverse: the kept tokens last-to-first, after truncation, between the markers', async (t) => {
  const base = spec({ maxLength: 5, bos: true, eos: true, reverse: true });
  const v = vocabOf(['abcdefgh'], base);
  const id = (s: string) => [...s].map((ch) => v.tokens.indexOf(ch));
  t.same(Array.from(encodeText('abcdefgh', base, v)), [BOS, ...id('cba'), EOS], 'start kept, then reversed');
  t.same(Array.from(encodeText('abcdefgh', { ...base, truncate: 'end' }, v)), [BOS, ...id('hgf'), EOS], 'end kept, then reversed');
  t.same(Array.from(encodeText('ab', { ...base, bos: false, eos: false }, v)), id('ba'));
  t.same(Array.from(encodeText('abcdefgh', { ...base, reverse: false }, v)), [BOS, ...id('abc'), EOS], 'off: in order');
});

t.test('long texts: the sliced fast path gives the same ids as tokenizing the whole text', async (t) => {
  // Random text with combining marks, surrogate pairs and CRLF, so slice edges hit awkward places.
  const pieces = ['a', 'b', 'e\u0301', '👋', ' ', '\r\n', 'word', "n't", ',', 'Ä', 'ß'];
  const rng = new Rng(5);
  let mismatches = 0;
  for (let trial = 0; trial < 60; trial++) {
    let s = '';
    const n = 50 + rng.int(3000);
    for (let i = 0; i < n; i++) s += pieces[rng.int(pieces.length)];
    for (const kind of ['char', 'word'] as const) {
      for (const truncate of ['start', 'end'] as const) {
        const tok = spec({ kind, truncate, maxLength: 1 + rng.int(300), bos: rng.int(2) === 1, eos: rng.int(2) === 1, lowercase: true });
        if (tok.maxLength < 1 + (tok.bos ? 1 : 0) + (tok.eos ? 1 : 0)) continue;
        const v = vocabOf([s], tok);
        const all = tokenize(s, tok).map((w) => v.tokens.indexOf(w));
        const keep = tok.maxLength - (tok.bos ? 1 : 0) - (tok.eos ? 1 : 0);
        const kept = all.length <= keep ? all : truncate === 'start' ? all.slice(0, keep) : all.slice(all.length - keep);
        const want = [...(tok.bos ? [BOS] : []), ...kept, ...(tok.eos ? [EOS] : [])];
        const got = Array.from(encodeText(s, tok, v));
        if (JSON.stringify(got) !== JSON.stringify(want)) mismatches++;
      }
    }
  }
  t.equal(mismatches, 0);
});

t.test('decodeTokens: characters joined; words spaced except around punctuation; markers hidden', async (t) => {
  const c = spec({ bos: true, eos: true });
  const vc = vocabOf(['Call me Ishmael.\n'], c);
  t.equal(decodeTokens(encodeText('Call me Ishmael.\n', c, vc), vc, c), 'Call me Ishmael.\n', 'char round trip');
  t.equal(decodeTokens([BOS, UNK, EOS, 0], vc, c), '\uFFFD');
  const w = spec({ kind: 'word' });
  const vw = vocabOf(['Hello , world ( again ) !'], w);
  t.equal(decodeTokens(encodeText('Hello, world (again)!', w, vw), vw, w), 'Hello, world (again)!');
  t.equal(decodeTokens([UNK], vw, w), '<unk>');
});
