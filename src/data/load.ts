// loadDataset: rows from files or a built-in corpus -> splits by key hash -> label ids ->
// vocabulary from the training split -> flat token arrays on SharedArrayBuffers, plus a report.

import { statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import type { DataConfig } from '../config/types.js';
import { FORMAT_FILE_NAMES } from '../config/formats.js';
import { ConfigError, DataError } from '../util/errors.js';
import { formatBytes, MiB } from '../util/files.js';
import { preparedSettings, readShardIndex, shardDataset, shardsPath } from './shards.js';
import { sharedInt32, toShared } from '../util/shared.js';
import { builtinCorpus } from './corpora.js';
import { checkDataConfig, formatOfExtension, withDataDefaults, type ResolvedDataConfig } from './defaults.js';
import { inSample, splitOf } from './hash.js';
import { Issues, MAX_DATA_BYTES, readRows, type Row } from './readers.js';
import { memorySource, memoryRows, type InMemoryData } from './memory.js';
import { IntBuf, buildVocab, encodeInto, keptTokens, normalizeText, vocabLookup } from './tokenize.js';
import { BpeTrainer } from './bpe.js';
import { countTaggedTokens, encodeTagged, knownTags, readTaggedRows, tagNamesOf } from './tagged.js';
import {
  SPLIT_NAMES,
  type DataReport, type Dataset, type EncodedSplit, type RowIssue, type SplitName, type SplitReport, type Task, type TokenizerSpec, type Vocab,
} from './types.js';

type BySplit<T> = Record<SplitName, T>;

/** `memory`: the examples of data.source `memory` (a program's; see memory.ts). */
export function loadDataset(cfg: DataConfig, opts: { configDir: string; task: Task; memory?: InMemoryData; configFile?: string }): Dataset {
  const c = withDataDefaults(cfg);
  checkDataConfig(c, opts.task);
  const task = opts.task;
  if (cfg.shards !== undefined && task === 'tagging') throw new ConfigError('data.shards: token shards hold classifier and language-model data; a tagger (model.task "tagging") reads its JSON Lines or CoNLL files: remove data.shards.');
  if (cfg.shards !== undefined) return loadShards(cfg.shards, c, opts);
  const issues = new Issues(c.skipInvalid);

  // ---- rows of each split
  const t0 = performance.now();
  const src = readSource(c, opts.configDir, task, issues, opts.memory, opts.configFile);
  const tRead = performance.now();

  // Rows first, so that too little data is not reported as some later symptom.
  for (const s of SPLIT_NAMES) checkNotEmpty(s, src.rows[s].length, src, c, 0, task);

  // ---- labels (many-to-one)
  let labelNames: string[] = [];
  if (task === 'many-to-one') {
    labelNames = c.labels ?? (src.labels.length > 0 ? src.labels : [...new Set(src.rows.train.map((r) => r.label!))].sort());
    const ids = new Set(labelNames);
    const allowed = labelNames.map((l) => `"${l}"`).join(', ');
    const fix = c.labels
      ? 'Fix the label, or add it to data.labels.'
      : 'Without data.labels, the labels are those of the training split, and this one never occurs there. Fix the label, or list every label in data.labels.';
    for (const s of SPLIT_NAMES) {
      src.rows[s] = src.rows[s].filter((r) => {
        if (ids.has(r.label!)) return true;
        issues.bad(r.file, r.line, `label "${r.label}" is not one of the labels (${allowed})`, fix);
        return false;
      });
    }
    const seen = new Set(src.rows.train.map((r) => r.label!));
    if (seen.size < 2) {
      throw new DataError(`data: the training split has ${seen.size === 0 ? 'no labels' : `one label only ("${[...seen][0]}")`}; a classifier needs at least two. Check data.labelField and the training file.`);
    }
  } else if (task === 'tagging') {
    labelNames = tagNamesOf(src.rows.train);
    if (labelNames.length < 2) throw new DataError(`data: the training split has ${labelNames.length === 0 ? 'no tags' : `one tag only ("${labelNames[0]}")`}; a tagger needs at least two. Check data.tagsField (JSON Lines) or the last column (CoNLL) of the training file.`);
    const tagId = new Map(labelNames.map((l, i) => [l, i]));
    for (const s of ['val', 'test'] as const) src.rows[s] = knownTags(src.rows[s], tagId, issues, 'The tags are those of the training split, and this one never occurs there: fix the tag, or add sentences with it to the training data.');
  }

  // ---- vocabulary from the training split, then encoding
  const tokenizer: TokenizerSpec = {
    kind: c.tokenizer,
    lowercase: c.lowercase,
    bos: c.bos,
    eos: c.eos,
    maxLength: task !== 'many-to-many' ? c.maxLength : 0,
    truncate: c.truncate,
    reverse: task === 'many-to-one' && c.reverse,
  };
  const vocab = task === 'tagging'
    ? buildVocab(countTaggedTokens(src.rows.train, tokenizer), c.vocab.maxSize, c.vocab.minFreq)
    : tokenizer.kind === 'bpe'
    ? trainBpe(src.rows.train, tokenizer, c.vocab.maxSize, c.vocab.minFreq)
    : buildVocab(countTokens(src.rows.train, tokenizer), c.vocab.maxSize, c.vocab.minFreq);
  const labelId = new Map(labelNames.map((l, i) => [l, i]));
  const splits = {} as BySplit<EncodedSplit>;
  const reports = {} as BySplit<SplitReport>;
  let tooShort = 0;
  for (const s of SPLIT_NAMES) {
    const r = task === 'many-to-one' ? encodeSequences(s, src.rows[s], tokenizer, vocab, labelId, labelNames)
      : task === 'tagging' ? encodeTagged(s, src.rows[s], tokenizer, vocab, labelId, labelNames)
      : encodeStreams(s, src.rows[s], tokenizer, vocab, c.seqLength);
    splits[s] = r.split;
    reports[s] = r.report;
    tooShort += r.tooShort;
  }
  const tEnc = performance.now();

  for (const s of SPLIT_NAMES) checkNotEmpty(s, splits[s].count, src, c, reports[s].examples, task);

  const dropped = [...src.dropped];
  if (tooShort > 0) dropped.push({ reason: 'document shorter than 2 tokens (nothing to predict)', count: tooShort, examples: [] });
  let bytes = 0;
  for (const s of SPLIT_NAMES) {
    const sp = splits[s];
    bytes += sp.tokens.byteLength + sp.starts.byteLength + sp.lengths.byteLength + sp.labels.byteLength + (sp.tags?.byteLength ?? 0);
  }
  const report: DataReport = {
    source: c.source,
    task,
    inputs: src.inputs,
    sample: c.sample,
    splitBy: src.splitBy,
    splits: reports,
    vocabSize: vocab.tokens.length,
    labelNames,
    skipped: { count: issues.skipped.length, first: firstIssues(issues.skipped, 5) },
    dropped,
    duplicates: src.duplicates,
    bytes,
    ms: { read: Math.round(tRead - t0), encode: Math.round(tEnc - tRead) },
  };
  return { task, vocab, labelNames, tokenizer, splits, report };
}

/** Every split that should have examples has some. */
function checkNotEmpty(s: SplitName, count: number, src: Source, c: ResolvedDataConfig, examples: number, task: Task): void {
  if (count > 0 || !src.expected[s]) return;
  const fix = src.hashSplit
    ? s === 'train'
      ? 'Use more data, or lower data.split.val and data.split.test.'
      : `Use more data, raise data.split.${s}, or set data.split.${s} to 0 to run without a ${s} split.`
    : `Check ${src.inputs.find((f) => f.startsWith(`${s}:`)) ?? `data.${s}`}: it has no usable rows.`;
  // Whole rows (documents) go to one split: with only a few, the cause is their number, not the fractions.
  const docs = task === 'many-to-many';
  if (src.hashSplit && src.totalRows === 0) throw noRows(src.inputs, task, c);
  if (src.hashSplit && src.totalRows < 20) {
    const what = docs ? 'document' : 'row';
    const cause = `the data has ${src.totalRows === 1 ? `only one ${what}` : `only ${src.totalRows} ${what}s`}, and each ${what} goes to one split whole`;
    const how = docs
      ? 'A text file\'s documents are its paragraphs, separated by blank lines: separate the text into paragraphs (chapters, articles), or give the validation and test text as files of their own (data.val, data.test)'
      : 'Give more rows, or the validation and test rows as files of their own (data.val, data.test)';
    throw new DataError(`data: the ${s} split is empty: ${cause}. ${how}${s === 'train' ? '' : `, or set data.split.${s} to 0 to run without a ${s} split`}.`);
  }
  throw new DataError(`data: the ${s} split is empty (${src.rows[s].length} rows, ${examples} examples; ${src.totalRows} rows in all${c.sample < 1 ? `, data.sample ${c.sample}` : ''}). ${fix}`);
}

/** The data (one file or corpus, split by hash) gave no row at all: say why, rather than that a split is empty. */
export function noRows(inputs: string[], task: Task, c: ResolvedDataConfig): DataError {
  const what = task === 'many-to-many' ? 'document' : 'row';
  const why = c.sample < 1 ? `none is in the data.sample of ${c.sample} (or there are none): raise data.sample`
    : task === 'many-to-many' ? 'the text is empty or blank lines only: give a file with text (paragraphs separated by blank lines)'
      : `it is empty${c.skipInvalid ? ', a header only, or every row was invalid (data.skipInvalid skipped them)' : ' or a header only'}: give a file with rows`;
  return new DataError(`data: ${inputs.join(', ')} holds no ${what}s: ${why}.`);
}

// ---------------------------------------------------------------- sources

interface Source {
  rows: BySplit<Row[]>;
  /** Whether an empty split is an error. */
  expected: BySplit<boolean>;
  hashSplit: boolean;
  splitBy: string;
  labels: string[];
  inputs: string[];
  totalRows: number;
  dropped: DataReport['dropped'];
  duplicates: DataReport['duplicates'];
}

function readSource(c: ResolvedDataConfig, configDir: string, task: Task, issues: Issues, memory?: InMemoryData, configFile?: string): Source {
  const needLabel = task === 'many-to-one';
  const readOpts = { format: c.format as 'jsonl', textField: c.textField, labelField: c.labelField, needLabel };
  const read = (abs: string, shown: string): Row[] => task === 'tagging' ? readTaggedRows(abs, shown, c.format!, c, issues) : readRows(abs, shown, readOpts, issues);
  const rows: BySplit<Row[]> = { train: [], val: [], test: [] };
  const sample = (list: Row[]) => (c.sample < 1 ? list.filter((r) => inSample(r.key, c.sample)) : list);
  // One collection, split by the hash of each example's key (data.file, a built-in corpus, examples in memory).
  const hashed = (list: Row[], key: string, inputs: string[], from?: Pick<Source, 'labels' | 'dropped' | 'duplicates'>): Source => {
    const all = sample(list);
    for (const r of all) rows[splitOf(r.key, c.split)].push(r);
    return {
      rows, expected: { train: true, val: c.split.val > 0, test: c.split.test > 0 }, hashSplit: true,
      splitBy: `hash of each example's key (FNV-1a 32 + fmix32): test if < ${c.split.test}, val if < ${c.split.test + c.split.val}, else train; key: ${key}`,
      inputs, totalRows: all.length, labels: from?.labels ?? [], dropped: from?.dropped ?? [],
      duplicates: from?.duplicates ?? countDuplicates(all, 'kept; equal keys always land in the same split'),
    };
  };
  // Splits given apart (data.train/val/test, files or in memory), already in `rows`.
  const apart = (expected: BySplit<boolean>, splitBy: string, inputs: string[], duplicates: (all: Row[]) => DataReport['duplicates']): Source => {
    const all = [...rows.train, ...rows.val, ...rows.test];
    return { rows, expected, hashSplit: false, splitBy, labels: [], inputs, totalRows: all.length, dropped: [], duplicates: duplicates(all) };
  };

  if (c.source === 'memory') {
    if (memory === undefined) {
      throw new DataError('data.source "memory" takes its examples from a program (the library\'s train({ config, data })); a config file for train.js names files (data.source "files") or a built-in corpus.');
    }
    const m = memorySource(memory, task, issues);
    if ('all' in m) return hashed(m.all, 'the example\'s id when present, else the text', ['data (in memory)']);
    for (const s of SPLIT_NAMES) rows[s] = sample(m.bySplit[s]);
    return apart(m.given, 'given apart (data.train, data.val, data.test)', SPLIT_NAMES.filter((s) => m.given[s]).map((s) => `${s}: data.${s} (in memory)`), (all) => countDuplicates(all, 'kept'));
  }

  if (c.source !== 'files') {
    const corpus = builtinCorpus(c.source);
    const key = c.source === 'names' ? 'lowercase name' : c.source === 'spam-assassin' ? 'normalized body' : 'chapter name (a chapter\'s lines go to one split)';
    return hashed(corpus.rows, key, corpus.inputs, corpus);
  }

  const open = (p: string) => {
    const abs = isAbsolute(p) ? p : resolve(configDir, p);
    const rel = relative(process.cwd(), abs);
    return { abs, shown: rel && !rel.startsWith('..') ? rel : abs };
  };
  checkInMemorySize(c, configDir, configFile);
  if (c.file) {
    const f = open(c.file);
    return hashed(read(f.abs, f.shown), 'the "id" field/column when present, else the text', [f.shown]);
  }

  const inputs: string[] = [];
  for (const s of SPLIT_NAMES) {
    const p = c[s];
    if (!p) continue;
    const f = open(p);
    rows[s] = sample(read(f.abs, f.shown));
    inputs.push(`${s}: ${f.shown}`);
  }
  // Separate files cannot keep copies together, so say how many held-out rows also occur in training.
  const trainKeys = new Set(rows.train.map((r) => r.key));
  const leaked = rows.val.filter((r) => trainKeys.has(r.key)).length + rows.test.filter((r) => trainKeys.has(r.key)).length;
  return apart({ train: true, val: !!c.val, test: !!c.test }, 'separate files', inputs, (all) => countDuplicates(all, `kept; ${leaked} val/test rows have the same key (text or id) as a training row`));
}

/** The first n issues in file order (reading and label checks find them in different passes). */
function firstIssues(list: RowIssue[], n: number): RowIssue[] {
  const files = [...new Set(list.map((i) => i.file))];
  return [...list].sort((a, b) => files.indexOf(a.file) - files.indexOf(b.file) || a.line - b.line).slice(0, n);
}

function countDuplicates(rows: Row[], note: string): DataReport['duplicates'] {
  const keys = new Set<string>();
  let count = 0;
  for (const r of rows) {
    if (keys.has(r.key)) count++;
    else keys.add(r.key);
  }
  return { count, note };
}

// ---------------------------------------------------------------- too large for memory

/**
 * Most bytes of data files read into memory, all files together, by tokenizer: the text is held
 * as strings and its tokens as Int32Arrays (4 bytes per token, grown by doubling), and past about
 * 110 MB of char-level text V8 stops with a fatal error. Larger data goes through token shards.
 */
export const IN_MEMORY_MAX_BYTES = { char: 64 * MiB, word: 256 * MiB, bpe: 128 * MiB } as const; // bpe: its merges are learned from the whole text in memory

/** The data files' sizes against IN_MEMORY_MAX_BYTES, before anything is read. */
function checkInMemorySize(c: ResolvedDataConfig, configDir: string, configFile?: string): void {
  const files = [c.file, c.train, c.val, c.test].filter((f): f is string => typeof f === 'string');
  let total = 0;
  for (const f of files) {
    try { total += statSync(isAbsolute(f) ? f : resolve(configDir, f)).size; } catch { /* reported when read */ }
  }
  const limit = IN_MEMORY_MAX_BYTES[c.tokenizer];
  if (total <= limit) return;
  const show = (p: string) => { const r = relative(process.cwd(), p); return r && !r.startsWith('..') ? r : p; };
  const first = files[0];
  const outAbs = resolve(configDir, `${first.replace(/\.[A-Za-z0-9]+$/, '')}-shards`);
  const cfgShown = configFile && configFile !== 'config' ? show(configFile) : 'CONFIG';
  throw new DataError(`data: ${files.map((f) => JSON.stringify(f)).join(', ')} ${files.length > 1 ? 'hold' : 'holds'} ${formatBytes(total)}, more than the ${formatBytes(limit)} `
    + `read into memory with the ${c.tokenizer} tokenizer. Prepare token shards, which training reads a batch at a time: `
    + `node dist/prepare.js --config ${cfgShown} --out ${show(outAbs)} ; then set data.shards to "${relative(configDir, outAbs)}" in the config.`, first);
}

// ---------------------------------------------------------------- token shards

/** The Dataset of data.shards, after checking it was prepared as this config would prepare it. */
function loadShards(dir: string, c: ResolvedDataConfig, opts: { configDir: string; task: Task; configFile?: string }): Dataset {
  const p = shardsPath(dir, opts.configDir);
  const idx = readShardIndex(p.abs, p.shown);
  const want = preparedSettings(c, opts.task) as unknown as Record<string, unknown>;
  const have = idx.meta.settings as unknown as Record<string, unknown>;
  for (const k of Object.keys(want)) {
    if (JSON.stringify(want[k]) === JSON.stringify(have[k])) continue;
    const what = k === 'tokenizer' ? 'the tokenizer fields (tokenizer, lowercase, bos, eos, maxLength, truncate, reverse)' : k === 'task' ? 'model.task' : `data.${k}`;
    throw new ConfigError(`data.shards: ${p.shown} was prepared with ${what} ${JSON.stringify(have[k])}, this config says ${JSON.stringify(want[k])}; `
      + `prepare again (node dist/prepare.js --config CONFIG --out ${p.shown}) or make the config say what the shards were prepared with.`);
  }
  return shardDataset(idx, c.seqLength);
}

// ---------------------------------------------------------------- encoding

/** Token counts of the training rows, over the part of each sequence that encoding keeps. */
function countTokens(rows: Row[], tok: TokenizerSpec): Map<string, number> {
  const counts = new Map<string, number>();
  const kept = keptTokens(tok);
  for (const r of rows) kept(r.text, counts);
  return counts;
}

/** BPE merges learned from the whole text of the training rows, into tok.merges; the vocabulary they make. */
function trainBpe(rows: Row[], tok: TokenizerSpec, maxSize: number, minFreq: number): Vocab {
  const trainer = new BpeTrainer();
  for (const r of rows) trainer.addText(normalizeText(r.text, tok.lowercase));
  const bpe = trainer.finish(maxSize, minFreq);
  tok.merges = bpe.mergeStrings();
  return { tokens: bpe.vocab() };
}

interface Encoded {
  split: EncodedSplit;
  report: SplitReport;
  tooShort: number;
}

/** Many-to-one: one example per row. */
function encodeSequences(name: SplitName, rows: Row[], tok: TokenizerSpec, vocab: Vocab, labelId: Map<string, number>, labelNames: string[]): Encoded {
  const lookup = vocabLookup(vocab);
  const buf = new IntBuf(1 << 16);
  const n = rows.length;
  const starts = sharedInt32(n);
  const lengths = sharedInt32(n);
  const labels = sharedInt32(n);
  const dist: Record<string, number> = Object.fromEntries(labelNames.map((l) => [l, 0]));
  let unk = 0, text = 0, truncated = 0;
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    starts[i] = buf.length;
    const st = encodeInto(r.text, tok, lookup, buf);
    lengths[i] = st.length;
    labels[i] = labelId.get(r.label!)!;
    dist[r.label!]++;
    unk += st.unk;
    text += st.textTokens;
    if (st.truncated) truncated++;
  }
  const split: EncodedSplit = { name, count: n, tokens: toShared(buf.data.subarray(0, buf.length)), starts, lengths, labels };
  return { split, report: { ...lengthStats(split), oovRate: text > 0 ? unk / text : 0, labels: dist, truncated }, tooShort: 0 };
}

