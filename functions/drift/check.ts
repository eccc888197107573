import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { createDocumentClient, createS3Client } from '#aws/clients.ts';
import { describeIssues, readConfig } from '#aws/config.ts';
import { type DriftStore, DynamoDriftStore } from '#aws/drift/drift-store.ts';
import { ConfigError, ValidationError } from '#aws/errors.ts';
import { resolveRubrics, seedRubricsOnce } from '#aws/eval/rubric-registry.ts';
import { NO_CONTEXT_ANSWER } from '#aws/gateway.ts';
import { createProviderRouter } from '#aws/models/router.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import { embeddingModelFromEnv } from '#aws/rag/vector-store.ts';
import {
  DRIFT_SCORE_METRIC,
  type DriftBaseline,
  type DriftWindowResult,
  type OnlineJudgeResult,
  type SignalResult,
} from '#contracts/drift/baseline.ts';
import { envVar } from '#contracts/env.ts';
import type { JudgeRubricMetric } from '#contracts/evaluation/run.ts';
import { type CatalogModel, catalogModel } from '#contracts/models/catalog.ts';
import { driftScore } from '#core/drift/alarm-policy.ts';
import {
  checkDrift,
  type DriftCheckResult,
  type DriftRecord,
  EMBEDDING_METHODS,
  type EmbeddingDetail,
  type EmbeddingVerdict,
} from '#core/drift/check.ts';
import { minWindowSize } from '#core/drift/embedding.ts';
import {
  compareFeedback,
  compareReviews,
  type FeedbackComparison,
  type ReviewComparison,
} from '#core/drift/labelled.ts';
import {
  compareJudged,
  type JudgeableRecord,
  type JudgedComparison,
  judgeSample,
} from '#core/drift/online-judge.ts';
import { compareOutcomes, type OutcomeComparison } from '#core/drift/outcomes.ts';
import {
  driftSummaryJson,
  renderDriftHtml,
  SCORE_HISTORY_WINDOWS,
  scoreHistory,
} from '#core/drift/report.ts';
import { answerEmbeddingJson, answerEmbeddingSection, labelledSection } from '#core/drift/report-sections.ts';
import { judgeItem } from '#core/eval/judge.ts';
import { OFFLINE_JUDGE, offlineJudgeItem } from '#core/eval/offline-judge.ts';
import { ANSWER_RELEVANCE_RUBRIC } from '#core/eval/rubrics/index.ts';
import { type RubricPrompt, withPrompt } from '#core/eval/rubrics/registry.ts';
import type { EvalAnswer, EvalItem, ItemScore } from '#core/eval/types.ts';
import { mapLimited } from '#core/map-limited.ts';
import {
  type Collected,
  collected,
  type DriftPolicy,
  driftEnvironment,
  driftKeys,
  type OnlineJudgeSettings,
  parseOnlineJudge,
  parsePolicy,
  readRecords,
  writeRecords,
} from './shared.ts';

