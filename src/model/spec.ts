// The model's shape, and the table of its parameters from which the flat arena is built.

import { cellOf } from './cells/index.js';

export type Task = 'many-to-one' | 'many-to-many' | 'tagging';
export type Cell = 'rnn' | 'lstm' | 'gru';
export const CELLS: readonly Cell[] = ['rnn', 'lstm', 'gru'];

export interface ModelSpec {
  /** Recurrent cell: the vanilla (Elman) tanh RNN, LSTM or GRU (PyTorch's equations and gate layouts). */
  cell: Cell;
  /**
   * many-to-one: a label per sequence, from the top layer's state at its last real token;
   * many-to-many: the next token at every step (language modelling); tagging: a tag (one of C) for
   * every input token, from the top layer's output at that token (both directions' when bidirectional).
   */
  task: Task;
  /** Vocabulary size V (token ids are 0..V-1; id 0 is padding). */
  V: number;
  /** Hidden size H (of every layer). */
  H: number;
  /** Number of classes C (for many-to-many language modelling, C = V). */
  C: number;
  /** Embedding width E; 0 means one-hot input (W_ih·x_t is then a gather of token x_t's column). */
  E: number;
  /** Stacked recurrent layers, ≥ 1; absent means 1 (specs written before layers existed). */
  layers?: number;
  /**
   * Each layer reads the sequence both ways (PyTorch's bidirectional=True): a reverse direction of
   * its own weights (`*_reverse`) runs from each row's last real token back to its first, and the
   * layer's output at step t is [forward h_t, reverse h_t], 2H wide. Absent means false.
   */
  bidirectional?: boolean;
  /**
   * What a classifier's output layer reads of the top layer's outputs a_1..a_len (real steps only):
   * `last` a_len (absent means last), `mean` their mean, `max` their elementwise max, `meanmax`
   * [a_len, mean, max] side by side (ULMFiT's concat pooling). Many-to-one only.
   */
  pooling?: Pooling;
  /**
   * Tied weights (Press & Wolf 2017; language models with an embedding only): the output layer
   * reads Wemb (V, E) as its weight, so logits = Wemb·h + by (E = H) or Wemb·(Wproj·h) + by with
   * a projection Wproj (E, H) (E ≠ H). Absent: false.
   */
  tieWeights?: boolean;
  /** Adaptive softmax output layer (Grave et al. 2017; language models only); absent: the full softmax. */
  adaptive?: AdaptiveSpec;
}

export type Pooling = 'last' | 'mean' | 'max' | 'meanmax';
export const POOLINGS: readonly Pooling[] = ['last', 'mean', 'max', 'meanmax'];

/** Width of what the output layer reads: the top layer's output (D·H), three times for meanmax. */
export function headWidth(s: ModelSpec): number {
  return (s.pooling === 'meanmax' ? 3 : 1) * directionsOf(s) * s.H;
}

/**
 * PyTorch's nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value, head_bias): a head over the
 * shortlist [0, cutoffs[0]) and one token per tail cluster; cluster i covers [cutoffs[i],
 * cutoffs[i+1]) (the last one up to V), reached through H → ⌊H / divValue^(i+1)⌋ → its size.
 */
export interface AdaptiveSpec {
  /** Increasing, each in [1, V), V excluded. */
  cutoffs: number[];
  divValue: number;
  headBias: boolean;
}

/** Gate blocks stacked in a cell's weights, as the cell declares them: 1 rnn, 3 gru (r, z, n), 4 lstm (i, f, g, o). */
export function gatesOf(cell: Cell): number {
  return cellOf(cell).G;
}

export function layersOf(s: ModelSpec): number {
  return s.layers ?? 1;
}

/** Whether the output layer reads every step (a language model's next token, a tagger's tags) rather than one vector per sequence. */
export function perStep(s: Pick<ModelSpec, 'task'>): boolean {
  return s.task !== 'many-to-one';
}

/** Directions D: 2 for a bidirectional model, else 1. A layer's output, and the output layer's input, is D·H wide. */
export function directionsOf(s: ModelSpec): 1 | 2 {
  return s.bidirectional ? 2 : 1;
}

/** Values of one row's final state: every layer's states as its cell lists them (h, then c for the LSTM; a bidirectional layer: forward, then reverse). */
export function stateSize(s: ModelSpec): number {
  return layersOf(s) * directionsOf(s) * cellOf(s.cell).states.length * s.H;
}

export type ParamShape = number[];
export type ParamTable = Array<[name: string, shape: ParamShape]>;

/** Names of layer l's tensors: input weight, recurrent weight, input bias, recurrent bias (null: none). */
export interface LayerNames {
  Wih: string;
  Whh: string;
  bih: string;
  bhh: string | null;
}

/**
 * The vanilla RNN's layer 0 keeps the names of the classic derivation (Wax, Waa, ba: one bias,
 * a_t = tanh(Waa·a_{t-1} + Wax·x_t + ba)), so checkpoints written before cells and layers existed
 * load unchanged. Every other layer, and every layer of the LSTM and GRU, uses PyTorch's names.
 */
