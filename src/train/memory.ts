// How much memory a training run needs, computed from its config before anything is allocated,
// so that a model too large for the machine is refused with the figure, the limit and the fields
// to change, instead of failing deep inside an allocation ("SharedArena: ... exceed",
// "WebAssembly.Memory(): Property 'initial'", "Invalid typed array length" in a worker).
//
// Two limits:
// - the shared arena (one WebAssembly.Memory, src/util/shared.ts) holds the parameters, the
//   gradient, one gradient slot per worker and the optimizer's moments; wasm32 addresses 4 GiB;
// - everything (the arena plus each worker's workspace) must fit the machine's memory (or the
//   container's limit).

import { totalmem } from 'node:os';
import { makeLayout, type Layout } from '../model/params.js';
import { workspaceBytes as modelWorkspaceBytes } from '../model/rnn.js';
import type { ModelSpec } from '../model/spec.js';
import { ConfigError } from '../util/errors.js';
import { formatBytes, GiB } from '../util/files.js';

/** What WebAssembly's 32-bit memory can address: the arena's hard limit. */
export const ARENA_LIMIT_BYTES = 4 * GiB;

/**
 * Bytes one worker thread allocates for a shard of up to maxB sequences of up to maxT steps: the
 * model's forward/backward workspace (counted by the model itself) and the batch buffers.
 */
export function workspaceBytes(spec: ModelSpec, maxB: number, maxT: number): number {
  return modelWorkspaceBytes(spec, maxB, maxT) + (2 * maxB * maxT + 3 * maxB) * 4; // allocBatch: tokens, targets; lengths, labels, ids
}

export interface MemoryPlan {
  spec: ModelSpec;
  /** The spec's layout when the caller has it (a run computes it once); else computed here. */
  layout?: Layout;
  workers: number;
  /** Largest shard rows (sequences) and steps a worker is sized for. */
  maxB: number;
  maxT: number;
  /** Optimizer moments kept: adam 2, sgd 1 (momentum), none to evaluate only. */
  optimizer: 'adam' | 'sgd' | null;
  /** Distributed (MPI): the allreduce's pack buffer, at most one more copy of the parameters' size. */
  distributed?: boolean;
  /** The sizes are lower bounds (before the data loads): the batch shape is the smallest possible, not train.batchSize's. */
  lowerBound?: boolean;
}

export interface MemoryNeed {
  /** Parameters (elements, as laid out: makeLayout(spec).size). */
  paramElements: number;
  paramBytes: number;
  /** Copies of the parameters' size in the arena: parameters, gradient, slots, moments. */
  arenaCopies: number;
  arenaBytes: number;
  workspaceBytes: number;
  /** The arena with the workers' workspaces, which the wasm and native kernels need in it. */
  arenaTotalBytes: number;
  /** Arena + workspace × workers. */
  totalBytes: number;
}

/** The memory a run of `p` needs (see the top of this file). */
export function memoryNeed(p: MemoryPlan): MemoryNeed {
  const paramElements = layoutOf(p).size;
  const paramBytes = paramElements * 4;
  const moments = p.optimizer === 'adam' ? 2 : p.optimizer === 'sgd' ? 1 : 0;
  const arenaCopies = 2 + p.workers + moments + (p.distributed ? 1 : 0);
  const arenaBytes = paramBytes * arenaCopies;
  const ws = workspaceBytes(p.spec, p.maxB, p.maxT);
  return { paramElements, paramBytes, arenaCopies, arenaBytes, workspaceBytes: ws, arenaTotalBytes: arenaBytes + ws * p.workers, totalBytes: arenaBytes + ws * p.workers };
}

/** The memory this process may use: the container's limit when there is one, else the machine's. */
export function machineMemoryBytes(): number {
  const total = totalmem();
  const limit = process.constrainedMemory?.();
  return limit && limit > 0 && limit < total ? limit : total;
}

export interface MemoryContext {
  /** Where the numbers come from, for the message: e.g. the config file. */
  label: string;
  /** How V, C and the longest sequence were found, e.g. "V = 31 tokens from the data (data.vocab.maxSize 20000)". */
  sizes: string;
  /** The memory available (default machineMemoryBytes()). */
  available?: number;
}

/**
 * Throws a ConfigError when `need` does not fit: the arena over 4 GiB, or the total over the
 * machine's memory. The message gives the figures, the limit, and the config fields to change.
 */
