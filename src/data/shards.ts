// Token shards: a prepared corpus on disk (written by prepare.ts), read back one batch at a time.
//
// A folder holds meta.json (vocabulary, tokenizer, labels, report: plain JSON), index.bin and the
// shard files shard-00000.tok, ... All numbers are little-endian. docs/shards.md is the full spec.
//
//   shard file: header 32 bytes
//     0  magic   "RNNTOKS\0"             8 bytes
//     8  version u32 (= SHARD_VERSION)
//    12  dtype   u32: bytes per token, 2 (uint16) or 4 (uint32)
//    16  tokens  u64
//    24  reserved u64 (0)
//     then `tokens` token ids of `dtype`
//
//   index.bin: header 64 bytes
//     0  magic   "RNNSHIDX"              8 bytes
//     8  version u32 (= SHARD_VERSION)
//    12  dtype   u32 (2 or 4: uint16 when the vocabulary has at most 65,536 tokens)
//    16  vocab   u32: vocabulary size V; every token id is < V
//    20  task    u32: 0 many-to-one (records are sequences), 1 many-to-many (records are documents)
//    24  shards  u32
//    28  reserved u32 (0)
//    32  records u64 × 3: train, val, test
//    56  crc32c  u32 of everything after the header (shard table, then records)
//    60  reserved u32 (0)
//   then the shard table, 16 bytes per shard k (file shard-<k, 5 digits>.tok):
//     split u32 (0 train, 1 val, 2 test), crc32c u32 of the shard's token bytes, tokens u64
//   then the records, 24 bytes each, train's then val's then test's, in input order:
//     shard u32, length u32 (tokens), offset u64 (in tokens, within the shard), label i32
//     (class id; -1 for a document), reserved u32 (0)
//
// A document record holds the document's whole encoded stream; training cuts it into chunks of
// data.seqLength inputs (each with its next token as target), as loadDataset does in memory.
//
// Reading: openShardDataset checks everything first (magic, version, sizes, dtype against the
// vocabulary, every record inside its shard, every CRC, every token id < V), then builds splits
// whose per-example metadata (lengths, labels) is in memory and whose `tokens` is a small shared
// window: before each batch, the coordinator calls loadWindow, which reads that batch's examples
// with positioned reads into the window and points their `starts` there. Resident memory is the
// metadata plus a few batches, whatever the corpus size.

import * as fs from 'node:fs';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { createHash } from 'node:crypto';
import { crc32c } from '../util/crc32c.js';
import { DataError } from '../util/errors.js';
import { formatBytes, MiB } from '../util/files.js';
import { sharedBuffer, sharedInt32 } from '../util/shared.js';
import type { ResolvedDataConfig } from './defaults.js';
import { SPLIT_NAMES, type DataReport, type Dataset, type EncodedSplit, type SplitName, type SplitReport, type Task, type TokenizerSpec } from './types.js';

export const SHARD_VERSION = 1;
export const SHARD_MAGIC = 'RNNTOKS\0';
export const INDEX_MAGIC = 'RNNSHIDX';
export const SHARD_HEADER = 32;
export const INDEX_HEADER = 64;
export const SHARD_ENTRY = 16;
export const RECORD_BYTES = 24;
export const META_FILE = 'meta.json';
export const INDEX_FILE = 'index.bin';
/** Tokens per shard file before the next one is started (a record never spans two). */
export const SHARD_TOKENS = 1 << 26;
/** Token bytes a split's writer gathers before one write to its shard. */
const OUT_BYTES = 1 << 20;

export const shardFileName = (k: number) => `shard-${String(k).padStart(5, '0')}.tok`;

/** Bytes per token for a vocabulary of V tokens. */
export const dtypeFor = (V: number): 2 | 4 => (V <= 65536 ? 2 : 4);

/** What prepare decided that training from the shards must agree with (compared with the config). */
export interface PreparedSettings {
  task: Task;
  tokenizer: TokenizerSpec;
  vocab: { maxSize: number; minFreq: number };
  labels: string[] | null;
  split: { val: number; test: number } | null;
  sample: number;
}

/** meta.json. */
export interface ShardMeta {
  format: 'rnn-trainer token shards';
  version: number;
  task: Task;
  tokenizer: TokenizerSpec;
  vocab: string[];
  labelNames: string[];
  settings: PreparedSettings;
  /** The report of the prepare step (splits as records: sequences or documents). */
  report: DataReport;
  /** Documents dropped for being shorter than 2 tokens, per split (many-to-many). */
  tooShort?: number;
  /**
   * The CRC32C of index.bin (its header's, at offset 56) written with this vocabulary: a meta.json
   * and an index.bin of two different prepare runs are refused. Absent in folders prepared before it.
   */
  indexCrc32c?: number;
}

/** The tokenizer spec loadDataset builds from a config. */
export function tokenizerOf(c: ResolvedDataConfig, task: Task): TokenizerSpec {
  return {
    kind: c.tokenizer, lowercase: c.lowercase, bos: c.bos, eos: c.eos,
    maxLength: task === 'many-to-one' ? c.maxLength : 0, truncate: c.truncate, reverse: task === 'many-to-one' && c.reverse,
  };
}

