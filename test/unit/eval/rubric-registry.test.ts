import { describe, expect, it } from 'vitest';
import type { PromptDraft } from '#contracts/prompts/types.ts';
import { ValidationError } from '#core/errors.ts';
import { judgeItem, judgePair, judgeRequest, rubricInput } from '#core/eval/judge.ts';
import { itemsJsonl } from '#core/eval/report/summary.ts';
import {
  BUILT_IN_RUBRICS,
  checkRubricPrompt,
  defaultRubricRef,
  FAITHFULNESS_RUBRIC,
  PAIRWISE_RUBRIC,
  pairRubricFor,
  type RubricPrompt,
  rubricFor,
  rubricSeeds,
  rubricVersionFor,
  TOXICITY_RUBRIC,
  withPrompt,
} from '#core/eval/rubrics/index.ts';
import { runEvaluation } from '#core/eval/run.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';
import type { ChatRequest, ModelProvider } from '#core/models/types.ts';
import { contentHash } from '#core/prompts/hash.ts';
import { validateDraft } from '#core/prompts/template.ts';
import { PROFILE_CONFIGS, validateConfig } from '#infra/config/index.ts';

/**
 * Judge rubrics as prompts of the registry: the seed is each rubric's built-in text, the seeded version
 * renders exactly the judge request the built-in rubric did (scores do not change), and a run judges
 * with the version it resolved and records its `name:version` with every score.
 */

/** A draft as the registry stores it at `version`. */
const asVersion = (name: string, draft: PromptDraft, version = 1): RubricPrompt => ({
  name,
  version,
  messages: draft.messages,
  variables: draft.variables,
  contentHash: contentHash(draft),
});
const seeded = (name: string): RubricPrompt => {
  const seed = rubricSeeds().find((s) => s.name === name);
  if (seed === undefined) throw new Error(`no seed ${name}`);
  return asVersion(seed.name, seed.draft);
};

/** Faithfulness v2: another system text, the same `input`. */
const STRICTER = asVersion(
  'judge-faithfulness',
  {
    messages: [
      { role: 'system', content: 'Stricter: a claim about a number is supported only when quoted.' },
      { role: 'user', content: 'Check:\n{{ input }}' },
    ],
    variables: { input: { type: 'json' } },
    commitMessage: 'stricter',
  },
  2,
);

/** A judge that answers every call with `reply(request)`, and records the requests. */
function judgeReplying(reply: (request: ChatRequest) => string) {
  const requests: ChatRequest[] = [];
  const provider: ModelProvider = {
    name: 'bedrock',
    async chat(request) {
      requests.push(request);
      return {
        text: reply(request),
        usage: { inputTokens: 1, outputTokens: 1 },
        stopReason: 'end_turn',
        provider: 'bedrock',
        modelId: request.modelId,
      };
    },
    // biome-ignore lint/correctness/useYield: a judge never streams
    async *chatStream() {
      throw new Error('judges do not stream');
    },
    async embed(request) {
      const vectors = request.texts.map(() => [1, 0]);
      return { vectors, dimensions: 2, usage: { inputTokens: 0 }, provider: 'bedrock', modelId: '' };
    },
  };
  return { provider, requests };
}

const item: EvalItem = {
  id: 'refund-window',
  messages: [{ role: 'user', content: 'How long is the refund window?' }],
  references: ['30 days'],
  contexts: ['Refunds are accepted within 30 days of delivery.'],
  tags: ['policy'],
  unanswerable: false,
};
const answer: EvalAnswer = { itemId: item.id, answer: 'Refunds are accepted for 30 days.' };
const supported = JSON.stringify({
  claims: [{ claim: 'refunds for 30 days', supported: true, reason: 'passage 1' }],
  rationale: 'supported',
});

describe('the rubric seeds', () => {
  it('are one prompt per judge metric, named as the built-in rubric versions name them, each a valid draft', () => {
    const seeds = rubricSeeds();
    expect(seeds.map((s) => s.name)).toEqual([
      'judge-faithfulness',
      'judge-answer-relevance',
      'judge-hallucination',
      'judge-toxicity',
      'judge-sentiment',
      'judge-pairwise',
    ]);
    for (const seed of seeds) {
      expect(() => validateDraft(seed.draft)).not.toThrow();
      expect(() => checkRubricPrompt(asVersion(seed.name, seed.draft), 'rubric')).not.toThrow();
    }
    expect(defaultRubricRef('faithfulness')).toBe('judge-faithfulness@production');
    expect(defaultRubricRef('preference')).toBe('judge-pairwise@production');
  });

  it('render, as version 1, exactly the judge request of the built-in rubric: scores do not change', () => {
    const input = rubricInput(item, answer);
    for (const rubric of Object.values(BUILT_IN_RUBRICS)) {
      const name = rubric.version.split(':')[0] as string;
      const resolved = withPrompt(rubric, seeded(name));
      expect(resolved.version).toBe(rubric.version);
      expect(judgeRequest(resolved, input, { model: 'm' })).toEqual(
        judgeRequest(rubric, input, { model: 'm' }),
      );
    }
    const pair = { ...input, first: 'a', second: 'b' };
    expect(judgeRequest(withPrompt(PAIRWISE_RUBRIC, seeded('judge-pairwise')), pair, { model: 'm' })).toEqual(
      judgeRequest(PAIRWISE_RUBRIC, pair, { model: 'm' }),
    );
  });
});

