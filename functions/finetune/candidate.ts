import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import * as zm from 'zod/mini';
import { createDocumentClient, createEventBridgeClient } from '#aws/clients.ts';
import { describeIssues, readConfig } from '#aws/config.ts';
import { ConfigError, InvalidEventError, NotFoundError } from '#aws/errors.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import type { EvaluationStore } from '#aws/eval/evaluation-store.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { type CandidateCatalog, retireCandidate } from '#aws/finetune/candidates.ts';
import { finetuneDeps } from '#aws/finetune/deps.ts';
import { FinetuneJobStatusError, type FinetuneJobStore } from '#aws/finetune/job-store.ts';
import type { ModelRegistry } from '#aws/finetune/model-registry.ts';
import type { FinetuneSettings } from '#aws/finetune/settings.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import { type EvaluationRunRequest, evaluationRunRequest } from '#contracts/evaluation/run.ts';
import { heldOutSuiteOf } from '#contracts/feedback/feedback.ts';
import {
  FINETUNE_JOB_ID,
  type FinetuneJob,
  type FinetuneRecipe,
  RECIPES_BY_PURPOSE,
} from '#contracts/finetune/job.ts';
import {
  type CandidateReady,
  candidateReady,
  candidateRunId,
  holdoutRunId,
  type Registered,
  registered,
} from '#contracts/pipelines/finetune.ts';
import { inferenceComponentNameOf } from '#core/finetune/plan.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import {
  EVALUATION_REQUESTED,
  type EvaluationRequestedDetail,
  evaluationRequestedDetail,
} from '#events/evaluation-requested.ts';

/**
 * The FineTune state machine's steps around the candidate, one function chosen by `step`:
 *
 * - `ready` (CandidateReady, `{step, registered, ready?}` → `$.ready`): the candidate's adapter component
 *   status: `InService` is `ready`, `Failed` is `failed` (with SageMaker's reason), anything else
 *   `pending`; `attempts` counts the checks (the previous `$.ready`'s plus one), for the state machine's
 *   bound on the wait.
 * - `evaluate` (RequestEvaluation, `{step, registered}` → `$.evaluation`): puts `llmops.EvaluationRequested`
 *   for run `candidate-<jobId>` (the profile's gate suite, the candidate against the baseline) and moves
 *   the job to `evaluating`. A candidate trained with a preference recipe (DPO on preference pairs, from
 *   human feedback) is also compared with the baseline pairwise (`pairwise: true`): what it was trained
 *   to win is whether its answers are preferred, so the run reports its win rate against the served
 *   model, raw and length-controlled (DPO is known to lengthen answers). The win rate informs the
 *   approval; the gate still decides on the suite's metrics. The verdict comes back as
 *   `llmops.EvaluationCompleted`, to the Gate.
 *   A candidate trained on human feedback (its dataset is the feedback export's, whose held-out suite
 *   `FEEDBACK_HOLDOUT_SUITE` names) is also judged where its training data came from: when a version of
 *   that suite is registered, a second run `candidate-<jobId>-holdout` compares it pairwise with the same
 *   baseline on the latest version (prompts users rated that no export ever trained on), recorded on the
 *   job as `evaluation.winRateRunId`. It informs and never gates: the Gate reads `candidate-<jobId>` only.
 * - `fail` (RecordFailure, the state with the caught `error`): the job is recorded `failed` with the
 *   error and its cause; a candidate component and catalog entry it left are deleted, so that a failed job
 *   leaves nothing served. A state without a job id (Plan failed before it named one) is only logged.
 */
export interface CandidateDeps {
  readonly events: EventBridgeClient;
  readonly busName: string;
  readonly store: Pick<FinetuneJobStore, 'get' | 'update'>;
  readonly registry: Pick<ModelRegistry, 'describeComponent' | 'deleteComponent' | 'warmComponent'>;
  readonly catalog: Pick<CandidateCatalog, 'deleteCandidate'>;
  readonly settings: FinetuneSettings;
  readonly stackName: string;
  /** The base model's component, whose copies the candidate's adapter runs on. */
  readonly baseComponent: string;
  /**
   * The feedback export's held-out suite (`<feedback dataset>-holdout`) and the registry of suites: a
   * candidate trained on that dataset is also judged on the suite's latest version. Absent: never.
   */
  readonly feedbackHoldout?: {
    readonly suite: string;
    readonly suites: Pick<EvaluationStore, 'getSuite'>;
  };
}

