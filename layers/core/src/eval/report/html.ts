import type { ItemJudgement } from '../stability.ts';
import type { Estimate } from '../types.ts';
import { clipForHtml, html, join, SafeHtml } from './escape.ts';
import {
  formatAmount,
  formatCi,
  formatCount,
  formatMs,
  formatScore,
  formatShare,
  formatSigned,
  formatUsd,
  isNumber,
  MISSING,
} from './format.ts';
import { winRateCounts } from './markdown.ts';
import { type MetricRow, metricRows, primaryMetric, scoresOf, worstItems } from './select.ts';
import { barChart, histogram, histogramBins, niceDomain, pairedBarChart } from './svg.ts';
import type { GateVerdict, ItemRecord, RunReport, RunTarget, RunWinRate } from './types.ts';

/**
 * `report.html`: one self-contained page (no scripts, fonts, images or stylesheets from anywhere, a
 * strict Content-Security-Policy) with the verdict first, then the gate, the metrics with their
 * intervals, the judge's stability (repeats, pass^k, the unstable items), the baseline comparison, each metric by tag, score distributions, the operational
 * numbers and the worst items in detail. Charts are inline SVG, each followed by a table with the same
 * numbers. All items in full belong in `items.jsonl`: the page stays small for large suites.
 */

export interface RenderHtmlOptions {
  /** @default 10 */
  readonly worstItems?: number;
  /** Tags shown per by-tag chart (the most frequent; every tag is in `summary.json`). @default 12 */
  readonly tagsPerChart?: number;
  /** Failed items listed with their error. @default 20 */
  readonly failedItems?: number;
}

export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/**
 * How much of each text the page shows, in bytes once escaped (counts are of entries): the page's size
 * is bounded whatever the texts hold. The rest is in `items.jsonl` and `summary.json`.
 */
const LIMITS = {
  input: 1500,
  answer: 1500,
  reference: 500,
  references: 3,
  context: 400,
  contexts: 3,
  primaryRationale: 600,
  primaryRationales: 3,
  otherRationale: 240,
  error: 300,
  reason: 600,
  id: 160,
  tag: 80,
  tags: 8,
  name: 160,
  unstableItems: 50,
} as const;

/** The reports' stylesheet (the evaluation report's; the drift report adds to it). */
export const REPORT_CSS = `:root{color-scheme:light;--fg:#111827;--muted:#4b5563;--line:#e5e7eb;--bg:#f9fafb}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:1200px;margin:0 auto;padding:16px 24px}
header{padding-top:24px}
h1{font-size:1.5rem;margin:0 0 8px;overflow-wrap:anywhere}
h2{font-size:1.2rem;margin:0 0 12px}
h3{font-size:1rem;margin:16px 0 8px;overflow-wrap:anywhere}
h4{font-size:.9rem;margin:10px 0 4px;color:var(--muted)}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:0 0 16px}
nav ul{list-style:none;padding:0;margin:8px 0 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:.9rem}
a{color:#1d4ed8}
.lead{font-size:1.05rem;margin:4px 0 12px}
.muted{color:var(--muted)}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:.8rem;font-weight:600;vertical-align:middle;white-space:nowrap}
.pass{background:#dcfce7;color:#166534}
.fail{background:#fee2e2;color:#991b1b}
.warn{background:#fef3c7;color:#92400e}
.info{background:#e0e7ff;color:#3730a3}
.tag{background:#f3f4f6;color:#374151;font-weight:500}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
caption{text-align:left;color:var(--muted);font-size:.85rem;padding:4px 0}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;background:#f9fafb}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
svg{display:block;max-width:100%;height:auto}
figure{margin:12px 0}
figcaption{color:var(--muted);font-size:.85rem;margin:4px 0}
details summary{cursor:pointer;color:var(--muted);font-size:.85rem;margin:4px 0}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:8px 24px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f4f6;padding:8px 10px;border-radius:4px;margin:4px 0;font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;max-height:24em;overflow:auto}
article.item{border-top:1px solid var(--line);padding:8px 0 12px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:0 16px}
ol.plain,ul.plain{margin:0;padding-left:1.2em}
@media (max-width:700px){header,main,footer{padding:10px}section{padding:12px}body{font-size:14px}.pair{grid-template-columns:1fr}dl.facts{grid-template-columns:1fr}dd{margin-bottom:6px}}`;

