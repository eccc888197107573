/**
 * Lambda response streaming, locally. On Lambda the Node.js runtime puts an `awslambda` global in every
 * function's process, with `streamifyResponse(handler)` (marks a handler as a response-streaming one) and
 * `HttpResponseStream.from(stream, prelude)` (the `application/vnd.awslambda.http-integration-response`
 * content type that API Gateway and function URLs read). Handler modules, and `@middy/core` with its
 * streamify execution mode, use that global at import time, so {@link installAwsLambdaGlobal} must run
 * before any handler module is imported.
 *
 * The shim follows the runtime interface client (aws-lambda-nodejs-runtime-interface-client): the same
 * handler marker symbol; a response stream whose content type can only be set before the first write,
 * that JSON-encodes chunks that are not strings or bytes, and that runs `_onBeforeFirstWrite` on its first
 * `write()` (not on `end(chunk)`); `HttpResponseStream.from` writes the JSON prelude followed by 8 NUL
 * bytes before the first chunk. {@link invokeStreaming} plays API Gateway's part: it reads the prelude
 * (which must arrive within the first 16 KB) and hands back the status, headers and the body as it is
 * written.
 */
import { Writable } from 'node:stream';
import type { Context } from 'aws-lambda';

/** The content type of the HTTP integration response format. */
export const HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
/** Default content type of a response stream. */
export const DEFAULT_STREAM_CONTENT_TYPE = 'application/octet-stream';
/** Number of NUL bytes between the JSON prelude and the body. */
export const PRELUDE_DELIMITER_LENGTH = 8;
/** API Gateway reads the metadata prelude only from the first 16 KB of the stream. */
export const MAX_PRELUDE_BYTES = 16 * 1024;

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';
const DELIMITER = Buffer.alloc(PRELUDE_DELIMITER_LENGTH);

/** The runtime's error for a misuse of the response stream (e.g. a content type set too late). */
export class InvalidStreamingOperation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Runtime.InvalidStreamingOperation';
  }
}

/**
 * The stream did not carry a valid HTTP integration response: no prelude, a prelude that is not a JSON
 * object, or one that does not end within the first 16 KB. API Gateway answers such a response with 502.
 */
export class InvalidStreamingResponseError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidStreamingResponseError';
  }
}

/** The handler resolved, but never ended its response stream (the runtime reports this too). */
export class StreamNotFinishedError extends Error {
  constructor() {
    super('Response stream is not finished.');
    this.name = 'Runtime.StreamNotFinished';
  }
}

/** A streaming handler: `(event, responseStream, context) => Promise<void>`. */
export type StreamingHandler = (event: unknown, responseStream: Writable, context: Context) => unknown;

/** What `awslambda` offers handler modules. */
export interface AwsLambdaGlobal {
  streamifyResponse<T extends (...args: never[]) => unknown>(
    handler: T,
    options?: { readonly highWaterMark?: number },
  ): T;
  readonly HttpResponseStream: {
    from(stream: Writable, prelude: Record<string, unknown>): Writable;
  };
}

/** The HTTP metadata written ahead of the body (`HttpResponseStream.from`'s `prelude`). */
export interface HttpResponsePrelude {
  readonly statusCode?: number;
  readonly headers?: Record<string, string>;
  readonly multiValueHeaders?: Record<string, string[]>;
  readonly cookies?: string[];
}

/** A streamed HTTP response, as API Gateway sees it once the prelude has arrived. */
export interface StreamedHttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly multiValueHeaders: Readonly<Record<string, readonly string[]>>;
  readonly cookies: readonly string[];
  /** The body, chunk by chunk as the handler writes it. Throws the handler's error if it fails mid-stream. */
  readonly body: AsyncIterable<Buffer>;
  /** Settles when the handler has returned and its stream has ended; rejects with the handler's error. */
  readonly completed: Promise<void>;
}

/** Options of {@link invokeStreaming}. */
export interface InvokeStreamingOptions {
  /** Milliseconds the invocation may run (handler and stream together) before it fails. */
  readonly timeoutMs?: number;
  /** The error reported when `timeoutMs` passes. @default an Error named `Sandbox.Timedout` */
  readonly timeoutError?: () => Error;
}

