import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { createDocumentClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { InvalidEventError, NotFoundError } from '#aws/errors.ts';
import { type CandidateCatalog, retireCandidate } from '#aws/finetune/candidates.ts';
import { finetuneDeps } from '#aws/finetune/deps.ts';
import {
  type FinetuneJobPatch,
  FinetuneJobStatusError,
  type FinetuneJobStore,
} from '#aws/finetune/job-store.ts';
import type { ModelRegistry } from '#aws/finetune/model-registry.ts';
import type { FinetuneSettings } from '#aws/finetune/settings.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import type { FinetuneJob, FinetuneJobStatus } from '#contracts/finetune/job.ts';
import { inferenceComponentNameOf, jobIdInName, jobIdOfRunId } from '#core/finetune/plan.ts';
import { ROLLED_BACK_PREFIX } from '#core/finetune/rollout.ts';
import {
  EVALUATION_COMPLETED,
  type EvaluationCompletedDetail,
  evaluationCompletedEvent,
} from '#events/evaluation-completed.ts';
import { MODEL_DEPLOYED, modelDeployedEvent } from '#events/model-deployed.ts';
import {
  SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE,
  sageMakerModelPackageStateChangeEvent,
} from '#events/sagemaker-model-package-state-change.ts';
import {
  SAGEMAKER_TRAINING_JOB_STATE_CHANGE,
  sageMakerTrainingJobStateChangeEvent,
} from '#events/sagemaker-training-job-state-change.ts';

/**
 * Gate: the fine-tuning job's verdicts, from three events (dispatched by `detail-type`, each parsed with
 * its schema):
 *
 * - `llmops.EvaluationCompleted` of a candidate run (`candidate-<jobId>`, matched exactly; any other run
 *   is ignored, the win-rate run `candidate-<jobId>-holdout` of a candidate trained on feedback
 *   included): a pass approves the model package (`auto`: the job is `approved`, which starts the
 *   rollout) or waits for an admin (`manual`: `awaiting_approval`); a failed or verdict-less run rejects
 *   the package, takes the candidate off the endpoint and out of the catalog, and the job is `rejected`.
 * - SageMaker "Model Package State Change" of this deployment's group: an approval or a rejection made
 *   in the console moves the job too (found by the package's `jobId` metadata).
 * - `llmops.ModelDeployed`: the rollout's outcome, `deployed` or `rolled_back`.
 *
 * Every move is conditional on the job's status, so a redelivered event changes nothing: its move finds
 * the job moved already and is logged as a duplicate.
 */
export interface GateDeps {
  readonly store: Pick<FinetuneJobStore, 'get' | 'update'>;
  readonly registry: Pick<ModelRegistry, 'setApproval' | 'deleteComponent'>;
  readonly catalog: Pick<CandidateCatalog, 'deleteCandidate'>;
  readonly settings: FinetuneSettings;
  readonly stackName: string;
  readonly modelPackageGroup: string;
}

export type GateOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | { readonly outcome: 'duplicate'; readonly jobId: string; readonly status: FinetuneJobStatus }
  | { readonly outcome: 'moved'; readonly jobId: string; readonly status: FinetuneJobStatus };

const detailTypeOf = z.looseObject({ 'detail-type': z.string() });

/** The statuses an evaluation's verdict moves a job from. */
const AWAITING_EVALUATION: readonly FinetuneJobStatus[] = ['registered', 'evaluating'];
/** The statuses an approval decision (the gate's, an admin's, the console's) moves a job from. */
const BEFORE_VERDICT: readonly FinetuneJobStatus[] = [...AWAITING_EVALUATION, 'awaiting_approval'];

function ignored(reason: string, extra: Record<string, unknown> = {}): GateOutcome {
  logger.info('Event ignored by the fine-tuning gate', { reason, ...extra });
  return { outcome: 'ignored', reason };
}

/** The metrics of a run, as a reader wants them in an approval description. */
export function describeMetrics(metrics_: EvaluationCompletedDetail['metrics']): string {
  const parts = Object.keys(metrics_)
    .sort()
    .map((name) => {
      const value = metrics_[name]?.value;
      return `${name}=${value === null || value === undefined ? 'n/a' : Number(value.toFixed(4))}`;
    });
  return parts.join(', ') || 'no metrics';
}

export function makeHandler(deps: GateDeps) {
  /** Moves a job; a job that has moved on already (a duplicate) is left as it is. */
  async function move(
    jobId: string,
    patch: FinetuneJobPatch & { status: FinetuneJobStatus },
    from: readonly FinetuneJobStatus[],
  ): Promise<GateOutcome> {
    try {
      await deps.store.update(jobId, patch, { expectStatus: from });
    } catch (error) {
      if (error instanceof FinetuneJobStatusError) {
        logger.info('Fine-tuning job already moved: nothing to do', {
          status: error.status,
          wanted: patch.status,
        });
        metrics.addMetric('FinetuneGateDuplicates', 'Count', 1);
        return { outcome: 'duplicate', jobId, status: error.status };
      }
      throw error;
    }
    metrics.addMetric('FinetuneGateMoves', 'Count', 1);
    logger.info('Fine-tuning job moved', { status: patch.status });
    return { outcome: 'moved', jobId, status: patch.status };
  }

  /** Puts the verdict on a job still awaiting one; the status it moved to instead, if it did. */
  async function recordVerdict(
    jobId: string,
    evaluation: NonNullable<FinetuneJob['evaluation']>,
  ): Promise<FinetuneJobStatus | undefined> {
    try {
      await deps.store.update(jobId, { evaluation }, { expectStatus: AWAITING_EVALUATION });
      return undefined;
    } catch (error) {
      if (error instanceof FinetuneJobStatusError) return error.status;
      throw error;
    }
  }

  async function retire(job: FinetuneJob): Promise<void> {
    await retireCandidate(deps, {
      jobId: job.jobId,
      inferenceComponent: inferenceComponentNameOf(deps.stackName, job.jobId),
      candidateModel: job.candidateModel,
    });
  }

  async function onEvaluationCompleted(raw: unknown): Promise<GateOutcome> {
    const { detail } = parseInput(evaluationCompletedEvent, raw, `${EVALUATION_COMPLETED} event`);
    const jobId = jobIdOfRunId(detail.runId);
    if (jobId === undefined) return ignored(`run ${detail.runId} is not a candidate evaluation`);
    logger.appendKeys({ jobId, runId: detail.runId });
    const job = await deps.store.get(jobId);
    if (job === undefined) return ignored(`no fine-tuning job ${jobId} for run ${detail.runId}`);
    if (!AWAITING_EVALUATION.includes(job.status)) {
      logger.info('Verdict already given: nothing to do', { status: job.status });
      return { outcome: 'duplicate', jobId, status: job.status };
    }
    if (job.modelPackageArn === undefined) {
      throw new InvalidEventError(
        `job ${jobId} has no model package to approve or reject (status ${job.status})`,
      );
    }
    const evaluation = {
      runId: detail.runId,
      pass: detail.pass,
      report: `s3://${detail.report.bucket}/${detail.report.html}`,
      // The record replaces the job's: the held-out win-rate run it names stays named.
      ...(job.evaluation?.winRateRunId !== undefined ? { winRateRunId: job.evaluation.winRateRunId } : {}),
    };
    // The verdict goes on the job before SageMaker hears of it: the package's state change moves the job
    // on its own (to approved or rejected), and when it is handled first the job would keep no verdict.
    const movedOn = await recordVerdict(jobId, evaluation);
    if (movedOn !== undefined) {
      logger.info('Verdict already given: nothing to do', { status: movedOn });
      return { outcome: 'duplicate', jobId, status: movedOn };
    }
    const against = detail.baseline?.model ?? detail.baseline?.prompt ?? 'no baseline';
    if (detail.pass === true) {
      if (deps.settings.gate.approval === 'manual') {
        return move(jobId, { status: 'awaiting_approval', evaluation }, AWAITING_EVALUATION);
      }
      await deps.registry.setApproval(
        job.modelPackageArn,
        'Approved',
        `Approved automatically: evaluation ${detail.runId} passed the ${detail.suite.name} v${detail.suite.version} gate against ${against} (fine-tuning job ${jobId}; ${describeMetrics(detail.metrics)})`,
      );
      return move(jobId, { status: 'approved', evaluation }, AWAITING_EVALUATION);
    }
    const verdict = detail.pass === false ? 'failed' : 'gave no verdict on';
    await deps.registry.setApproval(
      job.modelPackageArn,
      'Rejected',
      `Rejected: evaluation ${detail.runId} ${verdict} the ${detail.suite.name} v${detail.suite.version} gate against ${against} (fine-tuning job ${jobId}; ${detail.failed} items failed; ${describeMetrics(detail.metrics)})`,
    );
    await retire(job);
    return move(jobId, { status: 'rejected', evaluation }, AWAITING_EVALUATION);
  }

  async function onPackageStateChange(raw: unknown): Promise<GateOutcome> {
    const { detail } = parseInput(
      sageMakerModelPackageStateChangeEvent,
      raw,
      `${SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE} event`,
    );
    if (detail.ModelPackageGroupName !== deps.modelPackageGroup) {
      return ignored(`model package group ${detail.ModelPackageGroupName} is not this deployment's`);
    }
    const jobId = detail.CustomerMetadataProperties?.jobId;
    if (jobId === undefined)
      return ignored(`model package ${detail.ModelPackageArn} names no fine-tuning job`);
    logger.appendKeys({ jobId, modelPackageArn: detail.ModelPackageArn });
    const job = await deps.store.get(jobId);
    if (job === undefined) return ignored(`no fine-tuning job ${jobId}`);
    // SageMaker lowercases the names in its ARNs: compare them without case.
    if (
      job.modelPackageArn !== undefined &&
      job.modelPackageArn.toLowerCase() !== detail.ModelPackageArn.toLowerCase()
    ) {
      return ignored(`job ${jobId} is registered as ${job.modelPackageArn}, not ${detail.ModelPackageArn}`);
    }
    switch (detail.ModelApprovalStatus) {
      case 'Approved':
        return move(jobId, { status: 'approved' }, BEFORE_VERDICT);
      case 'Rejected': {
        // The Rollout rejects a candidate it rolled back: the job is rolled back (its ModelDeployed says
        // why), and the rollout has already removed the component.
        if (detail.ApprovalDescription?.startsWith(ROLLED_BACK_PREFIX)) {
          return move(jobId, { status: 'rolled_back' }, ['approved', 'deploying', 'rolled_back']);
        }
        if (!([...BEFORE_VERDICT, 'approved'] as FinetuneJobStatus[]).includes(job.status)) {
          return { outcome: 'duplicate', jobId, status: job.status };
        }
        await retire(job);
        return move(jobId, { status: 'rejected' }, [...BEFORE_VERDICT, 'approved']);
      }
      default:
        return ignored(`model package ${detail.ModelPackageArn} is ${detail.ModelApprovalStatus}`);
    }
  }

  /**
   * SageMaker's progress of a job's training (`Starting`, `Downloading`, `Training`, `Interrupted` by
   * spot and resumed from a checkpoint, `Uploading`, ...) on the job record while it trains; the outcome
   * itself reaches the job through the state machine (Register or RecordFailure).
   */
  async function onTrainingJobStateChange(raw: unknown): Promise<GateOutcome> {
    const { detail } = parseInput(
      sageMakerTrainingJobStateChangeEvent,
      raw,
      `${SAGEMAKER_TRAINING_JOB_STATE_CHANGE} event`,
    );
    const jobId = jobIdInName(detail.TrainingJobName);
    if (jobId === undefined)
      return ignored(`training job ${detail.TrainingJobName} is not a fine-tuning job's`);
    logger.appendKeys({ jobId, trainingJob: detail.TrainingJobName });
    const job = await deps.store.get(jobId);
    if (job === undefined) return ignored(`no fine-tuning job ${jobId}`);
    if (job.trainingJob.name !== detail.TrainingJobName) {
      return ignored(`job ${jobId} trains as ${job.trainingJob.name}, not ${detail.TrainingJobName}`);
    }
    if (detail.SecondaryStatus === 'Interrupted') metrics.addMetric('FinetuneSpotInterruptions', 'Count', 1);
    return move(
      jobId,
      {
        status: 'training',
        trainingJob: {
          ...job.trainingJob,
          arn: detail.TrainingJobArn,
          state: detail.TrainingJobStatus,
          ...(detail.SecondaryStatus !== undefined ? { secondaryStatus: detail.SecondaryStatus } : {}),
        },
      },
      ['training'],
    );
  }

  async function onModelDeployed(raw: unknown): Promise<GateOutcome> {
    const { detail } = parseInput(modelDeployedEvent, raw, `${MODEL_DEPLOYED} event`);
    const jobId = jobIdInName(detail.candidate.inferenceComponent);
    if (jobId === undefined) {
      return ignored(
        `inference component ${detail.candidate.inferenceComponent} is not a fine-tuning candidate's`,
      );
    }
    logger.appendKeys({ jobId, rolloutId: detail.rolloutId });
    const rollout = { rolloutId: detail.rolloutId, outcome: detail.outcome, reason: detail.reason };
    const status: FinetuneJobStatus = detail.outcome === 'promoted' ? 'deployed' : 'rolled_back';
    try {
      // A rollback's rejection may reach the job first (rolled_back, without the rollout's record).
      return await move(jobId, { status, rollout }, ['approved', 'deploying', status]);
    } catch (error) {
      if (error instanceof NotFoundError) return ignored(`no fine-tuning job ${jobId}`);
      throw error;
    }
  }

  return async (input: unknown, _context?: Context): Promise<GateOutcome> => {
    const type = detailTypeOf.safeParse(input);
    const detailType = type.success ? type.data['detail-type'] : undefined;
    switch (detailType) {
      case EVALUATION_COMPLETED:
        return onEvaluationCompleted(input);
      case SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE:
        return onPackageStateChange(input);
      case MODEL_DEPLOYED:
        return onModelDeployed(input);
      case SAGEMAKER_TRAINING_JOB_STATE_CHANGE:
        return onTrainingJobStateChange(input);
      default:
        throw new InvalidEventError(
          `detail-type: the fine-tuning gate takes ${EVALUATION_COMPLETED}, ${SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE}, ${SAGEMAKER_TRAINING_JOB_STATE_CHANGE} or ${MODEL_DEPLOYED}, got ${JSON.stringify(detailType ?? null)}`,
        );
    }
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  FINETUNE_TABLE: envVar.string(),
  CATALOG_TABLE: envVar.string(),
  STACK_NAME: envVar.string(),
  MODEL_PACKAGE_GROUP: envVar.string(),
  FINETUNE_SETTINGS: envVar.string(),
};

const config = readConfig(environment);
const documents = createDocumentClient();

export const handler = withObservability(
  makeHandler({
    ...finetuneDeps(config, documents),
    modelPackageGroup: config.MODEL_PACKAGE_GROUP,
  }),
);
