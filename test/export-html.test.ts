// The browser page (node dist/export.js --format html, src/export/html.ts), run in headless
// Chromium from file:// as page.html?text=...: a classifier's label and probabilities equal
// predict.js's (1e-5); a language model's next-token distribution after the prompt equals the
// model's (Stepper, js kernels, 1e-5), and its greedy and seeded continuations equal predict.js
// --generate's with the same flags; a BPE language model too. A model over the cap is refused.
// Every page is opened in one Chromium launch (about 1.5 s of CPU each): the models are trained and
// exported first, then a harness page holds one frame per page and query and copies what each
// shows. Needs `npm run build`; skipped without Chromium.

import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportHtml, MAX_PAGE_WEIGHT_BYTES } from '../src/export/html.js';
import { ExportError } from '../src/export/onnx.js';
import { loadModel } from '../src/infer/model.js';
import { Stepper } from '../src/infer/generate.js';
import { encodeText } from '../src/data/index.js';
import { makeLayout } from '../src/model/params.js';
import type { ModelSpec } from '../src/model/spec.js';
import { ROOT, DIST, node, train, lmText, LM_CONFIG } from './helpers/cli.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium)`;

t.before(() => {
  if (!existsSync(join(DIST, 'export.js'))) throw new Error('dist/export.js is missing: run `npm run build` first');
});

const dir = mkdtempSync(join(tmpdir(), 'export-html-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface PageOut { result: string; error: string; probs: [string, number][] }

interface Visit { page: string; query: Record<string, string> }
const urlOf = (v: Visit) => `file://${v.page}?${new URLSearchParams(v.query)}`;

/**
 * The pages opened as file://page?query in one headless Chromium: a harness page with a frame per
 * visit copies, once all have loaded (each page computes while it loads), every frame's #result,
 * #error and the probabilities it shows. Keyed by URL.
 */
function openPages(visits: Visit[]): Map<string, PageOut> {
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-extensions', '--disable-dev-shm-usage', `--user-data-dir=${mkdtempSync(join(dir, 'profile-'))}`,
    '--allow-file-access-from-files']; // the harness reads its file:// frames
  const harness = join(dir, 'harness.html');
  writeFileSync(harness, `<!doctype html><html><body>${visits.map((v) => `<iframe src="${urlOf(v).replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"></iframe>`).join('')}
<pre id="out"></pre><script>
addEventListener('load', () => {
  const text = (d, id) => { const e = d && d.getElementById(id); return e ? e.textContent : null; };
  document.getElementById('out').textContent = JSON.stringify([...document.querySelectorAll('iframe')].map((f) => {
    const d = f.contentDocument;
    return { result: text(d, 'result'), error: text(d, 'error'), probs: text(d, 'probs-json'), body: d && d.body ? d.body.innerHTML.slice(0, 3000) : '(no document)' };
  }));
});
</script></body></html>`);
  const dom = execFileSync(CHROMIUM, [...flags, '--dump-dom', `file://${harness}`], { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'ignore'] });
  const m = /<pre id="out">([\s\S]*?)<\/pre>/.exec(dom);
  if (!m) throw new Error(`no #out in the harness page:\n${dom.slice(0, 3000)}`);
  const frames = JSON.parse(m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as Array<Record<string, string | null>>;
  return new Map(visits.map((v, i) => {
    const f = frames[i];
    for (const id of ['result', 'error', 'probs']) if (f[id] === null) throw new Error(`no #${id === 'probs' ? 'probs-json' : id} in ${urlOf(v)}:\n${f.body}`);
    return [urlOf(v), { result: f.result!, error: f.error!, probs: f.probs ? JSON.parse(f.probs) : [] }];
  }));
}

function exportPage(ckpt: string, name: string): string {
  const page = join(dir, name);
  const r = node('export', ['--checkpoint', ckpt, '--format', 'html', '--out', page]);
  if (r.status !== 0) throw new Error(`export failed: ${r.stderr}`);
  return page;
}

const maxDiff = (a: number[], b: ArrayLike<number>) => a.reduce((d, x, i) => Math.max(d, Math.abs(x - b[i])), a.length === b.length ? 0 : Infinity);

const NAMES_TEXTS = ['Jean-Luc']; // uppercase and a hyphen: normalized as predict.js does
const LM_CHAR = { prompt: 'the cat', cases: [{ temperature: '0', seed: '1' }, { temperature: '0.8', seed: '7' }] };
const LM_BPE = { prompt: 'the dog ran', cases: [{ temperature: '1', seed: '3' }] };
const lmVisits = (page: string, c: typeof LM_CHAR): Visit[] => c.cases.map((q) => ({ page, query: { text: c.prompt, tokens: '30', ...q } }));

/** The models, their pages, and what Chromium showed on each (one launch), made before the tests. */
let made: { names: string; namesPage: string; lmChar: string; lmCharPage: string; lmBpe: string; lmBpePage: string; shown: Map<string, PageOut> } | undefined;
t.before(() => {
  if (skip) return;
  const names = train(join(ROOT, 'configs', 'small.json'), dir, 'names-small', ['--max-steps', '30']).ckpt;
  const lmChar = trainLm('lm-char', lmText(60), {});
  const lmBpe = trainLm('lm-bpe', lmText(60), { data: { tokenizer: 'bpe', vocab: { maxSize: 300 } }, model: { cell: 'lstm', input: { embedding: 8 } } });
  const namesPage = exportPage(names, 'names.html'), lmCharPage = exportPage(lmChar, 'lm.html'), lmBpePage = exportPage(lmBpe, 'lm-bpe.html');
  const shown = openPages([...NAMES_TEXTS.map((text) => ({ page: namesPage, query: { text } })), ...lmVisits(lmCharPage, LM_CHAR), ...lmVisits(lmBpePage, LM_BPE)]);
  made = { names, namesPage, lmChar, lmCharPage, lmBpe, lmBpePage, shown };
});

t.test('a classifier (char tokens): the page\'s label and probabilities are predict.js\'s', { skip }, async (t) => {
  const { names: ckpt, namesPage: page, shown } = made!;
  t.ok(readFileSync(page, 'utf8').length < 1 << 20, 'a small model makes a page under 1 MiB');
  for (const name of NAMES_TEXTS) {
    const want = JSON.parse(node('predict', ['--checkpoint', ckpt, '--text', name]).stdout);
    const got = shown.get(urlOf({ page, query: { text: name } }))!;
    t.equal(got.error, '', `${name}: no error`);
    t.equal(got.result, want.label, `${name}: #result is the label predict.js gives (${want.label})`);
    t.same(got.probs.map(([l]) => l), Object.keys(want.probs), 'every label, in class order');
    t.ok(maxDiff(got.probs.map(([, p]) => p), Object.values(want.probs) as number[]) < 1e-5, `${name}: probabilities within 1e-5 of predict.js's`);
  }
});

/** A language model trained on `text` with `model`/`data` settings over the test's tiny LM config; its checkpoint. */
function trainLm(name: string, text: string, over: { data?: object; model?: object }): string {
  const d = join(dir, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'lm.txt'), text);
  const config = { ...LM_CONFIG, name, data: { ...LM_CONFIG.data, ...over.data }, model: { ...LM_CONFIG.model, ...over.model }, train: { ...LM_CONFIG.train, maxSteps: 40 } };
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  return train(join(d, 'config.json'), d, name).ckpt;
}

