// The model's shape, and the table of its parameters from which the flat arena is built.

export type Task = 'many-to-one' | 'many-to-many';
export type Cell = 'rnn';

export interface ModelSpec {
  /** Recurrent cell. Only the vanilla (Elman) tanh RNN for now. */
  cell: Cell;
  /** many-to-one: a label per sequence, from the state at its last real token; many-to-many: a target per step. */
  task: Task;
  /** Vocabulary size V (token ids are 0..V-1; id 0 is padding). */
  V: number;
  /** Hidden size H. */
  H: number;
  /** Number of classes C (for many-to-many language modelling, C = V). */
  C: number;
  /** Embedding width E; 0 means one-hot input (Wax·x_t is then a gather of token x_t's column). */
  E: number;
}

export type ParamShape = number[];
export type ParamTable = Array<[name: string, shape: ParamShape]>;

/**
 * The parameters of the classic derivation:
 *   a_t = tanh(Waa·a_{t-1} + Wax·x_t + ba),  ŷ = softmax(Wya·a + by)
 * With one-hot input, Wax (H×V) is stored transposed as (V, H): the column of token v is then the
 * contiguous row v, and Wax·x_t is a row gather. With an embedding, x_t = Wemb[token] (E) and Wax
 * is (H, E) as in PyTorch's weight_ih.
 */
export function paramTable(s: ModelSpec): ParamTable {
  const t: ParamTable = [];
  if (s.E > 0) {
    t.push(['Wemb', [s.V, s.E]]); // (V, E) token embeddings
    t.push(['Wax', [s.H, s.E]]); //  (H, E)
  } else {
    t.push(['Wax', [s.V, s.H]]); //  (V, H) = Wax transposed: row v is Wax's column for token v
  }
  t.push(['Waa', [s.H, s.H]]); //    (H, H)
  t.push(['ba', [s.H]]); //          (H)
  t.push(['Wya', [s.C, s.H]]); //    (C, H)
  t.push(['by', [s.C]]); //          (C)
  return t;
}

export function checkSpec(s: ModelSpec): void {
  const bad = (what: string, v: unknown) => {
    throw new Error(`ModelSpec: ${what} must be a positive integer, got ${String(v)}`);
  };
  if (s.cell !== 'rnn') throw new Error(`ModelSpec: cell must be "rnn", got ${JSON.stringify(s.cell)}`);
  if (s.task !== 'many-to-one' && s.task !== 'many-to-many') {
    throw new Error(`ModelSpec: task must be "many-to-one" or "many-to-many", got ${JSON.stringify(s.task)}`);
  }
  for (const k of ['V', 'H', 'C'] as const) if (!Number.isInteger(s[k]) || s[k] < 1) bad(k, s[k]);
  if (!Number.isInteger(s.E) || s.E < 0) throw new Error(`ModelSpec: E must be 0 (one-hot) or a positive integer, got ${s.E}`);
  if (s.task === 'many-to-many' && s.C !== s.V) throw new Error(`ModelSpec: many-to-many predicts tokens, so C must equal V (C=${s.C}, V=${s.V})`);
}
