/** The named errors live in the core (they have no AWS dependency); the AWS adapters use the same classes. */
export * from '#core/errors.ts';

import { ModelProviderError } from '#core/errors.ts';

/** `Retry-After` (seconds) of a {@link ModelCapacityError} when nothing says otherwise. */
export const DEFAULT_CAPACITY_RETRY_AFTER_SECONDS = 60;

/**
 * A model has no capacity to answer: its SageMaker inference component has no copy (scaled to zero) and
 * is scaling out, which takes minutes. Not retried by the provider's backoff. The gateway answers with
 * the catalog entry's `fallback` when it has one; otherwise the API answers 503 with `Retry-After`
 * (`retryAfterSeconds`) and `model_capacity_unavailable`, which names the model (`modelId`: the catalog
 * id once the gateway knows it, else the endpoint).
 */
export class ModelCapacityError extends ModelProviderError {
  /** Seconds the caller should wait before trying again. */
  readonly retryAfterSeconds: number;
  /** The model without capacity. */
  readonly modelId: string;
  constructor(modelId: string, retryAfterSeconds: number, options?: { cause?: unknown }) {
    super(
      `Model ${modelId} has no capacity right now: it is scaling out from zero; retry after ${Math.max(1, Math.ceil(retryAfterSeconds))} s`,
      options,
    );
    this.modelId = modelId;
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}
