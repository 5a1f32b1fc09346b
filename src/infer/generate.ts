// Text generation from a language model, one token at a time. The batch forward would recompute
// the whole growing sequence for every new token (O(N²) for N tokens); here every layer's state is
// carried and the model advances by one step per token: the sequence driver's forward over a
// batch of one token from the carried state, i.e. the cell's own step (src/model/cells/), with
// the same kernels as the batch forward:
//
//   h_t = cell(W_ih·x_t, h_{t-1}) in every layer      p_t = softmax(Wya·h_t + by)
//
// Every sum runs over its index in the same order as in the batch forward, so the probabilities
// after a prefix equal the batch forward's for that prefix (test/cli-predict-generate.test.ts).

import type { ModelSpec } from '../model/spec.js';
import type { Params } from '../model/params.js';
import { allocWorkspace, sequenceForward, stateSize, type Workspace } from '../model/rnn.js';
import { allocBatch, type Batch } from '../model/batch.js';
import { Epi, JsKernels, type Kernels } from '../model/backend/index.js';
import { softmaxRow, argmaxRow, type Float } from '../model/kernels.js';
import { Rng } from '../util/prng.js';
import { drain, drainAsync } from '../util/slices.js';
import { encodeText, decodeTokens, EOS, BOS, PAD, SPECIALS, type TokenizerSpec } from '../data/index.js';

/** The recurrence of one sequence, advanced a token at a time. */
export class Stepper {
  /** Logits Wya·h_t + by (C) of the last step (adaptive softmax, tied with a projection: log-probabilities). */
  readonly logits: Float32Array;
  /** softmax(logits) (C) of the last step, at temperature 1. */
  readonly probs: Float32Array;
  private readonly ws: Workspace;
  private readonly batch: Batch;
  private readonly out: Float32Array; // the logits where the kernels write them
  steps = 0;
  /** Whether the workspace holds this model's packed recurrent weights (from the first step). */
  private packed = false;

  /** `k`: the compute backend (its arena must hold p); default the float32 JavaScript kernels. */
  constructor(readonly spec: ModelSpec, readonly p: Params, k: Kernels = new JsKernels('float32')) {
    this.ws = allocWorkspace(spec, 1, 1, k);
    this.batch = allocBatch(1, 1);
    this.batch.B = 1;
    this.batch.T = 1;
    this.batch.lengths[0] = 1;
    this.out = k.floats(spec.C) as Float32Array;
    this.logits = new Float32Array(spec.C);
    this.probs = new Float32Array(spec.C);
  }

  /** Back to the zero state. */
  reset(): void {
    this.steps = 0;
  }

  /** Feed one token: every layer's h_t from h_{t-1} and x_t, then the output distribution of step t into logits/probs. */
  step(token: number): Float32Array {
    const { H, C, V } = this.spec;
    const { ws, p } = this;
    if (!(Number.isInteger(token) && token >= 0 && token < V)) throw new RangeError(`Stepper.step: token ${token} is not an id in [0, V=${V})`);
    this.batch.tokens[0] = token;
    if (this.steps > 0) ws.state0.set(ws.state1.subarray(0, stateSize(this.spec))); // the state the last token left
    // The weights do not change while generating: W_hh is packed once, at the first token.
    sequenceForward(p, ws, this.batch, null, this.steps > 0, this.packed);
    this.packed = true;
    // Wya·h_t + by, or another output layer's exact log-probabilities (as logits: their softmax is the distribution)
    if (ws.head) ws.head.logProbs(p, ws.A, H, 1, this.out, 0);
    else ws.k.gemm(this.out, 0, C, ws.A, H, H, 1, p.Wya, 0, 1, H, 1, C, H, 0, p.by, Epi.None);
    this.logits.set(this.out);
    this.probs.set(this.out);
    softmaxRow(this.probs, 0, C);
    this.steps++;
    return this.probs;
  }
}

/**
 * The tokens a language model's generation never returns: those that are never a training target
 * (src/data/batches.ts: the targets are the stream's tokens after the first), so the model has
 * mass on them only where it has not learned otherwise. <pad> only fills padding and <s> is only
 * fed, at a document's start; </s> too when the data had none (data.eos false). <unk> stays: rare
 * tokens are targets. This is a decoding rule: the model's reported distribution is unchanged.
 */
