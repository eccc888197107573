/**
 * The closed loop's decision, with no I/O: a drift alarm started an evaluation of production
 * (`llmops.EvaluationRequested {trigger: 'drift'}`), the run is compared with production's last passing
 * run, and a regression moves production back to a version that passed (or proposes to).
 *
 * **Passing.** The loop keeps a ledger of passes per target (a prompt, or `model:<id>`). A run passes
 * when it succeeded (every `llmops.EvaluationCompleted` is a succeeded run) and:
 * - `pass === true` (its gate against a baseline passed: a promotion's candidate version, a fine-tuned
 *   candidate model), or `pass === null` and `regression === false` (a schedule that did not regress
 *   against the previous run, an API run without a baseline) — {@link passedEvaluation};
 * - for a drift run: the loop's own comparison with production's last passing run decided at least one
 *   metric and found no regression. A drift run with nothing to compare with, or whose comparison decided
 *   nothing, is no pass (and no regression).
 *
 * **The comparison** ({@link lastPassingRun}): the newest pass of the same target on the same suite name
 * and version (so that the runs pair up by item id) that evaluated what production is now (the same
 * version or model) or was asked for by the same label (`production`), with the same model beside the
 * prompt. None, or no shared item: the decision is `none`, with the reason.
 *
 * **The rules**, in order, once the comparison regressed (a metric dropped beyond the gate's
 * non-inferiority margin, `regressed` in `../eval/regression.ts`):
 * 1. production moved since the run (the label points elsewhere, or is gone) → `held`: what regressed is
 *    no longer production, and the loop never moves what a person moved;
 * 2. no destination → `held`. The destination ({@link destinationOf}) is the position (version or model)
 *    with the most recent pass, other than the one that regressed, and other than any that regressed
 *    since its last pass (a position the loop found regressing counts again only once it passes again).
 *    **A rollback never moves to a position without a pass**; on a served line, only a model deployed
 *    on the line before (its rollout history) may be the destination;
 * 3. a model target that is not a served line ({@link ServedLine}: a catalog entry whose routing a
 *    rollout set) → `recommended`: there is no routing the loop can move back; it names the model;
 * 4. `recommend` mode → `recommended`: nothing is moved;
 * 5. an automatic rollback of the same target within the cool-down → `held` (**one automatic rollback per
 *    target per cool-down**: a second regression so soon says the cause is elsewhere, and a person looks);
 * 6. otherwise → `rolled_back` to the destination.
 * Every outcome but `none` pages (`llmops.RolledBack`) and is kept as the target's audit, and its `from`
 * counts as a regression of that position for rule 2 from then on.
 *
 * **A served line** (the fine-tuned models' catalog entry, `tuned-assistant`) is evaluated by its id, but
 * what regressed is the model it routes to (`tuned-assistant-v2`, the candidate its last rollout
 * deployed): that is the rollback's `from`, and the destination is a model deployed on the line before.
 * Rule 1 holds the rollback while a rollout of the line is in progress (a canary), or when the line
 * switched models after the drift was measured.
 */
import type { EvaluationCompletedDetail } from '#events/evaluation-completed.ts';
import type { RolledBackDetail } from '#events/rolled-back.ts';
import { regressed } from '../eval/regression.ts';
import type { RunGate } from '../eval/report/types.ts';

/** What the loop can move: a prompt's label, or the model a catalog entry routes to. */
export type LoopTarget =
  | { readonly kind: 'prompt'; readonly name: string; readonly label: string }
  | { readonly kind: 'model'; readonly id: string };

/** A position of a target: a prompt version, or a model. */
export type Position =
  | { readonly version: number; readonly model?: undefined }
  | { readonly model: string; readonly version?: undefined };

/** Where a rollback goes: a position and the run it passed. */
export type Destination = Position & { readonly passingRunId: string };

/** One pass in the ledger of a target. */
export interface LedgerPass {
  /** The ledger's key: the prompt's name, or `model:<id>` ({@link targetKey}). */
  readonly target: string;
  /** What passed: the prompt version (a prompt's ledger) or the model (a model's ledger). */
  readonly position: Position;
  /** The label the run was asked for by (`production`), when it was asked for by a label. */
  readonly label?: string;
  /** A prompt's run that named a model too: that model (its passes compare only with runs of it). */
  readonly withModel?: string;
  readonly runId: string;
  readonly trigger: EvaluationCompletedDetail['trigger'];
  readonly suite: { readonly name: string; readonly version: number };
  /** The run's `items.jsonl` (one `{id, scores}` per item): what a later comparison pairs with. */
  readonly items: { readonly bucket: string; readonly key: string };
  /** When the run was reported (ISO). */
  readonly at: string;
}

