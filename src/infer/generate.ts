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
import { allocWorkspace, rnnForward, stateSize, type Workspace } from '../model/rnn.js';
import { allocBatch, type Batch } from '../model/batch.js';
import { Epi, JsKernels, type Kernels } from '../model/backend/index.js';
import { softmaxRow, argmaxRow } from '../model/kernels.js';
import { Rng } from '../util/prng.js';
import { drain, drainAsync } from '../util/slices.js';
import { encodeText, decodeTokens, EOS, BOS, PAD, type TokenizerSpec } from '../data/index.js';

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
    rnnForward(p, ws, this.batch, null, this.steps > 0, this.packed);
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

/**
 * The most tokens one call generates: a million takes minutes on one thread (a generation is
 * sequential), and a typo like 1e9 would otherwise run for hours. Continue a longer text by
 * calling again with the end of the last as the prompt.
 */
export const MAX_GENERATE_TOKENS = 1_000_000;

/** Stream of the PRNG used for sampling, away from the streams training uses with the same seed. */
export const SAMPLE_STREAM = 0x5a3f1e;

/** Feeds the prompt (at least one token), then generates: the new token ids (eos included), each also to `onToken` as it comes. */
export function generate(spec: ModelSpec, p: Params, prompt: ArrayLike<number>, o: GenerateOptions, k?: Kernels, onToken?: (t: number) => void): Int32Array {
  return drain(generateSteps(spec, p, prompt, o, k, onToken));
}

/** generate, yielding after each token (src/util/slices.ts). */
function* generateSteps(spec: ModelSpec, p: Params, prompt: ArrayLike<number>, o: GenerateOptions, k?: Kernels, onToken?: (t: number) => void): Generator<void, Int32Array> {
  if (prompt.length === 0) throw new RangeError('generate: the prompt needs at least one token');
  if (!(o.tokens <= MAX_GENERATE_TOKENS)) throw new RangeError(`generate: ${o.tokens} tokens is more than one call generates (at most ${MAX_GENERATE_TOKENS.toLocaleString('en-US')}); generate in parts, each continuing the last`);
  const s = new Stepper(spec, p, k);
  for (let i = 0; i < prompt.length; i++) s.step(prompt[i]);
  const rng = new Rng(o.seed, SAMPLE_STREAM);
  const scratch = new Float64Array(spec.C);
  const out = new Int32Array(o.tokens);
  let n = 0;
  while (n < o.tokens) {
    const t = sampleToken(s, o.temperature, rng, scratch);
    out[n++] = t;
    onToken?.(t);
    if (t === o.eos) {
      if (o.bos === undefined) break;
      s.reset();
      s.step(o.bos);
    } else {
      s.step(t);
    }
    yield;
  }
  return out.subarray(0, n);
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
}

/**
 * Continue `prompt` by `tokens` tokens. The prompt is the start of a document: encoded with <s>
 * when the model was trained with it, never with </s>. An empty prompt needs a model trained with
 * data.bos (there is nothing else to start from). `onText` gets the text as it is generated, in
 * pieces (every `chunk` tokens, default 64) whose concatenation is `text`.
 */
export function generateText(m: TextModel, prompt: string, o: Omit<GenerateOptions, 'eos' | 'bos'>, k?: Kernels, onText?: (piece: string) => void, chunk = 64): TextGeneration {
  return drain(textSteps(m, prompt, o, k, onText, chunk));
}

/**
 * generateText in slices that give the event loop a turn (a signal handler can run): null once
 * `signal` is aborted, what was generated having gone to `onText`.
 */
export async function generateTextAsync(m: TextModel, prompt: string, o: Omit<GenerateOptions, 'eos' | 'bos'>, k?: Kernels, onText?: (piece: string) => void, signal?: AbortSignal): Promise<TextGeneration | null> {
  return (await drainAsync(textSteps(m, prompt, o, k, onText, 64), signal))?.value ?? null;
}

function* textSteps(m: TextModel, prompt: string, o: Omit<GenerateOptions, 'eos' | 'bos'>, k: Kernels | undefined, onText: ((piece: string) => void) | undefined, chunk: number): Generator<void, TextGeneration> {
  const tok = m.tokenizer;
  const ids = encodeText(prompt, { ...tok, eos: false, maxLength: 0 }, { tokens: m.vocab });
  if (ids.length === 0) throw new RangeError('nothing to start from: the model was trained without <s> (data.bos), so give a prompt with some text');
  const decode = (d: number[]) => decodeTokens(d, { tokens: m.vocab }, tok);
  const docs: number[][] = [Array.from(ids)];
  const stream = onText && new TextStream(decode, onText);
  stream?.flush(docs[0], false); // the prompt
  const gen = yield* generateSteps(m.spec, m.params, ids, { ...o, eos: tok.eos ? EOS : undefined, bos: tok.eos && tok.bos ? BOS : undefined }, k, (t) => {
    if (t === EOS) {
      stream?.flush(docs[docs.length - 1], true);
      docs.push([]);
    } else {
      const d = docs[docs.length - 1];
      d.push(t);
      if (stream && d.length % chunk === 0) stream.flush(d, false);
    }
  });
  stream?.flush(docs[docs.length - 1], true);
  return { text: docs.map(decode).join('\n\n'), ids: gen };
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
