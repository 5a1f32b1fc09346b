// Reading user files into rows: JSON Lines, CSV/TSV with a header (RFC 4180 quoting), and plain
// text (one document per blank-line separated paragraph, for language modelling).
//
// Every bad row goes through Issues.bad: by default it throws a DataError naming the file, the
// line, what is wrong and how to fix it; with data.skipInvalid it is skipped and recorded, so
// nothing is dropped without being reported.

import { DataError } from '../util/errors.js';
import { MiB, readInputFile } from '../util/files.js';
import type { RowIssue } from './types.js';
import type { DataFormat } from '../config/formats.js';
import { describeLoneSurrogate, loneSurrogateAt, LONE_SURROGATE_FIX } from '../util/text.js';

/** One example as read: its text, label (many-to-one), and split key, with where it came from. */
export interface Row {
  text: string;
  label?: string;
  /** What the split hash is computed from: the `id` field/column when present, else the text. */
  key: string;
  file: string;
  line: number;
}

/**
 * Largest data file read. A file is held whole as one string (Node.js strings stop at 512 MiB)
 * and then as tokens; a corpus this large is beyond what this trainer is for.
 */
export const MAX_DATA_BYTES = 256 * MiB;

const SKIP_HINT = 'Or set data.skipInvalid to true to skip invalid rows (they are counted and reported).';

export class Issues {
  readonly skipped: RowIssue[] = [];
  /** `hint`: how to skip invalid rows instead, ending each error (default: the config's data.skipInvalid). */
  constructor(readonly skipInvalid: boolean, readonly hint = SKIP_HINT) {}

  /** A bad row: throw, or record it and carry on when skipInvalid is set. */
  bad(file: string, line: number, what: string, fix: string): void {
    // Line 0: a place with no line (an in-memory example, `data.train[3]`).
    if (!this.skipInvalid) throw new DataError(`${line > 0 ? `${file}:${line}` : file}: ${what}. ${fix} ${this.hint}`, file, line > 0 ? line : undefined);
    this.skipped.push({ file, line, reason: what });
  }
}

export interface ReadOptions {
  format: Exclude<DataFormat, 'conll'>; // tagged files are read by tagged.ts
  textField: string;
  labelField: string;
  /** Whether rows need a label (many-to-one). */
  needLabel: boolean;
  /** How the user names another field in a fix: `set data.textField to` (default) or a command-line flag. */
  fieldFix?: (which: 'text' | 'label') => string;
}

export const configFieldFix = (which: 'text' | 'label') => `set data.${which}Field to`;
const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

/** Rows of one file. `shown` is the file name used in messages. */
export function readRows(abs: string, shown: string, opts: ReadOptions, issues: Issues): Row[] {
  const text = readUtf8(abs, shown, issues);
  switch (opts.format) {
    case 'jsonl':
      return parseJsonl(text, shown, opts, issues);
    case 'csv':
      return parseTable(text, ',', shown, opts, issues);
    case 'tsv':
      return parseTable(text, '\t', shown, opts, issues);
    case 'text':
      return paragraphs(text, shown);
  }
}

// ---------------------------------------------------------------- UTF-8

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The file as a string with '\n' line ends and no byte-order mark. Invalid UTF-8 is reported by
 * line; with skipInvalid, such a line is blanked (so it is no row, and line numbers stay right).
 */
export function readUtf8(abs: string, shown: string, issues: Issues): string {
  const bytes = readInputFile(abs, {
    what: 'data file', maxBytes: MAX_DATA_BYTES, capHint: 'use a sample of it (a smaller file, or data.sample on one)',
    error: (m, problem) => new DataError(m.replace(`data file ${abs}: `, `${shown}: `) +
      (problem === 'missing' ? '. Check the path in the config; relative paths are relative to the config file\'s folder.' : ''), shown),
  });
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    text = decodeLines(bytes, shown, issues);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text.replace(/\r\n/g, '\n');
}

// Slow path, only for files that are not valid UTF-8: find each bad line.
export function decodeLines(bytes: Uint8Array, shown: string, issues: Issues, line0 = 1): string {
  const lines: string[] = [];
  let start = 0;
  for (let line = line0; start <= bytes.length; line++) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    const part = bytes.subarray(start, end);
    const bad = firstInvalidUtf8(part);
    if (bad < 0) lines.push(utf8.decode(part));
    else {
      issues.bad(shown, line, `invalid UTF-8 (byte 0x${part[bad].toString(16).padStart(2, '0')} at byte ${bad + 1} of the line)`,
        'Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in > out`).');
      lines.push('');
    }
    start = end + 1;
  }
  return lines.join('\n');
}

