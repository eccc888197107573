import { readConfig } from '#aws/config.ts';
import { apiHandler, parseAppKeys } from '#aws/http.ts';
import { metrics } from '#aws/logging.ts';
import { envVar } from '#contracts/env.ts';
import { parseAppAccess } from '#contracts/http/access.ts';
import { dispatcher } from './dispatch.ts';
import { buildOpenApiDocument, documentForCaller } from './openapi-document.ts';

/**
 * Serves the OpenAPI document, built once per cold start from the route table and schemas, with what
 * the calling app may use in its descriptions (once per app: an app's access is fixed at cold start).
 */
export function makeHandler(document: Record<string, unknown>) {
  const bodies = new Map<string, string>();
  return dispatcher('openapi', {
    getOpenApi: async (request) => {
      metrics.addMetric('OpenApiReads', 'Count', 1);
      const { app, access } = request.caller;
      const key = JSON.stringify([app, access]);
      let body = bodies.get(key);
      if (body === undefined) {
        body = JSON.stringify(documentForCaller(document, { app, access }));
        bodies.set(key, body);
      }
      return { statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body };
    },
  });
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  APP_KEYS: envVar.optionalString(),
  APP_ACCESS: envVar.optionalString(),
  MAX_REQUEST_BYTES: envVar.int(1),
};

const config = readConfig(environment);

export const handler = apiHandler(makeHandler(buildOpenApiDocument('1.0.0')), {
  appKeys: parseAppKeys(config.APP_KEYS),
  appAccess: parseAppAccess(config.APP_ACCESS),
  maxRequestBytes: config.MAX_REQUEST_BYTES,
});
