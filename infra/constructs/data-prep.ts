/**
 * DataPrep: a raw upload (S3 Object Created under `raw/`, on the default bus) starts a state machine
 * that plans the upload into parts, processes the parts in a Distributed Map (validate, redact PII, dedupe
 * within the part; one child execution per part), finalizes (cross-part dedupe, split, manifest, curated/; the quarantined lines to
 * `quarantine/` in the artifacts bucket, where no reader of curated data can read them) and registers the
 * dataset version (DynamoDB registry + `llmops.DatasetReady` on the project bus).
 *
 *   Plan → AlreadyProcessed? ─DUPLICATE→ AlreadyProcessed (Succeed)
 *                            └otherwise→ ProcessParts (Distributed Map: ProcessPart) → Finalize → Register → Done
 *
 * Plan stages the parts (byte ranges) in S3 as the Map's items; the Map writes each part's result to S3
 * (ResultWriter), where Finalize reads them: the execution state carries locations only, so the number
 * of parts is bounded by `dataPrep.maxParts` (see the schema), not by the state's 256 KiB. JSONPath only:
 * the local runner ignores JSONata.
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { layout } from '#contracts/pipelines/dataprep.ts';
import { RETRYABLE_ERROR_NAMES } from '#contracts/retryable-errors.ts';
import {
  DATASETS_PREFIX,
  RAG_DOCUMENT_WILDCARDS,
  RAG_RAW_PREFIX,
  RAW_PREFIX,
} from '#contracts/storage-layout.ts';
import { DATASET_READY } from '#events/dataset-ready.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';
import { LlmOpsFunction } from './llmops-function.ts';
import { PipelineStateMachine, pipelineStep } from './pipeline-state-machine.ts';
import { projectTable } from './project-table.ts';
import { acknowledgeStagedMap, MAX_CHILD_EXECUTIONS, stagedDistributedMap } from './staged-map.ts';

/** Name of the registry table's global secondary index. */
export const REGISTRY_GSI = 'gsi1';

export interface DataPrepProps {
  /** The deployment (names, log retention, removal, logging). */
  readonly deployment: DeploymentConfig;
  /** Part size, concurrency, memory and the record rules of the pipeline. */
  readonly config: AppConfig['dataPrep'];
  /** Raw uploads (read only, under `raw/`). */
  readonly rawBucket: s3.IBucket;
  /** Curated datasets (written by Finalize under `datasets/`). */
  readonly curatedBucket: s3.IBucket;
  /**
   * Artifacts; DataPrep uses `staging/dataprep/` and `quarantine/dataprep/` (the quarantined lines, written
   * by Finalize and read by no function).
   */
  readonly artifactsBucket: s3.IBucket;
  /** The project key (registry table, log groups, queues). */
  readonly encryptionKey: kms.IKey;
  /** The project bus, where Register emits `llmops.DatasetReady`. */
  readonly eventBus: events.IEventBus;
  /** Pages on failures and dead letters. */
  readonly alerts: LlmOpsAlerts;
  /** The stack's shared failure handler. */
  readonly failureHandler: lambda.IFunction;
}

/** The DataPrep pipeline. */
export class DataPrep extends Construct {
  /** Dataset registry: `pk`/`sk`, GSI `gsi1` (`gsi1pk`/`gsi1sk`), TTL `ttl`. */
  public readonly table: dynamodb.Table;
  public readonly planFunction: LlmOpsFunction;
  public readonly processPartFunction: LlmOpsFunction;
  public readonly finalizeFunction: LlmOpsFunction;
  public readonly registerFunction: LlmOpsFunction;
  /** Releases the claim of a run that failed after Plan, so the same upload can be processed again. */
  public readonly releaseClaimFunction: LlmOpsFunction;
  public readonly pipeline: PipelineStateMachine;
  public readonly stateMachine: sfn.StateMachine;
  /** Default-bus rule: raw upload → state machine. */
  public readonly triggerRule: events.Rule;
  /** Dead-letter queue of the trigger rule's target. */
  public readonly triggerDeadLetterQueue: LlmOpsDeadLetterQueue;

