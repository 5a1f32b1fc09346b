// Loading a config: read the JSON, apply `--set path=value` overrides, validate against the
// generated schema plus the rules a schema cannot say (which fields go together, which data
// files must exist), and fill in every default. All problems are reported at once, in one
// ConfigError (exit code 2); the code after this trusts the ResolvedConfig it gets.
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../util/errors.js';
import { describeKind, MiB, readInputFile } from '../util/files.js';

/** Largest config file read: configs are a few hundred bytes; this is room for any hand-written one. */
export const MAX_CONFIG_BYTES = 1 * MiB;
import type { AdaptiveSoftmaxConfig, CheckpointConfig, Config, DataConfig, EarlyStoppingConfig, ModelConfig, PlateauConfig, SplitConfig, TrainConfig, VocabConfig } from './types.js';
import { configSchema } from './schema.js';
import { inferDataFormat, FORMAT_NAMES, FORMAT_FILE_NAMES } from './formats.js';
import { FIRST_MERGE, MAX_BPE_VOCAB } from './limits.js';
import { describeLoneSurrogate, loneSurrogateAt, LONE_SURROGATE_FIX } from '../util/text.js';
import { applyDefaults, describeFound, formatPath, resolveRef, type PathSeg, type Problem, type Schema, validate } from './validate.js';

// ---------------------------------------------------------------- the resolved config

/** Data fields that stay optional after defaults: they have no default. */
type DataOptional = 'format' | 'train' | 'val' | 'test' | 'file' | 'labels' | 'shards';
export type ResolvedDataConfig = Required<Omit<DataConfig, DataOptional | 'split' | 'vocab'>> &
  Pick<DataConfig, DataOptional> & { split: Required<SplitConfig>; vocab: Required<VocabConfig> };
/** `adaptiveSoftmax` stays optional (absent: the full softmax); when given, its defaults are filled in. */
export type ResolvedModelConfig = Required<Omit<ModelConfig, 'adaptiveSoftmax'>> & { adaptiveSoftmax?: Required<AdaptiveSoftmaxConfig> };
/** `workers` stays optional: its default, os.availableParallelism(), is decided at run time. */
export type ResolvedTrainConfig = Required<Omit<TrainConfig, 'workers' | 'earlyStopping' | 'plateau' | 'classWeights'>> & Pick<TrainConfig, 'workers' | 'classWeights'>
  & { earlyStopping?: Required<EarlyStoppingConfig>; plateau?: Required<PlateauConfig> };

/** A Config with every default filled in (see configs/config.schema.json for the defaults). */
export interface ResolvedConfig {
  $schema?: string;
  name: string;
  out: string;
  seed: number;
  data: ResolvedDataConfig;
  model: ResolvedModelConfig;
  train: ResolvedTrainConfig;
  checkpoint: Required<CheckpointConfig>;
}

/**
 * A data section given on its own (the library's loadDataset, prepareData) as loadConfig resolves
 * it: the schema's defaults filled in (their one home: the @default tags of types.ts) and, for
 * source `files`, the format from the files' extensions. Does not modify `d`.
 */
export function resolveDataConfig(d: DataConfig): ResolvedDataConfig {
  const c = structuredClone(d) as DataConfig;
  const root = configSchema();
  applyDefaults(c, root.properties!.data, root);
  if (c.format === undefined && c.source === 'files') c.format = inferDataFormat(c).format;
  return c as ResolvedDataConfig;
}

export interface LoadedConfig {
  config: ResolvedConfig;
  /** Absolute directory of the config file: relative paths in the config (data files, `out`) are relative to it. */
  configDir: string;
  /** Absolute path of the config file. */
  file: string;
}

export interface CheckOptions {
  /** How problems name the config, e.g. `configs/small.json` or `checkpoint step-400`. */
  label: string;
  /** Directory that relative data paths are resolved against. */
  configDir: string;
  /** `path=value` strings from `--set`, applied before validation. */
  overrides?: readonly string[];
  /** Check that data files exist (default true). */
  checkFiles?: boolean;
}

