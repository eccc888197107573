/**
 * What a metric alarm watches, in the terms of the local metric store: which datapoints, reduced per
 * period by which statistic. Three shapes are evaluated locally: one metric (`MetricName`, `Namespace`,
 * `Dimensions`, `Statistic` or `ExtendedStatistic`, `Period`), `Metrics` holding just one `MetricStat`,
 * and `Metrics` holding one simple Metrics Insights query. Everything else (metric math, anomaly
 * detection bands, other comparison operators, other extended statistics) gets the reason it is left
 * to AWS.
 */
import type { MetricQuery } from './metric-store.ts';
import { isInsightsQuery, parseInsightsQuery } from './metrics-insights.ts';
import { type ComparisonOperator, isComparisonOperator, type Statistic, statisticOf } from './statistics.ts';
import type { LocalMetricAlarm } from './template-alarms.ts';
import { ExpressionError } from './tokens.ts';

/** The evaluable part of a metric alarm. */
export interface AlarmMetric {
  readonly query: MetricQuery;
  readonly statistic: Statistic;
  /** Seconds. */
  readonly period: number;
  readonly threshold: number;
  readonly comparison: ComparisonOperator;
  /** The `statistic` of the reason data (single-metric alarms; none for Metrics Insights, as on AWS). */
  readonly statisticName?: string;
}

/** The alarm's metric, or why it is not evaluated locally. */
export function alarmMetricOf(alarm: LocalMetricAlarm): AlarmMetric | { readonly unevaluated: string } {
  if (alarm.thresholdMetricId !== undefined) {
    return { unevaluated: `its threshold is an anomaly detection band (${alarm.thresholdMetricId})` };
  }
  const comparison = alarm.comparisonOperator;
  if (!isComparisonOperator(comparison)) return { unevaluated: `comparison ${comparison} is not static` };
  if (alarm.threshold === undefined) return { unevaluated: 'it has no Threshold' };
  const common = { threshold: alarm.threshold, comparison };
  const metrics = alarm.metrics;
  if (metrics === undefined) {
    if (alarm.namespace === undefined || alarm.metricName === undefined || alarm.period === undefined) {
      return { unevaluated: 'it names no metric (Namespace, MetricName and Period)' };
    }
    const statistic = statisticOf(alarm.statistic, alarm.extendedStatistic);
    if (typeof statistic === 'string') return { unevaluated: statistic };
    return {
      ...common,
      query: exactMetric(alarm.namespace, alarm.metricName, alarm.dimensions, alarm.unit),
      statistic,
      period: alarm.period,
      statisticName: statistic.name,
    };
  }
  const [only, ...others] = metrics;
  if (only === undefined || others.length > 0) {
    const expression = metrics.find((m) => m.expression !== undefined)?.expression;
    return {
      unevaluated: expression === undefined ? 'it combines several metrics' : `metric math (${expression})`,
    };
  }
  if (only.metricStat !== undefined) {
    const { stat, namespace, metricName, dimensions, unit, period } = only.metricStat;
    const statistic = stat.startsWith('p') ? statisticOf(undefined, stat) : statisticOf(stat, undefined);
    if (typeof statistic === 'string') return { unevaluated: statistic };
    return {
      ...common,
      query: exactMetric(namespace, metricName, dimensions, unit),
      statistic,
      period,
      statisticName: statistic.name,
    };
  }
  const expression = only.expression ?? '';
  if (!isInsightsQuery(expression)) return { unevaluated: `metric math (${expression})` };
  if (only.period === undefined) return { unevaluated: `the query ${expression} has no Period` };
  try {
    const query = parseInsightsQuery(expression);
    return {
      ...common,
      query: {
        namespace: query.namespace,
        metricName: query.metricName,
        dimensions: query.where,
        dimensionMatch: 'include',
      },
      statistic: { kind: 'standard', name: query.statistic },
      period: only.period,
    };
  } catch (error) {
    if (error instanceof ExpressionError) return { unevaluated: `Metrics Insights: ${error.message}` };
    throw error;
  }
}

function exactMetric(
  namespace: string,
  metricName: string,
  dimensions: LocalMetricAlarm['dimensions'],
  unit: string | undefined,
): MetricQuery {
  return {
    namespace,
    metricName,
    dimensions: Object.fromEntries(dimensions.map((d) => [d.name, d.value])),
    dimensionMatch: 'exact',
    ...(unit === undefined ? {} : { unit }),
  };
}
