// The run directory's lock: one trainer at a time per run directory. Two trainers on one
// directory would overwrite, move and prune each other's checkpoints (and both exit 0), so the
// second one is refused.
//
// <runDir>/train.lock is created with O_EXCL and holds the owner's pid, host, process start time
// and command. It is removed when the trainer exits (normally, on an error, on a second Ctrl-C);
// a trainer killed with SIGKILL leaves it behind, and the next trainer on the same host finds its
// pid gone (or reused by another process: the start time differs), says so and takes it over.
// A zombie (a killed trainer its parent has not reaped yet, forever in a container without an
// init) counts as gone. An empty or unreadable lock (a trainer killed between creating the file
// and writing it) is taken over once it is STALE_UNREADABLE_MS old; younger, it may be a trainer
// starting. A lock from another host cannot be checked and is never taken over.
//
// This is an advisory lock: it keeps rnn-trainer processes apart, not other programs.

import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { OutputError, UserError } from '../util/errors.js';
import { KiB, onDisk, readInputFile } from '../util/files.js';

export const LOCK_FILE = 'train.lock';
/** An empty or unreadable lock older than this was left by a trainer killed while creating it. */
export const STALE_UNREADABLE_MS = 5000;

export interface LockOwner {
  pid: number;
  host: string;
  /** Start time of the process (clock ticks since boot, /proc/<pid>/stat field 22), when known. */
  procStart?: string;
  /** ISO time the lock was taken. */
  since: string;
  command: string;
}

/** The lock file of a run directory, held by this process until release(). */
export class RunLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(readonly file: string, private readonly text: string) {
    // process.exit() (an error, a second Ctrl-C) runs 'exit' listeners: the lock goes with it.
    process.on('exit', this.onExit);
  }

  /**
   * Takes the lock of `runDir` (which must exist), or throws a UserError (exit 1) naming the
   * holder and how to proceed. A stale lock (its process is gone) is taken over, with `warn`.
   */
  static acquire(runDir: string, warn: (msg: string) => void): RunLock {
    const file = join(runDir, LOCK_FILE);
    const me: LockOwner = { pid: process.pid, host: hostname(), procStart: procStat(process.pid)?.start, since: new Date().toISOString(), command: process.argv.slice(1).join(' ') };
    const text = JSON.stringify(me) + '\n';
    // A few attempts: a stale lock is set aside, then the lock must be ours (unless another trainer won).
    for (let attempt = 0; attempt < 3; attempt++) {
      if (create(file, text)) return new RunLock(file, text);
      const held = readLock(file);
      if (held === null) continue; // released between our attempt and the read
      const state = held.owner ? holderState(held.owner) : held.ageMs >= STALE_UNREADABLE_MS ? 'gone' : 'unknown';
      if (state !== 'gone') throw lockedError(runDir, file, held.owner, state);
      if (!setAside(file, held.text)) continue; // someone else took it over first: look again
      const rel = relative(process.cwd(), file) || file;
      warn(held.owner
        ? `${rel} was left by a trainer that is no longer running (pid ${held.owner.pid} on ${held.owner.host}, since ${held.owner.since ?? '?'}); taking over the run directory`
        : `${rel} was ${held.text.trim() === '' ? 'empty' : 'unreadable'} and ${Math.round(held.ageMs / 1000)} s old: left by a trainer killed while creating it; taking over the run directory`);
    }
    throw new UserError(`cannot lock the run directory ${runDir}: ${file} keeps changing; is another trainer starting there? Try again.`);
  }

  /** Removes the lock file if it is still ours. Safe to call more than once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    try {
      if (fs.readFileSync(this.file, 'utf8') === this.text) fs.unlinkSync(this.file);
    } catch { /* gone already, or the directory is: nothing to release */ }
  }
}

/** Creates `file` with `text` if it does not exist; false if it does. Other failures are OutputErrors. */
function create(file: string, text: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new OutputError(`cannot create the lock file ${file}: ${(e as Error).message}; the run directory must be writable (or give another --out DIR)`, file);
  }
  try {
    onDisk('write the lock file', file, () => { fs.writeSync(fd, text); });
  } catch (e) {
    fs.closeSync(fd);
    try { fs.unlinkSync(file); } catch { /* as good as we can do */ }
    throw e;
  }
  fs.closeSync(fd);
  return true;
}

