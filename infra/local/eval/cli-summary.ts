import { summaryJson } from '#core/eval/report/summary.ts';
import type { RunReport } from '#core/eval/report/types.ts';

/**
 * The `--json` line, cut from `summary.json`: `{runId, suite, target, baseline?, items, failed, judge,
 * metrics: {<name>: {value, n, ci, failed}}, pass, gate?, report}`.
 */
export function cliSummary(report: RunReport, reportPath: string | undefined): Record<string, unknown> {
  const summary = summaryJson(report, reportPath === undefined ? {} : { reportPath });
  return {
    runId: summary.runId,
    suite: summary.suite,
    target: summary.target,
    ...(summary.baseline ? { baseline: summary.baseline } : {}),
    items: summary.items,
    failed: summary.failed,
    judge: summary.judge.offline ? 'offline' : summary.judge.model,
    metrics: Object.fromEntries(
      Object.entries(summary.metrics).map(([name, { value, n, ci, failed }]) => [
        name,
        { value, n, ci, failed },
      ]),
    ),
    pass: summary.pass,
    ...(summary.gate
      ? { gate: summary.gate.metrics.map(({ name, verdict, reason }) => ({ name, verdict, reason })) }
      : {}),
    report: summary.report ?? null,
  };
}
