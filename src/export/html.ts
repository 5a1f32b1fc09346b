// Export a model as one self-contained HTML page that runs it in the browser: the model's own
// forward pass and tokenizer (src/export/browser/page.ts and the modules it imports, as compiled
// by tsc) on the project's WebAssembly kernels, with the parameters embedded as base64. The page
// fetches nothing, so it works from file://.
//
// Bundling: every module the page's script imports is read from dist/ and embedded as a data: URL
// in an import map, its relative imports rewritten to the map's keys (@rnn-trainer/src/...); each
// module keeps its own scope and the browser links them as ES modules (a missing export fails at
// load). Two modules are swapped for browser stand-ins (src/export/browser/stub-*.ts): the native
// backend (a Node-API addon) and the data layer's index (its file loaders need Node). A classic
// script before them gives the few Node globals the model code reads (an empty process.env: the
// page passes its backend, wasm at SIMD128, as a value; Buffer: base64 and concat).

import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { ExportableModel } from './onnx.js';
import { ExportError } from './onnx.js';
import { makeLayout } from '../model/params.js';
import { layersOf } from '../model/spec.js';
import type { PageModel } from './browser/page.js';

/** The largest parameters a page embeds: 64 MiB of float32 (the page is 4/3 of that in base64). */
export const MAX_PAGE_WEIGHT_BYTES = 64 * 2 ** 20;

/** Modules the page gets a browser stand-in for (paths under dist/). */
const STAND_INS: Record<string, string> = {
  'src/model/backend/native.js': 'src/export/browser/stub-native.js',
  'src/data/index.js': 'src/export/browser/stub-data.js',
};
const ENTRY = 'src/export/browser/page.js';
const KEY = '@rnn-trainer/';

/** dist/: beside this file when it runs from dist/src/export/, else the clone's dist/ (tests run src/ directly). */
function distRoot(): string {
  for (const root of [join(import.meta.dirname, '..', '..'), join(import.meta.dirname, '..', '..', 'dist')]) {
    if (existsSync(join(root, ENTRY))) return root;
  }
  throw new Error(`the page's script (dist/${ENTRY}) is missing: run \`npm run build\``);
}

