// The stall watchdog: how long a step may make no progress before whoever it waits for (a worker
// thread of the pool, another rank of an MPI job) is taken to have stopped answering. One rule
// for both: the limit given (--stall-timeout; 0: none), else 20 times the slowest step so far,
// at least a floor (the pool's 2 minutes, the ranks' 10: rank 0 writes checkpoints while the
// others wait in a collective).

/** Slowest steps the limit allows, by default. */
const SLOWEST_STEPS = 20;

export class StallWatchdog {
  private slowest = 0;

  /** `fixedMs`: the limit given (0: none), or undefined for the default; `floorMs`: the default's least. */
  constructor(private readonly fixedMs: number | undefined, private readonly floorMs: number) {}

  /** A step took `ms`: the default limit scales with the slowest. */
  saw(ms: number): void {
    if (ms > this.slowest) this.slowest = ms;
  }

  /** The slowest step so far, ms. */
  get slowestMs(): number {
    return this.slowest;
  }

  /** The limit now, ms (0: none). */
  limit(): number {
    return this.fixedMs ?? Math.max(this.floorMs, SLOWEST_STEPS * this.slowest);
  }

  /**
   * Call `onStall(limit)` if the limit passes before stop(); restart() starts the clock again (a
   * wait of many parts that each made progress). Nothing is armed when the limit is 0.
   */
  arm(onStall: (limit: number) => void): { restart(): void; stop(): void } {
    const limit = this.limit();
    let timer: NodeJS.Timeout | undefined;
    const restart = () => {
      clearTimeout(timer);
      if (limit > 0) timer = setTimeout(() => onStall(limit), limit);
    };
    restart();
    return { restart, stop: () => clearTimeout(timer) };
  }
}

/** A limit as the messages say it: "3.0 s", "120 s". */
export function stallSeconds(limitMs: number): string {
  return `${(limitMs / 1000).toFixed(limitMs < 10_000 ? 1 : 0)} s`;
}
