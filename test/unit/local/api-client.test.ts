import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiCallError, LocalApiClient, type RetryNotice } from '#infra/local/api-client.ts';

/**
 * A real HTTP server on 127.0.0.1 whose answers each test scripts: a queue of responses, the last one
 * repeated once the queue is empty.
 */
interface Scripted {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

let server: Server;
let url: string;
let script: Scripted[] = [];
let requests: Array<{ method: string; url: string; key: string | undefined; body: string }> = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        key: req.headers['x-api-key'] as string,
        body,
      });
      const next = (script.length > 1 ? script.shift() : script[0]) ?? { status: 200, body: {} };
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(JSON.stringify(next.body ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  script = [];
  requests = [];
});

const THROTTLED = { status: 429, body: { error: { code: 'throttled', message: 'Too many requests' } } };
const OK = { status: 200, body: { answer: 'yes' } };

/** A client whose waits are recorded instead of slept, with a fixed jitter draw. */
function recordingClient(random: number, retry: { maxAttempts?: number; maxDelayMs?: number } = {}) {
  const waits: number[] = [];
  const notices: RetryNotice[] = [];
  const client = new LocalApiClient({
    url,
    apiKey: 'k'.repeat(24),
    retry: {
      baseDelayMs: 100,
      ...retry,
      random: () => random,
      sleep: async (ms) => {
        waits.push(ms);
      },
    },
    onRetry: (notice) => notices.push(notice),
  });
  return { client, waits, notices };
}

describe('LocalApiClient', () => {
  it('sends the API key and JSON body, and parses the JSON answer', async () => {
    script = [OK];
    const { client } = recordingClient(0);
    await expect(client.call('POST /v1/chat', 'POST', '/v1/chat', { q: 1 })).resolves.toEqual({
      answer: 'yes',
    });
    expect(requests).toEqual([{ method: 'POST', url: '/v1/chat', key: 'k'.repeat(24), body: '{"q":1}' }]);
  });

  it('waits at least what Retry-After asks after a 429, then succeeds', async () => {
    script = [
      { ...THROTTLED, headers: { 'retry-after': '1' } },
      { ...THROTTLED, headers: { 'retry-after': '1' } },
      OK,
    ];
    const { client, waits, notices } = recordingClient(0);
    await expect(client.call('POST /v1/chat', 'POST', '/v1/chat', {})).resolves.toEqual({ answer: 'yes' });
    expect(requests).toHaveLength(3);
    expect(waits).toEqual([1000, 1000]);
    expect(notices.map((n) => [n.status, n.attempt, n.waitMs])).toEqual([
      [429, 1, 1000],
      [429, 2, 1000],
    ]);
  });

  it('backs off exponentially with full jitter after a 429 without Retry-After', async () => {
    script = [THROTTLED, THROTTLED, THROTTLED, OK];
    const { client, waits } = recordingClient(0.5);
    await client.call('GET /v1/models', 'GET', '/v1/models');
    expect(requests).toHaveLength(4);
    // Ceilings 100, 200, 400 ms; the jitter draw 0.5 takes half of each.
    expect(waits).toEqual([50, 100, 200]);
  });

  it('honours a Retry-After HTTP date', async () => {
    const at = new Date(Date.now() + 3000).toUTCString();
    script = [{ ...THROTTLED, headers: { 'retry-after': at } }, OK];
    const { client, waits } = recordingClient(0);
    await client.call('GET /v1/models', 'GET', '/v1/models');
    expect(waits).toHaveLength(1);
    // The date has whole seconds: between 2 and 3 seconds from when it was read.
    expect(waits[0]).toBeGreaterThan(0);
    expect(waits[0]).toBeLessThanOrEqual(3000);
  });

  it('caps a single wait at maxDelayMs, whatever Retry-After asks', async () => {
    script = [{ ...THROTTLED, headers: { 'retry-after': '3600' } }, OK];
    const { client, waits } = recordingClient(0.99, { maxDelayMs: 2000 });
    await client.call('GET /v1/models', 'GET', '/v1/models');
    expect(waits).toEqual([2000]);
  });

  it('retries a 503 as it retries a 429', async () => {
    script = [{ status: 503, headers: { 'retry-after': '2' }, body: { message: 'Service Unavailable' } }, OK];
    const { client, waits } = recordingClient(0);
    await expect(client.call('GET /v1/models', 'GET', '/v1/models')).resolves.toEqual({ answer: 'yes' });
    expect(waits).toEqual([2000]);
  });

  it('gives up after maxAttempts with an ApiCallError that names the status and the attempts', async () => {
    script = [THROTTLED];
    const { client, waits } = recordingClient(0, { maxAttempts: 4 });
    const error = await client.call('POST /v1/chat (rag)', 'POST', '/v1/chat', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiCallError);
    expect(error).toMatchObject({ name: 'ApiCallError', status: 429, attempts: 4 });
    expect((error as Error).message).toMatch(/^POST \/v1\/chat \(rag\) answered 429 after 4 attempts: /);
    expect(requests).toHaveLength(4);
    expect(waits).toHaveLength(3);
  });

  it('does not retry a used-up quota or other errors', async () => {
    script = [{ status: 429, body: { error: { code: 'quota_exceeded', message: 'resets at 00:00 UTC' } } }];
    const quota = recordingClient(0);
    await expect(quota.client.call('GET /v1/models', 'GET', '/v1/models')).rejects.toMatchObject({
      status: 429,
      attempts: 1,
      message: expect.stringContaining('quota_exceeded'),
    });
    expect(quota.waits).toEqual([]);
    script = [{ status: 500, body: { message: 'Internal server error' } }];
    const failed = recordingClient(0);
    await expect(failed.client.call('GET /v1/models', 'GET', '/v1/models')).rejects.toMatchObject({
      status: 500,
      attempts: 1,
    });
    expect(requests).toHaveLength(2);
  });

  it('rides out a throttle with real waits', async () => {
    script = [THROTTLED, THROTTLED, { ...THROTTLED, headers: { 'retry-after': '0' } }, OK];
    const client = new LocalApiClient({ url, apiKey: 'k'.repeat(24), retry: { baseDelayMs: 5 } });
    await expect(client.call('GET /v1/models', 'GET', '/v1/models')).resolves.toEqual({ answer: 'yes' });
    expect(requests).toHaveLength(4);
  });
});
