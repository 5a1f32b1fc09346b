import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import { renderReport, writeReport, type ReportData } from '../src/report/html.js';
import { MetricsLog, readMetrics, dedupeResumed, type MetricsRow } from '../src/report/metrics.js';
import { lineChart, logTicks, niceTicks } from '../src/report/svg.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** A plausible run: loss falling, some early clipping, vanishing gradient profiles, a 3-class confusion matrix. */
function syntheticRun(): ReportData {
  const { config } = loadConfig('test/fixtures/config/good-names.json', ['train.clipNorm=1']);
  const metrics: MetricsRow[] = [];
  for (let step = 10; step <= 600; step += 10) {
    const epoch = 1 + Math.floor(step / 200);
    const loss = 0.35 + 0.75 * Math.exp(-step / 150) + 0.04 * Math.sin(step);
    const gradNorm = 0.3 + 4 * Math.exp(-step / 80) + 0.3 * Math.abs(Math.sin(step * 0.7));
    metrics.push({ step, epoch, kind: 'train', loss, accuracy: 1 - loss / 1.6, gradNorm, clipped: gradNorm > 1, lr: 0.01,
      tokensPerSec: 90000 + 5000 * Math.sin(step / 50), fwdBwdMs: 12, reduceMs: 1.5, updateMs: 0.8 });
    if (step % 100 === 0) metrics.push({ step, epoch, kind: 'val', loss: loss + 0.05, accuracy: 1 - (loss + 0.05) / 1.6 });
  }
  metrics[7].loss = NaN; // a NaN loss leaves a gap
  return {
    runName: 'names <tiny> & co',
    config,
    metrics,
    stepGradNorms: [10, 200, 400, 600].map((step) => ({ step, norms: Array.from({ length: 20 }, (_, i) => 0.5 * Math.pow(0.55 + step / 2000, 19 - i)) })),
    confusion: { labels: ['female', 'male', '<weird>'], matrix: [[410, 90, 3], [70, 380, 2], [1, 2, 9]] },
    test: { loss: 0.4123, accuracy: 0.8312 },
    facts: [['parameters', 5762], ['vocabulary', 29]],
    generatedAt: new Date('2025-01-02T03:04:05Z'),
  };
}

const syntheticRunHtml = () => renderReport(syntheticRun());