/**
 * Check, the DriftCheck state machine's second step: compares the window Collect staged with the
 * check's active baseline (`checkDrift`: the embedding tests and the descriptors, at the policy's
 * alpha, seeded by the check and the window so that a retry finds the same; `compareOutcomes`: the
 * window's error, throttle and guardrail intervention rates against the baseline's, when the baseline
 * has outcome counts — one from a traffic window — at the same alpha and minimum window), writes the report
 * (`summary.json` and a self-contained `report.html` under `drift/reports/<check>/<window end>/`),
 * records the window's result, and publishes each signal's normalized score as the EMF metric
 * `DriftScore {Check, Signal}` (1.0 = the threshold; the drift alarms watch it), stamped with the
 * window's end (the check's scheduled time): each window is one alarm period, and the alarm sees the
 * score in the period that has just begun, as soon as the check has run.
 *
 * A check without a baseline pins its first sufficient window as baseline version 1 (the traffic as
 * it is when monitoring starts, with its outcome counts) and publishes no score; a baseline without
 * outcome counts (a suite's or an evaluation run's questions) gives no quality signal, and the window's
 * record and report say so (the signal absent, `outcomes.reference` null); a window too small for the configured power is
 * recorded as insufficient and publishes no score either (the alarms treat a missing score as not
 * breaching: no data is never drift). A window already recorded (a redelivered schedule) changes
 * nothing and publishes nothing again.
 *
 * Two more families are scored when the data exists, each a signal of its own: the **answers'
 * embeddings** (`answerEmbedding`: the same three tests on the answers Collect embedded; a baseline
 * without any is "no baseline" for it, and publishes no score), and the **labelled outcomes** of the
 * window's answered calls (`compareFeedback`: the users' thumbs-up rate and mean rating, signal
 * `feedback`; `compareReviews`: the share of the reviewed complaints a reviewer confirmed, signal
 * `reviews`), when both the window and the baseline were collected with feedback counts. The feedback
 * signal pages like the three others; the answers' embeddings and the reviews are published and reported
 * without an alarm.
 *
 * With the online judge (`drift.onlineJudge`), the quality signal has one more test: the judge model
 * scores the answer relevance of a small, capped sample of the window's answers (one call each, at most
 * {@link JUDGE_CONCURRENCY} at once), and of the baseline's sample, judged once per baseline and rubric
 * version and kept beside its records (`<baseline>.judged-<rubric>.json`); the two windows' scores are
 * compared by the KS test, which joins the outcome rates in Benjamini–Hochberg (only a decline is
 * drift). The rubric is a prompt of the registry, resolved as an evaluation run resolves it
 * (`judge-answer-relevance@production`, seeded once per cold start with the same insert-only seed), at
 * each check that has answers to judge: a label moved since the last check takes effect at the next one, and
 * the baseline is judged again with the new version. Its `name:version` and the judge model are in the
 * window's record, in `summary.json` (`judge`, `quality.judge`) and in the report's judge row. A rubric
 * that does not resolve, or a version that cannot be a rubric, leaves the judge out of that window (the
 * rates score as without it) with a `judgeNote` in `summary.json` saying why, an error log and the
 * metric `DriftJudgeRubricErrors`. A failed judge call is left out, never a 0; a window whose judge
 * calls all failed has an insufficient judge test, not drift. The window's record and report keep the
 * judged counts, both means and the failures; the EMF metric `DriftJudgeCalls` counts the calls. A
 * retried step judges the window again (a bounded cost) but records and publishes once.
 */
export interface CheckDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly store: Pick<
    DriftStore,
    'recordWindow' | 'getWindow' | 'createBaseline' | 'getBaseline' | 'recentWindows'
  >;
  readonly policy: DriftPolicy;
  /** The metrics namespace the alarms watch. */
  readonly publishScore: (check: string, signal: string, score: number, at: Date) => void;
  /** The online judge; absent: the quality signal is the outcome rates alone. */
  readonly judge?: OnlineJudge;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Judge calls at once. */
export const JUDGE_CONCURRENCY = 4;

/** The online judge of the quality signal. */
export interface OnlineJudge {
  readonly settings: OnlineJudgeSettings;
  /** The judge model's id (`offline` locally). */
  readonly model: string;
  /**
   * The rubric the judge scores with, resolved for each check that has answers to judge.
   * @throws ValidationError when the rubric does not resolve or its version cannot be a rubric: the
   *   check goes on without the judge and says why; any other error fails the step (it is retried)
   */
  readonly rubric: () => Promise<OnlineJudgeRubric>;
  /** @default JUDGE_CONCURRENCY */
  readonly concurrency?: number;
}

/** The rubric version an online judge scores with. */
export interface OnlineJudgeRubric {
  /** The version its scores come from, `name:version` (the baseline's cached scores name it). */
  readonly version: string;
  /**
   * Scores one answer to one question, one judge call: a value in [0, 1], or `null` with the error when
   * the call failed (a rejection counts as a failure too).
   */
  readonly score: (question: string, answer: string) => Promise<ItemScore>;
}

/** The baseline's judged sample, as the cache keeps it. */
const judgedCache = z.object({
  rubric: z.string(),
  model: z.string(),
  share: z.number(),
  maxPerWindow: z.int(),
  seed: z.string(),
  sampled: z.int(),
  failed: z.int(),
  scores: z.array(z.number()),
  judgedAt: z.string(),
});
type JudgedCache = z.infer<typeof judgedCache>;

/** One window's judged sample. */
interface Judged {
  readonly sampled: number;
  readonly scores: number[];
  readonly failed: number;
}

/**
 * The judge's part of a window: the test for the quality signal and what the record keeps, or why the
 * window has no judge test (its rubric did not resolve).
 */
type JudgeOutcome =
  | { readonly test: JudgedComparison; readonly summary: OnlineJudgeResult }
  | { readonly note: string };

const mean = (xs: readonly number[]): number | null =>
  xs.length === 0 ? null : xs.reduce((sum, x) => sum + x, 0) / xs.length;

