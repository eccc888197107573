import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  InvokeEndpointCommand,
  type InvokeEndpointCommandOutput,
  InvokeEndpointWithResponseStreamCommand,
  type ResponseStream,
  SageMakerRuntimeClient,
  ValidationError as SageMakerValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ModelCapacityError, ModelProviderError, ValidationError } from '#aws/errors.ts';
import { canaryBucket, type GatewayDeps, ModelGateway, type StreamChunk } from '#aws/gateway.ts';
import { errorResponse } from '#aws/http.ts';
import { logger, metrics } from '#aws/logging.ts';
import { ModelCatalog } from '#aws/model-catalog.ts';
import { SageMakerProvider } from '#aws/models/sagemaker.ts';
import { servedBy } from '#contracts/http/schemas.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import {
  ROLLOUT_ERROR_METRIC,
  ROLLOUT_GUARDRAIL_METRIC,
  ROLLOUT_LATENCY_METRIC,
  ROLLOUT_VARIANT_DIMENSION,
} from '#contracts/models/rollout-metrics.ts';
import { OfflineProvider } from '#core/models/offline.ts';
import { toChatCompletion } from '#core/openai/chat.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { interactionRecordedDetail } from '#events/interaction-recorded.ts';
import { collect, errorOf } from '../../support/async.ts';
import { appCaller, catalogModel, catalogOf } from '../../support/gateway-fixtures.ts';

/**
 * A fine-tuned model served by a SageMaker inference component, during a rollout (a `canary`: the
 * candidate's component answers a share of the calls, chosen by the request id) and while scaled to zero
 * (no capacity: the fallback answers, or the call fails for a 503).
 */
const sagemakerMock = mockClient(SageMakerRuntimeClient);
const docMock = mockClient(DynamoDBDocumentClient);
const TABLE = 'catalog-test';

const caller = appCaller('support-bot');
const ROLLOUT = 'rollout-7';
const SHARE = 0.25;

const production: CatalogModel = catalogModel('support-ft', {
  provider: 'sagemaker',
  modelId: 'llmops-ft-endpoint',
  inferenceComponent: 'ic-support-v2',
  features: ['streaming'],
  canary: {
    model: 'support-ft-v3',
    inferenceComponent: 'ic-support-v3',
    share: SHARE,
    rolloutId: ROLLOUT,
    calls: 0,
    errors: 0,
  },
});
const fallback: CatalogModel = catalogModel('nova-micro', { provider: 'bedrock', features: ['streaming'] });

/** Request ids the canary sends to the candidate, and ones it leaves with production. */
const ids = Array.from({ length: 200 }, (_, i) => `req-${i}`);
const CANDIDATE_ID = ids.find((id) => canaryBucket(id) < SHARE) as string;
const PRODUCTION_ID = ids.find((id) => canaryBucket(id) >= SHARE) as string;

const encoder = new TextEncoder();
const completion = (content: string) => ({
  Body: encoder.encode(
    JSON.stringify({
      choices: [{ message: { role: 'assistant', content }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 2 },
    }),
  ) as unknown as InvokeEndpointCommandOutput['Body'],
  $metadata: {},
});
const NO_CAPACITY = 'Inference Component has no capacity to process this request.';
const noCapacity = () => new SageMakerValidationError({ message: NO_CAPACITY, $metadata: {} });

async function* parts(...texts: string[]): AsyncGenerator<ResponseStream> {
  for (const text of texts) {
    yield {
      PayloadPart: {
        Bytes: encoder.encode(`data: ${JSON.stringify({ choices: [{ delta: { content: text } }] })}\n\n`),
      },
    };
  }
}

function setup(
  models: readonly CatalogModel[] = [production, fallback],
  overrides: Partial<GatewayDeps> = {},
) {
  const records: InteractionRecordedDetail[] = [];
  const sagemaker = new SageMakerProvider({
    client: new SageMakerRuntimeClient({ region: 'us-east-1' }),
    retry: { sleep: async () => {}, random: () => 0 },
  });
  const offline = new OfflineProvider();
  const store = new ModelCatalog(
    DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })),
    TABLE,
  );
  const deps: GatewayDeps = {
    prompts: {
      get: async () => {
        throw new Error('no prompts in these tests');
      },
    },
    catalog: {
      ...catalogOf(models),
      countCanaryCall: (id, rolloutId, failed) => store.countCanaryCall(id, rolloutId, failed),
    },
    providerFor: (model) => (model.provider === 'sagemaker' ? sagemaker : offline),
    recorder: {
      record: async (detail) => {
        records.push(interactionRecordedDetail.parse(detail));
      },
    },
    sampleRate: 0,
    timeoutMs: 5000,
    capacityRetryAfterSeconds: 120,
    ...overrides,
  };
  return { gateway: new ModelGateway(deps), records };
}