t.test('the page is self-contained and has every section', async (t) => {
  const html = renderReport(syntheticRun());
  t.notMatch(html, /https?:|\bsrc=|<link\b|@import|url\(/, 'nothing loaded from elsewhere');
  for (const h of ['Loss', 'Accuracy', 'Gradient norm', 'Gradient through time', 'Throughput', 'Time per step', 'Confusion matrix']) t.match(html, `<h2>${h}</h2>`);
  t.match(html, /<h1>names &lt;tiny&gt; &amp; co<\/h1>/, 'run name escaped');
  t.match(html, /<th>&lt;weird&gt;<\/th>/, 'class names escaped');
  t.match(html, /clip threshold 1/);
  t.match(html, /Clipped to 1 at \d+ of 60 logged steps/);
  t.match(html, /test accuracy<\/div><div class="v">83\.12%/);
  t.match(html, /step 600/);
  t.match(html, /\(log scale\)/);
});

t.test('empty and partial data render without throwing (a language model, NaN, nothing logged)', async (t) => {
  const lmRun = renderReport({
    runName: 'lm', lm: true, metrics: [{ step: 1, epoch: 1, kind: 'train', loss: NaN }, { step: 2, epoch: 1, kind: 'test', loss: 1.5 }],
    confusion: { labels: ['a'], matrix: [[1]] }, stepGradNorms: [{ step: 1, norms: [NaN, 0, 0] }], sample: 'Call me <Ishmael>.',
  });
  t.notMatch(lmRun, /Confusion matrix/, 'no confusion matrix for a language model');
  t.match(lmRun, /test perplexity<\/div><div class="v">4\.482/);
  t.match(lmRun, /No data for this chart/);
  t.match(lmRun, /Call me &lt;Ishmael&gt;\./);
  const empty = renderReport({ runName: 'empty', metrics: [] });
  t.match(empty, /No data for this chart/);
  t.notMatch(empty, /NaN|undefined/);
});

/** The <section> of the report whose heading is `title`. */
function section(html: string, title: string): string {
  const s = html.split('<section').find((x) => x.includes(`<h2>${title}</h2>`));
  if (!s) throw new Error(`no section "${title}"`);
  return s;
}
/** The y-axis tick labels of a chart (right-aligned texts of its ticks group). */
const yTicks = (svg: string) => [...(/<g class="ticks">(.*?)<\/g>/.exec(svg)?.[1] ?? '').matchAll(/text-anchor="end">([^<]*)</g)].map((m) => m[1]);
const row = (r: Partial<MetricsRow> & { step: number; kind: MetricsRow['kind'] }): MetricsRow => ({ epoch: 1, loss: null, ...r });

t.test('best validation card: highest accuracy for a classifier, lowest loss for a language model, earliest step on a tie, rule named', async (t) => {
  // Lowest loss at step 200; highest accuracy at 300 and again at 400 (the tie keeps 300).
  const val = [row({ step: 100, kind: 'val', loss: 0.9, accuracy: 0.60 }), row({ step: 200, kind: 'val', loss: 0.5, accuracy: 0.70 }),
    row({ step: 300, kind: 'val', loss: 0.6, accuracy: 0.80 }), row({ step: 400, kind: 'val', loss: 0.7, accuracy: 0.80 })];
  const m2o = renderReport({ runName: 'c', lm: false, metrics: val });
  t.match(m2o, /<div class="k">best val accuracy<\/div><div class="v">80\.00%<\/div><div class="s">step 300<\/div>/);
  t.match(m2o, /<div class="k">val loss there<\/div><div class="v">0\.6<\/div>/);
  t.notMatch(m2o, /best val loss/);
  t.match(m2o, /Best checkpoint: the highest validation accuracy, earliest step on a tie/);
  const lm = renderReport({ runName: 'l', lm: true, metrics: [...val, row({ step: 500, kind: 'val', loss: 0.5, accuracy: 0.1 })] });
  t.match(lm, /<div class="k">best val loss<\/div><div class="v">0\.5<\/div><div class="s">step 200<\/div>/, 'the loss 0.5 at 500 ties: 200 kept');
  t.match(lm, /<div class="k">val accuracy there<\/div><div class="v">70\.00%/);
  t.match(lm, /Best checkpoint: the lowest validation loss, earliest step on a tie/);
  // The task comes from the config when lm is not given.
  const { config } = loadConfig('test/fixtures/config/good-names.json', []);
  t.match(renderReport({ runName: 'c', config, metrics: val }), /best val accuracy<\/div><div class="v">80\.00%/);
  t.notMatch(renderReport({ runName: 'none', metrics: [row({ step: 1, kind: 'train', loss: 1 })] }), /Best checkpoint/, 'no rule without validation rows');
});

t.test('the header shows steps once: a steps fact passed in is replaced, and a later end step wins over the last logged row', async (t) => {
  const metrics = [row({ step: 1, kind: 'train', loss: 1 }), row({ step: 50, epoch: 2, kind: 'train', loss: 0.5 })];
  const count = (html: string) => (html.match(/<dt>steps<\/dt>/g) ?? []).length;
  const passed = renderReport({ runName: 'r', metrics, facts: [['parameters', 10], ['steps', 53], ['wall time', '1s']] });
  t.equal(count(passed), 1);
  t.match(passed, /<dt>parameters<\/dt><dd>10<\/dd><\/div><div><dt>steps<\/dt><dd>53 \(epoch 2\)<\/dd>/, 'in the passed fact\'s place, its step (the run stopped after its last logged row)');
  const given = renderReport({ runName: 'r', metrics, steps: 1234, facts: [['steps', 53]] });
  t.equal(count(given), 1);
  t.match(given, /<dt>steps<\/dt><dd>1,234 \(epoch 2\)<\/dd>/);
  const fromRows = renderReport({ runName: 'r', metrics: [...metrics, row({ step: 50, kind: 'test', loss: 0.4 })] });
  t.equal(count(fromRows), 1);
  t.match(fromRows, /<dt>steps<\/dt><dd>50 \(epoch 2\)<\/dd>/);
  t.equal(count(renderReport({ runName: 'r', metrics: [] })), 0, 'nothing to show');
  t.equal(count(syntheticRunHtml()), 1, 'the synthetic run (config facts too)');
});

t.test('warm-up: step 1 is drawn apart and does not set the scale of the time and throughput charts', async (t) => {
  const metrics: MetricsRow[] = [row({ step: 1, kind: 'train', loss: 2, tokensPerSec: 900, fwdBwdMs: 950, reduceMs: 30, updateMs: 20 })];
  for (let step = 10; step <= 200; step += 10) metrics.push(row({ step, kind: 'train', loss: 1, tokensPerSec: 40000 + step, fwdBwdMs: 12 + (step % 3), reduceMs: 1, updateMs: 0.5 }));
  const html = renderReport({ runName: 'w', metrics });
  const time = section(html, 'Time per step');
  const ticks = yTicks(time).map(Number);
  t.ok(ticks.length >= 3 && Math.max(...ticks) <= 20, `the ms axis is set by steps 10..200 (ticks ${ticks.join(', ')}), not by step 1's 950 ms`);
  t.equal((time.match(/<path class="point clipped"/g) ?? []).length, 3, 'step 1 of each phase: 950 and 30 ms above the scale, and 20 ms too');
  t.match(time, /forward \+ backward, step 1 \(warm-up\): step 1, 950 \(off the scale\)/, 'its value in the tooltip');
  t.match(time, /Step 1 \(warm-up: JIT compilation, worker start\) took 1000 ms in all/);
  t.equal((time.match(/<path class="series"/g) ?? []).length, 3, 'a line per phase');
  for (const path of time.match(/<path class="series"[^>]*>/g) ?? []) {
    const xs = [...path.matchAll(/[ML]([\d.]+) /g)].map((m) => Number(m[1]));
    t.ok(Math.min(...xs) > 62 + 1, 'no line starts at step 1 (the left edge)');
  }
  const tput = section(html, 'Throughput');
  const tTicks = yTicks(tput).map((v) => Number(v.replace(/k$/, 'e3')));
  t.ok(Math.max(...tTicks) >= 40000 && Math.max(...tTicks) <= 50000, `tokens/s axis from the steady steps (${tTicks.join(', ')})`);
  t.match(tput, /<circle class="point" data-series="tokens\/s, step 1 \(warm-up\)"[^>]*fill="#fff"/, 'step 1 in range: an open circle');
  t.match(tput, /ran at 900 tokens\/s/);

  // Without a step-1 row (a run logged from step 10, or one row only) nothing is set apart.
  const plain = renderReport({ runName: 'p', metrics: metrics.slice(1) });
  t.notMatch(plain, /warm-up|point clipped/);
  const one = renderReport({ runName: 'o', metrics: metrics.slice(0, 1) });
  t.notMatch(one, /warm-up/);
  t.match(section(one, 'Time per step'), /<path class="series"/, 'a single row is still drawn');
});

t.test('clipped steps between logged ones (rows without timings) leave no gap; metric cards have labels, not field names; a sample is shown', async (t) => {
  const metrics: MetricsRow[] = [];
  for (let step = 10; step <= 100; step += 10) {
    metrics.push(row({ step, kind: 'train', loss: 1, gradNorm: 2, tokensPerSec: 40000 + step, fwdBwdMs: 12, reduceMs: 1, updateMs: 0.5 }));
    // A clip row as run.ts logs it off the logEvery grid: loss and norm, no timings.
    if (step < 100) metrics.push(row({ step: step + 3, kind: 'train', loss: 1, gradNorm: 9, clipped: true }));
  }
  const html = renderReport({ runName: 'c', metrics, lm: true, test: { loss: 1.2, bitsPerToken: 1.2 / Math.LN2 }, sample: 'the cat <sat>', sampleNote: 'from <s>' });
  for (const title of ['Throughput', 'Time per step']) {
    const paths = section(html, title).match(/<path class="series"[^>]*d="([^"]*)"/g) ?? [];
    t.ok(paths.length > 0, `${title}: lines drawn`);
    for (const p of paths) t.equal((p.match(/M/g) ?? []).length, 1, `${title}: one unbroken line per series`);
  }
  t.match(html, /test bits per token<\/div><div class="v">1\.731/);
  t.notMatch(html, /bitsPerToken<\/div>/);
  t.match(section(html, 'Sample'), /from &lt;s&gt;.*the cat &lt;sat&gt;/s);
});

