// Text generation from a language model, one token at a time. The batch forward would recompute
// the whole growing sequence for every new token (O(N²) for N tokens); here the state a_t is kept
// and the recurrence advances by one step per token, with the same kernels as the batch forward:
//
//   x_t = Wemb[token]  (embedding input)            a_t = tanh(Waa·a_{t-1} + Wax·x_t + ba)
//   Wax·x_t = row `token` of Wax (V, H) (one-hot)    p_t = softmax(Wya·a_t + by)
//
// Every sum runs over its index in the same order as in the batch forward, so the probabilities
// after a prefix equal the batch forward's for that prefix (test/cli-predict-generate.test.ts).

import type { ModelSpec } from '../model/spec.js';
import type { Params } from '../model/params.js';
import { matmulABt, gatherRows, addBiasRows, tanhInPlace, softmaxRow, argmaxRow, fill } from '../model/kernels.js';
import { Rng } from '../util/prng.js';

/** The recurrence of one sequence, advanced a token at a time. */
export class Stepper {
  /** a_t (H) after the tokens fed so far; zeros before the first. */
  readonly state: Float32Array;
  /** Logits Wya·a_t + by (C) of the last step. */
  readonly logits: Float32Array;
  /** softmax(logits) (C) of the last step, at temperature 1. */
  readonly probs: Float32Array;
  private prev: Float32Array; //   a_{t-1} (H)
  private readonly x: Float32Array; //       embedded input (E), embedding input only
  private readonly id = new Int32Array(1);
  steps = 0;

  constructor(readonly spec: ModelSpec, readonly p: Params) {
    this.state = new Float32Array(spec.H);
    this.prev = new Float32Array(spec.H);
    this.x = new Float32Array(Math.max(1, spec.E));
    this.logits = new Float32Array(spec.C);
    this.probs = new Float32Array(spec.C);
  }

  /** Back to a_0 = 0. */
  reset(): void {
    fill(this.state, 0, this.spec.H, 0);
    this.steps = 0;
  }

  /** Feed one token: a_t from a_{t-1} and x_t, then the output distribution of step t into logits/probs. */
  step(token: number): Float32Array {
    const { H, E, C, V } = this.spec;
    const p = this.p;
    if (!(Number.isInteger(token) && token >= 0 && token < V)) throw new RangeError(`Stepper.step: token ${token} is not an id in [0, V=${V})`);
    this.id[0] = token;
    this.prev.set(this.state);
    const a = this.state;
    matmulABt(a, 0, this.prev, 0, p.Waa, 0, 1, H, H, false); //       Waa·a_{t-1}
    if (E > 0) {
      gatherRows(this.x, 0, p.Wemb!, this.id, 0, 1, 1, E, false); //   x_t = Wemb[token]
      matmulABt(a, 0, this.x, 0, p.Wax, 0, 1, H, E, true); //           + Wax·x_t
    } else {
      gatherRows(a, 0, p.Wax, this.id, 0, 1, 1, H, true); //            + Wax·x_t, the token's row of Wax (V, H)
    }
    addBiasRows(a, 0, p.ba, 1, H); //                                    + ba
    tanhInPlace(a, 0, H);
    matmulABt(this.logits, 0, a, 0, p.Wya, 0, 1, C, H, false); //     Wya·a_t
    addBiasRows(this.logits, 0, p.by, 1, C); //                          + by
    this.probs.set(this.logits);
    softmaxRow(this.probs, 0, C);
    this.steps++;
    return this.probs;
  }
}

/**
 * A token from the last step's distribution at `temperature`: 0 is greedy (argmax, ties to the
 * lowest id), otherwise a draw from softmax(logits / temperature) by inverse CDF with rng.uniform().
 * `scratch` (C) holds the tempered distribution.
 */
export function sampleToken(s: Stepper, temperature: number, rng: Rng, scratch: Float64Array): number {
  const C = s.spec.C;
  if (temperature === 0) return argmaxRow(s.logits, 0, C);
  const inv = 1 / temperature;
  for (let c = 0; c < C; c++) scratch[c] = s.logits[c] * inv;
  softmaxRow(scratch, 0, C);
  const u = rng.uniform();
  let acc = 0;
  for (let c = 0; c < C; c++) {
    acc += scratch[c];
    if (u < acc) return c;
  }
  // Rounding left the sum just below u: the last token with any probability.
  for (let c = C - 1; c > 0; c--) if (scratch[c] > 0) return c;
  return 0;
}

export interface GenerateOptions {
  /** Tokens to generate after the prompt. */
  tokens: number;
  /** 0 = greedy; 1 = the model's distribution; higher = more random. */
  temperature: number;
  seed: number;
  /**
   * The end-of-document token (</s>), when the model was trained with one. When it is generated,
   * it is kept in the output and a new document begins as training documents did: the state goes
   * back to a_0 = 0 and `bos` (<s>) is fed. Without `bos`, generation stops there.
   */
  eos?: number;
  bos?: number;
}

/** Stream of the PRNG used for sampling, away from the streams training uses with the same seed. */
export const SAMPLE_STREAM = 0x5a3f1e;

/** Feeds the prompt (at least one token), then generates: the new token ids (eos included). */
export function generate(spec: ModelSpec, p: Params, prompt: ArrayLike<number>, o: GenerateOptions): Int32Array {
  if (prompt.length === 0) throw new RangeError('generate: the prompt needs at least one token');
  const s = new Stepper(spec, p);
  for (let i = 0; i < prompt.length; i++) s.step(prompt[i]);
  const rng = new Rng(o.seed, SAMPLE_STREAM);
  const scratch = new Float64Array(spec.C);
  const out = new Int32Array(o.tokens);
  let n = 0;
  while (n < o.tokens) {
    const t = sampleToken(s, o.temperature, rng, scratch);
    out[n++] = t;
    if (t === o.eos) {
      if (o.bos === undefined) break;
      s.reset();
      s.step(o.bos);
    } else {
      s.step(t);
    }
  }
  return out.subarray(0, n);
}
