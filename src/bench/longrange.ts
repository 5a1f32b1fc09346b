// The long-range dependency, measured: two many-to-one tasks whose answer depends on tokens far
// from the end of the sequence, trained with each cell.
//
//   first   the label is the first token (one of K = 8), followed by T−1 distractors drawn from
//           20 other tokens: the state must carry one token over T−1 steps. Chance: 1/8.
//   adding  the adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015) with tokens: each
//           step is a value v ∈ {0..4} and a marker bit (token 1 + v + 5·marker); exactly two
//           steps are marked, one in each half, and the label is the sum of their values (9
//           classes; the most frequent sum, 4, is 20%).
//
//   node dist/src/bench/longrange.js --task first|adding --cell rnn|lstm|gru [--length 100] [--steps 2350]
//     [--hidden 32] [--embedding 8] [--lr 0.01] [--batch 32] [--eval-every 50] [--seed 1]
//     [--init standard|pytorch] [--forget-bias 1] [--chrono T] [--profile FILE] [--kernels auto|js|wasm|native]
//
// One JSON line per evaluation (step, training loss, held-out accuracy on 1,024 fresh sequences,
// seconds), then a summary line; --profile writes the gradient-through-time profile (mean
// ‖dL/dh_t‖ over a batch, t = 1..T) at the first step and at every evaluation, as JSON lines.

import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { lineChart } from '../report/svg.js';
import { performance } from 'node:perf_hooks';
import type { Cell, ModelSpec } from '../model/spec.js';
import { initParams } from '../model/init.js';
import { batchFrom, type Batch } from '../model/batch.js';
import { LocalTrainer } from '../train/local.js';
import { defaultOptimizer } from '../optim/optim.js';
import { kernelsOf, KERNELS_CHOICES } from '../model/backend/index.js';
import { Rng } from '../util/prng.js';

export type LongRangeTask = 'first' | 'adding';

/** Vocabulary and classes of a task. */
export function taskShape(task: LongRangeTask): { V: number; C: number } {
  return task === 'first' ? { V: 1 + 8 + 20, C: 8 } : { V: 1 + 10, C: 9 };
}

/** B sequences of length T of `task`, drawn from rng. */
export function longRangeBatch(task: LongRangeTask, rng: Rng, B: number, T: number): Batch {
  const seqs: number[][] = [], labels: number[] = [];
  for (let b = 0; b < B; b++) {
    if (task === 'first') {
      const y = rng.int(8);
      const s = [1 + y];
      while (s.length < T) s.push(9 + rng.int(20));
      seqs.push(s);
      labels.push(y);
    } else {
      const half = Math.floor(T / 2);
      const m1 = rng.int(half), m2 = half + rng.int(T - half);
      const s: number[] = [];
      let y = 0;
      for (let t = 0; t < T; t++) {
        const v = rng.int(5), marked = t === m1 || t === m2;
        if (marked) y += v;
        s.push(1 + v + (marked ? 5 : 0));
      }
      seqs.push(s);
      labels.push(y);
    }
  }
  return batchFrom(seqs, { labels, T });
}

export interface LongRangeOptions {
  task: LongRangeTask;
  cell: Cell;
  T: number;
  steps: number;
  hidden: number;
  embedding: number;
  lr: number;
  batch: number;
  evalEvery: number;
  seed: number;
  kernels?: string;
  /** LSTM forget-gate bias at initialization (default 1, as model.forgetBias). */
  forgetBias?: number;
  /** Initialization scheme (model.init; default standard). */
  init?: 'standard' | 'pytorch';
  /** Chrono initialization span (model.chrono; default 0: off). */
  chrono?: number;
  /** Called at every evaluation. */
  onEval?: (e: { step: number; loss: number; accuracy: number; seconds: number }) => void;
  /** Called with the gradient-through-time profile at step 1 and at every evaluation. */
  onProfile?: (step: number, norms: number[]) => void;
  /** Stop once held-out accuracy reaches this (default: never). */
  stopAt?: number;
}

