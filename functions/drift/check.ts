import type { S3Client } from '@aws-sdk/client-s3';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { createDocumentClient, createS3Client } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { type DriftStore, DynamoDriftStore } from '#aws/drift/drift-store.ts';
import { NO_CONTEXT_ANSWER } from '#aws/gateway.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import {
  DRIFT_SCORE_METRIC,
  type DriftBaseline,
  type DriftWindowResult,
  type SignalResult,
} from '#contracts/drift/baseline.ts';
import { driftScore } from '#core/drift/alarm-policy.ts';
import { checkDrift, type DriftCheckResult, EMBEDDING_METHODS } from '#core/drift/check.ts';
import { minWindowSize } from '#core/drift/embedding.ts';
import { compareOutcomes, type OutcomeComparison } from '#core/drift/outcomes.ts';
import { driftSummaryJson, renderDriftHtml } from '#core/drift/report.ts';
import {
  type Collected,
  collected,
  type DriftPolicy,
  driftEnvironment,
  driftKeys,
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
 */
export interface CheckDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly store: Pick<DriftStore, 'recordWindow' | 'getWindow' | 'createBaseline' | 'getBaseline'>;
  readonly policy: DriftPolicy;
  /** The metrics namespace the alarms watch. */
  readonly publishScore: (check: string, signal: string, score: number, at: Date) => void;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** The embedding signal: the smallest p-value of the three tests, against alpha / 3. */
export function embeddingSignal(result: DriftCheckResult): SignalResult | undefined {
  const e = result.details.embedding;
  const verdict = result.embedding;
  if (e === null || verdict === null) return undefined;
  let best: { method: string; p: number } | undefined;
  for (const method of EMBEDDING_METHODS) {
    const p = e.tests[method].pValue;
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

/**
 * The quality signal: the smallest Benjamini–Hochberg adjusted p-value of the outcome rates that did not
 * go down, against alpha (1, a score of 0, when none rose; `null` when a window has too few calls).
 */
export function qualitySignal(comparison: OutcomeComparison): SignalResult {
  return {
    score: driftScore(comparison.pValue, comparison.alpha),
    pValue: comparison.pValue,
    threshold: comparison.alpha,
    drift: comparison.drift,
    insufficient: comparison.insufficient,
    method: comparison.method,
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
  ) {
    const prefix = driftKeys.reportPrefix(state.check, state.window.end);
    const summary = {
      check: state.check,
      window: state.window,
      baseline: { version: baseline.version, source: baseline.source },
      ...(result !== null
        ? driftSummaryJson(result, { report: 'report.html' })
        : { n: { reference: baseline.records, current: 0 }, report: null }),
      drift: (result?.drift ?? false) || (quality?.drift ?? false),
      quality: quality ?? null,
      ...(quality === undefined ? { qualityNote: noQualityNote(state, baseline) } : {}),
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
    const html = renderDriftHtml(result, {
      labels: { reference: `baseline v${baseline.version}`, current: `window ending ${state.window.end}` },
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

    // The quality signal needs no record: every call of the window counts, sampled or not, failed or not
    // (a window in which every call failed has no record to read, and is what this signal is for).
    const quality =
      state.baseline.outcomes !== undefined && state.outcomes !== undefined
        ? compareOutcomes(state.baseline.outcomes, state.outcomes, { alpha: policy.alpha, minWindow })
        : undefined;
    const reference = await readRecords(deps.s3, state.baseline.location.bucket, state.baseline.location.key);
    if (current.length === 0) {
      if (quality === undefined) {
        return record({ ...base, baseline: state.baseline.version, status: 'insufficient' });
      }
      const signal = qualitySignal(quality);
      return record({
        ...base,
        baseline: state.baseline.version,
        status: signal.score !== null ? 'checked' : 'insufficient',
        drift: quality.drift,
        signals: { quality: signal },
        report: await writeReport(state, null, state.baseline, quality),
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
    if (quality !== undefined) signals.quality = qualitySignal(quality);
    const report = await writeReport(state, result, state.baseline, quality);
    const scored = Object.values(signals).some((s) => s.score !== null);
    const outcome = await record({
      ...base,
      baseline: state.baseline.version,
      status: scored ? 'checked' : 'insufficient',
      n: result.n,
      drift: result.drift || (quality?.drift ?? false),
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
export const environment = { ...driftEnvironment };

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    bucket: config.ARTIFACTS_BUCKET,
    store: new DynamoDriftStore(createDocumentClient(), config.DRIFT_TABLE),
    policy: parsePolicy(config.DRIFT_POLICY),
    publishScore: (check, signal, score, at) => {
      const single = metrics.singleMetric();
      single.addDimensions({ Check: check, Signal: signal });
      single.setTimestamp(at);
      single.addMetric(DRIFT_SCORE_METRIC, 'None', score);
    },
  }),
);
