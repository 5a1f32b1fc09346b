// A language model held at a point of a text: feed it tokens (or text) one at a time, read the
// distribution of the next token, sample from it. It carries every layer's recurrent state
// (Stepper, one step per token), so feeding a text token by token gives the probabilities the
// batch forward gives on the whole text (test/generate-sampling.test.ts).

import type { Kernels } from '../model/backend/index.js';
import { encodeText, decodeTokens, SPECIALS } from '../data/index.js';
import { Rng } from '../util/prng.js';
import { ConfigError } from '../util/errors.js';
import { Stepper, Sampler, SAMPLE_STREAM, neverGenerated, type SamplingOptions, type TextModel } from './generate.js';

/** A token and its probability, with its text. */
export interface TokenProb {
  token: number;
  text: string;
  prob: number;
}

export class Session {
  private readonly s: Stepper;
  private readonly sampler: Sampler;
  private rng: Rng;

  /** `seed`: of sample(); the same seed and the same calls give the same tokens. */
  constructor(private readonly m: TextModel, private readonly seed: number, k?: Kernels) {
    this.s = new Stepper(m.spec, m.params, k);
    this.sampler = new Sampler(m.spec.C, neverGenerated(m.vocab, m.tokenizer));
    this.rng = new Rng(seed, SAMPLE_STREAM);
  }

  /** Tokens fed since the start (or the last reset). */
  get length(): number {
    return this.s.steps;
  }

  /**
   * Feeds a token id, several, or a text (encoded on its own, with <s> before it when it is the
   * first thing fed and the model was trained with data.bos; never with </s>).
   */
  feed(input: string | number | readonly number[]): this {
    const ids = typeof input === 'string'
      ? encodeText(input, { ...this.m.tokenizer, bos: this.m.tokenizer.bos && this.s.steps === 0, eos: false, maxLength: 0 }, { tokens: this.m.vocab })
      : typeof input === 'number' ? [input] : input;
    const V = this.m.spec.V;
    for (let i = 0; i < ids.length; i++) {
      if (!(Number.isInteger(ids[i]) && ids[i] >= 0 && ids[i] < V)) throw new ConfigError(`session.feed: ${ids[i]} is not a token id (an integer in [0, ${V}))`);
    }
    for (let i = 0; i < ids.length; i++) this.s.step(ids[i]);
    return this;
  }

  /** The model's distribution of the next token (a copy, indexed by token id; sample() never draws <pad>, <s>: neverGenerated). */
  probs(): Float32Array {
    this.needInput('probs');
    return this.s.probs.slice();
  }

  /** The `n` most probable next tokens, most probable first (ties: lower id first); a special token's text is its name (`</s>`). */
  top(n = 10): TokenProb[] {
    this.needInput('top');
    const p = this.s.probs;
    const ids = Array.from(p.keys()).sort((a, b) => p[b] - p[a] || a - b).slice(0, n);
    return ids.map((token) => ({ token, text: token < SPECIALS.length ? this.m.vocab[token] : this.decode([token]), prob: p[token] }));
  }

  /** A next token drawn as generation draws it (temperature → top-k → top-p); not fed: feed it to go on. */
  sample(o: SamplingOptions): number {
    this.needInput('sample');
    return this.sampler.sample(this.s.logits, o, this.rng);
  }

  /** The text of token ids, decoded as generation decodes them. */
  decode(ids: ArrayLike<number>): string {
    return decodeTokens(ids, { tokens: this.m.vocab }, this.m.tokenizer);
  }

  /** Back to the start: the zero state, nothing fed, and sample()'s draws from the seed again. */
  reset(): this {
    this.s.reset();
    this.rng = new Rng(this.seed, SAMPLE_STREAM);
    return this;
  }

  private needInput(what: string): void {
    if (this.s.steps === 0) throw new ConfigError(`session.${what}(): feed a token or a text first (the distribution is of the token after them)`);
  }
}
