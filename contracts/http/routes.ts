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

/**
 * Every route of the HTTPS API, in one table. The CDK construct builds the REST API from it (methods,
 * auth, request models, validators), the local server serves what the synthesized template says, and
 * the OpenAPI document is generated from it.
 */

/** The Lambda function that serves a route: one module per group, `functions/api/<fn>.ts`. */
export type ApiFunctionName =
  | 'chat'
  | 'prompts'
  | 'models'
  | 'rag'
  | 'openapi'
  | 'evaluations'
  | 'drift'
  | 'finetune'
  | 'feedback';

/**
 * `apiKey`: app routes, called with an API key (`x-api-key`) under a usage plan.
 * `iam`: admin routes (prompt writes, label moves, catalog edits, evaluations, drift, fine-tuning), SigV4-signed by an IAM
 * principal that the API's resource policy lets in (`api.adminPrincipals`).
 * `reviewer`: the human review queue, SigV4-signed by an admin principal or a reviewer principal
 * (`api.reviewerPrincipals`).
 */
export type ApiAuth = 'apiKey' | 'iam' | 'reviewer';

export interface ApiRoute {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** API Gateway path with `{param}` placeholders. */
  readonly path: string;
  readonly fn: ApiFunctionName;
  readonly auth: ApiAuth;
  readonly operationId: string;
  readonly summary: string;
  readonly requestBody?: z.ZodMiniType;
  /** Query-string parameters the route accepts (all optional). */
  readonly query?: readonly string[];
  /** 202: accepted, to be done asynchronously (the body says where to follow it). */
  readonly successStatus: 200 | 201 | 202;
  /** The success body's schema (absent: the OpenAPI document itself). */
  readonly response?: z.ZodMiniType;
  /**
   * Served through Lambda response streaming: every route of a response-streaming function (`chat`),
   * whether or not it answers with events.
   */
  readonly streaming?: boolean;
  /** The server-sent events the route answers with when the body asks for `stream: true`. */
  readonly events?: string;
}

