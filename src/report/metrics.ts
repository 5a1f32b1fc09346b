// <run dir>/metrics.jsonl: one JSON object a line, per logged training step and per evaluation.
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { OutputError } from '../util/errors.js';
import { MiB, onDisk, readInputFileIfExists, writeTextReplacing } from '../util/files.js';

/** Largest run file read back (metrics.jsonl, grad-profile.jsonl): about a million logged steps. */
export const MAX_RUN_LOG_BYTES = 256 * MiB;
/** Ends the message of a failed write during a run. */
const RESUME_HINT = 'The checkpoints written so far are kept: once fixed, continue with --resume latest';

/**
 * The text of a log file the run keeps in its directory (metrics.jsonl, grad-profile.jsonl), or
 * '' if there is none. It must be a regular file of at most MAX_RUN_LOG_BYTES.
 */
export function readRunLog(file: string): string {
  const b = readInputFileIfExists(file, {
    what: 'run file', maxBytes: MAX_RUN_LOG_BYTES,
    error: (m) => new OutputError(`${m}; this file belongs to the run directory: move it away (the run writes a new one), or use another --out or run name`, file),
  });
  return b ? b.toString('utf8') : '';
}
export const METRICS_FILE = 'metrics.jsonl';

/** One line of metrics.jsonl. Numbers that are not finite (NaN loss) are written as null. */
export interface MetricsRow {
  /** Global optimizer step (1-based: the step just taken). For val/test rows, the step evaluated at. */
  step: number;
  /** Epoch (1-based). */
  epoch: number;
  kind: 'train' | 'val' | 'test';
  /** Mean cross-entropy per target token (train: of the logged step's batch; val/test: of the split). */
  loss: number | null;
  /** Fraction of targets predicted right (argmax). */
  accuracy?: number | null;
  /** Global gradient norm before clipping (train rows). */
  gradNorm?: number | null;
  /** Whether the gradient was clipped at this step (train rows). */
  clipped?: boolean;
  /** Learning rate used for this step (train rows). */
  lr?: number;
  /** Target tokens per second of wall time, averaged since the last logged row (train rows). */
  tokensPerSec?: number | null;
  /** Milliseconds of this step in forward+backward (workers), gradient reduction, and the optimizer update. */
  fwdBwdMs?: number;
  reduceMs?: number;
  updateMs?: number;
  /** The compute backend of the step, "<backend>/<isa>" (train rows with timings). */
  kernels?: string;
  /** Seconds since the run started (resumed runs continue the count). */
  elapsedSec?: number;
}

/**
 * Appends rows to `<runDir>/metrics.jsonl`; one write per row, so a crash loses at most the row
 * being written. Opening a file that exists appends to it (resume): a torn last line from a crash
 * is cut off first, and with `resumeStep` the rows after the resumed step (which the resumed run
 * will log again) are dropped.
 */
export class MetricsLog {
  readonly file: string;
  private fd: number | undefined;

  constructor(runDir: string, opts: { resumeStep?: number } = {}) {
    this.file = join(runDir, METRICS_FILE);
    const rows = readMetrics(this.file); // also checks that an existing file is a regular file
    if (opts.resumeStep !== undefined && rows.length > 0) {
      const keep = rows.filter((r) => r.step <= opts.resumeStep!);
      writeTextReplacing(this.file, keep.map((r) => JSON.stringify(r) + '\n').join(''), 'the metrics log');
    }
    const fd = onDisk('open the metrics log', this.file, () => openSync(this.file, 'a+'));
    this.fd = fd;
    onDisk('repair the metrics log', this.file, () => cutTornLine(fd));
  }

  append(row: MetricsRow): void {
    if (this.fd === undefined) throw new Error(`${this.file}: MetricsLog is closed`);
    const line = Buffer.from(JSON.stringify(row, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)) + '\n');
    const fd = this.fd;
    onDisk('append to the metrics log', this.file, () => {
      for (let off = 0; off < line.length;) off += writeSync(fd, line, off, line.length - off);
    }, RESUME_HINT);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** If the file does not end with a newline, cut it back to its last one. */
function cutTornLine(fd: number): void {
  const size = fstatSync(fd).size;
  if (size === 0) return;
  const buf = Buffer.alloc(Math.min(size, 1 << 16));
  let end = size;
  readSync(fd, buf, 0, 1, size - 1);
  if (buf[0] === 0x0a) return;
  while (end > 0) {
    const start = Math.max(0, end - buf.length);
    const n = readSync(fd, buf, 0, end - start, start);
    const i = buf.subarray(0, n).lastIndexOf(0x0a);
    if (i >= 0) { ftruncateSync(fd, start + i + 1); return; }
    end = start;
  }
  ftruncateSync(fd, 0);
}

/** The rows of a metrics.jsonl (unparseable lines, e.g. torn by a crash, are skipped); [] if there is no file. */
export function readMetrics(file: string): MetricsRow[] {
  const rows: MetricsRow[] = [];
  for (const line of readRunLog(file).split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricsRow;
      if (r && typeof r.step === 'number' && typeof r.kind === 'string') rows.push(r);
    } catch { /* torn line */ }
  }
  return rows;
}

/**
 * Rows as one run: when a resumed run logs a step again, the rows of the same kind from that
 * step on that came before it are dropped.
 */
export function dedupeResumed(rows: readonly MetricsRow[]): MetricsRow[] {
  const out: MetricsRow[] = [];
  const lastStep = new Map<string, number>();
  for (const r of rows) {
    const prev = lastStep.get(r.kind);
    if (prev !== undefined && r.step <= prev) {
      for (let i = out.length - 1; i >= 0; i--) if (out[i].kind === r.kind && out[i].step >= r.step) out.splice(i, 1);
    }
    out.push(r);
    lastStep.set(r.kind, r.step);
  }
  return out;
}
