// A saved model, for evaluation and prediction: read a checkpoint, put its parameters on shared
// memory (workers read them in place), and keep what is needed to encode new text the same way.
// `Model` is the library's face of it: classify, generate, evaluate, save.

import { resolve } from 'node:path';
import { readCheckpoint, writeCheckpointAtomic, modelFromCheckpoint, type SavedModel, type CheckpointData } from '../checkpoint/index.js';
import { createKernels, resolveKernels, kernelsChoice, type Kernels } from '../model/backend/index.js';
import { arenaOf } from '../util/shared.js';
import { examplesWithVocab, type Example, type Documents } from '../data/index.js';
import { ConfigError } from '../util/errors.js';
import { describeFound } from '../config/validate.js';
import { Classifier, type Prediction } from './classify.js';
import { generateText, MAX_GENERATE_TOKENS } from './generate.js';
import { evaluateSplit, splitFromFile, type EvalOptions } from './evaluate.js';

export interface LoadedModel extends SavedModel {
  /** The checkpoint file, absolute. */
  file: string;
  /** Global step the checkpoint was written at. */
  step: number;
}

/** Throws the checkpoint layer's CheckpointError (it names the file and the cause) for a bad path or file. */
export function loadModel(path: string): LoadedModel {
  const file = resolve(path);
  const m = modelFromCheckpoint(readCheckpoint(file), file);
  return { ...m, file, step: m.training.globalStep };
}

export const isLanguageModel = (m: { spec: { task: string } }): boolean => m.spec.task === 'many-to-many';

export interface GenerateTextOptions {
  /** Tokens to generate after the prompt (default 200; at most MAX_GENERATE_TOKENS, 1,000,000). */
  length?: number;
  /** 0: greedy; 1: the model's distribution (default); higher: more random. */
  temperature?: number;
  /** Seed of the sampling: the same seed gives the same text (default 1). */
  seed?: number;
}

export interface Metrics {
  /** Mean cross-entropy in nats: per sequence (classifier) or per token (language model). */
  loss: number;
  accuracy: number;
  /** Sequences (classifier) or tokens (language model) scored. */
  count: number;
  /** Language model: loss / ln 2. */
  bitsPerToken?: number;
  /** Classifier: confusion[true][predicted] counts, in `labels` order. */
  confusion?: number[][];
}

/**
 * A trained model: `Model.load(file)`, or the `model` that `train()` returns. Classification and
 * generation run on this thread; evaluation opens a pool of worker threads for the call.
 */
export class Model implements LoadedModel {
  readonly spec; readonly params; readonly vocab; readonly labelNames; readonly tokenizer; readonly config; readonly training;
  readonly file: string;
  readonly step: number;
  private classifier: Classifier | null = null;
  private kernels: Kernels | null = null;

  private constructor(private readonly checkpoint: CheckpointData, file: string) {
    const m = modelFromCheckpoint(checkpoint, file);
    this.spec = m.spec; this.params = m.params; this.vocab = m.vocab; this.labelNames = m.labelNames;
    this.tokenizer = m.tokenizer; this.config = m.config; this.training = m.training;
    this.file = file;
    this.step = m.training.globalStep;
  }

  /** Reads a checkpoint (.ckpt); a bad path or file is a CheckpointError naming it and the cause. */
  static load(path: string): Model {
    if (typeof path !== 'string' || path === '') throw new ConfigError(`Model.load: expected the path of a checkpoint file (a non-empty string), found ${describeFound(path)}`);
    const file = resolve(path);
    return new Model(readCheckpoint(file), file);
  }

  /** `classifier` (many-to-one: a label per text) or `language model` (many-to-many). */
  get task(): 'classifier' | 'language model' {
    return this.spec.task === 'many-to-one' ? 'classifier' : 'language model';
  }

  /** The classes, in class-id order (empty for a language model). */
  get labels(): readonly string[] {
    return this.labelNames;
  }

