// Adapts a byte-addressed RawKernels (wasm, native) to the typed-array Kernels the model calls:
// an array plus an element offset becomes one byte offset into the run's memory. Every array
// handed to these kernels must live in that memory: the workspace comes from floats()/ints(), and
// parameters, gradients and slots are allocated in the same arena (checkArrays says so early).

import { f32Consts, type Float, type AdamConsts } from '../kernels.js';
import { NONE, type Epi, type InflowArgs, type RawKernels, type RawFactory } from './raw.js';
import type { BackendName, Inflow, Kernels } from './types.js';
import { memoryOf, type SharedArena } from '../../util/shared.js';

export class AddressedKernels implements Kernels {
  readonly dtype = 'float32' as const;
  readonly isa: string;
  private readonly raw: RawKernels;
  /** The slots' byte addresses for the slot sums (raw.ts: a slot table), in the memory; grown once if more slots come. */
  private table: Int32Array | null = null;

  /** bf16: train.precision "bf16" (the raw kernels must have gemmBf16). */
  constructor(readonly name: BackendName, factory: RawFactory, private readonly arena: SharedArena, bf16 = false) {
    const scratch = factory.scratchBytes > 0 ? arena.float32(Math.ceil(factory.scratchBytes / 4)).byteOffset : 0;
    this.raw = factory.create(arena.memory, scratch);
    this.isa = this.raw.isa;
    const raw = this.raw;
    if (bf16) {
      if (!raw.gemmBf16) throw new Error(`${name} kernels at ${this.isa}: no bf16 product here (train.precision "bf16" needs native avx512 with AVX512-BF16)`);
      this.gemmBf16 = (c, co, ldc, a, ao, rsA, csA, b, bo, rsB, csB, M, N, K, beta, bias) =>
        raw.gemmBf16!(c.byteOffset + 4 * co, ldc, a.byteOffset + 4 * ao, rsA, csA, b.byteOffset + 4 * bo, rsB, csB, M, N, K, beta, bias ? bias.byteOffset : NONE);
    }
    // The cells' time loops (native): R, the lengths and the profile go through tables in the memory.
    const a = (x: Float) => x.byteOffset;
    if (raw.rnnSteps && raw.rnnStepsBackward) {
      this.rnnSteps = (h, Wf, bias, R, B, T, H) => raw.rnnSteps!(a(h), a(Wf), a(bias), this.steps(R, T), B, T, H);
      this.rnnStepsBackward = (dG, dh, h, Wb, R, B, T, H, f) =>
        this.flowing(R, B, T, H, f, (...x) => raw.rnnStepsBackward!(a(dG), a(dh), a(h), a(Wb), ...x));
    }
    if (raw.lstmSteps && raw.lstmStepsBackward) {
      this.lstmSteps = (g, h, c, Wf, bias, R, B, T, H) => raw.lstmSteps!(a(g), a(h), a(c), a(Wf), a(bias), this.steps(R, T), B, T, H);
      this.lstmStepsBackward = (dG, dh, dc, g, c, Wb, R, B, T, H, f) =>
        this.flowing(R, B, T, H, f, (...x) => raw.lstmStepsBackward!(a(dG), a(dh), a(dc), a(g), a(c), a(Wb), ...x));
    }
    if (raw.gruSteps && raw.gruStepsBackward) {
      this.gruSteps = (gi, gh, h, Wf, bhh, bih, R, B, T, H) =>
        raw.gruSteps!(a(gi), a(gh), a(h), a(Wf), bhh ? a(bhh) : NONE, a(bih), this.steps(R, T), B, T, H);
      this.gruStepsBackward = (dgi, dgh, dh, gi, gh, h, Wb, R, B, T, H, f) =>
        this.flowing(R, B, T, H, f, (...x) => raw.gruStepsBackward!(a(dgi), a(dgh), a(dh), a(gi), a(gh), a(h), a(Wb), ...x));
    }
  }