/** What shards prepared from this config must have been prepared with (compared when training reads them). */
export function preparedSettings(c: ResolvedDataConfig, task: Task): PreparedSettings {
  return {
    // Fields named in order: the shard index's copy is compared as JSON.
    task, tokenizer: tokenizerOf(c, task), vocab: { maxSize: c.vocab.maxSize, minFreq: c.vocab.minFreq }, labels: c.labels ?? null,
    split: c.source === 'files' && !c.file ? null : { val: c.split.val, test: c.split.test }, sample: c.sample,
  };
}

// ---------------------------------------------------------------- writing

/** Writes `path` through a temporary file, fsync and rename (a reader sees the whole file or none). */
export function writeFileAtomic(path: string, parts: Uint8Array[] | ((fd: number) => void)): void {
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w', 0o644);
    if (typeof parts === 'function') parts(fd);
    else for (const p of parts) writeAll(fd, p);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) try { fs.closeSync(fd); } catch { /* already failing */ }
    try { fs.unlinkSync(tmp); } catch { /* not created */ }
    throw e;
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  for (let off = 0; off < b.length;) {
    const n = fs.writeSync(fd, b, off, b.length - off);
    if (!(n > 0)) throw new Error(`write returned ${n}`);
    off += n;
  }
}

/**
 * Appends records to shard files as they come, each split to shard files of its own (a shard is
 * written through a temporary file, renamed at its end); finish() writes index.bin with the
 * records of train, then val, then test, each in the order they were added.
 */
export class ShardWriter {
  private readonly shardSplit: number[] = [];
  private readonly shardCrc: number[] = [];
  private readonly shardTokens: number[] = [];
  /**
   * Per split: its records as 24-byte rows, RECORD_PIECE at a time in `rec`, then appended to a
   * temporary file (`recFd`; a corpus of gigabytes has tens of millions of records: prepare's
   * memory stays a few pieces), and its open shard.
   */
  private readonly per = SPLIT_NAMES.map(() => {
    const rec = new Uint8Array(RECORD_BYTES * RECORD_PIECE);
    return { rec, recView: new DataView(rec.buffer), inRec: 0, count: 0, recFd: -1, recTmp: '', fd: -1, tmp: '', shard: -1, tokens: 0, crc: 0, out: null as Uint8Array | null, inOut: 0 };
  });

  /** The CRC32C of index.bin's body, once finish() wrote it (meta.json records it). */
  indexCrc = 0;

  constructor(readonly dir: string, readonly dtype: 2 | 4, readonly V: number, readonly task: Task, private readonly maxShardTokens = SHARD_TOKENS) {}

  get counts(): Record<SplitName, number> {
    return { train: this.per[0].count, val: this.per[1].count, test: this.per[2].count };
  }

  get shards(): number {
    return this.shardSplit.length;
  }

  /** One record: `ids` (all < V) of split `split`, with its class id (-1: a document). */
  add(split: SplitName, ids: Int32Array, label: number): void {
    const s = split === 'train' ? 0 : split === 'val' ? 1 : 2, p = this.per[s];
    if (p.fd < 0 || (p.tokens > 0 && p.tokens + ids.length > this.maxShardTokens)) this.nextShard(s);
    // Token bytes gather in the split's buffer and go out OUT_BYTES at a time (one write and one
    // CRC call per buffer, not per record; the CRC of the concatenation is the same).
    const bytes = ids.length * this.dtype;
    p.out ??= new Uint8Array(OUT_BYTES);
    if (p.inOut + bytes > p.out.length) this.flushTokens(s);
    if (bytes > p.out.length) p.out = new Uint8Array(bytes);
    // p.inOut is a multiple of dtype: the views are aligned.
    if (this.dtype === 2) new Uint16Array(p.out.buffer, p.inOut, ids.length).set(ids);
    else new Int32Array(p.out.buffer, p.inOut, ids.length).set(ids);
    p.inOut += bytes;
    if (p.inRec === RECORD_PIECE) this.flushRecords(s);
    const v = p.recView, o = p.inRec * RECORD_BYTES;
    v.setUint32(o, p.shard, true);
    v.setUint32(o + 4, ids.length, true);
    v.setUint32(o + 8, p.tokens % 4294967296, true); // offset u64, as two u32 (no BigInt per record)
    v.setUint32(o + 12, Math.floor(p.tokens / 4294967296), true);
    v.setInt32(o + 16, label, true);
    v.setUint32(o + 20, 0, true);
    p.inRec++;
    p.count++;
    p.tokens += ids.length;
  }

  /** Writes split s's buffered token bytes to its open shard. */
  private flushTokens(s: number): void {
    const p = this.per[s];
    if (p.inOut === 0 || !p.out) return;
    const part = p.out.subarray(0, p.inOut);
    writeAll(p.fd, part);
    p.crc = crc32c(part, p.crc);
    p.inOut = 0;
  }

