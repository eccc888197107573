/**
 * Evaluation: golden datasets registered as suites, the Evaluate state machine, the schedules that start
 * it, the evaluations API function, the gate on prompt promotions, catalog scores and the regression
 * alarm.
 *
 *   llmops.DatasetReady {purpose: golden} ─▶ RegisterSuite ─▶ suite version in the evaluations table
 *   Scheduler (cron per schedule) ┐
 *   POST /v1/evaluations          ├─▶ llmops.EvaluationRequested ─▶ Evaluate state machine:
 *   a refused promotion           ┘
 *     Plan → Started? ─skipped/duplicate→ Done
 *            └planned→ Batches (Map over staged batches: Generate → Score) → Report → Done
 *     any failure is caught → RecordFailure (the run is recorded failed, with why) → RunFailed (Fail)
 *   Report ─▶ evaluations/<runId>/{summary.json, items.jsonl, report.html, report.md}, the run record,
 *             the promotion's gate record, the review queue, EMF metrics, llmops.EvaluationCompleted
 *   llmops.EvaluationCompleted with a model ─▶ CatalogScores (the model's score on the suite)
 *   EvaluationRegressions (a scheduled run fell below the previous one beyond the margin) ─▶ page
 *
 * Answers go through the gateway code path (Generate is bound as the chat function is: the same prompts,
 * catalog, guardrail, vector store and model grants); judges are Bedrock models of the catalog, called
 * with structured output. JSONPath and an INLINE Map, as the other pipelines (the local runner runs it).
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { EVALUATIONS_INDEX } from '#aws/eval/dynamo-evaluation-store.ts';
import { RETRYABLE_ERROR_NAMES } from '#contracts/retryable-errors.ts';
import {
  DATASETS_PREFIX,
  EVALUATION_STAGING_PREFIX,
  EVALUATIONS_PREFIX,
  PREDICTIONS_PREFIX,
} from '#contracts/storage-layout.ts';
import { DATASET_READY } from '#events/dataset-ready.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { EVALUATION_COMPLETED } from '#events/evaluation-completed.ts';
import { EVALUATION_REQUESTED } from '#events/evaluation-requested.ts';
import { PROMPT_GATE_OVERRIDDEN } from '#events/prompt-gate-overridden.ts';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';
import type { LlmOpsGuardrail } from './guardrail.ts';
import { LlmOpsFunction } from './llmops-function.ts';
import { grantModel } from './model-access.ts';
import { API_FUNCTION_ENTRIES, LLMOPS_METRICS_NAMESPACE, type ModelGateway } from './model-gateway.ts';
import { PipelineStateMachine, pipelineStep } from './pipeline-state-machine.ts';
import { projectEventSchedules } from './project-event-schedules.ts';
import { projectTable } from './project-table.ts';
import type { RagVectorStore } from './rag-store.ts';

/** The curated golden datasets that become suites. */
export const GOLDEN_DATASETS_PREFIX = `${DATASETS_PREFIX}golden/`;

export interface EvaluationProps {
  /** The deployment (names, log retention, removal, logging). */
  readonly deployment: DeploymentConfig;
  readonly config: AppConfig['evaluation'];
  /** The catalog (the judge's entry) and the call settings of the answers. */
  readonly models: AppConfig['models'];
  /** Largest request body of the evaluations routes (`api.maxRequestBytes`). */
  readonly maxRequestBytes: number;
  readonly curatedBucket: s3.IBucket;
  readonly artifactsBucket: s3.IBucket;
  readonly encryptionKey: kms.IKey;
  readonly eventBus: events.IEventBus;
  readonly alerts: LlmOpsAlerts;
  readonly failureHandler: lambda.IFunction;
  /** Answers go through its code path; its prompts function gets the promotion gate. */
  readonly gateway: ModelGateway;
  readonly store: RagVectorStore;
  /** The guardrail: its contextual grounding check is a second, cheap hallucination scorer. */
  readonly guardrail?: LlmOpsGuardrail;
}

