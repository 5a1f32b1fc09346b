// A saved model, for evaluation and prediction: read a checkpoint, put its parameters on shared
// memory (workers read them in place), and keep what is needed to encode new text the same way.
// `Model` is the library's face of it: classify, generate, evaluate, save.

import { resolve } from 'node:path';
import { readCheckpoint, writeCheckpointAtomic, modelFromCheckpoint, type SavedModel, type CheckpointData } from '../checkpoint/index.js';
import { createKernels, kernelsValue, type Kernels, type KernelsChoice, type ResolvedKernels } from '../model/backend/index.js';
import { arenaOf } from '../util/shared.js';
import { examplesWithVocab, type Example, type Documents } from '../data/index.js';
import { ConfigError } from '../util/errors.js';
import { describeFound } from '../config/validate.js';
import { Classifier, type Prediction } from './classify.js';
import { Tagger, type TaggedText } from './tag.js';
import { TextGenerator, MAX_GENERATE_TOKENS, type SamplingOptions, type TextGenerateOptions, type TextPiece } from './generate.js';
import { Session } from './session.js';
import { formatSummary } from '../model/summary.js';
import { evaluateSplit, splitFromFile, type EvalOptions } from './evaluate.js';
import { loadModel, type LoadedModel } from './loaded.js';

export { loadModel, type LoadedModel };

export const isLanguageModel = (m: { spec: { task: string } }): boolean => m.spec.task === 'many-to-many';

export interface GenerateTextOptions {
  /** Tokens to generate after the prompt (default 200; at most MAX_GENERATE_TOKENS, 1,000,000). */
  length?: number;
  /** 0: greedy; 1: the model's distribution (default); higher: more random. */
  temperature?: number;
  /** Seed of the sampling: the same seed gives the same text (default 1). */
  seed?: number;
  /** Keep the k most probable tokens (an integer >= 1; default: all). 1 is greedy. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set of most probable tokens whose probability reaches p, in (0, 1] (default 1: all). */
  topP?: number;
  /** Stop string(s): generation ends when the generated text contains one; the text ends before it (the stop string is not returned). */
  stop?: string | readonly string[];
}

/**
 * Checks the sampling options (a ConfigError naming the option, as `name(o)` spells it) and fills
 * in the defaults: temperature 1, no top-k or top-p filtering.
 */
