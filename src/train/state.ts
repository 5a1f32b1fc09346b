// Between the training state in memory (shared parameter arena, optimizer moments, counters) and
// a checkpoint: what is saved, and how it comes back bit for bit.

import type { ModelSpec } from '../model/spec.js';
import type { Params } from '../model/params.js';
import type { CheckpointData, TrainingData } from '../checkpoint/index.js';
import { CHECKPOINT_FORMAT_VERSION, tensorsOf, loadTensors } from '../checkpoint/index.js';
import { Optimizer, type OptimizerOptions } from '../optim/optim.js';
import { CheckpointError } from '../util/errors.js';
import type { Dataset } from '../data/index.js';
import type { ResolvedConfig } from '../config/load.js';

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