export function neverGenerated(vocab: readonly string[], tok: Pick<TokenizerSpec, 'eos'>): number[] {
  const never: number[] = [];
  for (const id of tok.eos ? [PAD, BOS] : [PAD, BOS, EOS]) if (vocab[id] === SPECIALS[id]) never.push(id);
  return never;
}

/**
 * The scores of a draw with the tokens `never` removed: scores[c] · inv into `out`, −∞ for those,
 * so that softmax renormalizes over the rest (argmax skips them).
 */
function scaleScores(out: Float64Array, scores: Float, inv: number, C: number, never: readonly number[]): void {
  for (let c = 0; c < C; c++) out[c] = scores[c] * inv;
  for (const c of never) out[c] = -Infinity;
}

/**
 * A token from the last step's distribution at `temperature`: 0 is greedy (argmax, ties to the
 * lowest id), otherwise a draw from softmax(logits / temperature) by inverse CDF with rng.uniform().
 * `scratch` (C) holds the tempered distribution; the tokens `never` (see neverGenerated) are not drawn.
 */
export function sampleToken(s: Stepper, temperature: number, rng: Rng, scratch: Float64Array, never: readonly number[] = []): number {
  const C = s.spec.C;
  scaleScores(scratch, s.logits, temperature === 0 ? 1 : 1 / temperature, C, never);
  if (temperature === 0) return argmaxRow(scratch, 0, C);
  softmaxRow(scratch, 0, C);
  return inverseCdf(scratch, C, rng.uniform());
}

/** The token whose cumulative probability (in id order) first passes u; `probs` need not sum to 1 (u is drawn on their sum). */
function inverseCdf(probs: Float64Array, C: number, u: number): number {
  let acc = 0;
  for (let c = 0; c < C; c++) {
    acc += probs[c];
    if (u < acc) return c;
  }
  // Rounding left the sum just below u: the last token with any probability.
  for (let c = C - 1; c > 0; c--) if (probs[c] > 0) return c;
  return 0;
}

/**
 * How the next token is drawn, applied in this order (as Hugging Face's `generate` does):
 * temperature (softmax(scores / T); T = 0 is greedy) → top-k (the k most probable tokens) →
 * top-p (of those, the smallest set whose probability reaches p, most probable first) → a draw
 * from what is kept, renormalized. Ties in probability go to the lower token id.
 */
export interface SamplingOptions {
  /** 0 = greedy; 1 = the model's distribution; higher = more random. */
  temperature: number;
  /** Keep the k most probable tokens (integer >= 1; default: all). 1 is greedy. */
  topK?: number;
  /** Nucleus: keep the smallest set of most probable tokens whose probability reaches p, in (0, 1] (default 1: all). */
  topP?: number;
}

/**
 * Draws tokens from a distribution given as scores (logits, or log-probabilities: any vector
 * whose softmax is the distribution), with the buffers allocated once for C classes.
 */
export class Sampler {
  /** softmax(scores / T) of the last draw over the tokens that can be drawn, in float64; the tokens `never`, top-k and top-p removed are 0. */
  readonly probs: Float64Array;
  /** Token ids, most probable first (ties: lower id first), when a filter needs them ordered. */
  private readonly order: Int32Array;
  private readonly byProb = (a: number, b: number): number => this.probs[b] - this.probs[a] || a - b;

  /** `never`: token ids never drawn, at any temperature (a language model's: neverGenerated). */
  constructor(readonly C: number, readonly never: readonly number[] = []) {
    if (never.length > 0 && new Set(never).size >= C) throw new RangeError(`Sampler: no token of ${C} is left to draw`);
    this.probs = new Float64Array(C);
    this.order = new Int32Array(C);
  }

  /** A token id; `rng.uniform()` is drawn once unless greedy (T = 0), so a seed fixes the draws. */
  sample(scores: Float, o: SamplingOptions, rng: Rng): number {
    const { C, probs } = this;
    scaleScores(probs, scores, o.temperature === 0 ? 1 : 1 / o.temperature, C, this.never);
    if (o.temperature === 0) return argmaxRow(probs, 0, C);
    softmaxRow(probs, 0, C);
    const kept = this.filter(o.topK ?? C, o.topP ?? 1);
    // Inverse CDF over the kept tokens in id order; `kept` is their mass (1 when nothing was removed,
    // so then the draw is exactly plain temperature sampling's).
    return inverseCdf(probs, C, rng.uniform() * kept);
  }