/**
 * Many-to-many: each row is a document whose token stream is cut into chunks of seqLength inputs,
 * each with its next token as target; the last chunk of a document may be shorter.
 */
function encodeStreams(name: SplitName, rows: Row[], tok: TokenizerSpec, vocab: Vocab, T: number): Encoded {
  const lookup = vocabLookup(vocab);
  const buf = new IntBuf(1 << 16);
  const starts = new IntBuf(1024);
  const lengths = new IntBuf(1024);
  let unk = 0, text = 0, docs = 0, tooShort = 0;
  for (const r of rows) {
    const s0 = buf.length;
    const st = encodeInto(r.text, tok, lookup, buf);
    if (st.length < 2) {
      buf.length = s0;
      tooShort++;
      continue;
    }
    docs++;
    unk += st.unk;
    text += st.textTokens;
    for (let p = 0; p < st.length - 1; p += T) {
      starts.push(s0 + p);
      lengths.push(Math.min(T, st.length - 1 - p));
    }
  }
  const split: EncodedSplit = {
    name,
    count: starts.length,
    tokens: toShared(buf.data.subarray(0, buf.length)),
    starts: toShared(starts.data.subarray(0, starts.length)),
    lengths: toShared(lengths.data.subarray(0, lengths.length)),
    labels: sharedInt32(0),
  };
  return { split, report: { ...lengthStats(split), documents: docs, oovRate: text > 0 ? unk / text : 0 }, tooShort };
}

