// Line charts as inline SVG strings: axes with nice ticks (linear or log), labelled, a legend,
// NaN-tolerant lines (a gap where a value is missing), optional horizontal reference lines and
// point markers. No dependencies; the page that holds them needs no network.

export interface Series {
  name: string;
  color: string;
  /** [x, y]; points whose y is not finite (or <= 0 on a log axis) leave a gap. */
  points: Array<[number, number | null | undefined]>;
  /** `line` (default), `dots`, or `both`. */
  style?: 'line' | 'dots' | 'both';
  width?: number;
  opacity?: number;
  dash?: string;
  /** Kept out of the legend. */
  hideInLegend?: boolean;
  /**
   * Does not set the y range (a warm-up step that would flatten the rest): its points outside the
   * range are pinned to the plot's edge as open triangles (class "point clipped"), the value in
   * their tooltip. Drawn as dots.
   */
  offScale?: boolean;
}

export interface HLine { y: number; label: string; color: string }

export interface ChartSpec {
  xLabel: string;
  yLabel: string;
  series: Series[];
  yLog?: boolean;
  yMin?: number;
  yMax?: number;
  hlines?: HLine[];
  /** Format of y tick labels (default: short number). */
  yFormat?: (v: number) => string;
  /** Accessible name of the chart. */
  title: string;
  width?: number;
  height?: number;
}

export const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Short tick label: 0.001, 25, 1.5k, 1e-7. */
export function shortNumber(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) {
    const e = Math.floor(Math.log10(a));
    const m = v / 10 ** e;
    return `${Math.abs(m - 1) < 1e-9 ? '' : +m.toPrecision(2) + '×'}1e${e}`;
  }
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(4));
}

/** About `count` round ticks covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) { min = 0; max = 1; }
  // A range within rounding of its values (0.8 and 0.8000000000000002) is a flat line: a step
  // that small would not move v at all (v + step === v) and the loop below would never end.
  const span = max - min;
  if (!(span > Math.max(Math.abs(min), Math.abs(max)) * 1e-9) || !(span / count > 1e-300)) { const d = Math.abs(min) || 1; min -= d / 2; max += d / 2; }
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  // Ticks by index, not by repeated addition, and never more than a few dozen.
  const first = Math.floor(min / step);
  for (let i = 0; i <= 4 * count + 4; i++) {
    const v = (first + i) * step;
    if (v > max + step * 1e-9) break;
    out.push(+v.toPrecision(12));
  }
  if (out[0] > min) out.unshift(+(out[0] - step).toPrecision(12));
  if (out[out.length - 1] < max) out.push(+(out[out.length - 1] + step).toPrecision(12));
  return out;
}

/** Powers of ten covering [min, max] (with 2 and 5 between them when the range is short). */
export function logTicks(min: number, max: number): number[] {
  let lo = Math.floor(Math.log10(min)), hi = Math.ceil(Math.log10(max));
  if (hi === lo) hi = lo + 1;
  const out: number[] = [];
  const every = Math.ceil((hi - lo) / 8);
  // Bounded like niceTicks: a non-finite end must not make it endless.
  for (let e = lo, n = 0; e <= hi && n < 64; e += every, n++) {
    out.push(10 ** e);
    if (hi - lo <= 2 && e < hi) out.push(2 * 10 ** e, 5 * 10 ** e);
  }
  return out;
}

/** Thins a long series to about `max` points, keeping each bucket's lowest and highest y (spikes stay visible). */
export function thin(points: Series['points'], max = 1500): Series['points'] {
  if (points.length <= max) return points;
  const per = Math.ceil(points.length / (max / 2));
  const out: Series['points'] = [];
  for (let i = 0; i < points.length; i += per) {
    const chunk = points.slice(i, i + per).filter((p) => Number.isFinite(p[1] as number));
    if (chunk.length === 0) { out.push(points[i]); continue; }
    let lo = chunk[0], hi = chunk[0];
    for (const p of chunk) { if ((p[1] as number) < (lo[1] as number)) lo = p; if ((p[1] as number) > (hi[1] as number)) hi = p; }
    out.push(...(lo[0] <= hi[0] ? [lo, hi] : [hi, lo]));
  }
  return out;
}

