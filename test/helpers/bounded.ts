// Running a command under a memory bound and a time bound: a reader that eats memory without
// limit (a symlink to /dev/zero) or waits forever (a FIFO) is killed and reported, not left to
// take the machine down or hang the suite.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface Bounded {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Highest resident set size seen while it ran, in MiB (from /proc/<pid>/status VmHWM). */
  peakMiB: number;
  /** Why it was killed: the memory or the time bound; null if it exited by itself. */
  killedFor: 'memory' | 'time' | null;
  ms: number;
}

/** `node dist/<cmd>.js args` (from the repository root), killed past `maxMiB` of RSS or `maxMs`. */
export function bounded(cmd: string, args: string[], o: { maxMiB?: number; maxMs?: number; cwd?: string } = {}): Promise<Bounded> {
  const maxMiB = o.maxMiB ?? 300;
  const maxMs = o.maxMs ?? 30_000;
  const t0 = Date.now();
  const child = spawn(process.execPath, [join(ROOT, 'dist', `${cmd}.js`), ...args], { cwd: o.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '', peakMiB = 0;
  let killedFor: Bounded['killedFor'] = null;
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakMiB = Math.max(peakMiB, Number(m[1]) / 1024);
    } catch { /* exited */ }
    if (killedFor) return;
    if (peakMiB > maxMiB) killedFor = 'memory';
    else if (Date.now() - t0 > maxMs) killedFor = 'time';
    if (killedFor) child.kill('SIGKILL');
  }, 20);
  return new Promise((res) => child.on('close', (status, signal) => {
    clearInterval(poll);
    res({ status, signal, stdout, stderr, peakMiB: Math.round(peakMiB), killedFor, ms: Date.now() - t0 });
  }));
}
