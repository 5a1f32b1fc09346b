// Shared memory: the one place that allocates SharedArrayBuffers and shared WebAssembly memories.
// Worker threads receive them through piscina's workerData and read them in place, without copies.

const WASM_PAGE = 65536;

/** A zeroed SharedArrayBuffer of at least `bytes` bytes. */
export function sharedBuffer(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(8, Math.ceil(bytes / 8) * 8));
}

/** wasm32 addresses 4 GiB at most; a shared memory must declare its maximum up front (virtual only). */
const MAX_PAGES = 65536;

/** Bytes at the start of every arena kept for its allocation pointer (64: keeps allocations cache-line aligned). */
const HEADER = 64;

/** Every buffer a shared WebAssembly.Memory has handed out (it hands out a new one after each grow). */
const memoryOfBuffer = new WeakMap<ArrayBufferLike, WebAssembly.Memory>();
const arenaOfMemory = new WeakMap<WebAssembly.Memory, SharedArena>();

/**
 * A shared WebAssembly.Memory that typed arrays are carved from, bump-allocated, 64-byte aligned.
 * The parameters, the gradient, its per-worker slots and the optimizer's moments of one training
 * run all live in one arena, so that the SIMD kernels (src/model/simd.wat), instantiated on that
 * memory, address any of them by byte offset; worker threads receive the memory itself through
 * piscina's workerData, read it in place, and allocate their own workspaces from it (the pointer
 * is shared), so the compute kernels address those too. Growing keeps every view made before valid.
 */
export class SharedArena {
  readonly memory: WebAssembly.Memory;
  /** The bump pointer, in the memory's first bytes, so that any thread can allocate (Atomics). */
  private readonly top: Uint32Array;

  constructor(bytes = 0, memory?: WebAssembly.Memory) {
    this.memory = memory ?? new WebAssembly.Memory({ initial: Math.max(1, Math.ceil((bytes + HEADER) / WASM_PAGE)), maximum: MAX_PAGES, shared: true });
    this.top = new Uint32Array(this.buffer(), 0, 1);
    if (!memory) Atomics.store(this.top, 0, HEADER);
    arenaOfMemory.set(this.memory, this);
  }

  /** The arena of a memory received from another thread: it allocates from the same pointer. */
  static attach(memory: WebAssembly.Memory): SharedArena {
    return arenaOfMemory.get(memory) ?? new SharedArena(0, memory);
  }

  /** The current buffer, registered so memoryOf() recognizes views on it. */
  buffer(): SharedArrayBuffer {
    const b = this.memory.buffer as unknown as SharedArrayBuffer;
    memoryOfBuffer.set(b, this.memory);
    return b;
  }

  /** Bytes handed out so far (the header included). */
  used(): number {
    return Atomics.load(this.top, 0);
  }

  /** Reserve `bytes` (64-byte aligned) with a compare-and-swap on the shared pointer; grow the memory to cover them. */
  private alloc(bytes: number): number {
    let at: number, end: number;
    for (;;) {
      const top = Atomics.load(this.top, 0);
      at = Math.ceil(top / 64) * 64;
      end = at + Math.max(8, Math.ceil(bytes / 8) * 8);
      if (end > MAX_PAGES * WASM_PAGE - 1) throw new RangeError(`SharedArena: ${end} bytes exceed WebAssembly's 4 GiB address space`);
      if (Atomics.compareExchange(this.top, 0, top, end) === top) break;
    }
    // Another thread may grow at the same time: grow until the memory covers `end`, by what is missing.
    for (let have = this.buffer().byteLength; end > have; have = this.buffer().byteLength) this.memory.grow(Math.ceil((end - have) / WASM_PAGE));
    return at;
  }

  /** A zeroed Float32Array of n elements in this arena. */
  float32(n: number): Float32Array {
    const at = this.alloc(n * 4); // first: it may grow the memory, and buffer() must see that
    return new Float32Array(this.buffer(), at, n);
  }

  /** A zeroed Int32Array of n elements in this arena. */
  int32(n: number): Int32Array {
    const at = this.alloc(n * 4);
    return new Int32Array(this.buffer(), at, n);
  }

  /** A view of n float32s at byte offset `at` (a worker rebuilding the coordinator's views). */
  float32At(at: number, n: number): Float32Array {
    return new Float32Array(this.buffer(), at, n);
  }

  int32At(at: number, n: number): Int32Array {
    return new Int32Array(this.buffer(), at, n);
  }
}

/** The shared WebAssembly.Memory a typed array lives in, if any. */
export function memoryOf(a: ArrayBufferView): WebAssembly.Memory | undefined {
  return memoryOfBuffer.get(a.buffer);
}

/** The arena a typed array was allocated from (in this thread), if any. */
export function arenaOf(a: ArrayBufferView): SharedArena | undefined {
  const m = memoryOf(a);
  return m ? arenaOfMemory.get(m) : undefined;
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
