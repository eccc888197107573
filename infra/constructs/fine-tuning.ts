/**
 * Fine-tuning: from a curated dataset to a served, evaluated, rolled-out LoRA adapter.
 *
 *   llmops.DatasetReady {purpose: finetune|preference} ┐
 *   llmops.FineTuneRequested (POST /v1/finetune-jobs)  ┴─▶ FineTune state machine:
 *     Plan → Planned? ─duplicate→ Done
 *       └planned→ Train (sagemaker:createTrainingJob.sync: managed spot, checkpoints to S3, MaxWait,
 *                  KMS on volume and output, metric definitions) → Register (model package
 *                  PendingManualApproval + lineage, the candidate's adapter component and catalog entry,
 *                  llmops.ModelRegistered) → CandidateReady (loop) → RequestEvaluation → Done
 *       any failure → RecordFailure (the job failed, with why; its component removed) → Fail (pages)
 *                  (a candidate trained on feedback: a second, informing run on the held-out
 *                  feedback suite, candidate-<job>-holdout, with its win rate)
 *   llmops.EvaluationCompleted (candidate-<job>) ─▶ Gate: pass → approve (auto) or await an admin
 *                                                 (manual); fail → reject, component removed
 *   SageMaker Model Package State Change (Approved) ─▶ Rollout state machine:
 *     Start (canary share on the served model) → Wait → Check (alarms, counts, bake) ─continue→ Wait
 *       ├promote→ Promote → Verify (what actually serves) → Deployed (llmops.ModelDeployed)
 *       └rollback→ Rollback → VerifyRolledBack (the previous component serves again) → Deployed
 *                  (llmops.ModelDeployed; RolloutsRolledBack pages)
 *     a Verify that finds another configuration serving fails the execution (RolloutFailed pages)
 *   canary alarms (the candidate's error rate, p90 latency, guardrail interventions) ─▶ Rollout function
 *
 * JSONPath and no Distributed Map, as the other pipelines (the local runner runs both state machines,
 * with a training stand-in for the .sync task).
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AssetHashType, Aws, BundlingOutput, DockerImage, Duration, Fn, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { FINETUNE_JOBS_INDEX } from '#aws/finetune/job-store.ts';
import {
  ROLLOUT_ERROR_METRIC,
  ROLLOUT_GUARDRAIL_METRIC,
  ROLLOUT_LATENCY_METRIC,
  ROLLOUT_VARIANT_DIMENSION,
} from '#contracts/models/rollout-metrics.ts';
import { candidateRunId } from '#contracts/pipelines/finetune.ts';
import { RETRYABLE_ERROR_NAMES } from '#contracts/retryable-errors.ts';
import {
  DATASETS_PREFIX,
  FINETUNE_CHECKPOINTS_PREFIX,
  FINETUNE_LINEAGE_PREFIX,
  FINETUNE_OUTPUT_PREFIX,
} from '#contracts/storage-layout.ts';
import { sageMakerNamePrefix } from '#core/finetune/plan.ts';
import { CLOUDWATCH_ALARM_STATE_CHANGE } from '#events/cloudwatch-alarm-state-change.ts';
import { DATASET_READY } from '#events/dataset-ready.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { EVALUATION_COMPLETED } from '#events/evaluation-completed.ts';
import { EVALUATION_REQUESTED } from '#events/evaluation-requested.ts';
import { FINETUNE_REQUESTED } from '#events/finetune-requested.ts';
import { MODEL_DEPLOYED } from '#events/model-deployed.ts';
import { MODEL_REGISTERED } from '#events/model-registered.ts';
import { SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE } from '#events/sagemaker-model-package-state-change.ts';
import {
  SAGEMAKER_SOURCE,
  SAGEMAKER_TRAINING_JOB_STATE_CHANGE,
} from '#events/sagemaker-training-job-state-change.ts';
import type { FineTuningConfig } from '#infra/config/finetune.ts';
import type { DeploymentConfig } from '#infra/config/index.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { type TarEntry, tarGz } from '#infra/tar-gz.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { REGISTRY_GSI } from './data-prep.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';
import { dlcImageUri } from './dlc-images.ts';
import type { LlmServing } from './llm-serving.ts';
import { LlmOpsFunction, METRICS_SERVICE } from './llmops-function.ts';
import { SAGEMAKER_INVOKE_TAG_KEY, sageMakerInvokeTagValue } from './model-access.ts';
import { API_FUNCTION_ENTRIES, LLMOPS_METRICS_NAMESPACE } from './model-gateway.ts';
import { acknowledge, arnInFinding } from './nag.ts';
import { PipelineStateMachine, pipelineStep } from './pipeline-state-machine.ts';
import { projectTable } from './project-table.ts';

/** The training source (`sagemaker_submit_directory`): the script and its pure modules, no tests. */
export const TRAINING_SOURCE_DIR = 'functions/finetune/train';
const TRAINING_SOURCE_EXCLUDE = ['tests', '__pycache__', 'smoke.py'];

/**
 * The metric definitions of the training jobs: the script's own file (`metric_definitions.json`, the
 * lines `llmops_train/metrics.py` prints), read from the training source at synth time.
 */
export function trainingMetricDefinitions(): { Name: string; Regex: string }[] {
  return JSON.parse(
    readFileSync(join(REPO_ROOT, TRAINING_SOURCE_DIR, 'metric_definitions.json'), 'utf8'),
  ) as {
    Name: string;
    Regex: string;
  }[];
}

/** The local path SageMaker syncs with the checkpoint S3 URI. */
export const CHECKPOINT_LOCAL_PATH = '/opt/ml/checkpoints';

/** The run ids of candidate evaluations start so. */
const CANDIDATE_RUN_PREFIX = candidateRunId('');

