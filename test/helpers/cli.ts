// Shared by the command tests: run a built command as a user does, train a small checkpoint,
// and a tiny character language model to train. Needs `npm run build` (npm test runs it first).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const DIST = join(ROOT, 'dist');

/** `node dist/<cmd>.js args...` in the project root (or `cwd`), with `input` on stdin. */
export const node = (cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}) =>
  spawnSync(process.execPath, [join(DIST, `${cmd}.js`), ...args], { encoding: 'utf8', cwd: opts.cwd ?? ROOT, input: opts.input });

export interface Run { ckpt: string; dir: string; test: { loss: number; accuracy: number } }

/** Trains `config` into `out` and returns its last checkpoint and the test row of metrics.jsonl. */
export function train(config: string, out: string, name: string, args: string[] = []): Run {
  const r = node('train', ['--config', config, '--out', out, '--quiet', '--workers', '2', ...args]);
  if (r.status !== 0) throw new Error(`training failed: ${r.stderr}`);
  const dir = join(out, name);
  const rows = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const test = rows.filter((x) => x.kind === 'test').at(-1);
  const step = rows.at(-1).step as number;
  return { ckpt: join(dir, 'checkpoints', `step-${String(step).padStart(9, '0')}.ckpt`), dir, test };
}

/** A small deterministic corpus of paragraphs for a character language model. */
export function lmText(paragraphs: number): string {
  const words = 'the cat sat on a mat and the dog ran to the red ball while a bird sang in the old tree'.split(' ');
  let s = 1;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648);
  const out: string[] = [];
  for (let p = 0; p < paragraphs; p++) out.push(Array.from({ length: 12 }, () => words[Math.floor(rnd() * words.length)]).join(' ') + '.');
  return out.join('\n\n') + '\n';
}

export const LM_CONFIG = {
  name: 'tiny-lm', seed: 3,
  data: { source: 'files', format: 'text', file: 'lm.txt', split: { val: 0.2, test: 0.2 }, seqLength: 16, bos: true, eos: true },
  model: { task: 'many-to-many', hidden: 24, input: 'onehot' },
  train: { optimizer: 'adam', lr: 0.01, clipNorm: 1, epochs: 100, batchSize: 8, maxSteps: 120, logEvery: 50 },
  checkpoint: { every: 0, keepLast: 1 },
};

/** True when stderr holds no stack trace. */
export const noStack = (s: string) => !/\n\s+at /.test(s);
