/**
 * The template's Lambda functions, invoked in-process: each function's handler module (the same module
 * Lambda runs) is imported on first use and its exported handler is called with a Lambda-like context.
 *
 * All functions share ONE Node.js process, so their environment variables are merged into one
 * `process.env`: a function's variables (plus `baseEnv`) are applied before its module is first imported,
 * because handler modules read their configuration at import time. Two functions that need different
 * values for the same variable cannot both be served correctly (modules shared between them are evaluated
 * once), so such a conflict is an error at construction unless the variable is listed in
 * `allowConflictingEnv` (then each function's value is applied just before its own module is imported).
 * `baseEnv` (emulator endpoints, credentials) overrides the template's values and is never a conflict.
 *
 * Response-streaming handlers (`awslambda.streamifyResponse`, see lambda-streaming.ts) are invoked with
 * `invokeWithResponseStream`, as API Gateway's STREAM transfer mode does; `invoke` refuses them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { runAsCaller, type SdkCallAuthorizer } from './iam/caller.ts';
import {
  InvalidStreamingResponseError,
  installAwsLambdaGlobal,
  invokeStreaming,
  isStreamingHandler,
  type StreamedHttpResponse,
  type StreamingHandler,
} from './lambda-streaming.ts';
import type { LocalLambdaFunction } from './template.ts';

/** Something that can invoke a Lambda function by ARN, name or logical id (faked in tests). */
export interface LambdaInvoker {
  /**
   * Invokes a function with a JSON payload and resolves with its (JSON) result.
   * Rejects with the handler's own error, unchanged.
   */
  invoke(functionRef: string, payload: unknown, context?: InvokeContext): Promise<unknown>;
}

/** Optional parts of the Lambda context that a caller may set. */
export interface InvokeContext {
  readonly awsRequestId?: string;
  readonly clientContext?: Context['clientContext'];
  readonly identity?: Context['identity'];
  readonly tenantId?: string;
}

/** One recorded invocation, for the runner's summary. */
export interface InvocationRecord {
  readonly logicalId: string;
  readonly functionName: string;
  readonly requestId: string;
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly ok: boolean;
  readonly errorName?: string;
  readonly errorMessage?: string;
}

/** Options of {@link LocalLambdas}. */
export interface LocalLambdasOptions {
  /** Absolute path of the repository root; entries are relative to it. */
  readonly repoRoot: string;
  /** Variables applied on top of every function's environment (emulator endpoints, credentials). */
  readonly baseEnv?: Readonly<Record<string, string>>;
  /** Variables that may differ between functions (applied per function before its first import). */
  readonly allowConflictingEnv?: readonly string[];
  /** Fail an invocation that outlives the function's configured timeout, as Lambda does. @default true */
  readonly enforceTimeout?: boolean;
  /**
   * Judges every SDK call a function makes during its invocations (the local run passes its IAM
   * evaluator). Without it, calls are not evaluated.
   */
  readonly authorizer?: SdkCallAuthorizer;
}

/** The function reference matches no function of the template. */
export class UnknownFunctionError extends Error {
  readonly functionRef: string;
  constructor(functionRef: string, known: readonly string[]) {
    super(`No local Lambda function '${functionRef}' (known: ${known.join(', ') || 'none'})`);
    this.name = 'UnknownFunctionError';
    this.functionRef = functionRef;
  }
}

/** Two functions need different values for one environment variable in the shared process. */
export class EnvConflictError extends Error {
  readonly variable: string;
  readonly functions: readonly [string, string];
  constructor(variable: string, first: string, firstValue: string, second: string, secondValue: string) {
    super(
      `Environment variable ${variable} differs between ${first} ('${firstValue}') and ${second} ` +
        `('${secondValue}'); locally all functions share one process.env. Make the values equal, or list ` +
        `${variable} in allowConflictingEnv if only import-time reads of it matter.`,
    );
    this.name = 'EnvConflictError';
    this.variable = variable;
    this.functions = [first, second];
  }
}

/**
 * The handler module does not export the configured handler function. Its `name` is Lambda's error type
 * for this case, `Runtime.HandlerNotFound`.
 */
export class HandlerNotFoundError extends Error {
  constructor(logicalId: string, entry: string, handler: string) {
    super(`Function ${logicalId}: module '${entry}' does not export a function '${handler}'`);
    this.name = 'Runtime.HandlerNotFound';
  }
}

/**
 * The function ran longer than its configured timeout. Its `name` is Lambda's error type for timeouts,
 * `Sandbox.Timedout`, so Step Functions Retry/Catch see what they would see on AWS. (The handler itself
 * cannot be stopped in-process; its late result is discarded.)
 */
export class LambdaTimeoutError extends Error {
  constructor(timeoutSeconds: number) {
    super(`Task timed out after ${timeoutSeconds.toFixed(2)} seconds`);
    this.name = 'Sandbox.Timedout';
  }
}

