// The function's environment, set before its handler module is imported (it reads it at import).
import '../../../support/env/drift.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { ConfigError, InvalidEventError } from '#aws/errors.ts';
import { evaluationRunRequest } from '#contracts/evaluation/run.ts';
import { driftRunId } from '#core/drift/run-id.ts';
import type { DriftDetectedDetail } from '#events/drift-detected.ts';
import { evaluationRequestedDetail } from '#events/evaluation-requested.ts';
import {
  checkRequestsOf,
  environment,
  makeHandler,
  runRequestOf,
} from '#functions/drift/start-evaluation.ts';
import { errorOf } from '../../../support/async.ts';

const events = mockClient(EventBridgeClient);
const ALARM = 'LlmOpsStack-dev-DriftAlarmsupportembedding4F2A9C1B-1XYZ2ABC3DEF';
const REQUEST = runRequestOf(
  JSON.stringify({ suite: 'support-golden', prompt: 'support@production', maxItems: 50, k: 1 }),
);

function driftDetected(overrides: Partial<DriftDetectedDetail> = {}) {
  const detail: DriftDetectedDetail = {
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
    reason: 'Threshold Crossed',
    ...overrides,
  };
  return {
    version: '0',
    id: 'event-1',
    'detail-type': 'llmops.DriftDetected',
    source: 'llmops',
    account: '123456789012',
    time: '2026-12-01T12:05:11Z',
    region: 'us-east-1',
    resources: [],
    detail,
  };
}

const published = () =>
  events.commandCalls(PutEventsCommand).map((call) => {
    const entry = call.args[0].input.Entries?.[0];
    return { ...entry, Detail: evaluationRequestedDetail.parse(JSON.parse(String(entry?.Detail))) };
  });

describe('runRequestOf', () => {
  it('turns drift.onDrift into the run request of an evaluation', () => {
    const request = runRequestOf(
      JSON.stringify({
        suite: 'support-golden',
        prompt: 'support@production',
        model: 'nova-lite',
        maxItems: 100,
        k: 3,
        ragK: 4,
      }),
    );
    expect(request).toEqual({
      suite: 'support-golden',
      target: { prompt: 'support@production', model: 'nova-lite' },
      maxItems: 100,
      k: 3,
      rag: { k: 4 },
    });
    expect(z.safeParse(evaluationRunRequest, request).success).toBe(true);
  });

  it('leaves out what is not asked for', () => {
    const request = runRequestOf(
      JSON.stringify({ suite: 'support-golden', model: 'nova-lite', maxItems: 20, k: 1 }),
    );
    expect(request).toEqual({ suite: 'support-golden', target: { model: 'nova-lite' }, maxItems: 20, k: 1 });
    expect(z.safeParse(evaluationRunRequest, request).success).toBe(true);
    expect(z.safeParse(evaluationRunRequest, REQUEST).success).toBe(true);
  });

  it('refuses a setting that is not JSON or not the shape, as a ConfigError', () => {
    expect(() => runRequestOf('{')).toThrow(ConfigError);
    expect(() => runRequestOf('{')).toThrow('DRIFT_EVALUATION is not JSON');
    expect(() => runRequestOf(JSON.stringify({ suite: 'support-golden', maxItems: 1.5, k: 1 }))).toThrow(
      /^DRIFT_EVALUATION: /,
    );
    expect(() => runRequestOf(JSON.stringify({ prompt: 'support@production', maxItems: 1, k: 1 }))).toThrow(
      ConfigError,
    );
  });
});

