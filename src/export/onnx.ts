// Export a model to ONNX (opset 14, IR version 7): the forward pass of src/model/rnn.ts as standard
// ONNX operators, and everything a consumer needs to tokenize exactly as training did in the
// model's metadata_props. The encoding is protobufjs static code generated from proto/onnx.proto
// (a vendored subset of ONNX's onnx.proto3).
//
// The graph (N = batch, T = time; `tokens` is right-padded with 0, `lengths` gives each row's
// real length, 1..T):
//
//   inputs   tokens int32 (N, T)   lengths int32 (N)
//   x_0      = Gather(table, Transpose(tokens))                   (T, N, D)
//              embedding: table = Wemb (V, E), D = E, and layer 0's W = weight_ih_l0
//              one-hot:   table = layer 0's input weight as stored, (V, G·H) (token v's column of
//                         weight_ih_l0 is its row v), gates reordered; D = G·H, and layer 0's W is
//                         the (G·H)×(G·H) identity, built in the graph (EyeLike), not stored
//   layer l  Y_l, Y_h_l = RNN | LSTM | GRU(x_l, W_l, R_l, B_l, sequence_lens = lengths)
//              W = weight_ih_l (G·H, I), R = weight_hh_l (G·H, H), B = [bias_ih_l, bias_hh_l],
//              gate blocks reordered from PyTorch's to ONNX's (LSTM i,f,g,o -> i,o,f,c;
//              GRU r,z,n -> z,r,h, with linear_before_reset = 1); the vanilla RNN's layer 0 has
//              one bias ba: B = [ba, 0]. No initial state input: the state starts at zero.
//              x_{l+1} = Squeeze(Y_l, axis 1)                      (T, N, H)
//   many-to-one   probabilities = Softmax(Gemm(Squeeze(Y_h_top), Wya, by, transB))  (N, C)
//                 ONNX's Y_h with sequence_lens is each row's state at its last real step.
//   bidirectional  direction="bidirectional": W, R, B stack [forward, reverse] (weight_ih_l<k>_reverse,
//                 ...); ONNX runs the reverse direction from each row's last real step (sequence_lens),
//                 as we do. x_{l+1} = Reshape(Transpose(Y_l, (0, 2, 1, 3)), (T, N, 2H)); many-to-one
//                 reads Reshape(Transpose(Y_h_top, (1, 0, 2)), (N, 2H)) = [h→ at the last step, h← at
//                 the first]. Pooling (many-to-one): over the top layer's outputs x (T, N, D·H) and
//                 mask_t = t < lengths: mean = ReduceSum(x·mask, axis 0) / lengths, max = ReduceMax(
//                 Where(mask, x, −FLT_MAX), axis 0); meanmax = Concat(last, mean, max). One-hot input: x_0 is both directions' gathered columns side by side,
//                 (T, N, 2·G·H), and layer 0's W is [[I, 0], [0, I]], built in the graph (EyeLike).
//   many-to-many  probabilities = Softmax(Transpose(Squeeze(Y_top), (1, 0, 2))·Wyaᵀ + by)  (N, T, C)
//                 batch-major like `tokens`; steps t >= lengths[n] are padding, not predictions.
//   tagging       the same per-step graph with C tags (N, T, C): the tag of token t at step t, read
//                 from the top layer's output at t ([h→_t, h←_t] when bidirectional).
//                 Tied weights: Wyaᵀ is Transpose(embedding), the Gather's table (stored once);
//                 with E ≠ H the states are first multiplied by Wprojᵀ (H, E).
// The adaptive softmax is refused (ONNX has no operator for it).
//
// Dropout is training-only and target replication (stepLoss) a training loss: neither is part of
// the forward pass, so neither is exported. Parameters are written as float32 little-endian
// raw_data, exactly the values the checkpoint holds.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { endianness } from 'node:os';
import { onnx } from './pb/onnx.js';
import { CELLS, directionsOf, gatesOf, layersOf, paramTable, type ModelSpec } from '../model/spec.js';
import type { Params } from '../model/params.js';
import type { Float } from '../model/kernels.js';
import { SPECIALS, PAD, UNK, BOS, EOS, type TokenizerSpec } from '../data/types.js';
import { BPE_ALGORITHM, BYTE_CHARS, PRETOKEN_PATTERN, bpeProblem } from '../data/bpe.js';
import { UserError } from '../util/errors.js';