  /** Appends split s's records in memory to its temporary file. */
  private flushRecords(s: number): void {
    const p = this.per[s];
    if (p.inRec === 0) return;
    if (p.recFd < 0) {
      p.recTmp = join(this.dir, `.records-${SPLIT_NAMES[s]}.tmp-${process.pid}`);
      p.recFd = fs.openSync(p.recTmp, 'w+', 0o600);
    }
    writeAll(p.recFd, p.rec.subarray(0, p.inRec * RECORD_BYTES));
    p.inRec = 0;
  }

  private nextShard(s: number): void {
    this.closeShard(s);
    const p = this.per[s];
    p.shard = this.shardSplit.length;
    p.tokens = 0;
    p.crc = 0;
    p.tmp = join(this.dir, `.${shardFileName(p.shard)}.tmp-${process.pid}`);
    p.fd = fs.openSync(p.tmp, 'w', 0o644);
    writeAll(p.fd, new Uint8Array(SHARD_HEADER)); // rewritten at the end, when the count is known
    this.shardSplit.push(s);
    this.shardCrc.push(0);
    this.shardTokens.push(0);
  }

  private closeShard(s: number): void {
    const p = this.per[s];
    if (p.fd < 0) return;
    this.flushTokens(s);
    this.shardCrc[p.shard] = p.crc >>> 0;
    this.shardTokens[p.shard] = p.tokens;
    fs.writeSync(p.fd, shardHeader(this.dtype, p.tokens), 0, SHARD_HEADER, 0);
    fs.fsyncSync(p.fd);
    fs.closeSync(p.fd);
    p.fd = -1;
    fs.renameSync(p.tmp, join(this.dir, shardFileName(p.shard)));
  }

  /** Closes the shards and writes index.bin. */
  finish(): void {
    for (let s = 0; s < 3; s++) this.closeShard(s);
    const S = this.shardSplit.length;
    const table = new Uint8Array(S * SHARD_ENTRY);
    const tv = new DataView(table.buffer);
    for (let k = 0; k < S; k++) {
      tv.setUint32(k * SHARD_ENTRY, this.shardSplit[k], true);
      tv.setUint32(k * SHARD_ENTRY + 4, this.shardCrc[k], true);
      tv.setBigUint64(k * SHARD_ENTRY + 8, BigInt(this.shardTokens[k]), true);
    }
    for (let s = 0; s < 3; s++) this.flushRecords(s);
    const head = new Uint8Array(INDEX_HEADER);
    const hv = new DataView(head.buffer);
    head.set(new TextEncoder().encode(INDEX_MAGIC), 0);
    hv.setUint32(8, SHARD_VERSION, true);
    hv.setUint32(12, this.dtype, true);
    hv.setUint32(16, this.V, true);
    hv.setUint32(20, this.task === 'many-to-one' ? 0 : 1, true);
    hv.setUint32(24, S, true);
    this.per.forEach((p, i) => hv.setBigUint64(32 + 8 * i, BigInt(p.count), true));
    // The records' files, read back in pieces: once for the CRC (in the header), once to copy.
    const piece = new Uint8Array(RECORD_BYTES * RECORD_PIECE);
    const eachPiece = (f: (part: Uint8Array) => void) => {
      for (const p of this.per) {
        for (let pos = 0, end = p.count * RECORD_BYTES; pos < end; pos += piece.length) {
          const part = piece.subarray(0, Math.min(piece.length, end - pos));
          readExact(p.recFd, part, pos, p.recTmp, 'the records written');
          f(part);
        }
      }
    };
    let crc = crc32c(table);
    eachPiece((part) => { crc = crc32c(part, crc); });
    this.indexCrc = crc >>> 0;
    hv.setUint32(56, this.indexCrc, true);
    writeFileAtomic(join(this.dir, INDEX_FILE), (fd) => {
      writeAll(fd, head);
      writeAll(fd, table);
      eachPiece((part) => writeAll(fd, part));
    });
    this.dropRecords();
  }

  /** Closes and removes the records' temporary files. */
  private dropRecords(): void {
    for (const p of this.per) {
      if (p.recFd < 0) continue;
      try { fs.closeSync(p.recFd); } catch { /* failing already */ }
      p.recFd = -1;
      try { fs.unlinkSync(p.recTmp); } catch { /* gone */ }
    }
  }

  /** Removes the temporary files of unfinished shards (a failed prepare). */
  abort(): void {
    this.dropRecords();
    for (const p of this.per) {
      p.inOut = 0;
      if (p.fd < 0) continue;
      try { fs.closeSync(p.fd); } catch { /* failing already */ }
      p.fd = -1;
      try { fs.unlinkSync(p.tmp); } catch { /* gone */ }
    }
  }
}

function shardHeader(dtype: number, tokens: number): Uint8Array {
  const h = new Uint8Array(SHARD_HEADER);
  const v = new DataView(h.buffer);
  h.set(new TextEncoder().encode(SHARD_MAGIC), 0);
  v.setUint32(8, SHARD_VERSION, true);
  v.setUint32(12, dtype, true);
  v.setBigUint64(16, BigInt(tokens), true);
  return h;
}

// ---------------------------------------------------------------- reading and checking