export interface FineTuningProps {
  readonly deployment: DeploymentConfig;
  readonly config: FineTuningConfig;
  readonly curatedBucket: s3.IBucket;
  readonly artifactsBucket: s3.IBucket;
  readonly encryptionKey: kms.IKey;
  readonly eventBus: events.IEventBus;
  readonly alerts: LlmOpsAlerts;
  readonly failureHandler: lambda.IFunction;
  /** The endpoint the candidates are served on. */
  readonly serving: LlmServing;
  /** The model catalog (candidate, base and served entries; the canary). */
  readonly catalogTable: dynamodb.ITable;
  /** The dataset registry (a request names a dataset version). */
  readonly datasetsTable: dynamodb.ITable;
  /** Largest request body of the fine-tuning routes (`api.maxRequestBytes`). */
  readonly maxRequestBytes: number;
  /**
   * The feedback export's held-out suite (`<feedback dataset>-holdout`) and the evaluations table that
   * registers its versions (read): a candidate trained on the feedback dataset is also judged on it,
   * pairwise against production (its win rate; it never gates).
   * @default no such run
   */
  readonly feedbackHoldout?: {
    readonly suite: string;
    readonly evaluationsTable: dynamodb.ITable;
  };
}

export class FineTuning extends Construct {
  /** Jobs (`job#<id>`) and rollouts (`rollout#<served model>`): `pk`/`sk`, GSI `gsi1`. */
  public readonly table: dynamodb.Table;
  public readonly modelPackageGroup: sagemaker.CfnModelPackageGroup;
  public readonly modelPackageGroupName: string;
  /** The role training jobs run as. */
  public readonly trainingRole: iam.Role;
  /** The training script as `sourcedir.tar.gz`. */
  public readonly trainingSource: s3assets.Asset;
  public readonly trainingImageUri: string;
  public readonly planFunction: LlmOpsFunction;
  public readonly registerFunction: LlmOpsFunction;
  public readonly candidateFunction: LlmOpsFunction;
  public readonly gateFunction: LlmOpsFunction;
  public readonly rolloutFunction: LlmOpsFunction;
  /** `POST/GET /v1/finetune-jobs`, `GET /v1/finetune-jobs/{id}`, `POST /v1/finetune-jobs/{id}/approval`. */
  public readonly apiFunction: LlmOpsFunction;
  public readonly pipeline: PipelineStateMachine;
  public readonly stateMachine: sfn.StateMachine;
  public readonly rolloutPipeline: PipelineStateMachine;
  public readonly rolloutStateMachine: sfn.StateMachine;
  /** The candidate's error rate, p90 latency and guardrail intervention rate during a canary. */
  public readonly canaryAlarms: readonly cloudwatch.Alarm[];
  /** ALARM when a rollout rolled back: pages. */
  public readonly rolledBackAlarm: cloudwatch.Alarm;
  public readonly triggerDeadLetterQueue: LlmOpsDeadLetterQueue;
  /** What {@link bindModelRouting} grants: the catalog, and the SageMaker resources a rollout verifies. */
  readonly #routing: {
    readonly catalogTable: dynamodb.ITable;
    readonly namePrefix: string;
    readonly componentsArn: string;
    readonly endpointArn: string;
    readonly packagesArn: string;
  };

  constructor(scope: Construct, id: string, props: FineTuningProps) {
    super(scope, id);
    const { deployment, config, encryptionKey, alerts, serving } = props;
    const stack = Stack.of(this);
    const common = { config: deployment, encryptionKey } as const;

    this.table = projectTable(this, 'FinetuneTable', {
      config: deployment,
      encryptionKey,
      sortKey: true,
      gsi: FINETUNE_JOBS_INDEX,
      holds: 'test fine-tuning jobs and rollouts',
    });

    this.modelPackageGroupName = `${deployment.stackName}-${config.servedModel}`;
    this.modelPackageGroup = new sagemaker.CfnModelPackageGroup(this, 'ModelPackageGroup', {
      modelPackageGroupName: this.modelPackageGroupName,
      modelPackageGroupDescription: `${deployment.stackName}: LoRA adapters of ${config.baseModel.hfModelId} served as ${config.servedModel}, with their lineage`,
    });
    const packageGroupArn = `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:model-package-group/${this.modelPackageGroupName.toLowerCase()}`;
    const packagesArn = `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:model-package/${this.modelPackageGroupName.toLowerCase()}/*`;

    // The training script, packed as the tar.gz the training toolkit extracts (sagemaker_submit_directory).
    this.trainingSource = new s3assets.Asset(this, 'TrainingSource', {
      path: join(REPO_ROOT, TRAINING_SOURCE_DIR),
      exclude: TRAINING_SOURCE_EXCLUDE.map((name) => `**/${name}`),
      assetHashType: AssetHashType.SOURCE,
      bundling: {
        image: DockerImage.fromRegistry('local-bundling-only'),
        outputType: BundlingOutput.ARCHIVED,
        local: {
          tryBundle: (outputDir) => packTrainingSource(join(REPO_ROOT, TRAINING_SOURCE_DIR), outputDir),
        },
      },
    });
    this.trainingImageUri = dlcImageUri(this, config.training.image);

    // The training job's role: its inputs, checkpoints and output, the image, logs and metrics.
    this.trainingRole = new iam.Role(this, 'TrainingRole', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: `${deployment.stackName}: runs fine-tuning jobs (datasets in, checkpoints and adapters out)`,
    });
    const trainingPolicy = new iam.Policy(this, 'TrainingPolicy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'ReadDatasets',
          actions: ['s3:GetObject'],
          resources: [
            props.curatedBucket.arnForObjects(`${DATASETS_PREFIX}finetune/*`),
            props.curatedBucket.arnForObjects(`${DATASETS_PREFIX}preference/*`),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'ListDatasets',
          actions: ['s3:ListBucket'],
          resources: [props.curatedBucket.bucketArn],
          conditions: {
            StringLike: { 's3:prefix': [`${DATASETS_PREFIX}finetune/*`, `${DATASETS_PREFIX}preference/*`] },
          },
        }),
        new iam.PolicyStatement({
          sid: 'CheckpointsAndOutput',
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
          resources: [
            props.artifactsBucket.arnForObjects(`${FINETUNE_CHECKPOINTS_PREFIX}*`),
            props.artifactsBucket.arnForObjects(`${FINETUNE_OUTPUT_PREFIX}*`),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'ListCheckpoints',
          actions: ['s3:ListBucket'],
          resources: [props.artifactsBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${FINETUNE_CHECKPOINTS_PREFIX}*`] } },
        }),
        new iam.PolicyStatement({
          // The datasets and the output through S3; the ML storage volume (VolumeKmsKeyId) through SageMaker.
          sid: 'ProjectKey',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:CreateGrant', 'kms:DescribeKey'],
          resources: [encryptionKey.keyArn],
          // S3 (datasets, checkpoints, the adapter), SageMaker itself, and EC2 for the encrypted ML
          // storage volume (a grant SageMaker creates through EBS).
          conditions: {
            StringEquals: {
              'kms:ViaService': [
                `s3.${Aws.REGION}.amazonaws.com`,
                `sagemaker.${Aws.REGION}.amazonaws.com`,
                `ec2.${Aws.REGION}.amazonaws.com`,
              ],
            },
          },
        }),
        new iam.PolicyStatement({
          // The training source asset: this one object (its key is its content hash), read-only.
          sid: 'ReadTrainingSource',
          actions: ['s3:GetObject'],
          resources: [this.trainingSource.bucket.arnForObjects(this.trainingSource.s3ObjectKey)],
        }),
        new iam.PolicyStatement({
          sid: 'PullTrainingImage',
          actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
          // The region's Deep Learning Containers registry (the account of the image URI, from the mapping).
          resources: [
            `arn:${Aws.PARTITION}:ecr:${Aws.REGION}:${Fn.select(0, Fn.split('.', this.trainingImageUri))}:repository/${config.training.image.repository}`,
          ],
        }),
        new iam.PolicyStatement({
          sid: 'EcrToken',
          actions: ['ecr:GetAuthorizationToken'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'TrainingLogs',
          actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [
            `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/TrainingJobs*`,
          ],
        }),
        new iam.PolicyStatement({
          sid: 'TrainingMetrics',
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringLike: { 'cloudwatch:namespace': ['/aws/sagemaker/*'] } },
        }),
      ],
    });
    trainingPolicy.attachToRole(this.trainingRole);
    const bucketArn = (bucket: s3.IBucket) => arnInFinding(this, bucket.node.defaultChild as s3.CfnBucket);
    for (const [finding, reason] of [
      [
        `Resource::${bucketArn(props.curatedBucket)}/${DATASETS_PREFIX}finetune/*`,
        'A job reads the train and validation files of the dataset version it trains on; versions are created at run time under this prefix.',
      ],
      [
        `Resource::${bucketArn(props.curatedBucket)}/${DATASETS_PREFIX}preference/*`,
        'A job reads the train and validation files of the dataset version it trains on; versions are created at run time under this prefix.',
      ],
      [
        `Resource::${bucketArn(props.artifactsBucket)}/${FINETUNE_CHECKPOINTS_PREFIX}*`,
        'Spot checkpoints: each job writes and reads back finetune/checkpoints/<job>/ (a job id is known only at run time).',
      ],
      [
        `Resource::${bucketArn(props.artifactsBucket)}/${FINETUNE_OUTPUT_PREFIX}*`,
        'Each job writes its adapter to finetune/output/<job>/output/model.tar.gz.',
      ],
      [
        'Resource::*',
        'ecr:GetAuthorizationToken has no resource type; cloudwatch:PutMetricData has none either and is limited to the SageMaker namespaces by condition.',
      ],
      [
        'Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs*',
        'SageMaker writes each job to a stream of /aws/sagemaker/TrainingJobs named after the job.',
      ],
    ] as const) {
      acknowledge(trainingPolicy, `AwsSolutions-IAM5[${finding}]`, reason);
    }

    const tagPair = `${SAGEMAKER_INVOKE_TAG_KEY}=${sageMakerInvokeTagValue(deployment.stackName)}`;
    const settings = JSON.stringify({
      servedModel: config.servedModel,
      baseModel: config.baseModel,
      recipes: config.recipes,
      hyperparameters: config.hyperparameters,
      gate: {
        suite: config.gate.suite,
        maxItems: config.gate.maxItems,
        k: config.gate.k,
        approval: config.gate.approval,
      },
      spot: config.training.spot,
      ...(config.serving.fallbackModel ? { fallbackModel: config.serving.fallbackModel } : {}),
    });

    // Plan: the job, its name, hyperparameters, channels and checkpoint location.
    this.planFunction = new LlmOpsFunction(this, 'PlanFunction', {
      ...common,
      entry: 'functions/finetune/plan.ts',
      description: 'FineTune Plan: claims the job and plans the training request from the dataset version',
      timeout: Duration.minutes(1),
    })
      .bindTable(this.table, 'FINETUNE_TABLE', 'readwrite', [FINETUNE_JOBS_INDEX])
      .bindTable(props.datasetsTable, 'DATASETS_TABLE', 'read', [REGISTRY_GSI])
      .bindString('CURATED_BUCKET', props.curatedBucket.bucketName)
      .bindString('ARTIFACTS_BUCKET', props.artifactsBucket.bucketName)
      .bindString('TRAINING_SOURCE_URI', this.trainingSource.s3ObjectUrl)
      .bindString('STACK_NAME', deployment.stackName)
      .bindString('FINETUNE_SETTINGS', settings);

    // Register: the model package, the candidate's adapter component and catalog entry, the event.
    this.registerFunction = new LlmOpsFunction(this, 'RegisterFunction', {
      ...common,
      entry: 'functions/finetune/register.ts',
      description:
        'FineTune Register: model package with lineage, candidate adapter component and catalog entry, llmops.ModelRegistered',
      timeout: Duration.minutes(2),
    })
      .bindTable(this.table, 'FINETUNE_TABLE', 'readwrite', [FINETUNE_JOBS_INDEX])
      // The base model's entry is added when the catalog lacks it (a Scan of the catalog finds out).
      .bindTable(props.catalogTable, 'CATALOG_TABLE', 'readwrite', [], { scan: true })
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'write', FINETUNE_LINEAGE_PREFIX)
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [MODEL_REGISTERED],
      })
      .bindString('MODEL_PACKAGE_GROUP', this.modelPackageGroupName)
      .bindString('ENDPOINT_NAME', serving.endpointName)
      .bindString('BASE_INFERENCE_COMPONENT', serving.baseComponentName)
      .bindString('SERVING_IMAGE_URI', serving.imageUri)
      .bindString('SERVING_INSTANCE_TYPE', config.serving.instanceType)
      .bindString('INVOKE_TAG', tagPair)
      .bindString('STACK_NAME', deployment.stackName)
      .bindString('FINETUNE_SETTINGS', settings);

    // Candidate: is its component in service; ask for its evaluation; record a failed job.
    this.candidateFunction = new LlmOpsFunction(this, 'CandidateFunction', {
      ...common,
      entry: 'functions/finetune/candidate.ts',
      description:
        'FineTune candidate steps: component readiness, llmops.EvaluationRequested, a failed job recorded (and its component removed)',
      timeout: Duration.minutes(1),
    })
      .bindTable(this.table, 'FINETUNE_TABLE', 'readwrite', [FINETUNE_JOBS_INDEX])
      .bindTable(props.catalogTable, 'CATALOG_TABLE', 'readwrite')
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [EVALUATION_REQUESTED],
      })
      .bindString('STACK_NAME', deployment.stackName)
      .bindString('BASE_INFERENCE_COMPONENT', serving.baseComponentName)
      .bindString('FINETUNE_SETTINGS', settings);
    if (props.feedbackHoldout !== undefined) {
      // Is a version of the held-out suite registered (a Query of its versions, newest first).
      this.candidateFunction
        .bindTable(props.feedbackHoldout.evaluationsTable, 'EVALUATIONS_TABLE', 'read')
        .bindString('FEEDBACK_HOLDOUT_SUITE', props.feedbackHoldout.suite);
    }

    // Gate: the candidate's verdict, console approvals and rollout outcomes on the job record.
    this.gateFunction = new LlmOpsFunction(this, 'GateFunction', {
      ...common,
      entry: 'functions/finetune/gate.ts',
      description:
        'FineTune gate: approves or rejects a candidate on its evaluation, and records approvals and rollouts on the job',
      timeout: Duration.minutes(1),
      async: true,
      alerts,
    })
      .bindTable(this.table, 'FINETUNE_TABLE', 'readwrite', [FINETUNE_JOBS_INDEX])
      .bindTable(props.catalogTable, 'CATALOG_TABLE', 'readwrite')
      .bindString('MODEL_PACKAGE_GROUP', this.modelPackageGroupName)
      .bindString('STACK_NAME', deployment.stackName)
      .bindString('FINETUNE_SETTINGS', settings);

    // Rollout: every step of the Rollout state machine, and the canary alarms' state changes.
    this.rolloutFunction = new LlmOpsFunction(this, 'RolloutFunction', {
      ...common,
      entry: 'functions/finetune/rollout.ts',
      description:
        'Rollout: canary share, bake checks, promote or roll back, verify what serves, llmops.ModelDeployed',
      timeout: Duration.minutes(1),
      async: true,
      alerts,
    })
      // A canary alarm names no rollout: the function finds the active ones with a Scan of their locks.
      .bindTable(this.table, 'ROLLOUT_TABLE', 'readwrite', [], { scan: true })
      .bindTable(props.catalogTable, 'CATALOG_TABLE', 'readwrite')
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [MODEL_DEPLOYED],
      })
      .bindString('MODEL_PACKAGE_GROUP', this.modelPackageGroupName)
      .bindString('ENDPOINT_NAME', serving.endpointName)
      .bindString('CANARY_SHARE', String(config.canary.share))
      .bindString('CANARY_BAKE_MINUTES', String(config.canary.bakeMinutes))
      .bindString('CANARY_CHECK_MINUTES', String(config.canary.checkMinutes))
      .bindString('CANARY_MIN_CALLS', String(config.canary.minCalls))
      .bindString('CANARY_MAX_ERROR_RATE', String(config.canary.maxErrorRate));

    this.apiFunction = new LlmOpsFunction(this, 'ApiFunction', {
      ...common,
      sourceMaps: false,
      entry: API_FUNCTION_ENTRIES.finetune,
      description:
        'API fine-tuning: start, list and read fine-tuning jobs, and approve or reject a candidate',
      timeout: Duration.seconds(29),
    })
      .bindTable(this.table, 'FINETUNE_TABLE', 'readwrite', [FINETUNE_JOBS_INDEX])
      .bindTable(props.datasetsTable, 'DATASETS_TABLE', 'read', [REGISTRY_GSI])
      .bindTable(props.catalogTable, 'CATALOG_TABLE', 'readwrite')
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [FINETUNE_REQUESTED],
      })
      .bindString('STACK_NAME', deployment.stackName)
      .bindString('FINETUNE_SETTINGS', settings)
      .bindString('MAX_REQUEST_BYTES', String(props.maxRequestBytes));

    // SageMaker control-plane grants, each on what the function touches.
    const namePrefix = sageMakerNamePrefix(deployment.stackName);
    const componentsArn = `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-component/${namePrefix}*`;
    const endpointArn = `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:endpoint/${serving.endpointName}`;
    const grant = (fn: LlmOpsFunction, sid: string, actions: string[], resources: string[]) =>
      fn.serviceRole.addToPrincipalPolicy(new iam.PolicyStatement({ sid, actions, resources }));
    grant(
      this.registerFunction,
      'RegisterModelPackage',
      ['sagemaker:CreateModelPackage', 'sagemaker:UpdateModelPackage', 'sagemaker:AddTags'],
      [packageGroupArn, packagesArn],
    );
    grant(
      this.registerFunction,
      'CandidateComponent',
      ['sagemaker:CreateInferenceComponent', 'sagemaker:DescribeInferenceComponent', 'sagemaker:AddTags'],
      [componentsArn, endpointArn],
    );
    grant(
      this.candidateFunction,
      'CandidateComponent',
      ['sagemaker:DescribeInferenceComponent', 'sagemaker:DeleteInferenceComponent'],
      [componentsArn],
    );
    // A scaled-to-zero base model is warmed up (one copy) before a candidate's evaluation.
    grant(
      this.candidateFunction,
      'WarmBaseComponent',
      ['sagemaker:UpdateInferenceComponentRuntimeConfig'],
      [
        `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-component/${serving.baseComponentName}`,
      ],
    );
    for (const fn of [this.gateFunction, this.apiFunction]) {
      grant(
        fn,
        'ApproveModelPackage',
        ['sagemaker:UpdateModelPackage', 'sagemaker:DescribeModelPackage'],
        [packagesArn],
      );
      grant(fn, 'RemoveRejectedComponent', ['sagemaker:DeleteInferenceComponent'], [componentsArn]);
    }
    grant(
      this.rolloutFunction,
      'RolloutModelPackage',
      ['sagemaker:DescribeModelPackage', 'sagemaker:UpdateModelPackage'],
      [packagesArn],
    );
    grant(
      this.rolloutFunction,
      'RolloutComponents',
      [
        'sagemaker:DescribeInferenceComponent',
        'sagemaker:DeleteInferenceComponent',
        'sagemaker:DescribeEndpoint',
      ],
      [componentsArn, endpointArn],
    );
    for (const fn of [
      this.registerFunction,
      this.candidateFunction,
      this.gateFunction,
      this.apiFunction,
      this.rolloutFunction,
    ]) {
      const policy = fn.serviceRole.node.tryFindChild('DefaultPolicy');
      if (!policy) continue;
      acknowledge(
        policy,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:inference-component/${namePrefix}*]`,
        "The candidates' adapter components are created at run time, named after the deployment and the job.",
      );
      // The candidate function touches components only: no model package, no acknowledgement of one.
      if (fn === this.candidateFunction) continue;
      acknowledge(
        policy,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:model-package/${this.modelPackageGroupName.toLowerCase()}/*]`,
        "The versions of this deployment's one model package group, created by each training job.",
      );
    }
    this.#routing = {
      catalogTable: props.catalogTable,
      namePrefix,
      componentsArn,
      endpointArn,
      packagesArn,
    };

    // The FineTune state machine.
    const steps = new Construct(this, 'Steps');
    const retry = {
      errors: RETRYABLE_ERROR_NAMES,
      interval: Duration.seconds(5),
      maxAttempts: 4,
      backoffRate: 3,
      jitter: true,
    };
    const recordFailure = pipelineStep(
      steps,
      'RecordFailure',
      this.candidateFunction,
      retry,
      sfn.TaskInput.fromObject({ step: 'fail', state: sfn.JsonPath.entirePayload }),
      { resultPath: '$.failure' },
    ).next(new sfn.Fail(steps, 'JobFailed', { error: 'FineTuneFailed', causePath: '$.error.Cause' }));
    const caught = { resultPath: '$.error' };
    const done = new sfn.Succeed(steps, 'Done');

    const plan = pipelineStep(
      steps,
      'Plan',
      this.planFunction,
      retry,
      sfn.TaskInput.fromObject({
        event: sfn.JsonPath.entirePayload,
        executionName: sfn.JsonPath.executionName,
      }),
      { resultPath: '$.plan' },
    ).addCatch(recordFailure, caught);

    const train = new sfn.CustomState(steps, 'Train', {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::sagemaker:createTrainingJob.sync`,
        Parameters: trainingJobParameters({
          config,
          imageUri: this.trainingImageUri,
          roleArn: this.trainingRole.roleArn,
          keyArn: encryptionKey.keyArn,
          outputPath: `s3://${props.artifactsBucket.bucketName}/${FINETUNE_OUTPUT_PREFIX}`,
        }),
        ResultPath: '$.training',
        // The job's own limit (MaxWait with spot) plus an hour for SageMaker to upload and report.
        TimeoutSeconds: trainingSeconds(config) + 3600,
        Retry: [
          {
            ErrorEquals: ['SageMaker.AmazonSageMakerException'],
            IntervalSeconds: 30,
            MaxAttempts: 3,
            BackoffRate: 2,
            JitterStrategy: 'FULL',
          },
        ],
      },
    });
    train.addCatch(recordFailure, caught);

    const register = pipelineStep(
      steps,
      'Register',
      this.registerFunction,
      retry,
      sfn.TaskInput.fromObject({
        plan: sfn.JsonPath.objectAt('$.plan'),
        training: sfn.JsonPath.objectAt('$.training'),
      }),
      { resultPath: '$.registered' },
    ).addCatch(recordFailure, caught);
    const startWaiting = new sfn.Pass(steps, 'AwaitCandidate', {
      result: sfn.Result.fromObject({ status: 'pending', inferenceComponentStatus: 'Creating', attempts: 0 }),
      resultPath: '$.ready',
    });
    const wait = new sfn.Wait(steps, 'WaitForCandidate', {
      time: sfn.WaitTime.duration(Duration.seconds(30)),
    });
    const candidateReady = pipelineStep(
      steps,
      'CandidateReady',
      this.candidateFunction,
      retry,
      sfn.TaskInput.fromObject({
        step: 'ready',
        registered: sfn.JsonPath.objectAt('$.registered'),
        ready: sfn.JsonPath.objectAt('$.ready'),
      }),
      { resultPath: '$.ready' },
    ).addCatch(recordFailure, caught);
    const requestEvaluation = pipelineStep(
      steps,
      'RequestEvaluation',
      this.candidateFunction,
      retry,
      sfn.TaskInput.fromObject({ step: 'evaluate', registered: sfn.JsonPath.objectAt('$.registered') }),
      { resultPath: '$.evaluation' },
    ).addCatch(recordFailure, caught);
    const notReady = new sfn.Pass(steps, 'CandidateNotReady', {
      parameters: {
        Error: 'CandidateNotReady',
        'Cause.$': '$.ready.reason',
      },
      resultPath: '$.error',
    }).next(recordFailure);
    const notInService = new sfn.Pass(steps, 'CandidateTimedOut', {
      parameters: {
        Error: 'CandidateNotReady',
        Cause: `the candidate's inference component was not in service after ${config.gate.readyTimeoutMinutes} minutes`,
      },
      resultPath: '$.error',
    }).next(recordFailure);

    const definition = plan.next(
      new sfn.Choice(steps, 'Planned?')
        .when(
          sfn.Condition.stringEquals('$.plan.status', 'planned'),
          train
            .next(register)
            .next(startWaiting)
            .next(wait)
            .next(candidateReady)
            .next(
              new sfn.Choice(steps, 'CandidateInService?')
                .when(sfn.Condition.stringEquals('$.ready.status', 'ready'), requestEvaluation.next(done))
                .when(sfn.Condition.stringEquals('$.ready.status', 'failed'), notReady)
                // Bounded: the candidate has gate.readyTimeoutMinutes to come into service.
                .when(
                  sfn.Condition.numberGreaterThanEquals(
                    '$.ready.attempts',
                    config.gate.readyTimeoutMinutes * 2,
                  ),
                  notInService,
                )
                .otherwise(wait),
            ),
        )
        .otherwise(done),
    );

    this.pipeline = new PipelineStateMachine(this, 'Pipeline', {
      pipelineName: 'FineTune',
      definition,
      timeout: Duration.seconds(trainingSeconds(config) + 4 * 3600),
      alerts,
      failureHandler: props.failureHandler,
      config: deployment,
      encryptionKey,
      comment:
        'llmops.DatasetReady / FineTuneRequested → plan → SageMaker training (spot) → model package → candidate component → evaluation request',
    });
    this.stateMachine = this.pipeline.stateMachine;
    this.pipeline.acknowledgeInvokedFunctions([
      this.planFunction,
      this.registerFunction,
      this.candidateFunction,
    ]);
    grantTrainingSync(this.stateMachine, this.trainingRole, deployment.stackName);

    // The Rollout state machine.
    const rollout = new Construct(this, 'RolloutSteps');
    const rolloutStep = (name: string, payload: Record<string, unknown>, resultPath: string) =>
      pipelineStep(rollout, name, this.rolloutFunction, retry, sfn.TaskInput.fromObject(payload), {
        resultPath,
      });
    const rolloutFailed = new sfn.Fail(rollout, 'RolloutFailed', {
      error: 'RolloutFailed',
      causePath: '$.error.Cause',
    });
    const rolloutCaught = { resultPath: '$.error' };
    const start = rolloutStep(
      'Start',
      {
        step: 'start',
        event: sfn.JsonPath.entirePayload,
        executionId: sfn.JsonPath.stringAt('$$.Execution.Id'),
      },
      '$.rollout',
    ).addCatch(rolloutFailed, rolloutCaught);
    // The bake is counted in waits (Check reads how many), so it is what Step Functions waited.
    const startBake = new sfn.Pass(rollout, 'StartBake', {
      result: sfn.Result.fromObject({ waits: 0 }),
      resultPath: '$.bake',
    });
    const bake = new sfn.Wait(rollout, 'Bake', {
      time: sfn.WaitTime.duration(Duration.minutes(config.canary.checkMinutes)),
    });
    const countWait = new sfn.Pass(rollout, 'CountWait', {
      parameters: { 'waits.$': 'States.MathAdd($.bake.waits, 1)' },
      resultPath: '$.bake',
    });
    const check = rolloutStep(
      'Check',
      {
        step: 'check',
        rollout: sfn.JsonPath.objectAt('$.rollout'),
        waits: sfn.JsonPath.numberAt('$.bake.waits'),
      },
      '$.check',
    ).addCatch(rolloutFailed, rolloutCaught);
    const deployed = (name: string, outcome: 'promoted' | 'rolled_back') =>
      rolloutStep(
        name,
        {
          step: 'deployed',
          outcome,
          rollout: sfn.JsonPath.objectAt('$.rollout'),
          check: sfn.JsonPath.objectAt('$.check'),
          verified: sfn.JsonPath.objectAt('$.verified'),
        },
        '$.deployed',
      ).addCatch(rolloutFailed, rolloutCaught);
    const promote = rolloutStep(
      'Promote',
      {
        step: 'promote',
        rollout: sfn.JsonPath.objectAt('$.rollout'),
        check: sfn.JsonPath.objectAt('$.check'),
      },
      '$.promoted',
    ).addCatch(rolloutFailed, rolloutCaught);
    // Which configuration actually serves, after a promotion and after a rollback alike (SageMaker can
    // roll back silently); a mismatch fails the execution, which pages.
    const verifyStep = (name: string) =>
      rolloutStep(
        name,
        { step: 'verify', rollout: sfn.JsonPath.objectAt('$.rollout') },
        '$.verified',
      ).addCatch(rolloutFailed, rolloutCaught);
    const verify = verifyStep('Verify');
    const verifyRolledBack = verifyStep('VerifyRolledBack');
    const rollback = rolloutStep(
      'Rollback',
      {
        step: 'rollback',
        rollout: sfn.JsonPath.objectAt('$.rollout'),
        check: sfn.JsonPath.objectAt('$.check'),
      },
      '$.rolledBack',
    ).addCatch(rolloutFailed, rolloutCaught);
    const rolloutDone = new sfn.Succeed(rollout, 'RolloutDone');
    const rolloutDefinition = start.next(
      new sfn.Choice(rollout, 'Canary?')
        .when(
          sfn.Condition.stringEquals('$.rollout.status', 'canary'),
          startBake
            .next(bake)
            .next(countWait)
            .next(check)
            .next(
              new sfn.Choice(rollout, 'Decision')
                .when(
                  sfn.Condition.stringEquals('$.check.decision', 'promote'),
                  promote.next(verify).next(deployed('DeployedPromoted', 'promoted')).next(rolloutDone),
                )
                .when(
                  sfn.Condition.stringEquals('$.check.decision', 'rollback'),
                  rollback
                    .next(verifyRolledBack)
                    .next(deployed('DeployedRolledBack', 'rolled_back'))
                    .next(rolloutDone),
                )
                .otherwise(bake),
            ),
        )
        .otherwise(rolloutDone),
    );
    this.rolloutPipeline = new PipelineStateMachine(this, 'RolloutPipeline', {
      pipelineName: 'Rollout',
      definition: rolloutDefinition,
      // Two bakes at most (a quiet canary is given a second), and the steps around them.
      timeout: Duration.minutes(2 * config.canary.bakeMinutes + 2 * config.canary.checkMinutes + 60),
      alerts,
      failureHandler: props.failureHandler,
      config: deployment,
      encryptionKey,
      comment:
        'Approved model package → canary share → bake → promote or roll back, then verify what serves → llmops.ModelDeployed',
    });
    this.rolloutStateMachine = this.rolloutPipeline.stateMachine;
    this.rolloutPipeline.acknowledgeInvokedFunctions([this.rolloutFunction]);

    // The canary's alarms: the candidate's answers (Variant = candidate) as the gateway measures them.
    const candidateMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: LLMOPS_METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: METRICS_SERVICE, [ROLLOUT_VARIANT_DIMENSION]: 'candidate' },
        statistic,
        period: Duration.minutes(5),
      });
    const canaryAlarm = (id: string, description: string, metric: cloudwatch.Metric, threshold: number) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    this.canaryAlarms = [
      canaryAlarm(
        'CanaryErrorRate',
        `Rollout canary: the candidate's share of failed calls is above ${config.canary.maxErrorRate}; the rollout rolls back`,
        candidateMetric(ROLLOUT_ERROR_METRIC, cloudwatch.Stats.AVERAGE),
        config.canary.maxErrorRate,
      ),
      canaryAlarm(
        'CanaryLatency',
        `Rollout canary: the candidate's p90 latency is above ${config.canary.maxLatencyP90Ms} ms; the rollout rolls back`,
        candidateMetric(ROLLOUT_LATENCY_METRIC, cloudwatch.Stats.p(90)),
        config.canary.maxLatencyP90Ms,
      ),
      canaryAlarm(
        'CanaryGuardrail',
        `Rollout canary: the guardrail intervened on more than ${config.canary.maxGuardrailRate} of the candidate's answers; the rollout rolls back`,
        candidateMetric(ROLLOUT_GUARDRAIL_METRIC, cloudwatch.Stats.AVERAGE),
        config.canary.maxGuardrailRate,
      ),
    ];
    // A breach rolls the candidate back (the rule below) and pages: someone learns why before the RolledBack page.
    for (const alarm of this.canaryAlarms) alerts.page(alarm);
    this.rolloutFunction.bindString(
      'CANARY_ALARM_NAMES',
      stack.toJsonString(this.canaryAlarms.map((a) => a.alarmName)),
    );

    this.rolledBackAlarm = new cloudwatch.Alarm(this, 'RolledBack', {
      alarmDescription:
        'A rollout rolled back a fine-tuned candidate (its canary breached an alarm, failed too often or saw too few calls). The llmops.ModelDeployed event and GET /v1/finetune-jobs/{id} say why.',
      metric: new cloudwatch.Metric({
        namespace: LLMOPS_METRICS_NAMESPACE,
        metricName: 'RolloutsRolledBack',
        dimensionsMap: { service: METRICS_SERVICE },
        statistic: cloudwatch.Stats.SUM,
        period: Duration.minutes(5),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alerts.page(this.rolledBackAlarm);

    // Triggers.
    this.triggerDeadLetterQueue = new LlmOpsDeadLetterQueue(this, 'TriggerDeadLetterQueue', {
      alerts,
      description: 'the fine-tuning rules (datasets, requests, verdicts, approvals and alarms not delivered)',
      encryptionKey,
      allowEventBridge: true,
    });
    const delivery = this.triggerDeadLetterQueue.delivery;
    new events.Rule(this, 'TrainRule', {
      description: `FineTune: ${DATASET_READY} {purpose: finetune|preference} and ${FINETUNE_REQUESTED} → state machine`,
      eventBus: props.eventBus,
      eventPattern: {
        source: [LLMOPS_SOURCE],
        detailType: [DATASET_READY, FINETUNE_REQUESTED],
        detail: { purpose: ['finetune', 'preference'] },
      },
      targets: [new targets.SfnStateMachine(this.stateMachine, delivery)],
    });
    new events.Rule(this, 'GateRule', {
      description: `FineTune gate: ${EVALUATION_COMPLETED} of a candidate → approve, await an admin, or reject`,
      eventBus: props.eventBus,
      eventPattern: {
        source: [LLMOPS_SOURCE],
        detailType: [EVALUATION_COMPLETED],
        detail: { runId: [{ prefix: CANDIDATE_RUN_PREFIX }] },
      },
      targets: [new targets.LambdaFunction(this.gateFunction, delivery)],
    });
    new events.Rule(this, 'DeployedRule', {
      description: `FineTune gate: ${MODEL_DEPLOYED} → the job record (deployed or rolled back)`,
      eventBus: props.eventBus,
      eventPattern: { source: [LLMOPS_SOURCE], detailType: [MODEL_DEPLOYED] },
      targets: [new targets.LambdaFunction(this.gateFunction, delivery)],
    });
    new events.Rule(this, 'ApprovalRule', {
      description: `Rollout: ${SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE} of this deployment's group → the job record and, approved, the Rollout state machine`,
      eventPattern: {
        source: [SAGEMAKER_SOURCE],
        detailType: [SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE],
        detail: { ModelPackageGroupName: [this.modelPackageGroupName] },
      },
      targets: [new targets.LambdaFunction(this.gateFunction, delivery)],
    });
    new events.Rule(this, 'TrainingProgressRule', {
      description: `FineTune gate: ${SAGEMAKER_TRAINING_JOB_STATE_CHANGE} of this deployment's training jobs → the job record (progress, spot interruptions)`,
      eventPattern: {
        source: [SAGEMAKER_SOURCE],
        detailType: [SAGEMAKER_TRAINING_JOB_STATE_CHANGE],
        detail: { TrainingJobName: [{ prefix: `${namePrefix}ft-` }] },
      },
      targets: [new targets.LambdaFunction(this.gateFunction, delivery)],
    });
    new events.Rule(this, 'RolloutRule', {
      description: `Rollout: an approved model package of this deployment's group → the Rollout state machine`,
      eventPattern: {
        source: [SAGEMAKER_SOURCE],
        detailType: [SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE],
        detail: { ModelPackageGroupName: [this.modelPackageGroupName], ModelApprovalStatus: ['Approved'] },
      },
      targets: [new targets.SfnStateMachine(this.rolloutStateMachine, delivery)],
    });
    new events.Rule(this, 'CanaryAlarmRule', {
      description: 'Rollout: a canary alarm entered ALARM → the active rollout records the breach',
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: [CLOUDWATCH_ALARM_STATE_CHANGE],
        detail: { alarmName: this.canaryAlarms.map((a) => a.alarmName), state: { value: ['ALARM'] } },
      },
      targets: [new targets.LambdaFunction(this.rolloutFunction, delivery)],
    });
  }

  /**
   * Lets a function route the served line back to a model deployed on it before (the closed loop in
   * `act` mode), as a rollout moves it: the catalog (`CATALOG_TABLE`: read, and the conditional updates
   * of the canary and the promotion), the rollout items of this construct's table (`ROLLOUT_TABLE`: the
   * history, the line's lock and `current`), and SageMaker's view of what serves (the components, the
   * endpoint, the packages' adapter artifacts), read only.
   */
  public bindModelRouting(fn: LlmOpsFunction): LlmOpsFunction {
    const { catalogTable, namePrefix, componentsArn, endpointArn, packagesArn } = this.#routing;
    fn.bindTable(catalogTable, 'CATALOG_TABLE', 'read', [], { updateItem: true })
      // The lock is put and deleted, `current` put; the history read.
      .bindTable(this.table, 'ROLLOUT_TABLE', 'readwrite');
    fn.serviceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'VerifyServedModel',
        actions: [
          'sagemaker:DescribeInferenceComponent',
          'sagemaker:DescribeEndpoint',
          'sagemaker:DescribeModelPackage',
        ],
        resources: [componentsArn, endpointArn, packagesArn],
      }),
    );
    const policy = fn.serviceRole.node.findChild('DefaultPolicy');
    acknowledge(
      policy,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:inference-component/${namePrefix}*]`,
      "The candidates' adapter components are created at run time, named after the deployment and the job; described only.",
    );
    acknowledge(
      policy,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:model-package/${this.modelPackageGroupName.toLowerCase()}/*]`,
      "The versions of this deployment's one model package group, created by each training job; described only.",
    );
    return fn;
  }
}

