import { describe, expect, it } from 'vitest';
import type { GateVerdict, RunGate } from '#core/eval/report/types.ts';
import {
  type Comparison,
  type DecisionInput,
  decide,
  destinationOf,
  type LedgerPass,
  lastPassingRun,
  type PastRollback,
  type Position,
  passedEvaluation,
} from '#core/loop/decide.ts';
import { evaluatedTargetOf, loopTargetOf, passesOf } from '#core/loop/ledger.ts';
import { evaluationCompletedEvent } from '#events/evaluation-completed.ts';
import { loadSample } from '#events/samples.ts';

const NOW = new Date('2026-12-05T00:10:00.000Z');
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString();
const SUITE = { name: 'golden', version: 2 };

function pass(version: number, runId: string, at: string, extra: Partial<LedgerPass> = {}): LedgerPass {
  return {
    target: 'rag-answer',
    position: { version },
    label: 'production',
    runId,
    trigger: 'schedule',
    suite: SUITE,
    items: { bucket: 'artifacts', key: `evaluations/${runId}/items.jsonl` },
    at,
    ...extra,
  };
}

/** A gate over the given verdicts; a failing metric dropped 0.214 against a margin of 0.061. */
function gate(verdicts: Record<string, GateVerdict>): RunGate {
  const all = Object.values(verdicts);
  return {
    pass: !all.includes('fail') && all.includes('pass'),
    metrics: Object.entries(verdicts).map(([name, verdict]) => ({
      name,
      verdict,
      diff: { value: verdict === 'fail' ? -0.214 : 0.004, n: 20, ci: [-0.3, -0.1] },
      margin: 0.061,
      reason: `${name}: ${verdict}`,
    })),
  };
}

const REGRESSED: Comparison = {
  kind: 'compared',
  runId: 'sched-4',
  gate: gate({ f1: 'fail', rouge_l: 'pass' }),
};

/** Production at version 4 regressed against its schedule run; versions 2, 3 and 4 passed before. */
function input(overrides: Partial<DecisionInput> = {}): DecisionInput {
  return {
    target: { kind: 'prompt', name: 'rag-answer', label: 'production' },
    run: { runId: 'drift-all-traffic-20261205000000', suite: SUITE, position: { version: 4 } },
    comparison: REGRESSED,
    ledger: [
      pass(2, 'sched-2', hoursAgo(72)),
      pass(3, 'promo-3', hoursAgo(48), { trigger: 'promotion', label: undefined }),
      pass(4, 'sched-4', hoursAgo(18)),
    ],
    production: { version: 4 },
    rollbacks: [],
    mode: 'act',
    coolDownHours: 6,
    now: NOW,
    ...overrides,
  };
}

const rollback = (
  from: Position,
  at: string,
  outcome: PastRollback['outcome'] = 'rolled_back',
): PastRollback => ({
  rollbackId: `rollback-${at}`,
  outcome,
  from,
  at,
});