/** `1 item`, `3 items`. */
function plural(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/** Caller text of the kind that should be short (ids, names, tags), cut if it is not. */
function clip(text: string, maxBytes: number = LIMITS.name): string {
  return clipForHtml(text, maxBytes);
}

/** `support-qa v3`; a version already written `v3` keeps its one `v`. */
function suiteLabel(report: RunReport): string {
  const version = String(report.suite.version);
  return `${clip(report.suite.name)} ${/^v\d/i.test(version) ? '' : 'v'}${clip(version, 40)}`;
}

const VERDICT_CLASS: Readonly<Record<GateVerdict, string>> = {
  pass: 'pass',
  fail: 'fail',
  uncalibrated: 'warn',
  insufficient: 'warn',
};

function badge(text: string, kind: string): SafeHtml {
  return html`<span class="badge ${kind}">${text}</span>`;
}

function verdictBadge(verdict: GateVerdict | undefined): SafeHtml | string {
  return verdict ? badge(verdict, VERDICT_CLASS[verdict]) : MISSING;
}

function judgeBadge(offline: boolean): SafeHtml {
  return offline ? badge('offline — not for gating', 'warn') : badge('online judge', 'info');
}

function targetText(target: RunTarget | undefined): string {
  if (!target) return MISSING;
  const parts = [
    target.prompt && `prompt ${clip(target.prompt)}`,
    target.model && `model ${clip(target.model)}`,
  ].filter((p): p is string => Boolean(p));
  return parts.length > 0 ? parts.join(' · ') : MISSING;
}

function duration(startedAt: string, finishedAt: string): string {
  const ms = Date.parse(finishedAt) - Date.parse(startedAt);
  return isNumber(ms) && ms >= 0 ? formatMs(ms) : MISSING;
}

function headline(report: RunReport): { word: string; kind: string; sentence: string } {
  if (!report.gate) {
    return {
      word: 'NO GATE',
      kind: 'info',
      sentence: 'No gate was applied: these numbers inform, they do not decide.',
    };
  }
  const failing = report.gate.metrics
    .filter((g) => g.verdict !== 'pass')
    .map((g) => `${g.name} (${g.verdict})`);
  if (report.gate.pass) {
    return {
      word: 'PASS',
      kind: 'pass',
      sentence:
        failing.length === 0
          ? `Passed the gate on ${plural(report.gate.metrics.length, 'gated metric')}.`
          : `Passed the gate; not gating: ${failing.join(', ')}.`,
    };
  }
  return {
    word: 'FAIL',
    kind: 'fail',
    sentence: `Failed the gate${failing.length > 0 ? ` on ${failing.join(', ')}` : ''}.`,
  };
}

/** A chart with its caption and the same numbers as a table (the chart's text alternative). */
function figure(chart: SafeHtml, caption: string, table: SafeHtml): SafeHtml {
  return html`<figure>${chart}<figcaption>${caption}</figcaption><details><summary>Data table</summary><div class="scroll">${table}</div></details></figure>`;
}

function estimateCells(e: Pick<Estimate, 'value' | 'ci' | 'n'> | undefined): SafeHtml {
  return e
    ? html`<td class="num">${formatScore(e.value)}</td><td class="num">${formatCi(e.ci)}</td><td class="num">${formatCount(e.n)}</td>`
    : html`<td class="num">${MISSING}</td><td class="num">${MISSING}</td><td class="num">${MISSING}</td>`;
}

function header(report: RunReport): SafeHtml {
  const head = headline(report);
  const evaluated = report.items.length;
  return html`<header><h1>Evaluation of ${suiteLabel(report)} ${badge(head.word, head.kind)}</h1>
<p class="lead">${head.sentence}</p>
<dl class="facts">
<dt>Run</dt><dd>${clip(report.runId)}</dd>
<dt>Target</dt><dd>${targetText(report.target)}</dd>
<dt>Baseline</dt><dd>${targetText(report.baseline)}</dd>
<dt>Items</dt><dd>${formatCount(evaluated)} evaluated of ${formatCount(report.suite.items)} in the suite; ${formatCount(report.failed)} failed (${formatShare(report.failed, evaluated)})</dd>
<dt>Judge</dt><dd>${clip(report.judge.model)} ${judgeBadge(report.judge.offline)}</dd>
<dt>Started</dt><dd>${report.startedAt}</dd>
<dt>Finished</dt><dd>${report.finishedAt} (${duration(report.startedAt, report.finishedAt)})</dd>
</dl>
<nav aria-label="Sections"><ul>${report.gate ? html`<li><a href="#gate">Gate</a></li>` : null}<li><a href="#metrics">Metrics</a></li>${report.metrics.some((m) => m.repeats) ? html`<li><a href="#stability">Judge stability</a></li>` : null}${report.baselineMetrics ? html`<li><a href="#baseline">Baseline</a></li>` : null}${report.winRate ? html`<li><a href="#win-rate">Win rate</a></li>` : null}<li><a href="#tags">By tag</a></li><li><a href="#distributions">Distributions</a></li><li><a href="#operational">Operational</a></li><li><a href="#worst">Worst items</a></li>${report.failed > 0 ? html`<li><a href="#failed">Failed items</a></li>` : null}</ul></nav></header>`;
}

function gateSection(report: RunReport): SafeHtml | null {
  const gate = report.gate;
  if (!gate) return null;
  const offlineNote = report.judge.offline
    ? html`<p>${badge('offline — not for gating', 'warn')} The judge ran offline: judge metrics of this run are not fit to gate a release.</p>`
    : null;
  const rows = gate.metrics.map(
    (g) =>
      html`<tr><th scope="row">${g.name}</th><td>${verdictBadge(g.verdict)}</td><td class="num">${formatSigned(g.diff.value)}</td><td class="num">${formatCi(g.diff.ci, 3, true)}</td><td class="num">${formatCount(g.diff.n)}</td><td class="num">${formatSigned(isNumber(g.margin) ? -g.margin : Number.NaN)}</td><td>${clip(g.reason, LIMITS.reason)}</td></tr>`,
  );
  const chartRows = gate.metrics.map((g) => ({
    label: g.name,
    value: g.diff.value,
    ci: g.diff.ci,
    n: g.diff.n,
    ...(isNumber(g.margin) ? { marker: -g.margin } : {}),
  }));
  // A little room beyond the widest interval or margin, so that no whisker ends on the frame.
  const extent =
    1.1 *
    Math.max(
      0.05,
      ...gate.metrics.flatMap((g) =>
        [g.diff.value, g.diff.ci[0], g.diff.ci[1], g.margin].filter(isNumber).map(Math.abs),
      ),
    );
  const chart = barChart({
    id: 'chart-gate',
    title: 'Candidate minus baseline, per gated metric',
    desc: `Paired difference with its 95% confidence interval for ${plural(gate.metrics.length, 'metric')}; the dashed red line is the lowest difference the gate accepts.`,
    rows: chartRows,
    signed: true,
    domain: niceDomain([], [-extent, extent]),
  });
  const dataTable = html`<table><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Δ</th><th scope="col" class="num">95% CI</th><th scope="col" class="num">Lowest accepted Δ</th></tr></thead><tbody>${gate.metrics.map(
    (g) =>
      html`<tr><th scope="row">${g.name}</th><td class="num">${formatSigned(g.diff.value)}</td><td class="num">${formatCi(g.diff.ci, 3, true)}</td><td class="num">${formatSigned(isNumber(g.margin) ? -g.margin : Number.NaN)}</td></tr>`,
  )}</tbody></table>`;
  return html`<section id="gate" aria-labelledby="gate-h"><h2 id="gate-h">Gate ${badge(gate.pass ? 'PASS' : 'FAIL', gate.pass ? 'pass' : 'fail')}</h2>${offlineNote}
<div class="scroll"><table><caption>Verdict per gated metric: candidate minus baseline (paired) against the margin.</caption><thead><tr><th scope="col">Metric</th><th scope="col">Verdict</th><th scope="col" class="num">Δ</th><th scope="col" class="num">95% CI</th><th scope="col" class="num">n</th><th scope="col" class="num">Lowest accepted Δ</th><th scope="col">Reason</th></tr></thead><tbody>${rows}</tbody></table></div>
${figure(chart, 'Bars: candidate minus baseline; whiskers: 95% CI; dashed line: the margin.', dataTable)}</section>`;
}

function unstableCounts(items: readonly ItemRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) for (const m of item.unstable ?? []) counts.set(m, (counts.get(m) ?? 0) + 1);
  return counts;
}

