import { retryAfterMs } from '../../backoff.ts';
import { ThrottledError, TransientError } from '../../errors.ts';
import type { OpenSearchTransportClient } from './client.ts';
import {
  LABEL,
  OpenSearchAccessDeniedError,
  OpenSearchIndexNotFoundError,
  OpenSearchRequestError,
} from './errors.ts';

/** One request to OpenSearch with the project's backoff: what is retried, and the named error a final failure becomes. */

export interface OpenSearchRequest {
  readonly method: 'POST';
  readonly path: string;
  readonly body?: Record<string, unknown>;
  readonly bulkBody?: string;
  /** What the request does, for error messages. */
  readonly action: string;
  /** The data access policy permission it needs. */
  readonly permission: 'aoss:ReadDocument' | 'aoss:WriteDocument';
  /** A read on behalf of an API caller: final throttling becomes `ThrottledError` (429) rather than `TransientError`. */
  readonly read?: boolean;
}

export interface Target {
  readonly index: string;
  readonly endpoint: string;
}

export async function perform(
  client: OpenSearchTransportClient,
  request: OpenSearchRequest,
  requestTimeout: number,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  const pending = client.transport.request(
    {
      method: request.method,
      path: request.path,
      ...(request.body === undefined ? {} : { body: request.body }),
      ...(request.bulkBody === undefined ? {} : { bulkBody: request.bulkBody }),
    },
    { maxRetries: 0, requestTimeout },
  );
  const abort = (): void => {
    pending.abort();
  };
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const response: { body: unknown } = await pending;
    return response.body;
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}

export type FailureKind = 'throttled' | 'transient' | 'fatal';

export const NETWORK_ERRORS = new Set(['ConnectionError', 'TimeoutError', 'NoLivingConnectionsError']);

export function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

export function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The HTTP status of an OpenSearch `ResponseError` (undefined for network and client-side errors). */
export function responseStatus(error: unknown): number | undefined {
  if (field(error, 'name') !== 'ResponseError') return undefined;
  const status = field(field(error, 'meta'), 'statusCode');
  return typeof status === 'number' ? status : undefined;
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

export function classify(error: unknown): FailureKind {
  const status = responseStatus(error);
  if (status === 429) return 'throttled';
  if (status !== undefined) return status >= 500 ? 'transient' : 'fatal';
  const name = text(field(error, 'name')) ?? '';
  // The client's own TimeoutError carries `meta`; a DOMException of the same name (an abort) does not.
  if (NETWORK_ERRORS.has(name) && field(error, 'meta') !== undefined) return 'transient';
  return 'fatal';
}

/** Milliseconds from the `Retry-After` header of an OpenSearch answer, if it sent one. */
export function retryAfterOf(error: unknown): number | undefined {
  return retryAfterMs(field(field(field(error, 'meta'), 'headers'), 'retry-after'));
}

/** `type: reason` of an OpenSearch error body (`{ error: { type, reason, caused_by } }` or a bare message). */
export function describeErrorBody(body: unknown): { type: string | undefined; reason: string } {
  const error = field(body, 'error');
  if (typeof error === 'object' && error !== null) {
    const type = text(field(error, 'type'));
    const reason = text(field(error, 'reason')) ?? 'no reason given';
    const causedBy = field(error, 'caused_by');
    const cause = text(field(causedBy, 'reason'));
    const causeType = text(field(causedBy, 'type'));
    const because = cause === undefined ? '' : ` (caused by ${causeType ?? 'error'}: ${cause})`;
    return { type, reason: `${type ?? 'error'}: ${reason}${because}` };
  }
  const message = text(error) ?? text(field(body, 'message')) ?? text(field(body, 'Message')) ?? text(body);
  return { type: undefined, reason: message === undefined ? 'no reason given' : message.slice(0, 500) };
}

export function finalError(
  error: unknown,
  request: OpenSearchRequest,
  { index, endpoint }: Target,
  attempts: number,
  nextDelayMs: number,
): Error {
  const status = responseStatus(error);
  const what = `the ${request.action} on index ${index}`;
  const after = attempts > 1 ? ` after ${attempts} attempts` : '';
  if (status === undefined) {
    const name = text(field(error, 'name')) ?? 'Error';
    const message = text(field(error, 'message')) ?? String(error);
    if (classify(error) === 'transient') {
      return new TransientError(`${LABEL} could not be reached for ${what}${after} (${name}: ${message})`, {
        cause: error,
      });
    }
    return new OpenSearchRequestError(`${LABEL} request failed: ${what} (${name}: ${message})`, {
      cause: error,
    });
  }
  const { type, reason } = describeErrorBody(field(error, 'body'));
  const details = { cause: error, statusCode: status, errorType: type };
  if (status === 429) {
    const message = `${LABEL} is throttling requests: ${what} was refused${after}; retry later`;
    return request.read === true
      ? new ThrottledError(message, (retryAfterMs(error) ?? nextDelayMs) / 1000, { cause: error })
      : new TransientError(message, { cause: error });
  }
  if (status >= 500) {
    return new TransientError(`${LABEL} failed ${what}${after}: ${status} ${reason}`, { cause: error });
  }
  if (status === 403) {
    return new OpenSearchAccessDeniedError(
      `${LABEL} refused ${what} in collection ${endpoint} (403 ${reason}): the collection's data access policy must grant this function's role ${request.permission} on index/<collection name>/${index}, and the role's IAM policy must allow aoss:APIAccessAll`,
      details,
    );
  }
  if (status === 404 && type === 'index_not_found_exception') {
    return new OpenSearchIndexNotFoundError(
      `The ${LABEL} index ${index} does not exist in collection ${endpoint}; the stack creates it (AWS::OpenSearchServerless::Index): check the index name the function was given`,
      details,
    );
  }
  const hint = status === 413 ? '; lower maxBulkBytes' : '';
  return new OpenSearchRequestError(`${LABEL} refused ${what}: ${status} ${reason}${hint}`, details);
}
