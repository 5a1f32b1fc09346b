// Checkpoint files: atomic writes, reads, and the <run dir>/checkpoints/ directory with its
// retention policy.
//
// Atomic write: the bytes go to a temporary file in the target's directory (`.<name>.tmp-<pid>`),
// which is fsynced, renamed over the final name, and the directory is fsynced. A crash (even
// SIGKILL or power loss) at any moment leaves either the previous state or the complete new file
// under the final name, never a partial one. On any failure the temporary file is removed and a
// CheckpointError names the path and the cause; existing checkpoints are not touched. The same
// writer (writeFileAtomic) writes export.js's ONNX files. It never replaces what is not a regular
// file (a device such as /dev/null, a FIFO, a symbolic link: rename would put a file in its place),
// and removes the temporary files that killed writers (dead pids) left for the same target.

import * as nodeFs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { checkFraming, decodeCheckpoint, encodeParts, NOT_A_CHECKPOINT, SIGNATURE } from './codec.js';
import type { CheckpointData } from './types.js';
import { CheckpointError, EXIT_FAILED, EXIT_INPUT } from '../util/errors.js';
import { GiB, describeKind, readInputFile, writeFailure } from '../util/files.js';

/**
 * Largest checkpoint file read. A model whose parameters, gradient, gradient slot and two Adam
 * moments fit the 4 GiB arena writes at most 3/5 of it (parameters and moments), so no checkpoint
 * this program wrote is larger.
 */
export const MAX_CHECKPOINT_BYTES = 4 * GiB;

/** The file-system calls the writer makes; tests replace some to simulate failures (disk full). */
export interface FileOps {
  openSync: typeof nodeFs.openSync;
  writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number) => number;
  fsyncSync: typeof nodeFs.fsyncSync;
  closeSync: typeof nodeFs.closeSync;
  renameSync: typeof nodeFs.renameSync;
  unlinkSync: typeof nodeFs.unlinkSync;
}

const defaultOps: FileOps = {
  openSync: nodeFs.openSync,
  writeSync: (fd, buffer, offset, length) => nodeFs.writeSync(fd, buffer, offset, length),
  fsyncSync: nodeFs.fsyncSync,
  closeSync: nodeFs.closeSync,
  renameSync: nodeFs.renameSync,
  unlinkSync: nodeFs.unlinkSync,
};

const causeOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Temporary name for `path`: hidden, same directory, never matching the `.ckpt` listing. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
}

/**
 * Writes `c` to `path` atomically (see the top of this file). Validates `c` first, so a malformed
 * state never reaches the disk. Throws CheckpointError naming `path` and the cause.
 */
export function writeCheckpointAtomic(path: string, c: CheckpointData, opts: { fileOps?: Partial<FileOps> } = {}): void {
  let encoded;
  try {
    encoded = encodeParts(c);
  } catch (e) {
    throw new CheckpointError(`cannot write checkpoint ${path}: ${causeOf(e)}`, path, EXIT_FAILED);
  }
  writeFileAtomic(path, encoded.parts.map((p) => p.bytes), {
    fileOps: opts.fileOps,
    error: (why, input) => new CheckpointError(`cannot write checkpoint ${path}: ${why}`, path, input ? EXIT_INPUT : EXIT_FAILED),
  });
}

/**
 * Writes `parts` (concatenated) to `path` atomically: temporary file, fsync, rename, directory
 * fsync. Refuses a `path` that exists and is not a regular file (`error(why, true)`: the caller's
 * input); other failures are `error(why, false)`, the temporary file removed.
 */