function judgeCell(row: MetricRow): SafeHtml | string {
  const j = row.metric?.judge;
  if (!j) return MISSING;
  return html`${j.model} · ${j.rubric} ${j.calibrated ? badge('calibrated', 'pass') : badge('uncalibrated', 'warn')}`;
}

function metricsSection(report: RunReport, rows: readonly MetricRow[]): SafeHtml {
  const unstable = unstableCounts(report.items);
  const hasBaseline = Boolean(report.baselineMetrics) || Boolean(report.gate);
  const anyJudge = rows.some((r) => r.metric?.judge);
  const anyUnstable = unstable.size > 0;
  const body = rows.map(
    (row) =>
      html`<tr><th scope="row">${row.name}</th>${estimateCells(row.metric)}<td class="num">${row.metric ? formatCount(row.metric.failed) : MISSING}</td>${
        anyUnstable ? html`<td class="num">${formatCount(unstable.get(row.name) ?? 0)}</td>` : null
      }${
        hasBaseline
          ? html`<td class="num">${formatScore(row.baseline?.value)}</td><td class="num">${formatSigned(row.delta?.value)}</td><td class="num">${formatCi(row.delta?.ci, 3, true)}</td><td>${verdictBadge(row.gate?.verdict)}</td>`
          : null
      }${anyJudge ? html`<td>${judgeCell(row)}</td>` : null}</tr>`,
  );
  const measured = rows.filter((r) => r.metric);
  const chartRows = measured.map((r) => ({
    label: r.name,
    value: r.metric?.value ?? Number.NaN,
    ...(r.metric ? { ci: r.metric.ci, n: r.metric.n } : {}),
  }));
  const chart = barChart({
    id: 'chart-metrics',
    title: 'Metrics with 95% confidence intervals',
    desc: `${plural(measured.length, 'metric')} over ${plural(report.items.length, 'item')}; bars are the mean, whiskers the 95% confidence interval.`,
    rows: chartRows,
  });
  const dataTable = html`<table><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Value</th><th scope="col" class="num">95% CI</th><th scope="col" class="num">n</th></tr></thead><tbody>${measured.map(
    (r) => html`<tr><th scope="row">${r.name}</th>${estimateCells(r.metric)}</tr>`,
  )}</tbody></table>`;
  return html`<section id="metrics" aria-labelledby="metrics-h"><h2 id="metrics-h">Metrics</h2>
<div class="scroll"><table><caption>Mean per metric with its 95% confidence interval; n is the number of items scored (a judge metric's unstable items are not among them).</caption><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Value</th><th scope="col" class="num">95% CI</th><th scope="col" class="num">n</th><th scope="col" class="num">Failed</th>${
    anyUnstable ? html`<th scope="col" class="num">Unstable</th>` : null
  }${
    hasBaseline
      ? html`<th scope="col" class="num">Baseline</th><th scope="col" class="num">Δ</th><th scope="col" class="num">Δ 95% CI</th><th scope="col">Verdict</th>`
      : null
  }${anyJudge ? html`<th scope="col">Judge</th>` : null}</tr></thead><tbody>${body}</tbody></table></div>
${figure(chart, 'Bars: mean score; whiskers: 95% confidence interval.', dataTable)}</section>`;
}

