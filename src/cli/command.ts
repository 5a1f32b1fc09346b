// How a command prints another of our commands for the user to run next (train.js's summary,
// prepare.js's last line): runnable from any folder.

import { delimiter, dirname, join, resolve } from 'node:path';
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A shell word: as it is when safe, else in single quotes. */
export const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * How to run another of our commands from any folder: its installed name (rnn-eval, ...) when that
 * name on PATH is this package's, else `node` with the script's absolute path. npx and npm scripts
 * put the project's node_modules/.bin on PATH for the command alone, not for the user's shell: a
 * bin found there is printed as `npx rnn-eval`, which works where the user types it.
 */
export function command(name: 'train' | 'eval' | 'predict'): string {
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', `${name}.js`);
  const bin = `rnn-${name}`;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = dir && join(dir, bin);
    try {
      if (p && existsSync(p) && realpathSync(p) === realpathSync(script)) return /(^|[\\/])node_modules[\\/]\.bin[\\/]?$/.test(dir) ? `npx ${bin}` : bin;
    } catch { /* unreadable PATH entry */ }
  }
  return `node ${quote(resolve(script))}`;
}