/** What the loop reads of its past decisions on the target (its audit: the `llmops.RolledBack` details). */
export type PastRollback = Pick<RolledBackDetail, 'rollbackId' | 'outcome' | 'from' | 'at'>;

/** The comparison of the drift run with production's last passing run. */
export type Comparison =
  | { readonly kind: 'compared'; readonly runId: string; readonly gate: RunGate }
  | { readonly kind: 'none'; readonly reason: string };

export interface DecisionInput {
  readonly target: LoopTarget;
  /** The drift run: what it evaluated (the version the label pointed at, or the model) on which suite. */
  readonly run: {
    readonly runId: string;
    readonly suite: { readonly name: string; readonly version: number };
    readonly position: Position;
  };
  readonly comparison: Comparison;
  /** The target's passes (any order). */
  readonly ledger: readonly LedgerPass[];
  /** Where production is now: the label's version (a prompt), the model (a model); null: the label is gone. */
  readonly production: Position | null;
  /** The target's past decisions (any order). */
  readonly rollbacks: readonly PastRollback[];
  readonly mode: 'act' | 'recommend';
  readonly coolDownHours: number;
  readonly now: Date;
  /**
   * A model target that is a served line: what it routes to now and what was deployed on it before.
   * Absent for a prompt, and for a model the loop cannot route back (`unroutable` says why).
   */
  readonly line?: ServedLine;
  /** Why a model target is no served line the loop can route back (its decision is a recommendation). */
  readonly unroutable?: string;
  /** When the drift that started the run was measured (its window's end, ISO), when known. */
  readonly driftAt?: string;
}

/**
 * A served line: a catalog entry of fine-tuned models whose routing (the inference component it calls)
 * the fine-tuning rollouts set, one deployed model after another.
 */
export interface ServedLine {
  /** The model the line routes to now (the candidate its last rollout deployed). */
  readonly serving: string;
  /** When the line started routing to it (ISO). */
  readonly servingSince: string;
  /** The models the line routed to before, newest first: the only models a rollback may go back to. */
  readonly deployed: readonly string[];
  /** The rollout in progress on the line (its canary), or null. */
  readonly rollout: string | null;
}

/** A metric that regressed, as the `llmops.RolledBack` evidence carries it. */
export interface FailingMetric {
  readonly name: string;
  /** Drift run minus the compared run (paired); null when not finite. */
  readonly diff: number | null;
  readonly margin: number;
  readonly reason: string;
}

export type RollbackOutcome = RolledBackDetail['outcome'];

export type LoopDecision =
  | {
      readonly outcome: 'none';
      readonly reason: string;
      /** The drift run passed the comparison: it is recorded in the ledger. */
      readonly passed: boolean;
    }
  | {
      readonly outcome: RollbackOutcome;
      readonly reason: string;
      readonly passed: false;
      /** The regression, in one sentence (the reason begins with it). */
      readonly regression: string;
      /** What regressed (production's position at the run). */
      readonly from: Position;
      /** Where production goes (or would go); null when there is nowhere to go. */
      readonly to: Destination | null;
      /** The last passing run the drift run was compared with. */
      readonly comparedWith: string;
      readonly failing: readonly FailingMetric[];
    };

const HOUR_MS = 3_600_000;

/** The ledger key of a target: the prompt's name, or `model:<id>`. */
export function targetKey(target: LoopTarget): string {
  return target.kind === 'prompt' ? target.name : `model:${target.id}`;
}

/** Whether two positions are the same (an event's position, whose fields are all optional, included). */
export function samePosition(
  a: { readonly version?: number | undefined; readonly model?: string | undefined },
  b: { readonly version?: number | undefined; readonly model?: string | undefined },
): boolean {
  return a.version === b.version && a.model === b.model;
}

/** `version 4`, `model nova-lite`. */
export function describePosition(position: Position): string {
  return position.version !== undefined ? `version ${position.version}` : `model ${position.model}`;
}

/** `rag-answer@production`, `model nova-lite`. */
export function describeTarget(target: LoopTarget): string {
  return target.kind === 'prompt' ? `${target.name}@${target.label}` : `model ${target.id}`;
}

