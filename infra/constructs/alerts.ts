/**
 * The paging path: one KMS-encrypted SNS topic that alarms publish to, with the on-call subscriptions
 * from configuration (e-mail, HTTPS webhooks).
 */
import { Annotations, Aws } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';

export interface LlmOpsAlertsProps {
  /** The deployment (topic name, profile). */
  readonly deployment: DeploymentConfig;
  /** The on-call subscriptions. */
  readonly config: AppConfig['alerts'];
  /** The key that encrypts the topic. Its policy is extended so CloudWatch and EventBridge can publish. */
  readonly encryptionKey: kms.IKey;
  /**
   * The project bus, whose rules may page (this account's rules on it, as `aws:SourceArn`).
   *
   * @default - no rule may publish to the topic
   */
  readonly eventBusName?: string;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The paging topic and the `page()` helper that turns an alarm into a page. */
export class LlmOpsAlerts extends Construct {
  /** The paging topic. */
  public readonly topic: sns.Topic;
  private readonly action: cwActions.SnsAction;
  private readonly paged = new Set<string>();

  constructor(scope: Construct, id: string, props: LlmOpsAlertsProps) {
    super(scope, id);
    const { deployment, config, encryptionKey } = props;
    for (const email of config.emails) {
      if (!EMAIL.test(email)) throw new Error(`LlmOpsAlerts: alerts.emails has an invalid address: ${email}`);
    }
    for (const url of config.httpsEndpoints) {
      if (!url.startsWith('https://')) {
        throw new Error(`LlmOpsAlerts: alerts.httpsEndpoints must be https:// URLs, got ${url}`);
      }
    }

    this.topic = new sns.Topic(this, 'PagingTopic', {
      displayName: `${deployment.stackName} paging`,
      masterKey: encryptionKey,
      enforceSSL: true,
    });

    // CloudWatch alarms and EventBridge publish to the KMS-encrypted topic: SNS then asks KMS for a data
    // key on their behalf, which the key policy must allow. The encryption context SNS uses carries the
    // topic ARN; the condition pins it to this account's topics (naming this topic's ARN exactly would
    // make the key depend on the topic that depends on the key).
    const snsContext = {
      ArnLike: {
        'kms:EncryptionContext:aws:sns:topicArn': `arn:${Aws.PARTITION}:sns:${Aws.REGION}:${Aws.ACCOUNT_ID}:*`,
      },
    };
    encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublishToEncryptedTopics',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: snsContext,
      }),
    );
    encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowEventBridgeToPublishToEncryptedTopics',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: snsContext,
      }),
    );
    // The topic policy (which enforceSSL creates) replaces SNS's default one: allow this account's alarms.
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowThisAccountAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: {
            'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*`,
          },
        },
      }),
    );

    // The project bus's rules page too (the closed loop's rollbacks): this account's rules on that bus.
    if (props.eventBusName !== undefined) {
      this.topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowThisAccountBusRulesToPublish',
          principals: [new iam.ServicePrincipal('events.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [this.topic.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
            ArnLike: {
              'aws:SourceArn': `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:rule/${props.eventBusName}/*`,
            },
          },
        }),
      );
    }

    for (const email of config.emails) {
      this.topic.addSubscription(new subs.EmailSubscription(email));
    }
    for (const url of config.httpsEndpoints) {
      this.topic.addSubscription(new subs.UrlSubscription(url, { protocol: sns.SubscriptionProtocol.HTTPS }));
    }
    if (deployment.profile === 'prod' && config.emails.length + config.httpsEndpoints.length === 0) {
      Annotations.of(this).addWarningV2(
        'llmops:alerts-no-subscribers',
        'The prod paging topic has no subscribers: pass -c alertEmails=... or -c alertHttpsEndpoints=...',
      );
    }
    this.action = new cwActions.SnsAction(this.topic);
  }

  /**
   * Pages on-call when the alarm enters ALARM, and again when it returns to OK (so on-call sees recovery).
   *
   * Takes an alarm defined in this app (an {@link cloudwatch.AlarmBase}: `Alarm` or `CompositeAlarm`);
   * an imported `IAlarm` cannot be given actions. Paging the same alarm twice is a no-op.
   */
  public page(alarm: cloudwatch.AlarmBase): void {
    const path = alarm.node.path;
    if (this.paged.has(path)) return;
    this.paged.add(path);
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
  }

  /** Construct paths of the alarms paged so far. */
  public get pagedAlarms(): readonly string[] {
    return [...this.paged];
  }
}
