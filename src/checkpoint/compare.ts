// Differences between a checkpoint's model spec and the one a config asks for: a resume that
// changes the model's shape is refused with this list.

import { layersOf, type ModelSpec } from '../model/spec.js';

const LABELS: Record<keyof ModelSpec, string> = {
  cell: 'cell',
  task: 'task',
  V: 'vocabulary size V',
  H: 'hidden size H',
  C: 'classes C',
  E: 'embedding width E (0 = one-hot)',
  layers: 'layers',
  bidirectional: 'bidirectional',
  pooling: 'pooling',
  tieWeights: 'tied weights (model.tieWeights)',
  adaptive: 'adaptive softmax (model.adaptiveSoftmax)',
};

/** One line per field that differs, e.g. `hidden size H: checkpoint 128, config 256`; [] if none. */
export function specDifferences(saved: ModelSpec, wanted: ModelSpec): string[] {
  const out: string[] = [];
  // A spec without `layers` (written before stacked layers existed) has one.
  // Nor bidirectional, pooling, tieWeights or adaptive (written before they existed): one direction, the last state, untied, full softmax.
  const norm = (s: ModelSpec) => ({ ...s, layers: layersOf(s), bidirectional: s.bidirectional === true, pooling: s.task === 'many-to-one' ? s.pooling ?? 'last' : undefined, tieWeights: s.tieWeights ?? false, adaptive: s.adaptive ?? null });
  const a = norm(saved), b = norm(wanted);
  for (const k of Object.keys(LABELS) as (keyof ModelSpec)[]) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push(`${LABELS[k]}: checkpoint ${JSON.stringify(a[k])}, config ${JSON.stringify(b[k])}`);
  }
  return out;
}
