// The checks of a data section given on its own (the library's loadDataset, prepareData) that the
// schema cannot express (which fields go together); its defaults are the config layer's.

import { resolveDataConfig, dataRuleProblems, type ResolvedDataConfig } from '../config/load.js';
import { formatPath } from '../config/validate.js';
import { ConfigError } from '../util/errors.js';
import { formatOfExtension, inferDataFormat, FORMAT_NAMES, FORMAT_FILE_NAMES } from '../config/formats.js';

export { formatOfExtension, inferDataFormat, type ResolvedDataConfig };
import type { Task } from './types.js';

/** The data section with its defaults: the config layer's (one home, src/config/load.ts). */
export const withDataDefaults = resolveDataConfig;

/** Combinations the schema cannot reject. Throws ConfigError naming the field and the fix. */
export function checkDataConfig(c: ResolvedDataConfig, task: Task): void {
  const bad = (msg: string) => {
    throw new ConfigError(`data: ${msg}`);
  };
  if (c.source === 'files') {
    if (!c.format) bad(`data.format: ${inferDataFormat(c).problem ?? `source "files" needs data.format: ${FORMAT_NAMES} (or files named ${FORMAT_FILE_NAMES}).`}`);
    if (!c.file && !c.train) bad('source "files" needs data.train (with optional data.val, data.test) or data.file (split by hash).');
    if (c.file && (c.train || c.val || c.test)) bad('give either data.file (one file, split by hash) or data.train/val/test, not both.');
    if (!c.train && (c.val || c.test)) bad('data.val and data.test need data.train as well.');
    if (c.format === 'text' && task === 'many-to-one') {
      bad('format "text" has no labels, so it can only train model.task "many-to-many"; use format "jsonl", "csv" or "tsv" for labelled rows.');
    }
  } else if (c.format || c.file || c.train || c.val || c.test) {
    bad(`data.format/file/train/val/test only apply to source "files"; source "${c.source}" is built in.`);
  }
  if (c.source === 'moby-dick' && task !== 'many-to-many') {
    bad(`source "moby-dick" is a language-modelling corpus without labels: set model.task to "many-to-many"${task === 'tagging' ? ', or source "moby-dick-segmentation" for the tagging demo (word segmentation)' : ''}.`);
  }
  if (c.source === 'moby-dick-segmentation' && task !== 'tagging') bad('source "moby-dick-segmentation" tags each character as beginning a word or not: set model.task to "tagging".');
  if (task === 'tagging') {
    if (c.source === 'files' && c.format !== 'jsonl' && c.format !== 'conll') bad(`model.task "tagging" reads sentences with a tag per token: data.format "jsonl" ({"${c.tokensField}": [...], "${c.tagsField}": [...]}) or "conll" (a token and its tag per line), not "${c.format}".`);
    if (c.source === 'names' || c.source === 'spam-assassin' || c.source === 'memory') bad(`source "${c.source}" has no tags per token; model.task "tagging" reads data.source "files" (jsonl or conll) or the built-in "moby-dick-segmentation".`);
    if (c.reverse) bad('data.reverse only applies to model.task "many-to-one"; a tagger reads its sentence in order (use model.bidirectional to read it both ways).');
    if (c.labels) bad('data.labels does not apply to model.task "tagging": the tags are those of the training split.');
  } else if (c.format === 'conll') bad('data.format "conll" holds tagged tokens: it needs model.task "tagging".');
  if (c.split.val < 0 || c.split.test < 0 || c.split.val + c.split.test >= 1) {
    bad(`data.split.val + data.split.test must be in [0, 1), got ${c.split.val} + ${c.split.test}.`);
  }
  if (!(c.sample > 0 && c.sample <= 1)) bad(`data.sample must be in (0, 1], got ${c.sample}.`);
  const markers = (c.bos ? 1 : 0) + (c.eos ? 1 : 0);
  if (!Number.isInteger(c.maxLength) || c.maxLength < 1 + markers) {
    bad(`data.maxLength must be an integer of at least ${1 + markers} (one token plus <s>/</s>), got ${c.maxLength}.`);
  }
  if (!Number.isInteger(c.seqLength) || c.seqLength < 2) bad(`data.seqLength must be an integer >= 2, got ${c.seqLength}.`);
  if (!Number.isInteger(c.vocab.maxSize) || c.vocab.maxSize < 5) bad(`data.vocab.maxSize must be an integer >= 5, got ${c.vocab.maxSize}.`);
  if (!Number.isInteger(c.vocab.minFreq) || c.vocab.minFreq < 1) bad(`data.vocab.minFreq must be an integer >= 1, got ${c.vocab.minFreq}.`);
  if (c.reverse && task === 'many-to-many') bad('data.reverse only applies to model.task "many-to-one"; a language model reads its text in order.');
  if (c.labels) {
    if (task === 'many-to-many') bad('data.labels only applies to model.task "many-to-one".');
    const seen = new Set<string>();
    for (const l of c.labels) {
      if (seen.has(l)) bad(`data.labels lists "${l}" twice; each label once, in class-id order.`);
      seen.add(l);
    }
    if (c.labels.length < 2) bad('data.labels needs at least two labels.');
  }
  // The rules the config layer holds (src/config/load.ts): the first problem.
  const [p] = dataRuleProblems(c, task);
  if (p) bad(`${formatPath(p.path)}: ${p.message}.`);
}
