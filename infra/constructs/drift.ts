/**
 * Drift: the scheduled DriftCheck state machine, the calibrated alarms on its scores that page, the
 * alarm → `llmops.DriftDetected` → evaluation-of-production chain, and the drift API function.
 *
 *   Scheduler (cron per check, one cadence)  ┐
 *   POST /v1/drift/baselines                  ├─▶ llmops.DriftCheckRequested ─▶ DriftCheck state machine:
 *     Collect (window of the interaction log, or a baseline's source; embeds what RAG did not)
 *       ─collected→ Check (tests, the online judge, report to drift/reports/, window record, EMF DriftScore) → Done
 *       ─baseline-created→ Done
 *   DriftScore {Check, Signal} ≥ 1.0 for M of N windows ─▶ the signal's alarm ─┐
 *   any signal's alarm in ALARM ─▶ the check's composite alarm ─▶ page (SNS)    │
 *   CloudWatch Alarm State Change (default bus, a drift alarm, ALARM) ◀─────────┘
 *     ─▶ OnAlarm ─▶ llmops.DriftDetected (project bus) ─▶ StartEvaluation ─▶ llmops.EvaluationRequested
 *
 * The false-page target sets the per-window alpha and the alarms' M of N (`driftAlarmPolicy`): the
 * functions get the same policy the alarms are synthesized with, so a check's threshold and its alarm
 * cannot disagree. Schedules fire on the cadence's boundaries (cron), so that each window is exactly
 * one alarm period; a check stamps its score with the window's end, so that the alarm sees it in the
 * period that has just begun, as soon as the check has run.
 *
 * With `drift.onlineJudge`, Check also calls the judge (`evaluation.judgeModel`, a chat model of the
 * catalog) on a small, capped sample of each window's answers, and the embedding model its answer
 * relevance rubric embeds with: it is granted exactly those two models, and none without it; and it
 * reads the prompts table, where it resolves the rubric (inserting the rubric prompts if absent).
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { EVALUATIONS_INDEX } from '#aws/eval/dynamo-evaluation-store.ts';
import {
  DRIFT_SCORE_METRIC,
  DRIFT_SIGNALS,
  DRIFT_WATCHED_SIGNALS,
  PAGING_DRIFT_SIGNALS,
} from '#contracts/drift/baseline.ts';
import { RETRYABLE_ERROR_NAMES } from '#contracts/retryable-errors.ts';
import {
  DATASETS_PREFIX,
  DRIFT_BASELINES_PREFIX,
  DRIFT_REPORTS_PREFIX,
  DRIFT_STAGING_PREFIX,
  EVALUATIONS_PREFIX,
  INTERACTIONS_PREFIX,
} from '#contracts/storage-layout.ts';
import { type DriftAlarmPolicy, driftAlarmPolicy } from '#core/drift/alarm-policy.ts';
import { CLOUDWATCH_ALARM_STATE_CHANGE } from '#events/cloudwatch-alarm-state-change.ts';
import { DRIFT_CHECK_REQUESTED } from '#events/drift-check-requested.ts';
import { DRIFT_DETECTED } from '#events/drift-detected.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { EVALUATION_REQUESTED } from '#events/evaluation-requested.ts';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';
import { LlmOpsFunction, METRICS_SERVICE } from './llmops-function.ts';
import { grantModel } from './model-access.ts';
import { API_FUNCTION_ENTRIES, LLMOPS_METRICS_NAMESPACE } from './model-gateway.ts';
import { PipelineStateMachine, pipelineStep } from './pipeline-state-machine.ts';
import { projectEventSchedules } from './project-event-schedules.ts';
import { projectTable } from './project-table.ts';
import type { RagVectorStore } from './rag-store.ts';

export interface DriftProps {
  readonly deployment: DeploymentConfig;
  readonly config: AppConfig['drift'];
  /** Largest request body of the drift routes (`api.maxRequestBytes`). */
  readonly maxRequestBytes: number;
  readonly curatedBucket: s3.IBucket;
  readonly artifactsBucket: s3.IBucket;
  readonly encryptionKey: kms.IKey;
  readonly eventBus: events.IEventBus;
  readonly alerts: LlmOpsAlerts;
  readonly failureHandler: lambda.IFunction;
  /** The embedding model of RAG (the drift checks embed with the same, so RAG's query embeddings compare). */
  readonly store: RagVectorStore;
  /** Suites and evaluation runs: the sources of baselines. */
  readonly evaluationsTable: dynamodb.ITable;
  /** The catalog (the online judge's entry: `judgeModel`). */
  readonly models: AppConfig['models'];
  /** The online judge's model (`evaluation.judgeModel`), an id of the catalog. */
  readonly judgeModel: string;
  /** The prompt registry, where the online judge resolves its rubric (and seeds the rubric prompts). */
  readonly promptsTable: dynamodb.ITable;
}

