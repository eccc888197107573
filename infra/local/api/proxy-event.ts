/**
 * The Lambda proxy event (REST API, payload format 1.0) a request becomes: headers and query strings in
 * their single- and multi-value forms, path parameters, stage variables, and the request context of a
 * real request (ids, identity, resource path, stage, times). Binary media types arrive base64-encoded.
 * On AWS_IAM routes the function sees a fixed local IAM user, since there is no SigV4 locally.
 */
import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { LocalApiMethod } from '../template.ts';
import { headerOf, type RequestState, type ServeContext } from './request-context.ts';
import type { RouteMatch } from './router.ts';

/** The IAM identity that admin (AWS_IAM) routes see locally. */
export const LOCAL_ADMIN_ARN = 'arn:aws:iam::000000000000:user/local-admin';
const LOCAL_ADMIN_USER_ID = 'AIDALOCALADMIN0000000';
const LOCAL_ADMIN_ACCESS_KEY = 'AKIALOCALADMIN000000';

/** What a request carries into its proxy event, beyond the request itself. */
export interface ProxyEventInput {
  readonly method: LocalApiMethod;
  readonly match: RouteMatch;
  /** The raw query string, without `?`. */
  readonly query: string;
  readonly body: Buffer;
  /** The API key the caller presented, when the method requires one and it was valid. */
  readonly apiKey: string | undefined;
  /** What the method's Lambda authorizer passed on (`principalId`, its context). */
  readonly authorizer?: Readonly<Record<string, string | number | boolean>>;
}

/** Builds the REST API Lambda proxy event (payload format 1.0). */
export function buildProxyEvent(
  ctx: ServeContext,
  req: IncomingMessage,
  state: RequestState,
  input: ProxyEventInput,
): APIGatewayProxyEvent {
  const { method, match, query, body, apiKey, authorizer } = input;
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const value = raw[i + 1] ?? '';
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  const setHeader = (name: string, value: string) => {
    const existing = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
    const values = existing === undefined ? [] : (multiValueHeaders[existing] ?? []);
    if (existing !== undefined) {
      delete headers[existing];
      delete multiValueHeaders[existing];
    }
    const merged = name === 'X-Forwarded-For' && values.length > 0 ? `${values.join(', ')}, ${value}` : value;
    headers[name] = merged;
    multiValueHeaders[name] = [merged];
  };
  setHeader('X-Forwarded-For', state.ip);
  setHeader('X-Forwarded-Port', String(req.socket.localPort ?? ''));
  setHeader('X-Forwarded-Proto', 'http');
  setHeader('X-Amzn-Trace-Id', state.traceId);

  let queryStringParameters: Record<string, string> | null = null;
  let multiValueQueryStringParameters: Record<string, string[]> | null = null;
  if (query !== '') {
    queryStringParameters = {};
    multiValueQueryStringParameters = {};
    for (const [name, value] of new URLSearchParams(query)) {
      queryStringParameters[name] = value;
      multiValueQueryStringParameters[name] = [...(multiValueQueryStringParameters[name] ?? []), value];
    }
  }
  const pathParameters = Object.keys(match.pathParameters).length > 0 ? { ...match.pathParameters } : null;
  const contentType = headerOf(req, 'content-type');
  const binary = contentType !== undefined && isBinary(ctx.api.binaryMediaTypes, contentType);
  const iam = method.authorizationType === 'AWS_IAM';
  const host = headerOf(req, 'host') ?? `127.0.0.1:${req.socket.localPort ?? ''}`;
  return {
    resource: match.resourcePath,
    path: state.path,
    httpMethod: state.method,
    headers,
    multiValueHeaders,
    queryStringParameters,
    multiValueQueryStringParameters,
    pathParameters,
    stageVariables: Object.keys(ctx.stageVariables).length > 0 ? { ...ctx.stageVariables } : null,
    requestContext: {
      accountId: ctx.account,
      apiId: ctx.api.id,
      authorizer: authorizer === undefined ? undefined : { ...authorizer },
      domainName: host,
      domainPrefix: host.split('.')[0]?.split(':')[0] ?? host,
      extendedRequestId: state.extendedRequestId,
      httpMethod: state.method,
      identity: {
        accessKey: iam ? LOCAL_ADMIN_ACCESS_KEY : null,
        accountId: iam ? ctx.account : null,
        apiKey: apiKey ?? null,
        apiKeyId: apiKey !== undefined ? ctx.apiKeyId : null,
        caller: iam ? LOCAL_ADMIN_USER_ID : null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: state.ip,
        user: iam ? LOCAL_ADMIN_USER_ID : null,
        userAgent: headerOf(req, 'user-agent') ?? null,
        userArn: iam ? LOCAL_ADMIN_ARN : null,
      },
      path: `/${ctx.stage}${state.path}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestId: state.requestId,
      requestTime: requestTime(state.receivedAt),
      requestTimeEpoch: state.receivedAt.getTime(),
      resourceId: method.resourceId,
      resourcePath: match.resourcePath,
      stage: ctx.stage,
    },
    body: body.length === 0 ? null : binary ? body.toString('base64') : body.toString('utf8'),
    isBase64Encoded: body.length > 0 && binary,
  };
}

function isBinary(binaryMediaTypes: readonly string[], contentType: string): boolean {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return binaryMediaTypes.some((pattern) => {
    const p = pattern.toLowerCase();
    if (p === '*/*') return true;
    if (p.endsWith('/*')) return type.startsWith(p.slice(0, -1));
    return p === type;
  });
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `09/Apr/2015:12:34:56 +0000`, API Gateway's `requestTime`. */
function requestTime(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${pad(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:` +
    `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())} +0000`
  );
}
