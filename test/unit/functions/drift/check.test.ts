// The function's environment, set before its handler module is imported (it reads it at import).
import '../../../support/env/drift.ts';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidEventError } from '#aws/errors.ts';
import { type DriftBaseline, type DriftWindowResult, driftWindowResult } from '#contracts/drift/baseline.ts';
import type { DriftRecord } from '#core/drift/check.ts';
import { type CheckDeps, environment, makeHandler } from '#functions/drift/check.ts';
import { type Collected, driftKeys, parseRecords, recordsJsonl } from '#functions/drift/shared.ts';
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

const baseline = (records: number): DriftBaseline => ({
  check: 'support',
  version: 3,
  source: { kind: 'suite', name: 'support-golden' },
  records,
  embedded: records,
  embeddingModel: 'amazon.titan-embed-text-v2:0',
  location: { bucket: ARTIFACTS, key: BASELINE_KEY },
  createdAt: '2026-11-01T00:00:00.000Z',
  createdBy: 'arn:aws:iam::1:user/ops',
});

/** Stages the window's records (and the baseline's), as Collect and a baseline request left them. */
function stage(current: readonly DriftRecord[], base: readonly DriftRecord[] | null): Collected {
  s3.put(ARTIFACTS, CURRENT_KEY, recordsJsonl(current));
  if (base !== null) s3.put(ARTIFACTS, BASELINE_KEY, recordsJsonl(base));
  return {
    status: 'collected',
    check: 'support',
    window: WINDOW,
    baseline: base === null ? null : baseline(base.length),
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