const handlers: AwsLambdaGlobal = {
  streamifyResponse(handler, options) {
    const marked = handler as unknown as Record<symbol, unknown>;
    marked[HANDLER_STREAMING] = STREAM_RESPONSE;
    if (typeof options?.highWaterMark === 'number') {
      marked[HANDLER_HIGHWATERMARK] = Math.trunc(options.highWaterMark);
    }
    return handler;
  },
  HttpResponseStream: {
    from(stream, prelude) {
      const target = stream as LocalResponseStream;
      target.setContentType(HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE);
      // JSON.stringify never emits a NUL byte, so the first 8 NULs always end the prelude.
      const metadata = JSON.stringify(prelude);
      target._onBeforeFirstWrite = (write) => {
        write(metadata);
        write(new Uint8Array(PRELUDE_DELIMITER_LENGTH));
      };
      return stream;
    },
  },
};

/**
 * Puts the `awslambda` global in place, as the Lambda runtime does. Idempotent; members already there
 * (the real runtime's) are left alone.
 */
export function installAwsLambdaGlobal(): void {
  // `@aws/lambda-invoke-store` (loaded by Powertools) may already have created `awslambda` with only its
  // `InvokeStore`: fill in what is missing, member by member, and never replace the runtime's own.
  const scope = globalThis as { awslambda?: Record<string, unknown> };
  scope.awslambda ??= {};
  scope.awslambda.streamifyResponse ??= handlers.streamifyResponse;
  scope.awslambda.HttpResponseStream ??= handlers.HttpResponseStream;
}

/** Whether `handler` was wrapped with `awslambda.streamifyResponse`. */
export function isStreamingHandler(handler: unknown): boolean {
  return (
    typeof handler === 'function' &&
    (handler as unknown as Record<symbol, unknown>)[HANDLER_STREAMING] === STREAM_RESPONSE
  );
}

type Chunk = string | Buffer | Uint8Array;

/** Single-reader queue of written bytes, with end-of-stream and failure. */
class ByteQueue {
  readonly #chunks: Buffer[] = [];
  #contentType: string | undefined;
  #ended = false;
  #error: unknown;
  #failed = false;
  #wake: (() => void) | undefined;

