// The SIMD WebAssembly kernels (simd.wat), instantiated once per thread and per shared memory.
// kernels.ts calls them when every array of a call lives in the same SharedArena; otherwise it
// runs their JavaScript twins, which give the same bits.

import { SIMD_WASM_BASE64 } from './gen/simd-wasm.js';
import { memoryOf } from '../util/shared.js';

export interface SimdKernels {
  adam(p: number, g: number, m: number, v: number, n: number,
    scale: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number): void;
  sgd(p: number, g: number, b: number, n: number, scale: number, momentum: number, lr: number, wd: number): void;
  sumSlots(dst: number, table: number, S: number, off: number, n: number): number;
  sumSlotRows(dst: number, table: number, S: number, rows: number, n: number, width: number, sq0: number): number;
  zeroRows(dst: number, rows: number, n: number, width: number): void;
  sumSlotsAdam(p: number, m: number, v: number, table: number, S: number, off: number, n: number,
    scale: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number): number;
  sumSlotRowsAdam(p: number, m: number, v: number, table: number, S: number, rows: number, n: number, width: number, sq0: number,
    scale: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number): number;
  adamUnmarked(p: number, m: number, v: number, mark: number, r0: number, r1: number, width: number,
    scale: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number, decay: number): void;
}

let module: WebAssembly.Module | null = null;
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();
let enabled = process.env.RNN_TRAINER_SIMD !== '0';

/** Tests: force the JavaScript twins (false) or allow SIMD again (true). */
export function setSimd(on: boolean): void {
  enabled = on;
}

/** The kernels for the memory that all the given arrays live in, or null (different or no shared memory). */
export function simdFor(a: ArrayBufferView, b: ArrayBufferView, c?: ArrayBufferView, d?: ArrayBufferView): SimdKernels | null {
  if (!enabled) return null;
  const mem = memoryOf(a);
  if (!mem || memoryOf(b) !== mem || (c && memoryOf(c) !== mem) || (d && memoryOf(d) !== mem)) return null;
  let k = instances.get(mem);
  if (!k) {
    module ??= new WebAssembly.Module(Buffer.from(SIMD_WASM_BASE64, 'base64'));
    k = new WebAssembly.Instance(module, { env: { memory: mem } }).exports as unknown as SimdKernels;
    instances.set(mem, k);
  }
  return k;
}
