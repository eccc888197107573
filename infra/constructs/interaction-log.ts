/**
 * The inference log: every `llmops.InteractionRecorded` event on the project bus is delivered, as one
 * JSON line (the event's `detail`), to the artifacts bucket under `interactions/dt=YYYY-MM-DD/`, where
 * evaluation, drift monitoring and feedback read it.
 *
 *   project bus ─rule(source llmops, detail-type llmops.InteractionRecorded; InputPath $.detail)─▶
 *   Firehose (DirectPut, SSE-KMS) ─GZIP, newline-delimited─▶ s3://artifacts/interactions/dt=.../
 *
 * No Lambda anywhere: the newline between records is Firehose's native AppendDelimiterToRecord
 * processor. Failures are never silent: events EventBridge cannot deliver land in an alarmed
 * dead-letter queue, records Firehose cannot write land under `interactions-errors/`, and an alarm pages
 * when delivery falls behind or fails.
 *
 * The delivery stream is the L1 resource: the L2 `DeliveryStream` grants its role read/write on the
 * whole bucket, while this role may only write the two prefixes above.
 */
import { ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { INTERACTIONS_PREFIX } from '#contracts/storage-layout.ts';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';
import { acknowledge, iam5ResourceFinding } from './nag.ts';

/** The event this construct delivers (see `events/interaction-recorded.ts`). */
export const INTERACTION_RECORDED_DETAIL_TYPE = 'llmops.InteractionRecorded';
/** Where interaction records land in the artifacts bucket. */
export { INTERACTIONS_PREFIX };
/** Where records Firehose could not deliver land, by error type. */
export const INTERACTIONS_ERROR_PREFIX = 'interactions-errors/';
/** The S3 key prefix of each delivered object: one partition per UTC day. */
export const INTERACTIONS_OBJECT_PREFIX = `${INTERACTIONS_PREFIX}dt=!{timestamp:yyyy-MM-dd}/`;
export const INTERACTIONS_ERROR_OBJECT_PREFIX = `${INTERACTIONS_ERROR_PREFIX}!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/`;

export interface InteractionLogProps {
  /** The deployment (log retention, removal). */
  readonly deployment: DeploymentConfig;
  /** Sampling, retention and delivery buffering of interaction records. */
  readonly config: AppConfig['interactions'];
  /** The project bus, where the chat function publishes `llmops.InteractionRecorded`. */
  readonly eventBus: events.IEventBus;
  /** The artifacts bucket (a lifecycle rule is added for the interactions prefixes). */
  readonly bucket: s3.Bucket;
  /** The project key: stream encryption, objects, error log group and dead-letter queue. */
  readonly encryptionKey: kms.IKey;
  /** Pages on delivery failures and dead letters. */
  readonly alerts: LlmOpsAlerts;
}

/** A rule target for a delivery stream with a dead-letter queue and a retry policy of its own. */
class DeliveryStreamTarget implements events.IRuleTarget {
  constructor(
    private readonly streamArn: string,
    private readonly role: iam.IRole,
    private readonly deadLetterQueue: LlmOpsDeadLetterQueue,
  ) {}

  bind(rule: events.IRule): events.RuleTargetConfig {
    this.deadLetterQueue.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowInteractionRuleToDeadLetter',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.deadLetterQueue.queue.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': rule.ruleArn } },
      }),
    );
    return {
      arn: this.streamArn,
      role: this.role,
      input: events.RuleTargetInput.fromEventPath('$.detail'),
      deadLetterConfig: { arn: this.deadLetterQueue.queue.queueArn },
      retryPolicy: { maximumRetryAttempts: 185, maximumEventAgeInSeconds: Duration.hours(24).toSeconds() },
    };
  }
}

