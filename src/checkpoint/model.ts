// A model as a checkpoint holds it: the parameters put back on shared memory (workers read them in
// place) with what is needed to encode new text the same way. Training (resume, the best
// checkpoint) and inference (eval, predict, export, the library's Model) both read it from here.

import type { ModelSpec } from '../model/spec.js';
import { makeLayout, allocParams, tensor, type Params, type Layout } from '../model/params.js';
import type { CheckpointData, TensorData, TrainingData } from './types.js';
import { CheckpointError } from '../util/errors.js';
import type { TokenizerSpec } from '../data/types.js';
import { bpeProblem } from '../data/bpe.js';
import type { ResolvedConfig } from '../config/load.js';

/** The tensors of a flat array laid out by `layout` (views, not copies). */
export function tensorsOf(layout: Layout, data: Float32Array): TensorData[] {
  return layout.tensors.map((t) => ({ name: t.name, shape: t.shape, data: data.subarray(t.offset, t.offset + t.size) }));
}

/** Copy tensors (by name, shapes checked) into a flat array laid out by `layout`. */
export function loadTensors(layout: Layout, data: Float32Array, tensors: TensorData[], what: string, file: string): void {
  if (tensors.length !== layout.tensors.length) throw new CheckpointError(`${file}: ${what} has ${tensors.length} tensors, the model has ${layout.tensors.length}`, file);
  for (const t of tensors) {
    const dst = tensor(layout, data, t.name) as Float32Array;
    if (dst.length !== t.data.length) throw new CheckpointError(`${file}: ${what} tensor ${t.name} has ${t.data.length} values, the model needs ${dst.length}`, file);
    dst.set(t.data);
  }
}

export interface SavedModel {
  spec: ModelSpec;
  params: Params;
  vocab: string[];
  labelNames: string[];
  tokenizer: TokenizerSpec;
  config: ResolvedConfig;
  training: TrainingData;
}

/** Parameters and metadata of a checkpoint, on shared memory (for evaluation and prediction). */
export function modelFromCheckpoint(c: CheckpointData, file: string): SavedModel {
  const layout = makeLayout(c.spec);
  const params = allocParams(layout, 'float32');
  loadTensors(layout, params.data as Float32Array, c.params, 'params', file);
  let tokenizer: TokenizerSpec, config: ResolvedConfig;
  try {
    tokenizer = JSON.parse(c.tokenizer);
    config = JSON.parse(c.config);
  } catch (e) {
    throw new CheckpointError(`${file}: the tokenizer or config field is not valid JSON (${(e as Error).message})`, file);
  }
  const bpeWrong = tokenizer?.kind === 'bpe' ? bpeProblem(c.vocab, tokenizer.merges) : null;
  if (bpeWrong) throw new CheckpointError(`${file}: ${bpeWrong}; the checkpoint is damaged or not written by rnn-trainer`, file);
  return { spec: c.spec, params, vocab: c.vocab, labelNames: c.labelNames, tokenizer, config, training: c.training };
}
