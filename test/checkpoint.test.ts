// The checkpoint format: CRC32C, bit-exact round trips, agreement with the generated protobuf
// code, and every kind of bad file (each must throw a CheckpointError naming the file).

import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  crc32c,
  decodeCheckpoint,
  encodeCheckpoint,
  sealMessage,
  specDifferences,
  MAX_TENSOR_ELEMENTS,
  type CheckpointData,
  type TensorData,
} from '../src/checkpoint/index.js';
import { rnntrainer } from '../src/checkpoint/pb/checkpoint.js';
import { CheckpointError } from '../src/util/errors.js';
import { EMB_SPEC, TINY_SPEC, makeCheckpoint, tinyCheckpoint } from './fixtures/checkpoint/data.js';

const pb = rnntrainer.checkpoint;
const FIXTURE = join(import.meta.dirname, 'fixtures', 'checkpoint', 'tiny-v1.ckpt');
const FILE = '/runs/x/checkpoints/step-000000001.ckpt'; // only a name for messages

/** Bit-level equality of two float arrays, reporting the first difference. */
function sameBits(a: Float32Array, b: Float32Array): string | null {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(Float32Array.from(b).buffer);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `element ${i}: 0x${x[i].toString(16)} vs 0x${y[i].toString(16)}`;
  return null;
}

function checkSameTensors(t: Test, got: TensorData[], want: TensorData[], what: string) {
  t.equal(got.length, want.length, `${what}: count`);
  want.forEach((w, i) => {
    t.equal(got[i].name, w.name, `${what}: name ${w.name}`);
    t.same(got[i].shape, w.shape, `${what}: shape of ${w.name}`);
    t.equal(sameBits(got[i].data, w.data), null, `${what}: bits of ${w.name}`);
    t.ok(got[i].data.buffer instanceof ArrayBuffer && got[i].data.byteOffset % 4 === 0, `${what}: ${w.name} is a fresh aligned array`);
  });
}

function checkRoundTrip(t: Test, back: CheckpointData, c: CheckpointData) {
  t.equal(back.formatVersion, c.formatVersion);
  t.same(back.spec, c.spec);
  checkSameTensors(t, back.params, c.params, 'params');
  t.equal(back.optimizer.kind, c.optimizer.kind);
  t.equal(back.optimizer.step, c.optimizer.step);
  t.same(back.optimizer.moments.map((m) => m.name), c.optimizer.moments.map((m) => m.name));
  c.optimizer.moments.forEach((m, i) => checkSameTensors(t, back.optimizer.moments[i].tensors, m.tensors, `moment ${m.name}`));
  t.same(back.training, c.training);
  t.same(back.vocab, c.vocab);
  t.same(back.labelNames, c.labelNames);
  t.equal(back.tokenizer, c.tokenizer);
  t.equal(back.config, c.config);
  t.equal(back.dataFingerprint, c.dataFingerprint);
}

/** Expect a CheckpointError naming FILE and matching `re`. */
function rejects(t: Test, bytes: Uint8Array, re: RegExp, msg: string) {
  try {
    decodeCheckpoint(bytes, FILE);
    t.fail(`${msg}: no error`);
  } catch (e) {
    t.ok(e instanceof CheckpointError, `${msg}: a CheckpointError (${(e as Error).name}: ${(e as Error).message})`);
    t.match((e as Error).message, FILE, `${msg}: names the file`);
    t.match((e as Error).message, re, `${msg}: says ${re}`);
  }
}

/** The message of a good file without its trailer, for crafting bad ones with the generated code. */
function messageOf(c: CheckpointData) {
  const m = pb.Checkpoint.decode(encodeCheckpoint(c));
  delete m.trailer;
  return m;
}
const craft = (m: ReturnType<typeof messageOf>) => sealMessage(pb.Checkpoint.encode(m).finish());

// ---------------------------------------------------------------------------------------------

t.test('crc32c: published check values, every alignment, incremental', async (t) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  t.equal(crc32c(enc('123456789')), 0xe3069283);
  t.equal(crc32c(new Uint8Array(0)), 0);
  // RFC 3720 (iSCSI) appendix B.4
  t.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  t.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  t.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  t.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  // Against a bit-at-a-time reference, for every length 0..70 at every byte offset 0..7.
  const ref = (b: Uint8Array) => {
    let c = 0xffffffff;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  const big = Uint8Array.from({ length: 100 }, (_, i) => (i * 151 + 7) & 0xff);
  let bad = 0;
  for (let off = 0; off < 8; off++) for (let n = 0; n <= 70; n++) if (crc32c(big.subarray(off, off + n)) !== ref(big.subarray(off, off + n))) bad++;
  t.equal(bad, 0, 'all lengths and alignments agree with the reference');
  t.equal(crc32c(big.subarray(37), crc32c(big.subarray(0, 37))), crc32c(big), 'continuing a CRC');
  const shared = new Uint8Array(new SharedArrayBuffer(64));
  shared.set(big.subarray(0, 64));
  t.equal(crc32c(shared), ref(big.subarray(0, 64)), 'shared memory');
});