/** The lock's text, owner (null: empty, unreadable or not ours) and age, or null if there is no lock file. */
function readLock(file: string): { text: string; owner: LockOwner | null; ageMs: number } | null {
  let text: string, ageMs: number;
  try {
    ageMs = Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return null; // released between our attempt and the look
  }
  try {
    text = readInputFile(file, {
      what: 'lock file', maxBytes: 64 * KiB,
      error: (m, problem) => (problem === 'missing' ? new MissingLock(m) : new OutputError(`${m}; remove it if no trainer is running in this run directory`, file)),
    }).toString('utf8');
  } catch (e) {
    if (e instanceof MissingLock) return null;
    throw e;
  }
  try {
    const o = JSON.parse(text) as LockOwner;
    if (Number.isSafeInteger(o.pid) && o.pid > 0 && typeof o.host === 'string') return { text, owner: o, ageMs };
  } catch { /* torn: a trainer killed while writing it, or not ours */ }
  return { text, owner: null, ageMs };
}

class MissingLock extends UserError {}

/**
 * `alive`: the holder runs on this host; `gone`: it does not (pid absent, a zombie, or reused by a
 * process that started later); `unknown`: another host.
 */
function holderState(o: LockOwner): 'alive' | 'gone' | 'unknown' {
  if (o.host !== hostname()) return 'unknown';
  try {
    process.kill(o.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return 'gone';
  }
  const stat = procStat(o.pid);
  // A zombie (Z) or a dying process (X) has exited: only its exit status waits to be collected.
  if (stat && (stat.state === 'Z' || stat.state === 'X')) return 'gone';
  // The pid exists; after a reboot or in a restarted container it may be another process (even this one).
  if (o.procStart !== undefined && stat && stat.start !== o.procStart) return 'gone';
  return 'alive';
}

/**
 * Moves a stale lock out of the way, if it still holds `text`: rename it to a name of our own,
 * then check what we moved. Had another trainer replaced it in between with a live lock, put
 * that back (link fails rather than overwrite a newer one). True if the stale lock is gone.
 */
function setAside(file: string, text: string): boolean {
  const aside = `${file}.stale-${process.pid}`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new OutputError(`cannot remove the stale lock file ${file}: ${(e as Error).message}; remove it by hand`, file);
  }
  let moved = '';
  try { moved = fs.readFileSync(aside, 'utf8'); } catch { /* gone */ }
  if (moved !== text) {
    try { fs.linkSync(aside, file); } catch { /* a third trainer holds it now: it is theirs */ }
    try { fs.unlinkSync(aside); } catch { /* nothing left */ }
    return false;
  }
  try { fs.unlinkSync(aside); } catch { /* nothing left */ }
  return true;
}

/** State (field 3: R, S, Z, ...) and start time (field 22, clock ticks since boot) of process `pid` (Linux), or undefined. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may hold spaces: count from the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], start: f[19] };
  } catch {
    return undefined;
  }
}

function lockedError(runDir: string, file: string, o: LockOwner | null, state: 'alive' | 'unknown'): UserError {
  const rel = relative(process.cwd(), runDir) || runDir;
  if (!o) {
    return new UserError(`the run directory ${rel} is locked: ${file} exists but does not say which trainer holds it (a trainer may be starting there). `
      + `Once it is ${STALE_UNREADABLE_MS / 1000} s old it is taken as left by a killed trainer: try again then.`);
  }
  const who = `pid ${o.pid} on ${o.host}, since ${o.since}${o.command ? `: ${o.command}` : ''}`;
  if (state === 'alive') {
    return new UserError(`the run directory ${rel} is in use by another trainer (${who}). Two trainers on one run directory would overwrite `
      + `each other's checkpoints. Wait for it to finish, stop it (kill ${o.pid}: it writes a checkpoint, then continue with --resume latest), `
      + `or start this run elsewhere (--out DIR or --set name=NAME).`);
  }
  return new UserError(`the run directory ${rel} is locked by a trainer on another host (${who}), which cannot be checked from here. `
    + `If it is no longer running, remove ${file} and start again; otherwise start this run elsewhere (--out DIR or --set name=NAME).`);
}
