import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { createDocumentClient, createEventBridgeClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { DatasetRegistry } from '#aws/dataset-registry.ts';
import { ConflictError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { type CandidateCatalog, retireCandidate } from '#aws/finetune/candidates.ts';
import { findTrainingDataset } from '#aws/finetune/datasets.ts';
import { finetuneDeps } from '#aws/finetune/deps.ts';
import { FinetuneJobStatusError, type FinetuneJobStore, MAX_JOB_PAGE } from '#aws/finetune/job-store.ts';
import type { ModelRegistry } from '#aws/finetune/model-registry.ts';
import type { FinetuneSettings } from '#aws/finetune/settings.ts';
import { type ApiRequest, apiHandler, json, parseAppKeys, parseWith } from '#aws/http.ts';
import { logger, metrics } from '#aws/logging.ts';
import { envVar } from '#contracts/env.ts';
import { approvalRequest, type FinetuneJob, finetuneJobRequest } from '#contracts/finetune/job.ts';
import { parseAppAccess } from '#contracts/http/access.ts';
import {
  type FinetuneJobAccepted,
  finetuneJobIdParam,
  finetuneJobPath,
} from '#contracts/http/finetune-schemas.ts';
import { pageToken, pathParams } from '#contracts/http/schemas.ts';
import {
  baseModelFor,
  channelsOf,
  inferenceComponentNameOf,
  jobIdOf,
  mergeHyperparameters,
  recipeFor,
} from '#core/finetune/plan.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { FINETUNE_REQUESTED, fineTuneRequestedDetail } from '#events/finetune-requested.ts';
import { dispatcher } from './dispatch.ts';

/**
 * The fine-tuning routes (admin): start a job on a registered dataset version (202: the FineTune state
 * machine plans, trains, registers and evaluates it on `llmops.FineTuneRequested`), list and read jobs,
 * and decide on a candidate awaiting approval, as the signing principal (the decision is recorded on the
 * job and on the model package).
 *
 * A request is checked here as the pipeline would check it (the dataset version is registered for
 * finetune or preference, the recipe fits its purpose, the base model is the served one, every
 * hyperparameter is in range), so that a mistake is a 4xx now rather than a failed execution later.
 */
export interface FinetuneDeps {
  readonly store: Pick<FinetuneJobStore, 'get' | 'update' | 'list'>;
  readonly datasets: Pick<DatasetRegistry, 'getVersion' | 'listVersions'>;
  readonly registry: Pick<ModelRegistry, 'setApproval' | 'deleteComponent'>;
  readonly catalog: Pick<CandidateCatalog, 'deleteCandidate'>;
  readonly events: EventBridgeClient;
  readonly busName: string;
  readonly settings: FinetuneSettings;
  readonly stackName: string;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

/** The query's `limit` (1-100) and `nextToken`, named as query parameters when they are wrong. */
function pageOptions(request: ApiRequest): { limit?: number; nextToken?: string } {
  const { limit } = request.query;
  const parsedLimit =
    limit === undefined ? undefined : Number(parseWith(pathParams.version, limit, 'query.limit'));
  if (parsedLimit !== undefined && parsedLimit > MAX_JOB_PAGE) {
    throw new ValidationError('query.limit', `must be at most ${MAX_JOB_PAGE}`);
  }
  const nextToken =
    request.query.nextToken === undefined
      ? undefined
      : parseWith(pageToken, request.query.nextToken, 'query.nextToken');
  return {
    ...(parsedLimit !== undefined ? { limit: parsedLimit } : {}),
    ...(nextToken !== undefined ? { nextToken } : {}),
  };
}

export function makeHandler(deps: FinetuneDeps) {
  const now = deps.now ?? Date.now;

  async function jobOf(request: ApiRequest): Promise<FinetuneJob> {
    const jobId = parseWith(finetuneJobIdParam, request.path.id, 'path.id');
    const job = await deps.store.get(jobId);
    if (job === undefined) {
      throw new NotFoundError(`No fine-tuning job ${jobId}; GET /v1/finetune-jobs lists them`);
    }
    return job;
  }

  return dispatcher('finetune', {
    createFinetuneJob: async (request) => {
      const body = parseWith(finetuneJobRequest, request.body, '');
      const dataset = await findTrainingDataset(deps.datasets, body.dataset);
      const recipe = recipeFor(dataset.purpose, body.recipe, deps.settings.recipes);
      const baseModel = baseModelFor(body.baseModel, deps.settings.baseModel);
      const hyperparameters = mergeHyperparameters(
        deps.settings.hyperparameters,
        body.hyperparameters,
        recipe,
      );
      channelsOf(
        dataset,
        dataset.files,
        (dataset.counts as { splits?: Record<string, number> }).splits ?? {},
      );
      const jobId = jobIdOf({ dataset, recipe, baseModel, hyperparameters, requestId: request.requestId });
      await publishEvent(deps.events, {
        busName: deps.busName,
        source: LLMOPS_SOURCE,
        detailType: FINETUNE_REQUESTED,
        schema: fineTuneRequestedDetail,
        detail: {
          schemaVersion: SCHEMA_VERSION,
          jobId,
          requestedBy: request.caller.author,
          dataset: { name: dataset.name, version: dataset.version },
          purpose: dataset.purpose,
          baseModel,
          recipe,
          ...(body.hyperparameters !== undefined ? { hyperparameters: body.hyperparameters } : {}),
        },
      });
      metrics.addMetric('FinetuneJobsRequested', 'Count', 1);
      logger.info('Fine-tuning requested', {
        jobId,
        dataset: dataset.name,
        version: dataset.version,
        recipe,
      });
      const location = finetuneJobPath(jobId);
      const accepted: FinetuneJobAccepted = { jobId, status: 'queued', location };
      return json(202, accepted, { location });
    },
    listFinetuneJobs: async (request) => {
      const options = pageOptions(request);
      try {
        const page = await deps.store.list(options);
        return json(200, {
          jobs: page.items,
          ...(page.nextToken !== undefined ? { nextToken: page.nextToken } : {}),
        });
      } catch (error) {
        // The store names its own parameters; the caller sent them as query parameters.
        if (error instanceof ValidationError && (error.field === 'nextToken' || error.field === 'limit')) {
          throw new ValidationError(`query.${error.field}`, error.rule, { cause: error });
        }
        throw error;
      }
    },
    getFinetuneJob: async (request) => json(200, await jobOf(request)),
    approveFinetuneJob: async (request) => {
      parseWith(finetuneJobIdParam, request.path.id, 'path.id');
      const body = parseWith(approvalRequest, request.body, '');
      const job = await jobOf(request);
      if (job.status !== 'awaiting_approval') {
        throw new FinetuneJobStatusError(job.jobId, job.status, ['awaiting_approval']);
      }
      if (job.modelPackageArn === undefined) {
        throw new ConflictError(`Fine-tuning job ${job.jobId} has no model package to decide on`);
      }
      // The dispatcher has checked that a principal signed the call.
      const by = request.caller.principal ?? request.caller.author;
      const approval = {
        decision: body.decision,
        by,
        reason: body.reason,
        at: new Date(now()).toISOString(),
      };
      const description = `${body.decision} by ${by}: ${body.reason}`;
      let updated: FinetuneJob;
      if (body.decision === 'approve') {
        await deps.registry.setApproval(job.modelPackageArn, 'Approved', description);
        updated = await deps.store.update(
          job.jobId,
          { status: 'approved', approval },
          { expectStatus: 'awaiting_approval' },
        );
      } else {
        await deps.registry.setApproval(job.modelPackageArn, 'Rejected', description);
        await retireCandidate(deps, {
          jobId: job.jobId,
          inferenceComponent: inferenceComponentNameOf(deps.stackName, job.jobId),
          candidateModel: job.candidateModel,
        });
        updated = await deps.store.update(
          job.jobId,
          { status: 'rejected', approval },
          { expectStatus: 'awaiting_approval' },
        );
      }
      metrics.addMetric(body.decision === 'approve' ? 'FinetuneApprovals' : 'FinetuneRejections', 'Count', 1);
      logger.info('Fine-tuning candidate decided', { jobId: job.jobId, decision: body.decision, by });
      return json(200, updated);
    },
  });
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  FINETUNE_TABLE: envVar.string(),
  DATASETS_TABLE: envVar.string(),
  CATALOG_TABLE: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  STACK_NAME: envVar.string(),
  FINETUNE_SETTINGS: envVar.string(),
  APP_KEYS: envVar.optionalString(),
  APP_ACCESS: envVar.optionalString(),
  MAX_REQUEST_BYTES: envVar.int(1),
};

const config = readConfig(environment);
const documents = createDocumentClient();

export const handler = apiHandler(
  makeHandler({
    ...finetuneDeps(config, documents),
    datasets: new DatasetRegistry(documents, config.DATASETS_TABLE),
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
  }),
  {
    appKeys: parseAppKeys(config.APP_KEYS),
    appAccess: parseAppAccess(config.APP_ACCESS),
    maxRequestBytes: config.MAX_REQUEST_BYTES,
  },
);
