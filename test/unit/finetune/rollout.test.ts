// The function's environment, set before its handler module is imported (it reads it at import).
import { vi } from 'vitest';

vi.hoisted(() => {
  Object.assign(process.env, {
    ROLLOUT_TABLE: 'rollouts-test',
    CATALOG_TABLE: 'catalog-test',
    EVENT_BUS_NAME: 'bus-test',
    MODEL_PACKAGE_GROUP: 'LlmOps-dev-support-assistant',
    ENDPOINT_NAME: 'LlmOps-dev-llm',
    CANARY_SHARE: '0.2',
    CANARY_BAKE_MINUTES: '30',
    CANARY_CHECK_MINUTES: '5',
    CANARY_MIN_CALLS: '50',
    CANARY_MAX_ERROR_RATE: '0.05',
    CANARY_ALARM_NAMES: JSON.stringify(['LlmOps-dev-CanaryErrors', 'LlmOps-dev-CanaryLatency']),
  });
});

import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DeleteInferenceComponentCommand,
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  DescribeModelPackageCommand,
  SageMakerClient,
  UpdateModelPackageCommand,
} from '@aws-sdk/client-sagemaker';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, InvalidEventError } from '#aws/errors.ts';
import type {
  CurrentServing,
  LockResult,
  RolloutCheckRecord,
  RolloutRecord,
  RolloutStore,
  RolloutVerification,
} from '#aws/finetune/rollout-store.ts';
import { SageMakerServing } from '#aws/finetune/serving.ts';
import type { CatalogCanary, CatalogLineage, CatalogModel } from '#contracts/models/catalog.ts';
import {
  type RolloutCheck,
  type RolloutStart,
  rolloutCheck,
  rolloutStart,
} from '#contracts/pipelines/finetune.ts';
import { RolloutVerificationError, rolloutIdOf } from '#core/finetune/rollout.ts';
import { modelDeployedDetail } from '#events/model-deployed.ts';
import { rawSample } from '#events/samples.ts';
import { environment, makeHandler, ROLLOUTS_ROLLED_BACK_METRIC } from '#functions/finetune/rollout.ts';
import { errorOf } from '../../support/async.ts';
import { MemoryRolloutCatalog } from './fakes.ts';

const sagemaker = mockClient(SageMakerClient);
const eventBridge = mockClient(EventBridgeClient);

const GROUP = 'LlmOps-dev-support-assistant';
const SERVED = 'support-assistant';
const ENDPOINT = 'LlmOps-dev-llm';
const ARTIFACT =
  's3://llmops-dev-artifacts-example/finetune/output/llmops-dev-ft-3f9c2a7be1d04c58/output/model.tar.gz';
const packageArn = (version: number) =>
  `arn:aws:sagemaker:us-east-1:123456789012:model-package/llmops-dev-support-assistant/${version}`;
const candidateId = (version: number) => `support-assistant-ft${version}`;
const componentOf = (version: number) => `LlmOps-dev-support-assistant-ft${version}`;
const ERRORS_ALARM = 'LlmOps-dev-CanaryErrors';

// ---------------------------------------------------------------------------------------------------
// In-memory stand-ins for the two DynamoDB adapters, with their conditional semantics (the adapters
// themselves run against dynalite in test/integration/rollout-store.test.ts).

class MemoryRolloutStore implements RolloutStore {
  readonly rollouts = new Map<string, RolloutRecord>();
  readonly locks = new Map<string, string>();
  readonly current = new Map<string, CurrentServing>();
  readonly #key = (served: string, id: string) => `${served}/${id}`;

