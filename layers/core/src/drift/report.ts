import { clipForHtml, html, SafeHtml, token } from '../eval/report/escape.ts';
import { formatCount, formatPercent, isNumber, jsonNumber, MISSING } from '../eval/report/format.ts';
import { REPORT_CSP, REPORT_CSS } from '../eval/report/html.ts';
import { CHART_COLOURS, niceDomain, pairedBarChart, ticks } from '../eval/report/svg.ts';
import type {
  CategoricalSummary,
  ContinuousSummary,
  DescriptorDetail,
  DescriptorEffect,
  DriftCheckResult,
  EmbeddingMethod,
  Projection,
  SharedHistogram,
} from './check.ts';
import { EMBEDDING_METHODS } from './check.ts';
import type { OutcomeComparison, OutcomeRate, RateComparison } from './outcomes.ts';

/**
 * The drift check's reports, pure functions of a {@link DriftCheckResult}:
 *
 * - {@link driftSummaryJson}: the CLI's `--json` line (the verdicts) and `summary.json` (with the
 *   details: every test, effect sizes, per-descriptor summaries). Numbers that are not finite are `null`.
 * - {@link renderDriftHtml}: one self-contained page (no script, font, image or stylesheet from
 *   anywhere, the evaluation report's strict Content-Security-Policy), readable offline: the verdict,
 *   a table of every test, the check's scores over its recent windows (a scheduled check: its history),
 *   a PCA projection of the embeddings, reference-versus-current histograms of each continuous
 *   descriptor (shared bins) and side-by-side bars of each categorical one, and the current window's
 *   least familiar texts. Charts are inline SVG drawn here; every text that came
 *   from a caller (window labels, example texts) is escaped by the `html` template of the evaluation
 *   report (`eval/report/escape.ts`), whose chart and format helpers this reuses.
 *
 * The main elements carry `data-chart` attributes for tests and tools: `verdict`, `tests`,
 * `score-history`, `embedding-projection`, `descriptor-histogram` and `descriptor-bars` (each with
 * `data-descriptor`).
 */

// ---------------------------------------------------------------------------------------------------
// summary.json and the --json line

export interface DriftSummaryOptions {
  /** Path of the HTML report, or `null` when none was written. @default null */
  readonly report?: string | null;
  /** Include the details (every test, summaries, effect sizes). @default true */
  readonly details?: boolean;
}

/** A test's numbers as JSON: non-finite numbers become `null`. */
interface JsonTest {
  readonly test: string;
  readonly statistic: number | null;
  readonly pValue: number | null;
  readonly drift: boolean;
  readonly insufficient: boolean;
}

export interface DriftSummary {
  readonly drift: boolean;
  readonly insufficient: boolean;
  readonly embedding: {
    readonly method: EmbeddingMethod;
    readonly statistic: number | null;
    readonly pValue: number | null;
    readonly threshold: number;
    readonly drift: boolean;
    readonly insufficient: boolean;
  } | null;
  readonly descriptors: Readonly<Record<string, JsonTest>>;
  readonly n: { readonly reference: number; readonly current: number };
  readonly report: string | null;
  readonly details?: unknown;
}

function jsonEffect(effect: DescriptorEffect | null) {
  if (!effect) return null;
  return effect.measure === 'wasserstein'
    ? { measure: effect.measure, value: jsonNumber(effect.value), normalized: jsonNumber(effect.normalized) }
    : { measure: effect.measure, value: jsonNumber(effect.value), band: effect.band };
}

function jsonSummary(summary: ContinuousSummary | CategoricalSummary) {
  if ('counts' in summary) return summary;
  return Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, jsonNumber(v)]));
}

function jsonDetails(result: DriftCheckResult) {
  const d = result.details;
  const embedding = d.embedding && {
    dimension: d.embedding.dimension,
    threshold: d.embedding.threshold,
    tests: Object.fromEntries(
      EMBEDDING_METHODS.map((name) => {
        const t = d.embedding?.tests[name];
        return [
          name,
          {
            statistic: jsonNumber(t?.statistic),
            pValue: jsonNumber(t?.pValue),
            fired: d.embedding?.fired[name] ?? false,
            insufficient: t?.insufficient === true,
            n: t?.n,
          },
        ];
      }),
    ),
  };
  const descriptors = Object.fromEntries(
    Object.entries(d.descriptors).map(([name, x]) => [
      name,
      {
        kind: x.kind,
        test: x.test,
        statistic: jsonNumber(x.statistic),
        pValue: jsonNumber(x.pValue),
        adjustedPValue: jsonNumber(x.adjustedPValue),
        threshold: x.threshold,
        drift: x.drift,
        insufficient: x.insufficient,
        n: x.n,
        effect: jsonEffect(x.effect),
        reference: jsonSummary(x.reference),
        current: jsonSummary(x.current),
        ...(x.histogram ? { histogram: x.histogram } : {}),
      },
    ]),
  );
  return {
    seed: d.seed,
    alpha: d.alpha,
    effect: d.effect,
    power: d.power,
    minWindow: d.minWindow,
    embedding,
    descriptors,
    skipped: d.skipped,
    notes: d.notes,
    projection: d.projection && {
      explained: d.projection.explained,
      given: d.projection.given,
      shown: { reference: d.projection.reference.length, current: d.projection.current.length },
    },
    examples: d.examples,
  };
}

