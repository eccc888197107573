/**
 * What a judge's repeats say, as the reports carry them. Per item and judge metric: the repeats'
 * scores, their mean and spread, whether they agreed (`stable`), pass^k of the item, the judge model
 * and the rubric version. Per metric: pass^k over the items and how many were unstable.
 *
 * An item whose repeats disagree (`details.unstable`, set by `judgeItem`: a flipped verdict, or numeric
 * scores further apart than the tolerance) has no number the run can stand behind: `assembleReport`
 * leaves its mean out of the metric's value, n, interval, tags and gate, and counts it as unstable.
 *
 * A repeat passes by its verdict when the rubric has one (`details.verdicts`), else by its score against
 * {@link REVIEW_THRESHOLD} in the metric's direction (≥ 0.5 when higher is better, ≤ 0.5 when lower is);
 * a description (sentiment, direction `none`) has no pass. The offline judge is deterministic: one
 * repeat, always stable.
 */
import { REVIEW_THRESHOLD } from '#contracts/evaluation/review.ts';
import type { ScoreDirection } from './rubrics/types.ts';
import { repeatedVerdicts } from './stats.ts';
import type { ItemScore, JudgeRepeats } from './types.ts';

/** One item's judgement by one judge metric, over its repeats. */
export interface ItemJudgement {
  /** The judge model's id, or `offline`. */
  readonly judge: string;
  /** The rubric version (`judge-faithfulness:1`, `offline-faithfulness:1`). */
  readonly rubric: string;
  /** Repeats asked. */
  readonly k: number;
  /** Each repeat's score; `null` for a repeat that failed or found the rubric not applicable. */
  readonly repeats: readonly (number | null)[];
  /** Mean of the scored repeats; `null` when none was scored. */
  readonly mean: number | null;
  /** max − min of the scored repeats; `null` when none was scored. */
  readonly spread: number | null;
  /** The repeats agreed. An unstable item's mean counts in no metric value and no gate. */
  readonly stable: boolean;
  /**
   * Every one of the k repeats passed (this item's pass^k): `false` as soon as one failed, `null` when
   * not all k were scored and none failed, or for a description with no pass.
   */
  readonly passAll: boolean | null;
  /** The repeats' pass/fail verdicts, for a rubric that gives one. */
  readonly verdicts?: readonly boolean[];
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Whether a score has a value its judge's repeats disagreed on (a failed score is failed, not unstable). */
export function isUnstableScore(score: ItemScore | undefined): boolean {
  return score !== undefined && score.value !== null && score.details?.unstable === true;
}

/** A score's value as a metric may count it: `undefined` for an unstable one. */
export function stableValue(score: ItemScore | undefined): number | null | undefined {
  if (score === undefined || isUnstableScore(score)) return undefined;
  return score.value;
}

/** Whether one repeat's score passes, in the metric's direction; `undefined` for a description. */
function passes(score: number, better: ScoreDirection): boolean | undefined {
  if (better === 'none') return undefined;
  return better === 'lower' ? score <= REVIEW_THRESHOLD : score >= REVIEW_THRESHOLD;
}

/** The pass/fail of each scored repeat: the rubric's verdicts, else each score against the threshold. */
function trialsOf(
  judgement: Pick<ItemJudgement, 'repeats' | 'verdicts'>,
  better: ScoreDirection,
): boolean[] | undefined {
  if (judgement.verdicts !== undefined) return [...judgement.verdicts];
  if (better === 'none') return undefined;
  return judgement.repeats.flatMap((r) => (r === null ? [] : [passes(r, better) === true]));
}

/**
 * One item's judgement from its judge score (`judgeItem`'s details, or the offline judge's labels).
 * Undefined for a score no judge gave (an answer that failed before any judge was asked).
 */
export function itemJudgement(score: ItemScore, better: ScoreDirection): ItemJudgement | undefined {
  const details = score.details ?? {};
  const judge = details.judge;
  if (typeof judge !== 'string' || judge === '') return undefined;
  const rubric = typeof details.rubric === 'string' ? details.rubric : '';
  const repeats: (number | null)[] = Array.isArray(details.repeats)
    ? details.repeats.map((r) => (finite(r) ? r : null))
    : score.value === null
      ? []
      : [score.value];
  const scored = repeats.filter((r): r is number => r !== null);
  const k = Number.isInteger(details.k) && (details.k as number) > 0 ? (details.k as number) : 1;
  const mean = finite(details.mean)
    ? details.mean
    : scored.length === 0
      ? null
      : scored.reduce((s, v) => s + v, 0) / scored.length;
  const spread = finite(details.spread)
    ? details.spread
    : scored.length === 0
      ? null
      : Math.max(...scored) - Math.min(...scored);
  const verdicts = Array.isArray(details.verdicts)
    ? details.verdicts.filter((v): v is boolean => typeof v === 'boolean')
    : undefined;
  const trials = trialsOf({ repeats, ...(verdicts ? { verdicts } : {}) }, better);
  const passAll =
    trials === undefined ? null : trials.includes(false) ? false : trials.length >= k ? true : null;
  return {
    judge,
    rubric,
    k,
    repeats,
    mean,
    spread,
    stable: details.unstable !== true,
    passAll,
    ...(verdicts ? { verdicts } : {}),
  };
}

/**
 * A judge metric's repeats over a run, from its scores (one per item it applies to) and its direction:
 * how many items were judged and unstable, and pass^k over the items whose k repeats were all scored
 * (the unbiased estimator of `repeatedVerdicts`; with exactly k repeats, the share whose every repeat
 * passed). pass^k counts the unstable items too: it is the measure of their disagreement.
 */
export function judgeRepeats(
  scores: readonly ItemScore[],
  better: ScoreDirection,
): JudgeRepeats & { readonly unstable: number } {
  let judged = 0;
  let unstable = 0;
  let k = 1;
  const complete: boolean[][] = [];
  const judgements: ItemJudgement[] = [];
  for (const score of scores) {
    if (score.value === null) continue;
    judged++;
    if (isUnstableScore(score)) unstable++;
    const judgement = itemJudgement(score, better);
    if (judgement === undefined) continue;
    judgements.push(judgement);
    k = Math.max(k, judgement.k);
  }
  for (const judgement of judgements) {
    const trials = trialsOf(judgement, better);
    if (trials !== undefined && trials.length >= k) complete.push(trials);
  }
  const pass = complete.length === 0 ? undefined : repeatedVerdicts(complete, { k });
  return {
    k,
    judged,
    unstable,
    unstableShare: judged === 0 ? Number.NaN : unstable / judged,
    passHatK: pass?.passHatK ?? Number.NaN,
    passHatKItems: complete.length,
  };
}