// ---------------------------------------------------------------- entry points

/**
 * Reads, overrides, validates and resolves the config in `file`. Throws ConfigError listing every
 * problem, one a line: `configs/x.json: train.lr: expected a number > 0, found -1`.
 */
export function loadConfig(file: string, overrides: readonly string[] = []): LoadedConfig {
  const abs = resolve(file);
  const bytes = readInputFile(abs, {
    what: 'config file', maxBytes: MAX_CONFIG_BYTES, capHint: 'a config is a small JSON object; is this the right file?',
    error: (m) => new ConfigError(m.replace(`config file ${abs}:`, `config file ${file}:`)),
  });
  const raw = parseJson(bytes.toString('utf8'), file);
  const configDir = dirname(abs);
  const config = checkConfig(raw, { label: file, configDir, overrides });
  return { config, configDir, file: abs };
}

/**
 * Validates an already parsed config (e.g. the one stored in a checkpoint, for --resume) with
 * optional overrides, and fills in its defaults. Does not modify `raw`.
 */
export function checkConfig(raw: unknown, opts: CheckOptions): ResolvedConfig {
  const value = structuredClone(raw);
  const lines: string[] = [];
  const overridden: Array<{ path: PathSeg[]; text: string }> = [];
  for (const text of opts.overrides ?? []) {
    const r = applyOverride(value, text);
    if (typeof r === 'string') lines.push(`--set ${text}: ${r}`);
    else overridden.push({ path: r, text });
  }
  // Problems in overridden values are reported against the --set that made them.
  const where = (p: PathSeg[]) => {
    const o = [...overridden].reverse().find((o) => o.path.every((seg, i) => p[i] === seg));
    return o ? `--set ${o.text}` : opts.label;
  };
  inferFormat(value);
  const schema = configSchema();
  const problems = [...validate(value, schema), ...unstorableStrings(value, [])];
  // Cross-field rules and files are checked with defaults filled in, on fields that passed the
  // schema (a problem already reported for a field is not reported again in other words).
  if (kindOf(value) === 'object') {
    const filled = structuredClone(value) as ResolvedConfig;
    applyDefaults(filled, schema);
    const more: Problem[] = [];
    try { more.push(...crossFieldProblems(filled), ...narrowProblems(filled, schema)); } catch { /* a field it reads is malformed: reported already */ }
    if (opts.checkFiles !== false) more.push(...fileProblems(filled, opts.configDir));
    const seen = problems.map((p) => formatPath(p.path));
    const related = (a: string, b: string) => a === b || a.startsWith(b + '.') || b.startsWith(a + '.') || a.startsWith(b + '[') || b.startsWith(a + '[');
    problems.push(...more.filter((p) => !seen.some((s) => related(s, formatPath(p.path)))));
    if (problems.length === 0 && lines.length === 0) {
      applyDefaults(value, schema);
      return value as ResolvedConfig;
    }
  }
  for (const p of problems) lines.push(`${where(p.path)}: ${formatPath(p.path)}: ${p.message}`);
  if (lines.length === 1) throw new ConfigError(lines[0]);
  if (lines.length > 1) throw new ConfigError(`${lines.length} problems in ${opts.label}:\n  ${lines.join('\n  ')}`);
  throw new ConfigError(`${opts.label}: ${formatPath([])}: expected an object, found ${describeFound(value)}`);
}

/** Strings (and keys) with a lone UTF-16 surrogate: the config is saved in every checkpoint as UTF-8, where they have no form. */
function unstorableStrings(v: unknown, path: PathSeg[]): Problem[] {
  if (typeof v === 'string') {
    const at = loneSurrogateAt(v);
    return at < 0 ? [] : [{ path, message: `holds ${describeLoneSurrogate(v, at)}. ${LONE_SURROGATE_FIX}` }];
  }
  if (Array.isArray(v)) return v.flatMap((x, i) => unstorableStrings(x, [...path, i]));
  if (v !== null && typeof v === 'object') {
    return Object.entries(v).flatMap(([k, x]) => loneSurrogateAt(k) >= 0
      ? [{ path: [...path, k], message: `the key holds ${describeLoneSurrogate(k, loneSurrogateAt(k))}. ${LONE_SURROGATE_FIX}` }]
      : unstorableStrings(x, [...path, k]));
  }
  return [];
}

