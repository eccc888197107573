import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import * as zm from 'zod/mini';
import { createDocumentClient, createEventBridgeClient, createS3Client } from '#aws/clients.ts';
import { parseJsonVariable, readConfig } from '#aws/config.ts';
import { ConfigError, InvalidEventError, NotFoundError } from '#aws/errors.ts';
import { RUN_METRICS } from '#aws/eval/batch-metrics.ts';
import { readRunItems, readRunMetrics } from '#aws/eval/run-items.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { createSageMakerClient } from '#aws/finetune/model-registry.ts';
import { DynamoRolloutCatalog, DynamoRolloutStore } from '#aws/finetune/rollout-store.ts';
import { SageMakerServing } from '#aws/finetune/serving.ts';
import {
  type DecisionRecord,
  DRIFT_EVIDENCE_DAYS,
  DynamoLoopStore,
  type LoopStore,
} from '#aws/loop/loop-store.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import { envVar } from '#contracts/env.ts';
import { driftRunId } from '#core/drift/run-id.ts';
import { regressionGate } from '#core/eval/regression.ts';
import {
  type Comparison,
  decide,
  describePosition,
  describeTarget,
  type LedgerPass,
  type LoopDecision,
  type LoopTarget,
  lastPassingRun,
  type Position,
  passedEvaluation,
  productionMoved,
  type ServedLine,
  targetKey,
} from '#core/loop/decide.ts';
import {
  type EvaluatedTarget,
  evaluatedTargetOf,
  loopTargetOf,
  passesOf,
  passOf,
} from '#core/loop/ledger.ts';
import { DRIFT_DETECTED, driftDetectedEvent } from '#events/drift-detected.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import {
  EVALUATION_COMPLETED,
  type EvaluationCompletedDetail,
  evaluationCompletedEvent,
} from '#events/evaluation-completed.ts';
import { ROLLED_BACK, type RolledBackDetail, rolledBackDetail } from '#events/rolled-back.ts';
import { type LoopRouting, routeBack, servedLine } from './model-routing.ts';

/**
 * The closed loop: a drift alarm → an evaluation of production → a rollback (or a recommendation),
 * audited and paged. One function, two detail types (dispatched by `detail-type`, each parsed with its
 * schema):
 *
 * - `llmops.DriftDetected`: keeps the drift's evidence (alarm, check, signal, value, window end, test)
 *   under the run id StartEvaluation gives the evaluation it starts (`driftRunId`), for 30 days.
 * - `llmops.EvaluationCompleted`: every run that passed goes into the pass ledger of what it evaluated
 *   (schedules, promotions, API runs, fine-tuned candidates; `passedEvaluation` and `passesOf` in the
 *   core). A drift run that asked for a prompt's label (`rag-answer@production`) or a model is compared
 *   with production's last passing run on the same suite version (both runs' `items.jsonl`, paired by
 *   item id, the gate's non-inferiority margin: `regressionGate`), and decided once (`decide` in the
 *   core, whose header gives the rules): `none`, or a rollback decision `rolled_back`, `recommended` or
 *   `held`. In `act` mode a prompt's label is moved back to the destination (`moveLabel`, author
 *   `closed-loop`, the decision's reason kept in the label history), after checking that the label still
 *   points at the version evaluated. A served line of fine-tuned models (`tuned-assistant`) is routed
 *   back to the last model deployed on it that passed an evaluation (`routeBack` in `./model-routing.ts`:
 *   the rollout's own conditional catalog writes under the line's rollout lock, after SageMaker confirms
 *   that the destination's component serves its package's adapter); its regression is of the model the
 *   line routes to, and it is compared with that model's passes too (its gate run). A model that is no
 *   served line (a Bedrock model) has no routing to move: it is `recommended` with the last model that
 *   passed, and its reason says why nothing moved. Every outcome but `none` is recorded as the target's
 *   audit and announced as `llmops.RolledBack` (a rule pages on-call with it), with the drift's evidence
 *   and the comparison metric by metric. A drift run that did not regress is a pass; one with nothing to compare with is not.
 *
 * Delivery is at least once: the decision on a run is claimed once (a conditional put) before anything
 * is carried out, and a redelivery carries out what is left of the decision made first (a label already
 * at the destination is not moved again; the audit and the ledger are conditional puts), never deciding
 * again. Metrics: `ClosedLoopDecisions` by `Outcome` (`rolled_back`, `recommended`, `held`, `none`), and
 * `ClosedLoopRollbacks` (1 when production was moved, else 0).
 */
