import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metrics } from '#aws/logging.ts';
import {
  CLOUDWATCH_ALARM_STATE_CHANGE,
  cloudWatchAlarmStateChangeEvent,
} from '#events/cloudwatch-alarm-state-change.ts';
import { rawSample } from '#events/samples.ts';
import { type AlarmPage, LocalRunner } from '#infra/local/runner.ts';

/**
 * The synthesized dev stack's CloudWatch alarms, evaluated by the local runner on the EMF the functions
 * print: what a real handler run through the runner emits (with the shared Powertools singleton, which
 * was constructed disabled before the runner started) lands in the metric store; model throttles,
 * emitted as the gateway emits them (`metrics.singleMetric()` with Model/Prompt/App), cross the
 * ModelThrottles alarm (a Metrics Insights `SELECT SUM(ModelThrottles) FROM "LLMOps"`), which goes to
 * ALARM, puts AWS's state change event on the default bus and pages the paging topic.
 */
let stack: LocalRunner;
const paged: AlarmPage[] = [];

beforeAll(async () => {
  stack = await LocalRunner.start({ profile: 'dev', onPage: (page) => paged.push(page) });
});

afterAll(async () => {
  await stack?.stop();
});

describe('CloudWatch alarms in the local run', () => {
  it('turns the EMF a handler prints into datapoints, not terminal output', async () => {
    const fn = stack.template
      .lambdaFunctions()
      .find((f) => f.entry.endsWith('functions/pipeline-failed/handler.ts'));
    expect(fn).toBeDefined();
    await stack.lambdas.invoke(fn?.logicalId ?? '', rawSample('sfn-execution-failed'));
    await stack.idle();

    expect(stack.metrics.datapoints({ namespace: 'LLMOps', metricName: 'PipelineFailures' })).toEqual([
      expect.objectContaining({ value: 1, unit: 'Count', dimensions: { service: 'llmops' } }),
    ]);
  });

  it('pages on-call when model throttles cross the ModelThrottles alarm', async () => {
    for (let i = 0; i < 10; i++) {
      const single = metrics.singleMetric();
      single.addDimensions({ Model: 'claude-haiku-4-5', Prompt: 'support', App: `app-${i % 2}` });
      single.addMetric('ModelThrottles', 'Count', 1);
    }
    const throttles = stack.metrics.datapoints({ namespace: 'LLMOps', metricName: 'ModelThrottles' });
    expect(throttles).toHaveLength(10);
    const at = throttles.at(-1)?.timestamp ?? new Date();
    const alarm = stack.template
      .metricAlarms()
      .find((a) => a.metrics?.[0]?.expression === 'SELECT SUM(ModelThrottles) FROM "LLMOps"');
    expect(alarm).toBeDefined();
    const name = alarm?.name ?? '';

    const transitions = await stack.evaluateAlarms(at);

    expect(transitions).toContainEqual({
      alarmName: name,
      from: 'INSUFFICIENT_DATA',
      to: 'ALARM',
      reason: expect.stringMatching(
        /^Threshold Crossed: 1 out of the last 1 datapoints \[10\.0 \(.{17}\)\] was greater than or equal to the threshold \(10\.0\) \(minimum 1 datapoint for INSUFFICIENT_DATA -> ALARM transition\)\.$/,
      ),
      composite: false,
    });
    // Alarms on AWS service metrics have no local datapoints: treated as not breaching, they go to OK.
    expect(transitions.filter((t) => t.to === 'OK').length).toBeGreaterThan(5);
    // Metric math over AWS/States metrics is left to AWS.
    expect(stack.unevaluatedAlarms).toContainEqual({
      name: expect.stringMatching(/^DataPrepPipelineExecutionsFailed/),
      reason: 'metric math (failed + timedOut + aborted)',
    });

    const routed = stack.events.filter(
      (e) =>
        e.bus === 'default' &&
        e.event['detail-type'] === CLOUDWATCH_ALARM_STATE_CHANGE &&
        e.event.detail.alarmName === name,
    );
    expect(routed).toHaveLength(1);
    const event = cloudWatchAlarmStateChangeEvent.parse(routed[0]?.event);
    expect(event).toMatchObject({
      source: 'aws.cloudwatch',
      account: '000000000000',
      region: 'us-east-1',
      resources: [alarm?.arn],
      detail: {
        alarmName: name,
        state: { value: 'ALARM' },
        previousState: { value: 'INSUFFICIENT_DATA', reason: 'Unchecked: Initial alarm creation' },
        configuration: {
          description: alarm?.description,
          metrics: [
            {
              id: 'expr_1',
              expression: 'SELECT SUM(ModelThrottles) FROM "LLMOps"',
              label: 'ModelThrottles (all models)',
              period: 300,
              returnData: true,
            },
          ],
        },
      },
    });
    expect(JSON.parse(event.detail.state.reasonData ?? '{}')).toMatchObject({
      recentDatapoints: [10],
      threshold: 10,
      period: 300,
    });

    const topic = stack.template
      .resourcesOfType('AWS::SNS::Topic')
      .find((t) => t.logicalId.startsWith('AlertsPagingTopic'));
    const page = stack.pages.find((p) => p.subject.startsWith('ALARM:'));
    expect(page).toEqual({
      topicArn: stack.template.ref(topic?.logicalId ?? ''),
      topicLogicalId: topic?.logicalId,
      subject: `ALARM: "${name}" in US East (N. Virginia)`,
      message: expect.any(String),
    });
    expect(JSON.parse(page?.message ?? '{}')).toMatchObject({
      AlarmName: name,
      AlarmDescription: alarm?.description,
      AWSAccountId: '000000000000',
      NewStateValue: 'ALARM',
      OldStateValue: 'INSUFFICIENT_DATA',
      Region: 'US East (N. Virginia)',
      AlarmArn: alarm?.arn,
      Trigger: {
        Period: 300,
        EvaluationPeriods: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 10,
        TreatMissingData: 'notBreaching',
        Metrics: [{ Expression: 'SELECT SUM(ModelThrottles) FROM "LLMOps"', Id: 'expr_1', Period: 300 }],
      },
    });
    expect(paged).toEqual(stack.pages);

    // State persists: evaluating again at the same moment changes nothing.
    expect(await stack.evaluateAlarms(at)).toEqual([]);
  });
});
