/**
 * The closed loop, from a drift alarm to a rollback:
 *
 * ```
 * llmops.DriftDetected ─▶ (Drift) llmops.EvaluationRequested {trigger: drift} ─▶ Evaluate
 *        └────────────▶ Loop: keeps the drift's evidence under the run id
 * llmops.EvaluationCompleted ─▶ Loop: passing runs into the ledger; a drift run compared with
 *   production's last passing run on the same items ▸ regressed beyond the gate margin ▸
 *   act: the prompt's label back to the last version that passed, or a served line's routing back to
 *   the last model deployed on it that passed · recommend: the proposal only
 *   ▸ llmops.RolledBack ─▶ the paging topic (the evidence in the page)
 * ```
 *
 * At most one automatic rollback per target per `closedLoop.coolDownHours`, and never to a version that
 * has not passed an evaluation. Every decision is kept in the loop's table, and a label move's reason in
 * the prompt's label history.
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { EVALUATIONS_PREFIX } from '#contracts/storage-layout.ts';
import { DRIFT_DETECTED } from '#events/drift-detected.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { EVALUATION_COMPLETED } from '#events/evaluation-completed.ts';
import { ROLLED_BACK } from '#events/rolled-back.ts';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';
import { LOOP_RESERVED_CONCURRENCY } from '#infra/config/schema.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import {
  LlmOpsDeadLetterQueue,
  RULE_TARGET_MAX_EVENT_AGE,
  RULE_TARGET_RETRY_ATTEMPTS,
} from './dead-letter-queue.ts';
import { LlmOpsFunction } from './llmops-function.ts';
import { projectTable } from './project-table.ts';

export interface ClosedLoopProps {
  readonly deployment: DeploymentConfig;
  readonly config: AppConfig['closedLoop'];
  readonly artifactsBucket: s3.IBucket;
  readonly encryptionKey: kms.IKey;
  readonly eventBus: events.IEventBus;
  readonly alerts: LlmOpsAlerts;
  /** The prompt registry: the loop moves a prompt's label back. */
  readonly promptsTable: dynamodb.ITable;
  /** On-call's topic: every `llmops.RolledBack` pages, with its evidence. */
  readonly pagingTopic: sns.ITopic;
  /**
   * Fine-tuning's served line (`FineTuning`): binds what routing the line back to a model deployed on it
   * before takes (the catalog, the rollout table, SageMaker's view of what serves).
   * @default none: a model's regression is only recommended
   */
  readonly modelRouting?: ModelRoutingBinder;
}

/** What can bind a function to route a served line back (the fine-tuning construct). */
export interface ModelRoutingBinder {
  bindModelRouting(fn: LlmOpsFunction): LlmOpsFunction;
}

export class ClosedLoop extends Construct {
  /** The pass ledger, drift evidence, decisions and rollbacks (`pk`/`sk`, TTL `expiresAt`). */
  public readonly table: dynamodb.Table;
  public readonly function: LlmOpsFunction;
  public readonly triggerDeadLetterQueue: LlmOpsDeadLetterQueue;

  constructor(scope: Construct, id: string, props: ClosedLoopProps) {
    super(scope, id);
    const { deployment, config, encryptionKey, alerts } = props;
    this.table = projectTable(this, 'LoopTable', {
      config: deployment,
      encryptionKey,
      sortKey: true,
      timeToLiveAttribute: 'expiresAt',
      holds: 'test rollback decisions and the evaluation ledger',
    });
    this.function = new LlmOpsFunction(this, 'LoopFunction', {
      config: deployment,
      encryptionKey,
      entry: 'functions/loop/on-event.ts',
      description:
        'Closed loop: drift evidence and passing runs; a drift evaluation that regressed → rollback (or its recommendation)',
      timeout: Duration.minutes(2),
      memorySize: 1024,
      async: true,
      alerts,
    })
      .bindTable(this.table, 'LOOP_TABLE', 'readwrite')
      // Reads labels and versions, moves a label (UpdateItem) and records the move (PutItem); no delete.
      .bindTable(props.promptsTable, 'PROMPTS_TABLE', 'read', [], { putItem: true, updateItem: true })
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'read', EVALUATIONS_PREFIX)
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [ROLLED_BACK],
      })
      .bindString('CLOSED_LOOP', JSON.stringify({ mode: config.mode, coolDownHours: config.coolDownHours }));
    // A served line's regression routes it back to a model deployed on it before (act mode).
    props.modelRouting?.bindModelRouting(this.function);

    // One decision at a time: a label move is checked, then made; two concurrent deliveries (or two
    // checks' runs on one target) must not both pass the check. The second then sees production moved.
    (this.function.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions =
      LOOP_RESERVED_CONCURRENCY;

    this.triggerDeadLetterQueue = new LlmOpsDeadLetterQueue(this, 'TriggerDeadLetterQueue', {
      alerts,
      description: 'the closed loop rules (drift evidence, completed evaluations, pages)',
      encryptionKey,
      allowEventBridge: true,
    });
    const delivery = this.triggerDeadLetterQueue.delivery;
    new events.Rule(this, 'LoopRule', {
      description: `Closed loop: ${DRIFT_DETECTED} and ${EVALUATION_COMPLETED} → the loop`,
      eventBus: props.eventBus,
      eventPattern: { source: [LLMOPS_SOURCE], detailType: [DRIFT_DETECTED, EVALUATION_COMPLETED] },
      targets: [new targets.LambdaFunction(this.function, delivery)],
    });
    // Every decision pages (an automatic rollback, a recommendation, a rollback held back). The page is
    // the decision itself: outcome, reason, from, to and the evidence. The target is bound by hand: CDK's
    // SnsTopic target would add an unconditioned key and topic grant for EventBridge, where the project
    // key and the paging topic already allow this account's rules on the project bus (`LlmOpsAlerts`).
    const deadLetterQueue = this.triggerDeadLetterQueue.queue;
    new events.Rule(this, 'PageRule', {
      description: `Closed loop: ${ROLLED_BACK} → the paging topic`,
      eventBus: props.eventBus,
      eventPattern: { source: [LLMOPS_SOURCE], detailType: [ROLLED_BACK] },
      targets: [
        {
          bind: () => ({
            arn: props.pagingTopic.topicArn,
            input: events.RuleTargetInput.fromEventPath('$.detail'),
            deadLetterConfig: { arn: deadLetterQueue.queueArn },
            retryPolicy: {
              maximumRetryAttempts: RULE_TARGET_RETRY_ATTEMPTS,
              maximumEventAgeInSeconds: RULE_TARGET_MAX_EVENT_AGE.toSeconds(),
            },
          }),
        },
      ],
    });
  }
}
