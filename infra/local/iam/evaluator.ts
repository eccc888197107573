/**
 * The local run's IAM: every SDK call a function makes is evaluated, with `@cloud-copilot/iam-simulate`,
 * against the identity policies of the function's execution role and the resource policy of the target
 * (bucket, queue, topic, KMS key) as the synthesized template declares them. A call that AWS would deny
 * fails with the error AWS returns: the service's access-denied code, HTTP 403, and a message naming the
 * action, the resource, the function and its role.
 */
import { getDenialReasons, type RequestAnalysis, runSimulation } from '@cloud-copilot/iam-simulate';
import type { SdkCall } from '#aws/sdk-call-hooks.ts';
import type { LocalTemplate } from '../template.ts';
import { type IamRequest, iamRequestsFor } from './actions.ts';
import type { Caller, SdkCallAuthorizer } from './caller.ts';
import { type FunctionRole, type NamedPolicy, TemplatePolicies } from './policies.ts';

/** The outcome of evaluating one request. */
export interface IamDecision {
  readonly functionLogicalId: string;
  readonly action: string;
  readonly resource: string;
  readonly allowed: boolean;
  /** `Allowed`, `ImplicitlyDenied` or `ExplicitlyDenied`. */
  readonly result: string;
  /** Why it was denied, in the words AWS uses (`because no identity-based policy allows ...`). */
  readonly reason: string | undefined;
}

/**
 * A call denied by the local IAM evaluation, shaped like the SDK's service exception: `name` is the
 * service's error code, `$metadata.httpStatusCode` is 403.
 */
export class AccessDeniedError extends Error {
  readonly $fault = 'client' as const;
  readonly $metadata: {
    readonly httpStatusCode: 403;
    readonly requestId: string;
    readonly attempts: 1;
    readonly totalRetryDelay: 0;
  };
  /** The error code, as S3's XML errors carry it. */
  readonly Code: string;
  readonly action: string;
  readonly resource: string;
  readonly functionLogicalId: string;
  readonly roleArn: string;
  constructor(code: string, message: string, request: IamRequest, role: FunctionRole) {
    super(message);
    this.name = code;
    this.Code = code;
    this.$metadata = {
      httpStatusCode: 403,
      requestId: `local-iam-${Date.now().toString(36)}`,
      attempts: 1,
      totalRetryDelay: 0,
    };
    this.action = request.action;
    this.resource = request.resource;
    this.functionLogicalId = role.functionLogicalId;
    this.roleArn = role.roleArn;
  }
}

/** The simulator refused a request or a policy as invalid (an unknown action, a malformed statement, ...). */
export class IamSimulationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IamSimulationError';
  }
}

/** The access-denied error code each client's service returns. */
const DENIED_CODES: Readonly<Record<string, string>> = {
  S3Client: 'AccessDenied',
  SQSClient: 'AccessDenied',
  SNSClient: 'AuthorizationError',
};

/** Evaluates SDK calls of the template's functions against their roles and the resources' policies. */
export class LocalIam implements SdkCallAuthorizer {
  readonly #policies: TemplatePolicies;
  readonly #partition: string;
  readonly #region: string;
  readonly #account: string;
  readonly #decisions = new Map<string, Promise<IamDecision>>();
  /** Decisions by resource class (see {@link resourceClass}), shared by the resources of one class. */
  readonly #classDecisions = new Map<string, Promise<IamDecision>>();
  /** The Resource and NotResource patterns of a role's policies and a resource policy, by their names. */
  readonly #patterns = new Map<string, readonly string[]>();

  constructor(template: LocalTemplate) {
    this.#policies = new TemplatePolicies(template);
    this.#partition = template.partition;
    this.#region = template.region;
    this.#account = template.account;
  }

  /**
   * Rejects with {@link AccessDeniedError} when the function's role may not make `call`, and with
   * `UnmappedSdkCallError` when the call is not one the local run knows how to evaluate.
   */
  async authorize(caller: Caller, call: SdkCall): Promise<void> {
    const role = this.#policies.roleOf(caller.logicalId);
    const requests = iamRequestsFor(call, {
      partition: this.#partition,
      region: this.#region,
      account: this.#account,
      bucketKey: (bucket) => this.#policies.bucketKey(bucket),
    });
    for (const request of requests) {
      const decision = await this.evaluate(caller.logicalId, request);
      if (!decision.allowed) {
        throw new AccessDeniedError(
          DENIED_CODES[call.clientName] ?? 'AccessDeniedException',
          `User: ${this.#sessionArn(role)} is not authorized to perform: ${request.action} on resource: ` +
            `${request.resource} ${decision.reason} (local IAM evaluation, function ${role.functionLogicalId}, ` +
            `role ${role.roleLogicalId})`,
          request,
          role,
        );
      }
    }
  }