/** Index of the first byte that is not part of a valid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    let n = 0; // continuation bytes expected
    let min = 0; // smallest code point for this length (rejects overlong forms)
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) (n = 1), (min = 0x80);
    else if (c >= 0xe0 && c <= 0xef) (n = 2), (min = 0x800);
    else if (c >= 0xf0 && c <= 0xf4) (n = 3), (min = 0x10000);
    else return i;
    let cp = n === 0 ? c : c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (b[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

// ---------------------------------------------------------------- JSON Lines

function parseJsonl(text: string, shown: string, opts: ReadOptions, issues: Issues): Row[] {
  const rows: Row[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const row = jsonlRow(lines[i], i + 1, shown, opts, issues);
    if (row) rows.push(row);
  }
  return rows;
}

/** One line of a JSON Lines file: its row, or undefined (a blank line, or a bad row skipped). */
export function jsonlRow(text: string, line: number, shown: string, opts: ReadOptions, issues: Issues): Row | undefined {
  if (text.trim() === '') return undefined; // blank lines (e.g. the last newline) are not rows
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    issues.bad(shown, line, `invalid JSON (${(e as Error).message})`, `Each line must be one JSON object, e.g. {"${opts.textField}": "some text", "${opts.labelField}": "a label"}.`);
    return undefined;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    issues.bad(shown, line, `the line is JSON but not an object`, `Each line must be one JSON object, e.g. {"${opts.textField}": "some text"}.`);
    return undefined;
  }
  const rec = obj as Record<string, unknown>;
  return checkRow(rec[opts.textField], rec[opts.labelField], rec.id, Object.keys(rec), shown, line, opts, issues, 'field');
}

/** The checks shared by JSON Lines and CSV rows. Returns undefined for a bad (skipped) row. */
export function checkRow(
  text: unknown, label: unknown, id: unknown, have: string[], shown: string, line: number,
  opts: ReadOptions, issues: Issues, what: 'field' | 'column',
): Row | undefined {
  if (text === undefined || text === null) {
    issues.bad(shown, line, `missing text ${what} "${opts.textField}" (this row has: ${have.join(', ') || 'nothing'})`,
      `Add it, or ${(opts.fieldFix ?? configFieldFix)('text')} the ${what} that holds the text.`);
    return undefined;
  }
  if (typeof text !== 'string') {
    issues.bad(shown, line, `the text ${what} "${opts.textField}" is ${typeof text}, not a string`, 'Write the text as a JSON string.');
    return undefined;
  }
  if (text.trim() === '') {
    issues.bad(shown, line, `empty text in ${what} "${opts.textField}"`, 'Remove the row or give it a text.');
    return undefined;
  }
  let lab: string | undefined;
  if (opts.needLabel) {
    if (label === undefined || label === null) {
      issues.bad(shown, line, `missing label ${what} "${opts.labelField}" (this row has: ${have.join(', ')})`,
        `Add it, or ${(opts.fieldFix ?? configFieldFix)('label')} the ${what} that holds the label.`);
      return undefined;
    }
    if (typeof label !== 'string' && typeof label !== 'number' && typeof label !== 'boolean') {
      issues.bad(shown, line, `the label ${what} "${opts.labelField}" is ${Array.isArray(label) ? 'an array' : typeof label}`, 'A label is a string (or a number).');
      return undefined;
    }
    lab = String(label).trim();
    if (lab === '') {
      issues.bad(shown, line, `empty label in ${what} "${opts.labelField}"`, 'Give the row a label.');
      return undefined;
    }
  }
  const key = (typeof id === 'string' && id !== '') || typeof id === 'number' ? `id:${id}` : text;
  if (!storable(shown, line, [[`the text ${what} "${opts.textField}"`, text], [`the label ${what} "${opts.labelField}"`, lab], [`the id ${what}`, typeof id === 'string' ? id : undefined]], issues)) return undefined;
  return { text, label: lab, key, file: shown, line };
}

/**
 * Whether each named string can be stored (checkpoints and ONNX metadata hold text as UTF-8):
 * a lone UTF-16 surrogate is a bad row, named with its place. Strings decoded from a file's bytes
 * never hold one; JSON escapes ("\\ud83d" alone) and in-memory strings can.
 */
