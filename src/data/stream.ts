// Rows of a data file of any size, read in blocks (prepare.ts): the same rows, keys, checks and
// error places (file:line) as readers.ts's readRows, which holds a file whole.
//
// Each block read is cut after its last newline; the bytes after it wait for the next block, so
// a block of whole lines is decoded at once (a newline byte is never inside a UTF-8 sequence, so
// no character is cut). A block that is not valid UTF-8 is decoded line by line to name the bad
// line, as readUtf8 does. CSV/TSV records whose quoted fields span lines are carried over too.

import * as fs from 'node:fs';
import { DataError } from '../util/errors.js';
import { formatBytes, MiB } from '../util/files.js';
import { classOf, S } from './scan.js';
import { decodeLines, jsonlRow, parseDelimited, tableRows, type Issues, type ReadOptions, type Row } from './readers.js';

/** Bytes read per block. */
export const BLOCK_BYTES = 4 * MiB;
/** Longest line, CSV record or text paragraph (one document): a string of it must fit in memory easily. */
export const MAX_RECORD_BYTES = 64 * MiB;
/** Rows are handed out in batches of about this much text (UTF-16 code units). */
const BATCH_CHARS = 1 << 20;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface StreamOptions {
  /** Called after each block with the bytes read so far (progress). */
  onBytes?: (bytes: number) => void;
  blockBytes?: number;
}

/** Opens a data file for reading, with readUtf8's messages for a missing path or a non-file. */
export function openDataFile(abs: string, shown: string): { fd: number; size: number } {
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(`${shown}: cannot be read: ${code ?? (e as Error).message}${code === 'ENOENT' ? '. Check the path in the config; relative paths are relative to the config file\'s folder.' : ''}`, shown);
  }
  if (!st.isFile()) throw new DataError(`${shown}: is not a regular file; give the path of a data file`, shown);
  return { fd: fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK), size: st.size };
}

