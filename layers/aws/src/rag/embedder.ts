/**
 * Embeds many texts through a model provider: batches of `batchSize` texts, at most `concurrency` batches
 * in flight, results in input order. Providers retry throttling and transient errors with backoff
 * themselves (see models/retry.ts); what still fails surfaces as their named error (ThrottledError,
 * ModelProviderError), which the state machine retries at the step level.
 */
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { ModelProvider } from '#core/models/types.ts';

export interface EmbedManyOptions {
  readonly provider: ModelProvider;
  /** The catalog's embedding model (its `modelId` and `dimensions` are sent). */
  readonly model: Pick<CatalogModel, 'modelId' | 'dimensions'>;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly signal?: AbortSignal;
}

export interface EmbedManyResult {
  readonly vectors: number[][];
  readonly inputTokens: number;
  readonly requests: number;
}

export async function embedMany(
  texts: readonly string[],
  options: EmbedManyOptions,
): Promise<EmbedManyResult> {
  const batchSize = Math.max(1, options.batchSize);
  const batches: { start: number; texts: string[] }[] = [];
  for (let start = 0; start < texts.length; start += batchSize) {
    batches.push({ start, texts: texts.slice(start, start + batchSize) });
  }
  const vectors: number[][] = new Array(texts.length);
  let inputTokens = 0;
  let next = 0;
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const worker = async (): Promise<void> => {
    while (next < batches.length && !signal.aborted) {
      const batch = batches[next++] as { start: number; texts: string[] };
      const result = await options.provider.embed({
        modelId: options.model.modelId,
        texts: batch.texts,
        ...(options.model.dimensions !== undefined ? { dimensions: options.model.dimensions } : {}),
        normalize: true,
        signal,
      });
      if (result.vectors.length !== batch.texts.length) {
        throw new Error(
          `The embedding model returned ${result.vectors.length} vectors for ${batch.texts.length} texts`,
        );
      }
      result.vectors.forEach((vector, i) => {
        vectors[batch.start + i] = vector;
      });
      inputTokens += result.usage.inputTokens;
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(Math.max(1, options.concurrency), batches.length) }, worker),
    );
  } catch (error) {
    stop.abort();
    throw error;
  }
  return { vectors, inputTokens, requests: batches.length };
}