  readonly gemmBf16?: Kernels['gemmBf16'];
  readonly rnnSteps?: Kernels['rnnSteps'];
  readonly lstmSteps?: Kernels['lstmSteps'];
  readonly gruSteps?: Kernels['gruSteps'];
  readonly rnnStepsBackward?: Kernels['rnnStepsBackward'];
  readonly lstmStepsBackward?: Kernels['lstmStepsBackward'];
  readonly gruStepsBackward?: Kernels['gruStepsBackward'];
  /** The time loops' R and lengths (int32) and profile (float64), copied into the memory; grown once in a while. */
  private seqInts: Int32Array | null = null;
  private seqNorms: Float64Array | null = null;

  /** R[0..T] at 0 and, when given, lengths[0..B) at T+1, in the memory: the time loops' tables. */
  private tables(R: Int32Array, T: number, lengths: Int32Array | null, B: number): Int32Array {
    const n = T + 1 + (lengths ? B : 0);
    if (!this.seqInts || this.seqInts.length < n) this.seqInts = this.arena.int32(Math.max(n, 1024));
    const x = this.seqInts;
    x.set(R.subarray(0, T + 1));
    if (lengths) x.set(lengths.subarray(0, B), T + 1);
    return x;
  }

  /** R's address in the memory, for a forward time loop. */
  private steps(R: Int32Array, T: number): number {
    return this.tables(R, T, null, 0).byteOffset;
  }

  /** A backward time loop: `run` with R and the inflow as the raw kernels take them; then the profile back into f. */
  private flowing(R: Int32Array, B: number, T: number, H: number, f: Inflow, run: (R: number, ...inflow: InflowArgs) => void): void {
    const x = this.tables(R, T, f.lengths, B), ext = f.ext;
    if (ext.length > 2) throw new Error(`the time loops take at most two time-major gradients, not ${ext.length}`);
    let norms: Float64Array | null = null;
    if (f.normSum) {
      if (!this.seqNorms || this.seqNorms.length < 2 * T) {
        const w = this.arena.float32(4 * Math.max(T, 256)); // 64-byte aligned: a float64 view fits
        this.seqNorms = new Float64Array(w.buffer, w.byteOffset, w.length / 2);
      }
      norms = this.seqNorms;
    }
    run(x.byteOffset, x.byteOffset + 4 * (T + 1), f.last ? f.last.byteOffset : NONE, f.lastStride,
      ext.length > 0 ? ext[0].byteOffset : NONE, ext.length > 1 ? ext[1].byteOffset : NONE, norms ? norms.byteOffset : NONE, B, T, H, f.window);
    if (norms) {
      f.normSum!.set(norms.subarray(0, T));
      f.normCount!.set(norms.subarray(T, 2 * T));
    }
  }

  floats(n: number): Float32Array { return this.arena.float32(n); }
  ints(n: number): Int32Array { return this.arena.int32(n); }

  /** Throws unless every array lives in this backend's memory (a wrong one would be read at a wrong address). */
  checkArrays(...arrays: ArrayBufferView[]): void {
    for (const x of arrays) {
      if (memoryOf(x) !== this.arena.memory) throw new Error(`${this.name} kernels: an array outside the run's shared memory was passed (allocate it from the parameters' arena)`);
    }
  }

