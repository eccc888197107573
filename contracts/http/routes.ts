import type * as z from 'zod/mini';
import { createBaselineRequest } from '../drift/baseline.ts';
import { evaluationRunRequest } from '../evaluation/run.ts';
import { feedbackRequest, feedbackResponse } from '../feedback/feedback.ts';
import { approvalRequest, finetuneJob, finetuneJobRequest } from '../finetune/job.ts';
import { driftBaselineAccepted, driftStatusResponse } from './drift-schemas.ts';
import {
  evaluationRunResponse,
  labelReviewRequest,
  reviewTaskList,
  storedReviewTask,
} from './evaluation-schemas.ts';
import { finetuneJobAccepted, finetuneJobList } from './finetune-schemas.ts';
import { chatCompletion, chatCompletionRequest, embeddingsRequest, embeddingsResponse } from './openai.ts';
import {
  API_ROUTE_SPECS,
  type ApiAuth,
  type ApiFunctionName,
  type ApiOperationId,
  type ApiRouteSpec,
  pathParameters,
} from './route-table.ts';
import {
  chatRequest,
  chatResponse,
  createPromptVersionRequest,
  documentList,
  documentStatus,
  labelResponse,
  modelList,
  moveLabelRequest,
  promptVersionList,
  promptVersionResponse,
  putModelRequest,
  ragSearchRequest,
  ragSearchResponse,
  selectModelRequest,
  selectModelResponse,
} from './schemas.ts';

export { type ApiAuth, type ApiFunctionName, type ApiRouteSpec, pathParameters };

/**
 * Every route of the HTTPS API, in one table. The CDK construct builds the REST API from it (methods,
 * auth, request models, validators), the local server serves what the synthesized template says, and
 * the OpenAPI document is generated from it. The routes themselves are in `route-table.ts` (which the API
 * functions route with); this module adds each route's schemas.
 */

export interface ApiRoute extends ApiRouteSpec {
  readonly requestBody?: z.ZodMiniType;
  /** The success body's schema (absent: the OpenAPI document itself). */
  readonly response?: z.ZodMiniType;
}

interface RouteSchemas {
  readonly requestBody?: z.ZodMiniType;
  readonly response?: z.ZodMiniType;
}

/** The request and response schemas of each operation (every operation of the table, by its id). */
const ROUTE_SCHEMAS: { readonly [K in ApiOperationId]: RouteSchemas } = {
  chat: { requestBody: chatRequest, response: chatResponse },
  createChatCompletion: { requestBody: chatCompletionRequest, response: chatCompletion },
  createEmbeddings: { requestBody: embeddingsRequest, response: embeddingsResponse },
  listModels: { response: modelList },
  selectModel: { requestBody: selectModelRequest, response: selectModelResponse },
  putModel: { requestBody: putModelRequest, response: selectModelResponse.shape.model },
  createPromptVersion: { requestBody: createPromptVersionRequest, response: promptVersionResponse },
  getPrompt: { response: promptVersionResponse },
  listPromptVersions: { response: promptVersionList },
  movePromptLabel: { requestBody: moveLabelRequest, response: labelResponse },
  searchRag: { requestBody: ragSearchRequest, response: ragSearchResponse },
  listRagDocuments: { response: documentList },
  getRagDocument: { response: documentStatus },
  createEvaluation: { requestBody: evaluationRunRequest, response: evaluationRunResponse },
  getEvaluation: { response: evaluationRunResponse },
  listReviewTasks: { response: reviewTaskList },
  labelReviewTask: { requestBody: labelReviewRequest, response: storedReviewTask },
  sendFeedback: { requestBody: feedbackRequest, response: feedbackResponse },
  createDriftBaseline: { requestBody: createBaselineRequest, response: driftBaselineAccepted },
  getDriftStatus: { response: driftStatusResponse },
  createFinetuneJob: { requestBody: finetuneJobRequest, response: finetuneJobAccepted },
  listFinetuneJobs: { response: finetuneJobList },
  getFinetuneJob: { response: finetuneJob },
  approveFinetuneJob: { requestBody: approvalRequest, response: finetuneJob },
  getOpenApi: {},
};

export const API_ROUTES: readonly ApiRoute[] = API_ROUTE_SPECS.map((spec) => ({
  ...spec,
  ...ROUTE_SCHEMAS[spec.operationId],
}));