t.test('lineChart: an off-scale series alone sets the range; beyond it, below and above, it is pinned to the edges', async (t) => {
  const alone = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'w', color: '#000', points: [[1, 5]], offScale: true }] });
  t.match(alone, /<circle class="point"/);
  t.notMatch(alone, /clipped/);
  const both = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [
    { name: 's', color: '#000', points: [[2, 10], [3, 20]] }, { name: 'w', color: '#111', points: [[1, 1000], [4, -1000]], offScale: true }] });
  const tri = [...both.matchAll(/<path class="point clipped"[^>]*d="M([\d.]+) ([\d.]+)L[\d.]+ [\d.]+L[\d.]+ ([\d.]+)Z"/g)].map((m) => [Number(m[2]), Number(m[3])]);
  t.equal(tri.length, 2);
  t.ok(tri[0][1] < tri[0][0], 'above: the apex points up');
  t.ok(tri[1][1] > tri[1][0], 'below: the apex points down');
  t.ok(Math.max(...yTicks(both).map(Number)) <= 25, 'the range is the other series\'');
});

t.test('metrics.jsonl: append, NaN as null, torn line cut, resume drops later rows', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let log = new MetricsLog(dir);
  for (let step = 1; step <= 5; step++) log.append({ step, epoch: 1, kind: 'train', loss: step === 3 ? NaN : 1 / step });
  log.close();
  const file = join(dir, 'metrics.jsonl');
  t.equal(readFileSync(file, 'utf8').split('\n')[2], '{"step":3,"epoch":1,"kind":"train","loss":null}');
  appendFileSync(file, '{"step":6,"epo'); // crash mid-line
  log = new MetricsLog(dir);
  log.append({ step: 6, epoch: 1, kind: 'train', loss: 0.1 });
  log.close();
  t.same(readMetrics(file).map((r) => r.step), [1, 2, 3, 4, 5, 6], 'torn line cut, appended after');
  log = new MetricsLog(dir, { resumeStep: 4 });
  log.append({ step: 5, epoch: 1, kind: 'train', loss: 0.2 });
  log.close();
  t.same(readMetrics(file).map((r) => [r.step, r.loss]), [[1, 1], [2, 0.5], [3, null], [4, 0.25], [5, 0.2]]);
  const rows = (steps: number[]) => steps.map((step): MetricsRow => ({ step, epoch: 1, kind: 'train', loss: step }));
  t.same(dedupeResumed(rows([1, 2, 3, 4, 2, 3])).map((r) => r.step), [1, 2, 3]);
  t.same(readMetrics(join(dir, 'none.jsonl')), []);
});

