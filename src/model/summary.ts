// A per-layer summary of a model, as Keras's model.summary() prints it: each layer's name, kind,
// output shape (per sequence: T steps) and parameter count, from the parameter table
// (spec.ts), so the counts add up to the checkpoint's tensors exactly.

import { paramTable, layerNames, type ModelSpec } from './spec.js';

export interface SummaryLayer {
  /** e.g. `embedding`, `lstm_1`, `output`. */
  name: string;
  /** e.g. `Embedding`, `LSTM`, `Bidirectional(GRU)`, `Dense`, `Pooling(mean)`. */
  kind: string;
  /** The output of one sequence: T steps of a width, or one vector. */
  shape: string;
  params: number;
  /** The tensors it holds (name and shape). */
  tensors: Array<{ name: string; shape: number[] }>;
}

export interface ModelSummary {
  layers: SummaryLayer[];
  total: number;
}

/** The layers of `spec`, in the order data flows through them. */
export function summary(spec: ModelSpec): ModelSummary {
  const table = paramTable(spec);
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const take = (names: Set<string>) => table.filter(([n]) => names.has(n)).map(([name, shape]) => ({ name, shape: [...shape] }));
  const layer = (name: string, kind: string, shape: string, tensors: SummaryLayer['tensors']): SummaryLayer =>
    ({ name, kind, shape, params: tensors.reduce((s, t) => s + size(t.shape), 0), tensors });
  const L = spec.layers ?? 1, D = spec.bidirectional ? 2 : 1, cell = spec.cell.toUpperCase();
  const layers: SummaryLayer[] = [];
  const used = new Set<string>();
  if (spec.E > 0) {
    layers.push(layer('embedding', 'Embedding', `(T, ${spec.E})`, take(new Set(['Wemb']))));
    used.add('Wemb');
  }
  for (let l = 0; l < L; l++) {
    const names = new Set<string>();
    for (let d = 0; d < D; d++) for (const n of Object.values(layerNames(spec.cell, l, d === 1))) if (n) names.add(n);
    names.forEach((n) => used.add(n));
    layers.push(layer(`${spec.cell}_${l + 1}`, D === 2 ? `Bidirectional(${cell})` : cell, `(T, ${D * spec.H})`, take(names)));
  }
  const m2o = spec.task === 'many-to-one';
  if (m2o) {
    const pooling = spec.pooling ?? 'last';
    const width = (pooling === 'meanmax' ? 3 : 1) * D * spec.H;
    layers.push(layer('pooling', pooling === 'last' ? 'Last step' : `Pooling(${pooling})`, `(${width})`, []));
  }
  const head = new Set(table.map(([n]) => n).filter((n) => !used.has(n)));
  const kind = spec.adaptive ? 'AdaptiveSoftmax' : spec.tieWeights ? 'Dense (tied to embedding)' : 'Dense';
  layers.push(layer('output', kind, m2o ? `(${spec.C})` : `(T, ${spec.C})`, take(head)));
  return { layers, total: layers.reduce((s, x) => s + x.params, 0) };
}

/** The summary as a text table (Keras's layout). `frozen`: the embedding's parameters are not trained. */
export function formatSummary(spec: ModelSpec, o: { frozen?: boolean } = {}): string {
  const s = summary(spec);
  const n = (x: number) => x.toLocaleString('en-US');
  const rows = [['Layer (type)', 'Output shape', 'Param #'], ...s.layers.map((l) => [`${l.name} (${l.kind})`, l.shape, n(l.params)])];
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `${r[0].padEnd(w[0])}   ${r[1].padEnd(w[1])}   ${r[2].padStart(w[2])}`;
  const rule = (c: string) => c.repeat(w[0] + w[1] + w[2] + 6);
  const frozen = o.frozen ? (s.layers.find((l) => l.name === 'embedding')?.params ?? 0) : 0;
  return [
    `Model: ${spec.bidirectional ? 'bidirectional ' : ''}${spec.cell} ${spec.task} (V = ${n(spec.V)}, H = ${spec.H}${spec.E ? `, E = ${spec.E}` : ''}, C = ${n(spec.C)})`,
    rule('_'), line(rows[0]), rule('='), ...rows.slice(1).map(line), rule('='),
    `Total params: ${n(s.total)}`, `Trainable params: ${n(s.total - frozen)}`, `Non-trainable params: ${n(frozen)}`, rule('_'),
  ].join('\n') + '\n';
}
