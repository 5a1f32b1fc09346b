// The oneDNN side of `npm run bench -- --compare onednn`: bench/peers/onednn/dnnl_rnn_bench.cpp,
// oneDNN's own f32 RNN/LSTM training primitives (forward_training + backward of one layer) on the
// same shapes. Compiled once per source and compiler into a cache folder outside the repository;
// where the compiler or the library is missing, the bench prints one line and goes on without it.
// Its figure is the recurrent layer alone: no embedding, head or optimizer (ours is a full step).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const ONEDNN_INSTALL = 'apt-get install -y libdnnl-dev';

/** The tool's source in this repository (root = the repository). */
export const onednnSource = (root: string) => join(root, 'bench', 'peers', 'onednn', 'dnnl_rnn_bench.cpp');

/** Where the compiled tool is kept: $XDG_CACHE_HOME/rnn-trainer/onednn, else ~/.cache/rnn-trainer/onednn. */
export function onednnCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'rnn-trainer', 'onednn');
}

export type OnednnBuild = { binary: string; compiled: boolean } | { note: string };

/**
 * The compiled tool: reused from `cacheDir` when this source was compiled by this compiler before,
 * else compiled now (`cxx -O2 … -ldnnl`). A missing compiler or library gives a one-line note instead.
 */
export function buildOnednn(source: string, cacheDir = onednnCacheDir(), cxx = process.env.CXX || 'g++'): OnednnBuild {
  const skip = (why: string) => ({ note: `oneDNN comparison skipped: ${why}` });
  if (!existsSync(source)) return skip(`its source ${source} is missing`);
  const hash = createHash('sha256').update(cxx).update('\0').update(readFileSync(source)).digest('hex').slice(0, 16);
  const binary = join(cacheDir, `dnnl_rnn_bench-${hash}`);
  if (existsSync(binary)) return { binary, compiled: false };
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  const r = spawnSync(cxx, ['-O2', '-o', tmp, source, '-ldnnl'], { encoding: 'utf8' });
  if (r.error) {
    const e = r.error as NodeJS.ErrnoException;
    return skip(e.code === 'ENOENT' ? `no C++ compiler \`${cxx}\` (install g++, or set CXX)` : `cannot run ${cxx}: ${e.message}`);
  }
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    const err = r.stderr ?? '';
    if (/dnnl\.hpp|-ldnnl|ldnnl/.test(err)) return skip(`oneDNN is not installed (\`${ONEDNN_INSTALL}\`)`);
    const first = err.split('\n').find((l) => /error/i.test(l)) ?? err.split('\n')[0] ?? '';
    return skip(`${cxx} could not compile ${source}: ${first.trim().slice(0, 200)}`);
  }
  renameSync(tmp, binary);
  return { binary, compiled: true };
}

/** One run of the tool: its mean step over `iters` steps after the warm-up. */
export interface OnednnRun {
  cell: 'rnn' | 'lstm';
  E: number; H: number; B: number; T: number;
  msPerStep: number; tokensPerSec: number; gflops: number;
  /** oneDNN's implementation names (forward, backward) and version, when printed. */
  implFwd?: string; implBwd?: string; version?: string;
}

/** The tool's stdout: `impl fwd: X  bwd: Y  oneDNN a.b.c`, then `rnn E=.. H=.. B=.. T=..: M ms/step  N tokens/s  G GFLOP/s`. */
export function parseOnednnOutput(stdout: string): OnednnRun {
  const m = /^(rnn|lstm) E=(\d+) H=(\d+) B=(\d+) T=(\d+): ([\d.]+) ms\/step\s+([\d.]+) tokens\/s\s+([\d.]+) GFLOP\/s\s*$/m.exec(stdout);
  if (!m) throw new Error(`unexpected output from the oneDNN tool: ${stdout.trim().slice(0, 300) || '(none)'}`);
  const impl = /^impl fwd: (.+?)\s+bwd: (.+?)(?:\s+oneDNN (\S+))?\s*$/m.exec(stdout);
  return {
    cell: m[1] as 'rnn' | 'lstm', E: +m[2], H: +m[3], B: +m[4], T: +m[5],
    msPerStep: +m[6], tokensPerSec: +m[7], gflops: +m[8],
    ...(impl ? { implFwd: impl[1], implBwd: impl[2], ...(impl[3] ? { version: impl[3] } : {}) } : {}),
  };
}

export interface OnednnShape { E: number; H: number; B: number; T: number }

/** Runs the tool once on `threads` OpenMP threads: `iters` timed steps after `warmup`. */
export function runOnednn(binary: string, cell: 'rnn' | 'lstm', s: OnednnShape, threads: number, iters: number, warmup: number): Promise<OnednnRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [cell, s.E, s.H, s.B, s.T, iters, warmup].map(String), {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: String(threads) },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`the oneDNN tool ${binary} exited (${signal ?? `status ${code}`})${err ? `: ${err.trim().split('\n').slice(-2).join(' | ')}` : ''}`));
      try {
        resolve(parseOnednnOutput(out));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

/** The cells the tool runs. */
export const ONEDNN_CELLS: readonly string[] = ['rnn', 'lstm'];