t.test('ticks', async (t) => {
  t.same(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  t.same(niceTicks(3, 97), [0, 20, 40, 60, 80, 100]);
  t.same(logTicks(0.003, 40), [0.001, 0.01, 0.1, 1, 10, 100]);
});

t.test('ticks end: values a few rounding units apart, huge and non-finite ranges (in a child, with a time bound)', async (t) => {
  // Before the fix niceTicks(0.8, 0.8000000000000002) looped forever (the step was below the
  // values' rounding, so v += step did not move v): run the cases where a hang is a failed test.
  const svg = join(import.meta.dirname, '..', 'dist', 'src', 'report', 'svg.js');
  const cases = [[0.8, 0.8000000000000002], [1e15, 1e15 + 0.125], [-3, -3 + 4e-16], [0, 5e-324], [1e308, 1.7e308], [-1e308, 1e308], [0, Infinity], [NaN, 1]];
  const code = `import(${JSON.stringify(pathToFileURL(svg).href)}).then((m) => {
    const out = ${JSON.stringify(cases.map(([a, b]) => [String(a), String(b)]))}.map(([a, b]) => m.niceTicks(Number(a), Number(b)));
    out.push(m.logTicks(1, Infinity), m.lineChart({ xLabel: 'x', yLabel: 'y', title: 't', series: [{ name: 's', color: '#000', points: [[1, 0.8], [2, 0.8000000000000002]] }] }).length > 0 ? ['chart'] : []);
    process.stdout.write(JSON.stringify(out));
  })`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
  t.equal(r.signal, null, 'returns (not killed by the 10 s bound)');
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout || '[]') as number[][];
  t.equal(out.length, cases.length + 2, 'every case answered');
  cases.forEach(([a, b], i) => {
    const ticks = out[i];
    t.ok(ticks.length >= 2 && ticks.length <= 30, `niceTicks(${a}, ${b}): ${ticks.length} ticks`);
    if (Number.isFinite(a) && Number.isFinite(b) && b - a < 1) t.ok(ticks[0] <= a && ticks[ticks.length - 1] >= b, `niceTicks(${a}, ${b}) covers the values`);
  });
  t.same(out[cases.length + 1], ['chart'], 'a chart whose values differ by rounding renders');
});

