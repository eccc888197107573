import type { MetricSummary } from '../types.ts';
import { isNumber } from './format.ts';
import type { GateMetricResult, ItemRecord, RunReport } from './types.ts';

/** What the HTML and Markdown reports both derive from a run: one row per metric, and the worst items. */

export interface MetricRow {
  readonly name: string;
  readonly metric?: MetricSummary;
  readonly baseline?: MetricSummary;
  readonly gate?: GateMetricResult;
  /** Candidate minus baseline: the gate's paired estimate, else the plain difference (no interval). */
  readonly delta?: { readonly value: number; readonly ci?: readonly [number, number] };
}

/** Every metric of the run (in its order), then any gated metric the summaries lack. */
export function metricRows(report: RunReport): MetricRow[] {
  const names = [...report.metrics.map((m) => m.name)];
  for (const g of report.gate?.metrics ?? []) if (!names.includes(g.name)) names.push(g.name);
  return names.map((name) => {
    const metric = report.metrics.find((m) => m.name === name);
    const baseline = report.baselineMetrics?.find((m) => m.name === name);
    const gate = report.gate?.metrics.find((g) => g.name === name);
    const delta = gate
      ? { value: gate.diff.value, ci: gate.diff.ci }
      : metric && baseline && isNumber(metric.value) && isNumber(baseline.value)
        ? { value: metric.value - baseline.value }
        : undefined;
    return {
      name,
      ...(metric ? { metric } : {}),
      ...(baseline ? { baseline } : {}),
      ...(gate ? { gate } : {}),
      ...(delta ? { delta } : {}),
    };
  });
}

/** The metric that ranks the worst items: as given, else the first gated metric, else the first metric. */
export function primaryMetric(report: RunReport): string | undefined {
  return report.primaryMetric ?? report.gate?.metrics[0]?.name ?? report.metrics[0]?.name;
}

/** The items scoring lowest on a metric (items it could not score are left out), ties broken by id. */
export function worstItems(
  items: readonly ItemRecord[],
  metric: string,
  count: number,
): { item: ItemRecord; score: number }[] {
  const scored: { item: ItemRecord; score: number }[] = [];
  for (const item of items) {
    const score = item.scores[metric];
    if (isNumber(score)) scored.push({ item, score });
  }
  scored.sort((a, b) => a.score - b.score || (a.item.id < b.item.id ? -1 : a.item.id > b.item.id ? 1 : 0));
  return scored.slice(0, Math.max(0, count));
}

/**
 * The finite scores of a metric across items, as its summary counts them: an item its judge was
 * unstable on is left out.
 */
export function scoresOf(items: readonly ItemRecord[], metric: string): number[] {
  const out: number[] = [];
  for (const item of items) {
    const v = item.scores[metric];
    if (isNumber(v) && !item.unstable?.includes(metric)) out.push(v);
  }
  return out;
}
