// The gateway environment of the API functions (the Generate step reads the same); the Evaluate steps'
// own variables below. Set before the handler modules are imported (they read it at import).
import '../support/env/api.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EvaluationBudgetExceededError } from '#aws/errors.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import { seedRubricsOnce } from '#aws/eval/rubric-registry.ts';
import type { GatewayDeps } from '#aws/gateway.ts';
import { ModelCatalog } from '#aws/model-catalog.ts';
import { createContentGuard } from '#aws/models/guardrail.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import type { EvaluationRun } from '#contracts/evaluation/run.ts';
import type { PromptDraft } from '#contracts/prompts/types.ts';
import { evaluationCompletedDetail } from '#events/evaluation-completed.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { makeHandler as makeGenerate } from '#functions/evaluation/generate.ts';
import { makeHandler as makePlan, type PlanOutput } from '#functions/evaluation/plan.ts';
import { makeHandler as makeRecordFailure } from '#functions/evaluation/record-failure.ts';
import { makeHandler as makeRegisterSuite } from '#functions/evaluation/register-suite.ts';
import { makeHandler as makeReport } from '#functions/evaluation/report.ts';
import { makeHandler as makeScore } from '#functions/evaluation/score.ts';
import { loadConfig } from '#infra/config/index.ts';
import { type Emulators, startEmulators } from '#infra/local/emulators.ts';
import {
  type LocalEventBridge,
  type PutEventsEntry,
  startLocalEventBridge,
} from '#infra/local/local-eventbridge.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { evaluatedClients, evaluatedEventBridgeClient, synthesizedStack } from '../support/as-function.ts';
import { errorOf } from '../support/async.ts';

vi.hoisted(() => {
  Object.assign(process.env, {
    ARTIFACTS_BUCKET: 'artifacts-test',
    EVALUATIONS_TABLE: 'evaluations-test',
    JUDGE_MODEL: 'claude-haiku-4-5',
    JUDGE_REPEATS: '3',
    EVALUATION_BUDGET_USD: '2',
    ITEM_BATCH_SIZE: '5',
    MODEL_PROVIDER: 'offline',
  });
});

/**
 * The Evaluate steps in the order the state machine runs them (Plan, then Generate and Score for each
 * batch, then Report; RecordFailure on a failure), with real SDK clients on dynalite and s3rver: the
 * evaluation store, the prompt registry and the model catalog (seeded from the dev profile) on DynamoDB,
 * the staging and the report in S3, the completion event on a local EventBridge endpoint, and the
 * offline models. The bundled golden suite is registered from a `llmops.DatasetReady` event, then a new
 * prompt version is evaluated against the production one. Each step runs as its function of the
 * synthesized stack, on the tables, buckets and bus the template declares: every SDK call it makes is
 * evaluated against that function's role (and the bucket policies and keys), as on AWS.
 */
const stack = synthesizedStack();
const fns = {
  registerSuite: stack.fn('functions/evaluation/register-suite.ts'),
  plan: stack.fn('functions/evaluation/plan.ts'),
  generate: stack.fn('functions/evaluation/generate.ts'),
  score: stack.fn('functions/evaluation/score.ts'),
  report: stack.fn('functions/evaluation/report.ts'),
  recordFailure: stack.fn('functions/evaluation/record-failure.ts'),
};
/** The name the template gives a function's variable (a table, a bucket, the bus). */
function named(fn: { readonly environment: Readonly<Record<string, string>> }, variable: string): string {
  const value = fn.environment[variable];
  if (value === undefined) throw new Error(`The template sets no ${variable}`);
  return value;
}
const ARTIFACTS = named(fns.plan, 'ARTIFACTS_BUCKET');
/** Where DataPrep writes curated datasets, the golden suite among them. */
const CURATED = named(stack.fn('functions/dataprep/finalize.ts'), 'CURATED_BUCKET');
const BUS = named(fns.report, 'EVENT_BUS_NAME');
const SUITE_KEY = 'datasets/golden/golden/v000001/data.jsonl';
const GOLDEN = readFileSync(join(REPO_ROOT, 'corpus/eval/golden.jsonl'), 'utf8');
const context = { awsRequestId: 'req', getRemainingTimeInMillis: () => 600_000 } as unknown as Context;