const body = { model: 'support-ft', messages: [{ role: 'user' as const, content: 'Refund window?' }] };

/** Every single metric emitted, with its dimensions. */
function singleMetrics(): Array<{ name: string; value: number; dimensions: Record<string, string> }> {
  const emitted: Array<{ name: string; value: number; dimensions: Record<string, string> }> = [];
  vi.spyOn(metrics, 'singleMetric').mockImplementation(() => {
    const dimensions: Record<string, string> = {};
    return {
      addDimensions: (d: Record<string, string>) => Object.assign(dimensions, d),
      addMetric: (name: string, _unit: string, value: number) => emitted.push({ name, value, dimensions }),
    } as unknown as ReturnType<typeof metrics.singleMetric>;
  });
  return emitted;
}

const rolloutMetrics = (emitted: ReturnType<typeof singleMetrics>) =>
  emitted.filter((m) => m.name.startsWith('Rollout'));

beforeEach(() => {
  sagemakerMock.reset();
  docMock.reset();
  docMock.on(UpdateCommand).resolves({});
});
afterEach(() => vi.restoreAllMocks());

describe('canaryBucket', () => {
  it('is deterministic: a retry of the same request goes the same way', () => {
    for (const id of ids) expect(canaryBucket(id)).toBe(canaryBucket(id));
    expect(canaryBucket('a')).toBeGreaterThanOrEqual(0);
    expect(canaryBucket('a')).toBeLessThan(1);
  });

  it('sends close to the share of 10k request ids to the candidate', () => {
    for (const share of [0.05, 0.1, 0.5]) {
      let candidate = 0;
      for (let i = 0; i < 10_000; i++) if (canaryBucket(`${i}-${crypto.randomUUID()}`) < share) candidate++;
      // Binomial: within 5 standard deviations.
      const sd = Math.sqrt(10_000 * share * (1 - share));
      expect(Math.abs(candidate - 10_000 * share)).toBeLessThan(5 * sd);
    }
  });
});

