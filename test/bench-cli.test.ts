// `npm run bench` (node dist/src/bench/bench.js) as a user runs it: briefly, on the smallest
// workload, from a copy of the built repository that has no ../shared next to it (the workloads
// and the PyTorch script live in bench/); --compare pytorch failing with one clear line when the
// interpreter or torch is missing; --cell lstm and gru measured; and, where PyTorch is installed, a short
// real comparison and the kernel microbenchmark. No timing is asserted. Needs `npm run build`.

import t from 'tap';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const BENCH = join(ROOT, 'dist', 'src', 'bench', 'bench.js');
const INSTALL = 'apt-get update && apt-get install -y python3-torch libopenblas0-pthread';

interface Result { status: number | null; stdout: string; stderr: string }

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const jsonLines = (s: string) => s.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
const hasStack = (s: string) => /\n\s+at /.test(s);

const torchInstalled = await new Promise<boolean>((resolve) => {
  if (!existsSync('/usr/bin/python3')) return resolve(false);
  const c = spawn('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  c.on('error', () => resolve(false));
  c.on('close', (code) => resolve(code === 0));
});

t.before(() => {
  if (!existsSync(BENCH)) throw new Error(`${BENCH} is missing: run \`npm run build\` first`);
});

t.test('runs from a copy of the repository with no ../shared: bench/workloads.json by default', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'rnn-bench-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const repo = join(base, 'repo');
  mkdirSync(repo);
  cpSync(join(ROOT, 'dist'), join(repo, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'bench'), join(repo, 'bench'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(repo, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(repo, 'node_modules'), 'dir');
  t.notOk(existsSync(join(base, 'shared')), 'no ../shared beside the copy');

  const help = await run(join(repo, 'dist', 'src', 'bench', 'bench.js'), ['--help'], {}, repo);
  t.equal(help.status, 0, '--help');
  t.match(help.stdout, join(repo, 'bench', 'workloads.json'), 'the default workloads file is inside the repository');

  const r = await run(join(repo, 'dist', 'src', 'bench', 'bench.js'), ['--workloads', 'W-small', '--input', 'embedding,onehot', '--workers', '1', '--seconds', '0.1', '--lengths', 'full,variable'], {}, repo);
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim()})`);
  const rows = jsonLines(r.stdout);
  t.equal(rows.length, 4, 'a row per input x lengths');
  for (const row of rows) {
    t.match(row, { workload: 'W-small', workers: 1, impl: 'rnn-trainer', cell: 'rnn' }, 'row fields');
    t.ok(typeof row.tokensPerSec === 'number' && row.tokensPerSec > 0, 'tokens/s measured');
    t.ok(typeof row.gflopsPerCore === 'number', 'GFLOP/s per core');
  }
  t.same(rows.map((x) => `${x.input}/${x.lengths}`), ['embedding/full', 'embedding/variable', 'onehot/full', 'onehot/variable']);
  t.match(r.stdout, /^workload +input +lengths +workers +tokens\/s/m, 'the table');
});

t.test('--compare pytorch with a missing interpreter: one line naming it and the apt-get command, before any round', async (t) => {
  const r = await run(BENCH, ['--compare', 'pytorch', '--workloads', 'W-small', '--input', 'embedding', '--workers', '1', '--seconds', '0.1'], { RNN_TRAINER_PYTHON: '/nonexistent/bin/python3' });
  t.equal(r.status, 1, 'exit 1');
  t.equal(r.stdout, '', 'nothing measured');
  t.match(r.stderr, /^error: PyTorch comparison: python interpreter \/nonexistent\/bin\/python3 not found \(RNN_TRAINER_PYTHON chooses another\); install PyTorch with `apt-get update && apt-get install -y python3-torch libopenblas0-pthread`\n$/);
  t.notOk(hasStack(r.stderr), 'no stack trace');
  // On PATH but not there: the spawn error, same message.
  const r2 = await run(BENCH, ['--compare', 'pytorch', '--workloads', 'W-small', '--seconds', '0.1'], { RNN_TRAINER_PYTHON: 'no-such-python3-here' });
  t.equal(r2.status, 1, 'exit 1 (not on PATH)');
  t.match(r2.stderr, /python interpreter no-such-python3-here not found/);
  t.ok(r2.stderr.includes(INSTALL), 'names the apt-get command');
});

t.test('--compare pytorch where python3 has no torch: says so and names the apt-get command', { skip: !existsSync('/usr/bin/python3') && 'no /usr/bin/python3' }, async (t) => {
  const dir = t.testdir({ torch: { '__init__.py': 'raise ImportError("No module named torch (test stand-in)")\n' } });
  const r = await run(BENCH, ['--compare', 'pytorch', '--workloads', 'W-small', '--input', 'embedding', '--workers', '1', '--seconds', '0.1'], { RNN_TRAINER_PYTHON: '/usr/bin/python3', PYTHONPATH: dir });
  t.equal(r.status, 1, 'exit 1');
  t.equal(r.stdout, '', 'nothing measured');
  t.match(r.stderr, /^error: PyTorch comparison: \/usr\/bin\/python3 cannot import torch \(ImportError: No module named torch \(test stand-in\)\); install PyTorch with `apt-get update && apt-get install -y python3-torch libopenblas0-pthread`/);
  t.notOk(hasStack(r.stderr), 'no stack trace');
});

t.test('--cell lstm / gru: the gated cells are measured', async (t) => {
  for (const cell of ['lstm', 'gru']) {
    const r = await run(BENCH, ['--cell', cell, '--workloads', 'W-small', '--input', 'embedding', '--workers', '1', '--seconds', '0.1']);
    t.equal(r.status, 0, `${cell}: exit 0 (${r.stderr.trim()})`);
    const rows = jsonLines(r.stdout);
    t.equal(rows.length, 1, `${cell}: one row`);
    t.match(rows[0], { workload: 'W-small', workers: 1, impl: 'rnn-trainer', cell }, `${cell}: row fields`);
    t.ok(rows[0].tokensPerSec > 0, `${cell}: tokens/s measured`);
  }
});

t.test('a short real comparison with PyTorch on 1 and 2 threads, full and variable lengths', { skip: !torchInstalled && 'PyTorch not installed for /usr/bin/python3' }, async (t) => {
  const r = await run(BENCH, ['--compare', 'pytorch', '--torch-threads', '1,2', '--workloads', 'W-small', '--input', 'embedding,onehot', '--workers', '1,2', '--lengths', 'full,variable', '--seconds', '0.1']);
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim()})`);
  const rows = jsonLines(r.stdout);
  const torch = rows.filter((x) => x.impl === 'pytorch' && x.workers === 1);
  const ours = rows.filter((x) => x.impl === 'rnn-trainer');
  t.equal(torch.length, 4, 'a PyTorch row per input x lengths');
  t.equal(rows.filter((x) => x.impl === 'pytorch' && x.workers === 2).length, 4, 'and one on 2 threads');
  t.equal(ours.length, 8, 'our rows: input x lengths x 2 worker counts');
  for (const x of rows.filter((y) => y.impl === 'pytorch')) {
    t.match(x, { cell: 'rnn' }, 'PyTorch: the same cell');
    t.ok((x.tokensPerSec as number) > 0 && (x.steps as number) >= 3, 'PyTorch measured');
  }
  for (const x of ours) {
    const same = (y: Record<string, unknown>) => y.impl === 'pytorch' && y.input === x.input && y.lengths === x.lengths;
    const one = rows.find((y) => same(y) && y.workers === 1)!, two = rows.find((y) => same(y) && y.workers === 2)!;
    t.equal(x.pytorchTokensPerSec, one.tokensPerSec, 'PyTorch figure (1 thread) beside ours');
    t.ok(typeof x.vsPytorch === 'number' && (x.vsPytorch as number) > 0, 'the ratio');
    t.same(x.pytorchThreads, { 1: one.tokensPerSec, 2: two.tokensPerSec }, 'both thread counts beside ours');
  }
  t.match(r.stdout, /^workload .*ours\/PyTorch .*PyTorch 2t tok\/s +ours\/PyTorch 2t$/m, 'the 2-thread columns');
  t.match(r.stdout, /peak per core: [\d.]+ GFLOP\/s, measured on .+ \(register-only \S+ FMA loop, \d+ independent accumulators|peak assumed per core: Zen 5 AVX-512, .* = 64 FLOP\/cycle x \d+ MHz/, 'the peak, measured (with the CPU model) or assumed');
  t.match(r.stdout, /^workload +input +lengths +workers +ours tok\/s +PyTorch tok\/s +ours\/PyTorch/m, 'the comparison table');
  t.match(r.stdout, /PyTorch 1\.\d+.*1 and 2 threads/, 'PyTorch set-up line');
});

