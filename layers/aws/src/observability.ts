import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { TRANSIENT_AWS_ERROR_CODES } from '#contracts/retryable-errors.ts';
import { LlmOpsError, TransientError } from './errors.ts';
import { logger, metrics } from './logging.ts';

export { logger, metrics };

/**
 * The one observability module for event-driven handlers: the shared Logger and Metrics (from
 * `logging.ts`) and the middleware stack every such handler uses; the local runner turns metrics off with
 * POWERTOOLS_METRICS_DISABLED. API handlers use `http.ts` instead. No function bundles an X-Ray SDK:
 * Lambda active tracing and Step Functions tracing record each invocation with its init and its state,
 * without per-SDK-call subsegments, which would cost every function about 120 KiB and 25 ms of cold start.
 */

const TRANSIENT_AWS_ERRORS = new Set(TRANSIENT_AWS_ERROR_CODES);

/**
 * Maps errors in exactly one place: throttling and transient AWS errors become `TransientError` (which
 * the state machines retry with backoff); named project errors pass through; everything is logged with
 * its name and cause before it is re-thrown, so Lambda reports the failure and nothing is swallowed.
 */
export function errorMapping(): MiddlewareObj {
  return {
    onError: async (request) => {
      const error = request.error;
      if (!error) return;
      let mapped: Error = error;
      if (!(error instanceof LlmOpsError)) {
        const code = (error as { name?: string; code?: string }).name ?? '';
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (TRANSIENT_AWS_ERRORS.has(code) || (status !== undefined && status >= 500)) {
          mapped = new TransientError(`Transient AWS error ${code}: ${error.message}`, { cause: error });
        }
      }
      logger.error('Handler failed', { errorName: mapped.name, error: mapped });
      metrics.addMetric('HandlerErrors', 'Count', 1);
      request.error = mapped;
    },
  };
}

/** Wraps a handler body with the project's middleware: logger context, metrics, error mapping. */
export function withObservability<E, R>(handler: (event: E, context: Context) => Promise<R>) {
  return middy(handler)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(errorMapping());
}