describe('canary routing', () => {
  it('answers the candidate share with the candidate component on the same endpoint, labelled', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('30 days.'));
    const { gateway, records } = setup();
    const response = await gateway.chat(body, caller, CANDIDATE_ID);
    const input = sagemakerMock.commandCalls(InvokeEndpointCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      EndpointName: 'llmops-ft-endpoint',
      InferenceComponentName: 'ic-support-v3',
    });
    expect(response.served).toEqual({
      model: 'support-ft',
      variant: 'candidate',
      inferenceComponent: 'ic-support-v3',
      rolloutId: ROLLOUT,
    });
    expect(response.model).toEqual({
      id: 'support-ft',
      provider: 'sagemaker',
      modelId: 'llmops-ft-endpoint',
    });
    expect(servedBy.safeParse(response.served).success).toBe(true);
    expect(records[0]?.variant).toBe('candidate');
    // The OpenAI-compatible answer carries the same label in its extension.
    expect(toChatCompletion(response, 0).llmops.served).toEqual(response.served);
  });

  it('answers the rest with the production component, labelled production, and counts nothing', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('30 days.'));
    const { gateway, records } = setup();
    const response = await gateway.chat(body, caller, PRODUCTION_ID);
    expect(sagemakerMock.commandCalls(InvokeEndpointCommand)[0]?.args[0].input.InferenceComponentName).toBe(
      'ic-support-v2',
    );
    expect(response.served).toMatchObject({ model: 'support-ft', variant: 'production', rolloutId: ROLLOUT });
    expect(records[0]?.variant).toBe('production');
    expect(docMock.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('routes nothing to the candidate when told not to (an evaluation of the model)', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('30 days.'));
    const { gateway } = setup(undefined, { canary: false });
    // CANDIDATE_ID falls in the candidate's share when the canary routes.
    const answer = await gateway.chat(body, caller, CANDIDATE_ID);
    expect(answer.served).toBeUndefined();
    expect(sagemakerMock.commandCalls(InvokeEndpointCommand)[0]?.args[0].input.InferenceComponentName).toBe(
      'ic-support-v2',
    );
  });

  it('routes the same request id the same way every time', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('ok'));
    const { gateway } = setup();
    const first = await gateway.chat(body, caller, CANDIDATE_ID);
    const again = await gateway.chat(body, caller, CANDIDATE_ID);
    expect(again.served).toEqual(first.served);
  });

  it('leaves a model without a canary unlabelled, and its record without a variant', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('ok'));
    const plain = { ...production, canary: undefined };
    const { gateway, records } = setup([plain]);
    const response = await gateway.chat(body, caller, CANDIDATE_ID);
    expect(response.served).toBeUndefined();
    expect(records[0]?.variant).toBeUndefined();
    expect(sagemakerMock.commandCalls(InvokeEndpointCommand)[0]?.args[0].input.InferenceComponentName).toBe(
      'ic-support-v2',
    );
  });

  it('streams the candidate share from the candidate component, labelled in the done chunk', async () => {
    sagemakerMock
      .on(InvokeEndpointWithResponseStreamCommand)
      .resolves({ Body: parts('30 ', 'days.'), $metadata: {} });
    const { gateway } = setup();
    const chunks = await collect(await gateway.chatStream({ ...body, stream: true }, caller, CANDIDATE_ID));
    const done = chunks.find((c): c is Extract<StreamChunk, { type: 'done' }> => c.type === 'done');
    expect(done?.response.answer).toBe('30 days.');
    expect(done?.response.served?.variant).toBe('candidate');
    expect(
      sagemakerMock.commandCalls(InvokeEndpointWithResponseStreamCommand)[0]?.args[0].input
        .InferenceComponentName,
    ).toBe('ic-support-v3');
    expect(docMock.commandCalls(UpdateCommand)).toHaveLength(1);
  });
});

describe('canary counters', () => {
  it('adds a candidate call with one conditional UpdateItem', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('ok'));
    await setup().gateway.chat(body, caller, CANDIDATE_ID);
    const updates = docMock.commandCalls(UpdateCommand);
    expect(updates).toHaveLength(1);
    expect(updates[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: 'support-ft' },
      UpdateExpression: 'ADD #canary.#calls :one',
      ConditionExpression: '#canary.#rolloutId = :rid',
      ExpressionAttributeNames: { '#canary': 'canary', '#calls': 'calls', '#rolloutId': 'rolloutId' },
      ExpressionAttributeValues: { ':one': 1, ':rid': ROLLOUT },
    });
  });

  it('adds an error too when the candidate fails, and the caller still gets the failure', async () => {
    sagemakerMock.on(InvokeEndpointCommand).rejects(Object.assign(new Error('boom'), { name: 'ModelError' }));
    const error = await errorOf(setup().gateway.chat(body, caller, CANDIDATE_ID));
    expect(error).toBeInstanceOf(ModelProviderError);
    const input = docMock.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.UpdateExpression).toBe('ADD #canary.#calls :one, #canary.#errors :one');
    expect(input?.ExpressionAttributeNames).toMatchObject({ '#errors': 'errors' });
    expect(input?.ConditionExpression).toBe('#canary.#rolloutId = :rid');
  });

  it('ignores a ConditionalCheckFailed (the rollout ended) silently', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('ok'));
    docMock
      .on(UpdateCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );
    const warn = vi.spyOn(logger, 'warn');
    const response = await setup().gateway.chat(body, caller, CANDIDATE_ID);
    expect(response.answer).toBe('ok');
    expect(warn).not.toHaveBeenCalled();
  });

  it('logs any other counter failure and answers anyway', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('ok'));
    docMock.on(UpdateCommand).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => {});
    const response = await setup().gateway.chat(body, caller, CANDIDATE_ID);
    expect(response.answer).toBe('ok');
    expect(warn).toHaveBeenCalledWith(
      'Canary call not counted',
      expect.objectContaining({ rolloutId: ROLLOUT }),
    );
  });
});