  async get(served: string, id: string) {
    const found = this.rollouts.get(this.#key(served, id));
    return found === undefined ? undefined : structuredClone(found);
  }
  async create(record: RolloutRecord) {
    if (this.rollouts.has(this.#key(record.servedModel, record.rolloutId))) return 'exists' as const;
    this.rollouts.set(this.#key(record.servedModel, record.rolloutId), structuredClone(record));
    return 'created' as const;
  }
  async acquireLock(served: string, id: string): Promise<LockResult> {
    const holder = this.locks.get(served);
    if (holder !== undefined && holder !== id) return { acquired: false, holder };
    this.locks.set(served, id);
    return { acquired: true };
  }
  async releaseLock(served: string, id: string) {
    if (this.locks.get(served) !== id) return false;
    this.locks.delete(served);
    return true;
  }
  async activeRollouts() {
    return [...this.locks].map(([servedModel, rolloutId]) => ({ servedModel, rolloutId }));
  }
  #mutate(served: string, id: string, change: (r: RolloutRecord) => RolloutRecord) {
    const record = this.rollouts.get(this.#key(served, id));
    if (record === undefined) throw new ConflictError(`rollout ${id} of ${served} does not exist`);
    const next = change(record);
    this.rollouts.set(this.#key(served, id), next);
    return structuredClone(next);
  }
  async recordBreach(served: string, id: string, alarm: string) {
    const record = this.rollouts.get(this.#key(served, id));
    if (record?.status !== 'canary') return 'closed' as const;
    if (record.breaches.includes(alarm)) return 'exists' as const;
    this.#mutate(served, id, (r) => ({ ...r, breaches: [...r.breaches, alarm] }));
    return 'recorded' as const;
  }
  async recordCheck(served: string, id: string, check: RolloutCheckRecord) {
    this.#mutate(served, id, (r) => ({ ...r, check }));
  }
  async recordOutcome(
    served: string,
    id: string,
    outcome: 'promoted' | 'rolled_back',
    reason: string,
    at: string,
  ) {
    const record = await this.get(served, id);
    if (record?.status === outcome) return record;
    if (record?.status !== 'canary') throw new ConflictError(`rollout ${id} cannot be ${outcome}`);
    return this.#mutate(served, id, (r) => ({ ...r, status: outcome, reason, decidedAt: at }));
  }
  async recordVerification(served: string, id: string, verified: RolloutVerification) {
    this.#mutate(served, id, (r) => ({ ...r, verified }));
  }
  async finish(served: string, id: string, at: string) {
    return this.#mutate(served, id, (r) => ({ ...r, finishedAt: r.finishedAt ?? at }));
  }
  async getCurrent(served: string) {
    return this.current.get(served);
  }
  async setCurrent(served: string, current: CurrentServing) {
    this.current.set(served, current);
  }
}

// ---------------------------------------------------------------------------------------------------

const lineage = (version: number): CatalogLineage => ({
  jobId: `ft-job-${version}`,
  modelPackageArn: packageArn(version),
  baseModel: 'qwen2-5-1-5b-instruct',
  recipe: 'sft-lora',
  dataset: { name: 'support-chats', version: String(version) },
  placeholder: false,
});

const entry = (id: string, component: string, extra: Partial<CatalogModel> = {}): CatalogModel => ({
  id,
  provider: 'sagemaker',
  modelId: ENDPOINT,
  inferenceComponent: component,
  kind: 'chat',
  contextWindow: 32_768,
  maxOutputTokens: 2048,
  pricePer1kInputUsd: 0,
  pricePer1kOutputUsd: 0,
  features: ['streaming', 'systemPrompt'],
  regions: ['us-east-1'],
  status: 'active',
  ...extra,
});

/** The approved-package sample, for package `version` of the deployment's group. */
function approved(
  version: number,
  overrides: Record<string, unknown> = {},
  metadata: Record<string, string> = {},
) {
  const sample = rawSample('sagemaker-model-package-approved') as { detail: Record<string, unknown> };
  return {
    ...sample,
    detail: {
      ...sample.detail,
      ModelPackageVersion: version,
      ModelPackageArn: packageArn(version),
      CustomerMetadataProperties: {
        jobId: `ft-job-${version}`,
        candidateModel: candidateId(version),
        servedModel: SERVED,
        inferenceComponent: componentOf(version),
        ...metadata,
      },
      ...overrides,
    },
  };
}

function alarmEvent(alarmName: string, value: 'ALARM' | 'OK' = 'ALARM') {
  const sample = rawSample('cloudwatch-alarm-state-change') as { detail: Record<string, unknown> };
  const state = sample.detail.state as Record<string, unknown>;
  return { ...sample, detail: { ...sample.detail, alarmName, state: { ...state, value } } };
}

let store: MemoryRolloutStore;
let catalog: MemoryRolloutCatalog;
let clock: Date;
let emitted: { name: string; value: number }[];

function handlerWith(overrides: { minCalls?: number } = {}) {
  return makeHandler({
    store,
    catalog,
    serving: new SageMakerServing(new SageMakerClient({})),
    events: new EventBridgeClient({}),
    busName: 'bus-test',
    modelPackageGroup: GROUP,
    endpointName: ENDPOINT,
    canary: {
      share: 0.2,
      bakeMinutes: 30,
      checkMinutes: 5,
      minCalls: overrides.minCalls ?? 50,
      maxErrorRate: 0.05,
    },
    canaryAlarmNames: [ERRORS_ALARM, 'LlmOps-dev-CanaryLatency'],
    now: () => new Date(clock),
    metrics: {
      addMetric: (name: string, _unit: unknown, value: number) => void emitted.push({ name, value }),
    },
  });
}

const advance = (minutes: number) => {
  clock = new Date(clock.getTime() + minutes * 60_000);
};

beforeEach(() => {
  sagemaker.reset();
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'evt-1' }] });
  store = new MemoryRolloutStore();
  catalog = new MemoryRolloutCatalog();
  clock = new Date('2026-11-22T10:31:44.000Z');
  emitted = [];
  // Production serves ft3 (promoted by an earlier rollout); ft4 is the approved candidate.
  catalog.models.set(SERVED, entry(SERVED, componentOf(3), { lineage: lineage(3) }));
  catalog.models.set(candidateId(3), entry(candidateId(3), componentOf(3), { lineage: lineage(3) }));
  catalog.models.set(candidateId(4), entry(candidateId(4), componentOf(4), { lineage: lineage(4) }));
  store.current.set(SERVED, {
    model: candidateId(3),
    inferenceComponent: componentOf(3),
    rolloutId: 'rollout-0000000000000003',
    at: '2026-11-01T00:00:00.000Z',
  });
});

async function startCanary(version = 4): Promise<Extract<RolloutStart, { status: 'canary' }>> {
  const out = rolloutStart.parse(await handlerWith()({ step: 'start', event: approved(version) }));
  if (out.status !== 'canary') throw new Error(`expected a canary, got ${out.reason}`);
  return out;
}

describe('environment', () => {
  it('names the variables the stack sets', () => {
    expect(Object.keys(environment).sort()).toEqual([
      'CANARY_ALARM_NAMES',
      'CANARY_BAKE_MINUTES',
      'CANARY_CHECK_MINUTES',
      'CANARY_MAX_ERROR_RATE',
      'CANARY_MIN_CALLS',
      'CANARY_SHARE',
      'CATALOG_TABLE',
      'ENDPOINT_NAME',
      'EVENT_BUS_NAME',
      'MODEL_PACKAGE_GROUP',
      'ROLLOUT_TABLE',
    ]);
  });
});

describe('start', () => {
  it('puts the candidate on the served model as its canary and records the rollout', async () => {
    const out = await startCanary();
    const rolloutId = rolloutIdOf(packageArn(4));
    expect(out).toEqual({
      status: 'canary',
      rolloutId,
      jobId: 'ft-job-4',
      servedModel: SERVED,
      candidateModel: candidateId(4),
      inferenceComponent: componentOf(4),
      modelPackageArn: packageArn(4),
      share: 0.2,
      bakeUntil: '2026-11-22T11:01:44.000Z',
    });
    expect(catalog.models.get(SERVED)?.canary).toEqual({
      model: candidateId(4),
      inferenceComponent: componentOf(4),
      share: 0.2,
      rolloutId,
      calls: 0,
      errors: 0,
    });
    expect(store.locks.get(SERVED)).toBe(rolloutId);
    expect(await store.get(SERVED, rolloutId)).toMatchObject({
      status: 'canary',
      startedAt: '2026-11-22T10:31:44.000Z',
      breaches: [],
      initial: false,
      previous: { model: candidateId(3), inferenceComponent: componentOf(3) },
    });
  });

  it('skips a package of another group, and one that is not approved', async () => {
    const handler = handlerWith();
    const other = await handler({
      step: 'start',
      event: approved(4, { ModelPackageGroupName: 'someone-else' }),
    });
    expect(other).toMatchObject({ status: 'skipped', reason: expect.stringContaining('someone-else') });
    const pending = await handler({
      step: 'start',
      event: approved(4, { ModelApprovalStatus: 'PendingManualApproval' }),
    });
    expect(pending).toMatchObject({
      status: 'skipped',
      reason: expect.stringContaining('PendingManualApproval'),
    });
    expect(store.rollouts.size).toBe(0);
    expect(catalog.models.get(SERVED)?.canary).toBeUndefined();
  });

  it('skips a duplicate event of the same package as a duplicate, changing nothing', async () => {
    await startCanary();
    const before = structuredClone([...store.rollouts]);
    const again = await handlerWith()({ step: 'start', event: approved(4) });
    expect(again).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/^duplicate/) });
    expect([...store.rollouts]).toEqual(before);
  });