/** The page's modules: import-map key -> source, with relative imports rewritten to keys. */
function bundle(): Map<string, string> {
  const root = distRoot();
  const out = new Map<string, string>();
  const visit = (path: string) => {
    if (out.has(path)) return;
    out.set(path, '');
    const actual = STAND_INS[path] ?? path;
    const file = join(root, actual);
    const src = readFileSync(file, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
    const code = src.replace(/(\bfrom\s*|\bimport\s*\(?\s*)(['"])([^'"]+)\2/g, (_all, lead: string, q: string, spec: string) => {
      if (!spec.startsWith('.')) throw new Error(`the page's module ${path} imports ${spec}, which a browser does not have; give it a stand-in in src/export/html.ts`);
      const target = posix.join(posix.dirname(actual), spec);
      visit(target);
      return `${lead}${q}${KEY}${target}${q}`;
    });
    out.set(path, code);
  };
  visit(ENTRY);
  return out;
}

/** Node globals the model code reads, for the page (see the file comment). */
const NODE_GLOBALS = `globalThis.process = { env: {}, versions: {} };
globalThis.Buffer = {
  from(x, enc) {
    if (enc === 'base64') return Uint8Array.from(atob(x), (c) => c.charCodeAt(0));
    if (enc === 'utf16le') return { toString: () => x };
    throw new Error('Buffer.from(' + enc + ') is not available in the page');
  },
  concat(list) {
    const out = new Uint8Array(list.reduce((n, a) => n + a.length, 0));
    list.reduce((at, a) => (out.set(a, at), at + a.length), 0);
    return out;
  },
  byteLength: (s) => new TextEncoder().encode(s).length,
};`;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** JSON inside a <script> element: no "</script>" or "<!--" can appear. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

export interface HtmlExportOptions {
  /** The page's title (default: the model's kind and size). */
  title?: string;
  /** A line under the title, e.g. the checkpoint and its step. */
  note?: string;
}

/**
 * The model as one HTML page (a string): a text box that classifies (many-to-one) or continues the
 * text (many-to-many); page.html?text=... runs at once and puts the label or the generated text in
 * #result. Throws an ExportError for parameters over MAX_PAGE_WEIGHT_BYTES.
 */
export function exportHtml(m: ExportableModel, opts: HtmlExportOptions = {}): string {
  const { spec } = m;
  const layout = makeLayout(spec);
  const bytes = layout.size * 4;
  if (bytes > MAX_PAGE_WEIGHT_BYTES) {
    throw new ExportError(`cannot export to HTML: the parameters take ${(bytes / 2 ** 20).toFixed(1)} MiB, and a page embeds at most ${MAX_PAGE_WEIGHT_BYTES / 2 ** 20} MiB (base64, parsed when the page opens); export to ONNX (--format onnx) and run it with onnxruntime-web instead`);
  }
  if (m.params.data.length < layout.size || !(m.params.data instanceof Float32Array)) throw new ExportError('cannot export to HTML: the parameters are not float32 in the model\'s layout');
  if (m.vocab.length !== spec.V) throw new ExportError(`cannot export to HTML: the vocabulary has ${m.vocab.length} tokens, the model spec says V=${spec.V}`);
  if (spec.task === 'tagging') throw new ExportError('cannot export to HTML: the page classifies a text or continues it, and this model is a tagger (a tag per token); export it to ONNX (--format onnx) instead');
  const lm = spec.task === 'many-to-many';
  if (!lm && m.labelNames.length !== spec.C) throw new ExportError(`cannot export to HTML: ${m.labelNames.length} label names for C=${spec.C} classes`);
  const data = m.params.data.subarray(0, layout.size);
  const weights = Buffer.from(data.buffer, data.byteOffset, bytes).toString('base64');
  const model: PageModel = {
    spec, vocab: [...m.vocab], labelNames: [...m.labelNames], tokenizer: m.tokenizer,
    generate: { tokens: 100, temperature: 1, seed: 1 },
  };
  const L = layersOf(spec);
  const title = opts.title ?? `${lm ? 'Language model' : 'Classifier'}: ${spec.bidirectional ? 'bidirectional ' : ''}${spec.cell} × ${L}, H=${spec.H}`;
  const about = `${spec.task}, ${m.tokenizer.kind} tokens, V=${spec.V}${lm ? '' : `, labels: ${m.labelNames.join(', ')}`}; runs here, on the WebAssembly kernels of rnn-trainer`;
  const imports = Object.fromEntries([...bundle()].map(([path, code]) => [KEY + path, `data:text/javascript;base64,${Buffer.from(code).toString('base64')}`]));
  const lmFields = lm
    ? `<label>tokens <input id="tokens" type="number" min="0" step="1" value="${model.generate.tokens}"></label>
<label>temperature <input id="temperature" type="number" min="0" step="0.1" value="${model.generate.temperature}"></label>
<label>seed <input id="seed" type="number" min="0" step="1" value="${model.generate.seed}"></label>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.3rem; margin-bottom: .2rem; } .about { color: #666; margin-top: 0; }
textarea { width: 100%; box-sizing: border-box; font: inherit; padding: .4rem; }
form label { margin-right: 1rem; } input[type=number] { width: 5rem; }
button { font: inherit; padding: .3rem 1rem; margin-top: .5rem; }
#result { font-size: 1.2rem; font-weight: 600; white-space: pre-wrap; margin: 1rem 0; }
#error { color: #b00020; white-space: pre-wrap; }
table { border-collapse: collapse; } td { padding: .1rem .8rem .1rem 0; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p class="about">${esc(about)}${opts.note ? `<br>${esc(opts.note)}` : ''}</p>
<form id="form">
<textarea id="text" rows="${lm ? 4 : 2}" placeholder="${lm ? 'a prompt to continue' : 'a text to classify'}"></textarea>
${lmFields}
<button type="submit">${lm ? 'Generate' : 'Classify'}</button>
</form>
<div id="result" aria-live="polite"></div>
<div id="error" role="alert"></div>
<p class="about">${lm ? 'Next token after the prompt' : 'Probabilities'}:</p>
<table id="probs"></table>
<pre id="probs-json" hidden></pre>
<script type="application/json" id="rnn-model">${scriptJson(model)}</script>
<script type="application/octet-stream" id="rnn-weights">${weights}</script>
<script>${NODE_GLOBALS}</script>
<script type="importmap">${scriptJson({ imports })}</script>
<script type="module">import '${KEY}${ENTRY}';</script>
</body>
</html>
`;
}
