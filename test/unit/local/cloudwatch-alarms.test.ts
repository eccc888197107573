import { describe, expect, it } from 'vitest';
import {
  CLOUDWATCH_ALARM_STATE_CHANGE,
  cloudWatchAlarmStateChangeEvent,
} from '#events/cloudwatch-alarm-state-change.ts';
import { loadSample } from '#events/samples.ts';
import { type AlarmPage, LocalAlarms } from '#infra/local/cloudwatch/alarms.ts';
import { LocalMetricStore } from '#infra/local/cloudwatch/metric-store.ts';
import type { EventEnvelope } from '#infra/local/local-eventbridge.ts';
import { LocalTemplate } from '#infra/local/template.ts';

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const ARN = `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm`;
const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:PagingTopicAB12`;
const T0 = Date.UTC(2026, 4, 12, 6, 0, 0);

/** A template shaped like `cdk synth` output: alarms paging a topic, one composite over two of them. */
function template(): Record<string, unknown> {
  const page = { AlarmActions: [{ Ref: 'PagingTopicAB12' }], OKActions: [{ Ref: 'PagingTopicAB12' }] };
  return {
    Resources: {
      PagingTopicAB12: { Type: 'AWS::SNS::Topic' },
      ChatFunctionCD34: { Type: 'AWS::Lambda::Function', Properties: { FunctionName: 'llmops-chat' } },
      ErrorsAlarmEF56: {
        Type: 'AWS::CloudWatch::Alarm',
        Properties: {
          ...page,
          AlarmName: { 'Fn::Join': ['-', [{ Ref: 'AWS::StackName' }, 'handler-errors']] },
          AlarmDescription: 'The chat function failed.',
          Namespace: 'LLMOps',
          MetricName: 'HandlerErrors',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'ChatFunctionCD34' } }],
          Statistic: 'Sum',
          Period: 300,
          EvaluationPeriods: 1,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          TreatMissingData: 'notBreaching',
          InsufficientDataActions: ['arn:aws:sns:us-east-1:999999999999:elsewhere'],
        },
      },
      LatencyAlarm7A8B: {
        Type: 'AWS::CloudWatch::Alarm',
        Properties: {
          Namespace: 'LLMOps',
          MetricName: 'Latency',
          ExtendedStatistic: 'p90',
          Unit: 'Milliseconds',
          Period: 60,
          EvaluationPeriods: 3,
          DatapointsToAlarm: 2,
          Threshold: 1000,
          ComparisonOperator: 'GreaterThanThreshold',
        },
      },
      MathAlarm9C0D: {
        Type: 'AWS::CloudWatch::Alarm',
        Properties: {
          EvaluationPeriods: 1,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Metrics: [
            { Id: 'e1', Expression: 'a + b', ReturnData: true },
            {
              Id: 'a',
              MetricStat: {
                Metric: { Namespace: 'AWS/States', MetricName: 'ExecutionsFailed' },
                Period: 300,
                Stat: 'Sum',
              },
              ReturnData: false,
            },
          ],
        },
      },
      ServiceCompositeE1F2: {
        Type: 'AWS::CloudWatch::CompositeAlarm',
        Properties: {
          ...page,
          AlarmRule: {
            'Fn::Join': [
              '',
              [
                'ALARM("',
                { 'Fn::GetAtt': ['ErrorsAlarmEF56', 'Arn'] },
                '") OR ALARM(',
                { Ref: 'LatencyAlarm7A8B' },
                ')',
              ],
            ],
          },
        },
      },
      TopCompositeA3B4: {
        Type: 'AWS::CloudWatch::CompositeAlarm',
        Properties: {
          AlarmName: 'top',
          AlarmRule: {
            'Fn::Join': ['', ['ALARM("', { 'Fn::GetAtt': ['ServiceCompositeE1F2', 'Arn'] }, '")']],
          },
        },
      },
      BrokenCompositeC5D6: {
        Type: 'AWS::CloudWatch::CompositeAlarm',
        Properties: { AlarmRule: 'ALARM(ErrorsAlarmEF56) AND' },
      },
      OverMathCompositeE7F8: {
        Type: 'AWS::CloudWatch::CompositeAlarm',
        Properties: { AlarmRule: 'ALARM(MathAlarm9C0D) OR ALARM(nowhere)' },
      },
    },
  };
}

const local = () => new LocalTemplate(template(), { stackName: 'LlmOps-test' });

function alarms(store = new LocalMetricStore()) {
  const t = local();
  const events: EventEnvelope[] = [];
  const pages: AlarmPage[] = [];
  const subject = new LocalAlarms({
    metricAlarms: t.metricAlarms(),
    compositeAlarms: t.compositeAlarms(),
    metrics: store,
    account: ACCOUNT,
    region: REGION,
    publish: (event) => events.push(event),
    onPage: (page) => pages.push(page),
    createdAt: new Date(T0 - 3_600_000),
  });
  return { alarms: subject, events, pages, store };
}

const handlerError = (minutes: number) => ({
  namespace: 'LLMOps',
  metricName: 'HandlerErrors',
  value: 1,
  unit: 'Count',
  dimensions: { FunctionName: 'llmops-chat' },
  timestamp: new Date(T0 + minutes * 60_000),
});

describe('LocalTemplate alarms', () => {
  it('names metric alarms as Ref does and resolves their properties and actions', () => {
    const [errors, latency] = local().metricAlarms();
    expect(errors).toEqual({
      logicalId: 'ErrorsAlarmEF56',
      name: 'LlmOps-test-handler-errors',
      arn: `${ARN}:LlmOps-test-handler-errors`,
      description: 'The chat function failed.',
      actionsEnabled: true,
      alarmActions: [{ arn: TOPIC, topicLogicalId: 'PagingTopicAB12' }],
      okActions: [{ arn: TOPIC, topicLogicalId: 'PagingTopicAB12' }],
      insufficientDataActions: [{ arn: 'arn:aws:sns:us-east-1:999999999999:elsewhere' }],
      namespace: 'LLMOps',
      metricName: 'HandlerErrors',
      dimensions: [{ name: 'FunctionName', value: 'llmops-chat' }],
      statistic: 'Sum',
      period: 300,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      threshold: 1,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
      treatMissingData: 'notBreaching',
    });
    expect(latency).toMatchObject({
      name: 'LatencyAlarm7A8B',
      extendedStatistic: 'p90',
      unit: 'Milliseconds',
      datapointsToAlarm: 2,
      treatMissingData: 'missing',
    });
  });

  it('gives composite alarms a name and ARN, and resolves their rules', () => {
    const t = local();
    expect(t.getAtt('TopCompositeA3B4', 'Arn')).toBe(`${ARN}:top`);
    expect(t.compositeAlarms()[0]).toMatchObject({
      name: 'ServiceCompositeE1F2',
      arn: `${ARN}:ServiceCompositeE1F2`,
      alarmRule: `ALARM("${ARN}:LlmOps-test-handler-errors") OR ALARM(LatencyAlarm7A8B)`,
      alarmActions: [{ arn: TOPIC, topicLogicalId: 'PagingTopicAB12' }],
    });
  });
});

describe('LocalAlarms', () => {
  it('lists what it leaves to AWS, with the reason', () => {
    expect(alarms().alarms.unevaluated).toEqual([
      { name: 'MathAlarm9C0D', reason: 'metric math (a + b)' },
      {
        name: 'BrokenCompositeC5D6',
        reason: `its rule cannot be read: Expected an alarm state function, TRUE, FALSE or ( at position 26 of "ALARM(ErrorsAlarmEF56) AND"`,
      },
      {
        name: 'OverMathCompositeE7F8',
        reason: 'it depends on MathAlarm9C0D, which is not evaluated locally',
      },
    ]);
  });

  it('starts every alarm in INSUFFICIENT_DATA and keeps state between evaluations', () => {
    const { alarms: subject } = alarms();
    expect(subject.state('top')).toEqual({
      value: 'INSUFFICIENT_DATA',
      reason: 'Unchecked: Initial alarm creation',
      timestamp: T0 - 3_600_000,
    });
    const first = subject.evaluate(new Date(T0));
    expect(
      first.map((t) => `${t.alarmName}: ${t.from} -> ${t.to}${t.composite ? ' (composite)' : ''}`),
    ).toEqual([
      'LlmOps-test-handler-errors: INSUFFICIENT_DATA -> OK',
      'ServiceCompositeE1F2: INSUFFICIENT_DATA -> OK (composite)',
      'top: INSUFFICIENT_DATA -> OK (composite)',
    ]);
    expect(subject.evaluate(new Date(T0 + 1000))).toEqual([]);
    expect(subject.state('LatencyAlarm7A8B')?.value).toBe('INSUFFICIENT_DATA');
  });

  it('routes a metric alarm’s state change as CloudWatch does: an event, then pages', () => {
    const { alarms: subject, events, pages, store } = alarms();
    subject.evaluate(new Date(T0));
    events.length = 0;
    pages.length = 0;
    store.put(handlerError(1), handlerError(2));
    const at = new Date(T0 + 3 * 60_000 + 500);

    const transitions = subject.evaluate(at);

    expect(transitions[0]).toEqual({
      alarmName: 'LlmOps-test-handler-errors',
      from: 'OK',
      to: 'ALARM',
      reason:
        'Threshold Crossed: 1 out of the last 1 datapoints [2.0 (12/05/26 06:00:00)] was greater than or equal to ' +
        'the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition).',
      composite: false,
    });
    const event = cloudWatchAlarmStateChangeEvent.parse(events[0]);
    expect(event).toEqual({
      version: '0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      'detail-type': CLOUDWATCH_ALARM_STATE_CHANGE,
      source: 'aws.cloudwatch',
      account: ACCOUNT,
      time: '2026-05-12T06:03:00Z',
      region: REGION,
      resources: [`${ARN}:LlmOps-test-handler-errors`],
      detail: {
        alarmName: 'LlmOps-test-handler-errors',
        state: {
          value: 'ALARM',
          reason: transitions[0]?.reason,
          reasonData: expect.any(String),
          timestamp: '2026-05-12T06:03:00.500+0000',
        },
        previousState: {
          value: 'OK',
          reason:
            'Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching].',
          reasonData: expect.any(String),
          timestamp: '2026-05-12T06:00:00.000+0000',
        },
        configuration: {
          description: 'The chat function failed.',
          metrics: [
            {
              id: expect.stringMatching(/^[0-9a-f-]{36}$/),
              metricStat: {
                metric: {
                  namespace: 'LLMOps',
                  name: 'HandlerErrors',
                  dimensions: { FunctionName: 'llmops-chat' },
                },
                period: 300,
                stat: 'Sum',
              },
              returnData: true,
            },
          ],
        },
      },
    });
    expect(JSON.parse(event.detail.state.reasonData ?? '')).toEqual({
      version: '1.0',
      queryDate: '2026-05-12T06:03:00.500+0000',
      startDate: '2026-05-12T06:00:00.000+0000',
      statistic: 'Sum',
      period: 300,
      recentDatapoints: [2],
      threshold: 1,
      evaluatedDatapoints: [{ timestamp: '2026-05-12T06:00:00.000+0000', sampleCount: 2, value: 2 }],
    });

    expect(pages[0]).toEqual({
      topicArn: TOPIC,
      topicLogicalId: 'PagingTopicAB12',
      subject: 'ALARM: "LlmOps-test-handler-errors" in US East (N. Virginia)',
      message: expect.any(String),
    });
    expect(JSON.parse(pages[0]?.message ?? '')).toEqual({
      AlarmName: 'LlmOps-test-handler-errors',
      AlarmDescription: 'The chat function failed.',
      AWSAccountId: ACCOUNT,
      NewStateValue: 'ALARM',
      NewStateReason: transitions[0]?.reason,
      StateChangeTime: '2026-05-12T06:03:00.500+0000',
      Region: 'US East (N. Virginia)',
      AlarmArn: `${ARN}:LlmOps-test-handler-errors`,
      OldStateValue: 'OK',
      AlarmConfigurationUpdatedTimestamp: '2026-05-12T05:00:00.000+0000',
      OKActions: [TOPIC],
      AlarmActions: [TOPIC],
      InsufficientDataActions: ['arn:aws:sns:us-east-1:999999999999:elsewhere'],
      Trigger: {
        MetricName: 'HandlerErrors',
        Namespace: 'LLMOps',
        StatisticType: 'Statistic',
        Statistic: 'SUM',
        Unit: null,
        Dimensions: [{ value: 'llmops-chat', name: 'FunctionName' }],
        Period: 300,
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        TreatMissingData: 'notBreaching',
        EvaluateLowSampleCountPercentile: '',
      },
    });
  });

  it('evaluates composites after their children, naming the child that moved them', () => {
    const { alarms: subject, events, pages, store } = alarms();
    subject.evaluate(new Date(T0));
    store.put(handlerError(1));
    const at = new Date(T0 + 2 * 60_000);
    const childArn = `${ARN}:LlmOps-test-handler-errors`;

    const transitions = subject.evaluate(at);

    expect(transitions.map((t) => [t.alarmName, t.to])).toEqual([
      ['LlmOps-test-handler-errors', 'ALARM'],
      ['ServiceCompositeE1F2', 'ALARM'],
      ['top', 'ALARM'],
    ]);
    expect(transitions[1]?.reason).toBe(
      `${childArn} transitioned to ALARM at Tuesday 12 May, 2026 06:02:00 UTC`,
    );
    const composite = cloudWatchAlarmStateChangeEvent.parse(events.at(-2));
    expect(composite.detail).toMatchObject({
      alarmName: 'ServiceCompositeE1F2',
      state: { value: 'ALARM' },
      previousState: {
        value: 'OK',
        reason: `${ARN}:ServiceCompositeE1F2 was created and its alarm rule evaluates to OK`,
      },
      configuration: { alarmRule: `ALARM("${childArn}") OR ALARM(LatencyAlarm7A8B)` },
    });
    expect(JSON.parse(composite.detail.state.reasonData ?? '')).toEqual({
      triggeringAlarms: [
        { arn: childArn, state: { value: 'ALARM', timestamp: '2026-05-12T06:02:00.000+0000' } },
      ],
    });
    // The service composite pages; `top` has no actions.
    const compositePage = pages.find(
      (p) => p.subject === 'ALARM: "ServiceCompositeE1F2" in US East (N. Virginia)',
    );
    expect(JSON.parse(compositePage?.message ?? '')).toMatchObject({
      AlarmName: 'ServiceCompositeE1F2',
      NewStateValue: 'ALARM',
      OldStateValue: 'OK',
      AlarmRule: `ALARM("${childArn}") OR ALARM(LatencyAlarm7A8B)`,
      TriggeringChildren: [
        { Arn: childArn, State: { Value: 'ALARM', Timestamp: '2026-05-12T06:02:00.000+0000' } },
      ],
    });

    // Five minutes on, no new errors: the child recovers (notBreaching) and so do the composites.
    const recovered = subject.evaluate(new Date(T0 + 5 * 60_000));
    expect(recovered.map((t) => [t.alarmName, t.to])).toEqual([
      ['LlmOps-test-handler-errors', 'OK'],
      ['ServiceCompositeE1F2', 'OK'],
      ['top', 'OK'],
    ]);
    expect(pages.filter((p) => p.subject.startsWith('OK:')).map((p) => p.subject)).toEqual([
      'OK: "LlmOps-test-handler-errors" in US East (N. Virginia)',
      'OK: "ServiceCompositeE1F2" in US East (N. Virginia)',
      'OK: "LlmOps-test-handler-errors" in US East (N. Virginia)',
      'OK: "ServiceCompositeE1F2" in US East (N. Virginia)',
    ]);
  });

  it('sends no pages when actions are disabled, but still the events', () => {
    const raw = template();
    const resources = raw.Resources as Record<string, { Properties: Record<string, unknown> }>;
    for (const resource of Object.values(resources)) {
      if (resource.Properties?.AlarmActions) resource.Properties.ActionsEnabled = false;
    }
    const t = new LocalTemplate(raw);
    const events: EventEnvelope[] = [];
    const pages: AlarmPage[] = [];
    const subject = new LocalAlarms({
      metricAlarms: t.metricAlarms(),
      compositeAlarms: t.compositeAlarms(),
      metrics: new LocalMetricStore(),
      account: ACCOUNT,
      region: REGION,
      publish: (event) => events.push(event),
      onPage: (page) => pages.push(page),
    });
    subject.evaluate(new Date(T0));
    expect(events.length).toBe(3);
    expect(pages).toEqual([]);
  });
});

describe('the CloudWatch Alarm State Change sample', () => {
  it('parses with its schema', () => {
    const event = loadSample('cloudwatch-alarm-state-change', cloudWatchAlarmStateChangeEvent);
    expect(event.detail.state.value).toBe('ALARM');
    expect(event.detail.configuration.metrics?.[0]?.metricStat?.metric.name).toBe('5XXError');
    expect(JSON.parse(event.detail.state.reasonData ?? '')).toMatchObject({
      recentDatapoints: [7],
      threshold: 5,
    });
  });

  it('rejects an event whose state has no known value', () => {
    const event = structuredClone(
      loadSample('cloudwatch-alarm-state-change', cloudWatchAlarmStateChangeEvent),
    );
    const raw = { ...event, detail: { ...event.detail, state: { ...event.detail.state, value: 'FIRING' } } };
    const result = cloudWatchAlarmStateChangeEvent.safeParse(raw);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['detail', 'state', 'value']);
  });
});
