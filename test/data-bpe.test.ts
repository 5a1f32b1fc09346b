// Byte-level BPE (src/data/bpe.ts): the incremental trainer against a naive recount-per-merge BPE
// over the same pre-tokens, determinism across runs and chunkings of the stream, round trips,
// lone surrogates, decoding cut characters, truncation, the saved form.
import t from 'tap';
import { BpeTrainer, Bpe, bpeOf, bpeProblem, BYTE_CHARS, FIRST_MERGE, PRETOKEN_PATTERN } from '../src/data/bpe.js';
import { decodeTokens, encodeText, loadDataset, type TokenizerSpec } from '../src/data/index.js';
import { normalizeText } from '../src/data/tokenize.js';
import { Rng } from '../src/util/prng.js';

/**
 * The reference: BPE as the textbook states it. Every round recounts all adjacent pairs of all
 * words (weighted by the word's count), merges the most frequent (ties: the left token's bytes,
 * then the right's, lexicographically smallest) in every word, left to right; a pair whose bytes
 * an earlier merge already made is never merged; stop below minCount or at maxMerges.
 */
function naiveMerges(words: Map<string, number>, maxMerges: number, minCount: number): number[] {
  const ws = [...words].map(([w, c]) => ({ s: [...Buffer.from(w, 'utf8')].map((b) => 4 + b), c }));
  const bytes: Buffer[] = [];
  for (let b = 0; b < 256; b++) bytes[4 + b] = Buffer.from([b]);
  const made = new Set<string>(), banned = new Set<string>(), out: number[] = [];
  while (out.length / 2 < maxMerges) {
    const counts = new Map<string, { a: number; b: number; c: number }>();
    for (const w of ws) {
      for (let i = 0; i + 1 < w.s.length; i++) {
        const key = `${w.s[i]},${w.s[i + 1]}`;
        if (banned.has(key)) continue;
        const e = counts.get(key) ?? { a: w.s[i], b: w.s[i + 1], c: 0 };
        e.c += w.c;
        counts.set(key, e);
      }
    }
    let best: { a: number; b: number; c: number } | null = null;
    for (const e of counts.values()) {
      if (e.c < minCount) continue;
      if (!best || e.c > best.c || (e.c === best.c && (Buffer.compare(bytes[e.a], bytes[best.a]) || Buffer.compare(bytes[e.b], bytes[best.b])) < 0)) best = e;
    }
    if (!best) break;
    const joined = Buffer.concat([bytes[best.a], bytes[best.b]]);
    if (made.has(joined.toString('hex'))) {
      banned.add(`${best.a},${best.b}`);
      continue;
    }
    made.add(joined.toString('hex'));
    const z = FIRST_MERGE + out.length / 2;
    bytes[z] = joined;
    out.push(best.a, best.b);
    for (const w of ws) {
      const s: number[] = [];
      for (let i = 0; i < w.s.length;) {
        if (i + 1 < w.s.length && w.s[i] === best.a && w.s[i + 1] === best.b) { s.push(z); i += 2; } else s.push(w.s[i++]);
      }
      w.s = s;
    }
  }
  return out;
}

/** Random text from `alphabet` (strings, so a unit may be a character or a word), with spaces. */
function randomText(rng: Rng, alphabet: string[], n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rng.uniform() * alphabet.length)];
  return s;
}

const CORPORA: Array<[string, (rng: Rng) => string[]]> = [
  ['runs of one letter and pairs (overlapping merges: aa in aaa, abab)', (rng) => Array.from({ length: 60 }, () => randomText(rng, ['a', 'a', 'b', ' ', 'aa', 'ab'], 40))],
  ['English-like words and punctuation', (rng) => Array.from({ length: 40 }, () => randomText(rng, ['the ', 'then ', 'there', 'he', 'hen', ' ', ', ', '.', "'s ", "'re ", 'x', 'th', '\n', '  '], 30))],
  ['CJK, emoji, combining marks, digits', (rng) => Array.from({ length: 40 }, () => randomText(rng, ['日本', '語', '😀', '👍🏽', 'e\u0301', 'é', '12', '3', ' ', '\t', 'ü', 'ß'], 25))],
];