  push(contentType: string, chunk: Buffer): void {
    if (this.#ended || this.#failed) return;
    this.#contentType ??= contentType;
    this.#chunks.push(chunk);
    this.#notify();
  }

  end(contentType: string): void {
    this.#contentType ??= contentType;
    this.#ended = true;
    this.#notify();
  }

  fail(error: unknown): void {
    if (this.#ended || this.#failed) return;
    this.#failed = true;
    this.#error = error;
    this.#notify();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Content type at the time of the first byte (or of the end, for an empty stream). */
  get contentType(): string | undefined {
    return this.#contentType;
  }

  /** The next chunk, or undefined at the end. Throws the failure, once the chunks before it are read. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk !== undefined) return chunk;
      if (this.#failed) throw this.#error;
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/**
 * The response stream handed to a streaming handler. Bytes are queued for the reader as they are written;
 * the reader sees every write as it happens (no buffering until the end).
 */
class LocalResponseStream extends Writable {
  /** Set by `HttpResponseStream.from`: writes the prelude before the first chunk. */
  _onBeforeFirstWrite: ((write: (chunk: Chunk) => void) => void) | undefined;
  #contentType = DEFAULT_STREAM_CONTENT_TYPE;
  #written = false;
  readonly #queue: ByteQueue;

  constructor(queue: ByteQueue, highWaterMark?: number) {
    super(highWaterMark === undefined ? {} : { highWaterMark });
    this.#queue = queue;
  }

  /** The content type of the stream (`application/octet-stream` unless set before the first write). */
  get contentType(): string {
    return this.#contentType;
  }

  setContentType(contentType: string): void {
    if (this.#written) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    this.#contentType = contentType;
  }

  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const data: unknown =
      typeof chunk === 'string' || Buffer.isBuffer(chunk) || chunk instanceof Uint8Array
        ? chunk
        : JSON.stringify(chunk);
    if (!this.#written && typeof this._onBeforeFirstWrite === 'function') {
      this._onBeforeFirstWrite((early) => {
        super.write(early);
      });
    }
    this.#written = true;
    return super.write(
      data,
      encoding as BufferEncoding,
      callback as ((error: Error | null | undefined) => void) | undefined,
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#queue.push(this.#contentType, chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#queue.end(this.#contentType);
    callback();
  }
}

function timeoutError(ms: number): Error {
  const error = new Error(`Task timed out after ${(ms / 1000).toFixed(2)} seconds`);
  error.name = 'Sandbox.Timedout';
  return error;
}

/**
 * Invokes a response-streaming handler the way API Gateway does for a `STREAM` Lambda proxy integration:
 * resolves once the HTTP prelude has been read, with the body still streaming. Rejects when the handler
 * fails (or the invocation times out) before the prelude, or when the stream does not start with a valid
 * prelude ({@link InvalidStreamingResponseError}).
 */
export async function invokeStreaming(
  handler: StreamingHandler,
  event: unknown,
  context: Context,
  options: InvokeStreamingOptions = {},
): Promise<StreamedHttpResponse> {
  const { queue, completed } = start(handler, event, context, options);
  const prelude = await readPrelude(queue);
  return { ...prelude.metadata, body: drain(prelude.rest, queue), completed };
}

function start(
  handler: StreamingHandler,
  event: unknown,
  context: Context,
  options: InvokeStreamingOptions,
): { queue: ByteQueue; completed: Promise<void> } {
  if (!isStreamingHandler(handler)) {
    throw new InvalidStreamingResponseError(
      'The handler is not a response-streaming handler (wrap it with awslambda.streamifyResponse)',
    );
  }
  const queue = new ByteQueue();
  const highWaterMark = (handler as unknown as Record<symbol, unknown>)[HANDLER_HIGHWATERMARK];
  const stream = new LocalResponseStream(
    queue,
    typeof highWaterMark === 'number' ? highWaterMark : undefined,
  );
  stream.on('error', (error) => queue.fail(error));

  let timer: NodeJS.Timeout | undefined;
  const completed = new Promise<void>((resolve, reject) => {
    const fail = (error: unknown) => {
      queue.fail(error);
      reject(error);
    };
    if (options.timeoutMs !== undefined) {
      const ms = options.timeoutMs;
      timer = setTimeout(() => fail(options.timeoutError?.() ?? timeoutError(ms)), ms);
      timer.unref();
    }
    let result: unknown;
    try {
      result = handler(event, stream, context);
    } catch (error) {
      fail(error);
      return;
    }
    if (!isPromiseLike(result)) {
      fail(new InvalidStreamingOperation('Streaming does not support non-async handlers.'));
      return;
    }
    Promise.resolve(result).then(
      () => {
        // The runtime waits for the stream to end: a stream left open runs into the function's timeout.
        if (stream.writableFinished) {
          resolve();
          return;
        }
        stream.once('finish', () => resolve());
        stream.once('close', () => {
          if (!stream.writableFinished) fail(new StreamNotFinishedError());
        });
      },
      (error: unknown) => fail(error),
    );
  }).finally(() => {
    if (timer) clearTimeout(timer);
  });
  // Handled here so that a caller that only reads the body never sees an unhandled rejection.
  completed.catch(() => undefined);

  return { queue, completed };
}

/** The raw bytes of a streamed response, as Lambda's InvokeWithResponseStream returns them. */
export interface RawStreamedResponse {
  /** The stream's content type (`application/vnd.awslambda.http-integration-response` after `from`). */
  readonly contentType: string;
  readonly bytes: Buffer;
}

/**
 * Runs a response-streaming handler to the end and returns every byte it wrote, prelude and delimiter
 * included. Rejects with the handler's error.
 */
export async function invokeStreamingRaw(
  handler: StreamingHandler,
  event: unknown,
  context: Context,
  options: InvokeStreamingOptions = {},
): Promise<RawStreamedResponse> {
  const { queue, completed } = start(handler, event, context, options);
  const chunks: Buffer[] = [];
  for (;;) {
    const chunk = await queue.next();
    if (chunk === undefined) break;
    chunks.push(chunk);
  }
  await completed;
  return { contentType: queue.contentType ?? DEFAULT_STREAM_CONTENT_TYPE, bytes: Buffer.concat(chunks) };
}

async function readPrelude(queue: ByteQueue): Promise<{
  metadata: Omit<StreamedHttpResponse, 'body' | 'completed'>;
  rest: Buffer;
}> {
  let buffered = Buffer.alloc(0);
  for (;;) {
    const chunk = await queue.next();
    if (chunk !== undefined) buffered = Buffer.concat([buffered, chunk]);
    const at = buffered.indexOf(DELIMITER);
    if (at >= 0 && at <= MAX_PRELUDE_BYTES) {
      if (queue.contentType !== HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE) {
        throw new InvalidStreamingResponseError(
          `The response stream has content type '${queue.contentType}', not the HTTP integration response ` +
            `(use awslambda.HttpResponseStream.from before the first write)`,
        );
      }
      return {
        metadata: parsePrelude(buffered.subarray(0, at)),
        rest: buffered.subarray(at + PRELUDE_DELIMITER_LENGTH),
      };
    }
    if (buffered.length > MAX_PRELUDE_BYTES + PRELUDE_DELIMITER_LENGTH) {
      throw new InvalidStreamingResponseError(
        `No HTTP metadata prelude ends within the first ${MAX_PRELUDE_BYTES} bytes of the response stream`,
      );
    }
    if (chunk === undefined) {
      throw new InvalidStreamingResponseError(
        queue.contentType === HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE
          ? 'The response stream ended before its HTTP metadata prelude and delimiter were written ' +
              '(HttpResponseStream.from writes them on the first write(), not on end(chunk))'
          : `The response stream (content type '${queue.contentType ?? DEFAULT_STREAM_CONTENT_TYPE}') has no ` +
              'HTTP metadata prelude: write it with awslambda.HttpResponseStream.from',
      );
    }
  }
}

/** Parses the JSON prelude bytes into status, headers, multi-value headers and cookies. */
export function parsePrelude(bytes: Buffer): Omit<StreamedHttpResponse, 'body' | 'completed'> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InvalidStreamingResponseError('The HTTP metadata prelude is not valid JSON', { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidStreamingResponseError('The HTTP metadata prelude must be a JSON object');
  }
  const prelude = parsed as Record<string, unknown>;
  const status = prelude.statusCode === undefined ? 200 : Number(prelude.statusCode);
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new InvalidStreamingResponseError(
      `statusCode in the HTTP metadata prelude must be an HTTP status (got ${JSON.stringify(prelude.statusCode)})`,
    );
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(objectOr(prelude.headers, 'headers'))) {
    if (value !== undefined && value !== null) headers[name] = String(value);
  }
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(objectOr(prelude.multiValueHeaders, 'multiValueHeaders'))) {
    if (!Array.isArray(values)) {
      throw new InvalidStreamingResponseError(`multiValueHeaders.${name} in the prelude must be a list`);
    }
    multiValueHeaders[name] = values.map(String);
  }
  const cookies = prelude.cookies === undefined ? [] : prelude.cookies;
  if (!Array.isArray(cookies))
    throw new InvalidStreamingResponseError('cookies in the prelude must be a list');
  return { statusCode: status, headers, multiValueHeaders, cookies: cookies.map(String) };
}

function objectOr(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidStreamingResponseError(`${what} in the HTTP metadata prelude must be an object`);
  }
  return value as Record<string, unknown>;
}

async function* drain(first: Buffer, queue: ByteQueue): AsyncGenerator<Buffer> {
  if (first.length > 0) yield first;
  for (;;) {
    const chunk = await queue.next();
    if (chunk === undefined) return;
    if (chunk.length > 0) yield chunk;
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}
