import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalApiClient } from '#infra/local/api-client.ts';
import { DEMO_PROMPT } from '#infra/local/api-demo.ts';
import { apiClient } from '#infra/local/cli/local-runner.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { withoutAction } from '../support/template-edits.ts';

/**
 * A call that cannot be kept for feedback never fails the caller, and pages: with PutItem taken out of
 * the chat function's role, the local IAM evaluator denies the write as AWS would, every answer still
 * comes back 200, feedback on those answers is a 404 (nothing was kept), and the synthesized
 * InteractionStoreFailures alarm, evaluated on the metrics the chat function emitted, pages.
 */
let stack: LocalRunner;
let client: LocalApiClient;

beforeAll(async () => {
  stack = await LocalRunner.start({
    api: {},
    editTemplate: (template) => {
      withoutAction(template, 'functions/api/chat.ts', 'dynamodb:PutItem', 'ModelGatewayInteractionsTable');
      return template;
    },
  });
  client = apiClient(stack, false);
  await client.call(
    'create prompt',
    'POST',
    `/v1/prompts/${DEMO_PROMPT.name}/versions`,
    DEMO_PROMPT.draft,
    201,
  );
  await client.call('label', 'PUT', `/v1/prompts/${DEMO_PROMPT.name}/labels/production`, { version: 1 });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe('the interactions kept for feedback, when the table refuses the write', () => {
  it('answers every call, answers feedback on them 404, and pages through the InteractionStoreFailures alarm', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { response } = await client.send('POST', '/v1/chat', {
        prompt: DEMO_PROMPT.name,
        variables: { ...DEMO_PROMPT.variables, question: `How long can a function run? (${i})` },
      });
      expect(response.status).toBe(200);
      ids.push(((await response.json()) as { interactionId: string }).interactionId);
    }
    await stack.idle();
    const { response } = await client.send('POST', '/v1/feedback', { interactionId: ids[0], rating: 'up' });
    expect(response.status).toBe(404);

    const transitions = await stack.evaluateAlarms(new Date(Date.now() + 60_000));
    expect(transitions).toContainEqual(
      expect.objectContaining({
        alarmName: expect.stringMatching(/InteractionStoreFailuresAlarm/),
        to: 'ALARM',
      }),
    );
    expect(stack.pages.some((p) => /InteractionStoreFailuresAlarm/.test(p.subject))).toBe(true);
    // The interaction log's records were not lost: only the kept calls were.
    expect(transitions.some((t) => /InteractionLogFailuresAlarm/.test(t.alarmName) && t.to === 'ALARM')).toBe(
      false,
    );
  });
});