/** The interaction log: rule → Firehose → S3, with its alarms. */
export class InteractionLog extends Construct {
  public readonly deliveryStream: firehose.CfnDeliveryStream;
  /** ARN of the delivery stream. */
  public readonly deliveryStreamArn: string;
  /** Name of the delivery stream. */
  public readonly deliveryStreamName: string;
  /** The role Firehose assumes to write to S3 and log errors. */
  public readonly deliveryRole: iam.Role;
  /** Project-bus rule: `llmops.InteractionRecorded` → the delivery stream. */
  public readonly rule: events.Rule;
  /** Events the rule could not put into the stream. */
  public readonly deadLetterQueue: LlmOpsDeadLetterQueue;
  /** Firehose delivery errors. */
  public readonly errorLogGroup: logs.LogGroup;
  /** ALARM when the oldest undelivered record is older than the buffering interval plus 10 minutes. */
  public readonly freshnessAlarm: cloudwatch.Alarm;
  /** ALARM when S3 puts keep failing for 15 minutes. */
  public readonly deliveryFailureAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: InteractionLogProps) {
    super(scope, id);
    const { deployment, config: settings, bucket, encryptionKey, alerts } = props;
    if (settings.bufferingIntervalSeconds < 0 || settings.bufferingIntervalSeconds > 900) {
      throw new Error(
        `InteractionLog: interactions.bufferingIntervalSeconds must be 0..900, got ${settings.bufferingIntervalSeconds}`,
      );
    }
    if (settings.bufferingSizeMiB < 1 || settings.bufferingSizeMiB > 128) {
      throw new Error(
        `InteractionLog: interactions.bufferingSizeMiB must be 1..128, got ${settings.bufferingSizeMiB}`,
      );
    }
    if (settings.retentionDays < 1) {
      throw new Error(
        `InteractionLog: interactions.retentionDays must be >= 1, got ${settings.retentionDays}`,
      );
    }
    const stack = Stack.of(this);

    for (const [ruleId, prefix] of [
      ['expire-interactions', INTERACTIONS_PREFIX],
      ['expire-interaction-errors', INTERACTIONS_ERROR_PREFIX],
    ] as const) {
      bucket.addLifecycleRule({
        id: ruleId,
        prefix,
        expiration: Duration.days(settings.retentionDays),
        noncurrentVersionExpiration: Duration.days(1),
      });
    }

    this.errorLogGroup = new logs.LogGroup(this, 'DeliveryErrors', {
      retention: deployment.logRetention,
      removalPolicy: deployment.removal.logs,
      encryptionKey,
    });
    const logStream = this.errorLogGroup.addStream('S3Delivery');

    this.deliveryRole = new iam.Role(this, 'DeliveryRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com').withConditions({
        StringEquals: { 'sts:ExternalId': Aws.ACCOUNT_ID },
      }),
      description: `Firehose delivery of interaction records to ${INTERACTIONS_PREFIX} in the artifacts bucket`,
    });
    const objectArns = [
      bucket.arnForObjects(`${INTERACTIONS_PREFIX}*`),
      bucket.arnForObjects(`${INTERACTIONS_ERROR_PREFIX}*`),
    ];
    this.deliveryRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: objectArns,
      }),
    );
    this.deliveryRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [bucket.bucketArn],
      }),
    );
    this.deliveryRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [encryptionKey.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` },
          // With S3 Bucket Keys the encryption context is the bucket ARN; without, the object ARN.
          StringLike: { 'kms:EncryptionContext:aws:s3:arn': [bucket.bucketArn, ...objectArns] },
        },
      }),
    );
    this.deliveryRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:PutLogEvents'],
        resources: [
          stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: `${this.errorLogGroup.logGroupName}:log-stream:${logStream.logStreamName}`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    const rolePolicy = this.deliveryRole.node.findChild('DefaultPolicy');
    for (const arn of objectArns) {
      acknowledge(
        rolePolicy,
        iam5ResourceFinding(this, arn),
        'Firehose writes one object per buffer under a date partition it names itself; the grant is PutObject/AbortMultipartUpload under this one prefix of the artifacts bucket.',
      );
    }

    this.deliveryStream = new firehose.CfnDeliveryStream(this, 'DeliveryStream', {
      deliveryStreamType: 'DirectPut',
      deliveryStreamEncryptionConfigurationInput: {
        keyType: 'CUSTOMER_MANAGED_CMK',
        keyArn: encryptionKey.keyArn,
      },
      extendedS3DestinationConfiguration: {
        bucketArn: bucket.bucketArn,
        roleArn: this.deliveryRole.roleArn,
        prefix: INTERACTIONS_OBJECT_PREFIX,
        errorOutputPrefix: INTERACTIONS_ERROR_OBJECT_PREFIX,
        compressionFormat: 'GZIP',
        bufferingHints: {
          intervalInSeconds: settings.bufferingIntervalSeconds,
          sizeInMBs: settings.bufferingSizeMiB,
        },
        encryptionConfiguration: { kmsEncryptionConfig: { awskmsKeyArn: encryptionKey.keyArn } },
        cloudWatchLoggingOptions: {
          enabled: true,
          logGroupName: this.errorLogGroup.logGroupName,
          logStreamName: logStream.logStreamName,
        },
        processingConfiguration: {
          enabled: true,
          processors: [{ type: 'AppendDelimiterToRecord' }],
        },
        s3BackupMode: 'Disabled',
      },
    });
    // Firehose checks its role when the stream is created: the grants must exist first.
    this.deliveryStream.node.addDependency(this.deliveryRole);
    this.deliveryStreamArn = this.deliveryStream.attrArn;
    this.deliveryStreamName = this.deliveryStream.ref;

    this.deadLetterQueue = new LlmOpsDeadLetterQueue(this, 'DeadLetterQueue', {
      alerts,
      description: 'the interaction log rule (interaction records that could not be put into Firehose)',
      encryptionKey,
      allowEventBridge: true,
    });
    const putRole = new iam.Role(this, 'PutRecordsRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
      }),
      description: 'EventBridge puts interaction records into the interaction log delivery stream',
    });
    putRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['firehose:PutRecord', 'firehose:PutRecordBatch'],
        resources: [this.deliveryStreamArn],
      }),
    );
    this.rule = new events.Rule(this, 'InteractionRecordedRule', {
      eventBus: props.eventBus,
      description: `Interaction log: ${INTERACTION_RECORDED_DETAIL_TYPE} → Firehose → ${INTERACTIONS_PREFIX}`,
      eventPattern: { source: ['llmops'], detailType: [INTERACTION_RECORDED_DETAIL_TYPE] },
    });
    this.rule.addTarget(new DeliveryStreamTarget(this.deliveryStreamArn, putRole, this.deadLetterQueue));

    const metric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Firehose',
        metricName,
        dimensionsMap: { DeliveryStreamName: this.deliveryStreamName },
        statistic,
        period: Duration.minutes(5),
      });
    const freshnessThreshold = settings.bufferingIntervalSeconds + 600;
    this.freshnessAlarm = new cloudwatch.Alarm(this, 'DataFreshnessAlarm', {
      alarmDescription: `Interaction records wait more than ${freshnessThreshold} s to reach S3 (buffering interval + 10 minutes): Firehose cannot deliver. See the ${this.node.path} delivery error log group.`,
      metric: metric('DeliveryToS3.DataFreshness', cloudwatch.Stats.MAXIMUM),
      threshold: freshnessThreshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.deliveryFailureAlarm = new cloudwatch.Alarm(this, 'DeliverySuccessAlarm', {
      alarmDescription:
        'Firehose S3 puts of interaction records have been failing for 15 minutes (DeliveryToS3.Success < 1). Firehose retries for up to 24 hours and then drops the records: fix the bucket, key or role grants today.',
      metric: metric('DeliveryToS3.Success', cloudwatch.Stats.AVERAGE),
      threshold: 1,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alerts.page(this.freshnessAlarm);
    alerts.page(this.deliveryFailureAlarm);
  }
}