// Without --compare: PyTorch on 1 and 2 threads is checked by the classifier comparison above (the
// same table code); each PyTorch child costs a torch import, about 2 s of CPU.
t.test('--task lm: a language model (full softmax), the head in GFLOP/s', async (t) => {
  const file = join(t.testdir({}), 'workloads.json');
  writeFileSync(file, JSON.stringify({ workloads: {
    'LM-tiny': { task: 'lm', V: 300, E: 8, H: 16, C: 300, B: 4, T: 6 },
    'W-tiny': { V: 300, E: 8, H: 16, C: 3, B: 4, T: 6 },
  } }));
  const r = await run(BENCH, ['--task', 'lm', '--file', file, '--input', 'embedding', '--workers', '1,2', '--seconds', '0.1']);
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim()})`);
  const rows = jsonLines(r.stdout);
  t.ok(rows.length > 0 && rows.every((x) => x.workload === 'LM-tiny' && x.cell === 'lstm'), '--task lm picks the lm workloads, LSTM by default');
  const ours = rows.filter((x) => x.impl === 'rnn-trainer');
  t.equal(ours.length, 2, 'a row per worker count');
  t.equal(rows.length, 2, 'ours only (no --compare)');
  const fpt = 6 * 4 * (8 * 16 + 16 * 16) + 6 * 300 * 16; // the cell's and the head's FLOPs per token
  for (const x of ours) {
    t.ok((x.tokensPerSec as number) > 0, `${x.workers} worker(s): measured`);
    const want = ((x.tokensPerSec as number) * fpt) / (x.workers as number) / 1e9;
    t.ok(Math.abs((x.gflopsPerCore as number) - want) <= 0.006, 'GFLOP/s count the head: 6·G·(E·H + H·H) + 6·V·H per token');
  }
});

t.test('--kernels-micro: the per-step product of each backend (and torch.mm when installed)', async (t) => {
  const r = await run(BENCH, ['--kernels-micro', '--workloads', 'W-small', '--workers', '1', '--seconds', '0.05']);
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim()})`);
  const rows = jsonLines(r.stdout);
  t.ok(rows.some((x) => x.backend === 'js' && (x.gflops as number) > 0), 'the js backend timed');
  t.ok(rows.every((x) => x.M === 32 && x.K === 64 && x.N === 64), 'shape (B, H)·(H, H) of W-small');
  if (torchInstalled) t.ok(rows.some((x) => x.backend === 'torch.mm' && (x.gflops as number) > 0), 'torch.mm timed');
  t.match(r.stdout, /^workload +workers +M x K \. K x N/m, 'the table');
});

