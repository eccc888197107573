/**
 * EventBridge Scheduler, locally: the template's `AWS::Scheduler::Schedule` resources, and what one of
 * them puts on a bus when it fires at a given time. Only the templated EventBridge PutEvents target
 * (the one this stack's schedules use: `Target.Arn` is an event bus, with `EventBridgeParameters`) is
 * reproduced; the schedule's expression is not run by a clock (a demo or a test fires a schedule at the
 * time it chooses, so that windows of past traffic can be checked). The target's input is a JSON
 * template in which Scheduler replaces its context attributes (`<aws.scheduler.scheduled-time>`,
 * `<aws.scheduler.execution-id>`, `<aws.scheduler.attempt-number>`, `<aws.scheduler.schedule-arn>`)
 * before it sends the event, as here.
 */
import { randomUUID } from 'node:crypto';
import type { EventEnvelope } from './local-eventbridge.ts';
import type { LocalTemplate } from './template.ts';

export interface LocalSchedule {
  readonly logicalId: string;
  /** The schedule's name (its physical name). */
  readonly name: string;
  readonly expression: string;
  readonly description?: string;
  /** The bus the target puts events on (its name). */
  readonly busName: string;
  readonly source: string;
  readonly detailType: string;
  /** The target's input: the event's detail, with context attributes still in it. */
  readonly input: string;
}

const BUS_ARN = /^arn:[^:]+:events:[^:]+:[^:]+:event-bus\/(.+)$/;

/** Every schedule of the template whose target puts events on a bus. */
export function localSchedules(template: LocalTemplate): LocalSchedule[] {
  return template.resourcesOfType('AWS::Scheduler::Schedule').flatMap(({ logicalId, resource }) => {
    const props = template.resolve(resource.Properties ?? {}) as {
      Name?: string;
      ScheduleExpression?: string;
      Description?: string;
      Target?: {
        Arn?: string;
        Input?: string;
        EventBridgeParameters?: { DetailType?: string; Source?: string };
      };
    };
    const target = props.Target;
    const bus = BUS_ARN.exec(target?.Arn ?? '');
    if (bus === null || target?.EventBridgeParameters === undefined) return [];
    return [
      {
        logicalId,
        name: props.Name ?? logicalId,
        expression: props.ScheduleExpression ?? '',
        ...(props.Description !== undefined ? { description: props.Description } : {}),
        busName: bus[1] as string,
        source: target.EventBridgeParameters.Source ?? '',
        detailType: target.EventBridgeParameters.DetailType ?? '',
        input: target.Input ?? '{}',
      },
    ];
  });
}

/** Scheduler's time format in context attributes: ISO 8601 without milliseconds. */
function schedulerTime(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The event a schedule puts when it fires at `at` (its first attempt). */
export function firedEvent(
  schedule: LocalSchedule,
  at: Date,
  context: { readonly account: string; readonly region: string },
): { bus: string; event: EventEnvelope } {
  const executionId = randomUUID();
  const attributes: Record<string, string> = {
    '<aws.scheduler.scheduled-time>': schedulerTime(at),
    '<aws.scheduler.execution-id>': executionId,
    '<aws.scheduler.attempt-number>': '1',
    '<aws.scheduler.schedule-arn>': `arn:aws:scheduler:${context.region}:${context.account}:schedule/default/${schedule.name}`,
  };
  let input = schedule.input;
  for (const [attribute, value] of Object.entries(attributes)) input = input.split(attribute).join(value);
  return {
    bus: schedule.busName,
    event: {
      version: '0',
      id: executionId,
      'detail-type': schedule.detailType,
      source: schedule.source,
      account: context.account,
      time: schedulerTime(at),
      region: context.region,
      resources: [attributes['<aws.scheduler.schedule-arn>'] as string],
      detail: JSON.parse(input) as Record<string, unknown>,
    } as EventEnvelope,
  };
}