export function checkMemory(p: MemoryPlan, need: MemoryNeed, ctx: MemoryContext): void {
  const available = ctx.available ?? machineMemoryBytes();
  const arenaOver = need.arenaTotalBytes > ARENA_LIMIT_BYTES;
  const totalOver = need.totalBytes > available;
  if (!arenaOver && !totalOver) return;
  const { H, E, C } = p.spec, layout = layoutOf(p);
  const copies = [`parameters`, `gradient`, `${p.workers} worker gradient slot${p.workers > 1 ? 's' : ''}`,
    ...(p.optimizer === 'adam' ? ['2 Adam moments'] : p.optimizer === 'sgd' ? ['1 momentum buffer'] : [])].join(', ');
  const lines = [
    `${ctx.label}: the run needs more memory than it can have.`,
    `  model: H = ${H} (model.hidden), ${E > 0 ? `embedding E = ${E} (model.input.embedding)` : 'one-hot input (model.input)'}, ${ctx.sizes}; ${need.paramElements.toLocaleString('en-US')} parameters = ${formatBytes(need.paramBytes)}${largestTensors(layout)}`,
    `  shared arena: ${formatBytes(need.arenaBytes)} = ${need.arenaCopies} × the parameters (${copies}), + ${formatBytes(need.workspaceBytes * p.workers)} of workspaces (the compiled kernels address them there) = ${formatBytes(need.arenaTotalBytes)}${arenaOver ? `, more than the ${formatBytes(ARENA_LIMIT_BYTES)} WebAssembly's 32-bit memory can address` : ''}`,
    p.lowerBound
      ? `  workspace: at least ${formatBytes(need.workspaceBytes)} per worker × ${p.workers} (train.workers), for the smallest batch (one sequence of one step): the real batches, known once the data is read, need more`
      : `  workspace: ${formatBytes(need.workspaceBytes)} per worker × ${p.workers} (train.workers) for batches of up to ${p.maxB} sequence${p.maxB === 1 ? '' : 's'} (train.batchSize) of up to ${p.maxT} steps`,
    `  total: ${formatBytes(need.totalBytes)}${totalOver ? `, more than the ${formatBytes(available)} of memory of this machine` : ''}`,
  ];
  const fix = new Set<string>();
  if (need.arenaBytes > need.workspaceBytes * p.workers) { // the parameters' copies dominate, else the workspaces
    for (const t of largest(layout)) for (const f of fieldsOf(t.name, p.spec)) fix.add(f);
    if (p.workers > 1) fix.add('train.workers (each adds a gradient slot as large as the parameters)');
  } else {
    fix.add('train.batchSize').add(p.spec.task === 'many-to-one' ? 'data.maxLength' : 'data.seqLength').add('model.hidden');
    if (p.spec.task === 'many-to-many' && C > 1000) fix.add('data.vocab.maxSize (a language model has an output per token per step)');
    if (p.workers > 1) fix.add('train.workers');
  }
  lines.push(`Reduce ${[...fix].join(', ')}.`);
  throw new ConfigError(lines.join('\n'));
}

function layoutOf(p: MemoryPlan): Layout {
  return p.layout ?? makeLayout(p.spec);
}

/** The tensors that make up most of the parameters (the largest, and any other over a quarter). */
function largest(layout: Layout) {
  return [...layout.tensors].sort((a, b) => b.size - a.size).filter((t, i) => i === 0 || t.size >= layout.size / 4).slice(0, 2);
}

/** " (largest: Waa 30000×30000)" */
function largestTensors(layout: Layout): string {
  return ` (largest: ${largest(layout).map((t) => `${t.name} ${t.shape.join('×')}`).join(', ')})`;
}

/** The config fields that size each tensor. */
const VOCAB = 'data.vocab.maxSize (a row per token)';
const FIELDS_OF: Record<string, (s: ModelSpec) => string[]> = {
  Waa: () => ['model.hidden (the recurrent matrix grows with its square)'],
  Wax: (s) => (s.E > 0 ? ['model.hidden', 'model.input.embedding'] : [VOCAB, 'model.hidden', 'model.input (an embedding instead of one-hot)']),
  Wemb: () => [VOCAB, 'model.input.embedding'],
  Wya: (s) => (s.task === 'many-to-many' ? [VOCAB, 'model.hidden'] : ['model.hidden']),
  ba: () => ['model.hidden'],
  by: (s) => (s.task === 'many-to-many' ? [VOCAB] : []),
};

/**
 * The config fields behind a tensor: the vanilla RNN's layer-0 names above, or PyTorch's names of
 * every other layer and cell (weight_ih_lK, weight_hh_lK, bias_ih_lK, bias_hh_lK).
 */
function fieldsOf(name: string, spec: ModelSpec): string[] {
  const fixed = FIELDS_OF[name];
  if (fixed) return fixed(spec);
  const m = /^(weight|bias)_(ih|hh)_l(\d+)$/.exec(name);
  if (!m) return ['model.hidden'];
  const stacked = (spec.layers ?? 1) > 1 ? ['model.layers'] : [];
  if (m[1] === 'bias') return ['model.hidden'];
  if (m[2] === 'hh') return ['model.hidden (the recurrent matrices grow with its square, times the gates of the cell)', ...stacked];
  if (m[3] === '0') return FIELDS_OF.Wax(spec);
  return ['model.hidden', ...stacked];
}
