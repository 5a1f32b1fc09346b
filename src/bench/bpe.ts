// BPE tokenizer throughput: training (pre-tokenize and count, then learn the merges) and encoding,
// in MB/s of UTF-8 text, on a generated corpus (nothing is downloaded or committed) or a file.
// Each rate is given per wall-clock second and per CPU second of this process (process.cpuUsage:
// on a machine shared with other work, the CPU time is the fairer of the two).
//
//   node dist/src/bench/bpe.js [--mb 32] [--vocab 20000] [--file PATH]
//
// The generated corpus: words of 1-4 random syllables drawn by Zipf's law (s = 1.1) from 50,000,
// sentences of 5-20 words with commas, capitals and full stops, paragraphs of 1-6 sentences, so
// unique pre-tokens and merge counts look like those of real prose.

import { readFileSync } from 'node:fs';
import { BpeTrainer } from '../data/bpe.js';
import { normalizeText } from '../data/tokenize.js';
import { Rng } from '../util/prng.js';

function corpus(mb: number, seed: number): string[] {
  const rng = new Rng(seed, 1);
  const syl = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'te', 'vi', 'do', 'pe', 'an', 'or', 'is', 'th', 'er', 'st', 'ch', 'qu', 'ai', 'ou', 'ing', 'ed', 'ly'];
  const W = 50_000;
  const words = Array.from({ length: W }, () => Array.from({ length: 1 + Math.floor(rng.uniform() * 4) }, () => syl[Math.floor(rng.uniform() * syl.length)]).join(''));
  const cdf = new Float64Array(W);
  let z = 0;
  for (let i = 0; i < W; i++) cdf[i] = z += 1 / (i + 1) ** 1.1;
  const word = () => {
    const u = rng.uniform() * z;
    let lo = 0, hi = W - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid] < u) lo = mid + 1; else hi = mid; }
    return words[lo];
  };
  const docs: string[] = [];
  let bytes = 0;
  while (bytes < mb * 1e6) {
    let p = '';
    for (let s = 1 + Math.floor(rng.uniform() * 6); s > 0; s--) {
      const n = 5 + Math.floor(rng.uniform() * 16);
      for (let i = 0; i < n; i++) {
        const w = word();
        p += (i === 0 ? w[0].toUpperCase() + w.slice(1) : w) + (i === n - 1 ? '. ' : rng.uniform() < 0.08 ? ', ' : ' ');
      }
    }
    docs.push(p.trimEnd());
    bytes += p.length;
  }
  return docs;
}

function main(): void {
  const arg = (name: string, d: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : d;
  };
  const vocab = Number(arg('vocab', '20000')), file = arg('file', '');
  const docs = file ? readFileSync(file, 'utf8').split(/\n\s*\n/).map((d) => normalizeText(d, false)) : corpus(Number(arg('mb', '32')), 1);
  const mb = docs.reduce((a, d) => a + Buffer.byteLength(d), 0) / 1e6;
  // [wall seconds, CPU seconds] since the start.
  const w0 = performance.now(), c0 = process.cpuUsage();
  const now = () => { const c = process.cpuUsage(c0); return [(performance.now() - w0) / 1000, (c.user + c.system) / 1e6]; };
  const tr = new BpeTrainer();
  for (const d of docs) tr.addText(d);
  const t1 = now();
  const bpe = tr.finish(vocab);
  const t2 = now();
  let ids = 0;
  const count = () => { ids++; };
  for (const d of docs) bpe.encodeKept(d, Infinity, false, count); // as the data path encodes
  const t3 = now();
  const rate = (a: number[], b: number[]) => ({ wall: +(mb / (b[0] - a[0])).toFixed(2), cpu: +(mb / (b[1] - a[1])).toFixed(2) });
  const t0 = [0, 0];
  const out = {
    corpus: file || 'generated (Zipf words)', mb: +mb.toFixed(1), uniquePretokens: tr.size, merges: bpe.size,
    seconds: { count: t1.map((x) => +x.toFixed(2)), merge: t2.map((x, i) => +(x - t1[i]).toFixed(2)), encode: t3.map((x, i) => +(x - t2[i]).toFixed(2)) },
    trainMBps: rate(t0, t2), countMBps: rate(t0, t1), encodeMBps: rate(t2, t3),
    tokens: ids, bytesPerToken: +((mb * 1e6) / ids).toFixed(2),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