export function layerNames(cell: Cell, l: number, reverse = false): LayerNames {
  if (cell === 'rnn' && l === 0 && !reverse) return { Wih: 'Wax', Whh: 'Waa', bih: 'ba', bhh: null };
  const r = reverse ? '_reverse' : ''; // PyTorch's names for the reverse direction
  return { Wih: `weight_ih_l${l}${r}`, Whh: `weight_hh_l${l}${r}`, bih: `bias_ih_l${l}${r}`, bhh: `bias_hh_l${l}${r}` };
}

/**
 * The parameter table. G = gatesOf(cell) gate blocks of H rows each are stacked in every weight
 * and bias, in PyTorch's order (LSTM: i, f, g, o; GRU: r, z, n), so each tensor maps one to one
 * onto PyTorch's nn.RNN/nn.LSTM/nn.GRU and ONNX's RNN/LSTM/GRU:
 *
 *   ours                      shape         PyTorch                 ONNX (per direction)
 *   Wemb                      (V, E)        nn.Embedding.weight     (a Gather's table)
 *   weight_ih_l0 (embedding)  (G·H, E)      weight_ih_l0            W, gates reordered*
 *   weight_ih_l0 (one-hot)    (V, G·H)      weight_ih_l0 transposed W transposed, reordered*
 *   weight_ih_l{k}, k ≥ 1     (G·H, H)      weight_ih_l{k}          W of layer k
 *   weight_hh_l{k}            (G·H, H)      weight_hh_l{k}          R
 *   bias_ih_l{k}              (G·H)         bias_ih_l{k}            B[0 : G·H]  (Wb)
 *   bias_hh_l{k}              (G·H)         bias_hh_l{k}            B[G·H : 2G·H]  (Rb)
 *   Wya, by                   (C, H), (C)   nn.Linear weight, bias  a Gemm
 *   vanilla RNN, layer 0:  Wax = weight_ih_l0 (stored (V, H) with one-hot input), Waa =
 *   weight_hh_l0, ba = bias_ih_l0 + bias_hh_l0 (export ba as bias_ih_l0 and zeros as bias_hh_l0).
 *   * ONNX orders the gates LSTM i, o, f, c and GRU z, r, h; its GRU needs linear_before_reset = 1
 *     for PyTorch's n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn)).
 *
 * With one-hot input, layer 0's input weight is stored transposed, (V, G·H): the column of token
 * v is then the contiguous row v, and W_ih·x_t is a row gather. The token-indexed table (Wemb, or
 * layer 0's one-hot input weight) is always the first tensor (step.ts: tokenRows).
 *
 * Bidirectional (D = 2): each layer's forward tensors are followed by its reverse direction's,
 * PyTorch's `weight_ih_l{k}_reverse`, ... (ONNX: the second slice of W, R, B); layers k ≥ 1 read the
 * layer below's 2H-wide output, and Wya is (C, 2H). With one-hot input the reverse direction has a
 * token table of its own, `weight_ih_l0_reverse` (V, G·H).
 */
export function paramTable(s: ModelSpec): ParamTable {
  const G = gatesOf(s.cell), H = s.H, L = layersOf(s), D = directionsOf(s);
  const t: ParamTable = [];
  if (s.E > 0) t.push(['Wemb', [s.V, s.E]]); //            (V, E) token embeddings
  for (let l = 0; l < L; l++) {
    for (let d = 0; d < D; d++) {
      const n = layerNames(s.cell, l, d === 1);
      if (l > 0) t.push([n.Wih, [G * H, D * H]]); //        (G·H, D·H) input: the layer below's output
      else if (s.E > 0) t.push([n.Wih, [G * H, s.E]]); //   (G·H, E)
      else t.push([n.Wih, [s.V, G * H]]); //                (V, G·H) transposed: row v is token v's column
      t.push([n.Whh, [G * H, H]]); //                       (G·H, H)
      t.push([n.bih, [G * H]]);
      if (n.bhh) t.push([n.bhh, [G * H]]);
    }
  }
  if (s.adaptive) {
    // PyTorch's names: head (shortlist + clusters, H); tail i: a projection then the cluster's outputs, no biases.
    const a = adaptiveShape(s);
    t.push(['head.weight', [a.headSize, H]]);
    if (s.adaptive.headBias) t.push(['head.bias', [a.headSize]]);
    a.clusters.forEach((c, i) => {
      t.push([`tail.${i}.0.weight`, [c.hsz, H]]);
      t.push([`tail.${i}.1.weight`, [c.size, c.hsz]]);
    });
    return t;
  }
  if (s.tieWeights) {
    // Tied: the output weight IS Wemb (one tensor, above); with E ≠ H the state is projected to E first.
    if (s.E !== H) t.push(['Wproj', [s.E, H]]); //            (E, H)
  } else {
    t.push(['Wya', [s.C, headWidth(s)]]); //                 (C, D·H) output layer, on the top layer's output (3·D·H: meanmax pooling)
  }
  t.push(['by', [s.C]]); //                                  (C)
  return t;
}

