import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { readConfig } from '#aws/config.ts';
import { logger } from '#aws/logging.ts';

/**
 * The API's Lambda REQUEST authorizer: finds the app's API key where clients put it, either the
 * `x-api-key` header or `Authorization: Bearer <key>` (what OpenAI's client libraries send), and hands
 * it to API Gateway as the usage identifier (`ApiKeySourceType: AUTHORIZER`). API Gateway then checks
 * it as it checks any key: enabled, in a usage plan of this stage, within its throttle and quota, so an
 * unknown key is still refused (`INVALID_API_KEY`). No key at all, a malformed one, or two different
 * keys in the two places: 401 (`Unauthorized`). The key is never logged.
 */

/** API Gateway key values: at least 20 characters (generated ones are 40), printable ASCII, no spaces. */
const KEY_VALUE = /^[\x21-\x7e]{20,128}$/;
const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;

/** Where the key was found (passed on to the API functions as `requestContext.authorizer.keySource`). */
export type KeySource = 'x-api-key' | 'bearer';

/** The caller's key and where it came from, or why there is none. */
export function presentedKey(
  headers: Readonly<Record<string, string | undefined>> | null | undefined,
): { key: string; source: KeySource } | { problem: string } {
  let header: string | undefined;
  let authorization: string | undefined;
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (lower === 'x-api-key') header = value.trim();
    else if (lower === 'authorization') authorization = value.trim();
  }
  const bearer = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
  if (authorization !== undefined && bearer === undefined && header === undefined) {
    return { problem: 'Authorization is not "Bearer <key>"' };
  }
  if (header !== undefined && bearer !== undefined && header !== bearer) {
    return { problem: 'x-api-key and Authorization name different keys' };
  }
  const key = header ?? bearer;
  if (key === undefined) return { problem: 'no x-api-key or Authorization: Bearer header' };
  if (!KEY_VALUE.test(key)) return { problem: 'the key is not 20-128 printable characters' };
  return { key, source: header !== undefined ? 'x-api-key' : 'bearer' };
}

/** The authorizer's answer: allow this method, metered under the presented key; or `Unauthorized`. */
export async function authorize(
  event: APIGatewayRequestAuthorizerEvent,
): Promise<APIGatewayAuthorizerResult> {
  const found = presentedKey(event.headers);
  if ('problem' in found) {
    logger.info('Request not authenticated', { reason: found.problem, path: event.path });
    // API Gateway answers exactly this message with its UNAUTHORIZED gateway response (401).
    throw new Error('Unauthorized');
  }
  return {
    principalId: 'api-key',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    usageIdentifierKey: found.key,
    context: { keySource: found.source },
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {};

readConfig(environment);

export const handler = authorize;