  constructor(scope: Construct, id: string, props: DataPrepProps) {
    super(scope, id);
    const { deployment, config: dp, encryptionKey, alerts } = props;
    if (dp.maxConcurrency < 1 || dp.maxConcurrency > MAX_CHILD_EXECUTIONS) {
      throw new Error(
        `DataPrep: dataPrep.maxConcurrency must be 1..${MAX_CHILD_EXECUTIONS} (Distributed Map), got ${dp.maxConcurrency}`,
      );
    }

    this.table = projectTable(this, 'DatasetsTable', {
      config: deployment,
      encryptionKey,
      sortKey: true,
      timeToLiveAttribute: 'ttl',
      gsi: REGISTRY_GSI,
      holds: 'disposable test datasets',
    });

    const common = { config: deployment, encryptionKey } as const;
    this.planFunction = new LlmOpsFunction(this, 'PlanFunction', {
      ...common,
      entry: 'functions/dataprep/plan.ts',
      description:
        'DataPrep Plan: checks the upload, dedupes the run and splits the object into byte-range parts',
      timeout: Duration.minutes(2),
    })
      // Plan refuses keys outside raw/ before reading them (InvalidDatasetError).
      .grantBucket(props.rawBucket, 'read', RAW_PREFIX)
      // It stages the parts as the Map's items, and writes nothing else.
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'write', layout.itemsPrefix)
      .bindTable(this.table, 'DATASETS_TABLE', 'readwrite', [REGISTRY_GSI])
      .bindString('PART_SIZE_BYTES', String(dp.partSizeBytes))
      .bindString('MAX_PARTS', String(dp.maxParts));
    // S3 answers a HeadObject of a missing key 404 only to a caller that may list the bucket, and the
    // prefix-conditioned ListBucket above never matches a HeadObject: without this, an upload deleted
    // after its event would be a 403 (AccessDenied) instead of a SourceChangedError. The raw bucket holds
    // only raw uploads, so listing it reveals nothing Plan cannot already read.
    this.planFunction.serviceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.rawBucket.bucketArn] }),
    );

    this.processPartFunction = new LlmOpsFunction(this, 'ProcessPartFunction', {
      ...common,
      entry: 'functions/dataprep/process-part.ts',
      description: 'DataPrep ProcessPart: validates, redacts PII and dedupes one part into staging/',
      memorySize: dp.processMemoryMb,
      timeout: Duration.minutes(15),
    })
      .grantBucket(props.rawBucket, 'read', RAW_PREFIX)
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'write', layout.stagingPrefix)
      .bindString('MAX_RECORD_BYTES', String(dp.maxRecordBytes))
      .bindString('PII_COMPREHEND', String(dp.comprehendPii));
    if (dp.comprehendPii) {
      this.processPartFunction.addUnscopedPolicy(
        'ComprehendPiiPolicy',
        ['comprehend:DetectPiiEntities'],
        'comprehend:DetectPiiEntities has no resource-level permissions (the IAM service reference lists no resource type).',
      );
    }

    this.releaseClaimFunction = new LlmOpsFunction(this, 'ReleaseClaimFunction', {
      ...common,
      entry: 'functions/dataprep/release-claim.ts',
      description:
        'DataPrep ReleaseClaim: marks a failed run so a redelivery of its upload is processed again',
    }).bindTable(this.table, 'DATASETS_TABLE', 'readwrite', [REGISTRY_GSI]);

    this.finalizeFunction = new LlmOpsFunction(this, 'FinalizeFunction', {
      ...common,
      entry: 'functions/dataprep/finalize.ts',
      description:
        'DataPrep Finalize: merges parts, dedupes across parts, splits train/validation, writes the manifest',
      memorySize: dp.finalizeMemoryMb,
      timeout: Duration.minutes(15),
    })
      // Reads the parts ProcessPart staged and the Map Run's result files (it neither rewrites nor deletes
      // them: the lifecycle rule does).
      .grantBucket(props.artifactsBucket, 'read', layout.stagingPrefix)
      .bindBucket(props.curatedBucket, 'CURATED_BUCKET', 'write', DATASETS_PREFIX)
      // Write only: the quarantine holds unredacted lines that only operators read.
      .bindBucket(props.artifactsBucket, 'QUARANTINE_BUCKET', 'write', layout.quarantinePrefix)
      .bindString('QUARANTINE_EXPIRATION_DAYS', String(dp.quarantineExpirationDays))
      .bindString('VALIDATION_RATIO', String(dp.validationRatio))
      .bindString('NEAR_DUP_THRESHOLD', String(dp.nearDuplicateThreshold));

    this.registerFunction = new LlmOpsFunction(this, 'RegisterFunction', {
      ...common,
      entry: 'functions/dataprep/register.ts',
      description: 'DataPrep Register: records the dataset version and emits llmops.DatasetReady',
    })
      .bindTable(this.table, 'DATASETS_TABLE', 'readwrite', [REGISTRY_GSI])
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [DATASET_READY],
      });

    const steps = new Construct(this, 'Steps');
    const retry = {
      errors: RETRYABLE_ERROR_NAMES,
      interval: Duration.seconds(2),
      maxAttempts: 3,
      backoffRate: 2,
    };
    const invoke = (stateName: string, fn: LlmOpsFunction, payload?: sfn.TaskInput): tasks.LambdaInvoke =>
      pipelineStep(steps, stateName, fn, retry, payload);

    // One child execution per part (a part is sized for one ProcessPart invocation, so no ItemBatcher).
    // No failure is tolerated: a part that still fails after its retries fails the Map Run, and the
    // catch below releases the claim before the execution fails (Finalize also refuses results that do
    // not account for every part).
    const processParts = stagedDistributedMap(steps, 'ProcessParts', {
      bucket: props.artifactsBucket,
      itemsPrefix: layout.itemsPrefix,
      itemsKeyPath: '$.items.key',
      resultsPrefix: layout.mapRunsPrefix,
      maxConcurrency: dp.maxConcurrency,
      itemSelector: {
        part: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
        runId: sfn.JsonPath.stringAt('$.runId'),
        source: sfn.JsonPath.objectAt('$.source'),
        dataset: sfn.JsonPath.objectAt('$.dataset'),
      },
      resultPath: '$.mapRun',
      label: 'Parts',
    }).itemProcessor(invoke('ProcessPart', this.processPartFunction));

    // Plan gets the execution name too: it identifies the run, so a retried Plan keeps its claim.
    const planPayload = sfn.TaskInput.fromObject({
      event: sfn.JsonPath.entirePayload,
      executionName: sfn.JsonPath.executionName,
    });
    // Once Plan has claimed the upload, any failure releases the claim (so a redelivery or a replay of
    // the same object version is processed again), then fails the execution with the original error.
    const failed = new sfn.Fail(steps, 'Failed', {
      errorPath: '$.failure.Error',
      causePath: '$.failure.Cause',
    });
    const releaseClaim = invoke('ReleaseClaim', this.releaseClaimFunction)
      .addCatch(failed, { resultPath: '$.releaseFailure' })
      .next(failed);
    const finalize = invoke('Finalize', this.finalizeFunction);
    const register = invoke('Register', this.registerFunction);
    for (const step of [processParts, finalize, register]) {
      step.addCatch(releaseClaim, { errors: ['States.ALL'], resultPath: '$.failure' });
    }
    const definition = invoke('Plan', this.planFunction, planPayload).next(
      new sfn.Choice(steps, 'AlreadyProcessed?')
        .when(sfn.Condition.stringEquals('$.status', 'DUPLICATE'), new sfn.Succeed(steps, 'AlreadyProcessed'))
        .otherwise(processParts.next(finalize).next(register).next(new sfn.Succeed(steps, 'Done'))),
    );

    this.pipeline = new PipelineStateMachine(this, 'Pipeline', {
      pipelineName: 'DataPrep',
      definition,
      timeout: Duration.hours(2),
      alerts,
      failureHandler: props.failureHandler,
      config: deployment,
      encryptionKey,
      comment: 'Raw upload → parts → curated dataset version → llmops.DatasetReady',
    });
    this.stateMachine = this.pipeline.stateMachine;
    this.pipeline.acknowledgeInvokedFunctions([
      this.planFunction,
      this.processPartFunction,
      this.finalizeFunction,
      this.registerFunction,
      this.releaseClaimFunction,
    ]);
    acknowledgeStagedMap(this.stateMachine, processParts);

    this.triggerDeadLetterQueue = new LlmOpsDeadLetterQueue(this, 'TriggerDeadLetterQueue', {
      alerts,
      description: 'the DataPrep trigger rule (raw uploads whose execution could not be started)',
      encryptionKey,
      allowEventBridge: true,
    });
    this.triggerRule = new events.Rule(this, 'RawObjectCreatedRule', {
      description: `DataPrep: Object Created in the raw bucket, except documents under ${RAG_RAW_PREFIX} → state machine`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [props.rawBucket.bucketName] },
          // Keys outside raw/ are refused by Plan with a reason (and page), rather than ignored.
          object: { key: [{ 'anything-but': { wildcard: [...RAG_DOCUMENT_WILDCARDS] } }] },
        },
      },
      targets: [new targets.SfnStateMachine(this.stateMachine, this.triggerDeadLetterQueue.delivery)],
    });
  }
}