describe('rollout metrics', () => {
  it('emits latency, error and guardrail by Variant for each variant', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('ok'));
    const emitted = singleMetrics();
    const { gateway } = setup();
    await gateway.chat(body, caller, CANDIDATE_ID);
    await gateway.chat(body, caller, PRODUCTION_ID);
    const rollout = rolloutMetrics(emitted);
    expect(
      rollout.map((m) => [m.name, m.dimensions, m.name === ROLLOUT_LATENCY_METRIC ? 'ms' : m.value]),
    ).toEqual([
      [ROLLOUT_LATENCY_METRIC, { [ROLLOUT_VARIANT_DIMENSION]: 'candidate' }, 'ms'],
      [ROLLOUT_ERROR_METRIC, { Variant: 'candidate' }, 0],
      [ROLLOUT_GUARDRAIL_METRIC, { Variant: 'candidate' }, 0],
      [ROLLOUT_LATENCY_METRIC, { Variant: 'production' }, 'ms'],
      [ROLLOUT_ERROR_METRIC, { Variant: 'production' }, 0],
      [ROLLOUT_GUARDRAIL_METRIC, { Variant: 'production' }, 0],
    ]);
  });

  it('emits RolloutError 1 for a failed call', async () => {
    sagemakerMock.on(InvokeEndpointCommand).rejects(Object.assign(new Error('boom'), { name: 'ModelError' }));
    const emitted = singleMetrics();
    await errorOf(setup().gateway.chat(body, caller, PRODUCTION_ID));
    expect(rolloutMetrics(emitted).find((m) => m.name === ROLLOUT_ERROR_METRIC)).toMatchObject({
      value: 1,
      dimensions: { Variant: 'production' },
    });
  });

  it('emits RolloutGuardrail 1 when the output policy withheld the answer', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('secret'));
    const emitted = singleMetrics();
    const { gateway } = setup(undefined, {
      guard: {
        checkInput: async () => ({ action: 'NONE', policies: [] }),
        checkOutput: async () => ({ action: 'INTERVENED', policies: ['sensitiveInformation'] }),
      },
    });
    await gateway.chat(body, caller, CANDIDATE_ID);
    expect(rolloutMetrics(emitted).find((m) => m.name === ROLLOUT_GUARDRAIL_METRIC)).toMatchObject({
      value: 1,
      dimensions: { Variant: 'candidate' },
    });
  });

  it('emits none for a model without a canary', async () => {
    sagemakerMock.on(InvokeEndpointCommand).resolves(completion('ok'));
    const emitted = singleMetrics();
    await setup([{ ...production, canary: undefined }]).gateway.chat(body, caller, CANDIDATE_ID);
    expect(rolloutMetrics(emitted)).toEqual([]);
  });
});