  /** The label of a text and the probability of every label; or of each of several texts. */
  classify(text: string): Prediction;
  classify(texts: readonly string[]): Prediction[];
  classify(input: string | readonly string[]): Prediction | Prediction[] {
    if (this.spec.task !== 'many-to-one') throw new ConfigError(`${this.file} is a language model: use generate(prompt), not classify()`);
    if (typeof input !== 'string' && !Array.isArray(input)) throw new ConfigError(`classify: expected a text (a string) or a list of texts, found ${describeFound(input)}`);
    const texts = typeof input === 'string' ? [input] : [...input];
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw new ConfigError(`classify: text ${i} is not a string`);
    });
    this.classifier ??= new Classifier(this);
    const out = this.classifier.classify(texts);
    return typeof input === 'string' ? out[0] : out;
  }

  /** Continues `prompt` (default: from <s>, for a model trained with data.bos); the prompt and its continuation. */
  generate(prompt = '', o: GenerateTextOptions = {}): string {
    if (this.spec.task !== 'many-to-many') throw new ConfigError(`${this.file} is a classifier: use classify(text), not generate()`);
    if (typeof prompt !== 'string') throw new ConfigError(`generate: expected the prompt as a string (or nothing), found ${describeFound(prompt)}`);
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ConfigError(`generate: expected options { length, temperature, seed } (an object, or nothing), found ${describeFound(o)}`);
    const length = o.length ?? 200, temperature = o.temperature ?? 1, seed = o.seed ?? 1;
    if (!(Number.isInteger(length) && length >= 0)) throw new ConfigError(`generate: length must be an integer >= 0, got ${length}`);
    if (length > MAX_GENERATE_TOKENS) throw new ConfigError(`generate: length ${length} is more than one call generates (at most ${MAX_GENERATE_TOKENS.toLocaleString('en-US')} tokens); generate in parts, each continuing the end of the last`);
    if (!(temperature >= 0)) throw new ConfigError(`generate: temperature must be >= 0, got ${temperature}`);
    if (!(Number.isInteger(seed) && seed >= 0)) throw new ConfigError(`generate: seed must be an integer >= 0, got ${seed}`);
    this.kernels ??= createKernels(resolveKernels(kernelsChoice()).name, arenaOf(this.params.data) ?? null);
    try {
      return generateText(this, prompt, { tokens: length, temperature, seed }, this.kernels).text;
    } catch (e) {
      if (e instanceof RangeError && e.message.startsWith('nothing to start from')) throw new ConfigError(`generate: ${e.message}`);
      throw e;
    }
  }

  /**
   * Loss and accuracy on labelled examples ({ text, label } objects; a language model: documents),
   * or on a data file (.jsonl, .csv, .tsv, .txt), encoded with this model's vocabulary.
   */
  async evaluate(data: readonly Example[] | Documents | { file: string }, o: EvalOptions = {}): Promise<Metrics> {
    const enc = typeof data === 'object' && data !== null && !Array.isArray(data) && 'file' in data
      ? splitFromFile(this, (data as { file: string }).file)
      : examplesWithVocab(data, this.config.data, { task: this.spec.task, vocab: { tokens: this.vocab }, labelNames: this.labelNames, tokenizer: this.tokenizer });
    const r = await evaluateSplit(this, enc.split, o);
    const C = this.spec.C;
    const loss = r.lossSum / r.count;
    return {
      loss, accuracy: r.correct / r.count, count: r.count,
      ...(this.spec.task === 'many-to-many' ? { bitsPerToken: loss / Math.LN2 } : {}),
      ...(r.confusion ? { confusion: Array.from({ length: C }, (_, i) => r.confusion!.slice(i * C, (i + 1) * C)) } : {}),
    };
  }

  /** Writes the model as a checkpoint file (atomically; with its training state, so a run can resume from it). */
  save(path: string): string {
    const file = resolve(path);
    writeCheckpointAtomic(file, this.checkpoint);
    return file;
  }
}