/**
 * The verdicts as JSON: `{drift, insufficient, embedding: {method, statistic, pValue, threshold, drift,
 * insufficient} | null, descriptors: {<name>: {test, statistic, pValue, drift, insufficient}}, n:
 * {reference, current}, report}`, and with `details` (the default) everything behind them.
 */
export function driftSummaryJson(result: DriftCheckResult, options: DriftSummaryOptions = {}): DriftSummary {
  const e = result.embedding;
  return {
    drift: result.drift,
    insufficient: result.insufficient,
    embedding: e && {
      method: e.method,
      statistic: jsonNumber(e.statistic),
      pValue: jsonNumber(e.pValue),
      threshold: e.threshold,
      drift: e.drift,
      insufficient: e.insufficient,
    },
    descriptors: Object.fromEntries(
      Object.entries(result.descriptors).map(([name, v]) => [
        name,
        {
          test: v.test,
          statistic: jsonNumber(v.statistic),
          pValue: jsonNumber(v.pValue),
          drift: v.drift,
          insufficient: v.insufficient,
        },
      ]),
    ),
    n: result.n,
    report: options.report ?? null,
    ...(options.details === false ? {} : { details: jsonDetails(result) }),
  };
}

// ---------------------------------------------------------------------------------------------------
// Formatting

/** A statistic: 4 significant digits, exponent form below 0.001; `—` when not a number. */
export function formatStatistic(value: number | null | undefined): string {
  if (!isNumber(value)) return MISSING;
  if (value === 0) return '0';
  if (Math.abs(value) < 1e-3) return value.toExponential(2);
  if (Math.abs(value) >= 1e4) return formatCount(value);
  return String(Number(value.toPrecision(4)));
}

/** A p-value or level: 3 significant digits, exponent form below 0.001; `—` when there is none. */
export function formatPValue(value: number | null | undefined): string {
  if (!isNumber(value)) return MISSING;
  if (value === 0) return '0';
  if (value < 1e-3) return value.toExponential(2);
  return String(Number(value.toPrecision(3)));
}

const DESCRIPTOR_LABELS: Readonly<Record<string, string>> = {
  tokens: 'Estimated tokens per text',
  nonLetterShare: 'Share of non-letter characters',
  language: 'Script of the text',
  oovRate: 'Out-of-vocabulary word rate',
  piiRate: 'Texts holding PII',
  refusal: 'Answers that decline',
  answerTokens: 'Estimated tokens per answer',
  retrievalTopScore: 'Top retrieval score',
  notFound: 'No-context answers',
};

export const METHOD_LABELS: Readonly<Record<EmbeddingMethod, string>> = {
  centroid: 'centroid distance',
  mmd: 'MMD²',
  classifier: 'domain classifier AUC',
};

function descriptorLabel(name: string): string {
  return DESCRIPTOR_LABELS[name] ?? name;
}

function categoryLabel(category: string): string {
  return category === 'true' ? 'yes' : category === 'false' ? 'no' : category;
}

function effectText(effect: DescriptorEffect | null): string {
  if (!effect) return MISSING;
  if (effect.measure === 'wasserstein') {
    const normalized = effect.normalized === null ? '' : ` (${formatStatistic(effect.normalized)} sd)`;
    return `W1 ${formatStatistic(effect.value)}${normalized}`;
  }
  return `PSI ${formatStatistic(effect.value)} (${effect.band})`;
}

// ---------------------------------------------------------------------------------------------------
// Charts: what the evaluation report's svg.ts has no form for (its `open`, `scale` are private).

const COLOURS = { reference: CHART_COLOURS.baseline, current: CHART_COLOURS.candidate } as const;
const FONT = 'system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif';

export interface ChartText {
  readonly id: string;
  readonly title: string;
  readonly desc: string;
}

/** One decimal: small output, no float noise. */
function r(x: number): number {
  return Math.round(x * 10) / 10;
}

function svgOpen(text: ChartText, width: number, height: number): SafeHtml {
  const id = token(text.id);
  return html`<svg role="img" aria-labelledby="${id}-t ${id}-d" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12" fill="${CHART_COLOURS.text}"><title id="${id}-t">${text.title}</title><desc id="${id}-d">${text.desc}</desc>`;
}

