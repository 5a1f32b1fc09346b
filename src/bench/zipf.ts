// Zipf-distributed token ids for the bench's language models and generated text: rank r (0-based)
// has probability ∝ 1/(r + 1) (exponent 1, as word frequencies in text roughly are), sampled by
// inverting the cumulative sum. bench/pytorch/bench_rnn.py draws from the same distribution.

import type { Rng } from '../util/prng.js';

/** A sampler of ranks in [0, n) with P(r) ∝ 1/(r + 1). */
export function zipfSampler(n: number): (rng: Rng) => number {
  const cdf = new Float64Array(n);
  let s = 0;
  for (let r = 0; r < n; r++) cdf[r] = s += 1 / (r + 1);
  return (rng) => {
    const u = rng.uniform() * s;
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** The share of draws below `k`: Σ_{r<k} 1/(r+1) over Σ_{r<n} 1/(r+1) (how often a target falls in a shortlist of k). */
export function zipfShare(n: number, k: number): number {
  let a = 0, s = 0;
  for (let r = 0; r < n; r++) {
    s += 1 / (r + 1);
    if (r < k) a = s;
  }
  return a / s;
}
