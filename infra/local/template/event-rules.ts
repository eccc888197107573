/** EventBridge rules: the bus each listens on, its validated event pattern and its resolved targets. */
import { validatePattern } from '../event-pattern.ts';
import type { LocalTemplate } from '../template.ts';
import { isRecord } from './cfn.ts';
import { TemplateError } from './errors.ts';

/** One target of a rule, with intrinsics resolved. */
export interface LocalRuleTarget {
  readonly Id: string;
  readonly Arn: string;
  /** Logical id of the target resource, when it is declared in this template. */
  readonly targetLogicalId: string | undefined;
  /** CloudFormation type of the target resource, when it is declared in this template. */
  readonly targetType: string | undefined;
  readonly Input?: string;
  readonly InputPath?: string;
  readonly InputTransformer?: {
    readonly InputPathsMap?: Record<string, string>;
    readonly InputTemplate: string;
  };
  readonly DeadLetterConfig?: { readonly Arn?: string };
  readonly RetryPolicy?: {
    readonly MaximumRetryAttempts?: number;
    readonly MaximumEventAgeInSeconds?: number;
  };
  readonly RoleArn?: string;
  /** Any other target property, resolved. */
  readonly [other: string]: unknown;
}

/** An EventBridge rule as the local router needs it. */
export interface LocalRule {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** `'default'` or the resolved name of the custom bus. */
  readonly busName: string;
  /** The event pattern (validated), or undefined for a schedule-only rule. */
  readonly pattern: Record<string, unknown> | undefined;
  readonly scheduleExpression: string | undefined;
  readonly state: 'ENABLED' | 'DISABLED';
  readonly targets: readonly LocalRuleTarget[];
}

/** EventBridge rules with validated patterns and resolved targets. */
export function readRules(t: LocalTemplate): LocalRule[] {
  return t.resourcesOfType('AWS::Events::Rule').map(({ logicalId, resource }) => {
    const props = resource.Properties ?? {};
    let pattern = t.resolve(props.EventPattern);
    if (typeof pattern === 'string') {
      try {
        pattern = JSON.parse(pattern);
      } catch (error) {
        throw new TemplateError(`EventPattern of rule ${logicalId} is not valid JSON`, { cause: error });
      }
    }
    if (pattern !== undefined) {
      if (!isRecord(pattern)) throw new TemplateError(`EventPattern of rule ${logicalId} is not an object`);
      validatePattern(pattern);
    }
    const schedule = t.resolve(props.ScheduleExpression);
    const state = t.resolve(props.State);
    const rawTargets = t.resolve(props.Targets);
    const targets = (Array.isArray(rawTargets) ? rawTargets : []).map((target, i): LocalRuleTarget => {
      if (!isRecord(target) || typeof target.Arn !== 'string' || typeof target.Id !== 'string') {
        throw new TemplateError(`Target ${i} of rule ${logicalId} needs a string Id and Arn`);
      }
      const targetLogicalId = t.logicalIdForArn(target.Arn);
      return {
        ...target,
        Id: target.Id,
        Arn: target.Arn,
        targetLogicalId,
        targetType: targetLogicalId !== undefined ? t.resource(targetLogicalId).Type : undefined,
      };
    });
    return {
      logicalId,
      name: t.getAtt(logicalId, 'Name'),
      arn: t.getAtt(logicalId, 'Arn'),
      busName: ruleBusName(t, logicalId),
      pattern,
      scheduleExpression: typeof schedule === 'string' ? schedule : undefined,
      state: state === 'DISABLED' ? 'DISABLED' : 'ENABLED',
      targets,
    };
  });
}

/** `'default'` or the name of the custom bus a rule listens on (`EventBusName` may be a name or an ARN). */
export function ruleBusName(t: LocalTemplate, logicalId: string): string {
  const raw = t.resource(logicalId).Properties?.EventBusName;
  if (raw === undefined) return 'default';
  const value = t.resolveString(raw, `EventBusName of ${logicalId}`);
  const arn = /^arn:[^:]+:events:[^:]*:[^:]*:event-bus\/(.+)$/.exec(value);
  return arn?.[1] ?? value;
}
