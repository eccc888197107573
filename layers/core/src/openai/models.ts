/** OpenAI's model list: the catalog shaped so that OpenAI's clients and catalog users read the same body. */
import type { ModelEntry } from '#contracts/http/schemas.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';

/** Epoch seconds of an ISO timestamp, or 0 when there is none or it does not parse. */
function epochSeconds(iso: string | undefined): number {
  if (iso === undefined) return 0;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
}

/**
 * A catalog entry as an entry of `GET /v1/models`: OpenAI's `object`, `created` (from the entry's
 * `createdAt`, else `updatedAt`, else 0) and `owned_by` (its provider), then every catalog field.
 */
export function toModelEntry(
  model: CatalogModel & { readonly createdAt?: string; readonly updatedAt?: string },
): ModelEntry {
  const { createdAt, updatedAt, ...fields } = model;
  return {
    ...fields,
    object: 'model',
    created: epochSeconds(createdAt ?? updatedAt),
    owned_by: model.provider,
  };
}

/** `GET /v1/models`: OpenAI's model list, whose entries carry every catalog field. */
export function toModelList(models: readonly CatalogModel[]): { object: 'list'; data: ModelEntry[] } {
  return { object: 'list', data: models.map(toModelEntry) };
}