/** An embedding family's signal: the smallest p-value of its three tests, against alpha / 3. */
function embeddingFamilySignal(
  verdict: EmbeddingVerdict | null,
  e: EmbeddingDetail | null,
): SignalResult | undefined {
  if (verdict === null) return undefined;
  let best: { method: string; p: number } | undefined;
  for (const method of EMBEDDING_METHODS) {
    const p = e?.tests[method].pValue ?? null;
    if (p !== null && (best === undefined || p < best.p)) best = { method, p };
  }
  const pValue = best?.p ?? null;
  return {
    score: driftScore(pValue, verdict.threshold),
    pValue,
    threshold: verdict.threshold,
    drift: verdict.drift,
    insufficient: pValue === null,
    method: best?.method ?? null,
  };
}

/** The embedding signal: the smallest p-value of the questions' three tests, against alpha / 3. */
export function embeddingSignal(result: DriftCheckResult): SignalResult | undefined {
  if (result.details.embedding === null) return undefined;
  return embeddingFamilySignal(result.embedding, result.details.embedding);
}

/**
 * The answers' embedding signal: the smallest p-value of the three tests on the answers, against
 * alpha / 3; `undefined` when the family was not tested (no answer embedding, or none in the baseline).
 */
export function answerEmbeddingSignal(result: DriftCheckResult): SignalResult | undefined {
  return embeddingFamilySignal(result.answerEmbedding, result.details.answerEmbedding?.embedding ?? null);
}

/** What a signal reads from a comparison of rates or scores: its adjusted p-value against alpha. */
type RateComparison = Pick<OutcomeComparison, 'pValue' | 'alpha' | 'drift' | 'insufficient'> & {
  readonly method: string | null;
};

/**
 * A signal from a comparison of outcome rates or labelled outcomes (quality; feedback, reviews): the
 * smallest Benjamini–Hochberg adjusted p-value of its tests that did not move the good way, against
 * alpha (1, a score of 0, when none worsened; `null` when no test had data). For quality, the outcome
 * rates that did not go down and the online judge's test when its scores did not go up.
 */
function rateSignal(comparison: RateComparison): SignalResult {
  return {
    score: driftScore(comparison.pValue, comparison.alpha),
    pValue: comparison.pValue,
    threshold: comparison.alpha,
    drift: comparison.drift,
    insufficient: comparison.insufficient,
    method: comparison.method,
  };
}

/** The descriptors signal: the smallest Benjamini–Hochberg adjusted p-value, against alpha. */
export function descriptorsSignal(result: DriftCheckResult, alpha: number): SignalResult | undefined {
  const details = Object.entries(result.details.descriptors);
  if (details.length === 0) return undefined;
  let best: { name: string; p: number } | undefined;
  for (const [name, d] of details) {
    const p = d.adjustedPValue;
    if (p !== null && (best === undefined || p < best.p)) best = { name, p };
  }
  const pValue = best?.p ?? null;
  return {
    score: driftScore(pValue, alpha),
    pValue,
    threshold: alpha,
    drift: details.some(([, d]) => d.drift),
    insufficient: pValue === null,
    method: best?.name ?? null,
  };
}

/** The labelled outcomes of a window against its baseline, or why there are none. */
interface Labelled {
  readonly feedback?: FeedbackComparison;
  readonly reviews?: ReviewComparison;
  readonly notes: readonly string[];
}

/**
 * The feedback and reviews comparisons of a window, when both it and its baseline were collected with
 * feedback counts; else a note saying why not (a baseline without them is "no baseline", not drift).
 */
function labelledOutcomes(
  state: Collected,
  baseline: DriftBaseline,
  options: { readonly alpha: number; readonly minWindow: number },
): Labelled {
  const current = state.outcomes?.feedback;
  if (current === undefined) {
    return {
      notes: [
        'The window was collected without feedback counts (the check reads no feedback table): no feedback or reviews signal.',
      ],
    };
  }
  const reference = baseline.outcomes?.feedback;
  if (reference === undefined) {
    return {
      notes: [
        `Baseline v${baseline.version} (${baseline.source.kind}) has no feedback counts (only a traffic window collected with the feedback table has them): no baseline for the feedback and reviews signals, which is not drift.`,
      ],
    };
  }
  return {
    feedback: compareFeedback(reference, current, options),
    reviews: compareReviews(reference, current, options),
    notes: [],
  };
}

