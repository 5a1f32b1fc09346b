// Sequence tagging data (model.task "tagging"): a tag for every token. Two file formats:
//
//   JSON Lines  {"tokens": ["Paris", "is", ...], "tags": ["B-LOC", "O", ...]}  (field names: data.tokensField, data.tagsField)
//   CoNLL       one token per line, whitespace-separated columns, the token first and its tag in
//               the LAST column; a blank line ends a sentence; `-DOCSTART-` lines are skipped.
//
// Tokens are given, so no tokenizer splits them: each token string (lowercased with data.lowercase)
// is one vocabulary entry. Bad rows go through Issues.bad as every reader's do (file and line).

import { IntBuf, normalizeText, vocabLookup } from './tokenize.js';
import { Issues, readUtf8, storable, type Row } from './readers.js';
import { sharedInt32, toShared } from '../util/shared.js';
import { UNK, type EncodedSplit, type SplitName, type SplitReport, type TokenizerSpec, type Vocab } from './types.js';

export interface TaggedFields {
  tokensField: string;
  tagsField: string;
}

/** A tagged row: its tokens and tags side by side (text = the tokens joined by spaces, for keys and messages). */
export type TaggedRow = Row & { tokens: string[]; tags: string[] };

/** The sentences of one file (format "jsonl" or "conll"). */
export function readTaggedRows(abs: string, shown: string, format: string, f: TaggedFields, issues: Issues): TaggedRow[] {
  const text = readUtf8(abs, shown, issues);
  return format === 'conll' ? conllRows(text, shown, issues) : taggedJsonlRows(text, shown, f, issues);
}

/** The checks shared by both formats: same lengths, no empty sentence, token or tag, storable text. */
function taggedRow(tokens: string[], tags: string[], id: unknown, shown: string, line: number, issues: Issues, where: (i: number) => string): TaggedRow | undefined {
  if (tokens.length === 0) {
    issues.bad(shown, line, 'an empty sentence (no tokens)', 'Remove it, or give it tokens and their tags.');
    return undefined;
  }
  if (tokens.length !== tags.length) {
    issues.bad(shown, line, `${tokens.length} tokens but ${tags.length} tags`, 'Give exactly one tag per token.');
    return undefined;
  }
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === '' || tags[i] === '') {
      issues.bad(shown, line, `${where(i)}: an empty ${tokens[i] === '' ? 'token' : 'tag'}`, 'Every token and every tag is a non-empty string.');
      return undefined;
    }
    if (!storable(shown, line, [[`${where(i)}: the token`, tokens[i]], [`${where(i)}: the tag`, tags[i]]], issues)) return undefined;
  }
  const text = tokens.join(' ');
  const key = (typeof id === 'string' && id !== '') || typeof id === 'number' ? `id:${id}` : text;
  return { text, key, tokens, tags, file: shown, line };
}

/** JSON Lines: one sentence per line. */
export function taggedJsonlRows(text: string, shown: string, f: TaggedFields, issues: Issues): TaggedRow[] {
  const rows: TaggedRow[] = [];
  const lines = text.split('\n');
  const example = `{"${f.tokensField}": ["Paris", "is", "big"], "${f.tagsField}": ["B-LOC", "O", "O"]}`;
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    if (lines[i].trim() === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(lines[i]);
    } catch (e) {
      issues.bad(shown, line, `invalid JSON (${(e as Error).message})`, `Each line must be one JSON object, e.g. ${example}.`);
      continue;
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      issues.bad(shown, line, 'the line is JSON but not an object', `Each line must be one JSON object, e.g. ${example}.`);
      continue;
    }
    const rec = obj as Record<string, unknown>;
    const lists: string[][] = [];
    for (const [field, what, setting] of [[f.tokensField, 'tokens', 'tokensField'], [f.tagsField, 'tags', 'tagsField']] as const) {
      const v = rec[field];
      if (v === undefined || v === null) {
        issues.bad(shown, line, `missing ${what} field "${field}" (this row has: ${Object.keys(rec).join(', ') || 'nothing'})`, `Add it, or set data.${setting} to the field that holds the ${what}.`);
        break;
      }
      const bad = Array.isArray(v) ? v.findIndex((x) => typeof x !== 'string') : -1;
      if (!Array.isArray(v) || bad >= 0) {
        issues.bad(shown, line, Array.isArray(v) ? `${what}[${bad}] in field "${field}" is ${JSON.stringify(v[bad])}, not a string` : `the ${what} field "${field}" is ${typeof v}, not an array`, `Write the ${what} as an array of strings, e.g. ${example}.`);
        break;
      }
      lists.push(v as string[]);
    }
    if (lists.length < 2) continue;
    const row = taggedRow(lists[0], lists[1], rec.id, shown, line, issues, (t) => `token ${t + 1} ("${lists[0][t]}")`);
    if (row) rows.push(row);
  }
  return rows;
}

