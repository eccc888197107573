/**
 * Drift in the synthesized stack: the DriftCheck state machine (Collect → Check), the rule that starts it
 * from llmops.DriftCheckRequested (put by each check's schedule and by `POST /v1/drift/baselines`), the
 * schedules (one per configured check, on the cadence's boundaries), the calibrated alarm policy the
 * functions and the alarms share, the signal alarms and each check's paging composite, the default-bus
 * rule that turns a drift alarm's ALARM into llmops.DriftDetected, the rule that starts an evaluation of
 * production on drift (only when `drift.onDrift` is configured), the grants of each drift function (Check
 * calls the judge and the embedding model only when `drift.onlineJudge` is configured), and the dashboard
 * section. cdk-nag passes with the dev profile's plugin run (this file synthesizes dev with
 * the plugin on, so an unacknowledged finding here fails synthesis).
 *
 * Not repeated here: that every drift function gets exactly the variables its module's `environment`
 * declares (function-environment.test.ts loads every function of the stack with its synthesized
 * environment), and the schedule role's full least privilege (least-privilege.test.ts).
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DRIFT_SCORE_METRIC,
  DRIFT_SIGNALS,
  DRIFT_WATCHED_SIGNALS,
  PAGING_DRIFT_SIGNALS,
} from '#contracts/drift/baseline.ts';
import { RETRYABLE_ERROR_NAMES } from '#contracts/retryable-errors.ts';
import { driftAlarmPolicy, SHARED_BASELINE_FACTOR } from '#core/drift/alarm-policy.ts';
import {
  CLOUDWATCH_ALARM_STATE_CHANGE,
  cloudWatchAlarmStateChangeEvent,
} from '#events/cloudwatch-alarm-state-change.ts';
import {
  DRIFT_CHECK_REQUESTED,
  driftCheckRequestedDetail,
  driftCheckRequestedEvent,
} from '#events/drift-check-requested.ts';
import { DRIFT_DETECTED, driftDetectedEvent } from '#events/drift-detected.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { loadSample, rawSample } from '#events/samples.ts';
import { parsePolicy } from '#functions/drift/shared.ts';
import { type AppConfig, loadConfig, validateConfig } from '#infra/config/index.ts';
import { cadenceCron } from '#infra/constructs/drift.ts';
import { METRICS_SERVICE } from '#infra/constructs/llmops-function.ts';
import { API_FUNCTION_ENTRIES, LLMOPS_METRICS_NAMESPACE } from '#infra/constructs/model-gateway.ts';
import { matchesPattern } from '#infra/local/event-pattern.ts';
import { cdkJsonContext, LlmOpsStack } from '#infra/stacks/llmops-stack.ts';
import { entryStatements, functionOfEntry, list, roleStatements } from './support/iam.ts';
import {
  type CfnJson,
  type CfnResource,
  type CfnTemplate,
  flatten,
  resourcesOfType,
  type Synthesized,
  synth,
} from './support/synth.ts';

let dev: Synthesized;
let prod: Synthesized;
/** Dev with `drift.onDrift` removed (no context key sets it: the configuration is edited in code). */
let withoutOnDrift: { json: CfnTemplate; config: AppConfig };
/** Dev with `drift.onlineJudge` removed. */
let withoutOnlineJudge: { json: CfnTemplate; config: AppConfig };

/** The real stack for a configuration edited in code, validated as `loadConfig` validates it. */
function synthConfig(edit: (config: AppConfig) => AppConfig): { json: CfnTemplate; config: AppConfig } {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const config = validateConfig(edit(loadConfig(app)));
  const stack = new LlmOpsStack(app, config.stackName, { config });
  const previous = process.env.CDK_VALIDATION;
  process.env.CDK_VALIDATION = 'false';
  try {
    return { json: Template.fromStack(stack).toJSON() as CfnTemplate, config };
  } finally {
    if (previous === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = previous;
  }
}

beforeAll(() => {
  dev = synth({ profile: 'dev' }, { cfnValidation: false });
  prod = synth({ profile: 'prod' }, { nag: false, cfnValidation: false });
  withoutOnDrift = synthConfig((config) => {
    const { onDrift: _onDrift, ...drift } = config.drift;
    return { ...config, drift };
  });
  withoutOnlineJudge = synthConfig((config) => {
    const { onlineJudge: _onlineJudge, ...drift } = config.drift;
    return { ...config, drift };
  });
});

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, CfnJson>;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const sorted = (values: Iterable<string>) => [...values].sort();

function only(
  json: CfnTemplate,
  type: string,
  predicate: (r: CfnResource, id: string) => boolean,
): [string, CfnResource] {
  const found = resourcesOfType(json, type).filter(([id, r]) => predicate(r, id));
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0] as [string, CfnResource];
}

const onlyId = (json: CfnTemplate, type: string): string => {
  const ids = resourcesOfType(json, type).map(([id]) => id);
  expect(ids, type).toHaveLength(1);
  return ids[0] as string;
};

const ENTRY = {
  collect: 'functions/drift/collect.ts',
  check: 'functions/drift/check.ts',
  onAlarm: 'functions/drift/on-alarm.ts',
  startEvaluation: 'functions/drift/start-evaluation.ts',
  api: API_FUNCTION_ENTRIES.drift,
} as const;

