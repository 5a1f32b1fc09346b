// node dist/eval.js --checkpoint FILE [--split test | --data FILE]: metrics of a saved model as JSON (see --help).

import { resolve } from 'node:path';
import { kernelsOf, KERNELS_CHOICES } from '../model/backend/index.js';
import { workerCount } from '../util/threads.js';
import { parseArgs, runMain, type CommandSpec } from './args.js';
import { loadModel, isLanguageModel } from '../infer/model.js';
import { evaluateSplit, splitFromConfig, splitFromFile } from '../infer/evaluate.js';
import { classificationMetrics, languageModelMetrics, taggingMetrics } from '../model/metrics.js';
import { splitTokens, type EncodedSplit, type SplitName } from '../data/index.js';
import { ConfigError } from '../util/errors.js';
import { EvalProgress } from './progress.js';
import { DATA_FORMATS, FORMAT_FILE_NAMES, type DataFormat } from '../config/formats.js';

const COMMAND = {
  name: 'eval.js',
  summary: 'Evaluate a checkpoint and print its metrics as JSON on stdout. A classifier: loss, accuracy, macro-F1, '
    + 'per-class precision/recall/F1 and the confusion matrix (row = true label, column = prediction). A language '
    + 'model: loss (nats per token), bits per token (per character with the char tokenizer), perplexity and next-token accuracy. A tagger: loss per token, token accuracy, per-tag precision/recall/F1 '
    + '("perTag"), the tag confusion matrix, and for BIO tags span precision/recall/F1 ("spans", conlleval\'s rules). '
    + 'Macro-F1 is the mean F1 over the classes that have examples or predictions; a class with neither has f1 null and is left out.',
  flags: {
    checkpoint: { type: 'string', required: true, value: 'FILE', help: 'The checkpoint (a .ckpt file of a run).' },
    split: { type: 'string', choices: ['train', 'val', 'test'] as const, value: 'NAME', help: 'Evaluate this split of the data the checkpoint\'s config names, rebuilt and checked against the checkpoint\'s vocabulary (default: test, unless --data is given).' },
    data: { type: 'string', value: 'FILE', help: 'Evaluate a file of your own instead (JSON Lines, CSV, TSV, or text for a language model), encoded with the checkpoint\'s vocabulary and labels; text/label fields as in the checkpoint\'s config unless --text-field / --label-field say otherwise.' },
    textField: { type: 'string', value: 'NAME', help: 'With --data: the field (JSON Lines) or column (CSV, TSV) holding the text (default: the checkpoint\'s data.textField).' },
    labelField: { type: 'string', value: 'NAME', help: 'With --data: the field or column holding the label (default: the checkpoint\'s data.labelField).' },
    format: { type: 'string', choices: DATA_FORMATS, value: 'FMT', help: `Format of --data (default: from its extension ${FORMAT_FILE_NAMES}, else the config's data.format).` },
    skipInvalid: { type: 'boolean', help: 'With --data: skip invalid rows and rows whose label the model does not know, and count them in the output ("skipped"), instead of stopping at the first.' },
    dataRoot: { type: 'string', value: 'DIR', help: 'Folder that relative data paths of the checkpoint\'s config are resolved against: the folder of the config file it was trained with (default: the current directory).' },
    workers: { type: 'number', integer: true, min: 1, value: 'N', help: 'Worker threads (default: all cores).' },
    kernels: { type: 'string', choices: KERNELS_CHOICES, value: 'NAME', help: 'Compute backend (default: RNN_TRAINER_KERNELS, else auto: the fastest here).' },
    batchSize: { type: 'number', integer: true, min: 1, value: 'N', help: 'Sequences per batch (default: the run\'s train.batchSize).' },
  },
  examples: [
    ['node dist/eval.js --checkpoint runs/names-small/checkpoints/step-000002400.ckpt', 'the test split of the training data'],
    ['node dist/eval.js --checkpoint runs/names-small/checkpoints/step-000002400.ckpt --split val --workers 2', 'the validation split, on 2 threads'],
    ['node dist/eval.js --checkpoint run/checkpoints/step-000001000.ckpt --data new-names.csv', 'a labelled file of your own'],
    ['node dist/eval.js --checkpoint run/checkpoints/step-000001000.ckpt --data chapter.txt', 'a language model on a text file'],
  ],
} satisfies CommandSpec;