/** A judgement's repeats: `1.000, 0.000, 1.000`, with the verdicts when the rubric gives them. */
function repeatsText(judgement: ItemJudgement | undefined): string {
  if (!judgement) return MISSING;
  const scores = judgement.repeats.map((r) => formatScore(r)).join(', ');
  return judgement.verdicts
    ? `${scores} (${judgement.verdicts.map((v) => (v ? 'pass' : 'fail')).join(', ')})`
    : scores;
}

/**
 * The judge's agreement with itself: per judge metric the repeats, pass^k and the unstable items' count
 * and share; then every unstable item (up to a limit) with its repeats. Absent without judge metrics.
 */
function stabilitySection(report: RunReport): SafeHtml | null {
  const judged = report.metrics.filter((m) => m.repeats !== undefined);
  if (judged.length === 0) return null;
  const rows = judged.map((m) => {
    const r = m.repeats as NonNullable<typeof m.repeats>;
    const unstable = m.unstable ?? 0;
    return html`<tr><th scope="row">${m.name}</th><td>${m.judge ? `${clip(m.judge.model)} · ${clip(m.judge.rubric)}` : MISSING}</td><td class="num">${formatCount(r.k)}</td><td class="num">${formatScore(r.passHatK)}</td><td class="num">${formatCount(r.passHatKItems)}</td><td class="num">${formatCount(r.judged)}</td><td class="num">${formatCount(unstable)}${
      unstable > 0 ? html` ${badge('unstable', 'warn')}` : null
    }</td><td class="num">${formatShare(unstable, r.judged)}</td></tr>`;
  });
  const names = new Set(judged.map((m) => m.name));
  const unstable = report.items.flatMap((item) =>
    (item.unstable ?? []).filter((m) => names.has(m)).map((metric) => ({ item, metric })),
  );
  const shown = unstable.slice(0, LIMITS.unstableItems);
  const list =
    unstable.length === 0
      ? html`<p class="muted">No item was unstable: every judged item's repeats agreed.</p>`
      : html`<h3>Unstable items</h3><div class="scroll"><table><caption>Items whose judge repeats disagreed: listed, and left out of the metric's value, interval and gate.</caption><thead><tr><th scope="col">Item</th><th scope="col">Metric</th><th scope="col">Repeats</th><th scope="col" class="num">Mean</th><th scope="col" class="num">Spread</th></tr></thead><tbody>${shown.map(
          ({ item, metric }) => {
            const j = item.judgements?.[metric];
            return html`<tr><th scope="row">${clip(item.id, LIMITS.id)}</th><td>${metric}</td><td>${repeatsText(j)}</td><td class="num">${formatScore(j?.mean)}</td><td class="num">${formatScore(j?.spread)}</td></tr>`;
          },
        )}</tbody></table></div>${
          unstable.length > shown.length
            ? html`<p class="muted">${unstable.length - shown.length} more in items.jsonl.</p>`
            : null
        }`;
  return html`<section id="stability" aria-labelledby="stability-h"><h2 id="stability-h">Judge stability</h2>
<p class="muted">Each judged item was judged k times. pass^k is the share of items whose every repeat passed. An item whose repeats disagree is unstable: not a number, so it is listed here and counts in no metric value, interval or gate.</p>
<div class="scroll"><table><caption>The judge's repeats per judge metric.</caption><thead><tr><th scope="col">Metric</th><th scope="col">Judge · rubric</th><th scope="col" class="num">k</th><th scope="col" class="num">pass^k</th><th scope="col" class="num">Items (pass^k)</th><th scope="col" class="num">Judged</th><th scope="col" class="num">Unstable</th><th scope="col" class="num">Share</th></tr></thead><tbody>${rows}</tbody></table></div>
${list}</section>`;
}