const functionIdOf = (json: CfnTemplate, entry: string): string | undefined =>
  Object.entries(json.Resources).find(
    ([, r]) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.['llmops:entry'] === entry,
  )?.[0];
const envOf = (json: CfnTemplate, entry: string): Record<string, CfnJson> =>
  props(functionOfEntry(json, entry)).Environment.Variables;

const driftCheck = (json: CfnTemplate) =>
  only(json, 'AWS::StepFunctions::StateMachine', (r) => r.Metadata?.['llmops:pipeline'] === 'DriftCheck');
const definitionOf = (json: CfnTemplate): CfnJson =>
  JSON.parse(flatten(props(driftCheck(json)[1]).DefinitionString));

/** The rules with a target whose `Arn` is `arn` (an intrinsic). */
const rulesTargeting = (json: CfnTemplate, arn: unknown): [string, CfnResource][] =>
  resourcesOfType(json, 'AWS::Events::Rule').filter(([, r]) =>
    ((props(r).Targets ?? []) as CfnJson[]).some((t) => same(t.Arn, arn)),
  );
const functionArn = (json: CfnTemplate, entry: string) => ({
  'Fn::GetAtt': [functionIdOf(json, entry), 'Arn'],
});

/** The queue a dead-letter config names (the trigger dead-letter queue of Drift). */
const deadLetterQueueOf = (target: CfnJson): string => {
  const arn = target.DeadLetterConfig?.Arn;
  expect(arn, 'a dead-letter queue').toBeDefined();
  const [queueId] = arn['Fn::GetAtt'] as [string, string];
  return queueId;
};

/** The drift signal alarms, by check and signal. */
function signalAlarms(json: CfnTemplate): Map<string, [string, Record<string, CfnJson>]> {
  const alarms = new Map<string, [string, Record<string, CfnJson>]>();
  for (const [id, alarm] of resourcesOfType(json, 'AWS::CloudWatch::Alarm')) {
    const p = props(alarm);
    if (p.MetricName !== DRIFT_SCORE_METRIC) continue;
    const dims = Object.fromEntries((p.Dimensions as CfnJson[]).map((d) => [d.Name, d.Value]));
    alarms.set(`${dims.Check}/${dims.Signal}`, [id, p]);
  }
  return alarms;
}

/** What `driftAlarmPolicy` computes for a configuration, and the policy JSON the functions are given. */
function expectedPolicy(config: AppConfig) {
  const d = config.drift;
  const policy = driftAlarmPolicy({
    cadenceMinutes: d.cadenceMinutes,
    falsePagesPerMonth: d.falsePagesPerMonth,
    signals: d.checks.length * DRIFT_SIGNALS.length,
    permutations: d.permutations,
  });
  return {
    policy,
    json: {
      alpha: policy.alpha,
      datapointsToAlarm: policy.datapointsToAlarm,
      evaluationPeriods: policy.evaluationPeriods,
      cadenceMinutes: d.cadenceMinutes,
      effect: d.effect,
      power: d.power,
      permutations: d.permutations,
      maxWindowRecords: d.maxWindowRecords,
    },
  };
}

/** An EventBridge event as the bus delivers it. */
const busEvent = (source: string, detailType: string, detail: unknown, resources: string[] = []) => ({
  version: '0',
  id: '0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b',
  'detail-type': detailType,
  source,
  account: '111122223333',
  time: '2026-05-12T06:00:02Z',
  region: 'us-east-1',
  resources,
  detail,
});

describe('the DriftCheck state machine', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: Collect → Collected? (collected → Check → Done; otherwise Done), each step retrying the retryable errors with backoff',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const definition = definitionOf(s.json);
      expect(definition.StartAt).toBe('Collect');
      const states = definition.States as Record<string, CfnJson>;
      expect(sorted(Object.keys(states))).toEqual(['Check', 'Collect', 'Collected?', 'Done']);
      expect(states.Collect).toMatchObject({ Type: 'Task', Next: 'Collected?' });
      expect(states['Collected?']).toEqual({
        Type: 'Choice',
        Choices: [{ Variable: '$.status', StringEquals: 'collected', Next: 'Check' }],
        Default: 'Done',
      });
      expect(states.Check).toMatchObject({ Type: 'Task', Next: 'Done' });
      expect(states.Done.Type).toBe('Succeed');
      // Each step invokes its own function.
      expect(flatten(states.Collect.Parameters.FunctionName)).toBe(
        `<${functionIdOf(s.json, ENTRY.collect)}.Arn>`,
      );
      expect(flatten(states.Check.Parameters.FunctionName)).toBe(
        `<${functionIdOf(s.json, ENTRY.check)}.Arn>`,
      );
      for (const name of ['Collect', 'Check']) {
        const retries = states[name].Retry as CfnJson[];
        const retryable = retries.find((r) => same(r.ErrorEquals, [...RETRYABLE_ERROR_NAMES]));
        expect(retryable, `${name} retries ${RETRYABLE_ERROR_NAMES.join(', ')}`).toBeDefined();
        expect(retryable.MaxAttempts, name).toBeGreaterThan(1);
        expect(retryable.IntervalSeconds, name).toBeGreaterThan(0);
        expect(retryable.BackoffRate, name).toBeGreaterThan(1);
        expect(retryable.JitterStrategy, name).toBe('FULL');
      }
    },
  );
});

