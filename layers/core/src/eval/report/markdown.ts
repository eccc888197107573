import { escapeMarkdown } from './escape.ts';
import { formatCi, formatCount, formatScore, formatShare, formatSigned, MISSING } from './format.ts';
import { metricRows, primaryMetric, worstItems } from './select.ts';
import type { GateVerdict, RunReport, RunTarget, RunWinRate } from './types.ts';

/**
 * A short Markdown summary of a run, fit for a pull-request comment: the verdict first, one table row
 * per metric, one line per judge metric on its repeats, the failed count, the judge, and the three
 * worst items. Caller and model text is escaped
 * (pipes, backticks, newlines, HTML, mentions), so an answer cannot break the table or the comment.
 */

export interface RenderMarkdownOptions {
  /** @default 3 */
  readonly worstItems?: number;
  /** Code points of input, answer and reason shown per worst item. @default 120 */
  readonly cellChars?: number;
  /** Where the full HTML report is, linked under the table. */
  readonly reportUrl?: string;
}

const VERDICT: Readonly<Record<GateVerdict, string>> = {
  pass: '✅ pass',
  fail: '❌ fail',
  uncalibrated: '⚠️ uncalibrated',
  insufficient: '⚠️ insufficient',
};

function target(t: RunTarget | undefined): string {
  if (!t) return MISSING;
  const parts = [
    t.prompt && `prompt ${escapeMarkdown(t.prompt, 80)}`,
    t.model && `model ${escapeMarkdown(t.model, 80)}`,
  ];
  const shown = parts.filter((p): p is string => Boolean(p));
  return shown.length > 0 ? shown.join(' · ') : MISSING;
}

function headline(report: RunReport): string {
  const version = String(report.suite.version);
  const suite = `${escapeMarkdown(report.suite.name, 80)} ${/^v\d/i.test(version) ? '' : 'v'}${escapeMarkdown(version, 40)}`;
  if (!report.gate) return `## ℹ️ Evaluation finished: ${suite} (no gate)`;
  return report.gate.pass ? `## ✅ Evaluation passed: ${suite}` : `## ❌ Evaluation failed: ${suite}`;
}

/** Only links to http(s) locations are rendered as links; anything else is shown as text. */
function link(url: string): string {
  return /^https?:\/\/[^\s()<>]+$/.test(url)
    ? `[Full report](${url})`
    : `Full report: ${escapeMarkdown(url, 300)}`;
}

/** A pairwise run's judged items in words: `13 wins, 5 losses, 1 tie, 1 inconsistent (counted as ties)`. */
export function winRateCounts(w: Pick<RunWinRate, 'wins' | 'losses' | 'ties' | 'inconsistent'>): string {
  const count = (n: number, one: string, many: string) => `${formatCount(n)} ${n === 1 ? one : many}`;
  return [
    count(w.wins, 'win', 'wins'),
    count(w.losses, 'loss', 'losses'),
    count(w.ties, 'tie', 'ties'),
    `${formatCount(w.inconsistent)} inconsistent (counted as ties)`,
  ].join(', ');
}

/** A pairwise run's win rates: a two-row table and the counts they rest on. */
export function winRateLines(w: RunWinRate): string[] {
  const row = (label: string, e: RunWinRate['raw']) =>
    `| ${label} | ${formatScore(e.value)} ${formatCi(e.ci)} | ${formatCount(e.n)} |`;
  return [
    '**Win rate against the baseline** (pairwise; informs, does not gate)',
    '',
    '| Win rate | Value [95% CI] | n |',
    '|---|---:|---:|',
    row('raw (ties count half)', w.raw),
    row('length-controlled', w.lengthControlled),
    '',
    `${winRateCounts(w)}, ${formatCount(w.failed)} failed · judge ${escapeMarkdown(w.judge, 80)} · rubric ${escapeMarkdown(w.rubric, 80)}`,
  ];
}

/**
 * One line per judge metric: the judge and rubric, the repeats per item, pass^k, and the items whose
 * repeats disagreed (left out of the metric's value and the gate). Empty for a run without judge metrics.
 */
