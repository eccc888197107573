// The function's environment, set before its handler module is imported (it reads it at import).
import '../../../support/env/drift.ts';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { VerdictOnAnswer, VerdictReader } from '#aws/drift/feedback-reader.ts';
import { InvalidEventError } from '#aws/errors.ts';
import type { EvaluationStore, StoredReviewTask, SuiteVersion } from '#aws/eval/evaluation-store.ts';
import type { DriftCheckConfig } from '#contracts/drift/baseline.ts';
import type { EvaluationRun } from '#contracts/evaluation/run.ts';
import { encodeEmbedding } from '#core/drift/compact-embedding.ts';
import { itemLine } from '#core/eval/report/summary.ts';
import { type CollectDeps, environment, makeHandler } from '#functions/drift/collect.ts';
import {
  type BaselineCreated,
  type Collected,
  collected,
  driftKeys,
  parseRecords,
} from '#functions/drift/shared.ts';
import { errorOf } from '../../../support/async.ts';
import { TEST_EMBEDDING_MODEL } from '../../../support/env/embedding-model.ts';
import {
  driftCheckRequested,
  FakeDriftStore,
  interaction,
  memoryS3,
  putLog,
  TEST_POLICY,
} from './support.ts';

const s3 = memoryS3();
const ARTIFACTS = 'artifacts';
const NOW = new Date('2026-12-01T12:03:00.000Z');
const WINDOW_END = '2026-12-01T12:00:00.000Z';
const CHECKS: DriftCheckConfig[] = [
  { name: 'support', app: 'web', prompt: 'support' },
  { name: 'all', app: 'web' },
];
/** The vector the fake embedder gives a text (4 dimensions, as the records RAG embedded). */
const vectorOf = (text: string) => [text.length / 100, 1, -0.5, (text.charCodeAt(0) % 7) / 10];
/** The vector RAG kept for the first call. */
const RAG_VECTOR = [0.9, -0.3, 0.1, 0.45];

/** Near each value within int8 quantization of the vector's largest magnitude. */
function expectNear(actual: readonly number[] | undefined, expected: readonly number[]): void {
  expect(actual).toHaveLength(expected.length);
  const step = Math.max(...expected.map(Math.abs)) / 127;
  expected.forEach((x, i) => {
    expect(Math.abs((actual?.[i] as number) - x)).toBeLessThanOrEqual(step / 2 + 1e-9);
  });
}

function retrieval(queryEmbedding?: number[]) {
  return {
    vectorStore: 'embedded' as const,
    k: 4,
    hybrid: false,
    minScore: null,
    embeddingModel: TEST_EMBEDDING_MODEL.id,
    ...(queryEmbedding ? { queryEmbedding: encodeEmbedding(queryEmbedding) } : {}),
    chunks: [
      { docId: 'd1', chunkId: 'c1', docVersion: 'v1', score: 0.7, similarity: 0.62 },
      { docId: 'd2', chunkId: 'c2', docVersion: 'v1', score: 0.9, similarity: 0.81 },
    ],
  };
}

/** The evaluation store's suite, run and review task reads, in memory. */
class FakeEvaluations implements Pick<EvaluationStore, 'getSuite' | 'getRun' | 'getReviewTask'> {
  readonly suites: SuiteVersion[] = [];
  readonly runs = new Map<string, EvaluationRun>();
  readonly tasks = new Map<string, StoredReviewTask>();
  async getReviewTask(taskId: string) {
    return this.tasks.get(taskId);
  }
  async getSuite(name: string, version?: number) {
    return this.suites
      .filter((s) => s.name === name && (version === undefined || s.version === version))
      .sort((a, b) => b.version - a.version)[0];
  }
  async getRun(runId: string) {
    return this.runs.get(runId);
  }
}

