// Classification of new texts on this thread: encode each text exactly as training examples were
// (encodeText with the saved tokenizer and vocabulary), run the batch forward on up to maxB of
// them at a time, read each sequence's class probabilities from ws.P (row b, C wide).

import { allocWorkspace, forward, type Workspace } from '../model/rnn.js';
import { allocBatch, type Batch } from '../model/batch.js';
import { argmaxRow } from '../model/kernels.js';
import { createKernels, kernelsValue, type Kernels, type KernelsChoice, type ResolvedKernels } from '../model/backend/index.js';
import { arenaOf } from '../util/shared.js';
import { encodeText } from '../data/index.js';
import type { SavedModel } from '../checkpoint/index.js';

export interface Prediction {
  text: string;
  label: string;
  /** Label -> probability, in class-id order. */
  probs: Record<string, number>;
}

export class Classifier {
  private readonly space: ForwardSpace;

  /** kernels: the value the caller resolved (a choice is resolved here; absent: RNN_TRAINER_KERNELS, else auto). */
  constructor(readonly m: SavedModel, readonly maxB = 64, kernels?: ResolvedKernels | KernelsChoice) {
    if (m.spec.task !== 'many-to-one') throw new Error('Classifier: the model is not a classifier (many-to-one)');
    this.space = new ForwardSpace(m, maxB, kernelsValue(kernels));
  }

  /** Token ids of `text`, as the model sees it (truncated and with <s>/</s> as in training). */
  encode(text: string): Int32Array {
    return encodeText(text, this.m.tokenizer, { tokens: this.m.vocab });
  }

  /** Class probabilities of each text (texts must encode to at least one token). */
  classify(texts: string[]): Prediction[] {
    const out: Prediction[] = [];
    for (let i = 0; i < texts.length; i += this.maxB) out.push(...this.chunk(texts.slice(i, i + this.maxB)));
    return out;
  }

  private chunk(texts: string[]): Prediction[] {
    const { C } = this.m.spec;
    const seqs = texts.map((t) => this.encode(t));
    const empty = seqs.findIndex((s) => s.length === 0);
    if (empty >= 0) throw new RangeError(`Classifier: text ${JSON.stringify(texts[empty])} has no tokens`);
    const [ws, b] = this.space.batchOf(seqs);
    forward(this.m.params, ws, b);
    const P = ws.P;
    return texts.map((text, i) => {
      const probs: Record<string, number> = {};
      for (let c = 0; c < C; c++) probs[this.m.labelNames[c]] = P[i * C + c];
      return { text, label: this.m.labelNames[argmaxRow(P, i * C, C)], probs };
    });
  }
}

/**
 * The forward workspace and batch (maxB rows) of a Classifier or Tagger, on kernels created once.
 * The first batch sizes them; a longer text later grows them once, straight to the tokenizer's
 * maxLength (where texts are cut): the arena is bump-only (nothing in it is freed), so growing
 * for each longer text would leak a workspace each time.
 */
export class ForwardSpace {
  private readonly k: Kernels;
  private ws: Workspace | null = null;
  private batch: Batch | null = null;

  constructor(private readonly m: SavedModel, private readonly maxB: number, kernels: ResolvedKernels) {
    this.k = createKernels(kernels, arenaOf(m.params.data) ?? null);
  }

  /** A workspace and batch that hold T steps. */
  fit(T: number): [Workspace, Batch] {
    if (!this.ws || !this.batch || this.ws.maxT < T) {
      const cap = this.m.tokenizer.maxLength;
      // Without a cap (none for these tasks, but a saved tokenizer may say 0): double, so at most log₂ of them.
      const maxT = !this.ws ? T : cap > 0 ? Math.max(T, cap) : Math.max(T, 2 * this.ws.maxT);
      this.ws = allocWorkspace(this.m.spec, this.maxB, maxT, this.k);
      this.batch = allocBatch(this.maxB, maxT);
    }
    return [this.ws, this.batch];
  }

  /**
   * The batch of these token sequences (at most maxB), zero-padded to the longest, in a workspace
   * that holds it; labels and targets zeroed (forward scores against them; the loss is not used).
   */
  batchOf(seqs: ArrayLike<number>[]): [Workspace, Batch] {
    const B = seqs.length, T = Math.max(...seqs.map((s) => s.length));
    const [ws, b] = this.fit(T);
    b.B = B;
    b.T = T;
    b.tokens.fill(0, 0, B * T);
    b.labels.fill(0, 0, B);
    b.targets.fill(0, 0, B * T);
    seqs.forEach((s, i) => {
      b.tokens.set(s, i * T);
      b.lengths[i] = s.length;
    });
    return [ws, b];
  }
}
