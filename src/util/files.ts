// Files, defensively.
//
// Reading (readInputFile): each file a user points us at is checked before it is read: it must
// be a regular file (a symlink to /dev/zero, a FIFO or a socket would otherwise make a reader eat
// memory without limit or wait forever), no larger than a cap that suits its kind, and, when the
// format has a signature, the first bytes are checked before the rest is read (a 1 GiB file that
// is not a checkpoint is refused after reading 5 bytes).
//
// Writing (onDisk, writeTextReplacing, makeDirs): a failed file system call becomes an
// OutputError (exit code 1) naming the path, the cause and the fix (a full disk, a read-only
// file system, a file where a directory should be), and leaves no temporary file behind.

import * as fs from 'node:fs';
import { dirname, resolve } from 'node:path';
import { OutputError, UserError } from './errors.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** What kind of file system object `st` is, in words: "a directory", "a FIFO (named pipe)", ... */
export function describeKind(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** 1.5 GiB, 12 MiB, 300 KiB, 17 bytes; 3.2e+6 TiB for absurd sizes. */
export function formatBytes(n: number): string {
  const TiB = 1024 * GiB;
  if (n >= 1024 * TiB) return `${(n / TiB).toPrecision(2)} TiB`;
  if (n >= TiB) return `${+(n / TiB).toPrecision(3)} TiB`;
  if (n >= GiB) return `${+(n / GiB).toPrecision(3)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toPrecision(3)} MiB`;
  if (n >= KiB) return `${+(n / KiB).toPrecision(3)} KiB`;
  return `${n} byte${n === 1 ? '' : 's'}`;
}

export type InputProblem = 'missing' | 'kind' | 'size' | 'signature' | 'io';

export interface InputFileOptions {
  /** What the file is, for messages: `checkpoint`, `config file`, `data file`. */
  what: string;
  /** Largest size accepted, in bytes. */
  maxBytes: number;
  /** Why the cap is what it is, or what to do about it (ends the "too large" message). */
  capHint?: string;
  /**
   * Checked on the first `signature.bytes.length` bytes before anything else is read; `problem`
   * is the message when they differ (or the file is shorter).
   */
  signature?: { bytes: Uint8Array; problem: string };
  /**
   * Checked after the signature, before the rest is read: `read(pos, length)` reads bytes at a
   * file offset (fewer at the end). Returns the problem (the message after `<what> <path>: `) or null.
   */
  precheck?: (size: number, read: (pos: number, length: number) => Uint8Array) => string | null;
  /**
   * Makes the error: the caller's UserError subclass (ConfigError, DataError, CheckpointError).
   * `problem`: `missing` (no such file), `kind` (not a regular file), `size`, `signature`, or `io`.
   */
  error: (message: string, problem: InputProblem) => UserError;
}

/** Short reason of a failed open/stat/read, e.g. "no such file", "permission denied". */
export function errnoReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT': return 'no such file';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'it is a directory';
    case 'ENOTDIR': return 'a part of the path is not a directory';
    case 'ELOOP': return 'too many levels of symbolic links';
    case 'ENXIO': return 'it is a socket or a device with nothing behind it';
    case 'ENAMETOOLONG': return 'the path is too long';
    default: return String((e as Error)?.message ?? e);
  }
}

/**
 * The bytes of the file at `path`, after the checks at the top of this file. Every failure is
 * `o.error(message)`, the message starting with `<what> <path>:`.
 */
export function readInputFile(path: string, o: InputFileOptions): Buffer {
  let problem: InputProblem = 'io';
  const fail = (why: string): never => { throw o.error(`${o.what} ${path}: ${why}`, problem); };
  const ioFail = (e: unknown): never => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') problem = 'missing';
    return fail(`cannot be read: ${codePrefix(e)}${errnoReason(e)}`);
  };
  // stat first (it follows symlinks and never blocks), so a FIFO is refused without being opened.
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    return ioFail(e);
  }
  problem = 'kind';
  if (!st.isFile()) fail(`is ${describeKind(st)}, not a regular file${viaLink(path)}; give the path of a ${o.what}`);
  let fd: number;
  try {
    // O_NONBLOCK: should the path be swapped for a FIFO after the stat, open does not wait for a writer.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    problem = 'io';
    return ioFail(e);
  }
  try {
    const fst = fs.fstatSync(fd); // what was opened, which is what will be read
    if (!fst.isFile()) fail(`is ${describeKind(fst)}, not a regular file; give the path of a ${o.what}`);
    const size = fst.size;
    problem = 'size';
    if (size > o.maxBytes) {
      fail(`is ${formatBytes(size)} (${size.toLocaleString('en-US')} bytes), more than the ${formatBytes(o.maxBytes)} a ${o.what} may be${o.capHint ? `; ${o.capHint}` : ''}`);
    }
    if (o.signature) {
      const sig = o.signature.bytes;
      const head = Buffer.alloc(sig.length);
      problem = 'io';
      const n = readFully(fd, head, 0, fail);
      problem = 'signature';
      if (n < sig.length || sig.some((b, i) => head[i] !== b)) {
        fail(size === 0 ? 'is empty (0 bytes)' : o.signature.problem);
      }
    }
    if (o.precheck) {
      problem = 'signature';
      const why = o.precheck(size, (pos, length) => {
        const b = Buffer.alloc(Math.max(0, Math.min(length, size - pos)));
        return b.subarray(0, readFully(fd, b, pos, fail));
      });
      if (why !== null) fail(why);
    }
    problem = 'io';
    const bytes = Buffer.allocUnsafe(size);
    const n = readFully(fd, bytes, 0, fail);
    // A file that shrank while read is read as it now is; one that grew is read to its size at open.
    return n < size ? bytes.subarray(0, n) : bytes;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads into `buf` from file offset `pos` until it is full or the file ends; the count read. */
function readFully(fd: number, buf: Buffer, pos: number, fail: (why: string) => never): number {
  let off = 0;
  while (off < buf.length) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, off, Math.min(buf.length - off, 64 * MiB), pos + off);
    } catch (e) {
      return fail(`cannot be read: ${codePrefix(e)}${errnoReason(e)}`);
    }
    if (n === 0) break;
    off += n;
  }
  return off;
}