/** Trains one cell on one task (Adam, clipping at 5, as the PyTorch reference); returns the last held-out accuracy. */
export function trainLongRange(o: LongRangeOptions): { accuracy: number; steps: number; seconds: number; best: number } {
  const { V, C } = taskShape(o.task);
  const spec: ModelSpec = { cell: o.cell, task: 'many-to-one', V, H: o.hidden, C, E: o.embedding, layers: 1 };
  const tr = new LocalTrainer(spec, o.batch, o.T, {
    optimizer: { ...defaultOptimizer, lr: o.lr }, clipNorm: 5, kernels: kernelsOf(o.kernels),
  });
  initParams(tr.p, spec, new Rng(o.seed), { recurrentInit: 'orthogonal', recurrentScale: 1, init: o.init ?? 'standard', forgetBias: o.forgetBias ?? 1, chrono: o.chrono ?? 0 });
  const rng = new Rng(o.seed, 1);
  const heldOut = Array.from({ length: Math.ceil(1024 / o.batch) }, (_, i) => longRangeBatch(o.task, new Rng(o.seed + 7919, 100 + i), o.batch, o.T));
  const evaluate = () => {
    let correct = 0, n = 0;
    for (const b of heldOut) { const r = tr.evaluate(b); correct += r.correct; n += r.count; }
    return correct / n;
  };
  const profile = (step: number) => o.onProfile?.(step, Array.from({ length: o.T }, (_, i) => tr.ws.stepNormSum[i] / Math.max(1, tr.ws.stepNormCount[i])));
  const t0 = performance.now();
  let accuracy = 0, best = 0, loss = 0, step = 0;
  while (step < o.steps) {
    const r = tr.step(longRangeBatch(o.task, rng, o.batch, o.T));
    step++;
    loss = loss === 0 ? r.loss : 0.9 * loss + 0.1 * r.loss;
    if (step === 1) profile(step);
    if (step % o.evalEvery === 0 || step === o.steps) {
      profile(step);
      accuracy = evaluate();
      best = Math.max(best, accuracy);
      o.onEval?.({ step, loss, accuracy, seconds: (performance.now() - t0) / 1000 });
      if (o.stopAt !== undefined && accuracy >= o.stopAt) break;
    }
  }
  return { accuracy, steps: step, seconds: (performance.now() - t0) / 1000, best };
}

/** Profiles (JSON lines of {cell, step, norms}) drawn side by side, one panel per file: a standalone SVG. */
export function gradientFigure(panels: Array<{ title: string; rows: Array<{ step: number; norms: number[] }> }>): string {
  const W = 460, H = 300, colors = ['#7dd3c0', '#1f9bb5', '#2f4fa0', '#312e81'];
  const charts = panels.map((p, i) => {
    const shown = p.rows.length <= colors.length ? p.rows : [0, 1, 2, 3].map((k) => p.rows[Math.round((k * (p.rows.length - 1)) / 3)]);
    const chart = lineChart({
      title: p.title, xLabel: `timestep t — ${p.title}`, yLabel: '‖∂L/∂h_t‖', yLog: true, width: W, height: H,
      series: shown.map((r, k) => ({ name: `step ${r.step}`, color: colors[k], points: r.norms.map((v, t): [number, number] => [t + 1, v]) })),
    });
    return chart.replace('<svg class="chart"', `<svg x="${i * W}" y="0" width="${W}" height="${H}" class="chart"`);
  });
  const css = `svg.chart { font-family: system-ui, sans-serif; font-size: 11px; } .grid line { stroke: #eef0f3; } .frame { fill: none; stroke: #d1d5db; }
    .ticks text { fill: #6b7280; } .axis-title { fill: #374151; font-size: 12px; } .series { fill: none; stroke-linejoin: round; } .legend text { fill: #374151; font-size: 12px; }`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W * panels.length}" height="${H}" viewBox="0 0 ${W * panels.length} ${H}">
