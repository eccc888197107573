/**
 * Helpers for acknowledging cdk-nag findings with a written reason.
 *
 * cdk-nag 3 reads acknowledgements from CDK's native `Validations.of(scope).acknowledge()`; a finding of
 * a rule that reports several findings per resource (AwsSolutions-IAM5) is acknowledged one at a time
 * as `RuleId[Finding]`. These helpers build those ids from the same CloudFormation references cdk-nag
 * flattens, and refuse reasons too short to explain anything.
 */
import { type CfnElement, Names, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Minimum length of a written acknowledgement reason. */
export const MIN_REASON_LENGTH = 20;

/**
 * Acknowledges a cdk-nag rule (or one finding of it) on a construct and everything below it.
 *
 * @throws Error when the reason is shorter than {@link MIN_REASON_LENGTH} characters
 */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  if (reason.trim().length < MIN_REASON_LENGTH) {
    throw new Error(
      `cdk-nag acknowledgement of ${id} on ${scope.node.path} needs a written reason of at least ${MIN_REASON_LENGTH} characters`,
    );
  }
  Validations.of(scope).acknowledge({ id, reason });
}

type CfnRef = { Ref: unknown } | { 'Fn::GetAtt': [unknown, unknown] } | { 'Fn::Join': [string, unknown[]] };

function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  if (typeof node === 'object' && node !== null) {
    const ref = node as CfnRef;
    if ('Fn::Join' in ref) return ref['Fn::Join'][1].map(flatten).join(ref['Fn::Join'][0]);
    if ('Fn::GetAtt' in ref) return `<${flatten(ref['Fn::GetAtt'][0])}.${flatten(ref['Fn::GetAtt'][1])}>`;
    if ('Ref' in ref) return `<${flatten(ref.Ref)}>`;
    if ('Fn::Sub' in node) return flatten((node as { 'Fn::Sub': unknown })['Fn::Sub']);
  }
  return JSON.stringify(node);
}

/**
 * The id of the AwsSolutions-IAM5 finding that cdk-nag reports for a wildcard resource, e.g.
 * `AwsSolutions-IAM5[Resource::<RawBucket1234.Arn>/raw/*]`.
 *
 * @param scope any construct of the stack the resource string belongs to
 * @param resource the resource as written in the policy statement (may contain tokens)
 */
export function iam5ResourceFinding(scope: IConstruct, resource: string): string {
  return `AwsSolutions-IAM5[Resource::${flatten(Stack.of(scope).resolve(resource))}]`;
}

/**
 * How cdk-nag spells a resource's `Arn` in a finding on a policy of `scope`'s stack: `<LogicalId.Arn>` in
 * the resource's own stack, or the parameter a nested stack receives it by (`<referenceto…Arn>`).
 */
export function arnInFinding(scope: IConstruct, resource: CfnElement): string {
  if (Stack.of(scope) === Stack.of(resource)) return `<${Stack.of(resource).getLogicalId(resource)}.Arn>`;
  return `<referenceto${Names.nodeUniqueId(resource.node)}Arn>`;
}