// ---------------------------------------------------------------- JSON with positions

/** JSON.parse, with errors that name the file, line and column. */
export function parseJson(text: string, label: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (e) {
    const msg = (e as Error).message;
    let line: number, col: number;
    const lc = /line (\d+) column (\d+)/.exec(msg);
    const pos = /at position (\d+)/.exec(msg);
    if (lc) { line = Number(lc[1]); col = Number(lc[2]); } else {
      const offset = pos ? Number(pos[1]) : body.length;
      const before = body.slice(0, offset).split('\n');
      line = before.length;
      col = before[before.length - 1].length + 1;
    }
    const detail = msg.replace(/\s*in JSON at position \d+.*$/s, '').replace(/\s*\(line \d+ column \d+\)/, '').replace(/, ".*" is not valid JSON$/s, '');
    throw new ConfigError(`${label}:${line}:${col}: invalid JSON: ${detail}`);
  }
}

// ---------------------------------------------------------------- --set

/**
 * Applies one `path=value` to `obj` in place. The value is JSON if it parses as JSON, else a
 * string (`--set name=run2`, `--set train.lr=0.01`, `--set 'model.input={"embedding":32}'`).
 * Returns the path set, or a message saying why it could not be applied.
 */
export function applyOverride(obj: unknown, text: string): PathSeg[] | string {
  const eq = text.indexOf('=');
  if (eq < 0) return 'expected path=value, e.g. --set train.lr=0.01';
  const pathText = text.slice(0, eq).trim();
  const valueText = text.slice(eq + 1);
  const path = pathText.split('.');
  if (pathText === '' || path.some((s) => s === '')) return `\`${pathText}\` is not a field path; write it like train.lr`;
  if (kindOf(obj) !== 'object') return 'the config is not a JSON object';
  let value: unknown;
  try { value = JSON.parse(valueText); } catch { value = valueText; }
  let cur = obj as Record<string, unknown>;
  for (const seg of path.slice(0, -1)) {
    // A missing section, or a non-object one being given a field (`model.input` "onehot" ->
    // {"embedding": 32}), becomes an object; validation then says if that is wrong.
    if (kindOf(cur[seg]) !== 'object') cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
  return path;
}

// ---------------------------------------------------------------- rules across fields

const FILE_FIELDS = ['train', 'val', 'test', 'file'] as const;

/**
 * data.format absent with source `files`: set from the files' extensions when they agree, so the
 * resolved config (and config.resolved.json) says how the files were read. Else it stays absent
 * and crossFieldProblems says why it could not be inferred.
 */
function inferFormat(value: unknown): void {
  if (kindOf(value) !== 'object') return;
  const d = (value as Record<string, unknown>).data as Record<string, unknown> | undefined;
  // Files named and no source: they are the user's files (the only source that reads them).
  if (kindOf(d) === 'object' && d!.source === undefined && FILE_FIELDS.some((k) => d![k] !== undefined)) d!.source = 'files';
  if (kindOf(d) !== 'object' || d!.source !== 'files' || d!.format !== undefined) return;
  const f = inferDataFormat(d as Pick<DataConfig, 'file' | 'train' | 'val' | 'test'>).format;
  if (f) d!.format = f;
}

/**
 * The rules of the data section (with the task) held here only: for loadConfig (crossFieldProblems)
 * and for a data section given on its own (checkDataConfig, src/data/defaults.ts).
 */
export function dataRuleProblems(d: ResolvedDataConfig, task: ResolvedModelConfig['task']): Problem[] {
  const out: Problem[] = [];
  const at = (path: PathSeg[], message: string) => out.push({ path, message });
  if (d.tokenizer === 'bpe' && !(d.vocab.maxSize >= FIRST_MERGE && d.vocab.maxSize <= MAX_BPE_VOCAB)) {
    at(['data', 'vocab', 'maxSize'], `expected a size in [${FIRST_MERGE}, ${MAX_BPE_VOCAB}] with data.tokenizer \`bpe\`: it is the BPE vocabulary size, the 4 special tokens and 256 bytes included; found ${d.vocab.maxSize}`);
  }
  if (task === 'tagging') {
    for (const k of ['bos', 'eos'] as const) if (d[k]) at(['data', k], 'expected false with model.task `tagging`: every input token has a tag, and the <s>/</s> markers have none');
  }
  if (d.source === 'files') {
    if (d.format === undefined) at(['data', 'format'], inferDataFormat(d).problem ?? `expected one of ${FORMAT_NAMES} (or files named ${FORMAT_FILE_NAMES}) when data.source is \`files\`, found nothing`);
    if (d.file === undefined && d.train === undefined) at(['data'], 'expected `train` (with `val`, `test` if you have them) or `file` (split by hash) when data.source is `files`, found neither');
    if (d.file !== undefined && d.train !== undefined) at(['data', 'file'], 'give either data.file (split by hash) or data.train (with val, test), not both');
    for (const k of ['val', 'test'] as const) {
      if (d[k] !== undefined && d.train === undefined) at(['data', k], 'only used together with data.train');
    }
  } else {
    for (const k of [...FILE_FIELDS, 'format'] as const) {
      if (d[k] !== undefined) at(['data', k], `only used when data.source is \`files\` (it is \`${d.source}\`, ${d.source === 'memory' ? 'whose examples a program passes in' : 'which is built in'})`);
    }
  }
  const needs: Record<string, ResolvedModelConfig['task']> = { names: 'many-to-one', 'spam-assassin': 'many-to-one', 'moby-dick': 'many-to-many', 'moby-dick-segmentation': 'tagging' };
  const fileTask = d.format === 'text' ? 'many-to-many' : d.format === 'conll' || (d.format === 'jsonl' && task === 'tagging') ? 'tagging' : 'many-to-one';
  const want = d.source === 'files' && d.format !== undefined ? fileTask : needs[d.source];
  if (want && task !== want) {
    const why = d.source === 'files' ? `data.format \`${d.format}\`` : `data.source \`${d.source}\``;
    const reason = want === 'many-to-many' ? 'plain text has no labels: it is language modelling' : want === 'tagging' ? 'it has a tag per token' : 'it has a label per example';
    const demo = d.source === 'moby-dick' && task === 'tagging' ? '; the tagging demo (word segmentation) is data.source `moby-dick-segmentation`' : '';
    at(['model', 'task'], `expected \`${want}\` for ${why} (${reason}), found \`${task}\`${demo}`);
  }
  if (d.labels !== undefined) {
    const seen = new Set<string>();
    d.labels.forEach((l, i) => {
      if (seen.has(l)) at(['data', 'labels', i], `duplicate label ${JSON.stringify(l)}`);
      seen.add(l);
    });
    if (d.labels.length < 2) at(['data', 'labels'], `expected at least 2 labels, found ${d.labels.length}`);
  }
  if (d.split.val + d.split.test >= 1) at(['data', 'split'], `expected val + test < 1 (something must be left to train on), found ${d.split.val} + ${d.split.test}`);
  const markers = (d.bos ? 1 : 0) + (d.eos ? 1 : 0);
  if (markers > 0 && d.maxLength < 1 + markers) at(['data', 'maxLength'], `expected at least ${1 + markers} with data.bos/eos (one token plus <s>/</s>), found ${d.maxLength}`);
  return out;
}

function crossFieldProblems(c: ResolvedConfig): Problem[] {
  const out: Problem[] = dataRuleProblems(c.data, c.model.task);
  const at = (path: PathSeg[], message: string) => out.push({ path, message });
  if (c.model.pooling !== 'last' && c.model.task === 'many-to-many') {
    at(['model', 'pooling'], `expected \`last\` for a language model (many-to-many), found \`${c.model.pooling}\`: pooling makes one vector of a sequence, for a classifier's label; a language model predicts at every step`);
  }
  if (c.model.pooling === 'meanmax' && c.train.stepLoss > 0) {
    at(['train', 'stepLoss'], 'expected 0 with model.pooling `meanmax`: target replication trains every step\'s output to predict the label with the output layer, which with meanmax reads three vectors side by side; use pooling `mean` or `max`, or no target replication');
  }
  if (c.model.bidirectional && c.model.task === 'many-to-many') {
    at(['model', 'bidirectional'], 'expected false for a language model (many-to-many): it predicts each next token, and a reverse direction would read that very token from the right. Bidirectional layers are for classifiers (many-to-one) and taggers');
  }
  if (c.model.dropout > 0 && c.model.input === 'onehot' && c.model.task === 'many-to-many' && c.model.layers === 1) {
    at(['model', 'dropout'], 'expected 0 with a one-hot many-to-many model of one layer (dropout applies to embedded inputs, between stacked layers and to the many-to-one classifier\'s state): use `"input": { "embedding": E }`, more `layers`, or set dropout to 0');
  }
  const m = c.model;
  if (m.tieWeights) {
    if (m.task !== 'many-to-many') at(['model', 'tieWeights'], 'expected false for a many-to-one model: its output weight has a row per class, not per token, so there is no embedding row to share it with (tied weights are for language models)');
    else if (m.input === 'onehot') at(['model', 'tieWeights'], 'expected false with a one-hot input: there is no embedding table to share with the output layer; use `"input": { "embedding": E }` to tie');
    if (m.adaptiveSoftmax) at(['model', 'tieWeights'], 'expected false with model.adaptiveSoftmax: the adaptive softmax has no V-row output weight to tie to the embedding; choose one of them');
    if (m.input !== 'onehot' && m.input.freeze) at(['model', 'input', 'freeze'], 'expected false with model.tieWeights: the tied table is the output layer too, which must train; untie, or fine-tune the embedding');
  }
  if (m.adaptiveSoftmax) {
    const a = m.adaptiveSoftmax;
    if (m.task !== 'many-to-many') at(['model', 'adaptiveSoftmax'], 'only applies to language models (model.task `many-to-many`): a classifier\'s few classes need no adaptive softmax; remove it');
    if (a.cutoffs.length === 0) at(['model', 'adaptiveSoftmax', 'cutoffs'], 'expected at least one cutoff (e.g. [2000, 10000]), found []');
    a.cutoffs.forEach((x, i) => {
      if (x < 1) at(['model', 'adaptiveSoftmax', 'cutoffs', i], `expected a token id >= 1 (the shortlist cannot be empty), found ${x}`);
      else if (i > 0 && x <= a.cutoffs[i - 1]) at(['model', 'adaptiveSoftmax', 'cutoffs', i], `expected cutoffs in increasing order, found ${x} after ${a.cutoffs[i - 1]}`);
    });
    const hsz = Math.floor(m.hidden / Math.pow(a.divValue, a.cutoffs.length));
    if (a.cutoffs.length > 0 && hsz < 1) at(['model', 'adaptiveSoftmax', 'divValue'], `expected the last tail cluster's projection ⌊hidden / divValue^${a.cutoffs.length}⌋ to keep at least 1 unit, found ⌊${m.hidden} / ${a.divValue}^${a.cutoffs.length}⌋ = 0: use a smaller divValue, fewer cutoffs or a larger model.hidden`);
  }
  return out;
}

/**
 * Options that apply to one task (or kind of data) only, with what they do there. One rule for
 * all of them: set to anything but their default where they do not apply, they are refused (the
 * default itself is accepted: config.resolved.json writes every field out).
 */
interface Narrow {
  path: [string, string];
  /** Where it applies: the task, or data read from files with fields. */
  only: ResolvedModelConfig['task'] | 'fields';
  what: string;
}
const NARROW: Narrow[] = [
  { path: ['data', 'labels'], only: 'many-to-one', what: 'the classes' },
  { path: ['data', 'labelField'], only: 'many-to-one', what: 'the field or column holding the label' },
  { path: ['data', 'maxLength'], only: 'many-to-one', what: 'the longest sequence kept' },
  { path: ['data', 'truncate'], only: 'many-to-one', what: 'which part of a long sequence is kept' },
  { path: ['data', 'reverse'], only: 'many-to-one', what: 'feeding sequences last token first' },
  { path: ['train', 'stepLoss'], only: 'many-to-one', what: 'target replication: every step also predicts the label; a language model has a target at every step already' },
  { path: ['data', 'seqLength'], only: 'many-to-many', what: 'the length of the chunks a text is cut into' },
  { path: ['train', 'bpttWindow'], only: 'many-to-many', what: 'truncated backpropagation through time over those chunks' },
  { path: ['train', 'carryState'], only: 'many-to-many', what: 'carrying each row\'s state from one chunk of a document to the next' },
  { path: ['data', 'tokensField'], only: 'tagging', what: 'the JSON Lines field holding a sentence\'s tokens' },
  { path: ['data', 'tagsField'], only: 'tagging', what: 'the JSON Lines field holding the tags' },
  { path: ['data', 'textField'], only: 'fields', what: 'the field or column holding the text' },
  { path: ['data', 'labelField'], only: 'fields', what: 'the field or column holding the label' },
];

function narrowProblems(c: ResolvedConfig, schema: Schema): Problem[] {
  const task = c.model.task;
  const d = c.data;
  const fields = d.source === 'files' && d.format !== undefined && d.format !== 'text';
  const out: Problem[] = [];
  const reported = new Set<string>();
  for (const { path, only, what } of NARROW) {
    const key = path.join('.');
    // A tagger reads tokens and tags (tokensField, tagsField), and keeps a long sentence's first maxLength tokens.
    const applies = only === 'fields' ? fields && task !== 'tagging' : only === task || (task === 'tagging' && key === 'data.maxLength');
    if (applies || reported.has(key)) continue;
    const v = (c as unknown as Record<string, Record<string, unknown>>)[path[0]][path[1]];
    if (v === undefined || JSON.stringify(v) === JSON.stringify(schemaDefault(schema, path))) continue;
    reported.add(key);
    const where = only === 'fields' && task === 'tagging'
      ? `a classifier's or language model's rows (${what}); a tagger reads data.tokensField and data.tagsField (JSON Lines) or CoNLL columns`
      : only === 'fields'
      ? `data read from JSON Lines, CSV or TSV files (${what}), and this run reads ${d.source === 'files' ? `data.format \`${d.format}\`` : `the built-in data.source \`${d.source}\``}`
      : `model.task \`${only}\` (${what}), and this run's model.task is \`${task}\``;
    out.push({ path, message: `only applies to ${where}; remove it (found ${describeFound(v)})` });
  }
  return out;
}

