import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV } from '#infra/config/profiles.ts';
import { LocalApi } from '#infra/local/api/server.ts';
import { ingestFolder, LOCAL_MIN_SCORE } from '#infra/local/rag-demo.ts';
import { LocalRunner } from '#infra/local/runner.ts';

/**
 * The official OpenAI client against the synthesized REST API served locally (offline model provider):
 * `baseURL` is the API's `/v1`, and the API key goes as the client sends it, `Authorization: Bearer`.
 * Two apps: the profile's `default`, and `metered`, whose daily token budget one answer spends (its key
 * served by a second local API over the same template and functions).
 */
const PROMPT = 'openai-e2e';
const CONTEXT =
  'A Lambda function can run for up to 15 minutes per invocation. Lambda bills by the millisecond.';
const QUESTION = 'How long can a Lambda function run?';
const DOCUMENT = [
  '# Lambda timeouts',
  '',
  'A Lambda function can run for up to 15 minutes per invocation; set the timeout in the function configuration.',
  '',
  '# Lambda billing',
  '',
  'Lambda bills by the millisecond of duration, rounded up, and by the number of requests.',
].join('\n');

/** The dev profile's apps, and one with a budget of one token a UTC day. */
const METERED = 'metered';
const APPS = [
  ...DEV.api.apps,
  {
    name: METERED,
    rateLimit: 10,
    burstLimit: 20,
    quotaPerDay: 1_000,
    access: { prompts: ['*'], models: ['*'], collections: ['*'], rawChat: true, tokensPerDay: 1 },
  },
];

let stack: LocalRunner;
let url: string;
let key: string;
let client: OpenAI;
let corpus: string;
let meteredApi: LocalApi;
let metered: OpenAI;

/** An admin call (the API key stands in for SigV4 locally), to set up a prompt. */
async function admin(method: string, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify(body),
  });
  if (response.status >= 300)
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
}

beforeAll(async () => {
  stack = await LocalRunner.start({
    api: { port: 0, appName: 'default' },
    context: { interactionSampleRate: 1, apiApps: JSON.stringify(APPS) },
  });
  if (!stack.api) throw new Error('The synthesized template declares no REST API');
  url = stack.api.url;
  key = stack.api.apiKey;
  client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
  meteredApi = await LocalApi.start({
    template: stack.template,
    lambdas: stack.lambdas,
    port: 0,
    appName: METERED,
    accessLog: () => undefined,
  });
  metered = new OpenAI({ apiKey: meteredApi.apiKey, baseURL: `${meteredApi.url}/v1`, maxRetries: 0 });
  await admin('POST', `/v1/prompts/${PROMPT}/versions`, {
    messages: [
      { role: 'system', content: 'Answer only from this context:\n{{context}}' },
      { role: 'user', content: '{{question}}' },
    ],
    variables: { question: { type: 'string' }, context: { type: 'string' } },
    commitMessage: 'e2e: OpenAI client',
  });
  await admin('PUT', `/v1/prompts/${PROMPT}/labels/production`, { version: 1 });
  corpus = mkdtempSync(join(tmpdir(), 'openai-e2e-'));
  writeFileSync(join(corpus, 'lambda-limits.md'), DOCUMENT);
  const ingested = await ingestFolder(stack, corpus);
  if (ingested.indexed !== 1) throw new Error(`ingestion failed: ${JSON.stringify(ingested)}`);
});
afterAll(async () => {
  await meteredApi?.stop();
  await stack?.stop();
  if (corpus) rmSync(corpus, { recursive: true, force: true });
});

/** The `llmops` extension of an answer (the official types do not know it). */
interface LlmopsAnswer {
  interactionId: string;
  costUsd: number;
  prompt: { name: string; version: number } | null;
  citations?: Array<{ n: number; docId: string }>;
}
const llmopsOf = (value: unknown) => (value as { llmops: LlmopsAnswer }).llmops;

/** A request with the `llmops` extra body field, which the client sends as it is. */
const withLlmops = (params: ChatCompletionCreateParamsNonStreaming & { llmops: unknown }) =>
  params as ChatCompletionCreateParamsNonStreaming;

