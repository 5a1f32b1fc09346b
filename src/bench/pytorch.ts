// The PyTorch side of `npm run bench -- --compare pytorch`: bench/pytorch/bench_rnn.py run as one
// long-lived child process, driven by JSON lines on its stdin/stdout, so that the bench can alternate
// rounds of about a second between our trainer and PyTorch in one run (this machine's speed drifts).
// The script tunes its own environment (1 thread, OpenBLAS's AVX-512 kernel, malloc) before torch loads.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { UserError } from '../util/errors.js';

/** Chooses the interpreter (default /usr/bin/python3, which Debian's python3-torch serves, then python3 on PATH). */
export const PYTHON_ENV = 'RNN_TRAINER_PYTHON';
export const TORCH_INSTALL = 'apt-get update && apt-get install -y python3-torch libopenblas0-pthread';

/** The interpreter to run: $RNN_TRAINER_PYTHON, else /usr/bin/python3 if present, else python3 on PATH. */
export function pythonPath(env: NodeJS.ProcessEnv = process.env): string {
  const chosen = env[PYTHON_ENV];
  if (chosen) return chosen;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** bench/pytorch/bench_rnn.py of this repository (root = the repository). */
export const torchScript = (root: string) => join(root, 'bench', 'pytorch', 'bench_rnn.py');

export interface TorchInfo {
  torch: string;
  python: string;
  threads: number;
  tuned: boolean;
  openblas_core?: string;
  blas_loaded?: string[];
  [k: string]: unknown;
}

export interface TorchSetup {
  V: number; E: number; H: number; C: number; B: number; T: number;
  /** classify (default): many-to-one, C classes; lm: the next token at every step, a full softmax over V. */
  task?: 'classify' | 'lm';
  cell: string;
  input: 'embedding' | 'onehot';
  lengths: 'full' | 'variable';
  /** The real lengths of each batch (variable mode): both sides then train the same lengths. */
  batchLengths?: number[][];
  /** A language model's output layer: full (default), tied (Linear sharing the embedding's weight, through a projection when E ≠ H) or adaptive (nn.AdaptiveLogSoftmaxWithLoss with `adaptive`'s cutoffs and div_value, no head bias). */
  head?: 'full' | 'tied' | 'adaptive';
  adaptive?: { cutoffs: number[]; divValue: number };
  /** Token ids in [1, V): uniform (default) or Zipf, P(1 + r) ∝ 1/(r + 1) (src/bench/zipf.ts). */
  tokens?: 'uniform' | 'zipf';
  /** bf16: the forward (and so its backward) under torch.autocast('cpu', bfloat16); default f32. */
  precision?: 'f32' | 'bf16';
  /** Batches to cycle through (default 8; batchLengths.length when given). */
  batches?: number;
  seed?: number;
  id?: string;
}

export interface TorchRun { steps: number; tokens: number; ms: number[]; stepTokens: number[] }
export interface TorchMm { M: number; N: number; K: number; transB: boolean; gflops: number; usPerCall: number; calls: number }

/** One PyTorch child process; requests are answered in order, one line each. */
export class TorchChild {
  private readonly waiting: Array<{ resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }> = [];
  private stderrTail = '';
  private exited: string | null = null;

  private constructor(private readonly child: ChildProcessWithoutNullStreams, readonly python: string, readonly info: TorchInfo) {}

  /**
   * Start the child (tuned for `threads` intra-op threads) and wait for its `ready` line. Errors say what is missing and how to install it:
   * no interpreter, no torch, or the script failing before it is ready.
   */
  static async start(script: string, python = pythonPath(), threads = 1): Promise<TorchChild> {
    const install = `install PyTorch with \`${TORCH_INSTALL}\``;
    if (!existsSync(script)) throw new UserError(`PyTorch comparison: script not found: ${script}`);
    if (python.includes('/') && !existsSync(python)) {
      throw new UserError(`PyTorch comparison: python interpreter ${python} not found (${PYTHON_ENV} chooses another); ${install}`);
    }
    const child = spawn(python, [script, '--serve', '--threads', String(threads)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    const lines = createInterface({ input: child.stdout });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-2000)));
    const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const fail = (why: string) => reject(new UserError(`PyTorch comparison: ${why}`));
      child.once('error', (e: NodeJS.ErrnoException) => fail(e.code === 'ENOENT'
        ? `python interpreter ${python} not found (${PYTHON_ENV} chooses another); ${install}`
        : `cannot run ${python}: ${e.message}`));
      child.once('exit', (code, signal) => fail(`${python} ${script} exited (${signal ?? `status ${code}`}) before it was ready${tail ? `: ${tail.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
      lines.once('line', (line) => {
        try {
          resolve(JSON.parse(line) as Record<string, unknown>);
        } catch {
          fail(`unexpected output from ${script}: ${line.slice(0, 200)}`);
        }
      });
    });
    if (first.missing === 'torch' || !first.ready) {
      child.kill();
      const why = String(first.error ?? JSON.stringify(first));
      throw new UserError(first.missing === 'torch'
        ? `PyTorch comparison: ${python} cannot import torch (${String(first.reason ?? why)}); ${install} and run it with /usr/bin/python3 (or set ${PYTHON_ENV} to an interpreter that has torch)`
        : `PyTorch comparison: ${python} ${script} did not start: ${why}`);
    }
    child.removeAllListeners('exit');
    child.removeAllListeners('error');
    const tc = new TorchChild(child, python, first as unknown as TorchInfo);
    tc.stderrTail = tail;
    child.stderr.removeAllListeners('data');
    child.stderr.on('data', (d: Buffer) => (tc.stderrTail = (tc.stderrTail + d.toString()).slice(-2000)));
    lines.on('line', (line) => {
      const w = tc.waiting.shift();
      if (!w) return;
      try {
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (typeof msg.error === 'string') w.reject(new UserError(`PyTorch comparison: ${msg.error}`));
        else w.resolve(msg);
      } catch {
        w.reject(new UserError(`PyTorch comparison: unexpected output: ${line.slice(0, 200)}`));
      }
    });
    child.on('exit', (code, signal) => {
      tc.exited = `the PyTorch process exited (${signal ?? `status ${code}`})${tc.stderrTail ? `: ${tc.stderrTail.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
      for (const w of tc.waiting.splice(0)) w.reject(new UserError(`PyTorch comparison: ${tc.exited}`));
    });
    child.on('error', () => {});
    child.stdin.on('error', () => {}); // a dead child: reported by 'exit'
    return tc;
  }

  request(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new UserError(`PyTorch comparison: ${this.exited}`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(JSON.stringify(req) + '\n');
    });
  }

  /** Build a model with its batches (and warm it up); `id` names it for run(). */
  async setup(s: TorchSetup): Promise<{ params: number; trainable: number; tokensPerStep: number[]; setupMs: number }> {
    return (await this.request({ cmd: 'setup', ...s })) as never;
  }

  /** Train for about `seconds` (at least one step): per-step ms and real tokens. */
  async run(seconds: number, id?: string, maxSteps?: number): Promise<TorchRun> {
    return (await this.request({ cmd: 'run', seconds, id, maxSteps })) as never;
  }

  async drop(id?: string): Promise<void> {
    await this.request({ cmd: 'drop', id });
  }

  /** GFLOP/s of torch.mm (A[M,K]·B[K,N]; transB: B stored N×K, as nn.RNN's h·W_hhᵀ). */
  async mm(M: number, N: number, K: number, seconds: number, transB = true): Promise<TorchMm> {
    return (await this.request({ cmd: 'mm', M, N, K, seconds, transB })) as never;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill(), 5000);
    await done;
    clearTimeout(timer);
  }
}