/** The labelled signals of a window, by name. */
function labelledSignals(labelled: Labelled): Record<string, SignalResult> {
  return {
    ...(labelled.feedback !== undefined ? { feedback: rateSignal(labelled.feedback) } : {}),
    ...(labelled.reviews !== undefined ? { reviews: rateSignal(labelled.reviews) } : {}),
  };
}

/** Why a window has no quality signal, for its report. */
function noQualityNote(state: Collected, baseline: DriftBaseline): string {
  if (state.outcomes === undefined) {
    return 'The window was collected without outcome counts: no quality signal.';
  }
  return `Baseline v${baseline.version} (${baseline.source.kind}) has no outcome counts (only a baseline from a traffic window has them): no quality signal.`;
}

export function makeHandler(deps: CheckDeps) {
  const now = deps.now ?? (() => new Date());
  const { policy } = deps;
  const minWindow = minWindowSize({ effect: policy.effect, alpha: policy.alpha, power: policy.power });

  /**
   * The window's report: `summary.json` (the verdicts, every test, the outcome comparison) and, when the
   * window had records to test, `report.html`.
   */
  async function writeReport(
    state: Collected,
    result: DriftCheckResult | null,
    baseline: DriftBaseline,
    quality: OutcomeComparison | undefined,
    judged: JudgeOutcome | undefined,
    labelled: Labelled,
    signals: Readonly<Record<string, SignalResult>>,
  ) {
    const prefix = driftKeys.reportPrefix(state.check, state.window.end);
    const summary = {
      check: state.check,
      window: state.window,
      baseline: { version: baseline.version, source: baseline.source },
      ...(result !== null
        ? driftSummaryJson(result, { report: 'report.html' })
        : { n: { reference: baseline.records, current: 0 }, report: null }),
      drift:
        (result?.drift ?? false) ||
        (quality?.drift ?? false) ||
        (labelled.feedback?.drift ?? false) ||
        (labelled.reviews?.drift ?? false),
      answerEmbedding: result !== null ? answerEmbeddingJson(result) : null,
      quality: quality ?? null,
      ...(quality === undefined ? { qualityNote: noQualityNote(state, baseline) } : {}),
      ...(judged !== undefined && 'summary' in judged ? { judge: judged.summary } : {}),
      ...(judged !== undefined && 'note' in judged ? { judgeNote: judged.note } : {}),
      feedback: labelled.feedback ?? null,
      reviews: labelled.reviews ?? null,
      ...(labelled.notes.length > 0 ? { labelledNote: labelled.notes.join(' ') } : {}),
    };
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.bucket,
        Key: `${prefix}summary.json`,
        Body: JSON.stringify(summary, null, 2),
        ContentType: 'application/json',
      }),
    );
    if (result === null) return { bucket: deps.bucket, prefix };
    const labels = {
      reference: `baseline v${baseline.version}`,
      current: `window ending ${state.window.end}`,
    };
    const sections = [
      answerEmbeddingSection(result, labels),
      labelledSection({
        ...(labelled.feedback !== undefined ? { feedback: labelled.feedback } : {}),
        ...(labelled.reviews !== undefined ? { reviews: labelled.reviews } : {}),
        notes: labelled.notes,
      }),
    ].filter((section) => section !== null);
    // The scores over the check's recent windows, this one (not recorded yet) last.
    const recent = await deps.store.recentWindows(state.check, SCORE_HISTORY_WINDOWS - 1);
    const html = renderDriftHtml(result, {
      labels,
      ...(quality !== undefined ? { quality } : {}),
      sections,
      history: scoreHistory([...recent, { window: state.window, signals }]),
    });
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.bucket,
        Key: `${prefix}report.html`,
        Body: html,
        ContentType: 'text/html; charset=utf-8',
      }),
    );
    return { bucket: deps.bucket, prefix };
  }

  /** Judges each record's answer (one call each, a few at once); a failed call is left out. */
  async function judgeAll(
    judge: OnlineJudge,
    rubric: OnlineJudgeRubric,
    records: readonly JudgeableRecord[],
  ): Promise<Judged> {
    const errors: string[] = [];
    const values = await mapLimited(records, judge.concurrency ?? JUDGE_CONCURRENCY, async (r) => {
      try {
        const score = await rubric.score(r.text, r.answer);
        if (typeof score.value === 'number' && Number.isFinite(score.value)) return score.value;
        errors.push(score.error ?? 'no score');
      } catch (error) {
        errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      }
      return null;
    });
    const scores = values.filter((v): v is number => v !== null);
    if (errors.length > 0) {
      logger.warn('Online judge calls failed: left out of the scores', {
        failed: errors.length,
        of: records.length,
        error: errors[0],
      });
    }
    return { sampled: records.length, scores, failed: errors.length };
  }

  /**
   * The baseline's judged sample: read from beside its records, or judged now and kept there (once per
   * baseline and rubric; again when the judge model or the sample's bounds changed). A sample whose
   * failures left it short of `minJudged` scores is not kept: a later check judges it again.
   */
  async function baselineJudged(
    judge: OnlineJudge,
    rubric: OnlineJudgeRubric,
    baseline: DriftBaseline,
    sample: readonly JudgeableRecord[],
    seed: string,
  ): Promise<{ judged: Judged; calls: number }> {
    const { bucket } = baseline.location;
    const key = driftKeys.judged(baseline.location.key, rubric.version);
    const { share, maxPerWindow, minJudged } = judge.settings;
    // Listed first: without s3:ListBucket on the key itself, a missing object answers 403, not 404.
    const listed = await deps.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
    if (listed.Contents?.some((o) => o.Key === key)) {
      const response = await deps.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      let value: unknown;
      try {
        value = JSON.parse((await response.Body?.transformToString('utf8')) ?? '');
      } catch {
        value = undefined;
      }
      const parsed = z.safeParse(judgedCache, value);
      if (
        parsed.success &&
        parsed.data.model === judge.model &&
        parsed.data.share === share &&
        parsed.data.maxPerWindow === maxPerWindow &&
        parsed.data.seed === seed
      ) {
        const { sampled, scores, failed } = parsed.data;
        return { judged: { sampled, scores, failed }, calls: 0 };
      }
      logger.info('The baseline’s judged sample is of another judge or sample: judged again', {
        key,
        ...(parsed.success ? {} : { issues: describeIssues(parsed.error) }),
      });
    }
    const judged = await judgeAll(judge, rubric, sample);
    if (judged.failed === 0 || judged.scores.length >= minJudged) {
      const cache: JudgedCache = {
        rubric: rubric.version,
        model: judge.model,
        share,
        maxPerWindow,
        seed,
        sampled: judged.sampled,
        failed: judged.failed,
        scores: judged.scores,
        judgedAt: now().toISOString(),
      };
      await deps.s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: JSON.stringify(cache),
          ContentType: 'application/json',
        }),
      );
    }
    return { judged, calls: sample.length };
  }

  /**
   * The online judge's part of the quality signal: the rubric resolved, both windows' samples judged
   * with it (the baseline's once per rubric version), compared; or a note when the rubric does not
   * resolve. `undefined` without a judge, or when a window has no answer to judge (then the quality
   * signal is the outcome rates alone).
   */
  async function onlineJudge(
    state: Collected,
    baseline: DriftBaseline,
    reference: readonly DriftRecord[],
    current: readonly DriftRecord[],
  ): Promise<JudgeOutcome | undefined> {
    const judge = deps.judge;
    if (judge === undefined) return undefined;
    const { share, maxPerWindow, minJudged } = judge.settings;
    // One seed per check: the baseline and every window sample by the same rule.
    const seed = `${state.check}:online-judge`;
    const options = { share, maxPerWindow, seed, notFoundAnswer: NO_CONTEXT_ANSWER };
    const currentSample = judgeSample(current, options);
    const referenceSample = judgeSample(reference, options);
    if (currentSample.length === 0 || referenceSample.length === 0) {
      logger.info('Online judge: no answer to judge', {
        current: currentSample.length,
        reference: referenceSample.length,
      });
      return undefined;
    }
    let rubric: OnlineJudgeRubric;
    try {
      rubric = await judge.rubric();
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      logger.error('Online judge: the rubric does not resolve; the window is checked without the judge', {
        error,
      });
      metrics.addMetric('DriftJudgeRubricErrors', 'Count', 1);
      return {
        note: `The online judge was left out of this window (${error.rule}): the quality signal is the outcome rates alone.`,
      };
    }
    const ref = await baselineJudged(judge, rubric, baseline, referenceSample, seed);
    const cur = await judgeAll(judge, rubric, currentSample);
    metrics.addMetric('DriftJudgeCalls', 'Count', ref.calls + currentSample.length);
    const side = (j: Judged) => ({
      sampled: j.sampled,
      judged: j.scores.length,
      failed: j.failed,
      mean: mean(j.scores),
    });
    return {
      test: compareJudged(ref.judged.scores, cur.scores, {
        minJudged,
        rubric: rubric.version,
        model: judge.model,
      }),
      summary: {
        rubric: rubric.version,
        model: judge.model,
        reference: side(ref.judged),
        current: side(cur),
      },
    };
  }

  return async (input: unknown, _context?: Context): Promise<DriftWindowResult> => {
    const state = parseInput(collected, input, 'Check input');
    logger.appendKeys({ check: state.check, windowEnd: state.window.end });
    const previous = await deps.store.getWindow(state.check, state.window.end);
    if (previous !== undefined) {
      logger.info('Window already checked: nothing changes', { status: previous.status });
      return previous;
    }
    const current = await readRecords(deps.s3, state.current.bucket, state.current.key);
    const base = {
      check: state.check,
      window: state.window,
      n: { reference: state.baseline?.records ?? 0, current: current.length },
      drift: false,
      signals: {},
      ...(state.outcomes !== undefined
        ? { outcomes: { reference: state.baseline?.outcomes ?? null, current: state.outcomes } }
        : {}),
      checkedAt: now().toISOString(),
    };

    if (state.baseline === null) {
      if (current.length < minWindow) {
        return record({ ...base, baseline: null, status: 'no-baseline' });
      }
      // The first sufficient window becomes the baseline: traffic as it was when monitoring began. A
      // retried step whose first attempt pinned it already finds it (the same window) and keeps it.
      const key = driftKeys.baseline(state.check, `window-${state.window.end}`);
      const latest = await deps.store.getBaseline(state.check);
      if (latest !== undefined && latest.location.key === key) {
        return record({ ...base, baseline: latest.version, status: 'baseline-pinned' });
      }
      await writeRecords(deps.s3, deps.bucket, key, current);
      const pinned = await deps.store.createBaseline({
        check: state.check,
        source: { kind: 'window', from: state.window.start, to: state.window.end },
        records: current.length,
        embedded: current.filter((r) => r.embedding !== undefined).length,
        answerEmbedded: current.filter((r) => r.answerEmbedding !== undefined).length,
        embeddingModel: state.embeddingModel,
        location: { bucket: deps.bucket, key },
        createdAt: now().toISOString(),
        createdBy: 'drift-check',
        note: 'The first sufficient window of the check, pinned when it had no baseline',
        ...(state.outcomes !== undefined ? { outcomes: state.outcomes } : {}),
      });
      logger.info('First sufficient window pinned as the baseline', { version: pinned.version });
      return record({ ...base, baseline: pinned.version, status: 'baseline-pinned' });
    }

    const reference = await readRecords(deps.s3, state.baseline.location.bucket, state.baseline.location.key);
    // The quality signal needs no record: every call of the window counts, sampled or not, failed or not
    // (a window in which every call failed has no record to read, and is what this signal is for). The
    // online judge, when configured, adds its test of the answers of both windows.
    const judged =
      state.baseline.outcomes !== undefined && state.outcomes !== undefined
        ? await onlineJudge(state, state.baseline, reference, current)
        : undefined;
    const quality =
      state.baseline.outcomes !== undefined && state.outcomes !== undefined
        ? compareOutcomes(state.baseline.outcomes, state.outcomes, {
            alpha: policy.alpha,
            minWindow,
            ...(judged !== undefined && 'test' in judged ? { judge: judged.test } : {}),
          })
        : undefined;
    const judgeSummary = judged !== undefined && 'summary' in judged ? { judge: judged.summary } : {};
    // What people said of the window's answers (feedback and reviews), when both sides have the counts.
    const labelled = labelledOutcomes(state, state.baseline, { alpha: policy.alpha, minWindow });
    const labelledDrift = (labelled.feedback?.drift ?? false) || (labelled.reviews?.drift ?? false);
    if (current.length === 0) {
      if (quality === undefined) {
        return record({ ...base, baseline: state.baseline.version, status: 'insufficient' });
      }
      const signals = { quality: rateSignal(quality), ...labelledSignals(labelled) };
      const scored = Object.values(signals).some((s) => s.score !== null);
      return record({
        ...base,
        ...judgeSummary,
        baseline: state.baseline.version,
        status: scored ? 'checked' : 'insufficient',
        drift: quality.drift || labelledDrift,
        signals,
        report: await writeReport(state, null, state.baseline, quality, judged, labelled, signals),
      });
    }
    const result = checkDrift(reference, current, {
      seed: `${state.check}:${state.window.end}`,
      alpha: policy.alpha,
      effect: policy.effect,
      power: policy.power,
      permutations: policy.permutations,
      notFoundAnswer: NO_CONTEXT_ANSWER,
    });
    const signals: Record<string, SignalResult> = {};
    const embedding = embeddingSignal(result);
    if (embedding !== undefined) signals.embedding = embedding;
    const descriptors = descriptorsSignal(result, policy.alpha);
    if (descriptors !== undefined) signals.descriptors = descriptors;
    if (quality !== undefined) signals.quality = rateSignal(quality);
    Object.assign(signals, labelledSignals(labelled));
    const answers = answerEmbeddingSignal(result);
    if (answers !== undefined) signals.answerEmbedding = answers;
    const report = await writeReport(state, result, state.baseline, quality, judged, labelled, signals);
    const scored = Object.values(signals).some((s) => s.score !== null);
    const outcome = await record({
      ...base,
      ...judgeSummary,
      baseline: state.baseline.version,
      status: scored ? 'checked' : 'insufficient',
      n: result.n,
      drift: result.drift || (quality?.drift ?? false) || labelledDrift,
      signals,
      report,
    });
    return outcome;
  };

  async function record(result: DriftWindowResult): Promise<DriftWindowResult> {
    const stored = await deps.store.recordWindow(result);
    if (stored === 'exists') {
      logger.info('Window recorded by an earlier attempt: nothing published again');
      return (await deps.store.getWindow(result.check, result.window.end)) ?? result;
    }
    const end = new Date(result.window.end);
    for (const [signal, s] of Object.entries(result.signals)) {
      if (s.score !== null) deps.publishScore(result.check, signal, s.score, end);
    }
    metrics.addMetric(
      result.status === 'checked' ? 'DriftWindowsChecked' : 'DriftWindowsUnscored',
      'Count',
      1,
    );
    logger.info('Drift window recorded', {
      status: result.status,
      drift: result.drift,
      baseline: result.baseline,
      n: result.n,
      scores: Object.fromEntries(Object.entries(result.signals).map(([k, s]) => [k, s.score])),
    });
    return result;
  }
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  ...driftEnvironment,
  /** The online judge (JSON `{share, maxPerWindow, minJudged}`); absent: none. */
  ONLINE_JUDGE: envVar.optionalString(),
  /**
   * With ONLINE_JUDGE: the judge, the catalog entry (JSON) of `evaluation.judgeModel`. Not `JUDGE_MODEL`:
   * Evaluate's Plan reads that one as the catalog id, and the local run shares one environment.
   */
  ONLINE_JUDGE_MODEL: envVar.optionalString(),
  /** With ONLINE_JUDGE: the embedding model answer relevance embeds with (the drift check's, RAG's). */
  EMBEDDING_MODEL: envVar.optionalString(),
  /**
   * With ONLINE_JUDGE: the prompt registry, where the judge's rubric is resolved (and seeded with the
   * built-in rubrics, insert-only, as Evaluate's Plan seeds them).
   */
  PROMPTS_TABLE: envVar.optionalString(),
  /** `offline` locally: the offline judge. */
  MODEL_PROVIDER: envVar.optionalString(),
};