/**
 * Whether a run that was not started by drift passed (see the module comment): `pass === true`, or
 * `pass === null` and no regression. A drift run passes only by the loop's own comparison: false here.
 */
export function passedEvaluation(
  detail: Pick<EvaluationCompletedDetail, 'trigger' | 'pass' | 'regression'>,
): boolean {
  if (detail.trigger === 'drift') return false;
  return detail.pass === true || (detail.pass === null && !detail.regression);
}

const time = (iso: string): number => {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
};

const newestFirst = <T extends { readonly at: string }>(items: readonly T[]): T[] =>
  [...items].sort((a, b) => time(b.at) - time(a.at));

/**
 * Production's last passing run on a suite version: the newest pass of the target on the same suite
 * name and version, of the same position, of a position production held before (`heldBefore`: the
 * label's history, so that a version forced past its gate is compared with the release it replaced),
 * or asked for by the same label, with the same model beside the prompt; never the run itself.
 */
export function lastPassingRun(
  ledger: readonly LedgerPass[],
  query: {
    readonly target: string;
    readonly suite: { readonly name: string; readonly version: number };
    readonly position: Position;
    readonly label?: string;
    readonly withModel?: string;
    readonly exceptRunId: string;
    /** Positions the label pointed at before (its history), oldest or newest: order does not matter. */
    readonly heldBefore?: readonly Position[];
  },
): LedgerPass | undefined {
  return newestFirst(
    ledger.filter(
      (pass) =>
        pass.target === query.target &&
        pass.runId !== query.exceptRunId &&
        pass.suite.name === query.suite.name &&
        pass.suite.version === query.suite.version &&
        pass.withModel === query.withModel &&
        (samePosition(pass.position, query.position) ||
          (query.heldBefore ?? []).some((held) => samePosition(pass.position, held)) ||
          (query.label !== undefined && pass.label === query.label)),
    ),
  )[0];
}

/**
 * Where a rollback of `target` away from `from` may go: the position with the most recent pass, other
 * than `from`, and other than a position whose latest regression (a past decision's `from`) is not older
 * than its latest pass. Undefined when there is none.
 */
export function destinationOf(
  target: string,
  from: Position,
  ledger: readonly LedgerPass[],
  rollbacks: readonly PastRollback[],
): Destination | undefined {
  const regressedAt = (position: Position): number =>
    Math.max(
      Number.NEGATIVE_INFINITY,
      ...rollbacks.filter((r) => samePosition(r.from, position)).map((r) => time(r.at)),
    );
  const pass = newestFirst(ledger).find(
    (p) => p.target === target && !samePosition(p.position, from) && time(p.at) > regressedAt(p.position),
  );
  if (pass === undefined) return undefined;
  return { ...pass.position, passingRunId: pass.runId };
}

/** The failing metrics of a comparison, with numbers that survive JSON. */
export function failingMetrics(gate: RunGate): FailingMetric[] {
  return gate.metrics
    .filter((m) => m.verdict === 'fail')
    .map((m) => ({
      name: m.name,
      diff: Number.isFinite(m.diff.value) ? m.diff.value : null,
      margin: Number.isFinite(m.margin) ? m.margin : 0,
      reason: m.reason,
    }));
}

const signed = (x: number): string => (x >= 0 ? `+${x.toFixed(3)}` : x.toFixed(3));

function describeFailing(failing: readonly FailingMetric[]): string {
  return failing
    .map((f) =>
      f.diff === null
        ? `${f.name} failed on more items than allowed`
        : `${f.name} ${signed(f.diff)} beyond the margin ${f.margin.toFixed(3)}`,
    )
    .join(', ');
}

function describeDestination(to: Destination): string {
  return `${describePosition(to)} (passed ${to.passingRunId})`;
}

/**
 * Why a rollback is held when production is no longer what the run evaluated (rule 1): also what a move
 * that finds the label moved at the last moment records instead of moving it.
 */
export function productionMoved(target: LoopTarget, production: Position | null): string {
  return production === null
    ? `held: ${describeTarget(target)} no longer exists, nothing to move back`
    : `held: production moved to ${describePosition(production)} since the run, and the loop never moves what it did not evaluate`;
}

