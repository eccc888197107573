/**
 * The state the request pipeline shares: what the server fixed at start (the served API, stage, key,
 * routes, usage plans, the functions) and what one request accumulates on its way (ids, timings, the
 * matched route, what failed), which the access log reports at the end.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { InvokeContext } from '../lambda-registry.ts';
import type { StreamedHttpResponse } from '../lambda-streaming.ts';
import type { LocalApiMethod, LocalRestApi, LocalUsagePlan } from '../template.ts';
import type { AccessLogEntry } from './access-log.ts';
import type { ApiRouter } from './router.ts';
import type { UsageLimiter } from './usage-plans.ts';

/** What the server needs to invoke functions (LocalLambdas provides it). */
export interface ApiFunctionInvoker {
  invoke(functionRef: string, payload: unknown, context?: InvokeContext): Promise<unknown>;
  invokeWithResponseStream(
    functionRef: string,
    payload: unknown,
    context?: InvokeContext,
  ): Promise<StreamedHttpResponse>;
}

/** What the server fixed at start, read by every request. */
export interface ServeContext {
  readonly api: LocalRestApi;
  readonly stage: string;
  readonly stageVariables: Readonly<Record<string, string>>;
  readonly apiKey: string;
  readonly apiKeyId: string;
  readonly router: ApiRouter;
  /** Methods by `<resource path> <HTTP method>`. */
  readonly methods: ReadonlyMap<string, LocalApiMethod>;
  /** The usage plans of the served stage that hold the local key. */
  readonly plans: readonly LocalUsagePlan[];
  readonly limiter: UsageLimiter;
  readonly enforceUsagePlans: boolean;
  readonly lambdas: ApiFunctionInvoker;
  readonly accessLog: (line: string, entry: AccessLogEntry) => void;
  readonly account: string;
  /** The template's Region (method ARNs given to authorizers). */
  readonly region: string;
}

/** What one request accumulates from its arrival to its access-log line. */
export interface RequestState {
  readonly requestId: string;
  readonly extendedRequestId: string;
  readonly traceId: string;
  readonly started: number;
  readonly receivedAt: Date;
  readonly ip: string;
  readonly method: string;
  readonly path: string;
  resourcePath: string | null;
  apiKeyId: string | null;
  fn: string | null;
  streaming: boolean;
  integrationLatencyMs: number | null;
  errorType: string | null;
  errorMessage: string | null;
}

/** The state of a request that just arrived: fresh ids, the clock started, nothing matched yet. */
export function newRequestState(req: IncomingMessage, method: string, path: string): RequestState {
  return {
    requestId: randomUUID(),
    extendedRequestId: randomBytes(12).toString('base64url').slice(0, 16),
    traceId: `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
    started: performance.now(),
    receivedAt: new Date(),
    ip: clientIp(req),
    method,
    path,
    resourcePath: null,
    apiKeyId: null,
    fn: null,
    streaming: false,
    integrationLatencyMs: null,
    errorType: null,
    errorMessage: null,
  };
}

/** The last value of a request header. */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

function clientIp(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? '127.0.0.1';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Milliseconds since `started` (a `performance.now()`), to the microsecond. */
export function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

/** `Name: message` of whatever a function threw, for the access log. */
export function describeFailure(error: unknown): string {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  return `${name}: ${message}`;
}