export interface LoopDeps {
  readonly store: LoopStore;
  readonly prompts: Pick<PromptRegistry, 'get' | 'moveLabel' | 'labelHistory'>;
  readonly s3: S3Client;
  /** The bucket the evaluation reports are in: the only one the loop reads. */
  readonly artifactsBucket: string;
  readonly events: EventBridgeClient;
  readonly busName: string;
  readonly settings: ClosedLoopSettings;
  /**
   * The served lines' catalog entries, rollout table and SageMaker (fine-tuning deployed): what a line
   * routes to and the move back. @default none: a model's regression is only recommended
   */
  readonly routing?: LoopRouting;
  readonly now?: () => Date;
}

/** `CLOSED_LOOP`: the mode and the cool-down, as synthesized from `closedLoop`. */
export const closedLoopSettings = zm.object({
  mode: zm.enum(['act', 'recommend']),
  coolDownHours: zm.number().check(zm.positive()),
});
export type ClosedLoopSettings = zm.infer<typeof closedLoopSettings>;

/** The author of the loop's label moves, in the label history. */
export const LOOP_AUTHOR = 'closed-loop';

export type LoopResult =
  | { readonly kind: 'evidence'; readonly runId: string; readonly stored: 'created' | 'exists' }
  | { readonly kind: 'ledger'; readonly runId: string; readonly recorded: readonly string[] }
  | {
      readonly kind: 'decision';
      readonly runId: string;
      readonly outcome: DecisionRecord['outcome'];
      readonly reason: string;
      /** A redelivery of a run decided and carried out already: nothing was done. */
      readonly duplicate: boolean;
    };

const detailTypeOf = z.looseObject({ 'detail-type': z.string() });
const DAY_MS = 86_400_000;

