/**
 * The IAM policies a synthesized template declares, with every intrinsic resolved to the local ARNs: each
 * function's execution role with its identity policies (inline `Policies`, `AWS::IAM::Policy`,
 * customer managed `AWS::IAM::ManagedPolicy`), and the resource policies of buckets, queues, topics and keys.
 */

import { TemplateError } from '../template/errors.ts';
import type { LocalTemplate } from '../template.ts';

/** A policy document with the name it has in the template. */
export interface NamedPolicy {
  readonly name: string;
  readonly document: Record<string, unknown>;
}

/** A function's execution role as the template declares it. */
export interface FunctionRole {
  readonly functionLogicalId: string;
  readonly functionName: string;
  readonly roleLogicalId: string;
  readonly roleName: string;
  readonly roleArn: string;
  /** Identity policies attached to the role, in template order. */
  readonly policies: readonly NamedPolicy[];
  /** `ManagedPolicyArns` whose documents are not in the template (AWS managed policies): not evaluated. */
  readonly unreadManagedPolicies: readonly string[];
}

/** The template gives a function no role that it declares. */
export class UnknownRoleError extends TemplateError {
  constructor(functionLogicalId: string, detail: string) {
    super(`Function ${functionLogicalId}: ${detail}; its calls cannot be evaluated locally`);
    this.name = 'UnknownRoleError';
  }
}

/** Reads roles and resource policies from a template once; lookups are then map reads. */
export class TemplatePolicies {
  readonly #template: LocalTemplate;
  readonly #roles = new Map<string, FunctionRole>();
  readonly #resourcePolicies: ReadonlyMap<string, NamedPolicy>;
  readonly #bucketKeys: ReadonlyMap<string, string>;

  constructor(template: LocalTemplate) {
    this.#template = template;
    this.#resourcePolicies = readResourcePolicies(template);
    this.#bucketKeys = readBucketKeys(template);
  }