/** "ENOENT: " for the errno codes messages and tests refer to by name. */
function codePrefix(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' || code === 'ELOOP' ? `${code}: ` : '';
}

/** " (a symbolic link to /dev/zero)" when `path` is a symlink. */
function viaLink(path: string): string {
  try {
    if (fs.lstatSync(path).isSymbolicLink()) return ` (a symbolic link to ${fs.realpathSync(path)})`;
  } catch { /* no detail */ }
  return '';
}

/**
 * For files the run itself keeps (metrics.jsonl, grad-profile.jsonl, the lock file): null when
 * absent, else readInputFile with the same checks.
 */
export function readInputFileIfExists(path: string, o: InputFileOptions): Buffer | null {
  try {
    fs.statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
  }
  return readInputFile(path, o);
}

// ---------------------------------------------------------------- writing

/** What to do about a failed write, by errno code ('' when there is no general advice). */
export function writeFix(e: unknown): string {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOSPC': case 'EDQUOT': return 'the file system is full: free some space there, or write the run elsewhere with --out DIR';
    case 'EROFS': return 'the file system is read-only: give a writable --out DIR';
    case 'EACCES': case 'EPERM': return 'permission denied: fix the permissions, or give a writable --out DIR';
    case 'ENOTDIR': return 'a part of the path is a file, not a directory: remove or rename that file, or give another --out DIR';
    case 'EEXIST': return 'something else is in the way at that path: remove or rename it';
    case 'EISDIR': return 'a directory is in the way at that path: remove or rename it';
    case 'ENAMETOOLONG': return 'the path is too long: use a shorter --out DIR or run name';
    case 'EIO': return 'the disk or file system reported an I/O error';
    case 'EMFILE': case 'ENFILE': return 'too many open files: raise the limit (ulimit -n)';
    default: return '';
  }
}

/** `cause; fix` of a failed file system call: "ENOSPC: no space left on device, write; the file system is full: ..." */
export function writeFailure(e: unknown): string {
  const cause = e instanceof Error ? e.message : String(e);
  const fix = writeFix(e);
  return fix ? `${cause}; ${fix}` : cause;
}

/** An OutputError for a failed `action` ("create the run directory") on `path` (a UserError passes through). */
export function outputError(action: string, path: string, e: unknown, after = ''): UserError {
  if (e instanceof UserError) return e;
  return new OutputError(`cannot ${action} ${path}: ${writeFailure(e)}${after ? `. ${after}` : ''}`, path);
}

/** Runs `fn`; a file system error becomes outputError(action, path, e, after). */
export function onDisk<T>(action: string, path: string, fn: () => T, after = ''): T {
  try {
    return fn();
  } catch (e) {
    throw outputError(action, path, e, after);
  }
}

/**
 * Writes `text` to `path` through `path.tmp` and a rename, so a reader sees the old file or the
 * new one. On failure (a full disk) the temporary file is removed and an OutputError names `path`.
 */
export function writeTextReplacing(path: string, text: string, what: string, after = ''): void {
  const tmp = path + '.tmp';
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, path);
  } catch (e) {
    try { fs.unlinkSync(tmp); } catch { /* not created */ }
    throw outputError(`write ${what}`, path, e, after);
  }
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir reports a read-only file system as
 * ENOENT; created level by level, the error is the real one (EROFS, EACCES, ENOTDIR).
 */
export function makeDirs(path: string): void {
  const missing: string[] = [];
  let p = resolve(path);
  for (;;) {
    try {
      fs.statSync(p); // exists: a directory, or a file that mkdir below it reports as ENOTDIR
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    missing.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const dir of missing.reverse()) {
    try {
      fs.mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(dir).isDirectory()) throw e;
    }
  }
  if (missing.length === 0 && !fs.statSync(p).isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: 'ENOTDIR' });
  }
}
