/**
 * Human feedback and its way into training:
 *
 * ```
 * POST /v1/feedback ─▶ FeedbackApi: the interaction (kept by the chat function) ▸ app check ▸ redaction
 *                      ▸ the verdict (one per interaction and user) ▸ EMF FeedbackScore/FeedbackPositive
 *                      ▸ negative with a comment: a review task (the evaluation's review queue)
 * Scheduler (rate, feedback.exportEveryHours) ─▶ llmops.FeedbackExportRequested ─▶ Export:
 *   pending verdicts ▸ pairs (corrections, opposite ratings), KTO records, held-out prompts
 *   ▸ annotators the reviewers disagree with left out ▸ at feedback.pairThreshold new pairs:
 *   raw/preference/<dataset>/<export>.jsonl (DataPrep ▸ DatasetReady{preference} ▸ FineTune DPO)
 *   ▸ llmops.FeedbackThresholdReached
 * ```
 *
 * The interactions table belongs to the model gateway (the chat function writes it on every answered
 * call); this construct reads it. Nothing here skips DataPrep: the export writes where an upload goes.
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { EVALUATIONS_INDEX } from '#aws/eval/dynamo-evaluation-store.ts';
import { FEEDBACK_INDEX } from '#aws/feedback/dynamo-feedback-store.ts';
import { heldOutSuiteOf } from '#contracts/feedback/feedback.ts';
import {
  FEEDBACK_UNPAIRED_PREFIX,
  GOLDEN_RAW_PREFIX,
  PREFERENCE_RAW_PREFIX,
} from '#contracts/storage-layout.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { FEEDBACK_EXPORT_REQUESTED } from '#events/feedback-export-requested.ts';
import { FEEDBACK_THRESHOLD_REACHED } from '#events/feedback-threshold-reached.ts';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';
import { LlmOpsFunction } from './llmops-function.ts';
import { API_FUNCTION_ENTRIES } from './model-gateway.ts';
import { projectEventSchedules } from './project-event-schedules.ts';
import { projectTable } from './project-table.ts';

export interface FeedbackProps {
  readonly deployment: DeploymentConfig;
  readonly config: AppConfig['feedback'];
  /** Largest request body of the feedback route (`api.maxRequestBytes`). */
  readonly maxRequestBytes: number;
  readonly rawBucket: s3.IBucket;
  readonly artifactsBucket: s3.IBucket;
  readonly encryptionKey: kms.IKey;
  readonly eventBus: events.IEventBus;
  readonly alerts: LlmOpsAlerts;
  /** The answered calls, written by the chat function (`pk`, TTL `expiresAt`). */
  readonly interactionsTable: dynamodb.ITable;
  /** The evaluation's table: the review queue (written) and the reviewers' labels (read). */
  readonly evaluationsTable: dynamodb.ITable;
}

export class Feedback extends Construct {
  /** The verdicts, the prompt-hash index items and the exported record ids (`pk`/`sk`, `gsi1`). */
  public readonly table: dynamodb.Table;
  /** `POST /v1/feedback`. */
  public readonly apiFunction: LlmOpsFunction;
  /** Builds and writes the preference data. */
  public readonly exportFunction: LlmOpsFunction;
  public readonly schedule: scheduler.Schedule;
  public readonly triggerDeadLetterQueue: LlmOpsDeadLetterQueue;

