import { gunzipSync } from 'node:zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readServerSentEvents } from '#infra/local/api-demo.ts';
import { LocalRunner } from '#infra/local/runner.ts';

/**
 * The synthesized REST API served locally, called over real HTTP the way an app and an admin call it on
 * AWS: API key on app routes, the key standing in for SigV4 on admin routes, the offline model provider.
 */
const PROMPT = 'e2e-support';
const DRAFT = {
  messages: [
    { role: 'system', content: 'Answer only from this context:\n{{context}}' },
    { role: 'user', content: '{{question}}' },
  ],
  variables: { question: { type: 'string' }, context: { type: 'string' } },
  commitMessage: 'e2e: grounded support answer',
};
const VARIABLES = {
  question: 'How long can a Lambda function run?',
  context: 'A Lambda function can run for up to 15 minutes per invocation. Lambda bills by the millisecond.',
};

let stack: LocalRunner;
let url: string;
let key: string;

beforeAll(async () => {
  stack = await LocalRunner.start({ api: { port: 0 }, context: { interactionSampleRate: 1 } });
  if (!stack.api) throw new Error('The synthesized template declares no REST API');
  url = stack.api.url;
  key = stack.api.apiKey;
});
afterAll(async () => {
  await stack?.stop();
});

function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { 'x-api-key': key },
) {
  return fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe('local REST API', () => {
  it('refuses an app route without an API key (401, saying where the key goes) or with a wrong one (401)', async () => {
    const missing = await call('GET', '/v1/models', undefined, {});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    const body = (await missing.json()) as { error: { code: string; message: string; type: string } };
    expect(body.error).toMatchObject({ code: 'unauthenticated', type: 'authentication_error' });
    expect(body.error.message).toMatch(/Authorization: Bearer <key> or in the x-api-key header/);
    const wrong = await call('GET', '/v1/models', undefined, { authorization: `Bearer ${'w'.repeat(40)}` });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
  });

  it('takes the API key as Authorization: Bearer too', async () => {
    const response = await call('GET', '/v1/openapi.json', undefined, { authorization: `Bearer ${key}` });
    expect(response.status).toBe(200);
  });

  it('refuses an admin route without credentials (403)', async () => {
    const response = await call('POST', `/v1/prompts/${PROMPT}/versions`, DRAFT, {});
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: { code: expect.any(String) } });
  });

  it('creates a prompt version (201) and moves the production label to it', async () => {
    const created = await call('POST', `/v1/prompts/${PROMPT}/versions`, DRAFT);
    expect(created.status).toBe(201);
    const version = (await created.json()) as { name: string; version: number; author: string };
    expect(version).toMatchObject({
      name: PROMPT,
      version: 1,
      author: 'arn:aws:iam::000000000000:user/local-admin',
    });

    const moved = await call('PUT', `/v1/prompts/${PROMPT}/labels/production`, { version: version.version });
    expect(moved.status).toBe(200);
    expect(await moved.json()).toMatchObject({ name: PROMPT, label: 'production', version: 1 });

    const read = await call('GET', `/v1/prompts/${PROMPT}`);
    expect(read.status).toBe(200);
    const prompt = (await read.json()) as { version: number; labels: string[] };
    expect(prompt.version).toBe(1);
    expect(prompt.labels).toContain('production');
  });

  it('chats through the prompt with the offline provider, reporting usage and cost', async () => {
    const response = await call('POST', '/v1/chat', { prompt: PROMPT, variables: VARIABLES });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as {
      interactionId: string;
      answer: string;
      model: { provider: string };
      prompt: { name: string; version: number };
      usage: { inputTokens: number; outputTokens: number; costUsd: number };
    };
    expect(answer.model.provider).toBe('offline');
    expect(answer.prompt).toEqual({ name: PROMPT, version: 1 });
    expect(answer.answer).toContain('15 minutes');
    expect(answer.usage.inputTokens).toBeGreaterThan(0);
    expect(answer.usage.outputTokens).toBeGreaterThan(0);
    expect(answer.usage.costUsd).toBeGreaterThanOrEqual(0);

    // The interaction goes over EventBridge to the Firehose delivery stream, and from there to S3.
    await stack.idle();
    const delivery = stack.firehose.deliveries().at(-1);
    expect(delivery?.key).toMatch(/\.gz$/);
    if (!delivery) return;
    const object = await stack.s3.send(new GetObjectCommand({ Bucket: delivery.bucket, Key: delivery.key }));
    const records = gunzipSync(Buffer.from((await object.Body?.transformToByteArray()) ?? []))
      .toString('utf8')
      .trimEnd()
      .split('\n');
    expect(records.some((line) => line.includes(answer.interactionId))).toBe(true);
  });

  it('streams a chat as server-sent events ending with a final event that carries usage', async () => {
    const response = await call('POST', '/v1/chat', { prompt: PROMPT, variables: VARIABLES, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    if (!response.body) throw new Error('no body');
    const events: Array<{ event: string; data: string }> = [];
    for await (const event of readServerSentEvents(response.body)) events.push(event);
    expect(events.length).toBeGreaterThan(1);
    const last = events.at(-1);
    expect(last?.event).toBe('done');
    const final = JSON.parse(last?.data ?? '{}') as { usage: { inputTokens: number; costUsd: number } };
    expect(final.usage.inputTokens).toBeGreaterThan(0);
    expect(final.usage.costUsd).toEqual(expect.any(Number));
    const text = events
      .filter((e) => e.event === 'delta')
      .map((e) => (JSON.parse(e.data) as { text: string }).text)
      .join('');
    expect(text).toContain('15 minutes');
  });

  it('answers 400 naming the field of a bad body', async () => {
    const response = await call('POST', '/v1/chat', { prompt: PROMPT, temperature: 5 });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { code: 'validation_error', field: 'temperature' },
    });
  });

  it('lists the catalog (200) on the synthesized permissions, its Scan evaluated and allowed', async () => {
    const response = await call('GET', '/v1/models');
    expect(response.status).toBe(200);
    const body = (await response.json()) as { object: string; data: Array<{ id: string; object: string }> };
    expect(body.object).toBe('list');
    expect(body.data.length).toBeGreaterThan(0);
    expect(body.data[0]?.object).toBe('model');
    expect(await stack.iam?.decisions()).toContainEqual(
      expect.objectContaining({
        functionLogicalId: expect.stringMatching(/^ModelGatewayModelsFunction/),
        action: 'dynamodb:Scan',
        allowed: true,
      }),
    );
  });

  it('serves its OpenAPI document', async () => {
    const response = await call('GET', '/v1/openapi.json');
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/v1/chat', '/v1/prompts/{name}']));
  });

  it('answers an unknown route like API Gateway (403)', async () => {
    const response = await call('GET', '/v1/nothing-here');
    expect(response.status).toBe(403);
    expect(response.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
  });
});
