// Adapts a byte-addressed RawKernels (wasm, native) to the typed-array Kernels the model calls:
// an array plus an element offset becomes one byte offset into the run's memory. Every array
// handed to these kernels must live in that memory: the workspace comes from floats()/ints(), and
// parameters, gradients and slots are allocated in the same arena (checkArrays says so early).

import type { Float } from '../kernels.js';
import { NONE, type Epi, type RawKernels, type RawFactory } from './raw.js';
import type { BackendName, Kernels } from './types.js';
import { memoryOf, type SharedArena } from '../../util/shared.js';

export class AddressedKernels implements Kernels {
  readonly dtype = 'float32' as const;
  readonly isa: string;
  private readonly raw: RawKernels;

  constructor(readonly name: BackendName, factory: RawFactory, private readonly arena: SharedArena) {
    const scratch = factory.scratchBytes > 0 ? arena.float32(Math.ceil(factory.scratchBytes / 4)).byteOffset : 0;
    this.raw = factory.create(arena.memory, scratch);
    this.isa = this.raw.isa;
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