export function judgeRepeatLines(report: RunReport): string[] {
  const judged = report.metrics.filter((m) => m.repeats !== undefined);
  if (judged.length === 0) return [];
  const lines = judged.map((m) => {
    const r = m.repeats as NonNullable<typeof m.repeats>;
    const unstable = m.unstable ?? 0;
    const judge = m.judge
      ? `${escapeMarkdown(m.judge.model, 80)} · ${escapeMarkdown(m.judge.rubric, 80)} · `
      : '';
    return `- **${escapeMarkdown(m.name, 60)}**: ${judge}k = ${r.k} · pass^${r.k} ${formatScore(r.passHatK)} over ${formatCount(r.passHatKItems)} items · ${formatCount(unstable)} unstable of ${formatCount(r.judged)} judged (${formatShare(unstable, r.judged)})`;
  });
  return ['**Judge repeats** (an unstable item counts in no value and no gate)', '', ...lines];
}

/** The run's pull-request comment. */
export function renderMarkdown(report: RunReport, options: RenderMarkdownOptions = {}): string {
  const cell = options.cellChars ?? 120;
  const rows = metricRows(report);
  const evaluated = report.items.length;
  const compared = Boolean(report.baselineMetrics) || Boolean(report.gate);
  const lines: string[] = [headline(report), ''];

  lines.push(
    `Run ${escapeMarkdown(report.runId, 100)} · target ${target(report.target)}${
      report.baseline ? ` · baseline ${target(report.baseline)}` : ''
    }`,
    '',
  );

  const header = compared
    ? ['| Metric | Value [95% CI] | n | Δ vs baseline [95% CI] | Verdict |', '|---|---:|---:|---:|---|']
    : ['| Metric | Value [95% CI] | n | Failed |', '|---|---:|---:|---:|'];
  lines.push(...header);
  for (const row of rows) {
    const name = escapeMarkdown(row.name, 60);
    const value = row.metric ? `${formatScore(row.metric.value)} ${formatCi(row.metric.ci)}` : MISSING;
    const n = row.metric ? formatCount(row.metric.n) : MISSING;
    if (compared) {
      const delta = row.delta
        ? `${formatSigned(row.delta.value)}${row.delta.ci ? ` ${formatCi(row.delta.ci, 3, true)}` : ''}`
        : MISSING;
      const verdict = row.gate ? VERDICT[row.gate.verdict] : MISSING;
      lines.push(`| ${name} | ${value} | ${n} | ${delta} | ${verdict} |`);
    } else {
      lines.push(`| ${name} | ${value} | ${n} | ${row.metric ? formatCount(row.metric.failed) : MISSING} |`);
    }
  }
  lines.push('');
  if (report.winRate) lines.push(...winRateLines(report.winRate), '');
  const repeats = judgeRepeatLines(report);
  if (repeats.length > 0) lines.push(...repeats, '');

  lines.push(
    `**Failed items:** ${formatCount(report.failed)} of ${formatCount(evaluated)} (${formatShare(report.failed, evaluated)})  `,
    `**Judge:** ${escapeMarkdown(report.judge.model, 80)}${report.judge.offline ? ' — ⚠️ offline, not for gating' : ''}`,
  );
  const failing = report.gate?.metrics.filter((g) => g.verdict !== 'pass') ?? [];
  if (failing.length > 0) {
    lines.push('');
    for (const g of failing)
      lines.push(`- **${escapeMarkdown(g.name, 60)}** (${g.verdict}): ${escapeMarkdown(g.reason, 300)}`);
  }

  const primary = primaryMetric(report);
  const worst = primary ? worstItems(report.items, primary, options.worstItems ?? 3) : [];
  if (primary && worst.length > 0) {
    lines.push(
      '',
      `**Worst items on ${escapeMarkdown(primary, 60)}**`,
      '',
      `| Item | ${escapeMarkdown(primary, 60)} | Input | Answer | Judge's reason |`,
      '|---|---:|---|---|---|',
    );
    for (const { item, score } of worst) {
      const reason = item.rationales?.[primary]?.[0] ?? '';
      lines.push(
        `| ${escapeMarkdown(item.id, 60)} | ${formatScore(score)} | ${escapeMarkdown(item.input, cell) || MISSING} | ${
          escapeMarkdown(item.answer, cell) || MISSING
        } | ${escapeMarkdown(reason, cell) || MISSING} |`,
      );
    }
  }
  if (options.reportUrl) lines.push('', link(options.reportUrl));
  return `${lines.join('\n')}\n`;
}