function linear(domain: readonly [number, number], from: number, to: number): (v: number) => number {
  const [lo, hi] = domain;
  return (v) => from + ((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * (to - from);
}

function tickText(t: number): string {
  return String(Number(t.toFixed(4)));
}

function legend(x: number, y: number, labels: { reference: string; current: string }): SafeHtml {
  return html`<g font-size="11"><rect x="${x}" y="${y}" width="12" height="12" fill="${COLOURS.reference}"/><text x="${x + 18}" y="${y + 10}">${clipForHtml(labels.reference, 120)}</text><rect x="${x + 190}" y="${y}" width="12" height="12" fill="${COLOURS.current}"/><text x="${x + 208}" y="${y + 10}">${clipForHtml(labels.current, 120)}</text></g>`;
}

/**
 * Both windows over shared bins, side by side in each bin, as shares of their window (the windows may
 * differ in size). A `<title>` per bin says the range and both counts.
 */
function binnedChart(
  text: ChartText,
  hist: SharedHistogram,
  labels: { reference: string; current: string },
): SafeHtml {
  const width = 420;
  const height = 240;
  const left = 44;
  const right = 12;
  const top = 30;
  const bottom = height - 36;
  const edges = hist.edges;
  const totalRef = hist.reference.reduce((s, c) => s + c, 0);
  const totalCur = hist.current.reduce((s, c) => s + c, 0);
  const share = (c: number, total: number) => (total > 0 ? c / total : 0);
  const shares = [
    ...hist.reference.map((c) => share(c, totalRef)),
    ...hist.current.map((c) => share(c, totalCur)),
  ];
  const yDomain = niceDomain([], [0, Math.max(0.05, ...shares)]);
  const y = linear(yDomain, bottom, top);
  const lo = edges[0] as number;
  const hi = edges[edges.length - 1] as number;
  const x = linear([lo, hi > lo ? hi : lo + 1], left, width - right);
  const bars = hist.reference.map((refCount, i) => {
    const a = edges[i] as number;
    const b = (edges[i + 1] ?? a + 1) as number;
    const x0 = x(a) + 1;
    const half = Math.max((x(b) - x(a) - 2) / 2, 0.5);
    const curCount = hist.current[i] ?? 0;
    const refShare = share(refCount, totalRef);
    const curShare = share(curCount, totalCur);
    const bar = (at: number, value: number, fill: string, series: string) =>
      html`<rect data-series="${series}" x="${r(at)}" y="${r(y(value))}" width="${r(half)}" height="${r(Math.max(bottom - y(value), value > 0 ? 1 : 0))}" fill="${fill}"/>`;
    return html`<g><title>${`${tickText(a)} to ${tickText(b)}: reference ${formatPercent(refShare)} (${formatCount(refCount)}), current ${formatPercent(curShare)} (${formatCount(curCount)})`}</title>${bar(x0, refShare, COLOURS.reference, 'reference')}${bar(x0 + half, curShare, COLOURS.current, 'current')}</g>`;
  });
  const every = Math.max(1, Math.ceil(edges.length / 7));
  const xLabels = edges.filter((_, i) => i % every === 0 || i === edges.length - 1);
  const yTicks = ticks(yDomain, 4);
  const axes = html`<line x1="${left}" x2="${width - right}" y1="${bottom}" y2="${bottom}" stroke="${CHART_COLOURS.axis}"/>${yTicks.map(
    (t) =>
      html`<line x1="${left}" x2="${width - right}" y1="${r(y(t))}" y2="${r(y(t))}" stroke="${CHART_COLOURS.grid}"/><text x="${left - 6}" y="${r(y(t) + 4)}" text-anchor="end" font-size="11" fill="${CHART_COLOURS.muted}">${formatPercent(t, 0)}</text>`,
  )}${xLabels.map(
    (t) =>
      html`<text x="${r(x(t))}" y="${bottom + 16}" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.muted}">${tickText(t)}</text>`,
  )}<text x="${r((left + width - right) / 2)}" y="${height - 4}" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.muted}">value (share of each window per bin)</text>`;
  return html`${svgOpen(text, width, height)}${legend(left, 8, labels)}${axes}${bars}</svg>`;
}

