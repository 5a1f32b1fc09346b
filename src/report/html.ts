// <run dir>/report.html: one self-contained page (inline CSS, inline SVG, a few lines of inline
// script; nothing loaded from anywhere) with the curves of a run: loss and accuracy, gradient norm
// with clipping, the per-timestep gradient profile (the vanishing gradient), and the confusion
// matrix.
import { writeTextReplacing } from '../util/files.js';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import { dedupeResumed, type MetricsRow } from './metrics.js';
import { esc, lineChart, shortNumber, type Series } from './svg.js';
import { bestRow, bestRule, type Task } from './best.js';

export type { MetricsRow } from './metrics.js';
export { MetricsLog, readMetrics, dedupeResumed, METRICS_FILE } from './metrics.js';

/** ‖dL/da_t‖ for t = 1..T at one training step (averaged over the batch's sequences). */
export interface GradProfile {
  step: number;
  norms: number[];
}

export interface ReportData {
  runName: string;
  /** The resolved config of the run (shown in a summary and in full). */
  config?: ResolvedConfig;
  /** The rows of metrics.jsonl (resumed runs are fine: repeated steps are deduplicated). */
  metrics: MetricsRow[];
  /** Per-timestep gradient norm profiles, in step order; a few are drawn (first, last, some between). */
  stepGradNorms?: GradProfile[];
  /** Confusion matrix of the test split (many-to-one): matrix[true][predicted] counts. */
  confusion?: { labels: string[]; matrix: number[][] };
  /** Final test metrics, e.g. { loss, accuracy }; perplexity is added for language models. */
  test?: Record<string, number>;
  /** A language model (many-to-many): shows perplexity, no confusion matrix. Default: from config.model.task. */
  lm?: boolean;
  /**
   * The step the run ended at. Default: the last step in `metrics` (train rows are logged every
   * logEvery steps, so a run stopped between two logs ended later than its last train row).
   */
  steps?: number;
  /** Extra facts for the header, e.g. ['parameters', 12345], ['vocabulary', 58], ['wall time', '3m05s']; the header's own facts (data, model, optimizer, steps) win over one of the same name. */
  facts?: Array<[string, string | number]>;
  /** Text sampled from a language model, shown as is. */
  sample?: string;
  /** Default: now. */
  generatedAt?: Date;
}

const C = {
  train: '#2563eb', trainLight: '#93b4f5', val: '#ea580c', clip: '#dc2626', threshold: '#6b7280',
  fwd: '#2563eb', reduce: '#16a34a', update: '#9333ea',
};
/** Early -> late steps: light teal to dark blue (readable on white). */
const PROFILE_COLORS = ['#7dd3c0', '#38b2ac', '#1f9bb5', '#2575b7', '#2f4fa0', '#312e81'];

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Exponential moving average that skips missing values. */
function smooth(points: Array<[number, number | null | undefined]>, alpha: number): Array<[number, number | null]> {
  let s: number | undefined;
  return points.map(([x, y]) => {
    if (!finite(y)) return [x, null];
    s = s === undefined ? y : alpha * y + (1 - alpha) * s;
    return [x, s];
  });
}

/** Up to n items: the first, the last and evenly spaced ones between. */
function pickSpread<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  const idx = new Set(Array.from({ length: n }, (_, i) => Math.round((i * (xs.length - 1)) / (n - 1))));
  return [...idx].sort((a, b) => a - b).map((i) => xs[i]);
}

/** The whole page. */
/** Train points (raw and smoothed when there are many) and validation points of one metric. */
function trainValSeries(train: MetricsRow[], val: MetricsRow[], y: (r: MetricsRow) => number | null | undefined): Series[] {
  const pts = train.map((r): [number, number | null | undefined] => [r.step, y(r)]);
  const series: Series[] = [];
  if (train.length > 40) {
    series.push({ name: 'train (per logged step)', color: C.trainLight, points: pts, width: 1, hideInLegend: true });
    series.push({ name: 'train (smoothed)', color: C.train, points: smooth(pts, Math.min(1, 20 / train.length + 0.05)) });
  } else series.push({ name: 'train', color: C.train, points: pts });
  series.push({ name: 'validation', color: C.val, points: val.map((r) => [r.step, y(r)]), style: 'both' });
  return series;
}