describe('checkRequestsOf', () => {
  it("turns each check's own onDrift into its run request, by check name", () => {
    const byCheck = checkRequestsOf(
      JSON.stringify({
        'tuned-traffic': { suite: 'golden', model: 'tuned-assistant', maxItems: 20, k: 1 },
        support: { suite: 'support-golden', prompt: 'support@production', maxItems: 50, k: 1, ragK: 4 },
      }),
    );
    expect(byCheck).toEqual({
      'tuned-traffic': { suite: 'golden', target: { model: 'tuned-assistant' }, maxItems: 20, k: 1 },
      support: {
        suite: 'support-golden',
        target: { prompt: 'support@production' },
        maxItems: 50,
        k: 1,
        rag: { k: 4 },
      },
    });
    for (const request of Object.values(byCheck)) {
      expect(z.safeParse(evaluationRunRequest, request).success).toBe(true);
    }
  });

  it('refuses a map that is not JSON or holds a setting of the wrong shape, naming the variable', () => {
    expect(() => checkRequestsOf('[')).toThrow('DRIFT_CHECK_EVALUATIONS is not JSON');
    expect(() => checkRequestsOf(JSON.stringify({ support: { suite: 'golden', k: 1 } }))).toThrow(
      /^DRIFT_CHECK_EVALUATIONS: /,
    );
  });
});

describe('start-evaluation handler', () => {
  const handler = () =>
    makeHandler({ events: new EventBridgeClient({ region: 'us-east-1' }), busName: 'bus', request: REQUEST });

  beforeEach(() => {
    events.reset();
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-2' }] });
  });

  it('reads an environment the stack sets', () => {
    expect(Object.keys(environment).sort()).toEqual([
      'DRIFT_CHECK_EVALUATIONS',
      'DRIFT_EVALUATION',
      'EVENT_BUS_NAME',
    ]);
  });

  it('requests the evaluation of production, with trigger drift and the run id of the transition', async () => {
    const out = await handler()(driftDetected());
    const runId = driftRunId('support', '2026-12-01T12:00:00.000Z');
    expect(out).toEqual({ runId, check: 'support' });
    expect(published()).toEqual([
      {
        EventBusName: 'bus',
        Source: 'llmops',
        DetailType: 'llmops.EvaluationRequested',
        Detail: {
          schemaVersion: '1.0',
          runId,
          trigger: 'drift',
          requestedBy: `drift:${ALARM}`,
          request: REQUEST,
        },
      },
    ]);
  });

  it('names the same run on a redelivered DriftDetected', async () => {
    const first = await handler()(driftDetected());
    const again = await handler()(driftDetected({ value: 2.9 }));
    expect(again).toEqual(first);
    expect(published().map((p) => p.Detail.runId)).toEqual([first.runId, first.runId]);
  });

  it("starts the check's own evaluation when it names one, and the default one for the other checks", async () => {
    const LINE_REQUEST = { suite: 'golden', target: { model: 'tuned-assistant' }, maxItems: 20, k: 1 };
    const perCheck = makeHandler({
      events: new EventBridgeClient({ region: 'us-east-1' }),
      busName: 'bus',
      request: REQUEST,
      byCheck: { 'tuned-traffic': LINE_REQUEST },
    });
    const tuned = await perCheck(driftDetected({ check: 'tuned-traffic' }));
    const support = await perCheck(driftDetected({ check: 'support' }));
    expect(tuned).toEqual({
      runId: driftRunId('tuned-traffic', '2026-12-01T12:00:00.000Z'),
      check: 'tuned-traffic',
    });
    expect(published().map((p) => [p.Detail.runId, p.Detail.request])).toEqual([
      [tuned.runId, LINE_REQUEST],
      [support.runId, REQUEST],
    ]);
  });

  it('starts nothing for a check with no evaluation of its own and no default, and says why', async () => {
    const only = makeHandler({
      events: new EventBridgeClient({ region: 'us-east-1' }),
      busName: 'bus',
      byCheck: { 'tuned-traffic': REQUEST },
    });
    expect(await only(driftDetected({ check: 'support' }))).toEqual({
      runId: null,
      check: 'support',
      reason:
        'drift check support names no evaluation (no onDrift of its own, no drift.onDrift): nothing started',
    });
    expect(published()).toEqual([]);
  });

  it('refuses an event that is not llmops.DriftDetected', async () => {
    const wrong = { ...driftDetected(), 'detail-type': 'llmops.DriftCheckRequested' };
    expect(await errorOf(handler()(wrong))).toBeInstanceOf(InvalidEventError);
    expect(published()).toEqual([]);
  });
});