describe('checkRubricPrompt', () => {
  const base = seeded('judge-toxicity');
  const failure = (prompt: RubricPrompt) => {
    try {
      checkRubricPrompt(prompt, 'request.rubrics.toxicity');
    } catch (error) {
      return error as ValidationError;
    }
    throw new Error('expected a ValidationError');
  };

  it('refuses a version without a json "input", with another required variable, or without a user turn', () => {
    const noInput = failure({ ...base, variables: {} });
    expect(noInput).toBeInstanceOf(ValidationError);
    expect(noInput.field).toBe('request.rubrics.toxicity');
    expect(noInput.message).toContain(
      'judge-toxicity:1 cannot be a judge rubric: it must declare the variable "input" of type json',
    );
    expect(failure({ ...base, variables: { input: { type: 'string' } } }).message).toContain('of type json');
    expect(
      failure({ ...base, variables: { ...base.variables, tone: { type: 'string' } } }).message,
    ).toContain('it requires the variable "tone", which a judge does not fill');
    expect(failure({ ...base, messages: [{ role: 'system', content: 'x {{ input }}' }] }).message).toContain(
      'no user message',
    );
  });

  it('accepts a version with optional variables besides "input"', () => {
    const prompt = {
      ...base,
      variables: { ...base.variables, tone: { type: 'string' as const, required: false } },
    };
    expect(() => checkRubricPrompt(prompt, 'f')).not.toThrow();
  });
});

describe('rubricFor, pairRubricFor, rubricVersionFor', () => {
  it('give the built-in rubric without a resolved version, and the resolved version with one', () => {
    expect(rubricFor('faithfulness')).toBe(FAITHFULNESS_RUBRIC);
    expect(rubricFor('toxicity', { faithfulness: STRICTER })).toBe(TOXICITY_RUBRIC);
    const stricter = rubricFor('faithfulness', { faithfulness: STRICTER });
    expect(stricter).toMatchObject({
      name: 'faithfulness',
      version: 'judge-faithfulness:2',
      prompt: STRICTER,
    });
    expect(stricter?.outputSchema).toBe(FAITHFULNESS_RUBRIC.outputSchema);
    expect(rubricFor('preference')).toBeUndefined();
    expect(rubricFor('f1')).toBeUndefined();
    expect(pairRubricFor()).toBe(PAIRWISE_RUBRIC);
    expect(pairRubricFor({ preference: { ...seeded('judge-pairwise'), version: 4 } }).version).toBe(
      'judge-pairwise:4',
    );
    expect(rubricVersionFor('faithfulness', { faithfulness: STRICTER })).toBe('judge-faithfulness:2');
    expect(rubricVersionFor('answer_relevance', { faithfulness: STRICTER })).toBe('judge-answer-relevance:1');
    expect(rubricVersionFor('f1')).toBeUndefined();
  });
});