/** The judge model of `ONLINE_JUDGE_MODEL`: a chat model of the catalog. */
export function judgeModelFromEnv(raw: string | undefined): CatalogModel {
  let value: unknown;
  try {
    value = JSON.parse(raw ?? '');
  } catch {
    throw new ConfigError(
      'Invalid function configuration: (env).ONLINE_JUDGE_MODEL: must be the JSON of a catalog model',
    );
  }
  const parsed = z.safeParse(catalogModel, value);
  if (!parsed.success || parsed.data.kind !== 'chat') {
    throw new ConfigError(
      `Invalid function configuration: (env).ONLINE_JUDGE_MODEL: must be a chat model of the catalog${
        parsed.success ? `, got kind ${parsed.data.kind}` : `: ${describeIssues(parsed.error)}`
      }`,
    );
  }
  return parsed.data;
}

/** One live answer as an evaluation item, for the judge. */
function liveItem(question: string, answer: string): { item: EvalItem; answer: EvalAnswer } {
  return {
    item: {
      id: 'live',
      messages: [{ role: 'user', content: question }],
      references: [],
      tags: [],
      unanswerable: false,
    },
    answer: { itemId: 'live', answer },
  };
}

/** The prompt registry the online judge resolves its rubric in (and seeds, insert-only). */
export type RubricRegistry = Pick<PromptRegistry, 'get' | 'seed'>;