describe('decide', () => {
  it('rolls a regression back to the version with the most recent pass other than the current one', () => {
    const decision = decide(input());
    expect(decision).toMatchObject({
      outcome: 'rolled_back',
      from: { version: 4 },
      to: { version: 3, passingRunId: 'promo-3' },
      comparedWith: 'sched-4',
      failing: [{ name: 'f1', diff: -0.214, margin: 0.061, reason: 'f1: fail' }],
      passed: false,
    });
    expect(decision.reason).toBe(
      'rag-answer@production (version 4) regressed on golden v2 against its last passing run sched-4: ' +
        'f1 -0.214 beyond the margin 0.061; rolled back to version 3 (passed promo-3)',
    );
    expect(decision.reason).not.toContain('\n');
  });

  it('never goes back to a version without a pass: with only the current version passing, it is held', () => {
    const decision = decide(input({ ledger: [pass(4, 'sched-4', hoursAgo(18))] }));
    expect(decision).toMatchObject({ outcome: 'held', to: null });
    expect(decision.reason).toContain('held: no other version has passed an evaluation to go back to');
    // Versions 1..3 exist in the registry, but only a pass makes a destination: version 2 here.
    const only2 = decide(
      input({ ledger: [pass(2, 'sched-2', hoursAgo(72)), pass(4, 'sched-4', hoursAgo(18))] }),
    );
    expect(only2).toMatchObject({ outcome: 'rolled_back', to: { version: 2, passingRunId: 'sched-2' } });
  });

  it('holds a second automatic rollback of the target within the cool-down, and names where it would go', () => {
    const decision = decide(input({ rollbacks: [rollback({ version: 5 }, hoursAgo(2))] }));
    expect(decision).toMatchObject({ outcome: 'held', to: { version: 3, passingRunId: 'promo-3' } });
    expect(decision.reason).toContain('within the cool-down of 6 h');
    // Past the cool-down it acts again; a held or recommended decision is no automatic rollback.
    expect(decide(input({ rollbacks: [rollback({ version: 5 }, hoursAgo(7))] })).outcome).toBe('rolled_back');
    expect(decide(input({ rollbacks: [rollback({ version: 5 }, hoursAgo(1), 'held')] })).outcome).toBe(
      'rolled_back',
    );
    expect(decide(input({ rollbacks: [rollback({ version: 5 }, hoursAgo(1), 'recommended')] })).outcome).toBe(
      'rolled_back',
    );
  });

  it('only recommends in recommend mode, with the destination, whatever the cool-down', () => {
    const decision = decide(input({ mode: 'recommend', rollbacks: [rollback({ version: 5 }, hoursAgo(1))] }));
    expect(decision).toMatchObject({ outcome: 'recommended', to: { version: 3, passingRunId: 'promo-3' } });
    expect(decision.reason).toContain('recommend mode: nothing was moved');
  });

  it('decides nothing when there is nothing comparable, and says why', () => {
    const decision = decide(
      input({
        comparison: { kind: 'none', reason: 'no passing run of production on golden v2 to compare with' },
      }),
    );
    expect(decision).toEqual({
      outcome: 'none',
      reason: 'no passing run of production on golden v2 to compare with',
      passed: false,
    });
  });

  it('is none and a pass without a regression; none and no pass when the comparison decided nothing', () => {
    const fine = decide(
      input({ comparison: { kind: 'compared', runId: 'sched-4', gate: gate({ f1: 'pass' }) } }),
    );
    expect(fine).toMatchObject({ outcome: 'none', passed: true });
    expect(fine.reason).toContain('did not regress on golden v2 against sched-4');
    const undecided = decide(
      input({ comparison: { kind: 'compared', runId: 'sched-4', gate: gate({ f1: 'insufficient' }) } }),
    );
    expect(undecided).toMatchObject({ outcome: 'none', passed: false });
    expect(undecided.reason).toContain('decided no metric');
  });

  it('holds when production moved since the run, or its label is gone, and proposes nowhere to go', () => {
    const moved = decide(input({ production: { version: 5 } }));
    expect(moved).toMatchObject({ outcome: 'held', to: null, from: { version: 4 } });
    expect(moved.reason).toContain('production moved to version 5 since the run');
    const gone = decide(input({ production: null }));
    expect(gone).toMatchObject({ outcome: 'held', to: null });
    expect(gone.reason).toContain('rag-answer@production no longer exists');
  });

  it('never goes back to a version that regressed since its last pass; one that passed again may be', () => {
    // Version 3 was rolled away from an hour after its pass: version 2 is the destination.
    const regressed3 = [rollback({ version: 3 }, hoursAgo(30))];
    expect(decide(input({ rollbacks: regressed3 }))).toMatchObject({
      outcome: 'rolled_back',
      to: { version: 2, passingRunId: 'sched-2' },
    });
    // It passed again afterwards: it is a destination again.
    const ledger = [...input().ledger, pass(3, 'promo-3b', hoursAgo(20), { trigger: 'promotion' })];
    expect(decide(input({ rollbacks: regressed3, ledger }))).toMatchObject({
      to: { version: 3, passingRunId: 'promo-3b' },
    });
  });

  it('only recommends for a model that is no served line, with the last model that passed, and says why', () => {
    const decision = decide(
      input({
        target: { kind: 'model', id: 'nova-lite' },
        run: { runId: 'drift-x-1', suite: SUITE, position: { model: 'nova-lite' } },
        production: { model: 'nova-lite' },
        ledger: [
          pass(0, 'sched-lite', hoursAgo(20), {
            target: 'model:nova-lite',
            position: { model: 'nova-lite' },
            label: undefined,
          }),
          pass(0, 'sched-micro', hoursAgo(40), {
            target: 'model:nova-lite',
            position: { model: 'nova-micro' },
          }),
        ],
        unroutable: 'model nova-lite is not a served line of fine-tuned models (no inference component)',
      }),
    );
    expect(decision).toMatchObject({
      outcome: 'recommended',
      from: { model: 'nova-lite' },
      to: { model: 'nova-micro', passingRunId: 'sched-micro' },
    });
    expect(decision.reason).toContain(
      'recommended: route model nova-lite back to model nova-micro (passed sched-micro); nothing was moved: model nova-lite is not a served line',
    );
  });
});

