import { describe, expect, it } from 'vitest';
import { type AlarmMetric, alarmMetricOf } from '#infra/local/cloudwatch/alarm-metric.ts';
import type { AlarmStateValue } from '#infra/local/cloudwatch/alarm-state.ts';
import { evaluateMetricAlarm } from '#infra/local/cloudwatch/evaluate-metric-alarm.ts';
import { javaDouble, reasonTime } from '#infra/local/cloudwatch/formats.ts';
import { LocalMetricStore } from '#infra/local/cloudwatch/metric-store.ts';
import { parseInsightsQuery } from '#infra/local/cloudwatch/metrics-insights.ts';
import { reduce, statisticOf } from '#infra/local/cloudwatch/statistics.ts';
import type { LocalMetricAlarm } from '#infra/local/cloudwatch/template-alarms.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 4, 12, 6, 0, 0); // 2026-05-12T06:00:00Z, a multiple of every period used here

function alarm(overrides: Partial<LocalMetricAlarm> = {}): LocalMetricAlarm {
  return {
    logicalId: 'ErrorsAlarm',
    name: 'errors',
    arn: 'arn:aws:cloudwatch:us-east-1:000000000000:alarm:errors',
    actionsEnabled: true,
    alarmActions: [],
    okActions: [],
    insufficientDataActions: [],
    namespace: 'LLMOps',
    metricName: 'Errors',
    dimensions: [{ name: 'service', value: 'llmops' }],
    statistic: 'Sum',
    period: 60,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    threshold: 1,
    comparisonOperator: 'GreaterThanOrEqualToThreshold',
    treatMissingData: 'missing',
    ...overrides,
  };
}

function metricOf(a: LocalMetricAlarm): AlarmMetric {
  const metric = alarmMetricOf(a);
  if ('unevaluated' in metric) throw new Error(metric.unevaluated);
  return metric;
}

/** A store with one Errors datapoint per `[minutes after T0, value]`. */
function store(points: ReadonlyArray<readonly [number, number]>, dimensions = { service: 'llmops' }) {
  const s = new LocalMetricStore();
  for (const [minutes, value] of points) {
    s.put({
      namespace: 'LLMOps',
      metricName: 'Errors',
      value,
      dimensions,
      timestamp: new Date(T0 + minutes * MINUTE),
    });
  }
  return s;
}

function evaluate(
  a: LocalMetricAlarm,
  s: LocalMetricStore,
  at: number,
  current: AlarmStateValue = 'INSUFFICIENT_DATA',
) {
  return evaluateMetricAlarm(a, metricOf(a), s, at, current);
}

describe('statistics', () => {
  const values = [4, 1, 10, 3, 2];
  it.each([
    ['SampleCount', 5],
    ['Sum', 20],
    ['Average', 4],
    ['Minimum', 1],
    ['Maximum', 10],
  ])('%s', (name, expected) => {
    const statistic = statisticOf(name, undefined);
    if (typeof statistic === 'string') throw new Error(statistic);
    expect(reduce(statistic, values)).toBe(expected);
  });

  it.each([
    ['p50', 3],
    ['p20', 1],
    ['p90', 10],
    ['p99.9', 10],
    ['p100', 10],
  ])('percentile %s (nearest rank)', (name, expected) => {
    const statistic = statisticOf(undefined, name);
    if (typeof statistic === 'string') throw new Error(statistic);
    expect(reduce(statistic, values)).toBe(expected);
  });

  it('names the statistics it does not evaluate', () => {
    expect(statisticOf('Median', undefined)).toBe('unknown statistic Median');
    expect(statisticOf(undefined, 'tm99')).toBe(
      'extended statistic tm99 is not evaluated locally (only pNN)',
    );
    expect(statisticOf(undefined, undefined)).toBe('neither Statistic nor ExtendedStatistic is set');
  });

  it('evaluates each statistic through an alarm', () => {
    const s = store([
      [0, 4],
      [0.1, 1],
      [0.2, 10],
      [0.3, 3],
      [0.4, 2],
    ]);
    const at = T0 + 59_000;
    const recent = (overrides: Partial<LocalMetricAlarm>) =>
      JSON.parse(evaluate(alarm({ threshold: 100, ...overrides }), s, at).reasonData).recentDatapoints;
    expect(recent({ statistic: 'SampleCount' })).toEqual([5]);
    expect(recent({ statistic: 'Average' })).toEqual([4]);
    expect(recent({ statistic: 'Minimum' })).toEqual([1]);
    expect(recent({ statistic: 'Maximum' })).toEqual([10]);
    expect(recent({ statistic: undefined, extendedStatistic: 'p50' })).toEqual([3]);
  });
});