  /** Evaluates one request of a function's role (decisions are cached: the template does not change). */
  evaluate(functionLogicalId: string, request: IamRequest): Promise<IamDecision> {
    const role = this.#policies.roleOf(functionLogicalId);
    const key = JSON.stringify([role.functionLogicalId, request.action, request.resource, request.context]);
    let decision = this.#decisions.get(key);
    if (!decision) {
      const resourcePolicy = this.#policies.resourcePolicyFor(request.resource);
      const cls = resourceClass(request.resource, this.#patternsOf(role, resourcePolicy));
      if (cls === undefined) {
        decision = this.#simulate(role, request);
      } else {
        // Objects that no policy tells apart (every pattern matches both or neither) get one decision.
        const classKey = JSON.stringify([
          role.functionLogicalId,
          request.action,
          resourcePolicy?.name ?? null,
          cls,
          request.context,
        ]);
        let shared = this.#classDecisions.get(classKey);
        if (!shared) {
          shared = this.#simulate(role, request);
          this.#classDecisions.set(classKey, shared);
        }
        decision = shared.then((d) => ({ ...d, resource: request.resource }));
      }
      this.#decisions.set(key, decision);
    }
    return decision;
  }

  #patternsOf(role: FunctionRole, resourcePolicy: NamedPolicy | undefined): readonly string[] {
    const key = JSON.stringify([role.functionLogicalId, resourcePolicy?.name ?? null]);
    let patterns = this.#patterns.get(key);
    if (!patterns) {
      const documents = [...role.policies, ...(resourcePolicy ? [resourcePolicy] : [])].map(
        (p) => p.document,
      );
      patterns = [...new Set(documents.flatMap(resourcePatterns))];
      this.#patterns.set(key, patterns);
    }
    return patterns;
  }

  /** Every distinct request evaluated so far, with its outcome (what the run exercised of each role). */
  async decisions(): Promise<IamDecision[]> {
    const settled = await Promise.allSettled(this.#decisions.values());
    return settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  }

  #sessionArn(role: FunctionRole): string {
    return `arn:${this.#partition}:sts::${this.#account}:assumed-role/${role.roleName}/${role.functionName}`;
  }

  async #simulate(role: FunctionRole, request: IamRequest): Promise<IamDecision> {
    const resourcePolicy = this.#policies.resourcePolicyFor(request.resource);
    const response = await runSimulation(
      {
        request: {
          principal: this.#sessionArn(role),
          action: request.action,
          resource: {
            resource: request.resource,
            accountId: request.resource.split(':')[4] || this.#account,
          },
          contextVariables: {
            ...this.#globalContext(role, request.action),
            ...request.context,
          },
        },
        identityPolicies: role.policies.map((policy) => ({ name: policy.name, policy: policy.document })),
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(resourcePolicy ? { resourcePolicy: resourcePolicy.document } : {}),
      },
      {},
    );
    if (response.resultType === 'error') {
      throw new IamSimulationError(
        `Cannot evaluate ${request.action} on ${request.resource} for ${role.functionLogicalId}: ` +
          `${response.errors.message} ${JSON.stringify(response.errors)}`,
      );
    }
    const result = response.overallResult;
    const subject = {
      functionLogicalId: role.functionLogicalId,
      action: request.action,
      resource: request.resource,
    };
    if (result === 'Allowed') return { ...subject, allowed: true, result, reason: undefined };
    const analysis =
      response.resultType === 'single' ? response.result.analysis : response.results[0]?.analysis;
    return { ...subject, allowed: false, result, reason: denialReason(request.action, analysis) };
  }

  /** The global condition keys AWS sets on every call of a Lambda function's role session over HTTPS. */
  #globalContext(role: FunctionRole, action: string): Record<string, string> {
    return {
      'aws:PrincipalArn': role.roleArn,
      'aws:PrincipalAccount': this.#account,
      'aws:PrincipalType': 'AssumedRole',
      'aws:SecureTransport': 'true',
      'aws:RequestedRegion': this.#region,
      ...(action.startsWith('s3:')
        ? { 's3:TlsVersion': '1.3', 's3:authType': 'REST-HEADER', 's3:signatureversion': 'AWS4-HMAC-SHA256' }
        : {}),
    };
  }
}

