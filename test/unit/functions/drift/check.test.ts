// The function's environment, set before its handler module is imported (it reads it at import).
import '../../../support/env/drift.ts';
import { afterEach, beforeAll, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { ConfigError, InvalidEventError, ValidationError } from '#aws/errors.ts';
import { NO_CONTEXT_ANSWER } from '#aws/gateway.ts';
import { metrics } from '#aws/observability.ts';
import { type DriftBaseline, type DriftWindowResult, driftWindowResult } from '#contracts/drift/baseline.ts';
import type { PromptDraft, PromptRef, PromptVersion } from '#contracts/prompts/types.ts';
import type { DriftRecord } from '#core/drift/check.ts';
import type { FeedbackCounts } from '#core/drift/labelled.ts';
import { compareOutcomes, type OutcomeCounts } from '#core/drift/outcomes.ts';
import { ANSWER_RELEVANCE_RUBRIC, rubricSeeds } from '#core/eval/rubrics/index.ts';
import type { ItemScore } from '#core/eval/types.ts';
import {
  type CheckDeps,
  environment,
  judgeModelFromEnv,
  makeHandler,
  type OnlineJudge,
  onlineJudgeFromEnv,
} from '#functions/drift/check.ts';
import { type Collected, collected, driftKeys, parseRecords, recordsJsonl } from '#functions/drift/shared.ts';
import { BEDROCK_CATALOG } from '#infra/config/bedrock-catalog.ts';
import { errorOf } from '../../../support/async.ts';
import { TEST_EMBEDDING_MODEL } from '../../../support/env/embedding-model.ts';
import { promptVersion } from '../../../support/gateway-fixtures.ts';
import { findPrompt } from '../../../support/rubric-prompts.ts';
import { corpus, FakeDriftStore, memoryS3, TEST_POLICY } from './support.ts';

const s3 = memoryS3();
const ARTIFACTS = 'artifacts';
const NOW = new Date('2026-12-01T12:04:00.000Z');
const WINDOW = { start: '2026-12-01T06:00:00.000Z', end: '2026-12-01T12:00:00.000Z' };
const BASELINE_KEY = driftKeys.baseline('support', 'b-1');
const CURRENT_KEY = driftKeys.current('support', WINDOW.end);

let reference: DriftRecord[];
let shifted: DriftRecord[];
let reference2: DriftRecord[];

beforeAll(async () => {
  [reference, shifted, reference2] = await Promise.all([
    corpus('reference.jsonl'),
    corpus('shifted.jsonl'),
    corpus('reference-2.jsonl'),
  ]);
});

const baseline = (records: number, outcomes?: OutcomeCounts): DriftBaseline => ({
  check: 'support',
  version: 3,
  // A baseline from a traffic window has outcome counts; a suite's has none.
  source:
    outcomes === undefined
      ? { kind: 'suite', name: 'support-golden' }
      : { kind: 'window', from: '2026-11-01T00:00:00.000Z', to: '2026-11-02T00:00:00.000Z' },
  records,
  ...(outcomes !== undefined ? { outcomes } : {}),
  embedded: records,
  embeddingModel: 'amazon.titan-embed-text-v2:0',
  location: { bucket: ARTIFACTS, key: BASELINE_KEY },
  createdAt: '2026-11-01T00:00:00.000Z',
  createdBy: 'arn:aws:iam::1:user/ops',
});

/** Outcome counts of a window: calls, errors, throttles, guardrail interventions. */
const counts = (calls: number, errors = 0, throttles = 0, guardrailInterventions = 0): OutcomeCounts => ({
  calls,
  errors,
  throttles,
  guardrailInterventions,
});

/**
 * Stages the window's records (and the baseline's), as Collect and a baseline request left them; with
 * `outcomes`, the window's outcome counts (`current`) and the baseline's (`reference`, a window's).
 */
function stage(
  current: readonly DriftRecord[],
  base: readonly DriftRecord[] | null,
  outcomes: { current?: OutcomeCounts; reference?: OutcomeCounts } = {},
): Collected {
  s3.put(ARTIFACTS, CURRENT_KEY, recordsJsonl(current));
  if (base !== null) s3.put(ARTIFACTS, BASELINE_KEY, recordsJsonl(base));
  return {
    status: 'collected',
    check: 'support',
    window: WINDOW,
    baseline: base === null ? null : baseline(base.length, outcomes.reference),
    ...(outcomes.current !== undefined ? { outcomes: outcomes.current } : {}),
    current: {
      bucket: ARTIFACTS,
      key: CURRENT_KEY,
      records: current.length,
      embedded: current.filter((r) => r.embedding !== undefined).length,
    },
    embeddingModel: 'amazon.titan-embed-text-v2:0',
  };
}

describe('check handler', () => {
  let store: FakeDriftStore;
  let publishScore: ReturnType<typeof vi.fn<CheckDeps['publishScore']>>;
  const handler = (overrides: Partial<CheckDeps> = {}) =>
    makeHandler({
      s3: s3.client,
      bucket: ARTIFACTS,
      store,
      policy: TEST_POLICY,
      publishScore,
      now: () => NOW,
      ...overrides,
    });

  beforeEach(() => {
    s3.install();
    store = new FakeDriftStore();
    publishScore = vi.fn();
  });

  it('reads an environment the stack sets', () => {
    expect(Object.keys(environment).sort()).toEqual([
      'ARTIFACTS_BUCKET',
      'DRIFT_POLICY',
      'DRIFT_TABLE',
      'EMBEDDING_MODEL',
      'MODEL_PROVIDER',
      'ONLINE_JUDGE',
      'ONLINE_JUDGE_MODEL',
      'PROMPTS_TABLE',
    ]);
  });

  it('refuses an input that is not what Collect hands over', async () => {
    expect(await errorOf(handler()({ status: 'baseline-created', check: 'support' }))).toBeInstanceOf(
      InvalidEventError,
    );
  });

  describe('a check without a baseline', () => {
    it('pins the window once when a retry follows a failed window record', async () => {
      const current = reference.slice(0, 60);
      const record = store.recordWindow.bind(store);
      let failures = 1;
      store.recordWindow = async (result) => {
        if (failures-- > 0)
          throw Object.assign(new Error('Throughput exceeded'), { name: 'ThrottlingException' });
        return record(result);
      };
      await expect(handler()(stage(current, null))).rejects.toThrow('Throughput exceeded');
      const out = await handler()(stage(current, null));
      expect(store.baselines.map((b) => b.version)).toEqual([1]);
      expect(out.baseline).toBe(1);
      expect(out.status).toBe('baseline-pinned');
    });

    it('pins its first sufficient window as the baseline, and publishes no score', async () => {
      const current = reference.slice(0, 60);
      const out = await handler()(stage(current, null));

      const key = driftKeys.baseline('support', `window-${WINDOW.end}`);
      expect(store.baselines).toEqual([
        {
          check: 'support',
          version: 1,
          source: { kind: 'window', from: WINDOW.start, to: WINDOW.end },
          records: 60,
          embedded: 60,
          answerEmbedded: 0,
          embeddingModel: 'amazon.titan-embed-text-v2:0',
          location: { bucket: ARTIFACTS, key },
          createdAt: NOW.toISOString(),
          createdBy: 'drift-check',
          note: expect.any(String),
        },
      ]);
      // The window's records, as they were staged, are the baseline's.
      expect(parseRecords(s3.text(ARTIFACTS, key), key)).toEqual(
        parseRecords(s3.text(ARTIFACTS, CURRENT_KEY), 'c'),
      );
      expect(out).toEqual({
        check: 'support',
        window: WINDOW,
        baseline: 1,
        status: 'baseline-pinned',
        n: { reference: 0, current: 60 },
        drift: false,
        signals: {},
        checkedAt: NOW.toISOString(),
      });
      expect(driftWindowResult.parse(out)).toEqual(out);
      expect(await store.getWindow('support', WINDOW.end)).toEqual(out);
      expect(publishScore).not.toHaveBeenCalled();
    });

    it('pins the window’s outcome counts with it, for the quality signal of later windows', async () => {
      const out = await handler()(stage(reference.slice(0, 60), null, { current: counts(64, 1, 2, 1) }));
      expect(store.baselines[0]?.outcomes).toEqual(counts(64, 1, 2, 1));
      expect(out).toMatchObject({
        status: 'baseline-pinned',
        signals: {},
        outcomes: { reference: null, current: counts(64, 1, 2, 1) },
      });
      expect(driftWindowResult.parse(out)).toEqual(out);
      expect(publishScore).not.toHaveBeenCalled();
    });

    it('records a window too small to pin as no-baseline', async () => {
      const out = await handler()(stage(reference.slice(0, 10), null));
      expect(out).toMatchObject({
        status: 'no-baseline',
        baseline: null,
        n: { reference: 0, current: 10 },
        drift: false,
      });
      expect(store.calls).not.toContain('createBaseline');
      expect(store.baselines).toEqual([]);
      expect(await store.getWindow('support', WINDOW.end)).toEqual(out);
      expect(publishScore).not.toHaveBeenCalled();
    });
  });

  describe('a check with a baseline', () => {
    it('finds a shifted window drifted, publishes its scores and writes the report', async () => {
      const out = await handler()(stage(shifted, reference));

      expect(out).toMatchObject({
        check: 'support',
        window: WINDOW,
        baseline: 3,
        status: 'checked',
        n: { reference: 200, current: 200 },
        drift: true,
        report: { bucket: ARTIFACTS, prefix: `drift/reports/support/${WINDOW.end}/` },
        checkedAt: NOW.toISOString(),
      });
      expect(driftWindowResult.parse(out)).toEqual(out);
      const embedding = out.signals.embedding;
      expect(embedding).toMatchObject({ drift: true, insufficient: false, threshold: TEST_POLICY.alpha / 3 });
      expect(embedding?.score).toBeGreaterThanOrEqual(1);
      expect(['mmd', 'classifier', 'centroid']).toContain(embedding?.method);
      expect(embedding?.pValue).toBeLessThanOrEqual(TEST_POLICY.alpha / 3);
      expect(out.signals.descriptors).toMatchObject({ threshold: TEST_POLICY.alpha });

      // One datapoint per signal with a score, stamped with the window's end.
      const published = new Map(
        publishScore.mock.calls.map(([check, signal, score, at]) => [signal, { check, score, at }]),
      );
      expect(published.get('embedding')).toEqual({
        check: 'support',
        score: embedding?.score,
        at: new Date(WINDOW.end),
      });
      expect(published.get('embedding')?.score).toBeGreaterThanOrEqual(1);
      for (const [signal, s] of Object.entries(out.signals)) {
        if (s.score === null) expect(published.has(signal)).toBe(false);
        else expect(published.get(signal)?.score, signal).toBe(s.score);
      }

      const prefix = `drift/reports/support/${WINDOW.end}/`;
      expect(s3.contentType(ARTIFACTS, `${prefix}summary.json`)).toBe('application/json');
      expect(s3.contentType(ARTIFACTS, `${prefix}report.html`)).toBe('text/html; charset=utf-8');
      const summary = JSON.parse(s3.text(ARTIFACTS, `${prefix}summary.json`));
      expect(summary).toMatchObject({
        check: 'support',
        window: WINDOW,
        baseline: { version: 3, source: { kind: 'suite', name: 'support-golden' } },
        drift: true,
        n: { reference: 200, current: 200 },
        report: 'report.html',
        embedding: { drift: true },
      });
      const html = s3.text(ARTIFACTS, `${prefix}report.html`);
      expect(html).toMatch(/^<!doctype html>/i);
      expect(html).toContain('baseline v3');
      expect(html).toContain(`window ending ${WINDOW.end}`);
      expect(await store.getWindow('support', WINDOW.end)).toEqual(out);
    });

    it('finds a window like the baseline not drifted: every score below 1', async () => {
      const out = await handler()(stage(reference2, reference));
      expect(out).toMatchObject({ status: 'checked', drift: false, n: { reference: 200, current: 200 } });
      expect(Object.keys(out.signals).sort()).toEqual(['descriptors', 'embedding']);
      for (const [signal, s] of Object.entries(out.signals)) {
        expect(s.score, signal).not.toBeNull();
        expect(s.score, signal).toBeLessThan(1);
        expect(s.drift, signal).toBe(false);
      }
      expect(publishScore).toHaveBeenCalledTimes(2);
      for (const [, , score] of publishScore.mock.calls) expect(score).toBeLessThan(1);
    });

    it('adds the quality signal when the baseline has outcomes: errors from 1% to 15% drift', async () => {
      const staged = stage(shifted, reference, { reference: counts(200, 2), current: counts(200, 30) });
      expect(collected.parse(staged)).toEqual(staged);
      const out = await handler()(staged);
      expect(Object.keys(out.signals).sort()).toEqual(['descriptors', 'embedding', 'quality']);
      // scipy.stats.chi2_contingency([[2, 198], [30, 170]]): p 6.485602694285682e-07; log(p) / log(0.05).
      expect(out.signals.quality).toEqual({
        score: expect.closeTo(Math.log(6.485602694285682e-7) / Math.log(0.05), 9),
        pValue: expect.closeTo(6.485602694285682e-7, 15),
        threshold: TEST_POLICY.alpha,
        drift: true,
        insufficient: false,
        method: 'errorRate',
      });
      expect(out.signals.quality?.score).toBeCloseTo(4.756, 3);
      expect(out.outcomes).toEqual({ reference: counts(200, 2), current: counts(200, 30) });
      expect(driftWindowResult.parse(out)).toEqual(out);
      const published = publishScore.mock.calls.filter(([, signal]) => signal === 'quality');
      expect(published).toEqual([['support', 'quality', out.signals.quality?.score, new Date(WINDOW.end)]]);

      const summary = JSON.parse(s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/summary.json`));
      expect(summary.quality).toMatchObject({
        reference: counts(200, 2),
        current: counts(200, 30),
        alpha: TEST_POLICY.alpha,
        minWindow: 50,
        insufficient: false,
        method: 'errorRate',
        drift: true,
        rates: {
          errorRate: { status: 'tested', reference: 0.01, current: 0.15, direction: 'up', drift: true },
          throttleRate: { status: 'skipped' },
          guardrailRate: { status: 'skipped' },
        },
      });
      expect(summary).not.toHaveProperty('qualityNote');
      // The report shows the outcome rates beside the other tests.
      const html = s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/report.html`);
      expect(html).toContain('id="quality"');
      expect(html).toMatch(
        /data-test="quality-errorRate">.*<td class="num">1\.0%<\/td><td class="num">15\.0%<\/td>/,
      );
    });

    it('finds the quality of similar traffic unchanged: a score below 1, published with the others', async () => {
      const out = await handler()(
        stage(reference2, reference, { reference: counts(200, 2, 1), current: counts(210, 3, 0, 1) }),
      );
      expect(out).toMatchObject({ status: 'checked', drift: false });
      expect(out.signals.quality).toMatchObject({
        drift: false,
        insufficient: false,
        threshold: TEST_POLICY.alpha,
      });
      expect(out.signals.quality?.score).toBeLessThan(1);
      expect(publishScore).toHaveBeenCalledTimes(3);
      for (const [, , score] of publishScore.mock.calls) expect(score).toBeLessThan(1);
    });

    it('a falling error rate is good news: no drift, a score of 0', async () => {
      const out = await handler()(
        stage(reference2, reference, { reference: counts(500, 50), current: counts(500, 10) }),
      );
      expect(out.signals.quality).toEqual({
        score: 0,
        pValue: 1,
        threshold: TEST_POLICY.alpha,
        drift: false,
        insufficient: false,
        method: null,
      });
      expect(out.drift).toBe(false);
    });

    it('has no quality signal when the baseline has no outcomes (a suite), and says so', async () => {
      const out = await handler()(stage(reference2, reference, { current: counts(200, 60) }));
      expect(Object.keys(out.signals).sort()).toEqual(['descriptors', 'embedding']);
      expect(out.outcomes).toEqual({ reference: null, current: counts(200, 60) });
      expect(publishScore.mock.calls.map(([, signal]) => signal)).not.toContain('quality');
      const summary = JSON.parse(s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/summary.json`));
      expect(summary.quality).toBeNull();
      expect(summary.qualityNote).toBe(
        'Baseline v3 (suite) has no outcome counts (only a baseline from a traffic window has them): no quality signal.',
      );
      expect(s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/report.html`)).not.toContain(
        'id="quality"',
      );
    });

    it('has no quality signal for a window collected without outcomes', async () => {
      const out = await handler()(stage(reference2, reference, { reference: counts(200, 2) }));
      expect(out.signals).not.toHaveProperty('quality');
      expect(out).not.toHaveProperty('outcomes');
      const summary = JSON.parse(s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/summary.json`));
      expect(summary.qualityNote).toMatch(/without outcome counts/);
    });

    it('scores the quality of a window whose every call failed, though it has no record to test', async () => {
      const out = await handler()(
        stage([], reference, { reference: counts(200, 2), current: counts(80, 80) }),
      );
      expect(out).toMatchObject({
        status: 'checked',
        drift: true,
        n: { reference: 200, current: 0 },
        signals: { quality: { drift: true, method: 'errorRate', score: 10 } },
        report: { bucket: ARTIFACTS, prefix: `drift/reports/support/${WINDOW.end}/` },
      });
      expect(Object.keys(out.signals)).toEqual(['quality']);
      expect(publishScore).toHaveBeenCalledWith('support', 'quality', 10, new Date(WINDOW.end));
      // The summary, without an HTML report (no record to draw).
      const prefix = `drift/reports/support/${WINDOW.end}/`;
      expect(JSON.parse(s3.text(ARTIFACTS, `${prefix}summary.json`))).toMatchObject({
        drift: true,
        n: { reference: 200, current: 0 },
        report: null,
        quality: { drift: true, current: counts(80, 80) },
      });
      expect(s3.has(ARTIFACTS, `${prefix}report.html`)).toBe(false);
    });

    it('records the quality of a window with too few calls as insufficient, publishing no quality score', async () => {
      const out = await handler()(
        stage(reference2, reference, { reference: counts(200, 2), current: counts(20, 20) }),
      );
      expect(out.signals.quality).toEqual({
        score: null,
        pValue: null,
        threshold: TEST_POLICY.alpha,
        drift: false,
        insufficient: true,
        method: null,
      });
      expect(publishScore.mock.calls.map(([, signal]) => signal).sort()).toEqual([
        'descriptors',
        'embedding',
      ]);
    });

    it('checks the same windows the same way on a retry (seeded by the check and the window)', async () => {
      const first = await handler()(stage(shifted, reference));
      const again = await handler({ store: new FakeDriftStore() })(stage(shifted, reference));
      expect(again.signals).toEqual(first.signals);
    });

    it('records an empty window as insufficient, publishing nothing and writing no report', async () => {
      const out = await handler()(stage([], reference));
      expect(out).toMatchObject({
        status: 'insufficient',
        baseline: 3,
        n: { reference: 200, current: 0 },
        signals: {},
      });
      expect(out).not.toHaveProperty('report');
      expect(publishScore).not.toHaveBeenCalled();
      expect(s3.keys().some((k) => k.includes('drift/reports/'))).toBe(false);
    });

    it('records a window too small to score as insufficient, publishing nothing', async () => {
      const out = await handler()(stage(shifted.slice(0, 12), reference));
      expect(out.status).toBe('insufficient');
      for (const s of Object.values(out.signals)) expect(s.score).toBeNull();
      expect(publishScore).not.toHaveBeenCalled();
      expect(out.report).toBeDefined();
    });
  });

  describe('a window checked before', () => {
    it('returns the recorded result and changes nothing', async () => {
      const recorded: DriftWindowResult = {
        check: 'support',
        window: WINDOW,
        baseline: 3,
        status: 'checked',
        n: { reference: 200, current: 200 },
        drift: true,
        signals: {
          embedding: {
            score: 4,
            pValue: 0.0001,
            threshold: 0.05 / 3,
            drift: true,
            insufficient: false,
            method: 'mmd',
          },
        },
        checkedAt: '2026-12-01T12:01:00.000Z',
      };
      await store.recordWindow(recorded);
      store.calls.length = 0;
      s3.mock.resetHistory();

      const out = await handler()(stage(shifted, reference));
      expect(out).toEqual(recorded);
      expect(publishScore).not.toHaveBeenCalled();
      expect(store.calls).toEqual([]);
      // Nothing read, nothing written.
      expect(s3.mock.calls()).toHaveLength(0);
    });

    it('publishes nothing when an earlier attempt recorded the window meanwhile', async () => {
      const racing = new FakeDriftStore();
      racing.recordWindow = async () => 'exists';
      const out = await handler({ store: racing })(stage(shifted, reference));
      expect(out.status).toBe('checked');
      expect(publishScore).not.toHaveBeenCalled();
    });
  });
});

/**
 * Feedback counts of a window: thumbs up and down, optionally stars (counts of 1 to 5 stars), and the
 * complaints reviewed and confirmed.
 */
function feedback(
  up: number,
  down: number,
  options: { stars?: number[]; reviewed?: number; confirmed?: number; answered?: number } = {},
): FeedbackCounts {
  const [s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0] = options.stars ?? [];
  return {
    answered: options.answered ?? 1000,
    verdicts: up + down + s1 + s2 + s3 + s4 + s5,
    positive: up + s4 + s5,
    negative: down + s1 + s2,
    ratings: [down + s1, s2, s3, s4, up + s5],
    reviewed: options.reviewed ?? 0,
    confirmed: options.confirmed ?? 0,
  };
}

describe('the answers’ embeddings and the labelled outcomes', () => {
  let store: FakeDriftStore;
  let publishScore: ReturnType<typeof vi.fn<CheckDeps['publishScore']>>;
  const handler = () =>
    makeHandler({
      s3: s3.client,
      bucket: ARTIFACTS,
      store,
      policy: TEST_POLICY,
      publishScore,
      now: () => NOW,
    });
  const summary = () => JSON.parse(s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/summary.json`));
  const html = () => s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/report.html`);
  const published = () => new Map(publishScore.mock.calls.map(([, signal, score]) => [signal, score]));
  /** The records, each with the embedding of `answers`' record at its index as its answer's. */
  const answered = (records: readonly DriftRecord[], answers: readonly DriftRecord[]) =>
    records.map((r, i) => ({ ...r, answerEmbedding: answers[i % answers.length]?.embedding as number[] }));
  /** A baseline's and a window's outcomes: no error, and these verdicts. */
  const withFeedback = (reference: FeedbackCounts, current: FeedbackCounts) => ({
    reference: { ...counts(1000), feedback: reference },
    current: { ...counts(1000), feedback: current },
  });

  beforeEach(() => {
    s3.install();
    store = new FakeDriftStore();
    publishScore = vi.fn();
  });

  it('tests the answers’ embeddings as a family of their own: a score published, a section of the report', async () => {
    // Answers that moved as the shifted questions did, against answers like the reference's.
    const out = await handler()(stage(answered(reference2, shifted), answered(reference, reference2)));
    expect(out.signals.answerEmbedding).toMatchObject({
      drift: true,
      insufficient: false,
      threshold: TEST_POLICY.alpha / 3,
    });
    expect(out.signals.answerEmbedding?.score).toBeGreaterThanOrEqual(1);
    // The questions did not move.
    expect(out.signals.embedding?.drift).toBe(false);
    expect(out.drift).toBe(true);
    expect(published().get('answerEmbedding')).toBe(out.signals.answerEmbedding?.score);
    expect(driftWindowResult.parse(out)).toEqual(out);
    expect(summary().answerEmbedding).toMatchObject({
      status: 'tested',
      n: { reference: 200, current: 200 },
      drift: true,
      tests: { mmd: { fired: expect.any(Boolean) } },
    });
    expect(html()).toContain('data-chart="answer-embedding" data-status="tested"');
    expect(html()).toContain('data-chart="answer-projection"');
    expect(html()).toContain('the answers&#39; embeddings moved');
  });

  it('finds answers like the baseline’s not drifted', async () => {
    const out = await handler()(stage(answered(reference2, reference2), answered(reference, reference)));
    expect(out.signals.answerEmbedding).toMatchObject({ drift: false, insufficient: false });
    expect(out.signals.answerEmbedding?.score).toBeLessThan(1);
    expect(out.drift).toBe(false);
  });

  it('a baseline without answer embeddings (from before them) is no baseline for them, not drift', async () => {
    const out = await handler()(stage(answered(reference2, shifted), reference));
    expect(out.signals).not.toHaveProperty('answerEmbedding');
    expect(out.drift).toBe(false);
    expect(published().has('answerEmbedding')).toBe(false);
    expect(summary().answerEmbedding).toMatchObject({
      status: 'no-baseline',
      n: { reference: 0, current: 200 },
      drift: false,
      pValue: null,
    });
    expect(summary().details.notes.join(' ')).toMatch(/no baseline, not "no drift"/);
    expect(html()).toContain('data-status="no-baseline"');
  });

  it('a window with too few answers is insufficient for them: no score', async () => {
    const current = [...answered(reference2.slice(0, 10), shifted), ...reference2.slice(10)];
    const out = await handler()(stage(current, answered(reference, reference2)));
    expect(out.signals.answerEmbedding).toMatchObject({ score: null, insufficient: true, drift: false });
    expect(published().has('answerEmbedding')).toBe(false);
    expect(summary().answerEmbedding).toMatchObject({ status: 'insufficient', n: { current: 10 } });
  });

  it('a thumbs-up rate falling from 80% to 50% drifts the feedback signal, published to page', async () => {
    const out = await handler()(
      stage(reference2, reference, withFeedback(feedback(160, 40), feedback(100, 100))),
    );
    // scipy: chi2_contingency([[160, 40], [100, 100]]) p 6.214951730882236e-10; mannwhitneyu of the
    // ratings p 3.357136216091945e-10; false_discovery_control of both: 6.214951730882236e-10 each.
    expect(out.signals.feedback).toEqual({
      score: expect.closeTo(Math.log(6.214951730882236e-10) / Math.log(0.05), 6),
      pValue: expect.closeTo(6.214951730882236e-10, 18),
      threshold: TEST_POLICY.alpha,
      drift: true,
      insufficient: false,
      method: 'thumbsUpRate',
    });
    expect(out.drift).toBe(true);
    expect(published().get('feedback')).toBe(out.signals.feedback?.score);
    expect(out.outcomes?.current.feedback).toEqual(feedback(100, 100));
    expect(driftWindowResult.parse(out)).toEqual(out);
    expect(summary().feedback).toMatchObject({
      drift: true,
      tests: {
        thumbsUpRate: { status: 'tested', reference: 0.8, current: 0.5, direction: 'down', drift: true },
        meanRating: { status: 'tested', test: 'mann-whitney', direction: 'down', drift: true },
      },
    });
    expect(summary().reviews).toMatchObject({ insufficient: true, pValue: null });
    expect(html()).toContain('data-chart="labelled"');
    expect(html()).toMatch(
      /data-test="labelled-thumbsUpRate">.*<td class="num">80\.0%<\/td><td class="num">50\.0%<\/td>/,
    );
  });

  it('a rising thumbs-up rate is good news: a feedback score of 0', async () => {
    const out = await handler()(
      stage(reference2, reference, withFeedback(feedback(100, 100), feedback(160, 40))),
    );
    expect(out.signals.feedback).toMatchObject({ score: 0, pValue: 1, drift: false, method: null });
    expect(out.drift).toBe(false);
  });

  it('too few verdicts make the feedback signal insufficient: no score', async () => {
    const out = await handler()(
      stage(reference2, reference, withFeedback(feedback(160, 40), feedback(20, 20))),
    );
    expect(out.signals.feedback).toMatchObject({ score: null, insufficient: true, drift: false });
    expect(published().has('feedback')).toBe(false);
  });

  it('more of the reviewed complaints confirmed drifts the reviews signal', async () => {
    const out = await handler()(
      stage(
        reference2,
        reference,
        withFeedback(
          feedback(150, 60, { reviewed: 60, confirmed: 20 }),
          feedback(150, 60, { reviewed: 60, confirmed: 45 }),
        ),
      ),
    );
    // scipy: chi2_contingency([[20, 40], [45, 15]]) p 1.097196026802034e-05.
    expect(out.signals.reviews).toMatchObject({
      pValue: expect.closeTo(1.097196026802034e-5, 15),
      drift: true,
      method: 'complaintPrecision',
    });
    expect(out.signals.feedback).toMatchObject({ drift: false });
    expect(published().get('reviews')).toBe(out.signals.reviews?.score);
    expect(summary().reviews.tests.complaintPrecision).toMatchObject({
      reference: 20 / 60,
      current: 45 / 60,
      direction: 'up',
    });
  });

  it('a baseline without feedback counts is no baseline for the feedback and reviews signals, and says so', async () => {
    const out = await handler()(
      stage(reference2, reference, {
        reference: counts(1000),
        current: { ...counts(1000), feedback: feedback(10, 190) },
      }),
    );
    expect(out.signals).not.toHaveProperty('feedback');
    expect(out.signals).not.toHaveProperty('reviews');
    expect(out.drift).toBe(false);
    expect(summary()).toMatchObject({ feedback: null, reviews: null });
    expect(summary().labelledNote).toMatch(/^Baseline v3 \(window\) has no feedback counts/);
    expect(html()).toContain('has no feedback counts');
  });

  it('scores the feedback of a window without a sampled record', async () => {
    const out = await handler()(stage([], reference, withFeedback(feedback(160, 40), feedback(100, 100))));
    expect(out).toMatchObject({ status: 'checked', drift: true, n: { current: 0 } });
    expect(Object.keys(out.signals).sort()).toEqual(['feedback', 'quality', 'reviews']);
    expect(summary()).toMatchObject({ report: null, feedback: { drift: true } });
  });
});

describe('the online judge', () => {
  let store: FakeDriftStore;
  let publishScore: ReturnType<typeof vi.fn<CheckDeps['publishScore']>>;
  let addMetric: MockInstance<typeof metrics.addMetric>;
  const SETTINGS = { share: 0.1, maxPerWindow: 20, minJudged: 10 };
  const RUBRIC = 'judge-answer-relevance:1';
  const JUDGED_KEY = driftKeys.judged(BASELINE_KEY, RUBRIC);

  /** Answered records: an on-topic answer restating each question, or a noncommittal one. */
  const withAnswers = (records: readonly DriftRecord[], answer: (text: string, i: number) => string) =>
    records.map((r, i) => ({ ...r, answer: answer(r.text ?? '', i) }));
  const onTopic = (text: string) => `To answer "${text}": check the configuration first.`;
  const vague = () => 'It depends.';

  /**
   * A judge that scores an on-topic answer 0.7 to 0.95 (by the question's length) and a noncommittal one
   * 0 to 0.15, with the rubric version `rubric` (resolved once per check: `resolved` counts); `fail` says
   * which calls fail (a rejection, or a null score).
   */
  function fakeJudge(
    fail: (question: string, answer: string) => 'reject' | 'null' | false = () => false,
    rubric = RUBRIC,
  ) {
    const calls: { question: string; answer: string }[] = [];
    let resolved = 0;
    const judge: OnlineJudge = {
      settings: SETTINGS,
      model: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
      rubric: async () => {
        resolved += 1;
        return {
          version: rubric,
          score: async (question, answer): Promise<ItemScore> => {
            calls.push({ question, answer });
            const failure = fail(question, answer);
            if (failure === 'reject')
              throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
            if (failure === 'null') {
              return { metric: 'answer_relevance', value: null, error: 'the judge failed 1 of 1 repeats' };
            }
            const spread = (question.length % 26) / 100;
            return { metric: 'answer_relevance', value: answer === vague() ? spread / 2 : 0.7 + spread };
          },
        };
      },
    };
    return { judge, calls, resolved: () => resolved };
  }

  const handler = (judge: OnlineJudge | undefined, overrides: Partial<CheckDeps> = {}) =>
    makeHandler({
      s3: s3.client,
      bucket: ARTIFACTS,
      store,
      policy: TEST_POLICY,
      publishScore,
      now: () => NOW,
      ...(judge !== undefined ? { judge } : {}),
      ...overrides,
    });

  beforeEach(() => {
    s3.install();
    store = new FakeDriftStore();
    publishScore = vi.fn();
    addMetric = vi.spyOn(metrics, 'addMetric');
  });
  afterEach(() => {
    addMetric.mockRestore();
  });

  const judgeCalls = () =>
    addMetric.mock.calls.filter(([name]) => name === 'DriftJudgeCalls').map(([, , value]) => value);

  it('judges a capped sample of both windows, records the counts and means, and caches the baseline’s', async () => {
    const { judge, calls } = fakeJudge();
    const staged = stage(withAnswers(reference2, onTopic), withAnswers(reference, onTopic), {
      reference: counts(200, 2),
      current: counts(200, 2),
    });
    const out = await handler(judge)(staged);

    // ⌈0.1 × 200⌉ = 20 answers of each window, one call each.
    expect(calls).toHaveLength(40);
    expect(judgeCalls()).toEqual([40]);
    expect(out.judge).toEqual({
      rubric: RUBRIC,
      model: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
      reference: { sampled: 20, judged: 20, failed: 0, mean: expect.any(Number) },
      current: { sampled: 20, judged: 20, failed: 0, mean: expect.any(Number) },
    });
    expect(driftWindowResult.parse(out)).toEqual(out);
    // Similar answers: the judge's test does not drift, and the quality score stays below 1.
    expect(out.signals.quality).toMatchObject({ drift: false, insufficient: false });
    expect(out.signals.quality?.score).toBeLessThan(1);

    const summary = JSON.parse(s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/summary.json`));
    expect(summary.judge).toEqual(out.judge);
    // The judge's test names the rubric version and the judge model its scores come from.
    expect(summary.quality.judge).toMatchObject({
      status: 'tested',
      n: { reference: 20, current: 20 },
      minJudged: 10,
      drift: false,
      rubric: RUBRIC,
      model: judge.model,
    });
    expect(summary.quality.judge.reference).toBeCloseTo(out.judge?.reference.mean as number, 12);
    const page = s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/report.html`);
    expect(page).toContain(
      `data-test="quality-judge-rubric">rubric ${RUBRIC}, judge us.anthropic.claude-haiku-4-5-20251001-v1:0<`,
    );

    // The baseline's scores, kept beside its records for the next windows.
    const cache = JSON.parse(s3.text(ARTIFACTS, JUDGED_KEY));
    expect(cache).toMatchObject({
      rubric: RUBRIC,
      model: judge.model,
      share: 0.1,
      maxPerWindow: 20,
      seed: 'support:online-judge',
      sampled: 20,
      failed: 0,
      judgedAt: NOW.toISOString(),
    });
    expect(cache.scores).toHaveLength(20);
  });

  it('a later window reads the baseline’s scores: only its own answers are judged', async () => {
    const { judge, calls } = fakeJudge();
    const base = withAnswers(reference, onTopic);
    const outcomes = { reference: counts(200, 2), current: counts(200, 2) };
    const first = await handler(judge)(stage(withAnswers(reference2, onTopic), base, outcomes));
    calls.length = 0;
    addMetric.mockClear();

    const later = {
      ...stage(withAnswers(reference2, onTopic), base, outcomes),
      window: { ...WINDOW, end: '2026-12-01T18:00:00.000Z' },
    };
    const out = await handler(judge)(later);
    expect(calls).toHaveLength(20);
    expect(judgeCalls()).toEqual([20]);
    expect(out.judge?.reference).toEqual(first.judge?.reference);
  });

  it('judges the baseline again when its cached scores are of another judge model', async () => {
    const { judge, calls } = fakeJudge();
    const base = withAnswers(reference, onTopic);
    const outcomes = { reference: counts(200, 2), current: counts(200, 2) };
    await handler(judge)(stage(withAnswers(reference2, onTopic), base, outcomes));
    calls.length = 0;
    const other = { ...judge, model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0' };
    const out = await handler(other, { store: new FakeDriftStore() })(
      stage(withAnswers(reference2, onTopic), base, outcomes),
    );
    expect(calls).toHaveLength(40);
    expect(out.judge?.model).toBe(other.model);
    expect(JSON.parse(s3.text(ARTIFACTS, JUDGED_KEY)).model).toBe(other.model);
  });

  it('judges the baseline again with a new rubric version, kept under its own key', async () => {
    const base = withAnswers(reference, onTopic);
    const outcomes = { reference: counts(200, 2), current: counts(200, 2) };
    const first = fakeJudge();
    await handler(first.judge)(stage(withAnswers(reference2, onTopic), base, outcomes));
    expect(first.resolved()).toBe(1);
    // `production` moved to version 2: the next check resolves it and judges both windows with it.
    const moved = fakeJudge(undefined, 'judge-answer-relevance:2');
    const out = await handler(moved.judge, { store: new FakeDriftStore() })(
      stage(withAnswers(reference2, onTopic), base, outcomes),
    );
    expect(moved.calls).toHaveLength(40);
    expect(out.judge?.rubric).toBe('judge-answer-relevance:2');
    const kept = JSON.parse(s3.text(ARTIFACTS, driftKeys.judged(BASELINE_KEY, 'judge-answer-relevance:2')));
    expect(kept.rubric).toBe('judge-answer-relevance:2');
    // Version 1's scores stay where they were.
    expect(JSON.parse(s3.text(ARTIFACTS, JUDGED_KEY)).rubric).toBe(RUBRIC);
  });

  it('a rubric that does not resolve leaves the judge out of the window, saying why; the rates score as without it', async () => {
    const outcomes = { reference: counts(200, 2), current: counts(200, 30) };
    const staged = () => stage(withAnswers(reference2, onTopic), withAnswers(reference, onTopic), outcomes);
    const { judge, calls } = fakeJudge();
    const unresolved: OnlineJudge = {
      ...judge,
      rubric: async () => {
        throw new ValidationError(
          'request.rubrics.answer_relevance',
          'the rubric judge-answer-relevance@production does not resolve: Prompt judge-answer-relevance has no label production',
        );
      },
    };
    const out = await handler(unresolved)(staged());
    expect(calls).toEqual([]);
    expect(out).not.toHaveProperty('judge');
    expect(judgeCalls()).toEqual([]);
    expect(addMetric).toHaveBeenCalledWith('DriftJudgeRubricErrors', 'Count', 1);
    const summary = JSON.parse(s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/summary.json`));
    expect(summary.judgeNote).toBe(
      'The online judge was left out of this window (the rubric judge-answer-relevance@production does not resolve: Prompt judge-answer-relevance has no label production): the quality signal is the outcome rates alone.',
    );
    expect(summary.quality).not.toHaveProperty('judge');
    const without = await handler(undefined, { store: new FakeDriftStore() })(staged());
    expect(out.signals).toEqual(without.signals);

    // Any other failure (the registry unreachable) fails the step, which is retried.
    const unreachable: OnlineJudge = {
      ...judge,
      rubric: async () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
      },
    };
    await expect(handler(unreachable, { store: new FakeDriftStore() })(staged())).rejects.toThrow(
      'Rate exceeded',
    );
  });

  it('answers judged less relevant drift the quality signal, though the error rate stayed', async () => {
    const { judge } = fakeJudge();
    const out = await handler(judge)(
      stage(withAnswers(reference2, vague), withAnswers(reference, onTopic), {
        reference: counts(200, 2),
        current: counts(200, 2),
      }),
    );
    expect(out.signals.quality).toMatchObject({
      drift: true,
      insufficient: false,
      method: 'judgeAnswerRelevance',
    });
    expect(out.signals.quality?.score).toBeGreaterThanOrEqual(1);
    expect(out.drift).toBe(true);
    expect(out.judge?.current.mean).toBeLessThan(out.judge?.reference.mean as number);
    expect(publishScore.mock.calls.filter(([, signal]) => signal === 'quality')).toEqual([
      ['support', 'quality', out.signals.quality?.score, new Date(WINDOW.end)],
    ]);
  });

  it('leaves failed judge calls out (never a 0), counting them', async () => {
    // Every other question's call fails, some by rejection, some by a null score.
    const { judge } = fakeJudge((q) =>
      q.length % 2 === 0 ? (q.length % 4 === 0 ? 'reject' : 'null') : false,
    );
    const out = await handler(judge)(
      stage(withAnswers(reference2, onTopic), withAnswers(reference, onTopic), {
        reference: counts(200, 2),
        current: counts(200, 2),
      }),
    );
    const current = out.judge?.current;
    expect(current?.failed).toBeGreaterThan(0);
    expect((current?.judged ?? 0) + (current?.failed ?? 0)).toBe(current?.sampled);
    // The mean of the scores only: an on-topic answer scores at least 0.7 here.
    expect(current?.mean).toBeGreaterThanOrEqual(0.7);
  });

  it('a window whose judge calls all failed: the judge test is insufficient, the rates score as without it', async () => {
    // The window's answers (not the baseline's) fail; the windows share some questions.
    const { judge } = fakeJudge((_q, a) => (a.startsWith('Now: ') ? 'reject' : false));
    const outcomes = { reference: counts(200, 2), current: counts(200, 30) };
    const out = await handler(judge)(
      stage(
        withAnswers(reference2, (t) => `Now: ${onTopic(t)}`),
        withAnswers(reference, onTopic),
        outcomes,
      ),
    );
    expect(out.judge?.current).toEqual({ sampled: 20, judged: 0, failed: 20, mean: null });
    expect(out.judge?.reference).toMatchObject({ judged: 20, failed: 0 });
    const summary = JSON.parse(s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/summary.json`));
    expect(summary.quality.judge).toMatchObject({ status: 'insufficient', pValue: null, drift: false });
    // The rates decide, exactly as without a judge.
    const rates = compareOutcomes(outcomes.reference, outcomes.current, {
      alpha: TEST_POLICY.alpha,
      minWindow: 50,
    });
    expect(out.signals.quality).toMatchObject({ method: 'errorRate', pValue: rates.pValue, drift: true });
  });

  it('does not keep a baseline sample its failures left short: the next check judges it again', async () => {
    const { judge } = fakeJudge((_q, a) => (a.startsWith('Then: ') ? 'reject' : false));
    const out = await handler(judge)(
      stage(
        withAnswers(reference2, onTopic),
        withAnswers(reference, (t) => `Then: ${onTopic(t)}`),
        { reference: counts(200, 2), current: counts(200, 2) },
      ),
    );
    expect(out.judge?.reference).toEqual({ sampled: 20, judged: 0, failed: 20, mean: null });
    expect(out.judge?.current).toMatchObject({ judged: 20, failed: 0 });
    expect(s3.has(ARTIFACTS, JUDGED_KEY)).toBe(false);
  });

  it('a window without answers to judge behaves exactly as without the judge', async () => {
    const { judge, calls, resolved } = fakeJudge();
    // The window's answers are the gateway's no-context answer: nothing of the model's to judge.
    const outcomes = { reference: counts(200, 2), current: counts(200, 30) };
    const current = withAnswers(reference2, () => NO_CONTEXT_ANSWER);
    const out = await handler(judge)(stage(current, withAnswers(reference, onTopic), outcomes));
    expect(calls).toEqual([]);
    // Nothing to judge: the rubric is not even resolved.
    expect(resolved()).toBe(0);
    expect(out).not.toHaveProperty('judge');
    const without = await handler(undefined, { store: new FakeDriftStore() })(
      stage(current, withAnswers(reference, onTopic), outcomes),
    );
    expect(out.signals).toEqual(without.signals);
    const summary = JSON.parse(s3.text(ARTIFACTS, `drift/reports/support/${WINDOW.end}/summary.json`));
    expect(summary.quality).not.toHaveProperty('judge');
    expect(summary).not.toHaveProperty('judge');
  });

  it('judges nothing when the window has no quality signal (a baseline without outcomes)', async () => {
    const { judge, calls } = fakeJudge();
    const out = await handler(judge)(
      stage(withAnswers(reference2, onTopic), withAnswers(reference, onTopic), { current: counts(200, 2) }),
    );
    expect(calls).toEqual([]);
    expect(out).not.toHaveProperty('judge');
    expect(out.signals).not.toHaveProperty('quality');
  });

  it('a retried step judges the window again but records and publishes once', async () => {
    const { judge, calls } = fakeJudge();
    const record = store.recordWindow.bind(store);
    let failures = 1;
    store.recordWindow = async (result) => {
      if (failures-- > 0)
        throw Object.assign(new Error('Throughput exceeded'), { name: 'ThrottlingException' });
      return record(result);
    };
    const staged = () =>
      stage(withAnswers(reference2, vague), withAnswers(reference, onTopic), {
        reference: counts(200, 2),
        current: counts(200, 2),
      });
    await expect(handler(judge)(staged())).rejects.toThrow('Throughput exceeded');
    expect(calls).toHaveLength(40);
    const out = await handler(judge)(staged());
    // The baseline's scores were kept by the first attempt: only the window is judged again.
    expect(calls).toHaveLength(60);
    expect(judgeCalls()).toEqual([40, 20]);
    expect(out.signals.quality?.drift).toBe(true);
    expect(publishScore.mock.calls.filter(([, signal]) => signal === 'quality')).toHaveLength(1);
    // Redelivered once more: the recorded window, no judge call.
    const again = await handler(judge)(staged());
    expect(again).toEqual(out);
    expect(calls).toHaveLength(60);
  });
});

describe('the online judge the environment configures', () => {
  const JUDGE = BEDROCK_CATALOG.find((m) => m.id === 'claude-haiku-4-5');
  const env = (overrides: Record<string, string | undefined> = {}) => ({
    ARTIFACTS_BUCKET: 'a',
    DRIFT_TABLE: 't',
    DRIFT_POLICY: '{}',
    ONLINE_JUDGE: JSON.stringify({ share: 0.1, maxPerWindow: 20, minJudged: 10 }),
    ONLINE_JUDGE_MODEL: JSON.stringify(JUDGE),
    EMBEDDING_MODEL: JSON.stringify(TEST_EMBEDDING_MODEL),
    PROMPTS_TABLE: 'prompts',
    MODEL_PROVIDER: undefined,
    ...overrides,
  });

  /** An in-memory prompt registry: `seed` as the registry's (insert-only), `get` by label or version. */
  function fakeRegistry() {
    const versions: PromptVersion[] = [];
    const registry = {
      seed: vi.fn(async (name: string, draft: PromptDraft, _author: string, label: string) => {
        if (versions.some((v) => v.name === name)) return { created: false, labelled: false };
        versions.push(promptVersion(name, draft, { labels: [label] }));
        return { created: true, labelled: true };
      }),
      get: vi.fn(async (ref: PromptRef) => findPrompt(versions, ref)),
    };
    /** Publishes `draft` as the next version of `name` and moves `production` to it. */
    const promote = (name: string, draft: PromptDraft) => {
      const count = versions.filter((v) => v.name === name).length;
      versions.forEach((v, i) => {
        if (v.name === name) versions[i] = { ...v, labels: v.labels.filter((l) => l !== 'production') };
      });
      versions.push(promptVersion(name, draft, { version: count + 1, labels: ['production'] }));
    };
    return { registry, versions, promote };
  }
  const SEEDED = rubricSeeds().find((r) => r.name === 'judge-answer-relevance')?.draft as PromptDraft;

  it('none without ONLINE_JUDGE', () => {
    const { registry } = fakeRegistry();
    expect(
      onlineJudgeFromEnv(env({ ONLINE_JUDGE: undefined, ONLINE_JUDGE_MODEL: undefined }), () => registry),
    ).toBeUndefined();
    expect(registry.seed).not.toHaveBeenCalled();
  });

  it('answer relevance by the judge model of the catalog (k = 1), with the rubric the registry resolves', async () => {
    const { registry, promote } = fakeRegistry();
    const tables: string[] = [];
    const judge = onlineJudgeFromEnv(env(), (table) => {
      tables.push(table);
      return registry;
    });
    expect(tables).toEqual(['prompts']);
    expect(judge).toMatchObject({
      settings: { share: 0.1, maxPerWindow: 20, minJudged: 10 },
      model: JUDGE?.modelId,
    });
    // Nothing read or written before a check judges.
    expect(registry.seed).not.toHaveBeenCalled();
    // A fresh registry: the rubric prompts are seeded (the evaluations' seed), then production resolves.
    const first = await judge?.rubric();
    expect(first?.version).toBe('judge-answer-relevance:1');
    expect(first?.version).toBe(ANSWER_RELEVANCE_RUBRIC.version);
    expect(registry.seed.mock.calls.map(([name]) => name).sort()).toEqual(
      rubricSeeds()
        .map((r) => r.name)
        .sort(),
    );
    expect(registry.get).toHaveBeenLastCalledWith({ name: 'judge-answer-relevance', label: 'production' });
    // `production` moved: the next check judges with the new version; the seed ran once.
    promote('judge-answer-relevance', {
      ...SEEDED,
      messages: [{ role: 'system', content: 'Stricter.' }, ...SEEDED.messages.slice(1)],
    });
    const second = await judge?.rubric();
    expect(second?.version).toBe('judge-answer-relevance:2');
    expect(registry.seed).toHaveBeenCalledTimes(rubricSeeds().length);
  });

  it('a production version that cannot be a rubric is a ValidationError, naming it', async () => {
    const { registry, promote } = fakeRegistry();
    const judge = onlineJudgeFromEnv(env(), () => registry);
    await judge?.rubric();
    promote('judge-answer-relevance', { ...SEEDED, variables: { input: { type: 'string' } } });
    const error = await errorOf(Promise.resolve(judge?.rubric()));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).rule).toMatch(/^judge-answer-relevance:2 cannot be a judge rubric/);
  });

  it('the offline judge locally: it records the resolved rubric version; an on-topic answer scores above a noncommittal one', async () => {
    const { registry } = fakeRegistry();
    const judge = onlineJudgeFromEnv(env({ MODEL_PROVIDER: 'offline' }), () => registry);
    expect(judge).toMatchObject({ model: 'offline' });
    const rubric = await judge?.rubric();
    expect(rubric?.version).toBe('judge-answer-relevance:1');
    const question = 'How do I deploy a new version of my function with aliases?';
    const onTopic = await rubric?.score(
      question,
      'Deploy a new version of the function, then point the alias at it.',
    );
    const noncommittal = await rubric?.score(question, "I don't know.");
    expect(onTopic?.value).toBeGreaterThan(0.3);
    expect(onTopic?.details).toMatchObject({ judge: 'offline', rubric: 'judge-answer-relevance:1' });
    expect(noncommittal?.value).toBe(0);
  });

  it('refuses a judge that is not a chat model of the catalog, a missing one, or no prompts table', () => {
    const registryOf = () => fakeRegistry().registry;
    expect(() => onlineJudgeFromEnv(env({ ONLINE_JUDGE_MODEL: undefined }), registryOf)).toThrow(ConfigError);
    expect(() => judgeModelFromEnv(JSON.stringify(TEST_EMBEDDING_MODEL))).toThrow(
      /ONLINE_JUDGE_MODEL: must be a chat model of the catalog, got kind embedding/,
    );
    expect(() => judgeModelFromEnv('{')).toThrow(/ONLINE_JUDGE_MODEL: must be the JSON of a catalog model/);
    expect(() => onlineJudgeFromEnv(env({ EMBEDDING_MODEL: undefined }), registryOf)).toThrow(
      /EMBEDDING_MODEL/,
    );
    expect(() =>
      onlineJudgeFromEnv(
        env({ ONLINE_JUDGE: JSON.stringify({ share: 0.1, maxPerWindow: 5, minJudged: 10 }) }),
        registryOf,
      ),
    ).toThrow(/ONLINE_JUDGE: minJudged/);
    expect(() => onlineJudgeFromEnv(env({ PROMPTS_TABLE: undefined }), registryOf)).toThrow(
      /PROMPTS_TABLE: is required with ONLINE_JUDGE/,
    );
  });
});