/** The judge metric the online judge scores: its rubric is the registry's `judge-answer-relevance`. */
export const ONLINE_JUDGE_METRIC = 'answer_relevance' satisfies JudgeRubricMetric;

/**
 * Resolves the online judge's rubric in the registry as an evaluation run does: the rubric prompts
 * seeded once per cold start (insert-only: an administrator's versions and label moves stay), then
 * `judge-answer-relevance@production` read without a cache at each call.
 * @throws ValidationError when it does not resolve or cannot be a rubric
 */
export function rubricResolver(registry: RubricRegistry): () => Promise<RubricPrompt> {
  const seed = seedRubricsOnce(registry);
  return async () => {
    await seed();
    const resolved = await resolveRubrics(registry, [ONLINE_JUDGE_METRIC]);
    const prompt = resolved[ONLINE_JUDGE_METRIC];
    // resolveRubrics resolves every metric it is given, or throws: this only guards the index.
    if (prompt === undefined) {
      throw new ValidationError(`rubrics.${ONLINE_JUDGE_METRIC}`, 'resolved to no rubric');
    }
    return prompt;
  };
}

/**
 * The online judge the environment configures: answer relevance by the judge model, one call per answer
 * (k = 1), embedding with the drift check's embedding model, with the rubric version the registry
 * resolves (`PROMPTS_TABLE`); locally the offline judge, which stands in for the same resolved version
 * and records it. `undefined` without `ONLINE_JUDGE`.
 */
