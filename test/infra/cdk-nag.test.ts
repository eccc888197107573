/**
 * The cdk-nag gate: the AwsSolutions pack, registered as in `infra/app.ts`, finds nothing that is not
 * acknowledged, in dev (S3 Vectors), in dev with OpenSearch Serverless, in prod (OpenSearch Serverless),
 * and in prod with the optional features on (Comprehend PII, alert subscriptions, several API apps);
 * every acknowledgement is specific and carries a written reason.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { bedrockInvokeResources } from '#infra/constructs/model-access.ts';
import { iam5ResourceFinding, MIN_REASON_LENGTH } from '#infra/constructs/nag.ts';
import { type CfnJson, flatten, resourcesOfType, type Synthesized, synth } from './support/synth.ts';

let builds: Record<'dev' | 'devWithOpenSearch' | 'prod' | 'prodWithOptions', Synthesized>;

beforeAll(() => {
  builds = {
    dev: synth({ profile: 'dev' }, { cfnValidation: false }),
    devWithOpenSearch: synth({ profile: 'dev', vectorStore: 'opensearch' }, { cfnValidation: false }),
    prod: synth({ profile: 'prod' }, { cfnValidation: false }),
    prodWithOptions: synth(
      {
        profile: 'prod',
        comprehendPii: 'true',
        alertEmails: 'oncall@example.com, ml-team@example.com',
        alertHttpsEndpoints: 'https://events.pagerduty.example/integration/abc',
        apiApps: JSON.stringify([
          { name: 'web', rateLimit: 20, burstLimit: 40, quotaPerDay: 100_000 },
          { name: 'batch-jobs', rateLimit: 5, burstLimit: 10, quotaPerDay: 50_000 },
        ]),
        interactionSampleRate: '0.25',
      },
      { cfnValidation: false },
    ),
  };
});

interface Ack {
  path: string;
  id: string;
  reason: string;
}

/**
 * The project's acknowledgements. CDK's own constructs acknowledge CloudFormation validator findings they
 * know to be safe (`CloudFormation-Validate::W3010` for the literal availability zones `ec2.Vpc` writes in
 * an environment-agnostic stack, `F3002` on `ec2.FlowLog`); those are CDK's, not ours (the project
 * acknowledges no validator finding), and are left out.
 */
function acknowledgements(root: IConstruct): Ack[] {
  const out: Ack[] = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        const rule = id.replace(/^annotation::/i, '');
        if (rule.startsWith('CloudFormation-Validate::')) continue;
        out.push({ path: c.node.path, id: rule, reason });
      }
    }
  }
  return out;
}

const names = ['dev', 'devWithOpenSearch', 'prod', 'prodWithOptions'] as const;