export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'POST',
    path: '/v1/chat',
    fn: 'chat',
    auth: 'apiKey',
    operationId: 'chat',
    summary: 'Render a prompt, call its model and answer (JSON, or server-sent events with stream: true)',
    requestBody: chatRequest,
    successStatus: 200,
    response: chatResponse,
    streaming: true,
    events: 'Events `delta` {text}, then `done` (the JSON body) or `error`',
  },
  {
    method: 'POST',
    path: '/v1/chat/completions',
    fn: 'chat',
    auth: 'apiKey',
    operationId: 'createChatCompletion',
    summary:
      "OpenAI-compatible chat completion (JSON, or server-sent chunks with stream: true); the project's features in the llmops field",
    requestBody: chatCompletionRequest,
    successStatus: 200,
    response: chatCompletion,
    streaming: true,
    events:
      '`data: {chat.completion.chunk}` lines (the role, text deltas, then finish_reason; with stream_options.include_usage a last chunk with usage), then `data: [DONE]`; a failure ends it with a `data: {error}` line',
  },
  {
    method: 'POST',
    path: '/v1/embeddings',
    fn: 'chat',
    auth: 'apiKey',
    operationId: 'createEmbeddings',
    summary: 'OpenAI-compatible embeddings of one text or up to 256, with a catalog embedding model',
    requestBody: embeddingsRequest,
    successStatus: 200,
    response: embeddingsResponse,
    // The chat function is a response-streaming function: its routes are all served in STREAM mode.
    streaming: true,
  },
  {
    method: 'GET',
    path: '/v1/models',
    fn: 'models',
    auth: 'apiKey',
    operationId: 'listModels',
    summary: "List the model catalog (OpenAI's model list; each entry carries every catalog field)",
    query: ['kind', 'status'],
    successStatus: 200,
    response: modelList,
  },
  {
    method: 'POST',
    path: '/v1/models/select',
    fn: 'models',
    auth: 'apiKey',
    operationId: 'selectModel',
    summary: 'Pick the cheapest active model that meets the constraints',
    requestBody: selectModelRequest,
    successStatus: 200,
    response: selectModelResponse,
  },
  {
    method: 'PUT',
    path: '/v1/models/{id}',
    fn: 'models',
    auth: 'iam',
    operationId: 'putModel',
    summary: 'Create or replace a catalog entry (admin)',
    requestBody: putModelRequest,
    successStatus: 200,
    response: selectModelResponse.shape.model,
  },
  {
    method: 'POST',
    path: '/v1/prompts/{name}/versions',
    fn: 'prompts',
    auth: 'iam',
    operationId: 'createPromptVersion',
    summary: 'Create the next immutable version of a prompt (admin)',
    requestBody: createPromptVersionRequest,
    successStatus: 201,
    response: promptVersionResponse,
  },
  {
    method: 'GET',
    path: '/v1/prompts/{name}',
    fn: 'prompts',
    auth: 'apiKey',
    operationId: 'getPrompt',
    summary: 'Read a prompt version by label (default production) or number',
    query: ['label', 'version'],
    successStatus: 200,
    response: promptVersionResponse,
  },
  {
    method: 'GET',
    path: '/v1/prompts/{name}/versions',
    fn: 'prompts',
    auth: 'apiKey',
    operationId: 'listPromptVersions',
    summary: 'List the versions of a prompt and where its labels point',
    query: ['limit', 'nextToken'],
    successStatus: 200,
    response: promptVersionList,
  },
  {
    method: 'PUT',
    path: '/v1/prompts/{name}/labels/{label}',
    fn: 'prompts',
    auth: 'iam',
    operationId: 'movePromptLabel',
    summary:
      'Point a label at a version: promotion and rollback (admin). Production of a prompt with a promotion suite moves only past a passing evaluation against the current production version (409 evaluation_failed, evaluation_pending or evaluation_required otherwise), or with force and a reason',
    requestBody: moveLabelRequest,
    successStatus: 200,
    response: labelResponse,
  },
  {
    method: 'POST',
    path: '/v1/rag/search',
    fn: 'rag',
    auth: 'apiKey',
    operationId: 'searchRag',
    summary: 'Retrieve the chunks most relevant to a query (what /v1/chat with rag would use), with scores',
    requestBody: ragSearchRequest,
    successStatus: 200,
    response: ragSearchResponse,
  },
  {
    method: 'GET',
    path: '/v1/rag/documents',
    fn: 'rag',
    auth: 'apiKey',
    operationId: 'listRagDocuments',
    summary: 'List RAG documents and their ingestion status (filter by collection or status)',
    query: ['collection', 'status', 'limit', 'nextToken'],
    successStatus: 200,
    response: documentList,
  },
  {
    method: 'GET',
    path: '/v1/rag/documents/{id}',
    fn: 'rag',
    auth: 'apiKey',
    operationId: 'getRagDocument',
    summary:
      'Read the ingestion status of one RAG document (its id URL-encoded: queued, chunked, embedded, indexed, failed, deleted)',
    successStatus: 200,
    response: documentStatus,
  },
  {
    method: 'POST',
    path: '/v1/evaluations',
    fn: 'evaluations',
    auth: 'iam',
    operationId: 'createEvaluation',
    summary:
      'Start an evaluation run of a prompt version and/or a model on a registered suite (admin); follow it at the location answered',
    requestBody: evaluationRunRequest,
    successStatus: 202,
    response: evaluationRunResponse,
  },
  {
    method: 'GET',
    path: '/v1/evaluations/{id}',
    fn: 'evaluations',
    auth: 'iam',
    operationId: 'getEvaluation',
    summary:
      'Read an evaluation run: its status, metrics and gate verdict, and links to its report once written (admin)',
    successStatus: 200,
    response: evaluationRunResponse,
  },
  {
    method: 'GET',
    path: '/v1/reviews',
    fn: 'evaluations',
    auth: 'reviewer',
    operationId: 'listReviewTasks',
    summary: 'List the human review queue (status open, the default, or labelled), oldest first (reviewers)',
    query: ['status', 'limit', 'nextToken'],
    successStatus: 200,
    response: reviewTaskList,
  },
  {
    method: 'POST',
    path: '/v1/reviews/{id}',
    fn: 'evaluations',
    auth: 'reviewer',
    operationId: 'labelReviewTask',
    summary:
      'Grade one review task once: pass, fail or a score in [0, 1], as the signing reviewer (reviewers)',
    requestBody: labelReviewRequest,
    successStatus: 200,
    response: storedReviewTask,
  },
  {
    method: 'POST',
    path: '/v1/feedback',
    fn: 'feedback',
    auth: 'apiKey',
    operationId: 'sendFeedback',
    summary:
      'Rate an answer of this app (thumbs or 1-5, with an optional correction, preferred answer, categories and comment); one verdict per interaction and user, a repeat replaces it. Free text is PII-redacted; feedback becomes preference data for fine-tuning',
    requestBody: feedbackRequest,
    successStatus: 200,
    response: feedbackResponse,
  },
  {
    method: 'POST',
    path: '/v1/drift/baselines',
    fn: 'drift',
    auth: 'iam',
    operationId: 'createDriftBaseline',
    summary:
      'Build a new baseline version of a drift check from a pinned window of its traffic, a suite or an evaluation run (admin); the DriftCheck state machine builds it, follow it at the location answered',
    requestBody: createBaselineRequest,
    successStatus: 202,
    response: driftBaselineAccepted,
  },
  {
    method: 'GET',
    path: '/v1/drift/status',
    fn: 'drift',
    auth: 'iam',
    operationId: 'getDriftStatus',
    summary:
      'Read each drift check (or the one named by check): its active baseline, its paging policy, its latest windows newest first, and links to the latest report (admin)',
    query: ['check'],
    successStatus: 200,
    response: driftStatusResponse,
  },
  {
    method: 'POST',
    path: '/v1/finetune-jobs',
    fn: 'finetune',
    auth: 'iam',
    operationId: 'createFinetuneJob',
    summary:
      'Fine-tune the served base model on a registered finetune or preference dataset version (admin); the FineTune state machine trains, registers and evaluates the candidate: follow it at the location answered',
    requestBody: finetuneJobRequest,
    successStatus: 202,
    response: finetuneJobAccepted,
  },
  {
    method: 'GET',
    path: '/v1/finetune-jobs',
    fn: 'finetune',
    auth: 'iam',
    operationId: 'listFinetuneJobs',
    summary: 'List fine-tuning jobs, newest first (admin)',
    query: ['limit', 'nextToken'],
    successStatus: 200,
    response: finetuneJobList,
  },
  {
    method: 'GET',
    path: '/v1/finetune-jobs/{id}',
    fn: 'finetune',
    auth: 'iam',
    operationId: 'getFinetuneJob',
    summary:
      'Read a fine-tuning job: its status, training job, model package, candidate, evaluation, approval and rollout (admin)',
    successStatus: 200,
    response: finetuneJob,
  },
  {
    method: 'POST',
    path: '/v1/finetune-jobs/{id}/approval',
    fn: 'finetune',
    auth: 'iam',
    operationId: 'approveFinetuneJob',
    summary:
      'Approve or reject a candidate that passed its evaluation and awaits approval (admin; 409 in any other status): approval approves its model package, which starts the rollout; rejection rejects it and takes the candidate off the endpoint. The decision, the signing principal and the reason are recorded on the job',
    requestBody: approvalRequest,
    successStatus: 200,
    response: finetuneJob,
  },
  {
    method: 'GET',
    path: '/v1/openapi.json',
    fn: 'openapi',
    auth: 'apiKey',
    operationId: 'getOpenApi',
    summary: 'This API as an OpenAPI 3 document',
    successStatus: 200,
  },
];

/** Path parameter names of an API Gateway path (`/v1/prompts/{name}` → `['name']`). */
export function pathParameters(path: string): string[] {
  return [...path.matchAll(/\{([^}/]+)\}/g)].map((m) => m[1] as string);
}
