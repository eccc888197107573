/**
 * How the closed loop reads an `llmops.EvaluationCompleted`, with no I/O: the target the run asked for
 * (what a rollback would move), what it evaluated (the ledger key, the version or model), and the passes
 * it adds to the ledger.
 *
 * - A prompt's ledger is keyed by the prompt's name; a pass names the version evaluated (the resolved
 *   target, `rag-answer:4`), the label it was asked for by (`rag-answer@production` → `production`), and
 *   the model named beside the prompt, if any.
 * - A model's ledger is keyed `model:<id>`; a pass names the model. A fine-tuned candidate's run (trigger
 *   `model`: the candidate against the served line) that passed is also a pass in the ledger of the line
 *   it was gated against: where a rollback of that line may look for a model to go back to.
 * - A run that named a prompt is a prompt's run (the prompt is what can move), whatever the model.
 */
import type { EvaluationCompletedDetail } from '#events/evaluation-completed.ts';
import { parsePromptRef } from '../prompts/reference.ts';
import type { LedgerPass, LoopTarget, Position } from './decide.ts';

type Target = { readonly prompt?: string | undefined; readonly model?: string | undefined };

/** What a run evaluated, in the ledger's terms. */
export interface EvaluatedTarget {
  /** The ledger key: the prompt's name, or `model:<id>`. */
  readonly key: string;
  readonly position: Position;
  /** The label the run was asked for by, when it was. */
  readonly label?: string;
  /** The model named beside the prompt. */
  readonly withModel?: string;
}

function parsed(ref: string) {
  try {
    return parsePromptRef(ref);
  } catch {
    return undefined;
  }
}

/**
 * What a rollback of the run would move: the prompt's label it was asked for by (`name@label`, or a
 * bare name: its `production` label), or the model. Undefined when it named a version (nothing to move).
 */
export function loopTargetOf(requested: Target): LoopTarget | undefined {
  if (requested.prompt !== undefined) {
    const ref = parsed(requested.prompt);
    return ref !== undefined && 'label' in ref
      ? { kind: 'prompt', name: ref.name, label: ref.label }
      : undefined;
  }
  return requested.model !== undefined ? { kind: 'model', id: requested.model } : undefined;
}

/** What the run evaluated: the resolved prompt version (with the label it was asked for by), or the model. */
export function evaluatedTargetOf(
  detail: Pick<EvaluationCompletedDetail, 'target' | 'requested'>,
): EvaluatedTarget | undefined {
  const { target, requested } = detail;
  if (target.prompt !== undefined) {
    const ref = parsed(target.prompt);
    if (ref === undefined || !('version' in ref)) return undefined;
    const asked = requested?.prompt === undefined ? undefined : parsed(requested.prompt);
    return {
      key: ref.name,
      position: { version: ref.version },
      ...(asked !== undefined && 'label' in asked && asked.name === ref.name ? { label: asked.label } : {}),
      ...(target.model !== undefined ? { withModel: target.model } : {}),
    };
  }
  if (target.model !== undefined) return { key: `model:${target.model}`, position: { model: target.model } };
  return undefined;
}

/** The pass of a run in the ledger of what it evaluated, at `at`. */
export function passOf(
  detail: Pick<EvaluationCompletedDetail, 'runId' | 'trigger' | 'suite' | 'report'>,
  evaluated: EvaluatedTarget,
  at: string,
): LedgerPass {
  return {
    target: evaluated.key,
    position: evaluated.position,
    ...(evaluated.label !== undefined ? { label: evaluated.label } : {}),
    ...(evaluated.withModel !== undefined ? { withModel: evaluated.withModel } : {}),
    runId: detail.runId,
    trigger: detail.trigger,
    suite: { name: detail.suite.name, version: detail.suite.version },
    items: { bucket: detail.report.bucket, key: detail.report.items },
    at,
  };
}

/**
 * The passes a run that passed adds to the ledger (the caller decides whether it passed): the pass of
 * what it evaluated, and for a fine-tuned candidate's run, the candidate's pass in the ledger of the
 * line it was gated against.
 */
export function passesOf(
  detail: Pick<
    EvaluationCompletedDetail,
    'runId' | 'trigger' | 'suite' | 'report' | 'target' | 'requested' | 'baseline'
  >,
  at: string,
): LedgerPass[] {
  const evaluated = evaluatedTargetOf(detail);
  if (evaluated === undefined) return [];
  const passes = [passOf(detail, evaluated, at)];
  const line = detail.baseline?.model;
  if (
    detail.trigger === 'model' &&
    detail.target.prompt === undefined &&
    detail.baseline?.prompt === undefined &&
    line !== undefined &&
    line !== detail.target.model
  ) {
    passes.push(passOf(detail, { key: `model:${line}`, position: evaluated.position }, at));
  }
  return passes;
}