// --head adaptive | tied on a tiny language model (ours only: PyTorch's side is the same script
// the comparisons above run): the output layer in the rows and in the FLOP count, Zipf tokens, and
// the errors for what has no such layer.
t.test('--head adaptive and --head tied: the output layer measured and counted; clear errors', async (t) => {
  const file = join(t.testdir({}), 'workloads.json');
  writeFileSync(file, JSON.stringify({ workloads: {
    'LM-tiny': { task: 'lm', V: 300, E: 8, H: 16, C: 300, B: 4, T: 6, adaptive: { cutoffs: [50, 150], divValue: 2 } },
    'LM-plain': { task: 'lm', V: 300, E: 8, H: 16, C: 300, B: 4, T: 6 },
    'W-tiny': { V: 300, E: 8, H: 16, C: 3, B: 4, T: 6 },
  } }));
  const cell = 6 * 4 * (8 * 16 + 16 * 16);
  const r = await run(BENCH, ['--task', 'lm', '--head', 'adaptive', '--file', file, '--workers', '1', '--seconds', '0.05']);
  t.equal(r.status, 0, `exit 0 (${r.stderr.trim()})`);
  t.match(r.stdout, /skipping LM-plain \(no "adaptive" cutoffs/, 'a workload without cutoffs is skipped, with a note');
  t.match(r.stdout, /output layer adaptive \(LM-tiny: cutoffs \[50,150\], divValue 2; no head bias\); random tokens zipf/, 'the head and the tokens said');
  const rows = jsonLines(r.stdout);
  t.equal(rows.length, 2, 'both inputs, one worker count');
  // head 6·H·(50 + 2); tail 0 (100 tokens through 8 units), tail 1 (150 through 4) for their share of targets
  const head = 6 * 16 * 52, tails = 6 * (16 * 8 + 8 * 100) + 6 * (16 * 4 + 4 * 150);
  for (const x of rows) {
    t.match(x, { workload: 'LM-tiny', head: 'adaptive', tokens: 'zipf', impl: 'rnn-trainer' }, `${x.input}: the adaptive head on Zipf tokens`);
    const fpt = (x.flopsPerToken as number) - (x.input === 'onehot' ? 6 * 4 * 16 * 16 : cell);
    t.ok(fpt > head && fpt < head + tails, `${x.input}: the head counted as computed (${fpt} FLOPs per token: the head and a share of the tails)`);
    t.ok((x.tokensPerSec as number) > 0, 'measured');
  }

  const tied = await run(BENCH, ['--task', 'lm', '--head', 'tied', '--file', file, '--workloads', 'LM-plain', '--workers', '1', '--seconds', '0.05']);
  t.equal(tied.status, 0, `tied: exit 0 (${tied.stderr.trim()})`);
  t.match(tied.stdout, /--head tied: skipping LM-plain with one-hot input/, 'tied: one-hot skipped, with the reason');
  const trows = jsonLines(tied.stdout);
  t.equal(trows.length, 1, 'tied: the embedding row');
  t.match(trows[0], { head: 'tied', flopsPerToken: cell + 6 * 300 * 8 + 6 * 8 * 16 }, 'tied, E ≠ H: 6·V·E + 6·E·H for the head');

  for (const [args, want] of [
    [['--head', 'adaptive', '--workloads', 'W-tiny'], /--head adaptive: W-tiny is a classifier/],
    [['--head', 'adaptive', '--workloads', 'LM-plain'], /workload LM-plain has no "adaptive": \{ "cutoffs"/],
    // Every row would be skipped: an empty table with exit 0 before.
    [['--task', 'lm', '--head', 'tied', '--input', 'onehot', '--workloads', 'LM-plain'], /^error: --head tied --input onehot: tying shares the embedding table, and a one-hot input has none, so nothing would be measured; use --input embedding/m],
    // Modes that measure float32 with a full softmax: the flags they would ignore are refused.
    [['--kernels-micro', '--precision', 'bf16', '--workloads', 'W-tiny'], /^error: --precision bf16: --kernels-micro does not read it \(it measures float32 per-step products\); drop it, or drop --kernels-micro/m],
    [['--data', '--task', 'lm', '--head', 'tied', '--workloads', 'LM-plain'], /^error: --head tied: --data does not read it \(it measures float32 training with a full softmax\)/m],
    // Lists that come out empty: an empty table with exit 0 before.
    [['--workloads', ','], /^error: --workloads `,` names no workload; have LM-tiny, LM-plain, W-tiny/m],
    [['--input', ','], /^error: --input: expected embedding, onehot \(comma-separated\), found nothing/m],
  ] as const) {
    const e = await run(BENCH, ['--file', file, '--seconds', '0.05', ...args]);
    t.equal(e.status, 2, `${args.join(' ')}: exit 2`);
    t.match(e.stderr, want, 'says why');
    t.notOk(hasStack(e.stderr), 'no stack trace');
  }
  // A workloads file that is missing, not JSON or not of the shape: exit 2 naming it (a stack trace, or exit 1, before).
  const dir = dirname(file);
  writeFileSync(join(dir, 'notes.md'), '# notes\n');
  writeFileSync(join(dir, 'partial.json'), JSON.stringify({ workloads: { X: { V: 3, H: 4 } } }));
  for (const [name, want] of [
    ['missing.json', /--file \S+missing\.json: cannot be read \(ENOENT\); give a workloads file like bench\/workloads\.json/],
    ['notes.md', /--file \S+notes\.md: is not JSON \(.*\); give a workloads file/],
    ['partial.json', /--file \S+partial\.json: workload X: "E" must be an integer >= 1, found nothing/],
  ] as const) {
    const e = await run(BENCH, ['--file', join(dir, name), '--seconds', '0.05']);
    t.equal(e.status, 2, `--file ${name}: exit 2`);
    t.match(e.stderr, want, `--file ${name}: says why`);
    t.notOk(hasStack(e.stderr), `--file ${name}: no stack trace`);
  }
});
