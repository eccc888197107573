/**
 * Every route of the HTTPS API without its schemas: method, path, serving function, auth, operation and
 * status. The API functions route requests with this table alone, so that a function's bundle builds only
 * the schemas its own operations parse with, not those of every route; `routes.ts` adds the request and
 * response schemas (`API_ROUTES`) for the REST API's request models and the OpenAPI document.
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

export interface ApiRouteSpec {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** API Gateway path with `{param}` placeholders. */
  readonly path: string;
  readonly fn: ApiFunctionName;
  readonly auth: ApiAuth;
  readonly operationId: string;
  readonly summary: string;
  /** Query-string parameters the route accepts (all optional). */
  readonly query?: readonly string[];
  /** 202: accepted, to be done asynchronously (the body says where to follow it). */
  readonly successStatus: 200 | 201 | 202;
  /**
   * Served through Lambda response streaming: every route of a response-streaming function (`chat`),
   * whether or not it answers with events.
   */
  readonly streaming?: boolean;
  /** The server-sent events the route answers with when the body asks for `stream: true`. */
  readonly events?: string;
}

export const API_ROUTE_SPECS = [
  {
    method: 'POST',
    path: '/v1/chat',
    fn: 'chat',
    auth: 'apiKey',
    operationId: 'chat',
    summary: 'Render a prompt, call its model and answer (JSON, or server-sent events with stream: true)',
    successStatus: 200,
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
    successStatus: 200,
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
    successStatus: 200,
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
  },
  {
    method: 'POST',
    path: '/v1/models/select',
    fn: 'models',
    auth: 'apiKey',
    operationId: 'selectModel',
    summary: 'Pick the cheapest active model that meets the constraints',
    successStatus: 200,
  },
  {
    method: 'PUT',
    path: '/v1/models/{id}',
    fn: 'models',
    auth: 'iam',
    operationId: 'putModel',
    summary: 'Create or replace a catalog entry (admin)',
    successStatus: 200,
  },
  {
    method: 'POST',
    path: '/v1/prompts/{name}/versions',
    fn: 'prompts',
    auth: 'iam',
    operationId: 'createPromptVersion',
    summary: 'Create the next immutable version of a prompt (admin)',
    successStatus: 201,
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
  },
  {
    method: 'PUT',
    path: '/v1/prompts/{name}/labels/{label}',
    fn: 'prompts',
    auth: 'iam',
    operationId: 'movePromptLabel',
    summary:
      'Point a label at a version: promotion and rollback (admin). Production of a prompt with a promotion suite moves only past a passing evaluation against the current production version (409 evaluation_failed, evaluation_pending or evaluation_required otherwise), or with force and a reason',
    successStatus: 200,
  },
  {
    method: 'POST',
    path: '/v1/rag/search',
    fn: 'rag',
    auth: 'apiKey',
    operationId: 'searchRag',
    summary: 'Retrieve the chunks most relevant to a query (what /v1/chat with rag would use), with scores',
    successStatus: 200,
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
  },
  {
    method: 'POST',
    path: '/v1/evaluations',
    fn: 'evaluations',
    auth: 'iam',
    operationId: 'createEvaluation',
    summary:
      'Start an evaluation run of a prompt version and/or a model on a registered suite (admin); follow it at the location answered',
    successStatus: 202,
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
  },
  {
    method: 'POST',
    path: '/v1/reviews/{id}',
    fn: 'evaluations',
    auth: 'reviewer',
    operationId: 'labelReviewTask',
    summary:
      'Grade one review task once: pass, fail or a score in [0, 1], as the signing reviewer (reviewers)',
    successStatus: 200,
  },
  {
    method: 'POST',
    path: '/v1/feedback',
    fn: 'feedback',
    auth: 'apiKey',
    operationId: 'sendFeedback',
    summary:
      'Rate an answer of this app (thumbs or 1-5, with an optional correction, preferred answer, categories and comment); one verdict per interaction and user, a repeat replaces it. Free text is PII-redacted; feedback becomes preference data for fine-tuning',
    successStatus: 200,
  },
  {
    method: 'POST',
    path: '/v1/drift/baselines',
    fn: 'drift',
    auth: 'iam',
    operationId: 'createDriftBaseline',
    summary:
      'Build a new baseline version of a drift check from a pinned window of its traffic, a suite or an evaluation run (admin); the DriftCheck state machine builds it, follow it at the location answered',
    successStatus: 202,
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
  },
  {
    method: 'POST',
    path: '/v1/finetune-jobs',
    fn: 'finetune',
    auth: 'iam',
    operationId: 'createFinetuneJob',
    summary:
      'Fine-tune the served base model on a registered finetune or preference dataset version (admin); the FineTune state machine trains, registers and evaluates the candidate: follow it at the location answered',
    successStatus: 202,
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
  },
  {
    method: 'POST',
    path: '/v1/finetune-jobs/{id}/approval',
    fn: 'finetune',
    auth: 'iam',
    operationId: 'approveFinetuneJob',
    summary:
      'Approve or reject a candidate that passed its evaluation and awaits approval (admin; 409 in any other status): approval approves its model package, which starts the rollout; rejection rejects it and takes the candidate off the endpoint. The decision, the signing principal and the reason are recorded on the job',
    successStatus: 200,
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
] as const satisfies readonly ApiRouteSpec[];

/** The operation id of a route. */
export type ApiOperationId = (typeof API_ROUTE_SPECS)[number]['operationId'];

/** The routes that one function serves, in table order. */
export function routesOf(fn: ApiFunctionName): readonly ApiRouteSpec[] {
  return API_ROUTE_SPECS.filter((route) => route.fn === fn);
}

/** Path parameter names of an API Gateway path (`/v1/prompts/{name}` → `['name']`). */
export function pathParameters(path: string): string[] {
  return [...path.matchAll(/\{([^}/]+)\}/g)].map((m) => m[1] as string);
}