/** The decision of the closed loop on a drift run (see the module comment for the rules). */
export function decide(input: DecisionInput): LoopDecision {
  const { target, run, comparison } = input;
  const suite = `${run.suite.name} v${run.suite.version}`;
  if (comparison.kind === 'none') {
    return { outcome: 'none', reason: comparison.reason, passed: false };
  }
  const gate = comparison.gate;
  if (!regressed(gate)) {
    return gate.pass
      ? {
          outcome: 'none',
          reason: `${describeTarget(target)} (${describePosition(run.position)}) did not regress on ${suite} against ${comparison.runId}`,
          passed: true,
        }
      : {
          outcome: 'none',
          reason: `the comparison with ${comparison.runId} on ${suite} decided no metric (too few paired items, or only uncalibrated judges): neither a regression nor a pass`,
          passed: false,
        };
  }

  const line = target.kind === 'model' ? input.line : undefined;
  // What regressed: production at the run (a served line: the model it routes to).
  const from: Position = line !== undefined ? { model: line.serving } : run.position;
  const failing = failingMetrics(gate);
  const regression =
    `${describeTarget(target)} (${describePosition(from)}) regressed on ${suite} against its last passing ` +
    `run ${comparison.runId}: ${describeFailing(failing)}`;
  const rollback = (outcome: RollbackOutcome, to: Destination | null, why: string): LoopDecision => ({
    outcome,
    reason: `${regression}; ${why}`,
    passed: false,
    regression,
    from,
    to,
    comparedWith: comparison.runId,
    failing,
  });

  // 1. What regressed must still be production.
  if (line !== undefined) {
    const moved = lineMoved(target, line, input.driftAt);
    if (moved !== undefined) return rollback('held', null, moved);
  } else if (input.production === null || !samePosition(input.production, from)) {
    return rollback('held', null, productionMoved(target, input.production));
  }
  // 2. Never to a position without a pass (on a served line: never to a model not deployed on it).
  const candidates =
    line === undefined
      ? input.ledger
      : input.ledger.filter(
          (p) => p.position.model !== undefined && line.deployed.includes(p.position.model),
        );
  const to = destinationOf(targetKey(target), from, candidates, input.rollbacks);
  if (to === undefined) {
    return rollback(
      'held',
      null,
      line === undefined
        ? `held: no other ${target.kind === 'model' ? 'model' : 'version'} has passed an evaluation to go back to`
        : `held: no model ${target.kind === 'model' ? target.id : target.name} routed to before has passed an evaluation to go back to`,
    );
  }
  // 3. A model that is no served line has no routing to move back.
  if (target.kind === 'model' && line === undefined) {
    return rollback(
      'recommended',
      to,
      `recommended: route ${describeTarget(target)} back to ${describeDestination(to)}; nothing was moved: ${input.unroutable ?? 'it is not a served line of fine-tuned models'}`,
    );
  }
  // 4. Recommend mode moves nothing.
  if (input.mode === 'recommend') {
    return rollback(
      'recommended',
      to,
      target.kind === 'prompt'
        ? `recommended: move ${target.label} back to ${describeDestination(to)} (recommend mode: nothing was moved)`
        : `recommended: route ${describeTarget(target)} back to ${describeDestination(to)} (recommend mode: nothing was moved)`,
    );
  }
  // 5. One automatic rollback per target per cool-down.
  const coolDownMs = input.coolDownHours * HOUR_MS;
  const recent = newestFirst(input.rollbacks).find(
    (r) => r.outcome === 'rolled_back' && input.now.getTime() - time(r.at) < coolDownMs,
  );
  if (recent !== undefined) {
    return rollback(
      'held',
      to,
      `held: ${describeTarget(target)} was rolled back automatically at ${recent.at} (${recent.rollbackId}), within the cool-down of ${input.coolDownHours} h; it would go back to ${describeDestination(to)}`,
    );
  }
  // 6. Move production back.
  return rollback('rolled_back', to, `rolled back to ${describeDestination(to)}`);
}

/**
 * Why a rollback of a served line is held because the line is not where the run found it (rule 1): a
 * rollout is in progress on it, or it switched models after the drift was measured. Undefined: it is not.
 */
export function lineMoved(
  target: LoopTarget,
  line: ServedLine,
  driftAt: string | undefined,
): string | undefined {
  if (line.rollout !== null) {
    return `held: rollout ${line.rollout} of ${describeTarget(target)} is in progress, and the loop never moves a line during a rollout`;
  }
  if (driftAt !== undefined && time(line.servingSince) > time(driftAt)) {
    return `held: ${describeTarget(target)} moved to model ${line.serving} at ${line.servingSince}, after the drift (window ending ${driftAt}), and the loop never moves what it did not evaluate`;
  }
  return undefined;
}
