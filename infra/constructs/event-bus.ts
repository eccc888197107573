/**
 * The project's own EventBridge bus (`llmops.*` events), encrypted with the project key, with an archive
 * of every event and a dead-letter queue for events EventBridge cannot encrypt or decrypt.
 */
import { Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { DeploymentConfig, EventBusConfig } from '#infra/config/index.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';

export interface LlmOpsEventBusProps {
  /** The deployment (the bus is named after the stack). */
  readonly deployment: DeploymentConfig;
  /** Archive retention. */
  readonly config: EventBusConfig;
  /** Encrypts events on the bus and the archive. */
  readonly encryptionKey: kms.IKey;
  /** Pages when events land in the bus dead-letter queue. */
  readonly alerts: LlmOpsAlerts;
}

/** The project bus's name: known before the bus exists (the paging topic's policy names its rules). */
export function projectBusName(stackName: string): string {
  return `${stackName}-bus`;
}

/** The project bus, its archive, and `ruleFor()` to route its events. */
export class LlmOpsEventBus extends Construct {
  /** The bus (`${stackName}-bus`). */
  public readonly bus: events.EventBus;
  /** Archive of every event on the bus (retention from config, encrypted with the project key). */
  public readonly archive: events.CfnArchive;
  /** Events the bus could not encrypt/decrypt. */
  public readonly deadLetterQueue: LlmOpsDeadLetterQueue;

  constructor(scope: Construct, id: string, props: LlmOpsEventBusProps) {
    super(scope, id);
    const { deployment, config, encryptionKey, alerts } = props;
    if (config.eventArchiveRetentionDays < 1) {
      throw new Error(
        `LlmOpsEventBus: eventArchiveRetentionDays must be >= 1, got ${config.eventArchiveRetentionDays}`,
      );
    }

    // SSE-SQS on purpose: this queue receives events that failed because of the project key, so it must
    // not depend on that key (it would also make key → archive/bus → queue → key a dependency cycle).
    this.deadLetterQueue = new LlmOpsDeadLetterQueue(this, 'DeadLetterQueue', {
      alerts,
      description: 'the project event bus (events that could not be encrypted or decrypted)',
    });
    const busName = projectBusName(deployment.stackName);
    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: busName,
      description: `${deployment.stackName}: llmops.* lifecycle events`,
      kmsKey: encryptionKey,
      deadLetterQueue: this.deadLetterQueue.queue,
    });
    this.deadLetterQueue.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowProjectBusToDeadLetter',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.deadLetterQueue.queue.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': this.bus.eventBusArn } },
      }),
    );

    // L1 archive: the L2 Archive's key policy statement names the bus by GetAtt, which makes the key
    // depend on the bus that depends on the key. The same statement, naming the bus ARN built from its
    // (known) name, has no such cycle.
    const busArn = Stack.of(this).formatArn({
      service: 'events',
      resource: 'event-bus',
      resourceName: busName,
    });
    encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowEventBridgeToEncryptTheProjectBusArchive',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:ReEncrypt*'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:EncryptionContext:aws:events:event-bus:arn': busArn } },
      }),
    );
    this.archive = new events.CfnArchive(this, 'Archive', {
      sourceArn: this.bus.eventBusArn,
      description: `${deployment.stackName}: every event on the project bus`,
      // An archive needs a pattern; every event on the bus comes from this account.
      eventPattern: { account: [Stack.of(this).account] },
      retentionDays: config.eventArchiveRetentionDays,
      kmsKeyIdentifier: encryptionKey.keyArn,
    });
  }

  /**
   * Adds a rule on the project bus.
   *
   * @param id construct id of the rule (unique within this construct)
   * @param pattern event pattern; must name at least `source` or `detailType`
   * @param target where matching events go
   */
  public ruleFor(id: string, pattern: events.EventPattern, target: events.IRuleTarget): events.Rule {
    if (!pattern.source?.length && !pattern.detailType?.length) {
      throw new Error(`LlmOpsEventBus.ruleFor(${id}): the pattern must name a source or a detailType`);
    }
    return new events.Rule(this, id, { eventBus: this.bus, eventPattern: pattern, targets: [target] });
  }
}