let emulators: Emulators;
let dynamo: DynamoDBClient;
let s3: S3Client;
let bus: LocalEventBridge;
let events: EventBridgeClient;
/** The entries the local EventBridge endpoint accepted. */
const published: PutEventsEntry[] = [];
let store: DynamoEvaluationStore;
let doc: DynamoDBDocumentClient;
let gateway: GatewayDeps;
const interactions: InteractionRecordedDetail[] = [];

/** A fact sheet from the suite's own references: the offline model answers from the system prompt. */
function factSheet(): string {
  const facts = GOLDEN.split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      const item = JSON.parse(line) as { references?: string[]; ideal?: string[] };
      const references = item.references ?? item.ideal ?? [];
      const longest = [...references].sort((a, b) => b.length - a.length)[0];
      return longest === undefined ? [] : [longest.endsWith('.') ? longest : `${longest}.`];
    });
  return facts.join('\n');
}

const DRAFT: PromptDraft = {
  messages: [
    { role: 'system', content: `Answer from these facts only.\n${factSheet()}` },
    { role: 'user', content: '{{question}}' },
  ],
  variables: { question: { type: 'string' } },
  commitMessage: 'Grounded answers',
};

function requested(detail: Record<string, unknown>) {
  return {
    version: '0',
    id: `event-${Math.random()}`,
    'detail-type': 'llmops.EvaluationRequested',
    source: 'llmops',
    account: '000000000000',
    time: '2026-12-01T10:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: { schemaVersion: '1.0', ...detail },
  };
}

/**
 * The gateway of one step's function, with a registry and a catalog of its own: each step is a Lambda
 * function with cold caches of its own, so its reads reach the tables (and are evaluated) as on AWS.
 */
function gatewayOf(fn: (typeof fns)[keyof typeof fns]) {
  return {
    ...gateway,
    prompts: new PromptRegistry(doc, named(fn, 'PROMPTS_TABLE')),
    catalog: new ModelCatalog(doc, named(fn, 'CATALOG_TABLE')),
  };
}

const steps = () => {
  const { prompts, catalog } = gatewayOf(fns.plan);
  const plan = fns.plan.wrap(
    makePlan({
      s3,
      store,
      prompts,
      catalog,
      // As the Plan function does at cold start: the judge rubric prompts the registry lacks.
      seedRubrics: seedRubricsOnce(prompts),
      artifactsBucket: ARTIFACTS,
      judgeModel: 'claude-haiku-4-5',
      judgeRepeats: 3,
      budgetUsd: 2,
      batchSize: 5,
      offline: true,
    }),
  );
  const generate = fns.generate.wrap(
    makeGenerate({ s3, artifactsBucket: ARTIFACTS, gateway: gatewayOf(fns.generate) }),
  );
  const score = fns.score.wrap(
    makeScore({
      s3,
      artifactsBucket: ARTIFACTS,
      scorers: {},
      providerFor: createProviderRouter({ mode: 'offline' }),
      offline: true,
    }),
  );
  const report = fns.report.wrap(
    makeReport({ s3, artifactsBucket: ARTIFACTS, store, events, busName: BUS, offline: true }),
  );
  const recordFailure = fns.recordFailure.wrap(makeRecordFailure({ store }));
  return { plan, generate, score, report, recordFailure };
};

beforeAll(async () => {
  emulators = await startEmulators();
  await stack.provision(emulators);
  ({ dynamo, s3 } = evaluatedClients(emulators));
  bus = await startLocalEventBridge((entries) => void published.push(...entries));
  events = evaluatedEventBridgeClient(bus.endpoint);
  doc = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
  store = new DynamoEvaluationStore(doc, named(fns.plan, 'EVALUATIONS_TABLE'));
  const registry = new PromptRegistry(doc, named(fns.plan, 'PROMPTS_TABLE'));
  const catalog = new ModelCatalog(doc, named(fns.plan, 'CATALOG_TABLE'));
  await catalog.seed(loadConfig({ profile: 'dev' }).models.catalog);
  await registry.createVersion('support', DRAFT, 'arn:aws:iam::000000000000:user/admin');
  await registry.moveLabel('support', 'production', 1, 'arn:aws:iam::000000000000:user/admin');
  // Version 2 caps answers at 3 tokens: its answers lose the facts the references hold.
  await registry.createVersion(
    'support',
    { ...DRAFT, model: { maxTokens: 3 }, commitMessage: 'Terse answers' },
    'arn:aws:iam::000000000000:user/admin',
  );
  gateway = {
    prompts: registry,
    catalog,
    providerFor: createProviderRouter({ mode: 'offline' }),
    recorder: { record: async (detail) => void interactions.push(detail) },
    guard: createContentGuard({ offline: true }),
    sampleRate: 0,
    timeoutMs: 10_000,
  };
  await s3.send(new PutObjectCommand({ Bucket: CURATED, Key: SUITE_KEY, Body: GOLDEN }));
});

