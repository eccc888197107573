/**
 * Which failures are worth retrying, in one place. Step handlers throw errors with these names for a
 * failure that may pass on a later attempt; the state machines' `Retry` matches exactly these names; the
 * handler middleware turns the AWS errors below into `TransientError` so that they match too.
 */

/** Error names a pipeline step's `Retry` matches (the handlers' own retryable errors). */
export const RETRYABLE_ERROR_NAMES = [
  'TransientError',
  'ThrottledError',
  'ModelProviderError',
  'TimeoutError',
] as const;
export type RetryableErrorName = (typeof RETRYABLE_ERROR_NAMES)[number];

/** AWS error codes (and socket errors) that mean "try again": throttling, server errors, timeouts. */
export const TRANSIENT_AWS_ERROR_CODES: readonly string[] = [
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'InternalServerError',
  'RequestTimeout',
  'TimeoutError',
  'ECONNRESET',
];

/** Whether an error name is one a pipeline step's `Retry` matches. */
export function isRetryableErrorName(name: string): name is RetryableErrorName {
  return (RETRYABLE_ERROR_NAMES as readonly string[]).includes(name);
}