export function renderReport(data: ReportData): string {
  const rows = dedupeResumed(data.metrics ?? []).slice().sort((a, b) => a.step - b.step);
  const train = rows.filter((r) => r.kind === 'train');
  const val = rows.filter((r) => r.kind === 'val');
  const testRow = rows.filter((r) => r.kind === 'test').at(-1);
  const cfg = data.config;
  const lm = data.lm ?? cfg?.model?.task === 'many-to-many';
  const test: Record<string, number> = { ...(testRow ? { loss: testRow.loss ?? NaN, accuracy: testRow.accuracy ?? NaN } : {}), ...(data.test ?? {}) };
  if (lm && finite(test.loss) && test.perplexity === undefined) test.perplexity = Math.exp(test.loss);
  const clipNorm = cfg?.train?.clipNorm;

  const sections: string[] = [];

  // ---- loss
  const lossSeries = trainValSeries(train, val, (r) => r.loss);
  sections.push(chartCard('Loss', lm ? 'Cross-entropy per predicted token (nats). Perplexity = e^loss.' : 'Cross-entropy per sequence label (nats).',
    lineChart({ title: 'loss vs step', xLabel: 'step', yLabel: 'loss', series: lossSeries, yMin: 0 })));

  // ---- accuracy
  if ([...train, ...val].some((r) => finite(r.accuracy))) {
    const accSeries = trainValSeries(train, val, (r) => r.accuracy);
    sections.push(chartCard('Accuracy', lm ? 'Fraction of next tokens predicted right (argmax).' : 'Fraction of sequences classified right.',
      lineChart({ title: 'accuracy vs step', xLabel: 'step', yLabel: 'accuracy', series: accSeries, yMin: 0, yMax: 1, yFormat: (v) => `${Math.round(v * 100)}%` })));
  }

  // ---- gradient norm and clipping
  const gn = train.filter((r) => finite(r.gradNorm));
  if (gn.length > 0) {
    const vals = gn.map((r) => r.gradNorm as number).filter((v) => v > 0);
    const spread = vals.length ? Math.max(...vals) / Math.min(...vals) : 1;
    const clipped = gn.filter((r) => r.clipped);
    const series: Series[] = [
      { name: 'gradient norm (before clipping)', color: C.train, points: gn.map((r) => [r.step, r.gradNorm]), width: 1.4 },
      { name: `clipped (${clipped.length})`, color: C.clip, points: clipped.map((r) => [r.step, r.gradNorm]), style: 'dots' },
    ];
    const note = finite(clipNorm) && clipNorm > 0
      ? `Global L2 norm of the gradient before clipping. Clipped to ${clipNorm} at ${clipped.length} of ${gn.length} logged steps (${(100 * clipped.length / gn.length).toFixed(1)}%).`
      : 'Global L2 norm of the gradient. Clipping is off.';
    sections.push(chartCard('Gradient norm', note, lineChart({
      title: 'gradient norm vs step', xLabel: 'step', yLabel: '‖g‖', series, yLog: spread > 30,
      hlines: finite(clipNorm) && clipNorm > 0 ? [{ y: clipNorm, label: `clip threshold ${clipNorm}`, color: C.threshold }] : [],
    })));
  }

  // ---- throughput and timings. Step 1 is logged alone and pays the warm-up (JIT compilation,
  // worker start, first touches of memory): several times a later step. It is drawn as a point of
  // its own that does not set the y range, so it cannot flatten the steps after it.
  const warm = train[0]?.step === 1 && train.length > 1 ? train[0] : undefined;
  const steady = warm ? train.slice(1) : train;
  const num = (v: number) => shortNumber(+v.toPrecision(3));
  const warmNote = (what: (v: number) => string, y: number | null | undefined) => !warm || !finite(y) ? ''
    : ` Step 1 (warm-up: JIT compilation, worker start) ${what(y)}: drawn as open markers and kept out of the scale (▲ on the top edge when above it).`;
  const warmSeries = (name: string, color: string, v: (r: MetricsRow) => number | null | undefined): Series[] =>
    warm && finite(v(warm)) ? [{ name: `${name}, step 1 (warm-up)`, color, points: [[1, v(warm)]], offScale: true, hideInLegend: true }] : [];
  if (train.some((r) => finite(r.tokensPerSec))) {
    const tps = (r: MetricsRow) => r.tokensPerSec;
    sections.push(chartCard('Throughput', `Target tokens per second of wall time.${warmNote((v) => `ran at ${num(v)} tokens/s`, warm?.tokensPerSec)}`, lineChart({
      title: 'tokens per second', xLabel: 'step', yLabel: 'tokens / s', yMin: 0,
      series: [{ name: 'tokens/s', color: C.train, points: steady.map((r) => [r.step, tps(r)]) }, ...warmSeries('tokens/s', C.train, tps)],
    })));
  }
  // ---- per-timestep gradient profile
  const profiles = (data.stepGradNorms ?? []).filter((p) => p.norms?.some((v) => finite(v) && v > 0));
  if (profiles.length > 0) {
    const shown = pickSpread(profiles, PROFILE_COLORS.length);
    const colors = pickSpread(PROFILE_COLORS, shown.length);
    const series: Series[] = shown.map((p, i) => ({ name: `step ${p.step}`, color: colors[i], points: p.norms.map((v, t): [number, number] => [t + 1, v]) }));
    const last = shown[shown.length - 1].norms;
    const lo = last.find((v) => finite(v) && v > 0), hi = [...last].reverse().find((v) => finite(v) && v > 0);
    const ratio = lo !== undefined && hi !== undefined ? hi / lo : NaN;
    const cell = cfg?.model?.cell ?? 'rnn', layers = cfg?.model?.layers ?? 1;
    const through = cell === 'lstm' ? 'through the cell state c<sub>t</sub> (scaled by the forget gate) and through W<sub>hh</sub> and the gates'
      : cell === 'gru' ? 'through the update gate\'s direct path z ⊙ h<sub>t−1</sub> and through W<sub>hh</sub> and the gates'
      : 'through W<sub>aa</sub> and tanh′';
    const note = `‖∂L/∂a<sub>t</sub>‖, the norm of the loss gradient with respect to the hidden state at time t${layers > 1 ? ' of the top layer' : ''} (${cell === 'rnn' ? 'vanilla RNN' : cell.toUpperCase()}), averaged over a batch. ` +
      (lm ? 'Every step has a loss, so each a_t also receives gradient from its own output. '
        : `The loss is at the last step; the gradient flows back to earlier steps ${through}. `) +
      `A curve falling towards t = 1 is the vanishing gradient` +
      (finite(ratio) && ratio > 1 ? `: at step ${shown[shown.length - 1].step}, ‖∂L/∂a<sub>1</sub>‖ is ${shortNumber(+ratio.toPrecision(3))}× smaller than ‖∂L/∂a<sub>${last.length}</sub>‖.` : '.');
    sections.push(chartCard('Gradient through time', note, lineChart({
      title: 'gradient norm per timestep', xLabel: 'timestep t', yLabel: '‖∂L/∂aₜ‖', series, yLog: true, width: 1100, height: 340,
    }), true));
  }

  if (train.some((r) => finite(r.fwdBwdMs) || finite(r.updateMs))) {
    const phases: Array<[string, string, (r: MetricsRow) => number | undefined]> = [
      ['forward + backward', C.fwd, (r) => r.fwdBwdMs], ['reduce', C.reduce, (r) => r.reduceMs], ['update', C.update, (r) => r.updateMs]];
    const total = (r: MetricsRow) => (r.fwdBwdMs ?? 0) + (r.reduceMs ?? 0) + (r.updateMs ?? 0);
    sections.push(chartCard('Time per step', `Milliseconds per step in each phase.${warmNote((v) => `took ${num(v)} ms in all`, warm && total(warm))}`, lineChart({
      title: 'milliseconds per step', xLabel: 'step', yLabel: 'ms', yMin: 0,
      series: [
        ...phases.map(([name, color, v]): Series => ({ name, color, points: steady.map((r) => [r.step, v(r)]) })),
        ...phases.flatMap(([name, color, v]) => warmSeries(name, color, v)),
      ],
    })));
  }

  // ---- confusion matrix
  if (!lm && data.confusion && data.confusion.labels.length > 0) sections.push(confusionCard(data.confusion));

  if (data.sample) sections.push(`<section class="card wide"><h2>Sample</h2><p class="note">Text generated by the model.</p><pre class="sample">${esc(data.sample)}</pre></section>`);

  const generated = (data.generatedAt ?? new Date()).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(data.runName)} · training report</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${esc(data.runName)}</h1>
