import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CheckInput,
  decideCheck,
  MIN_CALLS_FOR_ERROR_RATE,
  rolloutIdOf,
} from '#core/finetune/rollout.ts';

const STARTED = '2026-11-22T10:00:00.000Z';
const BAKE_UNTIL = '2026-11-22T10:30:00.000Z';
const policy = { minCalls: 50, maxErrorRate: 0.05 };

const at = (iso: string) => new Date(iso);
const input = (overrides: Partial<CheckInput> = {}): CheckInput => ({
  now: at('2026-11-22T10:31:00.000Z'),
  startedAt: STARTED,
  bakeUntil: BAKE_UNTIL,
  initial: false,
  breaches: [],
  canary: { calls: 100, errors: 1 },
  ...overrides,
});

describe('rolloutIdOf', () => {
  it('is rollout- and 16 hex digits of the SHA-256 of the package ARN, the same for the same package', () => {
    const arn = 'arn:aws:sagemaker:us-east-1:123456789012:model-package/llmops-dev-support-assistant/4';
    expect(rolloutIdOf(arn)).toMatch(/^rollout-[0-9a-f]{16}$/);
    expect(rolloutIdOf(arn)).toBe(rolloutIdOf(arn));
    expect(rolloutIdOf(`${arn}0`)).not.toBe(rolloutIdOf(arn));
  });
});

describe('decideCheck', () => {
  it('rolls back on any breach, naming the alarms', () => {
    const result = decideCheck(
      input({ breaches: ['CanaryLatency', 'CanaryErrors', 'CanaryErrors'] }),
      policy,
    );
    expect(result).toMatchObject({ decision: 'rollback', breaches: ['CanaryErrors', 'CanaryLatency'] });
    expect(result.reason).toContain('CanaryErrors, CanaryLatency');
  });

  it('rolls back when the error rate is above the limit once there are 20 calls, even during the bake', () => {
    const result = decideCheck(
      input({ now: at('2026-11-22T10:05:00.000Z'), canary: { calls: 20, errors: 2 } }),
      policy,
    );
    expect(result.decision).toBe('rollback');
    expect(result.reason).toContain('2 of 20 calls');
  });

  it('does not judge the error rate on fewer than 20 calls', () => {
    const result = decideCheck(
      input({
        now: at('2026-11-22T10:05:00.000Z'),
        canary: { calls: MIN_CALLS_FOR_ERROR_RATE - 1, errors: 10 },
      }),
      policy,
    );
    expect(result.decision).toBe('continue');
  });

  it('continues while the bake is not over', () => {
    expect(decideCheck(input({ now: at('2026-11-22T10:29:59.999Z') }), policy).decision).toBe('continue');
  });

  it('promotes once the bake is over with enough calls', () => {
    const result = decideCheck(input(), policy);
    expect(result).toMatchObject({ decision: 'promote', calls: 100, errors: 1, breaches: [] });
    expect(result.reason).toContain('1800 s');
  });

  it('extends a bake with too few calls once, to twice its length, then rolls back saying how many', () => {
    const few = { calls: 12, errors: 0 };
    const extended = decideCheck(input({ canary: few, now: at('2026-11-22T10:59:59.000Z') }), policy);
    expect(extended.decision).toBe('continue');
    expect(extended.reason).toContain('bake extended until 2026-11-22T11:00:00.000Z');
    const ended = decideCheck(input({ canary: few, now: at('2026-11-22T11:00:00.000Z') }), policy);
    expect(ended).toMatchObject({ decision: 'rollback', reason: 'too few canary calls (12 of 50)' });
    const enough = decideCheck(
      input({ canary: { calls: 50, errors: 0 }, now: at('2026-11-22T10:45:00.000Z') }),
      policy,
    );
    expect(enough.decision).toBe('promote');
  });

  it('promotes a quiet bake when no calls are required', () => {
    expect(decideCheck(input({ canary: { calls: 0, errors: 0 } }), { ...policy, minCalls: 0 }).decision).toBe(
      'promote',
    );
  });

  it('promotes a first rollout (no canary to compare) once its bake, none, is over', () => {
    const result = decideCheck(
      input({ initial: true, canary: null, bakeUntil: STARTED, now: at('2026-11-22T10:05:00.000Z') }),
      policy,
    );
    expect(result.decision).toBe('promote');
    expect(result.reason).toContain('first rollout');
  });

  it('rolls back when the canary is no longer on the served model', () => {
    expect(decideCheck(input({ canary: null }), policy).decision).toBe('rollback');
  });

  const arbitraryInput = fc.record({
    nowOffset: fc.integer({ min: -3_600_000, max: 4 * 3_600_000 }),
    bakeMs: fc.integer({ min: 0, max: 2 * 3_600_000 }),
    initial: fc.boolean(),
    breaches: fc.array(fc.constantFrom('CanaryErrors', 'CanaryLatency', 'CanaryGuardrail'), { maxLength: 3 }),
    canary: fc.option(fc.record({ calls: fc.nat({ max: 10_000 }), errors: fc.nat({ max: 10_000 }) }), {
      nil: null,
    }),
    minCalls: fc.nat({ max: 500 }),
    maxErrorRate: fc.double({ min: 0.001, max: 1, noNaN: true }),
  });
  type Generated = typeof arbitraryInput extends fc.Arbitrary<infer T> ? T : never;
  const build = (a: Generated) => {
    const started = Date.parse(STARTED);
    return {
      check: {
        now: new Date(started + a.nowOffset),
        startedAt: STARTED,
        bakeUntil: new Date(started + a.bakeMs).toISOString(),
        initial: a.initial,
        breaches: a.breaches,
        canary: a.canary,
      },
      policy: { minCalls: a.minCalls, maxErrorRate: a.maxErrorRate },
    };
  };

  it('never promotes with a breach', () => {
    fc.assert(
      fc.property(arbitraryInput, (a) => {
        fc.pre(a.breaches.length > 0);
        const { check, policy: p } = build(a);
        expect(decideCheck(check, p).decision).toBe('rollback');
      }),
    );
  });

  it('never promotes before the bake ends', () => {
    fc.assert(
      fc.property(arbitraryInput, (a) => {
        fc.pre(a.nowOffset < a.bakeMs);
        const { check, policy: p } = build(a);
        expect(decideCheck(check, p).decision).not.toBe('promote');
      }),
    );
  });

  it('never promotes a canary with fewer calls than required (a first rollout has none)', () => {
    fc.assert(
      fc.property(arbitraryInput, (a) => {
        fc.pre(!a.initial && (a.canary?.calls ?? 0) < a.minCalls);
        const { check, policy: p } = build(a);
        expect(decideCheck(check, p).decision).not.toBe('promote');
      }),
    );
  });
});