t.test('the incremental trainer learns exactly the merges of a naive recount-per-merge BPE', async (t) => {
  for (const [what, make] of CORPORA) {
    for (const [merges, minFreq] of [[300, 1], [40, 5]] as const) {
      const texts = make(new Rng(7, 1));
      const tr = new BpeTrainer();
      for (const x of texts) tr.addText(x);
      const words = new Map(tr.words);
      const bpe = tr.finish(FIRST_MERGE + merges, minFreq);
      const ref = naiveMerges(words, merges, Math.max(2, minFreq));
      t.ok(ref.length > 0, `${what}: the reference learns some merges`);
      t.same(Array.from(bpe.merges), ref, `${what}, ${merges} merges, minFreq ${minFreq}: ${ref.length / 2} merges equal`);
    }
  }
});

t.test('by hand: the most frequent pair first, ties to the smallest bytes, nothing seen once', async (t) => {
  // Pre-tokens: "ab" 1, " ab" 2, " cd" 3, " ef" 1. Pairs: (a,b) 3, (" ",c) 3, (c,d) 3, (" ",a) 2, ...
  // 1. the three tied at 3: (" ", c) first, as " " (0x20) < "a" < "c".  2. (" c", d) 3 ties (a, b) 3:
  // " c" < "a".  3. (a, b) 3.  4. (" ", ab) 2.  Then every pair occurs once: stop.
  const tr = new BpeTrainer();
  tr.addText('ab ab ab cd cd cd ef');
  const bpe = tr.finish(FIRST_MERGE + 100);
  t.same(bpe.mergeStrings(), ['Ġ c', 'Ġc d', 'a b', 'Ġ ab']);
  t.same(bpe.vocab().slice(FIRST_MERGE), ['Ġc', 'Ġcd', 'ab', 'Ġab']);
  t.same(Array.from(bpe.encode('ab cd ef')), [FIRST_MERGE + 2, FIRST_MERGE + 1, 4 + 0x20, 4 + 0x65, 4 + 0x66]);
  t.same(tr.finish(FIRST_MERGE + 2).mergeStrings(), ['Ġ c', 'Ġc d'], 'vocabSize bounds the merges');
  t.same(tr.finish(FIRST_MERGE + 100, 3).mergeStrings(), ['Ġ c', 'Ġc d', 'a b'], 'minFreq 3: (" ", ab) at 2 is not merged');
});

t.test('determinism: the same stream gives the same merges, byte for byte, however it is cut into chunks', async (t) => {
  const rng = new Rng(3, 2);
  const doc = randomText(rng, ['the ', 'they\'re ', "it's ", '  ', '\n\n', 'über', '日本語', '😀', '42', ', ', '—', 'e\u0301', '   x'], 2000);
  const train = (cut: (s: string) => string[]) => {
    const tr = new BpeTrainer();
    for (const c of cut(doc)) tr.add(c);
    tr.end();
    return { words: JSON.stringify([...tr.words].sort()), merges: JSON.stringify(tr.finish(FIRST_MERGE + 200).mergeStrings()) };
  };
  const whole = train((s) => [s]);
  t.same(train((s) => [s]), whole, 'two runs: identical');
  for (const [what, cut] of [
    ['one code unit per chunk (pairs and contractions cut)', (s: string) => s.split('')],
    ['random chunks of 1..7 code units', (s: string) => {
      const r = new Rng(5, 3), out: string[] = [];
      for (let i = 0; i < s.length;) { const n = 1 + Math.floor(r.uniform() * 7); out.push(s.slice(i, i + n)); i += n; }
      return out;
    }],
    ['chunks of 100', (s: string) => Array.from({ length: Math.ceil(s.length / 100) }, (_, i) => s.slice(i * 100, i * 100 + 100))],
  ] as const) {
    const r = train(cut);
    t.equal(r.words, whole.words, `${what}: the same pre-token counts`);
    t.equal(r.merges, whole.merges, `${what}: the same merges`);
  }
  // Memory follows the unique pre-tokens: the same text a thousand times adds no entries.
  const tr = new BpeTrainer();
  for (let i = 0; i < 1000; i++) tr.addText('the cat sat on the mat, the end');
  t.equal(tr.words.size, 8, 'the, " cat", " sat", " on", " the", " mat", ",", " end"');
  t.equal(tr.words.get(' the'), 2000);
});

t.test('the pre-tokenizer: GPT-2\'s pattern, \\s spelled out as JavaScript\'s whitespace', async (t) => {
  const gpt2 = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
  const ours = new RegExp(PRETOKEN_PATTERN, 'gu');
  let differ = 0;
  for (let c = 0; c < 0x10000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c), s = `a${ch}b ${ch}${ch}1 x${ch}  ${ch}'s`;
    if (JSON.stringify(s.match(gpt2)) !== JSON.stringify(s.match(ours))) differ++;
  }
  t.equal(differ, 0, 'the same matches around every BMP character');
  t.same("I'm here  you're 3.14!!\n\n ok".match(ours), ['I', "'m", ' here', ' ', ' you', "'re", ' 3', '.', '14', '!!', '\n\n', ' ok']);
});

