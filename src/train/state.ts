// Between the training state in memory (shared parameter arena, optimizer moments, counters) and
// a checkpoint: what is saved, and how it comes back bit for bit.

import type { ModelSpec } from '../model/spec.js';
import { makeLayout, allocParams, tensor, type Params, type Layout } from '../model/params.js';
import type { CheckpointData, TensorData, TrainingData } from '../checkpoint/index.js';
import { CHECKPOINT_FORMAT_VERSION } from '../checkpoint/index.js';
import { Optimizer, type OptimizerOptions } from './optim.js';
import { CheckpointError } from '../util/errors.js';
import type { Dataset, TokenizerSpec } from '../data/index.js';
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
  return { spec: c.spec, params, vocab: c.vocab, labelNames: c.labelNames, tokenizer, config, training: c.training };
}

export function optimizerOptions(cfg: ResolvedConfig): OptimizerOptions {
  const t = cfg.train;
  return { kind: t.optimizer, lr: t.lr, beta1: t.beta1, beta2: t.beta2, eps: t.eps, momentum: t.momentum, weightDecay: t.weightDecay };
}

export function checkpointOf(
  spec: ModelSpec, params: Params, opt: Optimizer, training: TrainingData, data: Dataset, config: ResolvedConfig, fingerprint: string,
): CheckpointData {
  const layout = params.layout;
  const moments = opt.opts.kind === 'adam'
    ? [{ name: 'm', tensors: tensorsOf(layout, opt.m) }, { name: 'v', tensors: tensorsOf(layout, opt.v) }]
    : [{ name: 'momentum', tensors: tensorsOf(layout, opt.m) }];
  return {
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    spec,
    params: tensorsOf(layout, params.data as Float32Array),
    optimizer: { kind: opt.opts.kind, step: opt.step, moments },
    training,
    vocab: data.vocab.tokens,
    labelNames: data.labelNames,
    tokenizer: JSON.stringify(data.tokenizer),
    config: JSON.stringify(config),
    dataFingerprint: fingerprint,
  };
}

/** Load a checkpoint's parameters into `params` (same layout). */
export function loadParams(c: CheckpointData, params: Params, file: string): void {
  loadTensors(params.layout, params.data as Float32Array, c.params, 'params', file);
}

/** Restore parameters and optimizer state from a checkpoint. */
export function restore(c: CheckpointData, params: Params, opt: Optimizer, file: string): void {
  loadTensors(params.layout, params.data as Float32Array, c.params, 'params', file);
  if (c.optimizer.kind !== opt.opts.kind) {
    throw new CheckpointError(`${file}: saved with optimizer ${c.optimizer.kind}, the config asks for ${opt.opts.kind}; resume with the same train.optimizer`, file);
  }
  const byName = new Map(c.optimizer.moments.map((m) => [m.name, m.tensors]));
  const need = opt.opts.kind === 'adam' ? [['m', opt.m], ['v', opt.v]] as const : [['momentum', opt.m]] as const;
  for (const [name, buf] of need) {
    const ts = byName.get(name);
    if (!ts) throw new CheckpointError(`${file}: the optimizer state has no '${name}' moments`, file);
    loadTensors(params.layout, buf, ts, `optimizer '${name}'`, file);
  }
  opt.step = c.optimizer.step;
}
