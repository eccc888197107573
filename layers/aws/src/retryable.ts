import { isRetryableErrorName } from '#contracts/retryable-errors.ts';
import { TransientError } from './errors.ts';

const nameOf = (error: unknown): string => (error as { name?: string } | null)?.name ?? '';

/**
 * Whether a step should rethrow `error` so that its state machine retries the step, rather than fail only
 * the item it was working on. A store write that ran out of retries on throttling carries the throttling
 * as its cause, and is retryable too.
 */
export function isRetryable(error: unknown): boolean {
  const name = nameOf(error);
  if (isRetryableErrorName(name)) return true;
  return name === 'VectorStoreWriteError' && isRetryable((error as { cause?: unknown }).cause);
}

/**
 * The error a step throws for a retryable failure, named so that the state machine's `Retry` matches it:
 * one whose name is already retryable passes as it is; any other becomes a `TransientError` carrying it as
 * its cause.
 */
export function asRetryable(error: unknown): Error {
  if (error instanceof Error && isRetryableErrorName(error.name)) return error;
  return new TransientError(error instanceof Error ? error.message : String(error), { cause: error });
}
