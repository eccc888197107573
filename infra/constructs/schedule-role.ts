/**
 * The role EventBridge Scheduler assumes to put the project's own events on the project bus: the
 * evaluation schedules put `llmops.EvaluationRequested`, the drift schedules `llmops.DriftCheckRequested`.
 * It may put exactly those detail types, from this account's schedules only, and dead-letter an
 * undelivered one to the given queue (encrypted with the project key, which it uses through SQS).
 */
import { Aws } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { grantKeyVia, putEventsStatement } from './llmops-function.ts';

export interface ScheduleRoleProps {
  readonly description: string;
  readonly eventBus: events.IEventBus;
  /** The project detail types the schedules put. */
  readonly detailTypes: readonly string[];
  readonly deadLetterQueue: sqs.IQueue;
  readonly encryptionKey: kms.IKey;
}

/**
 * The role, and a view of it that takes no further policy: a Scheduler target adds an unconditioned
 * `events:PutEvents` to the role it is given, which this role must not get.
 */
export function scheduleRole(
  scope: Construct,
  id: string,
  props: ScheduleRoleProps,
): { role: iam.Role; forTargets: iam.IRole } {
  const role = new iam.Role(scope, id, {
    description: props.description,
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: {
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        ArnLike: {
          'aws:SourceArn': `arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule/default/*`,
        },
      },
    }),
  });
  role.addToPrincipalPolicy(
    putEventsStatement(props.eventBus, { sources: [LLMOPS_SOURCE], detailTypes: [...props.detailTypes] }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [props.deadLetterQueue.queueArn] }),
  );
  grantKeyVia(role, props.encryptionKey, 'sqs', ['kms:Decrypt', 'kms:GenerateDataKey']);
  return { role, forTargets: role.withoutPolicyUpdates() };
}
