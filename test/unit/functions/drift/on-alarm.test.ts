// The function's environment, set before its handler module is imported (it reads it at import).
import '../../../support/env/drift.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidEventError } from '#aws/errors.ts';
import type { DriftWindowResult } from '#contracts/drift/baseline.ts';
import { driftDetectedDetail } from '#events/drift-detected.ts';
import { breachingValue, environment, makeHandler } from '#functions/drift/on-alarm.ts';
import { errorOf } from '../../../support/async.ts';
import { FakeDriftStore } from './support.ts';

const events = mockClient(EventBridgeClient);
const ALARM = 'LlmOpsStack-dev-DriftAlarmsupportembedding4F2A9C1B-1XYZ2ABC3DEF';

/** CloudWatch's reasonData for a 2-of-2 alarm: evaluated datapoints newest first. */
const REASON_DATA = JSON.stringify({
  version: '1.0',
  queryDate: '2026-12-01T12:05:10.512+0000',
  startDate: '2026-12-01T00:00:00.000+0000',
  statistic: 'Maximum',
  period: 21600,
  recentDatapoints: [1.7, 3.25],
  threshold: 1.0,
  evaluatedDatapoints: [
    { timestamp: '2026-12-01T06:00:00.000+0000', sampleCount: 1.0, value: 3.25 },
    { timestamp: '2026-12-01T00:00:00.000+0000', sampleCount: 1.0, value: 1.7 },
  ],
});

/** A "CloudWatch Alarm State Change" as EventBridge delivers it, for the embedding alarm of check `support`. */
function stateChange(
  overrides: {
    value?: string;
    metricName?: string;
    dimensions?: Record<string, string>;
    reasonData?: string;
  } = {},
) {
  return {
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '123456789012',
    time: '2026-12-01T12:05:10Z',
    region: 'us-east-1',
    resources: [`arn:aws:cloudwatch:us-east-1:123456789012:alarm:${ALARM}`],
    detail: {
      alarmName: ALARM,
      state: {
        value: overrides.value ?? 'ALARM',
        reason:
          'Threshold Crossed: 2 out of the last 2 datapoints [3.25 (01/12/26 06:00:00), 1.7 (01/12/26 00:00:00)] were greater than or equal to the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition).',
        reasonData: overrides.reasonData ?? REASON_DATA,
        timestamp: '2026-12-01T12:05:10.514+0000',
      },
      previousState: {
        value: 'OK',
        reason: 'Threshold Crossed: no datapoints were received for 2 periods.',
        timestamp: '2026-11-30T18:05:10.514+0000',
      },
      configuration: {
        description: 'Drift check support: the embedding score was at or above its threshold (1.0)',
        metrics: [
          {
            id: '2c3f1f8e-5d0a-b8a1-7a4c-1a2b3c4d5e6f',
            metricStat: {
              metric: {
                namespace: 'LlmOps',
                name: overrides.metricName ?? 'DriftScore',
                dimensions: overrides.dimensions ?? { Check: 'support', Signal: 'embedding' },
              },
              period: 21600,
              stat: 'Maximum',
            },
            returnData: true,
          },
        ],
      },
    },
  };
}

const checked = (end: string, baseline: number, method: string): DriftWindowResult => ({
  check: 'support',
  window: { start: new Date(Date.parse(end) - 21_600_000).toISOString(), end },
  baseline,
  status: 'checked',
  n: { reference: 200, current: 180 },
  drift: true,
  signals: {
    embedding: { score: 3.25, pValue: 0.0001, threshold: 0.05 / 3, drift: true, insufficient: false, method },
    descriptors: {
      score: 0.4,
      pValue: 0.3,
      threshold: 0.05,
      drift: false,
      insufficient: false,
      method: 'tokens',
    },
    quality: {
      score: 4.76,
      pValue: 6.5e-7,
      threshold: 0.05,
      drift: true,
      insufficient: false,
      method: 'errorRate',
    },
  },
  outcomes: {
    reference: { calls: 200, errors: 2, throttles: 0, guardrailInterventions: 0 },
    current: { calls: 200, errors: 30, throttles: 0, guardrailInterventions: 0 },
  },
  checkedAt: end,
});

const published = () =>
  events.commandCalls(PutEventsCommand).map((call) => {
    const entry = call.args[0].input.Entries?.[0];
    return { ...entry, Detail: driftDetectedDetail.parse(JSON.parse(String(entry?.Detail))) };
  });