describe('llmops.DriftCheckRequested', () => {
  const scheduledTime = '2026-05-12T06:00:00Z';

  it.each(['dev', 'prod'] as const)(
    '%s: a project-bus rule starts the state machine, retried into a dead-letter queue',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [smId] = driftCheck(s.json);
      const rules = rulesTargeting(s.json, { Ref: smId });
      expect(rules).toHaveLength(1);
      const rule = props((rules[0] as [string, CfnResource])[1]);
      expect(rule.EventBusName).toEqual({ Ref: onlyId(s.json, 'AWS::Events::EventBus') });
      expect(rule.EventPattern).toEqual({ source: [LLMOPS_SOURCE], 'detail-type': [DRIFT_CHECK_REQUESTED] });
      const target = rule.Targets[0];
      expect(deadLetterQueueOf(target)).toMatch(/^DriftTriggerDeadLetterQueue/);
      expect(target.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
    },
  );

  it("matches what a schedule puts and what POST /v1/drift/baselines puts, and both are the event's shape", () => {
    const [smId] = driftCheck(dev.json);
    const pattern = props(
      (rulesTargeting(dev.json, { Ref: smId })[0] as [string, CfnResource])[1],
    ).EventPattern;
    const check = dev.config.drift.checks[0]?.name as string;

    // A schedule: its Input with the scheduled time Scheduler substitutes.
    const [, schedule] = resourcesOfType(dev.json, 'AWS::Scheduler::Schedule').find(([id]) =>
      id.startsWith('DriftSchedule'),
    ) as [string, CfnResource];
    const target = props(schedule).Target;
    const scheduled = JSON.parse(
      String(target.Input).replace('<aws.scheduler.scheduled-time>', scheduledTime),
    ) as unknown;
    const fromSchedule = busEvent(
      target.EventBridgeParameters.Source,
      target.EventBridgeParameters.DetailType,
      scheduled,
    );
    expect(driftCheckRequestedDetail.parse(scheduled)).toMatchObject({ check, windowEnd: scheduledTime });
    expect(driftCheckRequestedEvent.safeParse(fromSchedule).success).toBe(true);
    expect(matchesPattern(pattern, fromSchedule)).toBe(true);

    // The drift API: a baseline to build (as functions/api/drift.ts publishes it).
    const requested = {
      schemaVersion: SCHEMA_VERSION,
      check,
      requestedBy: 'arn:aws:iam::111122223333:role/llmops-admin',
      baseline: { source: { kind: 'suite', name: 'golden' }, note: 'after the March re-index' },
    };
    expect(driftCheckRequestedDetail.safeParse(requested).success).toBe(true);
    const fromApi = busEvent(LLMOPS_SOURCE, DRIFT_CHECK_REQUESTED, requested);
    expect(driftCheckRequestedEvent.safeParse(fromApi).success).toBe(true);
    expect(matchesPattern(pattern, fromApi)).toBe(true);

    // Other project events do not start a check.
    expect(matchesPattern(pattern, busEvent(LLMOPS_SOURCE, DRIFT_DETECTED, requested))).toBe(false);
    expect(matchesPattern(pattern, busEvent('other', DRIFT_CHECK_REQUESTED, requested))).toBe(false);
  });
});

describe('schedules', () => {
  it('the cadence is a cron on its boundaries: every 6 hours in dev, hourly in prod', () => {
    expect(cadenceCron(dev.config.drift.cadenceMinutes)).toBe('cron(0 0/6 * * ? *)');
    expect(cadenceCron(prod.config.drift.cadenceMinutes)).toBe('cron(0 * * * ? *)');
    expect(cadenceCron(15)).toBe('cron(0/15 * * * ? *)');
  });

  it.each(['dev', 'prod'] as const)(
    '%s: one per configured check, putting llmops.DriftCheckRequested for the scheduled window, with a dead-letter queue and 8 retries',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const busId = onlyId(s.json, 'AWS::Events::EventBus');
      const schedules = resourcesOfType(s.json, 'AWS::Scheduler::Schedule').filter(
        ([, r]) => props(r).Target?.EventBridgeParameters?.DetailType === DRIFT_CHECK_REQUESTED,
      );
      expect(schedules).toHaveLength(s.config.drift.checks.length);
      expect(s.config.drift.checks.length).toBeGreaterThan(0);
      for (const c of s.config.drift.checks) {
        const [id, schedule] =
          schedules.find(([, r]) => JSON.parse(props(r).Target.Input).check === c.name) ?? [];
        expect(schedule, c.name).toBeDefined();
        const p = props(schedule as CfnResource);
        expect(p.ScheduleExpression, String(id)).toBe(cadenceCron(s.config.drift.cadenceMinutes));
        expect(p.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
        const target = p.Target;
        expect(target.Arn).toEqual({ 'Fn::GetAtt': [busId, 'Arn'] });
        expect(target.EventBridgeParameters).toEqual({
          DetailType: DRIFT_CHECK_REQUESTED,
          Source: LLMOPS_SOURCE,
        });
        expect(target.Input).toContain('"windowEnd":"<aws.scheduler.scheduled-time>"');
        expect(JSON.parse(target.Input)).toEqual({
          schemaVersion: SCHEMA_VERSION,
          check: c.name,
          requestedBy: `schedule:drift-${c.name}`,
          windowEnd: '<aws.scheduler.scheduled-time>',
        });
        expect(deadLetterQueueOf(target)).toMatch(/^DriftTriggerDeadLetterQueue/);
        expect(target.RetryPolicy.MaximumRetryAttempts).toBe(8);
        // Delivered with the drift schedules' role, which may put this detail type and no other.
        const [roleId] = target.RoleArn['Fn::GetAtt'] as [string, string];
        expect(roleId).toMatch(/^DriftScheduleRole/);
        const putDetailTypes = roleStatements(s.json, roleId)
          .filter((st) => list(st.Action).includes('events:PutEvents'))
          .flatMap((st) => list(st.Condition?.['ForAllValues:StringEquals']?.['events:detail-type'] ?? []));
        expect(putDetailTypes).toEqual([DRIFT_CHECK_REQUESTED]);
      }
    },
  );
});