/** The longest error and cause recorded on a job. */
export const MAX_FAILURE_CHARS = 2000;

const readyInput = z.object({ step: z.literal('ready'), registered, ready: candidateReady.optional() });
const evaluateInput = z.object({ step: z.literal('evaluate'), registered });
const caughtError = z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() });
const failInput = z.looseObject({
  step: z.literal('fail'),
  plan: z.looseObject({ jobId: z.string().optional() }).optional(),
  registered: z
    .looseObject({ jobId: z.string().optional(), candidateModel: z.string().optional() })
    .optional(),
  jobId: z.string().optional(),
  error: caughtError.optional(),
});
const stepOf = z.looseObject({ step: z.enum(['ready', 'evaluate', 'fail']) });

export interface EvaluationRequestOutput {
  readonly runId: string;
  readonly jobId: string;
  readonly status: 'requested';
  /** The run on the held-out feedback prompts, when there is one. */
  readonly winRateRunId?: string;
}

export interface FailOutput {
  readonly jobId: string | null;
  readonly status: 'failed';
  readonly error: string;
}

/** Whether a recipe trains on preferences (DPO): its candidate's evaluation includes a win rate. */
export function trainsOnPreferences(recipe: FinetuneRecipe): boolean {
  return RECIPES_BY_PURPOSE.preference.includes(recipe);
}

function clip(text: string): string {
  return text.length <= MAX_FAILURE_CHARS ? text : `${text.slice(0, MAX_FAILURE_CHARS - 1)}…`;
}

/** The reason of a caught error: a Lambda error's `errorMessage` (its Cause is the error as JSON), else the Cause. */
export function causeOf(cause: string | undefined): string {
  const text = cause?.trim() ?? '';
  if (text === '') return '';
  try {
    const parsed = JSON.parse(text) as { errorMessage?: unknown };
    if (typeof parsed?.errorMessage === 'string' && parsed.errorMessage !== '')
      return clip(parsed.errorMessage);
  } catch {
    // Not JSON: a Step Functions error explains itself in plain text.
  }
  return clip(text);
}

