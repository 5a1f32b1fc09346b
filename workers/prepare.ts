// A worker thread of prepare (src/data/prepare.ts): counts the tokens of training text, and
// encodes text to token ids, with the same functions the calling thread uses when alone.

import { workerData } from 'piscina';
import { tokenizerJobs, type Encoded } from '../src/data/tokenjobs.js';
import type { TokenizerSpec } from '../src/data/types.js';

const jobs = tokenizerJobs((workerData as { tok: TokenizerSpec }).tok);

type Task =
  | { kind: 'count'; texts: string[] }
  | { kind: 'encode'; texts: string[] }
  /** Every thread takes one: each holds its thread until all n have started (gate counts them). */
  | { kind: 'vocab'; tokens: string[]; tok: TokenizerSpec; gate: Int32Array; n: number };

export default function run(t: Task): Map<string, number> | Encoded | null {
  switch (t.kind) {
    case 'count':
      return jobs.count(t.texts);
    case 'encode':
      return jobs.encode(t.texts);
    case 'vocab': {
      jobs.setVocab(t.tokens, t.tok);
      Atomics.add(t.gate, 0, 1);
      Atomics.notify(t.gate, 0);
      for (let v = Atomics.load(t.gate, 0); v < t.n; v = Atomics.load(t.gate, 0)) Atomics.wait(t.gate, 0, v, 1000);
      return null;
    }
  }
}