describe('the alarm policy', () => {
  it('dev pages on 2 of 2 six-hour windows at alpha 0.02; prod on 2 of 2 hourly windows at alpha 0.01 (1,000 permutations)', () => {
    // Three signals a check (embedding, descriptors, quality) share the false-page target of one check;
    // the feedback signal pages within the quality signal's share (both one-sided).
    expect(DRIFT_SIGNALS).toEqual(['embedding', 'descriptors', 'quality']);
    expect(PAGING_DRIFT_SIGNALS).toEqual(['embedding', 'descriptors', 'quality', 'feedback']);
    expect(dev.config.drift.checks).toHaveLength(1);
    expect(prod.config.drift.checks).toHaveLength(1);
    // Runs of 2 windows sharing a baseline are bounded by F · alpha² (F = SHARED_BASELINE_FACTOR, 4, the
    // benchmark's worst measured ratio): dev, 200 permutations: 120 windows · 4 · 0.02² · 3 = 0.576;
    // prod, 1,000 permutations (alpha 0.01 reachable): 720 · 4 · 0.01² · 3 = 0.864 (each ≤ 1).
    expect(SHARED_BASELINE_FACTOR).toBe(4);
    expect([dev.config.drift.permutations, prod.config.drift.permutations]).toEqual([200, 1000]);
    expect(expectedPolicy(dev.config).policy).toMatchObject({
      alpha: 0.02,
      datapointsToAlarm: 2,
      evaluationPeriods: 2,
      windowsPerMonth: 120,
      falseRunBound: expect.closeTo(4 * 0.02 ** 2, 12),
      falsePagesPerMonthBound: expect.closeTo(0.576, 9),
    });
    expect(expectedPolicy(prod.config).policy).toMatchObject({
      alpha: 0.01,
      datapointsToAlarm: 2,
      evaluationPeriods: 2,
      windowsPerMonth: 720,
      falseRunBound: expect.closeTo(4 * 0.01 ** 2, 12),
      falsePagesPerMonthBound: expect.closeTo(0.864, 9),
    });
  });

  it.each(['dev', 'prod'] as const)(
    '%s: Collect, Check, OnAlarm and the API get the policy the alarms are synthesized with',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const { policy, json } = expectedPolicy(s.config);
      for (const entry of [ENTRY.collect, ENTRY.check, ENTRY.onAlarm, ENTRY.api]) {
        const raw = envOf(s.json, entry).DRIFT_POLICY;
        expect(JSON.parse(raw), entry).toEqual(json);
        // ...in the shape the functions parse at cold start.
        expect(parsePolicy(raw), entry).toEqual(json);
      }
      for (const entry of [ENTRY.collect, ENTRY.api]) {
        expect(JSON.parse(envOf(s.json, entry).DRIFT_CHECKS), entry).toEqual(s.config.drift.checks);
      }
      for (const [, alarm] of signalAlarms(s.json).values()) {
        expect(alarm.EvaluationPeriods).toBe(policy.evaluationPeriods);
        expect(alarm.DatapointsToAlarm).toBe(policy.datapointsToAlarm);
      }
    },
  );
});