/** What the index says, checked against the files. */
export interface ShardIndex {
  dir: string;
  shown: string;
  meta: ShardMeta;
  dtype: 2 | 4;
  V: number;
  task: Task;
  /** Per shard: split, tokens, crc, and its open file. */
  shards: { split: number; tokens: number; crc: number; file: string }[];
  /** Records per split (train, val, test); they are read from index.bin in pieces when needed (readRecords), never held whole. */
  counts: number[];
  /** CRC32C of the index body: with the config's chunking, the data's identity (resume checks it). */
  crc: number;
}

/** Largest meta.json read (the vocabulary of a huge word-level corpus fits well within it). */
const MAX_META_BYTES = 512 * MiB;

const hex = (crc: number) => `0x${(crc >>> 0).toString(16).padStart(8, '0')}`;

function bad(file: string, what: string): never {
  throw new DataError(`${file}: ${what}. Prepare the data again (node dist/prepare.js --config CONFIG --out DIR).`, file);
}

function readExact(fd: number, buf: Uint8Array, pos: number, file: string, what: string): void {
  let off = 0;
  while (off < buf.length) {
    const n = fs.readSync(fd, buf, off, buf.length - off, pos + off);
    if (n === 0) bad(file, `truncated: ${what} ends early`);
    off += n;
  }
}

/** Reads and checks a file's header (size, magic, version); its fields as a DataView. */
function readHeader(f: { fd: number; size: number }, bytes: number, magic: string, file: string, what: string): DataView {
  if (f.size < bytes) bad(file, `truncated: ${f.size} bytes, less than the ${bytes}-byte header`);
  const head = new Uint8Array(bytes);
  readExact(f.fd, head, 0, file, 'the header');
  if (new TextDecoder('latin1').decode(head.subarray(0, 8)) !== magic) bad(file, `wrong magic: not ${what} (expected "${magic.replace('\0', '')}")`);
  const hv = new DataView(head.buffer);
  const version = hv.getUint32(8, true);
  if (version !== SHARD_VERSION) bad(file, `version ${version}; this trainer reads version ${SHARD_VERSION}`);
  return hv;
}

/** Records read from index.bin in pieces of this many (the index of a huge corpus is never read whole). */
const RECORD_PIECE = 65536;

/**
 * Calls `each(i, shard, length, offset, label)` for every record of split `si`, read in pieces
 * from the open index (its CRC is then added to `crc`, returned).
 */
function readRecords(fd: number, iname: string, pos: number, n: number, crc: number, each: (i: number, shard: number, length: number, offset: number, label: number) => void): number {
  const piece = new Uint8Array(RECORD_BYTES * RECORD_PIECE);
  const pv = new DataView(piece.buffer);
  for (let i0 = 0; i0 < n; i0 += RECORD_PIECE) {
    const m = Math.min(RECORD_PIECE, n - i0);
    const part = piece.subarray(0, m * RECORD_BYTES);
    readExact(fd, part, pos + i0 * RECORD_BYTES, iname, 'the records');
    crc = crc32c(part, crc);
    for (let j = 0, o = 0; j < m; j++, o += RECORD_BYTES) {
      const lo = pv.getUint32(o + 8, true), hi = pv.getUint32(o + 12, true);
      each(i0 + j, pv.getUint32(o, true), pv.getUint32(o + 4, true), hi * 4294967296 + lo, pv.getInt32(o + 16, true));
    }
  }
  return crc;
}

/** Where split si's records start in index.bin. */
const recordsPos = (S: number, counts: number[], si: number) => INDEX_HEADER + S * SHARD_ENTRY + counts.slice(0, si).reduce((a, b) => a + b, 0) * RECORD_BYTES;

function openRegular(path: string, shown: string): { fd: number; size: number } {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    throw new DataError(`${shown}: missing. ${path.endsWith(META_FILE) || path.endsWith(INDEX_FILE) ? 'Is data.shards the folder that prepare.js wrote (--out)? Relative to the config\'s folder. ' : ''}Prepare the data again (node dist/prepare.js --config CONFIG --out DIR).`, shown);
  }
  if (!st.isFile()) bad(shown, 'is not a regular file');
  return { fd: fs.openSync(path, 'r'), size: st.size };
}

