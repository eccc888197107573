/**
 * The LLMOps stack: config → storage → alerts → project bus → shared failure handler → pipelines →
 * model gateway (guardrail, tables, API functions) → HTTPS API → interaction log. Each construct gets
 * the deployment slice of the configuration and its own slice, nothing more.
 *
 * Environment-agnostic (no account/region) and free of lookups, so `cdk synth` works offline with no
 * credentials. `buildApp()` is the single way to build the app: `infra/app.ts`, the tests and the local
 * runner all call it.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, CfnOutput, NestedStack, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { heldOutSuiteOf } from '#contracts/feedback/feedback.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { PIPELINE_FAILED } from '#events/pipeline-failed.ts';
import { type AppConfig, deploymentOf, loadConfig, storageOf } from '#infra/config/index.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { LlmOpsAlerts } from '../constructs/alerts.ts';
import { LlmOpsApi, pascalCase } from '../constructs/api.ts';
import { ClosedLoop } from '../constructs/closed-loop.ts';
import { DataPrep } from '../constructs/data-prep.ts';
import { Drift } from '../constructs/drift.ts';
import { Evaluation } from '../constructs/evaluation.ts';
import { LlmOpsEventBus, projectBusName } from '../constructs/event-bus.ts';
import { Feedback } from '../constructs/feedback.ts';
import { FineTuning } from '../constructs/fine-tuning.ts';
import { LlmOpsGuardrail } from '../constructs/guardrail.ts';
import { InteractionLog } from '../constructs/interaction-log.ts';
import { LlmServing } from '../constructs/llm-serving.ts';
import { LlmOpsFunction } from '../constructs/llmops-function.ts';
import { ModelGateway } from '../constructs/model-gateway.ts';
import { OpsMonitoring } from '../constructs/ops-monitoring.ts';
import { RagIngest } from '../constructs/rag-ingest.ts';
import { embeddingModel } from '../constructs/rag-store/embedding-model.ts';
import { RagVectorStore } from '../constructs/rag-store.ts';
import { LlmOpsStorage } from '../constructs/storage.ts';

export interface LlmOpsStackProps extends StackProps {
  /** The validated app configuration. */
  readonly config: AppConfig;
}

/** The LLMOps stack: everything built so far, as one stack (see {@link stackDescription}). */
export class LlmOpsStack extends Stack {
  public readonly config: AppConfig;
  public readonly storage: LlmOpsStorage;
  public readonly alerts: LlmOpsAlerts;
  public readonly eventBus: LlmOpsEventBus;
  /** Shared by every pipeline: turns failed executions into `llmops.PipelineFailed`. */
  public readonly pipelineFailedFunction: LlmOpsFunction;
  public readonly dataPrep: DataPrep;
  /** The RAG vector store: OpenSearch Serverless or S3 Vectors, by `config.rag.vectorStore`. */
  public readonly ragStore: RagVectorStore;
  public readonly ragIngest: RagIngest;
  /** The Bedrock guardrail (absent with `-c guardrail=false`). */
  public readonly guardrail?: LlmOpsGuardrail;
  public readonly modelGateway: ModelGateway;
  /** Suites, the Evaluate state machine, its schedules, the promotion gate and the review queue. */
  public readonly evaluation: Evaluation;
  public readonly drift: Drift;
  /** The nested stack of {@link serving} and {@link fineTuning}, when `fineTuning.enabled`. */
  public readonly fineTuningStack?: NestedStack;
  /** The GPU endpoint (base model and adapters), when `fineTuning.enabled`. */
  public readonly serving?: LlmServing;
  /** Training, registry, gate and rollout, when `fineTuning.enabled`. */
  public readonly fineTuning?: FineTuning;
  /** The nested stack of {@link feedback} and {@link closedLoop}. */
  public readonly improvementStack: NestedStack;
  /** `POST /v1/feedback` and the export of preference pairs into DataPrep. */
  public readonly feedback: Feedback;
  /** Drift alarm → evaluation → rollback (absent with `closedLoop.enabled: false`). */
  public readonly closedLoop?: ClosedLoop;
  public readonly api: LlmOpsApi;
  /** The role allowed to call the admin routes, when `api.adminPrincipals` names none. */
  public readonly adminRole?: iam.Role;
  /** The role allowed to call the review routes, when `api.reviewerPrincipals` names none. */
  public readonly reviewerRole?: iam.Role;
  public readonly interactionLog: InteractionLog;
  /** The stack's dashboard, the operations anomaly alarms and the per-app daily cost budget alarms. */
  public readonly monitoring: OpsMonitoring;