describe('cdk-nag AwsSolutions gate', () => {
  it('covers both vector stores: S3 Vectors in dev, OpenSearch Serverless in prod', () => {
    expect(builds.dev.config.rag.vectorStore).toBe('s3vectors');
    expect(builds.devWithOpenSearch.config.rag.vectorStore).toBe('opensearch');
    expect(builds.prod.config.rag.vectorStore).toBe('opensearch');
  });

  it.each(names)('%s: synthesis under the plugin reports no error and no warning', (name) => {
    const violations = builds[name].validationViolations;
    expect(violations, JSON.stringify(violations, null, 2)).toEqual([]);
  });

  it.each(names)('%s: zero unacknowledged findings (errors and warnings)', (name) => {
    const report = new AwsSolutionsChecks().validateScope(builds[name].app);
    const summary = report.violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(summary).toEqual([]);
    expect(report.success).toBe(true);
  });

  it.each(names)(
    '%s: every acknowledgement names one rule on one construct and has a written reason',
    (name) => {
      const acks = acknowledgements(builds[name].app);
      expect(acks.length).toBeGreaterThan(0);
      const stackPath = builds[name].stack.node.path;
      for (const ack of acks) {
        expect(ack.id, ack.path).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
        expect(ack.reason.trim().length, `${ack.id} on ${ack.path}: "${ack.reason}"`).toBeGreaterThanOrEqual(
          MIN_REASON_LENGTH,
        );
        // No blanket acknowledgements on the app or the stack.
        expect(ack.path.startsWith(`${stackPath}/`), `${ack.id} on ${ack.path}`).toBe(true);
      }
    },
  );

  it("acknowledges AwsSolutions-IAM5 wildcards only on object ARNs, ARN:* Lambda versions, Resource::*, model invocation, the SageMaker names a deployment creates at run time and a Distributed Map's child executions", () => {
    for (const name of names) {
      const { stack, config } = builds[name];
      // The model grants of the functions that answer through the gateway (chat, and Evaluate's Generate,
      // which runs the same code path): the foundation model of each catalog inference profile in the
      // regions of its geography, and the SageMaker endpoints tagged for this deployment.
      const tagged = ['endpoint/*', 'inference-component/*'].map(
        (resource) => `arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:${resource}`,
      );
      const routed = bedrockInvokeResources(config.models.catalog).routed.map((resource) =>
        iam5ResourceFinding(stack, resource),
      );
      const gatewayInvoke = [...routed, ...tagged.map((r) => `AwsSolutions-IAM5[Resource::${r}]`)].sort();
      expect(routed.length, name).toBeGreaterThan(0);
      // Score's judge (and the drift Check's online judge, the same model): the foundation model its
      // catalog inference profile routes to, nothing else.
      const judge = config.models.catalog.find((m) => m.id === config.evaluation.judgeModel);
      expect(judge, name).toBeDefined();
      const judgeInvoke = bedrockInvokeResources(judge ? [judge] : [])
        .routed.map((resource) => iam5ResourceFinding(stack, resource))
        .sort();
      expect(judgeInvoke.length, name).toBeGreaterThan(0);
      const stackPath = stack.node.path;
      const expected: Record<string, string[]> = {
        [`${stackPath}/ModelGateway/ModelInvokePolicy`]: gatewayInvoke,
        [`${stackPath}/ModelGateway/GenerateFunctionModelInvokePolicy`]: gatewayInvoke,
        [`${stackPath}/Evaluation/ScoreFunctionJudgePolicy`]: judgeInvoke,
        ...(config.drift.onlineJudge !== undefined
          ? { [`${stackPath}/Drift/CheckFunctionJudgePolicy`]: judgeInvoke }
          : {}),
      };
      const modelInvoke = new Set([...gatewayInvoke, ...judgeInvoke]);
      // Fine-tuning (its nested stack) names training jobs, adapter components and model package versions at
      // run time, under the deployment's prefix; SageMaker writes their logs to groups it names. Each such
      // finding is acknowledged exactly where it is granted, and nowhere else.
      const sagemaker = 'arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>';
      const deployment = stack.stackName.toLowerCase();
      const fineTuning = `${stackPath}/FineTuningStack`;
      const functionPolicies = (fns: string[]) =>
        fns.map((fn) => `${fineTuning}/FineTuning/${fn}FunctionServiceRole/DefaultPolicy`).sort();
      // The closed loop describes the served line's components and packages before it routes the line back.
      const loopPolicy = config.closedLoop.enabled
        ? [`${stackPath}/ImprovementStack/ClosedLoop/LoopFunctionServiceRole/DefaultPolicy`]
        : [];
      const runTimeNamed: Record<string, string[]> = config.fineTuning.enabled
        ? {
            [`AwsSolutions-IAM5[Resource::${sagemaker}:training-job/${deployment}-*]`]: [
              `${fineTuning}/FineTuning/Pipeline/StateMachine/Role/DefaultPolicy`,
            ],
            [`AwsSolutions-IAM5[Resource::${sagemaker}:inference-component/${deployment}-*]`]: [
              ...functionPolicies(['Register', 'Candidate', 'Gate', 'Rollout', 'Api']),
              ...loopPolicy,
            ].sort(),
            [`AwsSolutions-IAM5[Resource::${sagemaker}:model-package/${deployment}-${config.fineTuning.servedModel}/*]`]:
              [...functionPolicies(['Register', 'Gate', 'Rollout', 'Api']), ...loopPolicy].sort(),
            'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs*]':
              [`${fineTuning}/FineTuning/TrainingPolicy`],
            'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/*]':
              [`${fineTuning}/Serving/ExecutionPolicy`],
          }
        : {};
      const runTimeSeen: Record<string, string[]> = {};
      const seen: Record<string, string[]> = {};
      for (const ack of acknowledgements(builds[name].app).filter((a) =>
        a.id.startsWith('AwsSolutions-IAM5'),
      )) {
        if (modelInvoke.has(ack.id)) {
          expect(Object.keys(expected), `${ack.id} on ${ack.path}`).toContain(ack.path);
          expect(ack.reason, ack.id).toMatch(/inference profile|tagged/);
          seen[ack.path] = [...(seen[ack.path] ?? []), ack.id].sort();
          continue;
        }
        if (ack.id in runTimeNamed) {
          runTimeSeen[ack.id] = [...(runTimeSeen[ack.id] ?? []), ack.path].sort();
          continue;
        }
        // A Distributed Map's child executions: this state machine's own executions (by its name).
        if (ack.path.endsWith('/StateMachine/DistributedMapPolicy')) {
          expect(ack.id, ack.path).toMatch(
            /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:\{"Fn::Select":\[6,\{"Fn::Split":\[":",\{"Ref":"[A-Za-z0-9]+PipelineStateMachine[A-Za-z0-9]+"\}\]\}\]\}(\/[A-Za-z]+)?:\*\]$/,
          );
          continue;
        }
        // An object ARN is the bucket's `<Id.Arn>`, or in a nested stack the parameter it receives it by.
        expect(ack.id, ack.path).toMatch(
          /^AwsSolutions-IAM5\[Resource::(\*|<(?:[A-Za-z0-9]+\.Arn|referenceto[A-Za-z0-9]+Arn)>(\/[a-z0-9/-]*)?\/\*|<[A-Za-z0-9]+\.Arn>:\*)\]$/,
        );
      }
      expect(seen, name).toEqual(expected);
      expect(runTimeSeen, name).toEqual(runTimeNamed);
      // No grant on every model, every profile or every endpoint.
      for (const id of modelInvoke) expect(id).not.toMatch(/foundation-model\/\*|inference-profile\/\*/);
    }
  });

  it('only dev acknowledges the missing WAF (APIG3); no route needs APIG4 (a Lambda authorizer or IAM on each)', () => {
    const acks = (name: (typeof names)[number]) => acknowledgements(builds[name].app);
    expect(acks('dev').filter((a) => a.id === 'AwsSolutions-APIG3')).toHaveLength(1);
    expect(acks('prod').filter((a) => a.id === 'AwsSolutions-APIG3')).toEqual([]);
    expect(acks('prod').filter((a) => a.id === 'AwsSolutions-APIG4')).toEqual([]);
  });

  it('prod acknowledges the ERROR log level (SF1) and dev acknowledges no PITR (DDB3), not the other way round', () => {
    const ids = (name: (typeof names)[number]) => acknowledgements(builds[name].app).map((a) => a.id);
    expect(ids('prod')).toContain('AwsSolutions-SF1');
    expect(ids('prod')).not.toContain('AwsSolutions-DDB3');
    expect(ids('dev')).toContain('AwsSolutions-DDB3');
    expect(ids('dev')).not.toContain('AwsSolutions-SF1');
  });

  it('the gate fails synthesis on an unacknowledged finding', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Bad');
    new sqs.Queue(stack, 'QueueWithoutTls');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const previous = process.env.CDK_VALIDATION;
    process.env.CDK_VALIDATION = 'false';
    try {
      expect(() => Template.fromStack(stack)).toThrow(/AwsSolutions-SQS4/);
    } finally {
      if (previous === undefined) delete process.env.CDK_VALIDATION;
      else process.env.CDK_VALIDATION = previous;
    }
  });
});