describe('judging with a registry version', () => {
  it("asks with the version's text and records its name:version with the score", async () => {
    const judge = judgeReplying(() => supported);
    const score = await judgeItem({
      rubric: withPrompt(FAITHFULNESS_RUBRIC, STRICTER),
      item,
      answer,
      provider: judge.provider,
      model: 'vendor.judge',
      k: 2,
    });
    expect(judge.requests.map((r) => r.system)).toEqual([
      'Stricter: a claim about a number is supported only when quoted.',
      'Stricter: a claim about a number is supported only when quoted.',
    ]);
    expect(judge.requests[0]?.messages[0]?.content).toMatch(/^Check:\n\{"question":/);
    expect(score).toMatchObject({
      value: 1,
      details: { judge: 'vendor.judge', rubric: 'judge-faithfulness:2' },
    });
  });

  it('judges a pair with the resolved pairwise version and names it', async () => {
    const pairwise = { ...seeded('judge-pairwise'), version: 3 };
    const judge = judgeReplying(() => JSON.stringify({ preferred: 'tie', rationale: 'same' }));
    const result = await judgePair({
      item,
      a: answer,
      b: answer,
      rubric: pairRubricFor({ preference: pairwise }),
      provider: judge.provider,
      model: 'vendor.judge',
    });
    expect(result).toMatchObject({ preference: 'tie', rubric: 'judge-pairwise:3' });
  });

  it('a run records the resolved version in the summary, every item, the calibration it asks for, and the win rate', async () => {
    const judge = judgeReplying((request) =>
      request.responseFormat?.name === 'preference'
        ? JSON.stringify({ preferred: 'tie', rationale: 'same' })
        : request.responseFormat?.name === 'faithfulness'
          ? supported
          : JSON.stringify({ questions: ['a?', 'b?', 'c?'], noncommittal: false, rationale: 'r' }),
    );
    const asked: string[] = [];
    const answers = async (it: EvalItem): Promise<EvalAnswer> => ({ itemId: it.id, answer: answer.answer });
    const report = await runEvaluation({
      runId: 'run-1',
      suite: { name: 'unit', version: 1 },
      items: [item, { ...item, id: 'second' }],
      metrics: [],
      judged: [{ name: 'faithfulness', applies: () => true }],
      judge: {
        kind: 'model',
        provider: judge.provider,
        model: 'vendor.judge',
        k: 1,
        rubrics: { faithfulness: STRICTER, preference: { ...seeded('judge-pairwise'), version: 3 } },
        calibrated: (rubric) => {
          asked.push(rubric);
          return false;
        },
      },
      target: { prompt: 'p:2' },
      answers,
      baseline: { target: { prompt: 'p:1' }, answers },
      pairwise: true,
    });
    expect(report.metrics.find((m) => m.name === 'faithfulness')?.judge).toEqual({
      model: 'vendor.judge',
      rubric: 'judge-faithfulness:2',
      calibrated: false,
    });
    expect(new Set(asked)).toEqual(new Set(['judge-faithfulness:2']));
    expect(report.winRate).toMatchObject({ judge: 'vendor.judge', rubric: 'judge-pairwise:3' });
    const faithfulnessCalls = judge.requests.filter((r) => r.responseFormat?.name === 'faithfulness');
    expect(faithfulnessCalls.every((r) => r.system === STRICTER.messages[0]?.content)).toBe(true);
    const lines = itemsJsonl(report)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(JSON.stringify(line)).toContain('judge-faithfulness:2');
  });

  it('an offline run records the rubric version it stands in for, labelled offline', async () => {
    const report = await runEvaluation({
      runId: 'run-1',
      suite: { name: 'unit', version: 1 },
      items: [item],
      metrics: [],
      judged: [{ name: 'faithfulness', applies: () => true }],
      judge: { kind: 'offline', rubrics: { faithfulness: STRICTER } },
      target: { model: 'm' },
      answers: async (it) => ({ itemId: it.id, answer: answer.answer }),
    });
    expect(report.metrics.find((m) => m.name === 'faithfulness')?.judge).toEqual({
      model: 'offline',
      rubric: 'judge-faithfulness:2',
      calibrated: false,
    });
    expect(report.judge).toEqual({ model: 'offline', offline: true });
    const [line] = itemsJsonl(report).trim().split('\n');
    expect(JSON.stringify(JSON.parse(line ?? '{}'))).toContain('judge-faithfulness:2');
  });
});

describe('a schedule names the rubric versions of its suite', () => {
  const withRubrics = (rubrics: Record<string, string>) => {
    const dev = PROFILE_CONFIGS.dev;
    const [first, ...rest] = dev.evaluation.schedules;
    if (first === undefined) throw new Error('the dev profile has no schedule');
    return { ...dev, evaluation: { ...dev.evaluation, schedules: [{ ...first, rubrics }, ...rest] } };
  };

  it('accepts a reference per judge metric and names an unknown metric or a bad reference', () => {
    const good = withRubrics({
      faithfulness: 'judge-faithfulness@candidate',
      preference: 'judge-pairwise:2',
    });
    expect(validateConfig(good as never)).toBe(good);
    expect(() => validateConfig(withRubrics({ coherence: 'judge-coherence@production' }) as never)).toThrow(
      /evaluation\.schedules\[0\]\.rubrics.*Unrecognized key: "coherence"/,
    );
    expect(() => validateConfig(withRubrics({ faithfulness: 'judge faithfulness' }) as never)).toThrow(
      /must be "name@label" or "name:version"/,
    );
  });
});