/** The projection's points, reference and current in two colours, with the variance each axis holds. */
export function scatterChart(
  text: ChartText,
  projection: Projection,
  labels: { reference: string; current: string },
): SafeHtml {
  const width = 560;
  const height = 440;
  const left = 48;
  const right = 16;
  const top = 32;
  const bottom = height - 40;
  const all = [...projection.reference, ...projection.current];
  const extent = (k: 0 | 1): [number, number] => {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const p of all) {
      lo = Math.min(lo, p[k]);
      hi = Math.max(hi, p[k]);
    }
    return all.length === 0 ? [-1, 1] : niceDomain([], [lo, hi]);
  };
  const xDomain = extent(0);
  const yDomain = extent(1);
  const x = linear(xDomain, left, width - right);
  const y = linear(yDomain, bottom, top);
  const points = (series: 'reference' | 'current', list: readonly (readonly [number, number])[]) =>
    html`<g data-series="${series}" fill="${COLOURS[series]}" fill-opacity="${series === 'reference' ? 0.7 : 0.55}"><title>${`${series}: ${formatCount(list.length)} points`}</title>${list.map(
      (p) => html`<circle cx="${r(x(p[0]))}" cy="${r(y(p[1]))}" r="2.6"/>`,
    )}</g>`;
  const grid = html`${ticks(xDomain).map(
    (t) =>
      html`<line x1="${r(x(t))}" x2="${r(x(t))}" y1="${top}" y2="${bottom}" stroke="${CHART_COLOURS.grid}"/><text x="${r(x(t))}" y="${bottom + 16}" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.muted}">${tickText(t)}</text>`,
  )}${ticks(yDomain).map(
    (t) =>
      html`<line x1="${left}" x2="${width - right}" y1="${r(y(t))}" y2="${r(y(t))}" stroke="${CHART_COLOURS.grid}"/><text x="${left - 6}" y="${r(y(t) + 4)}" text-anchor="end" font-size="11" fill="${CHART_COLOURS.muted}">${tickText(t)}</text>`,
  )}`;
  const [pc1, pc2] = projection.explained;
  const axisTitles = html`<text x="${r((left + width - right) / 2)}" y="${height - 6}" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.muted}">first component (${formatPercent(pc1)} of variance)</text><text transform="translate(12 ${r((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.muted}">second component (${formatPercent(pc2)})</text>`;
  return html`${svgOpen(text, width, height)}${legend(left, 8, labels)}${grid}${axisTitles}${points('reference', projection.reference)}${points('current', projection.current)}</svg>`;
}

/** One checked window of a check's history: when it ended, and each signal's score. */
export interface ScoreHistoryWindow {
  /** The window's end (ISO 8601). */
  readonly end: string;
  /** Each signal's score (1.0 = its threshold); `null`: the window was insufficient for it (no score). */
  readonly scores: Readonly<Record<string, number | null>>;
}

/** Windows as the drift store records them: their end and each signal's score. */
export interface ScoredWindow {
  readonly window: { readonly end: string };
  readonly signals: Readonly<Record<string, { readonly score: number | null }>>;
}

/** How many of a check's recent windows its report charts (a week of six-hour windows). */
export const SCORE_HISTORY_WINDOWS = 28;

/**
 * A check's recorded windows (any order: the store lists the newest first) as the history chart's
 * input: oldest first, one per window end (the last given wins). Windows with no signal at all (no
 * baseline yet, or the one pinned as the baseline) were not compared, and are left out.
 */
export function scoreHistory(windows: readonly ScoredWindow[]): ScoreHistoryWindow[] {
  const byEnd = new Map<string, ScoreHistoryWindow>();
  for (const w of windows) {
    if (Object.keys(w.signals).length === 0) continue;
    byEnd.set(w.window.end, {
      end: w.window.end,
      scores: Object.fromEntries(Object.entries(w.signals).map(([signal, s]) => [signal, s.score])),
    });
  }
  return [...byEnd.values()].sort((a, b) => (a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
}

/** Line colours of the signals, in order of first appearance (colour-blind-safe, distinct from grey). */
const SERIES_COLOURS = ['#2563eb', '#d97706', '#059669', '#7c3aed', '#0891b2', '#be185d'] as const;

/** A window's end as the chart's axis says it: `MM-DD HH:mm` (UTC). */
function shortTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString().slice(5, 16).replace('T', ' ');
}

/**
 * The signals' scores over the windows, one line per signal against the threshold (1.0, dashed), on a
 * time axis. A window without a score for a signal (insufficient data) breaks its line: no point, never
 * a 0. A `<title>` per point says the window, the signal and the score.
 */
function scoreHistoryChart(text: ChartText, history: readonly ScoreHistoryWindow[]): SafeHtml {
  const width = 640;
  const height = 280;
  const left = 40;
  const right = 16;
  const top = 34;
  const bottom = height - 36;
  const signals = [...new Set(history.flatMap((w) => Object.keys(w.scores)))];
  const times = history.map((w) => Date.parse(w.end));
  const first = Math.min(...times);
  const last = Math.max(...times);
  // One window: centred on a span of an hour either side.
  const x = linear(
    last > first ? [first, last] : [first - 3_600_000, first + 3_600_000],
    left + 8,
    width - right - 8,
  );
  const scores = history.flatMap((w) => Object.values(w.scores).filter(isNumber));
  const yDomain = niceDomain([], [0, Math.max(2, ...scores)]);
  const y = linear(yDomain, bottom, top);
  const colour = (i: number) => SERIES_COLOURS[i % SERIES_COLOURS.length] as string;
  const series = signals.map((signal, i) => {
    const points = history.map((w, k) => {
      const score = w.scores[signal];
      return isNumber(score) ? { at: times[k] as number, score, end: w.end } : null;
    });
    // Runs of consecutive scored windows: a gap where a window has no score.
    const runs: { at: number; score: number }[][] = [];
    let run: { at: number; score: number }[] = [];
    for (const p of points) {
      if (p === null) {
        if (run.length > 0) runs.push(run);
        run = [];
      } else run.push(p);
    }
    if (run.length > 0) runs.push(run);
    const paths = runs
      .filter((segment) => segment.length > 1)
      .map(
        (segment) =>
          html`<path d="${segment.map((p, j) => `${j === 0 ? 'M' : 'L'}${r(x(p.at))},${r(y(p.score))}`).join(' ')}" fill="none" stroke="${colour(i)}" stroke-width="2"/>`,
      );
    const dots = points.map((p) =>
      p === null
        ? null
        : html`<circle cx="${r(x(p.at))}" cy="${r(y(p.score))}" r="3.5" fill="${colour(i)}"><title>${`${signal}, window ending ${p.end}: score ${formatStatistic(p.score)}${p.score >= 1 ? ' (at or above the threshold)' : ''}`}</title></circle>`,
    );
    return html`<g data-series="${token(signal)}">${paths}${dots}</g>`;
  });
  const legendItems = signals.map(
    (signal, i) =>
      html`<rect x="${left + i * 130}" y="8" width="12" height="12" fill="${colour(i)}"/><text x="${left + i * 130 + 18}" y="18" font-size="11">${clipForHtml(signal, 40)}</text>`,
  );
  const every = Math.max(1, Math.ceil(history.length / 5));
  const xLabels = history.filter((_, k) => k % every === 0 || k === history.length - 1);
  const threshold = y(1);
  const axes = html`<line x1="${left}" x2="${width - right}" y1="${bottom}" y2="${bottom}" stroke="${CHART_COLOURS.axis}"/>${ticks(
    yDomain,
    4,
  ).map(
    (t) =>
      html`<line x1="${left}" x2="${width - right}" y1="${r(y(t))}" y2="${r(y(t))}" stroke="${CHART_COLOURS.grid}"/><text x="${left - 6}" y="${r(y(t) + 4)}" text-anchor="end" font-size="11" fill="${CHART_COLOURS.muted}">${tickText(t)}</text>`,
  )}${xLabels.map(
    (w) =>
      html`<text x="${r(x(Date.parse(w.end)))}" y="${bottom + 16}" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.muted}">${shortTime(w.end)}</text>`,
  )}<line data-threshold="1" x1="${left}" x2="${width - right}" y1="${r(threshold)}" y2="${r(threshold)}" stroke="${CHART_COLOURS.marker}" stroke-dasharray="6 4"/><text x="${width - right}" y="${r(threshold - 4)}" text-anchor="end" font-size="11" fill="${CHART_COLOURS.marker}">threshold 1.0</text><text x="${r((left + width - right) / 2)}" y="${height - 4}" text-anchor="middle" font-size="11" fill="${CHART_COLOURS.muted}">window end (UTC)</text>`;
  return html`${svgOpen(text, width, height)}<g>${legendItems}</g>${axes}${series}</svg>`;
}

// ---------------------------------------------------------------------------------------------------
// The page

export interface RenderDriftHtmlOptions {
  /** What to call the windows (file names, say): caller text, escaped. @default 'reference', 'current' */
  readonly labels?: { readonly reference?: string; readonly current?: string };
  /** The quality signal's comparison (a scheduled check of live traffic): a section of its own. */
  readonly quality?: OutcomeComparison;
  /** More sections, after the quality signal's (`report-sections.ts`: the answers' embeddings, the labelled outcomes). */
  readonly sections?: readonly SafeHtml[];
  /**
   * The check's recent windows, this one included ({@link scoreHistory}): a chart of each signal's score
   * over them. Absent or empty (a one-off comparison, the CLI): no such section.
   */
  readonly history?: readonly ScoreHistoryWindow[];
}

const RATE_LABELS: Readonly<Record<OutcomeRate, string>> = {
  errorRate: 'error rate',
  throttleRate: 'throttle rate',
  guardrailRate: 'guardrail intervention rate',
};

/** The quality signal: each outcome rate, and the online judge's scores, against the baseline's. */
function qualitySection(q: OutcomeComparison): SafeHtml {
  const rateVerdict = (x: RateComparison): Verdict =>
    x.drift ? 'drift' : x.status === 'insufficient' ? 'insufficient' : 'no-drift';
  const rows = (Object.keys(RATE_LABELS) as OutcomeRate[]).map((name) => {
    const x = q.rates[name];
    return html`<tr data-test="quality-${name}"><th scope="row">${RATE_LABELS[name]}</th><td class="num">${formatPercent(x.reference)}</td><td class="num">${formatPercent(x.current)}</td><td>${x.direction ?? MISSING}</td><td>chi-squared χ² (Yates)</td><td class="num">${formatStatistic(x.statistic)}</td><td class="num">${formatPValue(x.pValue)}</td><td class="num">${formatPValue(x.adjustedPValue)}</td><td>${x.status === 'skipped' ? html`<span class="muted">none in either window</span>` : badge(rateVerdict(x))}</td></tr>`;
  });
  const j = q.judge;
  const judgeRow = j
    ? html`<tr data-test="quality-judge"><th scope="row">online judge: answer relevance (mean of ${j.n.current}, baseline ${j.n.reference})${j.rubric !== undefined ? html`<br><span class="muted" data-test="quality-judge-rubric">rubric ${j.rubric}${j.model !== undefined ? html`, judge ${j.model}` : null}</span>` : null}</th><td class="num">${formatStatistic(j.reference)}</td><td class="num">${formatStatistic(j.current)}</td><td>${j.direction ?? MISSING}</td><td>Kolmogorov–Smirnov D</td><td class="num">${formatStatistic(j.statistic)}</td><td class="num">${formatPValue(j.pValue)}</td><td class="num">${formatPValue(j.adjustedPValue)}</td><td>${badge(j.status === 'insufficient' ? 'insufficient' : j.adjustedPValue !== null && j.adjustedPValue <= q.alpha && j.direction === 'down' ? 'drift' : 'no-drift')}</td></tr>`
    : null;
  return html`<section id="quality" aria-labelledby="quality-h"><h2 id="quality-h">Outcomes and the online judge ${badge(q.drift ? 'drift' : q.insufficient ? 'insufficient' : 'no-drift')}</h2>
<p class="muted">Every call of the window, sampled or not: ${q.current.calls} calls (baseline ${q.reference.calls}). Only a worsening drifts: a rate that rose, relevance that fell. Benjamini–Hochberg at ${formatPValue(q.alpha)} across the tests.</p>
<div class="scroll"><table data-chart="quality"><caption>Each outcome rate and the judged answer relevance, in the baseline and in this window.</caption><thead><tr><th scope="col">Outcome</th><th scope="col" class="num">Baseline</th><th scope="col" class="num">Window</th><th scope="col">Direction</th><th scope="col">Test</th><th scope="col" class="num">Statistic</th><th scope="col" class="num">p-value</th><th scope="col" class="num">Adjusted p</th><th scope="col">Verdict</th></tr></thead><tbody>${rows}${judgeRow}</tbody></table></div></section>`;
}

export type Verdict = 'drift' | 'no-drift' | 'insufficient';

export function verdictOf(test: { drift: boolean; insufficient: boolean }): Verdict {
  return test.drift ? 'drift' : test.insufficient ? 'insufficient' : 'no-drift';
}

const VERDICT_TEXT: Readonly<Record<Verdict, { word: string; kind: string }>> = {
  drift: { word: 'drift', kind: 'fail' },
  'no-drift': { word: 'no drift', kind: 'pass' },
  insufficient: { word: 'insufficient data', kind: 'warn' },
};

export function badge(verdict: Verdict): SafeHtml {
  const v = VERDICT_TEXT[verdict];
  return html`<span class="badge ${v.kind}" data-verdict="${verdict}">${v.word}</span>`;
}

/** The reports' stylesheet, with wider charts (histograms and the projection need the room). */
const CSS = `${REPORT_CSS}
.charts{grid-template-columns:repeat(auto-fill,minmax(420px,1fr))}
@media (max-width:700px){.charts{grid-template-columns:1fr}}`;

/** Whichever parts drifted, in a sentence. */
function headline(result: DriftCheckResult): string {
  const parts: string[] = [];
  if (result.embedding?.drift) {
    parts.push(
      `the embeddings moved (${METHOD_LABELS[result.embedding.method]}, p = ${formatPValue(result.embedding.pValue)})`,
    );
  }
  if (result.answerEmbedding?.drift) {
    parts.push(
      `the answers' embeddings moved (${METHOD_LABELS[result.answerEmbedding.method]}, p = ${formatPValue(result.answerEmbedding.pValue)})`,
    );
  }
  const drifted = Object.entries(result.descriptors).filter(([, d]) => d.drift);
  if (drifted.length > 0) {
    const total = Object.keys(result.descriptors).length;
    parts.push(
      `${drifted.length} of ${total} text descriptors drifted (${drifted.map(([n]) => n).join(', ')})`,
    );
  }
  if (parts.length > 0) return `Drift: ${parts.join('; ')}.`;
  if (result.insufficient) {
    return 'No drift found, but part of the check had too little data to tell: that is not evidence of no drift.';
  }
  return 'No drift: no test rejected its null hypothesis at its corrected level.';
}