describe('no capacity', () => {
  const scaledToZero = { ...production, canary: undefined };

  it('answers with the fallback model, labelled with the model it stands in for', async () => {
    sagemakerMock.on(InvokeEndpointCommand).rejects(noCapacity());
    const { gateway, records } = setup([{ ...scaledToZero, fallback: 'nova-micro' }, fallback]);
    const response = await gateway.chat(body, caller, 'req-x');
    expect(response.served).toEqual({
      model: 'nova-micro',
      variant: 'production',
      fallbackFrom: 'support-ft',
    });
    expect(response.model.id).toBe('nova-micro');
    expect(response.answer).not.toBe('');
    expect(records[0]?.model?.id).toBe('nova-micro');
    expect(records[0]?.status).toBe('ok');
    expect(sagemakerMock.commandCalls(InvokeEndpointCommand)).toHaveLength(1);
  });

  it('fails with ModelCapacityError (503, Retry-After from the config) without a fallback', async () => {
    sagemakerMock.on(InvokeEndpointCommand).rejects(noCapacity());
    const { gateway, records } = setup([scaledToZero]);
    const error = await errorOf(gateway.chat(body, caller, 'req-x'));
    expect(error).toBeInstanceOf(ModelCapacityError);
    expect(error).toMatchObject({ modelId: 'support-ft', retryAfterSeconds: 120 });
    const response = errorResponse(error, 'req-x');
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('120');
    expect(JSON.parse(String(response.body)).error.message).toContain('support-ft');
    expect(records[0]).toMatchObject({ status: 'provider_error', errorCode: 'ModelCapacityError' });
  });

  it('never falls back when told not to (an evaluation): the model evaluated answers or the call fails', async () => {
    sagemakerMock.on(InvokeEndpointCommand).rejects(noCapacity());
    const { gateway } = setup([{ ...scaledToZero, fallback: 'nova-micro' }, fallback], { fallback: false });
    expect(await errorOf(gateway.chat(body, caller, 'req-e'))).toBeInstanceOf(ModelCapacityError);
  });

  it('fails with ModelCapacityError when the fallback cannot serve the call (not a chat model)', async () => {
    sagemakerMock.on(InvokeEndpointCommand).rejects(noCapacity());
    vi.spyOn(logger, 'warn').mockImplementation(() => {});
    const embed = catalogModel('titan-embed', { kind: 'embedding' });
    const { gateway } = setup([{ ...scaledToZero, fallback: 'titan-embed' }, embed]);
    expect(await errorOf(gateway.chat(body, caller, 'req-x'))).toBeInstanceOf(ModelCapacityError);
  });

  it('refuses a stream with ModelCapacityError before any chunk, without a fallback', async () => {
    sagemakerMock.on(InvokeEndpointWithResponseStreamCommand).rejects(noCapacity());
    const { gateway } = setup([scaledToZero]);
    const error = await errorOf(gateway.chatStream({ ...body, stream: true }, caller, 'req-x'));
    expect(error).toBeInstanceOf(ModelCapacityError);
  });

  it('streams the fallback answer when the model has one', async () => {
    sagemakerMock.on(InvokeEndpointWithResponseStreamCommand).rejects(noCapacity());
    const { gateway } = setup([{ ...scaledToZero, fallback: 'nova-micro' }, fallback]);
    const chunks = await collect(await gateway.chatStream({ ...body, stream: true }, caller, 'req-x'));
    expect(chunks[0]).toMatchObject({ type: 'start', model: 'nova-micro' });
    const done = chunks.find((c): c is Extract<StreamChunk, { type: 'done' }> => c.type === 'done');
    expect(done?.response.served).toEqual({
      model: 'nova-micro',
      variant: 'production',
      fallbackFrom: 'support-ft',
    });
  });

  it('keeps other stream failures as error chunks after the start, as before', async () => {
    sagemakerMock
      .on(InvokeEndpointWithResponseStreamCommand)
      .rejects(new SageMakerValidationError({ message: 'Endpoint not found', $metadata: {} }));
    const { gateway } = setup([scaledToZero]);
    const chunks = await collect(await gateway.chatStream({ ...body, stream: true }, caller, 'req-x'));
    expect(chunks.map((c) => c.type)).toEqual(['start', 'error']);
    const failure = (chunks[1] as Extract<StreamChunk, { type: 'error' }>).error;
    expect(failure).toBeInstanceOf(ModelProviderError);
    expect(failure).not.toBeInstanceOf(ModelCapacityError);
  });

  it('keeps a non-capacity validation error a 502, as before', async () => {
    sagemakerMock
      .on(InvokeEndpointCommand)
      .rejects(new SageMakerValidationError({ message: 'Endpoint not found', $metadata: {} }));
    const error = await errorOf(setup([scaledToZero]).gateway.chat(body, caller, 'req-x'));
    expect(error).not.toBeInstanceOf(ModelCapacityError);
    expect(errorResponse(error, 'r').statusCode).toBe(502);
  });

  it('counts a candidate without capacity as a failed candidate call, then falls back', async () => {
    sagemakerMock.on(InvokeEndpointCommand).rejects(noCapacity());
    const { gateway } = setup([{ ...production, fallback: 'nova-micro' }, fallback]);
    const response = await gateway.chat(body, caller, CANDIDATE_ID);
    expect(response.served).toMatchObject({ model: 'nova-micro', fallbackFrom: 'support-ft' });
    expect(docMock.commandCalls(UpdateCommand)[0]?.args[0].input.UpdateExpression).toBe(
      'ADD #canary.#calls :one, #canary.#errors :one',
    );
  });
});

describe('validation before routing', () => {
  it('still refuses a bad request with no model call and no count', async () => {
    const error = await errorOf(
      setup().gateway.chat(
        { model: 'support-ft', messages: [{ role: 'assistant', content: 'hi' }] },
        caller,
        CANDIDATE_ID,
      ),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(sagemakerMock.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
    expect(docMock.commandCalls(UpdateCommand)).toHaveLength(0);
  });
});