describe('on-alarm handler', () => {
  let store: FakeDriftStore;
  const handler = () =>
    makeHandler({
      events: new EventBridgeClient({ region: 'us-east-1' }),
      busName: 'bus',
      store,
      policy: { datapointsToAlarm: 2, evaluationPeriods: 2 },
    });

  beforeEach(async () => {
    events.reset();
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-1' }] });
    store = new FakeDriftStore();
    await store.recordWindow(checked('2026-12-01T06:00:00.000Z', 2, 'centroid'));
    await store.recordWindow(checked('2026-12-01T12:00:00.000Z', 3, 'mmd'));
  });

  it('reads an environment the stack sets', () => {
    expect(Object.keys(environment).sort()).toEqual(['DRIFT_POLICY', 'DRIFT_TABLE', 'EVENT_BUS_NAME']);
  });

  it('turns a drift alarm’s ALARM into one llmops.DriftDetected', async () => {
    const out = await handler()(stateChange());
    const detail = {
      schemaVersion: '1.0',
      alarmName: ALARM,
      check: 'support',
      metric: { namespace: 'LlmOps', name: 'DriftScore', signal: 'embedding' },
      window: {
        end: '2026-12-01T12:00:00.000Z',
        periodSeconds: 21600,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
      },
      value: 3.25,
      threshold: 1,
      baseline: 3,
      method: 'mmd',
      reason: expect.stringMatching(/^Threshold Crossed: 2 out of the last 2 datapoints/),
    };
    expect(out).toEqual({ outcome: 'published', detail });
    expect(published()).toEqual([
      { EventBusName: 'bus', Source: 'llmops', DetailType: 'llmops.DriftDetected', Detail: detail },
    ]);
  });

  it('names the descriptor that decided for the descriptors signal', async () => {
    const out = await handler()(stateChange({ dimensions: { Check: 'support', Signal: 'descriptors' } }));
    expect(out).toMatchObject({
      outcome: 'published',
      detail: { metric: { signal: 'descriptors' }, method: 'tokens' },
    });
  });

  it('turns the quality alarm’s ALARM into llmops.DriftDetected with signal quality and the rate that decided', async () => {
    const alarmName = 'LlmOpsStack-dev-DriftAlarmsupportquality5B3C2D1E-2ABC3DEF4GHI';
    const change = stateChange({ dimensions: { Check: 'support', Signal: 'quality' } });
    change.detail.alarmName = alarmName;
    const out = await handler()(change);
    expect(out).toEqual({
      outcome: 'published',
      detail: expect.objectContaining({
        alarmName,
        check: 'support',
        metric: { namespace: 'LlmOps', name: 'DriftScore', signal: 'quality' },
        window: expect.objectContaining({ end: '2026-12-01T12:00:00.000Z' }),
        value: 3.25,
        threshold: 1,
        baseline: 3,
        method: 'errorRate',
      }),
    });
    const [entry] = published();
    expect(entry).toMatchObject({
      DetailType: 'llmops.DriftDetected',
      Detail: { metric: { signal: 'quality' } },
    });
    expect(driftDetectedDetail.parse(entry?.Detail)).toEqual(entry?.Detail);
  });

  it('takes the window from the transition when the check has no recorded window', async () => {
    const out = await handler()(stateChange({ dimensions: { Check: 'billing', Signal: 'embedding' } }));
    expect(out).toMatchObject({
      outcome: 'published',
      detail: { check: 'billing', window: { end: '2026-12-01T12:05:10.514Z' }, baseline: null, method: null },
    });
    expect(published()).toHaveLength(1);
  });

  it('ignores a transition to OK or INSUFFICIENT_DATA', async () => {
    for (const value of ['OK', 'INSUFFICIENT_DATA']) {
      expect(await handler()(stateChange({ value }))).toEqual({
        outcome: 'ignored',
        reason: 'the alarm did not enter ALARM',
      });
    }
    expect(published()).toEqual([]);
  });

  it('ignores an alarm on another metric, or one that names no check and signal', async () => {
    expect(await handler()(stateChange({ metricName: 'Errors', dimensions: { FunctionName: 'f' } }))).toEqual(
      {
        outcome: 'ignored',
        reason: 'not a drift score alarm',
      },
    );
    expect(await handler()(stateChange({ dimensions: { Check: 'support' } }))).toMatchObject({
      outcome: 'ignored',
    });
    expect(
      await handler()(stateChange({ dimensions: { Check: 'support', Signal: 'latency' } })),
    ).toMatchObject({
      outcome: 'ignored',
    });
    const composite = stateChange();
    (composite.detail.configuration as { metrics?: unknown }).metrics = undefined;
    expect(await handler()(composite)).toMatchObject({
      outcome: 'ignored',
      reason: 'not a drift score alarm',
    });
    expect(published()).toEqual([]);
  });

  it('refuses an event that is not an alarm state change', async () => {
    expect(await errorOf(handler()({ detail: { alarmName: 'x' } }))).toBeInstanceOf(InvalidEventError);
  });

  it('publishes a null value when reasonData tells none', async () => {
    const out = await handler()(stateChange({ reasonData: 'not json' }));
    expect(out).toMatchObject({ outcome: 'published', detail: { value: null } });
  });
});

describe('breachingValue', () => {
  it('is the most recent evaluated datapoint with a value', () => {
    expect(breachingValue(REASON_DATA)).toBe(3.25);
    // A missing datapoint (no value) is skipped.
    expect(
      breachingValue(
        JSON.stringify({
          evaluatedDatapoints: [{ timestamp: 't2' }, { timestamp: 't1', sampleCount: 1, value: 2.5 }],
        }),
      ),
    ).toBe(2.5);
  });

  it('falls back to the largest recent datapoint, else null', () => {
    expect(breachingValue(JSON.stringify({ recentDatapoints: [1.2, 4.5, 0.3] }))).toBe(4.5);
    expect(breachingValue(JSON.stringify({ recentDatapoints: [] }))).toBeNull();
    expect(breachingValue(JSON.stringify({}))).toBeNull();
    expect(breachingValue(undefined)).toBeNull();
    expect(breachingValue('{')).toBeNull();
  });
});
