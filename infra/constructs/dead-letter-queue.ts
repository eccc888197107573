/**
 * A dead-letter queue that someone is told about: an encrypted SQS queue (TLS only) plus an alarm on
 * its visible messages, paged through {@link LlmOpsAlerts}.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { LlmOpsAlerts } from './alerts.ts';
import { acknowledge } from './nag.ts';

/** How often, and how long, EventBridge retries a rule target before it dead-letters the event. */
export const RULE_TARGET_RETRY_ATTEMPTS = 8;
export const RULE_TARGET_MAX_EVENT_AGE = Duration.hours(24);

/** What a rule target of the house is given: retries, then this queue. */
export interface RuleTargetDelivery {
  readonly deadLetterQueue: sqs.IQueue;
  readonly retryAttempts: number;
  readonly maxEventAge: Duration;
}

export interface LlmOpsDeadLetterQueueProps {
  /** Pages when a message lands in the queue. */
  readonly alerts: LlmOpsAlerts;
  /** What fails into this queue, for the alarm description (e.g. "DataPrep trigger rule"). */
  readonly description: string;
  /**
   * Key that encrypts the queue.
   *
   * @default - SQS-managed server-side encryption (SSE-SQS)
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Whether EventBridge (rule targets, event bus) sends to this queue: extends the key policy so
   * EventBridge may use the key for SQS.
   *
   * @default false
   */
  readonly allowEventBridge?: boolean;
  /**
   * How long failed messages are kept.
   *
   * @default Duration.days(14) (the SQS maximum)
   */
  readonly retentionPeriod?: Duration;
}

const eventBridgeKeys = new WeakSet<kms.IKey>();

/** An encrypted, alarmed dead-letter queue. */
export class LlmOpsDeadLetterQueue extends Construct {
  /** The queue. */
  public readonly queue: sqs.Queue;
  /** ALARM when at least one message is visible. */
  public readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: LlmOpsDeadLetterQueueProps) {
    super(scope, id);
    if (props.description.trim().length === 0) {
      throw new Error(`LlmOpsDeadLetterQueue ${this.node.path}: description must not be empty`);
    }
    const retention = props.retentionPeriod ?? Duration.days(14);
    if (!retention.isUnresolved() && (retention.toSeconds() < 60 || retention.toSeconds() > 1_209_600)) {
      throw new Error(`LlmOpsDeadLetterQueue ${this.node.path}: retentionPeriod must be 1 minute to 14 days`);
    }

    this.queue = new sqs.Queue(this, 'Queue', {
      retentionPeriod: retention,
      enforceSSL: true,
      ...(props.encryptionKey
        ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.encryptionKey }
        : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
    });
    acknowledge(
      this.queue,
      'AwsSolutions-SQS3',
      'This queue is itself a dead-letter queue (of a Lambda function or an EventBridge target), so it has none.',
    );

    if (props.allowEventBridge && props.encryptionKey && !eventBridgeKeys.has(props.encryptionKey)) {
      eventBridgeKeys.add(props.encryptionKey);
      // SQS asks KMS for a data key on the sender's behalf; the encryption context carries the queue ARN.
      // EventBridge's KMS requests carry no aws:SourceArn/SourceAccount, so the context is the condition.
      props.encryptionKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowEventBridgeToSendToEncryptedQueues',
          principals: [new iam.ServicePrincipal('events.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: ['*'],
          conditions: {
            ArnLike: {
              'kms:EncryptionContext:aws:sqs:arn': `arn:${Aws.PARTITION}:sqs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*`,
            },
          },
        }),
      );
    }

    this.alarm = new cloudwatch.Alarm(this, 'MessagesVisible', {
      alarmDescription: `Messages in the dead-letter queue of ${props.description}: something failed and was not processed. Inspect and redrive.`,
      metric: this.queue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    props.alerts.page(this.alarm);
  }

  /**
   * The delivery of a rule target that dead-letters here: retried {@link RULE_TARGET_RETRY_ATTEMPTS}
   * times over up to {@link RULE_TARGET_MAX_EVENT_AGE}, then sent to this queue, where the alarm sees it.
   */
  public get delivery(): RuleTargetDelivery {
    return {
      deadLetterQueue: this.queue,
      retryAttempts: RULE_TARGET_RETRY_ATTEMPTS,
      maxEventAge: RULE_TARGET_MAX_EVENT_AGE,
    };
  }
}
