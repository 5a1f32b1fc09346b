// node dist/export.js --checkpoint FILE --out FILE.onnx: a checkpoint's model as an ONNX file, or with
// --format html as a page that runs it in the browser (see --help).

import { existsSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs, runMain, type CommandSpec } from './args.js';
import { loadModel } from '../infer/model.js';
import { exportOnnx, ONNX_OPSET } from '../export/onnx.js';
import { exportHtml, MAX_PAGE_WEIGHT_BYTES } from '../export/html.js';
import { layersOf } from '../model/spec.js';
import { ConfigError, UserError } from '../util/errors.js';
import { writeFileAtomic } from '../checkpoint/files.js';

const COMMAND = {
  name: 'export.js',
  summary: 'Export a checkpoint\'s model to ONNX (opset ' + ONNX_OPSET + '), for onnxruntime (Node.js, the browser, Python), '
    + 'TensorRT or any other ONNX runtime. The file takes `tokens` int32 (batch, time), right-padded with 0, and `lengths` int32 (batch); it returns '
    + '`probabilities`: (batch, classes) for a classifier, (batch, time, vocab) next-token probabilities for a language model. '
    + 'Its metadata_props hold the vocabulary, the labels, the tokenizer settings and the special tokens, so text can be '
    + 'encoded exactly as in training (README: "Export to ONNX"). --format html writes one self-contained page that runs the model in the browser '
    + `(WebAssembly kernels, parameters embedded, at most ${MAX_PAGE_WEIGHT_BYTES / 2 ** 20} MiB): a text box that classifies or generates; page.html?text=... runs at once (README: "In the browser").`,
  flags: {
    checkpoint: { type: 'string', required: true, value: 'FILE', help: 'The checkpoint (a .ckpt file of a run).' },
    out: { type: 'string', required: true, value: 'FILE', help: 'The file to write (a regular file, replaced if it exists; its folder must exist).' },
    format: { type: 'string', choices: ['onnx', 'html'] as const, value: 'NAME', help: 'onnx (default): an ONNX model; html: a page that runs the model in the browser.' },
  },
  examples: [
    ['node dist/export.js --checkpoint runs/names-small/checkpoints/step-000002400.ckpt --out names.onnx', 'the names classifier as names.onnx'],
    ['node dist/export.js --checkpoint runs/moby/checkpoints/step-000010000.ckpt --out moby-lm.onnx', 'a language model'],
    ['node dist/export.js --checkpoint runs/names-small/checkpoints/step-000002400.ckpt --format html --out names.html', 'a page that classifies names in the browser'],
  ],
} satisfies CommandSpec;

runMain(() => {
  // Parsed inside runMain, so a bad flag is one line and exit code 2, not an uncaught exception.
  const args = parseArgs(process.argv.slice(2), COMMAND);
  const out = resolve(args.out);
  const folder = dirname(out);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new ConfigError(`--out ${args.out}: the folder ${folder} does not exist; create it first or choose another path`);
  if (existsSync(out) && statSync(out).isDirectory()) throw new ConfigError(`--out ${args.out} is a folder; give the path of the file to write, e.g. --out ${args.out.replace(/\/+$/, '')}/model.onnx`);
  if (out === resolve(args.checkpoint)) throw new ConfigError(`--out ${args.out} is the checkpoint itself; give another path, e.g. --out model.onnx`);
  const m = loadModel(args.checkpoint);
  const html = args.format === 'html';
  const bytes = html
    ? Buffer.from(exportHtml(m, { note: `${basename(m.file)}, step ${m.step}` }))
    : exportOnnx(m, { metadata: { checkpoint: basename(m.file), step: String(m.step) } });
  // Atomically (temporary file, fsync, rename): a reader never sees half a file, a crash or an
  // error leaves an existing file as it was; never over a device, FIFO or symbolic link.
  writeFileAtomic(out, [bytes], { error: (why, input) => (input ? new ConfigError(`--out ${args.out}: ${why}`) : new UserError(`--out ${args.out}: cannot write the file: ${why}`)) });
  const s = m.spec, L = layersOf(s);
  if (html) {
    process.stdout.write(`wrote ${args.out} (${(bytes.length / 1024).toFixed(1)} KiB, one page): ${s.cell} × ${L} layer${L > 1 ? 's' : ''}, ${s.task}, step ${m.step}\n`
      + `  open it in a browser (it fetches nothing, file:// works), or as ${basename(args.out)}?text=... to run on that text at once\n`);
    return;
  }
  const shape = s.task === 'many-to-one' ? `(batch, ${s.C}): ${m.labelNames.join(', ')}` : `(batch, time, ${s.C}): next-token probabilities`;
  process.stdout.write(`wrote ${args.out} (${(bytes.length / 1024).toFixed(1)} KiB, ONNX opset ${ONNX_OPSET}): ${s.cell} × ${L} layer${L > 1 ? 's' : ''}, ${s.task}, `
    + `${s.E > 0 ? `embedding E=${s.E}` : 'one-hot input'}, V=${s.V} H=${s.H}, step ${m.step}\n`
    + `  inputs  tokens int32 (batch, time), lengths int32 (batch)\n  output  probabilities ${shape}\n`);
});