function header(result: DriftCheckResult, labels: { reference: string; current: string }): SafeHtml {
  const d = result.details;
  const overall: Verdict = verdictOf(result);
  return html`<header><h1>Drift check <span data-chart="verdict">${badge(overall)}</span></h1>
<p class="lead">${headline(result)}</p>
<dl class="facts">
<dt>Reference</dt><dd>${clipForHtml(labels.reference, 300)} · ${formatCount(result.n.reference)} records</dd>
<dt>Current</dt><dd>${clipForHtml(labels.current, 300)} · ${formatCount(result.n.current)} records</dd>
<dt>Level</dt><dd>alpha ${formatPValue(d.alpha)}: ${formatPValue(d.alpha / 3)} per embedding test (Bonferroni over 3); Benjamini–Hochberg at ${formatPValue(d.alpha)} across descriptors</dd>
<dt>Sufficient window</dt><dd>${formatCount(d.minWindow)} values per window (a shift of ${d.effect} sd detected with power ${d.power})</dd>
<dt>Seed</dt><dd>${clipForHtml(String(d.seed), 200)}</dd>
</dl></header>`;
}

function testsSection(result: DriftCheckResult): SafeHtml {
  const d = result.details;
  const embeddingRows = d.embedding
    ? EMBEDDING_METHODS.map((name) => {
        const t = d.embedding?.tests[name];
        const fired = d.embedding?.fired[name] === true;
        const verdict: Verdict = fired ? 'drift' : t?.insufficient ? 'insufficient' : 'no-drift';
        return html`<tr data-test="embedding-${name}"><th scope="row">embeddings</th><td>${METHOD_LABELS[name]}</td><td class="num">${formatStatistic(t?.statistic)}</td><td class="num">${formatPValue(t?.pValue)}</td><td class="num">${MISSING}</td><td class="num">${formatPValue(d.embedding?.threshold)}</td><td>Bonferroni</td><td>${MISSING}</td><td>${badge(verdict)}</td></tr>`;
      })
    : [];
  const descriptorRows = Object.entries(d.descriptors).map(
    ([name, x]) =>
      html`<tr data-test="descriptor-${token(name)}"><th scope="row">${name}</th><td>${x.test === 'ks' ? 'Kolmogorov–Smirnov D' : 'chi-squared χ²'}</td><td class="num">${formatStatistic(x.statistic)}</td><td class="num">${formatPValue(x.pValue)}</td><td class="num">${formatPValue(x.adjustedPValue)}</td><td class="num">${formatPValue(x.threshold)}</td><td>Benjamini–Hochberg</td><td>${effectText(x.effect)}</td><td>${badge(verdictOf(x))}</td></tr>`,
  );
  const skipped =
    d.skipped.length > 0
      ? html`<p class="muted">Not measured: ${d.skipped.map((s, i) => html`${i > 0 ? '; ' : ''}${s.name} (${s.reason})`)}.</p>`
      : null;
  const notes = d.notes.length > 0 ? html`<ul>${d.notes.map((n) => html`<li>${n}</li>`)}</ul>` : null;
  return html`<section id="tests" aria-labelledby="tests-h"><h2 id="tests-h">Every test</h2>
<div class="scroll"><table data-chart="tests"><caption>Each test's statistic and p-value; the verdict compares the p-value (embeddings) or the Benjamini–Hochberg adjusted p-value (descriptors) with the threshold. Insufficient data has no p-value and no verdict of "no drift".</caption><thead><tr><th scope="col">Subject</th><th scope="col">Test</th><th scope="col" class="num">Statistic</th><th scope="col" class="num">p-value</th><th scope="col" class="num">Adjusted p</th><th scope="col" class="num">Threshold</th><th scope="col">Correction</th><th scope="col">Effect size</th><th scope="col">Verdict</th></tr></thead><tbody>${embeddingRows}${descriptorRows}</tbody></table></div>${notes}${skipped}</section>`;
}