  /** Top-k, then top-p on what top-k kept: zeroes the removed tokens' probabilities and returns the kept mass (1 if none removed). */
  private filter(topK: number, topP: number): number {
    const { C, probs, order } = this;
    if (topK >= C && topP >= 1) return 1;
    for (let c = 0; c < C; c++) order[c] = c;
    order.sort(this.byProb);
    const k = Math.min(topK, C);
    let mass = 0;
    for (let i = 0; i < k; i++) mass += probs[order[i]];
    let n = k;
    if (topP < 1) {
      // The smallest prefix whose mass reaches p of the top-k mass (renormalized, as top-p sees it).
      const target = topP * mass;
      let acc = 0;
      n = 0;
      while (n < k && (n === 0 || acc < target)) acc += probs[order[n++]];
      mass = acc;
    }
    for (let i = n; i < C; i++) probs[order[i]] = 0;
    return mass;
  }
}

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate after the prompt. */
  tokens: number;
  seed: number;
  /**
   * The end-of-document token (</s>), when the model was trained with one. When it is generated,
   * it is kept in the output and a new document begins as training documents did: the state goes
   * back to a_0 = 0 and `bos` (<s>) is fed. Without `bos`, generation stops there.
   */
  eos?: number;
  bos?: number;
  /** Token ids never generated (a language model's: neverGenerated(vocab, tokenizer); default none). */
  never?: readonly number[];
}

/**
 * The most tokens one call generates: a million takes minutes on one thread (a generation is
 * sequential), and a typo like 1e9 would otherwise run for hours. Continue a longer text by
 * calling again with the end of the last as the prompt.
 */
export const MAX_GENERATE_TOKENS = 1_000_000;

/** Stream of the PRNG used for sampling, away from the streams training uses with the same seed. */
export const SAMPLE_STREAM = 0x5a3f1e;

/**
 * A generation pulled a token at a time (what generate() loops over, and what a caller that wants
 * tokens as they are produced drives): feeds the prompt (at least one token) when made.
 */
export class Generation {
  /** Tokens generated so far. */
  n = 0;
  private done = false;
  private readonly s: Stepper;
  private readonly sampler: Sampler;
  private readonly rng: Rng;

  constructor(spec: ModelSpec, p: Params, prompt: ArrayLike<number>, private readonly o: GenerateOptions, k?: Kernels) {
    if (prompt.length === 0) throw new RangeError('generate: the prompt needs at least one token');
    if (!(o.tokens <= MAX_GENERATE_TOKENS)) throw new RangeError(`generate: ${o.tokens} tokens is more than one call generates (at most ${MAX_GENERATE_TOKENS.toLocaleString('en-US')}); generate in parts, each continuing the last`);
    this.s = new Stepper(spec, p, k);
    for (let i = 0; i < prompt.length; i++) this.s.step(prompt[i]);
    this.rng = new Rng(o.seed, SAMPLE_STREAM);
    this.sampler = new Sampler(spec.C, o.never);
  }

  /** Whether the generation has ended: `tokens` generated, or an eos without bos. */
  get finished(): boolean {
    return this.done || this.n >= this.o.tokens;
  }

  /** The next token id (eos included), or -1 once `tokens` are generated or an eos without bos ended it. */
  next(): number {
    const { o, s } = this;
    if (this.done || this.n >= o.tokens) return -1;
    const t = this.sampler.sample(s.logits, o, this.rng);
    this.n++;
    if (t === o.eos) {
      if (o.bos === undefined) this.done = true;
      else {
        s.reset();
        s.step(o.bos);
      }
    } else if (this.n < o.tokens) {
      s.step(t); // (not after the last token: nothing would read its distribution)
    }
    return t;
  }
}

/** Feeds the prompt (at least one token), then generates: the new token ids (eos included), each also to `onToken` as it comes. */
export function generate(spec: ModelSpec, p: Params, prompt: ArrayLike<number>, o: GenerateOptions, k?: Kernels, onToken?: (t: number) => void): Int32Array {
  const g = new Generation(spec, p, prompt, o, k);
  const out = new Int32Array(o.tokens);
  for (let t = g.next(); t >= 0; t = g.next()) {
    out[g.n - 1] = t;
    onToken?.(t);
  }
  return out.subarray(0, g.n);
}

