// Classification of new texts on this thread: encode each text exactly as training examples were
// (encodeText with the saved tokenizer and vocabulary), run the batch forward on up to maxB of
// them at a time, read each sequence's class probabilities from ws.P (row b, C wide).

import { allocWorkspace, forward, type Workspace } from '../model/rnn.js';
import { allocBatch, type Batch } from '../model/batch.js';
import { argmaxRow } from '../model/kernels.js';
import { createKernels, resolveKernels, kernelsChoice, type BackendName } from '../model/backend/index.js';
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
  private ws: Workspace | null = null;
  private batch: Batch | null = null;

  /** backend: resolved by the caller (resolveKernels); absent, from RNN_TRAINER_KERNELS, else auto. */
  constructor(readonly m: SavedModel, readonly maxB = 64, private readonly backend: BackendName = resolveKernels(kernelsChoice()).name) {
    if (m.spec.task !== 'many-to-one') throw new Error('Classifier: the model is not a classifier (many-to-one)');
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
    const B = seqs.length, T = Math.max(...seqs.map((s) => s.length));
    [this.ws, this.batch] = workspaceFor(this.m, this.maxB, T, this.ws, this.batch, this.backend);
    const b = this.batch;
    b.B = B;
    b.T = T;
    b.tokens.fill(0, 0, B * T);
    b.labels.fill(0, 0, B); // forward scores against a label; the loss is not used here
    seqs.forEach((s, i) => {
      b.tokens.set(s, i * T);
      b.lengths[i] = s.length;
    });
    forward(this.m.params, this.ws, b);
    const P = this.ws.P;
    return texts.map((text, i) => {
      const probs: Record<string, number> = {};
      for (let c = 0; c < C; c++) probs[this.m.labelNames[c]] = P[i * C + c];
      return { text, label: this.m.labelNames[argmaxRow(P, i * C, C)], probs };
    });
  }
}

/**
 * A workspace and batch of `maxB` rows for `m` that hold T steps: the given ones when they do,
 * else new ones sized for the longest text so far (at most the tokenizer's maxLength): reallocated rarely.
 */
export function workspaceFor(m: SavedModel, maxB: number, T: number, ws: Workspace | null, batch: Batch | null, backend: BackendName = resolveKernels(kernelsChoice()).name): [Workspace, Batch] {
  if (ws && batch && ws.maxT >= T) return [ws, batch];
  const maxT = Math.max(T, ws?.maxT ?? 0);
  return [allocWorkspace(m.spec, maxB, maxT, createKernels(backend, arenaOf(m.params.data) ?? null)), allocBatch(maxB, maxT)];
}