describe('collect handler', () => {
  let store: FakeDriftStore;
  let evaluations: FakeEvaluations;
  let embed: ReturnType<typeof vi.fn<CollectDeps['embed']>>;
  const handler = (overrides: Partial<CollectDeps> = {}) =>
    makeHandler({
      s3: s3.client,
      bucket: ARTIFACTS,
      store,
      evaluations,
      checks: CHECKS,
      policy: TEST_POLICY,
      embed,
      embeddingModel: TEST_EMBEDDING_MODEL.modelId,
      now: () => NOW,
      newId: () => 'b-1',
      ...overrides,
    });

  beforeEach(() => {
    s3.install();
    store = new FakeDriftStore();
    evaluations = new FakeEvaluations();
    embed = vi.fn(async (texts: readonly string[]) => texts.map(vectorOf));
  });

  it('reads an environment the stack sets', () => {
    expect(Object.keys(environment).sort()).toEqual(
      [
        'ARTIFACTS_BUCKET',
        'DRIFT_TABLE',
        'DRIFT_POLICY',
        'DRIFT_CHECKS',
        'EVALUATIONS_TABLE',
        'FEEDBACK_TABLE',
        'MODEL_PROVIDER',
        'EMBEDDING_MODEL',
      ].sort(),
    );
  });

  describe('a scheduled window', () => {
    /**
     * The log of the window 06:00–12:00: three watched calls among calls the check must leave out; of
     * these, the failed, the throttled, the blocked and the unsampled calls still count for the outcomes.
     */
    function stageLog() {
      const watched = [
        interaction(1, 'How do I raise the memory of my function?', { retrieval: retrieval(RAG_VECTOR) }),
        interaction(2, 'Why does my function time out?', { occurredAt: '2026-12-01T06:00:00.000Z' }),
        interaction(3, 'Where are my logs?', {
          occurredAt: '2026-12-01T11:59:00.000Z',
          retrieval: retrieval(),
        }),
      ];
      const others = [
        interaction(4, 'evaluation item', { app: 'evaluation' }),
        interaction(5, 'a billing question', { prompt: { name: 'billing', version: 1, ref: 'billing:1' } }),
        interaction(6, 'a failed call', { status: 'provider_error', errorCode: 'ModelError' }),
        interaction(7, 'an unsampled call', { payload: null }),
        interaction(8, 'too early', { occurredAt: '2026-12-01T05:59:59.000Z' }),
        interaction(9, 'too late', { occurredAt: WINDOW_END }),
        interaction(10, 'another app', { app: 'mobile' }),
        interaction(12, 'a throttled call', {
          status: 'throttled',
          errorCode: 'ThrottlingException',
          payload: null,
        }),
        interaction(13, 'a blocked call', {
          guardrail: { action: 'INTERVENED', policies: ['contentPolicy'] },
          payload: null,
        }),
        { not: 'an interaction record' },
      ];
      const log = 'interactions/dt=2026-12-01/';
      putLog(
        s3,
        ARTIFACTS,
        `${log}part-0001.gz`,
        [watched[0], ...others.slice(0, 4)],
        new Date('2026-12-01T09:00:00Z'),
      );
      putLog(
        s3,
        ARTIFACTS,
        `${log}part-0002.gz`,
        [watched[1], watched[2], ...others.slice(4)],
        new Date('2026-12-01T12:05:00Z'),
      );
      // An object finished before the window began: never read, although its call would be watched.
      putLog(
        s3,
        ARTIFACTS,
        `${log}part-0000.gz`,
        [interaction(11, 'stale', { occurredAt: '2026-12-01T08:00:00Z' })],
        new Date('2026-12-01T05:00:00Z'),
      );
      return watched;
    }

    it('stages the watched calls, embedding the questions RAG did not embed and every answer', async () => {
      stageLog();
      const out = (await handler()(driftCheckRequested({ windowEnd: '2026-12-01T12:00:00Z' }))) as Collected;

      const key = driftKeys.current('support', WINDOW_END);
      expect(key).toBe(`staging/drift/support/${WINDOW_END}/current.jsonl`);
      expect(out).toEqual({
        status: 'collected',
        check: 'support',
        window: { start: '2026-12-01T06:00:00.000Z', end: WINDOW_END },
        baseline: null,
        current: { bucket: ARTIFACTS, key, records: 3, embedded: 3 },
        embeddingModel: TEST_EMBEDDING_MODEL.modelId,
        // The 3 watched calls, the failed one, the throttled one, the blocked one and the unsampled one;
        // not the evaluation run's, the other prompt's or app's, nor those outside the window.
        outcomes: { calls: 7, errors: 1, throttles: 1, guardrailInterventions: 1 },
      });
      // What Check parses.
      expect(collected.parse(out)).toEqual(out);

      // One batch: the questions without RAG's embedding, then every answer.
      expect(embed).toHaveBeenCalledTimes(1);
      expect(embed).toHaveBeenCalledWith([
        'Why does my function time out?',
        'Where are my logs?',
        'Answer to: How do I raise the memory of my function?',
        'Answer to: Why does my function time out?',
        'Answer to: Where are my logs?',
      ]);

      expect(s3.contentType(ARTIFACTS, key)).toBe('application/x-ndjson');
      const records = parseRecords(s3.text(ARTIFACTS, key), key);
      const byText = new Map(records.map((r) => [r.text, r]));
      expect([...byText.keys()].sort()).toEqual(
        [
          'How do I raise the memory of my function?',
          'Where are my logs?',
          'Why does my function time out?',
        ].sort(),
      );
      const first = byText.get('How do I raise the memory of my function?');
      expect(first).toMatchObject({
        answer: 'Answer to: How do I raise the memory of my function?',
        retrievalTopScore: 0.81,
      });
      expectNear(first?.embedding, RAG_VECTOR);
      expectNear(
        byText.get('Why does my function time out?')?.embedding,
        vectorOf('Why does my function time out?'),
      );
      expectNear(byText.get('Where are my logs?')?.embedding, vectorOf('Where are my logs?'));
      expect(byText.get('Why does my function time out?')).not.toHaveProperty('retrievalTopScore');
      for (const record of records) {
        expectNear(record.answerEmbedding, vectorOf(`Answer to: ${record.text}`));
      }
    });

    it('embeds the first 2,000 characters of a long answer, and no empty one', async () => {
      const long = `${'é'.repeat(1999)}xyz`;
      putLog(
        s3,
        ARTIFACTS,
        'interactions/dt=2026-12-01/a.gz',
        [
          interaction(1, 'q one', {
            retrieval: retrieval(RAG_VECTOR),
            payload: {
              system: null,
              messages: [{ role: 'user', content: { text: 'q one', truncated: false } }],
              answer: { text: long, truncated: false },
              redactions: {},
            },
          }),
          interaction(2, 'q two', {
            retrieval: retrieval(RAG_VECTOR),
            payload: {
              system: null,
              messages: [{ role: 'user', content: { text: 'q two', truncated: false } }],
              answer: { text: '  ', truncated: false },
              redactions: {},
            },
          }),
        ],
        new Date('2026-12-01T12:01:00Z'),
      );
      await handler()(driftCheckRequested({ windowEnd: WINDOW_END }));
      expect(embed).toHaveBeenCalledWith([`${'é'.repeat(1999)}x`]);
    });

    it('hands the check’s active baseline to Check', async () => {
      stageLog();
      const baseline = await store.createBaseline({
        check: 'support',
        source: { kind: 'suite', name: 'support-golden' },
        records: 80,
        embedded: 80,
        embeddingModel: TEST_EMBEDDING_MODEL.modelId,
        location: { bucket: ARTIFACTS, key: driftKeys.baseline('support', 'b-0') },
        createdAt: '2026-11-01T00:00:00.000Z',
        createdBy: 'a',
      });
      const out = (await handler()(driftCheckRequested({ windowEnd: WINDOW_END }))) as Collected;
      expect(out.baseline).toEqual(baseline);
      // Another check watches every call of app web: the billing call too.
      const all = (await handler()(
        driftCheckRequested({ check: 'all', windowEnd: WINDOW_END }),
      )) as Collected;
      expect(all.baseline).toBeNull();
      expect(all.current.records).toBe(4);
      expect(all.outcomes).toEqual({ calls: 8, errors: 1, throttles: 1, guardrailInterventions: 1 });
    });

    it('calls no embedder when every record has its embeddings, and stages an empty window as such', async () => {
      // RAG kept the question's embedding; the call has no answer text to embed.
      const call = interaction(1, 'q one', { retrieval: retrieval(RAG_VECTOR) });
      putLog(
        s3,
        ARTIFACTS,
        'interactions/dt=2026-12-01/a.gz',
        [{ ...call, payload: { ...call.payload, answer: null } }],
        new Date('2026-12-01T12:01:00Z'),
      );
      const one = (await handler()(driftCheckRequested({ windowEnd: WINDOW_END }))) as Collected;
      expect(one.current).toMatchObject({ records: 1, embedded: 1 });
      expect(embed).not.toHaveBeenCalled();

      const empty = (await handler()(
        driftCheckRequested({ windowEnd: '2026-11-01T12:00:00Z' }),
      )) as Collected;
      expect(empty.current).toMatchObject({ records: 0, embedded: 0 });
      expect(empty.outcomes).toEqual({ calls: 0, errors: 0, throttles: 0, guardrailInterventions: 0 });
      expect(s3.text(ARTIFACTS, empty.current.key)).toBe('');
    });

    it('counts the outcomes of a window whose every call failed, though it has no record to read', async () => {
      putLog(
        s3,
        ARTIFACTS,
        'interactions/dt=2026-12-01/a.gz',
        Array.from({ length: 5 }, (_, i) =>
          interaction(i, `q${i}`, {
            status: 'provider_error',
            errorCode: 'ModelErrorException',
            payload: null,
          }),
        ),
        new Date('2026-12-01T12:01:00Z'),
      );
      const out = (await handler()(driftCheckRequested({ windowEnd: WINDOW_END }))) as Collected;
      expect(out.current).toMatchObject({ records: 0, embedded: 0 });
      expect(out.outcomes).toEqual({ calls: 5, errors: 5, throttles: 0, guardrailInterventions: 0 });
      expect(embed).not.toHaveBeenCalled();
    });

    it('counts every call of the window for the outcomes, however many the cap keeps', async () => {
      const calls = Array.from({ length: 40 }, (_, i) =>
        interaction(i, `question number ${i}`, i % 10 === 0 ? { status: 'error', payload: null } : {}),
      );
      putLog(s3, ARTIFACTS, 'interactions/dt=2026-12-01/a.gz', calls, new Date('2026-12-01T12:01:00Z'));
      const out = (await handler({ policy: { ...TEST_POLICY, maxWindowRecords: 7 } })(
        driftCheckRequested({ windowEnd: WINDOW_END }),
      )) as Collected;
      expect(out.current.records).toBe(7);
      expect(out.outcomes).toEqual({ calls: 40, errors: 4, throttles: 0, guardrailInterventions: 0 });
    });

    it('subsamples a window beyond the cap, the same records on a redelivered schedule', async () => {
      const calls = Array.from({ length: 40 }, (_, i) => interaction(i, `question number ${i}`));
      putLog(
        s3,
        ARTIFACTS,
        'interactions/dt=2026-12-01/a.gz',
        calls.slice(0, 25),
        new Date('2026-12-01T12:01:00Z'),
      );
      putLog(
        s3,
        ARTIFACTS,
        'interactions/dt=2026-12-01/b.gz',
        calls.slice(25),
        new Date('2026-12-01T12:02:00Z'),
      );
      const run = async () => {
        const out = (await handler({ policy: { ...TEST_POLICY, maxWindowRecords: 7 } })(
          driftCheckRequested({ windowEnd: WINDOW_END }),
        )) as Collected;
        return { out, texts: parseRecords(s3.text(ARTIFACTS, out.current.key), 'x').map((r) => r.text) };
      };
      const first = await run();
      expect(first.out.current.records).toBe(7);
      expect(new Set(first.texts).size).toBe(7);
      const second = await run();
      expect(second.texts).toEqual(first.texts);
    });
  });

  describe('what people said of the window’s answers', () => {
    /** The feedback table's verdicts by interaction, in memory; remembers what was read. */
    class FakeVerdicts implements VerdictReader {
      readonly byCall = new Map<string, VerdictOnAnswer[]>();
      readonly read: string[] = [];
      async verdictsOn(interactionId: string) {
        this.read.push(interactionId);
        return this.byCall.get(interactionId) ?? [];
      }
    }
    const labelled = (taskId: string, label: 'pass' | 'fail' | number): StoredReviewTask =>
      ({
        taskId,
        status: 'labelled',
        label: { taskId, reviewer: 'rev', label, at: '2026-12-01T11:00:00Z' },
      }) as StoredReviewTask;

    it('counts the verdicts on every answered call of the check’s traffic, sampled or not, and the reviews of its complaints', async () => {
      const calls = [
        interaction(1, 'q1'),
        interaction(2, 'q2', { payload: null }),
        interaction(3, 'q3'),
        interaction(4, 'q4'),
        interaction(5, 'failed', { status: 'provider_error', payload: null }),
        interaction(6, 'evaluation', { app: 'evaluation' }),
        interaction(7, 'other prompt', { prompt: { name: 'billing', version: 1, ref: 'billing:1' } }),
      ];
      putLog(s3, ARTIFACTS, 'interactions/dt=2026-12-01/a.gz', calls, new Date('2026-12-01T12:01:00Z'));
      const verdicts = new FakeVerdicts();
      verdicts.byCall.set('call-1', [
        { user: 'ana', score: 1 },
        { user: 'bo', score: 0, reviewTaskId: 'review-0000000000000001' },
      ]);
      // An unsampled call's verdicts count: a person rated its answer.
      verdicts.byCall.set('call-2', [
        { user: 'ana', score: 0.5 },
        { user: 'cy', score: 0.25, reviewTaskId: 'review-0000000000000002' },
      ]);
      verdicts.byCall.set('call-3', [{ user: 'dee', score: 0, reviewTaskId: 'review-0000000000000003' }]);
      // A complaint the user withdrew (now up) is no complaint: its review is not read.
      verdicts.byCall.set('call-4', [{ user: 'ed', score: 1, reviewTaskId: 'review-0000000000000004' }]);
      verdicts.byCall.set('call-7', [{ user: 'fay', score: 0 }]);
      evaluations.tasks.set('review-0000000000000001', labelled('review-0000000000000001', 'fail'));
      evaluations.tasks.set('review-0000000000000002', labelled('review-0000000000000002', 0.8));
      evaluations.tasks.set('review-0000000000000004', labelled('review-0000000000000004', 'fail'));
      // review-…3 is still open: not reviewed.

      const out = (await handler({ feedback: verdicts })(
        driftCheckRequested({ windowEnd: WINDOW_END }),
      )) as Collected;
      // The answered calls of the check's traffic: not the failed one, the evaluation's or another prompt's.
      expect(verdicts.read.sort()).toEqual(['call-1', 'call-2', 'call-3', 'call-4']);
      expect(out.outcomes?.feedback).toEqual({
        answered: 4,
        verdicts: 6,
        positive: 2,
        negative: 3,
        ratings: [2, 1, 1, 0, 2],
        reviewed: 2,
        confirmed: 1,
      });
      expect(collected.parse(out)).toEqual(out);
    });

    it('has no feedback counts without the feedback table', async () => {
      putLog(
        s3,
        ARTIFACTS,
        'interactions/dt=2026-12-01/a.gz',
        [interaction(1, 'q1')],
        new Date('2026-12-01T12:01:00Z'),
      );
      const out = (await handler()(driftCheckRequested({ windowEnd: WINDOW_END }))) as Collected;
      expect(out.outcomes).toEqual({ calls: 1, errors: 0, throttles: 0, guardrailInterventions: 0 });
    });

    it('keeps a traffic window’s feedback counts with the baseline built from it', async () => {
      putLog(
        s3,
        ARTIFACTS,
        'interactions/dt=2026-11-20/a.gz',
        [interaction(1, 'How do I deploy?', { occurredAt: '2026-11-20T09:00:00.000Z' })],
        new Date('2026-11-20T11:00:00Z'),
      );
      const verdicts = new FakeVerdicts();
      verdicts.byCall.set('call-1', [{ user: 'ana', score: 0.75 }]);
      const out = (await handler({ feedback: verdicts })(
        driftCheckRequested({
          requestedBy: 'ops',
          baseline: { source: { kind: 'window', from: '2026-11-20T00:00:00Z', to: '2026-11-21T00:00:00Z' } },
        }),
      )) as BaselineCreated;
      expect(out.baseline.outcomes?.feedback).toMatchObject({ answered: 1, verdicts: 1, positive: 1 });
    });
  });

  describe('a baseline request', () => {
    const request = (source: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      driftCheckRequested({ requestedBy: 'arn:aws:iam::1:user/ops', baseline: { source, ...extra } });

    it('builds a version from a pinned window of the check’s traffic', async () => {
      const day = 'interactions/dt=2026-11-20/';
      putLog(
        s3,
        ARTIFACTS,
        `${day}a.gz`,
        [
          interaction(1, 'How do I deploy?', {
            occurredAt: '2026-11-20T09:00:00.000Z',
            retrieval: retrieval(RAG_VECTOR),
          }),
          interaction(2, 'What is a layer?', { occurredAt: '2026-11-20T10:00:00.000Z' }),
          interaction(3, 'not this app', { occurredAt: '2026-11-20T10:00:00.000Z', app: 'mobile' }),
          interaction(4, 'a failed call', {
            occurredAt: '2026-11-20T11:00:00.000Z',
            status: 'provider_error',
            errorCode: 'ModelErrorException',
            payload: null,
          }),
        ],
        new Date('2026-11-20T11:00:00Z'),
      );
      const source = { kind: 'window', from: '2026-11-20T00:00:00Z', to: '2026-11-21T00:00:00Z' };
      const out = (await handler()(request(source, { note: 'after the re-index' }))) as BaselineCreated;

      const key = 'drift/baselines/support/b-1.jsonl';
      expect(driftKeys.baseline('support', 'b-1')).toBe(key);
      const expected = {
        check: 'support',
        version: 1,
        source,
        records: 2,
        embedded: 2,
        answerEmbedded: 2,
        embeddingModel: TEST_EMBEDDING_MODEL.modelId,
        location: { bucket: ARTIFACTS, key },
        createdAt: NOW.toISOString(),
        createdBy: 'arn:aws:iam::1:user/ops',
        note: 'after the re-index',
        // Every call of the window's traffic: the two read and the failed one.
        outcomes: { calls: 3, errors: 1, throttles: 0, guardrailInterventions: 0 },
      };
      expect(out).toEqual({ status: 'baseline-created', check: 'support', baseline: expected });
      expect(store.baselines).toEqual([expected]);
      expect(embed).toHaveBeenCalledWith([
        'What is a layer?',
        'Answer to: How do I deploy?',
        'Answer to: What is a layer?',
      ]);
      const records = parseRecords(s3.text(ARTIFACTS, key), key);
      expect(records.map((r) => r.text).sort()).toEqual(['How do I deploy?', 'What is a layer?']);
      expect(records.every((r) => r.embedding?.length === 4 && r.answerEmbedding?.length === 4)).toBe(true);
    });

    it('builds a version from a registered suite’s questions', async () => {
      const suiteKey = 'datasets/eval/support-golden/v000002/data.jsonl';
      evaluations.suites.push({
        name: 'support-golden',
        version: 2,
        items: 3,
        tags: [],
        location: { bucket: 'curated', key: suiteKey },
        contentHash: 'sha256:2',
        registeredAt: '2026-11-30T00:00:00.000Z',
      });
      s3.put(
        'curated',
        suiteKey,
        [
          { id: 'q1', input: 'How much memory can a function have?', references: ['10,240 MB'] },
          {
            id: 'q2',
            messages: [
              { role: 'system', content: 'Be brief.' },
              { role: 'user', content: 'What is a cold start?' },
              { role: 'assistant', content: 'The first call of a new instance.' },
              { role: 'user', content: 'How do I avoid it?' },
            ],
            references: ['provisioned concurrency'],
          },
          { id: 'q3', input: 'What is the capital of Mars?', references: [] },
        ]
          .map((l) => JSON.stringify(l))
          .join('\n'),
      );
      const out = (await handler()(
        request({ kind: 'suite', name: 'support-golden', version: 2 }),
      )) as BaselineCreated;
      expect(out.baseline).toMatchObject({
        version: 1,
        source: { kind: 'suite', name: 'support-golden', version: 2 },
        records: 3,
        embedded: 3,
      });
      const records = parseRecords(s3.text(ARTIFACTS, out.baseline.location.key), 'baseline');
      expect(records.map((r) => r.text).sort()).toEqual(
        ['How do I avoid it?', 'How much memory can a function have?', 'What is the capital of Mars?'].sort(),
      );
      expect(records.every((r) => r.answer === undefined)).toBe(true);
      expect(embed).toHaveBeenCalledTimes(1);
      // A suite's questions have no outcomes: no quality signal against this baseline.
      expect(out.baseline).not.toHaveProperty('outcomes');
    });

    it('builds a version from a finished evaluation run’s questions and answers', async () => {
      const items = 'evaluations/run-7/items.jsonl';
      evaluations.runs.set('run-7', {
        runId: 'run-7',
        status: 'succeeded',
        trigger: 'api',
        request: { suite: 'support-golden', target: { prompt: 'support@production' } },
        requestedBy: 'a',
        createdAt: '2026-11-30T00:00:00.000Z',
        updatedAt: '2026-11-30T00:10:00.000Z',
        report: {
          bucket: ARTIFACTS,
          summary: 'evaluations/run-7/summary.json',
          items,
          html: 'evaluations/run-7/report.html',
          markdown: 'evaluations/run-7/report.md',
        },
      });
      const line = (id: string, input: string, answer: string, error?: string) =>
        JSON.stringify(
          itemLine({
            id,
            tags: [],
            input,
            answer,
            references: [],
            scores: {},
            errors: {},
            ...(error ? { error } : {}),
          }),
        );
      s3.put(
        ARTIFACTS,
        items,
        `${[
          line('q1', 'How do I deploy?', 'Use aliases.'),
          line('q2', 'What is a layer?', '', 'generation timed out'),
          line('q3', 'How long can it run?', '15 minutes.'),
        ].join('\n')}\n`,
      );
      const out = (await handler()(request({ kind: 'evaluation', runId: 'run-7' }))) as BaselineCreated;
      expect(out.baseline).toMatchObject({
        source: { kind: 'evaluation', runId: 'run-7' },
        records: 3,
        embedded: 3,
        // The run's two answers: the failed item has none.
        answerEmbedded: 2,
      });
      expect(out.baseline).not.toHaveProperty('outcomes');
      const records = parseRecords(s3.text(ARTIFACTS, out.baseline.location.key), 'baseline');
      const byText = new Map(records.map((r) => [r.text, r]));
      expect(byText.get('How do I deploy?')?.answer).toBe('Use aliases.');
      expect(byText.get('How long can it run?')?.answer).toBe('15 minutes.');
      // A failed item's "answer" is no answer of the model.
      expect(byText.get('What is a layer?')).not.toHaveProperty('answer');
    });

    it('builds successive versions of a check', async () => {
      putLog(
        s3,
        ARTIFACTS,
        'interactions/dt=2026-11-20/a.gz',
        [interaction(1, 'q', { occurredAt: '2026-11-20T09:00:00.000Z' })],
        new Date('2026-11-20T11:00:00Z'),
      );
      const source = { kind: 'window', from: '2026-11-20T00:00:00Z', to: '2026-11-21T00:00:00Z' };
      let id = 0;
      const h = handler({ newId: () => `b-${++id}` });
      const first = (await h(request(source))) as BaselineCreated;
      const second = (await h(request(source))) as BaselineCreated;
      expect([first.baseline.version, second.baseline.version]).toEqual([1, 2]);
      expect(second.baseline.location.key).toBe('drift/baselines/support/b-2.jsonl');
    });
  });

  describe('a request that cannot be served', () => {
    const reject = async (detail: Record<string, unknown>) => {
      const error = await errorOf(handler()(driftCheckRequested(detail)));
      expect(error).toBeInstanceOf(InvalidEventError);
      return (error as Error).message;
    };
    const baseline = (source: Record<string, unknown>) => ({ requestedBy: 'a', baseline: { source } });

    it('names an unknown check and the configured ones', async () => {
      expect(await reject({ check: 'billing', windowEnd: WINDOW_END })).toBe(
        'check: "billing" is not a configured drift check (support, all)',
      );
    });

    it('names what is wrong with the event', async () => {
      expect(await reject({ check: 'support' })).toMatch(/windowEnd/);
      expect(await reject({ check: 'support', windowEnd: 'yesterday' })).toMatch(/windowEnd/);
    });

    it('names a malformed source', async () => {
      expect(
        await reject({
          check: 'support',
          ...baseline({ kind: 'window', from: 'yesterday', to: WINDOW_END }),
        }),
      ).toBe('baseline.source: from: Invalid ISO datetime');
      expect(await reject({ check: 'support', ...baseline({ kind: 'cupboard' }) })).toMatch(
        /^baseline\.source: /,
      );
      expect(await reject({ check: 'support', ...baseline({ kind: 'suite', name: 'Not A Suite' }) })).toMatch(
        /^baseline\.source: name: /,
      );
      expect(
        await reject({ check: 'support', ...baseline({ kind: 'evaluation', runId: 'run-1', extra: 1 }) }),
      ).toMatch(/^baseline\.source: /);
      expect(
        await reject({
          check: 'support',
          ...baseline({ kind: 'window', from: WINDOW_END, to: '2026-12-01T00:00:00Z' }),
        }),
      ).toBe('baseline.source.to: must be after source.from');
      expect(
        await reject({
          check: 'support',
          ...baseline({ kind: 'window', from: '2026-10-01T00:00:00Z', to: '2026-12-01T00:00:00Z' }),
        }),
      ).toBe('baseline.source: a window of at most 31 days');
      expect(store.baselines).toEqual([]);
    });

    it('names a source that holds no record of the check', async () => {
      expect(
        await reject({
          check: 'support',
          ...baseline({ kind: 'window', from: '2026-11-20T00:00:00Z', to: '2026-11-21T00:00:00Z' }),
        }),
      ).toBe('baseline.source: the window holds no record of check support');
      expect(
        await reject({ check: 'support', ...baseline({ kind: 'suite', name: 'nope', version: 9 }) }),
      ).toBe('baseline.source: suite nope version 9 is not registered');
      expect(store.baselines).toEqual([]);
      expect(s3.keys()).toEqual([]);
    });

    it('names an evaluation run that did not succeed', async () => {
      expect(await reject({ check: 'support', ...baseline({ kind: 'evaluation', runId: 'run-404' }) })).toBe(
        'baseline.source: evaluation run run-404 has no report (it must have succeeded)',
      );
      evaluations.runs.set('run-8', {
        runId: 'run-8',
        status: 'failed',
        trigger: 'api',
        request: { suite: 'support-golden', target: { prompt: 'support@production' } },
        requestedBy: 'a',
        createdAt: '2026-11-30T00:00:00.000Z',
        updatedAt: '2026-11-30T00:10:00.000Z',
        error: 'budget exceeded',
      });
      expect(await reject({ check: 'support', ...baseline({ kind: 'evaluation', runId: 'run-8' }) })).toMatch(
        /run-8/,
      );
    });

    it('names a line of the run’s items that is not an item', async () => {
      evaluations.runs.set('run-9', {
        runId: 'run-9',
        status: 'succeeded',
        trigger: 'api',
        request: { suite: 'support-golden', target: { prompt: 'support@production' } },
        requestedBy: 'a',
        createdAt: '2026-11-30T00:00:00.000Z',
        updatedAt: '2026-11-30T00:10:00.000Z',
        report: {
          bucket: ARTIFACTS,
          summary: 's',
          items: 'evaluations/run-9/items.jsonl',
          html: 'h',
          markdown: 'm',
        },
      });
      s3.put(ARTIFACTS, 'evaluations/run-9/items.jsonl', '{"input":"ok"}\n{"answer":"no input"}\n');
      expect(await reject({ check: 'support', ...baseline({ kind: 'evaluation', runId: 'run-9' }) })).toMatch(
        /^baseline\.source: items\.jsonl line 2: input/,
      );
      s3.put(ARTIFACTS, 'evaluations/run-9/items.jsonl', '{"input":"ok"}\n{not json\n');
      expect(await reject({ check: 'support', ...baseline({ kind: 'evaluation', runId: 'run-9' }) })).toMatch(
        /^baseline\.source: items\.jsonl line 2/,
      );
    });
  });
});