export function makeHandler(deps: CandidateDeps) {
  async function ready(input: unknown): Promise<CandidateReady> {
    const { registered: reg, ready: previous } = parseInput(readyInput, input, 'CandidateReady input');
    logger.appendKeys({ jobId: reg.jobId, inferenceComponent: reg.inferenceComponent });
    const attempts = (previous?.attempts ?? 0) + 1;
    const state = await deps.registry.describeComponent(reg.inferenceComponent);
    if (state === undefined) {
      return {
        status: 'failed',
        inferenceComponentStatus: 'NotFound',
        attempts,
        reason: `inference component ${reg.inferenceComponent} does not exist (deleted since Register created it?)`,
      };
    }
    if (state.status === 'InService') {
      // The adapter runs on the base model's copies: with none (scaled to zero), the evaluation's calls
      // would find no capacity. Ask for one copy, and wait for it.
      const base = await deps.registry.describeComponent(deps.baseComponent);
      if (base !== undefined && base.currentCopies === 0) {
        if ((base.desiredCopies ?? 0) === 0) await deps.registry.warmComponent(deps.baseComponent);
        logger.info('Warming up the base model for the candidate', { baseComponent: deps.baseComponent });
        return {
          status: 'pending',
          inferenceComponentStatus: state.status,
          attempts,
          reason: `${deps.baseComponent} has no copy (scaled to zero): one was asked for, the evaluation waits for it`,
        };
      }
      return { status: 'ready', inferenceComponentStatus: state.status, attempts };
    }
    if (state.status === 'Failed') {
      metrics.addMetric('FinetuneCandidatesFailed', 'Count', 1);
      return {
        status: 'failed',
        inferenceComponentStatus: state.status,
        attempts,
        reason: state.failureReason ?? 'SageMaker gave no reason',
      };
    }
    return { status: 'pending', inferenceComponentStatus: state.status, attempts };
  }

  /** A run request checked against the Evaluate state machine's own schema. */
  function checkedRequest(request: EvaluationRunRequest, what: string): EvaluationRunRequest {
    const checked = zm.safeParse(evaluationRunRequest, request);
    if (!checked.success) {
      throw new InvalidEventError(`Invalid ${what} request: ${describeIssues(checked.error, 'request')}`);
    }
    return checked.data;
  }

  async function requestRun(runId: string, request: EvaluationRunRequest): Promise<void> {
    const detail: EvaluationRequestedDetail = {
      schemaVersion: SCHEMA_VERSION,
      runId,
      trigger: 'model',
      requestedBy: 'finetune',
      request,
    };
    await publishEvent(deps.events, {
      busName: deps.busName,
      source: LLMOPS_SOURCE,
      detailType: EVALUATION_REQUESTED,
      schema: evaluationRequestedDetail,
      detail,
    });
  }

  /**
   * The run on the held-out feedback prompts of a candidate trained on feedback: the suite's latest
   * version, pairwise against the gate run's baseline. Undefined for any other dataset, and while no
   * version of the suite is registered (an export with no held-out prompt yet).
   */
  async function holdoutRun(
    job: FinetuneJob | undefined,
    reg: Registered,
  ): Promise<{ runId: string; request: EvaluationRunRequest } | undefined> {
    const holdout = deps.feedbackHoldout;
    if (job === undefined || holdout === undefined) return undefined;
    if (heldOutSuiteOf(job.dataset.name) !== holdout.suite) return undefined;
    const suite = await holdout.suites.getSuite(holdout.suite);
    if (suite === undefined) {
      logger.info('No held-out feedback suite registered yet: no win-rate run on it', {
        suite: holdout.suite,
      });
      return undefined;
    }
    return {
      runId: holdoutRunId(reg.jobId),
      request: checkedRequest(
        {
          suite: suite.name,
          suiteVersion: suite.version,
          maxItems: deps.settings.gate.maxItems,
          k: 1,
          target: { model: reg.candidateModel },
          baseline: { model: reg.baselineModel },
          pairwise: true,
        },
        'held-out feedback evaluation',
      ),
    };
  }

  async function evaluate(input: unknown): Promise<EvaluationRequestOutput> {
    const { registered: reg } = parseInput(evaluateInput, input, 'RequestEvaluation input');
    const { jobId } = reg;
    const runId = candidateRunId(jobId);
    logger.appendKeys({ jobId, runId });
    const { gate } = deps.settings;
    // The job records its recipe; a job that is gone fails the move to `evaluating` below, as before.
    const job = await deps.store.get(jobId);
    const pairwise = job !== undefined && trainsOnPreferences(job.recipe);
    const request = checkedRequest(
      {
        suite: gate.suite,
        maxItems: gate.maxItems,
        k: gate.k,
        target: { model: reg.candidateModel },
        baseline: { model: reg.baselineModel },
        ...(pairwise ? { pairwise: true } : {}),
      },
      'candidate evaluation',
    );
    // Read before anything is put, so that a failed read (retried by the state machine) puts nothing.
    const holdout = await holdoutRun(job, reg);
    await requestRun(runId, request);
    if (holdout !== undefined) await requestRun(holdout.runId, holdout.request);
    await deps.store.update(
      jobId,
      {
        status: 'evaluating',
        evaluation: { runId, ...(holdout !== undefined ? { winRateRunId: holdout.runId } : {}) },
      },
      { expectStatus: ['registered', 'evaluating'] },
    );
    metrics.addMetric('FinetuneEvaluationsRequested', 'Count', 1);
    logger.info('Candidate evaluation requested', {
      suite: gate.suite,
      baseline: reg.baselineModel,
      pairwise,
      ...(holdout !== undefined
        ? {
            winRateRunId: holdout.runId,
            holdoutSuite: `${holdout.request.suite} v${holdout.request.suiteVersion}`,
          }
        : {}),
    });
    return {
      runId,
      jobId,
      status: 'requested',
      ...(holdout !== undefined ? { winRateRunId: holdout.runId } : {}),
    };
  }

  async function fail(input: unknown): Promise<FailOutput> {
    // The state machine passes its whole state (`{step, state: $}`): what it holds depends on where it failed.
    const whole = z.looseObject({ step: z.literal('fail'), state: z.looseObject({}) }).safeParse(input);
    const state = parseInput(
      failInput,
      whole.success ? { ...whole.data.state, step: 'fail' } : input,
      'RecordFailure input',
    );
    const errorName = state.error?.Error ?? 'Error';
    const cause = causeOf(state.error?.Cause);
    const summary = cause === '' ? errorName : `${errorName}: ${cause}`;
    metrics.addMetric('FinetuneJobsFailed', 'Count', 1);
    const jobId = state.registered?.jobId ?? state.plan?.jobId ?? state.jobId;
    if (jobId === undefined || !FINETUNE_JOB_ID.test(jobId)) {
      logger.error('Fine-tuning failed before it had a job to record it on', { error: errorName, cause });
      return { jobId: null, status: 'failed', error: summary };
    }
    logger.appendKeys({ jobId });
    try {
      await deps.store.update(
        jobId,
        { status: 'failed', failure: { error: clip(errorName), cause: cause === '' ? errorName : cause } },
        { expectStatus: ['training', 'registered', 'evaluating'] },
      );
    } catch (error) {
      if (!(error instanceof NotFoundError || error instanceof FinetuneJobStatusError)) throw error;
      // A duplicate's failure (another execution owns the job), or a job already ended: left as it is.
      logger.warn('The failed job was not recorded failed', { reason: error.message });
    }
    const job = await deps.store.get(jobId);
    const candidateModel = state.registered?.candidateModel ?? job?.candidateModel;
    await retireCandidate(deps, {
      jobId,
      inferenceComponent: inferenceComponentNameOf(deps.stackName, jobId),
      candidateModel,
    });
    logger.error('Fine-tuning job failed', { error: errorName, cause });
    return { jobId, status: 'failed', error: summary };
  }

  return async (
    input: unknown,
    _context?: Context,
  ): Promise<CandidateReady | EvaluationRequestOutput | FailOutput> => {
    const step = stepOf.safeParse(input);
    if (!step.success) {
      throw new InvalidEventError(`Invalid candidate step input: ${describeIssues(step.error, 'step')}`);
    }
    switch (step.data.step) {
      case 'ready':
        return ready(input);
      case 'evaluate':
        return evaluate(input);
      case 'fail':
        return fail(input);
    }
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  FINETUNE_TABLE: envVar.string(),
  CATALOG_TABLE: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  STACK_NAME: envVar.string(),
  /** The base model's inference component (warmed up when scaled to zero before an evaluation). */
  BASE_INFERENCE_COMPONENT: envVar.string(),
  FINETUNE_SETTINGS: envVar.string(),
  /**
   * The feedback export's held-out suite (`<feedback dataset>-holdout`): a candidate trained on the
   * feedback dataset is also judged on it. Absent: no such run.
   */
  FEEDBACK_HOLDOUT_SUITE: envVar.optionalString(),
  /** The evaluation suites' registry (read): is a version of FEEDBACK_HOLDOUT_SUITE registered. */
  EVALUATIONS_TABLE: envVar.optionalString(),
};

const config = readConfig(environment);
const documents = createDocumentClient();

/** The held-out suite and its registry; a suite without the table would go unjudged in silence. */
export function feedbackHoldoutOf(
  env: {
    readonly FEEDBACK_HOLDOUT_SUITE?: string | undefined;
    readonly EVALUATIONS_TABLE?: string | undefined;
  },
  suites: (table: string) => Pick<EvaluationStore, 'getSuite'>,
): CandidateDeps['feedbackHoldout'] {
  if (env.FEEDBACK_HOLDOUT_SUITE === undefined) return undefined;
  if (env.EVALUATIONS_TABLE === undefined) {
    throw new ConfigError('FEEDBACK_HOLDOUT_SUITE is set but EVALUATIONS_TABLE is not');
  }
  return { suite: env.FEEDBACK_HOLDOUT_SUITE, suites: suites(env.EVALUATIONS_TABLE) };
}

const feedbackHoldout = feedbackHoldoutOf(config, (table) => new DynamoEvaluationStore(documents, table));

export const handler = withObservability(
  makeHandler({
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
    ...finetuneDeps(config, documents),
    baseComponent: config.BASE_INFERENCE_COMPONENT,
    ...(feedbackHoldout !== undefined ? { feedbackHoldout } : {}),
  }),
);
