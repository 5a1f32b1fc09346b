// A worker thread of prepare (src/data/prepare.ts): counts the tokens of training text, and
// encodes text to token ids, with the same functions the calling thread uses when alone.

import { workerData } from 'piscina';
import { tokenizerJobs, type Encoded } from '../src/data/tokenjobs.js';
import type { TokenizerSpec } from '../src/data/types.js';

const jobs = tokenizerJobs((workerData as { tok: TokenizerSpec }).tok);

/** Every thread takes one of each of these: each holds its thread until all n have started (gate counts them). */
interface EveryThread { gate: Int32Array; n: number }

type Task =
  | { kind: 'count'; texts: string[] }
  | { kind: 'encode'; texts: string[] }
  | ({ kind: 'counts' } & EveryThread)
  | ({ kind: 'vocab'; tokens: string[]; tok: TokenizerSpec } & EveryThread);

function hold(t: EveryThread): void {
  Atomics.add(t.gate, 0, 1);
  Atomics.notify(t.gate, 0);
  for (let v = Atomics.load(t.gate, 0); v < t.n; v = Atomics.load(t.gate, 0)) Atomics.wait(t.gate, 0, v, 1000);
}

export default function run(t: Task): Map<string, number> | Encoded | null {
  switch (t.kind) {
    case 'count':
      jobs.count(t.texts);
      return null;
    case 'encode':
      return jobs.encode(t.texts);
    case 'counts': {
      const m = jobs.counts();
      hold(t);
      return m;
    }
    case 'vocab':
      jobs.setVocab(t.tokens, t.tok);
      hold(t);
      return null;
  }
}