export function storable(file: string, line: number, fields: [string, string | undefined][], issues: Issues): boolean {
  for (const [what, s] of fields) {
    if (s === undefined) continue;
    const at = loneSurrogateAt(s);
    if (at >= 0) {
      issues.bad(file, line, `${what} holds ${describeLoneSurrogate(s, at)}`, LONE_SURROGATE_FIX);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- CSV / TSV

/**
 * RFC 4180 records: fields separated by `delim`; a field in double quotes may hold the delimiter,
 * newlines, and "" for a quote. Calls onRow with each record and the line it starts on; blank
 * lines are no records.
 */
export function parseDelimited(
  text: string, delim: string,
  onRow: (fields: string[], line: number) => void,
  onError: (line: number, what: string) => void,
  more: { line0: number; final: boolean } = { line0: 1, final: true },
): { rest: number; line: number } {
  let i = 0;
  let line = more.line0;
  const n = text.length;
  while (i < n) {
    const rowLine = line, rowStart = i;
    const fields: string[] = [];
    let broken = false;
    for (;;) {
      // one field
      let field = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) {
            // Streamed (prepare): the record goes on in the next block of the file.
            if (!more.final) return { rest: rowStart, line: rowLine };
            onError(rowLine, 'a quoted field is never closed (a " without its closing ")');
            return { rest: n, line }; // the rest of the file is inside the quote: nothing after it can be trusted
          }
          field += text.slice(i, q);
          for (let k = i; k < q; k++) if (text.charCodeAt(k) === 10) line++;
          i = q + 1;
          if (text[i] === '"') {
            field += '"';
            i++;
          } else break;
        }
        if (i < n && text[i] !== delim && text[i] !== '\n') {
          onError(line, `text after the closing quote of field ${fields.length + 1}`);
          broken = true;
        }
      } else {
        let j = i;
        while (j < n && text[j] !== delim && text[j] !== '\n') j++;
        field = text.slice(i, j);
        i = j;
      }
      fields.push(field);
      if (broken) {
        const nl = text.indexOf('\n', i);
        i = nl < 0 ? n : nl + 1;
        line++;
        break;
      }
      if (i < n && text[i] === delim) {
        i++;
        continue;
      }
      i++; // the newline, or past the end
      line++;
      break;
    }
    if (broken) continue;
    if (fields.length === 1 && fields[0] === '') continue; // blank line
    onRow(fields, rowLine);
  }
  return { rest: n, line };
}

function parseTable(text: string, delim: string, shown: string, opts: ReadOptions, issues: Issues): Row[] {
  const rows: Row[] = [];
  const t = tableRows(delim, shown, opts, issues, (r) => rows.push(r));
  parseDelimited(text, delim, t.onRow, t.onError);
  t.end();
  return rows;
}

/**
 * The record handlers of a CSV/TSV file: the first record is the header, every other one a row
 * checked against it and passed to `emit`. `end()` after the last record (an empty file is an error).
 */
export function tableRows(delim: string, shown: string, opts: ReadOptions, issues: Issues, emit: (r: Row) => void) {
  let header: string[] | undefined;
  let ti = -1, li = -1, ii = -1;
  const kind = delim === '\t' ? 'TSV' : 'CSV';
  return {
    onRow: (fields: string[], line: number) => {
      if (!header) {
        header = fields.map((f) => f.trim());
        ti = header.indexOf(opts.textField);
        li = header.indexOf(opts.labelField);
        ii = header.indexOf('id');
        const cols = header.map((h) => `"${h}"`).join(', ');
        if (ti < 0) throw new DataError(`${shown}:${line}: the header has no column "${opts.textField}" for the text (columns: ${cols}). ${cap((opts.fieldFix ?? configFieldFix)('text'))} the text column, or add a header line.`, shown, line);
        if (opts.needLabel && li < 0) throw new DataError(`${shown}:${line}: the header has no column "${opts.labelField}" for the label (columns: ${cols}). ${cap((opts.fieldFix ?? configFieldFix)('label'))} the label column.`, shown, line);
        return;
      }
      if (fields.length !== header.length) {
        issues.bad(shown, line, `the row has ${fields.length} fields but the header has ${header.length}`,
          `Quote fields that contain the delimiter or a newline ("a${delim === '\t' ? '\\t' : ','} b") and double quotes inside them ("say ""hi"""), per RFC 4180.`);
        return;
      }
      const row = checkRow(fields[ti], li >= 0 ? fields[li] : undefined, ii >= 0 ? fields[ii] : undefined, header, shown, line, opts, issues, 'column');
      if (row) emit(row);
    },
    onError: (line: number, what: string) => issues.bad(shown, line, `${kind} syntax: ${what}`, 'Quote fields per RFC 4180: "a field, with a comma", and "" for a quote inside.'),
    end: () => {
      if (!header) throw new DataError(`${shown}: the file is empty; a ${kind} file needs a header line and rows.`, shown);
    },
  };
}

// ---------------------------------------------------------------- plain text

/** One document per paragraph (lines separated by one or more blank lines), keyed by its text. */
/** Plain text as documents: one per paragraph (lines up to a blank line). */
export function paragraphs(text: string, shown: string): Row[] {
  const rows: Row[] = [];
  const lines = text.split('\n');
  let buf: string[] = [];
  let first = 0;
  const flush = () => {
    if (buf.length > 0) {
      const t = buf.join('\n');
      rows.push({ text: t, key: t, file: shown, line: first });
    }
    buf = [];
  };
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') flush();
    else {
      if (buf.length === 0) first = i + 1;
      buf.push(lines[i]);
    }
  }
  flush();
  return rows;
}