export function writeFileAtomic(path: string, parts: readonly Uint8Array[], o: { fileOps?: Partial<FileOps>; error: (why: string, input: boolean) => Error }): void {
  const fs: FileOps = { ...defaultOps, ...o.fileOps };
  let st: nodeFs.Stats | undefined;
  try { st = nodeFs.lstatSync(path); } catch { /* nothing there yet */ }
  if (st && !st.isFile()) {
    const what = st.isSymbolicLink() ? `a symbolic link (to ${nodeFs.readlinkSync(path)})` : describeKind(st);
    throw o.error(`it is ${what}, not a regular file, and writing would replace it with one; give the path of a regular file (or remove ${path} first)`, true);
  }
  removeStaleTemps(path);
  const tmp = tempPathFor(path);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w', 0o644);
    for (const bytes of parts) {
      for (let off = 0; off < bytes.length; ) {
        const n = fs.writeSync(fd, bytes, off, bytes.length - off);
        if (!(n > 0)) throw new Error(`write returned ${n}`);
        off += n;
      }
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* it may not exist, or be a directory that was in the way */
    }
    throw o.error(writeFailure(e), false);
  }
  syncDir(dirname(path), fs, o.error);
}

/** Temporary files of `path` (tempPathFor, or the older `<name>.tmp-<pid>`) left by writers that were killed: their pid is gone. */
function removeStaleTemps(path: string): void {
  const name = basename(path), dir = dirname(path);
  let entries: string[];
  try { entries = nodeFs.readdirSync(dir); } catch { return; /* the write will say why */ }
  const temp = new RegExp(`^\\.?${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.tmp-(\\d+)$`);
  for (const e of entries) {
    const pid = Number(temp.exec(e)?.[1]);
    if (!(pid > 0) || pid === process.pid || alive(pid)) continue;
    try { if (nodeFs.lstatSync(join(dir, e)).isFile()) nodeFs.unlinkSync(join(dir, e)); } catch { /* another writer removed it */ }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** fsync a directory so that a rename in it is durable. */
function syncDir(dir: string, fs: FileOps, error: (why: string, input: boolean) => Error): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Some file systems cannot fsync a directory; the rename itself has happened.
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'ENOTSUP') {
      throw error(`written, but syncing its directory ${dir} failed: ${writeFailure(e)}`, false);
    }
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/**
 * Reads and validates the checkpoint at `path` (see decodeCheckpoint). Throws CheckpointError.
 * The file must be a regular file of at most MAX_CHECKPOINT_BYTES whose first bytes are the
 * signature, with the completion marker at its end and top-level fields whose sizes add up to the
 * file's (checkFraming): those are checked before the rest is read, so a huge file that only
 * starts like a checkpoint is refused at once, not after reading it whole.
 */
export function readCheckpoint(path: string): CheckpointData {
  const bytes = readInputFile(path, {
    what: 'checkpoint', maxBytes: MAX_CHECKPOINT_BYTES,
    capHint: 'no model that fits the 4 GiB shared arena writes one that large',
    signature: { bytes: SIGNATURE, problem: NOT_A_CHECKPOINT },
    precheck: checkFraming,
    error: (m) => new CheckpointError(m, path),
  });
  return decodeCheckpoint(bytes, path);
}

// ---------------------------------------------------------------------------------------------
// The checkpoint directory

const NAME = /^step-(\d{9,})\.ckpt$/;

/** File name of the checkpoint at global step `step`: step-000001200.ckpt (9 digits or more). */
export function checkpointFileName(step: number): string {
  return `step-${String(step).padStart(9, '0')}.ckpt`;
}

/** The global step in a checkpoint file name, or null if it is not one. */
export function stepOfFileName(name: string): number | null {
  const m = NAME.exec(basename(name));
  return m ? Number(m[1]) : null;
}

export interface CheckpointDirOptions {
  /** How many of the newest checkpoints to keep (>= 1); the best by validation is kept as well. */
  keepLast: number;
  fileOps?: Partial<FileOps>;
}

/**
 * `<runDir>/checkpoints/`: files `step-<global step>.ckpt`.
 *
 * Retention, applied after each successful save: keep the `keepLast` newest checkpoints plus the
 * best one. "Best" comes from the checkpoint being saved: its `training.bestStep` names the step
 * of the best validation metric so far, and the file of that step is kept if it exists (the
 * trainer validates where it checkpoints, e.g. at the end of each epoch, and updates bestMetric /
 * bestStep itself, so "better" means whatever the trainer says). No side file is needed, and
 * the rule survives restarts: the newest checkpoint always knows the best step.
 */
export class CheckpointDir {
  readonly dir: string;
  private readonly keepLast: number;
  private readonly fileOps: Partial<FileOps> | undefined;

  constructor(runDir: string, opts: CheckpointDirOptions) {
    if (!Number.isInteger(opts.keepLast) || opts.keepLast < 1) {
      throw new CheckpointError(`checkpoint.keepLast must be an integer >= 1, got ${opts.keepLast}`);
    }
    this.dir = join(runDir, 'checkpoints');
    this.keepLast = opts.keepLast;
    this.fileOps = opts.fileOps;
  }

  /** Path of the checkpoint file for global step `step`. */
  pathFor(step: number): string {
    return join(this.dir, checkpointFileName(step));
  }

  /**
   * Writes `c` as step-<c.training.globalStep>.ckpt (atomically; an existing file of the same
   * step is replaced atomically), then prunes. Returns the path. On failure throws
   * CheckpointError and leaves every existing checkpoint as it was (nothing is pruned).
   */
  save(c: CheckpointData): string {
    try {
      nodeFs.mkdirSync(this.dir, { recursive: true });
    } catch (e) {
      throw new CheckpointError(`cannot create checkpoint directory ${this.dir}: ${writeFailure(e)}`, this.dir, EXIT_FAILED);
    }
    const path = this.pathFor(c.training.globalStep);
    writeCheckpointAtomic(path, c, { fileOps: this.fileOps });
    this.prune(c.training.globalStep, c.training.bestStep);
    return path;
  }

  /** Checkpoint files, oldest first (by step), as full paths. Other files are ignored. */
  list(): string[] {
    let names: string[];
    try {
      names = nodeFs.readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new CheckpointError(`cannot list checkpoint directory ${this.dir}: ${writeFailure(e)}`, this.dir, EXIT_FAILED);
    }
    return names
      .map((n) => ({ n, step: stepOfFileName(n) }))
      .filter((x): x is { n: string; step: number } => x.step !== null)
      .sort((a, b) => a.step - b.step)
      .map((x) => join(this.dir, x.n));
  }

  /**
   * The newest checkpoint that reads back valid (full check: CRCs, structure), with its data, or
   * null if there is none. Invalid newer files are skipped, each with a warning naming it and
   * the problem; they are not deleted.
   */
  loadLatestValid(warn: (msg: string) => void): { path: string; checkpoint: CheckpointData } | null {
    const files = this.list();
    for (let i = files.length - 1; i >= 0; i--) {
      try {
        return { path: files[i], checkpoint: readCheckpoint(files[i]) };
      } catch (e) {
        warn(`skipping invalid checkpoint: ${causeOf(e)}`);
      }
    }
    return null;
  }

  /** Path of the newest valid checkpoint (see loadLatestValid), or null. */
  latestValid(warn: (msg: string) => void): string | null {
    return this.loadLatestValid(warn)?.path ?? null;
  }

  /** Removes checkpoints other than the `keepLast` newest and the one at `bestStep`; stale temp files too. */
  private prune(currentStep: number, bestStep: number): void {
    const files = this.list();
    const keep = new Set(files.slice(-this.keepLast));
    keep.add(this.pathFor(currentStep));
    const best = this.pathFor(bestStep);
    if (files.includes(best)) keep.add(best);
    for (const f of files) {
      if (keep.has(f)) continue;
      try {
        nodeFs.unlinkSync(f);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new CheckpointError(`cannot remove old checkpoint ${f}: ${writeFailure(e)}`, f, EXIT_FAILED);
        }
      }
    }
    // Temporary files left by a writer that was killed (ours are removed on failure).
    for (const n of nodeFs.readdirSync(this.dir)) {
      const m = /^\.step-\d+\.ckpt\.tmp-(\d+)$/.exec(n);
      if (m && Number(m[1]) !== process.pid && !isAlive(Number(m[1]))) {
        try {
          nodeFs.unlinkSync(join(this.dir, n));
        } catch {
          /* not ours to insist on */
        }
      }
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
