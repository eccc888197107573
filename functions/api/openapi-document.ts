import type * as z from 'zod/mini';
import { jsonSchemaOf } from '#contracts/http/json-schema.ts';
import { API_ROUTES, type ApiRoute, pathParameters } from '#contracts/http/routes.ts';
import { errorResponse } from '#contracts/http/schemas.ts';

/**
 * The OpenAPI 3.0 document of the API, generated from the same route table and schemas that API Gateway
 * validates with and the handlers parse with.
 */
const ERRORS: Record<string, string> = {
  '400': 'The request broke a rule: `error.field` names the field, `error.rule` the rule',
  '403': 'Missing or invalid API key, or an admin route called without IAM (SigV4) signature',
  '404': 'No such prompt, version, label or model',
  '413': 'The body is larger than the API accepts',
  '429': 'Throttled by the usage plan or by the model provider; see Retry-After',
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
      content: route.streaming
        ? {
            'application/json': route.response ? { schema: schemaOf(route.response) } : {},
            'text/event-stream': {
              schema: {
                type: 'string',
                description: 'Events `delta` {text}, then `done` (the JSON body) or `error`',
              },
            },
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
    security: [route.auth === 'iam' ? { sigv4: [] } : { apiKey: [] }],
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
        'Chat through versioned prompts, the model catalog and the prompt registry. App routes take an API key ' +
        '(x-api-key); admin routes are signed with IAM (SigV4).',
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
