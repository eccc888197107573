import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { authorize, presentedKey } from '#functions/api/authorizer.ts';
import { expectLinear, repeatTo } from '../core/linear-time.ts';

const KEY = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd';
const ARN = 'arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/POST/v1/chat/completions';

function event(headers: Record<string, string>): APIGatewayRequestAuthorizerEvent {
  return { type: 'REQUEST', methodArn: ARN, headers, path: '/v1/chat/completions' } as never;
}

describe('API key authorizer', () => {
  it('takes the key from x-api-key or Authorization: Bearer (any case, any header spelling)', () => {
    expect(presentedKey({ 'x-api-key': KEY })).toEqual({ key: KEY, source: 'x-api-key' });
    expect(presentedKey({ 'X-API-Key': ` ${KEY} ` })).toEqual({ key: KEY, source: 'x-api-key' });
    expect(presentedKey({ Authorization: `Bearer ${KEY}` })).toEqual({ key: KEY, source: 'bearer' });
    expect(presentedKey({ authorization: `bearer  ${KEY}` })).toEqual({ key: KEY, source: 'bearer' });
    // Both, naming the same key: fine.
    expect(presentedKey({ 'x-api-key': KEY, authorization: `Bearer ${KEY}` })).toEqual({
      key: KEY,
      source: 'x-api-key',
    });
  });

  it('names the problem when there is no usable key', () => {
    const problem = (headers: Record<string, string> | null) => {
      const found = presentedKey(headers);
      return 'problem' in found ? found.problem : undefined;
    };
    expect(problem(null)).toMatch(/no x-api-key or Authorization/);
    expect(problem({})).toMatch(/no x-api-key or Authorization/);
    expect(problem({ authorization: `Basic ${KEY}` })).toMatch(/not "Bearer <key>"/);
    expect(problem({ authorization: 'Bearer' })).toMatch(/not "Bearer <key>"/);
    expect(problem({ authorization: `Bearer ${KEY} extra` })).toMatch(/not "Bearer <key>"/);
    expect(problem({ 'x-api-key': 'short' })).toMatch(/20-128 printable/);
    expect(problem({ 'x-api-key': `${KEY}\u00e9` })).toMatch(/20-128 printable/);
    expect(problem({ 'x-api-key': 'k'.repeat(129) })).toMatch(/20-128 printable/);
    expect(problem({ 'x-api-key': KEY, authorization: `Bearer ${KEY.toLowerCase()}` })).toMatch(
      /different keys/,
    );
  });

  it('allows exactly the method called, metered under the presented key, and never echoes the key elsewhere', async () => {
    const result = await authorize(event({ authorization: `Bearer ${KEY}` }));
    expect(result).toEqual({
      principalId: 'api-key',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: ARN }],
      },
      usageIdentifierKey: KEY,
      context: { keySource: 'bearer' },
    });
  });

  it('throws exactly "Unauthorized" (API Gateway answers 401) without a usable key', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Token x' },
      { 'x-api-key': 'too-short' },
    ];
    for (const headers of attempts) {
      await expect(authorize(event(headers))).rejects.toThrow(/^Unauthorized$/);
    }
  });

  it('reads hostile Authorization headers in linear time', () => {
    const spaces = (n: number) => repeatTo(n, ' ', 'Bearer ', 'x y');
    const tabs = (n: number) => repeatTo(n, ' \t', 'Bearer k', '\u0000');
    for (const [name, make] of [
      ['spaces', spaces],
      ['tabs', tabs],
    ] as const) {
      expectLinear(`bearer ${name}`, make, (header) => presentedKey({ authorization: header }));
    }
  });
});
