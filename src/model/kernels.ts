// Numeric kernels: the only loops over raw matrix indices. Model code calls these and nothing
// else, so a SIMD WebAssembly version can replace this module without touching the model.
//
// Conventions (as in llm.c): outputs first, sizes last; matrices are row-major; every array
// argument has an element offset, so callers address time slices of a cache (`A + t*B*H`)
// without creating subarray objects inside the time loop. `acc` = accumulate into out (+=)
// rather than overwrite. Kernels work on Float32Array (training) and Float64Array (the float64
// gradient check); they never allocate.

export type Float = Float32Array | Float64Array;

/** out[M,N] (+)= a[M,K] · w[N,K]^T   (rows of w are the output units, as in a Linear layer) */
export function matmulABt(
  out: Float, oo: number, a: Float, ao: number, w: Float, wo: number,
  M: number, N: number, K: number, acc: boolean,
): void {
  // 2 rows of a × 4 rows of w per block: 8 accumulators, 6 loads per 8 multiply-adds.
  let m = 0;
  for (; m + 1 < M; m += 2) {
    const a0 = ao + m * K, a1 = a0 + K;
    const o0 = oo + m * N, o1 = o0 + N;
    let n = 0;
    for (; n + 3 < N; n += 4) {
      const w0 = wo + n * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = a[a0 + k], x1 = a[a1 + k];
        const y0 = w[w0 + k], y1 = w[w1 + k], y2 = w[w2 + k], y3 = w[w3 + k];
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
      }
      if (acc) {
        out[o0 + n] += s00; out[o0 + n + 1] += s01; out[o0 + n + 2] += s02; out[o0 + n + 3] += s03;
        out[o1 + n] += s10; out[o1 + n + 1] += s11; out[o1 + n + 2] += s12; out[o1 + n + 3] += s13;
      } else {
        out[o0 + n] = s00; out[o0 + n + 1] = s01; out[o0 + n + 2] = s02; out[o0 + n + 3] = s03;
        out[o1 + n] = s10; out[o1 + n + 1] = s11; out[o1 + n + 2] = s12; out[o1 + n + 3] = s13;
      }
    }
    for (; n < N; n++) {
      const w0 = wo + n * K;
      let s0 = 0, s1 = 0;
      for (let k = 0; k < K; k++) {
        const y = w[w0 + k];
        s0 += a[a0 + k] * y;
        s1 += a[a1 + k] * y;
      }
      if (acc) { out[o0 + n] += s0; out[o1 + n] += s1; } else { out[o0 + n] = s0; out[o1 + n] = s1; }
    }
  }
  for (; m < M; m++) {
    const a0 = ao + m * K, o0 = oo + m * N;
    for (let n = 0; n < N; n++) {
      const w0 = wo + n * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += a[a0 + k] * w[w0 + k];
      if (acc) out[o0 + n] += s; else out[o0 + n] = s;
    }
  }
}

/** out[M,N] (+)= a[M,K] · b[K,N] */
export function matmulAB(
  out: Float, oo: number, a: Float, ao: number, b: Float, bo: number,
  M: number, N: number, K: number, acc: boolean,
): void {
  for (let m = 0; m < M; m++) {
    const o0 = oo + m * N, a0 = ao + m * K;
    if (!acc) for (let n = 0; n < N; n++) out[o0 + n] = 0;
    let k = 0;
    // Four rows of b per pass: one read-modify-write of out per 4 multiply-adds.
    for (; k + 3 < K; k += 4) {
      const x0 = a[a0 + k], x1 = a[a0 + k + 1], x2 = a[a0 + k + 2], x3 = a[a0 + k + 3];
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0) continue; // masked (padded) rows are all zero
      const b0 = bo + k * N, b1 = b0 + N, b2 = b1 + N, b3 = b2 + N;
      for (let n = 0; n < N; n++) {
        out[o0 + n] += x0 * b[b0 + n] + x1 * b[b1 + n] + x2 * b[b2 + n] + x3 * b[b3 + n];
      }
    }
    for (; k < K; k++) {
      const x = a[a0 + k];
      if (x === 0) continue;
      const b0 = bo + k * N;
      for (let n = 0; n < N; n++) out[o0 + n] += x * b[b0 + n];
    }
  }
}