/** The cron of a cadence: fires on its boundaries (minutes past the hour, or hours of the day). */
export function cadenceCron(cadenceMinutes: number): string {
  if (cadenceMinutes < 60) return `cron(0/${cadenceMinutes} * * * ? *)`;
  if (cadenceMinutes === 60) return 'cron(0 * * * ? *)';
  if (cadenceMinutes === 1440) return 'cron(0 0 * * ? *)';
  return `cron(0 0/${cadenceMinutes / 60} * * ? *)`;
}

export class Drift extends Construct {
  /** Baselines and checked windows: `pk`/`sk`. */
  public readonly table: dynamodb.Table;
  /** The policy the checks run with and the alarms are synthesized with. */
  public readonly policy: DriftAlarmPolicy;
  public readonly collectFunction: LlmOpsFunction;
  public readonly checkFunction: LlmOpsFunction;
  public readonly onAlarmFunction: LlmOpsFunction;
  /** Absent when neither `drift.onDrift` nor a check's own `onDrift` is configured. */
  public readonly startEvaluationFunction?: LlmOpsFunction;
  /** `POST /v1/drift/baselines`, `GET /v1/drift/status`. */
  public readonly apiFunction: LlmOpsFunction;
  public readonly pipeline: PipelineStateMachine;
  public readonly stateMachine: sfn.StateMachine;
  /** Each check's signal alarms, by check then signal (`DriftScore` ≥ 1.0 for M of N windows). */
  public readonly signalAlarms: Readonly<Record<string, Readonly<Record<string, cloudwatch.Alarm>>>>;
  /** Each check's composite alarm (any of its signals), which pages. */
  public readonly checkAlarms: Readonly<Record<string, cloudwatch.CompositeAlarm>>;
  public readonly schedules: Readonly<Record<string, scheduler.Schedule>>;
  /** The dashboard section: each check's scores against the threshold, and the checks' alarms. */
  public readonly widgets: cloudwatch.IWidget[];
  public readonly triggerDeadLetterQueue: LlmOpsDeadLetterQueue;