/** The rows of one file, in file order, in batches. */
export function* streamRows(abs: string, shown: string, opts: ReadOptions, issues: Issues, so: StreamOptions = {}): Generator<Row[]> {
  const { fd } = openDataFile(abs, shown);
  const parse = rowParser(shown, opts, issues);
  try {
    // The bytes after the last newline of a block (`carry` of them) move to the front of `buf`
    // and the next block is read after them: no copy of the block.
    const blockBytes = so.blockBytes ?? BLOCK_BYTES;
    let buf = Buffer.allocUnsafe(2 * blockBytes);
    let carry = 0;
    let line = 1, pos = 0, first = true;
    for (;;) {
      if (carry + blockBytes > buf.length) {
        const b = Buffer.allocUnsafe(2 * (carry + blockBytes));
        buf.copy(b, 0, 0, carry);
        buf = b;
      }
      const n = fs.readSync(fd, buf, carry, blockBytes, pos);
      pos += n;
      const final = n === 0;
      const data = buf.subarray(0, carry + n);
      const cut = final ? data.length : data.lastIndexOf(0x0a) + 1;
      if (!final && cut === 0 && data.length > MAX_RECORD_BYTES) {
        throw new DataError(`${shown}:${line}: a line longer than ${formatBytes(MAX_RECORD_BYTES)}; a row (or a text paragraph) must be shorter. Break it into lines.`, shown, line);
      }
      let text: string;
      const whole = data.subarray(0, cut);
      try {
        text = utf8.decode(whole);
      } catch {
        text = decodeLines(whole, shown, issues, line);
      }
      if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.length > 0) first = false;
      text = text.replace(/\r\n/g, '\n');
      buf.copy(buf, 0, cut, data.length);
      carry = data.length - cut;
      const rows = parse(text, line, final);
      line += countNewlines(text);
      so.onBytes?.(pos);
      if (rows.length > 0) yield* batches(rows);
      if (final) return;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function* batches(rows: Row[]): Generator<Row[]> {
  let from = 0, chars = 0;
  for (let i = 0; i < rows.length; i++) {
    chars += rows[i].text.length;
    if (chars >= BATCH_CHARS) {
      yield rows.slice(from, i + 1);
      from = i + 1;
      chars = 0;
    }
  }
  if (from < rows.length) yield rows.slice(from);
}

/** Whether text[s, e) is whitespace only (String.prototype.trim's set, which is \\s's). */
function blank(text: string, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if ((classOf(text.charCodeAt(i)) & S) === 0) return false;
  return true;
}

function countNewlines(s: string): number {
  let c = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) c++;
  return c;
}

/** A parser of blocks of whole lines (the first at `line`) into rows, keeping what spans blocks. */
function rowParser(shown: string, opts: ReadOptions, issues: Issues): (text: string, line: number, final: boolean) => Row[] {
  switch (opts.format) {
    case 'jsonl':
      return (text, line) => {
        const rows: Row[] = [];
        const lines = text.split('\n');
        for (let i = 0; i < lines.length; i++) {
          const r = jsonlRow(lines[i], line + i, shown, opts, issues);
          if (r) rows.push(r);
        }
        return rows;
      };
    case 'csv':
    case 'tsv': {
      const delim = opts.format === 'csv' ? ',' : '\t';
      let out: Row[] = [];
      const t = tableRows(delim, shown, opts, issues, (r) => out.push(r));
      let pending = '', pendingLine = 1;
      return (text, line, final) => {
        out = [];
        const all = pending + text;
        const r = parseDelimited(all, delim, t.onRow, t.onError, { line0: pending ? pendingLine : line, final });
        pending = all.slice(r.rest);
        pendingLine = r.line;
        if (pending.length > MAX_RECORD_BYTES) {
          throw new DataError(`${shown}:${pendingLine}: a quoted field is never closed (a " without its closing "), or a record is longer than ${formatBytes(MAX_RECORD_BYTES)}. Quote fields per RFC 4180: "a field, with a comma", and "" for a quote inside.`, shown, pendingLine);
        }
        if (final) t.end();
        return out;
      };
    }
    case 'text': {
      // One document per paragraph (lines up to a blank line), as readers.ts's paragraphs(): the
      // lines of a paragraph joined by '\n' are the text from its first line to its last, so a
      // paragraph is one slice of the block (plus the part carried from earlier blocks).
      let carry: string | null = null, chars = 0, first = 0;
      return (text, line, final) => {
        const rows: Row[] = [];
        let a = -1, b = -1; // the open paragraph's lines in this block: text[a, b)
        const flush = () => {
          if (carry === null && a < 0) return;
          const part = a >= 0 ? text.slice(a, b) : '';
          const t = carry === null ? part : a < 0 ? carry : carry + '\n' + part;
          rows.push({ text: t, key: t, file: shown, line: first });
          carry = null;
          a = -1;
          chars = 0;
        };
        // A block ends with its newline: the empty rest after it is no line (unless final).
        for (let s = 0, k = 0; ; k++) {
          let e = text.indexOf('\n', s);
          if (e < 0) {
            if (!final) break;
            e = text.length;
          }
          if (blank(text, s, e)) flush();
          else {
            if (carry === null && a < 0) first = line + k;
            if (a < 0) a = s;
            b = e;
            chars += e - s + 1;
            if (chars > MAX_RECORD_BYTES) {
              throw new DataError(`${shown}:${first}: a paragraph (one document) longer than ${formatBytes(MAX_RECORD_BYTES)}; separate documents by blank lines.`, shown, first);
            }
          }
          if (e >= text.length) break;
          s = e + 1;
        }
        if (a >= 0) {
          carry = carry === null ? text.slice(a, b) : carry + '\n' + text.slice(a, b);
          a = -1;
        }
        if (final) flush();
        return rows;
      };
    }
  }
}