/** What generateText needs of a model: its sizes, parameters, vocabulary and tokenizer. */
export interface TextModel {
  spec: ModelSpec;
  params: Params;
  vocab: string[];
  tokenizer: TokenizerSpec;
}

export interface TextGeneration {
  /** The prompt and its continuation; documents (ended by a generated </s>) are separated by a blank line, as in a text file. */
  text: string;
  /** The generated token ids (</s> included), after the prompt's. */
  ids: Int32Array;
  /** The stop string that ended the generation (it is not in `text`), if one did. */
  stop?: string;
}

export interface TextGenerateOptions extends Omit<GenerateOptions, 'eos' | 'bos' | 'never'> {
  /**
   * Generation ends as soon as the generated text (after the prompt) contains one of these
   * (non-empty); the text ends before it: the stop string itself is not returned.
   */
  stop?: readonly string[];
}

/** A generated token and the text that became final with it (may be empty: a character or a possible stop string not complete yet). */
export interface TextPiece {
  token: number;
  text: string;
}

/**
 * Text generation pulled a token at a time. The prompt is the start of a document: encoded with
 * <s> when the model was trained with it, never with </s>. An empty prompt needs a model trained
 * with data.bos (there is nothing else to start from). The pieces' texts, concatenated, are the
 * continuation of `prompt` (the prompt as the model reads it, decoded).
 */
export class TextGenerator {
  /** The prompt, decoded from its tokens (e.g. lowercased, unknown characters as <unk>). */
  readonly prompt: string;
  /** The stop string that ended the generation, if one did. */
  stop?: string;
  private readonly g: Generation;
  private readonly docs: number[][];
  private readonly stream: TextStream;
  private readonly decode: (d: number[]) => string;
  private readonly stops: readonly string[];
  private readonly ids: Int32Array;
  /** The continuation decoded so far; `released`: how much of it was given out, `searched`: searched for stop strings. */
  private cont = '';
  private released = 0;
  private searched = 0;
  private ended = false;

  constructor(m: TextModel, prompt: string, o: TextGenerateOptions, k?: Kernels) {
    const tok = m.tokenizer;
    const ids = encodeText(prompt, { ...tok, eos: false, maxLength: 0 }, { tokens: m.vocab });
    if (ids.length === 0) throw new RangeError('nothing to start from: the model was trained without <s> (data.bos), so give a prompt with some text');
    this.decode = (d) => decodeTokens(d, { tokens: m.vocab }, tok);
    this.docs = [Array.from(ids)];
    this.stops = o.stop ?? [];
    this.stream = new TextStream(this.decode, (piece) => {
      if (!this.ended) this.cont += piece;
    });
    this.prompt = this.stream.skip(this.docs[0]);
    this.g = new Generation(m.spec, m.params, ids, { ...o, eos: tok.eos ? EOS : undefined, bos: tok.eos && tok.bos ? BOS : undefined, never: neverGenerated(m.vocab, tok) }, k);
    this.ids = new Int32Array(o.tokens);
  }

  /** The next token and its text, or null at the end. */
  next(): TextPiece | null {
    if (this.ended) return null;
    const t = this.g.next();
    if (t < 0) { // (only for 0 tokens: the last token ends the generation below)
      this.ended = true;
      return null;
    }
    this.ids[this.g.n - 1] = t;
    const docs = this.docs;
    if (t === EOS) {
      this.stream.flush(docs[docs.length - 1], true);
      docs.push([]);
    } else {
      docs[docs.length - 1].push(t);
      this.stream.flush(docs[docs.length - 1], false);
    }
    if (this.g.finished) this.stream.flush(docs[docs.length - 1], true);
    this.findStop();
    if (this.g.finished) this.ended = true;
    // Held back: the end of the text that may begin a stop string.
    const upTo = this.ended ? this.cont.length : this.cont.length - this.stopPrefix();
    const text = this.cont.slice(this.released, upTo);
    this.released = upTo;
    return { token: t, text };
  }

  /** The generation so far (all of it once next() returned null). */
  result(): TextGeneration {
    const ids = this.ids.subarray(0, this.g.n);
    if (this.stop !== undefined) return { text: this.prompt + this.cont, ids, stop: this.stop };
    return { text: this.docs.map(this.decode).join('\n\n'), ids };
  }

