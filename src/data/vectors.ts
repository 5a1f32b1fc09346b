// Pretrained word vectors in the standard text format (GloVe, word2vec's text output, fastText's
// .vec): one `word v1 ... vE` per line, separated by spaces, and for fastText a first line
// `count dim`. Only the vectors of the vocabulary's tokens are kept; the file is read in chunks,
// so a file of gigabytes needs no more memory than the table it fills.

import { closeSync, openSync, readSync } from 'node:fs';
import { DataError } from '../util/errors.js';

export interface PretrainedRows {
  /** (V, E): the vectors of the tokens found, row = token id; zero elsewhere. */
  rows: Float32Array;
  /** Per token id: 1 where the file had a vector. */
  found: Uint8Array;
  count: number;
}

const CHUNK = 1 << 20;

/**
 * The vectors of `tokens` (id = index) from `file` (`shown`: its name in errors), each E wide.
 * A line with another number of values, or a value that is not a number, is a DataError naming
 * the file and the line. The first occurrence of a word wins.
 */
export function readVectors(file: string, shown: string, tokens: readonly string[], E: number): PretrainedRows {
  const V = tokens.length;
  const ids = new Map<string, number>();
  tokens.forEach((tok, id) => { if (!ids.has(tok)) ids.set(tok, id); });
  const rows = new Float32Array(V * E), found = new Uint8Array(V);
  let count = 0, lineNo = 0;
  const line = (text: string) => {
    lineNo++;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return;
    const parts = text.trimEnd().split(' ');
    // fastText's header: `count dim`.
    if (lineNo === 1 && parts.length === 2 && /^\d+$/.test(parts[0]) && /^\d+$/.test(parts[1])) {
      if (Number(parts[1]) !== E) throw mismatch(Number(parts[1]), 'its header says');
      return;
    }
    const word = parts[0];
    if (parts.length - 1 !== E) throw mismatch(parts.length - 1, `the line of ${JSON.stringify(word.slice(0, 40))} has`);
    const id = ids.get(word);
    if (id === undefined || found[id]) return;
    for (let j = 0; j < E; j++) {
      const x = Number(parts[j + 1]);
      if (parts[j + 1] === '' || !Number.isFinite(x)) throw new DataError(`${shown}:${lineNo}: value ${j + 1} of ${JSON.stringify(word.slice(0, 40))} is ${JSON.stringify(parts[j + 1].slice(0, 40))}, not a finite number: each line is a word and ${E} numbers, separated by single spaces`, shown, lineNo);
      rows[id * E + j] = x;
    }
    found[id] = 1;
    count++;
  };
  const mismatch = (n: number, what: string) => new DataError(`${shown}:${lineNo}: ${what} ${n} values, and model.input.embedding is ${E}: give vectors of the embedding's width, or set model.input.embedding to ${n}`, shown, lineNo);
  const cannot = (e: unknown) => new DataError(`${shown}: cannot read the pretrained vectors (model.input.pretrained): ${(e as Error).message}`, shown);
  let fd: number;
  try { fd = openSync(file, 'r'); } catch (e) { throw cannot(e); }
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    const dec = new TextDecoder('utf-8');
    let rest = '';
    for (;;) {
      let n: number;
      try { n = readSync(fd, buf, 0, CHUNK, null); } catch (e) { throw cannot(e); }
      const text = rest + dec.decode(buf.subarray(0, n), { stream: n > 0 });
      const lines = text.split('\n');
      rest = n > 0 ? lines.pop()! : '';
      for (const l of lines) line(l);
      if (n === 0) break;
    }
    if (rest) line(rest);
  } finally {
    closeSync(fd);
  }
  return { rows, found, count };
}
