// The `js` backend: the reference kernels, in plain JavaScript, for float32 (training without a
// compiled backend) and float64 (the finite-difference gradient checks). Sums run in float64
// (JavaScript numbers) and round once per stored value.

import {
  adamStepJs, sgdStepJs, sumSlotsJs, sumSlotRowsJs, zeroRowsJs, sumSlotsAdamJs, sumSlotRowsAdamJs, adamUnmarkedJs,
  type Float, type AdamConsts,
} from '../kernels.js';
import { Epi, type Kernels } from './types.js';

/** K is summed in chunks of this many, so the panels of A and B in use stay in cache. */
const KC = 256;

export class JsKernels implements Kernels {
  readonly name = 'js' as const;
  readonly isa: string;
  private readonly F: Float32ArrayConstructor | Float64ArrayConstructor;

  constructor(readonly dtype: 'float32' | 'float64' = 'float32') {
    this.F = dtype === 'float64' ? Float64Array : Float32Array;
    this.isa = dtype;
  }

  // The update's kernels: kernels.ts's JavaScript twins (of the compiled ones' bits).
  adamStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: number, n: number, c: AdamConsts): void { adamStepJs(p, g, m, v, o, n, c); }
  sgdStep(p: Float32Array, g: Float32Array, b: Float32Array, o: number, n: number, scale: number, momentum: number, lr: number, wd: number): void {
    sgdStepJs(p, g, b, o, n, scale, momentum, lr, wd);
  }
  sumSlots(dst: Float32Array, dOff: number, slots: Float32Array[], S: number, sOff: number, n: number): number { return sumSlotsJs(dst, dOff, slots, S, sOff, n); }
  sumSlotRows(dst: Float32Array, slots: Float32Array[], S: number, rows: Int32Array, n: number, width: number, sq0: number): number {
    return sumSlotRowsJs(dst, slots, S, rows, n, width, sq0);
  }
  zeroRows(dst: Float32Array, rows: Int32Array, n: number, width: number): void { zeroRowsJs(dst, rows, n, width); }
  sumSlotsAdam(p: Float32Array, m: Float32Array, v: Float32Array, o: number, n: number, slots: Float32Array[], S: number, c: AdamConsts): number {
    return sumSlotsAdamJs(p, m, v, o, n, slots, S, c);
  }
  sumSlotRowsAdam(p: Float32Array, m: Float32Array, v: Float32Array, slots: Float32Array[], S: number, rows: Int32Array, n: number, width: number, sq0: number, c: AdamConsts): number {
    return sumSlotRowsAdamJs(p, m, v, slots, S, rows, n, width, sq0, c);
  }
  adamUnmarked(p: Float32Array, m: Float32Array, v: Float32Array, mark: Int32Array, r0: number, r1: number, width: number, c: AdamConsts): void {
    adamUnmarkedJs(p, m, v, mark, r0, r1, width, c);
  }

  floats(n: number): Float { return new this.F(n); }
  ints(n: number): Int32Array { return new Int32Array(n); }

  // Packed = Bᵀ, rows contiguous: every product then reads both operands along k.
  packedSize(K: number, N: number): number { return K * N; }
  packB(dst: Float, b: Float, bo: number, rsB: number, csB: number, K: number, N: number): void {
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) dst[n * K + k] = b[bo + k * rsB + n * csB];
  }
  gemmPacked(c: Float, co: number, ldc: number, a: Float, ao: number, rsA: number, csA: number, bp: Float,
    M: number, N: number, K: number, beta: 0 | 1, bias: Float | null, epi: Epi): void {
    this.gemm(c, co, ldc, a, ao, rsA, csA, bp, 0, 1, K, M, N, K, beta, bias, epi);
  }

  gemm(c: Float, co: number, ldc: number, a: Float, ao: number, rsA: number, csA: number,
    b: Float, bo: number, rsB: number, csB: number, M: number, N: number, K: number,
    beta: 0 | 1, bias: Float | null, epi: Epi): void {
    // At least one block, so that K = 0 still sets C to zero when beta is 0.
    let k0 = 0;
    do {
      blockProduct(c, co, ldc, a, ao + k0 * csA, rsA, csA, b, bo + k0 * rsB, rsB, csB, M, N, Math.min(KC, K - k0), beta === 1 || k0 > 0);
      k0 += KC;
    } while (k0 < K);
    if (bias === null && epi === Epi.None) return;
    for (let m = 0; m < M; m++) {
      const o = co + m * ldc;
      if (bias) for (let n = 0; n < N; n++) c[o + n] += bias[n];
      if (epi === Epi.Tanh) for (let n = 0; n < N; n++) c[o + n] = Math.tanh(c[o + n]);
    }
  }

  tanhBackward(dz: Float, dzo: number, da: Float, dao: number, a: Float, ao: number, n: number): void {
    for (let i = 0; i < n; i++) {
      const y = a[ao + i];
      dz[dzo + i] = da[dao + i] * (1 - y * y);
    }
  }
  addTo(y: Float, yo: number, x: Float, xo: number, n: number): void {
    for (let i = 0; i < n; i++) y[yo + i] += x[xo + i];
  }
  mulInPlace(x: Float, xo: number, m: Float, mo: number, n: number): void {
    for (let i = 0; i < n; i++) x[xo + i] *= m[mo + i];
  }
  sumRowNorms(x: Float, xo: number, ldx: number, rows: number, N: number): number {
    let s = 0;
    for (let r = 0; r < rows; r++) {
      let q = 0;
      for (let n = 0, o = xo + r * ldx; n < N; n++) q += x[o + n] * x[o + n];
      s += Math.sqrt(q);
    }
    return s;
  }
  gatherRows(out: Float, oo: number, ldo: number, table: Float, ldt: number, ids: Int32Array, io: number, idStride: number,
    rows: number, N: number, acc: boolean): void {
    for (let r = 0; r < rows; r++) {
      const src = ids[io + r * idStride] * ldt, o = oo + r * ldo;
      if (acc) for (let n = 0; n < N; n++) out[o + n] += table[src + n];
      else for (let n = 0; n < N; n++) out[o + n] = table[src + n];
    }
  }
  scatterAddRows(table: Float, ldt: number, src: Float, so: number, lds: number, ids: Int32Array, io: number, idStride: number,
    rows: number, N: number): void {
    for (let r = 0; r < rows; r++) {
      const dst = ids[io + r * idStride] * ldt, s = so + r * lds;
      for (let n = 0; n < N; n++) table[dst + n] += src[s + n];
    }
  }
  colSumAcc(db: Float, d: Float, doff: number, ldd: number, M: number, N: number): void {
    for (let m = 0; m < M; m++) {
      const o = doff + m * ldd;
      for (let n = 0; n < N; n++) db[n] += d[o + n];
    }
  }

  softmaxXent(x: Float, xo: number, ldx: number, rows: number, C: number, ys: Int32Array, yo: number,
    wt: Float, wo: number, am: Int32Array, ao: number, db: Float | null, grad: 0 | 1): number {
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const o = xo + r * ldx, w = wt[wo + r];
      if (w === 0) {
        am[ao + r] = -1;
        if (grad) x.fill(0, o, o + C);
        continue;
      }
      let m = x[o], best = 0;
      for (let c = 1; c < C; c++) if (x[o + c] > m) { m = x[o + c]; best = c; }
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(x[o + c] - m);
      const y = ys[yo + r];
      loss += w * (Math.log(s) + m - x[o + y]);
      am[ao + r] = best;
      const inv = 1 / s;
      if (!grad) {
        for (let c = 0; c < C; c++) x[o + c] = Math.exp(x[o + c] - m) * inv;
        continue;
      }
      for (let c = 0; c < C; c++) x[o + c] = w * (Math.exp(x[o + c] - m) * inv);
      x[o + y] -= w;
      if (db) for (let c = 0; c < C; c++) db[c] += x[o + c];
    }
    return loss;
  }
}