  constructor(scope: Construct, id: string, props: DriftProps) {
    super(scope, id);
    const { deployment, config, encryptionKey, alerts, store } = props;
    const judge =
      config.onlineJudge === undefined
        ? undefined
        : props.models.catalog.find((m) => m.id === props.judgeModel);
    if (config.onlineJudge !== undefined && judge === undefined) {
      throw new Error(`Drift: evaluation.judgeModel "${props.judgeModel}" is not in models.catalog`);
    }
    this.policy = driftAlarmPolicy({
      cadenceMinutes: config.cadenceMinutes,
      falsePagesPerMonth: config.falsePagesPerMonth,
      signals: Math.max(1, config.checks.length * DRIFT_SIGNALS.length),
      permutations: config.permutations,
    });
    const policyJson = JSON.stringify({
      alpha: this.policy.alpha,
      datapointsToAlarm: this.policy.datapointsToAlarm,
      evaluationPeriods: this.policy.evaluationPeriods,
      cadenceMinutes: config.cadenceMinutes,
      effect: config.effect,
      power: config.power,
      permutations: config.permutations,
      maxWindowRecords: config.maxWindowRecords,
    });
    // What Collect and Check read of a check: its slice (its onDrift is StartEvaluation's).
    const checksJson = JSON.stringify(config.checks.map(({ onDrift: _onDrift, ...check }) => check));

    this.table = projectTable(this, 'DriftTable', {
      config: deployment,
      encryptionKey,
      sortKey: true,
      holds: 'test drift baselines and checked windows',
    });
    const common = { config: deployment, encryptionKey } as const;

    this.collectFunction = new LlmOpsFunction(this, 'CollectFunction', {
      ...common,
      entry: 'functions/drift/collect.ts',
      description: "DriftCheck Collect: a window of the interaction log (or a baseline's source), embedded",
      timeout: Duration.minutes(15),
      memorySize: 2048,
    })
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', INTERACTIONS_PREFIX)
      .grantBucket(props.artifactsBucket, 'write', DRIFT_STAGING_PREFIX)
      .grantBucket(props.artifactsBucket, 'write', DRIFT_BASELINES_PREFIX)
      // Baselines from an evaluation run's items, or a suite's curated file.
      .grantBucket(props.artifactsBucket, 'read', EVALUATIONS_PREFIX)
      .grantBucket(props.curatedBucket, 'read', `${DATASETS_PREFIX}golden/`)
      .bindTable(this.table, 'DRIFT_TABLE', 'readwrite')
      .bindTable(props.evaluationsTable, 'EVALUATIONS_TABLE', 'read', [EVALUATIONS_INDEX])
      .bindString('DRIFT_CHECKS', checksJson)
      .bindString('DRIFT_POLICY', policyJson)
      .bindString('EMBEDDING_MODEL', JSON.stringify(store.embeddingModel));
    grantModel(this, this.collectFunction, store.embeddingModel, 'Embedding');

    this.checkFunction = new LlmOpsFunction(this, 'CheckFunction', {
      ...common,
      entry: 'functions/drift/check.ts',
      description:
        'DriftCheck Check: embedding and descriptor tests, report, window record, DriftScore metrics',
      timeout: Duration.minutes(15),
      memorySize: 3008,
    })
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', DRIFT_STAGING_PREFIX)
      .grantBucket(props.artifactsBucket, 'read', DRIFT_BASELINES_PREFIX)
      .grantBucket(props.artifactsBucket, 'write', DRIFT_BASELINES_PREFIX)
      .grantBucket(props.artifactsBucket, 'write', DRIFT_REPORTS_PREFIX)
      .bindTable(this.table, 'DRIFT_TABLE', 'readwrite')
      .bindString('DRIFT_POLICY', policyJson);
    // The online judge: a capped sample of each window's answers (and the baseline's, cached beside its
    // records under drift/baselines/), answer relevance embedding with the drift check's embedding model.
    if (config.onlineJudge !== undefined && judge !== undefined) {
      this.checkFunction
        .bindString('ONLINE_JUDGE', JSON.stringify(config.onlineJudge))
        .bindString('ONLINE_JUDGE_MODEL', JSON.stringify(judge))
        .bindString('EMBEDDING_MODEL', JSON.stringify(store.embeddingModel))
        // The rubric (`judge-answer-relevance@production`), resolved as Evaluate's Plan resolves it; the
        // seed's conditional inserts (PutItem, UpdateItem) are its only writes, as Plan's.
        .bindTable(props.promptsTable, 'PROMPTS_TABLE', 'read', [], { putItem: true, updateItem: true });
      grantModel(this, this.checkFunction, judge, 'Judge');
      grantModel(this, this.checkFunction, store.embeddingModel, 'Embedding');
    }

    this.onAlarmFunction = new LlmOpsFunction(this, 'OnAlarmFunction', {
      ...common,
      entry: 'functions/drift/on-alarm.ts',
      description: "Drift: a drift alarm's ALARM state change → llmops.DriftDetected",
      timeout: Duration.seconds(30),
      async: true,
      alerts,
    })
      .bindTable(this.table, 'DRIFT_TABLE', 'read')
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [DRIFT_DETECTED],
      })
      .bindString('DRIFT_POLICY', policyJson);

    this.apiFunction = new LlmOpsFunction(this, 'ApiFunction', {
      ...common,
      sourceMaps: false,
      entry: API_FUNCTION_ENTRIES.drift,
      description: 'API drift: build baselines, read the checks and their latest windows',
      timeout: Duration.seconds(29),
    })
      .bindTable(this.table, 'DRIFT_TABLE', 'read')
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [DRIFT_CHECK_REQUESTED],
      })
      // Report links are presigned with the function's own read access.
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', DRIFT_REPORTS_PREFIX)
      .bindString('DRIFT_CHECKS', checksJson)
      .bindString('DRIFT_POLICY', policyJson)
      .bindString('MAX_REQUEST_BYTES', String(props.maxRequestBytes));

    // The state machine.
    const steps = new Construct(this, 'Steps');
    const retry = {
      errors: RETRYABLE_ERROR_NAMES,
      interval: Duration.seconds(5),
      maxAttempts: 4,
      backoffRate: 3,
      jitter: true,
    };
    const collect = pipelineStep(
      steps,
      'Collect',
      this.collectFunction,
      retry,
      sfn.TaskInput.fromJsonPathAt('$'),
    );
    const check = pipelineStep(steps, 'Check', this.checkFunction, retry);
    const done = new sfn.Succeed(steps, 'Done');
    const definition = collect.next(
      new sfn.Choice(steps, 'Collected?')
        .when(sfn.Condition.stringEquals('$.status', 'collected'), check.next(done))
        .otherwise(done),
    );
    this.pipeline = new PipelineStateMachine(this, 'Pipeline', {
      pipelineName: 'DriftCheck',
      definition,
      timeout: Duration.hours(1),
      alerts,
      failureHandler: props.failureHandler,
      config: deployment,
      encryptionKey,
      comment: 'llmops.DriftCheckRequested → collect the window (or a baseline) → check, report, score',
    });
    this.stateMachine = this.pipeline.stateMachine;
    this.pipeline.acknowledgeInvokedFunctions([this.collectFunction, this.checkFunction]);

    this.triggerDeadLetterQueue = new LlmOpsDeadLetterQueue(this, 'TriggerDeadLetterQueue', {
      alerts,
      description: 'the Drift rules and schedules (check requests, alarm changes, evaluations on drift)',
      encryptionKey,
      allowEventBridge: true,
    });
    const delivery = this.triggerDeadLetterQueue.delivery;
    new events.Rule(this, 'DriftCheckRequestedRule', {
      description: `DriftCheck: ${DRIFT_CHECK_REQUESTED} → state machine`,
      eventBus: props.eventBus,
      eventPattern: { source: [LLMOPS_SOURCE], detailType: [DRIFT_CHECK_REQUESTED] },
      targets: [new targets.SfnStateMachine(this.stateMachine, delivery)],
    });

    // One schedule per check, on the cadence's boundaries; the window ends at the scheduled time.
    this.schedules = projectEventSchedules(this, {
      description: `${deployment.stackName}: drift schedules put llmops.DriftCheckRequested on the project bus`,
      eventBus: props.eventBus,
      detailType: DRIFT_CHECK_REQUESTED,
      deadLetterQueue: this.triggerDeadLetterQueue.queue,
      encryptionKey,
      schedules: Object.fromEntries(
        config.checks.map((c) => [
          c.name,
          {
            description: `Drift check ${c.name}: the last ${config.cadenceMinutes} minutes of traffic against its baseline`,
            expression: cadenceCron(config.cadenceMinutes),
            detail: {
              check: c.name,
              requestedBy: `schedule:drift-${c.name}`,
              windowEnd: scheduler.ContextAttribute.scheduledTime,
            },
          },
        ]),
      ),
    }).schedules;

    // The alarms: one per check and signal (M of N windows at or above the threshold), and one composite
    // per check that pages, so that a shift several signals see pages once.
    const signalAlarms: Record<string, Record<string, cloudwatch.Alarm>> = {};
    const checkAlarms: Record<string, cloudwatch.CompositeAlarm> = {};
    const period = Duration.minutes(config.cadenceMinutes);
    const m = this.policy.datapointsToAlarm;
    const n = this.policy.evaluationPeriods;
    const widgets: cloudwatch.IWidget[] = [];
    for (const c of config.checks) {
      const perSignal: Record<string, cloudwatch.Alarm> = {};
      for (const signal of PAGING_DRIFT_SIGNALS) {
        perSignal[signal] = new cloudwatch.Alarm(this, `Alarm-${c.name}-${signal}`, {
          alarmDescription:
            `Drift check ${c.name}: the ${signal} score was at or above its threshold (1.0) in ${m} of the last ${n} windows of ${config.cadenceMinutes} minutes ` +
            `(alpha ${this.policy.alpha} per window; at most ${config.falsePagesPerMonth} false page(s) a month). ` +
            `GET /v1/drift/status names the baseline, the test that fired and the window's report.`,
          metric: new cloudwatch.Metric({
            namespace: LLMOPS_METRICS_NAMESPACE,
            metricName: DRIFT_SCORE_METRIC,
            // Powertools adds its `service` dimension to every series the functions emit.
            dimensionsMap: { service: METRICS_SERVICE, Check: c.name, Signal: signal },
            statistic: 'Maximum',
            period,
          }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: n,
          datapointsToAlarm: m,
          // A window without a score (too little traffic) is no evidence of drift.
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
      }
      signalAlarms[c.name] = perSignal;
      widgets.push(
        new cloudwatch.GraphWidget({
          title: `Drift check ${c.name}: scores (1.0 = threshold; alarm at ${m} of ${n} windows)`,
          width: 12,
          // The paging signals' scores, and those published without an alarm (the answers' embeddings, the reviews).
          left: [
            ...Object.values(perSignal).map((a) => a.metric),
            ...DRIFT_WATCHED_SIGNALS.map(
              (signal) =>
                new cloudwatch.Metric({
                  namespace: LLMOPS_METRICS_NAMESPACE,
                  metricName: DRIFT_SCORE_METRIC,
                  dimensionsMap: { service: METRICS_SERVICE, Check: c.name, Signal: signal },
                  statistic: 'Maximum',
                  period,
                }),
            ),
          ],
          leftYAxis: { min: 0 },
          leftAnnotations: [{ value: 1, label: 'threshold', color: cloudwatch.Color.RED }],
        }),
      );
      checkAlarms[c.name] = new cloudwatch.CompositeAlarm(this, `CheckAlarm-${c.name}`, {
        alarmDescription: `Drift check ${c.name}: the embedding, the descriptor, the quality or the feedback signal drifted (its alarm says which).`,
        alarmRule: cloudwatch.AlarmRule.anyOf(
          ...Object.values(perSignal).map((a) =>
            cloudwatch.AlarmRule.fromAlarm(a, cloudwatch.AlarmState.ALARM),
          ),
        ),
      });
      alerts.page(checkAlarms[c.name] as cloudwatch.CompositeAlarm);
    }
    this.signalAlarms = signalAlarms;
    this.checkAlarms = checkAlarms;

    widgets.push(
      new cloudwatch.AlarmStatusWidget({
        title: 'Drift alarms',
        width: 12,
        alarms: Object.values(checkAlarms),
      }),
    );
    this.widgets = widgets;

    // A signal alarm's ALARM becomes llmops.DriftDetected.
    const alarmArns = Object.values(signalAlarms).flatMap((bySignal) =>
      Object.values(bySignal).map((a) => a.alarmArn),
    );
    if (alarmArns.length > 0) {
      new events.Rule(this, 'DriftAlarmRule', {
        description: `Drift: ${CLOUDWATCH_ALARM_STATE_CHANGE} of a drift alarm into ALARM → ${DRIFT_DETECTED}`,
        eventPattern: {
          source: ['aws.cloudwatch'],
          detailType: [CLOUDWATCH_ALARM_STATE_CHANGE],
          resources: alarmArns,
          detail: { state: { value: ['ALARM'] } },
        },
        targets: [new targets.LambdaFunction(this.onAlarmFunction, delivery)],
      });
    }

    // llmops.DriftDetected starts the evaluation of production the configuration asks for: the check's
    // own onDrift (the prompt or model of its slice of traffic), else drift.onDrift.
    const checkEvaluations = Object.fromEntries(
      config.checks.flatMap((c) => (c.onDrift === undefined ? [] : [[c.name, c.onDrift] as const])),
    );
    const hasCheckEvaluations = Object.keys(checkEvaluations).length > 0;
    if (config.onDrift !== undefined || hasCheckEvaluations) {
      this.startEvaluationFunction = new LlmOpsFunction(this, 'StartEvaluationFunction', {
        ...common,
        entry: 'functions/drift/start-evaluation.ts',
        description: 'Drift: llmops.DriftDetected → llmops.EvaluationRequested (an evaluation of production)',
        timeout: Duration.seconds(30),
        async: true,
        alerts,
      }).bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [EVALUATION_REQUESTED],
      });
      if (config.onDrift !== undefined) {
        this.startEvaluationFunction.bindString('DRIFT_EVALUATION', JSON.stringify(config.onDrift));
      }
      if (hasCheckEvaluations) {
        this.startEvaluationFunction.bindString('DRIFT_CHECK_EVALUATIONS', JSON.stringify(checkEvaluations));
      }
      new events.Rule(this, 'DriftDetectedRule', {
        description: `Drift: ${DRIFT_DETECTED} → an evaluation of production (${EVALUATION_REQUESTED})`,
        eventBus: props.eventBus,
        eventPattern: { source: [LLMOPS_SOURCE], detailType: [DRIFT_DETECTED] },
        targets: [new targets.LambdaFunction(this.startEvaluationFunction, delivery)],
      });
    }
  }

  /**
   * Reads the feedback table: Collect counts the verdicts on each window's answered calls (and reads the
   * review labels of their complaints from the evaluations table, which it reads already), the feedback
   * and reviews signals. The table belongs to the feedback capability, created after this construct.
   */
  public watchFeedback(feedbackTable: dynamodb.ITable): this {
    this.collectFunction.bindTable(feedbackTable, 'FEEDBACK_TABLE', 'read');
    return this;
  }
}