/** Reads and checks a prepared folder (see the top of this file). `shown`: the folder as named in messages. */
export function readShardIndex(dir: string, shown = dir): ShardIndex {
  const name = (f: string) => join(shown, f);
  let st: fs.Stats | undefined;
  try { st = fs.statSync(dir); } catch { /* below */ }
  if (!st?.isDirectory()) {
    throw new DataError(`data.shards: ${shown} ${st ? 'is not a folder' : 'does not exist'}; give the folder that \`node dist/prepare.js --config CONFIG --out DIR\` wrote (relative to the config's folder).`, shown);
  }
  // ---- meta.json
  const m = openRegular(join(dir, META_FILE), name(META_FILE));
  if (m.size > MAX_META_BYTES) { fs.closeSync(m.fd); bad(name(META_FILE), `is ${formatBytes(m.size)}, more than ${formatBytes(MAX_META_BYTES)}`); }
  const mb = new Uint8Array(m.size);
  try { readExact(m.fd, mb, 0, name(META_FILE), 'the file'); } finally { fs.closeSync(m.fd); }
  let meta: ShardMeta;
  try {
    meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(mb)) as ShardMeta;
  } catch (e) {
    bad(name(META_FILE), `is not valid JSON (${(e as Error).message})`);
  }
  if (typeof meta !== 'object' || meta === null || meta.format !== 'rnn-trainer token shards') bad(name(META_FILE), 'is not the meta.json of prepared shards');
  if (meta.version !== SHARD_VERSION) bad(name(META_FILE), `has version ${JSON.stringify(meta.version)}; this trainer reads version ${SHARD_VERSION}`);
  if (!Array.isArray(meta.vocab) || meta.vocab.some((t) => typeof t !== 'string') || !Array.isArray(meta.labelNames) || typeof meta.tokenizer !== 'object' || meta.tokenizer === null || (meta.task !== 'many-to-one' && meta.task !== 'many-to-many') || typeof meta.settings !== 'object' || typeof meta.report !== 'object') {
    bad(name(META_FILE), 'lacks the vocabulary, labels, tokenizer, task, settings or report');
  }
  if (meta.indexCrc32c !== undefined && !(Number.isInteger(meta.indexCrc32c) && meta.indexCrc32c >= 0 && meta.indexCrc32c <= 0xffffffff)) bad(name(META_FILE), `indexCrc32c is ${JSON.stringify(meta.indexCrc32c)}, not a CRC32C (an integer in [0, 2^32))`);

  // ---- index.bin
  const idx = openRegular(join(dir, INDEX_FILE), name(INDEX_FILE));
  const iname = name(INDEX_FILE);
  try {
    const hv = readHeader(idx, INDEX_HEADER, INDEX_MAGIC, iname, 'a shard index');
    const indexCrc = hv.getUint32(56, true);
    const dtype = hv.getUint32(12, true);
    if (dtype !== 2 && dtype !== 4) bad(iname, `token dtype of ${dtype} bytes; 2 (uint16) or 4 (uint32) expected`);
    const V = hv.getUint32(16, true);
    if (V !== meta.vocab.length) bad(iname, `says a vocabulary of ${V} tokens, meta.json has ${meta.vocab.length}`);
    if (dtype === 2 && V > 65536) bad(iname, `token dtype uint16 cannot hold a vocabulary of ${V} tokens (ids up to ${V - 1})`);
    const taskCode = hv.getUint32(20, true);
    const task: Task = taskCode === 0 ? 'many-to-one' : taskCode === 1 ? 'many-to-many' : bad(iname, `unknown task code ${taskCode}`);
    if (task !== meta.task) bad(iname, `is for ${task}, meta.json for ${meta.task}`);
    const S = hv.getUint32(24, true);
    const counts = SPLIT_NAMES.map((_, i) => Number(hv.getBigUint64(32 + 8 * i, true)));
    const total = counts.reduce((a, b) => a + b, 0);
    const want = INDEX_HEADER + S * SHARD_ENTRY + total * RECORD_BYTES;
    if (!Number.isSafeInteger(want) || idx.size !== want) bad(iname, `${idx.size < want ? 'truncated' : 'has extra bytes'}: ${idx.size} bytes, the header says ${S} shards and ${total} records (${want} bytes)`);
    if (counts.some((c) => c > 0x7fffffff)) bad(iname, 'more than 2^31 records in a split');
    const table = new Uint8Array(S * SHARD_ENTRY);
    readExact(idx.fd, table, INDEX_HEADER, iname, 'the shard table');
    let crc = crc32c(table);
    const tv = new DataView(table.buffer);
    const shards: ShardIndex['shards'] = [];
    for (let k = 0; k < S; k++) {
      const split = tv.getUint32(k * SHARD_ENTRY, true);
      if (split > 2) bad(iname, `shard ${k} has split code ${split}`);
      shards.push({ split, crc: tv.getUint32(k * SHARD_ENTRY + 4, true), tokens: Number(tv.getBigUint64(k * SHARD_ENTRY + 8, true)), file: join(dir, shardFileName(k)) });
    }
    // Records, checked in pieces (not kept: shardDataset reads them again, in pieces).
    SPLIT_NAMES.forEach((s, si) => {
      crc = readRecords(idx.fd, iname, recordsPos(S, counts, si), counts[si], crc, (i, k, len, off, label) => {
        const where = `record ${i} of the ${s} split`;
        if (k >= S) bad(iname, `${where} names shard ${k}, past the ${S} shards`);
        if (shards[k].split !== si) bad(iname, `${where} is in shard ${k}, which belongs to another split`);
        if (len < 1 || len > 0x7fffffff || off + len > shards[k].tokens) bad(iname, `${where}: tokens [${off}, ${off + len}) run past the end of ${shardFileName(k)} (${shards[k].tokens} tokens)`);
        if (task === 'many-to-one' ? label < 0 || label >= meta.labelNames.length : label !== -1) bad(iname, `${where} has label ${label}${task === 'many-to-one' ? `, not a class id below ${meta.labelNames.length}` : ' (a document has -1)'}`);
        if (task === 'many-to-many' && len < 2) bad(iname, `${where} is a document of ${len} token (at least 2)`);
      });
    });
    if ((crc >>> 0) !== indexCrc) bad(iname, 'CRC32C mismatch: the index is corrupt');
    // Only an intact index's CRC can name meta.json as the file from another run.
    if (meta.indexCrc32c !== undefined && meta.indexCrc32c !== indexCrc) {
      bad(name(META_FILE), `is not from the prepare run that wrote ${INDEX_FILE} (it was written with an index of CRC32C ${hex(meta.indexCrc32c)}, ${INDEX_FILE} has ${hex(indexCrc)}): the folder mixes the files of two runs, and its vocabulary would misname the shards' ids`);
    }
    // ---- every shard: header, size, CRC and token range
    for (let k = 0; k < S; k++) checkShard(shards[k], k, dtype, V, join(shown, shardFileName(k)));
    return { dir, shown, meta, dtype, V, task, shards, counts, crc: crc >>> 0 };
  } finally {
    fs.closeSync(idx.fd);
  }
}

