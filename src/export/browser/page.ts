// The script of the page that `export.js --format html` writes (../html.ts bundles it with the
// modules it imports): the model's own forward pass (src/model/rnn.ts), on the project's
// WebAssembly kernels (the `wasm` backend, SIMD128), and its own tokenizer (src/data/tokenize.ts,
// bpe.ts), on the parameters embedded in the page. A classifier shows the label and every class's
// probability; a language model the continuation (seeded sampling exactly as predict.js --generate,
// or greedy at temperature 0) and the next-token distribution after the prompt.
//
// Opened as page.html?text=... it runs at once: the label (classifier) or the prompt and its
// continuation (language model) in #result; ?tokens=N&temperature=X&seed=S as predict.js's flags.

import { makeLayout, allocParams } from '../../model/params.js';
import type { ModelSpec } from '../../model/spec.js';
import { createKernels, type Kernels, type ResolvedKernels } from '../../model/backend/index.js';
import { arenaOf } from '../../util/shared.js';
import { Classifier } from '../../infer/classify.js';
import { generateText, Stepper } from '../../infer/generate.js';
import { encodeText } from '../../data/tokenize.js';
import type { TokenizerSpec } from '../../data/types.js';
import type { SavedModel } from '../../checkpoint/index.js';

/** What ../html.ts embeds as JSON (#rnn-model); the parameters are #rnn-weights, base64 float32 little-endian. */
export interface PageModel {
  spec: ModelSpec;
  vocab: string[];
  labelNames: string[];
  tokenizer: TokenizerSpec;
  /** Language model: the defaults of the generation fields (predict.js's). */
  generate: { tokens: number; temperature: number; seed: number };
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function loadModel(): SavedModel {
  const pm = JSON.parse($('rnn-model').textContent!) as PageModel;
  const layout = makeLayout(pm.spec);
  const bin = atob($('rnn-weights').textContent!.trim());
  if (bin.length !== layout.size * 4) throw new Error(`the page's weights hold ${bin.length} bytes, the model needs ${layout.size * 4}`);
  let params;
  try {
    params = allocParams(layout);
  } catch (e) {
    throw new Error(`this browser does not allow shared WebAssembly memory on this page (${(e as Error).message}); open it in Chromium, Chrome or Edge, or serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp`);
  }
  const bytes = new Uint8Array(params.data.buffer, params.data.byteOffset, bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return { ...pm, params, config: undefined as never, training: undefined as never };
}

/** A table of the `top` most probable entries of `probs` (name -> probability). */
function showProbs(names: readonly string[], probs: ArrayLike<number>, top: number): void {
  const order = Array.from(names.keys()).sort((a, b) => probs[b] - probs[a] || a - b).slice(0, top);
  const table = $('probs');
  table.replaceChildren(...order.map((i) => {
    const tr = document.createElement('tr');
    const bar = document.createElement('meter');
    bar.value = probs[i];
    for (const cell of [JSON.stringify(names[i]).slice(1, -1), probs[i].toFixed(6)]) tr.appendChild(document.createElement('td')).textContent = cell;
    tr.appendChild(document.createElement('td')).appendChild(bar);
    return tr;
  }));
  // Every probability, for programs that read the page (the tests): name order, full precision.
  $('probs-json').textContent = JSON.stringify(Array.from(names, (n, i) => [n, probs[i]]));
}

/** Plain SIMD128, which every browser with WebAssembly SIMD runs (relaxed SIMD is not everywhere): the bits of predict.js --kernels wasm on Node 20. */
const PAGE_KERNELS: ResolvedKernels = { name: 'wasm', isa: 'simd128' };

function main(): void {
  const m = loadModel();
  const lm = m.spec.task === 'many-to-many';
  const text = $<HTMLTextAreaElement>('text'), form = $<HTMLFormElement>('form');
  const num = (id: string) => $<HTMLInputElement>(id);
  let kernels: Kernels | null = null, classifier: Classifier | null = null;

  const run = () => {
    $('error').textContent = '';
    $('result').textContent = '';
    try {
      if (!lm) {
        if (text.value.trim() === '') throw new Error('type a text to classify');
        classifier ??= new Classifier(m, 1, PAGE_KERNELS);
        const p = classifier.classify([text.value])[0];
        $('result').textContent = p.label;
        showProbs(m.labelNames, m.labelNames.map((l) => p.probs[l]), 20);
        return;
      }
      kernels ??= createKernels(PAGE_KERNELS, arenaOf(m.params.data)!);
      const tokens = Number(num('tokens').value), temperature = Number(num('temperature').value), seed = Number(num('seed').value);
      if (!(Number.isInteger(tokens) && tokens >= 0)) throw new Error(`tokens must be an integer >= 0, got ${num('tokens').value}`);
      if (!(temperature >= 0)) throw new Error(`temperature must be >= 0, got ${num('temperature').value}`);
      if (!(Number.isInteger(seed) && seed >= 0)) throw new Error(`seed must be an integer >= 0, got ${num('seed').value}`);
      // The prompt as generateText encodes it: the start of a document (<s> if trained with it, never </s>).
      const ids = encodeText(text.value, { ...m.tokenizer, eos: false, maxLength: 0 }, { tokens: m.vocab });
      if (ids.length === 0) throw new Error('nothing to start from: the model was trained without <s> (data.bos), so give a prompt with some text');
      const s = new Stepper(m.spec, m.params, kernels);
      for (const id of ids) s.step(id);
      showProbs(m.vocab, s.probs, 20);
      $('result').textContent = generateText(m, text.value, { tokens, temperature, seed }, kernels).text;
    } catch (e) {
      $('error').textContent = (e as Error).message;
    }
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    run();
  });

  const q = new URLSearchParams(location.search);
  if (lm) {
    for (const k of ['tokens', 'temperature', 'seed'] as const) {
      const v = q.get(k);
      if (v !== null) num(k).value = v;
    }
  }
  const t = q.get('text');
  if (t !== null) {
    text.value = t;
    run();
  }
  document.body.dataset.ready = 'true';
}

try {
  main();
} catch (e) {
  $('error').textContent = `cannot load the model: ${(e as Error).message}`;
}
