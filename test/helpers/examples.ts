import type { Example } from '../../src/index.js';

/** A small learnable task: strings over a, b, x, o; the label says which of x and o occurs more often. */
export function xoExamples(n: number, seed: number): Example[] {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out: Example[] = [];
  while (out.length < n) {
    const len = 3 + Math.floor(rand() * 10);
    let text = '', x = 0, o = 0;
    for (let i = 0; i < len; i++) {
      const c = 'abxo'[Math.floor(rand() * 4)];
      text += c;
      if (c === 'x') x++;
      if (c === 'o') o++;
    }
    if (x !== o) out.push({ text, label: x > o ? 'x' : 'o' });
  }
  return out;
}
