// The function's environment, set before its handler module is imported (it reads it at import).
import '../../../support/env/drift.ts';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidEventError } from '#aws/errors.ts';
import { type DriftBaseline, type DriftWindowResult, driftWindowResult } from '#contracts/drift/baseline.ts';
import type { DriftRecord } from '#core/drift/check.ts';
import type { OutcomeCounts } from '#core/drift/outcomes.ts';
import { type CheckDeps, environment, makeHandler } from '#functions/drift/check.ts';
import { type Collected, collected, driftKeys, parseRecords, recordsJsonl } from '#functions/drift/shared.ts';
import { errorOf } from '../../../support/async.ts';
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
    expect(Object.keys(environment).sort()).toEqual(['ARTIFACTS_BUCKET', 'DRIFT_POLICY', 'DRIFT_TABLE']);
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
