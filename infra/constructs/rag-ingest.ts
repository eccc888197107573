/**
 * RagIngest: documents uploaded under `raw/rag/` (txt, md, html, pdf: Object Created and Object Deleted on
 * the default bus) and `llmops.DatasetReady {purpose: rag}` (curated JSONL records, on the project bus)
 * go to a trigger queue; a pipe starts one execution per batch of them (BatchedTrigger), and the state
 * machine chunks, embeds and indexes each changed document into the vector store, with its status in a
 * DynamoDB table.
 *
 *   Plan → AnyBatches? → Batches (Distributed Map over the staged batches) → Finish → AnyFailed?
 *                                                          ─yes→ DocumentsFailed (Fail)
 *          └ per batch (a child execution): IsDeletion? ─yes→ Index
 *                                                       └no→ Chunk → Embed → Index
 *            a batch whose step fails after its retries fails its child; the Map tolerates it, and
 *            Finish records its documents as failed from the Map Run's result files.
 *
 * JSONPath only, as in DataPrep (the local runner ignores JSONata). Plan stages the Map's items in S3 and
 * the Map writes its results there, so a run's number of batches is not bounded by the execution state.
 * Index is the only function that talks to the store (and, with OpenSearch, runs in the VPC).
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { DOCUMENTS_COLLECTION_INDEX } from '#aws/rag/documents.ts';
import { ragLayout } from '#contracts/pipelines/rag-ingest.ts';
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
import { BatchedTrigger } from './batched-trigger.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';
import { LlmOpsFunction } from './llmops-function.ts';
import { grantModel } from './model-access.ts';
import { PipelineStateMachine, pipelineStep } from './pipeline-state-machine.ts';
import { projectTable } from './project-table.ts';
import type { RagVectorStore } from './rag-store.ts';
import { acknowledgeStagedMap, stagedDistributedMap } from './staged-map.ts';

/** Staging prefix of RagIngest runs in the artifacts bucket (under the staging lifecycle rule). */
export const RAG_STAGING_PREFIX = `${STAGING_PREFIX}rag/`;
/** Documents per Map item. */
export const DOCUMENT_BATCH_SIZE = 25;

/**
 * The largest trigger record, in bytes, as an execution's input holds it. An S3 event is under 1 KB plus
 * its key: at most 1,024 bytes, which a key of control characters turns into 6 bytes each in the event's
 * JSON, then 7 as the record's `body` string (7,168 bytes). A DatasetReady is about 1.8 KB with a
 * 96-character dataset name (DataPrep's longest) plus the raw key it came from (the same 7,168 bytes at
 * worst). The SQS record around either (message id, receipt handle, attributes, MD5, queue ARN) is about
 * 1 KB. 10 KiB bounds both.
 */
export const TRIGGER_MAX_RECORD_BYTES = 10 * 1024;
/**
 * Events per execution: 25 records of at most {@link TRIGGER_MAX_RECORD_BYTES} (250 KiB) always fit in
 * the 256 KiB an execution's input may hold, and make one Map item ({@link DOCUMENT_BATCH_SIZE}) of a
 * burst of uploads.
 */
export const TRIGGER_BATCH_SIZE = 25;
/**
 * How long the pipe waits for a batch to fill: a burst of uploads fills batches at once, and a lone upload
 * waits this long (SQS's polling may add up to 20 s) before its execution starts.
 */