/** The page's next-token distribution after `prompt` and its continuations match the model's and predict.js's. */
async function checkLm(t: Test, ckpt: string, page: string, { prompt, cases }: typeof LM_CHAR): Promise<void> {
  const m = loadModel(ckpt);
  const s = new Stepper(m.spec, m.params);
  for (const id of encodeText(prompt, { ...m.tokenizer, eos: false, maxLength: 0 }, { tokens: m.vocab })) s.step(id);
  for (const c of cases) {
    const got = made!.shown.get(urlOf({ page, query: { text: prompt, tokens: '30', ...c } }))!;
    t.equal(got.error, '', 'no error');
    t.same(got.probs.map(([v]) => v), m.vocab, 'the next-token distribution covers the vocabulary, in id order');
    t.ok(maxDiff(got.probs.map(([, p]) => p), s.probs) < 1e-5, 'next-token probabilities within 1e-5 of the model\'s');
    // predict.js on the same kernels (wasm, SIMD128) draws the same tokens from the same seed.
    const want = spawnSync(process.execPath, [join(DIST, 'predict.js'), '--checkpoint', ckpt, '--kernels', 'wasm', '--generate', '30', '--prompt', prompt,
      '--temperature', c.temperature, '--seed', c.seed], { encoding: 'utf8', env: { ...process.env, RNN_TRAINER_WASM_RELAXED: '0' } });
    t.equal(want.status, 0, want.stderr);
    t.equal(got.result, want.stdout.replace(/\n$/, ''), `temperature ${c.temperature}, seed ${c.seed}: #result is predict.js --generate's text`);
  }
}

t.test('a language model (char tokens): next-token probabilities and continuations', { skip }, async (t) => {
  await checkLm(t, made!.lmChar, made!.lmCharPage, LM_CHAR);
});

t.test('a language model (BPE tokens, embedding input, LSTM)', { skip }, async (t) => {
  t.equal(loadModel(made!.lmBpe).tokenizer.kind, 'bpe');
  await checkLm(t, made!.lmBpe, made!.lmBpePage, LM_BPE);
});

t.test('a model over the cap is refused, naming the cap', async (t) => {
  const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: 10, H: 4200, C: 2, E: 0, layers: 1 };
  t.ok(makeLayout(spec).size * 4 > MAX_PAGE_WEIGHT_BYTES);
  const m = { spec, params: { data: new Float32Array(0) } as never, vocab: [], labelNames: ['a', 'b'], tokenizer: { kind: 'char', lowercase: false, bos: false, eos: false, maxLength: 0, truncate: 'start' } as const };
  let err: unknown;
  try {
    exportHtml(m, {});
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ExportError, 'an ExportError (exit code 2)');
  t.match((err as Error).message, /take 67\.\d MiB, and a page embeds at most 64 MiB.*--format onnx/, 'says the size, the cap and what to do instead');
});
