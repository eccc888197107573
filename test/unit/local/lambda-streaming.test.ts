import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import middy from '@middy/core';
import { executionModeStreamifyResponse } from '@middy/core/StreamifyResponse';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalLambdas } from '#infra/local/lambda-registry.ts';
import {
  type AwsLambdaGlobal,
  HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE,
  InvalidStreamingResponseError,
  installAwsLambdaGlobal,
  invokeStreaming,
  invokeStreamingRaw,
  isStreamingHandler,
  parsePrelude,
  type StreamingHandler,
} from '#infra/local/lambda-streaming.ts';

installAwsLambdaGlobal();
const awslambda = (globalThis as unknown as { awslambda: AwsLambdaGlobal }).awslambda;

const context = { functionName: 'fn', awsRequestId: 'req-1' } as unknown as Context;

type Body = (event: unknown, stream: Writable, context: Context) => Promise<void>;
const streaming = (fn: Body): StreamingHandler => awslambda.streamifyResponse(fn) as StreamingHandler;

/** A promise the test resolves, to hold a handler between two writes. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

async function collect(body: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

describe('awslambda global', () => {
  it('is installed once and marks streaming handlers the way the runtime does', () => {
    const before = (globalThis as { awslambda?: unknown }).awslambda;
    installAwsLambdaGlobal();
    expect((globalThis as { awslambda?: unknown }).awslambda).toBe(before);
    const plain = async () => undefined;
    expect(isStreamingHandler(plain)).toBe(false);
    const marked = awslambda.streamifyResponse(async () => undefined);
    expect(isStreamingHandler(marked)).toBe(true);
    expect(
      (marked as unknown as Record<symbol, unknown>)[Symbol.for('aws.lambda.runtime.handler.streaming')],
    ).toBe('response');
  });

  it('HttpResponseStream.from writes the JSON prelude, 8 NUL bytes, then the body', async () => {
    const handler = streaming(async (_event, stream) => {
      const http = awslambda.HttpResponseStream.from(stream, {
        statusCode: 201,
        headers: { 'content-type': 'text/plain' },
      });
      http.write('hello ');
      http.end('world');
    });
    const raw = await invokeStreamingRaw(handler, {}, context);
    expect(raw.contentType).toBe(HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE);
    const prelude = '{"statusCode":201,"headers":{"content-type":"text/plain"}}';
    expect(
      raw.bytes.equals(Buffer.concat([Buffer.from(prelude), Buffer.alloc(8), Buffer.from('hello world')])),
    ).toBe(true);
  });

  it('a content type cannot be set after the first write', async () => {
    const handler = streaming(async (_event, stream) => {
      stream.write('x');
      awslambda.HttpResponseStream.from(stream, { statusCode: 200 });
    });
    await expect(invokeStreamingRaw(handler, {}, context)).rejects.toThrow(
      'Cannot set content-type, too late.',
    );
  });
});

describe('invokeStreaming', () => {
  it('parses status, headers, multi-value headers and cookies from the prelude', async () => {
    const handler = streaming(async (_event, stream) => {
      const http = awslambda.HttpResponseStream.from(stream, {
        statusCode: 202,
        headers: { 'content-type': 'text/event-stream', 'x-n': 1 },
        multiValueHeaders: { 'x-mv': ['a', 'b'] },
        cookies: ['c1=blue'],
      });
      http.write('data: 1\n\n');
      http.end();
    });
    const response = await invokeStreaming(handler, {}, context);
    expect(response.statusCode).toBe(202);
    expect(response.headers).toEqual({ 'content-type': 'text/event-stream', 'x-n': '1' });
    expect(response.multiValueHeaders).toEqual({ 'x-mv': ['a', 'b'] });
    expect(response.cookies).toEqual(['c1=blue']);
    expect(await collect(response.body)).toBe('data: 1\n\n');
    await expect(response.completed).resolves.toBeUndefined();
  });

  it('hands over each chunk as soon as it is written, before the handler finishes', async () => {
    const between = gate();
    let finished = false;
    const handler = streaming(async (_event, stream) => {
      const http = awslambda.HttpResponseStream.from(stream, { statusCode: 200 });
      http.write('first');
      await between.wait;
      http.write('second');
      http.end();
      finished = true;
    });
    const response = await invokeStreaming(handler, {}, context);
    const reader = response.body[Symbol.asyncIterator]();
    const first = await reader.next();
    expect(first.value?.toString()).toBe('first');
    expect(finished).toBe(false);
    between.open();
    const second = await reader.next();
    expect(second.value?.toString()).toBe('second');
    expect((await reader.next()).done).toBe(true);
    expect(finished).toBe(true);
  });

  it('streams a middy handler in streamifyResponse mode, chunk by chunk', async () => {
    const between = gate();
    async function* events() {
      yield 'event: delta\ndata: {"text":"Hel"}\n\n';
      await between.wait;
      yield 'event: done\ndata: {"usage":{"inputTokens":3}}\n\n';
    }
    const handler = middy(
      async () => ({
        statusCode: 200,
        headers: { 'content-type': 'text/event-stream' },
        body: Readable.from(events()),
      }),
      { executionMode: executionModeStreamifyResponse },
    ) as unknown as StreamingHandler;
    expect(isStreamingHandler(handler)).toBe(true);
    const response = await invokeStreaming(handler, {}, context);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream');
    const reader = response.body[Symbol.asyncIterator]();
    expect((await reader.next()).value?.toString()).toContain('"text":"Hel"');
    between.open();
    expect(await collect({ [Symbol.asyncIterator]: () => reader })).toContain('event: done');
    await expect(response.completed).resolves.toBeUndefined();
  });

  it('streams a middy handler that returns a string body', async () => {
    const handler = middy(
      async () => ({ statusCode: 404, headers: { 'content-type': 'application/json' }, body: '{"x":1}' }),
      {
        executionMode: executionModeStreamifyResponse,
      },
    ) as unknown as StreamingHandler;
    const response = await invokeStreaming(handler, {}, context);
    expect(response.statusCode).toBe(404);
    expect(await collect(response.body)).toBe('{"x":1}');
  });

  it('rejects with the handler error when it fails before the prelude', async () => {
    class BoomError extends Error {
      override name = 'BoomError';
    }
    const handler = streaming(async () => {
      throw new BoomError('boom');
    });
    await expect(invokeStreaming(handler, {}, context)).rejects.toThrow(BoomError);
  });

  it('a failure mid-stream reaches the body reader', async () => {
    const handler = streaming(async (_event, stream) => {
      const http = awslambda.HttpResponseStream.from(stream, { statusCode: 200 });
      http.write('partial');
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('mid-stream failure');
    });
    const response = await invokeStreaming(handler, {}, context);
    await expect(collect(response.body)).rejects.toThrow('mid-stream failure');
    await expect(response.completed).rejects.toThrow('mid-stream failure');
  });

  it('refuses a stream without an HTTP prelude', async () => {
    const raw = streaming(async (_event, stream) => {
      stream.write('no prelude');
      stream.end();
    });
    await expect(invokeStreaming(raw, {}, context)).rejects.toThrow(InvalidStreamingResponseError);
    // Like the runtime, end(chunk) alone does not trigger the prelude.
    const endOnly = streaming(async (_event, stream) => {
      awslambda.HttpResponseStream.from(stream, { statusCode: 200 }).end('body');
    });
    await expect(invokeStreaming(endOnly, {}, context)).rejects.toThrow(
      /ended before its HTTP metadata prelude/,
    );
  });

  it('refuses a prelude that does not end within 16 KB', async () => {
    const handler = streaming(async (_event, stream) => {
      awslambda.HttpResponseStream.from(stream, {
        statusCode: 200,
        headers: { big: 'x'.repeat(17_000) },
      }).write('b');
      stream.end();
    });
    await expect(invokeStreaming(handler, {}, context)).rejects.toThrow(/first 16384 bytes/);
  });

  it('refuses non-streaming and non-async handlers', async () => {
    await expect(invokeStreaming((async () => ({})) as StreamingHandler, {}, context)).rejects.toThrow(
      /not a response-streaming handler/,
    );
    const sync = awslambda.streamifyResponse(() => undefined) as StreamingHandler;
    await expect(invokeStreaming(sync, {}, context)).rejects.toThrow(
      'Streaming does not support non-async handlers.',
    );
  });

  it('times out a stream that is never ended', async () => {
    const handler = streaming(async (_event, stream) => {
      awslambda.HttpResponseStream.from(stream, { statusCode: 200 }).write('open');
    });
    const response = await invokeStreaming(handler, {}, context, { timeoutMs: 50 });
    await expect(collect(response.body)).rejects.toMatchObject({ name: 'Sandbox.Timedout' });
  });

  it('parsePrelude defaults the status to 200 and validates it', () => {
    expect(parsePrelude(Buffer.from('{}')).statusCode).toBe(200);
    expect(() => parsePrelude(Buffer.from('{"statusCode":99}'))).toThrow(InvalidStreamingResponseError);
    expect(() => parsePrelude(Buffer.from('[1]'))).toThrow(/JSON object/);
    expect(() => parsePrelude(Buffer.from('{'))).toThrow(/not valid JSON/);
  });
});

describe('LocalLambdas with streaming handlers', () => {
  let root: string;
  let lambdas: LocalLambdas;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'llmops-streaming-'));
    await writeFile(
      join(root, 'stream.mjs'),
      `export const handler = awslambda.streamifyResponse(async (event, stream) => {
  const http = awslambda.HttpResponseStream.from(stream, { statusCode: 200, headers: { 'content-type': 'text/plain' } });
  http.write('you said ' + event.say);
  http.end();
});
export const plain = async () => ({ statusCode: 200, body: 'plain' });
`,
    );
    const fn = (logicalId: string, handler: string) => ({
      logicalId,
      arn: `arn:aws:lambda:us-east-1:000000000000:function:${logicalId}`,
      name: logicalId,
      entry: 'stream.mjs',
      handler,
      environment: {},
      timeoutSeconds: 3,
      memoryMb: 128,
    });
    lambdas = new LocalLambdas([fn('StreamFn', 'handler'), fn('PlainFn', 'plain')], { repoRoot: root });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('invokeWithResponseStream streams and records the invocation when the stream ends', async () => {
    const response = await lambdas.invokeWithResponseStream('StreamFn', { say: 'hi' });
    expect(response.statusCode).toBe(200);
    expect(await collect(response.body)).toBe('you said hi');
    await response.completed;
    expect(lambdas.invocations().at(-1)).toMatchObject({ logicalId: 'StreamFn', ok: true });
    await expect(lambdas.isStreaming('StreamFn')).resolves.toBe(true);
  });

  it('keeps streaming and buffered invocation apart', async () => {
    await expect(lambdas.invoke('StreamFn', {})).rejects.toThrow(/response-streaming handler/);
    await expect(lambdas.invokeWithResponseStream('PlainFn', {})).rejects.toThrow(
      /not a response-streaming handler/,
    );
    await expect(lambdas.invoke('PlainFn', {})).resolves.toEqual({ statusCode: 200, body: 'plain' });
  });
});