describe('the drift alarms', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: per check and signal, DriftScore ≥ 1 in M of N windows of the cadence, without actions; per check a composite that pages',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const { policy } = expectedPolicy(s.config);
      const topicId = onlyId(s.json, 'AWS::SNS::Topic');
      const alarms = signalAlarms(s.json);
      expect(alarms.size).toBe(s.config.drift.checks.length * PAGING_DRIFT_SIGNALS.length);
      // The alarm watches the series the Check function emits (its Powertools service and namespace).
      const checkEnv = envOf(s.json, ENTRY.check);
      expect(checkEnv.POWERTOOLS_SERVICE_NAME).toBe(METRICS_SERVICE);
      expect(checkEnv.POWERTOOLS_METRICS_NAMESPACE).toBe(LLMOPS_METRICS_NAMESPACE);
      const composites = resourcesOfType(s.json, 'AWS::CloudWatch::CompositeAlarm');
      for (const c of s.config.drift.checks) {
        const ids: string[] = [];
        for (const signal of PAGING_DRIFT_SIGNALS) {
          const found = alarms.get(`${c.name}/${signal}`);
          expect(found, `${c.name}/${signal}`).toBeDefined();
          const [id, alarm] = found as [string, Record<string, CfnJson>];
          ids.push(id);
          expect(alarm).toMatchObject({
            Namespace: LLMOPS_METRICS_NAMESPACE,
            MetricName: DRIFT_SCORE_METRIC,
            Statistic: 'Maximum',
            Period: s.config.drift.cadenceMinutes * 60,
            Threshold: 1,
            ComparisonOperator: 'GreaterThanOrEqualToThreshold',
            EvaluationPeriods: policy.evaluationPeriods,
            DatapointsToAlarm: policy.datapointsToAlarm,
            TreatMissingData: 'notBreaching',
          });
          const dims = (alarm.Dimensions as CfnJson[]).map((d) => [d.Name, d.Value]);
          expect(Object.fromEntries(dims)).toEqual({
            service: METRICS_SERVICE,
            Check: c.name,
            Signal: signal,
          });
          expect(dims).toHaveLength(3);
          // The composite pages; its members do not.
          expect(alarm.AlarmActions).toBeUndefined();
          expect(alarm.OKActions).toBeUndefined();
          expect(alarm.InsufficientDataActions).toBeUndefined();
          // CloudWatch evaluates at most a day of periods.
          expect((alarm.Period as number) * (alarm.EvaluationPeriods as number)).toBeLessThanOrEqual(86_400);
        }
        const rule = `(${ids.map((id) => `ALARM("<${id}.Arn>")`).join(' OR ')})`;
        const mine = composites.filter(([, r]) => flatten(props(r).AlarmRule) === rule);
        expect(mine, `${c.name}: one composite, any signal`).toHaveLength(1);
        const composite = props((mine[0] as [string, CfnResource])[1]);
        expect(composite.AlarmActions).toEqual([{ Ref: topicId }]);
        expect(composite.OKActions).toEqual([{ Ref: topicId }]);
      }
      expect(composites).toHaveLength(s.config.drift.checks.length);
    },
  );
});

describe('a drift alarm into ALARM becomes llmops.DriftDetected', () => {
  const arnOf = (alarmId: string) =>
    `arn:aws:cloudwatch:us-east-1:111122223333:alarm:LlmOps-dev-${alarmId}-X1Y2Z3`;
  /** The rule's pattern with each alarm's `Fn::GetAtt` as the ARN CloudWatch puts in `resources`. */
  const resolved = (pattern: CfnJson) => ({
    ...pattern,
    resources: (pattern.resources as CfnJson[]).map((r) => arnOf(r['Fn::GetAtt'][0])),
  });

  it.each(['dev', 'prod'] as const)(
    "%s: a default-bus rule on exactly the signal alarms' ALARM → OnAlarm, with a dead-letter queue",
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const rules = rulesTargeting(s.json, functionArn(s.json, ENTRY.onAlarm));
      expect(rules).toHaveLength(1);
      const rule = props((rules[0] as [string, CfnResource])[1]);
      expect(rule.EventBusName, 'the default bus').toBeUndefined();
      const signalAlarmArns = [...signalAlarms(s.json).values()].map(([id]) => ({
        'Fn::GetAtt': [id, 'Arn'],
      }));
      expect(rule.EventPattern).toEqual({
        source: ['aws.cloudwatch'],
        'detail-type': [CLOUDWATCH_ALARM_STATE_CHANGE],
        resources: expect.arrayContaining(signalAlarmArns),
        detail: { state: { value: ['ALARM'] } },
      });
      expect(rule.EventPattern.resources).toHaveLength(signalAlarmArns.length);
      expect(deadLetterQueueOf(rule.Targets[0])).toMatch(/^DriftTriggerDeadLetterQueue/);
    },
  );

  it("matches CloudWatch's state change of a drift alarm into ALARM; not into OK, nor another alarm's", () => {
    const rule = props(
      (rulesTargeting(dev.json, functionArn(dev.json, ENTRY.onAlarm))[0] as [string, CfnResource])[1],
    );
    const pattern = resolved(rule.EventPattern);
    const sample = loadSample('cloudwatch-alarm-state-change', cloudWatchAlarmStateChangeEvent);
    const raw = rawSample('cloudwatch-alarm-state-change') as typeof sample;
    expect(raw['detail-type']).toBe(CLOUDWATCH_ALARM_STATE_CHANGE);
    const check = dev.config.drift.checks[0]?.name as string;
    const [alarmId] = signalAlarms(dev.json).get(`${check}/embedding`) ?? [];
    const [compositeId] = resourcesOfType(dev.json, 'AWS::CloudWatch::CompositeAlarm')[0] ?? [];
    const changed = (arn: string, state: string) => ({
      ...raw,
      resources: [arn],
      detail: { ...raw.detail, state: { ...raw.detail.state, value: state } },
    });
    const drifted = changed(arnOf(alarmId as string), 'ALARM');
    expect(cloudWatchAlarmStateChangeEvent.safeParse(drifted).success).toBe(true);
    expect(matchesPattern(pattern, drifted)).toBe(true);
    expect(matchesPattern(pattern, changed(arnOf(alarmId as string), 'OK'))).toBe(false);
    // The sample as CloudWatch sent it: the API 5XX alarm.
    expect(matchesPattern(pattern, raw)).toBe(false);
    expect(matchesPattern(pattern, changed(String(raw.resources[0]), 'ALARM'))).toBe(false);
    // The composite pages, but only a signal alarm says which signal drifted.
    expect(matchesPattern(pattern, changed(arnOf(compositeId as string), 'ALARM'))).toBe(false);
  });
});

