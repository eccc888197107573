/**
 * Schedules that put the project's own events on the project bus (the evaluation schedules put
 * `llmops.EvaluationRequested`, the drift schedules `llmops.DriftCheckRequested`), and the role
 * EventBridge Scheduler assumes for them: it may put exactly those detail types, from this account's
 * schedules only, and dead-letter an undelivered one to the given queue (encrypted with the project key,
 * which it uses through SQS). Each delivery is retried 8 times over up to a day before it is
 * dead-lettered, where an alarm sees it.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
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

/** One schedule: when it fires and the event detail it puts (the schema version is added). */
export interface ProjectEventSchedule {
  readonly description: string;
  /** An EventBridge Scheduler expression: `cron(...)` or `rate(...)`, in UTC. */
  readonly expression: string;
  /** The detail; it may hold Scheduler context attributes (`scheduler.ContextAttribute`). */
  readonly detail: Record<string, unknown>;
}

/**
 * Adds a schedule that puts one project event on the bus, delivered with the role's target view and
 * dead-lettered to the queue.
 */
export function projectEventSchedule(
  scope: Construct,
  id: string,
  props: {
    readonly eventBus: events.IEventBus;
    readonly detailType: string;
    readonly role: iam.IRole;
    readonly deadLetterQueue: sqs.IQueue;
    readonly schedule: ProjectEventSchedule;
  },
): scheduler.Schedule {
  return new scheduler.Schedule(scope, id, {
    description: props.schedule.description,
    schedule: scheduler.ScheduleExpression.expression(props.schedule.expression),
    target: new schedulerTargets.EventBridgePutEvents(
      {
        eventBus: props.eventBus,
        source: LLMOPS_SOURCE,
        detailType: props.detailType,
        detail: scheduler.ScheduleTargetInput.fromObject({
          schemaVersion: SCHEMA_VERSION,
          ...props.schedule.detail,
        }),
      },
      {
        role: props.role,
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(24),
      },
    ),
  });
}