describe('metric alarm evaluation', () => {
  it('aligns periods to multiples of Period and reads datapoints up to the moment only', () => {
    const a = alarm({ period: 300 });
    // 05:59:59 is in the previous period; 06:04:00 is after the moment.
    const s = store([
      [-1 / 60, 5],
      [4, 7],
    ]);
    const early = evaluate(a, s, T0 + 3 * MINUTE);
    expect(early.state).toBe('INSUFFICIENT_DATA');
    expect(JSON.parse(early.reasonData)).toMatchObject({
      startDate: '2026-05-12T06:00:00.000+0000',
      queryDate: '2026-05-12T06:03:00.000+0000',
      evaluatedDatapoints: [{ timestamp: '2026-05-12T06:00:00.000+0000' }],
    });
    const later = evaluate(a, s, T0 + 4 * MINUTE + 59_000);
    expect(later.state).toBe('ALARM');
    const previous = evaluate(a, s, T0 - 1000);
    expect(previous.state).toBe('ALARM');
    expect(JSON.parse(previous.reasonData).startDate).toBe('2026-05-12T05:55:00.000+0000');
  });

  it('only counts the metric with exactly the alarm dimensions', () => {
    const a = alarm();
    expect(evaluate(a, store([[0, 5]], { service: 'other' }), T0 + 1000).state).toBe('INSUFFICIENT_DATA');
    expect(evaluate(a, store([[0, 5]]), T0 + 1000).state).toBe('ALARM');
  });

  it.each([
    ['GreaterThanOrEqualToThreshold', 1, true],
    ['GreaterThanThreshold', 1, false],
    ['LessThanThreshold', 2, true],
    ['LessThanOrEqualToThreshold', 1, true],
    ['LessThanThreshold', 1, false],
  ])('compares with %s %d', (comparisonOperator, threshold, alarming) => {
    const a = alarm({ comparisonOperator, threshold });
    expect(evaluate(a, store([[0, 1]]), T0 + 1000).state).toBe(alarming ? 'ALARM' : 'OK');
  });

  describe('M out of N with each TreatMissingData (2 out of 3; oldest first; X breaches, 0 does not)', () => {
    const cases: Array<[string, ReadonlyArray<number | null>, Record<string, AlarmStateValue | 'keep'>]> = [
      [
        'X - X',
        [5, null, 5],
        { missing: 'ALARM', ignore: 'ALARM', breaching: 'ALARM', notBreaching: 'ALARM' },
      ],
      ['0 - X', [0, null, 5], { missing: 'OK', ignore: 'OK', breaching: 'ALARM', notBreaching: 'OK' }],
      ['- - X', [null, null, 5], { missing: 'OK', ignore: 'OK', breaching: 'ALARM', notBreaching: 'OK' }],
      ['0 0 X', [0, 0, 5], { missing: 'OK', ignore: 'OK', breaching: 'OK', notBreaching: 'OK' }],
      [
        '- - -',
        [null, null, null],
        { missing: 'INSUFFICIENT_DATA', ignore: 'keep', breaching: 'ALARM', notBreaching: 'OK' },
      ],
    ];
    for (const [label, series, expected] of cases) {
      it.each(Object.entries(expected))(`${label} with %s: %s`, (treatMissingData, state) => {
        const a = alarm({
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          treatMissingData: treatMissingData as LocalMetricAlarm['treatMissingData'],
        });
        const points = series.flatMap((v, i) => (v === null ? [] : [[i, v] as const]));
        const verdict = evaluate(a, store(points), T0 + 2 * MINUTE + 30_000, 'OK');
        expect(verdict.state ?? 'keep').toBe(state);
      });
    }
  });

  it('defaults DatapointsToAlarm to EvaluationPeriods (read from the template)', () => {
    const a = alarm({ evaluationPeriods: 2, datapointsToAlarm: 2 });
    expect(evaluate(a, store([[1, 5]]), T0 + MINUTE + 1000).state).toBe('OK');
    expect(
      evaluate(
        a,
        store([
          [0, 5],
          [1, 5],
        ]),
        T0 + MINUTE + 1000,
      ).state,
    ).toBe('ALARM');
  });

  it('explains the state as CloudWatch does', () => {
    const a = alarm({ period: 300, evaluationPeriods: 2, datapointsToAlarm: 2 });
    const s = store([
      [0, 1.4],
      [5, 1.7],
    ]);
    const verdict = evaluate(a, s, T0 + 6 * MINUTE, 'OK');
    expect(verdict.reason).toBe(
      'Threshold Crossed: 2 out of the last 2 datapoints [1.7 (12/05/26 06:05:00), 1.4 (12/05/26 06:00:00)] ' +
        'were greater than or equal to the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition).',
    );
    expect(JSON.parse(verdict.reasonData)).toEqual({
      version: '1.0',
      queryDate: '2026-05-12T06:06:00.000+0000',
      startDate: '2026-05-12T06:00:00.000+0000',
      statistic: 'Sum',
      period: 300,
      recentDatapoints: [1.4, 1.7],
      threshold: 1,
      evaluatedDatapoints: [
        { timestamp: '2026-05-12T06:05:00.000+0000', sampleCount: 1, value: 1.7 },
        { timestamp: '2026-05-12T06:00:00.000+0000', sampleCount: 1, value: 1.4 },
      ],
    });
    const ok = evaluate(a, store([[5, 0.5]]), T0 + 6 * MINUTE, 'ALARM');
    expect(ok.reason).toBe(
      'Threshold Crossed: 1 out of the last 2 datapoints [0.5 (12/05/26 06:05:00)] was not greater than or ' +
        'equal to the threshold (1.0) (minimum 1 datapoint for ALARM -> OK transition).',
    );
    const quiet = evaluate({ ...a, treatMissingData: 'notBreaching' }, store([]), T0, 'INSUFFICIENT_DATA');
    expect(quiet.reason).toBe(
      'Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [NonBreaching].',
    );
    expect(evaluate(a, store([]), T0).reason).toBe('Insufficient Data: 2 datapoints were unknown.');
    const short = evaluate(a, store([[5, 3]]), T0 + 6 * MINUTE, 'INSUFFICIENT_DATA');
    expect(short.state).toBe('OK');
    expect(short.reason).toBe(
      'Threshold Crossed: 1 out of the last 2 datapoints [3.0 (12/05/26 06:05:00)] was greater than or equal ' +
        'to the threshold (1.0) and 1 datapoint was missing (minimum 2 datapoints for ALARM).',
    );
    const mixed = evaluate({ ...a, treatMissingData: 'breaching' }, store([[5, 3]]), T0 + 6 * MINUTE, 'OK');
    expect(mixed.reason).toBe(
      'Threshold Crossed: 1 out of the last 2 datapoints [3.0 (12/05/26 06:05:00)] was greater than or equal ' +
        'to the threshold (1.0) and 1 missing datapoint was treated as [Breaching] (minimum 2 datapoints for ' +
        'OK -> ALARM transition).',
    );
  });
});

