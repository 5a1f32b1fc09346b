// The output layers beside rnn.ts's full softmax, chosen by the spec.

import type { ModelSpec } from '../spec.js';
import type { Kernels } from '../backend/index.js';
import type { OutputHead } from './types.js';
import { AdaptiveHead } from './adaptive.js';
import { TiedProjectionHead } from './tied.js';

export type { OutputHead };

/** The head for `spec` over maxRows state rows, or null for the full softmax on Wya (tied with E = H included). */
export function headOf(spec: ModelSpec, k: Kernels, maxRows: number): OutputHead | null {
  if (spec.adaptive) return new AdaptiveHead(spec, k, maxRows);
  if (spec.tieWeights && spec.E !== spec.H) return new TiedProjectionHead(spec, k, maxRows);
  return null;
}
