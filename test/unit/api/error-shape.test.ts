import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  ContentBlockedError,
  ForbiddenError,
  ModelProviderError,
  NoModelAvailableError,
  NotFoundError,
  PayloadTooLargeError,
  ThrottledError,
  ValidationError,
} from '#aws/errors.ts';
import { errorJson, errorResponse, errorType } from '#aws/http.ts';
import { errorResponse as errorResponseSchema } from '#contracts/http/schemas.ts';

/** Every error body is a superset of OpenAI's error object: `{error: {message, type, param, code}}`. */
const errorOf = (response: { body: unknown }) =>
  (JSON.parse(String(response.body)) as { error: Record<string, unknown> }).error;

describe("error bodies in OpenAI's shape", () => {
  it.each([
    ['a validation error', new ValidationError('model', 'is required'), 400, 'invalid_request_error'],
    ['a body too large', new PayloadTooLargeError('body', 'too big'), 413, 'invalid_request_error'],
    ['no model available', new NoModelAvailableError('none fits'), 422, 'invalid_request_error'],
    ['a forbidden call', new ForbiddenError('not yours'), 403, 'permission_error'],
    ['something not found', new NotFoundError('Model x is not in the catalog'), 404, 'not_found_error'],
    ['a conflict', new ConflictError('exists'), 409, 'conflict_error'],
    ['throttling', new ThrottledError('slow down', 2), 429, 'rate_limit_error'],
    ['a provider failure', new ModelProviderError('boom'), 502, 'api_error'],
    ['a provider timeout', new ModelProviderError('slow', { timedOut: true }), 504, 'api_error'],
    ['a crash', new Error('internal detail'), 500, 'api_error'],
  ])('gives %s its status and OpenAI error type', (_name, error, status, type) => {
    const response = errorResponse(error, 'req-9');
    expect(response.statusCode).toBe(status);
    const body = errorOf(response);
    expect(body).toMatchObject({ type, requestId: 'req-9' });
    expect(body.code).toEqual(expect.any(String));
    expect(body.message).toEqual(expect.any(String));
    expect(errorResponseSchema.safeParse(JSON.parse(String(response.body))).success).toBe(true);
  });

  it('names the failing field as param (and field) for validation errors, null otherwise', () => {
    expect(
      errorOf(errorResponse(new ValidationError('messages.1.content', 'is required'), 'r')),
    ).toMatchObject({
      param: 'messages.1.content',
      field: 'messages.1.content',
      rule: 'is required',
    });
    expect(errorOf(errorResponse(new NotFoundError('no such prompt'), 'r')).param).toBeNull();
    expect(errorOf(errorResponse(new Error('x'), 'r')).param).toBeNull();
  });

  it('answers a content-policy refusal with 400 content_blocked naming the field', () => {
    const response = errorResponse(
      new ContentBlockedError('input', 'was blocked by the content policy'),
      'r',
    );
    expect(response.statusCode).toBe(400);
    expect(errorOf(response)).toMatchObject({
      code: 'content_blocked',
      type: 'invalid_request_error',
      param: 'input',
    });
  });

  it("calls a spent token budget OpenAI's insufficient_quota, whatever its status", () => {
    expect(errorType(429, 'token_budget_exceeded')).toBe('insufficient_quota');
    expect(errorType(429, 'throttled')).toBe('rate_limit_error');
    expect(errorType(401, 'invalid_api_key')).toBe('authentication_error');
  });

  it('builds the same shape for errors answered outside the mapping (errorJson)', () => {
    const response = errorJson(504, 'answer_deadline_exceeded', 'too slow', 'req-2');
    expect(response.statusCode).toBe(504);
    expect(errorOf(response)).toEqual({
      code: 'answer_deadline_exceeded',
      message: 'too slow',
      type: 'api_error',
      param: null,
      requestId: 'req-2',
    });
  });
});