function checkShard(s: ShardIndex['shards'][number], k: number, dtype: number, V: number, shown: string): void {
  const f = openRegular(s.file, shown);
  try {
    const want = SHARD_HEADER + s.tokens * dtype;
    const hv = readHeader(f, SHARD_HEADER, SHARD_MAGIC, shown, 'a token shard');
    if (hv.getUint32(12, true) !== dtype) bad(shown, `token dtype of ${hv.getUint32(12, true)} bytes, the index says ${dtype}`);
    if (Number(hv.getBigUint64(16, true)) !== s.tokens) bad(shown, `holds ${hv.getBigUint64(16, true)} tokens, the index says ${s.tokens}`);
    if (f.size !== want) bad(shown, `${f.size < want ? 'truncated' : 'has extra bytes'}: ${f.size} bytes, ${want} expected for ${s.tokens} tokens of ${dtype} bytes`);
    const chunk = new Uint8Array(8 * MiB);
    let crc = 0;
    let outside = '';
    for (let pos = SHARD_HEADER; pos < want;) {
      const part = chunk.subarray(0, Math.min(chunk.length, want - pos));
      readExact(f.fd, part, pos, shown, 'the tokens');
      crc = crc32c(part, crc);
      const ids = dtype === 2 ? new Uint16Array(part.buffer, 0, part.length / 2) : new Uint32Array(part.buffer, 0, part.length / 4);
      if (!outside) {
        for (let i = 0; i < ids.length; i++) {
          if (ids[i] >= V) { outside = `token ${(pos - SHARD_HEADER) / dtype + i} is id ${ids[i]}, outside the vocabulary of ${V}`; break; }
        }
      }
      pos += part.length;
    }
    // Corruption first: a flipped bit is a CRC mismatch, whatever id it made.
    if ((crc >>> 0) !== s.crc) bad(shown, `CRC32C mismatch (${hex(crc)}, the index says ${hex(s.crc)}): the file is corrupt`);
    if (outside) bad(shown, outside);
  } finally {
    fs.closeSync(f.fd);
  }
}

// ---------------------------------------------------------------- shard-backed splits

/**
 * A split read from token shards comes in segments, one per shard file (a shard holds a run of the
 * split's records in input order; a document never spans two). The split's per-example arrays
 * (lengths, starts, labels, first) hold one segment's examples at a time, sized by the largest
 * segment, and split.base[0] says which: example i of the split is entry i − base there. An epoch
 * takes the segments in an order shuffled from the seed and plans each one's examples on its own
 * (EpochBatches in batches.ts), so memory is bounded by the largest shard, whatever the corpus.
 */
export interface Segment {
  /** Its shard file, and its records: [firstRecord, firstRecord + records) of the split. */
  shard: number;
  firstRecord: number;
  records: number;
  /** Examples (many-to-many: chunks), and the split's id of the first. */
  count: number;
  base: number;
  /** Tokens of its examples' inputs. */
  tokens: number;
}

/**
 * Where each example of the current segment is in its shard file: per sequence (many-to-one), or
 * per document (many-to-many: its first chunk and its offset; chunk j of a document is
 * j·seqLength further).
 */
type Places = { perExample: Float64Array } | { docFirst: Int32Array; docPlace: Float64Array; seqLength: number };

/** A shard-backed split's segments, the one loaded, and the window its batches are read into. */
class ShardWindow {
  private fds: number[];
  private indexFd = -1;
  /** Read buffer of the window's size, and its views as token ids (allocated once, in reserve). */
  private scratch = new Uint8Array(0);
  private ids16 = new Uint16Array(0);
  private ids32 = new Int32Array(0);
  /** Tokens the window holds past each example's inputs: the next-token target (many-to-many). */
  private readonly extra: number;
  /** The segment in the split's arrays (-1: none yet), and its documents (many-to-many). */
  private current = -1;
  private docs = 0;
  /** Examples of the largest segment: what the split's arrays (and an order of one segment) hold. */
  readonly largest: number;