/** The handler's result cannot be serialized to JSON (Lambda's `Runtime.MarshalError`). */
export class MarshalError extends Error {
  constructor(logicalId: string, cause: unknown) {
    super(`Unable to stringify the result of ${logicalId} as JSON`, { cause });
    this.name = 'Runtime.MarshalError';
  }
}

type Handler = (event: unknown, context: Context) => unknown;

/** In-process registry of the template's Lambda functions. */
export class LocalLambdas implements LambdaInvoker {
  private readonly functions: readonly LocalLambdaFunction[];
  private readonly byRef = new Map<string, LocalLambdaFunction>();
  private readonly options: LocalLambdasOptions;
  private readonly modules = new Map<string, Promise<Record<string, unknown>>>();
  private readonly envApplied = new Set<string>();
  private readonly records: InvocationRecord[] = [];

  constructor(functions: readonly LocalLambdaFunction[], options: LocalLambdasOptions) {
    if (!isAbsolute(options.repoRoot))
      throw new TypeError(`repoRoot must be absolute (got '${options.repoRoot}')`);
    this.functions = functions;
    this.options = options;
    for (const fn of functions) {
      for (const key of [fn.arn, fn.name, fn.logicalId]) {
        if (!this.byRef.has(key)) this.byRef.set(key, fn);
      }
    }
    checkEnvConflicts(functions, options);
  }

  /** The function for an ARN (optionally qualified with a version/alias), a name, or a logical id. */
  find(functionRef: string): LocalLambdaFunction {
    const direct = this.byRef.get(functionRef);
    if (direct) return direct;
    const unqualified = /^(arn:[^:]+:lambda:[^:]+:[^:]+:function:[^:]+):[^:]+$/.exec(functionRef)?.[1];
    const fn = unqualified !== undefined ? this.byRef.get(unqualified) : undefined;
    if (!fn)
      throw new UnknownFunctionError(
        functionRef,
        this.functions.map((f) => f.logicalId),
      );
    return fn;
  }

