/**
 * The project's storage: one KMS key and the S3 buckets that hold data.
 *
 * - `raw`: uploads land here (under `raw/`); never modified or deleted by the stack, RETAIN in every
 *   profile; S3 → EventBridge notifications on (native `NotificationConfiguration`, no custom resource).
 * - `curated`: prepared datasets and manifests.
 * - `artifacts`: intermediate and produced artifacts; `staging/` expires; `quarantine/` holds the lines
 *   DataPrep quarantined (unredacted), read by no function of the stack, and expires after a few days.
 * - `accessLogs`: S3 server access logs of the three buckets above (S3-managed encryption, because
 *   server access log delivery cannot write to SSE-KMS buckets).
 */
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { QUARANTINE_PREFIX, STAGING_PREFIX } from '#contracts/storage-layout.ts';
import type { DeploymentConfig, StorageConfig } from '#infra/config/index.ts';
import { acknowledge } from './nag.ts';

export interface LlmOpsStorageProps {
  /** The deployment (name, profile, removal). */
  readonly deployment: DeploymentConfig;
  /** The buckets' lifecycle. */
  readonly config: StorageConfig;
}

/** The KMS key and buckets of the project. */
export class LlmOpsStorage extends Construct {
  /** The project key: buckets, tables, topic, queues, event bus and log groups are encrypted with it. */
  public readonly key: kms.Key;
  /** Server access logs of the data buckets. */
  public readonly accessLogs: s3.Bucket;
  /** Raw uploads (RETAIN in every profile). */
  public readonly raw: s3.Bucket;
  /** Curated datasets. */
  public readonly curated: s3.Bucket;
  /** Artifacts; `staging/` is scratch space that expires, `quarantine/` unredacted bad lines that expire. */
  public readonly artifacts: s3.Bucket;

  constructor(scope: Construct, id: string, props: LlmOpsStorageProps) {
    super(scope, id);
    const { deployment, config } = props;
    for (const setting of ['stagingExpirationDays', 'quarantineExpirationDays'] as const) {
      if (!(config[setting] >= 1)) {
        throw new Error(`LlmOpsStorage: ${setting} must be >= 1, got ${config[setting]}`);
      }
    }

    // The key protects the RAW bucket, which is retained in every profile: destroying the key would make
    // retained data unreadable, so the key is retained too.
    this.key = new kms.Key(this, 'Key', {
      alias: `alias/${deployment.stackName}`,
      description: `${deployment.stackName}: encrypts LLMOps data, events, queues, topics and logs`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch Logs encrypts the project's log groups (Lambda, Step Functions) with the key.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchLogsForThisAccountLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*`,
          },
        },
      }),
    );

    // Access logs are audit data and S3 delivers them late (hours), so emptying this bucket on delete
    // races with delivery: it is retained in every profile and empties itself through its lifecycle.
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(config.accessLogExpirationDays),
          noncurrentVersionExpiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    acknowledge(
      this.accessLogs,
      'AwsSolutions-S1',
      'This bucket is the server access log destination of the data buckets; logging it into itself would loop.',
    );

    const dataBucket = (
      bucketId: string,
      removalPolicy: RemovalPolicy,
      lifecycleRules: s3.LifecycleRule[],
    ): s3.Bucket =>
      new s3.Bucket(this, bucketId, {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        versioned: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforceSSL: true,
        minimumTLSVersion: 1.2,
        serverAccessLogsBucket: this.accessLogs,
        serverAccessLogsPrefix: `${bucketId.toLowerCase()}/`,
        removalPolicy,
        autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY && deployment.removal.autoDeleteObjects,
        lifecycleRules: [
          { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
          ...lifecycleRules,
        ],
      });

    // Raw uploads are never deleted by the stack: noncurrent versions (re-uploads under the same key) move
    // to a cheaper class but are kept.
    this.raw = dataBucket('Raw', RemovalPolicy.RETAIN, [
      {
        id: 'noncurrent-to-glacier-ir',
        noncurrentVersionTransitions: [
          { storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(30) },
        ],
      },
    ]);
    // S3 → EventBridge (default bus) through the native property: no notifications custom resource.
    (this.raw.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };

    this.curated = dataBucket('Curated', deployment.removal.data, [
      {
        id: 'noncurrent-versions',
        noncurrentVersionTransitions: [
          { storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(30) },
        ],
        noncurrentVersionExpiration: Duration.days(deployment.profile === 'prod' ? 365 : 30),
      },
    ]);

    this.artifacts = dataBucket('Artifacts', deployment.removal.data, [
      {
        id: 'expire-staging',
        prefix: STAGING_PREFIX,
        expiration: Duration.days(config.stagingExpirationDays),
        noncurrentVersionExpiration: Duration.days(1),
      },
      // The original bad lines, PII included: gone a few days after the run, and their noncurrent versions
      // (the bucket is versioned, so an expiration alone would keep the bytes) a day later.
      {
        id: 'expire-quarantine',
        prefix: QUARANTINE_PREFIX,
        expiration: Duration.days(config.quarantineExpirationDays),
        noncurrentVersionExpiration: Duration.days(1),
      },
      {
        id: 'noncurrent-versions',
        noncurrentVersionExpiration: Duration.days(deployment.profile === 'prod' ? 90 : 30),
      },
    ]);
  }
}
