// A data file's format from its name: config validation (load.ts) and the data loader both ask.

import type { DataConfig } from './types.js';

/** File format from a name's extension, or undefined when the extension says nothing. */
export function formatOfExtension(file: string): 'jsonl' | 'csv' | 'tsv' | 'text' | 'conll' | undefined {
  const m = /\.([a-z0-9]+)$/i.exec(file);
  const ext = m ? m[1].toLowerCase() : '';
  return ext === 'jsonl' || ext === 'ndjson' ? 'jsonl' : ext === 'csv' ? 'csv' : ext === 'tsv' ? 'tsv' : ext === 'txt' || ext === 'text' ? 'text' : ext === 'conll' ? 'conll' : undefined;
}

/**
 * data.format when it is absent (source `files`): what the extensions of data.file or
 * data.train/val/test say, if they all say the same. Else `problem` says why not.
 */
export function inferDataFormat(cfg: Pick<DataConfig, 'file' | 'train' | 'val' | 'test'>): { format?: DataConfig['format']; problem?: string } {
  const files = [cfg.file, cfg.train, cfg.val, cfg.test].filter((f): f is string => typeof f === 'string');
  if (files.length === 0) return {};
  const formats = files.map(formatOfExtension);
  const unknown = files.filter((_, i) => formats[i] === undefined);
  const fix = 'set data.format to `jsonl`, `csv`, `tsv` or `text`, or name the files .jsonl, .csv, .tsv or .txt';
  if (unknown.length > 0) return { problem: `cannot tell the format from the file name${unknown.length > 1 ? 's' : ''} ${unknown.map((f) => JSON.stringify(f)).join(', ')}: ${fix}` };
  if (new Set(formats).size > 1) return { problem: `the files' extensions say different formats (${files.map((f, i) => `${JSON.stringify(f)}: ${formats[i]}`).join(', ')}); they are read with one: ${fix}` };
  return { format: formats[0] };
}
