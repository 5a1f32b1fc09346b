// The package as a user gets it: `npm pack` of this clone, installed into a new project with
// `npm ci --offline`. The project's lockfile pins rnn-trainer's own dependencies to the versions of
// this clone's package-lock.json, so npm takes them from its cache (where this clone's `npm ci`
// put them) and needs no registry.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface LockEntry { dev?: boolean; devOptional?: boolean; [k: string]: unknown }

export interface Installed {
  /** The project's folder: package.json, package-lock.json, node_modules/rnn-trainer. */
  dir: string;
  /** node_modules/rnn-trainer. */
  pkg: string;
  /** What `npm ci` printed (stdout and stderr). */
  log: string;
  remove(): void;
}

/** Packs the clone (dist must be built) and installs the tarball into a temporary project. */
export function installPacked(env: NodeJS.ProcessEnv = {}): Installed {
  const dir = mkdtempSync(join(tmpdir(), 'rnn-install-'));
  const out = join(dir, 'pack');
  mkdirSync(out);
  // --ignore-scripts: no `prepare` (a full build); the tests have built dist/ already.
  execFileSync(NPM, ['pack', '--ignore-scripts', '--pack-destination', out], { cwd: ROOT, stdio: 'ignore' });
  const tgz = readdirSync(out).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack wrote no tarball into ${out}`);
  const me = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const spec = `file:pack/${tgz}`;
  const packages: Record<string, unknown> = {
    '': { name: 'user-project', dependencies: { 'rnn-trainer': spec } },
    'node_modules/rnn-trainer': {
      version: me.version, resolved: spec, license: me.license, dependencies: me.dependencies, bin: me.bin, engines: me.engines,
      peerDependencies: me.peerDependencies, peerDependenciesMeta: me.peerDependenciesMeta,
      hasInstallScript: ['preinstall', 'install', 'postinstall'].some((s) => me.scripts?.[s]),
    },
  };
  // What the clone installs for production (its dependencies and theirs); dev-only entries are not a user's.
  for (const [path, entry] of Object.entries(lock.packages)) if (path && !entry.dev && !entry.devOptional) packages[path] = entry;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module', dependencies: { 'rnn-trainer': spec } }, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'user-project', lockfileVersion: 3, requires: true, packages }, null, 2));
  // --foreground-scripts: the install script's lines (a native build's warning) in the log.
  const r = spawnSync(NPM, ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env } });
  const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`npm ci of the packed rnn-trainer failed in ${dir} (exit ${r.status}):\n${log}`);
  return { dir, pkg: join(dir, 'node_modules', 'rnn-trainer'), log, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
