// Shared memory: the one place that allocates SharedArrayBuffers. Worker threads receive these
// buffers through piscina's workerData and read them in place, without copies.

const WASM_PAGE = 65536;

/** A zeroed SharedArrayBuffer of at least `bytes` bytes. */
export function sharedBuffer(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(8, Math.ceil(bytes / 8) * 8));
}

/**
 * A zeroed shared buffer backed by a shared WebAssembly.Memory, so that SIMD WebAssembly kernels
 * can later run on the same bytes. Its `buffer` is a SharedArrayBuffer.
 */
export function sharedWasmBuffer(bytes: number): SharedArrayBuffer {
  const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE));
  const mem = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  return mem.buffer as unknown as SharedArrayBuffer;
}

export function sharedFloat32(n: number): Float32Array {
  return new Float32Array(sharedBuffer(n * 4), 0, n);
}

export function sharedInt32(n: number): Int32Array {
  return new Int32Array(sharedBuffer(n * 4), 0, n);
}

/** Copy a typed array into a new shared one of the same type. */
export function toShared<T extends Int32Array | Uint32Array | Float32Array | Uint16Array | Uint8Array>(a: T): T {
  const Ctor = a.constructor as { new (buf: ArrayBufferLike, off: number, n: number): T };
  const out = new Ctor(sharedBuffer(a.byteLength), 0, a.length);
  (out as any).set(a);
  return out;
}
