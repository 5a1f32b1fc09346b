// Tagging new text on this thread: split each text into tokens as the model's data was (its
// characters without whitespace for a model trained on characters, e.g. word segmentation; else
// its whitespace-separated words), look each token up in the saved vocabulary, run the batch
// forward, and read every token's tag from the head's argmax (rows t·B + b of ws.P).

import { forward } from '../model/rnn.js';
import { argmaxRow } from '../model/kernels.js';
import { kernelsValue, type KernelsChoice, type ResolvedKernels } from '../model/backend/index.js';
import { ForwardSpace } from './classify.js';
import { tagTokenIds, tagTokensOf } from '../data/tagged.js';
import type { SavedModel } from '../checkpoint/index.js';

export interface TaggedText {
  text: string;
  tokens: string[];
  /** tags[t]: token t's tag. */
  tags: string[];
  /** probs[t]: the probability of tags[t]. */
  probs: number[];
}

export class Tagger {
  private readonly space: ForwardSpace;

  /** kernels: the value the caller resolved (a choice is resolved here; absent: RNN_TRAINER_KERNELS, else auto). */
  constructor(readonly m: SavedModel, readonly maxB = 64, kernels?: ResolvedKernels | KernelsChoice) {
    if (m.spec.task !== 'tagging') throw new Error('Tagger: the model is not a tagger (model.task "tagging")');
    this.space = new ForwardSpace(m, maxB, kernelsValue(kernels));
  }

  /** The tokens of `text` as the model reads them (at most the tokenizer's maxLength: the rest is not tagged). */
  tokens(text: string): string[] {
    const t = tagTokensOf(text, this.m.tokenizer), max = this.m.tokenizer.maxLength;
    return max > 0 && t.length > max ? t.slice(0, max) : t;
  }

  tag(texts: string[]): TaggedText[] {
    const out: TaggedText[] = [];
    for (let i = 0; i < texts.length; i += this.maxB) out.push(...this.chunk(texts.slice(i, i + this.maxB)));
    return out;
  }

  private chunk(texts: string[]): TaggedText[] {
    const { C } = this.m.spec;
    const toks = texts.map((t) => this.tokens(t));
    const empty = toks.findIndex((s) => s.length === 0);
    if (empty >= 0) throw new RangeError(`Tagger: text ${JSON.stringify(texts[empty])} has no tokens`);
    const B = toks.length;
    const [ws, b] = this.space.batchOf(toks.map((s) => tagTokenIds(s, this.m.tokenizer, { tokens: this.m.vocab })));
    forward(this.m.params, ws, b);
    const P = ws.P;
    return texts.map((text, i) => {
      const tags: string[] = [], probs: number[] = [];
      for (let t = 0; t < toks[i].length; t++) {
        const row = (t * B + i) * C, y = argmaxRow(P, row, C);
        tags.push(this.m.labelNames[y]);
        probs.push(P[row + y]);
      }
      return { text, tokens: toks[i], tags, probs };
    });
  }
}
