// Checkpoint bytes <-> CheckpointData. The format is proto/checkpoint.proto (read it first).
//
// Encoding: small fields go through the generated protobufjs encoder; the tensors' `data` payloads
// are spliced in as views of the caller's arrays (no copy), with their length prefixes computed
// here. The result is a list of parts whose concatenation is exactly the bytes the generated
// encoder would produce for the same message (a test checks this), plus the 12-byte trailer.
//
// Decoding validates before it allocates: signature, format version, completion marker, protobuf
// structure, metadata CRC, the model spec, every tensor's name/shape/dtype against the spec's
// parameter table and its byte length against its shape; only then are tensors copied out (into
// fresh aligned arrays: decoded `bytes` are views at arbitrary offsets of the file buffer) and
// their CRC32C checked.

import { describeLoneSurrogate, loneSurrogateAt } from '../util/text.js';
import { rnntrainer } from './pb/checkpoint.js';
import { crc32c } from '../util/crc32c.js';
import { CHECKPOINT_FORMAT_VERSION, type CheckpointData, type TensorData, type OptimizerKind } from './types.js';
import { checkSpec, paramTable, layersOf, stateSize, type Cell, type ModelSpec, type ParamTable, type Task } from '../model/spec.js';
import { CheckpointError } from '../util/errors.js';

const pb = rnntrainer.checkpoint;

// ---------------------------------------------------------------------------------------------
// Constants of the format

/** Checkpoint.magic: "RNNC" little-endian. */
export const MAGIC = 0x434e4e52;
/** Trailer.magic: "RNNE" little-endian. */
export const TRAILER_MAGIC = 0x454e4e52;
/** Every checkpoint starts with these bytes: field 1 (fixed32) tag, then "RNNC". */
export const SIGNATURE = Uint8Array.of(0x0d, 0x52, 0x4e, 0x4e, 0x43);
/** Field 15 (length-delimited, 10 bytes), Trailer.magic tag + "RNNE", Trailer.meta_crc32c tag. */
const TRAILER_HEAD = Uint8Array.of(0x7a, 0x0a, 0x0d, 0x52, 0x4e, 0x4e, 0x45, 0x15);
export const TRAILER_SIZE = 12;
export const NOT_A_CHECKPOINT = 'not an rnn-trainer checkpoint (it does not start with the "RNNC" signature)';
const VERSION_TAG = 0x10; // field 2, varint

/** Largest tensor accepted, in elements (4 GiB of float32): guards absurd shape claims. */
export const MAX_TENSOR_ELEMENTS = 2 ** 30;
/** Largest model dimension (V, H, C, E) accepted. */
const MAX_DIM = 2 ** 31 - 1;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
function assertLittleEndian(): void {
  // Tensors are stored little-endian and copied as bytes; a big-endian host would need swaps.
  if (!LITTLE_ENDIAN) throw new CheckpointError('checkpoints: big-endian hosts are not supported');
}

// ---------------------------------------------------------------------------------------------
// Enum mappings

const CELLS: Record<number, Cell> = { [pb.Cell.CELL_RNN]: 'rnn', [pb.Cell.CELL_LSTM]: 'lstm', [pb.Cell.CELL_GRU]: 'gru' };
const CELL_ENUM: Record<Cell, number> = { rnn: pb.Cell.CELL_RNN, lstm: pb.Cell.CELL_LSTM, gru: pb.Cell.CELL_GRU };
const TASKS: Record<number, Task> = { [pb.Task.TASK_MANY_TO_ONE]: 'many-to-one', [pb.Task.TASK_MANY_TO_MANY]: 'many-to-many', [pb.Task.TASK_TAGGING]: 'tagging' };
const OPTIMIZERS: Record<number, OptimizerKind> = { [pb.OptimizerKind.OPTIMIZER_ADAM]: 'adam', [pb.OptimizerKind.OPTIMIZER_SGD]: 'sgd' };
const taskEnum = (t: Task) => (t === 'many-to-one' ? pb.Task.TASK_MANY_TO_ONE : t === 'tagging' ? pb.Task.TASK_TAGGING : pb.Task.TASK_MANY_TO_MANY);
const optimizerEnum = (k: OptimizerKind) => (k === 'adam' ? pb.OptimizerKind.OPTIMIZER_ADAM : pb.OptimizerKind.OPTIMIZER_SGD);

