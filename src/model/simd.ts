// The SIMD WebAssembly kernels (simd.wat), instantiated once per thread and per shared memory.
// kernels.ts calls them when every array of a call lives in the same SharedArena; otherwise it
// runs their JavaScript twins, which give the same bits.

import { SIMD_WASM_BASE64 } from './gen/simd-wasm.js';
import { memoryOf } from '../util/shared.js';
import type { RawKernels } from './backend/raw.js';

/** The wasm backend's update kernels (raw.ts says what each computes). */
export type SimdKernels = Pick<RawKernels, 'adam' | 'sgd' | 'sumSlots' | 'sumSlotRows' | 'zeroRows' | 'sumSlotsAdam' | 'sumSlotRowsAdam' | 'adamUnmarked'>;

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
  return simdOn(mem);
}

/** The kernels on `memory` (one instance per thread and memory): the wasm backend's update kernels. */
export function simdOn(memory: WebAssembly.Memory): SimdKernels {
  let k = instances.get(memory);
  if (!k) {
    module ??= new WebAssembly.Module(Buffer.from(SIMD_WASM_BASE64, 'base64'));
    k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimdKernels;
    instances.set(memory, k);
  }
  return k;
}
