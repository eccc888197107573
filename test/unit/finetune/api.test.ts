// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/finetune.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DeleteInferenceComponentCommand,
  SageMakerClient,
  UpdateModelPackageCommand,
} from '@aws-sdk/client-sagemaker';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatasetVersionItem } from '#aws/dataset-registry.ts';
import { ModelRegistry } from '#aws/finetune/model-registry.ts';
import { type ApiResponse, apiHandler } from '#aws/http.ts';
import { finetuneJob, MAX_LORA_RANK } from '#contracts/finetune/job.ts';
import { finetuneJobAccepted } from '#contracts/http/finetune-schemas.ts';
import { fineTuneRequestedDetail } from '#events/finetune-requested.ts';
import { TEST_FINETUNE_SETTINGS } from '../../support/env/finetune.ts';
import { type ApiEventOptions, apiEvent } from '../../support/gateway-fixtures.ts';
import { FakeCandidateCatalog, FakeJobStore, JOB_ID, PACKAGE_ARN, storedJob } from './fakes.ts';

const { makeHandler } = await import('#functions/api/finetune.ts');

const ADMIN = 'arn:aws:sts::123456789012:assumed-role/MlEngineer/alice';
const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const HASH = `sha256:${'c'.repeat(64)}`;
const sagemaker = mockClient(SageMakerClient);
const events = mockClient(EventBridgeClient);
afterAll(() => {
  sagemaker.restore();
  events.restore();
});

const dataset = (purpose: string, version: number): DatasetVersionItem => ({
  name: 'support-chats',
  purpose,
  version,
  runId: 'r',
  createdAt: '2026-11-01T00:00:00.000Z',
  manifest: { bucket: 'curated-test', key: 'm' },
  files: { train: { bucket: 'curated-test', key: 't' }, validation: { bucket: 'curated-test', key: 'v' } },
  counts: { splits: { train: 10, validation: 2 } },
  contentHash: HASH,
  source: { bucket: 'raw', key: 'k', etag: 'e' },
});

let store: FakeJobStore;
let catalog: FakeCandidateCatalog;
let handler: ReturnType<typeof apiHandler>;
let datasets: DatasetVersionItem[];

beforeEach(() => {
  sagemaker.reset();
  events.reset();
  events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  sagemaker.on(UpdateModelPackageCommand).resolves({ ModelPackageArn: PACKAGE_ARN });
  sagemaker.on(DeleteInferenceComponentCommand).resolves({});
  store = new FakeJobStore();
  catalog = new FakeCandidateCatalog();
  datasets = [dataset('finetune', 2), dataset('finetune', 3)];
  handler = apiHandler(
    makeHandler({
      store,
      datasets: {
        getVersion: async (purpose, name, version) =>
          datasets.find((d) => d.purpose === purpose && d.name === name && d.version === version),
        listVersions: async (purpose, name) =>
          datasets.filter((d) => d.purpose === purpose && d.name === name),
      },
      registry: new ModelRegistry(new SageMakerClient({})),
      catalog,
      events: new EventBridgeClient({}),
      busName: 'bus-test',
      settings: TEST_FINETUNE_SETTINGS,
      stackName: 'LlmOps-dev',
      now: () => NOW,
    }),
    { appKeys: { 'key-1': 'web' }, appAccess: {}, maxRequestBytes: 100_000 },
  );
});

function call(
  httpMethod: string,
  resource: string,
  { as = ADMIN, ...options }: ApiEventOptions & { as?: string | null } = {},
): Promise<ApiResponse> {
  const identity = as ? { userArn: as, apiKeyId: null } : { userArn: null, apiKeyId: 'key-1' };
  const event: APIGatewayProxyEvent = apiEvent(httpMethod, resource, { ...options, identity });
  return handler(event, { awsRequestId: 'ctx' } as never) as Promise<ApiResponse>;
}
const parse = (response: ApiResponse) => JSON.parse(String(response.body));
const putDetail = () =>
  fineTuneRequestedDetail.parse(
    JSON.parse(events.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0]?.Detail ?? '{}'),
  );