describe('llmops.DriftDetected starts an evaluation of production', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: a project-bus rule → StartEvaluation, which is given drift.onDrift',
    (p) => {
      const s = p === 'dev' ? dev : prod;
      expect(s.config.drift.onDrift).toBeDefined();
      const rules = rulesTargeting(s.json, functionArn(s.json, ENTRY.startEvaluation));
      expect(rules).toHaveLength(1);
      const rule = props((rules[0] as [string, CfnResource])[1]);
      expect(rule.EventBusName).toEqual({ Ref: onlyId(s.json, 'AWS::Events::EventBus') });
      expect(rule.EventPattern).toEqual({ source: [LLMOPS_SOURCE], 'detail-type': [DRIFT_DETECTED] });
      expect(deadLetterQueueOf(rule.Targets[0])).toMatch(/^DriftTriggerDeadLetterQueue/);
      expect(JSON.parse(envOf(s.json, ENTRY.startEvaluation).DRIFT_EVALUATION)).toEqual(
        s.config.drift.onDrift,
      );

      const detected = busEvent(LLMOPS_SOURCE, DRIFT_DETECTED, {
        schemaVersion: SCHEMA_VERSION,
        alarmName: 'LlmOps-dev-DriftAlarmalltrafficembedding-X1Y2Z3',
        check: s.config.drift.checks[0]?.name,
        metric: { namespace: LLMOPS_METRICS_NAMESPACE, name: DRIFT_SCORE_METRIC, signal: 'embedding' },
        window: {
          end: '2026-05-12T06:00:00.000Z',
          periodSeconds: 3600,
          evaluationPeriods: 2,
          datapointsToAlarm: 2,
        },
        value: 1.7,
        threshold: 1,
        baseline: 3,
        method: 'mmd',
        reason: 'Threshold Crossed',
      });
      expect(driftDetectedEvent.safeParse(detected).success).toBe(true);
      expect(matchesPattern(rule.EventPattern, detected)).toBe(true);
    },
  );

  it('without drift.onDrift: no StartEvaluation function and no DriftDetected rule; the alarms still reach OnAlarm', () => {
    const { json, config } = withoutOnDrift;
    expect(config.drift.onDrift).toBeUndefined();
    expect(functionIdOf(json, ENTRY.startEvaluation)).toBeUndefined();
    const onDetected = resourcesOfType(json, 'AWS::Events::Rule').filter(([, r]) =>
      (props(r).EventPattern?.['detail-type'] ?? []).includes(DRIFT_DETECTED),
    );
    expect(onDetected).toEqual([]);
    expect(rulesTargeting(json, functionArn(json, ENTRY.onAlarm))).toHaveLength(1);
    expect(signalAlarms(json).size).toBe(config.drift.checks.length * PAGING_DRIFT_SIGNALS.length);
  });
});

