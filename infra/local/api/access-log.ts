/** The access log: one JSON line per request, with what API Gateway's `$context` access log offers. */
import { elapsed, type RequestState, type ServeContext } from './request-context.ts';

/** One access-log record (written as one JSON line per request). */
export interface AccessLogEntry {
  readonly requestId: string;
  readonly ip: string;
  readonly requestTime: string;
  readonly httpMethod: string;
  readonly path: string;
  /** The matched resource path, e.g. `/v1/prompts/{name}`; null when no route matched. */
  readonly resourcePath: string | null;
  readonly protocol: string;
  readonly status: number;
  readonly responseLength: number;
  readonly latencyMs: number;
  readonly integrationLatencyMs: number | null;
  readonly apiKeyId: string | null;
  /** Logical id of the function that served the request. */
  readonly function: string | null;
  readonly streaming: boolean;
  /** Gateway response type (`INVALID_API_KEY`, ...) or the integration's failure. */
  readonly errorType: string | null;
  readonly errorMessage: string | null;
}

/** Writes the access-log line of a finished request. */
export function logRequest(
  ctx: Pick<ServeContext, 'accessLog'>,
  state: RequestState,
  status: number,
  responseLength: number,
): void {
  const entry: AccessLogEntry = {
    requestId: state.requestId,
    ip: state.ip,
    requestTime: state.receivedAt.toISOString(),
    httpMethod: state.method,
    path: state.path,
    resourcePath: state.resourcePath,
    protocol: 'HTTP/1.1',
    status,
    responseLength,
    latencyMs: elapsed(state.started),
    integrationLatencyMs: state.integrationLatencyMs,
    apiKeyId: state.apiKeyId,
    function: state.fn,
    streaming: state.streaming,
    errorType: state.errorType,
    errorMessage: state.errorMessage,
  };
  try {
    ctx.accessLog(JSON.stringify(entry), entry);
  } catch {
    // A failing logger must not take the request down with it.
  }
}
