// `npm run bench -- --data`: the data pipeline on a corpus it generates itself in a temporary
// folder (Zipf-distributed words in paragraphs; nothing committed, removed at the end):
//   1. prepare MB/s per tokenizer (char, word, and bpe when the config schema has it): input
//      bytes over the wall time of both passes, and over the CPU time of the whole process
//      (process.cpuUsage, threads included: the fair figure on a shared machine);
//   2. training tokens/s of the same language model on the same text, in memory and from shards
//      (the corpus is cut to what the in-memory path reads);
//   3. peak resident memory (maxRSS of the whole process, worker threads included) while training
//      from a large shard set (--data-large MB of text, char tokenizer), in a child process.
// One JSON object per line.

import { mkdtempSync, openSync, writeSync, closeSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { prepareData } from '../data/prepare.js';
import { IN_MEMORY_MAX_BYTES } from '../data/load.js';
import { checkConfig } from '../config/load.js';
import { trainRun, type ConfigInput } from '../train/run.js';
import { Rng } from '../util/prng.js';
import type { DataConfig } from '../config/types.js';
import { zipfSampler } from './zipf.js';

export interface DataBenchOptions {
  /** MB of text for the prepare and training rows. */
  mb: number;
  /** MB of text of the large shard set (0: skip that row). */
  largeMb: number;
  workers: number;
  /** Training steps measured per side (after 3 warm-up steps). */
  steps: number;
  kernels?: string;
}

/** `mb` MB of paragraphs of Zipf-distributed words (a vocabulary of 50,000) into `file`. */
function generate(file: string, mb: number, seed: number): number {
  const rng = new Rng(seed, 7);
  const V = 50_000;
  const zipf = zipfSampler(V); // Zipf(1): P(rank r) ∝ 1/r
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  const word = (r: number) => {
    let w = '', x = r + 1;
    while (x > 0) { w += letters[x % 26]; x = Math.floor(x / 26); }
    return w;
  };
  const words = Array.from({ length: V }, (_, r) => word(r));
  const fd = openSync(file, 'w');
  let bytes = 0;
  try {
    while (bytes < mb * 1e6) {
      const lines: string[] = [];
      const nl = 1 + rng.int(6);
      for (let l = 0; l < nl; l++) {
        const n = 4 + rng.int(16), ws: string[] = [];
        for (let k = 0; k < n; k++) {
          ws.push(words[zipf(rng)]);
        }
        lines.push(ws.join(' ') + (rng.int(4) === 0 ? ',' : '.'));
      }
      bytes += writeSync(fd, lines.join('\n') + '\n\n');
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

function lmConfig(file: string, tokenizer: string, extra: Partial<DataConfig> = {}): ConfigInput {
  return {
    name: 'bench', out: 'runs', seed: 1,
    data: { source: 'files', file, tokenizer: tokenizer as DataConfig['tokenizer'], split: { val: 0.001, test: 0.001 }, seqLength: 64, vocab: { maxSize: 8000 }, ...extra },
    model: { task: 'many-to-many', cell: 'lstm', hidden: 128, input: { embedding: 64 } },
    train: { epochs: 1, batchSize: 32, carryState: true, optimizer: 'adam', lr: 0.002, logEvery: 1000, validateEvery: 0 },
    checkpoint: { every: 0, keepLast: 1 },
  };
}

const line = (o: Record<string, unknown>) => console.log(JSON.stringify(o));

export async function benchData(o: DataBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rnn-bench-data-'));
  try {
    // ---- 1. prepare throughput
    const text = join(dir, 'corpus.txt');
    const bytes = generate(text, o.mb, 1);
    const tokenizers = ['char', 'word'];
    try {
      checkConfig(lmConfig('corpus.txt', 'bpe'), { label: 'bench', configDir: dir, checkFiles: false });
      tokenizers.push('bpe');
    } catch { /* this build has no bpe tokenizer */ }
    for (const tokenizer of tokenizers) {
      const cfg = checkConfig(lmConfig('corpus.txt', tokenizer), { label: 'bench', configDir: dir });
      const t0 = performance.now(), c0 = process.cpuUsage();
      const r = await prepareData(cfg.data, { configDir: dir, task: 'many-to-many', out: join(dir, `shards-${tokenizer}`), workers: o.workers });
      const s = (performance.now() - t0) / 1000, c = process.cpuUsage(c0), cpu = (c.user + c.system) / 1e6;
      line({ bench: 'prepare', tokenizer, workers: o.workers, inputMB: +(bytes / 1e6).toFixed(1), seconds: +s.toFixed(2), MBperSec: +(bytes / 1e6 / s).toFixed(1),
        cpuSeconds: +cpu.toFixed(2), MBperCpuSec: +(bytes / 1e6 / cpu).toFixed(1),
        vocab: r.meta.vocab.length, tokens: r.meta.report.splits.train.tokens + r.meta.report.splits.val.tokens + r.meta.report.splits.test.tokens, shards: r.shards });
    }

    // ---- 2. training tokens/s, in memory and from shards, on the same (char) corpus
    const small = join(dir, 'small.txt');
    const smallBytes = generate(small, Math.min(o.mb, (IN_MEMORY_MAX_BYTES.char * 0.9) / 1e6), 1);
    const base = lmConfig('small.txt', 'char');
    const smallCfg = checkConfig(base, { label: 'bench', configDir: dir });
    await prepareData(smallCfg.data, { configDir: dir, task: 'many-to-many', out: join(dir, 'shards-small'), workers: o.workers });
    const rates: Record<string, number> = {};
    for (const side of ['memory', 'shards'] as const) {
      const config: ConfigInput = side === 'memory' ? base : { ...base, data: { ...base.data!, shards: 'shards-small' } };
      const rs: number[] = [];
      await trainRun({
        config, baseDir: dir, out: join(dir, `runs-${side}`), workers: o.workers, kernels: o.kernels, maxSteps: 3 + o.steps,
        onStep: (e) => { if (e.step > 3) rs.push(e.tokensPerSec); }, onMessage: () => {},
      });
      rates[side] = rs.reduce((a, b) => a + b, 0) / rs.length;
    }
    line({ bench: 'train', corpusMB: +(smallBytes / 1e6).toFixed(1), workers: o.workers, steps: o.steps, tokensPerSecMemory: Math.round(rates.memory), tokensPerSecShards: Math.round(rates.shards), shardsOverMemory: +(rates.shards / rates.memory).toFixed(3) });

    // ---- 3. peak RSS while training from a large shard set
    if (o.largeMb > 0) {
      const big = join(dir, 'large.txt');
      const bigBytes = generate(big, o.largeMb, 2);
      const cfg = lmConfig('large.txt', 'char', { shards: 'shards-large' });
      const loaded = checkConfig(cfg, { label: 'bench', configDir: dir });
      const t0 = performance.now();
      const r = await prepareData(loaded.data, { configDir: dir, task: 'many-to-many', out: join(dir, 'shards-large'), workers: o.workers });
      const prepS = (performance.now() - t0) / 1000;
      rmSync(big); // training reads the shards only
      writeFileSync(join(dir, 'large.json'), JSON.stringify(cfg));
      const shardBytes = r.shards > 0 ? Array.from({ length: r.shards }, (_, k) => statSync(join(dir, 'shards-large', `shard-${String(k).padStart(5, '0')}.tok`)).size).reduce((a, b) => a + b, 0) : 0;
      const index = join(dirname(fileURLToPath(import.meta.url)), '..', 'index.js');
      const child = `import { trainRun } from ${JSON.stringify(index)};
        const s = await trainRun({ config: ${JSON.stringify(join(dir, 'large.json'))}, workers: ${o.workers}, maxSteps: ${3 + o.steps}, onMessage: () => {} });
        console.log(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS * 1024, steps: s.steps ?? null }));`;
      const c = spawnSync(process.execPath, ['--input-type=module', '-e', child], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...(o.kernels ? { RNN_TRAINER_KERNELS: o.kernels } : {}) } });
      if (c.status !== 0) throw new Error(`training from the large shard set failed: ${c.stderr.slice(-2000)}`);
      const rss = JSON.parse(c.stdout.trim().split('\n').at(-1)!).maxRSS as number;
      line({ bench: 'large-shards', textMB: +(bigBytes / 1e6).toFixed(1), shardMB: +(shardBytes / 1e6).toFixed(1), prepareSeconds: +prepS.toFixed(1), prepareMBperSec: +(bigBytes / 1e6 / prepS).toFixed(1), workers: o.workers, steps: 3 + o.steps, peakRSSMiB: Math.round(rss / 2 ** 20) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
