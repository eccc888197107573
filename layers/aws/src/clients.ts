import { ComprehendClient } from '@aws-sdk/client-comprehend';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { withSdkCallHooks } from './sdk-call-hooks.ts';

/**
 * AWS SDK client factories. Handlers call these once at module scope and accept replacements through
 * `makeHandler(deps)`. Endpoints come from the SDK's standard `AWS_ENDPOINT_URL_<SERVICE>` variables, so
 * the same code talks to AWS or to local emulators; retries use the SDK's adaptive mode.
 */
const common = { maxAttempts: 5, retryMode: 'adaptive' as const };

export function createS3Client(): S3Client {
  return withSdkCallHooks(
    new S3Client({
      ...common,
      // Local S3 emulators only understand path-style addressing.
      forcePathStyle: process.env.LLMOPS_S3_FORCE_PATH_STYLE === 'true',
    }),
  );
}

export function createDocumentClient(): DynamoDBDocumentClient {
  return withSdkCallHooks(
    DynamoDBDocumentClient.from(new DynamoDBClient(common), {
      marshallOptions: { removeUndefinedValues: true },
    }),
  );
}

export function createEventBridgeClient(): EventBridgeClient {
  return withSdkCallHooks(new EventBridgeClient(common));
}

export function createComprehendClient(): ComprehendClient {
  return withSdkCallHooks(new ComprehendClient(common));
}