export function makeHandler(deps: LoopDeps) {
  const now = deps.now ?? (() => new Date());

  async function onDriftDetected(raw: unknown): Promise<LoopResult> {
    const { detail } = parseInput(driftDetectedEvent, raw, `${DRIFT_DETECTED} event`);
    const runId = driftRunId(detail.check, detail.window.end);
    logger.appendKeys({ runId });
    const stored = await deps.store.putDriftEvidence(
      runId,
      {
        alarmName: detail.alarmName,
        check: detail.check,
        signal: detail.metric.signal,
        value: detail.value,
        windowEnd: detail.window.end,
        method: detail.method,
      },
      new Date(now().getTime() + DRIFT_EVIDENCE_DAYS * DAY_MS),
    );
    logger.info('Drift evidence kept for the evaluation it starts', {
      stored,
      check: detail.check,
      signal: detail.metric.signal,
    });
    return { kind: 'evidence', runId, stored };
  }

  /** Where a prompt's label points now (read afresh); null when the label or the prompt is gone. */
  async function labelPosition(target: Extract<LoopTarget, { kind: 'prompt' }>): Promise<Position | null> {
    try {
      const version = await deps.prompts.get({ name: target.name, label: target.label });
      return { version: version.version };
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  /**
   * The versions a prompt's label pointed at before (its label history, newest moves first, at most the
   * last 500 moves of all its labels): production's last passing run may be the release a forced or
   * ungated version replaced.
   */
  async function heldBefore(evaluated: EvaluatedTarget, line: ServedLine | undefined): Promise<Position[]> {
    // A served line: the model it routes to (its gate run is the release's passing run).
    if (line !== undefined) return [{ model: line.serving }];
    if (evaluated.label === undefined || evaluated.position.version === undefined) return [];
    const name = evaluated.key;
    const history = await deps.prompts.labelHistory(name, 500);
    const versions = new Set<number>();
    for (const move of history.filter((m) => m.label === evaluated.label)) {
      versions.add(move.version);
      if (move.previousVersion !== null) versions.add(move.previousVersion);
    }
    return [...versions].map((version) => ({ version }));
  }

  /** The drift run against production's last passing run on its suite version. */
  async function compare(
    detail: EvaluationCompletedDetail,
    evaluated: EvaluatedTarget,
    ledger: readonly LedgerPass[],
    line: ServedLine | undefined,
  ): Promise<Comparison> {
    const suite = `${detail.suite.name} v${detail.suite.version}`;
    const previous = lastPassingRun(ledger, {
      heldBefore: await heldBefore(evaluated, line),
      target: evaluated.key,
      suite: detail.suite,
      position: evaluated.position,
      ...(evaluated.label !== undefined ? { label: evaluated.label } : {}),
      ...(evaluated.withModel !== undefined ? { withModel: evaluated.withModel } : {}),
      exceptRunId: detail.runId,
    });
    if (previous === undefined) {
      return { kind: 'none', reason: `no passing run of production on ${suite} to compare with` };
    }
    for (const bucket of [detail.report.bucket, previous.items.bucket]) {
      if (bucket !== deps.artifactsBucket) {
        return {
          kind: 'none',
          reason: `a report is outside the artifacts bucket (s3://${bucket}/): the loop reads only its own reports`,
        };
      }
    }
    try {
      const [current, metricSummaries, before] = await Promise.all([
        readRunItems(deps.s3, { bucket: detail.report.bucket, key: detail.report.items }),
        readRunMetrics(deps.s3, { bucket: detail.report.bucket, key: detail.report.summary }),
        readRunItems(deps.s3, previous.items),
      ]);
      if (current.skipped + before.skipped > 0) {
        logger.warn('Lines that are not items were skipped', {
          current: current.skipped,
          previous: before.skipped,
        });
      }
      const gate = regressionGate({
        current: { items: current.items, metrics: metricSummaries },
        previous: before.items,
        metrics: RUN_METRICS,
        seed: detail.runId,
      });
      if (gate === undefined) {
        return { kind: 'none', reason: `the run shares no item with ${previous.runId} on ${suite}` };
      }
      return { kind: 'compared', runId: previous.runId, gate };
    } catch (error) {
      if (error instanceof NotFoundError) {
        return { kind: 'none', reason: `nothing to compare: ${error.message}` };
      }
      throw error;
    }
  }

  /** The `llmops.RolledBack` of a rollback decision. */
  function rolledBackOf(
    detail: EvaluationCompletedDetail,
    target: LoopTarget,
    decision: Extract<LoopDecision, { passed: false; from: Position }>,
    drift: RolledBackDetail['evidence']['drift'],
    at: string,
  ): RolledBackDetail {
    const name = target.kind === 'prompt' ? target.name : target.id;
    return {
      schemaVersion: SCHEMA_VERSION,
      rollbackId: `rollback-${target.kind}-${name}-${detail.runId}`,
      outcome: decision.outcome,
      mode: deps.settings.mode,
      target:
        target.kind === 'prompt'
          ? { kind: 'prompt', name, label: target.label }
          : { kind: 'model', id: name },
      from: { ...decision.from },
      to:
        decision.to === null
          ? null
          : decision.to.version !== undefined
            ? { version: decision.to.version, passingRunId: decision.to.passingRunId }
            : { model: decision.to.model, passingRunId: decision.to.passingRunId },
      reason: decision.reason,
      evidence: {
        drift,
        evaluation: {
          runId: detail.runId,
          suite: { name: detail.suite.name, version: detail.suite.version },
          comparedWith: decision.comparedWith,
          failing: [...decision.failing],
          report: `s3://${detail.report.bucket}/${detail.report.html}`,
        },
      },
      at,
    };
  }

  /**
   * The target's passes; a served line's also hold the passes of the models it routed to (under their
   * own ids: a candidate's gate run), as passes of the line.
   */
  async function ledgerOf(key: string, line: ServedLine | undefined): Promise<LedgerPass[]> {
    const models = line === undefined ? [] : [line.serving, ...line.deployed];
    const [own, ...others] = await Promise.all([
      deps.store.passes(key),
      ...models.map((model) => deps.store.passes(`model:${model}`)),
    ]);
    const seen = new Set(own.map((pass) => pass.runId));
    const borrowed = others
      .flat()
      .filter((pass) => !seen.has(pass.runId))
      .map((pass) => ({ ...pass, target: key }));
    return [...own, ...borrowed];
  }

  /** Decides on a drift run (no side effect but the claim); the decision made first when there is one. */
  async function decision(
    detail: EvaluationCompletedDetail,
    target: LoopTarget | undefined,
    evaluated: EvaluatedTarget | undefined,
  ): Promise<{ record: DecisionRecord; claimed: boolean }> {
    const decidedAt = now().toISOString();
    const base = { runId: detail.runId, status: 'decided' as const, decidedAt };
    let record: DecisionRecord;
    if (detail.requested === undefined) {
      record = {
        ...base,
        outcome: 'none',
        passed: false,
        reason: 'the event does not say what the run asked for (no `requested`): nothing to move back',
      };
    } else if (target === undefined || evaluated === undefined || evaluated.key !== targetKey(target)) {
      record = {
        ...base,
        outcome: 'none',
        passed: false,
        reason: `the run asked for ${JSON.stringify(detail.requested)}, which names no label or model to move back`,
      };
    } else {
      const key = targetKey(target);
      const [lookup, rollbacks, drift] = await Promise.all([
        target.kind === 'model' ? servedLine(deps.routing, target.id) : undefined,
        deps.store.rollbacks(key),
        deps.store.getDriftEvidence(detail.runId).then((evidence) => evidence ?? null),
      ]);
      const line = lookup?.kind === 'line' ? lookup.line : undefined;
      const ledger = await ledgerOf(key, line);
      const comparison = await compare(detail, evaluated, ledger, line);
      const production =
        target.kind === 'prompt'
          ? await labelPosition(target)
          : line !== undefined
            ? { model: line.serving }
            : evaluated.position;
      const decided = decide({
        target,
        run: { runId: detail.runId, suite: detail.suite, position: evaluated.position },
        comparison,
        ledger,
        production,
        rollbacks,
        mode: deps.settings.mode,
        coolDownHours: deps.settings.coolDownHours,
        now: new Date(decidedAt),
        ...(line !== undefined ? { line } : {}),
        ...(lookup?.kind === 'unroutable' ? { unroutable: lookup.reason } : {}),
        ...(drift !== null ? { driftAt: drift.windowEnd } : {}),
      });
      if (decided.outcome === 'none') {
        record = { ...base, targetKey: key, outcome: 'none', passed: decided.passed, reason: decided.reason };
      } else {
        record = {
          ...base,
          targetKey: key,
          outcome: decided.outcome,
          passed: false,
          reason: decided.reason,
          regression: decided.regression,
          rolledBack: rolledBackOf(detail, target, decided, drift, decidedAt),
        };
      }
    }
    const claim = await deps.store.claimDecision(record);
    return { record: claim.record, claimed: claim.claimed };
  }

  /**
   * Moves a prompt's label back when the decision says so and the label still points at the version
   * evaluated; a label at the destination was moved by an earlier delivery; a label elsewhere was moved
   * by someone else, and the rollback is held.
   */
  async function carryOut(record: DecisionRecord, target: LoopTarget): Promise<RolledBackDetail | undefined> {
    const rolledBack = record.rolledBack;
    if (rolledBack?.outcome !== 'rolled_back') return rolledBack;
    if (target.kind === 'model') return routeLineBack(record, rolledBack, target);
    const to = rolledBack.to?.version;
    const from = rolledBack.from.version;
    if (to === undefined || from === undefined) {
      throw new InvalidEventError(
        `rollback ${rolledBack.rollbackId} of a prompt names no version to move between`,
      );
    }
    const production = await labelPosition(target);
    if (production?.version === to) {
      logger.info('The label is at the destination already (an earlier delivery moved it)', { to });
      return rolledBack;
    }
    if (production?.version !== from) {
      const held = productionMoved(target, production);
      logger.warn('Production moved before the loop could move it back: held', { production, from, to });
      return { ...rolledBack, outcome: 'held', reason: `${record.regression ?? rolledBack.reason}; ${held}` };
    }
    await deps.prompts.moveLabel(target.name, target.label, to, LOOP_AUTHOR, rolledBack.reason);
    logger.info('Production moved back', { prompt: target.name, label: target.label, from, to });
    return rolledBack;
  }

  /**
   * Routes a served line back to the destination (`routeBack`): held when the line moved, a rollout is
   * in progress, or the destination does not serve; a line at the destination was moved by an earlier
   * delivery.
   */
  async function routeLineBack(
    record: DecisionRecord,
    rolledBack: RolledBackDetail,
    target: Extract<LoopTarget, { kind: 'model' }>,
  ): Promise<RolledBackDetail> {
    const to = rolledBack.to?.model;
    const from = rolledBack.from.model;
    if (to === undefined || from === undefined || deps.routing === undefined) {
      throw new InvalidEventError(
        `rollback ${rolledBack.rollbackId} of a model names no models to route between, or fine-tuning is not deployed`,
      );
    }
    const result = await routeBack(deps.routing, {
      line: target.id,
      from,
      to,
      rollbackId: rolledBack.rollbackId,
      at: rolledBack.at,
    });
    switch (result.kind) {
      case 'already':
        logger.info('The line routes to the destination already (an earlier delivery moved it)', { to });
        return rolledBack;
      case 'held':
        logger.warn('The line could not be routed back: held', { from, to, reason: result.reason });
        return {
          ...rolledBack,
          outcome: 'held',
          reason: `${record.regression ?? rolledBack.reason}; ${result.reason}`,
        };
      case 'moved': {
        const { verification } = result;
        logger.info('Served line routed back', { line: target.id, from, to, verification });
        return {
          ...rolledBack,
          reason: `${rolledBack.reason}; ${target.id} now routes to inference component ${verification.inferenceComponent} (${verification.status}, its endpoint ${verification.endpointStatus}), which loads ${verification.artifactUrl ?? 'no artifact'}`,
        };
      }
    }
  }

  async function onDriftRun(detail: EvaluationCompletedDetail, at: string): Promise<LoopResult> {
    const runId = detail.runId;
    const target = detail.requested === undefined ? undefined : loopTargetOf(detail.requested);
    const evaluated = evaluatedTargetOf(detail);
    const existing = await deps.store.getDecision(runId);
    const { record, claimed } = existing
      ? { record: existing, claimed: false }
      : await decision(detail, target, evaluated);
    if (record.status === 'done') {
      logger.info('Drift run decided and carried out already: nothing to do', { outcome: record.outcome });
      return { kind: 'decision', runId, outcome: record.outcome, reason: record.reason, duplicate: true };
    }
    if (!claimed) logger.info('Carrying out the decision made first', { outcome: record.outcome });

    let announced: RolledBackDetail | undefined;
    if (record.rolledBack !== undefined && target !== undefined && record.targetKey !== undefined) {
      const carried = await carryOut(record, target);
      if (carried !== undefined) {
        // The first record of the decision stands (a redelivery may find production moved since).
        const { targetKey: _key, ...kept } = await deps.store.recordRollback({
          ...carried,
          targetKey: record.targetKey,
        });
        announced = kept;
        await publishEvent(deps.events, {
          busName: deps.busName,
          source: LLMOPS_SOURCE,
          detailType: ROLLED_BACK,
          schema: rolledBackDetail,
          detail: kept,
        });
      }
    }
    if (record.passed && evaluated !== undefined) {
      await deps.store.recordPass(passOf(detail, evaluated, at));
    }
    const outcome = announced?.outcome ?? record.outcome;
    const reason = announced?.reason ?? record.reason;
    await deps.store.finishDecision(runId, { outcome, reason, finishedAt: now().toISOString() });

    const single = metrics.singleMetric();
    single.addDimensions({ Outcome: outcome });
    single.addMetric('ClosedLoopDecisions', 'Count', 1);
    metrics.addMetric('ClosedLoopRollbacks', 'Count', outcome === 'rolled_back' ? 1 : 0);
    const log = outcome === 'none' ? logger.info.bind(logger) : logger.warn.bind(logger);
    log('Closed loop decided on a drift run', {
      outcome,
      reason,
      target: target === undefined ? null : describeTarget(target),
      evaluated: evaluated === undefined ? null : describePosition(evaluated.position),
      passed: record.passed,
    });
    return { kind: 'decision', runId, outcome, reason, duplicate: false };
  }

  async function onEvaluationCompleted(raw: unknown): Promise<LoopResult> {
    const event = parseInput(evaluationCompletedEvent, raw, `${EVALUATION_COMPLETED} event`);
    const { detail } = event;
    logger.appendKeys({ runId: detail.runId, trigger: detail.trigger });
    // When the run was reported: the event's time (the same on a redelivery of the event).
    const stamp = Date.parse(event.time);
    const at = Number.isNaN(stamp) ? now().toISOString() : new Date(stamp).toISOString();
    if (detail.trigger === 'drift') return onDriftRun(detail, at);

    if (!passedEvaluation(detail)) {
      logger.info('Not a pass: the ledger is unchanged', {
        pass: detail.pass,
        regression: detail.regression,
      });
      return { kind: 'ledger', runId: detail.runId, recorded: [] };
    }
    const passes = passesOf(detail, at);
    for (const pass of passes) await deps.store.recordPass(pass);
    logger.info('Pass recorded in the ledger', { targets: passes.map((p) => p.target) });
    return { kind: 'ledger', runId: detail.runId, recorded: passes.map((p) => p.target) };
  }

  return async (input: unknown, _context?: Context): Promise<LoopResult> => {
    const type = detailTypeOf.safeParse(input);
    const detailType = type.success ? type.data['detail-type'] : undefined;
    switch (detailType) {
      case DRIFT_DETECTED:
        return onDriftDetected(input);
      case EVALUATION_COMPLETED:
        return onEvaluationCompleted(input);
      default:
        throw new InvalidEventError(
          `detail-type: the closed loop takes ${DRIFT_DETECTED} or ${EVALUATION_COMPLETED}, got ${JSON.stringify(detailType ?? null)}`,
        );
    }
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  LOOP_TABLE: envVar.string(),
  PROMPTS_TABLE: envVar.string(),
  ARTIFACTS_BUCKET: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  /** `{mode, coolDownHours}` of `closedLoop`. */
  CLOSED_LOOP: envVar.string(),
  /** The model catalog (a served line's routing), when fine-tuning is deployed. */
  CATALOG_TABLE: envVar.optionalString(),
  /** The fine-tuning table (the rollouts: lock, `current`, history), when fine-tuning is deployed. */
  ROLLOUT_TABLE: envVar.optionalString(),
};

const config = readConfig(environment);
const documents = createDocumentClient();
if ((config.CATALOG_TABLE === undefined) !== (config.ROLLOUT_TABLE === undefined)) {
  throw new ConfigError(
    'Invalid function configuration: CATALOG_TABLE and ROLLOUT_TABLE: set both (fine-tuning deployed) or neither',
  );
}
const routing: LoopRouting | undefined =
  config.CATALOG_TABLE !== undefined && config.ROLLOUT_TABLE !== undefined
    ? {
        catalog: new DynamoRolloutCatalog(documents, config.CATALOG_TABLE),
        rollouts: new DynamoRolloutStore(documents, config.ROLLOUT_TABLE),
        serving: new SageMakerServing(createSageMakerClient()),
      }
    : undefined;

export const handler = withObservability(
  makeHandler({
    store: new DynamoLoopStore(documents, config.LOOP_TABLE),
    // Labels read afresh: the loop acts on where production points now, not ten seconds ago.
    prompts: new PromptRegistry(documents, config.PROMPTS_TABLE, { cacheTtlMs: 0 }),
    s3: createS3Client(),
    artifactsBucket: config.ARTIFACTS_BUCKET,
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
    settings: parseJsonVariable('CLOSED_LOOP', closedLoopSettings, config.CLOSED_LOOP),
    ...(routing !== undefined ? { routing } : {}),
  }),
);
