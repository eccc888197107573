/**
 * What CloudWatch sends when an alarm changes state, shaped as AWS sends it: the "CloudWatch Alarm State
 * Change" event for the default bus (with the alarm's configuration: its metrics, or a composite alarm's
 * rule), and the subject and JSON message it publishes to an SNS topic among the alarm's actions
 * (`ALARM: "name" in US East (N. Virginia)`; `AlarmName`, `NewStateValue`, `Trigger`, ...).
 */
import { randomUUID } from 'node:crypto';
import { CLOUDWATCH_ALARM_STATE_CHANGE } from '#events/cloudwatch-alarm-state-change.ts';
import type { EventEnvelope } from '../local-eventbridge.ts';
import { fakeUuid } from '../template/physical-names.ts';
import type { AlarmState } from './alarm-state.ts';
import { cloudWatchTimestamp, eventTime } from './formats.ts';
import type {
  LocalAlarmBase,
  LocalCompositeAlarm,
  LocalDimension,
  LocalMetricAlarm,
  LocalMetricDataQuery,
} from './template-alarms.ts';

/** Where and when a state change happens. */
export interface ChangeContext {
  readonly account: string;
  readonly region: string;
  /** Epoch milliseconds of the change. */
  readonly at: number;
}

/** A child alarm of a composite alarm, as its reason data and notification name it. */
export interface TriggeringAlarm {
  readonly arn: string;
  readonly state: AlarmState;
}

/** SNS subject lines are at most 100 characters; CloudWatch shortens the alarm name to fit. */
const MAX_SUBJECT = 100;

const REGION_NAMES: Readonly<Record<string, string>> = {
  'us-east-1': 'US East (N. Virginia)',
  'us-east-2': 'US East (Ohio)',
  'us-west-1': 'US West (N. California)',
  'us-west-2': 'US West (Oregon)',
  'eu-west-1': 'EU (Ireland)',
  'eu-west-2': 'EU (London)',
  'eu-central-1': 'EU (Frankfurt)',
  'ap-northeast-1': 'Asia Pacific (Tokyo)',
  'ap-southeast-2': 'Asia Pacific (Sydney)',
};

/** The "CloudWatch Alarm State Change" event of a transition. */
export function stateChangeEvent(
  alarm: LocalAlarmBase,
  state: AlarmState,
  previous: AlarmState,
  configuration: Record<string, unknown>,
  context: ChangeContext,
): EventEnvelope {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': CLOUDWATCH_ALARM_STATE_CHANGE,
    source: 'aws.cloudwatch',
    account: context.account,
    time: eventTime(context.at),
    region: context.region,
    resources: [alarm.arn],
    detail: {
      alarmName: alarm.name,
      state: eventState(state),
      previousState: eventState(previous),
      configuration,
    },
  };
}

/** A metric alarm's `configuration`: its description and what it watches. */
export function metricAlarmConfiguration(alarm: LocalMetricAlarm): Record<string, unknown> {
  const metrics =
    alarm.metrics === undefined
      ? [
          {
            id: fakeUuid(`${alarm.arn}/metric`),
            metricStat: {
              metric: {
                namespace: alarm.namespace,
                name: alarm.metricName,
                dimensions: Object.fromEntries(alarm.dimensions.map((d) => [d.name, d.value])),
              },
              period: alarm.period,
              stat: alarm.statistic ?? alarm.extendedStatistic,
              ...(alarm.unit === undefined ? {} : { unit: alarm.unit }),
            },
            returnData: true,
          },
        ]
      : alarm.metrics.map(eventMetric);
  return { ...(alarm.description === undefined ? {} : { description: alarm.description }), metrics };
}

/** A composite alarm's `configuration`: its rule and actions suppressor. */
export function compositeAlarmConfiguration(alarm: LocalCompositeAlarm): Record<string, unknown> {
  return {
    alarmRule: alarm.alarmRule,
    ...(alarm.description === undefined ? {} : { description: alarm.description }),
    ...(alarm.actionsSuppressor === undefined ? {} : { actionsSuppressor: alarm.actionsSuppressor }),
    ...(alarm.actionsSuppressorWaitPeriod === undefined
      ? {}
      : { actionsSuppressorWaitPeriod: alarm.actionsSuppressorWaitPeriod }),
    ...(alarm.actionsSuppressorExtensionPeriod === undefined
      ? {}
      : { actionsSuppressorExtensionPeriod: alarm.actionsSuppressorExtensionPeriod }),
  };
}

/** The subject CloudWatch gives its SNS notification: `ALARM: "name" in US East (N. Virginia)`. */
export function notificationSubject(alarmName: string, state: AlarmState, region: string): string {
  const prefix = `${state.value}: "`;
  const suffix = `" in ${regionName(region)}`;
  const room = MAX_SUBJECT - prefix.length - suffix.length;
  const name = alarmName.length <= room ? alarmName : `${alarmName.slice(0, Math.max(0, room - 3))}...`;
  return `${prefix}${name}${suffix}`;
}

