import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';

/**
 * SDK clients for the model providers, apart from `../clients.ts` so that a model function bundles
 * only the runtimes it calls. The SDK makes one attempt per call: `withRetry` owns retries, backoff and
 * timeouts. Endpoints come from the standard `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` and
 * `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` variables when set.
 */
const common = { maxAttempts: 1 };

/** A Bedrock Runtime client for Converse, ConverseStream and InvokeModel. */
export function createBedrockRuntimeClient(): BedrockRuntimeClient {
  return new BedrockRuntimeClient(common);
}

/** A SageMaker Runtime client for InvokeEndpoint and InvokeEndpointWithResponseStream. */
export function createSageMakerRuntimeClient(): SageMakerRuntimeClient {
  return new SageMakerRuntimeClient(common);
}