/** The schema's default of the field at `path`, or undefined. */
function schemaDefault(root: Schema, path: readonly string[]): unknown {
  let s: Schema | undefined = root;
  for (const k of path) s = s ? resolveRef(s, root).properties?.[k] : undefined;
  return s ? resolveRef(s, root).default : undefined;
}

/** Data files (source `files`) that are missing, relative to the config's directory. */
function fileProblems(c: Partial<ResolvedConfig>, configDir: string): Problem[] {
  const out: Problem[] = [];
  const d = c.data as Partial<DataConfig> | undefined;
  // With token shards, the files are read by prepare.js only (which says when one is missing).
  if (kindOf(d) !== 'object' || d!.source !== 'files' || typeof d!.shards === 'string') return out;
  for (const k of FILE_FIELDS) {
    const p = d![k];
    if (typeof p !== 'string') continue;
    const abs = resolve(configDir, p);
    let st;
    try { st = statSync(abs); } catch { /* missing */ }
    if (!st) out.push({ path: ['data', k], message: `expected an existing file, found ${describeFound(p)} (no such file: ${abs})` });
    else if (!st.isFile()) out.push({ path: ['data', k], message: `expected a regular file, found ${describeFound(p)} (${abs} is ${describeKind(st)})` });
  }
  return out;
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

// ---------------------------------------------------------------- differences, for --resume

/**
 * - `shape`: changes the parameters, the vocabulary, the classes or the optimizer state; a
 *   checkpoint cannot be resumed with it (refuse).
 * - `behaviour`: the run goes on but not as it would have (data pipeline, batches, clipping);
 *   allowed, worth a warning.
 * - `safe`: how long, how fast, how often to log or save, where to write.
 */
export type ChangeKind = 'shape' | 'behaviour' | 'safe';

export interface ConfigChange {
  /** e.g. `train.lr`, `model.input` */
  path: string;
  from: unknown;
  to: unknown;
  kind: ChangeKind;
}

const SAFE = ['out', 'name', 'train.epochs', 'train.lr', 'train.workers', 'train.maxSteps', 'train.logEvery', 'checkpoint'];
const SHAPE = ['model', 'train.optimizer', 'data.source', 'data.format', 'data.file', 'data.train', 'data.tokenizer',
  'data.lowercase', 'data.vocab', 'data.labels', 'data.bos', 'data.eos', 'data.textField', 'data.labelField', 'data.split', 'data.sample'];
const IGNORED = ['$schema'];
/** Under a SHAPE prefix, but they change no tensor (initialization only matters before step 1). */
const NOT_SHAPE = ['model.dropout', 'model.init', 'model.recurrentInit', 'model.recurrentScale', 'model.forgetBias', 'model.chrono'];

const under = (path: string, prefixes: string[]) => prefixes.some((p) => path === p || path.startsWith(p + '.'));

/** Classification of a changed field (see ChangeKind). */
export function changeKind(path: string): ChangeKind {
  if (under(path, NOT_SHAPE)) return 'behaviour';
  if (under(path, SHAPE)) return 'shape';
  if (under(path, SAFE)) return 'safe';
  return 'behaviour';
}

/**
 * A resolved config saved by an earlier version (a checkpoint's), with the defaults of fields
 * added since filled in, so that a field it predates compares equal to its default.
 */
export function withNewDefaults(saved: unknown): ResolvedConfig {
  const c = structuredClone(saved) as { train?: Record<string, unknown>; model?: { task?: string } };
  // A field whose default is not what runs did before it existed: their behaviour, not the default
  // (language models did not carry their state; classifiers ignore the field).
  if (c.train && c.train.carryState === undefined && c.model?.task === 'many-to-many') c.train.carryState = false;
  applyDefaults(c, configSchema());
  return c as ResolvedConfig;
}

/**
 * The fields that differ between two configs (compare resolved configs, so that a default
 * written out and a default left out are the same), leaf by leaf, classified.
 */
export function diffConfigs(a: unknown, b: unknown): ConfigChange[] {
  const out: ConfigChange[] = [];
  const walk = (x: unknown, y: unknown, path: string[]) => {
    const p = path.join('.');
    if (path.length && under(p, IGNORED)) return;
    if (kindOf(x) === 'object' && kindOf(y) === 'object') {
      const xo = x as Record<string, unknown>, yo = y as Record<string, unknown>;
      const keys = [...new Set([...Object.keys(xo), ...Object.keys(yo)])];
      for (const k of keys) walk(xo[k], yo[k], [...path, k]);
      return;
    }
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push({ path: p, from: x, to: y, kind: changeKind(p) });
  };
  walk(a, b, []);
  // Under a cosine schedule the learning rate of every remaining step depends on the run's length.
  const cosine = (c: unknown) => (c as { train?: { lrSchedule?: string } } | undefined)?.train?.lrSchedule === 'cosine';
  for (const c of out) if (c.path === 'train.epochs' && (cosine(a) || cosine(b))) c.kind = 'behaviour';
  return out;
}

export type { Config };