t.test('round trip: every field back, tensors bit-exact (one-hot + Adam, embedding + SGD)', async (t) => {
  for (const [spec, optimizer] of [[TINY_SPEC, 'adam'], [EMB_SPEC, 'sgd']] as const) {
    const c = makeCheckpoint(spec, { optimizer });
    const bytes = encodeCheckpoint(c);
    checkRoundTrip(t, decodeCheckpoint(bytes, FILE), c);
    // Decoding from a buffer at an odd offset (views into it are unaligned) changes nothing.
    const odd = new Uint8Array(bytes.length + 3);
    odd.set(bytes, 3);
    checkRoundTrip(t, decodeCheckpoint(odd.subarray(3), FILE), c);
    // Same state, same bytes.
    t.same(encodeCheckpoint(c), bytes, 'deterministic');
  }
  const c = tinyCheckpoint();
  c.training.bestMetric = NaN;
  delete c.dataFingerprint;
  const back = decodeCheckpoint(encodeCheckpoint(c), FILE);
  t.ok(Number.isNaN(back.training.bestMetric), 'no best metric yet: NaN');
  t.equal(back.dataFingerprint, undefined);
  c.training.bestMetric = 0;
  t.equal(decodeCheckpoint(encodeCheckpoint(c), FILE).training.bestMetric, 0, 'a best metric of 0 is not "none"');
});

t.test('the file is plain protobuf: the generated code decodes it and re-encodes the same bytes', async (t) => {
  const bytes = encodeCheckpoint(tinyCheckpoint());
  t.same([...bytes.subarray(0, 5)], [0x0d, 0x52, 0x4e, 0x4e, 0x43], 'signature');
  const m = pb.Checkpoint.decode(bytes);
  t.equal(m.magic, 0x434e4e52);
  t.equal(m.formatVersion, 1);
  t.equal(m.trailer?.magic, 0x454e4e52);
  t.equal(m.params[0].name, 'Wax');
  t.same((m.params[0].shape ?? []).map(Number), [7, 3], 'uint64 shape (Long objects from the generated decoder)');
  delete m.trailer;
  const again = pb.Checkpoint.encode(m).finish();
  t.ok(Buffer.from(again).equals(Buffer.from(bytes.subarray(0, bytes.length - 12))), 'generated encoder == spliced encoder');
  t.ok(Buffer.from(sealMessage(again)).equals(Buffer.from(bytes)), 'sealMessage adds the same trailer');
});

t.test('format stability: the committed v1 fixture decodes, and today\'s encoder writes it byte for byte', async (t) => {
  // If this fails because the format changed on purpose: bump CHECKPOINT_FORMAT_VERSION, keep
  // reading (or clearly refusing) v1, and add a new fixture.
  if (process.env.UPDATE_FIXTURES) writeFileSync(FIXTURE, encodeCheckpoint(tinyCheckpoint()));
  const fixture = readFileSync(FIXTURE);
  checkRoundTrip(t, decodeCheckpoint(fixture, FIXTURE), tinyCheckpoint());
  t.ok(Buffer.from(encodeCheckpoint(tinyCheckpoint())).equals(fixture), 'same bytes');
});

t.test('bad: truncated at every length', async (t) => {
  const bytes = encodeCheckpoint(tinyCheckpoint());
  let notRejected = 0;
  const kinds = new Set<string>();
  for (let n = 0; n < bytes.length; n++) {
    try {
      decodeCheckpoint(bytes.subarray(0, n), FILE);
      notRejected++;
    } catch (e) {
      if (!(e instanceof CheckpointError) || !e.message.includes(FILE)) notRejected++;
      kinds.add(e instanceof Error ? e.message.replace(/.*\.ckpt: /, '').slice(0, 30) : String(e));
    }
  }
  t.equal(notRejected, 0, `all ${bytes.length} truncations are rejected with a CheckpointError naming the file`);
  t.comment([...kinds].join(' | '));
  rejects(t, bytes.subarray(0, bytes.length - 1), /truncated/, 'last byte missing');
  rejects(t, bytes.subarray(0, 200), /truncated/, 'cut in the middle');
  rejects(t, new Uint8Array(0), /empty/, 'empty file');
});

