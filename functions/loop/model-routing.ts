import { createHash } from 'node:crypto';
import type { RolloutCatalog, RolloutStore } from '#aws/finetune/rollout-store.ts';
import type { SageMakerServing, Verification } from '#aws/finetune/serving.ts';
import { rolloutIdOf } from '#core/finetune/rollout.ts';
import type { ServedLine } from '#core/loop/decide.ts';

/**
 * The closed loop's side of a served line (the fine-tuned models' catalog entry, `tuned-assistant`): what
 * it routes to now and what was deployed on it before, read from the catalog and the rollout table, and
 * the move of its routing back to a model deployed before.
 *
 * The move goes through the same conditional writes a rollout makes, under the line's rollout lock (so
 * that no rollout starts meanwhile): the destination becomes the line's canary with the whole share, then
 * is promoted (the entry points at its inference component and lineage, the canary removed, conditioned on
 * the canary being this move's), and the rollout table's `current` names it, so that the next rollout
 * names it as `previous`. Before anything moves, SageMaker is asked which configuration serves: the
 * destination's component must be in service on the line's endpoint and load its package's adapter
 * (SageMaker can roll a component back silently); otherwise the move is held, with what does not match.
 * The regressed model's component stays on the endpoint, as after a promotion.
 */
export interface LoopRouting {
  readonly catalog: Pick<RolloutCatalog, 'get' | 'startCanary' | 'promote'>;
  readonly rollouts: Pick<RolloutStore, 'get' | 'getCurrent' | 'setCurrent' | 'acquireLock' | 'releaseLock'>;
  readonly serving: Pick<SageMakerServing, 'verify'>;
}

/** A served line, or why the model is not one the loop can route back. */
export type LineLookup =
  | { readonly kind: 'line'; readonly line: ServedLine }
  | { readonly kind: 'unroutable'; readonly reason: string };

/** How far back the line's rollout history is followed. */
export const MAX_DEPLOYED_HISTORY = 20;

/** What a served line routes to now, and the models it routed to before (its rollouts' `previous`). */
export async function servedLine(routing: LoopRouting | undefined, id: string): Promise<LineLookup> {
  const unroutable = (reason: string): LineLookup => ({ kind: 'unroutable', reason });
  if (routing === undefined) {
    return unroutable('fine-tuning is not deployed, so no served line can be routed back');
  }
  const served = await routing.catalog.get(id);
  if (served === undefined) return unroutable(`model ${id} is not in the catalog`);
  if (served.provider !== 'sagemaker' || served.inferenceComponent === undefined) {
    return unroutable(`model ${id} is not a served line of fine-tuned models (no inference component)`);
  }
  const current = await routing.rollouts.getCurrent(id);
  if (current === undefined) return unroutable(`no rollout has deployed a model on ${id}`);
  if (current.inferenceComponent !== served.inferenceComponent) {
    return unroutable(
      `${id} routes to ${served.inferenceComponent}, not to ${current.inferenceComponent} that its last rollout deployed (moved by hand?)`,
    );
  }
  const deployed: string[] = [];
  const seen = new Set([current.model]);
  let record = await routing.rollouts.get(id, current.rolloutId);
  while (deployed.length < MAX_DEPLOYED_HISTORY && record?.previous?.model !== undefined) {
    const model = record.previous.model;
    if (seen.has(model)) break;
    seen.add(model);
    deployed.push(model);
    const arn = (await routing.catalog.get(model))?.lineage?.modelPackageArn;
    if (arn === undefined) break;
    record = await routing.rollouts.get(id, rolloutIdOf(arn));
  }
  return {
    kind: 'line',
    line: {
      serving: current.model,
      servingSince: current.at,
      deployed,
      rollout: served.canary?.rolloutId ?? null,
    },
  };
}

/** The id of a move back (the lock's and the canary's rollout id): `revert-` and 16 hex digits. */
export function revertIdOf(rollbackId: string): string {
  return `revert-${createHash('sha256').update(rollbackId).digest('hex').slice(0, 16)}`;
}

