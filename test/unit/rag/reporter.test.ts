import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ThrottledError } from '#aws/errors.ts';
import { logger } from '#aws/logging.ts';
import { DocumentReporter, failureOf, reasonOf } from '#aws/rag/reporter.ts';
import { DocumentParseError, InvalidUtf8Error } from '#core/rag/parse/document.ts';
import { VectorStoreWriteError } from '#core/rag/store.ts';
import { documentIndexedDetail } from '#events/document-indexed.ts';

const ROLE_ARN =
  'arn:aws:sts::123456789012:assumed-role/llmops-dev-IndexFunctionRole-1A2B3C/llmops-dev-Index';
const ACCOUNT = '123456789012';

/** An AWS SDK error as the SDK throws it: its message names the caller's role and the account. */
function accessDenied(): Error {
  const error = new Error(
    `User: ${ROLE_ARN} is not authorized to perform: dynamodb:UpdateItem on resource: arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/llmops-dev-Documents because no identity-based policy allows the dynamodb:UpdateItem action`,
  );
  error.name = 'AccessDeniedException';
  return error;
}

const ebMock = mockClient(EventBridgeClient);
const NOW = new Date('2026-11-26T21:14:07Z');
const DOC = { docId: 'guides/a.md', version: 'sha256:v1', collection: 'upload', source: 'guides/a.md' };

function published(): Record<string, unknown>[] {
  return ebMock
    .commandCalls(PutEventsCommand)
    .map((call) => JSON.parse(String(call.args[0].input.Entries?.[0]?.Detail)) as Record<string, unknown>);
}

beforeEach(() => {
  ebMock.reset();
  ebMock.on(PutEventsCommand).resolves({ Entries: [{ EventId: 'event-1' }], FailedEntryCount: 0 });
  vi.restoreAllMocks();
});

describe('failureOf', () => {
  it('hides the text of an error that is not meant to be shown behind INTERNAL', () => {
    const failure = failureOf(accessDenied());
    expect(failure.code).toBe('INTERNAL');
    expect(failure.message).not.toContain(ACCOUNT);
    expect(failure.message).not.toContain('arn:');
    expect(failure.message).not.toContain('AccessDenied');
    expect(reasonOf(accessDenied())).toBe(`INTERNAL: ${failure.message}`);
  });

  it.each([
    ['a plain Error', new Error(`s3://bucket-${ACCOUNT}/key: socket hang up`)],
    ['a project error that is not exposed', new TypeError(`cannot read ${ROLE_ARN}`)],
    ['a thrown string', `failed for ${ROLE_ARN}`],
    ['a thrown object', { message: ROLE_ARN }],
    ['undefined', undefined],
  ])('turns %s into INTERNAL without its text', (_what, error) => {
    const failure = failureOf(error);
    expect(failure.code).toBe('INTERNAL');
    expect(JSON.stringify(failure)).not.toContain(ACCOUNT);
  });

  it('keeps the code and message of a project error that may be shown', () => {
    expect(failureOf(new DocumentParseError('raw/rag/a.pdf', 'not a readable PDF'))).toEqual({
      code: 'DocumentParseError',
      message: 'raw/rag/a.pdf: not a readable PDF',
    });
    expect(reasonOf(new InvalidUtf8Error('notes.txt', 2))).toBe(
      'InvalidUtf8Error: notes.txt: invalid UTF-8 at byte offset 2',
    );
  });

  it('names the refused chunks of a vector store write and the kind of refusal, nothing more', () => {
    const error = new VectorStoreWriteError('a.md', [
      { chunkId: 'a.md#0', reason: '400 mapper_parsing_exception: failed to parse field [embedding]' },
      { chunkId: 'a.md#1', reason: `403 security_exception: no permissions for ${ROLE_ARN}` },
      { chunkId: 'a.md#2', reason: `AccessDeniedException: User: ${ROLE_ARN}` },
    ]);
    const failure = failureOf(error);
    expect(failure.code).toBe('VECTOR_STORE_REJECTED');
    expect(failure.message).toBe(
      '3 chunk(s) of document a.md could not be indexed: a.md#0: 400 mapper_parsing_exception; ' +
        'a.md#1: 403 security_exception; a.md#2: AccessDeniedException',
    );
  });

  it('names timeouts and exhausted retries by code, without their cause', () => {
    const timeout = new Error(`Task timed out for ${ROLE_ARN}`);
    timeout.name = 'States.Timeout';
    expect(failureOf(timeout).code).toBe('TIMEOUT');
    expect(failureOf(timeout).message).not.toContain(ACCOUNT);
    const throttled = failureOf(new ThrottledError(`Bedrock throttled ${ROLE_ARN}`, 5));
    // ThrottledError may be shown to an API caller; its message is the project's own.
    expect(throttled.code).toBe('ThrottledError');
    // The same name read back from a Step Functions Catch is only a name and a cause string.
    const caught = new Error(`{"errorMessage":"throttled ${ROLE_ARN}"}`);
    caught.name = 'TransientError';
    expect(failureOf(caught)).toMatchObject({ code: 'RETRIES_EXHAUSTED' });
    expect(failureOf(caught).message).not.toContain(ACCOUNT);
  });
});

describe('DocumentReporter.fail', () => {
  it('stores and announces a code and a safe message, and logs the details', async () => {
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const error = vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    const markFailed = vi.fn(async (..._args: unknown[]) => true);
    const reporter = new DocumentReporter(new EventBridgeClient({ region: 'us-east-1' }), 'bus', 'embedded');
    const thrown = accessDenied();
    expect(await reporter.fail({ markFailed }, DOC, thrown, 'run-1', NOW)).toBe(true);

    expect(markFailed).toHaveBeenCalledTimes(1);
    const [docId, version, stored] = markFailed.mock.calls[0] ?? [];
    expect([docId, version]).toEqual(['guides/a.md', 'sha256:v1']);
    expect(stored).toEqual({ code: 'INTERNAL', message: failureOf(thrown).message });
    expect(JSON.stringify(markFailed.mock.calls)).not.toContain(ACCOUNT);

    const [detail] = published();
    expect(documentIndexedDetail.parse(detail)).toMatchObject({
      docId: 'guides/a.md',
      status: 'failed',
      code: 'INTERNAL',
      reason: `INTERNAL: ${failureOf(thrown).message}`,
    });
    expect(JSON.stringify(published())).not.toContain(ACCOUNT);

    // The details are in the logs, for operators.
    const logged = JSON.stringify([...warn.mock.calls, ...error.mock.calls], (_k, v) =>
      v instanceof Error ? { name: v.name, message: v.message } : v,
    );
    expect(logged).toContain(ROLE_ARN);
    expect(logged).toContain('AccessDeniedException');
  });

  it('announces nothing when a newer version took over', async () => {
    const reporter = new DocumentReporter(new EventBridgeClient({ region: 'us-east-1' }), 'bus', 'embedded');
    const markFailed = vi.fn(async () => false);
    expect(await reporter.fail({ markFailed }, DOC, accessDenied(), 'run-1', NOW)).toBe(false);
    expect(published()).toEqual([]);
  });

  it('emits a null code for an indexed document', async () => {
    const reporter = new DocumentReporter(new EventBridgeClient({ region: 'us-east-1' }), 'bus', 'embedded');
    await reporter.report({
      docId: 'a.md',
      version: 'sha256:v1',
      status: 'indexed',
      chunks: 2,
      reason: null,
      title: null,
      source: 'a.md',
      collection: 'upload',
      runId: 'run-1',
    });
    expect(published()[0]).toMatchObject({ status: 'indexed', code: null, reason: null });
  });
});
