import { describe, expect, it } from 'vitest';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { COST_ASSUMPTIONS, estimateRunCost } from '#core/eval/cost.ts';
import { DEFAULT_JUDGED } from '#core/eval/run.ts';
import type { EvalItem } from '#core/eval/types.ts';
import { type AppConfig, loadConfig } from '#infra/config/index.ts';
import { catalogModel } from '../../support/gateway-fixtures.ts';

/** A 500-item run with k = 3 on the default judge: the figure docs/evaluation.md quotes. */
const item = (i: number): EvalItem => ({
  id: `q${i}`,
  // "How long can a function run": 5 short words of one token and "function" (8 letters) of 2: 7 tokens.
  messages: [{ role: 'user', content: 'How long can a function run' }],
  references: ['15 minutes'],
  tags: [],
  unanswerable: false,
});
const ITEMS = Array.from({ length: 500 }, (_, i) => item(i));
const novaMicro = catalogModel('nova-micro', { pricePer1kInputUsd: 0.000035, pricePer1kOutputUsd: 0.00014 });
const haiku = catalogModel('claude-haiku-4-5', { pricePer1kInputUsd: 0.001, pricePer1kOutputUsd: 0.005 });

describe('estimateRunCost', () => {
  it('prices 500 RAG items, two judged metrics, k = 3 on Claude Haiku 4.5 (hand-checked)', () => {
    const estimate = estimateRunCost({
      items: ITEMS,
      target: novaMicro,
      judge: haiku,
      judgedMetrics: 2,
      k: 3,
      rag: true,
      baseline: false,
    });
    const a = COST_ASSUMPTIONS;
    // Judge call input: 400 instructions + 7 question + 1500 passages + 150 answer = 2057 tokens.
    expect(a.judgeInstructionTokens + 7 + a.passageTokens + a.answerTokens).toBe(2057);
    // 500 × 2 × 3 = 3000 calls: 6.171M input × $0.001/1k = $6.171; 750k output × $0.005/1k = $3.75.
    expect(estimate.judgeCalls).toBe(3000);
    expect(estimate.judgeUsd).toBeCloseTo(9.921, 6);
    // Answers: 500 × (300 + 7 + 1500) = 903.5k input × $0.000035/1k + 75k output × $0.00014/1k.
    expect(estimate.answersUsd).toBeCloseTo(0.0316225 + 0.0105, 6);
    expect(estimate.totalUsd).toBeCloseTo(9.9631225, 6);
  });

  it('doubles answers and judge calls with a baseline, and drops passages without retrieval', () => {
    const base = { items: ITEMS, target: novaMicro, judge: haiku, judgedMetrics: 2, k: 3 } as const;
    const one = estimateRunCost({ ...base, rag: false, baseline: false });
    const two = estimateRunCost({ ...base, rag: false, baseline: true });
    expect(two.judgeCalls).toBe(2 * one.judgeCalls);
    expect(two.totalUsd).toBeCloseTo(2 * one.totalUsd, 9);
    expect(one.tokens.input).toBeLessThan(
      estimateRunCost({ ...base, rag: true, baseline: false }).tokens.input,
    );
  });

  it('adds the pairwise judge: 2 calls per item (both orders, whatever k), each reading both answers', () => {
    const base = {
      items: ITEMS,
      target: novaMicro,
      judge: haiku,
      judgedMetrics: 2,
      k: 3,
      rag: true,
      baseline: true,
    } as const;
    const plain = estimateRunCost(base);
    const pairwise = estimateRunCost({ ...base, pairwise: true });
    const a = COST_ASSUMPTIONS;
    // 500 × 2 = 1000 calls of 2057 + 150 (the second answer) = 2207 input tokens and 250 output.
    expect(pairwise.judgeCalls - plain.judgeCalls).toBe(1000);
    expect(pairwise.judgeUsd - plain.judgeUsd).toBeCloseTo(
      (1000 * (2057 + a.answerTokens) * 0.001) / 1000 + (1000 * a.judgeOutputTokens * 0.005) / 1000,
      9,
    );
    expect(pairwise.judgeUsd - plain.judgeUsd).toBeCloseTo(3.457, 9);
    expect(pairwise.answersUsd).toBe(plain.answersUsd);
  });
});

