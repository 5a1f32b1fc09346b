// What a checkpoint holds, as the training loop sees it. The file format is proto/checkpoint.proto.

import type { ModelSpec } from '../model/spec.js';
import type { RngState } from '../util/prng.js';

/** Version of the file format written by this code; readers refuse any other. */
export const CHECKPOINT_FORMAT_VERSION = 1;

/**
 * A named float32 tensor, row-major. On write, `data` may be a view into a bigger arena (shared
 * or not): its bytes are written directly, without a copy. On read, `data` is a fresh, aligned,
 * non-shared array of exactly product(shape) elements.
 */
export interface TensorData {
  name: string;
  shape: number[];
  data: Float32Array;
}

export type OptimizerKind = 'adam' | 'sgd';

export interface OptimizerData {
  kind: OptimizerKind;
  /** Updates applied so far (Adam's t). */
  step: number;
  /**
   * Per-parameter buffers, each laid out like `params` (same names, shapes, order):
   * Adam: 'm' and 'v'; SGD: 'momentum' (or none when momentum is 0).
   */
  moments: { name: string; tensors: TensorData[] }[];
}

export interface TrainingData {
  /** Optimizer steps since the start of the run, those before any resume included. */
  globalStep: number;
  /** Epoch in progress, 0-based. */
  epoch: number;
  /** Batches of `epoch` already done: the next batch to train (0-based). */
  batchInEpoch: number;
  /** The run's PRNG state (four uint32 words, not all zero). */
  rngState: RngState;
  /** Best validation metric so far; NaN when there has been no validation yet. */
  bestMetric: number;
  /** Global step of bestMetric (its checkpoint is kept by CheckpointDir's retention). */
  bestStep: number;
  /** The run's seed. */
  seed: number;
  /** The compute backend of the last step, "<backend>/<isa>" (absent in older checkpoints). */
  kernels?: string;
  /**
   * train.carryState: each batch row's carried state (ids.length rows of stateSize(spec) values)
   * and the id of the chunk it ended at (-1: none). Absent otherwise.
   */
  carry?: { ids: Int32Array; state: Float32Array };
  /** Validations in a row since bestStep without an improvement (early stopping); absent = 0. */
  sinceBest?: number;
  /** train.plateau: the product of its reductions of the learning rate (absent = 1). */
  lrScale?: number;
  /** train.plateau: the lowest validation loss so far (absent: none yet). */
  plateauBest?: number;
  /** train.plateau: validations in a row without a lower loss since the last reduction (absent = 0). */
  plateauWait?: number;
}

export interface CheckpointData {
  /** CHECKPOINT_FORMAT_VERSION (only that version is written and read). */
  formatVersion: number;
  spec: ModelSpec;
  /** Model parameters, in paramTable(spec) order, with exactly its names and shapes. */
  params: TensorData[];
  optimizer: OptimizerData;
  training: TrainingData;
  /** Token id i is vocab[i]; length spec.V. */
  vocab: string[];
  /** Class id i is labelNames[i]: length spec.C for many-to-one, empty for many-to-many. */
  labelNames: string[];
  /** Tokenizer settings, JSON text. */
  tokenizer: string;
  /** The resolved Config (src/config/types.ts), JSON text. */
  config: string;
  /** Optional hash identifying the training data ('' or absent: none). */
  dataFingerprint?: string;
}