describe('the official OpenAI client against the local API', () => {
  it('chats: system instructions and a question, answered with usage and the llmops extension', async () => {
    const completion = await client.chat.completions.create({
      model: 'nova-micro',
      messages: [
        { role: 'system', content: CONTEXT },
        { role: 'user', content: QUESTION },
      ],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.model).toBe('nova-micro');
    expect(completion.choices[0]?.message.content).toContain('15 minutes');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(completion.usage?.total_tokens).toBe(
      (completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0),
    );
    expect(llmopsOf(completion)).toMatchObject({ prompt: null, costUsd: expect.any(Number) });
    expect(completion.id).toBe(`chatcmpl-${llmopsOf(completion).interactionId}`);
  });

  it('streams: deltas that make up the answer, then a last chunk with the usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'nova-micro',
      messages: [
        { role: 'developer', content: CONTEXT },
        { role: 'user', content: QUESTION },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const chunks = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toContain('15 minutes');
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.some((c) => c.choices[0]?.finish_reason === 'stop')).toBe(true);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('renders a versioned prompt named in the llmops extra field', async () => {
    const completion = await client.chat.completions.create(
      withLlmops({
        model: 'nova-micro',
        messages: [],
        llmops: { prompt: `${PROMPT}@production`, variables: { question: QUESTION, context: CONTEXT } },
      }),
    );
    expect(completion.choices[0]?.message.content).toContain('15 minutes');
    expect(llmopsOf(completion).prompt).toEqual({ name: PROMPT, version: 1 });
  });

  it('answers from the indexed documents with llmops.rag, citing them', async () => {
    const completion = await client.chat.completions.create(
      withLlmops({
        model: 'nova-micro',
        messages: [{ role: 'user', content: QUESTION }],
        llmops: { rag: { k: 3, minScore: LOCAL_MIN_SCORE } },
      }),
    );
    expect(completion.choices[0]?.message.content).toContain('15 minutes');
    expect(llmopsOf(completion).citations?.map((c) => c.docId)).toContain('lambda-limits.md');
  });

  it('embeds texts with a catalog embedding model (base64 on the wire, as the client asks)', async () => {
    const response = await client.embeddings.create({
      model: 'titan-embed-text-v2',
      input: ['refund policy', 'shipping times'],
    });
    expect(response.object).toBe('list');
    expect(response.data.map((d) => d.index)).toEqual([0, 1]);
    expect(response.data[0]?.embedding).toHaveLength(1024);
    expect(response.usage.prompt_tokens).toBeGreaterThan(0);
    const floats = await client.embeddings.create({
      model: 'titan-embed-text-v2',
      input: 'refund policy',
      encoding_format: 'float',
      dimensions: 256,
    });
    expect(floats.data[0]?.embedding).toHaveLength(256);
  });

  it('lists the catalog with models.list(), every entry an OpenAI model carrying its catalog fields', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      expect(model.object).toBe('model');
      expect(model.owned_by).toEqual(expect.any(String));
      expect((model as unknown as { kind: string }).kind).toMatch(/^(chat|embedding)$/);
      ids.push(model.id);
    }
    expect(ids).toEqual(expect.arrayContaining(['nova-micro', 'titan-embed-text-v2']));
  });

  it('refuses a wrong key with 401 (AuthenticationError)', async () => {
    const stranger = new OpenAI({
      apiKey: 'not-a-key-of-this-api-0000',
      baseURL: `${url}/v1`,
      maxRetries: 0,
    });
    const error = await stranger.models.list().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).status).toBe(401);
  });

  it('refuses a model the catalog does not have, with the catalog message', async () => {
    const error = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: QUESTION }] })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error instanceof OpenAI.NotFoundError || error instanceof OpenAI.BadRequestError).toBe(true);
    expect((error as Error).message).toContain('Model gpt-4o is not in the catalog');
  });

  it('refuses an app over its daily token budget with RateLimitError 429 token_budget_exceeded and Retry-After', async () => {
    // The first answer of the day is admitted (nothing spent yet) and spends more than the one token.
    const first = await metered.chat.completions.create({
      model: 'nova-micro',
      messages: [{ role: 'user', content: QUESTION }],
    });
    expect(first.usage?.total_tokens).toBeGreaterThan(1);
    const refused = async (call: Promise<unknown>) => {
      const error = await call.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      return error as InstanceType<typeof OpenAI.RateLimitError>;
    };
    const error = await refused(
      metered.chat.completions.create({
        model: 'nova-micro',
        messages: [{ role: 'user', content: QUESTION }],
      }),
    );
    expect(error.status).toBe(429);
    expect(error.code).toBe('token_budget_exceeded');
    // OpenAI's error object: `{error: {message, type, param, code}}`; a spent budget is its insufficient_quota.
    expect(error.type).toBe('insufficient_quota');
    expect(error.param).toBeNull();
    expect(error.error).toMatchObject({
      code: 'token_budget_exceeded',
      type: 'insufficient_quota',
      param: null,
      message: expect.stringContaining(`app "${METERED}" has spent its daily token budget`),
    });
    expect(error.message).toContain('renews at 00:00 UTC');
    // Seconds until 00:00 UTC: at least 1, at most a day.
    const retryAfter = Number(error.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    // A streamed call is refused the same way, before any chunk; so are embeddings.
    const streamed = await refused(
      metered.chat.completions.create({
        model: 'nova-micro',
        messages: [{ role: 'user', content: QUESTION }],
        stream: true,
      }),
    );
    expect(streamed.code).toBe('token_budget_exceeded');
    const embeddings = await refused(
      metered.embeddings.create({ model: 'titan-embed-text-v2', input: 'refunds' }),
    );
    expect(embeddings.code).toBe('token_budget_exceeded');
    // The other app's budget is its own.
    const other = await client.chat.completions.create({
      model: 'nova-micro',
      messages: [{ role: 'user', content: QUESTION }],
    });
    expect(other.choices[0]?.finish_reason).toBe('stop');
  });
});
