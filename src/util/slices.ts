// Long synchronous work (a large model's initialization, a long generation) written as a generator
// that yields between pieces, so it can run straight through or in slices that give the event
// loop a turn: a signal handler (Ctrl-C) then runs, and an AbortSignal stops the work within a slice.

/** Runs `g` to the end; its return value. */
export function drain<T>(g: Generator<void, T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

/**
 * Runs `g` in slices of about `sliceMs` (default 50), giving the event loop a turn after each;
 * `{ value }` at the end, or null once `signal` is aborted (at the next turn).
 */
export async function drainAsync<T>(g: Generator<void, T>, signal?: AbortSignal, sliceMs = 50): Promise<{ value: T } | null> {
  let t = performance.now();
  for (;;) {
    const r = g.next();
    if (r.done) return signal?.aborted ? null : { value: r.value };
    if (performance.now() - t < sliceMs) continue;
    await new Promise((resolve) => setImmediate(resolve));
    if (signal?.aborted) return null;
    t = performance.now();
  }
}
