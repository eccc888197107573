import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { createDocumentClient, createEventBridgeClient } from '#aws/clients.ts';
import { parseJsonVariable, readConfig } from '#aws/config.ts';
import { ConfigError, ConflictError, InvalidEventError, NotFoundError } from '#aws/errors.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { createSageMakerClient } from '#aws/finetune/model-registry.ts';
import {
  DynamoRolloutCatalog,
  DynamoRolloutStore,
  type PreviousServing,
  type RolloutCatalog,
  type RolloutRecord,
  type RolloutStore,
} from '#aws/finetune/rollout-store.ts';
import { SageMakerServing, type Verification } from '#aws/finetune/serving.ts';
import { logger, metrics as sharedMetrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import type { RolloutCheck, RolloutStart } from '#contracts/pipelines/finetune.ts';
import {
  decideCheck,
  ROLLED_BACK_PREFIX,
  RolloutVerificationError,
  rolloutIdOf,
} from '#core/finetune/rollout.ts';
import {
  CLOUDWATCH_ALARM_STATE_CHANGE,
  cloudWatchAlarmStateChangeEvent,
} from '#events/cloudwatch-alarm-state-change.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { MODEL_DEPLOYED, type ModelDeployedDetail, modelDeployedDetail } from '#events/model-deployed.ts';
import { catalogModelId } from '#events/model-registered.ts';
import { sageMakerModelPackageStateChangeEvent } from '#events/sagemaker-model-package-state-change.ts';

/**
 * Rollout: every step of the Rollout state machine (`{step, …}`), and the canary alarms' "CloudWatch
 * Alarm State Change" events (told apart by `detail-type`).
 *
 * - `start` (`{step, event}`: the "SageMaker Model Package State Change" of an approved package of this
 *   deployment's group): one rollout per package (`rollout-` + 16 hex of the SHA-256 of its ARN; a
 *   duplicate event is skipped) and one at a time per served model (a lock item; a second rollout is
 *   skipped, its package stays approved and the reason names the rollout in progress). The served
 *   model's catalog entry gets the candidate as its canary; a first rollout (no served entry yet)
 *   creates the entry as a copy of the candidate's, with no canary, and promotes at the first Check.
 *   Output: `rolloutStart`.
 * - `check` (`$.rollout`): the breaches recorded from alarms and the canary's calls and errors, decided
 *   by the core ({@link decideCheck}). Output: `rolloutCheck`.
 * - `promote`: the served entry points at the candidate's component and lineage, canary removed (one
 *   write conditioned on the canary being this rollout's). The previous component is kept, and named
 *   as `previous` in the rollout and the event, so that an operator can move back at once.
 * - `rollback`: the canary is removed, the candidate's component deleted, its catalog entry deprecated
 *   and its model package rejected ("rolled back: <reason>").
 * - `verify` (after promote, and after rollback): SageMaker can roll back silently, so what serves is
 *   read, not assumed. After a promotion the served entry points at the candidate's component, which is
 *   InService and loads the package's adapter artifact, on an InService endpoint. After a rollback the
 *   served entry, its canary gone, points at the previous component again, which is InService (and loads
 *   the previous model's package artifact, when that model is known), on an InService endpoint; after a
 *   first rollout's rollback nothing routes to the candidate. Else the verification is recorded and
 *   {@link RolloutVerificationError} fails the execution (which pages).
 * - `deployed`: `llmops.ModelDeployed` published, the rollout finished, the lock released, and the EMF
 *   metric `RolloutsRolledBack` (1 on rollback, 0 on promote) for the stack's paging alarm.
 * - a canary alarm entering ALARM: its name is added to the active rollout's breaches (a set); other
 *   alarms and other transitions are ignored.
 *
 * Every step may be retried: each write is conditional or idempotent.
 */
export interface CanarySettings {
  /** Share of the served model's calls the candidate answers. */
  readonly share: number;
  readonly bakeMinutes: number;
  /** Minutes of one Bake wait of the state machine (a Check's `waits` count these). */
  readonly checkMinutes: number;
  readonly minCalls: number;
  readonly maxErrorRate: number;
}

export interface RolloutDeps {
  readonly store: RolloutStore;
  readonly catalog: RolloutCatalog;
  readonly serving: Pick<
    SageMakerServing,
    'describeComponent' | 'deleteComponent' | 'rejectPackage' | 'verify' | 'endpointStatus'
  >;
  readonly events: EventBridgeClient;
  readonly busName: string;
  readonly modelPackageGroup: string;
  readonly endpointName: string;
  readonly canary: CanarySettings;
  readonly canaryAlarmNames: readonly string[];
  readonly now?: () => Date;
  /** Where `RolloutsRolledBack` goes. @default the shared Powertools metrics */
  readonly metrics?: { addMetric(name: string, unit: 'Count', value: number): unknown };
}

/** Metric: 1 when a rollout ended rolled back, 0 when promoted (the stack pages on it). */
export const ROLLOUTS_ROLLED_BACK_METRIC = 'RolloutsRolledBack';

/** The package metadata a rollout needs (written by Register). */
const packageMetadata = z.looseObject({
  jobId: z.string().min(1),
  candidateModel: catalogModelId,
  servedModel: catalogModelId,
  inferenceComponent: z.string().min(1),
});

/** The rollout a later step is about: `{step, rollout: $.rollout}` or `$.rollout` merged with `step`. */
const rolloutRef = z.looseObject({ servedModel: catalogModelId, rolloutId: z.string().min(1) });

const stepInput = z.discriminatedUnion('step', [
  z.looseObject({
    step: z.literal('start'),
    event: z.unknown(),
    /** `$$.Execution.Id`: a retried Start of the same execution is told apart from a duplicate event. */
    executionId: z.string().min(1).optional(),
  }),
  z.looseObject({
    step: z.literal('check'),
    rollout: rolloutRef.optional(),
    /**
     * How many Bake waits of `CANARY_CHECK_MINUTES` the state machine has completed: the bake is
     * counted in waits (what Step Functions waited), not read from a clock. Absent: the clock.
     */
    waits: z.number().int().nonnegative().optional(),
  }),
  z.looseObject({ step: z.literal('promote'), rollout: rolloutRef.optional() }),
  z.looseObject({
    step: z.literal('rollback'),
    rollout: rolloutRef.optional(),
    /** Overrides the latest Check's reason (an operator's or a catch's). */
    reason: z.string().min(1).optional(),
  }),
  z.looseObject({ step: z.literal('verify'), rollout: rolloutRef.optional() }),
  z.looseObject({ step: z.literal('deployed'), rollout: rolloutRef.optional() }),
]);

export interface PromoteOutput {
  readonly status: 'promoted';
  readonly rolloutId: string;
  readonly servedModel: string;
  readonly inferenceComponent: string;
  /** Kept on the endpoint so that an operator can move back to it. */
  readonly previous: PreviousServing | null;
}

export interface RollbackOutput {
  readonly status: 'rolled_back';
  readonly rolloutId: string;
  readonly servedModel: string;
  readonly reason: string;
  readonly component: 'deleted' | 'absent' | 'kept';
  readonly candidateDeprecated: boolean;
}

export type VerifyOutput = Omit<Verification, 'problems'>;

export interface DeployedOutput {
  readonly rolloutId: string;
  readonly outcome: 'promoted' | 'rolled_back';
  readonly eventId: string;
}

export type AlarmOutput =
  | {
      readonly outcome: 'recorded';
      readonly alarmName: string;
      readonly rollouts: { rolloutId: string; result: string }[];
    }
  | { readonly outcome: 'ignored'; readonly reason: string };

export type RolloutOutput =
  | RolloutStart
  | RolloutCheck
  | PromoteOutput
  | RollbackOutput
  | VerifyOutput
  | DeployedOutput
  | AlarmOutput;

export function makeHandler(deps: RolloutDeps) {
  const now = deps.now ?? (() => new Date());
  const metrics = deps.metrics ?? sharedMetrics;

  async function loadRecord(ref: { servedModel: string; rolloutId: string }): Promise<RolloutRecord> {
    logger.appendKeys({ rolloutId: ref.rolloutId, servedModel: ref.servedModel });
    const record = await deps.store.get(ref.servedModel, ref.rolloutId);
    if (record === undefined) {
      throw new NotFoundError(`Rollout ${ref.rolloutId} of ${ref.servedModel} has no record`);
    }
    return record;
  }

  function canaryOutput(record: RolloutRecord): RolloutStart {
    return {
      status: 'canary',
      rolloutId: record.rolloutId,
      jobId: record.jobId,
      servedModel: record.servedModel,
      candidateModel: record.candidateModel,
      inferenceComponent: record.inferenceComponent,
      modelPackageArn: record.modelPackageArn,
      share: record.share,
      bakeUntil: record.bakeUntil,
    };
  }

  async function start(event: unknown, executionId: string | undefined): Promise<RolloutStart> {
    const { detail } = parseInput(
      sageMakerModelPackageStateChangeEvent,
      event,
      'Model Package State Change event',
    );
    const arn = detail.ModelPackageArn;
    logger.appendKeys({ modelPackageArn: arn });
    const skipped = (reason: string): RolloutStart => {
      logger.info('Rollout skipped', { reason });
      return { status: 'skipped', reason };
    };
    if (detail.ModelPackageGroupName.toLowerCase() !== deps.modelPackageGroup.toLowerCase()) {
      return skipped(
        `model package group ${detail.ModelPackageGroupName} is not this deployment's (${deps.modelPackageGroup})`,
      );
    }
    if (detail.ModelApprovalStatus !== 'Approved') {
      return skipped(`model package ${arn} is ${detail.ModelApprovalStatus}, not Approved`);
    }
    if (detail.ModelPackageStatus !== 'Completed') {
      return skipped(`model package ${arn} is ${detail.ModelPackageStatus}, not Completed`);
    }
    const meta = parseInput(
      packageMetadata,
      detail.CustomerMetadataProperties ?? {},
      `CustomerMetadataProperties of ${arn}`,
    );
    const { servedModel, candidateModel, inferenceComponent, jobId } = meta;
    const rolloutId = rolloutIdOf(arn);
    logger.appendKeys({ rolloutId, servedModel, candidateModel });

    const existing = await deps.store.get(servedModel, rolloutId);
    if (existing !== undefined) {
      if (executionId !== undefined && existing.executionId === executionId && existing.status === 'canary') {
        return canaryOutput(existing);
      }
      return skipped(`duplicate: rollout ${rolloutId} of ${arn} was already started (${existing.status})`);
    }
    const candidate = await deps.catalog.get(candidateModel);
    if (candidate === undefined) {
      throw new NotFoundError(`Candidate ${candidateModel} of ${arn} is not in the catalog`);
    }
    const startedAt = now();
    const at = startedAt.toISOString();
    const lock = await deps.store.acquireLock(servedModel, rolloutId, at);
    if (!lock.acquired) {
      logger.warn('Another rollout is in progress; this package stays approved', { holder: lock.holder });
      return skipped(
        `rollout ${lock.holder} of ${servedModel} is in progress: ${arn} stays approved but is not rolled out; approve it again once that rollout ends`,
      );
    }
    try {
      let served = await deps.catalog.get(servedModel);
      let initial = false;
      if (served === undefined) {
        initial = (await deps.catalog.createServed(servedModel, candidate, at)) === 'created';
        if (!initial) served = await deps.catalog.get(servedModel);
      }
      if (!initial && served?.inferenceComponent === inferenceComponent && served.canary === undefined) {
        await deps.store.releaseLock(servedModel, rolloutId);
        return skipped(`${servedModel} already serves ${inferenceComponent}`);
      }
      let previous: PreviousServing | null = null;
      if (!initial && served !== undefined) {
        const current = await deps.store.getCurrent(servedModel);
        previous = {
          ...(current !== undefined && current.inferenceComponent === served.inferenceComponent
            ? { model: current.model }
            : {}),
          ...(served.inferenceComponent !== undefined
            ? { inferenceComponent: served.inferenceComponent }
            : {}),
        };
        const canary = await deps.catalog.startCanary(
          servedModel,
          {
            model: candidateModel,
            inferenceComponent,
            share: deps.canary.share,
            rolloutId,
            calls: 0,
            errors: 0,
          },
          at,
        );
        if (!canary.started) {
          await deps.store.releaseLock(servedModel, rolloutId);
          return skipped(
            canary.holder === null
              ? `${servedModel} is no longer in the catalog`
              : `${servedModel} already has the canary of rollout ${canary.holder}: ${arn} stays approved but is not rolled out`,
          );
        }
      }
      const bakeSeconds = initial ? 0 : deps.canary.bakeMinutes * 60;
      const record: RolloutRecord = {
        rolloutId,
        servedModel,
        candidateModel,
        jobId,
        modelPackageArn: arn,
        inferenceComponent,
        endpoint: deps.endpointName,
        share: initial ? 1 : deps.canary.share,
        bakeSeconds,
        startedAt: at,
        bakeUntil: new Date(startedAt.getTime() + bakeSeconds * 1000).toISOString(),
        initial,
        previous,
        breaches: [],
        status: 'canary',
        ...(executionId !== undefined ? { executionId } : {}),
      };
      const created = await deps.store.create(record);
      const stored =
        created === 'created' ? record : ((await deps.store.get(servedModel, rolloutId)) ?? record);
      logger.info('Rollout started', { initial, share: stored.share, bakeUntil: stored.bakeUntil, previous });
      return canaryOutput(stored);
    } catch (error) {
      // Nothing was recorded: free the served model for a retry or the next rollout.
      if ((await deps.store.get(servedModel, rolloutId)) === undefined) {
        await deps.store.releaseLock(servedModel, rolloutId);
      }
      throw error;
    }
  }

  async function check(
    ref: { servedModel: string; rolloutId: string },
    waits: number | undefined,
  ): Promise<RolloutCheck> {
    const record = await loadRecord(ref);
    // The bake's elapsed time: the waits the state machine completed, or the clock.
    const bakedUntil =
      waits === undefined
        ? now()
        : new Date(Date.parse(record.startedAt) + waits * deps.canary.checkMinutes * 60_000);
    const served = await deps.catalog.get(record.servedModel);
    const canary = served?.canary?.rolloutId === record.rolloutId ? served.canary : undefined;
    const result = decideCheck(
      {
        now: bakedUntil,
        startedAt: record.startedAt,
        bakeUntil: record.bakeUntil,
        initial: record.initial,
        breaches: record.breaches,
        canary: canary === undefined ? null : { calls: canary.calls, errors: canary.errors },
      },
      { minCalls: deps.canary.minCalls, maxErrorRate: deps.canary.maxErrorRate },
    );
    await deps.store.recordCheck(record.servedModel, record.rolloutId, {
      decision: result.decision,
      reason: result.reason,
      calls: result.calls,
      errors: result.errors,
      // Where the bake stood at this check (its waits, or the clock).
      at: bakedUntil.toISOString(),
    });
    logger.info('Rollout checked', { ...result });
    return result;
  }

  async function promote(ref: { servedModel: string; rolloutId: string }): Promise<PromoteOutput> {
    const record = await loadRecord(ref);
    if (record.status !== 'promoted' && record.check?.decision !== 'promote') {
      throw new ConflictError(
        `Rollout ${record.rolloutId} cannot be promoted: its latest check decided ${record.check?.decision ?? 'nothing'}`,
      );
    }
    const candidate = await deps.catalog.get(record.candidateModel);
    const at = now().toISOString();
    const written = await deps.catalog.promote(
      record.servedModel,
      record.rolloutId,
      { inferenceComponent: record.inferenceComponent, lineage: candidate?.lineage },
      at,
    );
    await deps.store.recordOutcome(
      record.servedModel,
      record.rolloutId,
      'promoted',
      record.check?.reason ?? 'promoted',
      at,
    );
    await deps.store.setCurrent(record.servedModel, {
      model: record.candidateModel,
      inferenceComponent: record.inferenceComponent,
      rolloutId: record.rolloutId,
      at,
    });
    logger.info('Rollout promoted', { catalog: written, previous: record.previous });
    return {
      status: 'promoted',
      rolloutId: record.rolloutId,
      servedModel: record.servedModel,
      inferenceComponent: record.inferenceComponent,
      previous: record.previous,
    };
  }

  async function rollback(
    ref: { servedModel: string; rolloutId: string },
    override?: string,
  ): Promise<RollbackOutput> {
    const record = await loadRecord(ref);
    const reason = override ?? record.reason ?? record.check?.reason ?? 'rolled back';
    const at = now().toISOString();
    await deps.store.recordOutcome(record.servedModel, record.rolloutId, 'rolled_back', reason, at);
    if (record.initial) await deps.catalog.removeServed(record.servedModel, record.inferenceComponent);
    else await deps.catalog.clearCanary(record.servedModel, record.rolloutId, at);
    // Never delete what the served entry points at (an operator may have moved it meanwhile).
    const served = await deps.catalog.get(record.servedModel);
    const component =
      served?.inferenceComponent === record.inferenceComponent
        ? ('kept' as const)
        : await deps.serving.deleteComponent(record.inferenceComponent);
    const candidateDeprecated = await deps.catalog.deprecate(record.candidateModel, at);
    await deps.serving.rejectPackage(record.modelPackageArn, `${ROLLED_BACK_PREFIX}${reason}`);
    logger.warn('Rollout rolled back', { reason, component, candidateDeprecated });
    return {
      status: 'rolled_back',
      rolloutId: record.rolloutId,
      servedModel: record.servedModel,
      reason,
      component,
      candidateDeprecated,
    };
  }

  async function verify(ref: { servedModel: string; rolloutId: string }): Promise<VerifyOutput> {
    const record = await loadRecord(ref);
    if (record.status === 'canary') {
      throw new ConflictError(
        `Rollout ${record.rolloutId} is still in canary: only a promotion or a rollback is verified`,
      );
    }
    const verification =
      record.status === 'promoted' ? await verifyPromotion(record) : await verifyRollback(record);
    const { problems, ...verified } = verification;
    await deps.store.recordVerification(record.servedModel, record.rolloutId, {
      ...verified,
      at: now().toISOString(),
    });
    if (!verified.matches) {
      logger.error('Rollout verification failed', { outcome: record.status, problems });
      throw new RolloutVerificationError(
        `Rollout ${record.rolloutId} of ${record.servedModel} does not serve what it ${record.status === 'promoted' ? 'promoted' : 'rolled back to'}: ${problems.join('; ')}`,
        problems,
      );
    }
    logger.info('Rollout verified', { outcome: record.status, ...verified });
    return verified;
  }

  /** After a promotion: the served entry on the candidate's component, which serves its package. */
  async function verifyPromotion(record: RolloutRecord): Promise<Verification> {
    const served = await deps.catalog.get(record.servedModel);
    const component = served?.inferenceComponent ?? record.inferenceComponent;
    const verification = await deps.serving.verify(component, record.modelPackageArn, deps.endpointName);
    const problems = [...verification.problems];
    if (served === undefined) problems.unshift(`${record.servedModel} is not in the catalog`);
    else if (served.inferenceComponent !== record.inferenceComponent) {
      problems.unshift(
        `${record.servedModel} points at ${served.inferenceComponent ?? 'no component'}, not ${record.inferenceComponent}`,
      );
    }
    return { ...verification, matches: problems.length === 0, problems };
  }

  /**
   * After a rollback: the served entry back on the previous component, with no canary, and that
   * component serving (the previous model's package artifact, when the model is known); after a first
   * rollout's rollback, nothing routes to the candidate.
   */
  async function verifyRollback(record: RolloutRecord): Promise<Verification> {
    const served = await deps.catalog.get(record.servedModel);
    const problems: string[] = [];
    if (served?.canary?.rolloutId === record.rolloutId) {
      problems.push(`the canary of rollout ${record.rolloutId} is still on ${record.servedModel}`);
    }
    if (record.initial) {
      if (served?.inferenceComponent === record.inferenceComponent) {
        problems.push(`${record.servedModel} still points at ${record.inferenceComponent}`);
      }
      const [candidate, endpoint] = await Promise.all([
        deps.serving.describeComponent(record.inferenceComponent),
        deps.serving.endpointStatus(deps.endpointName),
      ]);
      return {
        inferenceComponent: record.inferenceComponent,
        status: candidate?.status ?? 'NotFound',
        artifactUrl: candidate?.artifactUrl ?? null,
        expectedArtifactUrl: null,
        endpointStatus: endpoint ?? 'NotFound',
        matches: problems.length === 0,
        problems,
      };
    }
    const component = record.previous?.inferenceComponent ?? served?.inferenceComponent;
    if (served === undefined) problems.push(`${record.servedModel} is not in the catalog`);
    else if (component !== undefined && served.inferenceComponent !== component) {
      problems.push(
        `${record.servedModel} points at ${served.inferenceComponent ?? 'no component'}, not the previous ${component}`,
      );
    }
    if (component === undefined) {
      problems.push(`${record.servedModel} had no component before the rollout to go back to`);
      return {
        inferenceComponent: record.inferenceComponent,
        status: 'NotFound',
        artifactUrl: null,
        expectedArtifactUrl: null,
        endpointStatus: (await deps.serving.endpointStatus(deps.endpointName)) ?? 'NotFound',
        matches: false,
        problems,
      };
    }
    const previousModel = record.previous?.model;
    const packageArn =
      previousModel === undefined
        ? undefined
        : (await deps.catalog.get(previousModel))?.lineage?.modelPackageArn;
    if (packageArn !== undefined) {
      const verification = await deps.serving.verify(component, packageArn, deps.endpointName);
      problems.push(...verification.problems);
      return { ...verification, matches: problems.length === 0, problems };
    }
    // The previous model is not known (its package neither): the component and endpoint in service.
    const [state, endpoint] = await Promise.all([
      deps.serving.describeComponent(component),
      deps.serving.endpointStatus(deps.endpointName),
    ]);
    const status = state?.status ?? 'NotFound';
    const endpointStatus = endpoint ?? 'NotFound';
    if (status !== 'InService') problems.push(`inference component ${component} is ${status}`);
    if (endpointStatus !== 'InService') problems.push(`endpoint ${deps.endpointName} is ${endpointStatus}`);
    return {
      inferenceComponent: component,
      status,
      artifactUrl: state?.artifactUrl ?? null,
      expectedArtifactUrl: null,
      endpointStatus,
      matches: problems.length === 0,
      problems,
    };
  }

  /** After a rollback: what serves now (the previous component; nothing after a first rollout). */
  async function servingAfterRollback(record: RolloutRecord): Promise<ModelDeployedDetail['verified']> {
    const served = await deps.catalog.get(record.servedModel);
    if (served?.inferenceComponent === undefined) {
      const gone = await deps.serving.describeComponent(record.inferenceComponent);
      return {
        inferenceComponent: record.inferenceComponent,
        status: gone?.status ?? 'NotFound',
        artifactUrl: gone?.artifactUrl ?? null,
        matches: served === undefined,
      };
    }
    const state = await deps.serving.describeComponent(served.inferenceComponent);
    return {
      inferenceComponent: served.inferenceComponent,
      status: state?.status ?? 'NotFound',
      artifactUrl: state?.artifactUrl ?? null,
      matches:
        state?.status === 'InService' &&
        served.canary === undefined &&
        served.inferenceComponent === record.previous?.inferenceComponent,
    };
  }

  async function deployed(ref: { servedModel: string; rolloutId: string }): Promise<DeployedOutput> {
    const record = await loadRecord(ref);
    if (record.status === 'canary') {
      throw new ConflictError(`Rollout ${record.rolloutId} has not been promoted or rolled back yet`);
    }
    const outcome = record.status;
    // What Verify read; a rollback that was not verified (an execution older than its Verify) is read now.
    const verified: ModelDeployedDetail['verified'] =
      record.verified !== undefined
        ? {
            inferenceComponent: record.verified.inferenceComponent,
            status: record.verified.status,
            artifactUrl: record.verified.artifactUrl,
            matches: record.verified.matches,
          }
        : outcome === 'promoted'
          ? {
              inferenceComponent: record.inferenceComponent,
              status: 'Unverified',
              artifactUrl: null,
              matches: false,
            }
          : await servingAfterRollback(record);
    // How long the canary baked: to its last check (counted in waits), else to the decision.
    const decidedAt = Date.parse(record.check?.at ?? record.decidedAt ?? now().toISOString());
    const detail: ModelDeployedDetail = {
      schemaVersion: SCHEMA_VERSION,
      rolloutId: record.rolloutId,
      model: record.servedModel,
      candidate: {
        model: record.candidateModel,
        modelPackageArn: record.modelPackageArn,
        inferenceComponent: record.inferenceComponent,
      },
      previous: record.previous,
      outcome,
      reason: record.reason ?? record.check?.reason ?? outcome,
      canary: {
        share: record.share,
        bakeSeconds: Math.max(0, Math.round((decidedAt - Date.parse(record.startedAt)) / 1000)),
        calls: record.check?.calls ?? 0,
        errors: record.check?.errors ?? 0,
        breaches: record.breaches,
      },
      verified,
      endpoint: record.endpoint,
    };
    const eventId = await publishEvent(deps.events, {
      busName: deps.busName,
      source: LLMOPS_SOURCE,
      detailType: MODEL_DEPLOYED,
      schema: modelDeployedDetail,
      detail,
    });
    await deps.store.finish(record.servedModel, record.rolloutId, now().toISOString());
    await deps.store.releaseLock(record.servedModel, record.rolloutId);
    metrics.addMetric(ROLLOUTS_ROLLED_BACK_METRIC, 'Count', outcome === 'rolled_back' ? 1 : 0);
    logger.info('Rollout deployed', { outcome, reason: detail.reason, eventId });
    return { rolloutId: record.rolloutId, outcome, eventId };
  }

  async function onAlarm(input: unknown): Promise<AlarmOutput> {
    const { detail } = parseInput(
      cloudWatchAlarmStateChangeEvent,
      input,
      'CloudWatch Alarm State Change event',
    );
    logger.appendKeys({ alarmName: detail.alarmName });
    const ignored = (reason: string): AlarmOutput => {
      logger.info('Alarm state change ignored', { reason, state: detail.state.value });
      return { outcome: 'ignored', reason };
    };
    if (!deps.canaryAlarmNames.includes(detail.alarmName)) return ignored('not a canary alarm');
    if (detail.state.value !== 'ALARM') return ignored(`the alarm went to ${detail.state.value}, not ALARM`);
    const active = await deps.store.activeRollouts();
    if (active.length === 0) return ignored('no rollout is in progress');
    const rollouts = await Promise.all(
      active.map(async ({ servedModel, rolloutId }) => ({
        rolloutId,
        result: await deps.store.recordBreach(servedModel, rolloutId, detail.alarmName),
      })),
    );
    logger.warn('Canary alarm breached', { rollouts });
    return { outcome: 'recorded', alarmName: detail.alarmName, rollouts };
  }

  return async (input: unknown, _context?: Context): Promise<RolloutOutput> => {
    if (typeof input === 'object' && input !== null && 'detail-type' in input) {
      const detailType = (input as Record<string, unknown>)['detail-type'];
      if (detailType !== CLOUDWATCH_ALARM_STATE_CHANGE) {
        throw new InvalidEventError(
          `Invalid Rollout input: detail-type ${String(detailType)} is not handled`,
        );
      }
      return onAlarm(input);
    }
    const parsed = parseInput(stepInput, input, 'Rollout step input');
    if (parsed.step === 'start') return start(parsed.event, parsed.executionId);
    const ref = parseInput(rolloutRef, parsed.rollout ?? parsed, `Rollout ${parsed.step} input`);
    switch (parsed.step) {
      case 'check':
        return check(ref, parsed.waits);
      case 'promote':
        return promote(ref);
      case 'rollback':
        return rollback(ref, parsed.reason);
      case 'verify':
        return verify(ref);
      case 'deployed':
        return deployed(ref);
    }
  };
}

const alarmNames = z.array(z.string().min(1));

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  ROLLOUT_TABLE: envVar.string(),
  CATALOG_TABLE: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  MODEL_PACKAGE_GROUP: envVar.string(),
  ENDPOINT_NAME: envVar.string(),
  CANARY_SHARE: envVar.ratio(),
  CANARY_BAKE_MINUTES: envVar.int(1),
  CANARY_CHECK_MINUTES: envVar.int(1),
  CANARY_MIN_CALLS: envVar.int(0),
  CANARY_MAX_ERROR_RATE: envVar.ratio(),
  CANARY_ALARM_NAMES: envVar.string(),
};

const config = readConfig(environment);
if (!(config.CANARY_SHARE > 0))
  throw new ConfigError('Invalid function configuration: CANARY_SHARE: must be above 0');
const documents = createDocumentClient();

export const handler = withObservability(
  makeHandler({
    store: new DynamoRolloutStore(documents, config.ROLLOUT_TABLE),
    catalog: new DynamoRolloutCatalog(documents, config.CATALOG_TABLE),
    serving: new SageMakerServing(createSageMakerClient()),
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
    modelPackageGroup: config.MODEL_PACKAGE_GROUP,
    endpointName: config.ENDPOINT_NAME,
    canary: {
      share: config.CANARY_SHARE,
      bakeMinutes: config.CANARY_BAKE_MINUTES,
      checkMinutes: config.CANARY_CHECK_MINUTES,
      minCalls: config.CANARY_MIN_CALLS,
      maxErrorRate: config.CANARY_MAX_ERROR_RATE,
    },
    canaryAlarmNames: parseJsonVariable('CANARY_ALARM_NAMES', alarmNames, config.CANARY_ALARM_NAMES),
  }),
);
