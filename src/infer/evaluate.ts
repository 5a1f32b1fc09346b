// Evaluation of a saved model on a whole split, in parallel: the same Coordinator and worker code
// as the training run's validation and test passes (a fixed order, longest first, batches spread
// over the pool), so the numbers match those the run reported for the same checkpoint.

import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Coordinator, type EvalResult } from '../parallel/coordinator.js';
import { evaluateSegments } from '../parallel/evalsplit.js';
import { kernelsValue, type KernelsChoice, type ResolvedKernels } from '../model/backend/index.js';
import { workerCount } from '../util/threads.js';
import { loadDataset, loadExamplesWithVocab, epochPlan, streamPlan, longestExample, type EncodedSplit, type SplitName, type ExternalFile, type TokenizerSpec } from '../data/index.js';
import { CheckpointError, DataError } from '../util/errors.js';
import type { LoadedModel } from './loaded.js';
import { bioScheme } from '../model/metrics.js';

export interface EvalOptions {
  /** Worker threads (default: all cores). */
  workers?: number;
  /** Sequences per batch (default: the run's train.batchSize, as its evaluations used). */
  batchSize?: number;
  /**
   * Compute backend: a resolved value (a command's, a Model's), or a choice resolved here (default:
   * RNN_TRAINER_KERNELS, else auto). The run's own numbers are matched bit for bit on its backend.
   */
  kernels?: ResolvedKernels | KernelsChoice;
  /** Stops the evaluation within a batch: it then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** After each batch: batches done, of how many. */
  onBatch?: (done: number, batches: number) => void;
}

/** Loss sums, counts and (many-to-one, tagging) the confusion matrix of `split` (tagging with BIO tags: span counts too). Opens and closes its own pool. */
export async function evaluateSplit(m: LoadedModel, split: EncodedSplit, o: EvalOptions = {}): Promise<EvalResult> {
  // A batch never holds more sequences than the split has (a huge --batch-size is the whole split).
  const batchSize = Math.max(1, Math.min(o.batchSize ?? m.config.train.batchSize, split.count));
  // A language model trained carrying its state is evaluated so too (checkpoints from before the option did not).
  const carry = m.spec.task === 'many-to-many' && m.config.train.carryState === true;
  const co = new Coordinator({
    spec: m.spec, workers: workerCount(o.workers), maxB: batchSize, maxT: Math.max(1, longestExample(split)),
    bpttWindow: 0, carryState: carry, splits: { [split.name]: split }, params: m.params, kernels: kernelsValue(o.kernels),
  });
  try {
    const bio = m.spec.task === 'tagging' ? bioScheme(m.labelNames) : null;
    const r = await evaluateSegments(co, split.name, split, carry ? streamPlan : epochPlan, batchSize, m.spec.task !== 'many-to-many', { signal: o.signal, onBatch: o.onBatch, bio });
    if (!r) o.signal!.throwIfAborted();
    return r!;
  } finally {
    await co.close(); // the process can then exit by itself
  }
}

/**
 * A split of the data the checkpoint's config names, rebuilt with loadDataset. The vocabulary,
 * labels and tokenizer built must equal the checkpoint's, or the token ids would mean other
 * tokens: a CheckpointError says what differs. Relative data paths in the config are relative to
 * its config file's folder, which the checkpoint does not record: they are resolved against
 * `dataRoot` (the caller's --data-root, default the current directory).
 */
export function splitFromConfig(m: LoadedModel, name: SplitName, dataRoot: string): EncodedSplit {
  const d = m.config.data;
  if (d.source === 'memory') {
    throw new DataError(`${m.file} was trained on examples a program passed in memory, which the checkpoint does not keep: evaluate a file with --data FILE (or, in code, model.evaluate(examples)).`);
  }
  if (d.source === 'files') {
    // With token shards the data files are not read (they need not exist any more).
    for (const p of d.shards !== undefined ? [d.shards] : [d.file, d.train, d.val, d.test]) {
      if (!p || isAbsolute(p) || existsSync(resolve(dataRoot, p))) continue;
      throw new DataError(`the checkpoint's config names the data ${p === d.shards ? 'shard folder (data.shards)' : 'file'} "${p}", relative to the folder of the config file it was trained with, `
        + `and it is not in ${dataRoot}. Give that folder with --data-root DIR, or evaluate a file with --data FILE.`, p);
    }
  }
  const data = loadDataset(d, { configDir: dataRoot, task: m.spec.task });
  const diff = vocabularyDifference(m, data.vocab.tokens, data.labelNames, JSON.stringify(data.tokenizer));
  if (diff) {
    throw new CheckpointError(`${m.file}: the data its config names no longer gives the model's vocabulary (${diff}); the data changed since training, `
      + `so the token ids would mean other tokens. Evaluate a file with --data FILE instead: it is encoded with the checkpoint's own vocabulary.`, m.file);
  }
  const split = data.splits[name];
  if (split.count === 0) throw new DataError(`the ${name} split of the checkpoint's data is empty (its config has no ${name} data); choose another --split or give --data FILE.`);
  return split;
}

/** What differs between the checkpoint's vocabulary/labels/tokenizer and rebuilt ones, or null. */
function vocabularyDifference(m: LoadedModel, tokens: string[], labels: string[], tokenizer: string): string | null {
  const first = (a: string[], b: string[]) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
    return -1;
  };
  const show = (s: string | undefined) => (s === undefined ? '(none)' : JSON.stringify(s));
  const i = first(m.vocab, tokens);
  if (i >= 0) return `vocabulary: ${m.vocab.length} tokens in the checkpoint, ${tokens.length} built; first difference at id ${i}: ${show(m.vocab[i])} vs ${show(tokens[i])}`;
  const j = first(m.labelNames, labels);
  if (j >= 0) return `labels: ${JSON.stringify(m.labelNames)} in the checkpoint, ${JSON.stringify(labels)} built`;
  if (JSON.stringify(m.tokenizer) !== tokenizer) {
    // BPE merges are thousands of lines: the first that differs, else the settings without them.
    const built = JSON.parse(tokenizer) as TokenizerSpec, k = first(m.tokenizer.merges ?? [], built.merges ?? []);
    if (k >= 0) return `BPE merges: ${m.tokenizer.merges?.length ?? 0} in the checkpoint, ${built.merges?.length ?? 0} built; first difference at merge ${k}: ${show(m.tokenizer.merges?.[k])} vs ${show(built.merges?.[k])}`;
    return `tokenizer: ${JSON.stringify({ ...m.tokenizer, merges: undefined })} in the checkpoint, ${JSON.stringify({ ...built, merges: undefined })} built`;
  }
  return null;
}

/**
 * A user file, encoded with the checkpoint's vocabulary and label map. A label outside the map, or
 * any other bad row, is an error naming the file and line, unless skipInvalid (then counted).
 */
export function splitFromFile(m: LoadedModel, file: string, o: { format?: ExternalFile['format']; skipInvalid?: boolean; textField?: string; labelField?: string } = {}): ExternalFile {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new DataError(`${file}: no such file`, file);
  }
  if (st.isDirectory()) throw new DataError(`${file}: is a folder; give a data file`, file);
  return loadExamplesWithVocab(file, m.config.data, process.cwd(), {
    task: m.spec.task, vocab: { tokens: m.vocab }, labelNames: m.labelNames, tokenizer: m.tokenizer, format: o.format,
    skipInvalid: o.skipInvalid || undefined, skipHint: 'Or pass --skip-invalid to skip invalid rows (they are counted in the output).',
    textField: o.textField, labelField: o.labelField, fieldFix: (which) => `pass --${which}-field with`,
  });
}
