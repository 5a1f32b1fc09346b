// A data file's format from its name: config validation (load.ts) and the data loader both ask.

import type { DataConfig } from './types.js';

/** A data file's format (data.format, eval --format). */
export type DataFormat = NonNullable<DataConfig['format']>;

/** Every format, with the extensions that say it (the first is the one messages name): the one list. */
export const FORMAT_EXTENSIONS = {
  jsonl: ['jsonl', 'ndjson'], csv: ['csv'], tsv: ['tsv'], text: ['txt', 'text'], conll: ['conll'],
} as const satisfies Record<DataFormat, readonly string[]>;

export const DATA_FORMATS = Object.keys(FORMAT_EXTENSIONS) as DataFormat[];

/** "`jsonl`, `csv`, `tsv`, `text` or `conll`" */
export const FORMAT_NAMES = orList(DATA_FORMATS.map((f) => `\`${f}\``));
/** ".jsonl, .csv, .tsv, .txt or .conll" */
export const FORMAT_FILE_NAMES = orList(DATA_FORMATS.map((f) => `.${FORMAT_EXTENSIONS[f][0]}`));

function orList(items: string[]): string {
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** File format from a name's extension, or undefined when the extension says nothing. */
export function formatOfExtension(file: string): DataFormat | undefined {
  const m = /\.([a-z0-9]+)$/i.exec(file);
  const ext = m ? m[1].toLowerCase() : '';
  return DATA_FORMATS.find((f) => (FORMAT_EXTENSIONS[f] as readonly string[]).includes(ext));
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
  const fix = `set data.format to ${FORMAT_NAMES}, or name the files ${FORMAT_FILE_NAMES}`;
  if (unknown.length > 0) return { problem: `cannot tell the format from the file name${unknown.length > 1 ? 's' : ''} ${unknown.map((f) => JSON.stringify(f)).join(', ')}: ${fix}` };
  if (new Set(formats).size > 1) return { problem: `the files' extensions say different formats (${files.map((f, i) => `${JSON.stringify(f)}: ${formats[i]}`).join(', ')}); they are read with one: ${fix}` };
  return { format: formats[0] };
}