/** The longest a training job may take: MaxWait with spot (waiting for capacity included), else MaxRuntime. */
export function trainingSeconds(config: FineTuningConfig): number {
  const hours = config.training.spot ? config.training.maxWaitHours : config.training.maxRuntimeHours;
  return Math.round(hours * 3600);
}

/**
 * The CreateTrainingJob request of the Train state: the job's own parts from Plan (`$.plan`), the rest
 * fixed by the profile. Managed spot with checkpoints and MaxWait, KMS on the volume and the output,
 * the metric definitions the script prints.
 */
export function trainingJobParameters(args: {
  readonly config: FineTuningConfig;
  readonly imageUri: string;
  readonly roleArn: string;
  readonly keyArn: string;
  readonly outputPath: string;
}): Record<string, unknown> {
  const { config } = args;
  const maxRuntime = Math.round(config.training.maxRuntimeHours * 3600);
  return {
    'TrainingJobName.$': '$.plan.trainingJobName',
    AlgorithmSpecification: {
      TrainingImage: args.imageUri,
      TrainingInputMode: 'File',
      MetricDefinitions: trainingMetricDefinitions(),
      EnableSageMakerMetricsTimeSeries: true,
    },
    RoleArn: args.roleArn,
    'HyperParameters.$': '$.plan.hyperParameters',
    'InputDataConfig.$': '$.plan.channels',
    OutputDataConfig: { S3OutputPath: args.outputPath, KmsKeyId: args.keyArn },
    ResourceConfig: {
      InstanceType: config.training.instanceType,
      InstanceCount: 1,
      VolumeSizeInGB: config.training.volumeSizeGb,
      VolumeKmsKeyId: args.keyArn,
    },
    StoppingCondition: {
      MaxRuntimeInSeconds: maxRuntime,
      ...(config.training.spot
        ? { MaxWaitTimeInSeconds: Math.round(config.training.maxWaitHours * 3600) }
        : {}),
    },
    EnableManagedSpotTraining: config.training.spot,
    CheckpointConfig: { 'S3Uri.$': '$.plan.checkpointS3Uri', LocalPath: CHECKPOINT_LOCAL_PATH },
    'Tags.$': '$.plan.tags',
  };
}

