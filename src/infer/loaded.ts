// A checkpoint read for evaluation and prediction (model.ts builds the library's Model on it;
// evaluate.ts reads its vocabulary and spec).

import { resolve } from 'node:path';
import { readCheckpoint, modelFromCheckpoint, type SavedModel } from '../checkpoint/index.js';

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
