import type { RunReport } from '#core/eval/report/types.ts';

/** The `--json` line: `{runId, suite, target, items, failed, metrics: {name: {value, n, ci}}, pass, report}`. */
export function cliSummary(report: RunReport, reportPath: string | undefined): Record<string, unknown> {
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  return {
    runId: report.runId,
    suite: report.suite,
    target: report.target,
    ...(report.baseline ? { baseline: report.baseline } : {}),
    items: report.items.length,
    failed: report.failed,
    judge: report.judge.offline ? 'offline' : report.judge.model,
    metrics: Object.fromEntries(
      report.metrics.map((m) => [
        m.name,
        { value: finite(m.value), n: m.n, ci: [finite(m.ci[0]), finite(m.ci[1])], failed: m.failed },
      ]),
    ),
    pass: report.gate?.pass ?? null,
    ...(report.gate
      ? { gate: report.gate.metrics.map((m) => ({ name: m.name, verdict: m.verdict, reason: m.reason })) }
      : {}),
    report: reportPath ?? null,
  };
}
