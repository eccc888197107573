/**
 * Evaluation in the synthesized stack: the Evaluate state machine (states, the Map of batches, the
 * catches that record a failed run), the rules that start it and register suites, the schedules (one per
 * configured schedule, putting llmops.EvaluationRequested on the project bus with a dead-letter queue),
 * the regression alarm that pages, and the least privilege of each evaluation function. cdk-nag passes
 * with the dev profile's plugin run (cdk-nag.test.ts gates the whole stack; this file synthesizes dev with
 * the plugin on, so an unacknowledged finding here fails synthesis).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluationCompletedEvent } from '#events/evaluation-completed.ts';
import { evaluationRequestedDetail } from '#events/evaluation-requested.ts';
import { loadSample } from '#events/samples.ts';
import { matchesPattern } from '#infra/local/event-pattern.ts';
import { entryStatements, functionOfEntry, list } from './support/iam.ts';
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

beforeAll(() => {
  dev = synth({ profile: 'dev' }, { cfnValidation: false });
  prod = synth({ profile: 'prod' }, { nag: false, cfnValidation: false });
});

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, CfnJson>;

function only(
  json: CfnTemplate,
  type: string,
  predicate: (r: CfnResource, id: string) => boolean,
): [string, CfnResource] {
  const found = resourcesOfType(json, type).filter(([id, r]) => predicate(r, id));
  expect(found, `exactly one ${type}`).toHaveLength(1);
  return found[0] as [string, CfnResource];
}

const evaluate = (json: CfnTemplate) =>
  only(json, 'AWS::StepFunctions::StateMachine', (r) => r.Metadata?.['llmops:pipeline'] === 'Evaluate');
const definitionOf = (json: CfnTemplate): CfnJson =>
  JSON.parse(flatten(props(evaluate(json)[1]).DefinitionString));

const ENTRY = {
  registerSuite: 'functions/evaluation/register-suite.ts',
  plan: 'functions/evaluation/plan.ts',
  generate: 'functions/evaluation/generate.ts',
  score: 'functions/evaluation/score.ts',
  report: 'functions/evaluation/report.ts',
  recordFailure: 'functions/evaluation/record-failure.ts',
  catalogScores: 'functions/evaluation/catalog-scores.ts',
  api: 'functions/api/evaluations.ts',
  prompts: 'functions/api/prompts.ts',
} as const;

const actionsOf = (json: CfnTemplate, entry: string): Set<string> =>
  new Set(entryStatements(json, entry).flatMap((st) => (st.Effect === 'Allow' ? list(st.Action) : [])));
const envOf = (json: CfnTemplate, entry: string): Record<string, CfnJson> =>
  props(functionOfEntry(json, entry)).Environment.Variables;

describe('the Evaluate state machine', () => {
  it('plans, answers and scores each batch in an inline Map, reports, and records every failure before failing', () => {
    const definition = definitionOf(dev.json);
    expect(definition.StartAt).toBe('Plan');
    const states = definition.States as Record<string, CfnJson>;
    expect(states.Plan.Next).toBe('Planned?');
    expect(states['Planned?'].Choices[0]).toMatchObject({ Variable: '$.status', StringEquals: 'planned' });
    expect(states['Planned?'].Default).toBe('Done');
    const batches = states.Batches;
    expect(batches.Type).toBe('Map');
    expect(batches.ItemProcessor.ProcessorConfig?.Mode ?? 'INLINE').toBe('INLINE');
    expect(batches.MaxConcurrency).toBe(dev.config.evaluation.maxConcurrency);
    expect(batches.ItemProcessor.StartAt).toBe('Generate');
    expect(batches.ItemProcessor.States.Generate.Next).toBe('Score');
    expect(batches.Next).toBe('Report');
    // Every step's failure is caught and recorded on the run, then the execution fails (and pages).
    for (const name of ['Batches', 'Report']) {
      expect(states[name].Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' },
      ]);
    }
    expect(states.Plan.Catch[0]).toMatchObject({ ErrorEquals: ['States.ALL'], Next: 'RecordPlanFailure' });
    expect(states.RecordFailure.Next).toBe('RunFailed');
    expect(states.RunFailed.Type).toBe('Fail');
    expect(states.RecordPlanFailure.Next).toBe('PlanFailed');
    // Throttling (the handlers' retryable errors) is retried with jittered backoff.
    const retried = (states.Batches.ItemProcessor.States.Generate.Retry as CfnJson[]).flatMap(
      (r) => r.ErrorEquals,
    );
    expect(retried).toContain('ThrottledError');
  });

  it('is started by llmops.EvaluationRequested on the project bus, with a dead-letter queue', () => {
    const [smId] = evaluate(dev.json);
    const [, rule] = only(dev.json, 'AWS::Events::Rule', (r) =>
      ((props(r).Targets ?? []) as CfnJson[]).some(
        (t) => JSON.stringify(t.Arn) === JSON.stringify({ Ref: smId }),
      ),
    );
    expect(props(rule).EventPattern).toEqual({
      source: ['llmops'],
      'detail-type': ['llmops.EvaluationRequested'],
    });
    expect(props(rule).Targets[0].DeadLetterConfig).toBeDefined();
  });
});

describe('schedules', () => {
  it('one per configured schedule, putting the request on the project bus, retried into a dead-letter queue', () => {
    for (const synthesized of [dev, prod]) {
      const schedules = resourcesOfType(synthesized.json, 'AWS::Scheduler::Schedule').filter(([id]) =>
        id.startsWith('Evaluation'),
      );
      expect(schedules).toHaveLength(synthesized.config.evaluation.schedules.length);
      const configured = synthesized.config.evaluation.schedules[0];
      const [, schedule] = schedules[0] as [string, CfnResource];
      const target = props(schedule).Target;
      expect(props(schedule).ScheduleExpression).toBe(configured?.expression);
      expect(target.EventBridgeParameters).toEqual({
        DetailType: 'llmops.EvaluationRequested',
        Source: 'llmops',
      });
      expect(target.DeadLetterConfig).toBeDefined();
      expect(target.RetryPolicy.MaximumRetryAttempts).toBe(8);
      // What the schedule puts is a request the state machine's Plan accepts.
      const detail = evaluationRequestedDetail.parse(JSON.parse(target.Input));
      expect(detail).toMatchObject({
        trigger: 'schedule',
        requestedBy: `schedule:${configured?.name}`,
        request: { suite: configured?.suite, maxItems: configured?.maxItems, k: configured?.k },
      });
    }
  });

  it('the dev schedule samples few items and judges each once; prod samples more, with three repeats', () => {
    expect(dev.config.evaluation.schedules[0]).toMatchObject({ maxItems: 20, k: 1 });
    expect(prod.config.evaluation.schedules[0]).toMatchObject({ maxItems: 200, k: 3 });
  });
});

describe('rules', () => {
  const rulesTo = (json: CfnTemplate, entry: string) => {
    const fnId = Object.entries(json.Resources).find(
      ([, r]) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.['llmops:entry'] === entry,
    )?.[0];
    return resourcesOfType(json, 'AWS::Events::Rule').filter(([, r]) =>
      ((props(r).Targets ?? []) as CfnJson[]).some(
        (t) => JSON.stringify(t.Arn) === JSON.stringify({ 'Fn::GetAtt': [fnId, 'Arn'] }),
      ),
    );
  };

  it('golden datasets register suites; other purposes do not', () => {
    const rules = rulesTo(dev.json, ENTRY.registerSuite);
    expect(rules).toHaveLength(1);
    const pattern = props((rules[0] as [string, CfnResource])[1]).EventPattern;
    const event = (purpose: string) => ({
      source: 'llmops',
      'detail-type': 'llmops.DatasetReady',
      detail: { purpose },
    });
    expect(matchesPattern(pattern, event('golden'))).toBe(true);
    expect(matchesPattern(pattern, event('rag'))).toBe(false);
  });

  it("a model's completed evaluation goes to the catalog; a prompt-only one does not", () => {
    const rules = rulesTo(dev.json, ENTRY.catalogScores);
    expect(rules).toHaveLength(1);
    const pattern = props((rules[0] as [string, CfnResource])[1]).EventPattern;
    const sample = loadSample('evaluation-completed', evaluationCompletedEvent);
    expect(matchesPattern(pattern, sample)).toBe(true);
    const promptOnly = { ...sample, detail: { ...sample.detail, target: { prompt: 'support:3' } } };
    expect(matchesPattern(pattern, promptOnly)).toBe(false);
  });
});

describe('the regression alarm', () => {
  it('pages on one regression of a scheduled run, summed over every suite', () => {
    const [, alarm] = only(dev.json, 'AWS::CloudWatch::Alarm', (_r, id) =>
      id.startsWith('EvaluationRegressionAlarm'),
    );
    const p = props(alarm);
    expect(p.Threshold).toBe(1);
    expect(p.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
    expect(p.TreatMissingData).toBe('notBreaching');
    expect(p.Metrics[0].Expression).toBe('SELECT SUM(EvaluationRegressions) FROM "LLMOps"');
    expect(flatten(p.AlarmActions)).toContain('AlertsPagingTopic');
  });
});

describe('least privilege', () => {
  it('only Score calls the judge model, Comprehend and the guardrail; only Generate answers through the gateway', () => {
    const score = actionsOf(dev.json, ENTRY.score);
    expect(score).toContain('bedrock:InvokeModel');
    expect(score).toContain('comprehend:DetectToxicContent');
    expect(score).toContain('bedrock:ApplyGuardrail');
    expect(score).not.toContain('dynamodb:PutItem');
    const judgeResources = entryStatements(dev.json, ENTRY.score)
      .filter((st) => list(st.Action).includes('bedrock:InvokeModel'))
      .flatMap((st) => list(st.Resource).map(flatten));
    expect(judgeResources.join(' ')).toContain('claude-haiku-4-5');
    expect(judgeResources.join(' ')).not.toContain('nova-pro');

    const generate = actionsOf(dev.json, ENTRY.generate);
    expect(generate).toContain('bedrock:InvokeModel');
    expect(generate).toContain('events:PutEvents');
    for (const entry of [ENTRY.plan, ENTRY.report, ENTRY.recordFailure, ENTRY.registerSuite, ENTRY.api]) {
      const actions = actionsOf(dev.json, entry);
      expect(
        [...actions].filter((a) => a.startsWith('bedrock:') || a.startsWith('sagemaker:')),
        entry,
      ).toEqual([]);
    }
  });

  it('each function puts only its own events on the bus', () => {
    const detailTypes = (entry: string) =>
      entryStatements(dev.json, entry)
        .filter((st) => list(st.Action).includes('events:PutEvents'))
        .flatMap((st) => list(st.Condition?.['ForAllValues:StringEquals']?.['events:detail-type'] ?? []))
        .sort();
    expect(detailTypes(ENTRY.report)).toEqual(['llmops.EvaluationCompleted']);
    expect(detailTypes(ENTRY.api)).toEqual(['llmops.EvaluationRequested']);
    expect(detailTypes(ENTRY.prompts)).toEqual(['llmops.EvaluationRequested', 'llmops.PromptGateOverridden']);
    expect(detailTypes(ENTRY.plan)).toEqual([]);
  });

  it('staging and reports are separate prefixes; the curated bucket is read under datasets/golden/ only', () => {
    const resources = (entry: string, action: string) =>
      entryStatements(dev.json, entry)
        .filter((st) => st.Effect === 'Allow' && list(st.Action).includes(action))
        .flatMap((st) => list(st.Resource).map(flatten));
    expect(resources(ENTRY.plan, 's3:PutObject').every((r) => r.endsWith('/staging/eval/*'))).toBe(true);
    expect(resources(ENTRY.report, 's3:PutObject').some((r) => r.endsWith('/evaluations/*'))).toBe(true);
    expect(resources(ENTRY.api, 's3:GetObject').every((r) => r.endsWith('/evaluations/*'))).toBe(true);
    expect(resources(ENTRY.api, 's3:PutObject')).toEqual([]);
    const curatedReads = resources(ENTRY.registerSuite, 's3:GetObject');
    expect(curatedReads.length).toBeGreaterThan(0);
    expect(curatedReads.every((r) => r.endsWith('/datasets/golden/*'))).toBe(true);
  });

  it('Plan reads the prompt registry, and seeds the judge rubrics with puts and updates only (no delete, no batch)', () => {
    // The table's name is a Ref to it; its ARN in a statement is its Arn attribute.
    const table = flatten(envOf(dev.json, ENTRY.plan).PROMPTS_TABLE).replace(/^<(.*)>$/, '$1');
    const onPrompts = entryStatements(dev.json, ENTRY.plan).filter(
      (st) => st.Effect === 'Allow' && list(st.Resource).some((r) => flatten(r) === `<${table}.Arn>`),
    );
    expect(onPrompts.length).toBeGreaterThan(0);
    const actions = new Set(onPrompts.flatMap((st) => list(st.Action)));
    expect(actions).toContain('dynamodb:Query');
    expect(actions).toContain('dynamodb:PutItem');
    expect(actions).toContain('dynamodb:UpdateItem');
    for (const action of ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:Scan']) {
      expect(actions).not.toContain(action);
    }
  });

  it('the prompts function reads the gate and knows which suite gates which prompt', () => {
    const env = envOf(dev.json, ENTRY.prompts);
    expect(JSON.parse(env.PROMOTION_SUITES)).toEqual(dev.config.evaluation.promotionSuites);
    expect(env.EVALUATIONS_TABLE).toBeDefined();
    expect(env.EVENT_BUS_NAME).toBeDefined();
  });
});

describe('cdk-nag', () => {
  it('passes on the dev stack with every evaluation resource (no unacknowledged finding)', () => {
    const errors = dev.validationViolations.filter((v) => v.severity === 'error');
    expect(errors).toEqual([]);
  });
});