  constructor(scope: Construct, id: string, props: FeedbackProps) {
    super(scope, id);
    const { deployment, config, encryptionKey, alerts } = props;
    this.table = projectTable(this, 'FeedbackTable', {
      config: deployment,
      encryptionKey,
      sortKey: true,
      gsi: FEEDBACK_INDEX,
      holds: 'test feedback and its export records',
    });
    const common = { config: deployment, encryptionKey } as const;

    this.apiFunction = new LlmOpsFunction(this, 'ApiFunction', {
      ...common,
      sourceMaps: false,
      entry: API_FUNCTION_ENTRIES.feedback,
      description:
        "API feedback: an app's verdict on one of its answers, redacted, counted and queued for review",
      timeout: Duration.seconds(29),
    })
      // Reads the previous verdict and writes the new one (and its prompt-hash pointer): no update, no delete.
      .bindTable(this.table, 'FEEDBACK_TABLE', 'read', [], { putItem: true })
      .bindTable(props.interactionsTable, 'INTERACTIONS_TABLE', 'read')
      // Review tasks are written (the queue), nothing else of the evaluation's table.
      .bindTable(props.evaluationsTable, 'EVALUATIONS_TABLE', 'read', [], { putItem: true })
      .bindString('MAX_REQUEST_BYTES', String(props.maxRequestBytes));

    this.exportFunction = new LlmOpsFunction(this, 'ExportFunction', {
      ...common,
      entry: 'functions/feedback/export.ts',
      description:
        'Feedback export: new preference pairs from human feedback → raw/preference/ (DataPrep), at the threshold',
      timeout: Duration.minutes(5),
      memorySize: 1024,
      async: true,
      alerts,
    })
      .bindTable(this.table, 'FEEDBACK_TABLE', 'readwrite', [FEEDBACK_INDEX])
      .bindString('FEEDBACK_INDEX', FEEDBACK_INDEX)
      .bindTable(props.interactionsTable, 'INTERACTIONS_TABLE', 'read')
      .bindTable(props.evaluationsTable, 'EVALUATIONS_TABLE', 'read', [EVALUATIONS_INDEX])
      // Its own folders only (a retried run reads back what it wrote, to tell its own file from another's).
      .bindBucket(
        props.rawBucket,
        'RAW_BUCKET',
        'readwrite',
        `${PREFERENCE_RAW_PREFIX}${config.datasetName}/`,
      )
      .grantBucket(props.rawBucket, 'readwrite', `${GOLDEN_RAW_PREFIX}${heldOutSuiteOf(config.datasetName)}/`)
      .bindBucket(props.artifactsBucket, 'ARTIFACTS_BUCKET', 'readwrite', FEEDBACK_UNPAIRED_PREFIX)
      .bindEventBus(props.eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [FEEDBACK_THRESHOLD_REACHED],
      })
      .bindString(
        'FEEDBACK_EXPORT',
        JSON.stringify({
          pairThreshold: config.pairThreshold,
          datasetName: config.datasetName,
          holdOutShare: config.holdOutShare,
          annotatorAgreement: config.annotatorAgreement,
        }),
      );

    this.triggerDeadLetterQueue = new LlmOpsDeadLetterQueue(this, 'TriggerDeadLetterQueue', {
      alerts,
      description: 'the feedback export schedule and rule',
      encryptionKey,
      allowEventBridge: true,
    });
    new events.Rule(this, 'ExportRequestedRule', {
      description: `Feedback: ${FEEDBACK_EXPORT_REQUESTED} → the export`,
      eventBus: props.eventBus,
      eventPattern: { source: [LLMOPS_SOURCE], detailType: [FEEDBACK_EXPORT_REQUESTED] },
      targets: [new targets.LambdaFunction(this.exportFunction, this.triggerDeadLetterQueue.delivery)],
    });
    const { schedules } = projectEventSchedules(this, {
      description: `${deployment.stackName}: puts ${FEEDBACK_EXPORT_REQUESTED} on the project bus`,
      eventBus: props.eventBus,
      detailType: FEEDBACK_EXPORT_REQUESTED,
      deadLetterQueue: this.triggerDeadLetterQueue.queue,
      encryptionKey,
      schedules: {
        export: {
          description: `Feedback export: every ${config.exportEveryHours} h, new preference pairs at ${config.pairThreshold}`,
          expression: `rate(${config.exportEveryHours} ${config.exportEveryHours === 1 ? 'hour' : 'hours'})`,
          detail: { requestedBy: 'schedule', requestedAt: '<aws.scheduler.scheduled-time>' },
        },
      },
    });
    this.schedule = schedules.export as scheduler.Schedule;
  }
}
