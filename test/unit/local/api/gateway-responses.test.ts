import { describe, expect, it } from 'vitest';
import { renderGatewayTemplate } from '#infra/local/api/gateway-responses.ts';

describe('renderGatewayTemplate', () => {
  it('fills $context variables in a gateway response template', () => {
    const out = renderGatewayTemplate(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an API Gateway template, not a JS template
      '{"m":$context.error.messageString,"id":"$context.requestId","s":"${context.stage}"}',
      {
        ctx: { stage: 'prod' },
        state: {
          requestId: 'r-1',
          extendedRequestId: 'e',
          method: 'GET',
          path: '/x',
          resourcePath: null,
          ip: '127.0.0.1',
        },
        type: 'THROTTLED',
        message: 'Too "Many"',
      },
    );
    expect(JSON.parse(out)).toEqual({ m: 'Too "Many"', id: 'r-1', s: 'prod' });
  });
});
