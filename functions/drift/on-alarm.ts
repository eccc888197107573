import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import { createDocumentClient, createEventBridgeClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { type DriftStore, DynamoDriftStore } from '#aws/drift/drift-store.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { DRIFT_SCORE_METRIC, PAGING_DRIFT_SIGNALS } from '#contracts/drift/baseline.ts';
import { envVar } from '#contracts/env.ts';
import { cloudWatchAlarmStateChangeEvent } from '#events/cloudwatch-alarm-state-change.ts';
import { DRIFT_DETECTED, type DriftDetectedDetail, driftDetectedDetail } from '#events/drift-detected.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { type DriftPolicy, parsePolicy } from './shared.ts';

/**
 * Turns a drift alarm's "CloudWatch Alarm State Change" (the default bus, ALARM) into
 * `llmops.DriftDetected` on the project bus: which check and signal drifted, the score that breached and
 * the threshold, the alarm's M of N, and, from the check's latest recorded window, the baseline version
 * it was compared with and the test that decided. The rule on the default bus matches only the drift
 * alarms' ALARM transitions; anything else that reaches this function is logged and ignored. A
 * redelivered state change puts the event again: its consumers are idempotent on the alarm's
 * transition time (the evaluation it starts has a run id made of it).
 */
export interface OnAlarmDeps {
  readonly events: EventBridgeClient;
  readonly busName: string;
  readonly store: Pick<DriftStore, 'recentWindows'>;
  readonly policy: Pick<DriftPolicy, 'datapointsToAlarm' | 'evaluationPeriods'>;
}

/** The most recent evaluated datapoint of CloudWatch's `reasonData`, when it has one. */
export function breachingValue(reasonData: string | undefined): number | null {
  if (reasonData === undefined) return null;
  try {
    const data = JSON.parse(reasonData) as {
      evaluatedDatapoints?: { value?: unknown }[];
      recentDatapoints?: unknown[];
    };
    const evaluated = data.evaluatedDatapoints?.find((d) => typeof d.value === 'number')?.value;
    if (typeof evaluated === 'number') return evaluated;
    const recent = data.recentDatapoints?.filter((v): v is number => typeof v === 'number');
    return recent && recent.length > 0 ? Math.max(...recent) : null;
  } catch {
    return null;
  }
}

export type OnAlarmResult =
  | { readonly outcome: 'published'; readonly detail: DriftDetectedDetail }
  | { readonly outcome: 'ignored'; readonly reason: string };

export function makeHandler(deps: OnAlarmDeps) {
  return async (input: unknown, _context?: Context): Promise<OnAlarmResult> => {
    const event = parseInput(cloudWatchAlarmStateChangeEvent, input, 'CloudWatch Alarm State Change event');
    const { detail } = event;
    logger.appendKeys({ alarmName: detail.alarmName });
    const ignored = (reason: string): OnAlarmResult => {
      logger.info('Alarm state change ignored', { reason, state: detail.state.value });
      return { outcome: 'ignored', reason };
    };
    if (detail.state.value !== 'ALARM') return ignored('the alarm did not enter ALARM');
    const stat = detail.configuration.metrics?.find((m) => m.metricStat !== undefined)?.metricStat;
    if (stat === undefined || stat.metric.name !== DRIFT_SCORE_METRIC)
      return ignored('not a drift score alarm');
    const check = stat.metric.dimensions?.Check;
    const signal = stat.metric.dimensions?.Signal as (typeof PAGING_DRIFT_SIGNALS)[number] | undefined;
    if (check === undefined || signal === undefined || !PAGING_DRIFT_SIGNALS.includes(signal)) {
      return ignored('the alarm names no check and signal');
    }
    const [latest] = await deps.store.recentWindows(check, 1);
    const windowEnd = latest?.window.end ?? new Date(detail.state.timestamp).toISOString();
    const drifted: DriftDetectedDetail = {
      schemaVersion: SCHEMA_VERSION,
      alarmName: detail.alarmName,
      check,
      metric: { namespace: stat.metric.namespace, name: stat.metric.name, signal },
      window: {
        end: new Date(windowEnd).toISOString(),
        periodSeconds: stat.period,
        evaluationPeriods: deps.policy.evaluationPeriods,
        datapointsToAlarm: deps.policy.datapointsToAlarm,
      },
      value: breachingValue(detail.state.reasonData),
      threshold: 1,
      baseline: latest?.baseline ?? null,
      method: latest?.signals[signal]?.method ?? null,
      reason: detail.state.reason ?? '',
    };
    await publishEvent(deps.events, {
      busName: deps.busName,
      source: LLMOPS_SOURCE,
      detailType: DRIFT_DETECTED,
      schema: driftDetectedDetail,
      detail: drifted,
    });
    metrics.addMetric('DriftDetected', 'Count', 1);
    logger.warn('Drift detected', { check, signal, value: drifted.value, baseline: drifted.baseline });
    return { outcome: 'published', detail: drifted };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  EVENT_BUS_NAME: envVar.string(),
  DRIFT_TABLE: envVar.string(),
  DRIFT_POLICY: envVar.string(),
};

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
    store: new DynamoDriftStore(createDocumentClient(), config.DRIFT_TABLE),
    policy: parsePolicy(config.DRIFT_POLICY),
  }),
);
