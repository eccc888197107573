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
/** The period of the InteractionStoreFailures alarm. */
const PERIOD_MS = 5 * 60_000;

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
    // The alarm sums 5-minute periods aligned to the clock and looks at the current one: calls go on
    // until 5 of them fall in the period the alarm is then evaluated in (a busy machine may cross a
    // boundary midway).
    const ids: string[] = [];
    const period = (t: number) => Math.floor(t / PERIOD_MS);
    const calledAt: number[] = [];
    while (calledAt.filter((t) => period(t) === period(Date.now())).length < 5) {
      // Stamped before the call: its datapoint is never in an earlier period than counted here.
      const started = Date.now();
      const { response } = await client.send('POST', '/v1/chat', {
        prompt: DEMO_PROMPT.name,
        variables: { ...DEMO_PROMPT.variables, question: `How long can a function run? (${ids.length})` },
      });
      expect(response.status).toBe(200);
      ids.push(((await response.json()) as { interactionId: string }).interactionId);
      calledAt.push(started);
    }
    await stack.idle();
    const { response } = await client.send('POST', '/v1/feedback', { interactionId: ids[0], rating: 'up' });
    expect(response.status).toBe(404);

    const transitions = await stack.evaluateAlarms(new Date());
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
