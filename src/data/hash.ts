// Split assignment by a hash of each example's key, not by a shuffle: an example's split depends
// on its key alone, so adding or removing other rows never moves it.
//
// Hash: FNV-1a 32 over the key's UTF-16 code units, then murmur3's fmix32 finalizer so that the
// high bits (which pick the split) are well mixed even for short keys like names.

import type { SplitName } from './types.js';
import { fmix32 } from '../util/prng.js';

export function hash32(s: string, salt = 0x811c9dc5): number {
  let h = salt >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** The key's position in [0, 1). */
export function hashUnit(key: string, salt?: number): number {
  return hash32(key, salt) / 4294967296;
}

/** u < test: test; u < test + val: val; else train. */
export function splitOf(key: string, fractions: { val: number; test: number }): SplitName {
  const u = hashUnit(key);
  if (u < fractions.test) return 'test';
  if (u < fractions.test + fractions.val) return 'val';
  return 'train';
}

// Sampling uses a different salt, so the sampled subset is independent of the split.
const SAMPLE_SALT = 0x5a4d504c;

/** Whether the example with this key is in a `sample` fraction of the data. */
export function inSample(key: string, sample: number): boolean {
  return sample >= 1 || hashUnit(key, SAMPLE_SALT) < sample;
}