/**
 * C (+)= A·B over one K chunk, 4 rows × 4 columns per block (16 sums in registers, 8 loads per
 * 16 multiply-adds). Each sum runs over k in order, so a row's result does not depend on the rows
 * around it.
 */
function blockProduct(c: Float, co: number, ldc: number, a: Float, ao: number, rsA: number, csA: number,
  b: Float, bo: number, rsB: number, csB: number, M: number, N: number, K: number, acc: boolean): void {
  let m = 0;
  for (; m + 3 < M; m += 4) {
    const a0 = ao + m * rsA, a1 = a0 + rsA, a2 = a1 + rsA, a3 = a2 + rsA;
    let n = 0;
    for (; n + 3 < N; n += 4) {
      const b0 = bo + n * csB, b1 = b0 + csB, b2 = b1 + csB, b3 = b2 + csB;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let k = 0; k < K; k++) {
        const kb = k * rsB, ka = k * csA;
        const y0 = b[b0 + kb], y1 = b[b1 + kb], y2 = b[b2 + kb], y3 = b[b3 + kb];
        let x = a[a0 + ka];
        s00 += x * y0; s01 += x * y1; s02 += x * y2; s03 += x * y3;
        x = a[a1 + ka];
        s10 += x * y0; s11 += x * y1; s12 += x * y2; s13 += x * y3;
        x = a[a2 + ka];
        s20 += x * y0; s21 += x * y1; s22 += x * y2; s23 += x * y3;
        x = a[a3 + ka];
        s30 += x * y0; s31 += x * y1; s32 += x * y2; s33 += x * y3;
      }
      let o = co + m * ldc + n;
      if (acc) {
        c[o] += s00; c[o + 1] += s01; c[o + 2] += s02; c[o + 3] += s03; o += ldc;
        c[o] += s10; c[o + 1] += s11; c[o + 2] += s12; c[o + 3] += s13; o += ldc;
        c[o] += s20; c[o + 1] += s21; c[o + 2] += s22; c[o + 3] += s23; o += ldc;
        c[o] += s30; c[o + 1] += s31; c[o + 2] += s32; c[o + 3] += s33;
      } else {
        c[o] = s00; c[o + 1] = s01; c[o + 2] = s02; c[o + 3] = s03; o += ldc;
        c[o] = s10; c[o + 1] = s11; c[o + 2] = s12; c[o + 3] = s13; o += ldc;
        c[o] = s20; c[o + 1] = s21; c[o + 2] = s22; c[o + 3] = s23; o += ldc;
        c[o] = s30; c[o + 1] = s31; c[o + 2] = s32; c[o + 3] = s33;
      }
    }
    for (; n < N; n++) {
      const b0 = bo + n * csB;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const y = b[b0 + k * rsB], ka = k * csA;
        s0 += a[a0 + ka] * y; s1 += a[a1 + ka] * y; s2 += a[a2 + ka] * y; s3 += a[a3 + ka] * y;
      }
      const o = co + m * ldc + n;
      if (acc) { c[o] += s0; c[o + ldc] += s1; c[o + 2 * ldc] += s2; c[o + 3 * ldc] += s3; }
      else { c[o] = s0; c[o + ldc] = s1; c[o + 2 * ldc] = s2; c[o + 3 * ldc] = s3; }
    }
  }
  for (; m < M; m++) {
    const a0 = ao + m * rsA, o0 = co + m * ldc;
    for (let n = 0; n < N; n++) {
      const b0 = bo + n * csB;
      let s = 0;
      for (let k = 0; k < K; k++) s += a[a0 + k * csA] * b[b0 + k * rsB];
      if (acc) c[o0 + n] += s; else c[o0 + n] = s;
    }
  }
}