const POLICY_WORDS: Readonly<Record<string, string>> = {
  identity: 'an identity-based policy',
  resource: 'a resource-based policy',
  pb: 'a permissions boundary',
  scp: 'a service control policy',
  rcp: 'a resource control policy',
  session: 'a session policy',
  vpce: 'a VPC endpoint policy',
};

function denialReason(action: string, analysis: RequestAnalysis | undefined): string {
  const denials = analysis ? getDenialReasons(analysis) : [];
  const explicit = denials.find((denial) => denial.denialType === 'Explicit');
  if (explicit) return `with an explicit deny in ${POLICY_WORDS[explicit.policyType] ?? explicit.policyType}`;
  const implicit = denials.find((denial) => denial.policyType !== 'identity');
  const kind = implicit?.policyType === 'resource' ? 'resource-based' : 'identity-based';
  return `because no ${kind} policy allows the ${action} action`;
}

/** Every `Resource` and `NotResource` pattern of a policy document. */
function resourcePatterns(document: Record<string, unknown>): string[] {
  const statements = ([] as unknown[]).concat(document.Statement ?? []);
  return statements.flatMap((statement) => {
    if (typeof statement !== 'object' || statement === null) return [];
    const { Resource, NotResource } = statement as { Resource?: unknown; NotResource?: unknown };
    return ([] as unknown[]).concat(Resource ?? [], NotResource ?? []).map(String);
  });
}

/** An ARN's six segments (the last may hold colons); undefined when it has fewer. */
function arnSegments(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6) return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

const globs = new Map<string, { exact: RegExp; folded: RegExp }>();

/** An IAM wildcard pattern (`*`, `?`) as anchored regular expressions, case-sensitive and not. */
function glob(pattern: string): { exact: RegExp; folded: RegExp } {
  let compiled = globs.get(pattern);
  if (!compiled) {
    const source = `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
      .join('')}$`;
    compiled = { exact: new RegExp(source, 's'), folded: new RegExp(source, 'si') };
    globs.set(pattern, compiled);
  }
  return compiled;
}

/**
 * The class of an S3 object ARN as the given policy patterns see it: its bucket and, for each pattern,
 * whether it matches the ARN (as a whole and segment by segment, with and without case), so that two objects
 * of one class are allowed or denied alike. Undefined (decide this resource alone) for anything else: not
 * an object ARN with a plain key, or a pattern with a policy variable, or one that may name S3 and is not in
 * the six-segment form. Patterns of other services are left out: they match no S3 object.
 */
export function resourceClass(resource: string, patterns: readonly string[]): string | undefined {
  const segments = arnSegments(resource);
  if (segments?.[2] !== 's3' || resource.split(':').length !== 6) return undefined;
  const slash = segments[5]?.indexOf('/') ?? -1;
  if (slash <= 0) return undefined;
  let signature = '';
  for (const pattern of patterns) {
    if (pattern.includes('${')) return undefined;
    const patternSegments = pattern === '*' ? undefined : arnSegments(pattern);
    // A pattern of another service (named without wildcards) matches no S3 object: it tells none apart.
    const service = patternSegments?.[2];
    if (service !== undefined && service !== 's3' && !/[*?]/.test(service)) continue;
    if (pattern !== '*' && (!patternSegments || pattern.split(':').length !== 6)) return undefined;
    const whole = glob(pattern);
    signature += whole.exact.test(resource) ? '1' : '0';
    signature += whole.folded.test(resource) ? '1' : '0';
    if (patternSegments) {
      const bySegment = patternSegments.every((p, i) => glob(p).exact.test(segments[i] ?? ''));
      const bySegmentFolded = patternSegments.every((p, i) => glob(p).folded.test(segments[i] ?? ''));
      signature += `${bySegment ? 1 : 0}${bySegmentFolded ? 1 : 0}`;
    }
  }
  return `${segments.slice(0, 5).join(':')}:${segments[5]?.slice(0, slash)}/…|${signature}`;
}
