import { html, join, type SafeHtml, token, truncate } from './escape.ts';
import { formatCi, formatCount, formatScore, formatSigned, isNumber } from './format.ts';

/**
 * A tiny server-side chart module: horizontal bars with confidence-interval whiskers, baseline versus
 * candidate paired bars, and a histogram. Each chart is one inline `<svg>` with explicit width, height
 * and viewBox, `role="img"`, a `<title>` and a `<desc>`, and a `<title>` per bar (a tooltip that says
 * the numbers); no scripts, no fonts, no external references. Every label is escaped.
 */

/** What a chart is called and what it shows, for screen readers. */
export interface ChartText {
  /** Unique within the page: the ids of the chart's `<title>` and `<desc>` derive from it. */
  readonly id: string;
  readonly title: string;
  readonly desc: string;
}

export interface BarDatum {
  readonly label: string;
  /** `NaN` draws no bar and says `—`. */
  readonly value: number;
  readonly ci?: readonly [number, number];
  readonly n?: number;
  /** A threshold drawn across this row (a gate's margin, say). */
  readonly marker?: number;
}

export interface BarChartOptions extends ChartText {
  readonly rows: readonly BarDatum[];
  /** @default 720 */
  readonly width?: number;
  /** @default the smallest rounded range covering [0, 1] and every value and interval */
  readonly domain?: readonly [number, number];
  /** Values are differences: shown signed, negative bars in the warning colour. */
  readonly signed?: boolean;
}

export interface PairedDatum {
  readonly label: string;
  readonly baseline?: {
    readonly value: number;
    readonly ci?: readonly [number, number];
    readonly n?: number;
  };
  readonly candidate: {
    readonly value: number;
    readonly ci?: readonly [number, number];
    readonly n?: number;
  };
}

export interface PairedBarChartOptions extends ChartText {
  readonly rows: readonly PairedDatum[];
  /** @default { baseline: 'baseline', candidate: 'candidate' } */
  readonly legend?: { readonly baseline: string; readonly candidate: string };
  /** @default 720 */
  readonly width?: number;
  readonly domain?: readonly [number, number];
}

export interface HistogramOptions extends ChartText {
  /** The scored values (missing ones left out by the caller). */
  readonly values: readonly number[];
  /** @default 10 */
  readonly bins?: number;
  /** @default [0, 1], widened to cover every value */
  readonly domain?: readonly [number, number];
  /** @default 360 */
  readonly width?: number;
  /** @default 200 */
  readonly height?: number;
}

export interface HistogramBin {
  readonly lo: number;
  readonly hi: number;
  readonly count: number;
}

export const CHART_COLOURS = {
  candidate: '#2563eb',
  baseline: '#9ca3af',
  negative: '#d97706',
  whisker: '#111827',
  grid: '#e5e7eb',
  axis: '#6b7280',
  marker: '#dc2626',
  text: '#111827',
  muted: '#4b5563',
} as const;

const FONT = 'system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif';
const LABEL_CHARS = 26;

/** Coordinates with one decimal: small output, no float noise. */
function r(x: number): number {
  return Math.round(x * 10) / 10;
}

function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const exp = 10 ** Math.floor(Math.log10(raw));
  const f = raw / exp;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nice * exp;
}

function clean(x: number): number {
  return Number(x.toFixed(10));
}

