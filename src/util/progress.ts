// Training progress on the console. On a terminal: one line redrawn in place (bar, epoch,
// step/total, loss, tokens/s, elapsed, ETA; a narrow terminal drops the bar and the less useful
// fields first). Anywhere else (CI, a file, a pipe): a plain log line every
// `logEverySteps` steps or `logEverySeconds` seconds, with no control characters at all.

import { formatDuration } from '../util/format.js';

export { formatDuration };

export interface OutStream {
  write(s: string): unknown;
  /** True on a terminal (process.stdout.isTTY). */
  isTTY?: boolean;
  /** Terminal width. */
  columns?: number;
}

export interface ProgressOptions {
  /** Default process.stdout. */
  stream?: OutStream;
  /** The environment the launcher check reads (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Steps of the whole run (for the bar and the ETA); 0 or undefined if unknown. */
  totalSteps?: number;
  /** Epochs of the whole run. */
  epochs?: number;
  /** Non-terminal: a line at least every this many steps (default 10)... */
  logEverySteps?: number;
  /** ...or when this many seconds have passed since the last line (default 30). */
  logEverySeconds?: number;
  /** Terminal: redraw at most this often (default 100 ms). */
  redrawMs?: number;
  /** No step output and no log() lines (--quiet: the summary, printed apart, is all). */
  quiet?: boolean;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  accuracy?: number;
  tokensPerSec?: number;
  lr?: number;
}

/**
 * The parallel launcher this process runs under, or null. Open MPI's mpirun and Slurm's srun give
 * each rank a pseudo-terminal (or forward one), but their output is collected and interleaved (often
 * into a log file): a bar redrawn with \r and escapes would fill it with one endless line. Under a
 * launcher, progress is printed a line at a time.
 */
export function underLauncher(env: NodeJS.ProcessEnv): string | null {
  if (env.OMPI_COMM_WORLD_SIZE !== undefined || env.PMIX_RANK !== undefined || env.PMI_RANK !== undefined) return 'mpi';
  if (env.SLURM_STEP_ID !== undefined || env.SLURM_PROCID !== undefined) return 'slurm';
  return null;
}

/** Removes everything a terminal would interpret (ESC sequences, \r, other C0/C1 controls), keeping \n and \t. */
export function stripControl(s: string): string {
  return s.replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '');
}

export class Progress {
  private readonly stream: OutStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly o: Required<Pick<ProgressOptions, 'logEverySteps' | 'logEverySeconds' | 'redrawMs' | 'quiet'>> & ProgressOptions;
  private startTime: number;
  /** For the elapsed time shown (startTime moves to the first step, for the ETA's pace). */
  private readonly createdAt: number;
  private startStep: number | undefined;
  private lastLineTime: number;
  private lastLineStep = -Infinity;
  private lastDraw = -Infinity;
  private barShown = false;
  private last: StepInfo | undefined;

  constructor(opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stdout;
    this.tty = this.stream.isTTY === true && underLauncher(opts.env ?? process.env) === null;
    this.now = opts.now ?? Date.now;
    this.o = { logEverySteps: 10, logEverySeconds: 30, redrawMs: 100, quiet: false, ...opts };
    this.startTime = this.now();
    this.createdAt = this.startTime;
    this.lastLineTime = this.startTime;
  }

  /** Call after every step (cheap: it prints only when a line or redraw is due). */
  update(s: StepInfo): void {
    if (this.startStep === undefined) { this.startStep = s.step - 1; this.startTime = this.now(); }
    this.last = s;
    if (this.o.quiet) return;
    const t = this.now();
    const final = this.o.totalSteps !== undefined && s.step >= this.o.totalSteps;
    if (this.tty) {
      if (!final && t - this.lastDraw < this.o.redrawMs) return;
      this.lastDraw = t;
      this.draw(this.line(s, true));
    } else {
      const due = s.step - this.lastLineStep >= this.o.logEverySteps || (t - this.lastLineTime) / 1000 >= this.o.logEverySeconds || final;
      if (!due || s.step === this.lastLineStep) return;
      this.lastLineStep = s.step;
      this.lastLineTime = t;
      this.stream.write(this.line(s, false) + '\n');
    }
  }

  /** A line of its own (validation results, checkpoint saved, warnings), above the bar on a terminal. */
  log(text: string): void {
    if (this.o.quiet) return;
    if (this.tty) {
      this.clear();
      this.stream.write(text + '\n');
      if (this.last && !this.o.quiet) this.draw(this.line(this.last, true));
    } else {
      this.stream.write(stripControl(text) + '\n');
    }
  }

  /** Ends the bar's line (call before printing a summary). */
  done(): void {
    if (this.tty && this.barShown) {
      if (this.last) this.draw(this.line(this.last, true));
      this.stream.write('\n');
      this.barShown = false;
    }
  }

  /** Seconds left at the pace since the first update, or undefined if not known yet. */
  eta(step: number): number | undefined {
    const total = this.o.totalSteps;
    if (!total || this.startStep === undefined) return undefined;
    const done = step - this.startStep;
    const elapsed = (this.now() - this.startTime) / 1000;
    if (done <= 0 || elapsed <= 0) return undefined;
    return Math.max(0, ((total - step) * elapsed) / done);
  }

