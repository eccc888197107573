import type { MetadataFilters, MetadataValue } from '../rag/store.ts';
import { compileGlob, isLiteral, isMatchAll, matchesAny } from './glob.ts';

/**
 * Keeping a retrieval within the RAG collections a caller may search. Every chunk carries its
 * document's collection as the metadata field `collection` (`upload`, `dataset:<name>`), so a store can
 * filter on it like any metadata field. A caller's own `collection` filter is intersected with the
 * allowlist, never put in its place.
 *
 * Vector stores filter on exact values only. Exact patterns (`upload`, `dataset:faq`) become a store
 * filter, and the store returns the `k` best chunks of those collections. A pattern with a star
 * (`dataset:*`) cannot be sent to a store: the query then goes out without a collection filter for
 * more chunks than asked ({@link oversampledK}), and the chunks of other collections are dropped, so a
 * search may return fewer than `k` chunks when other collections hold the closest ones. Naming the
 * collections (exact patterns, or `filters.collection`) gives the full `k`.
 */

/** The metadata field that holds a chunk's collection. */
export const COLLECTION_FIELD = 'collection';

/** How many more chunks are asked of the store when only a post-filter can enforce the allowlist. */
export const OVERSAMPLE_FACTOR = 4;
/** The most chunks asked of a store when oversampling (S3 Vectors returns at most 100). */
export const MAX_OVERSAMPLED_K = 100;

export interface CollectionScope {
  /** What to send to the store: the caller's filters, `collection` narrowed to allowed values when it can be. */
  readonly filters: MetadataFilters | undefined;
  /** Nothing can match: every collection the caller named is outside the allowlist, or it allows none. */
  readonly empty: boolean;
  /**
   * Set when the store filter cannot enforce the allowlist (patterns with a star): keep a retrieved
   * chunk only when this says so, and ask the store for {@link oversampledK} chunks.
   */
  readonly keep?: (chunk: { readonly metadata: Readonly<Record<string, MetadataValue>> }) => boolean;
}

/** The chunks to ask a store for when a post-filter drops some: `k` times the factor, within the cap. */
export function oversampledK(k: number): number {
  return Math.max(k, Math.min(MAX_OVERSAMPLED_K, k * OVERSAMPLE_FACTOR));
}

/**
 * The filters of a retrieval restricted to the allowed collection patterns (`undefined`: every
 * collection allowed, the filters go out as they are).
 */
export function scopeToCollections(
  filters: MetadataFilters | undefined,
  allowed: readonly string[] | undefined,
): CollectionScope {
  if (allowed === undefined || allowed.some(isMatchAll)) return { filters, empty: false };
  const globs = allowed.map(compileGlob);
  const isAllowed = (value: unknown): value is string =>
    typeof value === 'string' && matchesAny(globs, value);
  const requested = filters?.[COLLECTION_FIELD];
  if (requested !== undefined) {
    const values = (Array.isArray(requested) ? requested : [requested]).filter(isAllowed);
    if (values.length === 0) return { filters, empty: true };
    return { filters: { ...filters, [COLLECTION_FIELD]: values }, empty: false };
  }
  if (allowed.length === 0) return { filters, empty: true };
  if (allowed.every(isLiteral)) {
    return { filters: { ...filters, [COLLECTION_FIELD]: [...new Set(allowed)] }, empty: false };
  }
  return { filters, empty: false, keep: (chunk) => isAllowed(chunk.metadata[COLLECTION_FIELD]) };
}