  it('answers a retried Start of the same execution with the same canary', async () => {
    const input = { step: 'start', event: approved(4), executionId: 'arn:aws:states:exec:1' };
    const first = await handlerWith()(input);
    expect(await handlerWith()(input)).toEqual(first);
  });

  it('skips a second rollout of the same served model, naming the one in progress; its package stays approved', async () => {
    const first = await startCanary(4);
    catalog.models.set(candidateId(5), entry(candidateId(5), componentOf(5), { lineage: lineage(5) }));
    const second = await handlerWith()({ step: 'start', event: approved(5) });
    expect(second).toMatchObject({ status: 'skipped', reason: expect.stringContaining(first.rolloutId) });
    expect((second as { reason: string }).reason).toContain('stays approved');
    expect(store.locks.get(SERVED)).toBe(first.rolloutId);
    expect(catalog.models.get(SERVED)?.canary?.rolloutId).toBe(first.rolloutId);
    expect(sagemaker.commandCalls(UpdateModelPackageCommand)).toHaveLength(0);
  });

  it('creates the served entry from the candidate on a first rollout, with no canary, to promote at once', async () => {
    catalog.models.delete(SERVED);
    store.current.clear();
    const out = rolloutStart.parse(await handlerWith()({ step: 'start', event: approved(4) }));
    expect(out).toMatchObject({ status: 'canary', share: 1, bakeUntil: '2026-11-22T10:31:44.000Z' });
    const served = catalog.models.get(SERVED);
    expect(served).toMatchObject({ id: SERVED, inferenceComponent: componentOf(4), lineage: lineage(4) });
    expect(served?.canary).toBeUndefined();
    expect(await store.get(SERVED, out.status === 'canary' ? out.rolloutId : '')).toMatchObject({
      initial: true,
      previous: null,
    });
    advance(5);
    const check = rolloutCheck.parse(await handlerWith()({ step: 'check', rollout: out }));
    expect(check.decision).toBe('promote');
  });

