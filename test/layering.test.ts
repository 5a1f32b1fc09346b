// The import graph of src/ and workers/: every import runs down the layers below (a folder may
// import its own files and any folder of a lower layer), and no file reaches itself through its
// imports (type-only imports count: they are a dependency of the reader too).

import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname, relative, resolve } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** Bottom first: a folder of layer i imports only folders of layers < i (and its own). */
const LAYERS: string[][] = [
  ['src/util'],
  ['src/model', 'src/config'],
  ['src/data', 'src/optim'],
  ['src/checkpoint'],
  ['src/parallel'],
  ['src/infer', 'src/report', 'workers'],
  ['src/export'],
  ['src/tokenizer', 'src/train'],
  ['src/cli', 'src/api.ts'],
  ['src/index.ts', 'src/bench'],
];

/**
 * Cycles of types only that are allowed, each with its reason: the workspace holds its output
 * head, and a head reads the workspace (both are interfaces; nothing runs in a cycle).
 */
const ALLOWED_CYCLES = [/^src\/model\/rnn\.ts → src\/model\/head\/index\.ts → src\/model\/head\/(types|adaptive|tied)\.ts → src\/model\/rnn\.ts$/];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'pb' || f === 'gen' ? [] : files(p);
    return /\.(ts|mts|mjs)$/.test(f) && !f.endsWith('.d.ts') && !/^build.*\.mjs$/.test(f) ? [p] : []; // the build scripts are not the program
  });
}

/** The folder (a LAYERS entry) a file belongs to. */
function unit(rel: string): string | undefined {
  return LAYERS.flat().filter((u) => rel === u || rel.startsWith(u + '/')).sort((a, b) => b.length - a.length)[0];
}
const rank = (u: string) => LAYERS.findIndex((l) => l.includes(u));

const all = [...files(join(ROOT, 'src')), ...files(join(ROOT, 'workers'))];
const graph = new Map<string, string[]>();
for (const f of all) {
  const src = readFileSync(f, 'utf8');
  const deps: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    const target = resolve(dirname(f), m[1]).replace(/\.js$/, '.ts');
    const hit = [target, target.replace(/\.ts$/, '.mts'), target.replace(/\.ts$/, '.mjs'), target.replace(/\.mjs$/, '.mts')].find((x) => all.includes(x));
    if (hit) deps.push(hit);
  }
  graph.set(f, deps);
}

t.test('every import runs down the layers', async (t) => {
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    const from = unit(relative(ROOT, f));
    if (!from) { bad.push(`${relative(ROOT, f)}: in no layer (add its folder to LAYERS)`); continue; }
    for (const d of deps) {
      const to = unit(relative(ROOT, d))!;
      if (to !== from && rank(to) >= rank(from)) bad.push(`${relative(ROOT, f)} (${from}) imports ${relative(ROOT, d)} (${to}): not a lower layer`);
    }
  }
  t.same(bad, [], 'no upward or sideways import');
  t.ok(graph.size > 100, `${graph.size} files read`);
});

t.test('no file cycle', async (t) => {
  const state = new Map<string, 1 | 2>(), cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    state.set(f, 1);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 1) cycles.push([...path.slice(path.indexOf(d)), d].map((x) => relative(ROOT, x)).join(' → '));
      else if (!state.has(d)) visit(d, [...path, d]);
    }
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f, [f]);
  t.same(cycles.filter((c) => !ALLOWED_CYCLES.some((r) => r.test(c))), [], 'no file imports itself through others');
});
