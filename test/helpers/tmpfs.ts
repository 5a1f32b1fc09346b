// Small file systems for the tests of full and read-only output directories: a tmpfs mounted
// where the test can (root, with mount permitted: CI runs as root), else a reason to skip.

import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

/** Why tmpfs mounts are not possible here, or null if they are (found by mounting one, then removing it). */
export function tmpfsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const dir = mkdtempSync(join(tmpdir(), 'rnn-tmpfs-probe-'));
  try {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' });
    if (r.status !== 0) return `mount -t tmpfs failed here (${(r.stderr || r.error?.message || '').trim()})`;
    spawnSync('umount', [dir]);
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A tmpfs of `size` (e.g. "1m") mounted on a new directory outside the test's fixture folder (tap
 * removes that folder, which a mount point inside would make fail); unmounted and removed when
 * `t` ends. Returns the mount point.
 */
export function mountTmpfs(t: Test, size: string, readOnly = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'rnn-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `${readOnly ? 'ro,' : ''}size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount -t tmpfs at ${dir} failed: ${r.stderr}`);
  t.teardown(() => {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the file system of `dir` with `dir/filler` until `freeBytes` (rounded to 4 KiB pages) are left. */
export function fillTo(dir: string, freeBytes: number): void {
  const file = join(dir, 'filler');
  try { unlinkSync(file); } catch { /* none yet */ }
  const st = statfsSync(dir);
  let left = st.bavail * st.bsize - freeBytes;
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    while (left > 0) left -= writeSync(fd, block, 0, Math.min(block.length, left));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}
