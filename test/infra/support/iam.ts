/**
 * Reading the IAM of a synthesized template: which function a handler entry became, its role, and
 * every statement of that role's identity policies (attached `AWS::IAM::Policy` and inline). One
 * reader for every infra test that asserts least privilege.
 */
import { type CfnJson, type CfnResource, type CfnTemplate, resourcesOfType } from './synth.ts';

/** One identity-policy statement, as synthesized. */
export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: CfnJson;
  Principal?: CfnJson;
  Condition?: Record<string, Record<string, CfnJson>>;
}

const props = (r: CfnResource) => (r.Properties ?? {}) as Record<string, CfnJson>;

/** A value or a list of them, as a list. */
export const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** The Lambda functions of a template, by `llmops:entry` (their handler module). */
export function functionsByEntry(json: CfnTemplate): Map<string, CfnResource> {
  return new Map(
    resourcesOfType(json, 'AWS::Lambda::Function')
      .filter(([, r]) => typeof r.Metadata?.['llmops:entry'] === 'string')
      .map(([, r]) => [r.Metadata?.['llmops:entry'] as string, r]),
  );
}

/** The function bundled from `entry`. @throws Error when there is none. */
export function functionOfEntry(json: CfnTemplate, entry: string): CfnResource {
  const fn = functionsByEntry(json).get(entry);
  if (!fn) throw new Error(`no function bundled from ${entry}`);
  return fn;
}

/** The logical id of a function's execution role. */
export const roleIdOf = (fn: CfnResource): string => props(fn).Role['Fn::GetAtt'][0] as string;

/** Every statement of the identity policies of a role: attached policies, then inline ones. */
export function roleStatements(json: CfnTemplate, roleId: string): Statement[] {
  const attached = resourcesOfType(json, 'AWS::IAM::Policy')
    .filter(([, p]) => ((props(p).Roles ?? []) as CfnJson[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => props(p).PolicyDocument.Statement as Statement[]);
  const role = json.Resources[roleId] as CfnResource;
  const inline = ((props(role).Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
    (p) => p.PolicyDocument.Statement,
  );
  return [...attached, ...inline];
}

/** Every statement of the role of the function bundled from `entry`. */
export function entryStatements(json: CfnTemplate, entry: string): Statement[] {
  return roleStatements(json, roleIdOf(functionOfEntry(json, entry)));
}
