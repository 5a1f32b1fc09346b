// Examples a program passes in (the library's train({ data }) and model.evaluate(data)), read into
// the same rows as a file's, so they meet the same checks and the same error messages, with
// `data.train[3]`-style places instead of file:line.
//
// A classifier's examples are objects { text, label } (an `id`, when present, is the split key, as
// in a file); a language model's are documents: strings, each one a document, or one string that
// is split into documents at blank lines as a plain-text file is.

import { DataError } from '../util/errors.js';
import { describeFound } from '../config/validate.js';
import type { Issues, Row } from './readers.js';
import { paragraphs, storable } from './readers.js';
import type { SplitName, Task } from './types.js';

/** One labelled example. */
export interface Example {
  text: string;
  label: string;
  /** Split key (default: the text): equal ids always land in the same split. */
  id?: string | number;
}

/** Documents of a language model: one string (split at blank lines) or one string per document. */
export type Documents = string | readonly string[];

/**
 * In-memory data: one collection, split into train/val/test by a hash of each example's key (as
 * data.file is), or the splits given apart (as data.train/val/test are).
 */
export type InMemoryData =
  | readonly Example[]
  | { train: readonly Example[]; val?: readonly Example[]; test?: readonly Example[] }
  | Documents
  | { train: Documents; val?: Documents; test?: Documents };

/** Whether `d` holds its splits apart ({ train, val?, test? }). */
export function hasSplits(d: InMemoryData): d is Extract<InMemoryData, { train: unknown }> {
  return typeof d === 'object' && d !== null && !Array.isArray(d) && 'train' in d;
}

/** Rows of one collection; `where` names it in messages (e.g. `data.train`). */
export function memoryRows(items: unknown, where: string, task: Task, issues: Issues): Row[] {
  if (task === 'tagging') throw new DataError(`${where}: a tagger reads its sentences from files (data.source "files", JSON Lines or CoNLL); in-memory examples are for classifiers and language models`);
  if (task === 'many-to-many') {
    if (typeof items === 'string') {
      return paragraphs(items, where)
        .map((r) => ({ ...r, file: `${where} (paragraph at line ${r.line})`, line: 0 }))
        .filter((r) => storable(r.file, 0, [['the text', r.text]], issues));
    }
    if (!Array.isArray(items)) throw new DataError(`${where}: expected a string or an array of strings (documents) for a language model, found ${kind(items)}`);
    const rows: Row[] = [];
    items.forEach((t, i) => {
      if (typeof t !== 'string') issues.bad(`${where}[${i}]`, 0, `expected a string (a document), found ${kind(t)}`, 'A language model trains on text: pass strings.');
      else if (t.trim() !== '' && storable(`${where}[${i}]`, 0, [['the text', t]], issues)) rows.push({ text: t, key: t, file: `${where}[${i}]`, line: 0 });
    });
    return rows;
  }
  if (!Array.isArray(items)) throw new DataError(`${where}: expected an array of { text, label } examples for a classifier, found ${kind(items)}`);
  const rows: Row[] = [];
  items.forEach((e, i) => {
    const at = `${where}[${i}]`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return issues.bad(at, 0, `expected an object { text, label }, found ${kind(e)}`, 'Pass each example as { text: string, label: string }.');
    const { text, label, id } = e as Record<string, unknown>;
    if (typeof text !== 'string') return issues.bad(at, 0, `text: expected a string, found ${kind(text)}`, 'Give each example its text as a string.');
    if (text.trim() === '') return issues.bad(at, 0, 'text is empty', 'Remove the example or give it a text.');
    if (typeof label !== 'string' && typeof label !== 'number') return issues.bad(at, 0, `label: expected a string, found ${kind(label)}`, 'Give each example its label as a string.');
    if (typeof label === 'number' && !Number.isFinite(label)) return issues.bad(at, 0, `label: ${label} is not a class name`, 'Give each example its label as a string (a number label must be finite: it names a class).');
    if (id !== undefined && typeof id !== 'string' && typeof id !== 'number') return issues.bad(at, 0, `id: expected a string or a number, found ${kind(id)}`, 'Remove the id (the text is then the split key) or make it a string.');
    if (!storable(at, 0, [['text', text], ['label', String(label)], ['id', typeof id === 'string' ? id : undefined]], issues)) return;
    rows.push({ text, label: String(label), key: id === undefined ? text : String(id), file: at, line: 0 });
  });
  return rows;
}

/** The rows of each split given apart, or of the one collection (`all`) to split by hash. */
export function memorySource(d: InMemoryData, task: Task, issues: Issues): { all: Row[] } | { bySplit: Record<SplitName, Row[]>; given: Record<SplitName, boolean> } {
  if (!hasSplits(d)) return { all: memoryRows(d, 'data', task, issues) };
  const bySplit = { train: [], val: [], test: [] } as Record<SplitName, Row[]>;
  const given = { train: true, val: d.val !== undefined, test: d.test !== undefined };
  for (const s of ['train', 'val', 'test'] as const) if (d[s] !== undefined) bySplit[s] = memoryRows(d[s], `data.${s}`, task, issues);
  return { bySplit, given };
}

/** What was found, for a message: a container by its kind only (examples can be many: describeFound would serialize them whole). */
function kind(v: unknown): string {
  return Array.isArray(v) ? 'an array' : typeof v === 'object' && v !== null ? 'an object' : describeFound(v);
}