function baselineSection(report: RunReport, rows: readonly MetricRow[]): SafeHtml | null {
  if (!report.baselineMetrics) return null;
  const paired = rows.filter((r) => r.metric);
  const legend = {
    baseline: `baseline: ${targetText(report.baseline)}`,
    candidate: `candidate: ${targetText(report.target)}`,
  };
  const chart = pairedBarChart({
    id: 'chart-baseline',
    title: 'Baseline and candidate, per metric',
    desc: `For each of ${plural(paired.length, 'metric')}, the baseline's mean (grey) above the candidate's (blue), each with its 95% confidence interval.`,
    legend,
    rows: paired.map((r) => ({
      label: r.name,
      ...(r.baseline ? { baseline: { value: r.baseline.value, ci: r.baseline.ci, n: r.baseline.n } } : {}),
      candidate: {
        value: r.metric?.value ?? Number.NaN,
        ...(r.metric ? { ci: r.metric.ci, n: r.metric.n } : {}),
      },
    })),
  });
  const dataTable = html`<table><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Baseline</th><th scope="col" class="num">95% CI</th><th scope="col" class="num">Candidate</th><th scope="col" class="num">95% CI</th><th scope="col" class="num">Δ</th></tr></thead><tbody>${paired.map(
    (r) =>
      html`<tr><th scope="row">${r.name}</th><td class="num">${formatScore(r.baseline?.value)}</td><td class="num">${formatCi(r.baseline?.ci)}</td><td class="num">${formatScore(r.metric?.value)}</td><td class="num">${formatCi(r.metric?.ci)}</td><td class="num">${formatSigned(r.delta?.value)}</td></tr>`,
  )}</tbody></table>`;
  return html`<section id="baseline" aria-labelledby="baseline-h"><h2 id="baseline-h">Baseline versus candidate</h2>
${figure(chart, `Grey: ${legend.baseline}. Blue: ${legend.candidate}.`, dataTable)}</section>`;
}

/** The length model's coefficient in words: which way answer length swayed the judge. */
function lengthEffect(w: RunWinRate): string {
  const model = w.model;
  if (model === undefined) return MISSING;
  if (!(model.scale > 0)) return 'none measured: both answers were of equal length on every item';
  return `slope ${formatSigned(model.slope)} on tanh(length difference / ${formatAmount(model.scale)} characters)${
    model.slope > 0
      ? ': the longer answer tended to win'
      : model.slope < 0
        ? ': the shorter answer tended to win'
        : ''
  }`;
}

