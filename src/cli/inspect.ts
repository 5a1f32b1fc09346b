// rnn-inspect: print what a checkpoint holds, as JSON, after validating all of it.
// Tensors are listed with the SHA-256 of their bytes, so two runs can be compared by diffing
// the output of this command.

import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { readCheckpoint, type TensorData } from '../checkpoint/index.js';
import { UserError } from '../util/errors.js';
import { summary, formatSummary } from '../model/summary.js';

const USAGE = `Usage: rnn-inspect CHECKPOINT [--vocab | --summary]

Validates a checkpoint (format, CRCs, shapes) and prints it as JSON: format version, step, epoch,
training state, model spec, resolved config, and for every tensor (parameters and optimizer
moments) its name, shape, dtype and the SHA-256 of its bytes, and the layers (name, kind, output
shape, parameters). Exits 1 if the file is invalid.

Options:
  --vocab   print the whole vocabulary and BPE merges (default: their sizes and SHA-256)
  --summary print a per-layer table instead (Keras's model.summary()): each layer's name,
            output shape and parameter count, and the totals
  --debug   show stack traces
  --help    show this help

Example:
  node dist/inspect.js runs/names/checkpoints/step-000001200.ckpt
  node dist/inspect.js runs/names/checkpoints/step-000001200.ckpt --summary
  diff <(node dist/inspect.js a.ckpt) <(node dist/inspect.js b.ckpt)
`;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function tensorInfo(t: TensorData) {
  return { name: t.name, shape: t.shape, dtype: 'float32', sha256: sha256(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)) };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function main(argv: string[]): number {
  let args;
  try {
    args = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' }, vocab: { type: 'boolean' }, summary: { type: 'boolean' }, debug: { type: 'boolean' } } });
  } catch (e) {
    process.stderr.write(`rnn-inspect: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.positionals.length !== 1) {
    process.stderr.write(`rnn-inspect: expected one checkpoint file, got ${args.positionals.length}\n\n${USAGE}`);
    return 2;
  }
  const file = args.positionals[0];
  const c = readCheckpoint(file);
  const t = c.training;
  const config = parseJson(c.config) as { model?: { input?: unknown } } | string;
  const input = typeof config === 'object' ? config.model?.input : undefined;
  if (args.values.summary) {
    process.stdout.write(formatSummary(c.spec, { frozen: typeof input === 'object' && input !== null && (input as { freeze?: boolean }).freeze === true }));
    return 0;
  }
  const out = {
    file,
    formatVersion: c.formatVersion,
    step: t.globalStep,
    epoch: t.epoch,
    training: {
      ...t, bestMetric: Number.isNaN(t.bestMetric) ? null : t.bestMetric,
      // A language model's carried states: how many rows, not their values.
      ...(t.carry ? { carry: { rows: t.carry.ids.length, valuesPerRow: t.carry.state.length / Math.max(1, t.carry.ids.length), chunkIds: Array.from(t.carry.ids) } } : {}),
    },
    spec: c.spec,
    config,
    tokenizer: tokenizerShown(parseJson(c.tokenizer), args.values.vocab === true),
    vocab: args.values.vocab ? c.vocab : { size: c.vocab.length, sha256: sha256(Buffer.from(JSON.stringify(c.vocab))) },
    labelNames: c.labelNames,
    dataFingerprint: c.dataFingerprint ?? null,
    layers: summary(c.spec).layers.map(({ tensors, ...l }) => ({ ...l, tensors: tensors.map((x) => x.name) })),
    tensors: c.params.map(tensorInfo),
    optimizer: { kind: c.optimizer.kind, step: c.optimizer.step, moments: c.optimizer.moments.map((m) => ({ name: m.name, tensors: m.tensors.map(tensorInfo) })) },
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return 0;
}

/** The tokenizer settings; BPE merges (thousands of lines) as their count and SHA-256 unless --vocab. */
function tokenizerShown(tok: unknown, full: boolean): unknown {
  if (full || tok === null || typeof tok !== 'object' || !Array.isArray((tok as { merges?: unknown }).merges)) return tok;
  const merges = (tok as { merges: unknown[] }).merges;
  return { ...tok, merges: { count: merges.length, sha256: sha256(Buffer.from(JSON.stringify(merges))) } };
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UserError && !process.argv.includes('--debug')) {
    process.stderr.write(`rnn-inspect: ${e.message}\n`);
    process.exitCode = e.exitCode;
  } else throw e;
}