/** The ONNX operator set the exporter writes: 14 (ONNX 1.9), which every maintained runtime reads. */
export const ONNX_OPSET = 14;
/** The IR version that goes with opset 14. */
export const ONNX_IR_VERSION = 7;
/** Version of the metadata_props keys and meanings below. */
export const ONNX_METADATA_VERSION = '1';

/**
 * The word tokenizer's pattern (src/data/tokenize.ts: WORD_RE), written for any regex engine with
 * \p{..} classes (JavaScript with the u flag, Python's `regex` module): its \s spelled out as
 * JavaScript's whitespace set, which other engines define differently. A test checks that it
 * splits text exactly as the tokenizer does.
 */
export const WORD_PATTERN = "[\\p{L}\\p{M}\\p{N}]+(?:['\\u2019][\\p{L}\\p{M}\\p{N}]+)*"
  + '|[^\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff\\p{L}\\p{M}\\p{N}]';

/** How a text becomes token ids (src/data/tokenize.ts: encodeText), for the metadata. */
export const ENCODING_STEPS = [
  '1. Normalize: Unicode NFC, then "\\r\\n" and "\\r" to "\\n", then lowercase if tokenizer.lowercase.',
  '2. Split: tokenizer.kind "char": one token per Unicode code point (whitespace included); "word": every match of word_pattern, in order (whitespace is dropped, punctuation is a token of its own); "bpe": token ids by bpe_algorithm (bpe_pattern, bpe_byte_map, bpe_merges), then go to step 4.',
  '3. Look up: token id = its index in vocab; a token not in vocab, and any text equal to a special token, is <unk> (id 1).',
  '4. Truncate: if tokenizer.maxLength > 0, keep at most maxLength - bos - eos text tokens: the first ones (truncate "start") or the last ones (truncate "end").',
  '5. Reverse the kept text tokens if tokenizer.reverse.',
  '6. Add <s> (id 2) before them if tokenizer.bos and </s> (id 3) after them if tokenizer.eos (for a language-model prompt, no </s>: it would end the document).',
  '7. Batch: right-pad each row with <pad> (id 0) to the longest, and pass each row\'s real length in `lengths` (>= 1).',
].join('\n');

/** A model the exporter cannot express in ONNX (or whose tokenization it cannot describe): exit code 2. */
export class ExportError extends UserError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'ExportError';
  }
}

/** What the exporter needs of a model: a checkpoint's (src/train/state.ts: SavedModel) or a library user's. */
export interface ExportableModel {
  spec: ModelSpec;
  params: Params;
  /** Token id i is vocab[i]; V entries, ids 0..3 the special tokens. */
  vocab: readonly string[];
  /** Class id i is labelNames[i] (many-to-one; empty for a language model). */
  labelNames: readonly string[];
  tokenizer: TokenizerSpec;
}

export interface ExportOptions {
  /** Extra metadata_props (e.g. the checkpoint and its step); they may not replace the exporter's own keys. */
  metadata?: Record<string, string>;
  /** The graph's name (default "rnn_trainer"). */
  graphName?: string;
}

const SPEC_KEYS = new Set(['cell', 'task', 'V', 'H', 'C', 'E', 'layers', 'bidirectional', 'pooling', 'tieWeights', 'adaptive']);
const TOKENIZER_KEYS = new Set(['kind', 'lowercase', 'bos', 'eos', 'maxLength', 'truncate', 'reverse', 'merges']);
/** Protobuf messages are limited to 2 GiB; external data files are not written. */
const MAX_MODEL_BYTES = 2 ** 31 - 1 - (1 << 20);

/**
 * Throws an ExportError naming the first feature of `m` that the exported file could not
 * reproduce: a cell ONNX has no operator for, a model-spec or tokenizer field this exporter does
 * not know (from a newer rnn-trainer), a tokenizer the metadata cannot describe, a model too large
 * for one ONNX file. Inconsistent arrays (vocabulary, labels, parameters) throw too.
 */