afterEach(async () => {
  // Also a denial that a step catches and records rather than throws.
  expect((await stack.iam.decisions()).filter((d) => !d.allowed)).toEqual([]);
});

afterAll(async () => {
  events?.destroy();
  dynamo?.destroy();
  s3?.destroy();
  await bus?.stop();
  await emulators?.stop();
});

describe('Evaluate on the emulators', () => {
  it('registers the golden dataset as a suite from its DatasetReady event, once', async () => {
    const register = fns.registerSuite.wrap(makeRegisterSuite({ s3, store }));
    const event = {
      version: '0',
      id: 'dataset-ready-1',
      'detail-type': 'llmops.DatasetReady',
      source: 'llmops',
      account: '000000000000',
      time: '2026-12-01T09:00:00Z',
      region: 'us-east-1',
      resources: [],
      detail: {
        schemaVersion: '1.0',
        name: 'golden',
        version: 1,
        purpose: 'golden',
        manifest: { bucket: CURATED, key: 'datasets/golden/golden/v000001/manifest.json' },
        files: { data: { bucket: CURATED, key: SUITE_KEY } },
        counts: {
          records: 13,
          blank: 0,
          kept: 13,
          quarantined: 0,
          duplicates: { exact: 0, near: 0 },
          splits: { data: 13 },
        },
        contentHash: `sha256:${'a'.repeat(64)}`,
        source: { bucket: 'raw', key: 'raw/golden/golden.jsonl', etag: 'e' },
      },
    };
    expect(await register(event)).toMatchObject({
      outcome: 'created',
      name: 'golden',
      version: 1,
      items: 13,
    });
    expect(await register(event)).toMatchObject({ outcome: 'exists' });
    expect(await store.getSuite('golden')).toMatchObject({
      version: 1,
      items: 13,
      location: { key: SUITE_KEY },
    });
  });

  it('runs a promotion: plan, each batch generated and scored, report, run record, gate and event', async () => {
    const { plan, generate, score, report } = steps();
    const runId = 'promotion-run-1';
    const at = new Date().toISOString();
    const request = {
      suite: 'golden',
      target: { prompt: 'support:2' },
      baseline: { prompt: 'support@production' },
      k: 1,
    };
    const queued: EvaluationRun = {
      runId,
      status: 'queued',
      trigger: 'promotion',
      request,
      requestedBy: 'promotion:arn:aws:iam::000000000000:user/admin',
      createdAt: at,
      updatedAt: at,
    };
    await store.createRun(queued);
    const promotion = { prompt: 'support', candidateVersion: 2, baselineVersion: 1 };
    const planned = (await plan(
      {
        event: requested({
          runId,
          trigger: 'promotion',
          requestedBy: queued.requestedBy,
          request,
          promotion,
        }),
        executionName: 'exec-promotion-1',
      },
      context,
    )) as Extract<PlanOutput, { status: 'planned' }>;
    expect(planned).toMatchObject({
      runId,
      status: 'planned',
      items: 13,
      suite: { name: 'golden', version: 1 },
    });
    expect(planned.batches).toHaveLength(3);
    expect(JSON.stringify(planned).length).toBeLessThan(2000);

    // The Map: each item goes through Generate, then Score, with the state each step returns.
    for (const batch of planned.batches) {
      const generated = await generate({ runId, batch }, context);
      expect(generated).toEqual({ runId, batch });
      expect(await score(generated, context)).toEqual({ runId, batch });
    }
    const out = await report({ runId, batches: planned.batches }, context);
    expect(out).toMatchObject({ runId, status: 'succeeded', pass: false, regression: false });

    for (const name of ['summary.json', 'items.jsonl', 'report.html', 'report.md']) {
      const head = await s3.send(
        new HeadObjectCommand({ Bucket: ARTIFACTS, Key: `evaluations/${runId}/${name}` }),
      );
      expect(head.ContentLength).toBeGreaterThan(0);
    }
    const run = await store.getRun(runId);
    expect(run).toMatchObject({
      status: 'succeeded',
      trigger: 'promotion',
      resolved: { target: { prompt: 'support:2' }, baseline: { prompt: 'support:1' } },
      suite: { name: 'golden', version: 1, items: 13 },
      failed: 0,
      judge: 'offline',
      gate: { pass: false },
    });
    for (const metric of ['f1', 'exact_match', 'rouge_l']) {
      expect(run?.metrics?.[metric]).toEqual({
        value: expect.any(Number),
        n: 11,
        ci: [expect.any(Number), expect.any(Number)],
      });
    }
    expect(run?.metrics?.abstention?.n).toBe(2);
    expect(run?.gate?.metrics.find((m) => m.name === 'f1')).toMatchObject({ verdict: 'fail' });

    expect(await store.getGate('support', 2, 1, 'golden')).toMatchObject({
      runId,
      status: 'succeeded',
      pass: false,
      failing: expect.arrayContaining([expect.objectContaining({ name: 'f1' })]),
    });

    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ DetailType: 'llmops.EvaluationCompleted', EventBusName: BUS });
    expect(evaluationCompletedDetail.parse(JSON.parse(String(published[0]?.Detail)))).toMatchObject({
      runId,
      trigger: 'promotion',
      target: { prompt: 'support:2' },
      baseline: { prompt: 'support:1' },
      pass: false,
    });
    // Every answer went through the gateway as the evaluation app: 13 items, candidate and baseline.
    const ofRun = interactions.filter((i) => i.requestId.startsWith(`evaluation:${runId}:`));
    expect(ofRun).toHaveLength(26);
    expect(new Set(ofRun.map((i) => i.app))).toEqual(new Set(['evaluation']));

    // Each step's calls were evaluated as its own function, the event as the Report function's.
    const decisions = await stack.iam.decisions();
    const evaluated = new Set(decisions.map((d) => d.functionLogicalId));
    for (const step of [fns.plan, fns.generate, fns.score, fns.report]) {
      expect(evaluated, step.entry).toContain(step.logicalId);
    }
    expect(decisions).toContainEqual(
      expect.objectContaining({
        functionLogicalId: fns.report.logicalId,
        action: 'events:PutEvents',
        allowed: true,
      }),
    );
  });

  it('refuses a run over its budget with the estimate, and records the failure on the run', async () => {
    const { plan, recordFailure } = steps();
    const runId = 'budget-run-1';
    const at = new Date().toISOString();
    const request = { suite: 'golden', target: { prompt: 'support:2' }, budgetUsd: 0.000001 };
    await store.createRun({
      runId,
      status: 'queued',
      trigger: 'api',
      request,
      requestedBy: 'arn:aws:iam::000000000000:user/admin',
      createdAt: at,
      updatedAt: at,
    });
    const event = requested({
      runId,
      trigger: 'api',
      requestedBy: 'arn:aws:iam::000000000000:user/admin',
      request,
    });
    const error = await errorOf(plan({ event, executionName: 'exec-budget-1' }, context));
    expect(error).toBeInstanceOf(EvaluationBudgetExceededError);
    const message = (error as Error).message;
    expect(message).toMatch(
      /^Evaluation run budget-run-1 refused: its estimated cost \$0\.\d+ is above its budget of \$0\.000001 \(13 items, 2 judged metrics × k=3 repeats; target nova-micro, judge offline\)/,
    );
    // As the state machine hands it over: the state at the point of failure and the caught error.
    await recordFailure(
      {
        event,
        executionName: 'exec-budget-1',
        error: {
          Error: 'EvaluationBudgetExceededError',
          Cause: JSON.stringify({ errorType: 'EvaluationBudgetExceededError', errorMessage: message }),
        },
      },
      context,
    );
    expect(await store.getRun(runId)).toMatchObject({ status: 'failed', error: message });
  });

  it('records a scheduled run on a suite that is not registered as skipped', async () => {
    const { plan } = steps();
    const out = await plan(
      {
        event: requested({
          trigger: 'schedule',
          requestedBy: 'schedule:faq-daily',
          request: { suite: 'faq', target: { prompt: 'support@production' }, maxItems: 20 },
        }),
        executionName: 'faq-daily-20261201',
      },
      context,
    );
    expect(out).toMatchObject({ runId: 'faq-daily-20261201', status: 'skipped', batches: [] });
    expect(await store.getRun('faq-daily-20261201')).toMatchObject({
      status: 'skipped',
      trigger: 'schedule',
      error: expect.stringContaining('suite faq has no registered version'),
    });
  });
});