function winRateSection(report: RunReport): SafeHtml | null {
  const w = report.winRate;
  if (!w) return null;
  const rows = [
    { label: 'raw (ties count half)', e: w.raw },
    { label: 'length-controlled', e: w.lengthControlled },
  ];
  const chart = barChart({
    id: 'chart-win-rate',
    title: 'Win rate of the candidate against the baseline',
    desc: `Raw and length-controlled pairwise win rates over ${plural(w.n, 'judged item')}, each with its 95% confidence interval; the dashed line is 0.5, where neither answer is preferred.`,
    rows: rows.map((r) => ({ label: r.label, value: r.e.value, ci: r.e.ci, n: r.e.n, marker: 0.5 })),
    domain: [0, 1],
  });
  const dataTable = html`<table><thead><tr><th scope="col">Win rate</th><th scope="col" class="num">Value</th><th scope="col" class="num">95% CI</th><th scope="col" class="num">n</th></tr></thead><tbody>${rows.map(
    (r) => html`<tr><th scope="row">${r.label}</th>${estimateCells(r.e)}</tr>`,
  )}</tbody></table>`;
  const offline = w.judge === 'offline' ? html` ${badge('offline — uncalibrated', 'warn')}` : null;
  return html`<section id="win-rate" aria-labelledby="win-rate-h"><h2 id="win-rate-h">Pairwise win rate ${badge('informs — not gating', 'info')}</h2>
<p class="muted">Each item's candidate and baseline answers were compared by the judge in both orders; a preference counts only when both orders agree, and a pair whose orders disagree counts as a tie. The length-controlled rate is the win probability at equal answer lengths, from a logistic regression of the outcome on the length difference.</p>
<div class="scroll"><table><caption>Candidate against baseline: wins plus half the ties, over the judged items.</caption><thead><tr><th scope="col">Win rate</th><th scope="col" class="num">Value</th><th scope="col" class="num">95% CI</th><th scope="col" class="num">n</th></tr></thead><tbody>${rows.map(
    (r) => html`<tr><th scope="row">${r.label}</th>${estimateCells(r.e)}</tr>`,
  )}</tbody></table></div>
<dl class="facts">
<dt>Judged items</dt><dd>${formatCount(w.n)}: ${winRateCounts(w)}</dd>
<dt>Failed</dt><dd>${formatCount(w.failed)} (no judgement: left out)</dd>
<dt>Length effect</dt><dd>${lengthEffect(w)}</dd>
<dt>Judge</dt><dd>${clip(w.judge)} · ${clip(w.rubric)}${offline}</dd>
</dl>
${figure(chart, 'Bars: win rate; whiskers: 95% CI; dashed line: 0.5.', dataTable)}</section>`;
}

function tagSection(report: RunReport, tagsPerChart: number): SafeHtml {
  const charts = report.metrics.map((m, index) => {
    const tags = Object.entries(m.byTag)
      .sort(([a, ea], [b, eb]) => eb.n - ea.n || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, tagsPerChart);
    const total = Object.keys(m.byTag).length;
    if (total === 0) return null;
    const more =
      total > tags.length
        ? ` (the ${tags.length} most frequent of ${total} tags; all are in summary.json)`
        : '';
    const chart = barChart({
      id: `chart-tag-${index}`,
      title: `${m.name} by tag`,
      desc: `Mean ${m.name} with its 95% confidence interval for ${plural(tags.length, 'tag')}${more}.`,
      rows: tags.map(([tag, e]) => ({ label: clip(tag, LIMITS.tag), value: e.value, ci: e.ci, n: e.n })),
    });
    const dataTable = html`<table><thead><tr><th scope="col">Tag</th><th scope="col" class="num">${m.name}</th><th scope="col" class="num">95% CI</th><th scope="col" class="num">n</th></tr></thead><tbody>${tags.map(
      ([tag, e]) => html`<tr><th scope="row">${clip(tag, LIMITS.tag)}</th>${estimateCells(e)}</tr>`,
    )}</tbody></table>`;
    return html`<h3>${m.name}</h3>${figure(chart, `Bars: mean ${m.name} per tag; whiskers: 95% CI${more}.`, dataTable)}`;
  });
  const any = charts.some((c) => c !== null);
  return html`<section id="tags" aria-labelledby="tags-h"><h2 id="tags-h">By tag</h2>${any ? charts : html`<p class="muted">No item carries a tag.</p>`}</section>`;
}

