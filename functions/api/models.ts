import * as z from 'zod/mini';
import { createDocumentClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { type ApiRequest, apiHandler, json, parseAppKeys, parseWith } from '#aws/http.ts';
import { metrics } from '#aws/logging.ts';
import { ModelCatalog, parseSeed, seedOnce } from '#aws/model-catalog.ts';
import { envVar } from '#contracts/env.ts';
import { parseAppAccess } from '#contracts/http/access.ts';
import { pathParams, putModelRequest, selectModelRequest } from '#contracts/http/schemas.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { AccessPolicy } from '#core/access/policy.ts';
import { selectModel } from '#core/models/select.ts';
import { toModelList } from '#core/openai/models.ts';
import { dispatcher } from './dispatch.ts';

/**
 * The model catalog routes: list (each entry with its evaluations per suite), pick the cheapest model
 * that fits (or, with `rankBy`, the best-scoring one on a suite within the same bounds), and (admin)
 * create or replace. An app lists and picks only among the models its access names.
 */
export interface ModelsDeps {
  readonly catalog: Pick<ModelCatalog, 'list' | 'put'>;
  /** Seeds the catalog from the profile's configuration once per cold start. */
  readonly ensureSeeded: () => Promise<void>;
}

const listQuery = z.object({
  kind: z.optional(z.enum(['chat', 'embedding'])),
  status: z.optional(z.enum(['active', 'deprecated'])),
});

export function makeHandler(deps: ModelsDeps) {
  return dispatcher('models', {
    listModels: async (request: ApiRequest) => {
      const filter = parseWith(listQuery, request.query, 'query');
      await deps.ensureSeeded();
      const models = AccessPolicy.forCaller(request.caller).filterModels(await deps.catalog.list(filter));
      // OpenAI's model list, each entry carrying every catalog field.
      return json(200, toModelList(models));
    },
    selectModel: async (request) => {
      const constraints = parseWith(selectModelRequest, request.body ?? {}, '');
      await deps.ensureSeeded();
      const candidates = await deps.catalog.list({ kind: constraints.kind ?? 'chat', status: 'active' });
      // Only among the models the app may use (403 when there are candidates but it may use none).
      const models = AccessPolicy.forCaller(request.caller).selectableModels(candidates);
      const selected = selectModel(models, constraints);
      metrics.addMetric('ModelSelections', 'Count', 1);
      if (selected.rankedBy !== undefined) metrics.addMetric('ModelSelectionsRanked', 'Count', 1);
      return json(200, selected);
    },
    putModel: async (request) => {
      const id = parseWith(pathParams.modelId, request.path.id, 'path.id');
      const entry = parseWith(putModelRequest, request.body, '');
      await deps.ensureSeeded();
      const model: CatalogModel = await deps.catalog.put({ ...entry, id }, request.caller.author);
      metrics.addMetric('CatalogEdits', 'Count', 1);
      return json(200, model);
    },
  });
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  CATALOG_TABLE: envVar.string(),
  CATALOG_SEED: envVar.string(),
  APP_KEYS: envVar.optionalString(),
  APP_ACCESS: envVar.optionalString(),
  MAX_REQUEST_BYTES: envVar.int(1),
};

const config = readConfig(environment);

const catalog = new ModelCatalog(createDocumentClient(), config.CATALOG_TABLE);

export const handler = apiHandler(
  makeHandler({ catalog, ensureSeeded: seedOnce(catalog, parseSeed(config.CATALOG_SEED)) }),
  {
    appKeys: parseAppKeys(config.APP_KEYS),
    appAccess: parseAppAccess(config.APP_ACCESS),
    maxRequestBytes: config.MAX_REQUEST_BYTES,
  },
);