  /** The execution role of a function, with its identity policies. @throws UnknownRoleError */
  roleOf(functionLogicalId: string): FunctionRole {
    const cached = this.#roles.get(functionLogicalId);
    if (cached) return cached;
    const t = this.#template;
    const fn = t.resource(functionLogicalId);
    if (fn.Type !== 'AWS::Lambda::Function') {
      throw new UnknownRoleError(functionLogicalId, `it is a ${fn.Type}, not an AWS::Lambda::Function`);
    }
    const roleArn = t.resolveString(fn.Properties?.Role, `Role of ${functionLogicalId}`);
    const roleLogicalId = t.logicalIdForArn(roleArn);
    if (roleLogicalId === undefined || t.resource(roleLogicalId).Type !== 'AWS::IAM::Role') {
      throw new UnknownRoleError(
        functionLogicalId,
        `its role '${roleArn}' is not an AWS::IAM::Role of the template`,
      );
    }
    const roleName = t.ref(roleLogicalId);
    const roleProps = (t.resolve(t.resource(roleLogicalId).Properties ?? {}) ?? {}) as Record<
      string,
      unknown
    >;
    const policies: NamedPolicy[] = [];
    for (const [i, inline] of asList(roleProps.Policies).entries()) {
      policies.push({
        name: `${roleLogicalId}/${String(inline.PolicyName ?? i)}`,
        document: asDocument(inline.PolicyDocument, `Policies[${i}] of ${roleLogicalId}`),
      });
    }
    for (const { logicalId, resource } of t.resourcesOfType('AWS::IAM::Policy')) {
      const props = (t.resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
      if (!asStrings(props.Roles).includes(roleName)) continue;
      policies.push({
        name: logicalId,
        document: asDocument(props.PolicyDocument, `PolicyDocument of ${logicalId}`),
      });
    }
    const managedByArn = new Map<string, NamedPolicy>();
    for (const { logicalId, resource } of t.resourcesOfType('AWS::IAM::ManagedPolicy')) {
      const props = (t.resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
      const policy = {
        name: logicalId,
        document: asDocument(props.PolicyDocument, `PolicyDocument of ${logicalId}`),
      };
      managedByArn.set(t.ref(logicalId), policy);
      if (asStrings(props.Roles).includes(roleName)) policies.push(policy);
    }
    const unreadManagedPolicies: string[] = [];
    for (const arn of asStrings(roleProps.ManagedPolicyArns)) {
      const managed = managedByArn.get(arn);
      if (managed) {
        if (!policies.includes(managed)) policies.push(managed);
      } else unreadManagedPolicies.push(arn);
    }
    const role: FunctionRole = {
      functionLogicalId,
      functionName: t.ref(functionLogicalId),
      roleLogicalId,
      roleName,
      roleArn,
      policies,
      unreadManagedPolicies,
    };
    this.#roles.set(functionLogicalId, role);
    return role;
  }

  /**
   * The resource policy that governs `resourceArn`: the bucket policy for a bucket or any object in it, the
   * queue, topic or key policy for that queue, topic or key. Undefined when the template declares none.
   */
  resourcePolicyFor(resourceArn: string): NamedPolicy | undefined {
    const bucket = /^arn:[^:]+:s3:::([^/]+)/.exec(resourceArn)?.[1];
    return this.#resourcePolicies.get(bucket === undefined ? resourceArn : `s3:${bucket}`);
  }

  /** ARN of the customer managed KMS key a bucket encrypts new objects with by default, if any. */
  bucketKey(bucket: string): string | undefined {
    return this.#bucketKeys.get(bucket);
  }
}

function readResourcePolicies(t: LocalTemplate): Map<string, NamedPolicy> {
  const out = new Map<string, NamedPolicy>();
  const add = (key: string, policy: NamedPolicy) => {
    const existing = out.get(key);
    // Several policy resources for one queue or topic: their statements all apply.
    out.set(
      key,
      existing
        ? {
            name: `${existing.name}+${policy.name}`,
            document: {
              ...existing.document,
              Statement: [...statements(existing.document), ...statements(policy.document)],
            },
          }
        : policy,
    );
  };
  for (const { logicalId, resource } of t.resourcesOfType('AWS::S3::BucketPolicy')) {
    const props = (t.resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
    const bucket = String(props.Bucket ?? '');
    add(`s3:${bucket}`, {
      name: logicalId,
      document: asDocument(props.PolicyDocument, `PolicyDocument of ${logicalId}`),
    });
  }
  for (const { logicalId, resource } of t.resourcesOfType('AWS::SQS::QueuePolicy')) {
    const props = (t.resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
    const document = asDocument(props.PolicyDocument, `PolicyDocument of ${logicalId}`);
    for (const url of asStrings(props.Queues)) {
      const queue = t.logicalIdForArn(url);
      if (queue !== undefined) add(t.getAtt(queue, 'Arn'), { name: logicalId, document });
    }
  }
  for (const { logicalId, resource } of t.resourcesOfType('AWS::SNS::TopicPolicy')) {
    const props = (t.resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
    const document = asDocument(props.PolicyDocument, `PolicyDocument of ${logicalId}`);
    for (const arn of asStrings(props.Topics)) add(arn, { name: logicalId, document });
  }
  for (const { logicalId, resource } of t.resourcesOfType('AWS::KMS::Key')) {
    const props = (t.resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
    if (props.KeyPolicy === undefined) continue;
    add(t.getAtt(logicalId, 'Arn'), {
      name: logicalId,
      document: asDocument(props.KeyPolicy, `KeyPolicy of ${logicalId}`),
    });
  }
  return out;
}

function readBucketKeys(t: LocalTemplate): Map<string, string> {
  const out = new Map<string, string>();
  for (const { logicalId, resource } of t.resourcesOfType('AWS::S3::Bucket')) {
    const rules = t.resolve(
      (resource.Properties?.BucketEncryption as Record<string, unknown> | undefined)
        ?.ServerSideEncryptionConfiguration,
    );
    for (const rule of asList(rules)) {
      const byDefault = (rule.ServerSideEncryptionByDefault ?? {}) as Record<string, unknown>;
      const key = byDefault.KMSMasterKeyID;
      if (String(byDefault.SSEAlgorithm).startsWith('aws:kms') && typeof key === 'string') {
        // A key ARN or id resolves to the key's ARN when the template declares the key.
        const keyLogicalId = t.logicalIdForArn(key);
        out.set(t.ref(logicalId), keyLogicalId !== undefined ? t.getAtt(keyLogicalId, 'Arn') : key);
      }
    }
  }
  return out;
}

function statements(document: Record<string, unknown>): unknown[] {
  const statement = document.Statement;
  return Array.isArray(statement) ? statement : statement === undefined ? [] : [statement];
}

function asDocument(value: unknown, what: string): Record<string, unknown> {
  if (typeof value === 'string') {
    try {
      return asDocument(JSON.parse(value), what);
    } catch (error) {
      throw new TemplateError(`${what} is not valid JSON`, { cause: error });
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TemplateError(`${what} is not a policy document`);
  }
  return value as Record<string, unknown>;
}

function asList(value: unknown): Array<Record<string, unknown>> {
  return (Array.isArray(value) ? value : []).filter(
    (item): item is Record<string, unknown> => typeof item === 'object' && item !== null,
  );
}

function asStrings(value: unknown): string[] {
  return (Array.isArray(value) ? value : []).filter((item): item is string => typeof item === 'string');
}