  it('refuses a package whose metadata does not say what to roll out', async () => {
    const event = approved(4);
    event.detail.CustomerMetadataProperties = { jobId: 'ft-job-4' } as never;
    expect(await errorOf(handlerWith()({ step: 'start', event }))).toBeInstanceOf(InvalidEventError);
    expect(store.locks.size).toBe(0);
  });

  it('releases the lock when Start fails before recording the rollout', async () => {
    const failing = new MemoryRolloutCatalog();
    failing.models = catalog.models;
    failing.startCanary = async () => {
      throw Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
    };
    catalog = failing;
    await errorOf(handlerWith()({ step: 'start', event: approved(4) }));
    expect(store.locks.size).toBe(0);
  });
});

describe('check', () => {
  it('continues during the bake and promotes once it is over with enough calls', async () => {
    const rollout = await startCanary();
    const handler = handlerWith();
    advance(5);
    const canary = catalog.models.get(SERVED)?.canary as CatalogCanary;
    Object.assign(canary, { calls: 30, errors: 0 });
    expect(rolloutCheck.parse(await handler({ step: 'check', rollout })).decision).toBe('continue');
    advance(30);
    Object.assign(canary, { calls: 80, errors: 1 });
    const done: RolloutCheck = rolloutCheck.parse(await handler({ step: 'check', ...rollout }));
    expect(done).toMatchObject({ decision: 'promote', calls: 80, errors: 1, breaches: [] });
    expect((await store.get(SERVED, rollout.rolloutId))?.check).toMatchObject({
      decision: 'promote',
      calls: 80,
    });
  });

  it('counts the bake in the waits the state machine completed, whatever the clock says', async () => {
    const rollout = await startCanary();
    const handler = handlerWith();
    const canary = catalog.models.get(SERVED)?.canary as CatalogCanary;
    Object.assign(canary, { calls: 60, errors: 0 });
    // Five waits of 5 minutes are 25 of the 30-minute bake, with no time passing on the clock.
    expect(rolloutCheck.parse(await handler({ step: 'check', rollout, waits: 5 })).decision).toBe('continue');
    expect(rolloutCheck.parse(await handler({ step: 'check', rollout, waits: 6 })).decision).toBe('promote');
  });

  it('rolls back on a recorded breach, naming the alarm', async () => {
    const rollout = await startCanary();
    await handlerWith()(alarmEvent(ERRORS_ALARM));
    advance(5);
    const out = rolloutCheck.parse(await handlerWith()({ step: 'check', rollout }));
    expect(out).toMatchObject({ decision: 'rollback', breaches: [ERRORS_ALARM] });
    expect(out.reason).toContain(ERRORS_ALARM);
  });

  it('rolls back on the candidate error rate once there are 20 calls', async () => {
    const rollout = await startCanary();
    Object.assign(catalog.models.get(SERVED)?.canary as CatalogCanary, { calls: 20, errors: 5 });
    advance(5);
    expect(rolloutCheck.parse(await handlerWith()({ step: 'check', rollout })).decision).toBe('rollback');
  });

  it('extends a bake with too few calls, then rolls back saying how many', async () => {
    const rollout = await startCanary();
    Object.assign(catalog.models.get(SERVED)?.canary as CatalogCanary, { calls: 7, errors: 0 });
    advance(31);
    expect(rolloutCheck.parse(await handlerWith()({ step: 'check', rollout })).decision).toBe('continue');
    advance(30);
    expect(rolloutCheck.parse(await handlerWith()({ step: 'check', rollout }))).toMatchObject({
      decision: 'rollback',
      reason: 'too few canary calls (7 of 50)',
    });
  });
});

