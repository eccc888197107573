import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EmfDocument, parseEmf } from '#infra/local/cloudwatch/emf.ts';
import { captureEmf, NO_METRICS_WARNING } from '#infra/local/cloudwatch/emf-capture.ts';
import { LocalMetricStore } from '#infra/local/cloudwatch/metric-store.ts';

const T = 1_778_565_600_000; // 2026-05-12T06:00:00Z

/** Powertools' own flag (read from POWERTOOLS_METRICS_DISABLED by the constructor). */
const disabled = (metrics: Metrics) => (metrics as unknown as { disabled: boolean }).disabled;

const emf = (root: Record<string, unknown>, meta: Record<string, unknown> = {}) =>
  JSON.stringify({ _aws: { Timestamp: T, ...meta }, ...root });

describe('parseEmf', () => {
  it('makes one datapoint per value and dimension set', () => {
    const line = emf(
      { service: 'llmops', Model: 'haiku', Latency: [12, 30], Tokens: 7 },
      {
        CloudWatchMetrics: [
          {
            Namespace: 'LLMOps',
            Dimensions: [['service'], ['service', 'Model'], []],
            Metrics: [{ Name: 'Latency', Unit: 'Milliseconds' }, { Name: 'Tokens' }],
          },
        ],
      },
    );
    const doc = parseEmf(line);
    expect(doc?.problems).toEqual([]);
    const points = doc?.datapoints.map((d) => [d.metricName, d.dimensions, d.value, d.unit]);
    expect(points).toEqual([
      ['Latency', { service: 'llmops' }, 12, 'Milliseconds'],
      ['Latency', { service: 'llmops' }, 30, 'Milliseconds'],
      ['Latency', { service: 'llmops', Model: 'haiku' }, 12, 'Milliseconds'],
      ['Latency', { service: 'llmops', Model: 'haiku' }, 30, 'Milliseconds'],
      ['Latency', {}, 12, 'Milliseconds'],
      ['Latency', {}, 30, 'Milliseconds'],
      ['Tokens', { service: 'llmops' }, 7, 'None'],
      ['Tokens', { service: 'llmops', Model: 'haiku' }, 7, 'None'],
      ['Tokens', {}, 7, 'None'],
    ]);
    expect(doc?.datapoints.every((d) => d.namespace === 'LLMOps' && d.timestamp.getTime() === T)).toBe(true);
  });

  it('reads several directives of one document', () => {
    const line = emf(
      { A: 1, B: 2 },
      {
        CloudWatchMetrics: [
          { Namespace: 'One', Dimensions: [[]], Metrics: [{ Name: 'A' }] },
          { Namespace: 'Two', Dimensions: [[]], Metrics: [{ Name: 'B' }] },
        ],
      },
    );
    expect(parseEmf(line)?.datapoints.map((d) => `${d.namespace}/${d.metricName}=${d.value}`)).toEqual([
      'One/A=1',
      'Two/B=2',
    ]);
  });

  it('says a line is no EMF document when it is not JSON with an _aws object', () => {
    expect(parseEmf('plain text mentioning "_aws"')).toBeUndefined();
    expect(parseEmf('{"level":"INFO","message":"no metrics"}')).toBeUndefined();
    expect(parseEmf('{"_aws": 3, "x": 1}')).toBeUndefined();
    expect(parseEmf('{"_aws": {"Timestamp": 1,')).toBeUndefined();
  });

  it('ignores a document that breaks the specification, naming the problems', () => {
    const directive = { Namespace: 'N', Dimensions: [['service']], Metrics: [{ Name: 'M' }] };
    const cases: Array<[string, string]> = [
      [emf({ service: 's', M: 1 }, { Timestamp: 'now', CloudWatchMetrics: [directive] }), '_aws.Timestamp'],
      [emf({ service: 's', M: 1 }, { CloudWatchMetrics: {} }), 'must be an array of metric directives'],
      [emf({ M: 1 }, { CloudWatchMetrics: [directive] }), 'dimension "service" has no string value'],
      [
        emf({ service: 3, M: 1 }, { CloudWatchMetrics: [directive] }),
        'dimension "service" has no string value',
      ],
      [emf({ service: 's', M: 'one' }, { CloudWatchMetrics: [directive] }), 'metric M must have a number'],
      [emf({ service: 's', M: [1, '2'] }, { CloudWatchMetrics: [directive] }), 'metric M must have a number'],
      [emf({ service: 's' }, { CloudWatchMetrics: [directive] }), 'metric M must have a number'],
      [emf({ service: 's', M: 1 }, { CloudWatchMetrics: [{ ...directive, Namespace: '' }] }), 'Namespace'],
      [emf({ service: 's', M: 1 }, { CloudWatchMetrics: [{ ...directive, Dimensions: [] }] }), 'non-empty'],
      [emf({ service: 's', M: 1 }, { CloudWatchMetrics: [{ ...directive, Metrics: [{}] }] }), 'with a Name'],
    ];
    for (const [line, problem] of cases) {
      const doc = parseEmf(line);
      expect(doc?.datapoints, line).toEqual([]);
      expect(doc?.problems.join('\n'), line).toContain(problem);
    }
  });
});