  packedSize(K: number, N: number): number { return Math.ceil(this.raw.packedBytes(K, N) / 4); }
  packB(dst: Float, b: Float, bo: number, rsB: number, csB: number, K: number, N: number): void {
    this.raw.packB(dst.byteOffset, b.byteOffset + 4 * bo, rsB, csB, K, N);
  }
  gemm(c: Float, co: number, ldc: number, a: Float, ao: number, rsA: number, csA: number,
    b: Float, bo: number, rsB: number, csB: number, M: number, N: number, K: number,
    beta: 0 | 1, bias: Float | null, epi: Epi): void {
    this.raw.gemm(c.byteOffset + 4 * co, ldc, a.byteOffset + 4 * ao, rsA, csA, b.byteOffset + 4 * bo, rsB, csB,
      M, N, K, beta, bias ? bias.byteOffset : NONE, epi);
  }
  gemmPacked(c: Float, co: number, ldc: number, a: Float, ao: number, rsA: number, csA: number, bp: Float,
    M: number, N: number, K: number, beta: 0 | 1, bias: Float | null, epi: Epi): void {
    this.raw.gemmPacked(c.byteOffset + 4 * co, ldc, a.byteOffset + 4 * ao, rsA, csA, bp.byteOffset, M, N, K, beta, bias ? bias.byteOffset : NONE, epi);
  }
  tanhBackward(dz: Float, dzo: number, da: Float, dao: number, a: Float, ao: number, n: number): void {
    this.raw.tanhBackward(dz.byteOffset + 4 * dzo, da.byteOffset + 4 * dao, a.byteOffset + 4 * ao, n);
  }
  addTo(y: Float, yo: number, x: Float, xo: number, n: number): void {
    this.raw.addTo(y.byteOffset + 4 * yo, x.byteOffset + 4 * xo, n);
  }
  mulInPlace(x: Float, xo: number, m: Float, mo: number, n: number): void {
    this.raw.mulInPlace(x.byteOffset + 4 * xo, m.byteOffset + 4 * mo, n);
  }
  sumRowNorms(x: Float, xo: number, ldx: number, rows: number, N: number): number {
    return this.raw.sumRowNorms(x.byteOffset + 4 * xo, ldx, rows, N);
  }
  gatherRows(out: Float, oo: number, ldo: number, table: Float, ldt: number, ids: Int32Array, io: number, idStride: number,
    rows: number, N: number, acc: boolean): void {
    this.raw.gatherRows(out.byteOffset + 4 * oo, ldo, table.byteOffset, ldt, ids.byteOffset + 4 * io, idStride, rows, N, acc ? 1 : 0);
  }
  scatterAddRows(table: Float, ldt: number, src: Float, so: number, lds: number, ids: Int32Array, io: number, idStride: number,
    rows: number, N: number): void {
    this.raw.scatterAddRows(table.byteOffset, ldt, src.byteOffset + 4 * so, lds, ids.byteOffset + 4 * io, idStride, rows, N);
  }
  colSumAcc(db: Float, d: Float, doff: number, ldd: number, M: number, N: number): void {
    this.raw.colSumAcc(db.byteOffset, d.byteOffset + 4 * doff, ldd, M, N);
  }

  softmaxXent(x: Float, xo: number, ldx: number, rows: number, C: number, ys: Int32Array, yo: number,
    wt: Float, wo: number, am: Int32Array, ao: number, db: Float | null, grad: 0 | 1): number {
    return this.raw.softmaxXent(x.byteOffset + 4 * xo, ldx, rows, C, ys.byteOffset + 4 * yo, wt.byteOffset + 4 * wo,
      am.byteOffset + 4 * ao, db ? db.byteOffset : NONE, grad);
  }

