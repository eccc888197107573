/**
 * Human review of model judges, and the judges' calibration against it (no AWS imports, no I/O).
 *
 * Selection ({@link selectForReview}) picks the judge scores a person should grade, one task per
 * item × metric, for one of three reasons, in priority order:
 * 1. `unstable`: the judge's repeats disagreed (`details.unstable`, see `judgeItem`);
 * 2. `low_confidence`: the score lies within `lowConfidence` of the threshold 0.5, or the repeats'
 *    spread (max − min) is above `lowConfidence`;
 * 3. `sample`: a seeded random share `sampleRate` of the other scores of each metric, so that agreement
 *    is also measured on ordinary items (calibrating on hard items alone would understate the judge).
 * Within a reason, the scores closest to the threshold come first, then the widest spread, then a
 * seeded order; `max` keeps the first tasks in that order. The sample takes, per metric, the scores
 * with the smallest ranks drawn from the seed, the item and the metric alone (bottom-k sampling): an
 * exact count, and the same items for the same seed whatever the order in which they come.
 *
 * Scores that are not a model judge's are left out: those without `details.judge` and
 * `details.rubric`, failed or not-applicable ones (`value` null: nothing to agree with), and the
 * offline judge's heuristics (`isOfflineScore`), which no person needs to calibrate.
 *
 * The judge's verdict on a score: for rubrics with a pass/fail verdict (`details.verdicts`), the
 * majority of its repeats' verdicts (a tie fails); otherwise its score against the threshold (numeric
 * rubrics score higher-is-better; the lower-is-better built-in rubrics carry verdicts). A person's
 * label is `pass`, `fail`, or a grade in [0, 1] (1 best) that passes at the threshold.
 *
 * Calibration ({@link calibration}) compares the two per rubric version: Cohen's kappa with its 95%
 * interval, and the judge's precision and recall at catching bad answers (`fail` is the positive class,
 * the person's verdict the truth). A rubric is calibrated to gate when `calibratedToGate` says so
 * (kappa ≥ 0.6 on at least 50 labels); every result says why in a sentence with the numbers.
 */
import { createHash } from 'node:crypto';
import type * as z from 'zod/mini';
import {
  type CalibrationLabel,
  calibrationLabel,
  REVIEW_REASONS,
  REVIEW_THRESHOLD,
  type ReviewLabel,
  type ReviewReason,
  type ReviewTask,
  reviewLabel,
} from '#contracts/evaluation/review.ts';
import { ValidationError } from '../errors.ts';
import { canonicalJson } from '../prompts/hash.ts';
import { describeRule } from '../schema-rules.ts';
import { calibratedToGate, MIN_CALIBRATION_KAPPA, MIN_CALIBRATION_LABELS } from './gate.ts';
import { isOfflineScore } from './offline-score.ts';
import { cohensKappa, createRng, type Kappa, precisionRecall, type Seed } from './stats.ts';
import type { ItemScore } from './types.ts';

export type {
  CalibrationLabel,
  ReviewLabel,
  ReviewReason,
  ReviewTask,
} from '#contracts/evaluation/review.ts';
export { REVIEW_THRESHOLD } from '#contracts/evaluation/review.ts';

/** Share of the remaining judge scores of each metric drawn for review. */
export const DEFAULT_SAMPLE_RATE = 0.05;
/** Distance from the threshold (and spread of the repeats) below which a score is low-confidence. */
export const DEFAULT_LOW_CONFIDENCE = 0.15;
/** Most tasks one selection returns. */
export const DEFAULT_MAX_REVIEW_TASKS = 100;

/** Float noise forgiven when comparing a distance or a spread with `lowConfidence`. */
const EPSILON = 1e-9;

/** One item of a run, with every score it got. */
export interface ReviewItem {
  readonly itemId: string;
  readonly scores: readonly ItemScore[];
}

export interface SelectForReviewOptions {
  readonly runId: string;
  readonly items: readonly ReviewItem[];
  /** Share in [0, 1] of each metric's remaining judge scores drawn at random. @default 0.05 */
  readonly sampleRate?: number;
  /** In [0, 0.5]: distance from the threshold, and spread, that make a score low-confidence. @default 0.15 */
  readonly lowConfidence?: number;
  /** Most tasks returned (a whole number ≥ 0). @default 100 */
  readonly max?: number;
  /** Seeds the sample and the order of ties. @default runId */
  readonly seed?: Seed;
}