describe('optional features (prod with comprehendPii and alert subscriptions)', () => {
  /** The policies that grant any Comprehend action, with the one statement and the roles of each. */
  const comprehendPolicies = (json: Synthesized['json']) =>
    resourcesOfType(json, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties).includes('comprehend:'))
      .map(([, p]) => (p as { Properties: Record<string, CfnJson> }).Properties);
  /** The role of the function bundled from `entry`. */
  const roleOfEntry = (json: Synthesized['json'], entry: string): string => {
    const found = resourcesOfType(json, 'AWS::Lambda::Function').find(
      ([, r]) => r.Metadata?.['llmops:entry'] === entry,
    );
    expect(found, entry).toBeDefined();
    return (found as [string, { Properties: Record<string, CfnJson> }])[1].Properties.Role['Fn::GetAtt'][0];
  };
  /** Evaluate's Score scores toxicity with Comprehend DetectToxicContent in every profile. */
  const toxicityPolicy = (json: Synthesized['json']) => ({
    PolicyDocument: {
      Statement: [{ Action: 'comprehend:DetectToxicContent', Effect: 'Allow', Resource: '*' }],
      Version: '2012-10-17',
    },
    PolicyName: expect.any(String),
    Roles: [{ Ref: roleOfEntry(json, 'functions/evaluation/score.ts') }],
  });

  it('ProcessPart gets comprehend:DetectPiiEntities in a policy of its own, and PII_COMPREHEND=true; no other Comprehend grant but Score toxicity', () => {
    const { json } = builds.prodWithOptions;
    const processPart = resourcesOfType(json, 'AWS::Lambda::Function').find(
      ([, r]) => r.Metadata?.['llmops:entry'] === 'functions/dataprep/process-part.ts',
    );
    expect(processPart).toBeDefined();
    const [, fn] = processPart as [string, { Properties: Record<string, CfnJson> }];
    expect(fn.Properties.Environment.Variables.PII_COMPREHEND).toBe('true');
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    const comprehend = comprehendPolicies(json);
    expect(comprehend).toHaveLength(2);
    const pii = comprehend.filter((p) => JSON.stringify(p).includes('comprehend:DetectPiiEntities'));
    expect(pii).toHaveLength(1);
    expect(pii[0]?.PolicyDocument.Statement).toEqual([
      { Action: 'comprehend:DetectPiiEntities', Effect: 'Allow', Resource: '*' },
    ]);
    expect(pii[0]?.Roles).toEqual([{ Ref: roleId }]);
    expect(comprehend.filter((p) => p !== pii[0])).toEqual([toxicityPolicy(json)]);
    // DetectPiiEntities is not granted when the option is off; Score's toxicity policy stays.
    expect(builds.prod.config.evaluation.toxicity).toBe('comprehend');
    expect(JSON.stringify(builds.prod.json)).not.toContain('comprehend:DetectPiiEntities');
    expect(comprehendPolicies(builds.prod.json)).toEqual([toxicityPolicy(builds.prod.json)]);
  });

  it('subscribes each e-mail and HTTPS endpoint to the paging topic', () => {
    const { template, json } = builds.prodWithOptions;
    const [topicId] = resourcesOfType(json, 'AWS::SNS::Topic')[0] as [string, unknown];
    template.resourceCountIs('AWS::SNS::Subscription', 3);
    for (const endpoint of ['oncall@example.com', 'ml-team@example.com']) {
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: endpoint,
        TopicArn: { Ref: topicId },
      });
    }
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: 'https://events.pagerduty.example/integration/abc',
      TopicArn: { Ref: topicId },
    });
    expect(flatten({ Ref: topicId })).toBe(`<${topicId}>`);
  });
});