describe('decide, for a served line of fine-tuned models', () => {
  const LINE = 'model:tuned-assistant';
  /** The line serves v3 since two days; v2 and v1 served it before; v4 passed its gate, never deployed. */
  const lineInput = (
    line: Partial<NonNullable<DecisionInput['line']>> = {},
    overrides: Partial<DecisionInput> = {},
  ): DecisionInput =>
    input({
      target: { kind: 'model', id: 'tuned-assistant' },
      run: { runId: 'drift-x-1', suite: SUITE, position: { model: 'tuned-assistant' } },
      production: { model: 'tuned-assistant-v3' },
      ledger: [
        pass(0, 'sched-line', hoursAgo(20), { target: LINE, position: { model: 'tuned-assistant' } }),
        pass(0, 'candidate-j1', hoursAgo(200), { target: LINE, position: { model: 'tuned-assistant-v1' } }),
        pass(0, 'candidate-j2', hoursAgo(120), { target: LINE, position: { model: 'tuned-assistant-v2' } }),
        pass(0, 'candidate-j3', hoursAgo(60), { target: LINE, position: { model: 'tuned-assistant-v3' } }),
        pass(0, 'candidate-j4', hoursAgo(10), { target: LINE, position: { model: 'tuned-assistant-v4' } }),
      ],
      line: {
        serving: 'tuned-assistant-v3',
        servingSince: hoursAgo(48),
        deployed: ['tuned-assistant-v2', 'tuned-assistant-v1'],
        rollout: null,
        ...line,
      },
      driftAt: hoursAgo(1),
      ...overrides,
    });

  it('rolls the model the line routes to back to the last model deployed on it that passed, never to one not deployed', () => {
    const decision = decide(lineInput());
    expect(decision).toMatchObject({
      outcome: 'rolled_back',
      from: { model: 'tuned-assistant-v3' },
      to: { model: 'tuned-assistant-v2', passingRunId: 'candidate-j2' },
    });
    expect(decision.reason).toBe(
      'model tuned-assistant (model tuned-assistant-v3) regressed on golden v2 against its last passing run sched-4: ' +
        'f1 -0.214 beyond the margin 0.061; rolled back to model tuned-assistant-v2 (passed candidate-j2)',
    );
  });

  it('skips a deployed model that regressed since its last pass, and holds when none is left', () => {
    const regressed2 = [rollback({ model: 'tuned-assistant-v2' }, hoursAgo(30), 'held')];
    expect(decide(lineInput({}, { rollbacks: regressed2 }))).toMatchObject({
      outcome: 'rolled_back',
      to: { model: 'tuned-assistant-v1', passingRunId: 'candidate-j1' },
    });
    const nothing = decide(lineInput({ deployed: [] }));
    expect(nothing).toMatchObject({ outcome: 'held', to: null });
    expect(nothing.reason).toContain(
      'held: no model tuned-assistant routed to before has passed an evaluation to go back to',
    );
  });

  it('holds while a rollout of the line is in progress, and when the line switched models after the drift', () => {
    const rolling = decide(lineInput({ rollout: 'rollout-0123456789abcdef' }));
    expect(rolling).toMatchObject({ outcome: 'held', to: null });
    expect(rolling.reason).toContain(
      'held: rollout rollout-0123456789abcdef of model tuned-assistant is in progress',
    );
    const switched = decide(lineInput({ servingSince: hoursAgo(0.5) }));
    expect(switched).toMatchObject({ outcome: 'held', to: null });
    expect(switched.reason).toContain(
      `held: model tuned-assistant moved to model tuned-assistant-v3 at ${hoursAgo(0.5)}, after the drift (window ending ${hoursAgo(1)})`,
    );
    // Without the drift's evidence, the switch time cannot be compared: it acts.
    expect(decide(lineInput({ servingSince: hoursAgo(0.5) }, { driftAt: undefined })).outcome).toBe(
      'rolled_back',
    );
  });

  it('recommends in recommend mode, and holds within the cool-down, like a prompt', () => {
    const recommended = decide(lineInput({}, { mode: 'recommend' }));
    expect(recommended).toMatchObject({ outcome: 'recommended', to: { model: 'tuned-assistant-v2' } });
    expect(recommended.reason).toContain(
      'recommended: route model tuned-assistant back to model tuned-assistant-v2 (passed candidate-j2) (recommend mode: nothing was moved)',
    );
    const cooling = decide(
      lineInput({}, { rollbacks: [rollback({ model: 'tuned-assistant-v4' }, hoursAgo(2))] }),
    );
    expect(cooling).toMatchObject({ outcome: 'held', to: { model: 'tuned-assistant-v2' } });
    expect(cooling.reason).toContain('within the cool-down of 6 h');
  });
});