describe('canary alarms', () => {
  it('adds a canary alarm that entered ALARM to the active rollout once', async () => {
    const rollout = await startCanary();
    const handler = handlerWith();
    expect(await handler(alarmEvent(ERRORS_ALARM))).toEqual({
      outcome: 'recorded',
      alarmName: ERRORS_ALARM,
      rollouts: [{ rolloutId: rollout.rolloutId, result: 'recorded' }],
    });
    expect(await handler(alarmEvent(ERRORS_ALARM))).toMatchObject({
      rollouts: [{ rolloutId: rollout.rolloutId, result: 'exists' }],
    });
    expect((await store.get(SERVED, rollout.rolloutId))?.breaches).toEqual([ERRORS_ALARM]);
  });

  it('ignores OK transitions, other alarms, and alarms with no rollout in progress', async () => {
    const handler = handlerWith();
    expect(await handler(alarmEvent(ERRORS_ALARM))).toMatchObject({
      outcome: 'ignored',
      reason: 'no rollout is in progress',
    });
    const rollout = await startCanary();
    expect(await handler(alarmEvent(ERRORS_ALARM, 'OK'))).toMatchObject({ outcome: 'ignored' });
    expect(await handler(alarmEvent('SomeoneElsesAlarm'))).toMatchObject({
      outcome: 'ignored',
      reason: 'not a canary alarm',
    });
    expect((await store.get(SERVED, rollout.rolloutId))?.breaches).toEqual([]);
  });

  it('refuses an EventBridge event it does not handle', async () => {
    const event = { ...(rawSample('dataset-ready') as object) };
    expect(await errorOf(handlerWith()(event))).toBeInstanceOf(InvalidEventError);
  });
});

function mockServing(component: { status?: string; artifactUrl?: string } = {}) {
  sagemaker.on(DescribeInferenceComponentCommand).resolves({
    InferenceComponentName: componentOf(4),
    EndpointName: ENDPOINT,
    InferenceComponentStatus: component.status ?? 'InService',
    Specification: { Container: { ArtifactUrl: component.artifactUrl ?? ARTIFACT } },
  } as never);
  sagemaker.on(DescribeModelPackageCommand).resolves({
    InferenceSpecification: { Containers: [{ Image: 'vllm', ModelDataUrl: ARTIFACT }] },
  } as never);
  sagemaker
    .on(DescribeEndpointCommand)
    .resolves({ EndpointName: ENDPOINT, EndpointStatus: 'InService' } as never);
}

async function bakedToPromote() {
  const rollout = await startCanary();
  Object.assign(catalog.models.get(SERVED)?.canary as CatalogCanary, { calls: 412, errors: 2 });
  advance(31);
  await handlerWith()({ step: 'check', rollout });
  return rollout;
}

