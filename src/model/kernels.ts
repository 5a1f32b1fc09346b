// Numeric kernels: the only loops over raw matrix indices. Model code calls these and nothing
// else, so a SIMD WebAssembly version can replace this module without touching the model.
//
// Conventions (as in llm.c): outputs first, sizes last; matrices are row-major; every array
// argument has an element offset, so callers address time slices of a cache (`A + t*B*H`)
// without creating subarray objects inside the time loop. `acc` = accumulate into out (+=)
// rather than overwrite. Kernels work on Float32Array (training) and Float64Array (the float64
// gradient check); they never allocate.

export type Float = Float32Array | Float64Array;

/**
 * out[M,N] (+)= a[M,K] · w[N,K]ᵀ — every product in the model is written in this form (rows of w
 * are output units, as in a Linear layer), with transposes where needed, because dot products of
 * contiguous rows keep sums in registers. lda/ldw: row strides of a and w (default K).
 */
export function matmulABt(
  out: Float, oo: number, a: Float, ao: number, w: Float, wo: number,
  M: number, N: number, K: number, acc: boolean, lda = K, ldw = K,
): void {
  // Long sums (weight gradients sum over all T·B rows) go in chunks of K, so the panels of a and
  // w being multiplied stay in cache while every block reuses them.
  if (K > K_CHUNK) {
    for (let k0 = 0; k0 < K; k0 += K_CHUNK) {
      matmulABtPanel(out, oo, a, ao + k0, w, wo + k0, M, N, Math.min(K_CHUNK, K - k0), acc || k0 > 0, lda, ldw);
    }
  } else {
    matmulABtPanel(out, oo, a, ao, w, wo, M, N, K, acc, lda, ldw);
  }
}

const K_CHUNK = 512;

function matmulABtPanel(
  out: Float, oo: number, a: Float, ao: number, w: Float, wo: number,
  M: number, N: number, K: number, acc: boolean, lda: number, ldw: number,
): void {
  // 4 rows of a × 4 rows of w per block: 16 sums, 8 loads per 16 multiply-adds. Each sum runs
  // over k in order, so a row's result does not depend on the rows around it (padding invariance).
  let m = 0;
  for (; m + 3 < M; m += 4) {
    const a0 = ao + m * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
    let n = 0;
    for (; n + 3 < N; n += 4) {
      const w0 = wo + n * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let k = 0; k < K; k++) {
        const y0 = w[w0 + k], y1 = w[w1 + k], y2 = w[w2 + k], y3 = w[w3 + k];
        let x = a[a0 + k];
        s00 += x * y0; s01 += x * y1; s02 += x * y2; s03 += x * y3;
        x = a[a1 + k];
        s10 += x * y0; s11 += x * y1; s12 += x * y2; s13 += x * y3;
        x = a[a2 + k];
        s20 += x * y0; s21 += x * y1; s22 += x * y2; s23 += x * y3;
        x = a[a3 + k];
        s30 += x * y0; s31 += x * y1; s32 += x * y2; s33 += x * y3;
      }
      let o = oo + m * N + n;
      if (acc) {
        out[o] += s00; out[o + 1] += s01; out[o + 2] += s02; out[o + 3] += s03; o += N;
        out[o] += s10; out[o + 1] += s11; out[o + 2] += s12; out[o + 3] += s13; o += N;
        out[o] += s20; out[o + 1] += s21; out[o + 2] += s22; out[o + 3] += s23; o += N;
        out[o] += s30; out[o + 1] += s31; out[o + 2] += s32; out[o + 3] += s33;
      } else {
        out[o] = s00; out[o + 1] = s01; out[o + 2] = s02; out[o + 3] = s03; o += N;
        out[o] = s10; out[o + 1] = s11; out[o + 2] = s12; out[o + 3] = s13; o += N;
        out[o] = s20; out[o + 1] = s21; out[o + 2] = s22; out[o + 3] = s23; o += N;
        out[o] = s30; out[o + 1] = s31; out[o + 2] = s32; out[o + 3] = s33;
      }
    }
    for (; n < N; n++) {
      const w0 = wo + n * ldw;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const y = w[w0 + k];
        s0 += a[a0 + k] * y; s1 += a[a1 + k] * y; s2 += a[a2 + k] * y; s3 += a[a3 + k] * y;
      }
      const o = oo + m * N + n;
      if (acc) { out[o] += s0; out[o + N] += s1; out[o + 2 * N] += s2; out[o + 3 * N] += s3; }
      else { out[o] = s0; out[o + N] = s1; out[o + 2 * N] = s2; out[o + 3 * N] = s3; }
    }
  }
  for (; m < M; m++) {
    const a0 = ao + m * lda, o0 = oo + m * N;
    let n = 0;
    for (; n + 3 < N; n += 4) {
      const w0 = wo + n * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const x = a[a0 + k];
        s0 += x * w[w0 + k]; s1 += x * w[w1 + k]; s2 += x * w[w2 + k]; s3 += x * w[w3 + k];
      }
      if (acc) { out[o0 + n] += s0; out[o0 + n + 1] += s1; out[o0 + n + 2] += s2; out[o0 + n + 3] += s3; }
      else { out[o0 + n] = s0; out[o0 + n + 1] = s1; out[o0 + n + 2] = s2; out[o0 + n + 3] = s3; }
    }
    for (; n < N; n++) {
      const w0 = wo + n * ldw;
      let s = 0;
      for (let k = 0; k < K; k++) s += a[a0 + k] * w[w0 + k];
      if (acc) out[o0 + n] += s; else out[o0 + n] = s;
    }
  }
}

/** out[C,R] = a[R,C]ᵀ, in cache-sized tiles. */
export function transpose(out: Float, oo: number, a: Float, ao: number, R: number, C: number): void {
  const TILE = 32;
  for (let r0 = 0; r0 < R; r0 += TILE) {
    const r1 = Math.min(R, r0 + TILE);
    for (let c0 = 0; c0 < C; c0 += TILE) {
      const c1 = Math.min(C, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        const src = ao + r * C;
        for (let c = c0; c < c1; c++) out[oo + c * R + r] = a[src + c];
      }
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