  /** The byte address of a table holding slots[0..S)'s addresses. */
  private slotTable(slots: Float32Array[], S: number): number {
    if (!this.table || this.table.length < S) this.table = this.arena.int32(Math.max(S, 8));
    for (let k = 0; k < S; k++) this.table[k] = slots[k].byteOffset;
    return this.table.byteOffset;
  }
  adamStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: number, n: number, c: AdamConsts): void {
    const at = 4 * o;
    this.raw.adam(p.byteOffset + at, g.byteOffset + at, m.byteOffset + at, v.byteOffset + at, n, ...f32Consts(c));
  }
  sgdStep(p: Float32Array, g: Float32Array, b: Float32Array, o: number, n: number, scale: number, momentum: number, lr: number, wd: number): void {
    const at = 4 * o, f = Math.fround;
    this.raw.sgd(p.byteOffset + at, g.byteOffset + at, b.byteOffset + at, n, f(scale), f(momentum), f(lr), f(wd));
  }
  sumSlots(dst: Float32Array, dOff: number, slots: Float32Array[], S: number, sOff: number, n: number): number {
    return this.raw.sumSlots(dst.byteOffset + 4 * dOff, this.slotTable(slots, S), S, 4 * sOff, n);
  }
  sumSlotRows(dst: Float32Array, slots: Float32Array[], S: number, rows: Int32Array, n: number, width: number, sq0: number): number {
    return this.raw.sumSlotRows(dst.byteOffset, this.slotTable(slots, S), S, rows.byteOffset, n, width, sq0);
  }
  zeroRows(dst: Float32Array, rows: Int32Array, n: number, width: number): void {
    this.raw.zeroRows(dst.byteOffset, rows.byteOffset, n, width);
  }
  sumSlotsAdam(p: Float32Array, m: Float32Array, v: Float32Array, o: number, n: number, slots: Float32Array[], S: number, c: AdamConsts): number {
    const at = 4 * o;
    return this.raw.sumSlotsAdam(p.byteOffset + at, m.byteOffset + at, v.byteOffset + at, this.slotTable(slots, S), S, at, n, ...f32Consts(c));
  }
  sumSlotRowsAdam(p: Float32Array, m: Float32Array, v: Float32Array, slots: Float32Array[], S: number, rows: Int32Array, n: number, width: number, sq0: number, c: AdamConsts): number {
    return this.raw.sumSlotRowsAdam(p.byteOffset, m.byteOffset, v.byteOffset, this.slotTable(slots, S), S, rows.byteOffset, n, width, sq0, ...f32Consts(c));
  }
  adamUnmarked(p: Float32Array, m: Float32Array, v: Float32Array, mark: Int32Array, r0: number, r1: number, width: number, c: AdamConsts): void {
    this.raw.adamUnmarked(p.byteOffset, m.byteOffset, v.byteOffset, mark.byteOffset, r0, r1, width, ...f32Consts(c));
  }

  lstmForward(g: Float, go: number, cPrev: Float, cpo: number, c: Float, co: number, h: Float, ho: number, rows: number, H: number): void {
    this.raw.lstmForward(g.byteOffset + 4 * go, cPrev.byteOffset + 4 * cpo, c.byteOffset + 4 * co, h.byteOffset + 4 * ho, rows, H);
  }
  lstmBackward(dg: Float, dgo: number, g: Float, go: number, cPrev: Float, cpo: number, c: Float, co: number,
    dh: Float, dho: number, dc: Float, dco: number, rows: number, H: number): void {
    this.raw.lstmBackward(dg.byteOffset + 4 * dgo, g.byteOffset + 4 * go, cPrev.byteOffset + 4 * cpo, c.byteOffset + 4 * co,
      dh.byteOffset + 4 * dho, dc.byteOffset + 4 * dco, rows, H);
  }
  gruForward(gi: Float, gio: number, gh: Float, gho: number, bih: Float, hPrev: Float, hpo: number, h: Float, ho: number, rows: number, H: number): void {
    this.raw.gruForward(gi.byteOffset + 4 * gio, gh.byteOffset + 4 * gho, bih.byteOffset, hPrev.byteOffset + 4 * hpo, h.byteOffset + 4 * ho, rows, H);
  }
  gruBackward(dgi: Float, dgio: number, dgh: Float, dgho: number, gi: Float, gio: number, gh: Float, gho: number,
    hPrev: Float, hpo: number, dh: Float, dho: number, rows: number, H: number): void {
    this.raw.gruBackward(dgi.byteOffset + 4 * dgio, dgh.byteOffset + 4 * dgho, gi.byteOffset + 4 * gio, gh.byteOffset + 4 * gho,
      hPrev.byteOffset + 4 * hpo, dh.byteOffset + 4 * dho, rows, H);
  }
}
