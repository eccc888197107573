/**
 * A batched trigger of a state machine: EventBridge rules send their events to an SQS queue (encrypted with
 * the project key, TLS only, with a dead-letter queue that pages), and an EventBridge Pipe drains the queue
 * in batches, starting ONE execution per batch (FIRE_AND_FORGET) whose input is the JSON array of the
 * batch's SQS records. A pipeline whose fixed cost per execution (start, first step, staging, status
 * writes) dwarfs the work of one event pays it once per batch instead.
 *
 *   rule ─▶ Queue ─(Pipe: BatchSize records, waiting at most MaximumBatchingWindowInSeconds)─▶ StartExecution
 *    └ EventBridge could not send: ─▶ DeadLetterQueue ◀─ a message the Pipe failed to start maxReceiveCount times
 *
 * What the execution receives, per record: `messageId`, `receiptHandle`, `body` (the event EventBridge
 * sent, as JSON text: no InputTemplate is set, so Pipes passes the record as SQS gives it), `attributes`,
 * `messageAttributes`, `md5OfBody`, `eventSource`, `eventSourceARN`, `awsRegion`. Delivery is at least
 * once (SQS and EventBridge may both repeat a message): the state machine must take a repeated event as
 * a no-op.
 */
import { Aws, Duration, Names } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as pipes from 'aws-cdk-lib/aws-pipes';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { LlmOpsAlerts } from './alerts.ts';
import type { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';

/** Step Functions' limit on an execution's input (UTF-8 bytes). */
export const EXECUTION_INPUT_LIMIT_BYTES = 256 * 1024;

/** The most records an SQS-sourced pipe takes in one batch. */
export const MAX_PIPE_BATCH_SIZE = 10_000;

/** The longest batching window of a pipe. */
export const MAX_PIPE_BATCHING_WINDOW = Duration.seconds(300);

/** The age of the queue's oldest message at which the pipe is taken for stuck (stopped, or failing). */
export const STUCK_QUEUE_AGE = Duration.minutes(15);

export interface BatchedTriggerProps {
  /** The state machine each batch starts (a STANDARD one: FIRE_AND_FORGET is StartExecution). */
  readonly stateMachine: sfn.IStateMachine;
  /** Encrypts the queue (the project key); the Pipe's role may decrypt with it. */
  readonly encryptionKey: kms.IKey;
  /**
   * Where what could not be delivered goes: events EventBridge could not send to the queue after its
   * retries, and messages whose execution the Pipe failed to start `maxReceiveCount` times. Its alarm
   * pages. Give it `allowEventBridge` when it is encrypted with a customer managed key.
   */
  readonly deadLetterQueue: LlmOpsDeadLetterQueue;
  /** Pages when the queue stops draining (its oldest message older than {@link STUCK_QUEUE_AGE}). */
  readonly alerts: LlmOpsAlerts;
  /**
   * Records per execution, at most. Size it so that a batch of the largest events the rules send always
   * fits in {@link EXECUTION_INPUT_LIMIT_BYTES} (see {@link maxRecordBytes}).
   */
  readonly batchSize: number;
  /**
   * The longest the Pipe waits for a batch to fill before it starts an execution with what it has (0 to
   * 300 seconds, whole seconds; at least 1 second when `batchSize` is over 10, as SQS batching requires).
   */
  readonly maximumBatchingWindow: Duration;
  /**
   * The largest record the rules can put in the queue, in bytes, as the execution input holds it (the
   * SQS record around the event, the event JSON-escaped as the record's `body`). Checked against
   * `batchSize`: `batchSize × maxRecordBytes` must fit in {@link EXECUTION_INPUT_LIMIT_BYTES}.
   */
  readonly maxRecordBytes: number;
  /**
   * How often the Pipe tries to start an execution with a message before SQS moves it to the dead-letter
   * queue.
   *
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /** What the pipe does, for its description (e.g. "raw/rag/ uploads → RagIngest"). */
  readonly description: string;
}

/** Rules → SQS queue → EventBridge Pipe → one state machine execution per batch. */
export class BatchedTrigger extends Construct {
  /** The queue the rules send to (see {@link ruleTarget}). */
  public readonly queue: sqs.Queue;
  /** The Pipe that starts the executions. */
  public readonly pipe: pipes.CfnPipe;
  /** The Pipe's role: consume the queue, decrypt with its key, start this state machine. */
  public readonly role: iam.Role;
  public readonly deadLetterQueue: LlmOpsDeadLetterQueue;
  public readonly batchSize: number;
  public readonly maximumBatchingWindow: Duration;
  /** ALARM when the queue's oldest message is older than {@link STUCK_QUEUE_AGE}: the pipe is not draining it. */
  public readonly stuckAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: BatchedTriggerProps) {
    super(scope, id);
    const where = `BatchedTrigger ${this.node.path}`;
    const { batchSize, maximumBatchingWindow, maxRecordBytes } = props;
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_PIPE_BATCH_SIZE) {
      throw new Error(
        `${where}: batchSize must be an integer from 1 to ${MAX_PIPE_BATCH_SIZE}, got ${batchSize}`,
      );
    }
    if (maximumBatchingWindow.isUnresolved()) {
      throw new Error(`${where}: maximumBatchingWindow must be a literal duration`);
    }
    const windowSeconds = maximumBatchingWindow.toMilliseconds() / 1000;
    if (!Number.isInteger(windowSeconds) || windowSeconds < 0 || windowSeconds > 300) {
      throw new Error(
        `${where}: maximumBatchingWindow must be whole seconds from 0 to 300, got ${maximumBatchingWindow.toHumanString()}`,
      );
    }
    if (batchSize > 10 && windowSeconds < 1) {
      throw new Error(`${where}: a batchSize over 10 needs a maximumBatchingWindow of at least 1 second`);
    }
    if (!Number.isInteger(maxRecordBytes) || maxRecordBytes < 1) {
      throw new Error(`${where}: maxRecordBytes must be a positive integer, got ${maxRecordBytes}`);
    }
    if (batchSize * maxRecordBytes > EXECUTION_INPUT_LIMIT_BYTES) {
      throw new Error(
        `${where}: ${batchSize} records of up to ${maxRecordBytes} bytes may not fit in an execution input ` +
          `(${EXECUTION_INPUT_LIMIT_BYTES} bytes): lower batchSize to ${Math.floor(EXECUTION_INPUT_LIMIT_BYTES / maxRecordBytes)} or less`,
      );
    }
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(`${where}: maxReceiveCount must be an integer from 1 to 1000, got ${maxReceiveCount}`);
    }
    if (props.description.trim().length === 0) throw new Error(`${where}: description must not be empty`);
    this.batchSize = batchSize;
    this.maximumBatchingWindow = maximumBatchingWindow;
    this.deadLetterQueue = props.deadLetterQueue;

    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.encryptionKey,
      // SQS keeps the data key for this long instead of asking KMS on every send and receive.
      dataKeyReuse: Duration.hours(1),
      enforceSSL: true,
      // The Pipe holds the messages of a batch while its window fills, then starts the execution.
      visibilityTimeout: Duration.seconds(windowSeconds + 60),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: props.deadLetterQueue.queue, maxReceiveCount },
    });

    this.role = new iam.Role(this, 'PipeRole', {
      description: `Pipe ${this.node.path}: reads its queue and starts its state machine`,
      assumedBy: new iam.ServicePrincipal('pipes.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    const policy = new iam.Policy(this, 'PipePolicy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'ConsumeQueue',
          actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
          resources: [this.queue.queueArn],
        }),
        new iam.PolicyStatement({
          sid: 'DecryptQueue',
          actions: ['kms:Decrypt'],
          resources: [props.encryptionKey.keyArn],
          // Only as SQS decrypts the messages it hands over.
          conditions: { StringEquals: { 'kms:ViaService': `sqs.${Aws.REGION}.amazonaws.com` } },
        }),
        new iam.PolicyStatement({
          sid: 'StartExecution',
          actions: ['states:StartExecution'],
          resources: [props.stateMachine.stateMachineArn],
        }),
      ],
    });
    policy.attachToRole(this.role);

    this.pipe = new pipes.CfnPipe(this, 'Pipe', {
      description: props.description,
      roleArn: this.role.roleArn,
      source: this.queue.queueArn,
      sourceParameters: {
        sqsQueueParameters: {
          batchSize,
          maximumBatchingWindowInSeconds: windowSeconds,
        },
      },
      target: props.stateMachine.stateMachineArn,
      targetParameters: {
        stepFunctionStateMachineParameters: { invocationType: 'FIRE_AND_FORGET' },
      },
      desiredState: 'RUNNING',
    });
    // The Pipe polls as soon as it exists: its role must be able to read the queue by then.
    this.pipe.node.addDependency(policy);

    // Messages wait at most a window (and a few receives when a start fails, then they are dead-lettered):
    // an old one means the pipe stopped, or cannot start executions and retries.
    this.stuckAlarm = new cloudwatch.Alarm(this, 'OldestMessageAge', {
      alarmDescription:
        `The queue of ${this.node.path} has held a message for ${STUCK_QUEUE_AGE.toMinutes()} minutes: its pipe ` +
        'is stopped or cannot start executions (see the pipe state and its role). Nothing is lost yet: SQS ' +
        'keeps the messages, and dead-letters those whose execution failed to start.',
      metric: this.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: STUCK_QUEUE_AGE.toSeconds(),
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    props.alerts.page(this.stuckAlarm);
  }

  /**
   * A rule target that sends the whole event to the queue: EventBridge retries, then dead-letters to
   * {@link deadLetterQueue}. Binding it lets that rule, and only that rule (`aws:SourceArn`), send to the
   * queue and to the dead-letter queue. (CDK's `SqsQueue` target grants an encrypted queue to every
   * EventBridge rule of the account, and the key to EventBridge unconditionally; the project key already
   * lets EventBridge use it for this account's queues, by encryption context.)
   */
  ruleTarget(): events.IRuleTarget {
    const { queue, deadLetterQueue } = this;
    return {
      bind: (rule: events.IRuleRef): events.RuleTargetConfig => {
        const statement = (target: sqs.IQueue) =>
          new iam.PolicyStatement({
            sid: `AllowEventRule${Names.nodeUniqueId(rule.node)}`,
            principals: [new iam.ServicePrincipal('events.amazonaws.com')],
            actions: ['sqs:SendMessage'],
            resources: [target.queueArn],
            conditions: { ArnEquals: { 'aws:SourceArn': events.CfnRule.arnForRule(rule) } },
          });
        queue.addToResourcePolicy(statement(queue));
        deadLetterQueue.queue.addToResourcePolicy(statement(deadLetterQueue.queue));
        const delivery = deadLetterQueue.delivery;
        return {
          arn: queue.queueArn,
          targetResource: queue,
          deadLetterConfig: { arn: delivery.deadLetterQueue.queueArn },
          retryPolicy: {
            maximumRetryAttempts: delivery.retryAttempts,
            maximumEventAgeInSeconds: delivery.maxEventAge.toSeconds(),
          },
        };
      },
    };
  }
}