/** One tail cluster of the adaptive softmax: tokens [lo, lo + size), through a projection to hsz. */
export interface AdaptiveCluster { lo: number; size: number; hsz: number }

/** The adaptive softmax's sizes: the shortlist, the head's outputs (shortlist + one per cluster), the clusters. */
export function adaptiveShape(s: ModelSpec): { shortlist: number; headSize: number; clusters: AdaptiveCluster[] } {
  const a = s.adaptive!, cut = [...a.cutoffs, s.C];
  const clusters = a.cutoffs.map((lo, i) => ({ lo, size: cut[i + 1] - lo, hsz: Math.floor(s.H / Math.pow(a.divValue, i + 1)) }));
  return { shortlist: cut[0], headSize: cut[0] + clusters.length, clusters };
}

export function checkSpec(s: ModelSpec): void {
  const bad = (what: string, v: unknown) => {
    throw new Error(`ModelSpec: ${what} must be a positive integer, got ${String(v)}`);
  };
  if (!CELLS.includes(s.cell)) throw new Error(`ModelSpec: cell must be one of ${CELLS.map((c) => `"${c}"`).join(', ')}, got ${JSON.stringify(s.cell)}`);
  if (s.task !== 'many-to-one' && s.task !== 'many-to-many' && s.task !== 'tagging') {
    throw new Error(`ModelSpec: task must be "many-to-one", "many-to-many" or "tagging", got ${JSON.stringify(s.task)}`);
  }
  for (const k of ['V', 'H', 'C'] as const) if (!Number.isInteger(s[k]) || s[k] < 1) bad(k, s[k]);
  if (s.layers !== undefined && (!Number.isInteger(s.layers) || s.layers < 1)) bad('layers', s.layers);
  if (!Number.isInteger(s.E) || s.E < 0) throw new Error(`ModelSpec: E must be 0 (one-hot) or a positive integer, got ${s.E}`);
  if (s.task === 'many-to-many' && s.C !== s.V) throw new Error(`ModelSpec: many-to-many predicts tokens, so C must equal V (C=${s.C}, V=${s.V})`);
  if (s.bidirectional !== undefined && typeof s.bidirectional !== 'boolean') throw new Error(`ModelSpec: bidirectional must be a boolean, got ${String(s.bidirectional)}`);
  // A language model predicts token t+1 from tokens up to t: a reverse direction would read the target.
  if (s.pooling !== undefined && !POOLINGS.includes(s.pooling)) throw new Error(`ModelSpec: pooling must be one of ${POOLINGS.map((x) => `"${x}"`).join(', ')}, got ${JSON.stringify(s.pooling)}`);
  if (s.pooling !== undefined && s.pooling !== 'last' && s.task !== 'many-to-one') throw new Error('ModelSpec: pooling applies to a classifier (many-to-one), which reads one vector per sequence');
  if (s.bidirectional && s.task === 'many-to-many') throw new Error('ModelSpec: a language model (many-to-many) cannot be bidirectional: its reverse direction would read the very tokens it predicts');
  const lm = s.task === 'many-to-many';
  if (s.tieWeights) {
    if (!lm) throw new Error('ModelSpec: tieWeights needs a language model (many-to-many): a classifier\'s output weight (C, H) has a row per class, not per token, so there is nothing to share it with');
    if (s.E === 0) throw new Error('ModelSpec: tieWeights needs an embedding input (E > 0): a one-hot input has no embedding table to share with the output layer');
    if (s.adaptive) throw new Error('ModelSpec: tieWeights and adaptive cannot be combined (the adaptive softmax has no (V, ·) output weight to tie)');
  }
  if (s.adaptive) {
    if (!lm) throw new Error('ModelSpec: adaptive softmax needs a language model (many-to-many); a classifier\'s few classes need none');
    const { cutoffs, divValue, headBias } = s.adaptive;
    const sorted = Array.isArray(cutoffs) && cutoffs.length > 0 && cutoffs.every((c, i) => Number.isInteger(c) && c > 0 && c < s.C && (i === 0 || c > cutoffs[i - 1]));
    if (!sorted) throw new Error(`ModelSpec: adaptive cutoffs must be a non-empty increasing list of integers in [1, V-1] (V=${s.C}), got ${JSON.stringify(cutoffs)}`);
    if (!(typeof divValue === 'number' && divValue > 0 && Number.isFinite(divValue))) throw new Error(`ModelSpec: adaptive divValue must be a number > 0, got ${String(divValue)}`);
    if (typeof headBias !== 'boolean') throw new Error(`ModelSpec: adaptive headBias must be true or false, got ${String(headBias)}`);
    const thin = adaptiveShape(s).clusters.findIndex((c) => c.hsz < 1);
    if (thin >= 0) throw new Error(`ModelSpec: adaptive tail cluster ${thin} projects H=${s.H} to ⌊H / divValue^${thin + 1}⌋ = 0 units: use fewer cutoffs, a smaller divValue or a larger H`);
  }
}
