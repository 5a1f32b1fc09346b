// The small loops outside the compute backends: softmax and argmax over a row of logits, dropout
// masks, fills, and the streaming kernels of the update (optimizer steps, the sum of gradient
// slots). The products and the per-step elementwise work of the model are in backend/ (the
// Kernels interface, with js, wasm and native implementations).
//
// Conventions (as in llm.c): outputs first, sizes last; every array argument has an element
// offset, so callers address slices without creating subarray objects in a loop. They work on
// Float32Array (training) and Float64Array (the float64 gradient check); they never allocate.
//
// The streaming kernels (optimizer steps, the sum of gradient slots) run as SIMD WebAssembly
// (simd.wat) when their arrays share one SharedArena; their JavaScript versions here compute the
// same float32 operations in the same order, so either gives the same bits.

import { simdFor } from './simd.js';
import { memoryOf } from '../util/shared.js';
import { hashUniform } from '../util/prng.js';

export type Float = Float32Array | Float64Array;

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
  return sumSlotsJs(dst, dOff, slots, S, sOff, n);
}

/** sumSlots in JavaScript (the js backend's, and the reference of the compiled ones). */
export function sumSlotsJs(dst: Float32Array, dOff: number, slots: Float32Array[], S: number, sOff: number, n: number): number {
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
  return sumSlotRowsJs(dst, slots, S, rows, n, width, sq0);
}

export function sumSlotRowsJs(dst: Float32Array, slots: Float32Array[], S: number, rows: Int32Array, n: number, width: number, sq0: number): number {
  let sq = sq0;
  for (let i = 0; i < n; i++) sq += sumSlotsJs(dst, rows[i] * width, slots, S, rows[i] * width, width);
  return sq;
}

/** dst rows r in rows[0..n) (each `width` floats at r·width) set to zero. */
export function zeroRows(dst: Float32Array, rows: Int32Array, n: number, width: number): void {
  const k = simdFor(dst, rows);
  if (k) { k.zeroRows(dst.byteOffset, rows.byteOffset, n, width); return; }
  zeroRowsJs(dst, rows, n, width);
}

export function zeroRowsJs(dst: Float32Array, rows: Int32Array, n: number, width: number): void {
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
  if (k) {
    const at = 4 * o;
    k.adam(p.byteOffset + at, g.byteOffset + at, m.byteOffset + at, v.byteOffset + at, n, ...f32Consts(c));
    return;
  }
  adamStepJs(p, g, m, v, o, n, c);
}

export function adamStepJs(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: number, n: number, c: AdamConsts): void {
  const fc = f32Consts(c);
  for (let i = o, e = o + n; i < e; i++) adamElement(p, m, v, i, g[i], fc);
}

export type F32Consts = [scale: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number];

/** The Adam constants rounded to float32, in the order the SIMD kernels take them. */
export function f32Consts(c: AdamConsts): F32Consts {
  return [f32(c.scale), f32(c.b1), f32(c.c1), f32(c.b2), f32(c.c2), f32(c.stepSize), f32(c.sqrtBc2), f32(c.eps), f32(c.decay)];
}

/** One element of Adam with gradient g (the JavaScript twin of the SIMD lanes). */
function adamElement(p: Float32Array, m: Float32Array, v: Float32Array, i: number, g: number, [scale, b1, c1, b2, c2, stepSize, sqrtBc2, eps, decay]: F32Consts): void {
  const gi = f32(g * scale);
  const mi = (m[i] = f32(f32(b1 * m[i]) + f32(c1 * gi)));
  const vi = (v[i] = f32(f32(b2 * v[i]) + f32(f32(c2 * gi) * gi)));
  p[i] = f32(f32(p[i] * decay) - f32(f32(stepSize * mi) / f32(f32(f32(Math.sqrt(vi)) / sqrtBc2) + eps)));
}

/**
 * The slot sum and Adam fused (no clipping, so the factor is known before the sum): for elements
 * [o, o+n), g = Σ_k slots[k] in order (float32 adds, as sumSlots; S = 0: g = 0), then adamStep
 * with that g; returns Σ g² as sumSlots sums it. The same bits as sumSlots into a gradient, then
 * adamStep on it, with the gradient never written. SIMD when everything shares one memory.
 */
export function sumSlotsAdam(p: Float32Array, m: Float32Array, v: Float32Array, o: number, n: number, slots: Float32Array[], S: number, table: Int32Array, c: AdamConsts): number {
  const k = simdFor(p, m, v, table);
  if (k) return k.sumSlotsAdam(p.byteOffset + 4 * o, m.byteOffset + 4 * o, v.byteOffset + 4 * o, table.byteOffset, S, 4 * o, n, ...f32Consts(c));
  return sumSlotsAdamJs(p, m, v, o, n, slots, S, c);
}