/** The id of the task for one item and metric of a run. */
export function reviewTaskId(runId: string, itemId: string, metric: string): string {
  const hash = createHash('sha256')
    .update(canonicalJson([runId, itemId, metric]))
    .digest('hex');
  return `review-${hash.slice(0, 16)}`;
}

/** A judge score with what selection needs to know of it. */
interface Candidate {
  readonly task: Omit<ReviewTask, 'reason'>;
  readonly reason: ReviewReason;
  /** |score − threshold|: smaller is less certain. */
  readonly distance: number;
  readonly spread: number;
  /** Seeded rank in [0, 1): the sample's draw and the last tie-break. */
  readonly rank: number;
}

const PRIORITY: Readonly<Record<ReviewReason, number>> = Object.fromEntries(
  REVIEW_REASONS.map((reason, i) => [reason, i]),
) as Record<ReviewReason, number>;

const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** The judge's pass/fail of a score: the majority of its verdicts, else its score against the threshold. */
function judgeVerdictOf(value: number, details: Readonly<Record<string, unknown>>): 'pass' | 'fail' {
  const verdicts = Array.isArray(details.verdicts)
    ? details.verdicts.filter((v): v is boolean => typeof v === 'boolean')
    : [];
  if (verdicts.length > 0) {
    const passes = verdicts.filter((v) => v).length;
    return passes * 2 > verdicts.length ? 'pass' : 'fail';
  }
  return value >= REVIEW_THRESHOLD ? 'pass' : 'fail';
}

function candidateOf(
  runId: string,
  itemId: string,
  score: ItemScore,
  lowConfidence: number,
  seed: Seed,
): Candidate | undefined {
  const details = score.details;
  const value = score.value;
  if (details === undefined || value === null || !Number.isFinite(value) || isOfflineScore(score)) return;
  const { judge, rubric } = details;
  if (!isString(judge) || !isString(rubric)) return;
  const spread =
    typeof details.spread === 'number' && Number.isFinite(details.spread) ? details.spread : null;
  const unstable = details.unstable === true;
  const distance = Math.abs(value - REVIEW_THRESHOLD);
  const reason: ReviewReason = unstable
    ? 'unstable'
    : distance <= lowConfidence + EPSILON || (spread ?? 0) > lowConfidence + EPSILON
      ? 'low_confidence'
      : 'sample';
  const rationales = Array.isArray(details.rationales) ? details.rationales.filter(isString) : [];
  return {
    task: {
      taskId: reviewTaskId(runId, itemId, score.metric),
      runId,
      itemId,
      metric: score.metric,
      rubric,
      judge,
      judgeScore: value,
      judgeVerdict: judgeVerdictOf(value, details),
      spread,
      unstable,
      rationales,
    },
    reason,
    distance,
    spread: spread ?? 0,
    rank: createRng(`${seed}\u0000${itemId}\u0000${score.metric}`).next(),
  };
}

/** Priority, then the least certain, then the widest spread, then the seeded rank. */
function byPriority(a: Candidate, b: Candidate): number {
  return (
    PRIORITY[a.reason] - PRIORITY[b.reason] ||
    a.distance - b.distance ||
    b.spread - a.spread ||
    a.rank - b.rank ||
    (a.task.taskId < b.task.taskId ? -1 : a.task.taskId > b.task.taskId ? 1 : 0)
  );
}

function checkSelectOptions(opts: SelectForReviewOptions) {
  if (!isString(opts.runId)) throw new ValidationError('runId', 'must be a non-empty string');
  const sampleRate = opts.sampleRate ?? DEFAULT_SAMPLE_RATE;
  if (!(sampleRate >= 0 && sampleRate <= 1)) throw new ValidationError('sampleRate', 'must be in [0, 1]');
  const lowConfidence = opts.lowConfidence ?? DEFAULT_LOW_CONFIDENCE;
  if (!(lowConfidence >= 0 && lowConfidence <= REVIEW_THRESHOLD)) {
    throw new ValidationError('lowConfidence', `must be in [0, ${REVIEW_THRESHOLD}]`);
  }
  const max = opts.max ?? DEFAULT_MAX_REVIEW_TASKS;
  if (!Number.isInteger(max) || max < 0) throw new ValidationError('max', 'must be a whole number ≥ 0');
  return { sampleRate, lowConfidence, max, seed: opts.seed ?? opts.runId };
}

