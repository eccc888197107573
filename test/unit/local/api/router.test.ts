import { describe, expect, it } from 'vitest';
import { ApiRouter } from '#infra/local/api/router.ts';

describe('ApiRouter', () => {
  const router = new ApiRouter([
    '/',
    '/v1/prompts/{name}',
    '/v1/prompts/latest',
    '/v1/prompts/{name}/labels/{label}',
    '/v1/files/{proxy+}',
  ]);

  it('prefers literal segments over parameters and parameters over greedy paths', () => {
    expect(router.match('/v1/prompts/latest')).toEqual({
      resourcePath: '/v1/prompts/latest',
      pathParameters: {},
    });
    expect(router.match('/v1/prompts/support-answer')).toEqual({
      resourcePath: '/v1/prompts/{name}',
      pathParameters: { name: 'support-answer' },
    });
    expect(router.match('/v1/prompts/a/labels/production')?.pathParameters).toEqual({
      name: 'a',
      label: 'production',
    });
    expect(router.match('/v1/files/a/b/c.txt')).toEqual({
      resourcePath: '/v1/files/{proxy+}',
      pathParameters: { proxy: 'a/b/c.txt' },
    });
  });

  it('decodes parameters, ignores a trailing slash and misses unknown paths', () => {
    expect(router.match('/v1/prompts/my%20prompt/')?.pathParameters).toEqual({ name: 'my prompt' });
    expect(router.match('/')?.resourcePath).toBe('/');
    expect(router.match('/v1/files')).toBeUndefined();
    expect(router.match('/v2/prompts/x')).toBeUndefined();
    expect(router.match('/v1/prompts/%E0%A4%A')).toBeUndefined();
  });
});
