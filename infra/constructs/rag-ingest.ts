/**
 * RagIngest: documents uploaded under `raw/rag/` (txt, md, html, pdf: Object Created and Object Deleted on
 * the default bus) and `llmops.DatasetReady {purpose: rag}` (curated JSONL records, on the project bus)
 * start a state machine that chunks, embeds and indexes each changed document into the vector store,
 * with its status in a DynamoDB table.
 *
 *   Plan → Batches (Map over staged batches of documents) → Finish → AnyFailed? ─yes→ DocumentsFailed (Fail)
 *          └ per batch: IsDeletion? ─yes→ Index
 *                                   └no→ Chunk → Embed → Index
 *            a batch whose step fails after its retries is caught (BatchFailed) and its documents are
 *            recorded as failed by Finish.
 *
 * JSONPath and an INLINE Map only, as in DataPrep (the local runner cannot run JSONata or a distributed
 * Map). Index is the only function that talks to the store (and, with OpenSearch, runs in the VPC).
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { DOCUMENTS_COLLECTION_INDEX } from '#aws/rag/documents.ts';
import { RETRYABLE_ERROR_NAMES } from '#contracts/retryable-errors.ts';
import {
  DATASETS_PREFIX,
  RAG_DOCUMENT_WILDCARDS,
  RAG_RAW_PREFIX,
  STAGING_PREFIX,
} from '#contracts/storage-layout.ts';
import { DATASET_READY } from '#events/dataset-ready.ts';
import { DOCUMENT_INDEXED } from '#events/document-indexed.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';
import { LlmOpsFunction } from './llmops-function.ts';
import { grantModel } from './model-access.ts';
import { PipelineStateMachine, pipelineStep } from './pipeline-state-machine.ts';
import { projectTable } from './project-table.ts';
import type { RagVectorStore } from './rag-store.ts';

/** Staging prefix of RagIngest runs in the artifacts bucket (under the staging lifecycle rule). */
export const RAG_STAGING_PREFIX = `${STAGING_PREFIX}rag/`;
/** Documents per Map item. */
export const DOCUMENT_BATCH_SIZE = 25;

export interface RagIngestProps {
  /** The deployment (names, log retention, removal, logging). */
  readonly deployment: DeploymentConfig;
  /** Chunking, embedding batches, concurrency and document size of ingestion. */
  readonly config: AppConfig['rag'];
  readonly rawBucket: s3.IBucket;
  readonly curatedBucket: s3.IBucket;
  readonly artifactsBucket: s3.IBucket;
  readonly encryptionKey: kms.IKey;
  readonly eventBus: events.IEventBus;
  readonly alerts: LlmOpsAlerts;
  readonly failureHandler: lambda.IFunction;
  readonly store: RagVectorStore;
}

export class RagIngest extends Construct {
  /** Document status: `pk` = `doc#<id>`; GSI `gsi1` by collection. */
  public readonly table: dynamodb.Table;
  public readonly planFunction: LlmOpsFunction;
  public readonly chunkFunction: LlmOpsFunction;
  public readonly embedFunction: LlmOpsFunction;
  public readonly indexFunction: LlmOpsFunction;
  public readonly finishFunction: LlmOpsFunction;
  public readonly pipeline: PipelineStateMachine;
  public readonly stateMachine: sfn.StateMachine;
  /** Default-bus rule: documents created or deleted under `raw/rag/`. */
  public readonly uploadRule: events.Rule;
  /** Project-bus rule: `llmops.DatasetReady` with purpose `rag`. */
  public readonly datasetRule: events.Rule;
  public readonly triggerDeadLetterQueue: LlmOpsDeadLetterQueue;