runMain(async () => {
  // Parsed inside runMain, so a bad flag is one line and exit code 2, not an uncaught exception.
  const args = parseArgs(process.argv.slice(2), COMMAND);
  const kernels = kernelsOf(args.kernels); // the flag, else RNN_TRAINER_KERNELS, else auto: resolved once
  if (args.split && args.data) throw new ConfigError('give --split or --data, not both');
  if (args.format && !args.data) throw new ConfigError('--format applies to --data FILE only');
  if (args.skipInvalid && !args.data) throw new ConfigError('--skip-invalid applies to --data FILE only');
  for (const [flag, v] of [['--text-field', args.textField], ['--label-field', args.labelField]] as const) {
    if (v !== undefined && !args.data) throw new ConfigError(`${flag} applies to --data FILE only`);
    if (v !== undefined && v.trim() === '') throw new ConfigError(`${flag}: expected a field name, found an empty string`);
  }
  if (args.dataRoot && args.data) throw new ConfigError('--data-root applies to --split only (a --data path is relative to the current directory)');
  const m = loadModel(args.checkpoint);
  if (args.labelField !== undefined && isLanguageModel(m)) throw new ConfigError(`--label-field: ${args.checkpoint} is a language model, which reads no labels; leave the flag out`);
  let split: EncodedSplit;
  let source: Record<string, unknown>;
  if (args.data) {
    const f = splitFromFile(m, args.data, {
      format: args.format as DataFormat | undefined, skipInvalid: args.skipInvalid, textField: args.textField, labelField: args.labelField,
    });
    split = f.split;
    source = { file: f.shown, format: f.format };
    if (args.skipInvalid) source.skipped = f.skipped;
  } else {
    const name = (args.split ?? 'test') as SplitName;
    split = splitFromConfig(m, name, resolve(args.dataRoot ?? '.'));
    source = { split: name };
  }
  const workers = workerCount(args.workers);
  // On stderr (stdout is the JSON): a line redrawn on a terminal, else one every 10 s of a long pass.
  const tokens = splitTokens(split);
  const progress = new EvalProgress(`evaluating ${split.count.toLocaleString('en-US')} sequences (${tokens.toLocaleString('en-US')} tokens)`);
  const r = await evaluateSplit(m, split, { workers, kernels, batchSize: args.batchSize, onBatch: (done, batches) => progress.update(done, batches) });
  progress.done();
  const head = { checkpoint: args.checkpoint, step: m.step, task: m.spec.task, data: source, examples: split.count };
  let out: object;
  if (isLanguageModel(m)) {
    const lm = languageModelMetrics(r.lossSum, r.count, r.correct);
    const perChar = m.tokenizer.kind === 'char' ? { bitsPerCharacter: lm.bitsPerToken } : {};
    out = { ...head, tokens: r.count, ...lm, ...perChar };
  } else if (m.spec.task === 'tagging') {
    out = { ...head, tokens: r.count, tags: m.labelNames, ...taggingMetrics(r.lossSum, r.count, r.confusion!, m.labelNames, r.spans) };
  } else {
    const c = classificationMetrics(r.lossSum, r.count, r.confusion!, m.labelNames);
    out = { ...head, labels: m.labelNames, ...c };
  }
  process.stdout.write(formatJson(out) + '\n');
});

/** JSON indented by 2, except that arrays of numbers or strings (a confusion-matrix row, the labels) stay on one line. */
function formatJson(v: unknown, indent = ''): string {
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || typeof x !== 'object')) return JSON.stringify(v);
    return `[\n${v.map((x) => inner + formatJson(x, inner)).join(',\n')}\n${indent}]`;
  }
  if (v !== null && typeof v === 'object') {
    const e = Object.entries(v).filter(([, x]) => x !== undefined);
    if (e.length === 0) return '{}';
    return `{\n${e.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${formatJson(x, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(v);
}
