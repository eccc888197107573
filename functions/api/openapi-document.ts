import type * as z from 'zod/mini';
import type { ApiCaller } from '#contracts/http/caller.ts';
import { jsonSchemaOf } from '#contracts/http/json-schema.ts';
import { API_ROUTES, type ApiFunctionName, type ApiRoute, pathParameters } from '#contracts/http/routes.ts';
import { errorResponse } from '#contracts/http/schemas.ts';
import { type AccessDescription, AccessPolicy } from '#core/access/policy.ts';

/**
 * The OpenAPI 3.0 document of the API, generated from the same route table and schemas that API Gateway
 * validates with and the handlers parse with.
 */
const ERRORS: Record<string, string> = {
  '400': 'The request broke a rule: `error.field` names the field, `error.rule` the rule',
  '403':
    "Missing or invalid API key, an admin or reviewer route called without IAM (SigV4) signature, a prompt, model or RAG collection outside the calling app's access (the message names the app and the rule), or feedback on another app's interaction",
  '404':
    "No such prompt, version, label, model, RAG document, evaluation suite or run, review task, drift check, fine-tuning job, or interaction open to feedback (a document of a collection outside the app's access is not found either)",
  '409':
    'A conflicting write (a review task already labelled, an approval of a fine-tuning job that is not awaiting one), or a production label move refused by its promotion gate: `evaluation_failed`, `evaluation_pending` or `evaluation_required`, with the run in `error.evaluation`',
  '413': 'The body is larger than the API accepts',
  '429':
    "Throttled by the usage plan or by the model provider (`throttled`), or the app's daily token budget is spent (`token_budget_exceeded`, until 00:00 UTC); see Retry-After",
  '500': 'Internal error; the body carries a requestId to quote',
  '502': 'The model provider failed',
  '504': 'The model provider did not answer in time',
};

const schemaOf = (schema: z.ZodMiniType) => jsonSchemaOf(schema, 'openapi-3.0');

function operation(route: ApiRoute): Record<string, unknown> {
  const params = pathParameters(route.path).map((name) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const query = (route.query ?? []).map((name) => ({
    name,
    in: 'query',
    required: false,
    schema: { type: 'string' },
  }));
  const responses: Record<string, unknown> = {
    [String(route.successStatus)]: {
      description: 'Success',
      content: route.events
        ? {
            'application/json': route.response ? { schema: schemaOf(route.response) } : {},
            'text/event-stream': { schema: { type: 'string', description: route.events } },
          }
        : {
            'application/json': route.response
              ? { schema: schemaOf(route.response) }
              : { schema: { type: 'object' } },
          },
    },
  };
  for (const [status, description] of Object.entries(ERRORS)) {
    responses[status] = {
      description,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    // Admin and reviewer routes are both signed with SigV4; the resource policy tells them apart.
    security: [route.auth === 'apiKey' ? { apiKey: [] } : { sigv4: [] }],
    parameters: [...params, ...query],
    ...(route.requestBody
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: schemaOf(route.requestBody) } },
          },
        }
      : {}),
    responses,
  };
}

export function buildOpenApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of API_ROUTES) {
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'LLMOps gateway API',
      version,
      description:
        'Chat through versioned prompts, the model catalog, the prompt registry, evaluations and drift checks. App routes take ' +
        'an API key (x-api-key); admin and reviewer routes are signed with IAM (SigV4).',
    },
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        sigv4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
      schemas: { Error: schemaOf(errorResponse) },
    },
  };
}

/** The rules of the caller's access that restrict each route group. */
const RULES: Readonly<Record<ApiFunctionName, readonly (keyof AccessDescription)[]>> = {
  chat: ['prompts', 'models', 'collections', 'rawChat', 'tokensPerDay'],
  prompts: ['prompts'],
  models: ['models'],
  rag: ['collections'],
  openapi: [],
  evaluations: [],
  drift: [],
  finetune: [],
  // Feedback on an interaction needs its prompt and model to be still the app's to use.
  feedback: ['prompts', 'models'],
};

/**
 * The document as one caller sees it: `info.description` ends with what the caller may use (its app's
 * allowlists and daily token budget, or that an administrator is unrestricted), `info["x-llmops-access"]`
 * says the same as data, and each app route those rules restrict says, in its description, which apply.
 */
export function documentForCaller(
  document: Record<string, unknown>,
  caller: Pick<ApiCaller, 'app' | 'access'>,
): Record<string, unknown> {
  const described = structuredClone(document) as {
    info: { description?: string; [key: string]: unknown };
    paths: Record<string, Record<string, { summary?: string; description?: string }>>;
  };
  const policy = AccessPolicy.forCaller(caller);
  const sentences = policy.describe();
  const all = [
    sentences.caller,
    sentences.prompts,
    sentences.models,
    sentences.collections,
    sentences.rawChat,
    sentences.tokensPerDay,
  ].join(' ');
  described.info.description = `${described.info.description ?? ''}\n\n${all}`.trim();
  described.info['x-llmops-access'] =
    caller.access === null
      ? { app: null, unrestricted: true }
      : { app: caller.app, unrestricted: false, ...caller.access };
  for (const route of API_ROUTES) {
    const rules = RULES[route.fn];
    const operation = described.paths[route.path]?.[route.method.toLowerCase()];
    if (route.auth !== 'apiKey' || rules.length === 0 || operation === undefined) continue;
    operation.description = [
      operation.description,
      `What the caller may use here: ${rules.map((rule) => sentences[rule]).join(' ')}`,
    ]
      .filter((part) => part !== undefined && part !== '')
      .join('\n\n');
  }
  return described;
}