/** The scores over the check's recent windows: the chart, and its numbers in a table. */
function historySection(history: readonly ScoreHistoryWindow[]): SafeHtml | null {
  if (history.length === 0) return null;
  const signals = [...new Set(history.flatMap((w) => Object.keys(w.scores)))];
  const first = history[0] as ScoreHistoryWindow;
  const last = history[history.length - 1] as ScoreHistoryWindow;
  const chart = scoreHistoryChart(
    {
      id: 'chart-score-history',
      title: 'Drift scores over the recent windows',
      desc: `Each signal's score (1.0 is its threshold) in the ${formatCount(history.length)} windows ending ${first.end} to ${last.end}; a gap is a window with too little data to score.`,
    },
    history,
  );
  const rows = [...history].reverse().map(
    (w) =>
      html`<tr><th scope="row">${w.end}</th>${signals.map((signal) => {
        const score = w.scores[signal];
        return html`<td class="num">${isNumber(score) ? formatStatistic(score) : MISSING}</td>`;
      })}</tr>`,
  );
  return html`<section id="history" aria-labelledby="history-h"><h2 id="history-h">Scores over time</h2>
<p class="muted">Each signal's score is log(p) / log(threshold): 1.0 is the threshold, 2.0 a p-value of its square; the alarms page when M of N windows in a row reach 1.0. A window too small to test has no score (a gap, never a 0).</p>
<figure data-chart="score-history">${chart}<figcaption>The ${formatCount(history.length)} most recent windows of the check, this one last; dashed: the threshold.</figcaption><details><summary>Data table</summary><div class="scroll"><table><thead><tr><th scope="col">Window end</th>${signals.map((signal) => html`<th scope="col" class="num">${signal}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div></details></figure></section>`;
}

function embeddingSection(
  result: DriftCheckResult,
  labels: { reference: string; current: string },
): SafeHtml {
  const d = result.details;
  const projection = d.projection;
  if (!d.embedding || !projection) {
    return html`<section id="embeddings" aria-labelledby="emb-h"><h2 id="emb-h">Embeddings</h2><p class="muted">Not tested: the records carry no embedding on every line.</p></section>`;
  }
  const shown = projection.reference.length + projection.current.length;
  const given = projection.given.reference + projection.given.current;
  const sample =
    shown < given ? ` (a seeded sample of ${formatCount(shown)} of ${formatCount(given)} vectors)` : '';
  const chart = scatterChart(
    {
      id: 'chart-projection',
      title: 'Embeddings projected on their two principal components',
      desc: `${formatCount(projection.reference.length)} reference and ${formatCount(projection.current.length)} current embeddings${sample}, projected on the first two principal components of the pooled sample.`,
    },
    projection,
    labels,
  );
  const v = result.embedding;
  return html`<section id="embeddings" aria-labelledby="emb-h"><h2 id="emb-h">Embeddings ${v ? badge(verdictOf(v)) : null}</h2>
<p>${formatCount(d.embedding.dimension)} dimensions. ${
    v?.drift
      ? `The ${METHOD_LABELS[v.method]} test fired first: p = ${formatPValue(v.pValue)} at most ${formatPValue(v.threshold)}.`
      : v?.insufficient
        ? 'A window is too small for the tests to tell.'
        : `No test reached ${formatPValue(v?.threshold)}.`
  }</p>
<figure data-chart="embedding-projection">${chart}<figcaption>PCA of the pooled embeddings${sample}; grey: reference, blue: current. Points of the two windows that separate show a shift the tests can see; a 2-D projection can also hide one the tests find.</figcaption></figure></section>`;
}

function continuousFigure(name: string, x: DescriptorDetail, labels: { reference: string; current: string }) {
  if (!x.histogram) return null;
  const ref = x.reference as ContinuousSummary;
  const cur = x.current as ContinuousSummary;
  const chart = binnedChart(
    {
      id: `chart-${name}`,
      title: `${descriptorLabel(name)}: reference and current`,
      desc: `Share of each window per bin of ${name}, over ${x.histogram.edges.length - 1} shared bins; ${formatCount(ref.n)} reference and ${formatCount(cur.n)} current values.`,
    },
    x.histogram,
    labels,
  );
  const row = (label: string, s: ContinuousSummary) =>
    html`<tr><th scope="row">${label}</th><td class="num">${formatCount(s.n)}</td><td class="num">${formatStatistic(s.mean)}</td><td class="num">${formatStatistic(s.median)}</td><td class="num">${formatStatistic(s.p90)}</td><td class="num">${formatStatistic(s.min)}</td><td class="num">${formatStatistic(s.max)}</td></tr>`;
  return html`<figure data-chart="descriptor-histogram" data-descriptor="${token(name)}"><h3>${descriptorLabel(name)} <span class="muted">${name}</span> ${badge(verdictOf(x))}</h3>${chart}<figcaption>KS D = ${formatStatistic(x.statistic)}, p = ${formatPValue(x.pValue)}, adjusted ${formatPValue(x.adjustedPValue)}; ${effectText(x.effect)}.</figcaption><details><summary>Data table</summary><div class="scroll"><table><thead><tr><th scope="col">Window</th><th scope="col" class="num">n</th><th scope="col" class="num">Mean</th><th scope="col" class="num">Median</th><th scope="col" class="num">p90</th><th scope="col" class="num">Min</th><th scope="col" class="num">Max</th></tr></thead><tbody>${row('reference', ref)}${row('current', cur)}</tbody></table></div></details></figure>`;
}

function categoricalFigure(
  name: string,
  x: DescriptorDetail,
  labels: { reference: string; current: string },
) {
  const ref = x.reference as CategoricalSummary;
  const cur = x.current as CategoricalSummary;
  const categories = [...new Set([...Object.keys(ref.counts), ...Object.keys(cur.counts)])].sort(
    (a, b) =>
      (ref.counts[b] ?? 0) + (cur.counts[b] ?? 0) - (ref.counts[a] ?? 0) - (cur.counts[a] ?? 0) ||
      (a < b ? -1 : a > b ? 1 : 0),
  );
  const share = (c: number | undefined, n: number) => (n > 0 ? (c ?? 0) / n : Number.NaN);
  const chart = pairedBarChart({
    id: `chart-${name}`,
    title: `${descriptorLabel(name)}: reference and current`,
    desc: `Share of each window per category of ${name}: ${formatCount(ref.n)} reference and ${formatCount(cur.n)} current values.`,
    legend: { baseline: `reference: ${labels.reference}`, candidate: `current: ${labels.current}` },
    domain: [0, 1],
    width: 560,
    rows: categories.map((c) => ({
      label: categoryLabel(c),
      baseline: { value: share(ref.counts[c], ref.n), n: ref.counts[c] ?? 0 },
      candidate: { value: share(cur.counts[c], cur.n), n: cur.counts[c] ?? 0 },
    })),
  });
  return html`<figure data-chart="descriptor-bars" data-descriptor="${token(name)}"><h3>${descriptorLabel(name)} <span class="muted">${name}</span> ${badge(verdictOf(x))}</h3>${chart}<figcaption>χ² = ${formatStatistic(x.statistic)}, p = ${formatPValue(x.pValue)}, adjusted ${formatPValue(x.adjustedPValue)}; ${effectText(x.effect)}.</figcaption><details><summary>Data table</summary><div class="scroll"><table><thead><tr><th scope="col">Category</th><th scope="col" class="num">Reference</th><th scope="col" class="num">Share</th><th scope="col" class="num">Current</th><th scope="col" class="num">Share</th></tr></thead><tbody>${categories.map(
    (c) =>
      html`<tr><th scope="row">${categoryLabel(c)}</th><td class="num">${formatCount(ref.counts[c] ?? 0)}</td><td class="num">${formatPercent(share(ref.counts[c], ref.n))}</td><td class="num">${formatCount(cur.counts[c] ?? 0)}</td><td class="num">${formatPercent(share(cur.counts[c], cur.n))}</td></tr>`,
  )}</tbody></table></div></details></figure>`;
}

function descriptorSection(
  result: DriftCheckResult,
  labels: { reference: string; current: string },
): SafeHtml {
  const entries = Object.entries(result.details.descriptors);
  if (entries.length === 0) {
    return html`<section id="descriptors" aria-labelledby="desc-h"><h2 id="desc-h">Text descriptors</h2><p class="muted">Not tested: no record carries a text.</p></section>`;
  }
  const figures = entries.map(([name, x]) =>
    x.kind === 'continuous' ? continuousFigure(name, x, labels) : categoricalFigure(name, x, labels),
  );
  return html`<section id="descriptors" aria-labelledby="desc-h"><h2 id="desc-h">Text descriptors</h2><p class="muted">Grey: reference, blue: current, each as a share of its own window.</p><div class="charts">${figures}</div></section>`;
}

function examplesSection(result: DriftCheckResult): SafeHtml | null {
  const examples = result.details.examples;
  if (examples.length === 0) return null;
  return html`<section id="examples" aria-labelledby="ex-h"><h2 id="ex-h">Least familiar current texts</h2><p class="muted">The current texts with the most words never seen in the reference, highest first.</p><ol>${examples.map(
    (e) =>
      html`<li><span class="muted">${formatPercent(e.oovRate, 0)} of words unseen</span><pre>${clipForHtml(e.text, 2000)}</pre></li>`,
  )}</ol></section>`;
}

/** The check's `report.html`: one self-contained page. */
export function renderDriftHtml(result: DriftCheckResult, options: RenderDriftHtmlOptions = {}): string {
  const labels = {
    reference: options.labels?.reference ?? 'reference',
    current: options.labels?.current ?? 'current',
  };
  const overall = VERDICT_TEXT[verdictOf(result)].word.toUpperCase();
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${new SafeHtml(REPORT_CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${overall} · drift check · ${clipForHtml(labels.current, 120)} against ${clipForHtml(labels.reference, 120)}</title>
<style>${new SafeHtml(CSS)}</style>
</head>
<body>
${header(result, labels)}
<main>
${testsSection(result)}
${historySection(options.history ?? [])}
${options.quality ? qualitySection(options.quality) : null}
${options.sections ?? null}
${embeddingSection(result, labels)}
${descriptorSection(result, labels)}
${examplesSection(result)}
</main>
<footer class="muted">Every number of this page is in summary.json. Seed ${clipForHtml(String(result.details.seed), 200)}: the same windows and seed give the same page.</footer>
</body>
</html>
`;
  return page.value;
}