  private line(s: StepInfo, tty: boolean): string {
    const total = this.o.totalSteps;
    // Fields with a rank: on a narrow terminal the highest rank goes first, so ETA, tokens/s and
    // the step (what a glance at a long run is for) stay longest.
    const parts: Array<[text: string, rank: number]> = [];
    parts.push([this.o.epochs ? `epoch ${s.epoch}/${this.o.epochs}` : `epoch ${s.epoch}`, 5]);
    parts.push([total ? `step ${s.step}/${total}` : `step ${s.step}`, 0]);
    parts.push([`loss ${formatNumber(s.loss)}`, 2]);
    if (s.accuracy !== undefined) parts.push([`acc ${formatPercent(s.accuracy)}`, 4]);
    if (s.tokensPerSec !== undefined) parts.push([`${formatRate(s.tokensPerSec)} tok/s`, 0]);
    parts.push([`elapsed ${formatDuration((this.now() - this.createdAt) / 1000)}`, 1]);
    const eta = this.eta(s.step);
    if (eta !== undefined) parts.push([`eta ${formatDuration(eta)}`, 0]);
    const join = (ps: typeof parts) => ps.map(([x]) => x).join('  ');
    if (!tty || !total) return tty ? join(parts) : stripControl(join(parts));
    const width = 20;
    const frac = Math.min(1, Math.max(0, s.step / total));
    const full = Math.floor(frac * width);
    const bar = '█'.repeat(full) + (full < width ? '▏▎▍▌▋▊▉'[Math.floor((frac * width - full) * 7)] ?? '' : '');
    const pct = `${String(Math.floor(frac * 100)).padStart(3)}%`;
    const cols = (this.stream.columns ?? 100) - 1;
    const head = (withBar: boolean) => (withBar ? `${bar.padEnd(width, ' ')}│ ${pct}  ` : `${pct.trimStart()}  `);
    // The bar is the first to go, then the fields by rank.
    let withBar = true;
    let kept = parts;
    const fits = () => head(withBar).length + join(kept).length <= cols;
    if (!fits()) withBar = false;
    for (let rank = 5; rank >= 1 && !fits(); rank--) kept = kept.filter(([, r]) => r < rank);
    return head(withBar) + join(kept);
  }

  private draw(text: string): void {
    const cols = this.stream.columns ?? 100;
    this.stream.write('\r\x1b[2K' + (text.length > cols - 1 ? text.slice(0, cols - 1) : text));
    this.barShown = true;
  }

  private clear(): void {
    if (this.barShown) this.stream.write('\r\x1b[2K');
    this.barShown = false;
  }
}

/**
 * An evaluation's progress (a validation or test pass, eval.js): on a terminal a line redrawn in
 * place and cleared at the end; elsewhere a plain line once it has run `firstAfterSeconds`
 * (default 1: a quick pass prints nothing), then every `everySeconds` (default 10).
 */
export class EvalProgress {
  private readonly stream: OutStream;
  private readonly now: () => number;
  private readonly start: number;
  private last = -Infinity;
  private shown = false;

  constructor(private readonly label: string, private readonly o: { stream?: OutStream; now?: () => number; firstAfterSeconds?: number; everySeconds?: number } = {}) {
    this.stream = o.stream ?? process.stderr;
    this.now = o.now ?? Date.now;
    this.start = this.now();
  }

  /** After each batch: `done` of `batches`. */
  update(done: number, batches: number): void {
    const t = this.now(), elapsed = (t - this.start) / 1000;
    const eta = done > 0 ? (elapsed * (batches - done)) / done : undefined;
    const text = `${this.label}: batch ${done}/${batches} (${Math.floor((100 * done) / batches)}%)  elapsed ${formatDuration(elapsed)}${eta === undefined ? '' : `  eta ${formatDuration(eta)}`}`;
    if (this.stream.isTTY) {
      if (t - this.last < 100 && done < batches) return;
      const cols = this.stream.columns ?? 100;
      this.stream.write('\r\x1b[2K' + (text.length > cols - 1 ? text.slice(0, cols - 1) : text));
      this.shown = true;
    } else {
      if (elapsed < (this.o.firstAfterSeconds ?? 1) || (t - this.last) / 1000 < (this.o.everySeconds ?? 10)) return;
      this.stream.write(stripControl(text) + '\n');
    }
    this.last = t;
  }

  /** Clears the terminal line. */
  done(): void {
    if (this.shown) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}

// ---------------------------------------------------------------- formatting

/** 1.2345, 0.001234, 12345 -> 4-5 significant digits; NaN -> nan */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2);
  return a >= 100 ? x.toFixed(1) : x.toFixed(4);
}

/** 0.8123 -> 81.2% */
export function formatPercent(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`;
}

/** 950 -> 950, 12345 -> 12.3k, 2.5e6 -> 2.50M */
export function formatRate(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(2)}k`;
  return x.toFixed(0);
}

/**
 * A titled block of aligned `key  value` rows, e.g. the end-of-run summary:
 *   test
 *     loss       0.4123
 *     accuracy   83.1%
 */
export function formatSummary(title: string, rows: Array<[string, string | number]>): string {
  const w = Math.max(0, ...rows.map(([k]) => k.length));
  const fmt = (v: string | number) => (typeof v === 'number' ? formatNumber(v) : v);
  return [title, ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${fmt(v)}`)].join('\n') + '\n';
}

/** Prints formatSummary(...) to `stream` (no control characters off a terminal). */
export function printSummary(title: string, rows: Array<[string, string | number]>, stream: OutStream = process.stdout): void {
  const text = formatSummary(title, rows);
  stream.write(stream.isTTY ? text : stripControl(text));
}
