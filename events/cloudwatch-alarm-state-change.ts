import * as z from 'zod';
import { eventBridgeEvent } from './envelope.ts';

/**
 * CloudWatch "Alarm State Change", as CloudWatch sends it to the default bus when an alarm changes state.
 * Metric alarms describe what they watch in `configuration.metrics` (a metric, metric math or a Metrics
 * Insights query); composite alarms carry their `alarmRule` (and actions suppressor) instead, and their
 * reason data names the triggering alarms. Loose objects: CloudWatch adds fields over time (`muteDetail`,
 * `actionsSuppressedBy`), and `reasonData` is JSON text whose shape depends on the alarm type.
 */
export const CLOUDWATCH_ALARM_STATE_CHANGE = 'CloudWatch Alarm State Change';

/** The three states of an alarm. */
const alarmStateValue = z.enum(['OK', 'ALARM', 'INSUFFICIENT_DATA']);

const alarmState = z.looseObject({
  value: alarmStateValue,
  reason: z.string(),
  /** JSON text; absent from the initial state ("Unchecked: Initial alarm creation"). */
  reasonData: z.string().optional(),
  /** `2026-05-12T06:00:00.000+0000`. */
  timestamp: z.string().min(1),
  actionsSuppressedBy: z.string().optional(),
  actionsSuppressedReason: z.string().optional(),
});

const metricDataQuery = z.looseObject({
  id: z.string().min(1),
  metricStat: z
    .looseObject({
      metric: z.looseObject({
        namespace: z.string().min(1),
        name: z.string().min(1),
        dimensions: z.record(z.string(), z.string()).optional(),
      }),
      period: z.number().int().positive(),
      stat: z.string().min(1),
      unit: z.string().optional(),
    })
    .optional(),
  expression: z.string().optional(),
  label: z.string().optional(),
  period: z.number().int().positive().optional(),
  returnData: z.boolean(),
});

export const cloudWatchAlarmStateChangeDetail = z.looseObject({
  alarmName: z.string().min(1),
  state: alarmState,
  previousState: alarmState,
  configuration: z.looseObject({
    description: z.string().optional(),
    metrics: z.array(metricDataQuery).optional(),
    alarmRule: z.string().optional(),
    actionsSuppressor: z.string().optional(),
    actionsSuppressorWaitPeriod: z.number().optional(),
    actionsSuppressorExtensionPeriod: z.number().optional(),
  }),
});
export type CloudWatchAlarmStateChangeDetail = z.infer<typeof cloudWatchAlarmStateChangeDetail>;

export const cloudWatchAlarmStateChangeEvent = eventBridgeEvent(
  CLOUDWATCH_ALARM_STATE_CHANGE,
  cloudWatchAlarmStateChangeDetail,
);
export type CloudWatchAlarmStateChangeEvent = z.infer<typeof cloudWatchAlarmStateChangeEvent>;