<p class="sub">Training report · generated ${esc(generated)}</p>
${factsHtml(data, rows, train, val, test, lm)}
</header>
<main>
${sections.join('\n')}
${cfg ? `<section class="card wide"><details><summary>Configuration</summary><pre>${esc(JSON.stringify(cfg, null, 2))}</pre></details></section>` : ''}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function chartCard(title: string, noteHtml: string, svg: string, wide = false): string {
  return `<section class="card${wide ? ' wide' : ''}"><h2>${esc(title)}</h2><p class="note">${noteHtml}</p>${svg}</section>`;
}

function factsHtml(data: ReportData, rows: MetricsRow[], train: MetricsRow[], val: MetricsRow[], test: Record<string, number>, lm: boolean): string {
  const cfg = data.config;
  const facts = new Map<string, string>();
  if (cfg) {
    const input = typeof cfg.model.input === 'object' ? `embedding ${cfg.model.input.embedding}` : 'one-hot';
    facts.set('data', `${cfg.data.source}${cfg.data.format ? ` (${cfg.data.format})` : ''}, ${cfg.data.tokenizer} tokens`);
    facts.set('model', `${cfg.model.cell} ${cfg.model.task}, H = ${cfg.model.hidden}, ${input}`);
    facts.set('optimizer', `${cfg.train.optimizer}, lr ${cfg.train.lr}, batch ${cfg.train.batchSize}, clip ${cfg.train.clipNorm || 'off'}`);
  }
  const lastTrain = train.at(-1);
  // Steps are shown once, here: a 'steps' fact passed in is replaced (kept in its place).
  const passed = data.facts?.find(([k]) => k === 'steps')?.[1];
  const steps = data.steps ?? (typeof passed === 'number' ? passed : rows.at(-1)?.step);
  const extra = new Map((data.facts ?? []).map(([k, v]) => [k, typeof v === 'number' ? v.toLocaleString('en-US') : v]));
  if (steps !== undefined && (lastTrain || !extra.has('steps'))) {
    extra.set('steps', `${steps.toLocaleString('en-US')}${lastTrain ? ` (epoch ${lastTrain.epoch})` : ''}`);
  }
  for (const [k, v] of extra) if (!facts.has(k)) facts.set(k, v);
  const metric = (k: string, v: number) => (k === 'accuracy' ? `${(100 * v).toFixed(2)}%` : shortNumber(+v.toPrecision(4)));
  const cards: string[] = [];
  for (const [k, v] of Object.entries(test)) {
    if (finite(v)) cards.push(`<div class="metric"><div class="k">test ${esc(k)}</div><div class="v">${esc(metric(k, v))}</div></div>`);
  }
  // The best validation result by the rule training uses for its best checkpoint and summary.
  const task: Task = lm ? 'many-to-many' : 'many-to-one';
  const best = bestRow(task, val.map((r) => ({ ...r, loss: r.loss ?? undefined, accuracy: r.accuracy ?? undefined })));
  if (best) {
    const [key, other] = lm ? ['loss', 'accuracy'] as const : ['accuracy', 'loss'] as const;
    cards.push(`<div class="metric best"><div class="k">best val ${key}</div><div class="v">${esc(metric(key, best[key] as number))}</div><div class="s">step ${best.step}</div></div>`);
    if (finite(best[other])) cards.push(`<div class="metric"><div class="k">val ${other} there</div><div class="v">${esc(metric(other, best[other] as number))}</div></div>`);
  }
  if (lastTrain && finite(lastTrain.loss)) cards.push(`<div class="metric"><div class="k">last train loss</div><div class="v">${esc(metric('loss', lastTrain.loss))}</div></div>`);
  return `<dl class="facts">${[...facts].map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>` +
    (cards.length ? `<div class="metrics">${cards.join('')}</div>` : '') +
    (best ? `<p class="rule">Best checkpoint: the ${esc(bestRule(task))} (the rule training and its summary use).</p>` : '');
}