  /** Invokes a function in-process. Handler errors propagate unchanged (their `name` drives Retry/Catch). */
  async invoke(functionRef: string, payload: unknown, context: InvokeContext = {}): Promise<unknown> {
    const fn = this.find(functionRef);
    const handler = await this.loadHandler(fn);
    if (isStreamingHandler(handler)) {
      throw new InvalidStreamingResponseError(
        `Function ${fn.logicalId} is a response-streaming handler (awslambda.streamifyResponse); ` +
          'invoke it with invokeWithResponseStream (API Gateway: an integration with ResponseTransferMode STREAM)',
      );
    }
    const { requestId, event, lambdaContext, startedAt, started } = startInvocation(fn, payload, context);
    let timer: NodeJS.Timeout | undefined;
    try {
      const run = Promise.resolve().then(() => this.asCaller(fn, () => handler(event, lambdaContext)));
      const raced =
        this.options.enforceTimeout === false
          ? run
          : Promise.race([
              run,
              new Promise<never>((_, reject) => {
                timer = setTimeout(
                  () => reject(new LambdaTimeoutError(fn.timeoutSeconds)),
                  fn.timeoutSeconds * 1000,
                );
              }),
            ]);
      const result = await raced;
      let serialized: unknown;
      try {
        serialized = result === undefined ? null : JSON.parse(JSON.stringify(result));
      } catch (error) {
        throw new MarshalError(fn.logicalId, error);
      }
      this.record(fn, requestId, startedAt, started, undefined);
      return serialized;
    } catch (error) {
      this.record(fn, requestId, startedAt, started, error);
      throw error;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /**
   * Invokes a response-streaming function (Lambda's InvokeWithResponseStream, as API Gateway's `STREAM`
   * transfer mode does) and resolves once its HTTP prelude has arrived; the body keeps streaming. The
   * function's timeout covers the handler and its stream together. Rejects with the handler's error when it
   * fails before the prelude, and with {@link InvalidStreamingResponseError} when the function is not a
   * streaming handler or writes no valid prelude.
   */
  async invokeWithResponseStream(
    functionRef: string,
    payload: unknown,
    context: InvokeContext = {},
  ): Promise<StreamedHttpResponse> {
    const fn = this.find(functionRef);
    const handler = await this.loadHandler(fn);
    if (!isStreamingHandler(handler)) {
      throw new InvalidStreamingResponseError(
        `Function ${fn.logicalId} is not a response-streaming handler: wrap it with awslambda.streamifyResponse ` +
          '(middy: executionMode executionModeStreamifyResponse) or use a BUFFERED integration',
      );
    }
    const { requestId, event, lambdaContext, startedAt, started } = startInvocation(fn, payload, context);
    let response: StreamedHttpResponse;
    try {
      response = await this.asCaller(fn, () =>
        invokeStreaming(handler as unknown as StreamingHandler, event, lambdaContext, {
          ...(this.options.enforceTimeout === false
            ? {}
            : {
                timeoutMs: fn.timeoutSeconds * 1000,
                timeoutError: () => new LambdaTimeoutError(fn.timeoutSeconds),
              }),
        }),
      );
    } catch (error) {
      this.record(fn, requestId, startedAt, started, error);
      throw error;
    }
    response.completed.then(
      () => this.record(fn, requestId, startedAt, started, undefined),
      (error: unknown) => this.record(fn, requestId, startedAt, started, error),
    );
    return response;
  }

  /** Whether the function's handler is a response-streaming one (imports its module). */
  async isStreaming(functionRef: string): Promise<boolean> {
    return isStreamingHandler(await this.loadHandler(this.find(functionRef)));
  }

  /** Invocations so far, oldest first. */
  invocations(): readonly InvocationRecord[] {
    return [...this.records];
  }

  /** Forgets recorded invocations. */
  clearInvocations(): void {
    this.records.length = 0;
  }

  /** Runs `run` as the function, so that the authorizer (if any) judges the SDK calls it makes. */
  private asCaller<T>(fn: LocalLambdaFunction, run: () => T): T {
    const authorizer = this.options.authorizer;
    if (!authorizer) return run();
    return runAsCaller({ logicalId: fn.logicalId, functionName: fn.name }, authorizer, run);
  }

  private record(
    fn: LocalLambdaFunction,
    requestId: string,
    startedAt: Date,
    started: number,
    error: unknown,
  ): void {
    this.records.push({
      logicalId: fn.logicalId,
      functionName: fn.name,
      requestId,
      startedAt,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      ok: error === undefined,
      ...(error === undefined
        ? {}
        : {
            errorName: error instanceof Error ? error.name : 'Error',
            errorMessage: error instanceof Error ? error.message : String(error),
          }),
    });
  }

  private async loadHandler(fn: LocalLambdaFunction): Promise<Handler> {
    // Handler modules (and middy's streamify mode) use the runtime's `awslambda` global at import time.
    installAwsLambdaGlobal();
    const path = resolvePath(this.options.repoRoot, fn.entry);
    if (!this.envApplied.has(path)) {
      this.envApplied.add(path);
      Object.assign(process.env, fn.environment, this.options.baseEnv ?? {});
    }
    let loading = this.modules.get(path);
    if (!loading) {
      loading = import(pathToFileURL(path).href) as Promise<Record<string, unknown>>;
      this.modules.set(path, loading);
    }
    let mod: Record<string, unknown>;
    try {
      mod = await loading;
    } catch (error) {
      this.modules.delete(path);
      this.envApplied.delete(path);
      throw error;
    }
    const handler = mod[fn.handler];
    if (typeof handler !== 'function') throw new HandlerNotFoundError(fn.logicalId, fn.entry, fn.handler);
    return handler as Handler;
  }
}

function checkEnvConflicts(functions: readonly LocalLambdaFunction[], options: LocalLambdasOptions): void {
  const allowed = new Set(options.allowConflictingEnv ?? []);
  const base = options.baseEnv ?? {};
  const seen = new Map<string, { fn: string; value: string }>();
  for (const fn of functions) {
    for (const [key, value] of Object.entries(fn.environment)) {
      if (allowed.has(key) || Object.hasOwn(base, key)) continue;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, { fn: fn.logicalId, value });
      else if (first.value !== value)
        throw new EnvConflictError(key, first.fn, first.value, fn.logicalId, value);
    }
  }
}

/** What every invocation starts with: a request id, the event as Lambda would deserialize it, a context. */
function startInvocation(fn: LocalLambdaFunction, payload: unknown, context: InvokeContext) {
  const requestId = context.awsRequestId ?? randomUUID();
  const event: unknown = payload === undefined ? {} : JSON.parse(JSON.stringify(payload));
  const startedAt = new Date();
  const deadline = startedAt.getTime() + fn.timeoutSeconds * 1000;
  return {
    requestId,
    event,
    lambdaContext: makeContext(fn, requestId, deadline, context),
    startedAt,
    started: performance.now(),
  };
}

function makeContext(
  fn: LocalLambdaFunction,
  requestId: string,
  deadline: number,
  extra: InvokeContext,
): Context {
  const now = new Date();
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  const unsupported = (what: string) => () => {
    throw new TypeError(`context.${what}() is not supported: handlers on nodejs24.x return a promise`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: fn.arn,
    memoryLimitInMB: String(fn.memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    ...(extra.clientContext ? { clientContext: extra.clientContext } : {}),
    ...(extra.identity ? { identity: extra.identity } : {}),
    ...(extra.tenantId ? { tenantId: extra.tenantId } : {}),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}
