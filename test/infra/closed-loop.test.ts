/**
 * The closed loop's reach in the synthesized deployment (nested stacks flattened): with fine-tuning, the
 * loop function may route the served line back (the catalog, the rollout table, SageMaker's view of what
 * serves, read only); without it, it gets none of that. And what a drift alarm evaluates: each drift
 * check's own `onDrift`, passed to StartEvaluation by check name, else `drift.onDrift` (the configuration
 * is edited in code: no context key sets it).
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AppConfig, loadConfig, validateConfig } from '#infra/config/index.ts';
import { cdkJsonContext, LlmOpsStack } from '#infra/stacks/llmops-stack.ts';
import { entryStatements, functionOfEntry, list, type Statement } from './support/iam.ts';
import { type CfnJson, type CfnTemplate, flatten, type Synthesized, synth } from './support/synth.ts';

const LOOP = 'functions/loop/on-event.ts';
const START_EVALUATION = 'functions/drift/start-evaluation.ts';
const COLLECT = 'functions/drift/collect.ts';

let dev: Synthesized;
let withoutFineTuning: Synthesized;

beforeAll(() => {
  dev = synth({ profile: 'dev' }, { cfnValidation: false });
  withoutFineTuning = synth({ profile: 'dev', fineTuning: 'false' }, { nag: false, cfnValidation: false });
});

const envOf = (json: CfnTemplate, entry: string): Record<string, CfnJson> =>
  (functionOfEntry(json, entry).Properties as Record<string, CfnJson>).Environment.Variables;

/** The flattened resources of the Allow statements of `entry` that grant `action`. */
const resourcesOf = (statements: Statement[], action: string): string[] =>
  statements
    .filter((st) => st.Effect === 'Allow' && list(st.Action).includes(action))
    .flatMap((st) => list(st.Resource).map(flatten))
    .sort();

const actionsOn = (statements: Statement[], resource: string): string[] =>
  [
    ...new Set(
      statements
        .filter((st) => st.Effect === 'Allow' && list(st.Resource).map(flatten).includes(resource))
        .flatMap((st) => list(st.Action)),
    ),
  ].sort();

describe('the loop function and a served line', () => {
  it('with fine-tuning: reads and routes the served line, through the catalog and the rollout table', () => {
    const env = envOf(dev.json, LOOP);
    const catalog = flatten(env.CATALOG_TABLE);
    const rollouts = flatten(env.ROLLOUT_TABLE);
    expect(catalog).toMatch(/^<ModelGatewayCatalogTable[0-9A-F]+>$/);
    expect(rollouts).toMatch(/^<FineTuningFinetuneTable[0-9A-F]+>$/);
    const statements = entryStatements(dev.json, LOOP);
    const arn = (table: string) => `<${table.slice(1, -1)}.Arn>`;
    // The catalog: read, and the conditional updates of the canary and the promotion; never a delete.
    const onCatalog = actionsOn(statements, arn(catalog));
    expect(onCatalog).toContain('dynamodb:UpdateItem');
    expect(onCatalog).toContain('dynamodb:GetItem');
    for (const write of ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) {
      expect(onCatalog).not.toContain(write);
    }
    // The rollout table: the history read, the lock put and deleted, `current` put.
    expect(actionsOn(statements, arn(rollouts))).toEqual(
      expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem']),
    );
  });

  it("with fine-tuning: asks SageMaker what serves, and may change nothing of SageMaker's", () => {
    const statements = entryStatements(dev.json, LOOP);
    const sagemaker = [
      ...new Set(
        statements.flatMap((st) => list(st.Action)).filter((action) => action.startsWith('sagemaker:')),
      ),
    ].sort();
    expect(sagemaker).toEqual([
      'sagemaker:DescribeEndpoint',
      'sagemaker:DescribeInferenceComponent',
      'sagemaker:DescribeModelPackage',
    ]);
    const stack = dev.config.stackName.toLowerCase();
    expect(resourcesOf(statements, 'sagemaker:DescribeInferenceComponent')).toEqual([
      expect.stringMatching(/:endpoint\//),
      expect.stringMatching(/:inference-component\/.+\*$/),
      expect.stringMatching(new RegExp(`:model-package/${stack}-tuned-assistant/\\*$`)),
    ]);
  });

  it('without fine-tuning: no catalog, no rollout table and no SageMaker action', () => {
    const env = envOf(withoutFineTuning.json, LOOP);
    expect(env).not.toHaveProperty('CATALOG_TABLE');
    expect(env).not.toHaveProperty('ROLLOUT_TABLE');
    const actions = entryStatements(withoutFineTuning.json, LOOP).flatMap((st) => list(st.Action));
    expect(actions.filter((a) => a.startsWith('sagemaker:'))).toEqual([]);
  });
});

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

describe("a drift check's own evaluation (onDrift per check)", () => {
  const LINE_EVALUATION = { suite: 'golden', model: 'tuned-assistant', maxItems: 20, k: 1 };
  /** Dev with a second check, on the served line's app, that evaluates the line. */
  const withLineCheck = (config: AppConfig, keepDefault: boolean): AppConfig => {
    const { onDrift, ...drift } = config.drift;
    return {
      ...config,
      drift: {
        ...drift,
        ...(keepDefault && onDrift !== undefined ? { onDrift } : {}),
        checks: [...drift.checks, { name: 'tuned-traffic', app: 'tuned', onDrift: LINE_EVALUATION }],
      },
    };
  };

  it("gives StartEvaluation each check's own evaluation by name, beside drift.onDrift; Collect reads only slices", () => {
    const { json, config } = synthConfig((c) => withLineCheck(c, true));
    const env = envOf(json, START_EVALUATION);
    expect(JSON.parse(env.DRIFT_EVALUATION)).toEqual(config.drift.onDrift);
    expect(JSON.parse(env.DRIFT_CHECK_EVALUATIONS)).toEqual({ 'tuned-traffic': LINE_EVALUATION });
    expect(JSON.parse(envOf(json, COLLECT).DRIFT_CHECKS)).toEqual([
      { name: 'all-traffic' },
      { name: 'tuned-traffic', app: 'tuned' },
    ]);
  });

  it('deploys StartEvaluation for a check of its own even without drift.onDrift', () => {
    const { json, config } = synthConfig((c) => withLineCheck(c, false));
    expect(config.drift.onDrift).toBeUndefined();
    const env = envOf(json, START_EVALUATION);
    expect(env).not.toHaveProperty('DRIFT_EVALUATION');
    expect(JSON.parse(env.DRIFT_CHECK_EVALUATIONS)).toEqual({ 'tuned-traffic': LINE_EVALUATION });
  });

  it("refuses a check's onDrift that names neither a prompt nor a model", () => {
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    const config = loadConfig(app);
    const bad = {
      ...config,
      drift: {
        ...config.drift,
        checks: [{ name: 'all-traffic', onDrift: { suite: 'golden', maxItems: 20, k: 1 } }],
      },
    } as AppConfig;
    expect(() => validateConfig(bad)).toThrow(
      '"drift.checks[0].onDrift.prompt" (profile dev): name a prompt, a model or both',
    );
  });
});