function confusionCard(conf: { labels: string[]; matrix: number[][] }): string {
  const { labels, matrix } = conf;
  const n = labels.length;
  const rowSum = matrix.map((r) => r.reduce((a, b) => a + (b || 0), 0));
  const colSum = labels.map((_, j) => matrix.reduce((a, r) => a + (r[j] || 0), 0));
  const total = rowSum.reduce((a, b) => a + b, 0);
  const correct = labels.reduce((a, _, i) => a + (matrix[i]?.[i] || 0), 0);
  const cell = (i: number, j: number) => {
    const v = matrix[i]?.[j] || 0;
    const f = rowSum[i] > 0 ? v / rowSum[i] : 0;
    // diagonal: blue, off-diagonal: red; strength = fraction of the row
    const hue = i === j ? '217 91% ' : '0 84% ';
    const light = 97 - 52 * f;
    const fg = light < 62 ? '#fff' : '#111827';
    return `<td style="background:hsl(${hue}${light.toFixed(0)}%);color:${fg}" title="true ${esc(labels[i])}, predicted ${esc(labels[j])}: ${v} (${(100 * f).toFixed(1)}% of the row)">${v}<span>${(100 * f).toFixed(0)}%</span></td>`;
  };
  const head = `<tr><th class="corner">true \\ predicted</th>${labels.map((l) => `<th>${esc(l)}</th>`).join('')}<th class="tot">total</th><th class="tot">recall</th></tr>`;
  const body = labels.map((l, i) =>
    `<tr><th>${esc(l)}</th>${labels.map((_, j) => cell(i, j)).join('')}<td class="tot">${rowSum[i]}</td><td class="tot">${rowSum[i] ? (100 * (matrix[i]?.[i] || 0) / rowSum[i]).toFixed(1) + '%' : '–'}</td></tr>`).join('');
  const foot = `<tr><th>precision</th>${labels.map((_, j) => `<td class="tot">${colSum[j] ? (100 * (matrix[j]?.[j] || 0) / colSum[j]).toFixed(1) + '%' : '–'}</td>`).join('')}<td class="tot">${total}</td><td class="tot">${total ? (100 * correct / total).toFixed(1) + '%' : '–'}</td></tr>`;
  return `<section class="card${n > 6 ? ' wide' : ''}"><h2>Confusion matrix</h2><p class="note">Test split: rows are the true class, columns the predicted one; colour is the fraction of the row.</p>` +
    `<div class="cm-wrap"><table class="cm">${head}${body}${foot}</table></div></section>`;
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #111827; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #fff; border-bottom: 1px solid #e5e7eb; padding: 20px 28px 16px; }
h1 { margin: 0; font-size: 22px; font-weight: 650; }
.sub { margin: 2px 0 12px; color: #6b7280; font-size: 13px; }
.facts { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 0 0 14px; }
.facts div { display: flex; gap: 8px; }
.facts dt { color: #6b7280; }
.facts dd { margin: 0; font-weight: 500; }
.metrics { display: flex; flex-wrap: wrap; gap: 10px; }
.metric { border: 1px solid #e5e7eb; border-radius: 8px; padding: 8px 14px; min-width: 130px; background: #f9fafb; }
.metric .k { color: #6b7280; font-size: 12px; }
.metric .v { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
.metric .s { color: #9ca3af; font-size: 11px; }
.rule { margin: 8px 0 0; color: #6b7280; font-size: 12px; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 18px; padding: 18px 28px 28px; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 14px 16px 10px; min-width: 0; }
.card.wide { grid-column: 1 / -1; }
h2 { margin: 0 0 2px; font-size: 15px; font-weight: 650; }
.note { margin: 0 0 6px; color: #4b5563; font-size: 12.5px; }
.empty { color: #9ca3af; font-style: italic; }
svg.chart { display: block; width: 100%; height: auto; max-height: 420px; font-size: 11px; }
.card.wide svg.chart { max-height: 360px; }
svg.chart .grid line { stroke: #eef0f3; stroke-width: 1; }
svg.chart .frame { fill: none; stroke: #d1d5db; }
svg.chart .ticks text { fill: #6b7280; font-variant-numeric: tabular-nums; }
svg.chart .axis-title { fill: #374151; font-size: 12px; }
svg.chart .series { fill: none; stroke-linejoin: round; stroke-linecap: round; }
svg.chart .hline { stroke-width: 1.5; stroke-dasharray: 5 4; }
svg.chart .hline-label { font-size: 11px; }
svg.chart .legend text { fill: #374151; font-size: 12px; }
.cm-wrap { overflow-x: auto; }
table.cm { border-collapse: separate; border-spacing: 2px; margin: 6px 0; font-variant-numeric: tabular-nums; }
.cm th { font-weight: 600; padding: 4px 8px; text-align: right; color: #374151; white-space: nowrap; }
.cm tr:first-child th { text-align: center; }
.cm th.corner { color: #9ca3af; font-weight: 400; font-size: 12px; }
.cm td { min-width: 64px; padding: 6px 8px; text-align: center; border-radius: 4px; font-weight: 600; }
.cm td span { display: block; font-size: 10.5px; font-weight: 400; opacity: .8; }
.cm td.tot { background: #f9fafb; color: #374151; font-weight: 500; }
details summary { cursor: pointer; font-weight: 600; }
pre { background: #f9fafb; border: 1px solid #e5e7eb; border-radius: 6px; padding: 10px 12px; overflow: auto; font-size: 12px; }
pre.sample { white-space: pre-wrap; font-size: 13px; }
`;

// Runs at load: marks each chart that laid out with a visible plot (data-rendered="1") and
// counts them on <body data-charts-rendered="N">, so a headless browser test can check it.
const SCRIPT = `
(function () {
  var n = 0;
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var ok = false;
    svg.querySelectorAll('.plot path, .plot circle').forEach(function (el) {
      var b = el.getBBox();
      if (b.width > 0 || b.height > 0) ok = true;
    });
    var r = svg.getBoundingClientRect();
    if (ok && r.width > 0 && r.height > 0) { svg.setAttribute('data-rendered', '1'); n++; }
  });
  document.body.setAttribute('data-charts', String(document.querySelectorAll('svg.chart').length));
  document.body.setAttribute('data-charts-rendered', String(n));
})();
`;

/**
 * Writes `<runDir>/report.html` (atomically) and returns its path. A failure (a full disk) leaves
 * no temporary file and throws an OutputError naming the path; `after` ends its message.
 */
export function writeReport(runDir: string, data: ReportData, after = ''): string {
  const file = join(runDir, 'report.html');
  writeTextReplacing(file, renderReport(data), 'the report', after);
  return file;
}
