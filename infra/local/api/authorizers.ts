/**
 * Lambda authorizers (`AuthorizationType: CUSTOM`), run as API Gateway runs them: the authorizer
 * function gets a REQUEST event (the request without its body, and the method ARN) or a TOKEN event,
 * and its answer decides. `Unauthorized` thrown: 401 (UNAUTHORIZED); any other failure or a malformed
 * answer: 500 (AUTHORIZER_FAILURE / AUTHORIZER_CONFIGURATION_ERROR); a policy that does not allow the
 * method, or denies it: 403 (ACCESS_DENIED). An allowed request carries the authorizer's
 * `principalId` and `context` into `requestContext.authorizer`, and with `ApiKeySourceType: AUTHORIZER`
 * its `usageIdentifierKey` is the API key the usage plans check. No result cache: every request runs it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { isRecord } from '../template/cfn.ts';
import type { LocalApiMethod, LocalAuthorizer } from '../template.ts';
import type { GatewayResponseType } from './gateway-responses.ts';
import {
  describeFailure,
  elapsed,
  headerOf,
  type RequestState,
  type ServeContext,
} from './request-context.ts';

/** What an authorizer decided. */
export type AuthorizerOutcome =
  | {
      readonly allowed: true;
      /** `requestContext.authorizer` of the integration's event. */
      readonly authorizer: Readonly<Record<string, string | number | boolean>>;
      /** The usage identifier key (the API key), when the authorizer returned one. */
      readonly usageIdentifierKey: string | undefined;
    }
  | { readonly allowed: false; readonly response: GatewayResponseType; readonly reason: string };

/** The method ARN API Gateway gives authorizers: `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>`. */
export function methodArn(
  ctx: Pick<ServeContext, 'region' | 'account' | 'api' | 'stage'>,
  method: string,
  path: string,
): string {
  return `arn:aws:execute-api:${ctx.region}:${ctx.account}:${ctx.api.id}/${ctx.stage}/${method}${path}`;
}

/** Runs the method's authorizer for a request whose proxy event (without authorizer data) is `event`. */
export async function runAuthorizer(
  ctx: ServeContext,
  state: RequestState,
  req: IncomingMessage,
  method: LocalApiMethod,
  event: APIGatewayProxyEvent,
): Promise<AuthorizerOutcome> {
  const authorizer = ctx.api.authorizers.find((a) => a.id === method.authorizerId);
  if (authorizer?.functionArn === undefined) {
    return {
      allowed: false,
      response: 'AUTHORIZER_CONFIGURATION_ERROR',
      reason: `Method ${method.logicalId} names no Lambda authorizer of this API`,
    };
  }
  const missing = missingIdentity(authorizer, req);
  if (missing !== undefined) {
    return { allowed: false, response: 'UNAUTHORIZED', reason: `Identity source ${missing} is missing` };
  }
  const arn = methodArn(ctx, state.method, state.path);
  const payload =
    authorizer.type === 'TOKEN'
      ? {
          type: 'TOKEN',
          authorizationToken: headerOf(req, headerName(authorizer.identitySource) ?? 'authorization'),
          methodArn: arn,
        }
      : {
          type: 'REQUEST',
          methodArn: arn,
          resource: event.resource,
          path: event.path,
          httpMethod: event.httpMethod,
          headers: event.headers,
          multiValueHeaders: event.multiValueHeaders,
          queryStringParameters: event.queryStringParameters,
          multiValueQueryStringParameters: event.multiValueQueryStringParameters,
          pathParameters: event.pathParameters,
          stageVariables: event.stageVariables,
          requestContext: event.requestContext,
        };
  const started = performance.now();
  let result: unknown;
  try {
    result = await ctx.lambdas.invoke(authorizer.functionArn, payload, { awsRequestId: randomUUID() });
  } catch (error) {
    if (error instanceof Error && error.message === 'Unauthorized') {
      return { allowed: false, response: 'UNAUTHORIZED', reason: 'The authorizer answered Unauthorized' };
    }
    return { allowed: false, response: 'AUTHORIZER_FAILURE', reason: describeFailure(error) };
  }
  const latencyMs = Math.round(elapsed(started));
  if (!isRecord(result) || typeof result.principalId !== 'string' || !isRecord(result.policyDocument)) {
    return {
      allowed: false,
      response: 'AUTHORIZER_CONFIGURATION_ERROR',
      reason: 'The authorizer answered without a principalId and a policyDocument',
    };
  }
  const decision = evaluatePolicy(result.policyDocument, arn);
  if (decision !== 'allow') {
    return {
      allowed: false,
      response: 'ACCESS_DENIED',
      reason: `The authorizer's policy ${decision === 'deny' ? 'denies' : 'does not allow'} ${arn}`,
    };
  }
  const context: Record<string, string | number | boolean> = {};
  if (isRecord(result.context)) {
    for (const [key, value] of Object.entries(result.context)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        context[key] = value;
      } else {
        return {
          allowed: false,
          response: 'AUTHORIZER_CONFIGURATION_ERROR',
          reason: `The authorizer's context.${key} is not a string, number or boolean`,
        };
      }
    }
  }
  return {
    allowed: true,
    authorizer: { ...context, principalId: result.principalId, integrationLatency: latencyMs },
    usageIdentifierKey: typeof result.usageIdentifierKey === 'string' ? result.usageIdentifierKey : undefined,
  };
}

/**
 * `allow` when a statement allows `execute-api:Invoke` on `arn` and none denies it, `deny` when one
 * denies it, `none` otherwise. Actions and resources may use `*` and `?` wildcards.
 */
export function evaluatePolicy(
  policy: Readonly<Record<string, unknown>>,
  arn: string,
): 'allow' | 'deny' | 'none' {
  const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
  let allowed = false;
  for (const statement of statements) {
    if (!isRecord(statement)) continue;
    const actions = listOf(statement.Action);
    const resources = listOf(statement.Resource);
    const applies =
      actions.some((a) => wildcardMatch(a.toLowerCase(), 'execute-api:invoke')) &&
      resources.some((r) => wildcardMatch(r, arn));
    if (!applies) continue;
    if (statement.Effect === 'Deny') return 'deny';
    if (statement.Effect === 'Allow') allowed = true;
  }
  return allowed ? 'allow' : 'none';
}

/**
 * Whether `text` matches `pattern` (`*`: any run of characters, `?`: one character), in
 * O(|pattern| · |text|) at worst: one backtrack point, the last `*`, never nested.
 */
export function wildcardMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** The first identity source header the request lacks (only checked when results are cached, as on AWS). */
function missingIdentity(authorizer: LocalAuthorizer, req: IncomingMessage): string | undefined {
  if (authorizer.identitySource === undefined) return undefined;
  if (authorizer.type === 'REQUEST' && authorizer.resultTtlSeconds === 0) return undefined;
  for (const source of authorizer.identitySource.split(',').map((s) => s.trim())) {
    const header = headerName(source);
    if (header !== undefined && headerOf(req, header) === undefined) return source;
  }
  return undefined;
}

function headerName(source: string | undefined): string | undefined {
  const prefix = 'method.request.header.';
  return source?.startsWith(prefix) ? source.slice(prefix.length) : undefined;
}

function listOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
