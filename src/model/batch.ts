// A batch: B sequences right-padded to length T, with their real lengths.
//   tokens[b*T + t]   token id of sequence b at step t (0 = <pad> beyond lengths[b])
//   lengths[b]        real length, 1..T
//   labels[b]         many-to-one: the class of sequence b
//   targets[b*T + t]  many-to-many: the target at step t (ignored beyond lengths[b])
//   ids[b]            the example's id in its split (dropout masks are drawn by it)
// Buffers are allocated once at a maximum size and reused; B and T say how much is in use.

export interface Batch {
  B: number;
  T: number;
  tokens: Int32Array;
  lengths: Int32Array;
  labels: Int32Array;
  targets: Int32Array;
  ids: Int32Array;
}

export function allocBatch(maxB: number, maxT: number): Batch {
  return {
    B: 0,
    T: 0,
    tokens: new Int32Array(maxB * maxT),
    lengths: new Int32Array(maxB),
    labels: new Int32Array(maxB),
    targets: new Int32Array(maxB * maxT),
    ids: new Int32Array(maxB),
  };
}

/** A batch from plain arrays (tests, prediction). Pads with 0. */
export function batchFrom(seqs: number[][], opts: { labels?: number[]; targets?: number[][]; T?: number; ids?: number[] } = {}): Batch {
  const B = seqs.length;
  const T = opts.T ?? Math.max(1, ...seqs.map((s) => s.length));
  const b = allocBatch(B, T);
  b.B = B;
  b.T = T;
  seqs.forEach((s, i) => {
    b.lengths[i] = s.length;
    b.ids[i] = opts.ids ? opts.ids[i] : i;
    for (let t = 0; t < s.length && t < T; t++) b.tokens[i * T + t] = s[t];
    if (opts.targets) for (let t = 0; t < opts.targets[i].length && t < T; t++) b.targets[i * T + t] = opts.targets[i][t];
  });
  if (opts.labels) b.labels.set(opts.labels);
  return b;
}