describe('promote', () => {
  it('points the served model at the candidate and removes the canary, keeping the previous component', async () => {
    const rollout = await bakedToPromote();
    const out = await handlerWith()({ step: 'promote', rollout });
    expect(out).toEqual({
      status: 'promoted',
      rolloutId: rollout.rolloutId,
      servedModel: SERVED,
      inferenceComponent: componentOf(4),
      previous: { model: candidateId(3), inferenceComponent: componentOf(3) },
    });
    const served = catalog.models.get(SERVED);
    expect(served).toMatchObject({ inferenceComponent: componentOf(4), lineage: lineage(4) });
    expect(served?.canary).toBeUndefined();
    expect(sagemaker.commandCalls(DeleteInferenceComponentCommand)).toHaveLength(0);
    expect(store.current.get(SERVED)).toMatchObject({
      model: candidateId(4),
      inferenceComponent: componentOf(4),
    });
    // A retry changes nothing.
    expect(await handlerWith()({ step: 'promote', rollout })).toEqual(out);
  });

  it('refuses to promote a rollout whose check did not decide so', async () => {
    const rollout = await startCanary();
    expect(await errorOf(handlerWith()({ step: 'promote', rollout }))).toBeInstanceOf(ConflictError);
    expect(catalog.models.get(SERVED)?.inferenceComponent).toBe(componentOf(3));
  });
});

describe('rollback', () => {
  it('clears the canary, deletes the candidate component, deprecates it and rejects its package', async () => {
    const rollout = await startCanary();
    await handlerWith()(alarmEvent(ERRORS_ALARM));
    advance(4);
    await handlerWith()({ step: 'check', rollout });
    sagemaker.on(DeleteInferenceComponentCommand).resolves({});
    sagemaker.on(UpdateModelPackageCommand).resolves({ ModelPackageArn: packageArn(4) });
    const out = await handlerWith()({ step: 'rollback', rollout });
    expect(out).toMatchObject({ status: 'rolled_back', component: 'deleted', candidateDeprecated: true });
    expect(catalog.models.get(SERVED)?.canary).toBeUndefined();
    expect(catalog.models.get(SERVED)?.inferenceComponent).toBe(componentOf(3));
    expect(catalog.models.get(candidateId(4))?.status).toBe('deprecated');
    expect(sagemaker.commandCalls(DeleteInferenceComponentCommand)[0]?.args[0].input).toEqual({
      InferenceComponentName: componentOf(4),
    });
    const rejected = sagemaker.commandCalls(UpdateModelPackageCommand)[0]?.args[0].input;
    expect(rejected).toMatchObject({ ModelPackageArn: packageArn(4), ModelApprovalStatus: 'Rejected' });
    expect(rejected?.ApprovalDescription).toBe(`rolled back: canary alarm in ALARM: ${ERRORS_ALARM}`);
  });

  it('takes a component that is already gone as deleted', async () => {
    const rollout = await startCanary();
    sagemaker
      .on(DeleteInferenceComponentCommand)
      .rejects(
        Object.assign(new Error('Could not find inference component "x".'), { name: 'ValidationException' }),
      );
    sagemaker.on(UpdateModelPackageCommand).resolves({});
    const out = await handlerWith()({ step: 'rollback', rollout, reason: 'operator' });
    expect(out).toMatchObject({ component: 'absent', reason: 'operator' });
  });
});

describe('verify', () => {
  it('answers what serves when it is the package artifact on an InService component and endpoint', async () => {
    const rollout = await bakedToPromote();
    await handlerWith()({ step: 'promote', rollout });
    mockServing();
    expect(await handlerWith()({ step: 'verify', rollout })).toEqual({
      inferenceComponent: componentOf(4),
      status: 'InService',
      artifactUrl: ARTIFACT,
      expectedArtifactUrl: ARTIFACT,
      endpointStatus: 'InService',
      matches: true,
    });
  });

  it('records a mismatch and fails with a RolloutVerificationError', async () => {
    const rollout = await bakedToPromote();
    await handlerWith()({ step: 'promote', rollout });
    mockServing({ artifactUrl: 's3://elsewhere/model.tar.gz' });
    const error = await errorOf(handlerWith()({ step: 'verify', rollout }));
    expect(error).toBeInstanceOf(RolloutVerificationError);
    expect((error as Error).name).toBe('RolloutVerificationError');
    expect((error as Error).message).toContain('s3://elsewhere/model.tar.gz');
    expect((await store.get(SERVED, rollout.rolloutId))?.verified).toMatchObject({
      matches: false,
      artifactUrl: 's3://elsewhere/model.tar.gz',
    });
  });
});