  /** Ends the text before the earliest stop string in it, if one is there now. */
  private findStop(): void {
    if (this.stops.length === 0) return;
    const cont = this.cont;
    let at = -1;
    for (const s of this.stops) {
      const i = cont.indexOf(s, Math.max(0, this.searched - s.length + 1));
      if (i >= 0 && (at < 0 || i < at)) { at = i; this.stop = s; }
    }
    this.searched = cont.length;
    if (at < 0) return;
    this.cont = cont.slice(0, at);
    this.ended = true;
  }

  /** The length of the longest end of the text that is the start of a stop string (0 if none). */
  private stopPrefix(): number {
    let held = 0;
    for (const s of this.stops) {
      for (let L = Math.min(s.length - 1, this.cont.length); L > held; L--) {
        if (this.cont.endsWith(s.slice(0, L))) { held = L; break; }
      }
    }
    return held;
  }
}

/**
 * Continue `prompt` by `tokens` tokens (see TextGenerator). `onText` gets the text as it is
 * generated, the prompt first, in pieces (about every `chunk` tokens, default 64) whose
 * concatenation is `text`.
 */
export function generateText(m: TextModel, prompt: string, o: TextGenerateOptions, k?: Kernels, onText?: (piece: string) => void, chunk = 64): TextGeneration {
  return drain(textSteps(new TextGenerator(m, prompt, o, k), onText, chunk));
}

/**
 * generateText in slices that give the event loop a turn (a signal handler can run): null once
 * `signal` is aborted, what was generated having gone to `onText`.
 */
export async function generateTextAsync(m: TextModel, prompt: string, o: TextGenerateOptions, k?: Kernels, onText?: (piece: string) => void, signal?: AbortSignal, chunk = 64): Promise<TextGeneration | null> {
  return (await drainAsync(textSteps(new TextGenerator(m, prompt, o, k), onText, chunk), signal))?.value ?? null;
}

/** Runs `g`, yielding after each token (src/util/slices.ts); the text to `onText` every `chunk` tokens. */
function* textSteps(g: TextGenerator, onText: ((piece: string) => void) | undefined, chunk: number): Generator<void, TextGeneration> {
  let pending = g.prompt, n = 0;
  for (let p = g.next(); p; p = g.next()) {
    pending += p.text;
    if (onText && ++n % chunk === 0 && pending) { onText(pending); pending = ''; }
    yield;
  }
  if (onText && pending) onText(pending);
  return g.result();
}

/**
 * The text of documents as their tokens come: each flush writes what the tokens since the last
 * add to the document's decoded text. Decoding is not always piecewise (a word tokenizer's spaces
 * depend on the token before; a byte-level tokenizer can end on part of a character), so a piece is
 * decoded with a few tokens before it, and written only once the decoded text of those few is a
 * prefix of it, ending in no replacement character; else it waits for more tokens.
 */
class TextStream {
  /** Tokens of the current document written so far, and whether a document was written before. */
  private at = 0;
  private docs = 0;

  constructor(private readonly decode: (ids: number[]) => string, private readonly write: (s: string) => void) {}

  /** Takes the tokens `d` of the first document as written (the prompt, given out apart); their text. */
  skip(d: number[]): string {
    this.at = d.length;
    return this.decode(d);
  }

  /** The current document's tokens `d`; `end`: the document is complete (a </s>, or the last). */
  flush(d: number[], end: boolean): void {
    let from = this.at; // LOOKBACK tokens back, not counting those that decode to nothing
    for (let kept = 0; from > 0 && kept < LOOKBACK;) if (!SILENT.has(d[--from])) kept++;
    const before = this.decode(d.slice(from, this.at));
    const all = this.decode(d.slice(from));
    let piece: string | undefined;
    if (all.startsWith(before) && (end || !all.endsWith('\uFFFD'))) piece = all.slice(before.length);
    else if (end) piece = this.decode(d).slice(this.decode(d.slice(0, this.at)).length); // (the exact rest)
    if (piece === undefined) return;
    if (this.at === 0 && this.docs > 0) piece = '\n\n' + piece;
    this.at = d.length;
    if (end) { this.at = 0; this.docs++; }
    if (piece) this.write(piece);
  }
}

/** Tokens decoded before a streamed piece: a UTF-8 character is at most 4 bytes. */
const LOOKBACK = 4;
/** Tokens that decode to nothing (decodeTokens skips them). */
const SILENT = new Set([PAD, BOS, EOS]);
