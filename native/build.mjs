// Builds the native backend's addon (native/binding.gyp → native/build/Release/rnn_kernels.node)
// with node-gyp, for src/build.mjs. Never fails the build: without a compiler (or node-gyp, or
// Node's headers) it prints one warning line and the runs use the wasm kernels instead.
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

/** Build the addon; true if it was built. */
export function buildNative(root) {
  const dir = join(root, 'native');
  const warn = (why) => {
    console.warn(`warning: native kernels not built (${why}); runs will use the wasm kernels`);
    return false;
  };
  const gyp = findNodeGyp(root);
  if (!gyp) return warn('node-gyp not found');
  const args = [gyp, 'rebuild'];
  // Outside npm, point node-gyp at the headers installed with this node rather than let it download them.
  const prefix = dirname(dirname(process.execPath));
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  if (r.status !== 0 || !existsSync(join(dir, 'build', 'Release', 'rnn_kernels.node'))) {
    mkdirSync(join(dir, 'build'), { recursive: true });
    writeFileSync(join(dir, 'build', 'node-gyp.log'), out);
    return warn(`${reason(out)}; full log: native/build/node-gyp.log`);
  }
  return true;
}