  constructor(
    private readonly split: EncodedSplit,
    /** Not the whole index: its records are read again, a segment at a time. */
    private readonly idx: Pick<ShardIndex, 'shards' | 'dtype' | 'task' | 'shown' | 'dir'> & { recordsAt: number },
    readonly segments: readonly Segment[],
    private readonly places: Places,
    /** The longest example of the whole split (every segment). */
    readonly longest: number,
  ) {
    this.fds = idx.shards.map(() => -1);
    this.extra = idx.task === 'many-to-many' ? 1 : 0;
    this.largest = split.lengths.length;
  }

  /**
   * Loads segment j's examples into the split's arrays (reading its records from index.bin), unless
   * they are there already; its split of those examples only (count: the segment's), to plan.
   */
  select(j: number): EncodedSplit {
    this.loadSegment(j);
    return { ...this.split, count: this.segments[j].count };
  }

  /** Loads segment j's examples into the split's arrays unless they are there already (select without the view). */
  loadSegment(j: number): void {
    const s = this.segments[j], split = this.split, p = this.places;
    if (j !== this.current) {
      if (this.indexFd < 0) this.indexFd = fs.openSync(join(this.idx.dir, INDEX_FILE), 'r');
      let i = 0;
      readRecords(this.indexFd, join(this.idx.shown, INDEX_FILE), this.idx.recordsAt + s.firstRecord * RECORD_BYTES, s.records, 0, (d, _k, L, off, label) => {
        if ('docFirst' in p) {
          p.docFirst[d] = i;
          p.docPlace[d] = off;
          for (let q = 0; q < L - 1; q += p.seqLength, i++) {
            split.lengths[i] = Math.min(p.seqLength, L - 1 - q);
            split.first![i] = q === 0 ? 1 : 0;
          }
        } else {
          split.lengths[d] = L;
          split.labels[d] = label;
          p.perExample[d] = off;
        }
      });
      this.docs = s.records;
      split.base![0] = s.base;
      this.current = j;
    }
  }

