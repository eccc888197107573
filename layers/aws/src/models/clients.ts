import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { withSdkCallHooks } from '../sdk-call-hooks.ts';

/**
 * SDK clients for the model providers, apart from `../clients.ts` so that a model function bundles
 * only the runtimes it calls. The SDK makes one attempt per call: `withRetry` owns retries, backoff and
 * timeouts. Endpoints come from the standard `AWS_ENDPOINT_URL_<SERVICE>` variables when set. The
 * SageMaker Runtime client lives with its provider (`sagemaker.ts`), which is loaded on first use.
 */
export const PROVIDER_CLIENT_CONFIG = { maxAttempts: 1 };
const common = PROVIDER_CLIENT_CONFIG;

/** A Bedrock Runtime client for Converse, ConverseStream and InvokeModel. */
export function createBedrockRuntimeClient(): BedrockRuntimeClient {
  return withSdkCallHooks(new BedrockRuntimeClient(common));
}