/**
 * The judge scores of a run that a person should grade (see the module comment): every unstable one,
 * every low-confidence one, and a seeded `sampleRate` of each metric's others (rounded up, so a metric
 * with any score left gets at least one draw when the rate is above 0); one task per item × metric,
 * at most `max`, unstable first and samples last. An item or a metric listed twice gives one task,
 * for its highest-priority score. Deterministic: the same items and seed give the same tasks.
 * @throws ValidationError naming the option that is out of range.
 */
export function selectForReview(opts: SelectForReviewOptions): ReviewTask[] {
  const { sampleRate, lowConfidence, max, seed } = checkSelectOptions(opts);
  const best = new Map<string, Candidate>();
  for (const [i, item] of opts.items.entries()) {
    if (!isString(item.itemId)) throw new ValidationError(`items.${i}.itemId`, 'must be a non-empty string');
    for (const score of item.scores) {
      const candidate = candidateOf(opts.runId, item.itemId, score, lowConfidence, seed);
      if (candidate === undefined) continue;
      const held = best.get(candidate.task.taskId);
      if (held === undefined || byPriority(candidate, held) < 0) best.set(candidate.task.taskId, candidate);
    }
  }
  const chosen: Candidate[] = [];
  const rest = new Map<string, Candidate[]>();
  for (const candidate of best.values()) {
    if (candidate.reason !== 'sample') chosen.push(candidate);
    else {
      const pool = rest.get(candidate.task.metric) ?? [];
      pool.push(candidate);
      rest.set(candidate.task.metric, pool);
    }
  }
  for (const pool of rest.values()) {
    pool.sort((a, b) => a.rank - b.rank || (a.task.taskId < b.task.taskId ? -1 : 1));
    chosen.push(...pool.slice(0, Math.ceil(pool.length * sampleRate - EPSILON)));
  }
  return chosen
    .sort(byPriority)
    .slice(0, max)
    .map((c) => ({ ...c.task, reason: c.reason }));
}

function fieldOf(prefix: string, path: readonly PropertyKey[]): string {
  return [prefix, ...path.map(String)].filter((part) => part !== '').join('.') || 'label';
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function parseWith<T>(schema: z.ZodMiniType<T>, input: unknown, prefix: string): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0] as z.core.$ZodIssue;
  if (issue.code === 'unrecognized_keys') {
    throw new ValidationError(fieldOf(prefix, [...issue.path, issue.keys[0] ?? '']), 'is not a known field');
  }
  if (issue.path.length > 0 && valueAt(input, issue.path) === undefined) {
    throw new ValidationError(fieldOf(prefix, issue.path), 'is required');
  }
  throw new ValidationError(fieldOf(prefix, issue.path), describeRule(issue));
}

/**
 * A person's label checked against its schema: a task id, a reviewer id, `pass` | `fail` or a grade in
 * [0, 1], a comment of at most 2000 characters, and an ISO 8601 time with a zone.
 * @param prefix put before the field in errors (`labels.3` gives `labels.3.reviewer`)
 * @throws ValidationError naming the first field that breaks a rule, and the rule
 */
export function parseReviewLabel(input: unknown, prefix = ''): ReviewLabel {
  return parseWith(reviewLabel, input, prefix);
}

/** Whether a person's label passes the answer: `pass`, or a grade at or above the threshold. */
export function humanVerdict(label: Pick<ReviewLabel, 'label'>): boolean {
  return typeof label.label === 'number' ? label.label >= REVIEW_THRESHOLD : label.label === 'pass';
}

/**
 * The calibration labels of graded tasks: each label paired with its task's judge verdict, under the
 * task's rubric version. Every reviewer's label counts; a reviewer who labelled a task twice counts
 * once, with the latest label.
 * @throws ValidationError on a label that is not valid, or that names a task not in `tasks`
 */
