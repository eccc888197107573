/**
 * One evaluation of a metric alarm at a moment, the way CloudWatch decides its state.
 *
 * Periods are aligned to multiples of `Period` since the epoch; the alarm looks at the N
 * (`EvaluationPeriods`) most recent ones, the current, still open period included, and at datapoints up to
 * the moment only. Each period's datapoints are reduced by the statistic; a period without any is
 * missing, and `TreatMissingData` decides what a missing period counts as: `breaching`, `notBreaching`, or
 * nothing (`missing`, `ignore`). Then: ALARM when at least M (`DatapointsToAlarm`) periods breach; OK when
 * fewer do and some period had data or counted as data; when all N are missing, INSUFFICIENT_DATA with
 * `missing`, and no change with `ignore`. The reason and reason data read like CloudWatch's.
 *
 * AWS differs in one respect: when datapoints are missing it looks back beyond the N periods (its
 * "evaluation range") for real datapoints before filling in missing ones; locally only the N periods count.
 */

import type { AlarmMetric } from './alarm-metric.ts';
import type { AlarmStateValue } from './alarm-state.ts';
import { cloudWatchTimestamp, count, javaDouble, reasonTime } from './formats.ts';
import type { LocalMetricStore } from './metric-store.ts';
import { breaches, COMPARISON_OPERATORS, reduce } from './statistics.ts';
import type { LocalMetricAlarm } from './template-alarms.ts';

/** The outcome of one evaluation. */
export interface MetricAlarmVerdict {
  /** The state the alarm is in now; undefined when it keeps its state (`ignore` and no data). */
  readonly state: AlarmStateValue | undefined;
  readonly reason: string;
  /** The reason as CloudWatch's JSON reason data. */
  readonly reasonData: string;
}

type Period =
  | { readonly start: number; readonly missing: true }
  | {
      readonly start: number;
      readonly missing: false;
      readonly value: number;
      readonly sampleCount: number;
      readonly breaching: boolean;
    };

type DataPeriod = Extract<Period, { missing: false }>;

/** Evaluates `alarm` (watching `metric`) at `at` (epoch milliseconds), from state `current`. */
export function evaluateMetricAlarm(
  alarm: LocalMetricAlarm,
  metric: AlarmMetric,
  store: LocalMetricStore,
  at: number,
  current: AlarmStateValue,
): MetricAlarmVerdict {
  const periods = periodsAt(metric, store, at, alarm.evaluationPeriods);
  const data = periods.filter((p): p is DataPeriod => !p.missing);
  const missing = periods.length - data.length;
  const treat = alarm.treatMissingData;
  const breaching = data.filter((p) => p.breaching).length + (treat === 'breaching' ? missing : 0);
  let state: AlarmStateValue | undefined;
  if (missing === periods.length && (treat === 'missing' || treat === 'ignore')) {
    state = treat === 'missing' ? 'INSUFFICIENT_DATA' : undefined;
  } else {
    state = breaching >= alarm.datapointsToAlarm ? 'ALARM' : 'OK';
  }
  return {
    state,
    reason: reasonFor(state ?? current, current, alarm, metric, periods),
    reasonData: JSON.stringify(reasonData(metric, periods, at)),
  };
}

/** The N most recent periods at `at`, newest first. */
function periodsAt(metric: AlarmMetric, store: LocalMetricStore, at: number, n: number): Period[] {
  const length = metric.period * 1000;
  const newest = Math.floor(at / length) * length;
  const oldest = newest - (n - 1) * length;
  const buckets = new Map<number, number[]>();
  for (const d of store.datapoints(metric.query)) {
    const time = d.timestamp.getTime();
    if (time < oldest || time > at) continue;
    const start = Math.floor(time / length) * length;
    const values = buckets.get(start) ?? [];
    values.push(d.value);
    buckets.set(start, values);
  }
  return Array.from({ length: n }, (_, i): Period => {
    const start = newest - i * length;
    const values = buckets.get(start);
    if (values === undefined) return { start, missing: true };
    const value = reduce(metric.statistic, values);
    return {
      start,
      missing: false,
      value,
      sampleCount: values.length,
      breaching: breaches(metric.comparison, value, metric.threshold),
    };
  });
}