describe('verify after a rollback', () => {
  const PREVIOUS_ARTIFACT = 's3://llmops-dev-artifacts-example/finetune/output/ft3/output/model.tar.gz';

  /** The canary of ft4 breached and was rolled back: the line should serve ft3 again. */
  async function rolledBack() {
    const rollout = await startCanary();
    await handlerWith()(alarmEvent(ERRORS_ALARM));
    advance(4);
    await handlerWith()({ step: 'check', rollout });
    sagemaker.on(DeleteInferenceComponentCommand).resolves({});
    sagemaker.on(UpdateModelPackageCommand).resolves({});
    await handlerWith()({ step: 'rollback', rollout });
    return rollout;
  }

  /** SageMaker's view of ft3: its component, ft3's package, the endpoint. */
  function previousServes(component: { status?: string; artifactUrl?: string } = {}) {
    sagemaker.on(DescribeInferenceComponentCommand, { InferenceComponentName: componentOf(3) }).resolves({
      InferenceComponentName: componentOf(3),
      EndpointName: ENDPOINT,
      InferenceComponentStatus: component.status ?? 'InService',
      Specification: { Container: { ArtifactUrl: component.artifactUrl ?? PREVIOUS_ARTIFACT } },
    } as never);
    sagemaker.on(DescribeModelPackageCommand, { ModelPackageName: packageArn(3) }).resolves({
      InferenceSpecification: { Containers: [{ Image: 'vllm', ModelDataUrl: PREVIOUS_ARTIFACT }] },
    } as never);
    sagemaker
      .on(DescribeEndpointCommand)
      .resolves({ EndpointName: ENDPOINT, EndpointStatus: 'InService' } as never);
  }

  it("checks that the line serves the previous component again, loading the previous model's package", async () => {
    const rollout = await rolledBack();
    previousServes();
    expect(await handlerWith()({ step: 'verify', rollout })).toEqual({
      inferenceComponent: componentOf(3),
      status: 'InService',
      artifactUrl: PREVIOUS_ARTIFACT,
      expectedArtifactUrl: PREVIOUS_ARTIFACT,
      endpointStatus: 'InService',
      matches: true,
    });
    expect(sagemaker.commandCalls(DescribeModelPackageCommand)[0]?.args[0].input).toEqual({
      ModelPackageName: packageArn(3),
    });
    expect((await store.get(SERVED, rollout.rolloutId))?.verified).toMatchObject({
      inferenceComponent: componentOf(3),
      matches: true,
    });
    // Deployed announces what Verify read.
    await handlerWith()({ step: 'deployed', rollout });
    const put = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(modelDeployedDetail.parse(JSON.parse(put?.Detail ?? '{}'))).toMatchObject({
      outcome: 'rolled_back',
      verified: { inferenceComponent: componentOf(3), artifactUrl: PREVIOUS_ARTIFACT, matches: true },
    });
  });

  it('fails with a RolloutVerificationError, recorded, when SageMaker rolled the previous component back silently', async () => {
    const rollout = await rolledBack();
    previousServes({ status: 'Failed', artifactUrl: 's3://elsewhere/model.tar.gz' });
    const error = await errorOf(handlerWith()({ step: 'verify', rollout }));
    expect(error).toBeInstanceOf(RolloutVerificationError);
    expect((error as Error).message).toContain('does not serve what it rolled back to');
    expect((error as RolloutVerificationError).problems).toEqual([
      `inference component ${componentOf(3)} is Failed`,
      `inference component ${componentOf(3)} loads s3://elsewhere/model.tar.gz, not ${PREVIOUS_ARTIFACT}`,
    ]);
    expect((await store.get(SERVED, rollout.rolloutId))?.verified).toMatchObject({ matches: false });
  });

  it('fails when the line does not point at the previous component, or still has the canary', async () => {
    const rollout = await rolledBack();
    previousServes();
    const served = catalog.models.get(SERVED) as CatalogModel;
    catalog.models.set(SERVED, {
      ...served,
      inferenceComponent: componentOf(4),
      canary: {
        model: candidateId(4),
        inferenceComponent: componentOf(4),
        share: 0.2,
        rolloutId: rollout.rolloutId,
        calls: 0,
        errors: 0,
      },
    });
    const error = await errorOf(handlerWith()({ step: 'verify', rollout }));
    expect((error as RolloutVerificationError).problems).toEqual([
      `the canary of rollout ${rollout.rolloutId} is still on ${SERVED}`,
      `${SERVED} points at ${componentOf(4)}, not the previous ${componentOf(3)}`,
    ]);
  });

  it("after a first rollout's rollback, checks that nothing routes to the candidate", async () => {
    catalog.models.delete(SERVED);
    store.current.clear();
    const out = rolloutStart.parse(await handlerWith()({ step: 'start', event: approved(4) }));
    if (out.status !== 'canary') throw new Error('expected a first rollout');
    sagemaker.on(DeleteInferenceComponentCommand).resolves({});
    sagemaker.on(UpdateModelPackageCommand).resolves({});
    await handlerWith()({ step: 'rollback', rollout: out, reason: 'operator' });
    sagemaker
      .on(DescribeInferenceComponentCommand)
      .rejects(
        Object.assign(new Error('Could not find inference component "x".'), { name: 'ValidationException' }),
      );
    sagemaker.on(DescribeEndpointCommand).resolves({ EndpointStatus: 'InService' } as never);
    expect(await handlerWith()({ step: 'verify', rollout: out })).toMatchObject({
      inferenceComponent: componentOf(4),
      status: 'NotFound',
      matches: true,
    });
    expect(catalog.models.get(SERVED)).toBeUndefined();
  });

  it('refuses to verify a rollout still in canary', async () => {
    const rollout = await startCanary();
    expect(await errorOf(handlerWith()({ step: 'verify', rollout }))).toBeInstanceOf(ConflictError);
  });
});