  constructor(scope: Construct, id: string, props: RagIngestProps) {
    super(scope, id);
    const { deployment, config: rag, encryptionKey, alerts, store } = props;
    // Chunks are embedded with the model the store's index was made for.
    const model = store.embeddingModel;

    this.table = projectTable(this, 'DocumentsTable', {
      config: deployment,
      encryptionKey,
      gsi: DOCUMENTS_COLLECTION_INDEX,
      holds: 'disposable document statuses (rebuilt by re-ingesting)',
    });

    const common = { config: deployment, encryptionKey, vectorStore: store.kind } as const;
    const bindCommon = (fn: LlmOpsFunction): LlmOpsFunction =>
      fn
        .bindTable(this.table, 'DOCUMENTS_TABLE', 'readwrite', [DOCUMENTS_COLLECTION_INDEX])
        // Every step reports documents it fails (and Index those it indexes) as llmops.DocumentIndexed.
        .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
          sources: [LLMOPS_SOURCE],
          detailTypes: [DOCUMENT_INDEXED],
        })
        .bindString('VECTOR_STORE_KIND', store.kind);

    this.planFunction = bindCommon(
      new LlmOpsFunction(this, 'PlanFunction', {
        ...common,
        entry: 'functions/rag/plan.ts',
        description:
          'RagIngest Plan: parses changed documents, claims their versions and stages them in batches',
        memorySize: 1536,
        timeout: Duration.minutes(5),
      }),
    )
      .grantBucket(props.rawBucket, 'read', RAG_RAW_PREFIX)
      .grantBucket(props.curatedBucket, 'read', `${DATASETS_PREFIX}rag/`)
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'write', RAG_STAGING_PREFIX)
      .bindString('CHUNK_MAX_TOKENS', String(rag.chunkMaxTokens))
      .bindString('CHUNK_OVERLAP_TOKENS', String(rag.chunkOverlapTokens))
      .bindString('EMBEDDING_MODEL_ID', model.id)
      .bindString('MAX_DOCUMENT_BYTES', String(rag.maxDocumentBytes))
      .bindString('DOCUMENT_BATCH_SIZE', String(DOCUMENT_BATCH_SIZE));

    this.chunkFunction = bindCommon(
      new LlmOpsFunction(this, 'ChunkFunction', {
        ...common,
        entry: 'functions/rag/chunk.ts',
        description: 'RagIngest Chunk: cuts documents into token-sized, structure-aware chunks',
        memorySize: 1024,
        timeout: Duration.minutes(5),
      }),
    )
      // Reads its batch and writes the batch's chunks; it deletes nothing (the lifecycle rule does).
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', RAG_STAGING_PREFIX)
      .grantBucket(props.artifactsBucket, 'write', RAG_STAGING_PREFIX)
      .bindString('CHUNK_MAX_TOKENS', String(rag.chunkMaxTokens))
      .bindString('CHUNK_OVERLAP_TOKENS', String(rag.chunkOverlapTokens));

    this.embedFunction = bindCommon(
      new LlmOpsFunction(this, 'EmbedFunction', {
        ...common,
        entry: 'functions/rag/embed.ts',
        description: 'RagIngest Embed: embeds chunks in batches with the catalog embedding model',
        memorySize: 1024,
        timeout: Duration.minutes(15),
      }),
    )
      // Reads the batch's chunks and writes their vectors; it deletes nothing.
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', RAG_STAGING_PREFIX)
      .grantBucket(props.artifactsBucket, 'write', RAG_STAGING_PREFIX)
      .bindString('EMBEDDING_MODEL', JSON.stringify(model))
      .bindString('EMBED_BATCH_SIZE', String(rag.embedBatchSize))
      .bindString('EMBED_CONCURRENCY', String(rag.embedConcurrency));
    grantModel(this, this.embedFunction, model, 'Embedding');

    this.indexFunction = bindCommon(
      new LlmOpsFunction(this, 'IndexFunction', {
        ...common,
        network: store.networkPlacement(),
        entry: 'functions/rag/index-chunks.ts',
        description: 'RagIngest Index: replaces each document’s chunks in the vector store, or removes them',
        memorySize: 1024,
        timeout: Duration.minutes(10),
      }),
    ).bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', RAG_STAGING_PREFIX);
    store.grantReadWrite(this.indexFunction);

    this.finishFunction = bindCommon(
      new LlmOpsFunction(this, 'FinishFunction', {
        ...common,
        entry: 'functions/rag/finish.ts',
        description: 'RagIngest Finish: totals the run and records documents of failed batches as failed',
        timeout: Duration.minutes(5),
      }),
    ).bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', RAG_STAGING_PREFIX);

    const steps = new Construct(this, 'Steps');
    const retry = {
      errors: RETRYABLE_ERROR_NAMES,
      interval: Duration.seconds(5),
      maxAttempts: 4,
      backoffRate: 3,
      jitter: true,
    };
    const invoke = (stateName: string, fn: LlmOpsFunction, payload?: sfn.TaskInput): tasks.LambdaInvoke =>
      pipelineStep(steps, stateName, fn, retry, payload);

    // A batch whose step still fails is caught here: its documents are recorded as failed by Finish, and
    // the other batches go on.
    const batchFailed = new sfn.Pass(steps, 'BatchFailed');
    const chunk = invoke('Chunk', this.chunkFunction).addCatch(batchFailed, { resultPath: '$.error' });
    const embed = invoke('Embed', this.embedFunction).addCatch(batchFailed, { resultPath: '$.error' });
    const index = invoke('Index', this.indexFunction).addCatch(batchFailed, { resultPath: '$.error' });
    const perBatch = new sfn.Choice(steps, 'IsDeletion?')
      .when(sfn.Condition.stringEquals('$.batch.kind', 'delete'), index)
      .otherwise(chunk.next(embed).next(index));

    const batches = new sfn.Map(steps, 'Batches', {
      itemsPath: '$.batches',
      maxConcurrency: rag.maxConcurrency,
      itemSelector: {
        runId: sfn.JsonPath.stringAt('$.runId'),
        batch: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      },
      resultPath: '$.results',
    }).itemProcessor(perBatch);

    const planPayload = sfn.TaskInput.fromObject({
      event: sfn.JsonPath.entirePayload,
      executionName: sfn.JsonPath.executionName,
    });
    const definition = invoke('Plan', this.planFunction, planPayload)
      .next(batches)
      .next(invoke('Finish', this.finishFunction))
      .next(
        new sfn.Choice(steps, 'AnyFailed?')
          .when(
            sfn.Condition.stringEquals('$.status', 'FAILED'),
            new sfn.Fail(steps, 'DocumentsFailed', { error: 'DocumentsFailed', causePath: '$.summary' }),
          )
          .otherwise(new sfn.Succeed(steps, 'Done')),
      );

    this.pipeline = new PipelineStateMachine(this, 'Pipeline', {
      pipelineName: 'RagIngest',
      definition,
      timeout: Duration.hours(6),
      alerts,
      failureHandler: props.failureHandler,
      config: deployment,
      encryptionKey,
      comment: 'raw/rag/ uploads and rag datasets → chunks → embeddings → vector store',
    });
    this.stateMachine = this.pipeline.stateMachine;
    this.pipeline.acknowledgeInvokedFunctions([
      this.planFunction,
      this.chunkFunction,
      this.embedFunction,
      this.indexFunction,
      this.finishFunction,
    ]);

    this.triggerDeadLetterQueue = new LlmOpsDeadLetterQueue(this, 'TriggerDeadLetterQueue', {
      alerts,
      description:
        'the RagIngest trigger rules (uploads, deletions and datasets whose execution could not be started)',
      encryptionKey,
      allowEventBridge: true,
    });
    const target = () => new targets.SfnStateMachine(this.stateMachine, this.triggerDeadLetterQueue.delivery);
    this.uploadRule = new events.Rule(this, 'DocumentUploadRule', {
      description:
        'RagIngest: a document created or deleted under raw/rag/ (txt, md, html, pdf) → state machine',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created', 'Object Deleted'],
        detail: {
          bucket: { name: [props.rawBucket.bucketName] },
          object: { key: RAG_DOCUMENT_WILDCARDS.map((wildcard) => ({ wildcard })) },
        },
      },
      targets: [target()],
    });
    this.datasetRule = new events.Rule(this, 'DatasetReadyRule', {
      description: `RagIngest: ${DATASET_READY} with purpose rag → state machine`,
      eventBus: props.eventBus,
      eventPattern: {
        source: [LLMOPS_SOURCE],
        detailType: [DATASET_READY],
        detail: { purpose: ['rag'] },
      },
      targets: [target()],
    });
  }
}