export function onlineJudgeFromEnv(
  env: z.infer<z.ZodMiniObject<typeof environment>>,
  registryOf: (table: string) => RubricRegistry,
): OnlineJudge | undefined {
  if (env.ONLINE_JUDGE === undefined) return undefined;
  const settings = parseOnlineJudge(env.ONLINE_JUDGE);
  const judge = judgeModelFromEnv(env.ONLINE_JUDGE_MODEL);
  const embedding = embeddingModelFromEnv({ EMBEDDING_MODEL: env.EMBEDDING_MODEL });
  if (env.PROMPTS_TABLE === undefined) {
    throw new ConfigError(
      'Invalid function configuration: (env).PROMPTS_TABLE: is required with ONLINE_JUDGE (the judge resolves its rubric in the prompt registry)',
    );
  }
  const resolve = rubricResolver(registryOf(env.PROMPTS_TABLE));
  if (env.MODEL_PROVIDER === 'offline') {
    return {
      settings,
      model: OFFLINE_JUDGE,
      rubric: async () => {
        const prompt = await resolve();
        const version = `${prompt.name}:${prompt.version}`;
        return {
          version,
          // The offline heuristic (`details.method`) stands in for the resolved version, as in a run.
          score: async (question, answer) => {
            const score = await offlineJudgeItem({
              metric: ONLINE_JUDGE_METRIC,
              ...liveItem(question, answer),
            });
            return { ...score, details: { ...score.details, rubric: version } };
          },
        };
      },
    };
  }
  const providerFor = createProviderRouter({ mode: 'catalog' });
  return {
    settings,
    model: judge.modelId,
    rubric: async () => {
      const rubric = withPrompt(ANSWER_RELEVANCE_RUBRIC, await resolve());
      return {
        version: rubric.version,
        score: (question, answer) =>
          judgeItem({
            rubric,
            ...liveItem(question, answer),
            provider: providerFor(judge),
            model: judge.modelId,
            k: 1,
            embedding: { provider: providerFor(embedding), model: embedding.modelId },
          }),
      };
    },
  };
}

const config = readConfig(environment);
const documents = createDocumentClient();
// Labels read without a cache: a label moved since the last check takes effect at the next one.
const judge = onlineJudgeFromEnv(config, (table) => new PromptRegistry(documents, table, { cacheTtlMs: 0 }));

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    bucket: config.ARTIFACTS_BUCKET,
    store: new DynamoDriftStore(documents, config.DRIFT_TABLE),
    policy: parsePolicy(config.DRIFT_POLICY),
    ...(judge !== undefined ? { judge } : {}),
    publishScore: (check, signal, score, at) => {
      const single = metrics.singleMetric();
      single.addDimensions({ Check: check, Signal: signal });
      single.setTimestamp(at);
      single.addMetric(DRIFT_SCORE_METRIC, 'None', score);
    },
  }),
);