describe('POST /v1/finetune-jobs', () => {
  it('answers 202 with a new job id and its location, and puts llmops.FineTuneRequested for the latest version', async () => {
    const response = await call('POST', '/v1/finetune-jobs', {
      body: { dataset: { name: 'support-chats' } },
    });
    expect(response.statusCode).toBe(202);
    const body = finetuneJobAccepted.parse(parse(response));
    expect(body).toEqual({
      jobId: body.jobId,
      status: 'queued',
      location: `/v1/finetune-jobs/${body.jobId}`,
    });
    expect(response.headers?.location).toBe(body.location);
    expect(putDetail()).toMatchObject({
      jobId: body.jobId,
      requestedBy: ADMIN,
      dataset: { name: 'support-chats', version: 3 },
      purpose: 'finetune',
      recipe: 'sft-lora',
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
    });
  });

  it('refuses an app key (admin route) with 403', async () => {
    const response = await call('POST', '/v1/finetune-jobs', {
      as: null,
      body: { dataset: { name: 'support-chats' } },
    });
    expect(response.statusCode).toBe(403);
  });

  it('answers 404 naming an unregistered dataset version', async () => {
    const response = await call('POST', '/v1/finetune-jobs', {
      body: { dataset: { name: 'support-chats', version: 9 } },
    });
    expect(response.statusCode).toBe(404);
    expect(parse(response).error.message).toContain('support-chats v9');
  });

  it('answers 400 for a recipe that does not fit the purpose, a foreign base model or a hyperparameter out of range', async () => {
    const cases = [
      [{ recipe: 'dpo-lora' }, 'recipe'],
      [{ baseModel: 'mistralai/Mistral-7B-Instruct' }, 'baseModel'],
      [{ hyperparameters: { lora_dropout: 1 } }, 'hyperparameters.lora_dropout'],
      [{ hyperparameters: { warmup: 1 } }, 'hyperparameters.warmup'],
    ] as const;
    for (const [extra, field] of cases) {
      const response = await call('POST', '/v1/finetune-jobs', {
        body: { dataset: { name: 'support-chats' }, ...extra },
      });
      expect(response.statusCode).toBe(400);
      expect(parse(response).error.field).toBe(field);
    }
    expect(events.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('answers 400 naming lora_r above the largest rank the serving endpoint loads, and accepts that rank', async () => {
    const refused = await call('POST', '/v1/finetune-jobs', {
      body: { dataset: { name: 'support-chats' }, hyperparameters: { lora_r: MAX_LORA_RANK * 2 } },
    });
    expect(refused.statusCode).toBe(400);
    const { error } = parse(refused);
    expect(error.field).toBe('hyperparameters.lora_r');
    expect(error.message).toContain(`at most ${MAX_LORA_RANK}`);
    expect(error.message).toContain('the largest LoRA rank the serving endpoint loads');
    expect(events.commandCalls(PutEventsCommand)).toHaveLength(0);

    const accepted = await call('POST', '/v1/finetune-jobs', {
      body: { dataset: { name: 'support-chats' }, hyperparameters: { lora_r: MAX_LORA_RANK } },
    });
    expect(accepted.statusCode).toBe(202);
    expect(putDetail().hyperparameters).toMatchObject({ lora_r: MAX_LORA_RANK });
  });
});

describe('GET /v1/finetune-jobs and /v1/finetune-jobs/{id}', () => {
  it('reads a job', async () => {
    store.jobs.set(JOB_ID, storedJob('registered'));
    const response = await call('GET', '/v1/finetune-jobs/{id}', { path: { id: JOB_ID } });
    expect(response.statusCode).toBe(200);
    expect(finetuneJob.parse(parse(response))).toMatchObject({ jobId: JOB_ID, status: 'registered' });
  });

  it('answers 404 naming an unknown job and 400 for an id that cannot be one', async () => {
    const missing = await call('GET', '/v1/finetune-jobs/{id}', { path: { id: 'ft-0000000000000000' } });
    expect(missing.statusCode).toBe(404);
    expect(parse(missing).error.message).toContain('ft-0000000000000000');
    const bad = await call('GET', '/v1/finetune-jobs/{id}', { path: { id: '../etc' } });
    expect(bad.statusCode).toBe(400);
    expect(parse(bad).error.field).toBe('path.id');
  });

  it('lists jobs and refuses a limit or token that is not valid', async () => {
    store.jobs.set(JOB_ID, storedJob('registered'));
    const list = await call('GET', '/v1/finetune-jobs');
    expect(parse(list).jobs).toHaveLength(1);
    const limit = await call('GET', '/v1/finetune-jobs', { query: { limit: '1000' } });
    expect(parse(limit).error.field).toBe('query.limit');
    const token = await call('GET', '/v1/finetune-jobs', { query: { nextToken: 'not a token!' } });
    expect(token.statusCode).toBe(400);
    expect(parse(token).error.field).toBe('query.nextToken');
  });
});

describe('POST /v1/finetune-jobs/{id}/approval', () => {
  const approve = (body: unknown) =>
    call('POST', '/v1/finetune-jobs/{id}/approval', { path: { id: JOB_ID }, body });

  it('approves the package as the signing principal and records the decision on the job', async () => {
    store.jobs.set(JOB_ID, storedJob('awaiting_approval'));
    const response = await approve({ decision: 'approve', reason: 'looks good' });
    expect(response.statusCode).toBe(200);
    expect(parse(response)).toMatchObject({
      status: 'approved',
      approval: { decision: 'approve', by: ADMIN, reason: 'looks good', at: '2026-12-01T10:00:00.000Z' },
    });
    expect(sagemaker.commandCalls(UpdateModelPackageCommand)[0]?.args[0].input).toEqual({
      ModelPackageArn: PACKAGE_ARN,
      ModelApprovalStatus: 'Approved',
      ApprovalDescription: `approve by ${ADMIN}: looks good`,
    });
  });

  it('rejects the package and takes the candidate off the endpoint and out of the catalog', async () => {
    store.jobs.set(JOB_ID, storedJob('awaiting_approval'));
    await catalog.putCandidate({
      id: 'support-assistant-v4',
      provider: 'sagemaker',
      modelId: 'ep',
      kind: 'chat',
      contextWindow: 1,
      maxOutputTokens: 1,
      pricePer1kInputUsd: 0,
      pricePer1kOutputUsd: 0,
      features: [],
      regions: [],
      status: 'deprecated',
      lineage: {
        jobId: JOB_ID,
        modelPackageArn: PACKAGE_ARN,
        baseModel: 'b',
        recipe: 'sft-lora',
        dataset: { name: 'd', version: '1' },
        placeholder: false,
      },
    });
    const response = await approve({ decision: 'reject', reason: 'tone is off' });
    expect(parse(response)).toMatchObject({ status: 'rejected', approval: { decision: 'reject' } });
    expect(sagemaker.commandCalls(UpdateModelPackageCommand)[0]?.args[0].input.ModelApprovalStatus).toBe(
      'Rejected',
    );
    expect(sagemaker.commandCalls(DeleteInferenceComponentCommand)[0]?.args[0].input).toEqual({
      InferenceComponentName: `llmops-dev-${JOB_ID}`,
    });
    expect(catalog.deleted).toEqual(['support-assistant-v4']);
  });

  it('answers 409 naming the status of a job that is not awaiting approval', async () => {
    store.jobs.set(JOB_ID, storedJob('evaluating'));
    const response = await approve({ decision: 'approve', reason: 'r' });
    expect(response.statusCode).toBe(409);
    expect(parse(response).error.message).toContain('is evaluating');
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it('answers 400 for a body without a reason', async () => {
    store.jobs.set(JOB_ID, storedJob('awaiting_approval'));
    const response = await approve({ decision: 'approve' });
    expect(response.statusCode).toBe(400);
    expect(parse(response).error.field).toBe('reason');
  });
});
