import { readConfig } from '#aws/config.ts';
import { apiHandler, parseAppKeys } from '#aws/http.ts';
import { metrics } from '#aws/logging.ts';
import { envVar } from '#contracts/env.ts';
import { dispatcher } from './dispatch.ts';
import { buildOpenApiDocument } from './openapi-document.ts';

/** Serves the OpenAPI document, built once per cold start from the route table and schemas. */
export function makeHandler(document: Record<string, unknown>) {
  const body = JSON.stringify(document);
  return dispatcher('openapi', {
    getOpenApi: async () => {
      metrics.addMetric('OpenApiReads', 'Count', 1);
      return { statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body };
    },
  });
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = { APP_KEYS: envVar.optionalString(), MAX_REQUEST_BYTES: envVar.int(1) };

const config = readConfig(environment);

export const handler = apiHandler(makeHandler(buildOpenApiDocument('1.0.0')), {
  appKeys: parseAppKeys(config.APP_KEYS),
  maxRequestBytes: config.MAX_REQUEST_BYTES,
});