// ---------------------------------------------------------------------------------------------
// Structure checks shared by the writer and the reader. They look at names, shapes and byte
// lengths only, so they run before any tensor is copied or allocated.

interface TensorHead {
  name: string;
  shape: number[];
  byteLength: number;
}

type Fail = (problem: string) => never;

/** More stacked layers than anyone trains: a claim beyond it is corruption, refused before a table is built. */
const MAX_LAYERS = 64;

const fmtShape = (s: number[]) => `[${s.join(', ')}]`;
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function checkModelSpec(s: ModelSpec, fail: Fail): void {
  for (const k of ['V', 'H', 'C', 'E'] as const) {
    if (!isCount(s[k]) || s[k] > MAX_DIM) fail(`model spec: ${k} = ${s[k]} is not a size (an integer in 0..${MAX_DIM})`);
  }
  const L = layersOf(s);
  if (!isCount(L) || L < 1 || L > MAX_LAYERS) fail(`model spec: ${L} layers is not a layer count (an integer in 1..${MAX_LAYERS})`);
  try {
    checkSpec(s);
  } catch (e) {
    fail(`model spec is invalid: ${(e as Error).message}`);
  }
}

/** Element count of `shape`, failing (without allocating) on a non-integer or absurd claim. */
function elementCount(what: string, shape: number[], fail: Fail): number {
  let n = 1;
  for (const d of shape) {
    if (!isCount(d)) fail(`${what} has an invalid dimension ${d} in shape ${fmtShape(shape)}`);
    n *= d;
  }
  if (n > MAX_TENSOR_ELEMENTS) {
    fail(`${what} claims shape ${fmtShape(shape)} = ${n} elements, more than the limit of ${MAX_TENSOR_ELEMENTS} elements`);
  }
  return n;
}

/** `tensors` must be exactly the parameter table: same count, names, shapes; bytes = 4 x elements. */
function checkTensorList(what: string, tensors: TensorHead[], table: ParamTable, spec: ModelSpec, fail: Fail): void {
  const L = layersOf(spec);
  const specText = `V=${spec.V} H=${spec.H} C=${spec.C} E=${spec.E}${spec.cell !== 'rnn' || L > 1 ? `, ${spec.cell} × ${L} layer${L > 1 ? 's' : ''}` : ''}`;
  if (tensors.length !== table.length) {
    fail(`${what}: expected ${table.length} tensors (${table.map(([n]) => n).join(', ')}) for the model spec (${specText}), found ${tensors.length}`);
  }
  table.forEach(([name, shape], i) => {
    const t = tensors[i];
    if (t.name !== name) fail(`${what}: tensor ${i} is named ${JSON.stringify(t.name)}, expected ${JSON.stringify(name)}`);
    const label = `${what} tensor ${name}`;
    const n = elementCount(label, t.shape, fail);
    if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k])) {
      fail(`${label} has shape ${fmtShape(t.shape)}, but the model spec (${specText}) requires ${fmtShape(shape)}`);
    }
    if (t.byteLength !== n * 4) {
      fail(`${label} has shape ${fmtShape(t.shape)} (${n} float32 = ${n * 4} bytes) but holds ${t.byteLength} bytes`);
    }
  });
}

interface Structure {
  spec: ModelSpec;
  params: TensorHead[];
  optimizer: { kind: OptimizerKind; step: number; moments: { name: string; tensors: TensorHead[] }[] };
  training: CheckpointData['training'];
  vocab: string[];
  labelNames: string[];
  tokenizer: string;
  config: string;
  dataFingerprint?: string;
}