export type RouteBackResult =
  | {
      readonly kind: 'moved';
      /** `already`: an earlier delivery moved it. */
      readonly write: 'promoted' | 'already';
      readonly verification: Omit<Verification, 'problems'>;
    }
  | { readonly kind: 'already' }
  | { readonly kind: 'held'; readonly reason: string };

/**
 * Routes the line from the model that regressed back to `to`, a model deployed on it before; `held`
 * (nothing moved) when the line is no longer on `from`, a rollout is in progress, or the destination does
 * not serve. A redelivery finds the line at the destination (`already`) or resumes its own move.
 */
export async function routeBack(
  routing: LoopRouting,
  move: {
    readonly line: string;
    readonly from: string;
    readonly to: string;
    readonly rollbackId: string;
    readonly at: string;
  },
): Promise<RouteBackResult> {
  const held = (reason: string): RouteBackResult => ({ kind: 'held', reason: `held: ${reason}` });
  const revertId = revertIdOf(move.rollbackId);
  const [served, destination, regressed] = await Promise.all([
    routing.catalog.get(move.line),
    routing.catalog.get(move.to),
    routing.catalog.get(move.from),
  ]);
  if (served === undefined) return held(`${move.line} is no longer in the catalog`);
  const component = destination?.inferenceComponent;
  const arn = destination?.lineage?.modelPackageArn;
  if (component === undefined || arn === undefined) {
    return held(`model ${move.to} has no inference component or model package in the catalog`);
  }
  const resuming = served.canary?.rolloutId === revertId;
  const current = {
    model: move.to,
    inferenceComponent: component,
    rolloutId: rolloutIdOf(arn),
    at: move.at,
  };
  if (served.inferenceComponent === component && served.canary === undefined) {
    // An earlier delivery moved it; it may have stopped before naming it as the line's `current`.
    if ((await routing.rollouts.getCurrent(move.line))?.inferenceComponent !== component) {
      await routing.rollouts.setCurrent(move.line, current);
    }
    return { kind: 'already' };
  }
  if (served.canary !== undefined && !resuming) {
    return held(
      `rollout ${served.canary.rolloutId} of ${move.line} is in progress, and the loop never moves a line during a rollout`,
    );
  }
  if (!resuming && served.inferenceComponent !== regressed?.inferenceComponent) {
    return held(
      `${move.line} moved to ${served.inferenceComponent ?? 'no component'} since the run, and the loop never moves what it did not evaluate`,
    );
  }
  // Which configuration serves the destination, before anything moves.
  const { problems, ...verification } = await routing.serving.verify(component, arn, served.modelId);
  if (problems.length > 0) {
    return held(`model ${move.to} does not serve as deployed: ${problems.join('; ')}`);
  }
  const lock = await routing.rollouts.acquireLock(move.line, revertId, move.at);
  if (!lock.acquired) {
    return held(
      `rollout ${lock.holder} of ${move.line} is in progress, and the loop never moves a line during a rollout`,
    );
  }
  try {
    const canary = await routing.catalog.startCanary(
      move.line,
      { model: move.to, inferenceComponent: component, share: 1, rolloutId: revertId, calls: 0, errors: 0 },
      move.at,
    );
    if (!canary.started) {
      return held(
        canary.holder === null
          ? `${move.line} is no longer in the catalog`
          : `rollout ${canary.holder} of ${move.line} is in progress, and the loop never moves a line during a rollout`,
      );
    }
    const write = await routing.catalog.promote(
      move.line,
      revertId,
      { inferenceComponent: component, lineage: destination?.lineage },
      move.at,
    );
    await routing.rollouts.setCurrent(move.line, current);
    return { kind: 'moved', write, verification };
  } finally {
    await routing.rollouts.releaseLock(move.line, revertId);
  }
}
