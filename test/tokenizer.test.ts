// rnn-trainer/tokenizer (src/tokenizer/index.ts): the tokenizer of an exported ONNX file, read from
// its metadata alone, encodes text to the ids training gives (encodeText with the model's own
// tokenizer settings) for char, word and bpe models, with every setting (lowercase, <s>, </s>,
// maxLength and truncation, reverse); encodeBatch lays out the graph's padded inputs; a prompt is
// encoded as predict.js --prompt encodes it; a file that is not a model is refused naming it.

import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportOnnx } from '../src/export/onnx.js';
import { encodeText, decodeTokens } from '../src/data/tokenize.js';
import { BpeTrainer } from '../src/data/bpe.js';
import { SPECIALS, type TokenizerSpec } from '../src/data/types.js';
import type { ModelSpec } from '../src/model/spec.js';
import { onnxTokenizer } from '../src/tokenizer/index.js';
import { UserError } from '../src/util/errors.js';
import { randomParams } from './helpers/model.js';

const TEXTS = ['Maria', 'jean-luc o\'brien, the  Cat!', 'ÉCOLE\r\nnaïve café', 'x', 'a very long text that is cut by maxLength somewhere'];

function fileOf(tokenizer: TokenizerSpec, vocab: string[], task: ModelSpec['task'] = 'many-to-one'): Uint8Array {
  const spec: ModelSpec = { cell: 'gru', task, V: vocab.length, H: 4, C: task === 'many-to-one' ? 2 : vocab.length, E: 0, layers: 1 };
  return exportOnnx({ spec, params: randomParams(spec, 1, 'float32'), vocab, labelNames: task === 'many-to-one' ? ['no', 'yes'] : [], tokenizer });
}

const base: TokenizerSpec = { kind: 'char', lowercase: true, bos: false, eos: true, maxLength: 0, truncate: 'start', reverse: false };
const chars = [...SPECIALS, ...'abcdefghijklmnopqrstuvwxyz éèï\'-,!\n'];
const words = [...SPECIALS, 'maria', 'the', 'cat', '!', ',', 'o\'brien', 'café', 'a', 'text', 'is'];

t.test('char and word models: the ids are encodeText\'s with the model\'s settings', async (t) => {
  const cases: [string, TokenizerSpec, string[]][] = [
    ['char', base, chars],
    ['char, bos, maxLength 12 from the end, reversed', { ...base, bos: true, maxLength: 12, truncate: 'end', reverse: true }, chars],
    ['char, case kept, maxLength 8 from the start', { ...base, lowercase: false, maxLength: 8 }, chars],
    ['word', { ...base, kind: 'word' }, words],
    ['word, no </s>, maxLength 5', { ...base, kind: 'word', eos: false, bos: true, maxLength: 5 }, words],
  ];
  for (const [name, spec, vocab] of cases) {
    const tok = onnxTokenizer(fileOf(spec, vocab));
    t.same(tok.labels, ['no', 'yes'], `${name}: the labels`);
    for (const text of TEXTS) t.same(Array.from(tok.encode(text)), Array.from(encodeText(text, spec, { tokens: vocab })), `${name}: ${JSON.stringify(text)}`);
  }
});

t.test('a bpe language model: ids, prompt and decoding as training and predict.js', async (t) => {
  const tr = new BpeTrainer();
  tr.addText('the cat sat on the mat. the dog ran to the cat. café naïve école');
  const bpe = tr.finish(SPECIALS.length + 256 + 30);
  const spec: TokenizerSpec = { ...base, kind: 'bpe', lowercase: false, bos: true, maxLength: 10, merges: bpe.mergeStrings() };
  const vocab = bpe.vocab();
  const tok = onnxTokenizer(fileOf(spec, vocab, 'many-to-many'));
  t.same(tok.labels, []);
  for (const text of TEXTS) {
    t.same(Array.from(tok.encode(text)), Array.from(encodeText(text, spec, { tokens: vocab })), `${JSON.stringify(text)}`);
    const prompt = tok.encode(text, { prompt: true });
    t.same(Array.from(prompt), Array.from(encodeText(text, { ...spec, eos: false, maxLength: 0 }, { tokens: vocab })), `prompt ${JSON.stringify(text)}: no </s>, not cut`);
    t.equal(tok.decode(prompt), decodeTokens(prompt, { tokens: vocab }, spec), 'decodes as training\'s tokenizer');
  }
  t.equal(tok.decode(tok.encode('the cat sat', { prompt: true })), 'the cat sat', 'a prompt round-trips');
});

t.test('encodeBatch: right-padded tokens (batch × time) and lengths', async (t) => {
  const tok = onnxTokenizer(fileOf(base, chars));
  const b = tok.encodeBatch(['ab', 'maria', 'x']);
  t.same([b.batch, b.time], [3, 6]);
  const a = (s: string) => chars.indexOf(s);
  t.same(Array.from(b.tokens), [a('a'), a('b'), 3, 0, 0, 0, a('m'), a('a'), a('r'), a('i'), a('a'), 3, a('x'), 3, 0, 0, 0, 0]);
  t.same(Array.from(b.lengths), [3, 6, 2]);
  t.throws(() => onnxTokenizer(fileOf({ ...base, eos: false }, chars)).encodeBatch(['ab', '']), /text 1 \(""\) has no tokens/);
});

t.test('a file that is not an exported model is refused, naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tokenizer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const notOnnx = join(dir, 'notes.onnx');
  writeFileSync(notOnnx, 'hello, this is text');
  const err = (f: () => unknown) => { try { f(); } catch (e) { return e; } return null; };
  for (const [file, re] of [[notOnnx, /notes\.onnx: not an ONNX model/], [join(dir, 'missing.onnx'), /missing\.onnx: cannot read the file/]] as const) {
    const e = err(() => onnxTokenizer(file));
    t.ok(e instanceof UserError, 'a UserError');
    t.match((e as Error).message, re);
  }
});