function checkStructure(c: Structure, fail: Fail): void {
  checkModelSpec(c.spec, fail);
  const table = paramTable(c.spec);
  checkTensorList('params', c.params, table, c.spec, fail);

  const o = c.optimizer;
  if (o.kind !== 'adam' && o.kind !== 'sgd') fail(`optimizer kind ${JSON.stringify(o.kind)} is not "adam" or "sgd"`);
  if (!isCount(o.step)) fail(`optimizer step ${o.step} is not a non-negative integer`);
  const seen = new Set<string>();
  for (const m of o.moments) {
    if (!m.name) fail('optimizer: a moment set has no name');
    if (seen.has(m.name)) fail(`optimizer: moment set ${JSON.stringify(m.name)} appears twice`);
    seen.add(m.name);
    checkTensorList(`optimizer moment ${JSON.stringify(m.name)}`, m.tensors, table, c.spec, fail);
  }

  const t = c.training;
  for (const k of ['globalStep', 'epoch', 'batchInEpoch', 'bestStep', 'seed'] as const) {
    if (!isCount(t[k])) fail(`training state: ${k} = ${t[k]} is not a non-negative integer`);
  }
  const r = t.rngState;
  if (!Array.isArray(r) || r.length !== 4 || r.some((w) => !isCount(w) || w > 0xffffffff)) {
    fail(`training state: the PRNG state must be four uint32 words, got ${JSON.stringify(r)}`);
  }
  if ((r[0] | r[1] | r[2] | r[3]) === 0) fail('training state: the PRNG state is all zeros (invalid for xoshiro128**)');
  if (typeof t.bestMetric !== 'number') fail(`training state: bestMetric ${String(t.bestMetric)} is not a number (use NaN for none)`);
  if (t.carry) {
    const S = stateSize(c.spec), rows = t.carry.ids.length;
    if (t.carry.state.length !== rows * S) fail(`training state: the carried state has ${t.carry.state.length} values, ${rows} rows of ${S} (the model's state) need ${rows * S}`);
    if (t.carry.ids.some((id) => !Number.isInteger(id) || id < -1)) fail('training state: a carried chunk id is not an id or -1');
  }

  if (c.vocab.length !== c.spec.V) fail(`the vocabulary has ${c.vocab.length} tokens, but the model spec says V=${c.spec.V}`);
  const wantLabels = c.spec.task !== 'many-to-many' ? c.spec.C : 0; // class or tag names
  if (c.labelNames.length !== wantLabels) {
    fail(`there are ${c.labelNames.length} label names, but a ${c.spec.task} model with C=${c.spec.C} needs ${wantLabels}`);
  }
  for (const [k, text] of [['tokenizer', c.tokenizer], ['config', c.config]] as const) {
    try {
      JSON.parse(text);
    } catch {
      fail(`the ${k} is not valid JSON: ${JSON.stringify(text.slice(0, 60))}`);
    }
  }
  // Every string is stored as UTF-8, and a lone surrogate has no UTF-8 form: the encoder would
  // write bytes that no decoder reads back (a file that looks whole and is lost). Data loading
  // refuses such text with its place; this is the last line.
  const strings: [string, string][] = [
    ...c.vocab.map((v, i): [string, string] => [`vocabulary token ${i}`, v]),
    ...c.labelNames.map((l, i): [string, string] => [`label name ${i}`, l]),
    ['the tokenizer', c.tokenizer], ['the config', c.config], ['the data fingerprint', c.dataFingerprint ?? ''],
  ];
  for (const [what, v] of strings) {
    const at = loneSurrogateAt(v);
    if (at >= 0) fail(`${what} holds ${describeLoneSurrogate(v, at)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** One piece of the encoded file; `payload` marks a tensor's data (not in the metadata CRC). */
interface Part {
  bytes: Uint8Array;
  payload: boolean;
}

/** The encoded file as parts (tensor payloads are views of the caller's arrays). */
export interface EncodedParts {
  parts: Part[];
  size: number;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

const small = (bytes: ArrayLike<number> | Uint8Array): Part => ({ bytes: bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes), payload: false });
const partsLength = (parts: Part[]) => parts.reduce((s, p) => s + p.bytes.length, 0);

/** A length-delimited field wrapping `body`: tag, varint length, body. */
function lenField(field: number, body: Part[]): Part[] {
  return [small([...varint((field << 3) | 2), ...varint(partsLength(body))]), ...body];
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A Tensor message: small fields by the generated encoder, then field 5 (data) spliced in. */
function tensorBody(t: TensorData): Part[] {
  const data = bytesOf(t.data);
  const head = pb.Tensor.encode({ name: t.name, shape: t.shape, dtype: pb.DType.DTYPE_FLOAT32, crc32c: crc32c(data) }).finish();
  return [small(head), small([(5 << 3) | 2, ...varint(data.length)]), { bytes: data, payload: true }];
}

/** Merge runs of small parts, so that writing makes few system calls. */
function coalesce(parts: Part[]): Part[] {
  const out: Part[] = [];
  let run: Part[] = [];
  const flush = () => {
    if (run.length === 0) return;
    if (run.length === 1) out.push(run[0]);
    else {
      const b = new Uint8Array(partsLength(run));
      let o = 0;
      for (const p of run) {
        b.set(p.bytes, o);
        o += p.bytes.length;
      }
      out.push({ bytes: b, payload: false });
    }
    run = [];
  };
  for (const p of parts) {
    if (p.payload) {
      flush();
      out.push(p);
    } else run.push(p);
  }
  flush();
  return out;
}

function trailer(metaCrc: number): Uint8Array {
  const b = new Uint8Array(TRAILER_SIZE);
  b.set(TRAILER_HEAD, 0);
  new DataView(b.buffer).setUint32(8, metaCrc >>> 0, true);
  return b;
}

/** Validates `c` and encodes it as parts (no copies of tensor data). Throws CheckpointError. */
export function encodeParts(c: CheckpointData): EncodedParts {
  assertLittleEndian();
  const fail: Fail = (problem) => {
    throw new CheckpointError(`invalid checkpoint data: ${problem}`);
  };
  if (c.formatVersion !== CHECKPOINT_FORMAT_VERSION) fail(`formatVersion ${c.formatVersion}: only version ${CHECKPOINT_FORMAT_VERSION} can be written`);
  const head = (t: TensorData): TensorHead => {
    if (!(t.data instanceof Float32Array)) fail(`tensor ${t.name}: data must be a Float32Array`);
    return { name: t.name, shape: t.shape, byteLength: t.data.byteLength };
  };
  checkStructure(
    {
      ...c,
      params: c.params.map(head),
      optimizer: { ...c.optimizer, moments: c.optimizer.moments.map((m) => ({ name: m.name, tensors: m.tensors.map(head) })) },
    },
    fail,
  );

  const s = c.spec;
  const parts: Part[] = [];
  // Fields 1-3: magic, format_version, spec.
  parts.push(
    small(
      pb.Checkpoint.encode({
        magic: MAGIC,
        formatVersion: c.formatVersion,
        spec: {
          cell: CELL_ENUM[s.cell],
          task: taskEnum(s.task),
          input: s.E > 0 ? pb.InputKind.INPUT_EMBEDDING : pb.InputKind.INPUT_ONEHOT,
          vocabSize: s.V,
          hiddenSize: s.H,
          numClasses: s.C,
          embeddingDim: s.E,
          // Left out for one layer, so single-layer files keep the bytes they always had.
          ...(layersOf(s) > 1 ? { numLayers: layersOf(s) } : {}),
          // Left out when untied and full softmax, likewise.
          ...(s.tieWeights ? { tieWeights: true } : {}),
          ...(s.adaptive ? { adaptiveSoftmax: { cutoffs: s.adaptive.cutoffs, divValue: s.adaptive.divValue, headBias: s.adaptive.headBias } } : {}),
          ...(s.bidirectional ? { bidirectional: true } : {}),
          ...(s.pooling && s.pooling !== 'last' ? { pooling: s.pooling } : {}),
        },
      }).finish(),
    ),
  );
  // Field 4: params.
  for (const t of c.params) parts.push(...lenField(4, tensorBody(t)));
  // Field 5: optimizer = kind, step, then moment sets (name, then tensors).
  const o = c.optimizer;
  const optBody: Part[] = [small(pb.OptimizerState.encode({ kind: optimizerEnum(o.kind), step: o.step }).finish())];
  for (const m of o.moments) {
    const setBody: Part[] = [small(pb.MomentSet.encode({ name: m.name }).finish())];
    for (const t of m.tensors) setBody.push(...lenField(2, tensorBody(t)));
    optBody.push(...lenField(3, setBody));
  }
  parts.push(...lenField(5, optBody));
  // Fields 6-11.
  const t = c.training;
  parts.push(
    small(
      pb.Checkpoint.encode({
        training: {
          globalStep: t.globalStep,
          epoch: t.epoch,
          batchInEpoch: t.batchInEpoch,
          rngState: [...t.rngState],
          ...(Number.isNaN(t.bestMetric) ? {} : { bestMetric: t.bestMetric }),
          bestStep: t.bestStep,
          seed: t.seed,
          ...(t.kernels ? { kernels: t.kernels } : {}),
          ...(t.carry ? { carryState: Array.from(t.carry.state), carryIds: Array.from(t.carry.ids) } : {}),
          ...(t.sinceBest ? { validationsSinceBest: t.sinceBest } : {}),
          ...(t.lrScale !== undefined && t.lrScale !== 1 ? { lrScale: t.lrScale } : {}),
          ...(t.plateauBest !== undefined && !Number.isNaN(t.plateauBest) ? { plateauBest: t.plateauBest } : {}),
          ...(t.plateauWait ? { plateauWait: t.plateauWait } : {}),
        },
        vocab: c.vocab,
        labelNames: c.labelNames,
        tokenizerJson: c.tokenizer,
        configJson: c.config,
        dataFingerprint: c.dataFingerprint ?? '',
      }).finish(),
    ),
  );
  // Field 15: the trailer, last, with the CRC32C of all metadata bytes before it.
  let meta = 0;
  for (const p of parts) if (!p.payload) meta = crc32c(p.bytes, meta);
  parts.push(small(trailer(meta)));

  const out = coalesce(parts);
  return { parts: out, size: partsLength(out) };
}

/** Validates `c` and encodes it as one buffer (a copy of every tensor). */
export function encodeCheckpoint(c: CheckpointData): Uint8Array {
  const { parts, size } = encodeParts(c);
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p.bytes, o);
    o += p.bytes.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding

type PbCheckpoint = ReturnType<typeof pb.Checkpoint.decode>;
type PbTensor = rnntrainer.checkpoint.Tensor.$Properties;

function allTensors(m: PbCheckpoint): PbTensor[] {
  const out: PbTensor[] = [...(m.params ?? [])];
  for (const s of m.optimizer?.moments ?? []) out.push(...(s.tensors ?? []));
  return out;
}

/**
 * CRC32C of `bytes[0, end)` without the tensors' data payloads (views into `bytes`), or null
 * if a payload is not a view of `bytes` (then the layout cannot be checked).
 */
function metaCrc(bytes: Uint8Array, end: number, tensors: PbTensor[]): number | null {
  const ranges: [number, number][] = [];
  for (const t of tensors) {
    const d = t.data;
    if (!d || d.length === 0) continue;
    if (d.buffer !== bytes.buffer) return null;
    const start = d.byteOffset - bytes.byteOffset;
    ranges.push([start, start + d.length]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  let crc = 0;
  let pos = 0;
  for (const [a, b] of ranges) {
    if (a < pos || b > end) return null;
    crc = crc32c(bytes.subarray(pos, a), crc);
    pos = b;
  }
  return crc32c(bytes.subarray(pos, end), crc);
}

/** The format version, read from its fixed place right after the signature. 0 if absent. */
function readVersion(bytes: Uint8Array): number {
  if (bytes.length <= 6) return -1;
  if (bytes[5] !== VERSION_TAG) return 0;
  let v = 0;
  for (let i = 0; i < 5; i++) {
    const b = bytes[6 + i];
    if (b === undefined) return -1;
    v += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return v;
  }
  return -1;
}

/**
 * The checks that need only a few bytes of a `size`-byte file, read through `read(pos, length)`:
 * format version, the completion marker at the end, and the top-level fields' tags and length
 * prefixes, which must tile the file exactly up to the marker (their payloads are skipped, not
 * read). A file that only starts like a checkpoint (a huge one included) is refused here, before
 * it is read whole. Returns the problem, or null.
 */
export function checkFraming(size: number, read: (pos: number, length: number) => Uint8Array): string | null {
  const version = readVersion(read(0, 16));
  if (version < 0) return 'truncated: the file ends inside its header';
  if (version !== CHECKPOINT_FORMAT_VERSION) return `unknown format version ${version}: this program reads version ${CHECKPOINT_FORMAT_VERSION}`;
  const end = size - TRAILER_SIZE;
  const tail = read(Math.max(0, end), TRAILER_SIZE);
  if (end < SIGNATURE.length || TRAILER_HEAD.some((b, i) => tail[i] !== b)) {
    return `truncated or incompletely written: the completion marker at the end of the file is missing (${size} bytes)`;
  }
  // Walk the fields through a window of the file; a field's payload moves the position past it.
  const WINDOW = 64 * 1024;
  let buf: Uint8Array = new Uint8Array(0), at = 0;
  const varint = (pos: number): [number, number] | null => {
    if (pos < at || pos + 10 > at + buf.length) { buf = read(pos, WINDOW); at = pos; }
    let v = 0;
    for (let i = 0; i < 10 && pos - at + i < buf.length; i++) {
      const b = buf[pos - at + i];
      v += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) return [v, pos + i + 1];
    }
    return null;
  };
  const corrupt = (pos: number, why: string) => `corrupt: ${why} at byte ${pos} (of ${size})`;
  let pos = 0;
  while (pos < end) {
    const tag = varint(pos);
    if (!tag || tag[0] < 8) return corrupt(pos, 'no protobuf field starts');
    const [key, next] = tag, wire = key % 8, field = Math.floor(key / 8);
    let len: number;
    if (wire === 0) { const v = varint(next); if (!v) return corrupt(next, `field ${field}: no varint`); pos = v[1]; continue; }
    else if (wire === 1) len = 8;
    else if (wire === 5) len = 4;
    else if (wire === 2) {
      const v = varint(next);
      if (!v) return corrupt(next, `field ${field}: no length`);
      [len, pos] = v;
      if (pos + len > end) return corrupt(pos, `field ${field} claims ${len} bytes, past the end of its data (${end - pos} bytes are left before the completion marker)`);
      pos += len;
      continue;
    } else return corrupt(pos, `field ${field} has wire type ${wire}, which this format does not use`);
    pos = next + len;
  }
  if (pos !== end) return corrupt(end, 'the last field runs into the completion marker');
  return null;
}

/**
 * A protobuf 64-bit integer as a number. The generated decoder returns Long objects for uint64
 * fields; above 2^53 the result is inexact, which the checks catch (Number.isSafeInteger).
 */
function num(v: number | { toNumber(): number } | null | undefined): number {
  if (v == null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

const hex = (x: number) => '0x' + (x >>> 0).toString(16).padStart(8, '0');

/**
 * Decodes and validates a checkpoint file's bytes. `file` names the file in error messages.
 * Every problem (truncation, foreign file, unknown version, CRC mismatch, shapes that contradict
 * the spec, absurd sizes) throws a CheckpointError naming the file and the problem, before any
 * tensor is allocated. Tensors come back as fresh aligned Float32Arrays.
 */
export function decodeCheckpoint(bytes: Uint8Array, file: string): CheckpointData {
  assertLittleEndian();
  const fail: Fail = (problem) => {
    throw new CheckpointError(`checkpoint ${file}: ${problem}`, file);
  };
  if (bytes.length === 0) fail('the file is empty');
  if (bytes.length < SIGNATURE.length || SIGNATURE.some((b, i) => bytes[i] !== b)) fail(NOT_A_CHECKPOINT);
  const version = readVersion(bytes);
  if (version < 0) fail('truncated: the file ends inside its header');
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    fail(`unknown format version ${version}: this program reads version ${CHECKPOINT_FORMAT_VERSION}`);
  }
  const end = bytes.length - TRAILER_SIZE;
  if (end < SIGNATURE.length || TRAILER_HEAD.some((b, i) => bytes[end + i] !== b)) {
    fail(`truncated or incompletely written: the completion marker at the end of the file is missing (${bytes.length} bytes)`);
  }

  let m: PbCheckpoint;
  try {
    m = pb.Checkpoint.decode(bytes);
  } catch (e) {
    return fail(`corrupt: the protobuf message cannot be decoded (${(e as Error).message})`);
  }
  const stored = new DataView(bytes.buffer, bytes.byteOffset + end + 8, 4).getUint32(0, true);
  const computed = metaCrc(bytes, end, allTensors(m));
  if (computed === null) fail('corrupt: tensor data overlaps other fields or the trailer');
  if (computed !== stored) fail(`corrupt: the metadata checksum does not match (stored ${hex(stored)}, computed ${hex(computed!)})`);

  // The structure, still without touching tensor data.
  const ps = m.spec;
  if (!ps) return fail('the model spec is missing');
  const cell = CELLS[ps.cell ?? 0];
  if (!cell) fail(`unknown cell ${ps.cell} in the model spec`);
  const task = TASKS[ps.task ?? 0];
  if (!task) fail(`unknown task ${ps.task} in the model spec`);
  const spec: ModelSpec = { cell, task, V: num(ps.vocabSize), H: num(ps.hiddenSize), C: num(ps.numClasses), E: num(ps.embeddingDim), layers: Math.max(1, num(ps.numLayers)), ...(ps.bidirectional ? { bidirectional: true } : {}), ...(ps.pooling ? { pooling: ps.pooling as ModelSpec['pooling'] } : {}) };
  if (ps.tieWeights) spec.tieWeights = true;
  const ad = ps.adaptiveSoftmax;
  if (ad) {
    spec.adaptive = { cutoffs: (ad.cutoffs ?? []).map(num), divValue: ad.divValue ?? 0, headBias: ad.headBias ?? false };
  }
  const wantInput = spec.E > 0 ? pb.InputKind.INPUT_EMBEDDING : pb.InputKind.INPUT_ONEHOT;
  if (ps.input !== wantInput) fail(`model spec: input kind ${ps.input} contradicts embedding_dim ${spec.E}`);
  const po = m.optimizer;
  if (!po) return fail('the optimizer state is missing');
  const kind = OPTIMIZERS[po.kind ?? 0];
  if (!kind) fail(`unknown optimizer kind ${po.kind}`);
  const pt = m.training;
  if (!pt) return fail('the training state is missing');

  const head = (t: PbTensor, what: string): TensorHead => {
    if (t.dtype !== pb.DType.DTYPE_FLOAT32) fail(`${what} tensor ${JSON.stringify(t.name ?? '')} has dtype ${t.dtype}, expected ${pb.DType.DTYPE_FLOAT32} (float32)`);
    return { name: t.name ?? '', shape: (t.shape ?? []).map(num), byteLength: t.data?.length ?? 0 };
  };
  const moments = (po.moments ?? []).map((s) => ({ name: s.name ?? '', tensors: s.tensors ?? [] }));
  const training = {
    globalStep: num(pt.globalStep),
    epoch: num(pt.epoch),
    batchInEpoch: num(pt.batchInEpoch),
    rngState: (pt.rngState ?? []).map(num) as [number, number, number, number],
    bestMetric: typeof pt.bestMetric === 'number' ? pt.bestMetric : NaN,
    bestStep: num(pt.bestStep),
    seed: num(pt.seed),
    ...(pt.kernels ? { kernels: pt.kernels } : {}),
    ...(pt.carryIds?.length ? { carry: { ids: Int32Array.from(pt.carryIds), state: Float32Array.from(pt.carryState ?? []) } } : {}),
    ...(pt.validationsSinceBest ? { sinceBest: num(pt.validationsSinceBest) } : {}),
    ...(pt.lrScale ? { lrScale: pt.lrScale } : {}),
    ...(typeof pt.plateauBest === 'number' ? { plateauBest: pt.plateauBest } : {}),
    ...(pt.plateauWait ? { plateauWait: num(pt.plateauWait) } : {}),
  };
  const rest = {
    vocab: m.vocab ?? [],
    labelNames: m.labelNames ?? [],
    tokenizer: m.tokenizerJson ?? '',
    config: m.configJson ?? '',
  };
  checkStructure(
    {
      spec,
      params: (m.params ?? []).map((t) => head(t, 'params')),
      optimizer: { kind, step: num(po.step), moments: moments.map((s) => ({ name: s.name, tensors: s.tensors.map((t) => head(t, `optimizer moment ${JSON.stringify(s.name)}`)) })) },
      training,
      ...rest,
    },
    fail,
  );

  // Sizes are now known to be sane and backed by bytes in the file: copy out, check CRCs.
  const load = (t: PbTensor, what: string): TensorData => {
    const shape = (t.shape ?? []).map(num);
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const dst = new Uint8Array(data.buffer);
    dst.set(t.data!);
    const crc = crc32c(dst); // on the aligned copy: the fast path
    const want = (t.crc32c ?? 0) >>> 0;
    if (crc !== want) fail(`${what} tensor ${t.name} fails its CRC32C check (stored ${hex(want)}, computed ${hex(crc)}): its data is corrupt`);
    return { name: t.name!, shape, data };
  };
  return {
    formatVersion: version,
    spec,
    params: (m.params ?? []).map((t) => load(t, 'params')),
    optimizer: { kind, step: num(po.step), moments: moments.map((s) => ({ name: s.name, tensors: s.tensors.map((t) => load(t, `optimizer moment ${JSON.stringify(s.name)}`)) })) },
    training,
    ...rest,
    ...(m.dataFingerprint ? { dataFingerprint: m.dataFingerprint } : {}),
  };
}

/**
 * Appends a valid trailer to a message encoded WITHOUT one (for tools and tests that craft files
 * with the generated encoder, e.g. to check that the reader rejects a bad shape).
 */
export function sealMessage(body: Uint8Array): Uint8Array {
  const m = pb.Checkpoint.decode(body);
  if (m.trailer) throw new Error('sealMessage: the message already has a trailer');
  const crc = metaCrc(body, body.length, allTensors(m));
  if (crc === null) throw new Error('sealMessage: tensor data are not views of the message');
  const out = new Uint8Array(body.length + TRAILER_SIZE);
  out.set(body, 0);
  out.set(trailer(crc), body.length);
  return out;
}
