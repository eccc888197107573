// The function's environment, set before its handler module is imported (it reads it at import).
import '../../support/env/pipeline-failed.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { TransientError } from '#aws/errors.ts';
import { pipelineFailedDetail } from '#events/pipeline-failed.ts';
import { rawSample } from '#events/samples.ts';
import { inputReference, makeHandler, readableCause } from '#functions/pipeline-failed/handler.ts';

const ebMock = mockClient(EventBridgeClient);

describe('pipeline-failed handler', () => {
  const handler = makeHandler({ events: new EventBridgeClient({ region: 'us-east-1' }), busName: 'bus' });
  beforeEach(() => ebMock.reset());

  it('publishes llmops.PipelineFailed with a readable cause and the S3 object that started the run', async () => {
    ebMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    const detail = await handler(rawSample('sfn-execution-failed'));
    expect(detail).toMatchObject({
      pipeline: 'DataPrep',
      status: 'FAILED',
      error: 'NoValidRecordsError',
      inputReference: {
        bucket: 'llmops-dev-raw-example',
        key: 'raw/finetune/empty.jsonl',
        versionId: '3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY',
      },
      startedAt: '2025-11-21T09:15:11.000Z',
    });
    expect(detail.cause).toMatch(/^raw\/finetune\/empty.jsonl has no valid record/);
    const sent = ebMock.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(sent).toMatchObject({
      EventBusName: 'bus',
      Source: 'llmops',
      DetailType: 'llmops.PipelineFailed',
    });
    expect(pipelineFailedDetail.parse(JSON.parse(sent?.Detail ?? '{}'))).toEqual(detail);
  });

  it('fails (so the event is retried, then dead-lettered) when PutEvents rejects the entry', async () => {
    ebMock
      .on(PutEventsCommand)
      .resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'boom' }] });
    await expect(handler(rawSample('sfn-execution-failed'))).rejects.toBeInstanceOf(TransientError);
  });

  it('keeps non-JSON causes and finds no reference in unrelated input', () => {
    expect(readableCause('States.Timeout')).toBe('States.Timeout');
    expect(readableCause(null)).toBeNull();
    expect(inputReference('{"hello":1}')).toBeNull();
    expect(inputReference('not json')).toBeNull();
  });
});
