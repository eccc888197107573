/**
 * The template's CloudWatch alarms (`AWS::CloudWatch::Alarm`, `AWS::CloudWatch::CompositeAlarm`), read for
 * local evaluation: names and ARNs as `Ref`/`Fn::GetAtt` give them, every property resolved, each action
 * ARN paired with the SNS topic of the template it names. `LocalTemplate.metricAlarms()` and
 * `compositeAlarms()` hand over to this module; it also gives composite alarms their physical identity
 * (name and `Arn`), which the generic naming in `template/physical-names.ts` does not cover.
 */

import { type CfnResource, describe, isRecord } from '../template/cfn.ts';
import { TemplateError } from '../template/errors.ts';
import type { Physical } from '../template/physical-names.ts';
import type { LocalTemplate } from '../template.ts';

/** An alarm action; `topicLogicalId` when it is an SNS topic of the template. */
export interface LocalAlarmAction {
  readonly arn: string;
  readonly topicLogicalId?: string;
}

/** A metric dimension, in the order the alarm declares it. */
export interface LocalDimension {
  readonly name: string;
  readonly value: string;
}

/** One entry of an alarm's `Metrics` (metric math, Metrics Insights or a metric). */
export interface LocalMetricDataQuery {
  readonly id: string;
  readonly expression?: string;
  readonly label?: string;
  readonly period?: number;
  readonly returnData: boolean;
  readonly metricStat?: {
    readonly namespace: string;
    readonly metricName: string;
    readonly dimensions: readonly LocalDimension[];
    readonly period: number;
    readonly stat: string;
    readonly unit?: string;
  };
}

/** What metric and composite alarms share. */
export interface LocalAlarmBase {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly description?: string;
  readonly actionsEnabled: boolean;
  readonly alarmActions: readonly LocalAlarmAction[];
  readonly okActions: readonly LocalAlarmAction[];
  readonly insufficientDataActions: readonly LocalAlarmAction[];
}

/** A metric alarm, resolved. */
export interface LocalMetricAlarm extends LocalAlarmBase {
  readonly namespace?: string;
  readonly metricName?: string;
  readonly dimensions: readonly LocalDimension[];
  readonly statistic?: string;
  readonly extendedStatistic?: string;
  readonly unit?: string;
  readonly period?: number;
  /** Set when the alarm watches `Metrics` instead of one metric. */
  readonly metrics?: readonly LocalMetricDataQuery[];
  readonly evaluationPeriods: number;
  /** `DatapointsToAlarm`, or `EvaluationPeriods` when the alarm does not set it. */
  readonly datapointsToAlarm: number;
  readonly threshold?: number;
  readonly thresholdMetricId?: string;
  readonly comparisonOperator: string;
  readonly treatMissingData: 'missing' | 'notBreaching' | 'breaching' | 'ignore';
}

/** A composite alarm, resolved. */
export interface LocalCompositeAlarm extends LocalAlarmBase {
  readonly alarmRule: string;
  readonly actionsSuppressor?: string;
  readonly actionsSuppressorWaitPeriod?: number;
  readonly actionsSuppressorExtensionPeriod?: number;
}

const TREAT_MISSING_DATA = ['missing', 'notBreaching', 'breaching', 'ignore'] as const;

/** The metric alarms of the template. */
export function readMetricAlarms(t: LocalTemplate): LocalMetricAlarm[] {
  return t.resourcesOfType('AWS::CloudWatch::Alarm').map(({ logicalId }) => {
    const p = new Props(t, logicalId);
    const evaluationPeriods = p.integer('EvaluationPeriods');
    const treatMissingData = p.optionalString('TreatMissingData') ?? 'missing';
    if (!(TREAT_MISSING_DATA as readonly string[]).includes(treatMissingData)) {
      throw new TemplateError(`TreatMissingData of alarm ${logicalId} is ${describe(treatMissingData)}`);
    }
    const metrics = p.value('Metrics');
    return {
      ...base(t, p),
      ...optional('namespace', p.optionalString('Namespace')),
      ...optional('metricName', p.optionalString('MetricName')),
      dimensions: dimensionsOf(p.value('Dimensions'), `Dimensions of alarm ${logicalId}`),
      ...optional('statistic', p.optionalString('Statistic')),
      ...optional('extendedStatistic', p.optionalString('ExtendedStatistic')),
      ...optional('unit', p.optionalString('Unit')),
      ...optional('period', p.optionalInteger('Period')),
      ...(metrics === undefined ? {} : { metrics: metricDataQueries(metrics, logicalId) }),
      evaluationPeriods,
      datapointsToAlarm: p.optionalInteger('DatapointsToAlarm') ?? evaluationPeriods,
      ...optional('threshold', p.optionalNumber('Threshold')),
      ...optional('thresholdMetricId', p.optionalString('ThresholdMetricId')),
      comparisonOperator: p.string('ComparisonOperator'),
      treatMissingData: treatMissingData as LocalMetricAlarm['treatMissingData'],
    };
  });
}

/** The composite alarms of the template. */
export function readCompositeAlarms(t: LocalTemplate): LocalCompositeAlarm[] {
  return t.resourcesOfType('AWS::CloudWatch::CompositeAlarm').map(({ logicalId }) => {
    const p = new Props(t, logicalId);
    return {
      ...base(t, p),
      alarmRule: p.string('AlarmRule'),
      ...optional('actionsSuppressor', p.optionalString('ActionsSuppressor')),
      ...optional('actionsSuppressorWaitPeriod', p.optionalInteger('ActionsSuppressorWaitPeriod')),
      ...optional('actionsSuppressorExtensionPeriod', p.optionalInteger('ActionsSuppressorExtensionPeriod')),
    };
  });
}

