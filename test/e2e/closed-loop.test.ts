import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DriftDemoResult, runDriftDemo } from '#infra/local/drift-demo.ts';
import { forceProduction, loopOutcome } from '#infra/local/loop-demo.ts';
import {
  decisions,
  driftDetected,
  loopDiagnostics,
  PROMPT,
  production,
  type Setup,
  setUp,
} from '../support/closed-loop.ts';

/**
 * The closed loop on the local stack, from the synthesized template: a version of the grounded prompt
 * that failed its promotion gate is forced into production (audited); drift is detected; the
 * evaluation of production it starts regresses against production's last passing run (the release the
 * forced version replaced); the loop moves the label back (act), or proposes it (recommend), at most
 * once per cool-down, and every decision pages through the paging topic with its evidence. Every SDK call
 * of the loop's function is judged by the local IAM evaluator.
 */
describe('act: the drift alarm → evaluation of production → rollback, from replayed traffic', () => {
  let setup: Setup;
  let drift: DriftDemoResult;
  let before: { events: number; pages: number };

  beforeAll(async () => {
    setup = await setUp();
    await forceProduction(setup.client, PROMPT, setup.failed, 'hotfix: shorter answers (test)');
    before = { events: setup.stack.events.length, pages: setup.stack.pages.length };
    drift = await runDriftDemo(setup.stack);
  }, 240_000);
  afterAll(async () => {
    await setup?.stack.stop();
  });

  it('moves production back to the release that passed, with the evidence, and pages', async () => {
    const { stack, client, passed, failed } = setup;
    expect(drift.evaluation?.status).toBe('SUCCEEDED');
    const outcome = await loopOutcome(stack, client, PROMPT, before);
    expect(outcome.decisions, await loopDiagnostics(stack)).toHaveLength(1);
    const [decision] = outcome.decisions;
    expect(decision).toMatchObject({
      outcome: 'rolled_back',
      mode: 'act',
      target: { kind: 'prompt', name: PROMPT, label: 'production' },
      from: { version: failed },
      to: { version: passed, passingRunId: setup.gate.better.started.runId },
      evidence: {
        drift: { check: 'all-traffic', windowEnd: drift.driftDetected?.window.end },
        evaluation: {
          runId: drift.evaluation?.runId,
          comparedWith: setup.gate.better.started.runId,
          failing: expect.arrayContaining([expect.objectContaining({ name: 'f1' })]),
        },
      },
    });
    expect(outcome.production).toBe(passed);
    // The page is the decision, as SNS delivers an EventBridge target's input.
    expect(outcome.pages).toHaveLength(1);
    expect(JSON.parse(outcome.pages[0]?.message ?? '{}')).toMatchObject({
      rollbackId: decision?.rollbackId,
      outcome: 'rolled_back',
    });
    // Audited: the label history keeps who moved it back and why.
    const { response } = await client.send('GET', `/v1/prompts/${PROMPT}/versions`);
    expect(response.status).toBe(200);
  });

  it('holds a second rollback of the same target within the cool-down, and still pages', async () => {
    const { stack, client, passed, failed } = setup;
    await forceProduction(client, PROMPT, failed, 'hotfix again (test)');
    const from = { events: stack.events.length, pages: stack.pages.length };
    // The window after the one the demo's drift named (a window names its evaluation run: the same one
    // would be a redelivery).
    const windowEnd = new Date(Date.parse(drift.driftDetected?.window.end ?? '') + 21_600_000).toISOString();
    driftDetected(stack, windowEnd);
    await stack.idle();
    const [held] = decisions(stack, from.events);
    expect(held).toMatchObject({ outcome: 'held', from: { version: failed }, to: { version: passed } });
    expect(held?.reason).toMatch(/cool-down/);
    expect(await production(client)).toBe(failed);
    expect(stack.pages.slice(from.pages).some((p) => p.message.includes(held?.rollbackId ?? '?'))).toBe(true);
    // A redelivered DriftDetected names the same run: nothing is decided twice.
    driftDetected(stack, windowEnd);
    await stack.idle();
    expect(decisions(stack, from.events)).toHaveLength(1);
  });
});
