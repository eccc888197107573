import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * The shared Logger and Metrics: one service name (POWERTOOLS_SERVICE_NAME) and one metrics namespace
 * (POWERTOOLS_METRICS_NAMESPACE) for every function. Kept apart from the middleware (`observability.ts`,
 * `http.ts`) so that API handlers, which must stay small for cold starts, import only what they use.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'llmops' });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'LLMOps',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'llmops',
});