describe('what a pass is', () => {
  it('pass === true, or pass === null without a regression; a drift run only by the loop itself', () => {
    expect(passedEvaluation({ trigger: 'promotion', pass: true, regression: false })).toBe(true);
    expect(passedEvaluation({ trigger: 'promotion', pass: false, regression: false })).toBe(false);
    expect(passedEvaluation({ trigger: 'schedule', pass: null, regression: false })).toBe(true);
    expect(passedEvaluation({ trigger: 'schedule', pass: null, regression: true })).toBe(false);
    expect(passedEvaluation({ trigger: 'api', pass: null, regression: false })).toBe(true);
    expect(passedEvaluation({ trigger: 'model', pass: true, regression: false })).toBe(true);
    expect(passedEvaluation({ trigger: 'drift', pass: null, regression: false })).toBe(false);
  });
});

describe('production’s last passing run', () => {
  const query = {
    target: 'rag-answer',
    suite: SUITE,
    position: { version: 4 } as Position,
    label: 'production',
    exceptRunId: 'drift-1',
  };

  it('is the newest pass on the same suite version, of the same version or asked for by the label', () => {
    const ledger = [
      pass(3, 'sched-3', hoursAgo(40)),
      pass(4, 'promo-4', hoursAgo(30), { trigger: 'promotion', label: undefined }),
      pass(4, 'other-suite', hoursAgo(5), { suite: { name: 'golden', version: 1 } }),
      pass(5, 'promo-5', hoursAgo(4), { trigger: 'promotion', label: undefined }),
      pass(4, 'drift-1', hoursAgo(1)),
    ];
    expect(lastPassingRun(ledger, query)?.runId).toBe('promo-4');
    expect(lastPassingRun([pass(3, 'sched-3', hoursAgo(40))], query)?.runId).toBe('sched-3');
    expect(lastPassingRun([pass(4, 'x', hoursAgo(3), { withModel: 'nova-lite' })], query)).toBeUndefined();
    expect(lastPassingRun([], query)).toBeUndefined();
  });

  it('a destination is found across suites, newest first', () => {
    const ledger = [
      pass(2, 'a', hoursAgo(10), { suite: { name: 'other', version: 7 } }),
      pass(3, 'b', hoursAgo(20)),
    ];
    expect(destinationOf('rag-answer', { version: 4 }, ledger, [])).toEqual({
      version: 2,
      passingRunId: 'a',
    });
    expect(destinationOf('rag-answer', { version: 2 }, ledger, [])).toEqual({
      version: 3,
      passingRunId: 'b',
    });
    expect(destinationOf('other-prompt', { version: 4 }, ledger, [])).toBeUndefined();
  });
});

