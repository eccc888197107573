// The API functions' environment, set before their handler modules are imported (they read it at import).
import '../support/env/api.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelGateway } from '#aws/gateway.ts';
import { apiHandler } from '#aws/http.ts';
import { ModelCatalog, parseSeed, seedOnce } from '#aws/model-catalog.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import { chatResponse } from '#contracts/http/schemas.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { interactionRecordedDetail } from '#events/interaction-recorded.ts';
import { makeHandler as makeChat } from '#functions/api/chat.ts';
import { makeHandler as makePrompts } from '#functions/api/prompts.ts';
import { type Emulators, startEmulators } from '#infra/local/emulators.ts';
import { runAsCaller } from '#infra/local/iam/caller.ts';
import { LocalIam } from '#infra/local/iam/evaluator.ts';
import { invokeStreaming, type StreamingHandler } from '#infra/local/lambda-streaming.ts';
import { FULL_ACCESS } from '../support/app-access.ts';
import { evaluatedClients, synthesizedStack } from '../support/as-function.ts';

/**
 * The chat and prompt handlers end to end on dynalite: real registry and catalog (seeded from the dev
 * profile's configuration, as the template gives it to the chat function), the offline provider, the
 * response-streaming handler run as Lambda runs it. Each handler runs as its function of the synthesized
 * stack, on the tables the template declares: every SDK call it makes (the catalog Scan of automatic
 * model selection included) is evaluated against that function's role and fails with AccessDenied where
 * the role does not allow it, as on AWS.
 */
const stack = synthesizedStack();
const chatFunction = stack.fn('functions/api/chat.ts');
const promptsFunction = stack.fn('functions/api/prompts.ts');
const catalogArn = `arn:aws:dynamodb:${stack.template.region}:${stack.template.account}:table/${chatFunction.environment.CATALOG_TABLE}`;
let emulators: Emulators;
let dynamo: DynamoDBClient;
const records: InteractionRecordedDetail[] = [];
let chat: StreamingHandler;
let prompts: ReturnType<typeof apiHandler>;

