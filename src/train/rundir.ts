// The run directory's own files beside the checkpoints: the metrics log and the gradient profile,
// read back for the report and trimmed or set aside when a run resumes or starts over.

import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { stepOfFileName, type CheckpointDir } from '../checkpoint/index.js';
import { readMetrics } from '../report/html.js';
import { readRunLog } from '../report/metrics.js';
import { onDisk, writeTextReplacing } from '../util/files.js';

export const PROFILE_FILE = 'grad-profile.jsonl';
export const METRICS_FILE = 'metrics.jsonl';

/**
 * A run goes on from `step` (a resumed checkpoint's, or -1 for a new start): checkpoints of the
 * run directory at later steps belong to an abandoned timeline (an explicit --resume PATH older
 * than the newest, newer files --resume latest skipped as invalid, or every checkpoint of an
 * earlier run when starting over without --resume), and so do an earlier run's metrics.jsonl and
 * gradient profile when starting over. Left in place, `--resume latest` and retention would take
 * them for this run's, and the report would mix two runs, so they are moved, not deleted, to
 * checkpoints/abandoned-<time>/, with a warning naming them.
 */
export function setAsideCheckpoints(ckdir: CheckpointDir, runDir: string, step: number, say: (s: string) => void): void {
  const later = ckdir.list().filter((f) => (stepOfFileName(f) ?? -1) > step);
  const logs = step >= 0 ? [] : [METRICS_FILE, PROFILE_FILE].map((f) => join(runDir, f)).filter((f) => existsSync(f) && statSync(f).size > 0);
  if (later.length === 0 && logs.length === 0) return;
  const dest = join(ckdir.dir, `abandoned-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  onDisk('set aside checkpoints in', dest, () => {
    mkdirSync(dest, { recursive: true });
    for (const f of [...later, ...logs]) renameSync(f, join(dest, basename(f)));
  });
  const many = later.length > 1;
  const names = `${later.length} checkpoint${many ? 's' : ''} (${later.map((f) => basename(f)).join(', ')})`;
  const parts = [...(later.length ? [names] : []), ...logs.map((f) => basename(f))];
  const what = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0];
  say(step < 0
    ? `warning: starting a new run in a run directory with ${what} of an earlier run; moved ${later.length + logs.length > 1 ? 'them' : 'it'} to ${relative(process.cwd(), dest)} (to continue a run, use --resume latest)`
    : `warning: resuming at step ${step}, before ${names} of a later step; ${many ? 'they belong' : 'it belongs'} to the abandoned continuation and ${many ? 'were' : 'was'} moved to ${relative(process.cwd(), dest)}`);
}

/** The step of a checkpoint file's name, or -1. */
export function lastCheckpointStep(path: string | null): number {
  const m = path ? /step-(\d+)\.ckpt$/.exec(path) : null;
  return m ? Number(m[1]) : -1;
}

export function readProfiles(runDir: string): Array<{ step: number; norms: number[] }> {
  const f = join(runDir, PROFILE_FILE);
  const rows: Array<{ step: number; norms: number[] }> = [];
  for (const line of readRunLog(f).split('\n')) {
    try { if (line) rows.push(JSON.parse(line)); } catch { /* a line torn by a kill */ }
  }
  const byStep = new Map(rows.map((r) => [r.step, r]));
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** On resume, forget profiles recorded after the checkpoint's step (they will be recorded again). */
export function trimProfiles(runDir: string, step: number): void {
  const f = join(runDir, PROFILE_FILE);
  if (!existsSync(f)) return;
  const keep = readProfiles(runDir).filter((r) => r.step <= step);
  writeTextReplacing(f, keep.map((r) => JSON.stringify(r) + '\n').join(''), 'the gradient profile');
}

/** Seconds of training the run's metrics log records so far (a resumed run's clock goes on from there). */
export function lastElapsed(runDir: string): number {
  const rows = readMetrics(join(runDir, 'metrics.jsonl'));
  return rows.length ? rows[rows.length - 1].elapsedSec ?? 0 : 0;
}