/**
 * What a profile costs a day with no traffic: its scheduled evaluations (answers and judge calls from
 * `estimateRunCost`, Comprehend toxicity, the guardrail's text units) and its drift checks (whose online
 * judge and evaluations on drift need traffic, so bill nothing here).
 */
describe('the daily cost of a profile with no traffic', () => {
  /** Runs a day of a schedule expression this test can read: a daily cron at a fixed time, or a rate. */
  function runsPerDay(expression: string): number {
    const cron = /^cron\((\d+) (\d+) [*?] \* [*?] \*\)$/.exec(expression);
    if (cron) return 1;
    const rate = /^rate\((\d+) (minutes?|hours?|days?)\)$/.exec(expression);
    if (!rate) throw new Error(`cannot price the schedule ${expression}: teach runsPerDay to read it`);
    const every = Number(rate[1]);
    const unit = rate[2] ?? '';
    return unit.startsWith('minute') ? 1440 / every : unit.startsWith('hour') ? 24 / every : 1 / every;
  }

  /** A 26-token question, longer than the bundled golden set's. */
  const question =
    'How long can a Lambda function run before it times out, and can I raise that limit for a single invocation?';
  const items = (n: number): EvalItem[] =>
    Array.from({ length: n }, (_, i) => ({
      id: `q${i}`,
      messages: [{ role: 'user', content: question }],
      references: ['15 minutes'],
      tags: [],
      unanswerable: false,
    }));
  /** Characters of the text a model reads or writes per token (English). */
  const CHARS_PER_TOKEN = 4;
  const a = COST_ASSUMPTIONS;
  const answerChars = a.answerTokens * CHARS_PER_TOKEN;
  /**
   * Amazon Comprehend `DetectToxicContent`: $0.0001 per unit of 100 characters, at least 3 units a
   * request; one request per answer.
   */
  const comprehendUsd = (answers: number) => answers * 0.0001 * Math.max(3, Math.ceil(answerChars / 100));
  /**
   * Bedrock Guardrails, per 1,000 text units of 1,000 characters: content filters (prompt attack
   * included) $0.15, sensitive information (PII) $0.10, contextual grounding $0.10. Counted as if every
   * policy read every text (an upper bound), twice per item: the gateway's answer (question, passages,
   * answer) and Score's grounding check of the same texts.
   */
  function guardrailUsd(config: AppConfig, answers: number): number {
    const g = config.guardrail;
    if (!g.enabled) return 0;
    const perUnit =
      (Object.keys(g.contentFilters ?? {}).length > 0 || g.promptAttack !== undefined ? 0.15 : 0) +
      ((g.piiAnonymize?.length ?? 0) + (g.piiBlock?.length ?? 0) > 0 ? 0.1 : 0) +
      (g.groundingThreshold !== undefined ? 0.1 : 0);
    const units = Math.ceil(((a.passageTokens + 26 + a.answerTokens) * CHARS_PER_TOKEN) / 1000);
    return (answers * 2 * units * perUnit) / 1000;
  }
  /**
   * The drift checks a month with no traffic: docs/drift.md's cost table at the default cadence, less
   * its online judge (the judge's calls and its `DriftJudgeCalls` metric: it judges live answers, none
   * without traffic). The compute, embedding and feedback-read lines are those of full windows, so this
   * errs high.
   */
  const DRIFT_MONTH_NO_TRAFFIC_USD = {
    // Compute, question and answer embeddings, feedback reads, alarms, failure alarms, 10 metrics.
    dev: 0.12 + 0.05 + 0.24 + 0.19 + 0.9 + 0.7 + 3.0,
    prod: 1.58 + 1.2 + 5.76 + 1.14 + 0.9 + 0.7 + 3.0,
  } as const;

  function daily(profile: 'dev' | 'prod', answering: (config: AppConfig) => CatalogModel) {
    const config = loadConfig({ profile });
    const e = config.evaluation;
    const judge = config.models.catalog.find((m) => m.id === e.judgeModel);
    if (judge === undefined) throw new Error(`no judge ${e.judgeModel} in the catalog`);
    let evaluation = 0;
    let judgeCalls = 0;
    for (const schedule of e.schedules) {
      const n = schedule.maxItems;
      if (n === undefined)
        throw new Error(`${schedule.name}: a schedule without maxItems has no bounded cost`);
      const runs = runsPerDay(schedule.expression);
      const run = estimateRunCost({
        items: items(n),
        target: schedule.model
          ? (config.models.catalog.find((m) => m.id === schedule.model) as CatalogModel)
          : answering(config),
        judge,
        // Faithfulness (the answer has passages) and answer relevance (an answerable item).
        judgedMetrics: DEFAULT_JUDGED.length,
        k: schedule.k ?? e.judgeRepeats,
        rag: schedule.ragK !== undefined,
        baseline: false,
      });
      const toxicity = e.toxicity === 'comprehend' ? comprehendUsd(n) : 0;
      evaluation += runs * (run.totalUsd + toxicity + guardrailUsd(config, n));
      judgeCalls += runs * run.judgeCalls;
    }
    const drift = DRIFT_MONTH_NO_TRAFFIC_USD[profile] / 30;
    return { evaluation, drift, total: evaluation + drift, judgeCalls };
  }
  const model = (id: string) => (config: AppConfig) =>
    config.models.catalog.find((m) => m.id === id) as CatalogModel;
  const chatModels = loadConfig({ profile: 'dev' }).models.catalog.filter((m) => m.kind === 'chat');

  it('keeps dev under $1 a day: the daily 20-item sample judged once, and the drift checks (hand-checked)', () => {
    const dev = daily('dev', model('nova-micro'));
    // 20 items × 2 judged metrics × k = 1.
    expect(dev.judgeCalls).toBe(40);
    // Judge: 40 × ((400 + 26 + 1500 + 150) × $0.001 + 250 × $0.005) / 1k = $0.13304.
    // Answers (Nova Micro): 20 × ((300 + 26 + 1500) × $0.000035 + 150 × $0.00014) / 1k = $0.0016982.
    // Comprehend: 20 × 6 units × $0.0001 = $0.012. Guardrail: 20 × 2 × 7 units × $0.35 / 1k = $0.098.
    expect(dev.evaluation).toBeCloseTo(0.13304 + 0.0016982 + 0.012 + 0.098, 9);
    // Drift: $5.20 a month.
    expect(dev.drift).toBeCloseTo(5.2 / 30, 9);
    expect(dev.total).toBeCloseTo(0.13304 + 0.0016982 + 0.012 + 0.098 + 5.2 / 30, 9);
    expect(dev.total).toBeLessThan(1);
  });

  it('keeps dev under $1 a day whichever catalog chat model answers for the scheduled prompt', () => {
    for (const m of chatModels) {
      expect(daily('dev', () => m).total, m.id).toBeLessThan(1);
    }
  });

  it('prices prod the same way: 200 items judged three times a day', () => {
    const prod = daily('prod', model('nova-micro'));
    expect(prod.judgeCalls).toBe(1200);
    expect(prod.drift).toBeCloseTo(14.28 / 30, 9);
    // Judge $3.9912, answers $0.017, Comprehend $0.12, guardrail $0.98, drift $0.476.
    expect(prod.total).toBeCloseTo(3.9912 + 0.016982 + 0.12 + 0.98 + 14.28 / 30, 4);
  });
});