export class Evaluation extends Construct {
  /** Suites, runs, promotion gates and the review queue: `pk`/`sk`, GSI `gsi1`. */
  public readonly table: dynamodb.Table;
  public readonly registerSuiteFunction: LlmOpsFunction;
  public readonly planFunction: LlmOpsFunction;
  public readonly generateFunction: LlmOpsFunction;
  public readonly scoreFunction: LlmOpsFunction;
  public readonly reportFunction: LlmOpsFunction;
  public readonly recordFailureFunction: LlmOpsFunction;
  public readonly catalogScoresFunction: LlmOpsFunction;
  /** `POST /v1/evaluations`, `GET /v1/evaluations/{id}`, `GET /v1/reviews`, `POST /v1/reviews/{id}`. */
  public readonly apiFunction: LlmOpsFunction;
  public readonly pipeline: PipelineStateMachine;
  public readonly stateMachine: sfn.StateMachine;
  /** Project-bus rule: `llmops.EvaluationRequested` → the state machine. */
  public readonly requestRule: events.Rule;
  /** Project-bus rule: `llmops.DatasetReady {purpose: golden}` → RegisterSuite. */
  public readonly suiteRule: events.Rule;
  /** Project-bus rule: `llmops.EvaluationCompleted` of a model → CatalogScores. */
  public readonly catalogScoresRule: events.Rule;
  /** One per configured schedule, by schedule name. */
  public readonly schedules: Readonly<Record<string, scheduler.Schedule>>;
  /** What the schedules run as: PutEvents of `llmops.EvaluationRequested` only, and the dead-letter queue. */
  public readonly scheduleRole: iam.Role;
  public readonly triggerDeadLetterQueue: LlmOpsDeadLetterQueue;
  /** ALARM when a scheduled run regressed against the previous run beyond the margin: pages. */
  public readonly regressionAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: EvaluationProps) {
    super(scope, id);
    const { deployment, config, encryptionKey, alerts, gateway, store } = props;
    const judge = props.models.catalog.find((m) => m.id === config.judgeModel);
    if (judge === undefined) {
      throw new Error(`Evaluation: evaluation.judgeModel "${config.judgeModel}" is not in models.catalog`);
    }

    this.table = projectTable(this, 'EvaluationsTable', {
      config: deployment,
      encryptionKey,
      sortKey: true,
      gsi: EVALUATIONS_INDEX,
      holds: 'test evaluation runs, suites and review labels',
    });
    const common = { config: deployment, encryptionKey } as const;
    const staging = `${EVALUATION_STAGING_PREFIX}`;

    this.registerSuiteFunction = new LlmOpsFunction(this, 'RegisterSuiteFunction', {
      ...common,
      entry: 'functions/evaluation/register-suite.ts',
      description: 'Evaluation: registers each golden dataset version as an evaluation suite',
      timeout: Duration.minutes(2),
      memorySize: 1024,
      async: true,
      alerts,
    })
      .bindTable(this.table, 'EVALUATIONS_TABLE', 'readwrite', [EVALUATIONS_INDEX])
      .grantBucket(props.curatedBucket, 'read', GOLDEN_DATASETS_PREFIX);

    this.planFunction = new LlmOpsFunction(this, 'PlanFunction', {
      ...common,
      entry: 'functions/evaluation/plan.ts',
      description:
        'Evaluate Plan: resolves the targets, samples the suite, estimates the cost, stages batches',
      timeout: Duration.minutes(5),
      memorySize: 1024,
    })
      .bindTable(this.table, 'EVALUATIONS_TABLE', 'readwrite', [EVALUATIONS_INDEX])
      // Target prompts and judge rubrics resolve here; the rubric seed writes only with conditions
      // (`attribute_not_exists`: version 1, the `production` label, its history entry) and moves `latest`.
      .bindTable(gateway.promptsTable, 'PROMPTS_TABLE', 'read', [], { putItem: true, updateItem: true })
      // The seed adds missing catalog entries with conditional puts only, as the chat function's does.
      .bindTable(gateway.catalogTable, 'CATALOG_TABLE', 'read', [], { scan: true, putItem: true })
      .bindString('CATALOG_SEED', JSON.stringify(props.models.catalog))
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'write', staging)
      // A request's bring-your-own predictions.
      .grantBucket(props.artifactsBucket, 'read', PREDICTIONS_PREFIX)
      .grantBucket(props.curatedBucket, 'read', GOLDEN_DATASETS_PREFIX)
      .bindString('JUDGE_MODEL', config.judgeModel)
      .bindString('JUDGE_REPEATS', String(config.judgeRepeats))
      .bindString('EVALUATION_BUDGET_USD', String(config.runBudgetUsd))
      .bindString('ITEM_BATCH_SIZE', String(config.itemBatchSize));

    // Answers through the gateway code path: bound as the chat function is.
    this.generateFunction = gateway
      .bindGatewayCalls(
        new LlmOpsFunction(this, 'GenerateFunction', {
          ...common,
          entry: 'functions/evaluation/generate.ts',
          description:
            'Evaluate Generate: answers a batch of items through the gateway (target and baseline)',
          timeout: Duration.minutes(15),
          memorySize: 1024,
          network: store.networkPlacement(),
          vectorStore: store.kind,
        }),
      )
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', staging)
      .grantBucket(props.artifactsBucket, 'write', staging);

    this.scoreFunction = new LlmOpsFunction(this, 'ScoreFunction', {
      ...common,
      entry: 'functions/evaluation/score.ts',
      description: 'Evaluate Score: metrics and LLM-as-judge (k repeats) on a batch of answers',
      timeout: Duration.minutes(15),
      memorySize: 1024,
    })
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', staging)
      .grantBucket(props.artifactsBucket, 'write', staging)
      // Answer relevance embeds the generated questions with the deployment's embedding model.
      .bindString('EMBEDDING_MODEL', JSON.stringify(store.embeddingModel))
      .bindString('TOXICITY_SCORER', config.toxicity)
      .bindString('GUARDRAIL_ID', props.guardrail?.guardrailId ?? '')
      .bindString('GUARDRAIL_VERSION', props.guardrail?.guardrailVersion ?? '');
    // The judge the run is planned with (Plan records it; Score reads it from the plan), and the embedder.
    grantModel(this, this.scoreFunction, judge, 'Judge');
    grantModel(this, this.scoreFunction, store.embeddingModel, 'Embedding');
    props.guardrail?.grantApply(this.scoreFunction);
    if (config.toxicity === 'comprehend') {
      this.scoreFunction.addUnscopedPolicy(
        'ToxicityPolicy',
        ['comprehend:DetectToxicContent'],
        'Amazon Comprehend DetectToxicContent is a stateless API with no resource-level permissions.',
      );
    }

    this.reportFunction = new LlmOpsFunction(this, 'ReportFunction', {
      ...common,
      entry: 'functions/evaluation/report.ts',
      description: 'Evaluate Report: summary, items, HTML and Markdown report, gate, review queue, event',
      timeout: Duration.minutes(5),
      memorySize: 2048,
    })
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', staging)
      // Reports are written once; the previous run's items are read for the regression check.
      .grantBucket(props.artifactsBucket, 'read', EVALUATIONS_PREFIX)
      .grantBucket(props.artifactsBucket, 'write', EVALUATIONS_PREFIX)
      .bindTable(this.table, 'EVALUATIONS_TABLE', 'readwrite', [EVALUATIONS_INDEX])
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [EVALUATION_COMPLETED],
      });

    this.recordFailureFunction = new LlmOpsFunction(this, 'RecordFailureFunction', {
      ...common,
      entry: 'functions/evaluation/record-failure.ts',
      description: 'Evaluate RecordFailure: records a failed run (and its promotion gate) with the reason',
      timeout: Duration.seconds(30),
    }).bindTable(this.table, 'EVALUATIONS_TABLE', 'readwrite', [EVALUATIONS_INDEX]);

    this.catalogScoresFunction = new LlmOpsFunction(this, 'CatalogScoresFunction', {
      ...common,
      entry: 'functions/evaluation/catalog-scores.ts',
      description: "Evaluation: records a model's score on a suite in the model catalog",
      timeout: Duration.seconds(30),
      async: true,
      alerts,
    })
      // One conditional UpdateItem per score: no put, delete or batch write on the catalog.
      .bindTable(gateway.catalogTable, 'CATALOG_TABLE', 'read', [], { updateItem: true });

    // The API: start and read runs (admin), the review queue (reviewers).
    this.apiFunction = new LlmOpsFunction(this, 'ApiFunction', {
      ...common,
      sourceMaps: false,
      entry: API_FUNCTION_ENTRIES.evaluations,
      description: 'API evaluations: start and read evaluation runs, and the human review queue',
      timeout: Duration.seconds(29),
    })
      .bindTable(this.table, 'EVALUATIONS_TABLE', 'readwrite', [EVALUATIONS_INDEX])
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [EVALUATION_REQUESTED],
      })
      // Report links are presigned with the function's own read access.
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', EVALUATIONS_PREFIX)
      .bindString('MAX_REQUEST_BYTES', String(props.maxRequestBytes));

    // The promotion gate: a production move reads the gate, and starts the evaluation it lacks.
    gateway.promptsFunction
      .bindTable(this.table, 'EVALUATIONS_TABLE', 'readwrite', [EVALUATIONS_INDEX])
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [EVALUATION_REQUESTED, PROMPT_GATE_OVERRIDDEN],
      })
      .bindString('PROMOTION_SUITES', JSON.stringify(config.promotionSuites));

    // The state machine.
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
    const recordFailure = invoke('RecordFailure', this.recordFailureFunction).next(
      new sfn.Fail(steps, 'RunFailed', { error: 'EvaluationFailed', causePath: '$.error' }),
    );
    const caught = { resultPath: '$.error' };

    const perBatch = invoke('Generate', this.generateFunction).next(invoke('Score', this.scoreFunction));
    const batches = new sfn.Map(steps, 'Batches', {
      itemsPath: '$.batches',
      maxConcurrency: config.maxConcurrency,
      itemSelector: {
        runId: sfn.JsonPath.stringAt('$.runId'),
        batch: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      },
      resultPath: sfn.JsonPath.DISCARD,
    }).itemProcessor(perBatch);
    batches.addCatch(recordFailure, caught);
    const report = invoke(
      'Report',
      this.reportFunction,
      sfn.TaskInput.fromObject({
        runId: sfn.JsonPath.stringAt('$.runId'),
        batches: sfn.JsonPath.listAt('$.batches'),
      }),
    ).addCatch(recordFailure, caught);
    const done = new sfn.Succeed(steps, 'Done');

    const plan = invoke(
      'Plan',
      this.planFunction,
      sfn.TaskInput.fromObject({
        event: sfn.JsonPath.entirePayload,
        executionName: sfn.JsonPath.executionName,
      }),
    ).addCatch(
      // Plan failed before it knew the run: RecordFailure reads the run id from the event, or (a scheduled
      // run) from the execution's name.
      invoke(
        'RecordPlanFailure',
        this.recordFailureFunction,
        sfn.TaskInput.fromObject({
          event: sfn.JsonPath.entirePayload,
          executionName: sfn.JsonPath.executionName,
        }),
      ).next(new sfn.Fail(steps, 'PlanFailed', { error: 'EvaluationFailed', causePath: '$.error' })),
      caught,
    );
    const definition = plan.next(
      new sfn.Choice(steps, 'Planned?')
        .when(sfn.Condition.stringEquals('$.status', 'planned'), batches.next(report).next(done))
        .otherwise(done),
    );

    this.pipeline = new PipelineStateMachine(this, 'Pipeline', {
      pipelineName: 'Evaluate',
      definition,
      timeout: Duration.hours(6),
      alerts,
      failureHandler: props.failureHandler,
      config: deployment,
      encryptionKey,
      comment: 'llmops.EvaluationRequested → plan → answers and scores per batch → report',
    });
    this.stateMachine = this.pipeline.stateMachine;
    this.pipeline.acknowledgeInvokedFunctions([
      this.planFunction,
      this.generateFunction,
      this.scoreFunction,
      this.reportFunction,
      this.recordFailureFunction,
    ]);

    this.triggerDeadLetterQueue = new LlmOpsDeadLetterQueue(this, 'TriggerDeadLetterQueue', {
      alerts,
      description:
        'the Evaluation rules and schedules (requests, golden datasets and scores that could not be delivered)',
      encryptionKey,
      allowEventBridge: true,
    });
    const delivery = this.triggerDeadLetterQueue.delivery;
    this.requestRule = new events.Rule(this, 'EvaluationRequestedRule', {
      description: `Evaluate: ${EVALUATION_REQUESTED} → state machine`,
      eventBus: props.eventBus,
      eventPattern: { source: [LLMOPS_SOURCE], detailType: [EVALUATION_REQUESTED] },
      targets: [new targets.SfnStateMachine(this.stateMachine, delivery)],
    });
    this.suiteRule = new events.Rule(this, 'GoldenDatasetRule', {
      description: `Evaluation: ${DATASET_READY} with purpose golden → register the suite`,
      eventBus: props.eventBus,
      eventPattern: { source: [LLMOPS_SOURCE], detailType: [DATASET_READY], detail: { purpose: ['golden'] } },
      targets: [new targets.LambdaFunction(this.registerSuiteFunction, delivery)],
    });
    this.catalogScoresRule = new events.Rule(this, 'CatalogScoresRule', {
      description: `Evaluation: ${EVALUATION_COMPLETED} of a catalog model → the model's score on the suite`,
      eventBus: props.eventBus,
      eventPattern: {
        source: [LLMOPS_SOURCE],
        detailType: [EVALUATION_COMPLETED],
        detail: { target: { model: [{ exists: true }] } },
      },
      targets: [new targets.LambdaFunction(this.catalogScoresFunction, delivery)],
    });

    // One schedule per configured suite and target: it puts the request on the bus, as the API does.
    const scheduled = projectEventSchedules(this, {
      description: `${deployment.stackName}: evaluation schedules put llmops.EvaluationRequested on the project bus`,
      eventBus: props.eventBus,
      detailType: EVALUATION_REQUESTED,
      deadLetterQueue: this.triggerDeadLetterQueue.queue,
      encryptionKey,
      schedules: Object.fromEntries(
        config.schedules.map((s) => {
          const request = {
            suite: s.suite,
            target: { ...(s.prompt ? { prompt: s.prompt } : {}), ...(s.model ? { model: s.model } : {}) },
            maxItems: s.maxItems,
            k: s.k,
            ...(s.ragK !== undefined ? { rag: { k: s.ragK } } : {}),
            ...(s.rubrics !== undefined ? { rubrics: s.rubrics } : {}),
          };
          return [
            s.name,
            {
              description: `Evaluate suite ${s.suite} with ${s.prompt ?? s.model} (${s.maxItems} items, k=${s.k})`,
              expression: s.expression,
              detail: { trigger: 'schedule', requestedBy: `schedule:${s.name}`, request },
            },
          ];
        }),
      ),
    });
    this.scheduleRole = scheduled.role;
    this.schedules = scheduled.schedules;

    // A scheduled run that fell below the previous run of its target beyond the margin pages on-call.
    this.regressionAlarm = new cloudwatch.Alarm(this, 'RegressionAlarm', {
      alarmDescription:
        'A scheduled evaluation regressed against the previous run of the same target and suite beyond the non-inferiority margin. The run record (GET /v1/evaluations/{id}) and its report name the metrics.',
      metric: new cloudwatch.MathExpression({
        expression: `SELECT SUM(EvaluationRegressions) FROM "${LLMOPS_METRICS_NAMESPACE}"`,
        label: 'EvaluationRegressions (all suites)',
        period: Duration.hours(1),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alerts.page(this.regressionAlarm);
  }
}
