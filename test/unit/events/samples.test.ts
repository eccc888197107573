import { describe, expect, it } from 'vitest';
import { DRIFT_SIGNALS } from '#contracts/drift/baseline.ts';
import { datasetReadyEvent } from '#events/dataset-ready.ts';
import { documentIndexedEvent } from '#events/document-indexed.ts';
import { driftCheckRequestedEvent } from '#events/drift-check-requested.ts';
import { driftDetectedEvent } from '#events/drift-detected.ts';
import { evaluationCompletedEvent } from '#events/evaluation-completed.ts';
import { pipelineFailedEvent } from '#events/pipeline-failed.ts';
import { s3ObjectCreatedEvent, s3ObjectDeletedEvent } from '#events/s3-object-created.ts';
import { loadSample, rawSample } from '#events/samples.ts';
import { sfnExecutionStatusChangeEvent } from '#events/sfn-execution-status-change.ts';

describe('event samples parse with their schemas', () => {
  it('S3 Object Created (PutObject)', () => {
    const event = loadSample('s3-object-created', s3ObjectCreatedEvent);
    expect(event.detail.object.key).toBe('raw/finetune/support-chats.jsonl');
  });

  it('S3 Object Created from a multipart upload keeps fields the schema does not name', () => {
    const event = loadSample('s3-object-created-multipart', s3ObjectCreatedEvent);
    expect(event.detail.object.etag).toMatch(/-12$/);
    expect(event.detail['event-version']).toBe('2.5');
    expect(event.detail['aws-generated-tags']).toEqual([{ key: 'aws:s3:object-size-class', value: 'large' }]);
  });

  it('Step Functions execution failure', () => {
    const event = loadSample('sfn-execution-failed', sfnExecutionStatusChangeEvent);
    expect(event.detail.status).toBe('FAILED');
  });

  it('llmops.DatasetReady and llmops.PipelineFailed', () => {
    expect(loadSample('dataset-ready', datasetReadyEvent).detail.counts.duplicates).toEqual({
      exact: 7,
      near: 3,
    });
    expect(loadSample('pipeline-failed', pipelineFailedEvent).detail.pipeline).toBe('DataPrep');
  });

  it('S3 Object Deleted (a delete marker in the versioned raw bucket)', () => {
    const event = loadSample('s3-object-deleted', s3ObjectDeletedEvent);
    expect(event.detail.object.key).toBe('raw/rag/guides/provisioned-concurrency.pdf');
    expect(event.detail['deletion-type']).toBe('Delete Marker Created');
  });

  it('llmops.DriftDetected: the signal, the windows the alarm evaluated, the baseline and the test', () => {
    const event = loadSample('drift-detected', driftDetectedEvent);
    expect(event.detail).toMatchObject({
      check: 'all-traffic',
      metric: { name: 'DriftScore', signal: 'embedding' },
      window: { evaluationPeriods: 2, datapointsToAlarm: 2 },
      threshold: 1,
      baseline: 4,
    });
    expect(event.detail.value).toBeGreaterThanOrEqual(event.detail.threshold);
    // Every signal a check alarms on may be the one that drifted, and no other.
    const detail = driftDetectedEvent.shape.detail;
    for (const signal of DRIFT_SIGNALS) {
      const parsed = detail.safeParse({ ...event.detail, metric: { ...event.detail.metric, signal } });
      expect(parsed.success, signal).toBe(true);
    }
    expect(
      detail.safeParse({ ...event.detail, metric: { ...event.detail.metric, signal: 'latency' } }).success,
    ).toBe(false);
  });

  it('llmops.DriftCheckRequested from a schedule carries the window end, not a baseline', () => {
    const event = loadSample('drift-check-requested', driftCheckRequestedEvent);
    expect(event.detail.windowEnd).toBe('2026-12-05T06:00:00Z');
    expect(event.detail.baseline).toBeUndefined();
    const both = { ...event.detail, baseline: { source: { kind: 'suite', name: 'golden' } } };
    expect(driftCheckRequestedEvent.shape.detail.safeParse(both).success).toBe(false);
  });

  it('llmops.DocumentIndexed', () => {
    const event = loadSample('document-indexed', documentIndexedEvent);
    expect(event.detail).toMatchObject({
      status: 'indexed',
      chunks: 14,
      reason: null,
      vectorStore: 'opensearch',
    });
  });

  it('llmops.EvaluationCompleted of a model, with a metric that nothing could score', () => {
    const event = loadSample('evaluation-completed', evaluationCompletedEvent);
    expect(event.detail).toMatchObject({
      schemaVersion: '1.0',
      trigger: 'model',
      suite: { name: 'support-qa', version: 3 },
      target: { model: 'claude-haiku-4-5' },
      baseline: null,
    });
    expect(event.detail.metrics.f1).toEqual({ value: 0.786, n: 114, ci: [0.741, 0.829] });
    expect(event.detail.metrics.abstention).toEqual({ value: null, n: 0, ci: [null, null] });
  });

  it('rejects an EvaluationCompleted detail of another schema version', () => {
    const raw = structuredClone(rawSample('evaluation-completed')) as { detail: { schemaVersion: string } };
    raw.detail.schemaVersion = '2.0';
    const result = evaluationCompletedEvent.safeParse(raw);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['detail', 'schemaVersion']);
  });

  it('rejects a DocumentIndexed detail with an unknown status', () => {
    const raw = structuredClone(rawSample('document-indexed')) as { detail: { status: string } };
    raw.detail.status = 'done';
    const result = documentIndexedEvent.safeParse(raw);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['detail', 'status']);
  });

  it('rejects an S3 event without an object key, naming the field', () => {
    const raw = structuredClone(rawSample('s3-object-created')) as {
      detail: { object: Record<string, unknown> };
    };
    delete raw.detail.object.key;
    const result = s3ObjectCreatedEvent.safeParse(raw);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['detail', 'object', 'key']);
  });

  it('rejects a DatasetReady detail with a malformed content hash', () => {
    const raw = structuredClone(rawSample('dataset-ready')) as { detail: { contentHash: string } };
    raw.detail.contentHash = 'md5:abc';
    expect(datasetReadyEvent.safeParse(raw).success).toBe(false);
  });
});