<style>${css}</style><rect width="100%" height="100%" fill="white"/>
${charts.join('\n')}
</svg>
`;
}

async function main(): Promise<void> {
  const { parseArgs, runMain } = await import('../cli/args.js');
  runMain(async () => {
    const a = parseArgs(process.argv.slice(2), {
      name: 'longrange.js',
      summary: 'Train one cell on a long-range dependency task (first token, or the adding problem) and print held-out accuracy.',
      flags: {
        task: { type: 'string', value: 'first|adding', help: 'The task (default first).' },
        cell: { type: 'string', value: 'rnn|lstm|gru', help: 'The cell (default lstm).' },
        length: { type: 'number', integer: true, min: 2, value: 'T', help: 'Sequence length T (default 100).' },
        steps: { type: 'number', integer: true, min: 1, value: 'N', help: 'Training steps (default 2350).' },
        hidden: { type: 'number', integer: true, min: 1, value: 'H', help: 'Hidden size (default 32).' },
        embedding: { type: 'number', integer: true, min: 1, value: 'E', help: 'Embedding width (default 8).' },
        lr: { type: 'number', min: 0, value: 'X', help: 'Adam learning rate (default 0.01).' },
        batch: { type: 'number', integer: true, min: 1, value: 'B', help: 'Batch size (default 32).' },
        evalEvery: { type: 'number', integer: true, min: 1, value: 'N', help: 'Evaluate every N steps (default 50).' },
        seed: { type: 'number', integer: true, min: 0, value: 'S', help: 'Seed (default 1).' },
        profile: { type: 'string', value: 'FILE', help: 'Write the gradient-through-time profiles here (JSON lines).' },
        init: { type: 'string', value: 'standard|pytorch', help: 'Initialization scheme (default standard).' },
        chrono: { type: 'number', integer: true, min: 0, value: 'T', help: 'Chrono initialization for spans up to T (default 0: off).' },
        forgetBias: { type: 'number', value: 'X', help: 'LSTM forget-gate bias at initialization (default 1).' },
        figure: { type: 'string', value: 'OUT.svg', help: 'Instead of training: draw the --profile files given with --profiles side by side.' },
        profiles: { type: 'string', repeat: true, value: 'FILE', help: 'A --profile file, one panel each (with --figure).' },
        titles: { type: 'string', repeat: true, value: 'TEXT', help: 'The panels\' titles, in order (with --figure).' },
        kernels: { type: 'string', choices: KERNELS_CHOICES, value: 'NAME', help: 'Compute backend (default: RNN_TRAINER_KERNELS, else auto).' },
      },
      examples: [['node dist/src/bench/longrange.js --task first --cell gru --length 100', 'the first-token task at T = 100']],
    });
    if (a.figure) {
      const panels = a.profiles.map((f) => {
        const rows = readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { cell: string; step: number; norms: number[]; title?: string });
        return { title: a.titles[a.profiles.indexOf(f)] ?? rows[0].cell, rows };
      });
      writeFileSync(a.figure, gradientFigure(panels));
      return;
    }
    const task = (a.task ?? 'first') as LongRangeTask;
    const cell = (a.cell ?? 'lstm') as Cell;
    if (a.profile) writeFileSync(a.profile, '');
    const o: LongRangeOptions = {
      task, cell, T: a.length ?? 100, steps: a.steps ?? 2350, hidden: a.hidden ?? 32, embedding: a.embedding ?? 8, lr: a.lr ?? 0.01,
      batch: a.batch ?? 32, evalEvery: a.evalEvery ?? 50, seed: a.seed ?? 1, kernels: a.kernels, forgetBias: a.forgetBias, chrono: a.chrono, init: a.init as LongRangeOptions['init'],
      onEval: (e) => process.stdout.write(JSON.stringify({ task, cell, ...e, loss: +e.loss.toFixed(4), seconds: +e.seconds.toFixed(1) }) + '\n'),
      onProfile: a.profile ? (step, norms) => appendFileSync(a.profile!, JSON.stringify({ task, cell, step, norms: norms.map((x) => +x.toPrecision(4)) }) + '\n') : undefined,
    };
    const r = trainLongRange(o);
    process.stdout.write(JSON.stringify({ task, cell, T: o.T, done: true, steps: r.steps, accuracy: r.accuracy, best: r.best, seconds: +r.seconds.toFixed(1) }) + '\n');
  });
}

if (process.argv[1] && /longrange\.[jt]s$/.test(process.argv[1])) await main();
