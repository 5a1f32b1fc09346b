// Numeric kernels: the only loops over raw matrix indices. Model code calls these and nothing
// else, so a SIMD WebAssembly version can replace this module without touching the model.
//
// Conventions (as in llm.c): outputs first, sizes last; matrices are row-major; every array
// argument has an element offset, so callers address time slices of a cache (`A + t*B*H`)
// without creating subarray objects inside the time loop. `acc` = accumulate into out (+=)
// rather than overwrite. Kernels work on Float32Array (training) and Float64Array (the float64
// gradient check); they never allocate.
//
// The streaming kernels (optimizer steps, the sum of gradient slots) run as SIMD WebAssembly
// (simd.wat) when their arrays share one SharedArena; their JavaScript versions here compute the
// same float32 operations in the same order, so either gives the same bits.

import { simdFor } from './simd.js';
import { memoryOf } from '../util/shared.js';
import { hashUniform } from '../util/prng.js';

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

const f32 = Math.fround;

/**
 * Σ x[i]² over [o, o+n) in float64, summed in four lanes (element o+i into lane i mod 4) as the
 * SIMD sumSlots does: ((l0 + l1) + (l2 + l3)) + (the n mod 4 tail squares in order).
 */
export function sumSquares(x: Float, o: number, n: number): number {
  let l0 = 0, l1 = 0, l2 = 0, l3 = 0, tail = 0;
  const v = o + (n & ~3), e = o + n;
  let i = o;
  for (; i < v; i += 4) {
    const x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
    l0 += x0 * x0; l1 += x1 * x1; l2 += x2 * x2; l3 += x3 * x3;
  }
  for (; i < e; i++) tail += x[i] * x[i];
  return (l0 + l1 + (l2 + l3)) + tail;
}

/** Byte addresses of arrays in the shared memory that `table` lives in, for sumSlots. */
export function addressTable(table: Int32Array, arrays: Float32Array[]): void {
  for (let k = 0; k < arrays.length; k++) {
    if (memoryOf(arrays[k]) !== memoryOf(table)) throw new Error('addressTable: every array must live in the table\'s shared memory');
    table[k] = arrays[k].byteOffset;
  }
}

/**
 * dst[dOff+i] = Σ_k slots[k][sOff+i] over k = 0..S-1 in order (float32 adds), for i < n; returns
 * Σ dst² (as sumSquares sums it). `table` holds the slots' byte addresses (addressTable) when
 * they share dst's memory: then the SIMD kernel runs.
 */
export function sumSlots(dst: Float32Array, dOff: number, slots: Float32Array[], S: number, table: Int32Array | null, sOff: number, n: number): number {
  const k = table ? simdFor(dst, table) : null;
  if (k) return k.sumSlots(dst.byteOffset + 4 * dOff, table!.byteOffset, S, 4 * sOff, n);
  const s0 = slots[0];
  for (let i = 0; i < n; i++) {
    let x = s0[sOff + i];
    for (let j = 1; j < S; j++) x = f32(x + slots[j][sOff + i]);
    dst[dOff + i] = x;
  }
  return sumSquares(dst, dOff, n);
}

/**
 * sumSlots over whole rows: for r in rows[0..n), the `width` elements at r·width; returns sq0
 * plus each row's Σ dst², added in list order (the same float64 sum as `sq0 += sumSlots(row)` row
 * by row). One SIMD call for all rows when dst, the slots and `rows` share one memory.
 */
export function sumSlotRows(dst: Float32Array, slots: Float32Array[], S: number, table: Int32Array | null, rows: Int32Array, n: number, width: number, sq0 = 0): number {
  const k = table ? simdFor(dst, table, rows) : null;
  if (k) return k.sumSlotRows(dst.byteOffset, table!.byteOffset, S, rows.byteOffset, n, width, sq0);
  let sq = sq0;
  for (let i = 0; i < n; i++) sq += sumSlots(dst, rows[i] * width, slots, S, null, rows[i] * width, width);
  return sq;
}