export function calibrationLabels(
  tasks: readonly Pick<ReviewTask, 'taskId' | 'rubric' | 'judgeVerdict'>[],
  labels: readonly unknown[],
): CalibrationLabel[] {
  const byId = new Map(tasks.map((task) => [task.taskId, task]));
  const latest = new Map<string, { readonly label: ReviewLabel; readonly at: number }>();
  for (const [i, input] of labels.entries()) {
    const label = parseReviewLabel(input, `labels.${i}`);
    if (!byId.has(label.taskId))
      throw new ValidationError(`labels.${i}.taskId`, 'names no task under review');
    const key = `${label.taskId}\u0000${label.reviewer}`;
    const at = Date.parse(label.at);
    const held = latest.get(key);
    if (held === undefined || at >= held.at) latest.set(key, { label, at });
  }
  return [...latest.values()].map(({ label }) => {
    const task = byId.get(label.taskId) as (typeof tasks)[number];
    return {
      rubric: task.rubric,
      judgeVerdict: task.judgeVerdict === 'pass',
      humanVerdict: humanVerdict(label),
    };
  });
}

/** How well one rubric version's judge agrees with people. */
export interface RubricCalibration {
  readonly rubric: string;
  /** Labels compared. */
  readonly n: number;
  /** Cohen's kappa of the judge's verdicts against the people's, with its 95% interval. */
  readonly kappa: Kappa;
  /** Of the answers the judge failed, the share people failed too; NaN when the judge failed none. */
  readonly precision: number;
  /** Of the answers people failed, the share the judge failed too; NaN when people failed none. */
  readonly recall: number;
  /** kappa ≥ 0.6 on at least 50 labels (`calibratedToGate`): the rubric's judge may gate. */
  readonly calibrated: boolean;
  /** Why, in one sentence, with the numbers. */
  readonly reason: string;
}

const fmt = (x: number) => x.toFixed(2);

function reasonOf(kappa: Kappa, n: number, calibrated: boolean): string {
  const measured = Number.isNaN(kappa.value)
    ? `kappa undefined on ${n} labels (${n === 0 ? 'none given' : 'judge and people gave one and the same verdict to every label'})`
    : `kappa ${fmt(kappa.value)} [${fmt(kappa.ci[0])}, ${fmt(kappa.ci[1])}] on ${n} labels`;
  if (calibrated) {
    return `${measured}: at least ${MIN_CALIBRATION_KAPPA} on at least ${MIN_CALIBRATION_LABELS} labels; calibrated to gate`;
  }
  const faults: string[] = [];
  if (Number.isNaN(kappa.value)) faults.push('no agreement can be measured');
  else if (kappa.value < MIN_CALIBRATION_KAPPA) faults.push(`below ${MIN_CALIBRATION_KAPPA}`);
  if (n < MIN_CALIBRATION_LABELS) faults.push(`fewer than ${MIN_CALIBRATION_LABELS} labels`);
  return `${measured}: ${faults.join(' and ')}; reported, not gated`;
}

/**
 * The judge's agreement with people, per rubric version (sorted by version): Cohen's kappa, precision
 * and recall with `fail` as the positive class and the person as the truth, and whether the rubric is
 * calibrated to gate, with the reason.
 * @throws ValidationError naming the first label that is not `{rubric, judgeVerdict, humanVerdict}`
 */
export function calibration(labels: readonly CalibrationLabel[]): RubricCalibration[] {
  const byRubric = new Map<string, { judge: boolean[]; human: boolean[] }>();
  for (const [i, input] of labels.entries()) {
    const label = parseWith(calibrationLabel, input, `labels.${i}`);
    const group = byRubric.get(label.rubric) ?? { judge: [], human: [] };
    group.judge.push(label.judgeVerdict);
    group.human.push(label.humanVerdict);
    byRubric.set(label.rubric, group);
  }
  return [...byRubric.keys()].sort().map((rubric) => {
    const { judge, human } = byRubric.get(rubric) as { judge: boolean[]; human: boolean[] };
    const n = judge.length;
    const kappa = cohensKappa(judge, human);
    const failed = precisionRecall(
      judge.map((pass) => !pass),
      human.map((pass) => !pass),
    );
    const calibrated = calibratedToGate(kappa, n);
    return {
      rubric,
      n,
      kappa,
      precision: failed.precision,
      recall: failed.recall,
      calibrated,
      reason: reasonOf(kappa, n, calibrated),
    };
  });
}
