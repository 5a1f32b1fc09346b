// The checks of a data section given on its own (the library's loadDataset, prepareData): the rules
// across its fields are the config layer's (dataRuleProblems), as are its defaults; here the ranges
// the schema states for a config file, and which fields apply to which task.

import { resolveDataConfig, dataRuleProblems, type ResolvedDataConfig } from '../config/load.js';
import { formatPath } from '../config/validate.js';
import { ConfigError } from '../util/errors.js';
import { formatOfExtension, inferDataFormat } from '../config/formats.js';

export { formatOfExtension, inferDataFormat, type ResolvedDataConfig };
import type { Task } from './types.js';

/** The data section with its defaults: the config layer's (one home, src/config/load.ts). */
export const withDataDefaults = resolveDataConfig;

/** Combinations the schema cannot reject. Throws ConfigError naming the field and the fix. */
export function checkDataConfig(c: ResolvedDataConfig, task: Task): void {
  const bad = (msg: string) => {
    throw new ConfigError(`data: ${msg}`);
  };
  // The rules the config layer holds (dataRuleProblems, src/config/load.ts): the first problem.
  const [p] = dataRuleProblems(c, task);
  if (p) throw new ConfigError(`${formatPath(p.path)}: ${p.message}.`);
  if (task === 'tagging') {
    if (c.source === 'memory') bad('source "memory" has no tags per token; model.task "tagging" reads data.source "files" (jsonl or conll) or the built-in "moby-dick-segmentation".');
    if (c.reverse) bad('data.reverse only applies to model.task "many-to-one"; a tagger reads its sentence in order (use model.bidirectional to read it both ways).');
    if (c.labels) bad('data.labels does not apply to model.task "tagging": the tags are those of the training split.');
  }
  if (c.split.val < 0 || c.split.test < 0) bad(`data.split.val and data.split.test must be >= 0, got ${c.split.val} and ${c.split.test}.`);
  if (!(c.sample > 0 && c.sample <= 1)) bad(`data.sample must be in (0, 1], got ${c.sample}.`);
  if (!Number.isInteger(c.maxLength) || c.maxLength < 1) bad(`data.maxLength must be an integer >= 1, got ${c.maxLength}.`);
  if (!Number.isInteger(c.seqLength) || c.seqLength < 2) bad(`data.seqLength must be an integer >= 2, got ${c.seqLength}.`);
  if (!Number.isInteger(c.vocab.maxSize) || c.vocab.maxSize < 5) bad(`data.vocab.maxSize must be an integer >= 5, got ${c.vocab.maxSize}.`);
  if (!Number.isInteger(c.vocab.minFreq) || c.vocab.minFreq < 1) bad(`data.vocab.minFreq must be an integer >= 1, got ${c.vocab.minFreq}.`);
  if (c.reverse && task === 'many-to-many') bad('data.reverse only applies to model.task "many-to-one"; a language model reads its text in order.');
  if (c.labels && task === 'many-to-many') bad('data.labels only applies to model.task "many-to-one".');
}
