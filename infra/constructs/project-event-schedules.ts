/**
 * Schedules that put the project's own events on the project bus (the evaluation schedules put
 * `llmops.EvaluationRequested`, the drift schedules `llmops.DriftCheckRequested`), and the role
 * EventBridge Scheduler assumes for them: it may put exactly those detail types, from this account's
 * schedules only, and dead-letter an undelivered one to the given queue (encrypted with the project key,
 * which it uses through SQS). Each delivery is retried 8 times over up to a day before it is
 * dead-lettered, where an alarm sees it.
 */
import { Aws } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { RULE_TARGET_MAX_EVENT_AGE, RULE_TARGET_RETRY_ATTEMPTS } from './dead-letter-queue.ts';
import { grantKeyVia, putEventsStatement } from './llmops-function.ts';

/** One schedule: when it fires and the event detail it puts (the schema version is added). */
export interface ProjectEventSchedule {
  readonly description: string;
  /** An EventBridge Scheduler expression: `cron(...)` or `rate(...)`, in UTC. */
  readonly expression: string;
  /** The detail; it may hold Scheduler context attributes (`scheduler.ContextAttribute`). */
  readonly detail: Record<string, unknown>;
}

export interface ProjectEventSchedulesProps {
  /** What the role is for. */
  readonly description: string;
  readonly eventBus: events.IEventBus;
  /** The project detail type every schedule of the set puts. */
  readonly detailType: string;
  readonly deadLetterQueue: sqs.IQueue;
  readonly encryptionKey: kms.IKey;
  /** The schedules by name: each becomes the construct `Schedule-<name>` of `scope`. */
  readonly schedules: Readonly<Record<string, ProjectEventSchedule>>;
}

/**
 * The role (construct `ScheduleRole` of `scope`) and the schedules. The schedules' targets get a view of
 * the role that takes no further policy: a Scheduler target adds an unconditioned `events:PutEvents` to
 * the role it is given, which this role must not get.
 */
export function projectEventSchedules(
  scope: Construct,
  props: ProjectEventSchedulesProps,
): { role: iam.Role; schedules: Record<string, scheduler.Schedule> } {
  const role = new iam.Role(scope, 'ScheduleRole', {
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
    putEventsStatement(props.eventBus, { sources: [LLMOPS_SOURCE], detailTypes: [props.detailType] }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [props.deadLetterQueue.queueArn] }),
  );
  grantKeyVia(role, props.encryptionKey, 'sqs', ['kms:Decrypt', 'kms:GenerateDataKey']);
  const forTargets = role.withoutPolicyUpdates();
  const schedules: Record<string, scheduler.Schedule> = {};
  for (const [name, schedule] of Object.entries(props.schedules)) {
    schedules[name] = new scheduler.Schedule(scope, `Schedule-${name}`, {
      description: schedule.description,
      schedule: scheduler.ScheduleExpression.expression(schedule.expression),
      target: new schedulerTargets.EventBridgePutEvents(
        {
          eventBus: props.eventBus,
          source: LLMOPS_SOURCE,
          detailType: props.detailType,
          detail: scheduler.ScheduleTargetInput.fromObject({
            schemaVersion: SCHEMA_VERSION,
            ...schedule.detail,
          }),
        },
        {
          role: forTargets,
          deadLetterQueue: props.deadLetterQueue,
          retryAttempts: RULE_TARGET_RETRY_ATTEMPTS,
          maxEventAge: RULE_TARGET_MAX_EVENT_AGE,
        },
      ),
    });
  }
  return { role, schedules };
}