function distributionSection(report: RunReport): SafeHtml {
  const charts = report.metrics.map((m, index) => {
    const values = scoresOf(report.items, m.name);
    const domain = niceDomain(values);
    const bins = histogramBins(values, 10, domain);
    const chart = histogram({
      id: `chart-hist-${index}`,
      title: `Distribution of ${m.name}`,
      desc: `Per-item ${m.name} of ${formatCount(values.length)} scored items in ${bins.length} bins from ${domain[0]} to ${domain[1]}.`,
      values,
      domain,
    });
    const dataTable = html`<table><thead><tr><th scope="col">Score range</th><th scope="col" class="num">Items</th></tr></thead><tbody>${bins.map(
      (b, i) =>
        html`<tr><td>${`${b.lo} – ${b.hi}${i === bins.length - 1 ? ' (inclusive)' : ''}`}</td><td class="num">${formatCount(b.count)}</td></tr>`,
    )}</tbody></table>`;
    return html`<div><h3>${m.name}</h3>${figure(chart, `${plural(values.length, 'item')} scored.`, dataTable)}</div>`;
  });
  return html`<section id="distributions" aria-labelledby="dist-h"><h2 id="dist-h">Score distributions</h2><div class="charts">${charts}</div></section>`;
}

function operationalSection(report: RunReport): SafeHtml {
  const op = report.operational;
  return html`<section id="operational" aria-labelledby="op-h"><h2 id="op-h">Operational</h2><dl class="facts">
<dt>Latency p50</dt><dd>${formatMs(op.latencyP50)}</dd>
<dt>Latency p95</dt><dd>${formatMs(op.latencyP95)}</dd>
<dt>Tokens per item</dt><dd>${formatAmount(op.tokensPerItem)}</dd>
<dt>Cost per item</dt><dd>${formatUsd(op.costPerItem)}</dd>
<dt>Total cost</dt><dd>${formatUsd(op.costTotal)}</dd>
<dt>Failed items</dt><dd>${formatCount(report.failed)} of ${formatCount(report.items.length)} (${formatShare(report.failed, report.items.length)})</dd>
</dl></section>`;
}

function textBlock(label: string, text: string, max: number): SafeHtml {
  const shown = clipForHtml(text, max);
  return html`<h4>${label}</h4><pre>${shown === '' ? MISSING : shown}</pre>${
    shown.length < text.length ? html`<p class="muted">Shortened; the full text is in items.jsonl.</p>` : null
  }`;
}

function listBlock(label: string, texts: readonly string[], limit: number, max: number): SafeHtml {
  if (texts.length === 0) return html`<h4>${label}</h4><p class="muted">None.</p>`;
  return html`<h4>${label}</h4><ol class="plain">${texts.slice(0, limit).map((t) => html`<li><pre>${clipForHtml(t, max)}</pre></li>`)}</ol>${
    texts.length > limit ? html`<p class="muted">${texts.length - limit} more in items.jsonl.</p>` : null
  }`;
}

function rationaleBlock(item: ItemRecord, primary: string): SafeHtml {
  const rationales = item.rationales ?? {};
  const names = Object.keys(rationales).sort((a, b) =>
    a === primary ? -1 : b === primary ? 1 : a < b ? -1 : 1,
  );
  const entries = names
    .map((name) => {
      const reasons = rationales[name] ?? [];
      if (reasons.length === 0) return null;
      const isPrimary = name === primary;
      const limit = isPrimary ? LIMITS.primaryRationales : 1;
      const max = isPrimary ? LIMITS.primaryRationale : LIMITS.otherRationale;
      return html`<li><strong>${name}</strong>${reasons.length > limit ? html` <span class="muted">(${limit} of ${reasons.length})</span>` : null}<ul class="plain">${reasons
        .slice(0, limit)
        .map((reason) => html`<li>${clipForHtml(reason, max)}</li>`)}</ul></li>`;
    })
    .filter((e) => e !== null);
  return html`<h4>Judge's reasons</h4>${entries.length > 0 ? html`<ul class="plain">${entries}</ul>` : html`<p class="muted">None recorded.</p>`}`;
}

function scoreTable(item: ItemRecord, metrics: readonly string[]): SafeHtml {
  const names = [...metrics, ...Object.keys(item.scores).filter((m) => !metrics.includes(m))];
  const unstable = new Set(item.unstable ?? []);
  return html`<div class="scroll"><table><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Score</th><th scope="col">Note</th></tr></thead><tbody>${names
    .filter((m) => m in item.scores || m in item.errors)
    .map(
      (m) =>
        html`<tr><th scope="row">${m}</th><td class="num">${formatScore(item.scores[m])}</td><td>${
          item.errors[m] !== undefined
            ? html`${badge('error', 'fail')} ${clipForHtml(item.errors[m] ?? '', LIMITS.error)}`
            : null
        }${unstable.has(m) ? badge('unstable', 'warn') : null}</td></tr>`,
    )}</tbody></table></div>`;
}

