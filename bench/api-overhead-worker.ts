import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { ModelGateway } from '#aws/gateway.ts';
import { apiHandler } from '#aws/http.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { PromptDraft, PromptVersion } from '#contracts/prompts/types.ts';
import { OfflineProvider } from '#core/models/offline.ts';
import { contentHash } from '#core/prompts/hash.ts';
import { renderPrompt } from '#core/prompts/template.ts';
import { installAwsLambdaGlobal } from '#infra/local/lambda-streaming.ts';
import { sized } from './options.ts';

// The chat module builds its response-streaming handler at import, as in Lambda, where `awslambda` exists.
installAwsLambdaGlobal();
const { makeHandler } = await import('#functions/api/chat.ts');

/**
 * One side of the chat-overhead benchmark, in its own process (stdout carries the EMF metrics and logs,
 * as in Lambda; the result goes to stderr). `full`: the chat handler with its middleware, prompt
 * rendering, model choice, context-window check, pricing, PII-redacted interaction record, the call
 * kept for feedback and metrics, with the registry and catalog answering from memory (a warm function's
 * caches), a recorder that drops the record and a store that drops the kept call (its PutEvents and
 * PutItem are network calls, not measured here). `bare`: a handler that parses
 * the body and only calls the same offline provider with the same rendered input.
 */
const mode = process.argv[2] as 'full' | 'bare';
const ITERATIONS = sized('BENCH_ITERATIONS', 20_000, 200);
const WARMUP = sized('BENCH_WARMUP', 2_000, 50);

const CONTEXT = Array.from(
  { length: 12 },
  (_, i) =>
    `Section ${i + 1}. Lambda scales each function by running more execution environments; reserved concurrency caps them, and provisioned concurrency keeps ${i + 5} environments initialized ahead of traffic.`,
).join(' ');

const draft: PromptDraft = {
  messages: [
    { role: 'system', content: 'You answer support questions from the context only. Context: {{context}}' },
    { role: 'user', content: 'Customer {{customer}} asks: {{question}}' },
  ],
  variables: { context: { type: 'string' }, question: { type: 'string' }, customer: { type: 'string' } },
  commitMessage: 'bench',
};
const prompt: PromptVersion = {
  ...draft,
  name: 'support-answer',
  version: 1,
  author: 'bench',
  createdAt: new Date(0).toISOString(),
  contentHash: contentHash(draft),
  labels: ['production'],
};
const models: CatalogModel[] = ['nova-micro', 'nova-lite', 'claude-haiku', 'claude-sonnet', 'llama-70b'].map(
  (id, i) => ({
    id,
    provider: 'bedrock',
    modelId: `vendor.${id}`,
    kind: 'chat',
    contextWindow: 128_000,
    maxOutputTokens: 4096,
    pricePer1kInputUsd: 0.0001 * (i + 1),
    pricePer1kOutputUsd: 0.0004 * (i + 1),
    features: ['streaming', 'systemPrompt'],
    regions: ['us-east-1'],
    status: 'active',
  }),
);
const variables = {
  context: CONTEXT,
  question: 'How many environments does provisioned concurrency keep initialized?',
  customer: 'jane.doe@example.com',
};
const body = JSON.stringify({ prompt: 'support-answer', variables });
const event = {
  resource: '/v1/chat',
  path: '/v1/chat',
  httpMethod: 'POST',
  headers: { 'content-type': 'application/json', 'x-api-key': 'k' },
  multiValueHeaders: {},
  queryStringParameters: null,
  multiValueQueryStringParameters: null,
  pathParameters: null,
  stageVariables: null,
  body,
  isBase64Encoded: false,
  requestContext: { requestId: 'bench', identity: { apiKeyId: 'key-1', userArn: null } },
} as unknown as APIGatewayProxyEvent;
const context = {
  awsRequestId: 'bench',
  functionName: 'chat',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

const provider = new OfflineProvider();
let invoke: () => Promise<unknown>;
if (mode === 'full') {
  const handler = apiHandler(
    makeHandler({
      gateway: new ModelGateway({
        prompts: { get: async () => prompt },
        catalog: {
          get: async (id) => models.find((m) => m.id === id) as CatalogModel,
          list: async () => models,
        },
        providerFor: () => provider,
        recorder: { record: async () => {} },
        // The call kept for feedback is built (hashed, sized) and dropped, as the record is.
        interactions: { put: async () => {}, get: async () => undefined, getMany: async () => new Map() },
        interactionTtlDays: 7,
        sampleRate: 1,
        timeoutMs: 30_000,
      }),
      ensureSeeded: async () => {},
    }),
    {
      appKeys: { 'key-1': 'bench' },
      // Everything allowed, no budget: the overhead measured is the gateway's, not the access checks'.
      appAccess: {
        bench: { prompts: ['*'], models: ['*'], collections: ['*'], rawChat: true, tokensPerDay: null },
      },
      maxRequestBytes: 262_144,
    },
  );
  invoke = () => handler(event, context);
} else {
  const rendered = renderPrompt(prompt, variables);
  invoke = async () => {
    const parsed = JSON.parse(event.body ?? '{}') as { prompt: string };
    const result = await provider.chat({
      modelId: parsed.prompt,
      system: rendered.system,
      messages: rendered.messages,
      maxTokens: 1024,
    });
    return { statusCode: 200, body: JSON.stringify(result) };
  };
}

for (let i = 0; i < WARMUP; i++) await invoke();
const times = new Float64Array(ITERATIONS);
for (let i = 0; i < ITERATIONS; i++) {
  const start = process.hrtime.bigint();
  await invoke();
  times[i] = Number(process.hrtime.bigint() - start) / 1e6;
}
times.sort();
const at = (q: number) => times[Math.min(ITERATIONS - 1, Math.floor(q * ITERATIONS))] ?? Number.NaN;
process.stderr.write(`${JSON.stringify({ mode, p50: at(0.5), p99: at(0.99), iterations: ITERATIONS })}\n`);
