import * as z from 'zod';
import { eventBridgeEvent, SCHEMA_VERSION } from './envelope.ts';

export const DRIFT_DETECTED = 'llmops.DriftDetected';

/**
 * `llmops.DriftDetected`: a drift alarm entered ALARM. Put by the drift alarm handler from CloudWatch's
 * own "Alarm State Change" event (so on-call's page and this event tell the same story); a rule starts
 * the evaluation of production it asks for (`drift.onDrift`), and the closed loop reads it. The values
 * are the check's normalized scores (1.0 = the threshold), taken from the alarm's evaluation.
 */
export const driftDetectedDetail = z.object({
  schemaVersion: z.literal(SCHEMA_VERSION),
  /** The alarm, as CloudWatch names it. */
  alarmName: z.string().min(1),
  /** The drift check and the signal that drifted. */
  check: z.string().min(1),
  metric: z.object({
    namespace: z.string().min(1),
    name: z.string().min(1),
    signal: z.enum(['embedding', 'descriptors', 'quality', 'feedback']),
  }),
  /** The windows the alarm evaluated: M breaching out of N periods of `periodSeconds`. */
  window: z.object({
    end: z.iso.datetime(),
    periodSeconds: z.number().int().positive(),
    evaluationPeriods: z.number().int().positive(),
    datapointsToAlarm: z.number().int().positive(),
  }),
  /** The most recent breaching score, and the threshold (1.0). */
  value: z.number().nullable(),
  threshold: z.number(),
  /** The baseline version the latest window was compared with (from the check's record), when known. */
  baseline: z.number().int().positive().nullable(),
  /**
   * The test that decided the latest window (an embedding method, a descriptor, a rate or the online
   * judge's `judgeAnswerRelevance`), when known.
   */
  method: z.string().nullable(),
  /** CloudWatch's reason for the transition. */
  reason: z.string(),
});
export type DriftDetectedDetail = z.infer<typeof driftDetectedDetail>;

export const driftDetectedEvent = eventBridgeEvent(DRIFT_DETECTED, driftDetectedDetail);