function worstSection(report: RunReport, count: number): SafeHtml {
  const primary = primaryMetric(report);
  const metricNames = report.metrics.map((m) => m.name);
  const worst = primary ? worstItems(report.items, primary, count) : [];
  const articles = worst.map(({ item, score }, i) => {
    const operational = [
      isNumber(item.latencyMs) ? formatMs(item.latencyMs) : null,
      isNumber(item.tokens) ? `${formatCount(item.tokens)} tokens` : null,
      isNumber(item.costUsd) ? formatUsd(item.costUsd) : null,
    ].filter((p): p is string => p !== null);
    const contexts = item.contexts ?? [];
    return html`<article class="item" id="worst-${i + 1}" aria-labelledby="worst-${i + 1}-h"><h3 id="worst-${i + 1}-h">${i + 1}. ${clip(item.id, LIMITS.id)} <span class="muted">${primary} ${formatScore(score)}</span></h3>
<p>${join(
      [
        ...item.tags.slice(0, LIMITS.tags).map((t) => badge(clip(t, LIMITS.tag), 'tag')),
        item.tags.length > LIMITS.tags
          ? html`<span class="muted">+${item.tags.length - LIMITS.tags} tags</span>`
          : null,
      ],
      ' ',
    )}${(item.unstable?.length ?? 0) > 0 ? html` ${badge('unstable judgement', 'warn')}` : null}${
      operational.length > 0 ? html` <span class="muted">${operational.join(' · ')}</span>` : null
    }</p>
${scoreTable(item, metricNames)}
<div class="pair"><div>${textBlock('Input', item.input, LIMITS.input)}</div><div>${textBlock('Answer', item.answer, LIMITS.answer)}</div></div>
<div class="pair"><div>${listBlock('References', item.references, LIMITS.references, LIMITS.reference)}</div><div>${rationaleBlock(item, primary ?? '')}</div></div>
${contexts.length > 0 ? html`<details><summary>Contexts (${contexts.length})</summary>${listBlock('Contexts', contexts, LIMITS.contexts, LIMITS.context)}</details>` : null}</article>`;
  });
  const intro = primary
    ? html`<p class="muted">The ${plural(worst.length, 'item')} scoring lowest on ${primary}, lowest first; every item is in items.jsonl.</p>`
    : html`<p class="muted">No metric to rank items by.</p>`;
  return html`<section id="worst" aria-labelledby="worst-h"><h2 id="worst-h">Worst items${primary ? html` on ${primary}` : null}</h2>${intro}${articles}</section>`;
}

function failedSection(report: RunReport, limit: number): SafeHtml | null {
  const failed = report.items.filter((item) => item.error !== undefined);
  if (report.failed === 0 && failed.length === 0) return null;
  const shown = failed.slice(0, limit);
  return html`<section id="failed" aria-labelledby="failed-h"><h2 id="failed-h">Failed items</h2><p>${plural(report.failed, 'item')} got no answer; such items count as failed, never as a score of 0.</p>${
    shown.length > 0
      ? html`<div class="scroll"><table><thead><tr><th scope="col">Item</th><th scope="col">Error</th></tr></thead><tbody>${shown.map(
          (item) =>
            html`<tr><th scope="row">${clip(item.id, LIMITS.id)}</th><td>${clipForHtml(item.error ?? '', LIMITS.error)}</td></tr>`,
        )}</tbody></table></div>`
      : null
  }${failed.length > shown.length ? html`<p class="muted">${failed.length - shown.length} more in items.jsonl.</p>` : null}</section>`;
}

/** The run's `report.html`. */
export function renderHtml(report: RunReport, options: RenderHtmlOptions = {}): string {
  const rows = metricRows(report);
  const head = headline(report);
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${new SafeHtml(REPORT_CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${head.word} · ${suiteLabel(report)} · evaluation ${clip(report.runId)}</title>
<style>${new SafeHtml(REPORT_CSS)}</style>
</head>
<body>
${header(report)}
<main>
${gateSection(report)}
${metricsSection(report, rows)}
${stabilitySection(report)}
${baselineSection(report, rows)}
${winRateSection(report)}
${tagSection(report, options.tagsPerChart ?? 12)}
${distributionSection(report)}
${operationalSection(report)}
${worstSection(report, options.worstItems ?? 10)}
${failedSection(report, options.failedItems ?? 20)}
</main>
<footer class="muted">Run ${clip(report.runId)}. Every item, score and judge rationale is in items.jsonl; the numbers are in summary.json.</footer>
</body>
</html>
`;
  return page.value;
}