const context = {
  awsRequestId: 'ctx',
  functionName: 'fn',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

function event(
  method: string,
  resource: string,
  body: unknown,
  options: { admin?: boolean; path?: Record<string, string> } = {},
) {
  return {
    resource,
    path: resource,
    httpMethod: method,
    headers: { 'x-tenant-id': 'acme' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: options.path ?? null,
    stageVariables: null,
    body: JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: {
      requestId: `req-${records.length}`,
      identity: options.admin
        ? { userArn: 'arn:aws:iam::000000000000:user/admin', apiKeyId: null }
        : { userArn: null, apiKeyId: 'key-web' },
    },
  } as unknown as APIGatewayProxyEvent;
}

async function text(body: AsyncIterable<Buffer>): Promise<string> {
  let out = '';
  for await (const chunk of body) out += chunk.toString('utf8');
  return out;
}

/** A chat request, answered and read to its end as the chat function. */
function ask(request: APIGatewayProxyEvent): Promise<{ statusCode: number; body: string }> {
  return chatFunction.run(async () => {
    const response = await invokeStreaming(chat, request, context);
    return { statusCode: response.statusCode, body: await text(response.body) };
  });
}

/** A prompt registry request, as the prompts function. */
function prompt(request: APIGatewayProxyEvent) {
  return promptsFunction.run(() => prompts(request, context));
}

beforeAll(async () => {
  emulators = await startEmulators();
  await stack.provision(emulators);
  ({ dynamo } = evaluatedClients(emulators));
  const doc = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
  // The chat function reads the tables the prompts function writes.
  expect(promptsFunction.environment.PROMPTS_TABLE).toBe(chatFunction.environment.PROMPTS_TABLE);
  const registry = new PromptRegistry(doc, chatFunction.environment.PROMPTS_TABLE ?? '');
  const catalog = new ModelCatalog(doc, chatFunction.environment.CATALOG_TABLE ?? '');
  // A larger body limit than the API's, so that one request can exceed a 128k-token context window.
  const options = {
    appKeys: { 'key-web': 'web' },
    appAccess: { web: FULL_ACCESS },
    maxRequestBytes: 2_000_000,
  };
  chat = apiHandler(
    makeChat({
      gateway: new ModelGateway({
        prompts: registry,
        catalog,
        providerFor: createProviderRouter({ mode: 'offline' }),
        recorder: { record: async (detail) => void records.push(interactionRecordedDetail.parse(detail)) },
        guardrail: { id: 'gr', version: '1' },
        sampleRate: 1,
        timeoutMs: 10_000,
      }),
      // As the chat function seeds at cold start: the entries the catalog lacks, with conditional puts.
      ensureSeeded: seedOnce(catalog, parseSeed(chatFunction.environment.CATALOG_SEED ?? '[]'), {
        mode: 'insert',
      }),
    }),
    { ...options, streaming: true },
  ) as unknown as StreamingHandler;
  prompts = apiHandler(makePrompts({ registry }), options);
});

afterEach(async () => {
  // Also a denial that a handler turns into an error response, or swallows (the best-effort seed).
  expect((await stack.iam.decisions()).filter((d) => !d.allowed)).toEqual([]);
});

afterAll(async () => {
  dynamo?.destroy();
  await emulators?.stop();
});

const draft = {
  messages: [
    { role: 'system', content: 'Answer from this context only:\n{{context}}' },
    { role: 'user', content: '{{question}}' },
  ],
  variables: { context: { type: 'string' }, question: { type: 'string' } },
  commitMessage: 'first',
};
const variables = {
  context:
    'Functions can run for up to 15 minutes. Memory ranges from 128 MB to 10,240 MB. Write to ops@example.com for quota raises.',
  question: 'How much memory can a function have?',
};

describe('chat on dynalite with the offline provider', () => {
  it('creates a prompt, labels it, and answers through its production label with usage and cost', async () => {
    const created = await prompt(
      event('POST', '/v1/prompts/{name}/versions', draft, { admin: true, path: { name: 'support' } }),
    );
    expect(created.statusCode).toBe(201);
    const moved = await prompt(
      event(
        'PUT',
        '/v1/prompts/{name}/labels/{label}',
        { version: 1 },
        { admin: true, path: { name: 'support', label: 'production' } },
      ),
    );
    expect(moved.statusCode).toBe(200);

    const response = await ask(event('POST', '/v1/chat', { prompt: 'support', variables }));
    expect(response.statusCode).toBe(200);
    const body = chatResponse.parse(JSON.parse(response.body));
    expect(body.answer).toContain('128 MB to 10,240 MB');
    expect(body.model.provider).toBe('offline');
    // The cheapest active chat model of the dev catalog, chosen from a Scan the chat role allows.
    expect(body.model.id).toBe('nova-micro');
    expect(await stack.iam.decisions()).toContainEqual(
      expect.objectContaining({
        functionLogicalId: chatFunction.logicalId,
        action: 'dynamodb:Scan',
        resource: catalogArn,
        allowed: true,
      }),
    );
    expect(body.prompt).toEqual({ name: 'support', version: 1 });
    expect(body.usage.costUsd).toBeGreaterThan(0);

    const record = records.at(-1);
    expect(record).toMatchObject({
      interactionId: body.interactionId,
      app: 'web',
      tenant: 'acme',
      status: 'ok',
    });
    expect(JSON.stringify(record?.payload)).not.toContain('ops@example.com');
  });

  it('streams the same answer as server-sent events', async () => {
    const response = await ask(
      event('POST', '/v1/chat', { prompt: 'support@production', variables, stream: true }),
    );
    const events = response.body.trim().split('\n\n');
    const done = events.at(-1) ?? '';
    expect(done.startsWith('event: done')).toBe(true);
    const final = chatResponse.parse(JSON.parse(done.slice(done.indexOf('data: ') + 6)));
    const deltas = events
      .filter((e) => e.startsWith('event: delta'))
      .map((e) => (JSON.parse(e.slice(e.indexOf('data: ') + 6)) as { text: string }).text)
      .join('');
    expect(deltas).toBe(final.answer);
  });

  it('refuses what cannot fit, an unknown label and a missing variable with 4xx bodies naming the problem', async () => {
    const huge = await ask(
      event('POST', '/v1/chat', {
        prompt: 'support:1',
        model: 'nova-micro',
        variables: { ...variables, context: 'token '.repeat(130_000) },
      }),
    );
    expect(huge.statusCode).toBe(400);
    expect(JSON.parse(huge.body).error).toMatchObject({
      code: 'context_window_exceeded',
      field: 'messages',
    });
    const staging = await ask(event('POST', '/v1/chat', { prompt: 'support@staging', variables }));
    expect(staging.statusCode).toBe(404);
    const missing = await ask(event('POST', '/v1/chat', { prompt: 'support', variables: { question: 'x' } }));
    expect(JSON.parse(missing.body).error).toMatchObject({
      code: 'prompt_render_error',
      field: 'variables.context',
    });
    expect(records.at(-1)?.status).toBe('client_error');
  });

  it('fails the same catalog Scan with AccessDenied as a function whose role does not allow it', async () => {
    const catalog = new ModelCatalog(
      DynamoDBDocumentClient.from(dynamo),
      chatFunction.environment.CATALOG_TABLE ?? '',
    );
    // Its own evaluator, so that this denial stays out of the decisions the other tests check.
    const denied = await runAsCaller(
      { logicalId: promptsFunction.logicalId, functionName: promptsFunction.name },
      new LocalIam(stack.template),
      () => catalog.list(),
    ).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(denied).toMatchObject({
      name: 'AccessDeniedException',
      action: 'dynamodb:Scan',
      resource: catalogArn,
      functionLogicalId: promptsFunction.logicalId,
    });
  });
});
