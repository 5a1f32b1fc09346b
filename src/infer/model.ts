// A saved model for evaluation and prediction: read a checkpoint, put its parameters on shared
// memory (workers read them in place), and keep what is needed to encode new text the same way.

import { resolve } from 'node:path';
import { readCheckpoint } from '../checkpoint/index.js';
import { modelFromCheckpoint, type SavedModel } from '../train/state.js';

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