  constructor(scope: Construct, id: string, props: LlmOpsStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.config = config;
    const deployment = deploymentOf(config);

    this.storage = new LlmOpsStorage(this, 'Storage', { deployment, config: storageOf(config) });
    const encryptionKey = this.storage.key;
    this.alerts = new LlmOpsAlerts(this, 'Alerts', {
      deployment,
      config: config.alerts,
      encryptionKey,
      eventBusName: projectBusName(config.stackName),
    });
    this.eventBus = new LlmOpsEventBus(this, 'Events', {
      deployment,
      config: { eventArchiveRetentionDays: config.eventArchiveRetentionDays },
      encryptionKey,
      alerts: this.alerts,
    });

    this.pipelineFailedFunction = new LlmOpsFunction(this, 'PipelineFailedFunction', {
      config: deployment,
      encryptionKey,
      entry: 'functions/pipeline-failed/handler.ts',
      description: 'Turns failed, timed-out or aborted pipeline executions into llmops.PipelineFailed events',
      async: true,
      alerts: this.alerts,
    }).bindEventBus(this.eventBus.bus, 'EVENT_BUS_NAME', {
      sources: [LLMOPS_SOURCE],
      detailTypes: [PIPELINE_FAILED],
    });

    this.dataPrep = new DataPrep(this, 'DataPrep', {
      deployment,
      config: config.dataPrep,
      rawBucket: this.storage.raw,
      curatedBucket: this.storage.curated,
      artifactsBucket: this.storage.artifacts,
      encryptionKey,
      eventBus: this.eventBus.bus,
      alerts: this.alerts,
      failureHandler: this.pipelineFailedFunction,
    });

    this.ragStore = new RagVectorStore(this, 'RagStore', {
      deployment,
      config: config.rag,
      embeddingModel: embeddingModel(config.models),
      encryptionKey,
    });
    this.ragIngest = new RagIngest(this, 'RagIngest', {
      deployment,
      config: config.rag,
      rawBucket: this.storage.raw,
      curatedBucket: this.storage.curated,
      artifactsBucket: this.storage.artifacts,
      encryptionKey,
      eventBus: this.eventBus.bus,
      alerts: this.alerts,
      failureHandler: this.pipelineFailedFunction,
      store: this.ragStore,
    });

    this.guardrail = config.guardrail.enabled
      ? new LlmOpsGuardrail(this, 'Guardrail', { deployment, config: config.guardrail, encryptionKey })
      : undefined;
    this.modelGateway = new ModelGateway(this, 'ModelGateway', {
      deployment,
      config: config.models,
      maxRequestBytes: config.api.maxRequestBytes,
      interactionSampleRate: config.interactions.payloadSampleRate,
      interactionTtlDays: config.feedback.interactionTtlDays,
      encryptionKey,
      eventBus: this.eventBus.bus,
      alerts: this.alerts,
      guardrail: this.guardrail,
      rag: { store: this.ragStore, documentsTable: this.ragIngest.table },
      ...(config.fineTuning.enabled
        ? { retryAfterSeconds: config.fineTuning.serving.retryAfterSeconds, rollouts: true }
        : {}),
    });
    this.evaluation = new Evaluation(this, 'Evaluation', {
      deployment,
      config: config.evaluation,
      models: config.models,
      maxRequestBytes: config.api.maxRequestBytes,
      curatedBucket: this.storage.curated,
      artifactsBucket: this.storage.artifacts,
      encryptionKey,
      eventBus: this.eventBus.bus,
      alerts: this.alerts,
      failureHandler: this.pipelineFailedFunction,
      gateway: this.modelGateway,
      store: this.ragStore,
      ...(this.guardrail ? { guardrail: this.guardrail } : {}),
    });
    this.drift = new Drift(this, 'Drift', {
      deployment,
      config: config.drift,
      maxRequestBytes: config.api.maxRequestBytes,
      curatedBucket: this.storage.curated,
      artifactsBucket: this.storage.artifacts,
      encryptionKey,
      eventBus: this.eventBus.bus,
      alerts: this.alerts,
      failureHandler: this.pipelineFailedFunction,
      store: this.ragStore,
      evaluationsTable: this.evaluation.table,
      models: config.models,
      judgeModel: config.evaluation.judgeModel,
      promptsTable: this.modelGateway.promptsTable,
    });
    if (config.fineTuning.enabled) {
      // A nested stack of its own: CloudFormation allows 500 resources in a stack, and fine-tuning with
      // its endpoint is a hundred of them.
      this.fineTuningStack = new NestedStack(this, 'FineTuningStack', {
        description: `${config.stackName}: fine-tuning (training, model registry, gate, rollout) and the GPU endpoint`,
      });
      this.serving = new LlmServing(this.fineTuningStack, 'Serving', {
        deployment,
        config: config.fineTuning,
        artifactsBucket: this.storage.artifacts,
        encryptionKey,
        alerts: this.alerts,
      });
      this.fineTuning = new FineTuning(this.fineTuningStack, 'FineTuning', {
        deployment,
        config: config.fineTuning,
        curatedBucket: this.storage.curated,
        artifactsBucket: this.storage.artifacts,
        encryptionKey,
        eventBus: this.eventBus.bus,
        alerts: this.alerts,
        failureHandler: this.pipelineFailedFunction,
        serving: this.serving,
        catalogTable: this.modelGateway.catalogTable,
        datasetsTable: this.dataPrep.table,
        maxRequestBytes: config.api.maxRequestBytes,
        // A candidate trained on the feedback export is also judged on its held-out prompts.
        feedbackHoldout: {
          suite: heldOutSuiteOf(config.feedback.datasetName),
          evaluationsTable: this.evaluation.table,
        },
      });
    }
    // Feedback and the closed loop: a nested stack of their own, as fine-tuning, for the 500-resource limit.
    this.improvementStack = new NestedStack(this, 'ImprovementStack', {
      description: `${config.stackName}: human feedback into preference data, and the closed loop from a drift alarm to a rollback`,
    });
    this.feedback = new Feedback(this.improvementStack, 'Feedback', {
      deployment,
      config: config.feedback,
      maxRequestBytes: config.api.maxRequestBytes,
      rawBucket: this.storage.raw,
      artifactsBucket: this.storage.artifacts,
      encryptionKey,
      eventBus: this.eventBus.bus,
      alerts: this.alerts,
      interactionsTable: this.modelGateway.interactionsTable,
      evaluationsTable: this.evaluation.table,
    });
    // The drift checks read the verdicts on each window's answers (the feedback and reviews signals).
    this.drift.watchFeedback(this.feedback.table);
    this.closedLoop = config.closedLoop.enabled
      ? new ClosedLoop(this.improvementStack, 'ClosedLoop', {
          deployment,
          config: config.closedLoop,
          artifactsBucket: this.storage.artifacts,
          encryptionKey,
          eventBus: this.eventBus.bus,
          alerts: this.alerts,
          promptsTable: this.modelGateway.promptsTable,
          pagingTopic: this.alerts.topic,
          ...(this.fineTuning ? { modelRouting: this.fineTuning } : {}),
        })
      : undefined;
    // The admin routes' principals: the configured ones, or a role of the stack's own.
    this.adminRole =
      config.api.adminPrincipals.length === 0
        ? new iam.Role(this, 'AdminRole', {
            assumedBy: new iam.AccountRootPrincipal(),
            description: `${config.stackName}: calls the admin routes of the API (prompt writes, label moves, catalog edits)`,
          })
        : undefined;
    // The review routes' principals (besides the admins): the configured ones, or a role of the stack's own.
    this.reviewerRole =
      config.api.reviewerPrincipals.length === 0
        ? new iam.Role(this, 'ReviewerRole', {
            assumedBy: new iam.AccountRootPrincipal(),
            description: `${config.stackName}: calls the review routes of the API (GET /v1/reviews, POST /v1/reviews/{id})`,
          })
        : undefined;
    this.api = new LlmOpsApi(this, 'Api', {
      deployment,
      config: {
        ...config.api,
        ...(this.adminRole ? { adminPrincipals: [this.adminRole.roleArn] } : {}),
        ...(this.reviewerRole ? { reviewerPrincipals: [this.reviewerRole.roleArn] } : {}),
      },
      functions: {
        ...this.modelGateway.functions,
        evaluations: this.evaluation.apiFunction,
        drift: this.drift.apiFunction,
        feedback: this.feedback.apiFunction,
        ...(this.fineTuning ? { finetune: this.fineTuning.apiFunction } : {}),
      },
      encryptionKey,
      alerts: this.alerts,
    });
    this.interactionLog = new InteractionLog(this, 'InteractionLog', {
      deployment,
      config: config.interactions,
      eventBus: this.eventBus.bus,
      bucket: this.storage.artifacts,
      encryptionKey,
      alerts: this.alerts,
    });
    // Monitoring last: it charts the pipelines and alarms built above; later sections via addSection().
    this.monitoring = new OpsMonitoring(this, 'Monitoring', {
      deployment,
      catalog: config.models.catalog,
      apps: config.api.apps,
      alerts: this.alerts,
      stateMachines: [
        { name: 'DataPrep', stateMachine: this.dataPrep.stateMachine },
        { name: 'RagIngest', stateMachine: this.ragIngest.stateMachine },
        { name: 'Evaluate', stateMachine: this.evaluation.stateMachine },
        { name: 'DriftCheck', stateMachine: this.drift.stateMachine },
        ...(this.fineTuning
          ? [
              { name: 'FineTune', stateMachine: this.fineTuning.stateMachine },
              { name: 'Rollout', stateMachine: this.fineTuning.rolloutStateMachine },
            ]
          : []),
      ],
      regressionAlarm: this.evaluation.regressionAlarm,
    });
    this.monitoring.addSection('Drift', this.drift.widgets);

    new CfnOutput(this, 'RawBucketName', {
      value: this.storage.raw.bucketName,
      description: 'Upload raw data under raw/ here',
    });
    new CfnOutput(this, 'CuratedBucketName', { value: this.storage.curated.bucketName });
    new CfnOutput(this, 'ArtifactsBucketName', {
      value: this.storage.artifacts.bucketName,
      description:
        'Evaluation reports (evaluations/<runId>/); upload bring-your-own predictions under predictions/',
    });
    new CfnOutput(this, 'EventBusName', { value: this.eventBus.bus.eventBusName });
    new CfnOutput(this, 'DataPrepStateMachineArn', { value: this.dataPrep.stateMachine.stateMachineArn });
    new CfnOutput(this, 'RagIngestStateMachineArn', { value: this.ragIngest.stateMachine.stateMachineArn });
    new CfnOutput(this, 'EvaluateStateMachineArn', { value: this.evaluation.stateMachine.stateMachineArn });
    new CfnOutput(this, 'DriftCheckStateMachineArn', { value: this.drift.stateMachine.stateMachineArn });
    if (this.fineTuning && this.serving) {
      new CfnOutput(this, 'FineTuneStateMachineArn', { value: this.fineTuning.stateMachine.stateMachineArn });
      new CfnOutput(this, 'RolloutStateMachineArn', {
        value: this.fineTuning.rolloutStateMachine.stateMachineArn,
      });
      new CfnOutput(this, 'ModelPackageGroupName', {
        value: this.fineTuning.modelPackageGroupName,
        description: 'Fine-tuned adapters with their lineage; approve a candidate here or with the API',
      });
      new CfnOutput(this, 'ServingEndpointName', {
        value: this.serving.endpointName,
        description: `Serves ${config.fineTuning.baseModel.hfModelId} and its adapters (inference components)`,
      });
    }
    new CfnOutput(this, 'FeedbackTableName', {
      value: this.feedback.table.tableName,
      description: 'Human feedback (one verdict per interaction and user) and what the export made of it',
    });
    new CfnOutput(this, 'PagingTopicArn', { value: this.alerts.topic.topicArn });
    new CfnOutput(this, 'ApiUrl', {
      value: this.api.url,
      description: 'Base URL of the HTTPS API (routes start with v1/)',
    });
    if (this.adminRole) {
      new CfnOutput(this, 'AdminRoleArn', {
        value: this.adminRole.roleArn,
        description:
          'Assume this role to call the admin routes (SigV4); set api.adminPrincipals to name other principals',
      });
    }
    if (this.reviewerRole) {
      new CfnOutput(this, 'ReviewerRoleArn', {
        value: this.reviewerRole.roleArn,
        description:
          'Assume this role (SigV4) to read the review queue and label judge scores; set api.reviewerPrincipals to name other principals',
      });
    }
    for (const [app, key] of Object.entries(this.api.apiKeys)) {
      new CfnOutput(this, `ApiKeyId${pascalCase(app)}`, {
        value: key.keyId,
        description: `API key id of app "${app}": aws apigateway get-api-key --api-key <id> --include-value`,
      });
    }
    if (this.guardrail) {
      new CfnOutput(this, 'GuardrailId', { value: this.guardrail.guardrailId });
    }
    new CfnOutput(this, 'InteractionLogDeliveryStreamName', {
      value: this.interactionLog.deliveryStreamName,
      description:
        'Delivers llmops.InteractionRecorded to interactions/dt=YYYY-MM-DD/ in the artifacts bucket',
    });

    Tags.of(this).add('project', 'llmops');
    Tags.of(this).add('profile', config.profile);
  }
}