/** The smallest range with round ends that covers `include` and every finite value. */
export function niceDomain(
  values: readonly number[],
  include: readonly [number, number] = [0, 1],
): [number, number] {
  let lo = include[0];
  let hi = include[1];
  for (const v of values) {
    if (!isNumber(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (hi - lo <= 0) return [lo - 1, hi + 1];
  const step = niceStep((hi - lo) / 4);
  return [clean(Math.floor(lo / step + 1e-9) * step), clean(Math.ceil(hi / step - 1e-9) * step)];
}

/** About five round tick values across a domain. */
export function ticks(domain: readonly [number, number], count = 4): number[] {
  const [lo, hi] = domain;
  const step = niceStep((hi - lo) / count);
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(clean(t));
  return out;
}

function tickLabel(t: number): string {
  return String(Number(t.toFixed(4)));
}

function scale(domain: readonly [number, number], from: number, to: number): (v: number) => number {
  const [lo, hi] = domain;
  return (v) => {
    const clamped = Math.min(hi, Math.max(lo, v));
    return from + ((clamped - lo) / (hi - lo)) * (to - from);
  };
}

function open(text: ChartText, width: number, height: number): SafeHtml {
  const id = token(text.id);
  return html`<svg role="img" aria-labelledby="${id}-t ${id}-d" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12" fill="${CHART_COLOURS.text}"><title id="${id}-t">${text.title}</title><desc id="${id}-d">${text.desc}</desc>`;
}

function whisker(x0: number, x1: number, y: number, half: number): SafeHtml {
  return html`<path d="M${r(x0)} ${r(y)}H${r(x1)}M${r(x0)} ${r(y - half)}V${r(y + half)}M${r(x1)} ${r(y - half)}V${r(y + half)}" stroke="${CHART_COLOURS.whisker}" stroke-width="1.5" fill="none"/>`;
}

function grid(
  domain: readonly [number, number],
  x: (v: number) => number,
  top: number,
  bottom: number,
  labelY: number,
): SafeHtml {
  const origin = domain[0] < 0 && domain[1] > 0 ? 0 : undefined;
  return join(
    ticks(domain).map(
      (t) =>
        html`<line x1="${r(x(t))}" x2="${r(x(t))}" y1="${top}" y2="${bottom}" stroke="${t === origin ? CHART_COLOURS.axis : CHART_COLOURS.grid}"/><text x="${r(x(t))}" y="${labelY}" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.muted}">${tickLabel(t)}</text>`,
    ),
  );
}

function valueText(
  d: { value: number; ci?: readonly [number, number]; n?: number },
  signed: boolean,
): string {
  const value = signed ? formatSigned(d.value) : formatScore(d.value);
  const ci = d.ci && isNumber(d.ci[0]) ? ` ${formatCi(d.ci, 3, signed)}` : '';
  return `${value}${ci}`;
}

function tooltip(
  label: string,
  d: { value: number; ci?: readonly [number, number]; n?: number },
  signed: boolean,
) {
  const ci = d.ci && isNumber(d.ci[0]) ? `, 95% CI ${formatCi(d.ci, 3, signed)}` : '';
  const n = d.n === undefined ? '' : `, n = ${formatCount(d.n)}`;
  return `${label}: ${signed ? formatSigned(d.value) : formatScore(d.value)}${ci}${n}`;
}

function noData(width: number, y: number): SafeHtml {
  return html`<text x="${r(width / 2)}" y="${r(y)}" text-anchor="middle" fill="${CHART_COLOURS.muted}">No data</text>`;
}

function domainOf(
  rows: readonly { value: number; ci?: readonly [number, number]; marker?: number }[],
): [number, number] {
  const values: number[] = [];
  for (const row of rows) {
    values.push(row.value);
    if (row.ci) values.push(row.ci[0], row.ci[1]);
    if (row.marker !== undefined) values.push(row.marker);
  }
  return niceDomain(values);
}

/** Horizontal bars, one row per datum, each with its 95% confidence-interval whisker. */
export function barChart(options: BarChartOptions): SafeHtml {
  const width = options.width ?? 720;
  const signed = options.signed ?? false;
  const rows = options.rows;
  const top = 10;
  const rowH = 26;
  const barH = 14;
  const labelW = 180;
  const valueW = 170;
  const plotBottom = top + Math.max(rows.length, 1) * rowH;
  const height = plotBottom + 26;
  const domain = options.domain ?? domainOf(rows);
  const x = scale(domain, labelW, width - valueW - 12);
  const origin = x(Math.min(domain[1], Math.max(domain[0], 0)));
  const head = open(options, width, height);
  const body = rows.map((row, i) => {
    const y = top + i * rowH + rowH / 2;
    const hasValue = isNumber(row.value);
    const end = hasValue ? x(row.value) : origin;
    const fill = signed && row.value < 0 ? CHART_COLOURS.negative : CHART_COLOURS.candidate;
    return html`<g><title>${tooltip(row.label, row, signed)}</title><text x="${labelW - 8}" y="${r(y + 4)}" text-anchor="end">${truncate(row.label, LABEL_CHARS)}</text>${
      hasValue
        ? html`<rect x="${r(Math.min(origin, end))}" y="${r(y - barH / 2)}" width="${r(Math.max(Math.abs(end - origin), 1))}" height="${barH}" fill="${fill}"/>`
        : null
    }${row.ci && isNumber(row.ci[0]) && isNumber(row.ci[1]) ? whisker(x(row.ci[0]), x(row.ci[1]), y, 5) : null}${
      row.marker !== undefined && isNumber(row.marker)
        ? html`<line x1="${r(x(row.marker))}" x2="${r(x(row.marker))}" y1="${r(y - rowH / 2 + 2)}" y2="${r(y + rowH / 2 - 2)}" stroke="${CHART_COLOURS.marker}" stroke-width="2" stroke-dasharray="3 2"/>`
        : null
    }<text x="${width - 8}" y="${r(y + 4)}" text-anchor="end">${valueText(row, signed)}</text></g>`;
  });
  return html`${head}${grid(domain, x, top, plotBottom, height - 8)}${rows.length === 0 ? noData(width, top + rowH / 2 + 4) : body}</svg>`;
}

/** Baseline and candidate side by side, one pair of bars (with whiskers) per row. */
export function pairedBarChart(options: PairedBarChartOptions): SafeHtml {
  const width = options.width ?? 720;
  const legend = options.legend ?? { baseline: 'baseline', candidate: 'candidate' };
  const rows = options.rows;
  const legendH = 24;
  const top = legendH + 6;
  const rowH = 40;
  const barH = 12;
  const labelW = 180;
  const valueW = 170;
  const plotBottom = top + Math.max(rows.length, 1) * rowH;
  const height = plotBottom + 26;
  const all = rows.flatMap((row) => (row.baseline ? [row.baseline, row.candidate] : [row.candidate]));
  const domain = options.domain ?? domainOf(all);
  const x = scale(domain, labelW, width - valueW - 12);
  const origin = x(Math.min(domain[1], Math.max(domain[0], 0)));
  const head = open(options, width, height);
  const bar = (
    label: string,
    d: { value: number; ci?: readonly [number, number]; n?: number } | undefined,
    y: number,
    fill: string,
  ) => {
    if (!d) {
      return html`<text x="${width - 8}" y="${r(y + 4)}" text-anchor="end" fill="${CHART_COLOURS.muted}">—</text>`;
    }
    const end = isNumber(d.value) ? x(d.value) : origin;
    return html`<g><title>${tooltip(label, d, false)}</title>${
      isNumber(d.value)
        ? html`<rect x="${r(Math.min(origin, end))}" y="${r(y - barH / 2)}" width="${r(Math.max(Math.abs(end - origin), 1))}" height="${barH}" fill="${fill}"/>`
        : null
    }${d.ci && isNumber(d.ci[0]) && isNumber(d.ci[1]) ? whisker(x(d.ci[0]), x(d.ci[1]), y, 4) : null}<text x="${width - 8}" y="${r(y + 4)}" text-anchor="end">${valueText(d, false)}</text></g>`;
  };
  const body = rows.map((row, i) => {
    const rowTop = top + i * rowH;
    return html`<text x="${labelW - 8}" y="${r(rowTop + rowH / 2 + 4)}" text-anchor="end">${truncate(row.label, LABEL_CHARS)}</text>${bar(
      `${row.label} (${legend.baseline})`,
      row.baseline,
      rowTop + 12,
      CHART_COLOURS.baseline,
    )}${bar(`${row.label} (${legend.candidate})`, row.candidate, rowTop + 27, CHART_COLOURS.candidate)}`;
  });
  const legendRow = html`<rect x="${labelW}" y="6" width="12" height="12" fill="${CHART_COLOURS.baseline}"/><text x="${labelW + 18}" y="16">${truncate(legend.baseline, 40)}</text><rect x="${labelW + 200}" y="6" width="12" height="12" fill="${CHART_COLOURS.candidate}"/><text x="${labelW + 218}" y="16">${truncate(legend.candidate, 40)}</text>`;
  return html`${head}${legendRow}${grid(domain, x, top, plotBottom, height - 8)}${rows.length === 0 ? noData(width, top + rowH / 2 + 4) : body}</svg>`;
}

/** Counts of values per equal-width bin; values outside the domain fall in the end bins. */
export function histogramBins(
  values: readonly number[],
  bins = 10,
  domain: readonly [number, number] = niceDomain(values),
): HistogramBin[] {
  const [lo, hi] = domain;
  const count = Math.max(1, Math.floor(bins));
  const width = (hi - lo) / count;
  const out = Array.from({ length: count }, (_, i) => ({
    lo: clean(lo + i * width),
    hi: clean(lo + (i + 1) * width),
    count: 0,
  }));
  for (const v of values) {
    if (!isNumber(v)) continue;
    const index = Math.min(count - 1, Math.max(0, Math.floor((v - lo) / width)));
    const bin = out[index];
    if (bin) bin.count += 1;
  }
  return out;
}

/** The distribution of one metric's per-item scores. */
export function histogram(options: HistogramOptions): SafeHtml {
  const width = options.width ?? 360;
  const height = options.height ?? 200;
  const domain = options.domain ?? niceDomain(options.values);
  const bins = histogramBins(options.values, options.bins ?? 10, domain);
  const left = 40;
  const right = 12;
  const top = 12;
  const bottom = height - 34;
  const x = scale(domain, left, width - right);
  const max = Math.max(1, ...bins.map((b) => b.count));
  const y = (count: number) => bottom - (count / max) * (bottom - top);
  const head = open(options, width, height);
  const edges = bins.map((b) => b.lo).concat(domain[1]);
  const every = Math.max(1, Math.ceil(edges.length / 6));
  const labels = edges.filter((_, i) => i % every === 0 || i === edges.length - 1);
  const bars = bins.map((b, i) => {
    const range = `${tickLabel(b.lo)}–${tickLabel(b.hi)}${i === bins.length - 1 ? ' (inclusive)' : ''}`;
    const x0 = x(b.lo) + 1;
    const x1 = x(b.hi) - 1;
    return html`<g><title>${range}: ${formatCount(b.count)} item${b.count === 1 ? '' : 's'}</title><rect x="${r(x0)}" y="${r(y(b.count))}" width="${r(Math.max(x1 - x0, 1))}" height="${r(Math.max(bottom - y(b.count), b.count > 0 ? 1 : 0))}" fill="${CHART_COLOURS.candidate}"/></g>`;
  });
  const axes = html`<line x1="${left}" x2="${width - right}" y1="${r(bottom)}" y2="${r(bottom)}" stroke="${CHART_COLOURS.axis}"/><line x1="${left}" x2="${left}" y1="${top}" y2="${r(bottom)}" stroke="${CHART_COLOURS.axis}"/><text x="${left - 6}" y="${r(bottom + 4)}" text-anchor="end" font-size="11" fill="${CHART_COLOURS.muted}">0</text><text x="${left - 6}" y="${top + 4}" text-anchor="end" font-size="11" fill="${CHART_COLOURS.muted}">${formatCount(max)}</text>${labels.map(
    (t) =>
      html`<text x="${r(x(t))}" y="${r(bottom + 16)}" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.muted}">${tickLabel(t)}</text>`,
  )}<text x="${r((left + width - right) / 2)}" y="${height - 4}" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.muted}">score (items per bin)</text>`;
  return html`${head}${axes}${bars}</svg>`;
}
