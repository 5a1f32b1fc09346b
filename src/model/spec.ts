// The model's shape, and the table of its parameters from which the flat arena is built.

export type Task = 'many-to-one' | 'many-to-many';
export type Cell = 'rnn' | 'lstm' | 'gru';
export const CELLS: readonly Cell[] = ['rnn', 'lstm', 'gru'];

export interface ModelSpec {
  /** Recurrent cell: the vanilla (Elman) tanh RNN, LSTM or GRU (PyTorch's equations and gate layouts). */
  cell: Cell;
  /** many-to-one: a label per sequence, from the top layer's state at its last real token; many-to-many: a target per step. */
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
   * Tied weights (Press & Wolf 2017; language models with an embedding only): the output layer
   * reads Wemb (V, E) as its weight, so logits = Wemb·h + by (E = H) or Wemb·(Wproj·h) + by with
   * a projection Wproj (E, H) (E ≠ H). Absent: false.
   */
  tieWeights?: boolean;
  /** Adaptive softmax output layer (Grave et al. 2017; language models only); absent: the full softmax. */
  adaptive?: AdaptiveSpec;
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

/** Gate blocks stacked in a cell's weights: 1 rnn, 3 gru (r, z, n), 4 lstm (i, f, g, o). */
export function gatesOf(cell: Cell): number {
  return cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
}

export function layersOf(s: ModelSpec): number {
  return s.layers ?? 1;
}

/** Values of one row's carried state: every layer's h, then its c for the LSTM. */
export function stateSize(s: ModelSpec): number {
  return layersOf(s) * (s.cell === 'lstm' ? 2 : 1) * s.H;
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
export function layerNames(cell: Cell, l: number): LayerNames {
  if (cell === 'rnn' && l === 0) return { Wih: 'Wax', Whh: 'Waa', bih: 'ba', bhh: null };
  return { Wih: `weight_ih_l${l}`, Whh: `weight_hh_l${l}`, bih: `bias_ih_l${l}`, bhh: `bias_hh_l${l}` };
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
 */
export function paramTable(s: ModelSpec): ParamTable {
  const G = gatesOf(s.cell), H = s.H, L = layersOf(s);
  const t: ParamTable = [];
  if (s.E > 0) t.push(['Wemb', [s.V, s.E]]); //            (V, E) token embeddings
  for (let l = 0; l < L; l++) {
    const n = layerNames(s.cell, l);
    if (l > 0) t.push([n.Wih, [G * H, H]]); //              (G·H, H) input: the layer below's states
    else if (s.E > 0) t.push([n.Wih, [G * H, s.E]]); //     (G·H, E)
    else t.push([n.Wih, [s.V, G * H]]); //                  (V, G·H) transposed: row v is token v's column
    t.push([n.Whh, [G * H, H]]); //                         (G·H, H)
    t.push([n.bih, [G * H]]);
    if (n.bhh) t.push([n.bhh, [G * H]]);
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
    t.push(['Wya', [s.C, H]]); //                            (C, H) output layer, on the top layer's state
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
  if (s.task !== 'many-to-one' && s.task !== 'many-to-many') {
    throw new Error(`ModelSpec: task must be "many-to-one" or "many-to-many", got ${JSON.stringify(s.task)}`);
  }
  for (const k of ['V', 'H', 'C'] as const) if (!Number.isInteger(s[k]) || s[k] < 1) bad(k, s[k]);
  if (s.layers !== undefined && (!Number.isInteger(s.layers) || s.layers < 1)) bad('layers', s.layers);
  if (!Number.isInteger(s.E) || s.E < 0) throw new Error(`ModelSpec: E must be 0 (one-hot) or a positive integer, got ${s.E}`);
  if (s.task === 'many-to-many' && s.C !== s.V) throw new Error(`ModelSpec: many-to-many predicts tokens, so C must equal V (C=${s.C}, V=${s.V})`);
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
