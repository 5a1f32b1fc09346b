// What a training run tells its caller (src/train/run.ts): the callbacks' events, and the summary
// it returns. The command line's progress line and summary are built from these alone.

import type { ModelSpec } from '../model/spec.js';
import type { ClassMetrics, SpanMetrics } from '../model/metrics.js';
import type { CheckpointData } from '../checkpoint/types.js';

export interface RunMessage {
  /** `warning`, `resume` and `kernels` are what a quiet log keeps. */
  kind: 'data' | 'model' | 'epoch' | 'warning' | 'resume' | 'kernels' | 'distributed' | 'schedule';
  text: string;
}

export interface StartEvent {
  runDir: string;
  spec: ModelSpec;
  parameters: number;
  workers: number;
  /** `<backend>/<isa>`, e.g. native/avx512. */
  kernels: string;
  epochs: number;
  /** Steps the run will take (epochs × batches, or maxSteps), from step 1. */
  totalSteps: number;
  /** The step the run continues from (0 for a new run). */
  fromStep: number;
}

export interface StepEvent {
  step: number;
  /** 1-based. */
  epoch: number;
  /** Mean loss of the batch: per sequence (classifier) or per token (language model), in nats. */
  loss: number;
  accuracy: number;
  /** Global gradient norm before clipping, and whether it was clipped. */
  gradNorm: number;
  clipped: boolean;
  lr: number;
  /** Real (unpadded) tokens of the batch, and their rate over this step. */
  tokens: number;
  tokensPerSec: number;
}

export interface EvalMetrics {
  loss: number;
  accuracy: number;
  count: number;
  /** Bits per token (many-to-many): loss / ln 2. */
  bitsPerToken?: number;
  confusion?: number[][];
  /** Tagging (test): precision, recall and F1 of each tag over tokens; and of spans, with BIO tags (conlleval). `accuracy` is token accuracy. */
  perTag?: Record<string, ClassMetrics>;
  spans?: SpanMetrics;
  /** Validation on a subset (train.validateTokens): the sequences and tokens evaluated, of the split's. */
  subset?: { sequences: number; ofSequences: number; tokens: number; ofTokens: number };
}

/** An evaluation in progress: after each of its batches. */
export interface EvaluationEvent {
  split: 'val' | 'test';
  /** Batches done, of `batches`. */
  done: number;
  batches: number;
  /** Real tokens in the evaluated sequences (all batches). */
  tokens: number;
}

export interface ValidationEvent extends EvalMetrics {
  step: number;
  epoch: number;
  /** Whether this is the best validation so far (by `rule`). */
  improved: boolean;
  best: { step: number; metric: number };
  /** Validations in a row without improvement (early stopping stops at its patience). */
  sinceBest: number;
  rule: string;
}

export interface CheckpointEvent {
  step: number;
  file: string;
}

export interface RunSummary {
  /** output: false: the run's model as a checkpoint in memory (its last step's, or after early stopping its best validation's); nothing is on disk. */
  inMemory?: CheckpointData;
  runDir: string;
  task: ModelSpec['task'];
  steps: number;
  /** Stopped by the AbortSignal (a checkpoint of the last step was written). */
  interrupted: boolean;
  /** Stopped by early stopping (train.earlyStopping); the model is then the best checkpoint's. */
  earlyStopped: boolean;
  /** The best validation, by `rule`; metric NaN and step 0 when there was none. */
  best: { metric: number; step: number; rule: string; checkpoint: string | null };
  val?: EvalMetrics;
  test?: EvalMetrics;
  /** Test metrics of the best validation checkpoint, when it is not the last one and was kept. */
  testBest?: EvalMetrics & { step: number; file: string };
  lastCheckpoint: string | null;
  /** The checkpoint of the weights the run ends with: the best one after early stopping, else the last. */
  modelCheckpoint: string | null;
  checkpointDir: string;
  reportPath: string;
  /** The config file, or null for a config object. */
  configFile: string | null;
  /** Data files (data.source files): the folder their relative paths are relative to (eval's --data-root); else null. */
  dataRoot: string | null;
  seconds: number;
  /** A distributed run's rank and ranks; the summary of a rank other than 0 names no files (rank 0 wrote them). */
  distributed?: { rank: number; size: number };
}
