// The gateway environment of the API functions (the Generate step reads the same); the Evaluate steps'
// own variables below. Set before the handler modules are imported (they read it at import).
import '../support/env/api.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EvaluationBudgetExceededError } from '#aws/errors.ts';
import { DynamoEvaluationStore, EVALUATIONS_INDEX } from '#aws/eval/dynamo-evaluation-store.ts';
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
import {
  createDynamoClient,
  createS3Client,
  type Emulators,
  startEmulators,
} from '#infra/local/emulators.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { errorOf } from '../support/async.ts';
import { createIndexedTable, createKeyTable } from '../support/dynamo.ts';

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
 * the staging and the report in S3, and the offline models. The bundled golden suite is registered from
 * a `llmops.DatasetReady` event, then a new prompt version is evaluated against the production one.
 */
const ARTIFACTS = 'artifacts-eval-it';
const CURATED = 'curated-eval-it';
const SUITE_KEY = 'datasets/golden/golden/v000001/data.jsonl';
const GOLDEN = readFileSync(join(REPO_ROOT, 'corpus/eval/golden.jsonl'), 'utf8');
const context = { awsRequestId: 'req', getRemainingTimeInMillis: () => 600_000 } as unknown as Context;

let emulators: Emulators;
let dynamo: DynamoDBClient;
let s3: S3Client;
let store: DynamoEvaluationStore;
let gateway: GatewayDeps;
const interactions: InteractionRecordedDetail[] = [];
const events = mockClient(EventBridgeClient);

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

const steps = () => {
  const plan = makePlan({
    s3,
    store,
    prompts: gateway.prompts as PromptRegistry,
    catalog: gateway.catalog as ModelCatalog,
    artifactsBucket: ARTIFACTS,
    judgeModel: 'claude-haiku-4-5',
    judgeRepeats: 3,
    budgetUsd: 2,
    batchSize: 5,
    offline: true,
  });
  const generate = makeGenerate({ s3, artifactsBucket: ARTIFACTS, gateway });
  const score = makeScore({
    s3,
    artifactsBucket: ARTIFACTS,
    scorers: {},
    providerFor: createProviderRouter({ mode: 'offline' }),
    offline: true,
  });
  const report = makeReport({
    s3,
    artifactsBucket: ARTIFACTS,
    store,
    events: new EventBridgeClient({ region: 'us-east-1' }),
    busName: 'bus-eval-it',
    offline: true,
  });
  const recordFailure = makeRecordFailure({ store });
  return { plan, generate, score, report, recordFailure };
};

beforeAll(async () => {
  emulators = await startEmulators();
  dynamo = createDynamoClient(emulators.dynamoEndpoint);
  s3 = createS3Client(emulators.s3Endpoint);
  const doc = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
  await Promise.all([
    createIndexedTable(dynamo, 'evaluations-eval-it', EVALUATIONS_INDEX),
    createKeyTable(dynamo, 'prompts-eval-it', { sortKey: true }),
    createKeyTable(dynamo, 'catalog-eval-it', { sortKey: false }),
    s3.send(new CreateBucketCommand({ Bucket: ARTIFACTS })),
    s3.send(new CreateBucketCommand({ Bucket: CURATED })),
  ]);
  store = new DynamoEvaluationStore(doc, 'evaluations-eval-it');
  const registry = new PromptRegistry(doc, 'prompts-eval-it');
  const catalog = new ModelCatalog(doc, 'catalog-eval-it');
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
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'event-id' }] });
});

afterAll(async () => {
  events.restore();
  dynamo?.destroy();
  s3?.destroy();
  await emulators?.stop();
});

describe('Evaluate on the emulators', () => {
  it('registers the golden dataset as a suite from its DatasetReady event, once', async () => {
    const register = makeRegisterSuite({ s3, store });
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

    const put = events.commandCalls(PutEventsCommand).map((call) => call.args[0].input.Entries?.[0]);
    expect(put).toHaveLength(1);
    expect(put[0]).toMatchObject({ DetailType: 'llmops.EvaluationCompleted', EventBusName: 'bus-eval-it' });
    expect(evaluationCompletedDetail.parse(JSON.parse(String(put[0]?.Detail)))).toMatchObject({
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