export const TRIGGER_BATCHING_WINDOW = Duration.seconds(10);

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
  /** The trigger queue and the pipe that starts one execution per batch of its events. */
  public readonly trigger: BatchedTrigger;

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
        // One invocation reads a whole dataset version, holds its documents and claims each: this is
        // what bounds a run's size now that the Map's items and results live in S3 (docs/rag.md#limits).
        memorySize: 3008,
        timeout: Duration.minutes(15),
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

    // Each batch is a child execution of a Distributed Map. A batch whose step still fails after its
    // retries fails its child, and every failure is tolerated: the other batches go on, and Finish reads
    // the failed children (their input, error and cause) from the Map Run's result files and records
    // their documents as failed, which fails the execution at the end.
    const chunk = invoke('Chunk', this.chunkFunction);
    const embed = invoke('Embed', this.embedFunction);
    const index = invoke('Index', this.indexFunction);
    const perBatch = new sfn.Choice(steps, 'IsDeletion?')
      .when(sfn.Condition.stringEquals('$.batch.kind', 'delete'), index)
      .otherwise(chunk.next(embed).next(index));

    // Items: the batch references Plan staged, one per line (an item is already a batch of documents, and
    // documents (up to maxDocumentBytes each) cannot ride in a child's input, so no ItemBatcher).
    const batches = stagedDistributedMap(steps, 'Batches', {
      bucket: props.artifactsBucket,
      itemsPrefix: ragLayout.itemsPrefix,
      itemsKeyPath: '$.items.key',
      resultsPrefix: ragLayout.mapRunsPrefix,
      maxConcurrency: rag.maxConcurrency,
      itemSelector: {
        runId: sfn.JsonPath.stringAt('$.runId'),
        batch: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      },
      toleratedFailurePercentage: 100,
      resultPath: '$.mapRun',
      label: 'Batches',
    }).itemProcessor(perBatch);

    const planPayload = sfn.TaskInput.fromObject({
      event: sfn.JsonPath.entirePayload,
      executionName: sfn.JsonPath.executionName,
    });
    const finish = invoke('Finish', this.finishFunction);
    finish.next(
      new sfn.Choice(steps, 'AnyFailed?')
        .when(
          sfn.Condition.stringEquals('$.status', 'FAILED'),
          new sfn.Fail(steps, 'DocumentsFailed', { error: 'DocumentsFailed', causePath: '$.summary' }),
        )
        .otherwise(new sfn.Succeed(steps, 'Done')),
    );
    // A run with nothing to chunk, embed, index or delete (everything unchanged) starts no Map Run.
    const definition = invoke('Plan', this.planFunction, planPayload).next(
      new sfn.Choice(steps, 'AnyBatches?')
        .when(sfn.Condition.numberGreaterThan('$.batchCount', 0), batches.next(finish))
        .otherwise(finish),
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
    acknowledgeStagedMap(this.stateMachine, batches);

    this.triggerDeadLetterQueue = new LlmOpsDeadLetterQueue(this, 'TriggerDeadLetterQueue', {
      alerts,
      description:
        'the RagIngest trigger (uploads, deletions and datasets the rules could not queue, or whose execution the pipe could not start)',
      encryptionKey,
      allowEventBridge: true,
    });
    // Uploads come in bursts (a folder synced, a corpus re-uploaded): the rules send them to a queue, and a
    // pipe starts one execution per batch of events, so that a burst pays the cost of an execution (Plan,
    // Map, Finish, staging) once per batch rather than once per document.
    this.trigger = new BatchedTrigger(this, 'Trigger', {
      stateMachine: this.stateMachine,
      encryptionKey,
      deadLetterQueue: this.triggerDeadLetterQueue,
      alerts,
      batchSize: TRIGGER_BATCH_SIZE,
      maximumBatchingWindow: TRIGGER_BATCHING_WINDOW,
      maxRecordBytes: TRIGGER_MAX_RECORD_BYTES,
      description: 'RagIngest: batches of raw/rag/ uploads, deletions and rag datasets → one execution each',
    });
    const target = () => this.trigger.ruleTarget();
    this.uploadRule = new events.Rule(this, 'DocumentUploadRule', {
      description:
        'RagIngest: a document created or deleted under raw/rag/ (txt, md, html, pdf) → trigger queue',
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
      description: `RagIngest: ${DATASET_READY} with purpose rag → trigger queue`,
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