/** What `Ref` (the name) and `Fn::GetAtt Arn` give for a composite alarm. */
export function compositeAlarmIdentity(t: LocalTemplate, logicalId: string, resource: CfnResource): Physical {
  const declared = resource.Properties?.AlarmName;
  const name = declared === undefined ? logicalId : t.resolveString(declared, `AlarmName of ${logicalId}`);
  return {
    ref: name,
    attributes: { Arn: `arn:${t.partition}:cloudwatch:${t.region}:${t.account}:alarm:${name}` },
  };
}

function base(t: LocalTemplate, p: Props): LocalAlarmBase {
  const actions = (key: string): LocalAlarmAction[] =>
    p.strings(key).map((arn) => {
      const target = t.logicalIdForArn(arn);
      return target !== undefined && t.resource(target).Type === 'AWS::SNS::Topic'
        ? { arn, topicLogicalId: target }
        : { arn };
    });
  return {
    logicalId: p.logicalId,
    name: t.ref(p.logicalId),
    arn: t.getAtt(p.logicalId, 'Arn'),
    ...optional('description', p.optionalString('AlarmDescription')),
    actionsEnabled: p.optionalBoolean('ActionsEnabled') ?? true,
    alarmActions: actions('AlarmActions'),
    okActions: actions('OKActions'),
    insufficientDataActions: actions('InsufficientDataActions'),
  };
}

function metricDataQueries(value: unknown, logicalId: string): LocalMetricDataQuery[] {
  if (!Array.isArray(value)) throw new TemplateError(`Metrics of alarm ${logicalId} must be a list`);
  return value.map((entry, i) => {
    const where = `Metrics[${i}] of alarm ${logicalId}`;
    if (!isRecord(entry) || typeof entry.Id !== 'string') throw new TemplateError(`${where} has no Id`);
    const stat = entry.MetricStat;
    let metricStat: LocalMetricDataQuery['metricStat'];
    if (stat !== undefined) {
      const metric = isRecord(stat) ? stat.Metric : undefined;
      if (
        !isRecord(stat) ||
        !isRecord(metric) ||
        typeof metric.Namespace !== 'string' ||
        typeof metric.MetricName !== 'string' ||
        typeof stat.Stat !== 'string' ||
        typeof stat.Period !== 'number'
      ) {
        throw new TemplateError(
          `${where}: MetricStat needs Metric.Namespace, Metric.MetricName, Period, Stat`,
        );
      }
      metricStat = {
        namespace: metric.Namespace,
        metricName: metric.MetricName,
        dimensions: dimensionsOf(metric.Dimensions, `${where} dimensions`),
        period: stat.Period,
        stat: stat.Stat,
        ...optional('unit', typeof stat.Unit === 'string' ? stat.Unit : undefined),
      };
    }
    return {
      id: entry.Id,
      ...optional('expression', typeof entry.Expression === 'string' ? entry.Expression : undefined),
      ...optional('label', typeof entry.Label === 'string' ? entry.Label : undefined),
      ...optional('period', typeof entry.Period === 'number' ? entry.Period : undefined),
      returnData: entry.ReturnData !== false,
      ...(metricStat === undefined ? {} : { metricStat }),
    };
  });
}

function dimensionsOf(value: unknown, what: string): LocalDimension[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TemplateError(`${what} must be a list`);
  return value.map((d) => {
    if (!isRecord(d) || typeof d.Name !== 'string' || typeof d.Value !== 'string') {
      throw new TemplateError(`${what}: every dimension needs a Name and a Value (got ${describe(d)})`);
    }
    return { name: d.Name, value: d.Value };
  });
}

/** `{ [key]: value }`, or nothing when the value is undefined (for optional properties). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** An alarm's resolved properties, read with their types checked. */
class Props {
  private readonly props: Record<string, unknown>;

  constructor(
    t: LocalTemplate,
    readonly logicalId: string,
  ) {
    const resolved = t.resolve(t.resource(logicalId).Properties ?? {});
    this.props = isRecord(resolved) ? resolved : {};
  }

  value(key: string): unknown {
    return this.props[key];
  }

  string(key: string): string {
    const value = this.optionalString(key);
    if (value === undefined) throw new TemplateError(`Alarm ${this.logicalId} has no ${key}`);
    return value;
  }

  optionalString(key: string): string | undefined {
    const value = this.props[key];
    if (value === undefined || typeof value === 'string') return value;
    throw this.wrong(key, 'a string');
  }

  strings(key: string): string[] {
    const value = this.props[key] ?? [];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
    throw this.wrong(key, 'a list of strings');
  }

  optionalNumber(key: string): number | undefined {
    const value = this.props[key];
    if (value === undefined) return undefined;
    const n = typeof value === 'string' ? Number(value) : value;
    if (typeof n === 'number' && Number.isFinite(n)) return n;
    throw this.wrong(key, 'a number');
  }

  optionalInteger(key: string): number | undefined {
    const n = this.optionalNumber(key);
    if (n === undefined || (Number.isInteger(n) && n > 0)) return n;
    throw this.wrong(key, 'a positive integer');
  }

  integer(key: string): number {
    const n = this.optionalInteger(key);
    if (n === undefined) throw new TemplateError(`Alarm ${this.logicalId} has no ${key}`);
    return n;
  }

  optionalBoolean(key: string): boolean | undefined {
    const value = this.props[key];
    if (value === undefined || typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    throw this.wrong(key, 'true or false');
  }

  private wrong(key: string, expected: string): TemplateError {
    return new TemplateError(
      `${key} of alarm ${this.logicalId} must be ${expected} (got ${describe(this.props[key])})`,
    );
  }
}
