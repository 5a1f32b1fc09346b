// The one seeded PRNG of the project: xoshiro128** (Blackman & Vigna), seeded through splitmix32.
// Its whole state is four uint32 words, so a checkpoint can store it and a resumed run continue
// the exact same stream. Training code never calls Math.random.

export type RngState = [number, number, number, number];

/** murmur3's 32-bit finalizer: every input bit reaches every output bit. */
export function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function splitmix32(x: number): [number, number] {
  x = (x + 0x9e3779b9) >>> 0;
  return [x, fmix32(x)];
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** A generator from a seed and an optional stream number (e.g. the epoch): same inputs, same numbers. */
  constructor(seed: number, stream = 0) {
    if (!Number.isInteger(seed) || !Number.isInteger(stream)) {
      throw new Error(`Rng: seed and stream must be integers, got seed=${seed} stream=${stream}`);
    }
    // Mix the seed's high bits as well, so seeds above 2^32 differ.
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x27d4eb2d) ^ Math.imul(stream >>> 0, 0x165667b1);
    const w: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [nx, z] = splitmix32(x);
      x = nx;
      w.push(z);
    }
    if ((w[0] | w[1] | w[2] | w[3]) === 0) w[0] = 1; // the all-zero state is a fixed point
    [this.s0, this.s1, this.s2, this.s3] = w as RngState;
  }

  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  getState(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  setState(state: RngState): void {
    if (state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new Error(`Rng: a state is four uint32 words, got ${JSON.stringify(state)}`);
    }
    if ((state[0] | state[1] | state[2] | state[3]) === 0) throw new Error('Rng: the all-zero state is invalid');
    [this.s0, this.s1, this.s2, this.s3] = state;
  }

  /** Next uint32. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n >= 1 && n <= 0x100000000 && Number.isInteger(n))) throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal by Box-Muller; no cached spare, so the state stays four words. */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * out[from..to) = successive normal() draws, the same numbers: the state lives in int32 locals
   * for the loop (the fields hold uint32 doubles, boxed at every draw), for initializations of
   * millions of weights.
   */
  fillNormal(out: Float64Array | Float32Array, from = 0, to = out.length): void {
    let s0 = this.s0 | 0, s1 = this.s1 | 0, s2 = this.s2 | 0, s3 = this.s3 | 0;
    // nextU32, on int32 bit patterns (xor and shifts do not care; >>> reads them as uint32).
    const next = () => {
      const r = Math.imul(rotl32(Math.imul(s1, 5), 7), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
      s3 = rotl32(s3, 11);
      return r;
    };
    const uniform = () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
    for (let i = from; i < to; i++) {
      let u = 0;
      while (u === 0) u = uniform();
      const v = uniform();
      out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
    this.s0 = s0 >>> 0; this.s1 = s1 >>> 0; this.s2 = s2 >>> 0; this.s3 = s3 >>> 0;
  }

  /** out[from..to) = (2·uniform() − 1)·limit, those numbers (U(±limit)), the state in int32 locals as in fillNormal. */
  fillSymmetric(out: Float64Array | Float32Array, limit: number, from = 0, to = out.length): void {
    let s0 = this.s0 | 0, s1 = this.s1 | 0, s2 = this.s2 | 0, s3 = this.s3 | 0;
    for (let i = from; i < to; i++) {
      let hi = 0;
      for (let d = 0; d < 2; d++) { // nextU32 twice: uniform()
        const r = Math.imul(rotl32(Math.imul(s1, 5), 7), 9) >>> 0;
        const t = s1 << 9;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
        s3 = rotl32(s3, 11);
        if (d === 0) hi = r >>> 5;
        else out[i] = (2 * ((hi * 67108864 + (r >>> 6)) / 9007199254740992) - 1) * limit;
      }
    }
    this.s0 = s0 >>> 0; this.s1 = s1 >>> 0; this.s2 = s2 >>> 0; this.s3 = s3 >>> 0;
  }

  /**
   * out[from..to) = standard normals, two per pair of uniforms by Marsaglia's polar method: x, y =
   * 2·uniform() − 1 until 0 < s = x² + y² < 1, then x·f, y·f with f = √(−2 ln s / s) (an odd count
   * drops the last y). No trigonometry (a V8 build option, v8_use_libm_trig_functions, swaps
   * Math.sin/cos for another implementation; Math.log is V8's fdlibm port), half the logarithms of
   * normal(), the state in int32 locals: about 4 times as fast as fillNormal. Its own stream, not
   * normal()'s numbers (the orthogonal init draws its Gaussians with it).
   */
  fillNormalPairs(out: Float64Array | Float32Array, from = 0, to = out.length): void {
    let s0 = this.s0 | 0, s1 = this.s1 | 0, s2 = this.s2 | 0, s3 = this.s3 | 0;
    for (let i = from; i < to; i += 2) {
      let x = 0, y = 0, s = 0;
      do {
        let hi = 0;
        for (let d = 0; d < 4; d++) { // nextU32 four times (inline: a closure over the state is twice as slow): uniform() twice
          const r = Math.imul(rotl32(Math.imul(s1, 5), 7), 9) >>> 0;
          const t = s1 << 9;
          s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
          s3 = rotl32(s3, 11);
          if ((d & 1) === 0) hi = r >>> 5;
          else if (d === 1) x = 2 * ((hi * 67108864 + (r >>> 6)) / 9007199254740992) - 1;
          else y = 2 * ((hi * 67108864 + (r >>> 6)) / 9007199254740992) - 1;
        }
        s = x * x + y * y;
      } while (s >= 1 || s === 0);
      const f = Math.sqrt((-2 * Math.log(s)) / s);
      out[i] = x * f;
      if (i + 1 < to) out[i + 1] = y * f;
    }
    this.s0 = s0 >>> 0; this.s1 = s1 >>> 0; this.s2 = s2 >>> 0; this.s3 = s3 >>> 0;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: any }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** rotl on int32 bit patterns. */
function rotl32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * A counter-based uniform in [0, 1) from four integers (murmur3-style mixing): the same inputs
 * give the same number in any thread and in any order. Dropout masks use it, keyed by (run seed,
 * step) and indexed by (example id, timestep, unit), so a mask does not depend on how a batch is
 * sharded or padded.
 */
export function hashUniform(key: number, a: number, b: number, c: number): number {
  let h = fmix32((key ^ Math.imul(a + 1, 0x9e3779b1)) >>> 0);
  h = fmix32((h ^ Math.imul(b + 1, 0x85ebca77)) >>> 0);
  h = fmix32((h ^ Math.imul(c + 1, 0xc2b2ae3d)) >>> 0);
  return h / 4294967296;
}

/** The dropout key of training step `step` of a run seeded `seed`. */
export function stepKey(seed: number, step: number): number {
  return fmix32((Math.imul(seed >>> 0, 0x27d4eb2d) ^ fmix32(step >>> 0)) >>> 0);
}
