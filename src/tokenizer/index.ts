// `rnn-trainer/tokenizer`: the tokenizer of an exported ONNX model, read from the file's
// metadata_props, encoding text into the `tokens`/`lengths` inputs of its graph exactly as training
// did (the same code: src/data/tokenize.ts, bpe.ts), for onnxruntime users.

import { readFileSync } from 'node:fs';
import { readOnnxMetadata } from '../export/onnx.js';
import { encodeText, decodeTokens } from '../data/tokenize.js';
import { bpeProblem } from '../data/bpe.js';
import { tagTokenIds, tagTokensOf } from '../data/tagged.js';
import type { TokenizerSpec } from '../data/types.js';
import { UserError } from '../util/errors.js';

/** A padded batch for the ONNX graph: `tokens` (batch × time, row-major, right-padded with 0) and `lengths` (batch). */
export interface EncodedBatch {
  tokens: Int32Array;
  lengths: Int32Array;
  batch: number;
  time: number;
}

export interface EncodeOptions {
  /** A language model's prompt: the start of a document, without `</s>` and not truncated (as predict.js --prompt). */
  prompt?: boolean;
}

export class OnnxTokenizer {
  /** Token id i is vocab[i]; ids 0..3 are <pad>, <unk>, <s>, </s>. */
  readonly vocab: readonly string[];
  /** A classifier's classes, or a tagger's tags, in output order (empty for a language model). */
  readonly labels: readonly string[];
  readonly task: 'many-to-one' | 'many-to-many' | 'tagging';
  readonly settings: TokenizerSpec;

  /** From the metadata_props of an exported file (readOnnxMetadata); `source` names it in errors. */
  constructor(meta: Record<string, string>, source = 'the ONNX metadata') {
    const json = <T>(key: string, fallback?: T): T => {
      if (!(key in meta)) {
        if (fallback !== undefined) return fallback;
        throw new UserError(`${source}: no metadata_props "${key}"; is it a file written by rnn-trainer's export.js?`);
      }
      try {
        return JSON.parse(meta[key]) as T;
      } catch {
        throw new UserError(`${source}: metadata_props "${key}" is not JSON`);
      }
    };
    this.vocab = json<string[]>('vocab');
    this.task = meta.task === 'many-to-many' || meta.task === 'tagging' ? meta.task : 'many-to-one';
    this.labels = json<string[]>(this.task === 'tagging' ? 'tags' : 'labels', []);
    const tok = json<TokenizerSpec>('tokenizer');
    if (tok.kind !== 'char' && tok.kind !== 'word' && tok.kind !== 'bpe') throw new UserError(`${source}: the tokenizer kind ${JSON.stringify(tok.kind)} is not one this version knows (char, word, bpe); upgrade rnn-trainer`);
    if (tok.kind === 'bpe') {
      tok.merges = json<string[]>('bpe_merges');
      const wrong = bpeProblem(this.vocab, tok.merges);
      if (wrong) throw new UserError(`${source}: ${wrong}`);
    }
    this.settings = tok;
  }

  /** Token ids of one text: normalized, split, looked up, truncated, reversed and marked as in training. */
  encode(text: string, o: EncodeOptions = {}): Int32Array {
    if (this.task === 'tagging') {
      // A tagger's tokens: the text's characters without whitespace (char) or its words, each one entry.
      const tokens = tagTokensOf(text, this.settings), max = this.settings.maxLength;
      return tagTokenIds(max > 0 ? tokens.slice(0, max) : tokens, this.settings, { tokens: this.vocab as string[] });
    }
    const tok = o.prompt ? { ...this.settings, eos: false, maxLength: 0 } : this.settings;
    return encodeText(text, tok, { tokens: this.vocab as string[] });
  }

  /** Texts as the graph's inputs; each must have at least one token. */
  encodeBatch(texts: readonly string[], o: EncodeOptions = {}): EncodedBatch {
    const seqs = texts.map((t) => this.encode(t, o));
    const empty = seqs.findIndex((s) => s.length === 0);
    if (empty >= 0) throw new RangeError(`text ${empty} (${JSON.stringify(texts[empty])}) has no tokens; the graph needs at least one per row`);
    const batch = seqs.length, time = Math.max(1, ...seqs.map((s) => s.length));
    const tokens = new Int32Array(batch * time); // right-padded with <pad> = 0
    seqs.forEach((s, i) => tokens.set(s, i * time));
    return { tokens, lengths: Int32Array.from(seqs, (s) => s.length), batch, time };
  }

  /** Text of token ids (a language model's output); special tokens left out. */
  decode(ids: ArrayLike<number>): string {
    return decodeTokens(ids, { tokens: this.vocab as string[] }, this.settings);
  }
}

/** The tokenizer of an exported ONNX model: a file's path or its bytes. */
export function onnxTokenizer(file: string | Uint8Array): OnnxTokenizer {
  const source = typeof file === 'string' ? file : 'the ONNX model';
  let bytes: Uint8Array;
  try {
    bytes = typeof file === 'string' ? readFileSync(file) : file;
  } catch (e) {
    throw new UserError(`${source}: cannot read the file: ${(e as Error).message}`);
  }
  let meta: Record<string, string>;
  try {
    meta = readOnnxMetadata(bytes);
  } catch (e) {
    throw new UserError(`${source}: not an ONNX model (${(e as Error).message})`);
  }
  return new OnnxTokenizer(meta, source);
}
