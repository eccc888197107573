import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { InvalidDatasetError, TransientError } from '#aws/errors.ts';
import { withObservability } from '#aws/observability.ts';

const context = {
  awsRequestId: 'req-1',
  functionName: 'fn',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn',
  memoryLimitInMB: '128',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

const failWith = (error: unknown) =>
  withObservability(async () => {
    throw error;
  });

describe('withObservability error mapping', () => {
  it('turns AWS throttling into TransientError, which the state machines retry', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    const error = await failWith(throttled)({}, context).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).name).toBe('TransientError');
    expect((error as Error).cause).toBe(throttled);
  });

  it('treats AWS 5xx responses as transient', async () => {
    const unavailable = Object.assign(new Error('We encountered an internal error'), {
      name: 'InternalError',
      $metadata: { httpStatusCode: 503 },
    });
    await expect(failWith(unavailable)({}, context)).rejects.toBeInstanceOf(TransientError);
  });

  it('passes named project errors and other errors through unchanged (never swallowed)', async () => {
    const invalid = new InvalidDatasetError('unknown purpose "x"');
    await expect(failWith(invalid)({}, context)).rejects.toBe(invalid);
    const bug = new TypeError('cannot read properties of undefined');
    await expect(failWith(bug)({}, context)).rejects.toBe(bug);
  });

  it('returns what the handler returns', async () => {
    const handler = withObservability(async (event: { n: number }) => ({ doubled: event.n * 2 }));
    await expect(handler({ n: 21 }, context)).resolves.toEqual({ doubled: 42 });
  });
});
