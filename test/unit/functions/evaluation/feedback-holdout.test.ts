// The gateway environment of the API functions, and Plan's own: set before the handler modules are
// imported (they read their environment at import, as at a cold start).
import '../../../support/env/api.ts';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { goldenRecordSchema } from '#core/dataprep/records.ts';
import type { EvalItem } from '#core/eval/types.ts';
import { buildFeedbackRecords } from '#core/feedback/pairs.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import { makeHandler as makeGenerate } from '#functions/evaluation/generate.ts';
import { makeHandler as makePlan } from '#functions/evaluation/plan.ts';
import { evalStaging, type StagedAnswers, type StagedPlan } from '#functions/evaluation/staging.ts';
import { catalogModel, catalogOf, recordingProvider } from '../../../support/gateway-fixtures.ts';
import { seededRubricPrompts } from '../../../support/rubric-prompts.ts';
import { interaction, promptHashWhere, verdict } from '../../feedback/export-fixtures.ts';
import { evaluationRequested as envelope, FakeEvaluationStore, memoryS3 } from './support.ts';

vi.hoisted(() => {
  Object.assign(process.env, {
    JUDGE_MODEL: process.env.JUDGE_MODEL ?? 'judge',
    JUDGE_REPEATS: process.env.JUDGE_REPEATS ?? '3',
    EVALUATION_BUDGET_USD: process.env.EVALUATION_BUDGET_USD ?? '2',
    ITEM_BATCH_SIZE: process.env.ITEM_BATCH_SIZE ?? '10',
  });
});

/**
 * The held-out feedback suite as the Evaluate steps take it: the lines the feedback export writes under
 * `raw/golden/<dataset>-holdout/` (a conversation, a reference only when a pair lent one) are planned
 * and answered for a fine-tuned candidate's model target against the production model, pairwise, as
 * the candidate's win-rate run (`candidate-<jobId>-holdout`) asks.
 */
const s3 = memoryS3();
const ARTIFACTS = 'artifacts';
const CURATED = 'curated';
const DATA = 'datasets/golden/feedback-holdout/v000001/data.jsonl';
const NOW = new Date('2026-12-05T07:00:00.000Z');
const RUN = 'candidate-ft-3f9c2a7be1d04c58-holdout';
const MODELS: CatalogModel[] = [
  catalogModel('served', { pricePer1kInputUsd: 0.0001, pricePer1kOutputUsd: 0.0004 }),
  catalogModel('candidate', { pricePer1kInputUsd: 0.0001, pricePer1kOutputUsd: 0.0004 }),
  catalogModel('judge', { pricePer1kInputUsd: 0.001, pricePer1kOutputUsd: 0.005 }),
];

/** Two held-out prompts: one corrected (a reference) under a system prompt, one only rated. */
function heldOutLines(): Record<string, unknown>[] {
  const corrected = interaction('i-corrected', 'Functions run for 5 minutes.', {
    promptHash: promptHashWhere(true, 0.5),
    system: 'Answer briefly.',
    messages: [{ role: 'user', content: 'How long can a Lambda function run?' }],
  });
  const rated = interaction('i-rated', 'Use a VPC endpoint.', {
    promptHash: promptHashWhere(true, 0.5, 1000),
    messages: [{ role: 'user', content: 'How do I reach S3 privately?' }],
  });
  const { heldOut, pairs } = buildFeedbackRecords({
    verdicts: [
      verdict(corrected, 'ann', 'down', { correction: 'Up to 15 minutes.' }),
      verdict(rated, 'bob', 'up'),
    ],
    interactions: new Map([corrected, rated].map((i) => [i.interactionId, i])),
    holdOutShare: 0.5,
  });
  expect(pairs).toEqual([]);
  return heldOut as unknown as Record<string, unknown>[];
}

describe('a held-out feedback suite in the Evaluate steps', () => {
  let store: FakeEvaluationStore;

  beforeEach(async () => {
    s3.install();
    store = new FakeEvaluationStore(NOW.toISOString());
  });

  it('plans and answers its items for a model target against the production model, pairwise', async () => {
    const lines = heldOutLines();
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(goldenRecordSchema.safeParse(line).success).toBe(true);
    expect(lines.filter((l) => l.reference !== undefined)).toHaveLength(1);
    s3.put(CURATED, DATA, lines.map((l) => JSON.stringify(l)).join('\n'));
    await store.registerSuite({
      name: 'feedback-holdout',
      version: 1,
      items: 2,
      tags: ['feedback'],
      location: { bucket: CURATED, key: DATA },
      contentHash: 'sha256:x',
      registeredAt: NOW.toISOString(),
    });

    const request = {
      suite: 'feedback-holdout',
      suiteVersion: 1,
      maxItems: 200,
      k: 1,
      target: { model: 'candidate' },
      baseline: { model: 'served' },
      pairwise: true,
    };
    const planned = await makePlan({
      s3: s3.client,
      store,
      prompts: seededRubricPrompts(),
      catalog: catalogOf(MODELS),
      artifactsBucket: ARTIFACTS,
      judgeModel: 'judge',
      judgeRepeats: 3,
      budgetUsd: 2,
      batchSize: 10,
      offline: false,
      now: () => NOW,
    })({
      event: envelope({ runId: RUN, trigger: 'model', requestedBy: 'finetune', request }),
      executionName: 'exec-1',
    });
    expect(planned).toMatchObject({
      runId: RUN,
      status: 'planned',
      items: 2,
      suite: { name: 'feedback-holdout', version: 1 },
    });
    const plan = s3.json<StagedPlan>(ARTIFACTS, evalStaging.plan(RUN));
    expect(plan).toMatchObject({
      request,
      target: { model: 'candidate' },
      baseline: { model: 'served' },
      k: 1,
    });
    const items = s3.json<EvalItem[]>(ARTIFACTS, evalStaging.batch(RUN, 0));
    expect(items.map((item) => [item.messages.map((m) => m.role), item.references]).sort()).toEqual([
      [['system', 'user'], ['Up to 15 minutes.']],
      [['user'], []],
    ]);

    const provider = recordingProvider();
    const records: InteractionRecordedDetail[] = [];
    const batch = planned.status === 'planned' ? planned.batches[0] : undefined;
    expect(batch).toBeDefined();
    await makeGenerate({
      s3: s3.client,
      artifactsBucket: ARTIFACTS,
      gateway: {
        prompts: { get: vi.fn() },
        catalog: catalogOf(MODELS),
        providerFor: () => provider.provider,
        recorder: { record: async (detail) => void records.push(detail) },
        sampleRate: 0,
        timeoutMs: 5000,
      },
      sleep: async () => undefined,
    })({ runId: RUN, batch: batch as { index: number; key: string } });
    const answers = s3.json<StagedAnswers>(ARTIFACTS, evalStaging.answers(RUN, 0));
    for (const side of [answers.candidate, answers.baseline ?? []]) {
      expect(side.map((a) => a.itemId).sort()).toEqual(items.map((i) => i.id).sort());
      expect(side.every((a) => a.error === undefined && a.answer !== '')).toBe(true);
    }
    // The whole conversation, as /v1/chat/completions sends it, to the candidate and to production.
    expect(provider.requests.filter((r) => r.system === 'Answer briefly.')).toHaveLength(2);
    expect(records.map((r) => [r.route, r.model?.id]).sort()).toEqual([
      ['chat.completions', 'candidate'],
      ['chat.completions', 'candidate'],
      ['chat.completions', 'served'],
      ['chat.completions', 'served'],
    ]);
  });
});