function lengthStats(s: EncodedSplit): Pick<SplitReport, 'examples' | 'tokens' | 'minLength' | 'maxLength' | 'meanLength'> {
  let sum = 0, min = s.count > 0 ? Infinity : 0, max = 0;
  for (let i = 0; i < s.count; i++) {
    const l = s.lengths[i];
    sum += l;
    if (l < min) min = l;
    if (l > max) max = l;
  }
  return { examples: s.count, tokens: sum, minLength: min, maxLength: max, meanLength: s.count > 0 ? sum / s.count : 0 };
}

// ---------------------------------------------------------------- a file with a saved vocabulary

export interface ExternalFileOptions {
  task: Task;
  /** The saved model's vocabulary, label names (many-to-one, in class-id order) and tokenizer. */
  vocab: Vocab;
  labelNames: string[];
  tokenizer: TokenizerSpec;
  /** Format of the file; default: from its extension (FORMAT_EXTENSIONS), else data.format. */
  format?: DataConfig['format'];
  /** Which split name the encoded examples carry (default 'test'). */
  name?: SplitName;
  /** Skip invalid rows (and count them) instead of stopping at the first; default: the config's data.skipInvalid. */
  skipInvalid?: boolean;
  /** How a user turns on skipping, ending each bad-row error (default: the data.skipInvalid hint). */
  skipHint?: string;
  /** The text and label fields (columns) of this file, when not the config's data.textField / labelField. */
  textField?: string;
  labelField?: string;
  /** How a user names another field, in a missing-field error (default: set data.textField / labelField). */
  fieldFix?: (which: 'text' | 'label') => string;
}