describe('what a metric alarm watches', () => {
  it('evaluates a simple Metrics Insights query across dimension values', () => {
    const a = alarm({
      namespace: undefined,
      metricName: undefined,
      dimensions: [],
      statistic: undefined,
      period: undefined,
      threshold: 10,
      metrics: [
        { id: 'expr_1', expression: 'SELECT SUM(Errors) FROM "LLMOps"', period: 300, returnData: true },
      ],
    });
    const s = new LocalMetricStore();
    for (const app of ['a', 'b']) {
      for (let i = 0; i < 5; i++) {
        s.put({
          namespace: 'LLMOps',
          metricName: 'Errors',
          value: 1,
          dimensions: { App: app },
          timestamp: new Date(T0),
        });
      }
    }
    s.put({ namespace: 'Other', metricName: 'Errors', value: 100, timestamp: new Date(T0) });
    const verdict = evaluate(a, s, T0 + 1000);
    expect(verdict.state).toBe('ALARM');
    expect(JSON.parse(verdict.reasonData)).not.toHaveProperty('statistic');
    const max = alarm({
      ...a,
      threshold: 1,
      metrics: [
        {
          id: 'q',
          expression: "select max(Errors) from LLMOps where App = 'b' and Zone = 'z'",
          period: 60,
          returnData: true,
        },
      ],
    });
    expect(evaluate(max, s, T0 + 1000).state).toBe('INSUFFICIENT_DATA');
    s.put({
      namespace: 'LLMOps',
      metricName: 'Errors',
      value: 2,
      dimensions: { App: 'b', Zone: 'z', X: 'x' },
      timestamp: new Date(T0),
    });
    expect(evaluate(max, s, T0 + 1000).state).toBe('ALARM');
  });

  it('parses the supported query form and rejects the rest with the position', () => {
    expect(parseInsightsQuery(`SELECT AVG("Latency") FROM "LLMOps" WHERE Model = 'haiku'`)).toEqual({
      statistic: 'Average',
      metricName: 'Latency',
      namespace: 'LLMOps',
      where: { Model: 'haiku' },
    });
    expect(parseInsightsQuery('SELECT COUNT(M) FROM N').statistic).toBe('SampleCount');
    expect(() => parseInsightsQuery('SELECT SUM(M) FROM "N" GROUP BY Model')).toThrow(
      /Expected WHERE .* at position 23/,
    );
    expect(() => parseInsightsQuery('SELECT SUM(M) FROM SCHEMA("N", Model)')).toThrow(
      /SCHEMA\(\) is not supported/,
    );
    expect(() => parseInsightsQuery("SELECT SUM(M) FROM N WHERE Model != 'x'")).toThrow(/Expected '='/);
    expect(() => parseInsightsQuery('SELECT STDDEV(M) FROM N')).toThrow(/Expected an aggregate function/);
  });

  it('evaluates Metrics holding a single MetricStat like a one-metric alarm', () => {
    const a = alarm({
      namespace: undefined,
      metricName: undefined,
      statistic: undefined,
      period: undefined,
      metrics: [
        {
          id: 'm1',
          returnData: true,
          metricStat: {
            namespace: 'LLMOps',
            metricName: 'Errors',
            dimensions: [{ name: 'service', value: 'llmops' }],
            period: 60,
            stat: 'p90',
          },
        },
      ],
    });
    expect(evaluate(a, store([[0, 5]]), T0 + 1000).state).toBe('ALARM');
  });

  it('names why an alarm is left to AWS', () => {
    const unevaluated = (overrides: Partial<LocalMetricAlarm>) => alarmMetricOf(alarm(overrides));
    expect(
      unevaluated({
        thresholdMetricId: 'ad1',
        comparisonOperator: 'LessThanLowerOrGreaterThanUpperThreshold',
      }),
    ).toEqual({
      unevaluated: 'its threshold is an anomaly detection band (ad1)',
    });
    expect(unevaluated({ comparisonOperator: 'GreaterThanUpperThreshold' })).toEqual({
      unevaluated: 'comparison GreaterThanUpperThreshold is not static',
    });
    expect(
      unevaluated({
        metrics: [
          { id: 'e1', expression: 'm1 + m2', returnData: true },
          { id: 'm1', returnData: false },
        ],
      }),
    ).toEqual({ unevaluated: 'metric math (m1 + m2)' });
    expect(
      unevaluated({ metrics: [{ id: 'e1', expression: 'SELECT SUM(M) FROM N', returnData: true }] }),
    ).toEqual({
      unevaluated: 'the query SELECT SUM(M) FROM N has no Period',
    });
    expect(
      unevaluated({
        metrics: [
          { id: 'e1', expression: 'SELECT SUM(M) FROM N ORDER BY SUM()', period: 60, returnData: true },
        ],
      }),
    ).toMatchObject({ unevaluated: expect.stringMatching(/^Metrics Insights: Expected WHERE/) });
    expect(unevaluated({ statistic: undefined, extendedStatistic: 'tm90' })).toEqual({
      unevaluated: 'extended statistic tm90 is not evaluated locally (only pNN)',
    });
  });
});

describe('CloudWatch formats', () => {
  it('writes numbers as Java doubles and reason times as dd/MM/yy', () => {
    expect([1, 1.5, 0, -2, 45628, 1.50785441792e10, 0.0001, 1e21].map(javaDouble)).toEqual([
      '1.0',
      '1.5',
      '0.0',
      '-2.0',
      '45628.0',
      '1.50785441792E10',
      '1.0E-4',
      '1.0E21',
    ]);
    expect(reasonTime(Date.UTC(2019, 9, 2, 16, 59, 0))).toBe('02/10/19 16:59:00');
  });
});