function reasonFor(
  state: AlarmStateValue,
  from: AlarmStateValue,
  alarm: LocalMetricAlarm,
  metric: AlarmMetric,
  periods: readonly Period[],
): string {
  const n = periods.length;
  if (state === 'INSUFFICIENT_DATA') return `Insufficient Data: ${count(n, 'datapoint')} ${were(n)} unknown.`;
  const alarming = state === 'ALARM';
  const data = periods.filter((p): p is DataPeriod => !p.missing);
  const listed = data.filter((p) => p.breaching === alarming);
  const missing = n - data.length;
  const filled =
    (alarming && alarm.treatMissingData === 'breaching') ||
    (!alarming && alarm.treatMissingData === 'notBreaching')
      ? missing
      : 0;
  const needed = alarming ? alarm.datapointsToAlarm : n - alarm.datapointsToAlarm + 1;
  const minimum = `(minimum ${count(needed, 'datapoint')} for ${from} -> ${state} transition).`;
  const treated = `${count(filled, 'missing datapoint')} ${were(filled)} treated as [${alarming ? 'Breaching' : 'NonBreaching'}]`;
  const comparison = COMPARISON_OPERATORS[metric.comparison];
  const threshold = `the threshold (${javaDouble(metric.threshold)})`;
  if (listed.length === 0 && filled > 0) {
    return `Threshold Crossed: no datapoints were received for ${count(missing, 'period')} and ${treated}.`;
  }
  if (listed.length === 0) {
    // OK with too few breaching datapoints, the rest missing and not counted (`missing`, `ignore`).
    const shown = data.filter((p) => p.breaching);
    return (
      `Threshold Crossed: ${shown.length} out of the last ${n} datapoints ${list(shown)} ${were(shown.length)} ` +
      `${comparison} ${threshold} and ${count(missing, 'datapoint')} ${were(missing)} missing ` +
      `(minimum ${count(alarm.datapointsToAlarm, 'datapoint')} for ALARM).`
    );
  }
  return (
    `Threshold Crossed: ${listed.length} out of the last ${n} datapoints ${list(listed)} ${were(listed.length)} ` +
    `${alarming ? '' : 'not '}${comparison} ${threshold}${filled > 0 ? ` and ${treated}` : ''} ${minimum}`
  );
}

function reasonData(metric: AlarmMetric, periods: readonly Period[], at: number): Record<string, unknown> {
  const data = periods.filter((p): p is DataPeriod => !p.missing);
  const oldest = periods[periods.length - 1]?.start ?? at;
  return {
    version: '1.0',
    queryDate: cloudWatchTimestamp(at),
    startDate: cloudWatchTimestamp(oldest),
    ...(metric.statisticName === undefined ? {} : { statistic: metric.statisticName }),
    ...(metric.query.unit === undefined ? {} : { unit: metric.query.unit }),
    period: metric.period,
    recentDatapoints: data.map((p) => p.value).reverse(),
    threshold: metric.threshold,
    evaluatedDatapoints: periods.map((p) =>
      p.missing
        ? { timestamp: cloudWatchTimestamp(p.start) }
        : { timestamp: cloudWatchTimestamp(p.start), sampleCount: p.sampleCount, value: p.value },
    ),
  };
}

/** `[1.7 (12/05/26 06:00:00), 1.4 (12/05/26 05:55:00)]`, newest first. */
function list(periods: readonly DataPeriod[]): string {
  return `[${periods.map((p) => `${javaDouble(p.value)} (${reasonTime(p.start)})`).join(', ')}]`;
}

const were = (n: number) => (n === 1 ? 'was' : 'were');
