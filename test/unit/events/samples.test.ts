import { describe, expect, it } from 'vitest';
import { DRIFT_SIGNALS } from '#contracts/drift/baseline.ts';
import { datasetReadyEvent } from '#events/dataset-ready.ts';
import { documentIndexedEvent } from '#events/document-indexed.ts';
import { driftCheckRequestedEvent } from '#events/drift-check-requested.ts';
import { driftDetectedEvent } from '#events/drift-detected.ts';
import { evaluationCompletedEvent } from '#events/evaluation-completed.ts';
import { feedbackThresholdReachedEvent } from '#events/feedback-threshold-reached.ts';
import { fineTuneRequestedEvent } from '#events/finetune-requested.ts';
import { modelDeployedEvent } from '#events/model-deployed.ts';
import { modelRegisteredEvent } from '#events/model-registered.ts';
import { pipelineFailedEvent } from '#events/pipeline-failed.ts';
import { rolledBackEvent } from '#events/rolled-back.ts';
import { s3ObjectCreatedEvent, s3ObjectDeletedEvent } from '#events/s3-object-created.ts';
import { sageMakerModelPackageStateChangeEvent } from '#events/sagemaker-model-package-state-change.ts';
import { sageMakerTrainingJobStateChangeEvent } from '#events/sagemaker-training-job-state-change.ts';
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

  it('SageMaker Training Job State Change (Completed, spot): artifacts, final metrics, billable time, tags as a map', () => {
    const event = loadSample('sagemaker-training-job-completed', sageMakerTrainingJobStateChangeEvent);
    expect(event.source).toBe('aws.sagemaker');
    expect(event.detail).toMatchObject({
      TrainingJobName: 'llmops-dev-ft-3f9c2a7be1d04c58',
      TrainingJobStatus: 'Completed',
      EnableManagedSpotTraining: true,
      TrainingTimeInSeconds: 2873,
      BillableTimeInSeconds: 1006,
      CreationTime: 1795338751000,
    });
    expect(event.detail.ModelArtifacts?.S3ModelArtifacts).toMatch(/\/output\/model\.tar\.gz$/);
    expect(event.detail.FinalMetricDataList?.map((m) => m.MetricName)).toEqual([
      'train_loss',
      'eval_loss',
      'eval_perplexity',
    ]);
    expect(event.detail.Tags['llmops:job-id']).toBe('ft-3f9c2a7be1d04c58');
  });

  it('SageMaker Training Job State Change (Failed): the failure reason, times as the documented quoted epoch milliseconds', () => {
    const event = loadSample('sagemaker-training-job-failed', sageMakerTrainingJobStateChangeEvent);
    expect(event.detail.TrainingJobStatus).toBe('Failed');
    expect(event.detail.FailureReason).toMatch(/^AlgorithmError: .*CUDA out of memory/s);
    expect(event.detail.ModelArtifacts).toBeUndefined();
    expect(event.detail.CreationTime).toBe(1795442772000);
    expect(event.detail.TrainingEndTime).toBe(Date.parse('2026-11-23T14:31:27Z'));
  });

  it('rejects a training job event with an unknown status or an unparseable time', () => {
    const raw = structuredClone(rawSample('sagemaker-training-job-completed')) as {
      detail: Record<string, unknown>;
    };
    const status = sageMakerTrainingJobStateChangeEvent.safeParse({
      ...raw,
      detail: { ...raw.detail, TrainingJobStatus: 'Succeeded' },
    });
    expect(status.success).toBe(false);
    expect(status.error?.issues[0]?.path).toEqual(['detail', 'TrainingJobStatus']);
    const time = sageMakerTrainingJobStateChangeEvent.safeParse({
      ...raw,
      detail: { ...raw.detail, CreationTime: 'yesterday' },
    });
    expect(time.success).toBe(false);
  });

  it('SageMaker Model Package State Change (Approved): ISO times, the adapter, lineage in customer metadata', () => {
    const event = loadSample('sagemaker-model-package-approved', sageMakerModelPackageStateChangeEvent);
    expect(event.detail).toMatchObject({
      ModelPackageGroupName: 'LlmOps-dev-support-assistant',
      ModelPackageVersion: 4,
      ModelApprovalStatus: 'Approved',
      ModelPackageStatus: 'Completed',
      CreationTime: Date.parse('2026-11-22T10:02:17Z'),
    });
    expect(event.detail.InferenceSpecification?.Containers[0]?.ModelDataUrl).toMatch(/\/model\.tar\.gz$/);
    expect(event.detail.CustomerMetadataProperties?.candidateModel).toBe('support-assistant-ft4');
  });

  it('rejects a model package event with an unknown approval status', () => {
    const raw = structuredClone(rawSample('sagemaker-model-package-approved')) as {
      detail: { ModelApprovalStatus: string };
    };
    raw.detail.ModelApprovalStatus = 'APPROVED';
    const result = sageMakerModelPackageStateChangeEvent.safeParse(raw);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['detail', 'ModelApprovalStatus']);
  });

  it('llmops.FineTuneRequested', () => {
    const event = loadSample('finetune-requested', fineTuneRequestedEvent);
    expect(event.detail).toMatchObject({
      jobId: 'ft-3f9c2a7be1d04c58',
      dataset: { name: 'support-chats', version: 3 },
      purpose: 'finetune',
      recipe: 'sft-lora',
    });
  });

  it('rejects a FineTuneRequested detail with an unknown recipe', () => {
    const raw = structuredClone(rawSample('finetune-requested')) as { detail: { recipe: string } };
    raw.detail.recipe = 'full-finetune';
    const result = fineTuneRequestedEvent.safeParse(raw);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['detail', 'recipe']);
  });

  it('llmops.ModelRegistered: the package, the lineage and the final metrics', () => {
    const event = loadSample('model-registered', modelRegisteredEvent);
    expect(event.detail).toMatchObject({
      modelPackageVersion: 4,
      candidateModel: 'support-assistant-ft4',
      recipe: 'sft-lora',
      dataset: { name: 'support-chats', version: 3, purpose: 'finetune' },
      trainingJob: { billableSeconds: 1006, spot: true },
      placeholder: false,
    });
    expect(event.detail.metrics.eval_loss).toBe(1.2087);
  });

  it('rejects a ModelRegistered detail with a version 0 or a malformed dataset hash', () => {
    const raw = structuredClone(rawSample('model-registered')) as {
      detail: { modelPackageVersion: number; dataset: { contentHash: string } };
    };
    expect(
      modelRegisteredEvent.safeParse({ ...raw, detail: { ...raw.detail, modelPackageVersion: 0 } }).success,
    ).toBe(false);
    raw.detail.dataset.contentHash = 'sha256:abc';
    expect(modelRegisteredEvent.safeParse(raw).success).toBe(false);
  });

  it('llmops.ModelDeployed, promoted and rolled back', () => {
    const promoted = loadSample('model-deployed-promoted', modelDeployedEvent);
    expect(promoted.detail).toMatchObject({
      model: 'support-assistant',
      outcome: 'promoted',
      canary: { share: 0.1, breaches: [] },
      verified: { inferenceComponent: 'LlmOps-dev-support-assistant-ft4', matches: true },
    });
    const rolledBack = loadSample('model-deployed-rolled-back', modelDeployedEvent);
    expect(rolledBack.detail.outcome).toBe('rolled_back');
    expect(rolledBack.detail.canary.breaches).toEqual(['LlmOps-dev-CanaryErrorRateAlarm-7QH2KX9D1M3P']);
    expect(rolledBack.detail.verified.inferenceComponent).toBe(
      rolledBack.detail.previous?.inferenceComponent,
    );
  });

  it('llmops.FeedbackThresholdReached: the pairs, the KTO records and held-out prompts beside them, the annotators left out', () => {
    const event = loadSample('feedback-threshold-reached', feedbackThresholdReachedEvent);
    expect(event.detail).toMatchObject({
      exportId: 'feedback-20261205t060040z',
      pairs: 512,
      threshold: 500,
      location: { key: 'raw/preference/feedback/feedback-20261205t060040z.jsonl' },
      unpaired: { records: 2210 },
      heldOut: { prompts: 57 },
    });
    expect(event.detail.pairs).toBeGreaterThanOrEqual(event.detail.threshold);
    expect(event.detail.annotators.excluded).toEqual([
      { user: 'annotator-3f9c2a71d0be', agreement: 0.2, reviewed: 10 },
    ]);
    const raw = structuredClone(rawSample('feedback-threshold-reached')) as { detail: { pairs: number } };
    raw.detail.pairs = 0;
    const result = feedbackThresholdReachedEvent.safeParse(raw);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['detail', 'pairs']);
  });

  it('llmops.RolledBack: the target moved back, where to, and the evidence', () => {
    const event = loadSample('rolled-back', rolledBackEvent);
    expect(event.detail).toMatchObject({
      outcome: 'rolled_back',
      mode: 'act',
      target: { kind: 'prompt', name: 'rag-answer', label: 'production' },
      from: { version: 4 },
      to: { version: 3, passingRunId: 'sched-golden-daily-20261204060000' },
    });
    expect(event.detail.evidence.drift?.signal).toBe('quality');
    expect(event.detail.evidence.evaluation.failing.map((m) => m.name)).toEqual(['f1']);
    const raw = structuredClone(rawSample('rolled-back')) as { detail: { outcome: string } };
    raw.detail.outcome = 'reverted';
    expect(rolledBackEvent.safeParse(raw).success).toBe(false);
  });

  it('rejects a ModelDeployed detail with a canary share above 1', () => {
    const raw = structuredClone(rawSample('model-deployed-promoted')) as {
      detail: { canary: { share: number } };
    };
    raw.detail.canary.share = 1.5;
    const result = modelDeployedEvent.safeParse(raw);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['detail', 'canary', 'share']);
  });
});
