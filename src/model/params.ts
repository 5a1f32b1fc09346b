// All parameters in one flat array with named views (as llm.c does). Gradients, optimizer moments
// and per-worker gradient slots use the same layout, so "zero", "reduce", "clip" and "update"
// are loops over one flat array, and a tensor is found by name through the layout.

import { paramTable, layerNames, gatesOf, adaptiveShape, type Cell, type ModelSpec, type ParamTable } from './spec.js';
import { SharedArena } from '../util/shared.js';
import type { Float } from './kernels.js';
import type { LayerParams } from './cells/types.js';

export type { LayerParams };

export interface TensorView {
  name: string;
  shape: number[];
  offset: number; // in elements
  size: number;
}

export interface Layout {
  cell: Cell;
  table: ParamTable;
  tensors: TensorView[];
  byName: Map<string, TensorView>;
  size: number; // total elements
  /**
   * The token table's gradient is nonzero only in the rows of the batch's tokens, so it may be
   * zeroed, reduced and normed over those rows (step.ts). False with tied weights: the output
   * layer's product writes every row of the shared table.
   */
  sparseRows: boolean;
  /** The spec's tail clusters (adaptive softmax), for the views. */
  clusters: number;
}

export function makeLayout(spec: ModelSpec): Layout {
  const table = paramTable(spec);
  const tensors: TensorView[] = [];
  let offset = 0;
  for (const [name, shape] of table) {
    const size = shape.reduce((a, b) => a * b, 1);
    tensors.push({ name, shape, offset, size });
    // Keep every tensor 16-byte aligned, for SIMD kernels later.
    offset += Math.ceil(size / 4) * 4;
  }
  return {
    cell: spec.cell, table, tensors, byName: new Map(tensors.map((t) => [t.name, t])), size: offset,
    sparseRows: !spec.tieWeights, clusters: spec.adaptive ? adaptiveShape(spec).clusters.length : 0,
  };
}

/** Named views into one flat array. `data` is the whole arena. */
export interface Params {
  data: Float;
  layout: Layout;
  cell: Cell;
  /** Gate blocks G (1 rnn, 3 gru, 4 lstm). */
  G: number;
  Wemb: Float | null; // (V, E) embedding input only
  layers: LayerParams[];
  /** Each layer's reverse direction (bidirectional models); empty otherwise. */
  reverse: LayerParams[];
  /** (C, H); tied: the same view as Wemb; adaptive: the head's weight (its own shape, see `adaptive`). */
  Wya: Float;
  /** (C); adaptive: the head's bias, empty without one. */
  by: Float;
  /** Tied weights with E ≠ H: the projection (E, H) before the tied output; else null. */
  Wproj: Float | null;
  /** The adaptive softmax's tensors (spec.ts: adaptiveShape gives their shapes); else null. */
  adaptive: AdaptiveParams | null;
}

/** nn.AdaptiveLogSoftmaxWithLoss's weights: head (shortlist + clusters, H), bias or empty; tail i: proj (hsz, H), out (size, hsz). */
export interface AdaptiveParams {
  head: Float;
  headBias: Float;
  proj: Float[];
  out: Float[];
}

export function viewsOf(layout: Layout, data: Float): Params {
  if (data.length < layout.size) throw new Error(`viewsOf: arena has ${data.length} elements, layout needs ${layout.size}`);
  const v = (name: string): Float => {
    const t = layout.byName.get(name)!;
    return data.subarray(t.offset, t.offset + t.size);
  };
  const { cell } = layout;
  const layers: LayerParams[] = [], reverse: LayerParams[] = [];
  const views = (n: ReturnType<typeof layerNames>): LayerParams => ({ Wih: v(n.Wih), Whh: v(n.Whh), bih: v(n.bih), bhh: n.bhh ? v(n.bhh) : null });
  for (let l = 0; layout.byName.has(layerNames(cell, l).Whh); l++) {
    layers.push(views(layerNames(cell, l)));
    if (layout.byName.has(layerNames(cell, l, true).Whh)) reverse.push(views(layerNames(cell, l, true)));
  }
  const has = (name: string) => layout.byName.has(name);
  const Wemb = has('Wemb') ? v('Wemb') : null;
  const empty = data.subarray(0, 0);
  const tails = Array.from({ length: layout.clusters }, (_, i) => i);
  const adaptive: AdaptiveParams | null = has('head.weight')
    ? { head: v('head.weight'), headBias: has('head.bias') ? v('head.bias') : empty, proj: tails.map((i) => v(`tail.${i}.0.weight`)), out: tails.map((i) => v(`tail.${i}.1.weight`)) }
    : null;
  return {
    data,
    layout,
    cell,
    G: gatesOf(cell),
    Wemb,
    layers,
    reverse,
    Wya: adaptive ? adaptive.head : has('Wya') ? v('Wya') : Wemb!, // tied: the embedding is the output weight
    by: adaptive ? adaptive.headBias : v('by'),
    Wproj: has('Wproj') ? v('Wproj') : null,
    adaptive,
  };
}

export type Dtype = 'float32' | 'float64';

/**
 * Zeroed parameters (or gradients) for `layout`. float32 ones live in a SharedArena (a shared
 * WebAssembly.Memory): `arena` if given, else a new one, that the gradients and optimizer moments
 * of the same run are then allocated from (arenaOf). float64 is for gradient checks only.
 */
export function allocParams(layout: Layout, dtype: Dtype = 'float32', arena?: SharedArena): Params {
  const data = dtype === 'float64' ? new Float64Array(layout.size) : (arena ?? new SharedArena(layout.size * 4)).float32(layout.size);
  return viewsOf(layout, data);
}

/** The tensor `name` of a flat array laid out by `layout`. */
export function tensor(layout: Layout, data: Float, name: string): Float {
  const t = layout.byName.get(name);
  if (!t) throw new Error(`no parameter named ${name}; have ${[...layout.byName.keys()].join(', ')}`);
  return data.subarray(t.offset, t.offset + t.size);
}