/** out[M,N] += a[K,M]^T · b[K,N]   (weight gradients: sum over the K rows of a batch) */
export function matmulAtBAcc(
  out: Float, oo: number, a: Float, ao: number, b: Float, bo: number,
  M: number, N: number, K: number,
): void {
  // Two rows of a/b per pass over out (out stays in cache; halves its read-modify-writes).
  let k = 0;
  for (; k + 1 < K; k += 2) {
    const a0 = ao + k * M, a1 = a0 + M, b0 = bo + k * N, b1 = b0 + N;
    for (let m = 0; m < M; m++) {
      const x0 = a[a0 + m], x1 = a[a1 + m];
      if (x0 === 0 && x1 === 0) continue;
      const o = oo + m * N;
      for (let n = 0; n < N; n++) out[o + n] += x0 * b[b0 + n] + x1 * b[b1 + n];
    }
  }
  for (; k < K; k++) {
    const a0 = ao + k * M, b0 = bo + k * N;
    for (let m = 0; m < M; m++) {
      const x = a[a0 + m];
      if (x === 0) continue;
      const o = oo + m * N;
      for (let n = 0; n < N; n++) out[o + n] += x * b[b0 + n];
    }
  }
}

/** out[m,:] += bias for m in [0, M) */
export function addBiasRows(out: Float, oo: number, bias: Float, M: number, N: number): void {
  for (let m = 0; m < M; m++) {
    const o = oo + m * N;
    for (let n = 0; n < N; n++) out[o + n] += bias[n];
  }
}

/** db[n] += Σ_m d[m,n] */
export function colSumAcc(db: Float, d: Float, doff: number, M: number, N: number): void {
  for (let m = 0; m < M; m++) {
    const o = doff + m * N;
    for (let n = 0; n < N; n++) db[n] += d[o + n];
  }
}

/** out[b,:] (+)= table[ids[b], :], for b with mask(b) — the gather that replaces a one-hot product. */
export function gatherRows(
  out: Float, oo: number, table: Float, ids: Int32Array, io: number, idStride: number,
  rows: number, N: number, acc: boolean,
): void {
  for (let b = 0; b < rows; b++) {
    const src = ids[io + b * idStride] * N;
    const o = oo + b * N;
    if (acc) for (let n = 0; n < N; n++) out[o + n] += table[src + n];
    else for (let n = 0; n < N; n++) out[o + n] = table[src + n];
  }
}

/** table[ids[b], :] += src[b, :] — the backward of gatherRows. */
export function scatterAddRows(
  table: Float, src: Float, so: number, ids: Int32Array, io: number, idStride: number,
  rows: number, N: number,
): void {
  for (let b = 0; b < rows; b++) {
    const dst = ids[io + b * idStride] * N;
    const s = so + b * N;
    for (let n = 0; n < N; n++) table[dst + n] += src[s + n];
  }
}

/** x = tanh(x), elementwise over n values. */
export function tanhInPlace(x: Float, o: number, n: number): void {
  for (let i = o, e = o + n; i < e; i++) x[i] = Math.tanh(x[i]);
}

/** dz = da · (1 − a²): the derivative of a = tanh(z), written through a. */
export function tanhBackward(dz: Float, dzo: number, da: Float, dao: number, a: Float, ao: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const y = a[ao + i];
    dz[dzo + i] = da[dao + i] * (1 - y * y);
  }
}

/**
 * Softmax cross-entropy over one row of logits, in place: logits[o..o+C) become probabilities,
 * returns −log p[target]. The gradient of that loss w.r.t. the logits is p − onehot(target).
 */
export function softmaxRow(x: Float, o: number, C: number): void {
  let max = -Infinity;
  for (let c = 0; c < C; c++) if (x[o + c] > max) max = x[o + c];
  let sum = 0;
  for (let c = 0; c < C; c++) {
    const e = Math.exp(x[o + c] - max);
    x[o + c] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let c = 0; c < C; c++) x[o + c] *= inv;
}

/** Index of the largest value in x[o..o+C). */
export function argmaxRow(x: Float, o: number, C: number): number {
  let best = 0;
  for (let c = 1; c < C; c++) if (x[o + c] > x[o + best]) best = c;
  return best;
}

/** Σ x[i]² over [o, o+n), in float64. */
export function sumSquares(x: Float, o: number, n: number): number {
  let s = 0;
  for (let i = o, e = o + n; i < e; i++) s += x[i] * x[i];
  return s;
}

export function fill(x: Float | Int32Array, o: number, n: number, v: number): void {
  x.fill(v, o, o + n);
}

export function copy(dst: Float, dOff: number, src: Float, sOff: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dOff + i] = src[sOff + i];
}

/** x *= s */
export function scale(x: Float, o: number, n: number, s: number): void {
  for (let i = o, e = o + n; i < e; i++) x[i] *= s;
}

/** y += x */
export function addTo(y: Float, yo: number, x: Float, xo: number, n: number): void {
  for (let i = 0; i < n; i++) y[yo + i] += x[xo + i];
}