  /** Local example i's first token's offset in the current segment's shard. */
  private placeOf(i: number): number {
    const p = this.places;
    if ('perExample' in p) return p.perExample[i];
    // The document holding chunk i: the last d with docFirst[d] <= i (binary search).
    let lo = 0, hi = this.docs - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (p.docFirst[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    return p.docPlace[lo] + (i - p.docFirst[lo]) * p.seqLength;
  }

  /** Gives the split a window of `tokens` tokens (before it is shared with worker threads). */
  reserve(tokens: number): void {
    const n = Math.max(1, tokens);
    this.split.tokens = new Int32Array(sharedBuffer(4 * n), 0, n);
    this.scratch = new Uint8Array(4 * n); // room for uint32 ids; a whole number of either
    this.ids16 = new Uint16Array(this.scratch.buffer);
    this.ids32 = new Int32Array(this.scratch.buffer);
  }

  /** Reads examples ids[0..n) (of the current segment) into the window, one after another, and points their starts there. */
  load(ids: Int32Array): void {
    const w = this.split.tokens, dt = this.idx.dtype, base = this.split.base![0], s = this.segments[this.current];
    for (let j = 0; j < ids.length; j++) {
      const i = ids[j] - base;
      if (!s || i < 0 || i >= s.count) throw new Error(`shard window: example ${ids[j]} is not in the loaded segment (select() it first)`);
    }
    const k = s.shard;
    if (this.fds[k] < 0) this.fds[k] = fs.openSync(this.idx.shards[k].file, 'r');
    let at = 0;
    for (let j = 0; j < ids.length; j++) {
      const i = ids[j] - base, len = this.split.lengths[i] + this.extra;
      if (at + len > w.length) throw new Error(`shard window of ${w.length} tokens cannot hold the batch (reserve() was sized too small)`);
      // Into the preallocated buffer: nothing allocated per record unless a read comes back short.
      const bytes = len * dt, pos = SHARD_HEADER + this.placeOf(i) * dt;
      const got = fs.readSync(this.fds[k], this.scratch, 0, bytes, pos);
      if (got < bytes) readExact(this.fds[k], this.scratch.subarray(got, bytes), pos + got, join(this.idx.shown, shardFileName(k)), 'a record');
      const src = dt === 2 ? this.ids16 : this.ids32;
      for (let t = 0; t < len; t++) w[at + t] = src[t];
      this.split.starts[i] = at;
      at += len;
    }
  }

  close(): void {
    for (let k = 0; k < this.fds.length; k++) if (this.fds[k] >= 0) { fs.closeSync(this.fds[k]); this.fds[k] = -1; }
    if (this.indexFd >= 0) { fs.closeSync(this.indexFd); this.indexFd = -1; }
  }
}

const windows = new WeakMap<EncodedSplit, ShardWindow>();

/**
 * A shard-backed split's window and segments, or undefined for an in-memory split. The
 * coordinator reserves the window (before sharing the split with its threads) and loads each
 * batch's examples into it; plans select a segment first.
 */
export function shardWindow(split: EncodedSplit): Pick<ShardWindow, 'reserve' | 'load' | 'close' | 'select' | 'loadSegment' | 'segments' | 'largest' | 'longest'> | undefined {
  return windows.get(split);
}

/** Closes the shard files a dataset's splits opened. */
export function closeShards(d: Dataset): void {
  for (const s of SPLIT_NAMES) windows.get(d.splits[s])?.close();
}

/**
 * The Dataset of a prepared folder, its many-to-many documents cut into chunks of `seqLength`
 * inputs exactly as loadDataset cuts them in memory (so the same examples get the same ids), each
 * split in segments (one per shard file; see Segment), the first one loaded.
 */
export function shardDataset(idx: ShardIndex, seqLength: number): Dataset {
  const t0 = performance.now();
  const m2m = idx.task === 'many-to-many';
  const splits = {} as Record<SplitName, EncodedSplit>;
  const reports = {} as Record<SplitName, SplitReport>;
  const iname = join(idx.shown, INDEX_FILE);
  const S = idx.shards.length;
  let bytes = 0;
  const fd = fs.openSync(join(idx.dir, INDEX_FILE), 'r');
  try {
    SPLIT_NAMES.forEach((s, si) => {
      const docs = idx.counts[si], pos = recordsPos(S, idx.counts, si);
      // The records once, in pieces: the segments (a run of records in one shard), the examples' statistics.
      const segments: Segment[] = [];
      let n = 0, sum = 0, min = Infinity, max = 0;
      const stat = (l: number) => { sum += l; if (l < min) min = l; if (l > max) max = l; };
      readRecords(fd, iname, pos, docs, 0, (d, k, L) => {
        let seg = segments.at(-1);
        if (!seg || seg.shard !== k) segments.push((seg = { shard: k, firstRecord: d, records: 0, count: 0, base: n, tokens: 0 }));
        seg.records++;
        if (m2m) {
          for (let q = 0; q < L - 1; q += seqLength) { const l = Math.min(seqLength, L - 1 - q); stat(l); seg.tokens += l; seg.count++; n++; }
        } else { stat(L); seg.tokens += L; seg.count++; n++; }
      });
      if (n > 0x7fffffff) bad(iname, `the ${s} split cuts into ${n} chunks of ${seqLength}, more than 2^31; use a longer data.seqLength`);
      // Arrays for one segment at a time: the largest.
      const most = Math.max(0, ...segments.map((g) => g.count)), mostDocs = Math.max(0, ...segments.map((g) => g.records));
      const lengths = sharedInt32(most), starts = sharedInt32(most);
      const labels = m2m ? sharedInt32(0) : sharedInt32(most);
      const first = m2m ? new Uint8Array(sharedBuffer(most), 0, most) : undefined;
      const places: Places = m2m ? { docFirst: new Int32Array(mostDocs), docPlace: new Float64Array(mostDocs), seqLength } : { perExample: new Float64Array(most) };
      const split: EncodedSplit = { name: s, count: n, tokens: sharedInt32(1), starts, lengths, labels, base: sharedInt32(1), ...(first ? { first } : {}) };
      const w = new ShardWindow(split, { shards: idx.shards, dtype: idx.dtype, task: idx.task, shown: idx.shown, dir: idx.dir, recordsAt: pos }, segments, places, max);
      windows.set(split, w);
      if (segments.length > 0) w.select(0);
      splits[s] = split;
      const prepared = idx.meta.report.splits?.[s] ?? ({} as SplitReport);
      reports[s] = { ...prepared, examples: n, tokens: sum, minLength: n > 0 ? min : 0, maxLength: max, meanLength: n > 0 ? sum / n : 0, ...(m2m ? { documents: docs } : {}) };
      bytes += lengths.byteLength + starts.byteLength + labels.byteLength + (first?.byteLength ?? 0)
        + ('docFirst' in places ? places.docFirst.byteLength + places.docPlace.byteLength : places.perExample.byteLength);
    });
  } finally {
    fs.closeSync(fd);
  }
  const report: DataReport = {
    ...idx.meta.report,
    inputs: [`${idx.shown} (token shards, ${idx.shards.length} file${idx.shards.length === 1 ? '' : 's'}; prepared from ${(idx.meta.report.inputs ?? []).join(', ')})`],
    splits: reports,
    bytes,
    ms: { read: 0, encode: Math.round(performance.now() - t0) },
  };
  const fingerprint = createHash('sha256').update(`shards ${idx.crc} ${idx.shards.map((s) => s.crc).join(',')} T=${m2m ? seqLength : 0}`).digest('hex').slice(0, 32);
  return {
    task: idx.task, vocab: { tokens: idx.meta.vocab }, labelNames: idx.meta.labelNames, tokenizer: idx.meta.tokenizer, splits, report, fingerprint,
  };
}

/** data.shards resolved against the config's folder, and as shown in messages. */
export function shardsPath(p: string, configDir: string): { abs: string; shown: string } {
  const abs = isAbsolute(p) ? p : resolve(configDir, p);
  const rel = relative(process.cwd(), abs);
  return { abs, shown: rel && !rel.startsWith('..') ? rel : abs };
}