describe('reading a completed run', () => {
  const sample = loadSample('evaluation-completed', evaluationCompletedEvent).detail;

  it('the target asked for: a label (a bare name is production), or a model; never a pinned version', () => {
    expect(loopTargetOf({ prompt: 'rag-answer@production' })).toEqual({
      kind: 'prompt',
      name: 'rag-answer',
      label: 'production',
    });
    expect(loopTargetOf({ prompt: 'rag-answer' })).toMatchObject({ label: 'production' });
    expect(loopTargetOf({ prompt: 'rag-answer:4' })).toBeUndefined();
    expect(loopTargetOf({ prompt: 'Not A Ref!' })).toBeUndefined();
    expect(loopTargetOf({ model: 'nova-lite' })).toEqual({ kind: 'model', id: 'nova-lite' });
  });

  it('what was evaluated: the resolved version, the label asked for and the model beside it', () => {
    expect(
      evaluatedTargetOf({
        target: { prompt: 'rag-answer:4', model: 'nova-lite' },
        requested: { prompt: 'rag-answer@production', model: 'nova-lite' },
      }),
    ).toEqual({ key: 'rag-answer', position: { version: 4 }, label: 'production', withModel: 'nova-lite' });
    expect(evaluatedTargetOf({ target: { model: 'nova-lite' } })).toEqual({
      key: 'model:nova-lite',
      position: { model: 'nova-lite' },
    });
  });

  it('a fine-tuned candidate that passed is a pass of its own and of the line it was gated against', () => {
    const candidate = {
      ...sample,
      runId: 'candidate-job-7',
      trigger: 'model' as const,
      target: { model: 'tuned-assistant-v7' },
      requested: { model: 'tuned-assistant-v7' },
      baseline: { model: 'tuned-assistant' },
      pass: true,
    };
    const passes = passesOf(candidate, '2026-12-01T00:00:00.000Z');
    expect(passes.map((p) => [p.target, p.position])).toEqual([
      ['model:tuned-assistant-v7', { model: 'tuned-assistant-v7' }],
      ['model:tuned-assistant', { model: 'tuned-assistant-v7' }],
    ]);
    expect(passes[0]).toMatchObject({
      runId: 'candidate-job-7',
      suite: { name: 'support-qa', version: 3 },
      items: { bucket: sample.report.bucket, key: sample.report.items },
    });
    // A promotion's candidate version is a pass of the prompt, with no label (it was asked for by version).
    const promotion = passesOf(
      {
        ...sample,
        trigger: 'promotion',
        target: { prompt: 'support:2' },
        requested: { prompt: 'support:2' },
        baseline: { prompt: 'support:1' },
      },
      '2026-12-01T00:00:00.000Z',
    );
    expect(promotion).toEqual([expect.objectContaining({ target: 'support', position: { version: 2 } })]);
    expect(promotion[0]?.label).toBeUndefined();
  });
});
