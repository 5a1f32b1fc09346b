// Preloaded into every test process (package.json "tap"."node-arg"). tap runs a test file with
// its processinfo preload, and also puts that preload into NODE_OPTIONS (and back into the
// environment of every process the test spawns, through process-on-spawn). It records modules and
// child processes for coverage, which is off here, and costs every spawned `node dist/...` about
// twice its CPU (a tiny training run: 3.6 s instead of 1.65 s, its module loads going through a
// loader thread). So spawned processes get NODE_OPTIONS without tap's preloads. What the tests run
// is unchanged: the same commands, arguments and environment otherwise. (Worker threads are not
// concerned: the Coordinator and the prepare pool start theirs with `execArgv: []`.)
// Plain JavaScript, so that it needs no transpiler.

const tapPreload = /^--(?:import|loader|experimental-loader|require)[= ]?\S*[\\/]@tapjs[\\/]/;

/** NODE_OPTIONS without tap's preloads (undefined if nothing else is left). */
function leanNodeOptions(value) {
  if (!value) return value;
  const kept = value.split(/\s+/).filter((a) => a && !tapPreload.test(a.replace(/^"|"$/g, '')));
  return kept.length ? kept.join(' ') : undefined;
}

function setLean(env) {
  const v = leanNodeOptions(env.NODE_OPTIONS);
  if (v === undefined) delete env.NODE_OPTIONS;
  else env.NODE_OPTIONS = v;
}

setLean(process.env);
// processinfo puts itself back into every spawned process's environment through process-on-spawn's
// listeners (a global singleton that wraps ChildProcess#spawn); this listener runs after its own
// (this module is preloaded after processinfo) and takes it out again.
const onSpawn = globalThis[Symbol.for('process-on-spawn@*:singletonId')];
if (onSpawn && !onSpawn.listeners.some((f) => f.leanChildren)) {
  const listener = (opts) => {
    const env = { ...opts.env };
    setLean(env);
    opts.env = env;
  };
  listener.leanChildren = true;
  onSpawn.listeners.push(listener);
}