/** The JSON message CloudWatch publishes to SNS for a metric alarm's state change. */
export function metricAlarmMessage(
  alarm: LocalMetricAlarm,
  state: AlarmState,
  previous: AlarmState,
  context: ChangeContext & { readonly createdAt: number },
): string {
  const common = {
    Period:
      alarm.period ??
      alarm.metrics?.map((m) => m.period ?? m.metricStat?.period).find((p) => p !== undefined),
    EvaluationPeriods: alarm.evaluationPeriods,
    DatapointsToAlarm: alarm.datapointsToAlarm,
    ComparisonOperator: alarm.comparisonOperator,
    Threshold: alarm.threshold,
    TreatMissingData: alarm.treatMissingData,
    EvaluateLowSampleCountPercentile: '',
  };
  const trigger =
    alarm.metrics === undefined
      ? {
          MetricName: alarm.metricName,
          Namespace: alarm.namespace,
          StatisticType: alarm.statistic === undefined ? 'ExtendedStatistic' : 'Statistic',
          ...(alarm.statistic === undefined
            ? { ExtendedStatistic: alarm.extendedStatistic }
            : { Statistic: snsStatistic(alarm.statistic) }),
          Unit: alarm.unit ?? null,
          Dimensions: snsDimensions(alarm.dimensions),
          ...common,
        }
      : { ...common, Metrics: alarm.metrics.map(snsMetric) };
  return JSON.stringify({
    ...messageHeader(alarm, state, previous, context),
    AlarmConfigurationUpdatedTimestamp: cloudWatchTimestamp(context.createdAt),
    OKActions: alarm.okActions.map((a) => a.arn),
    AlarmActions: alarm.alarmActions.map((a) => a.arn),
    InsufficientDataActions: alarm.insufficientDataActions.map((a) => a.arn),
    Trigger: trigger,
  });
}

/** The JSON message CloudWatch publishes to SNS for a composite alarm's state change. */
export function compositeAlarmMessage(
  alarm: LocalCompositeAlarm,
  state: AlarmState,
  previous: AlarmState,
  triggering: readonly TriggeringAlarm[],
  context: ChangeContext,
): string {
  return JSON.stringify({
    ...messageHeader(alarm, state, previous, context),
    AlarmRule: alarm.alarmRule,
    TriggeringChildren: triggering.map((child) => ({
      Arn: child.arn,
      State: { Value: child.state.value, Timestamp: cloudWatchTimestamp(child.state.timestamp) },
    })),
  });
}

function messageHeader(
  alarm: LocalAlarmBase,
  state: AlarmState,
  previous: AlarmState,
  context: ChangeContext,
): Record<string, unknown> {
  return {
    AlarmName: alarm.name,
    AlarmDescription: alarm.description ?? null,
    AWSAccountId: context.account,
    NewStateValue: state.value,
    NewStateReason: state.reason,
    StateChangeTime: cloudWatchTimestamp(state.timestamp),
    Region: regionName(context.region),
    AlarmArn: alarm.arn,
    OldStateValue: previous.value,
  };
}

function eventState(state: AlarmState): Record<string, unknown> {
  return {
    value: state.value,
    reason: state.reason,
    ...(state.reasonData === undefined ? {} : { reasonData: state.reasonData }),
    timestamp: cloudWatchTimestamp(state.timestamp),
  };
}

function eventMetric(query: LocalMetricDataQuery): Record<string, unknown> {
  const stat = query.metricStat;
  return {
    id: query.id,
    ...(stat === undefined
      ? {}
      : {
          metricStat: {
            metric: {
              namespace: stat.namespace,
              name: stat.metricName,
              dimensions: Object.fromEntries(stat.dimensions.map((d) => [d.name, d.value])),
            },
            period: stat.period,
            stat: stat.stat,
            ...(stat.unit === undefined ? {} : { unit: stat.unit }),
          },
        }),
    ...(query.expression === undefined ? {} : { expression: query.expression }),
    ...(query.label === undefined ? {} : { label: query.label }),
    ...(query.period === undefined ? {} : { period: query.period }),
    returnData: query.returnData,
  };
}

function snsMetric(query: LocalMetricDataQuery): Record<string, unknown> {
  const stat = query.metricStat;
  return {
    ...(query.expression === undefined ? {} : { Expression: query.expression }),
    Id: query.id,
    ...(query.label === undefined ? {} : { Label: query.label }),
    ...(stat === undefined
      ? {}
      : {
          MetricStat: {
            Metric: {
              Dimensions: snsDimensions(stat.dimensions),
              MetricName: stat.metricName,
              Namespace: stat.namespace,
            },
            Period: stat.period,
            Stat: stat.stat,
            ...(stat.unit === undefined ? {} : { Unit: stat.unit }),
          },
        }),
    ...(query.period === undefined ? {} : { Period: query.period }),
    ReturnData: query.returnData,
  };
}

/** SNS notifications list dimensions as `{value, name}` objects. */
function snsDimensions(dimensions: readonly LocalDimension[]): Array<{ value: string; name: string }> {
  return dimensions.map((d) => ({ value: d.value, name: d.name }));
}

/** SNS notifications name statistics in upper snake case: `SUM`, `SAMPLE_COUNT`. */
function snsStatistic(statistic: string): string {
  return statistic === 'SampleCount' ? 'SAMPLE_COUNT' : statistic.toUpperCase();
}

function regionName(region: string): string {
  return REGION_NAMES[region] ?? region;
}
