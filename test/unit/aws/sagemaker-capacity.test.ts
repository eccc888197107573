import {
  InvokeEndpointCommand,
  type InvokeEndpointCommandOutput,
  InvokeEndpointWithResponseStreamCommand,
  SageMakerRuntimeClient,
  ValidationError as SageMakerValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ContextWindowExceededError, ModelCapacityError, ModelProviderError } from '#aws/errors.ts';
import { errorResponse } from '#aws/http.ts';
import { isNoCapacityError, SageMakerProvider } from '#aws/models/sagemaker.ts';
import type { ChatRequest } from '#core/models/types.ts';
import { collect, errorOf } from '../../support/async.ts';

/**
 * An inference component scaled to zero: InvokeEndpoint fails with a `ValidationError` saying it has no
 * capacity. The provider names that failure (`ModelCapacityError`), never retries it, and the HTTP edge
 * answers it 503 with `Retry-After`.
 */
const sagemakerMock = mockClient(SageMakerRuntimeClient);
const provider = new SageMakerProvider({
  client: new SageMakerRuntimeClient({ region: 'us-east-1' }),
  retry: { sleep: async () => {}, random: () => 0, maxAttempts: 3 },
  capacityRetryAfterSeconds: 90,
});

const NO_CAPACITY = 'Inference Component has no capacity to process this request. Please try again later.';
const validation = (message: string) =>
  new SageMakerValidationError({ message, $metadata: { httpStatusCode: 400 } });

const request: ChatRequest = {
  modelId: 'ft-endpoint',
  inferenceComponent: 'ic-support-v3',
  messages: [{ role: 'user', content: 'Refunds?' }],
};

beforeEach(() => sagemakerMock.reset());

describe('isNoCapacityError', () => {
  it('matches the no-capacity ValidationError loosely and case-insensitively', () => {
    expect(isNoCapacityError(validation(NO_CAPACITY))).toBe(true);
    expect(isNoCapacityError(validation('inference component HAS NO CAPACITY'))).toBe(true);
    expect(
      isNoCapacityError({ name: 'ValidationException', message: 'No capacity to process this request' }),
    ).toBe(true);
  });

  it('leaves other validation errors, and no-capacity text under other names, alone', () => {
    expect(isNoCapacityError(validation('Endpoint ft-endpoint of account 1 not found.'))).toBe(false);
    expect(isNoCapacityError(validation('Inference Component ic-1 does not exist'))).toBe(false);
    expect(isNoCapacityError({ name: 'ModelError', message: NO_CAPACITY })).toBe(false);
    expect(isNoCapacityError(undefined)).toBe(false);
  });

  it('runs in linear time on a long hostile message', () => {
    const message = `${'no capacit'.repeat(200_000)}y`;
    const started = performance.now();
    isNoCapacityError(validation(message));
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('SageMakerProvider without capacity', () => {
  it('fails a call at once with ModelCapacityError, not retried', async () => {
    sagemakerMock.on(InvokeEndpointCommand).rejects(validation(NO_CAPACITY));
    const error = await errorOf(provider.chat(request));
    expect(error).toBeInstanceOf(ModelCapacityError);
    expect(error).toBeInstanceOf(ModelProviderError);
    expect(error).toMatchObject({ modelId: 'ic-support-v3', retryAfterSeconds: 90 });
    expect(sagemakerMock.commandCalls(InvokeEndpointCommand)).toHaveLength(1);
  });

  it('fails a stream before its first event the same way', async () => {
    sagemakerMock.on(InvokeEndpointWithResponseStreamCommand).rejects(validation(NO_CAPACITY));
    const error = await errorOf(collect(provider.chatStream(request)));
    expect(error).toBeInstanceOf(ModelCapacityError);
    expect(sagemakerMock.commandCalls(InvokeEndpointWithResponseStreamCommand)).toHaveLength(1);
  });

  it('keeps other validation errors as they were: a ModelProviderError, or the context window', async () => {
    sagemakerMock.on(InvokeEndpointCommand).rejects(validation('Endpoint ft-endpoint not found.'));
    const other = await errorOf(provider.chat(request));
    expect(other).toBeInstanceOf(ModelProviderError);
    expect(other).not.toBeInstanceOf(ModelCapacityError);
    sagemakerMock.reset();
    sagemakerMock
      .on(InvokeEndpointCommand)
      .rejects(validation('This model maximum context length is 8192 tokens'));
    expect(await errorOf(provider.chat(request))).toBeInstanceOf(ContextWindowExceededError);
  });

  it('answers once capacity is back', async () => {
    const body = new TextEncoder().encode(
      JSON.stringify({ choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }] }),
    ) as unknown as InvokeEndpointCommandOutput['Body'];
    sagemakerMock
      .on(InvokeEndpointCommand)
      .rejectsOnce(validation(NO_CAPACITY))
      .resolves({ Body: body, $metadata: {} });
    await expect(provider.chat(request)).rejects.toBeInstanceOf(ModelCapacityError);
    await expect(provider.chat(request)).resolves.toMatchObject({ text: 'ok' });
  });
});

describe('the HTTP edge', () => {
  it('answers ModelCapacityError 503 with Retry-After, naming the model', () => {
    const response = errorResponse(new ModelCapacityError('support-ft', 60.2), 'req-9');
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('61');
    const body = JSON.parse(String(response.body));
    expect(body.error).toMatchObject({
      code: 'model_capacity_unavailable',
      type: 'api_error',
      model: 'support-ft',
      requestId: 'req-9',
    });
    expect(body.error.message).toMatch(/support-ft.*scaling out from zero/);
  });
});