/** dst rows r in rows[0..n) (each `width` floats at r·width) set to zero. */
export function zeroRows(dst: Float32Array, rows: Int32Array, n: number, width: number): void {
  const k = simdFor(dst, rows);
  if (k) { k.zeroRows(dst.byteOffset, rows.byteOffset, n, width); return; }
  for (let i = 0; i < n; i++) dst.fill(0, rows[i] * width, rows[i] * width + width);
}

/** Constants of one Adam step (optim.ts computes them from the hyperparameters and the step). */
export interface AdamConsts { scale: number; b1: number; c1: number; b2: number; c2: number; stepSize: number; sqrtBc2: number; eps: number; decay: number }

/**
 * Adam on elements [o, o+n), in float32:  g' = g·scale;  m = b1·m + c1·g';  v = b2·v + (c2·g')·g';
 * p = p·decay − (stepSize·m) / (√v / sqrtBc2 + eps). SIMD when p, g, m, v share a memory.
 */
export function adamStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: number, n: number, c: AdamConsts): void {
  const k = simdFor(p, g, m, v);
  const scale = f32(c.scale), b1 = f32(c.b1), c1 = f32(c.c1), b2 = f32(c.b2), c2 = f32(c.c2);
  const stepSize = f32(c.stepSize), sqrtBc2 = f32(c.sqrtBc2), eps = f32(c.eps), decay = f32(c.decay);
  if (k) {
    const at = 4 * o;
    k.adam(p.byteOffset + at, g.byteOffset + at, m.byteOffset + at, v.byteOffset + at, n, scale, b1, c1, b2, c2, stepSize, sqrtBc2, eps, decay);
    return;
  }
  for (let i = o, e = o + n; i < e; i++) {
    const gi = f32(g[i] * scale);
    const mi = (m[i] = f32(f32(b1 * m[i]) + f32(c1 * gi)));
    const vi = (v[i] = f32(f32(b2 * v[i]) + f32(f32(c2 * gi) * gi)));
    p[i] = f32(f32(p[i] * decay) - f32(f32(stepSize * mi) / f32(f32(f32(Math.sqrt(vi)) / sqrtBc2) + eps)));
  }
}

/** SGD with momentum buffer b and L2 decay wd on [o, o+n), in float32: b = (μ·b + g·scale) + wd·p;  p −= lr·b. */
export function sgdStep(p: Float32Array, g: Float32Array, b: Float32Array, o: number, n: number, scale: number, momentum: number, lr: number, wd: number): void {
  const k = simdFor(p, g, b);
  const s = f32(scale), mu = f32(momentum), l = f32(lr), w = f32(wd);
  if (k) {
    const at = 4 * o;
    k.sgd(p.byteOffset + at, g.byteOffset + at, b.byteOffset + at, n, s, mu, l, w);
    return;
  }
  for (let i = o, e = o + n; i < e; i++) {
    const bi = (b[i] = f32(f32(f32(mu * b[i]) + f32(g[i] * s)) + f32(w * p[i])));
    p[i] = f32(p[i] - f32(l * bi));
  }
}

/**
 * Inverted dropout: mask[o+j] = 1/(1−rate) with probability 1−rate, else 0, for j < n, drawn by
 * hashUniform(key, id, t, j) (the same mask for an example wherever it sits in a batch); then
 * x[xo+j] *= mask[o+j].
 */
export function dropout(x: Float, xo: number, mask: Float, o: number, n: number, rate: number, key: number, id: number, t: number): void {
  const keep = 1 / (1 - rate);
  for (let j = 0; j < n; j++) {
    const m = hashUniform(key, id, t, j) >= rate ? keep : 0;
    mask[o + j] = m;
    x[xo + j] *= m;
  }
}

/** x[xo+j] *= m[mo+j] (the backward of a dropout mask). */
export function mulInPlace(x: Float, xo: number, m: Float, mo: number, n: number): void {
  for (let j = 0; j < n; j++) x[xo + j] *= m[mo + j];
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
