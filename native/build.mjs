// Builds the native backend's addon (native/binding.gyp → native/build/Release/rnn_kernels.node)
// and, where MPI is installed, the MPI binding (native/mpi/) with node-gyp, for src/build.mjs.
// Never fails the build: without a compiler (or node-gyp, or Node's headers) it prints one warning
// line and the runs use the wasm kernels instead (and --distributed mpi says how to install MPI).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

const GYP_JS = join('node_modules', 'node-gyp', 'bin', 'node-gyp.js');

/** node-gyp's script: npm's own (npm tells its scripts where), the project's, or the one bundled with npm on PATH. */
function findNodeGyp(root) {
  const candidates = [process.env.npm_config_node_gyp, join(root, GYP_JS)];
  if (process.env.npm_execpath) candidates.push(join(dirname(dirname(process.env.npm_execpath)), GYP_JS));
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const npm = join(dir, 'npm');
    if (dir && existsSync(npm)) candidates.push(join(dirname(dirname(realpathSync(npm))), GYP_JS));
  }
  candidates.push(join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', GYP_JS));
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

/** The first line of node-gyp's output that says what went wrong. */
function reason(out) {
  const lines = out.split('\n').map((l) => l.trim()).filter(Boolean);
  const pick = lines.find((l) => /error:|not found|No such file|command not found/i.test(l) && !/^gyp ERR! (stack|cwd|node|command|System)/.test(l));
  return (pick ?? lines.at(-1) ?? 'unknown error').replace(/^gyp ERR! (stack )?/, '').slice(0, 200);
}

/** `node-gyp rebuild` in `dir`; null if `addon` (build/Release/<addon>) was built, else why not (the log is kept in build/node-gyp.log). */
function gypRebuild(root, dir, addon) {
  const gyp = findNodeGyp(root);
  if (!gyp) return 'node-gyp not found';
  const args = [gyp, 'rebuild'];
  // Outside npm, point node-gyp at the headers installed with this node rather than let it download them.
  const prefix = dirname(dirname(process.execPath));
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  if (r.status !== 0 || !existsSync(join(dir, 'build', 'Release', addon))) {
    mkdirSync(join(dir, 'build'), { recursive: true });
    writeFileSync(join(dir, 'build', 'node-gyp.log'), out);
    return `${reason(out)}; full log: ${join(dir, 'build', 'node-gyp.log').slice(root.length + 1)}`;
  }
  return null;
}

/** Build the addon; true if it was built. */
export function buildNative(root) {
  const why = gypRebuild(root, join(root, 'native'), 'rnn_kernels.node');
  if (why) console.warn(`warning: native kernels not built (${why}); runs will use the wasm kernels`);
  return why === null;
}

/**
 * Build the MPI binding (native/mpi → native/mpi/build/Release/rnn_mpi.node) where an MPI compiler
 * wrapper is installed; true if built. Without one this is silent: MPI is optional, and
 * `--distributed mpi` says how to install it.
 */
export function buildMpi(root) {
  const probe = spawnSync('mpicc', ['--showme:compile'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return false;
  const why = gypRebuild(root, join(root, 'native', 'mpi'), 'rnn_mpi.node');
  if (why) console.warn(`warning: the MPI binding was not built (${why}); --distributed mpi will not be available`);
  return why === null;
}
