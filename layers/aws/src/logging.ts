import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * The shared Logger and Metrics: one service name (POWERTOOLS_SERVICE_NAME) and one metrics namespace
 * (POWERTOOLS_METRICS_NAMESPACE) for every function. Kept apart from the Tracer so that API handlers,
 * which must stay small for cold starts, can log and emit EMF metrics without bundling the X-Ray SDK.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'llmops' });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'LLMOps',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'llmops',
});