export function checkExportable(m: ExportableModel): void {
  const s = m.spec;
  const cant = (what: string, why: string) => new ExportError(`cannot export to ONNX: ${what}; ${why}`);
  if (!CELLS.includes(s.cell)) {
    throw cant(`the model's cell is ${JSON.stringify(s.cell)}`, `ONNX has recurrent operators for ${CELLS.map((c) => `"${c}"`).join(', ')} only (RNN, LSTM, GRU)`);
  }
  for (const k of Object.keys(s)) {
    if (!SPEC_KEYS.has(k)) throw cant(`the model spec has a field "${k}" (= ${JSON.stringify((s as unknown as Record<string, unknown>)[k])})`, `this exporter knows ${[...SPEC_KEYS].join(', ')} and would silently drop it; export with the rnn-trainer version that wrote the checkpoint`);
  }
  if (s.adaptive) throw cant('the model\'s output layer is an adaptive softmax (model.adaptiveSoftmax)', 'ONNX has no operator for it and this exporter does not build one; evaluate and generate with dist/eval.js and dist/predict.js, or export a model trained with the full softmax');
  if (s.task !== 'many-to-one' && s.task !== 'many-to-many' && s.task !== 'tagging') throw cant(`the model's task is ${JSON.stringify(s.task)}`, 'only "many-to-one", "many-to-many" and "tagging" are exported');
  const tok = m.tokenizer as unknown as Record<string, unknown>;
  if (tok === null || typeof tok !== 'object') throw cant('the model has no tokenizer settings', 'the exported file must say how to tokenize');
  if (tok.kind !== 'char' && tok.kind !== 'word' && tok.kind !== 'bpe') throw cant(`the tokenizer kind is ${JSON.stringify(tok.kind)}`, 'the metadata describes the "char", "word" and "bpe" tokenizers only, so a consumer could not encode text as training did');
  for (const k of Object.keys(tok)) {
    if (!TOKENIZER_KEYS.has(k) || (k === 'merges' && tok.kind !== 'bpe')) throw cant(`the tokenizer has a setting "${k}" (= ${JSON.stringify(tok[k])})`, `the metadata describes ${[...TOKENIZER_KEYS].join(', ')} only, so a consumer could not encode text as training did`);
  }
  if (tok.truncate !== 'start' && tok.truncate !== 'end') throw cant(`the tokenizer's truncate is ${JSON.stringify(tok.truncate)}`, 'only "start" and "end" are described');
  for (const k of ['lowercase', 'bos', 'eos'] as const) {
    if (typeof tok[k] !== 'boolean') throw cant(`the tokenizer's ${k} is ${JSON.stringify(tok[k])}`, 'it must be true or false');
  }
  if (tok.reverse !== undefined && typeof tok.reverse !== 'boolean') throw cant(`the tokenizer's reverse is ${JSON.stringify(tok.reverse)}`, 'it must be true or false');
  if (!Number.isInteger(tok.maxLength) || (tok.maxLength as number) < 0) throw cant(`the tokenizer's maxLength is ${JSON.stringify(tok.maxLength)}`, 'it must be 0 (no limit) or a positive integer');
  if (m.vocab.length !== s.V) throw new ExportError(`cannot export to ONNX: the vocabulary has ${m.vocab.length} tokens, the model spec says V=${s.V}`);
  const bpeWrong = tok.kind === 'bpe' ? bpeProblem(m.vocab, tok.merges) : null;
  if (bpeWrong) throw new ExportError(`cannot export to ONNX: ${bpeWrong}`);
  for (let i = 0; i < SPECIALS.length && i < m.vocab.length; i++) {
    if (m.vocab[i] !== SPECIALS[i]) throw new ExportError(`cannot export to ONNX: vocabulary id ${i} is ${JSON.stringify(m.vocab[i])}, expected the special token ${SPECIALS[i]}`);
  }
  if (s.task !== 'many-to-many' && m.labelNames.length !== s.C) throw new ExportError(`cannot export to ONNX: ${m.labelNames.length} ${s.task === 'tagging' ? 'tag' : 'label'} names for C=${s.C} ${s.task === 'tagging' ? 'tags' : 'classes'}`);
  const table = paramTable(s);
  const names = m.params.layout.tensors.map((t) => t.name);
  if (names.join() !== table.map(([n]) => n).join()) throw new ExportError(`cannot export to ONNX: the parameters (${names.join(', ')}) are not those of the model spec (${table.map(([n]) => n).join(', ')})`);
  const bytes = 4 * table.reduce((a, [, shape]) => a + shape.reduce((x, y) => x * y, 1), 0);
  if (bytes > MAX_MODEL_BYTES) throw cant(`the parameters take ${(bytes / 2 ** 30).toFixed(2)} GiB`, 'one ONNX file (a protobuf message) holds at most 2 GiB, and this exporter does not write external data files');
}