describe('grants', () => {
  /** The flattened resources of the Allow statements of `entry` with `action`. */
  const resources = (json: CfnTemplate, entry: string, action: string) =>
    sorted(
      entryStatements(json, entry)
        .filter((st) => st.Effect === 'Allow' && list(st.Action).includes(action))
        .flatMap((st) => list(st.Resource).map(flatten)),
    );
  const actions = (json: CfnTemplate, entry: string) =>
    new Set(entryStatements(json, entry).flatMap((st) => (st.Effect === 'Allow' ? list(st.Action) : [])));
  const bucket = (json: CfnTemplate, name: 'Artifacts' | 'Curated') =>
    only(json, 'AWS::S3::Bucket', (_r, id) => id.startsWith(`Storage${name}`))[0];

  it.each(['dev', 'prod'] as const)(
    '%s: Collect reads the interaction log, evaluations and golden datasets, writes its window and baselines, and invokes only the embedding model',
    (p) => {
      const { json } = p === 'dev' ? dev : prod;
      const artifacts = `<${bucket(json, 'Artifacts')}.Arn>`;
      const curated = `<${bucket(json, 'Curated')}.Arn>`;
      expect(resources(json, ENTRY.collect, 's3:GetObject')).toEqual(
        sorted([`${artifacts}/interactions/*`, `${artifacts}/evaluations/*`, `${curated}/datasets/golden/*`]),
      );
      expect(resources(json, ENTRY.collect, 's3:PutObject')).toEqual(
        sorted([`${artifacts}/staging/drift/*`, `${artifacts}/drift/baselines/*`]),
      );
      const { modelId } = JSON.parse(envOf(json, ENTRY.collect).EMBEDDING_MODEL) as { modelId: string };
      const modelActions = [...actions(json, ENTRY.collect)].filter(
        (a) => a.startsWith('bedrock:') || a.startsWith('sagemaker:'),
      );
      expect(modelActions).toEqual(['bedrock:InvokeModel']);
      const invoke = resources(json, ENTRY.collect, 'bedrock:InvokeModel');
      expect(invoke).toEqual([`arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/${modelId}`]);
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: Check stays in staging/drift/, drift/baselines/ and drift/reports/, and invokes exactly the judge and the embedding model',
    (p) => {
      const { json, config } = p === 'dev' ? dev : prod;
      const artifacts = `<${bucket(json, 'Artifacts')}.Arn>`;
      const allowed = [
        `${artifacts}/staging/drift/*`,
        `${artifacts}/drift/baselines/*`,
        `${artifacts}/drift/reports/*`,
      ];
      const objectResources = entryStatements(json, ENTRY.check)
        .filter((st) => st.Effect === 'Allow' && list(st.Action).some((a) => a.startsWith('s3:')))
        .flatMap((st) => list(st.Resource).map(flatten))
        .filter((r) => r !== artifacts);
      expect(objectResources.length).toBeGreaterThan(0);
      for (const r of objectResources) expect(allowed).toContain(r);
      expect(resources(json, ENTRY.check, 's3:GetObject')).toEqual(
        sorted([`${artifacts}/staging/drift/*`, `${artifacts}/drift/baselines/*`]),
      );
      expect(resources(json, ENTRY.check, 's3:PutObject')).toEqual(
        sorted([`${artifacts}/drift/baselines/*`, `${artifacts}/drift/reports/*`]),
      );
      // The online judge: evaluation.judgeModel (a US inference profile) and the embedding model.
      expect(config.drift.onlineJudge).toBeDefined();
      const judge = config.models.catalog.find((m) => m.id === config.evaluation.judgeModel);
      expect(judge?.modelId).toMatch(/^us\./);
      const { modelId: embeddingId } = JSON.parse(envOf(json, ENTRY.collect).EMBEDDING_MODEL) as {
        modelId: string;
      };
      const modelActions = [...actions(json, ENTRY.check)].filter(
        (a) => a.startsWith('bedrock:') || a.startsWith('sagemaker:'),
      );
      expect(modelActions).toEqual(['bedrock:InvokeModel']);
      expect(resources(json, ENTRY.check, 'bedrock:InvokeModel')).toEqual(
        sorted([
          `arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/${judge?.modelId}`,
          // The profile's foundation model, in the regions of its geography (only through the profile).
          `arn:<AWS::Partition>:bedrock:us-*::foundation-model/${judge?.modelId.replace(/^us\./, '')}`,
          `arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/${embeddingId}`,
        ]),
      );
      const routed = entryStatements(json, ENTRY.check).find((st) =>
        list(st.Resource).some((r) => flatten(r).includes(':us-*::foundation-model/')),
      );
      expect(list(routed?.Condition?.ArnLike?.['bedrock:InferenceProfileArn']).map(flatten)).toEqual([
        `arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/${judge?.modelId}`,
      ]);
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: Check is given the online judge, the judge’s catalog entry and the embedding model',
    (p) => {
      const { json, config } = p === 'dev' ? dev : prod;
      const env = envOf(json, ENTRY.check);
      expect(JSON.parse(env.ONLINE_JUDGE)).toEqual(config.drift.onlineJudge);
      expect(JSON.parse(env.ONLINE_JUDGE_MODEL)).toEqual(
        config.models.catalog.find((m) => m.id === config.evaluation.judgeModel),
      );
      expect(env.EMBEDDING_MODEL).toBe(envOf(json, ENTRY.collect).EMBEDDING_MODEL);
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: Check reads the prompts table, where the judge resolves its rubric, and only inserts the seed (PutItem, UpdateItem)',
    (p) => {
      const { json } = p === 'dev' ? dev : prod;
      const [tableId] = only(json, 'AWS::DynamoDB::Table', (_r, id) => /^ModelGatewayPromptsTable/.test(id));
      expect(envOf(json, ENTRY.check).PROMPTS_TABLE).toEqual({ Ref: tableId });
      const granted = entryStatements(json, ENTRY.check)
        .filter((st) => st.Effect === 'Allow' && list(st.Resource).map(flatten).includes(`<${tableId}.Arn>`))
        .flatMap((st) => list(st.Action));
      expect(granted).toEqual(
        expect.arrayContaining([
          'dynamodb:GetItem',
          'dynamodb:Query',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
        ]),
      );
      for (const a of ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:Scan']) {
        expect(granted).not.toContain(a);
      }
    },
  );

  it('the profiles: dev judges 10% of a window’s answers (at most 20), prod 5% (at most 50)', () => {
    expect(dev.config.drift.onlineJudge).toEqual({ share: 0.1, maxPerWindow: 20, minJudged: 10 });
    expect(prod.config.drift.onlineJudge).toEqual({ share: 0.05, maxPerWindow: 50, minJudged: 20 });
  });

  it('without drift.onlineJudge: Check calls no model and is given no judge', () => {
    const { json, config } = withoutOnlineJudge;
    expect(config.drift.onlineJudge).toBeUndefined();
    expect(
      [...actions(json, ENTRY.check)].filter((a) => a.startsWith('bedrock:') || a.startsWith('sagemaker:')),
    ).toEqual([]);
    const env = envOf(json, ENTRY.check);
    for (const name of ['ONLINE_JUDGE', 'ONLINE_JUDGE_MODEL', 'EMBEDDING_MODEL', 'PROMPTS_TABLE'])
      expect(env).not.toHaveProperty(name);
    // Its S3 access is the same.
    const artifacts = `<${bucket(json, 'Artifacts')}.Arn>`;
    expect(resources(json, ENTRY.check, 's3:PutObject')).toEqual(
      sorted([`${artifacts}/drift/baselines/*`, `${artifacts}/drift/reports/*`]),
    );
  });

  it.each(['dev', 'prod'] as const)(
    '%s: OnAlarm reads the drift table and writes nothing to it; the table is encrypted with the project key',
    (p) => {
      const { json } = p === 'dev' ? dev : prod;
      const [tableId, table] = only(json, 'AWS::DynamoDB::Table', (_r, id) =>
        id.startsWith('DriftDriftTable'),
      );
      const dynamo = entryStatements(json, ENTRY.onAlarm).filter(
        (st) => st.Effect === 'Allow' && list(st.Action).some((a) => a.startsWith('dynamodb:')),
      );
      expect(dynamo.length).toBeGreaterThan(0);
      for (const st of dynamo) {
        expect(list(st.Resource).map(flatten)).toEqual([`<${tableId}.Arn>`]);
        for (const a of list(st.Action)) {
          expect([
            'dynamodb:PutItem',
            'dynamodb:UpdateItem',
            'dynamodb:DeleteItem',
            'dynamodb:BatchWriteItem',
          ]).not.toContain(a);
        }
      }
      expect([...actions(json, ENTRY.onAlarm)].filter((a) => a.startsWith('s3:'))).toEqual([]);
      expect(props(table).SSESpecification).toEqual({
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: { 'Fn::GetAtt': [onlyId(json, 'AWS::KMS::Key'), 'Arn'] },
      });
    },
  );
});

describe('the feedback signal’s grants', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: Collect reads the feedback table (the verdicts on each window’s answers) and writes nothing to it',
    (p) => {
      const { json } = p === 'dev' ? dev : prod;
      const [tableId] = only(json, 'AWS::DynamoDB::Table', (_r, id) => /^FeedbackFeedbackTable/.test(id));
      expect(envOf(json, ENTRY.collect).FEEDBACK_TABLE).toEqual({ Ref: tableId });
      const onTable = entryStatements(json, ENTRY.collect).filter(
        (st) => st.Effect === 'Allow' && list(st.Resource).map(flatten).includes(`<${tableId}.Arn>`),
      );
      const granted = onTable.flatMap((st) => list(st.Action));
      expect(granted).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:GetItem']));
      for (const a of [
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
      ]) {
        expect(granted).not.toContain(a);
      }
      // Check reads no feedback: Collect hands it the counts.
      expect(envOf(json, ENTRY.check)).not.toHaveProperty('FEEDBACK_TABLE');
    },
  );
});

describe('the dashboard', () => {
  it.each(['dev', 'prod'] as const)(
    "%s: a Drift section charts each check's DriftScore by signal against the threshold (1)",
    (p) => {
      const s = p === 'dev' ? dev : prod;
      const [, dashboard] = only(s.json, 'AWS::CloudWatch::Dashboard', () => true);
      const body = JSON.parse(flatten(props(dashboard).DashboardBody)) as { widgets: CfnJson[] };
      const start = body.widgets.findIndex((w) => w.type === 'text' && w.properties.markdown === '## Drift');
      expect(start, 'a Drift section').toBeGreaterThanOrEqual(0);
      const rest = body.widgets.slice(start + 1);
      const end = rest.findIndex((w) => w.type === 'text');
      const section = end === -1 ? rest : rest.slice(0, end);
      const graphs = section.filter((w) => w.type === 'metric');
      expect(graphs).toHaveLength(s.config.drift.checks.length);
      for (const c of s.config.drift.checks) {
        const graph = graphs.find((w) =>
          (w.properties.metrics as CfnJson[][]).some((line) => line.includes(c.name)),
        );
        expect(graph, c.name).toBeDefined();
        const lines = (graph.properties.metrics as CfnJson[][]).map((line) =>
          line.filter((part) => typeof part === 'string'),
        );
        // The paging signals, then those published without an alarm.
        expect(lines).toEqual(
          [...PAGING_DRIFT_SIGNALS, ...DRIFT_WATCHED_SIGNALS].map((signal) => [
            LLMOPS_METRICS_NAMESPACE,
            DRIFT_SCORE_METRIC,
            'Check',
            c.name,
            'Signal',
            signal,
            'service',
            METRICS_SERVICE,
          ]),
        );
        expect(graph.properties.annotations.horizontal).toContainEqual(expect.objectContaining({ value: 1 }));
      }
      expect(section.some((w) => w.type === 'alarm')).toBe(true);
    },
  );
});

describe('cdk-nag', () => {
  it('passes on the dev stack with every drift resource (no unacknowledged finding)', () => {
    const errors = dev.validationViolations.filter((v) => v.severity === 'error');
    expect(errors).toEqual([]);
  });
});