const fmt = (v: number) => (Math.round(v * 10) / 10).toString();

/** An <svg class="chart"> for `spec`, or a short note when there is nothing to draw. */
export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 640, H = spec.height ?? 300;
  const m = { left: 62, right: 18, top: 34, bottom: 46 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  const usable = (y: unknown): y is number => typeof y === 'number' && Number.isFinite(y) && (!spec.yLog || y > 0);
  const series = spec.series.map((s) => ({ ...s, points: thin(s.points) }));
  const drawable = (s: Series) => s.points.filter((p) => usable(p[1]) && Number.isFinite(p[0]));
  if (series.every((s) => drawable(s).length === 0)) return `<p class="empty">No data for this chart.</p>`;
  // The range comes from the other series; an off-scale series alone still sets it.
  const scaled = series.filter((s) => !s.offScale && drawable(s).length > 0);
  const all = (scaled.length ? scaled : series).flatMap(drawable);
  const allX = series.flatMap(drawable).map((p) => p[0]);

  // ---- scales
  let xMin = Math.min(...allX), xMax = Math.max(...allX);
  if (!(xMax - xMin > Math.abs(xMax) * 1e-9)) { xMin -= 1; xMax += 1; } // one x, or two within rounding
  const ys = all.map((p) => p[1] as number).concat((spec.hlines ?? []).map((h) => h.y).filter(usable));
  let yMin = spec.yMin ?? Math.min(...ys), yMax = spec.yMax ?? Math.max(...ys);
  let yTicks: number[];
  if (spec.yLog) {
    yTicks = logTicks(yMin, yMax);
    yMin = Math.min(yMin, yTicks[0]); yMax = Math.max(yMax, yTicks[yTicks.length - 1]);
  } else {
    yTicks = niceTicks(yMin, yMax);
    yMin = spec.yMin ?? yTicks[0]; yMax = spec.yMax ?? yTicks[yTicks.length - 1];
    yTicks = yTicks.filter((v) => v >= yMin - 1e-12 && v <= yMax + 1e-12);
  }
  const xTicks = niceTicks(xMin, xMax, 6).filter((v) => v >= xMin && v <= xMax);
  const X = (x: number) => m.left + ((x - xMin) / (xMax - xMin)) * pw;
  const Y = spec.yLog
    ? (y: number) => m.top + ph - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph
    : (y: number) => m.top + ph - ((y - yMin) / (yMax - yMin)) * ph;
  const yf = spec.yFormat ?? shortNumber;

  const parts: string[] = [];
  parts.push(`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(spec.title)}" preserveAspectRatio="xMidYMid meet">`);
  // ---- grid and axes
  parts.push('<g class="grid">');
  for (const v of yTicks) parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${fmt(Y(v))}" y2="${fmt(Y(v))}"/>`);
  for (const v of xTicks) parts.push(`<line x1="${fmt(X(v))}" x2="${fmt(X(v))}" y1="${m.top}" y2="${m.top + ph}"/>`);
  parts.push('</g>');
  parts.push(`<rect class="frame" x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/>`);
  parts.push('<g class="ticks">');
  for (const v of yTicks) parts.push(`<text x="${m.left - 6}" y="${fmt(Y(v) + 4)}" text-anchor="end">${esc(yf(v))}</text>`);
  for (const v of xTicks) parts.push(`<text x="${fmt(X(v))}" y="${m.top + ph + 16}" text-anchor="middle">${esc(shortNumber(v))}</text>`);
  parts.push('</g>');
  parts.push(`<text class="axis-title" x="${m.left + pw / 2}" y="${H - 8}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  parts.push(`<text class="axis-title" transform="translate(14 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}${spec.yLog ? ' (log scale)' : ''}</text>`);

  // ---- reference lines
  for (const h of spec.hlines ?? []) {
    if (!usable(h.y) || h.y < yMin || h.y > yMax) continue;
    parts.push(`<line class="hline" x1="${m.left}" x2="${m.left + pw}" y1="${fmt(Y(h.y))}" y2="${fmt(Y(h.y))}" stroke="${h.color}"/>`);
    parts.push(`<text class="hline-label" x="${m.left + pw - 4}" y="${fmt(Y(h.y) - 4)}" text-anchor="end" fill="${h.color}">${esc(h.label)}</text>`);
  }

  // ---- data
  parts.push(`<g class="plot">`);
  for (const s of series) {
    const style = s.offScale ? 'dots' : s.style ?? 'line';
    if (style !== 'dots') {
      let d = '';
      let pen = false;
      for (const [x, y] of s.points) {
        if (!usable(y) || !Number.isFinite(x)) { pen = false; continue; }
        d += `${pen ? 'L' : 'M'}${fmt(X(x))} ${fmt(Y(y))}`;
        pen = true;
      }
      if (d) {
        parts.push(`<path class="series" data-series="${esc(s.name)}" d="${d}" stroke="${s.color}" stroke-width="${s.width ?? 1.8}"` +
          `${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}${s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : ''}/>`);
      }
    }
    if (style !== 'line') {
      const r = style === 'dots' ? 3 : 2.6;
      for (const [x, y] of s.points) {
        if (!usable(y) || !Number.isFinite(x)) continue;
        const tip = `<title>${esc(s.name)}: step ${esc(shortNumber(x))}, ${esc(yf(y))}${y > yMax || y < yMin ? ' (off the scale)' : ''}</title>`;
        if (y > yMax || y < yMin) {
          // pinned to the edge it is beyond, pointing outwards
          const up = y > yMax, cx = X(x), cy = up ? m.top + 5 : m.top + ph - 5, d = up ? -5 : 5;
          parts.push(`<path class="point clipped" data-series="${esc(s.name)}" d="M${fmt(cx - 5)} ${fmt(cy - d / 2)}L${fmt(cx + 5)} ${fmt(cy - d / 2)}L${fmt(cx)} ${fmt(cy + d)}Z" fill="#fff" stroke="${s.color}" stroke-width="1.5">${tip}</path>`);
          continue;
        }
        const paint = s.offScale ? `fill="#fff" stroke="${s.color}" stroke-width="1.5"` : `fill="${s.color}"`;
        parts.push(`<circle class="point" data-series="${esc(s.name)}" cx="${fmt(X(x))}" cy="${fmt(Y(y))}" r="${r}" ${paint}>${tip}</circle>`);
      }
    }
  }
  parts.push('</g>');

  // ---- legend, above the plot
  let lx = m.left;
  parts.push('<g class="legend">');
  for (const s of series) {
    if (s.hideInLegend) continue;
    const swatch = s.offScale || (s.style ?? 'line') === 'dots'
      ? `<circle cx="${lx + 7}" cy="14" r="3.5" fill="${s.color}"/>`
      : `<line x1="${lx}" x2="${lx + 16}" y1="14" y2="14" stroke="${s.color}" stroke-width="3"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`;
    parts.push(`${swatch}<text x="${lx + 21}" y="18">${esc(s.name)}</text>`);
    lx += 21 + 7 * s.name.length + 16;
  }
  for (const h of spec.hlines ?? []) {
    if (!usable(h.y)) continue;
    parts.push(`<line x1="${lx}" x2="${lx + 16}" y1="14" y2="14" stroke="${h.color}" stroke-width="2" stroke-dasharray="5 4"/><text x="${lx + 21}" y="18">${esc(h.label)}</text>`);
    lx += 21 + 7 * h.label.length + 16;
  }
  parts.push('</g></svg>');
  return parts.join('');
}