export interface ExternalFile {
  split: EncodedSplit;
  report: SplitReport;
  /** The file as named in messages, and the format it was read as. */
  shown: string;
  format: NonNullable<DataConfig['format']>;
  /** Invalid rows skipped (skipInvalid): how many, and the first few. */
  skipped: { count: number; first: RowIssue[] };
}

export { formatOfExtension };

/**
 * One user file (evaluation of new data), read with the same readers and encoded with a SAVED
 * vocabulary, label map and tokenizer, so its ids are those the model was trained with. Text
 * and label fields, seqLength and skipInvalid come from `cfg` (the saved config's data section).
 * A label outside `labelNames` is a bad row (DataError naming the file and line, or skipped and
 * counted with data.skipInvalid), as in loadDataset. `file` is relative to `baseDir`.
 */
export function loadExamplesWithVocab(file: string, cfg: DataConfig, baseDir: string, o: ExternalFileOptions): ExternalFile {
  const c = withDataDefaults(cfg);
  const abs = isAbsolute(file) ? file : resolve(baseDir, file);
  const rel = relative(process.cwd(), abs);
  const shown = rel && !rel.startsWith('..') ? rel : abs;
  const format = o.format ?? formatOfExtension(file) ?? c.format;
  if (!format) {
    throw new DataError(`${shown}: cannot tell the file's format from its name; name it ${FORMAT_FILE_NAMES}, or give the format explicitly.`, shown);
  }
  if (format === 'text' && o.task === 'many-to-one') {
    throw new DataError(`${shown}: a plain-text file has no labels, and evaluating a classifier needs them; use a .jsonl, .csv or .tsv file with a "${o.labelField ?? c.labelField}" field.`, shown);
  }
  // A file between the in-memory limit and the readers' cap would be read whole, then fail in V8.
  let size = 0;
  try { size = statSync(abs).size; } catch { /* reported when read */ }
  const limit = IN_MEMORY_MAX_BYTES[o.tokenizer.kind === 'word' ? 'word' : 'char'];
  if (size > limit && size <= MAX_DATA_BYTES) {
    throw new DataError(`${shown}: is ${formatBytes(size)}, more than the ${formatBytes(limit)} evaluated in memory with the ${o.tokenizer.kind} tokenizer; evaluate a sample of it (e.g. its first rows: head -n 100000 ${shown} > sample), or train with token shards (data.shards) and use --split.`, shown);
  }
  const issues = new Issues(o.skipInvalid ?? c.skipInvalid, o.skipHint);
  const textField = o.textField ?? c.textField, labelField = o.labelField ?? c.labelField;
  if (o.task === 'tagging' && format !== 'jsonl' && format !== 'conll') {
    throw new DataError(`${shown}: a tagger is evaluated on sentences with a tag per token: a .jsonl file ({"${c.tokensField}": [...], "${c.tagsField}": [...]}) or a .conll file (a token and its tag per line).`, shown);
  }
  if (o.task !== 'tagging' && format === 'conll') throw new DataError(`${shown}: a CoNLL file holds tagged tokens, and this model is not a tagger; use a .jsonl, .csv or .tsv file.`, shown);
  const rows = o.task === 'tagging' ? readTaggedRows(abs, shown, format, c, issues)
    : readRows(abs, shown, { format: format as 'jsonl', textField, labelField, needLabel: o.task === 'many-to-one', fieldFix: o.fieldFix }, issues);
  return { ...encodeWithVocab(rows, issues, shown, c.seqLength, o), shown, format };
}

