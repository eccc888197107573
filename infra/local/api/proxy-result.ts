/**
 * What a Lambda proxy integration answers: the proxy result a buffered function must return (validated
 * as API Gateway does) and the response headers sent to the client for buffered and streamed answers.
 */
import { MAX_BUFFERED_RESPONSE_BYTES } from './limits.ts';
import type { RequestState } from './request-context.ts';

/** A valid proxy result, its body decoded. */
export interface ProxyResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly multiValueHeaders: Readonly<Record<string, readonly string[]>>;
  readonly body: Buffer;
}

const PROXY_RESULT_KEYS = new Set(['statusCode', 'headers', 'multiValueHeaders', 'body', 'isBase64Encoded']);

/** Validates a Lambda proxy result as API Gateway (REST) does; a string says what is malformed. */
export function parseProxyResult(result: unknown): ProxyResult | string {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    return 'the function must return an object';
  }
  const record = result as Record<string, unknown>;
  const extra = Object.keys(record).filter((k) => !PROXY_RESULT_KEYS.has(k));
  if (extra.length > 0) return `unexpected field(s) ${extra.join(', ')}`;
  const status = typeof record.statusCode === 'string' ? Number(record.statusCode) : record.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    return `statusCode must be an HTTP status (got ${JSON.stringify(record.statusCode)})`;
  }
  const headers: Record<string, string> = {};
  if (record.headers !== undefined && record.headers !== null) {
    if (typeof record.headers !== 'object' || Array.isArray(record.headers))
      return 'headers must be an object';
    for (const [name, value] of Object.entries(record.headers)) {
      if (value === null || value === undefined) continue;
      if (typeof value === 'object') return `headers.${name} must be a string`;
      headers[name] = String(value);
    }
  }
  const multiValueHeaders: Record<string, string[]> = {};
  if (record.multiValueHeaders !== undefined && record.multiValueHeaders !== null) {
    if (typeof record.multiValueHeaders !== 'object' || Array.isArray(record.multiValueHeaders)) {
      return 'multiValueHeaders must be an object';
    }
    for (const [name, values] of Object.entries(record.multiValueHeaders)) {
      if (!Array.isArray(values)) return `multiValueHeaders.${name} must be a list`;
      multiValueHeaders[name] = values.map(String);
    }
  }
  if (record.body !== undefined && record.body !== null && typeof record.body !== 'string') {
    return 'body must be a string';
  }
  if (record.isBase64Encoded !== undefined && typeof record.isBase64Encoded !== 'boolean') {
    return 'isBase64Encoded must be a boolean';
  }
  const text = typeof record.body === 'string' ? record.body : '';
  const body = record.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  if (body.length > MAX_BUFFERED_RESPONSE_BYTES) {
    return `the response is over Lambda's ${MAX_BUFFERED_RESPONSE_BYTES}-byte limit`;
  }
  return { statusCode: status, headers, multiValueHeaders, body };
}

/**
 * The headers of an integration's answer: its single-value headers, replaced by multi-value ones of the
 * same name, its cookies, a JSON content type when it set none, and API Gateway's request and trace ids.
 */
export function responseHeaders(
  state: RequestState,
  single: Readonly<Record<string, string>>,
  multi: Readonly<Record<string, readonly string[]>>,
  cookies: readonly string[],
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const put = (name: string, value: string | string[]) => {
    for (const key of Object.keys(out)) if (key.toLowerCase() === name.toLowerCase()) delete out[key];
    out[name] = value;
  };
  for (const [name, value] of Object.entries(single)) put(name, value);
  // Values from multiValueHeaders replace those of headers with the same name.
  for (const [name, values] of Object.entries(multi)) put(name, [...values]);
  if (cookies.length > 0) put('Set-Cookie', [...cookies]);
  if (!Object.keys(out).some((k) => k.toLowerCase() === 'content-type'))
    out['Content-Type'] = 'application/json';
  out['x-amzn-RequestId'] = state.requestId;
  out['x-amz-apigw-id'] = state.extendedRequestId;
  out['X-Amzn-Trace-Id'] = state.traceId;
  return out;
}