t.test('bad: random bytes, with and without a valid-looking header', async (t) => {
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  for (const n of [1, 5, 17, 100, 4096]) rejects(t, Uint8Array.from({ length: n }, rnd), /not an rnn-trainer checkpoint/, `${n} random bytes`);
  // Random bodies between a good header and a good trailer marker: decoding or checks must fail.
  const good = encodeCheckpoint(tinyCheckpoint());
  let ok = 0;
  for (let trial = 0; trial < 200; trial++) {
    const b = Uint8Array.from({ length: 20 + (trial % 50) * 7 }, rnd);
    b.set(good.subarray(0, 7), 0); // signature + version 1
    b.set(good.subarray(good.length - 12, good.length - 4), b.length - 12); // trailer head
    try {
      decodeCheckpoint(b, FILE);
      t.fail('random body accepted');
    } catch (e) {
      if (e instanceof CheckpointError && e.message.includes(FILE)) ok++;
      else t.fail(`not a CheckpointError: ${e}`);
    }
  }
  t.equal(ok, 200, 'random bodies all rejected');
});

t.test('bad: a flipped byte in a tensor fails its CRC; in metadata, the metadata CRC', async (t) => {
  const bytes = encodeCheckpoint(tinyCheckpoint());
  const m = pb.Checkpoint.decode(bytes);
  const waa = m.params[1].data!;
  const at = waa.byteOffset - bytes.byteOffset + 5;
  const flipped = bytes.slice();
  flipped[at] ^= 0x10;
  rejects(t, flipped, /params tensor Waa fails its CRC32C check/, 'tensor byte flipped');
  const v = pb.Checkpoint.decode(bytes).optimizer!.moments![1].tensors![4].data!;
  const f2 = bytes.slice();
  f2[v.byteOffset - bytes.byteOffset] ^= 1;
  rejects(t, f2, /moment "v" tensor by fails its CRC32C/, 'moment byte flipped');
  // A vocabulary byte: "<unk>" -> "<unK>" is still valid protobuf and a valid vocabulary.
  const i = Buffer.from(bytes).indexOf('<unk>');
  t.ok(i > 0);
  const f3 = bytes.slice();
  f3[i + 3] = 'K'.charCodeAt(0);
  rejects(t, f3, /metadata checksum does not match/, 'metadata byte changed');
  // The CRC stored in a tensor changed instead of its data.
  const mm = messageOf(tinyCheckpoint());
  mm.params[0].crc32c = (mm.params[0].crc32c! ^ 1) >>> 0;
  rejects(t, craft(mm), /tensor Wax fails its CRC32C check/, 'stored CRC changed');
});

t.test('bad: unknown format version', async (t) => {
  for (const v of [2, 99, 0]) {
    const m = messageOf(tinyCheckpoint());
    m.formatVersion = v;
    rejects(t, craft(m), new RegExp(`unknown format version ${v}: this program reads version 1`), `version ${v}`);
  }
});

t.test('bad: shapes or names that contradict the model spec', async (t) => {
  let m = messageOf(tinyCheckpoint());
  m.params[0].shape = [3, 7]; // same byte count, transposed
  rejects(t, craft(m), /params tensor Wax has shape \[3, 7\], but the model spec \(V=7 H=3 C=2 E=0\) requires \[7, 3\]/, 'transposed Wax');
  m = messageOf(tinyCheckpoint());
  m.spec!.hiddenSize = 4; // spec says H=4, tensors are for H=3
  rejects(t, craft(m), /requires \[7, 4\]/, 'spec H changed');
  m = messageOf(tinyCheckpoint());
  m.params.pop();
  rejects(t, craft(m), /params: expected 5 tensors \(Wax, Waa, ba, Wya, by\).* found 4/, 'missing tensor');
  m = messageOf(tinyCheckpoint());
  m.params[1].name = 'Whh';
  rejects(t, craft(m), /tensor 1 is named "Whh", expected "Waa"/, 'renamed tensor');
  m = messageOf(tinyCheckpoint());
  m.optimizer!.moments![0].tensors![2].shape = [2];
  rejects(t, craft(m), /optimizer moment "m" tensor ba has shape \[2\]/, 'moment shape');
  m = messageOf(tinyCheckpoint());
  m.params[2].dtype = 7 as rnntrainer.checkpoint.DType;
  rejects(t, craft(m), /dtype 7, expected 1 \(float32\)/, 'unknown dtype');
  m = messageOf(tinyCheckpoint());
  m.spec!.numClasses = 3;
  rejects(t, craft(m), /requires \[3, 3\]/, 'C changed');
  m = messageOf(tinyCheckpoint());
  m.spec!.input = pb.InputKind.INPUT_EMBEDDING;
  rejects(t, craft(m), /input kind 2 contradicts embedding_dim 0/, 'input kind');
  m = messageOf(tinyCheckpoint());
  m.training!.rngState = [0, 0, 0, 0];
  rejects(t, craft(m), /PRNG state is all zeros/, 'zero PRNG state');
  m = messageOf(tinyCheckpoint());
  m.vocab.pop();
  rejects(t, craft(m), /vocabulary has 6 tokens, but the model spec says V=7/, 'vocabulary size');
});

