import { summaryJson } from '#core/eval/report/summary.ts';
import type { RunReport } from '#core/eval/report/types.ts';

/**
 * The `--json` line, cut from `summary.json`: `{runId, suite, target, baseline?, items, failed, judge,
 * metrics: {<name>: {value, n, ci, failed, unstable?, repeats?}}, pass, gate?, report}`. A judge metric
 * carries its stability as `summary.json` gives it: `unstable` (the items whose repeats disagreed, left
 * out of `value`, `n` and `ci`) and `repeats` (`{k, judged, unstableShare, passHatK, passHatKItems}`), so
 * a script that reads the line sees a judge that flips verdicts, not only its mean.
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
      Object.entries(summary.metrics).map(([name, { value, n, ci, failed, unstable, repeats }]) => [
        name,
        {
          value,
          n,
          ci,
          failed,
          ...(unstable === undefined ? {} : { unstable }),
          ...(repeats === undefined ? {} : { repeats }),
        },
      ]),
    ),
    pass: summary.pass,
    ...(summary.gate
      ? { gate: summary.gate.metrics.map(({ name, verdict, reason }) => ({ name, verdict, reason })) }
      : {}),
    report: summary.report ?? null,
  };
}