/** CoNLL columns: a sentence per run of non-blank lines; its row's line is the sentence's first. */
export function conllRows(text: string, shown: string, issues: Issues): TaggedRow[] {
  const rows: TaggedRow[] = [];
  const lines = text.split('\n');
  let tokens: string[] = [], tags: string[] = [], first = 0, broken = false;
  const flush = () => {
    if (tokens.length > 0 && !broken) {
      const row = taggedRow(tokens, tags, undefined, shown, first, issues, (t) => `line ${first + t}`);
      if (row) rows.push(row);
    }
    tokens = [];
    tags = [];
    broken = false;
  };
  for (let i = 0; i < lines.length; i++) {
    const cols = lines[i].trim().split(/\s+/);
    if (cols[0] === '') { flush(); continue; }
    if (cols[0] === '-DOCSTART-') { flush(); continue; }
    if (tokens.length === 0 && !broken) first = i + 1;
    if (broken) continue; // the rest of a sentence already reported (skipInvalid)
    if (cols.length < 2) {
      issues.bad(shown, i + 1, `the token "${cols[0]}" has no tag`, 'Each line is a token and its tag (the last column), separated by whitespace; a blank line ends a sentence.');
      broken = true;
      tokens = [];
      tags = [];
      continue;
    }
    tokens.push(cols[0]);
    tags.push(cols[cols.length - 1]);
  }
  flush();
  return rows;
}

/** Token counts of the training rows (for the vocabulary). */
export function countTaggedTokens(rows: Row[], tok: TokenizerSpec): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of rows) for (const t of (r as TaggedRow).tokens) {
    const s = normalizeText(t, tok.lowercase);
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  return counts;
}

/**
 * Tagging: one example per sentence, its token ids and tag ids side by side; a sentence longer than
 * tok.maxLength keeps its first maxLength tokens (and their tags). Every tag must be in tagId.
 */
export function encodeTagged(name: SplitName, rows: Row[], tok: TokenizerSpec, vocab: Vocab, tagId: Map<string, number>, tagNames: string[]): { split: EncodedSplit; report: SplitReport; tooShort: number } {
  const lookup = vocabLookup(vocab);
  const ids = new IntBuf(1 << 16), tagBuf = new IntBuf(1 << 16);
  const n = rows.length, starts = sharedInt32(n), lengths = sharedInt32(n);
  const dist: Record<string, number> = Object.fromEntries(tagNames.map((l) => [l, 0]));
  let unk = 0, total = 0, truncated = 0, min = n > 0 ? Infinity : 0, max = 0;
  for (let i = 0; i < n; i++) {
    const r = rows[i] as TaggedRow;
    const len = tok.maxLength > 0 ? Math.min(tok.maxLength, r.tokens.length) : r.tokens.length;
    if (len < r.tokens.length) truncated++;
    starts[i] = ids.length;
    lengths[i] = len;
    for (let t = 0; t < len; t++) {
      const id = lookup.get(normalizeText(r.tokens[t], tok.lowercase)) ?? UNK;
      if (id === UNK) unk++;
      ids.push(id);
      tagBuf.push(tagId.get(r.tags[t])!);
      dist[r.tags[t]]++;
    }
    total += len;
    min = Math.min(min, len);
    max = Math.max(max, len);
  }
  const split: EncodedSplit = {
    name, count: n, tokens: toShared(ids.data.subarray(0, ids.length)), starts, lengths, labels: sharedInt32(0),
    tags: toShared(tagBuf.data.subarray(0, tagBuf.length)),
  };
  const report: SplitReport = {
    examples: n, tokens: total, oovRate: total > 0 ? unk / total : 0, labels: dist, truncated,
    minLength: min, maxLength: max, meanLength: n > 0 ? total / n : 0,
  };
  return { split, report, tooShort: 0 };
}

/**
 * The tags of the training rows (sorted) and a filter that reports rows of other splits with a tag
 * the model cannot predict (as an unknown label is reported for a classifier).
 */
export function tagNamesOf(train: Row[]): string[] {
  const seen = new Set<string>();
  for (const r of train) for (const t of (r as TaggedRow).tags) seen.add(t);
  return [...seen].sort();
}

export function knownTags(rows: Row[], tagId: Map<string, number>, issues: Issues, fix: string): Row[] {
  return rows.filter((r) => {
    const tr = r as TaggedRow;
    const i = tr.tags.findIndex((t) => !tagId.has(t));
    if (i < 0) return true;
    issues.bad(r.file, r.line, `tag "${tr.tags[i]}" of token ${i + 1} ("${tr.tokens[i]}") is not one of the tags (${[...tagId.keys()].map((l) => `"${l}"`).join(', ')})`, fix);
    return false;
  });
}

/** The tokens of a text to tag: its characters without whitespace (tokenizer "char"), else its whitespace-separated words. */
export function tagTokensOf(text: string, tok: Pick<TokenizerSpec, 'kind'>): string[] {
  if (tok.kind === 'char') return [...text.replace(/\s+/g, '')];
  return text.split(/\s+/).filter((w) => w !== '');
}

/** The ids of a tagger's tokens (NFC, lowercased as in training, else <unk>). */
export function tagTokenIds(tokens: readonly string[], tok: Pick<TokenizerSpec, 'lowercase'>, vocab: Vocab): Int32Array {
  const lookup = vocabLookup(vocab);
  return Int32Array.from(tokens, (w) => lookup.get(normalizeText(w, tok.lowercase)) ?? UNK);
}