t.test('bad: absurd sizes are refused without allocating them', async (t) => {
  const before = process.memoryUsage().arrayBuffers;
  // A spec of V = H = 10^6 (so Wax is 10^12 elements) with tensors to match, in a file of ~1 KB.
  let m = messageOf(tinyCheckpoint());
  m.spec!.vocabSize = 1e6;
  m.spec!.hiddenSize = 1e6;
  m.params[0].shape = [1e6, 1e6];
  rejects(t, craft(m), /tensor Wax claims shape \[1000000, 1000000\] = 1000000000000 elements, more than the limit/, '10^12 elements');
  // A plausible size, but more than the file holds.
  m = messageOf(tinyCheckpoint());
  m.spec!.vocabSize = 1e5;
  m.vocab = Array.from({ length: 1e5 }, (_, i) => `${i}`);
  m.params[0].shape = [1e5, 3];
  rejects(t, craft(m), /tensor Wax has shape \[100000, 3\] \(300000 float32 = 1200000 bytes\) but holds 84 bytes/, 'shape larger than its bytes');
  // A dimension of 2^64 - 1 (decoded approximately) and a negative-looking one.
  m = messageOf(tinyCheckpoint());
  m.params[3].shape = [{ low: -1, high: -1, unsigned: true } as unknown as number, 1]; // a Long-like 2^64-1
  rejects(t, craft(m), /Wya (claims|has an invalid dimension)/, 'dimension 2^64-1');
  // A bytes field whose length prefix claims 10^12 bytes: the protobuf layer refuses it.
  const head = encodeCheckpoint(tinyCheckpoint()).subarray(0, 7);
  const bogus = Uint8Array.from([...head, 0x22, 0x80, 0xa0, 0x94, 0xa5, 0x8d, 0x1d, 1, 2, 3]); // field 4, length 10^12
  rejects(t, sealLike(bogus), /corrupt: the protobuf message cannot be decoded/, 'length prefix of 10^12');
  const grew = process.memoryUsage().arrayBuffers - before;
  t.ok(grew < 50e6, `no large allocation (array buffers grew by ${grew} bytes)`);
  t.ok(MAX_TENSOR_ELEMENTS <= 2 ** 31, 'a sane element limit');
});

/** Append a syntactically valid trailer (any CRC) to arbitrary bytes. */
function sealLike(b: Uint8Array): Uint8Array {
  return Uint8Array.from([...b, 0x7a, 0x0a, 0x0d, 0x52, 0x4e, 0x4e, 0x45, 0x15, 0, 0, 0, 0]);
}

t.test('the writer refuses malformed states', async (t) => {
  const cases: [string, (c: CheckpointData) => void, RegExp][] = [
    ['wrong shape', (c) => (c.params[0].shape = [3, 7]), /tensor Wax has shape \[3, 7\]/],
    ['data shorter than shape', (c) => (c.params[1].data = c.params[1].data.subarray(1)), /Waa has shape \[3, 3\] \(9 float32 = 36 bytes\) but holds 32 bytes/],
    ['vocab size', (c) => c.vocab.push('x'), /vocabulary has 8 tokens/],
    ['labels', (c) => (c.labelNames = []), /0 label names/],
    ['rng', (c) => (c.training.rngState = [0, 0, 0, 0]), /all zeros/],
    ['step', (c) => (c.training.globalStep = -1), /globalStep = -1/],
    ['config', (c) => (c.config = '{oops'), /config is not valid JSON/],
    ['version', (c) => (c.formatVersion = 2), /only version 1 can be written/],
    ['moment names', (c) => (c.optimizer.moments[1].name = 'm'), /moment set "m" appears twice/],
  ];
  for (const [name, mutate, re] of cases) {
    const c = tinyCheckpoint();
    mutate(c);
    t.throws(() => encodeCheckpoint(c), re, name);
  }
});

t.test('specDifferences lists what changed', async (t) => {
  t.same(specDifferences(TINY_SPEC, { ...TINY_SPEC }), []);
  t.same(specDifferences(TINY_SPEC, { ...TINY_SPEC, H: 8, E: 4 }), ['hidden size H: checkpoint 3, config 8', 'embedding width E (0 = one-hot): checkpoint 0, config 4']);
});
