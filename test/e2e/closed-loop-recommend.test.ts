import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forceProduction } from '#infra/local/loop-demo.ts';
import { decisions, driftDetected, PROMPT, production, type Setup, setUp } from '../support/closed-loop.ts';

/**
 * The closed loop in recommend-only mode (`-c closedLoop=recommend`), from the synthesized template: a
 * version that failed its gate is forced into production, drift is detected, the evaluation of production
 * regresses against the release it replaced, and the loop pages with the proposed rollback, moving nothing.
 */
describe('recommend: the loop pages with the proposed rollback and moves nothing', () => {
  let setup: Setup;

  beforeAll(async () => {
    setup = await setUp({ closedLoop: 'recommend' });
    await forceProduction(setup.client, PROMPT, setup.failed, 'hotfix (test)');
  }, 240_000);
  afterAll(async () => {
    await setup?.stack.stop();
  });

  it('recommends the release that passed; production stays where it was forced', async () => {
    const { stack, client, passed, failed } = setup;
    driftDetected(stack, '2026-12-05T06:00:00.000Z');
    await stack.idle();
    const [decision] = decisions(stack);
    expect(decision).toMatchObject({
      outcome: 'recommended',
      mode: 'recommend',
      from: { version: failed },
      to: { version: passed },
    });
    expect(await production(client)).toBe(failed);
    expect(stack.pages.some((p) => p.message.includes(decision?.rollbackId ?? '?'))).toBe(true);
  });
});