t.test('the report renders in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium)` }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'report-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = writeReport(dir, syntheticRun());
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-extensions', '--disable-dev-shm-usage', '--hide-scrollbars', '--mute-audio',
    `--user-data-dir=${join(dir, 'profile')}`, '--window-size=1280,2400', '--virtual-time-budget=2000'];
  const dom = execFileSync(CHROMIUM, [...flags, '--dump-dom', `file://${file}`], { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'ignore'] });
  const charts = Number(/data-charts="(\d+)"/.exec(dom)?.[1]);
  const rendered = Number(/data-charts-rendered="(\d+)"/.exec(dom)?.[1]);
  t.equal(charts, 6, 'six charts on the page');
  t.equal(rendered, charts, 'every chart laid out with visible data (the inline script ran in Chromium)');
  t.ok((dom.match(/<path class="series"/g) ?? []).length >= 10, 'data lines');
  t.ok((dom.match(/<circle class="point"/g) ?? []).length >= 6, 'validation points and clip events');
  t.match(dom, /<table class="cm">/);

  const png = join(dir, 'report.png');
  execFileSync(CHROMIUM, [...flags, `--screenshot=${png}`, `file://${file}`], { timeout: 120_000, stdio: 'ignore' });
  if (process.env.REPORT_SCREENSHOT) writeFileSync(process.env.REPORT_SCREENSHOT, readFileSync(png));
  const bytes = readFileSync(png);
  t.equal(bytes.subarray(1, 4).toString(), 'PNG');
  t.ok(statSync(png).size > 60_000, `screenshot has content (${statSync(png).size} bytes; a blank page is a few kB)`);
});
