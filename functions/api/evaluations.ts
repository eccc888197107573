import { randomUUID } from 'node:crypto';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { createDocumentClient, createEventBridgeClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import { requestEvaluation } from '#aws/eval/evaluation-requests.ts';
import type { EvaluationStore } from '#aws/eval/evaluation-store.ts';
import { type ApiRequest, apiHandler, json, parseAppKeys, parseWith } from '#aws/http.ts';
import { logger, metrics } from '#aws/logging.ts';
import type { S3Presigner } from '#aws/s3-presign.ts';
import { envVar } from '#contracts/env.ts';
import type { ReviewLabel } from '#contracts/evaluation/review.ts';
import {
  type EvaluationRun,
  type EvaluationRunRequest,
  evaluationRunRequest,
  type ReportLocation,
} from '#contracts/evaluation/run.ts';
import { parseAppAccess } from '#contracts/http/access.ts';
import {
  evaluationPathParams,
  labelReviewRequest,
  type ReportLinks,
  reviewerOf,
  reviewStatus,
} from '#contracts/http/evaluation-schemas.ts';
import { pageToken, pathParams } from '#contracts/http/schemas.ts';
import { EVALUATIONS_PREFIX } from '#contracts/storage-layout.ts';
import { dispatcher } from './dispatch.ts';
import { presignGet } from './report-signer.ts';

/**
 * The evaluation routes: start a run on a registered suite (admin, 202: the Evaluate state machine runs
 * it on `llmops.EvaluationRequested`), read a run with links to its report (admin), and the human review
 * queue (reviewers and admins): list tasks, grade one as the signing principal.
 */
export interface EvaluationsDeps {
  readonly store: Pick<
    EvaluationStore,
    'getSuite' | 'createRun' | 'getRun' | 'finishRun' | 'listReviewTasks' | 'labelReviewTask'
  >;
  readonly events: EventBridgeClient;
  readonly busName: string;
  /**
   * Links to a run's report files (presigned GET URLs valid `REPORT_LINK_TTL_SECONDS`, once the presigner is
   * a dependency), or undefined for a report this function may not link to.
   */
  readonly reportLinks: (report: ReportLocation) => Promise<ReportLinks | undefined>;
  /** Clock in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** New run ids. @default randomUUID */
  readonly newRunId?: () => string;
}

/** The query's `limit` (1-100) and `nextToken`, named as query parameters when they are wrong. */
function pageOptions(request: ApiRequest): { limit?: number; nextToken?: string } {
  const { limit } = request.query;
  const parsedLimit =
    limit === undefined ? undefined : Number(parseWith(pathParams.version, limit, 'query.limit'));
  if (parsedLimit !== undefined && parsedLimit > 100) {
    throw new ValidationError('query.limit', 'must be at most 100');
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

function describeSuite(request: EvaluationRunRequest): string {
  return request.suiteVersion === undefined
    ? `Suite ${request.suite} has no registered version`
    : `Suite ${request.suite} version ${request.suiteVersion} is not registered`;
}

export function makeHandler(deps: EvaluationsDeps) {
  const now = deps.now ?? Date.now;
  const newRunId = deps.newRunId ?? randomUUID;
  return dispatcher('evaluations', {
    createEvaluation: async (request) => {
      const body = parseWith(evaluationRunRequest, request.body, '');
      const suite = await deps.store.getSuite(body.suite, body.suiteVersion);
      if (suite === undefined) {
        throw new NotFoundError(`${describeSuite(body)}: register it (DataPrep curates golden datasets)`);
      }
      const at = new Date(now()).toISOString();
      const run: EvaluationRun = {
        runId: newRunId(),
        status: 'queued',
        trigger: 'api',
        request: body,
        requestedBy: request.caller.author,
        createdAt: at,
        updatedAt: at,
      };
      await deps.store.createRun(run);
      await requestEvaluation(deps, run);
      metrics.addMetric('EvaluationsRequested', 'Count', 1);
      return json(202, run, { location: `/v1/evaluations/${run.runId}` });
    },
    getEvaluation: async (request) => {
      const runId = parseWith(evaluationPathParams.runId, request.path.id, 'path.id');
      const run = await deps.store.getRun(runId);
      if (run === undefined) throw new NotFoundError(`No evaluation run ${runId}`);
      const links = run.report === undefined ? undefined : await deps.reportLinks(run.report);
      return json(200, links === undefined ? run : { ...run, links });
    },
    listReviewTasks: async (request) => {
      const status = parseWith(reviewStatus, request.query.status ?? 'open', 'query.status');
      const options = pageOptions(request);
      try {
        const page = await deps.store.listReviewTasks({ status, ...options });
        return json(200, {
          tasks: page.items,
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
    labelReviewTask: async (request) => {
      const taskId = parseWith(evaluationPathParams.taskId, request.path.id, 'path.id');
      const body = parseWith(labelReviewRequest, request.body, '');
      // The dispatcher has checked that a principal signed the call.
      const principal = request.caller.principal ?? '';
      const reviewer = reviewerOf(principal);
      if (reviewer === undefined) {
        throw new ForbiddenError(
          `The signing principal ${principal} has no reviewer id: the last segment of its ARN (the session name of an assumed role) must be 1-128 letters, digits, ".", "_", "@", "+" or "-"`,
        );
      }
      const label: ReviewLabel = {
        taskId,
        reviewer,
        label: body.label,
        ...(body.comment !== undefined ? { comment: body.comment } : {}),
        at: new Date(now()).toISOString(),
      };
      const task = await deps.store.labelReviewTask(label);
      metrics.addMetric('ReviewLabels', 'Count', 1);
      return json(200, task);
    },
  });
}

/** How long a report link works. */
export const REPORT_LINK_TTL_SECONDS = 900;

/**
 * Report links: presigned GET URLs valid {@link REPORT_LINK_TTL_SECONDS}, signed with this function's own
 * read access, for reports under `evaluations/` of the artifacts bucket only (a run record naming any
 * other location gets no links).
 */
export function reportLinker(artifactsBucket: string, presigner?: S3Presigner) {
  return async (report: ReportLocation): Promise<ReportLinks | undefined> => {
    const keys = [report.html, report.markdown, report.summary, report.items];
    if (report.bucket !== artifactsBucket || keys.some((key) => !key.startsWith(EVALUATIONS_PREFIX))) {
      logger.warn('Report outside the artifacts bucket reports prefix: no links', { report });
      return undefined;
    }
    const link = (key: string) => presignGet(presigner, report.bucket, key, REPORT_LINK_TTL_SECONDS);
    const [html, markdown, summary, items] = await Promise.all(keys.map(link));
    return { html, markdown, summary, items } as ReportLinks;
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  EVALUATIONS_TABLE: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  /** Where run reports are written (`evaluations/<runId>/`), read for the report links. */
  ARTIFACTS_BUCKET: envVar.string(),
  APP_KEYS: envVar.optionalString(),
  APP_ACCESS: envVar.optionalString(),
  MAX_REQUEST_BYTES: envVar.int(1),
};

const config = readConfig(environment);

export const handler = apiHandler(
  makeHandler({
    store: new DynamoEvaluationStore(createDocumentClient(), config.EVALUATIONS_TABLE),
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
    reportLinks: reportLinker(config.ARTIFACTS_BUCKET),
  }),
  {
    appKeys: parseAppKeys(config.APP_KEYS),
    appAccess: parseAppAccess(config.APP_ACCESS),
    maxRequestBytes: config.MAX_REQUEST_BYTES,
  },
);