describe('LocalMetricStore', () => {
  it('finds a metric by its exact dimensions, or every metric that includes some', () => {
    const store = new LocalMetricStore();
    const at = new Date(T);
    store.put(
      { namespace: 'N', metricName: 'M', value: 1, timestamp: at },
      { namespace: 'N', metricName: 'M', value: 2, dimensions: { A: 'a' }, timestamp: at },
      {
        namespace: 'N',
        metricName: 'M',
        value: 3,
        dimensions: { A: 'a', B: 'b' },
        timestamp: at,
        unit: 'Count',
      },
      { namespace: 'Other', metricName: 'M', value: 4, dimensions: { A: 'a' }, timestamp: at },
    );
    const values = (query: Parameters<LocalMetricStore['datapoints']>[0]) =>
      store.datapoints(query).map((d) => d.value);
    expect(values({ metricName: 'M' })).toEqual([1, 2, 3, 4]);
    expect(values({ namespace: 'N', metricName: 'M', dimensions: {} })).toEqual([1]);
    expect(values({ namespace: 'N', metricName: 'M', dimensions: { A: 'a' } })).toEqual([2]);
    expect(
      values({ namespace: 'N', metricName: 'M', dimensions: { A: 'a' }, dimensionMatch: 'include' }),
    ).toEqual([2, 3]);
    expect(values({ namespace: 'N', metricName: 'M', unit: 'Count' })).toEqual([3]);
    expect(store.datapoints({ metricName: 'M', dimensions: {} })[0]).toMatchObject({ unit: 'None' });
    expect(() => store.put({ namespace: 'N', metricName: 'M', value: Number.NaN })).toThrow(RangeError);
  });
});

describe('captureEmf', () => {
  const realStdout = process.stdout.write;
  const realStderr = process.stderr.write;
  let stdout: string[];
  let stderr: string[];

  // Spies installed before any capture: what a capture passes on reaches them, as it would the terminal.
  beforeEach(() => {
    stdout = [];
    stderr = [];
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      stdout.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
  });

  afterEach(() => {
    process.stdout.write = realStdout;
    process.stderr.write = realStderr;
  });

  it('publishes what disabled Powertools instances emit into the sink, never to stdout, until released', () => {
    // Constructed before the capture, with POWERTOOLS_METRICS_DISABLED=true (test/support/setup-env.ts).
    const metrics = new Metrics({ namespace: 'LLMOps', serviceName: 'svc' });
    expect(disabled(metrics)).toBe(true);
    const documents: EmfDocument[] = [];
    const stop = captureEmf({ onDocument: (d) => documents.push(d) });

    metrics.addMetric('Hits', 'Count', 2);
    metrics.addMetric('Hits', 'Count', 3);
    metrics.publishStoredMetrics();
    const single = metrics.singleMetric();
    single.addDimension('Route', '/v1/chat');
    single.addMetric('Latency', 'Milliseconds', 12);
    process.stdout.write('an ordinary line\n');
    metrics.publishStoredMetrics(); // nothing stored: Powertools warns on stderr
    process.stderr.write('an ordinary error\n');
    stop();

    expect(disabled(metrics)).toBe(true);
    metrics.addMetric('Hits', 'Count', 1);
    metrics.publishStoredMetrics(); // disabled again: prints nothing
    metrics.publishStoredMetrics(); // the warning, no longer swallowed
    expect(stdout).toEqual(['an ordinary line\n']);
    expect(stderr).toEqual(['an ordinary error\n', `${NO_METRICS_WARNING}\n`]);
    expect(documents.flatMap((d) => d.datapoints).map((d) => [d.metricName, d.value, d.dimensions])).toEqual([
      ['Hits', 2, { service: 'svc' }],
      ['Hits', 3, { service: 'svc' }],
      ['Latency', 12, { service: 'svc', Route: '/v1/chat' }],
    ]);
  });

  it('passes other lines of a write through, Buffers included, and calls back when all is swallowed', () => {
    const documents: EmfDocument[] = [];
    const stop = captureEmf({ onDocument: (d) => documents.push(d) });
    const doc = emf(
      { M: 1 },
      { CloudWatchMetrics: [{ Namespace: 'N', Dimensions: [[]], Metrics: [{ Name: 'M' }] }] },
    );
    let calledBack = false;
    process.stdout.write(`${doc}\n`, () => {
      calledBack = true;
    });
    process.stdout.write(Buffer.from(`before\n${doc}\nafter "_aws"\n`));
    process.stdout.write(`${emf({}, { CloudWatchMetrics: 'bad' })}\n`);
    stop();
    return new Promise<void>((resolve) => {
      process.nextTick(() => {
        expect(calledBack).toBe(true);
        expect(stdout).toEqual(['before\nafter "_aws"\n']);
        expect(documents.map((d) => [d.datapoints.length, d.problems.length])).toEqual([
          [1, 0],
          [1, 0],
          [0, 1],
        ]);
        resolve();
      });
    });
  });

  it('keeps capturing until the last of nested captures is released, then restores the streams', () => {
    const spy = process.stdout.write;
    const first: EmfDocument[] = [];
    const second: EmfDocument[] = [];
    const stopFirst = captureEmf({ onDocument: (d) => first.push(d) });
    const stopSecond = captureEmf({ onDocument: (d) => second.push(d) });
    const doc = `${emf({ M: 1 }, { CloudWatchMetrics: [{ Namespace: 'N', Dimensions: [[]], Metrics: [{ Name: 'M' }] }] })}\n`;
    process.stdout.write(doc);
    stopFirst();
    stopFirst();
    process.stdout.write(doc);
    stopSecond();
    expect([first.length, second.length]).toEqual([1, 2]);
    expect(process.stdout.write).toBe(spy);
    process.stdout.write(doc);
    expect(stdout).toEqual([doc]);
  });
});