// A BPE trained on varied text, and the tokenizer spec that uses it.
const sample = ['Hello, World! It\'s a café.', '日本語のテキスト', 'emoji 😀👍🏽 and more 😀', 'cafe\u0301 naïve', 'tabs\tand   spaces\n\nnew para', 'The the THE'];
const trainer = new BpeTrainer();
for (let i = 0; i < 20; i++) for (const s of sample) trainer.addText(normalizeText(s, false));
const BPE = trainer.finish(FIRST_MERGE + 150);
const spec = (o: Partial<TokenizerSpec> = {}): TokenizerSpec => ({
  kind: 'bpe', lowercase: false, bos: false, eos: false, maxLength: 0, truncate: 'start', merges: BPE.mergeStrings(), ...o,
});
const vocab = { tokens: BPE.vocab() };

t.test('round trip: decode(encode(x)) is the normalized text, for any text', async (t) => {
  const texts = [
    'plain ASCII, with punctuation; and "quotes"!', '中文和日本語のテキスト、한국어', '😀 👍🏽 👨‍👩‍👧 🇫🇷 \u{20BB7}',
    'e\u0301 a\u0308 combining: Z\u0351\u0358 ', '   leading, trailing   ', '\n\n\n\t \t\u3000\u00a0', 'x',
    '\ufeffa byte-order mark first', 'CR\r\nLF\rmixed', 'never seen: ☃ ∮ ⅞ \u0000 \u007f', '',
  ];
  for (const lowercase of [false, true]) {
    for (const x of texts) {
      const ids = encodeText(x, spec({ lowercase }), vocab);
      t.ok(ids.every((id) => id >= 4 && id < BPE.vocabSize), `${JSON.stringify(x)}: ids are bytes or merges, never <unk>`);
      t.equal(decodeTokens(ids, vocab, spec({ lowercase })), normalizeText(x, lowercase), `${JSON.stringify(x)} (lowercase ${lowercase})`);
    }
  }
  const ids = encodeText('Hello, World! It\'s a café.', spec({ bos: true, eos: true }), vocab);
  t.ok(ids.length < 12, `a training sentence takes few tokens (${ids.length})`);
  t.same([ids[0], ids[ids.length - 1]], [2, 3], '<s> and </s> around');
  t.equal(decodeTokens(ids, vocab, spec()), 'Hello, World! It\'s a café.', 'the markers are left out of the text');
});

t.test('lone surrogates are encoded as U+FFFD, as TextEncoder does; nothing throws', async (t) => {
  for (const x of ['a\ud83db', '\ude00', 'end\ud83d', '\ud83d\ud83d😀']) {
    const ids = encodeText(x, spec(), vocab);
    const expected = new TextDecoder().decode(new TextEncoder().encode(normalizeText(x, false)));
    t.equal(decodeTokens(ids, vocab, spec()), expected, JSON.stringify(x));
    t.ok(expected.includes('\ufffd'));
  }
});

t.test('decoding ids that cut a multi-byte character gives U+FFFD, not an error', async (t) => {
  const bare = new Bpe(new Int32Array(0)); // bytes only: every byte its own token
  const ids = bare.encode('a😀b日');
  t.equal(ids.length, 1 + 4 + 1 + 3);
  t.equal(bare.decode(ids), 'a😀b日');
  t.equal(bare.decode(ids.subarray(0, 3)), 'a\ufffd', 'the first two bytes of 😀');
  t.equal(bare.decode(ids.subarray(3)), '\ufffd\ufffdb日', 'the last two bytes of 😀: each a replacement');
  t.equal(bare.decode(ids.subarray(0, ids.length - 1)), 'a😀b\ufffd', 'a generation stopped inside 日');
  t.equal(bare.decode([1, 0, 2, 3, 99999, -1]), '\ufffd\ufffd\ufffd', '<unk> and ids out of range are U+FFFD; <pad>, <s>, </s> nothing');
});