const VECTOR_STORE_NAMES = { opensearch: 'OpenSearch Serverless', s3vectors: 'S3 Vectors' } as const;

/**
 * The stack's CloudFormation description: what the stack contains today, and nothing it does not.
 */
export function stackDescription(config: AppConfig): string {
  return `LLMOps (${config.profile}): data preparation pipeline, RAG ingestion and retrieval (${VECTOR_STORE_NAMES[config.rag.vectorStore]}), model gateway and HTTPS API${config.guardrail.enabled ? ' with a Bedrock guardrail' : ''}, evaluation (scheduled runs, LLM-as-judge, promotion gate, review queue), drift checks with calibrated alarms,${config.fineTuning.enabled ? ' fine-tuning on SageMaker spot GPUs with a model registry, a GPU endpoint with inference components and canary rollouts,' : ''} human feedback into preference data,${config.closedLoop.enabled ? ' a closed loop from drift alarms to rollbacks,' : ''} dashboard, interaction log`;
}

export interface BuildAppOptions {
  /**
   * Context values (e.g. `{ profile: 'prod' }`, or `{ 'aws:cdk:bundling-stacks': [] }` to skip bundling).
   *
   * @default - none (cdk.json / CLI context only)
   */
  readonly context?: Record<string, unknown>;
  /**
   * Cloud assembly directory.
   *
   * @default - CDK's default (the CLI's, or a temporary directory)
   */
  readonly outdir?: string;
}

/** The `context` of `cdk.json` (feature flags, default profile), so in-process builds match `cdk synth`. */
export function cdkJsonContext(): Record<string, unknown> {
  const file = join(REPO_ROOT, 'cdk.json');
  if (!existsSync(file)) return {};
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> };
  return parsed.context ?? {};
}

/**
 * Builds the app and its one stack. The context starts from `cdk.json` (so tests and the local runner
 * get the same feature flags as `cdk synth`), then `opts.context`; CLI `-c` values still win.
 * Adds no validation plugins: `infra/app.ts` adds cdk-nag.
 */
export function buildApp(opts: BuildAppOptions = {}): { app: App; stack: LlmOpsStack; config: AppConfig } {
  const app = new App({
    context: { ...cdkJsonContext(), ...opts.context },
    ...(opts.outdir ? { outdir: opts.outdir } : {}),
  });
  const config = loadConfig(app);
  const stack = new LlmOpsStack(app, config.stackName, {
    config,
    description: stackDescription(config),
  });
  return { app, stack, config };
}
