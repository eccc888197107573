import { describe, expect, it } from 'vitest';
import { parseProxyResult } from '#infra/local/api/proxy-result.ts';

describe('parseProxyResult', () => {
  it('accepts the proxy result fields and refuses anything else, as API Gateway does', () => {
    expect(parseProxyResult({ statusCode: 204 })).toMatchObject({ statusCode: 204, body: Buffer.alloc(0) });
    expect(parseProxyResult({ statusCode: 200, body: 'aGk=', isBase64Encoded: true })).toMatchObject({
      body: Buffer.from('hi'),
    });
    expect(parseProxyResult({ statusCode: 200, cookies: [] })).toMatch(/unexpected field/);
    expect(parseProxyResult({ body: 'x' })).toMatch(/statusCode/);
    expect(parseProxyResult('text')).toMatch(/object/);
    expect(parseProxyResult({ statusCode: 200, body: { a: 1 } })).toMatch(/body must be a string/);
  });
});