export function samplingOptions(o: { temperature?: number; topK?: number; topP?: number }, name: (option: string) => string = (x) => x): SamplingOptions {
  const temperature = o.temperature ?? 1;
  if (!(temperature >= 0 && temperature < Infinity)) throw new ConfigError(`generate: ${name('temperature')} must be a number >= 0 (0 is greedy), got ${temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 1)) throw new ConfigError(`generate: ${name('topK')} must be an integer >= 1 (the most probable tokens kept), got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new ConfigError(`generate: ${name('topP')} must be in (0, 1] (the probability mass kept), got ${o.topP}`);
  return { temperature, topK: o.topK, topP: o.topP };
}

/** Checks stop strings: none may be empty (it would stop before the first token). */
export function stopStrings(stop: string | readonly string[] | undefined, name = 'stop'): string[] {
  const list = stop === undefined ? [] : typeof stop === 'string' ? [stop] : [...stop];
  list.forEach((s, i) => {
    if (typeof s !== 'string' || s === '') throw new ConfigError(`generate: ${name}${list.length > 1 ? ` (${i + 1})` : ''} must be a non-empty string, got ${JSON.stringify(s)}`);
  });
  return list;
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

export interface ModelOptions {
  /**
   * Compute backend of classification, tagging, generation and evaluation: auto, js, wasm,
   * native, or a value resolved already (default: RNN_TRAINER_KERNELS, else auto). Resolved once, here.
   */
  kernels?: KernelsChoice | ResolvedKernels;
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
  private tagger: Tagger | null = null;
  /** The compute backend every call of this model uses. */
  readonly backend: ResolvedKernels;
  private kernels: Kernels | null = null;

  private constructor(private readonly checkpoint: CheckpointData, file: string, o: ModelOptions) {
    this.backend = kernelsValue(o.kernels);
    const m = modelFromCheckpoint(checkpoint, file);
    this.spec = m.spec; this.params = m.params; this.vocab = m.vocab; this.labelNames = m.labelNames;
    this.tokenizer = m.tokenizer; this.config = m.config; this.training = m.training;
    this.file = file;
    this.step = m.training.globalStep;
  }

  /** A model from a checkpoint in memory (a run with output: false); `name` stands for its file in messages. */
  static fromCheckpoint(c: CheckpointData, name = '(in memory)', o: ModelOptions = {}): Model {
    return new Model(c, name, o);
  }

  /** Reads a checkpoint (.ckpt); a bad path or file is a CheckpointError naming it and the cause. */
  static load(path: string, o: ModelOptions = {}): Model {
    if (typeof path !== 'string' || path === '') throw new ConfigError(`Model.load: expected the path of a checkpoint file (a non-empty string), found ${describeFound(path)}`);
    const file = resolve(path);
    return new Model(readCheckpoint(file), file, o);
  }

  /**
   * The layers as Keras's model.summary() prints them: name (kind), output shape per sequence
   * (T steps), parameter count, and the totals (a frozen embedding's parameters are not trainable).
   */
  summary(): string {
    const input = this.config.model.input;
    return formatSummary(this.spec, { frozen: input !== 'onehot' && input.freeze === true });
  }

  /** `classifier` (many-to-one: a label per text), `tagger` (a tag per token) or `language model` (many-to-many). */
  get task(): 'classifier' | 'tagger' | 'language model' {
    return this.spec.task === 'many-to-one' ? 'classifier' : this.spec.task === 'tagging' ? 'tagger' : 'language model';
  }

  /** The classes, in class-id order (empty for a language model). */
  get labels(): readonly string[] {
    return this.labelNames;
  }

  /** A tagger's tag of every token of a text (its tokens as in predict.js), or of each of several texts. */
  tag(text: string): TaggedText;
  tag(texts: readonly string[]): TaggedText[];
  tag(input: string | readonly string[]): TaggedText | TaggedText[] {
    if (this.spec.task !== 'tagging') throw new ConfigError(`${this.file} is a ${this.task}: use ${this.spec.task === 'many-to-one' ? 'classify(text)' : 'generate(prompt)'}, not tag()`);
    this.tagger ??= new Tagger(this, undefined, this.backend);
    const out = this.tagger.tag(textsOf(input, 'tag'));
    return typeof input === 'string' ? out[0] : out;
  }

  /** The label of a text and the probability of every label; or of each of several texts. */
  classify(text: string): Prediction;
  classify(texts: readonly string[]): Prediction[];
  classify(input: string | readonly string[]): Prediction | Prediction[] {
    if (this.spec.task !== 'many-to-one') throw new ConfigError(`${this.file} is a ${this.task}: use ${this.spec.task === 'tagging' ? 'tag(text)' : 'generate(prompt)'}, not classify()`);
    this.classifier ??= new Classifier(this, undefined, this.backend);
    const out = this.classifier.classify(textsOf(input, 'classify'));
    return typeof input === 'string' ? out[0] : out;
  }

  /**
   * Continues `prompt` (default: from <s>, for a model trained with data.bos); the prompt and its
   * continuation. Sampling: temperature → topK → topP → draw (see GenerateTextOptions).
   */
  generate(prompt = '', o: GenerateTextOptions = {}): string {
    const g = this.generator(prompt, o, 'generate');
    while (g.next());
    return g.result().text;
  }

  /**
   * generate() a token at a time, as the tokens are produced: `{ token, text }` pieces whose texts,
   * concatenated, are the continuation (generate() returns the prompt, decoded, before it).
   * A piece's text can be empty while a character or a possible stop string is incomplete.
   */
  stream(prompt = '', o: GenerateTextOptions = {}): AsyncGenerator<TextPiece> {
    const g = this.generator(prompt, o, 'stream'); // (bad options throw here, not at the first next())
    return (async function* () {
      for (let p = g.next(); p; p = g.next()) yield p;
    })();
  }

  /**
   * A stateful reader of this language model: `feed(text | tokenId | ids)`, then `probs()` (the next
   * token's distribution), `top(n)`, `sample({ temperature, topK, topP })`, `reset()`.
   */
  session(o: { seed?: number } = {}): Session {
    this.needLanguageModel('session');
    const seed = o.seed ?? 1;
    if (!(Number.isInteger(seed) && seed >= 0)) throw new ConfigError(`session: seed must be an integer >= 0, got ${seed}`);
    return new Session(this, seed, this.computeKernels());
  }

  private needLanguageModel(what: string): void {
    if (this.spec.task !== 'many-to-many') throw new ConfigError(`${this.file} is a ${this.task}: use ${this.spec.task === 'tagging' ? 'tag' : 'classify'}(text), not ${what}()`);
  }

  private computeKernels(): Kernels {
    return this.kernels ??= createKernels(this.backend, arenaOf(this.params.data) ?? null);
  }

  private generator(prompt: string, o: GenerateTextOptions, what: string): TextGenerator {
    this.needLanguageModel(what);
    if (typeof prompt !== 'string') throw new ConfigError(`${what}: expected the prompt as a string (or nothing), found ${describeFound(prompt)}`);
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ConfigError(`${what}: expected options { length, temperature, topK, topP, stop, seed } (an object, or nothing), found ${describeFound(o)}`);
    const length = o.length ?? 200, seed = o.seed ?? 1;
    if (!(Number.isInteger(length) && length >= 0)) throw new ConfigError(`${what}: length must be an integer >= 0, got ${length}`);
    if (length > MAX_GENERATE_TOKENS) throw new ConfigError(`${what}: length ${length} is more than one call generates (at most ${MAX_GENERATE_TOKENS.toLocaleString('en-US')} tokens); generate in parts, each continuing the end of the last`);
    if (!(Number.isInteger(seed) && seed >= 0)) throw new ConfigError(`${what}: seed must be an integer >= 0, got ${seed}`);
    const go: TextGenerateOptions = { ...samplingOptions(o), tokens: length, seed, stop: stopStrings(o.stop) };
    try {
      return new TextGenerator(this, prompt, go, this.computeKernels());
    } catch (e) {
      if (e instanceof RangeError && e.message.startsWith('nothing to start from')) throw new ConfigError(`${what}: ${e.message}`);
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
    const r = await evaluateSplit(this, enc.split, { ...o, kernels: o.kernels ?? this.backend });
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

/** The texts of classify(input) / tag(input): one string or a list of them. */
function textsOf(input: unknown, what: string): string[] {
  if (typeof input !== 'string' && !Array.isArray(input)) throw new ConfigError(`${what}: expected a text (a string) or a list of texts, found ${describeFound(input)}`);
  const texts = typeof input === 'string' ? [input] : [...(input as unknown[])];
  texts.forEach((t, i) => {
    if (typeof t !== 'string') throw new ConfigError(`${what}: text ${i} is not a string`);
  });
  return texts as string[];
}