export function sumSlotsAdamJs(p: Float32Array, m: Float32Array, v: Float32Array, o: number, n: number, slots: Float32Array[], S: number, c: AdamConsts): number {
  const fc = f32Consts(c);
  let l0 = 0, l1 = 0, l2 = 0, l3 = 0, tail = 0;
  const vend = o + (n & ~3);
  for (let i = o, e = o + n; i < e; i++) {
    let x = S > 0 ? slots[0][i] : 0;
    for (let j = 1; j < S; j++) x = f32(x + slots[j][i]);
    const lane = (i - o) & 3, sq = x * x;
    if (i >= vend) tail += sq;
    else if (lane === 0) l0 += sq;
    else if (lane === 1) l1 += sq;
    else if (lane === 2) l2 += sq;
    else l3 += sq;
    adamElement(p, m, v, i, x, fc);
  }
  return (l0 + l1 + (l2 + l3)) + tail;
}

/** sumSlotsAdam over whole token rows r in rows[0..n) (`width` elements at r·width); returns sq0 plus each row's Σ g², in list order. */
export function sumSlotRowsAdam(p: Float32Array, m: Float32Array, v: Float32Array, slots: Float32Array[], S: number, table: Int32Array, rows: Int32Array, n: number, width: number, sq0: number, c: AdamConsts): number {
  const k = simdFor(p, m, v, table);
  if (k && memoryOf(rows) === memoryOf(p)) return k.sumSlotRowsAdam(p.byteOffset, m.byteOffset, v.byteOffset, table.byteOffset, S, rows.byteOffset, n, width, sq0, ...f32Consts(c));
  if (k) {
    let sq = sq0;
    for (let i = 0; i < n; i++) sq += sumSlotsAdam(p, m, v, rows[i] * width, width, slots, S, table, c);
    return sq;
  }
  return sumSlotRowsAdamJs(p, m, v, slots, S, rows, n, width, sq0, c);
}

export function sumSlotRowsAdamJs(p: Float32Array, m: Float32Array, v: Float32Array, slots: Float32Array[], S: number, rows: Int32Array, n: number, width: number, sq0: number, c: AdamConsts): number {
  let sq = sq0;
  for (let i = 0; i < n; i++) sq += sumSlotsAdamJs(p, m, v, rows[i] * width, width, slots, S, c);
  return sq;
}

/**
 * Adam with a zero gradient on the token rows r in [r0, r1) with mark[r] = 0 (no slot touched
 * them): the bits of adamStep on a gradient that is zero there, without reading one.
 */
export function adamUnmarked(p: Float32Array, m: Float32Array, v: Float32Array, mark: Int32Array, r0: number, r1: number, width: number, c: AdamConsts): void {
  const k = simdFor(p, m, v, mark);
  if (k) { k.adamUnmarked(p.byteOffset, m.byteOffset, v.byteOffset, mark.byteOffset, r0, r1, width, ...f32Consts(c)); return; }
  adamUnmarkedJs(p, m, v, mark, r0, r1, width, c);
}

export function adamUnmarkedJs(p: Float32Array, m: Float32Array, v: Float32Array, mark: Int32Array, r0: number, r1: number, width: number, c: AdamConsts): void {
  const fc = f32Consts(c);
  for (let r = r0; r < r1; r++) if (mark[r] === 0) for (let i = r * width, e = i + width; i < e; i++) adamElement(p, m, v, i, 0, fc);
}

/** SGD with momentum buffer b and L2 decay wd on [o, o+n), in float32: b = (μ·b + g·scale) + wd·p;  p −= lr·b. */
export function sgdStep(p: Float32Array, g: Float32Array, b: Float32Array, o: number, n: number, scale: number, momentum: number, lr: number, wd: number): void {
  const k = simdFor(p, g, b);
  if (k) {
    const at = 4 * o;
    k.sgd(p.byteOffset + at, g.byteOffset + at, b.byteOffset + at, n, f32(scale), f32(momentum), f32(lr), f32(wd));
    return;
  }
  sgdStepJs(p, g, b, o, n, scale, momentum, lr, wd);
}

export function sgdStepJs(p: Float32Array, g: Float32Array, b: Float32Array, o: number, n: number, scale: number, momentum: number, lr: number, wd: number): void {
  const s = f32(scale), mu = f32(momentum), l = f32(lr), w = f32(wd);
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

export function fill(x: Float | Int32Array, o: number, n: number, v: number): void {
  // TypedArray.prototype.fill is a call into the runtime (about a thousand instructions): the hot
  // loops call this for a token row's few dozen values, or for none, every step.
  if (n > FILL_LOOP) x.fill(v, o, o + n);
  else for (let i = o, e = o + n; i < e; i++) x[i] = v;
}

/** Up to this many values, fill() stores them in a loop rather than calling TypedArray.fill. */
const FILL_LOOP = 16;

export function copy(dst: Float, dOff: number, src: Float, sOff: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dOff + i] = src[sOff + i];
}

/** x *= s */
export function scale(x: Float, o: number, n: number, s: number): void {
  for (let i = o, e = o + n; i < e; i++) x[i] *= s;
}