t.test('truncation keeps the first or the last ids of the whole encoding', async (t) => {
  const x = 'The café has 12 tables and 😀 emoji, the end.';
  const all = Array.from(encodeText(x, spec(), vocab));
  for (const keep of [1, 3, 7, all.length, all.length + 5]) {
    t.same(Array.from(encodeText(x, spec({ maxLength: keep, truncate: 'start' }), vocab)), all.slice(0, keep), `start, ${keep}`);
    t.same(Array.from(encodeText(x, spec({ maxLength: keep, truncate: 'end' }), vocab)), all.slice(Math.max(0, all.length - keep)), `end, ${keep}`);
  }
  t.same(Array.from(encodeText(x, spec({ maxLength: 5, truncate: 'start', bos: true, eos: true, reverse: true }), vocab)), [2, ...all.slice(0, 3).reverse(), 3]);
});

t.test('the saved form: printable vocabulary strings and merges lines give back the same encoder', async (t) => {
  const v = BPE.vocab(), lines = BPE.mergeStrings();
  t.same(v.slice(0, 4), ['<pad>', '<unk>', '<s>', '</s>']);
  t.equal(v[4 + 0x20], 'Ġ', 'the space byte is Ġ (GPT-2\'s map)');
  t.equal(v[4 + 0x41], 'A');
  t.equal(new Set(BYTE_CHARS).size, 256);
  t.ok(BYTE_CHARS.every((c) => c.length === 1 && c !== ' ' && /\P{C}/u.test(c)), 'every byte character is printable and not a space');
  t.equal(new Set(v).size, v.length, 'vocabulary strings are unique');
  t.equal(bpeProblem(v, lines), null);
  const back = bpeOf(JSON.parse(JSON.stringify(lines)));
  t.same(Array.from(back.merges), Array.from(BPE.merges), 'the merges read back');
  for (const x of sample) t.same(back.encode(normalizeText(x, false)), BPE.encode(normalizeText(x, false)), JSON.stringify(x));
  t.match(bpeProblem(v.slice(0, -1), lines), /has \d+ tokens, its \d+ merges make \d+/);
  t.match(bpeProblem([...v.slice(0, 300), 'zz', ...v.slice(301)], lines), /vocabulary id 300 is "zz"/);
  t.match(bpeProblem(v, [...lines.slice(0, 5), 'nope', ...lines.slice(6)]), /merge 5 \("nope"\) is not two earlier tokens/);
  t.match(bpeProblem(v, undefined), /no list of merges/);
  t.throws(() => new BpeTrainer().finish(100), /at least/);
});

t.test('loadDataset with tokenizer "bpe": merges from the training split only, no <unk>, maxSize checked', async (t) => {
  const train = Array.from({ length: 60 }, (_, i) => `Document ${i}: the quick brown fox jumps over the lazy dog ${'ha'.repeat(i % 5)}`);
  const held = Array.from({ length: 10 }, () => 'zyzzyva zyzzyva zyzzyva quokka quokka');
  const d = loadDataset({ source: 'memory', tokenizer: 'bpe', lowercase: true, vocab: { maxSize: 300 }, seqLength: 8 },
    { configDir: '.', task: 'many-to-many', memory: { train, val: held, test: held } });
  t.equal(d.tokenizer.kind, 'bpe');
  const tr = new BpeTrainer();
  for (const x of train) tr.addText(normalizeText(x, true));
  t.same(d.tokenizer.merges, tr.finish(300).mergeStrings(), 'the merges of the (lowercased) training documents, and only those');
  t.notOk(d.vocab.tokens.some((v) => v.includes('zz') || v.includes('kk')), 'nothing learned from validation or test');
  t.equal(d.vocab.tokens.length, FIRST_MERGE + d.tokenizer.merges!.length);
  t.equal(bpeProblem(d.vocab.tokens, d.tokenizer.merges), null);
  for (const s of ['train', 'val', 'test'] as const) t.equal(d.report.splits[s].oovRate, 0, `${s}: no <unk>`);
  const sp = d.splits.val;
  t.equal(decodeTokens(sp.tokens.subarray(0, sp.tokens.length), d.vocab, d.tokenizer), held.join(''), 'held-out text decodes back exactly');
  t.throws(() => loadDataset({ source: 'memory', tokenizer: 'bpe', vocab: { maxSize: 100 } }, { configDir: '.', task: 'many-to-many', memory: train }),
    /data\.vocab\.maxSize: expected a size in \[260, \d+\] with data\.tokenizer `bpe`: it is the BPE vocabulary size, the 4 special tokens and 256 bytes included; found 100/);
});