/**
 * What the state machine's role needs for `createTrainingJob.sync`: create, describe and stop this
 * deployment's jobs, tag them, pass the training role to SageMaker, and the managed rule Step Functions
 * uses to learn that a job ended.
 */
function grantTrainingSync(stateMachine: sfn.StateMachine, trainingRole: iam.IRole, stackName: string): void {
  const jobs = `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:training-job/${sageMakerNamePrefix(stackName)}*`;
  stateMachine.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'TrainingJobs',
      actions: [
        'sagemaker:CreateTrainingJob',
        'sagemaker:DescribeTrainingJob',
        'sagemaker:StopTrainingJob',
        'sagemaker:AddTags',
      ],
      resources: [jobs],
    }),
  );
  stateMachine.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'PassTrainingRole',
      actions: ['iam:PassRole'],
      resources: [trainingRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
    }),
  );
  stateMachine.addToRolePolicy(
    new iam.PolicyStatement({
      sid: 'SyncRule',
      actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      resources: [
        `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule`,
      ],
    }),
  );
  const policy = stateMachine.role.node.tryFindChild('DefaultPolicy');
  if (policy) {
    acknowledge(
      policy,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/${sageMakerNamePrefix(stackName)}*]`,
      "Each execution creates a training job named after the deployment and the job id; the grant covers this deployment's jobs only.",
    );
  }
}

/**
 * Packs the training source as `sourcedir.tar.gz` into `outputDir` (deterministic: sorted, fixed
 * times), leaving out the tests and the GPU smoke script. Returns true (local bundling done).
 */
export function packTrainingSource(sourceDir: string, outputDir: string): boolean {
  const entries: TarEntry[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (TRAINING_SOURCE_EXCLUDE.includes(name)) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path, `${prefix}${name}/`);
      else if (!name.endsWith('.pyc'))
        entries.push({ name: `${prefix}${name}`, content: readFileSync(path) });
    }
  };
  walk(sourceDir, '');
  writeFileSync(join(outputDir, 'sourcedir.tar.gz'), tarGz(entries));
  return true;
}
