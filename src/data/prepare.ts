// prepareData: a config's data, of any size, into token shards (shards.ts) that training reads
// one batch at a time.
//
// Two passes over the files, each streamed in blocks (stream.ts), so no file is ever held whole:
//   1. rows -> split by the hash of their key (as loadDataset) -> the training split's token
//      counts and labels -> vocabulary (buildVocab, the same rule and order as in memory);
//   2. rows again -> encoded with that vocabulary -> records appended to each split's shards, in
//      file order, so the examples get the ids they get in memory.
// The tokenizer is a pluggable piece: a counter of training text (pass 1) and an encoder of text
// to ids (pass 2), both run on worker threads (workers/prepare.ts) on batches of rows, whose
// results are taken in input order: the output does not depend on the thread count.
// Built-in corpora and in-memory examples are small: they are loaded by loadDataset and written.

import { closeSync, existsSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { Piscina } from 'piscina';
import type { DataConfig } from '../config/types.js';
import { DataError, OutputError, ConfigError } from '../util/errors.js';
import { makeDirs } from '../util/files.js';
import { workerCount, WORKER_EXEC_ARGV } from '../util/threads.js';
import { checkDataConfig, withDataDefaults, type ResolvedDataConfig } from './defaults.js';
export { preparedSettings, tokenizerOf };
import { inSample, splitOf } from './hash.js';
import { loadDataset, noRows } from './load.js';
import type { InMemoryData } from './memory.js';
import { Issues, type ReadOptions, type Row } from './readers.js';
import { openDataFile, streamRows } from './stream.js';
import { buildVocab } from './tokenize.js';
import { BpeTrainer } from './bpe.js';
import { tokenizerJobs, type Encoded } from './tokenjobs.js';
import { continuesChunk } from './batches.js';
import { META_FILE, ShardWriter, dtypeFor, preparedSettings, tokenizerOf, writeFileAtomic, type PreparedSettings, type ShardMeta } from './shards.js';
import { SPLIT_NAMES, type Vocab, type DataReport, type Dataset, type RowIssue, type SplitName, type SplitReport, type Task, type TokenizerSpec } from './types.js';

export interface PrepareProgress {
  /** 1: counting tokens of the training split, 2: encoding. */
  pass: 1 | 2;
  bytes: number;
  totalBytes: number;
  /** Since the start of this pass. */
  seconds: number;
}

export interface PrepareOptions {
  /** Relative data paths are relative to it (the config file's folder). */
  configDir: string;
  task: Task;
  /** The folder to write (created if missing). */
  out: string;
  /** Worker threads (default: all cores); 1 encodes on the calling thread. */
  workers?: number;
  /** Examples of data.source "memory". */
  memory?: InMemoryData;
  onProgress?: (p: PrepareProgress) => void;
  /** Tokens per shard file, and bytes read per block (tests make them small). */
  shardTokens?: number;
  blockBytes?: number;
}

export interface PrepareResult {
  out: string;
  meta: ShardMeta;
  shards: number;
  records: Record<SplitName, number>;
  /** Bytes of the inputs read (each pass reads them once). */
  inputBytes: number;
  ms: { count: number; encode: number };
}

/** Prepares the config's data into `o.out` (see the top of this file). */
export async function prepareData(cfg: DataConfig, o: PrepareOptions): Promise<PrepareResult> {
  const c = withDataDefaults(cfg);
  checkDataConfig(c, o.task);
  if (o.task === 'tagging') throw new ConfigError('token shards are written for classifiers and language models; a tagger (model.task "tagging") reads its JSON Lines or CoNLL files in memory: train without data.shards.');
  const out = resolve(o.out);
  try {
    makeDirs(out);
  } catch (e) {
    throw new OutputError(`cannot create the output folder ${out}: ${(e as Error).message}`, out);
  }
  if (!statSync(out).isDirectory()) throw new OutputError(`--out ${out} is not a folder`, out);
  const t0 = performance.now();
  if (c.source !== 'files') {
    const ds = loadDataset(cfg, { configDir: o.configDir, task: o.task, memory: o.memory });
    const r = writeDataset(ds, preparedSettings(c, o.task), out, o.shardTokens);
    return { ...r, inputBytes: 0, ms: { count: 0, encode: Math.round(performance.now() - t0) } };
  }
  return prepareFiles(c, o, out);
}

// ---------------------------------------------------------------- files, streamed

interface Input { abs: string; shown: string; split: SplitName | null; bytes: number }

async function prepareFiles(c: ResolvedDataConfig, o: PrepareOptions, out: string): Promise<PrepareResult> {
  const task = o.task, m2o = task === 'many-to-one';
  const tok = tokenizerOf(c, task);
  const issues = new Issues(c.skipInvalid);
  const readOpts: ReadOptions = { format: c.format as ReadOptions['format'], textField: c.textField, labelField: c.labelField, needLabel: m2o };
  const inputs: Input[] = [];
  const add = (p: string, split: SplitName | null) => {
    const abs = isAbsolute(p) ? p : resolve(o.configDir, p);
    const rel = relative(process.cwd(), abs);
    const shown = rel && !rel.startsWith('..') ? rel : abs;
    const f = openDataFile(abs, shown);
    closeQuietly(f.fd);
    inputs.push({ abs, shown, split, bytes: f.size });
  };
  if (c.file) add(c.file, null);
  else for (const s of SPLIT_NAMES) if (c[s]) add(c[s]!, s);
  const totalBytes = inputs.reduce((a, f) => a + f.bytes, 0);
  const hashSplit = !!c.file;
  const given = new Set(c.labels ?? []);

  /** Each kept row of every input, with its split, in file order; `quiet`: bad rows were reported in pass 1. */
  async function* rows(pass: 1 | 2, iss: Issues): AsyncGenerator<{ rows: Row[]; splits: SplitName[] }> {
    const start = performance.now();
    let before = 0;
    for (const f of inputs) {
      const onBytes = (b: number) => o.onProgress?.({ pass, bytes: before + b, totalBytes, seconds: (performance.now() - start) / 1000 });
      for (const batch of streamRows(f.abs, f.shown, readOpts, iss, { onBytes, blockBytes: o.blockBytes })) {
        const kept: Row[] = [], splits: SplitName[] = [];
        for (const r of batch) {
          if (!inSample(r.key, c.sample)) continue;
          const s = f.split ?? splitOf(r.key, c.split);
          // A label outside data.labels (pass 1 reports it; pass 2 leaves the row out again).
          if (m2o && c.labels && !given.has(r.label!)) {
            if (pass === 1) issues.bad(r.file, r.line, `label "${r.label}" is not one of the labels (${c.labels.map((l) => `"${l}"`).join(', ')})`, 'Fix the label, or add it to data.labels.');
            continue;
          }
          kept.push(r);
          splits.push(s);
        }
        yield { rows: kept, splits };
        await Promise.resolve();
      }
      before += f.bytes;
    }
  }

  const pool = makePool(o.workers, tok);
  const writer = { w: null as ShardWriter | null };
  try {
    // ---- pass 1: rows per split, training labels and token counts
    const tc = performance.now();
    const rowCount: Record<SplitName, number> = { train: 0, val: 0, test: 0 };
    const trainLabels = new Set<string>();
    const vocabulary = vocabularyBuilder(tok, pool);
    for await (const b of rows(1, issues)) {
      const texts: string[] = [];
      b.rows.forEach((r, i) => {
        rowCount[b.splits[i]]++;
        if (b.splits[i] !== 'train') return;
        texts.push(r.text);
        if (m2o) trainLabels.add(r.label!);
      });
      if (texts.length > 0) await vocabulary.add(texts);
    }
    const msCount = performance.now() - tc;
    for (const s of SPLIT_NAMES) {
      const expected = hashSplit ? s === 'train' || c.split[s as 'val' | 'test'] > 0 : !!c[s];
      if (rowCount[s] === 0 && expected) throw hashSplit && rowCount.train + rowCount.val + rowCount.test === 0 ? noRows(inputs.map((f) => f.shown), task, c) : emptySplit(s, rowCount, inputs, hashSplit);
    }
    const labelNames = m2o ? c.labels ?? [...trainLabels].sort() : [];
    if (m2o && new Set(trainLabels).size < 2) {
      throw new DataError(`data: the training split has ${trainLabels.size === 0 ? 'no labels' : `one label only ("${[...trainLabels][0]}")`}; a classifier needs at least two. Check data.labelField and the training file.`);
    }
    const { vocab, tokenizer } = await vocabulary.finish(c.vocab.maxSize, c.vocab.minFreq);
    const V = vocab.tokens.length;

    // ---- pass 2: encode and write
    const te = performance.now();
    await pool.setVocab(vocab.tokens, tokenizer);
    const w = (writer.w = new ShardWriter(out, dtypeFor(V), V, task, o.shardTokens));
    const labelId = new Map(labelNames.map((l, i) => [l, i]));
    const allowed = labelNames.map((l) => `"${l}"`).join(', ');
    const stats = SPLIT_NAMES.map(() => ({ unk: 0, text: 0, truncated: 0, docs: 0, tooShort: 0, labels: Object.fromEntries(labelNames.map((l) => [l, 0])) as Record<string, number>, n: 0, sum: 0, min: Infinity, max: 0 }));
    const queue: { splits: SplitName[]; labels: Int32Array; result: Promise<Encoded> }[] = [];
    const take = async () => {
      const q = queue.shift()!;
      const r = await q.result;
      let at = 0;
      for (let i = 0; i < q.splits.length; i++) {
        const s = q.splits[i], st = stats[SPLIT_NAMES.indexOf(s)], len = r.lengths[i];
        const ids = r.tokens.subarray(at, at + len);
        at += len;
        if (q.labels[i] < 0 && m2o) continue; // a label the classes lack (reported)
        if (!m2o && len < 2) { st.tooShort++; continue; }
        w.add(s, ids, m2o ? q.labels[i] : -1);
        st.unk += r.unk[i]; st.text += r.text[i]; st.truncated += r.truncated[i]; st.docs++;
        if (m2o) st.labels[labelNames[q.labels[i]]]++;
        const l = m2o ? len : len - 1;
        st.n++; st.sum += l; if (l < st.min) st.min = l; if (l > st.max) st.max = l;
      }
    };
    for await (const b of rows(2, new Issues(true))) {
      const labels = new Int32Array(b.rows.length);
      const texts = b.rows.map((r, i) => {
        if (!m2o) return r.text;
        const id = labelId.get(r.label!);
        if (id === undefined) {
          issues.bad(r.file, r.line, `label "${r.label}" is not one of the labels (${allowed})`, 'Without data.labels, the labels are those of the training split, and this one never occurs there. Fix the label, or list every label in data.labels.');
          labels[i] = -1;
          return '';
        }
        labels[i] = id;
        return r.text;
      });
      queue.push({ splits: b.splits, labels, result: pool.encode(texts) });
      if (queue.length >= 2 * pool.size) await take();
    }
    while (queue.length > 0) await take();
    w.finish();
    removeStale(out, w.shards);

    const reports = {} as Record<SplitName, SplitReport>;
    SPLIT_NAMES.forEach((s, i) => {
      const st = stats[i];
      reports[s] = {
        examples: st.docs, tokens: st.sum, oovRate: st.text > 0 ? st.unk / st.text : 0,
        minLength: st.n > 0 ? st.min : 0, maxLength: st.max, meanLength: st.n > 0 ? st.sum / st.n : 0,
        ...(m2o ? { labels: st.labels, truncated: st.truncated } : { documents: st.docs }),
      };
    });
    const tooShort = stats.reduce((a, s) => a + s.tooShort, 0);
    const report: DataReport = {
      source: c.source, task, inputs: inputs.map((f) => (f.split ? `${f.split}: ${f.shown}` : f.shown)), sample: c.sample,
      splitBy: hashSplit ? `hash of each example's key (FNV-1a 32 + fmix32): test if < ${c.split.test}, val if < ${c.split.test + c.split.val}, else train; key: the "id" field/column when present, else the text` : 'separate files',
      splits: reports, vocabSize: V, labelNames,
      skipped: { count: issues.skipped.length, first: firstIssues(issues.skipped, 5) },
      dropped: tooShort > 0 ? [{ reason: 'document shorter than 2 tokens (nothing to predict)', count: tooShort, examples: [] }] : [],
      duplicates: { count: 0, note: 'not counted when preparing shards' },
      bytes: 0, ms: { read: 0, encode: Math.round(performance.now() - te) },
    };
    const meta = writeMeta(out, w, tokenizer, vocab.tokens, labelNames, preparedSettings(c, task), report);
    return { out, meta, shards: w.shards, records: w.counts, inputBytes: totalBytes, ms: { count: Math.round(msCount), encode: Math.round(performance.now() - te) } };
  } catch (e) {
    writer.w?.abort();
    throw e;
  } finally {
    await pool.close();
  }
}

function emptySplit(s: SplitName, rows: Record<SplitName, number>, inputs: Input[], hashSplit: boolean): DataError {
  const fix = hashSplit
    ? s === 'train' ? 'Use more data, or lower data.split.val and data.split.test.' : `Use more data, raise data.split.${s}, or set data.split.${s} to 0 to run without a ${s} split.`
    : `Check ${inputs.find((f) => f.split === s)?.shown ?? `data.${s}`}: it has no usable rows.`;
  return new DataError(`data: the ${s} split is empty (${rows.train + rows.val + rows.test} rows in all). ${fix}`);
}

function firstIssues(list: RowIssue[], n: number): RowIssue[] {
  return list.slice(0, n);
}

function closeQuietly(fd: number): void {
  try { closeSync(fd); } catch { /* closed */ }
}

/** Shard files of an earlier, larger prepare into the same folder. */
function removeStale(out: string, shards: number): void {
  for (const f of readdirSync(out)) {
    const m = /^shard-(\d{5,})\.tok$/.exec(f);
    if (m && Number(m[1]) >= shards) unlinkSync(join(out, f));
  }
}

/** meta.json, written after `w` finished index.bin: it records the index's CRC32C, which pairs the vocabulary with those shards. */
function writeMeta(out: string, w: ShardWriter, tok: TokenizerSpec, vocab: string[], labelNames: string[], settings: PreparedSettings, report: DataReport): ShardMeta {
  const meta: ShardMeta = { format: 'rnn-trainer token shards', version: 1, task: w.task, tokenizer: tok, vocab, labelNames, settings, report, indexCrc32c: w.indexCrc };
  writeFileAtomic(join(out, META_FILE), [new TextEncoder().encode(JSON.stringify(meta) + '\n')]);
  return meta;
}

// ---------------------------------------------------------------- an in-memory Dataset

/**
 * Writes an encoded Dataset as shards (built-in corpora, in-memory examples, tests): each
 * many-to-one example a record, each many-to-many document (a run of continuing chunks) one.
 */
export function writeDataset(ds: Dataset, settings: PreparedSettings, out: string, shardTokens?: number): Omit<PrepareResult, 'inputBytes' | 'ms'> {
  const V = ds.vocab.tokens.length;
  makeDirs(out);
  const w = new ShardWriter(out, dtypeFor(V), V, ds.task, shardTokens);
  try {
    for (const s of SPLIT_NAMES) {
      const sp = ds.splits[s];
      if (ds.task === 'many-to-one') {
        for (let i = 0; i < sp.count; i++) w.add(s, sp.tokens.subarray(sp.starts[i], sp.starts[i] + sp.lengths[i]), sp.labels[i]);
        continue;
      }
      for (let i = 0; i < sp.count;) {
        let j = i + 1;
        while (j < sp.count && continuesChunk(sp, j)) j++;
        const end = sp.starts[j - 1] + sp.lengths[j - 1] + 1; // the last target
        w.add(s, sp.tokens.subarray(sp.starts[i], end), -1);
        i = j;
      }
    }
    w.finish();
  } catch (e) {
    w.abort();
    throw e;
  }
  removeStale(out, w.shards);
  const report: DataReport = { ...ds.report, splits: { ...ds.report.splits } };
  const meta = writeMeta(out, w, ds.tokenizer, ds.vocab.tokens, ds.labelNames, settings, report);
  return { out, meta, shards: w.shards, records: w.counts };
}

// ---------------------------------------------------------------- the tokenizer on threads

/**
 * The tokenizer's first pass: it sees the training split's texts in input order (add), then
 * gives the vocabulary and the tokenizer spec to encode with (finish). char and word count
 * tokens on the pool's threads and keep the most frequent (buildVocab, as in memory). A
 * tokenizer that learns more than a vocabulary (e.g. byte-level BPE: a streaming trainer whose
 * merges go into the spec) plugs in here with its own add and finish.
 */
export interface VocabularyBuilder {
  add(texts: string[]): Promise<void>;
  finish(maxSize: number, minFreq: number): Promise<{ vocab: Vocab; tokenizer: TokenizerSpec }>;
}

function vocabularyBuilder(tok: TokenizerSpec, pool: Pool): VocabularyBuilder {
  // The threads count; their counts are collected once, at the end.
  const pending: Promise<void>[] = [];
  const counted = async () => {
    await Promise.all(pending.splice(0));
    return pool.counts();
  };
  const add = async (texts: string[]) => {
    pending.push(pool.count(texts));
    if (pending.length >= 2 * pool.size) await pending.shift()!;
  };
  if (tok.kind === 'bpe') return bpeBuilder(tok, add, counted);
  return {
    add,
    async finish(maxSize, minFreq) {
      const all = await counted(), counts = all[0];
      for (const m of all.slice(1)) for (const [t, n] of m) counts.set(t, (counts.get(t) ?? 0) + n);
      const vocab = buildVocab(counts, maxSize, minFreq);
      return { vocab, tokenizer: tok };
    },
  };
}

/**
 * Byte-level BPE: the threads count the pre-tokens of the training texts (each text whole, as
 * loadDataset's trainer sees it); the merges are learnt from the summed counts on this thread
 * (the same merges in any order of the counts: ./bpe.ts breaks every tie by the bytes) and go
 * into the spec the threads then encode with.
 */
function bpeBuilder(tok: TokenizerSpec, add: VocabularyBuilder['add'], counted: () => Promise<Map<string, number>[]>): VocabularyBuilder {
  return {
    add,
    async finish(maxSize, minFreq) {
      const trainer = new BpeTrainer();
      for (const m of await counted()) trainer.addCounts(m);
      const bpe = trainer.finish(maxSize, minFreq);
      return { vocab: { tokens: bpe.vocab() }, tokenizer: { ...tok, merges: bpe.mergeStrings() } };
    },
  };
}

interface Pool {
  size: number;
  count(texts: string[]): Promise<void>;
  /** Each thread's counts (tokenjobs counts()). */
  counts(): Promise<Map<string, number>[]>;
  setVocab(tokens: string[], tok: TokenizerSpec): Promise<void>;
  encode(texts: string[]): Promise<Encoded>;
  close(): Promise<void>;
}

/** The compiled worker (tests run the sources; worker threads load dist/), or null when not built. */
function workerFile(): string | null {
  const here = fileURLToPath(import.meta.url);
  const root = here.slice(0, here.lastIndexOf(here.includes('/dist/') ? '/dist/' : '/src/'));
  const file = `${root}/dist/workers/prepare.js`;
  return existsSync(file) ? file : null;
}

function makePool(workers: number | undefined, tok: TokenizerSpec): Pool {
  const n = workerCount(workers);
  const file = n > 1 ? workerFile() : null;
  if (!file) {
    const jobs = tokenizerJobs(tok);
    return {
      size: 1,
      count: async (t) => jobs.count(t),
      counts: async () => [jobs.counts()],
      setVocab: async (v, t) => jobs.setVocab(v, t),
      encode: async (t) => jobs.encode(t),
      close: async () => {},
    };
  }
  const pool = new Piscina({ filename: file, minThreads: n, maxThreads: n, workerData: { tok }, execArgv: [...WORKER_EXEC_ARGV] });
  // A task every thread takes once: each holds its thread until all n have started.
  const everyThread = <T>(task: object): Promise<T[]> => {
    const gate = new Int32Array(new SharedArrayBuffer(4));
    return Promise.all(Array.from({ length: n }, () => pool.run({ ...task, gate, n }) as Promise<T>));
  };
  // A task still queued when prepare stops on an error (a bad row, an empty split) is rejected by
  // destroy() with piscina's "Terminating worker thread", and nothing awaits it any more: marked as
  // handled here, so that the error the user must see is the one reported, not an unhandled rejection.
  const run = <T>(task: object): Promise<T> => {
    const p = pool.run(task) as Promise<T>;
    p.catch(() => {});
    return p;
  };
  return {
    size: n,
    count: (texts) => run({ kind: 'count', texts }),
    counts: () => everyThread<Map<string, number>>({ kind: 'counts' }),
    setVocab: async (tokens, spec) => { await everyThread({ kind: 'vocab', tokens, tok: spec }); },
    encode: (texts) => run({ kind: 'encode', texts }),
    close: () => pool.destroy(),
  };
}