/** In-memory examples (a classifier's { text, label } objects, or a language model's documents), encoded as loadExamplesWithVocab encodes a file. */
export function examplesWithVocab(data: unknown, cfg: DataConfig, o: Omit<ExternalFileOptions, 'format' | 'textField' | 'labelField' | 'fieldFix'>): Omit<ExternalFile, 'format'> {
  const c = withDataDefaults(cfg);
  const issues = new Issues(o.skipInvalid ?? c.skipInvalid, o.skipHint);
  const rows = memoryRows(data, 'data', o.task, issues);
  return { ...encodeWithVocab(rows, issues, 'data', c.seqLength, o), shown: 'data' };
}

function encodeWithVocab(rows: Row[], issues: Issues, shown: string, seqLength: number, o: ExternalFileOptions): Pick<ExternalFile, 'split' | 'report' | 'skipped'> {
  const name = o.name ?? 'test';
  let r: Encoded;
  if (o.task === 'many-to-one') {
    const labelId = new Map(o.labelNames.map((l, i) => [l, i]));
    const allowed = o.labelNames.map((l) => `"${l}"`).join(', ');
    rows = rows.filter((row) => {
      if (labelId.has(row.label!)) return true;
      issues.bad(row.file, row.line, `label "${row.label}" is not one of the model's labels (${allowed})`, 'Fix the label; the model can only be scored on the labels it was trained with.');
      return false;
    });
    r = encodeSequences(name, rows, o.tokenizer, o.vocab, labelId, o.labelNames);
  } else if (o.task === 'tagging') {
    const tagId = new Map(o.labelNames.map((l, i) => [l, i]));
    rows = knownTags(rows, tagId, issues, 'Fix the tag; the model can only be scored on the tags it was trained with.');
    r = encodeTagged(name, rows, o.tokenizer, o.vocab, tagId, o.labelNames);
  } else {
    r = encodeStreams(name, rows, o.tokenizer, o.vocab, seqLength);
  }
  if (r.split.count === 0) {
    const why = o.task !== 'many-to-many' ? `${rows.length} usable rows` : `${rows.length} documents, ${r.tooShort} of them shorter than 2 tokens`;
    throw new DataError(`${shown}: no examples to evaluate (${why}${issues.skipped.length ? `, ${issues.skipped.length} invalid rows skipped` : ''}).`, shown);
  }
  return { split: r.split, report: r.report, skipped: { count: issues.skipped.length, first: firstIssues(issues.skipped, 5) } };
}
