/**
 * The house DynamoDB table: string `pk` (and optionally `sk`), on-demand, encrypted with the project key,
 * point-in-time recovery and deletion protection by profile, the profile's removal policy, and optionally
 * a `gsi1` index (`gsi1pk`/`gsi1sk`, all attributes). A profile without point-in-time recovery
 * acknowledges cdk-nag's DDB3 with what the table holds.
 */
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '#infra/config/index.ts';
import { acknowledge } from './nag.ts';

export interface ProjectTableProps {
  /** The deployment (removal, point-in-time recovery, deletion protection). */
  readonly config: DeploymentConfig;
  readonly encryptionKey: kms.IKey;
  /** Add a string sort key `sk`. */
  readonly sortKey?: boolean;
  /** TTL attribute name. */
  readonly timeToLiveAttribute?: string;
  /** Name of a global secondary index on `gsi1pk`/`gsi1sk` (projection ALL). */
  readonly gsi?: string;
  /** What the table holds, for the DDB3 acknowledgement in profiles without PITR (e.g. "disposable test datasets"). */
  readonly holds: string;
}

export function projectTable(scope: Construct, id: string, props: ProjectTableProps): dynamodb.Table {
  const { config } = props;
  const table = new dynamodb.Table(scope, id, {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    ...(props.sortKey ? { sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING } } : {}),
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    encryptionKey: props.encryptionKey,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: config.removal.pointInTimeRecovery },
    deletionProtection: config.removal.deletionProtection,
    ...(props.timeToLiveAttribute !== undefined ? { timeToLiveAttribute: props.timeToLiveAttribute } : {}),
    removalPolicy: config.removal.data,
  });
  if (props.gsi !== undefined) {
    table.addGlobalSecondaryIndex({
      indexName: props.gsi,
      partitionKey: { name: 'gsi1pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
  if (!config.removal.pointInTimeRecovery) {
    acknowledge(
      table,
      'AwsSolutions-DDB3',
      `Profile ${config.profile} holds ${props.holds}; point-in-time recovery is enabled in prod.`,
    );
  }
  return table;
}