/** ONNX's gate order as indices into ours (PyTorch's): LSTM i,o,f,c from i,f,g,o; GRU z,r,h from r,z,n. */
export function onnxGateOrder(cell: ModelSpec['cell']): number[] {
  return cell === 'lstm' ? [0, 3, 1, 2] : cell === 'gru' ? [1, 0, 2] : [0];
}

/** Row blocks of a (G·H, I) matrix (or a G·H vector, I = 1) in ONNX's gate order, as float32. */
function reorderRows(a: Float, order: number[], H: number, I: number): Float32Array {
  const out = new Float32Array(order.length * H * I), n = H * I;
  order.forEach((g, k) => out.set(a.subarray(g * n, g * n + n), k * n));
  return out;
}

/** Column blocks of a (V, G·H) matrix in ONNX's gate order, as float32. */
function reorderColumns(a: Float, order: number[], H: number, V: number): Float32Array {
  const GH = order.length * H, out = new Float32Array(V * GH);
  for (let v = 0; v < V; v++) order.forEach((g, k) => out.set(a.subarray(v * GH + g * H, v * GH + g * H + H), v * GH + k * H));
  return out;
}

function transpose(a: Float, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;
const utf8 = (s: string) => new TextEncoder().encode(s);

function floatTensor(name: string, dims: number[], data: Float32Array): onnx.TensorProto.$Properties {
  if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`internal: tensor ${name} has ${data.length} values for dims ${dims}`);
  return { name, dims, dataType: DT.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

const int64Tensor = (name: string, values: number[]): onnx.TensorProto.$Properties => ({ name, dims: [values.length], dataType: DT.INT64, int64Data: values });

type Attr = onnx.AttributeProto.$Properties;
/**
 * An INT attribute. Proto3 encoders leave a zero scalar out of the message, and readers with
 * field presence (ONNX's own proto is proto2) would then see no value: attributes equal to 0 are
 * not written at all, so that the operator's default (Gather's axis 0) applies.
 */
const attrInt = (name: string, i: number): Attr => {
  if (i === 0) throw new Error(`internal: attribute ${name} = 0 would not be encoded; leave it to the operator's default`);
  return { name, type: AT.INT, i };
};
const attrInts = (name: string, ints: number[]): Attr => ({ name, type: AT.INTS, ints });
const attrString = (name: string, s: string): Attr => ({ name, type: AT.STRING, s: utf8(s) });

type Dim = string | number;
function valueInfo(name: string, elemType: number, dims: Dim[], docString: string): onnx.ValueInfoProto.$Properties {
  return {
    name, docString,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** The metadata_props of the exported model (also what a consumer reads to tokenize). */
export function onnxMetadata(m: ExportableModel): Record<string, string> {
  const { spec, tokenizer } = m;
  const m2o = spec.task === 'many-to-one', tagging = spec.task === 'tagging';
  const tok: Required<Omit<TokenizerSpec, 'merges'>> = {
    kind: tokenizer.kind, lowercase: tokenizer.lowercase, bos: tokenizer.bos, eos: tokenizer.eos,
    maxLength: tokenizer.maxLength, truncate: tokenizer.truncate, reverse: tokenizer.reverse ?? false,
  };
  const md: Record<string, string> = {
    'rnn_trainer.metadata_version': ONNX_METADATA_VERSION,
    task: spec.task,
    model: JSON.stringify({ cell: spec.cell, layers: layersOf(spec), hidden: spec.H, vocab_size: spec.V, classes: spec.C, embedding: spec.E, ...(spec.bidirectional ? { bidirectional: true } : {}), ...(spec.tieWeights ? { tie_weights: true } : {}) }),
    vocab: JSON.stringify(m.vocab),
    special_tokens: JSON.stringify({ pad: PAD, unk: UNK, bos: BOS, eos: EOS }),
    tokenizer: JSON.stringify(tok),
    word_pattern: WORD_PATTERN,
    encoding: ENCODING_STEPS,
    inputs: 'tokens: int32 (batch, time), token ids, each row right-padded with 0 (<pad>); lengths: int32 (batch), each row\'s real length, 1..time',
    outputs: m2o
      ? 'probabilities: float32 (batch, classes), softmax over the classes (labels[c] names class c) from the state at each row\'s last real token'
      : tagging ? 'probabilities: float32 (batch, time, tags): at step t, the distribution of token t\'s tag (tags[c] names tag c); steps t >= lengths[n] are padding'
      : 'probabilities: float32 (batch, time, vocab): at step t, the distribution of the token after tokens[:, t] (vocab[v] names token v); steps t >= lengths[n] are padding',
    output_layout: m2o ? 'batch, class' : tagging ? 'batch, time, tag' : 'batch, time, token',
  };
  if (m2o) md.labels = JSON.stringify(m.labelNames);
  if (tagging) {
    md.tags = JSON.stringify(m.labelNames);
    // A tagger's tokens are given, not found by the tokenizer: what predict.js does with a text.
    md.encoding = 'tagging: each token is one vocabulary entry, NFC-normalized (lowercased when tokenizer.lowercase), else <unk>; no <s> or </s>; '
      + 'a text is split into tokens as its characters without whitespace when tokenizer.kind is "char", else at whitespace; at most tokenizer.maxLength tokens (0: no limit)';
  }
  if (tokenizer.kind === 'bpe') {
    md.bpe_algorithm = BPE_ALGORITHM;
    md.bpe_pattern = PRETOKEN_PATTERN;
    md.bpe_byte_map = JSON.stringify(BYTE_CHARS);
    md.bpe_merges = JSON.stringify(tokenizer.merges ?? []);
  }
  return md;
}

let producerVersion: string | undefined;
/** This package's version (package.json above this file, in src/ or dist/src/). */
function packageVersion(): string {
  if (producerVersion !== undefined) return producerVersion;
  producerVersion = '';
  for (let dir = import.meta.dirname, i = 0; i < 5; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if (pkg.name === 'rnn-trainer') { producerVersion = String(pkg.version ?? ''); break; }
    } catch { /* not here */ }
  }
  return producerVersion;
}

/**
 * The model as an ONNX file (the bytes of one ModelProto). Throws an ExportError (checkExportable)
 * for a model the file could not reproduce.
 */
export function exportOnnx(m: ExportableModel, opts: ExportOptions = {}): Uint8Array {
  checkExportable(m);
  if (endianness() !== 'LE') throw new ExportError('cannot export to ONNX on a big-endian machine: raw_data must be little-endian');
  const { spec, params: p } = m;
  const { V, H, C, E } = spec;
  const L = layersOf(spec), G = gatesOf(spec.cell), GH = G * H, D = directionsOf(spec), bi = D === 2;
  const order = onnxGateOrder(spec.cell);
  const m2o = spec.task === 'many-to-one';
  const op = spec.cell === 'lstm' ? 'LSTM' : spec.cell === 'gru' ? 'GRU' : 'RNN';

  const initializer: onnx.TensorProto.$Properties[] = [];
  const node: onnx.NodeProto.$Properties[] = [];
  const add = (opType: string, input: string[], output: string[], attribute: Attr[] = [], docString = '') =>
    node.push({ name: `${opType}_${node.length}`, opType, input, output, attribute, docString });

  const used = new Set<string>();
  /** An int64 constant (Squeeze/Unsqueeze axes, shapes), stored once when first used. */
  const ints = (name: string, values: number[]) => {
    if (!used.has(name)) { used.add(name); initializer.push(int64Tensor(name, values)); }
    return name;
  };

  // The input sequence, time-major, through the token table (Gather's axis: its default, 0).
  add('Transpose', ['tokens'], ['tokens_tn'], [attrInts('perm', [1, 0])], 'tokens (N, T) -> (T, N)');
  if (E > 0) {
    initializer.push(floatTensor('embedding', [V, E], Float32Array.from(p.Wemb!)));
    add('Gather', ['embedding', 'tokens_tn'], ['x0'], [], 'x_t = Wemb[token]: (T, N, E)');
  } else if (!bi) {
    initializer.push(floatTensor('onehot_input_weight', [V, GH], reorderColumns(p.layers[0].Wih, order, H, V)));
    add('Gather', ['onehot_input_weight', 'tokens_tn'], ['x0'], [], 'W_ih·onehot(token) = column `token` of weight_ih_l0 (stored as row `token`): (T, N, G·H)');
    add('ConstantOfShape', [ints('identity_shape', [GH, GH])], ['identity_zeros']);
    add('EyeLike', ['identity_zeros'], ['identity']);
    add('Unsqueeze', ['identity', ints('axis0', [0])], ['W_0'], [], 'layer 0 input weight: the identity, its input being W_ih·x_t already');
  } else {
    initializer.push(floatTensor('onehot_input_weight', [V, GH], reorderColumns(p.layers[0].Wih, order, H, V)));
    initializer.push(floatTensor('onehot_input_weight_reverse', [V, GH], reorderColumns(p.reverse[0].Wih, order, H, V)));
    add('Gather', ['onehot_input_weight', 'tokens_tn'], ['x0_forward'], [], 'W_ih·onehot(token), forward direction: (T, N, G·H)');
    add('Gather', ['onehot_input_weight_reverse', 'tokens_tn'], ['x0_reverse'], [], 'W_ih·onehot(token), reverse direction: (T, N, G·H)');
    add('Concat', ['x0_forward', 'x0_reverse'], ['x0'], [attrInt('axis', 2)], 'both directions\' input projections side by side: (T, N, 2·G·H)');
    add('ConstantOfShape', [ints('identity_shape', [GH, 2 * GH])], ['identity_zeros']);
    add('EyeLike', ['identity_zeros'], ['identity_forward'], [], '[I, 0]: the forward direction takes the first G·H values');
    add('EyeLike', ['identity_zeros'], ['identity_reverse'], [attrInt('k', GH)], '[0, I]: the reverse direction the last G·H');
    // Stacked on a new first axis without a Concat on axis 0 (an attribute equal to 0 is not encoded: attrInt):
    // rows side by side, (G·H, 4·G·H), then (G·H, 2, 2·G·H), then (2, G·H, 2·G·H).
    add('Concat', ['identity_forward', 'identity_reverse'], ['identity_pair'], [attrInt('axis', 1)]);
    add('Reshape', ['identity_pair', ints('identity_pair_shape', [GH, 2, 2 * GH])], ['identity_pair_3d']);
    add('Transpose', ['identity_pair_3d'], ['W_0'], [attrInts('perm', [1, 0, 2])], 'layer 0 input weights (2, G·H, 2·G·H)');
  }

  let x = 'x0';
  for (let l = 0; l < L; l++) {
    const I = l > 0 ? D * H : E;
    // Per direction (forward, then reverse): W (G·H, I), R (G·H, H), B = [Wb, Rb] (2·G·H), stacked.
    const dirs = bi ? [p.layers[l], p.reverse[l]] : [p.layers[l]];
    const stack = (n: number, f: (lp: (typeof dirs)[number]) => Float32Array) => {
      const out = new Float32Array(D * n);
      dirs.forEach((lp, d) => out.set(f(lp), d * n));
      return out;
    };
    if (l > 0 || E > 0) initializer.push(floatTensor(`W_${l}`, [D, GH, I], stack(GH * I, (lp) => reorderRows(lp.Wih, order, H, I))));
    initializer.push(floatTensor(`R_${l}`, [D, GH, H], stack(GH * H, (lp) => reorderRows(lp.Whh, order, H, H))));
    initializer.push(floatTensor(`B_${l}`, [D, 2 * GH], stack(2 * GH, (lp) => {
      const b = new Float32Array(2 * GH);
      b.set(reorderRows(lp.bih, order, H, 1), 0);
      if (lp.bhh) b.set(reorderRows(lp.bhh, order, H, 1), GH); // the vanilla RNN's layer 0: its one bias ba is Wb, Rb = 0
      return b;
    })));
    const top = l === L - 1;
    const pooled = m2o && spec.pooling !== undefined && spec.pooling !== 'last';
    const Y = top && m2o && !pooled ? '' : `Y_${l}`; // many-to-one reads the top layer's Y_h only (unless it pools every step)
    const attrs = [attrInt('hidden_size', H), attrString('direction', bi ? 'bidirectional' : 'forward')];
    if (spec.cell === 'gru') attrs.push(attrInt('linear_before_reset', 1));
    add(op, [x, `W_${l}`, `R_${l}`, `B_${l}`, 'lengths'], [Y, `Y_h_${l}`], attrs, `layer ${l}`);
    if (!top || !m2o || pooled) {
      if (bi) {
        add('Transpose', [Y, ], [`Y_${l}_tnd`], [attrInts('perm', [0, 2, 1, 3])], `layer ${l}'s states (T, N, 2, H)`);
        add('Reshape', [`Y_${l}_tnd`, ints('shape_tn_', [0, 0, -1])], [`h_${l}`], [], `layer ${l}'s output [h→, h←] (T, N, 2H)`);
      } else {
        add('Squeeze', [Y, ints('axis1', [1])], [`h_${l}`], [], `layer ${l}'s states (T, N, H)`);
      }
      x = `h_${l}`;
    }
  }

  const Hout = D * H;
  if (m2o) {
    const pooling = spec.pooling ?? 'last';
    if (bi && pooling !== 'mean' && pooling !== 'max') {
      add('Transpose', [`Y_h_${L - 1}`], ['h_last_nd'], [attrInts('perm', [1, 0, 2])], 'the top layer\'s final states (N, 2, H)');
      add('Reshape', ['h_last_nd', ints('shape_n_', [0, -1])], ['h_last'], [], '[h→ at each row\'s last real token, h← back at its first] (N, 2H)');
    } else if (pooling !== 'mean' && pooling !== 'max') {
      add('Squeeze', [`Y_h_${L - 1}`, ints('axis0', [0])], ['h_last'], [], 'the top layer\'s state at each row\'s last real token (N, H)');
    }
    let head = 'h_last';
    if (pooling !== 'last') {
      // mask (T, N, 1): step t is real for row n when t < lengths[n]
      add('Shape', ['tokens'], ['tokens_shape']);
      add('Gather', ['tokens_shape', ints('index1', [1])], ['T_1']);
      add('Squeeze', ['T_1', ints('axis0', [0])], ['T_scalar']);
      add('Cast', ['T_scalar'], ['T_i32'], [attrInt('to', DT.INT32)]);
      initializer.push({ name: 'zero_i32', dims: [], dataType: DT.INT32, int32Data: [0] }, { name: 'one_i32', dims: [], dataType: DT.INT32, int32Data: [1] });
      add('Range', ['zero_i32', 'T_i32', 'one_i32'], ['steps']);
      add('Unsqueeze', ['steps', ints('axis1', [1])], ['steps_t1']);
      add('Unsqueeze', ['lengths', ints('axis0', [0])], ['lengths_1n']);
      add('Less', ['steps_t1', 'lengths_1n'], ['real_tn'], [], 'step t is real for row n (T, N)');
      add('Unsqueeze', ['real_tn', ints('axis2', [2])], ['real']);
      const parts: string[] = [];
      if (pooling === 'meanmax') parts.push('h_last');
      if (pooling === 'mean' || pooling === 'meanmax') {
        add('Cast', ['real'], ['real_f'], [attrInt('to', DT.FLOAT)]);
        add('Mul', [x, 'real_f'], ['x_real']);
        add('ReduceSum', ['x_real', ints('axis0', [0])], ['x_sum_1'], [], 'Σ over real steps (1, N, D·H)');
        add('Squeeze', ['x_sum_1', ints('axis0', [0])], ['x_sum']);
        add('Cast', ['lengths'], ['lengths_f'], [attrInt('to', DT.FLOAT)]);
        add('Unsqueeze', ['lengths_f', ints('axis1', [1])], ['lengths_n1']);
        add('Div', ['x_sum', 'lengths_n1'], ['h_mean'], [], 'mean over real steps (N, D·H)');
        parts.push('h_mean');
      }
      if (pooling === 'max' || pooling === 'meanmax') {
        initializer.push(floatTensor('lowest', [], Float32Array.of(-3.4028234663852886e38)));
        add('Where', ['real', x, 'lowest'], ['x_or_lowest']);
        add('ReduceMax', ['x_or_lowest'], ['x_max_1'], [attrInts('axes', [0])], 'max over real steps (1, N, D·H)');
        add('Squeeze', ['x_max_1', ints('axis0', [0])], ['h_max']);
        parts.push('h_max');
      }
      head = parts.length === 1 ? parts[0] : 'h_pooled';
      if (parts.length > 1) add('Concat', parts, ['h_pooled'], [attrInt('axis', 1)], '[last, mean, max] (N, 3·D·H)');
    }
    const Hp = (pooling === 'meanmax' ? 3 : 1) * Hout;
    initializer.push(floatTensor('Wya', [C, Hp], Float32Array.from(p.Wya)), floatTensor('by', [C], Float32Array.from(p.by)));
    add('Gemm', [head, 'Wya', 'by'], ['logits'], [attrInt('transB', 1)], 'Wya·h + by (N, C)');
    add('Softmax', ['logits'], ['probabilities'], [attrInt('axis', 1)]);
  } else {
    add('Transpose', [x], ['h_nth'], [attrInts('perm', [1, 0, 2])], 'the top layer\'s outputs, batch-major (N, T, D·H)');
    if (spec.tieWeights) {
      // The output weight is the embedding table itself: one initializer, read by the Gather above and here.
      add('Transpose', ['embedding'], ['embedding_t'], [attrInts('perm', [1, 0])], 'tied: Wya = Wemb, transposed (E, V)');
      let z = 'h_nth';
      if (p.Wproj) {
        initializer.push(floatTensor('Wproj_t', [H, E], transpose(p.Wproj, E, H)));
        add('MatMul', ['h_nth', 'Wproj_t'], ['z_nte'], [], 'tied, E ≠ H: z_t = Wproj·h_t (N, T, E)');
        z = 'z_nte';
      }
      add('MatMul', [z, 'embedding_t'], ['logits_nobias']);
    } else {
      initializer.push(floatTensor('Wya_t', [Hout, C], transpose(p.Wya, C, Hout)));
      add('MatMul', ['h_nth', 'Wya_t'], ['logits_nobias']);
    }
    initializer.push(floatTensor('by', [C], Float32Array.from(p.by)));
    add('Add', ['logits_nobias', 'by'], ['logits'], [], 'Wya·h_t + by (N, T, C)');
    add('Softmax', ['logits'], ['probabilities'], [attrInt('axis', 2)]);
  }

  const input = [
    valueInfo('tokens', DT.INT32, ['batch', 'time'], 'token ids (N, T), each row right-padded with 0 (<pad>)'),
    valueInfo('lengths', DT.INT32, ['batch'], 'each row\'s real length, 1..T'),
  ];
  const output = [m2o
    ? valueInfo('probabilities', DT.FLOAT, ['batch', C], 'class probabilities (N, C)')
    : valueInfo('probabilities', DT.FLOAT, ['batch', 'time', C], spec.task === 'tagging'
      ? 'tag probabilities of every token (N, T, C); steps t >= lengths[n] are padding'
      : 'next-token probabilities at every step (N, T, V); steps t >= lengths[n] are padding')];

  const metadata = onnxMetadata(m);
  for (const [k, v] of Object.entries(opts.metadata ?? {})) {
    if (k in metadata) throw new Error(`exportOnnx: metadata key ${JSON.stringify(k)} is the exporter's own`);
    metadata[k] = v;
  }
  const doc = `rnn-trainer ${bi ? 'bidirectional ' : ''}${spec.cell} × ${L} layer${L > 1 ? 's' : ''}, ${spec.task}, ${E > 0 ? `embedding E=${E}` : 'one-hot input'}, V=${V} H=${H} C=${C}. `
    + `Inputs: ${metadata.inputs}. Output: ${metadata.outputs}. How to encode text: metadata_props "encoding".`;
  const model: onnx.ModelProto.$Properties = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'rnn-trainer',
    producerVersion: packageVersion(),
    docString: doc,
    graph: { name: opts.graphName ?? 'rnn_trainer', node, initializer, input, output, docString: doc },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(model).finish();
}

/** The metadata_props of an ONNX file (onnxruntime's JavaScript API does not expose them). */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const m = onnx.ModelProto.decode(bytes);
  return Object.fromEntries(m.metadataProps.map((e) => [e.key ?? '', e.value ?? '']));
}
