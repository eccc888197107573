import { createDocumentClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { ValidationError } from '#aws/errors.ts';
import { type ApiRequest, apiHandler, json, parseAppKeys, parseWith } from '#aws/http.ts';
import { metrics } from '#aws/logging.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import { envVar } from '#contracts/env.ts';
import { parseAppAccess } from '#contracts/http/access.ts';
import type { ApiCaller } from '#contracts/http/caller.ts';
import {
  createPromptVersionRequest,
  moveLabelRequest,
  pageToken,
  pathParams,
} from '#contracts/http/schemas.ts';
import { AccessPolicy } from '#core/access/policy.ts';
import { dispatcher } from './dispatch.ts';

/**
 * The prompt registry routes: create a version (admin), read by label or number, list versions, move a
 * label (admin: promotion and rollback). An app reads only the prompts its access names (403 otherwise),
 * and never sees who wrote a version: authors are IAM principal ARNs, shown to administrators only.
 */
export interface PromptsDeps {
  readonly registry: Pick<PromptRegistry, 'createVersion' | 'get' | 'listVersions' | 'moveLabel'>;
}

const name = (request: ApiRequest) => parseWith(pathParams.name, request.path.name, 'path.name');

/** The prompt name of the path, once the caller's access allows it (403 naming the app and the rule). */
function readableName(request: ApiRequest): string {
  const promptName = name(request);
  AccessPolicy.forCaller(request.caller).assertPrompt(promptName);
  return promptName;
}

/** A version or summary as the caller may see it: without its author unless the caller is an administrator. */
function forCaller<T extends { readonly author: string }>(
  caller: ApiCaller,
  value: T,
): T | Omit<T, 'author'> {
  if (caller.access === null) return value;
  const { author: _author, ...rest } = value;
  return rest;
}

export function makeHandler(deps: PromptsDeps) {
  return dispatcher('prompts', {
    createPromptVersion: async (request) => {
      const draft = parseWith(createPromptVersionRequest, request.body, '');
      const version = await deps.registry.createVersion(name(request), draft, request.caller.author);
      metrics.addMetric('PromptVersionsCreated', 'Count', 1);
      return json(201, version, { location: `/v1/prompts/${version.name}?version=${version.version}` });
    },
    getPrompt: async (request) => {
      const { label, version } = request.query;
      if (label !== undefined && version !== undefined) {
        throw new ValidationError('query', 'give either label or version, not both');
      }
      const promptName = readableName(request);
      const ref =
        version !== undefined
          ? { name: promptName, version: Number(parseWith(pathParams.version, version, 'query.version')) }
          : { name: promptName, label: parseWith(pathParams.label, label ?? 'production', 'query.label') };
      metrics.addMetric('PromptReads', 'Count', 1);
      return json(200, forCaller(request.caller, await deps.registry.get(ref)));
    },
    listPromptVersions: async (request) => {
      const { limit } = request.query;
      const parsedLimit =
        limit === undefined ? undefined : Number(parseWith(pathParams.version, limit, 'query.limit'));
      if (parsedLimit !== undefined && parsedLimit > 100)
        throw new ValidationError('query.limit', 'must be at most 100');
      const nextToken =
        request.query.nextToken === undefined
          ? undefined
          : parseWith(pageToken, request.query.nextToken, 'query.nextToken');
      const promptName = readableName(request);
      metrics.addMetric('PromptReads', 'Count', 1);
      try {
        const page = await deps.registry.listVersions(promptName, {
          ...(parsedLimit !== undefined ? { limit: parsedLimit } : {}),
          ...(nextToken !== undefined ? { nextToken } : {}),
        });
        return json(200, {
          ...page,
          versions: page.versions.map((summary) => forCaller(request.caller, summary)),
        });
      } catch (error) {
        // The registry names its own parameters; the caller sent them as query parameters.
        if (error instanceof ValidationError && (error.field === 'nextToken' || error.field === 'limit')) {
          throw new ValidationError(`query.${error.field}`, error.rule, { cause: error });
        }
        throw error;
      }
    },
    movePromptLabel: async (request) => {
      const label = parseWith(pathParams.label, request.path.label, 'path.label');
      const { version } = parseWith(moveLabelRequest, request.body, '');
      const moved = await deps.registry.moveLabel(name(request), label, version, request.caller.author);
      metrics.addMetric('PromptLabelMoves', 'Count', 1);
      return json(200, moved);
    },
  });
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  PROMPTS_TABLE: envVar.string(),
  PROMPT_CACHE_TTL_SECONDS: envVar.int(0),
  APP_KEYS: envVar.optionalString(),
  APP_ACCESS: envVar.optionalString(),
  MAX_REQUEST_BYTES: envVar.int(1),
};

const config = readConfig(environment);

export const handler = apiHandler(
  makeHandler({
    registry: new PromptRegistry(createDocumentClient(), config.PROMPTS_TABLE, {
      cacheTtlMs: config.PROMPT_CACHE_TTL_SECONDS * 1000,
    }),
  }),
  {
    appKeys: parseAppKeys(config.APP_KEYS),
    appAccess: parseAppAccess(config.APP_ACCESS),
    maxRequestBytes: config.MAX_REQUEST_BYTES,
  },
);
