// The data report as lines for the console (the report itself is plain JSON, saved with the run).

import { SPLIT_NAMES, type DataReport } from './types.js';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** Labels in under this fraction of the training rows are flagged: too few to learn from. */
export const RARE_LABEL_FRACTION = 0.001;

/** One `warning:` line per label that occurs in under 0.1% of the training rows (0 included). */
export function rareLabelWarnings(r: DataReport): string[] {
  const train = r.splits.train;
  if (!train.labels || train.examples === 0) return [];
  return Object.entries(train.labels)
    .filter(([, n]) => n < RARE_LABEL_FRACTION * train.examples)
    .map(([l, n]) => `  warning: label ${JSON.stringify(l)} is in ${n} of ${train.examples} training rows (${(100 * n / train.examples).toFixed(3)}%, under ${100 * RARE_LABEL_FRACTION}%): `
      + 'too few for the model to learn it; add examples of it, or merge it into another label');
}

export function formatReport(r: DataReport): string {
  const lines: string[] = [];
  lines.push(`data: ${r.source} (${r.task}) from ${r.inputs.join(', ')}${r.sample < 1 ? `, sample ${r.sample}` : ''}`);
  lines.push(`  split by ${r.splitBy}`);
  for (const s of SPLIT_NAMES) {
    const x = r.splits[s];
    if (x.examples === 0) {
      lines.push(`  ${s.padEnd(5)} none`);
      continue;
    }
    const parts = [`${x.examples} examples`];
    if (x.documents !== undefined) parts.push(`${x.documents} documents`);
    parts.push(`${x.tokens} tokens`, `length ${x.minLength}..${x.maxLength} (mean ${x.meanLength.toFixed(1)})`, `OOV ${pct(x.oovRate)}`);
    if (x.truncated) parts.push(`${x.truncated} truncated`);
    if (x.labels) parts.push(Object.entries(x.labels).map(([l, n]) => `${l} ${n}`).join(' / '));
    lines.push(`  ${s.padEnd(5)} ${parts.join(', ')}`);
  }
  lines.push(...rareLabelWarnings(r));
  lines.push(`  vocabulary ${r.vocabSize} tokens; typed arrays ${(r.bytes / 1e6).toFixed(2)} MB; read ${r.ms.read} ms, encode ${r.ms.encode} ms`);
  for (const d of r.dropped) {
    if (d.count > 0) lines.push(`  dropped ${d.count}: ${d.reason}${d.examples.length ? ` (e.g. ${d.examples.join(', ')})` : ''}`);
  }
  if (r.duplicates.count > 0) lines.push(`  duplicates ${r.duplicates.count}: ${r.duplicates.note}`);
  if (r.skipped.count > 0) {
    const where = r.skipped.first.map((i) => `${i.file}:${i.line} ${i.reason}`).join('; ');
    lines.push(`  skipped ${r.skipped.count} invalid rows (data.skipInvalid), first: ${where}`);
  }
  return lines.join('\n');
}