describe('deployed', () => {
  it('publishes ModelDeployed for a promotion, releases the lock, and counts no rollback', async () => {
    const rollout = await bakedToPromote();
    await handlerWith()({ step: 'promote', rollout });
    mockServing();
    await handlerWith()({ step: 'verify', rollout });
    const out = await handlerWith()({ step: 'deployed', rollout });
    expect(out).toEqual({ rolloutId: rollout.rolloutId, outcome: 'promoted', eventId: 'evt-1' });
    const put = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(put).toMatchObject({
      EventBusName: 'bus-test',
      Source: 'llmops',
      DetailType: 'llmops.ModelDeployed',
    });
    const detail = modelDeployedDetail.parse(JSON.parse(put?.Detail ?? '{}'));
    expect(detail).toMatchObject({
      model: SERVED,
      outcome: 'promoted',
      previous: { model: candidateId(3), inferenceComponent: componentOf(3) },
      canary: { share: 0.2, bakeSeconds: 31 * 60, calls: 412, errors: 2, breaches: [] },
      verified: {
        inferenceComponent: componentOf(4),
        status: 'InService',
        artifactUrl: ARTIFACT,
        matches: true,
      },
      endpoint: ENDPOINT,
    });
    expect(store.locks.size).toBe(0);
    expect((await store.get(SERVED, rollout.rolloutId))?.finishedAt).toBeDefined();
    expect(emitted).toEqual([{ name: ROLLOUTS_ROLLED_BACK_METRIC, value: 0 }]);
  });

  it('publishes ModelDeployed for a rollback with what serves again, and counts one rollback', async () => {
    const rollout = await startCanary();
    await handlerWith()(alarmEvent(ERRORS_ALARM));
    advance(4);
    await handlerWith()({ step: 'check', rollout });
    sagemaker.on(DeleteInferenceComponentCommand).resolves({});
    sagemaker.on(UpdateModelPackageCommand).resolves({});
    await handlerWith()({ step: 'rollback', rollout });
    sagemaker.on(DescribeInferenceComponentCommand).resolves({
      InferenceComponentName: componentOf(3),
      InferenceComponentStatus: 'InService',
      Specification: { Container: { ArtifactUrl: 's3://artifacts/ft3.tar.gz' } },
    } as never);
    await handlerWith()({ step: 'deployed', rollout });
    const put = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    const detail = modelDeployedDetail.parse(JSON.parse(put?.Detail ?? '{}'));
    expect(detail).toMatchObject({
      outcome: 'rolled_back',
      reason: `canary alarm in ALARM: ${ERRORS_ALARM}`,
      canary: { bakeSeconds: 240, breaches: [ERRORS_ALARM] },
      verified: { inferenceComponent: componentOf(3), status: 'InService', matches: true },
    });
    expect(emitted).toEqual([{ name: ROLLOUTS_ROLLED_BACK_METRIC, value: 1 }]);
    expect(store.locks.size).toBe(0);
    // The next package may roll out now.
    catalog.models.set(candidateId(5), entry(candidateId(5), componentOf(5)));
    expect(await handlerWith()({ step: 'start', event: approved(5) })).toMatchObject({ status: 'canary' });
  });

  it('refuses to finish a rollout still in canary', async () => {
    const rollout = await startCanary();
    expect(await errorOf(handlerWith()({ step: 'deployed', rollout }))).toBeInstanceOf(ConflictError);
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });
});
