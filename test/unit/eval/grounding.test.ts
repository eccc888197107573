import {
  ApplyGuardrailCommand,
  type ApplyGuardrailCommandOutput,
  BedrockRuntimeClient,
  InternalServerException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '#aws/errors.ts';
import {
  GROUNDING_LIMITS,
  GROUNDING_METRIC,
  GROUNDING_RELEVANCE_METRIC,
  GROUNDING_SCORER,
  GroundingScorer,
  groundingRequest,
  truncateChars,
} from '#aws/eval/grounding.ts';
import type { EvalAnswer, EvalItem } from '#core/eval/types.ts';
import { errorOf } from '../../support/async.ts';

const bedrockMock = mockClient(BedrockRuntimeClient);
const client = new BedrockRuntimeClient({ region: 'us-east-1' });
const guardrail = { id: 'gr-ground', version: '3' };
const fastRetry = { sleep: async () => {}, random: () => 0, maxAttempts: 3 };
const scorer = new GroundingScorer({ client, guardrail, retry: fastRetry });
const meta = { $metadata: {} };

const item = (over: Partial<EvalItem> = {}): EvalItem => ({
  id: 'refunds-1',
  messages: [
    { role: 'system', content: 'Answer from the policy.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello, how can I help?' },
    { role: 'user', content: 'How long is the refund window?' },
  ],
  references: ['30 days'],
  tags: [],
  unanswerable: false,
  ...over,
});

const answer = (over: Partial<EvalAnswer> = {}): EvalAnswer => ({
  itemId: 'refunds-1',
  answer: 'Refunds are accepted within 30 days of delivery.',
  contexts: [
    { id: 'p1', text: 'Refunds are accepted within 30 days of delivery.' },
    { id: 'p2', text: 'Shipping is free over 50 EUR.' },
  ],
  ...over,
});

type Filter = {
  type: 'GROUNDING' | 'RELEVANCE';
  score: number;
  threshold: number;
  action: 'BLOCKED' | 'NONE';
};

const grounded = (
  filters: Filter[],
  extra: Partial<ApplyGuardrailCommandOutput> = {},
): ApplyGuardrailCommandOutput => ({
  action: filters.some((f) => f.action === 'BLOCKED') ? 'GUARDRAIL_INTERVENED' : 'NONE',
  outputs: [],
  assessments: [{ contextualGroundingPolicy: { filters } }],
  usage: undefined,
  ...meta,
  ...extra,
});

const BOTH: Filter[] = [
  { type: 'GROUNDING', score: 0.93, threshold: 0.7, action: 'NONE' },
  { type: 'RELEVANCE', score: 0.41, threshold: 0.5, action: 'BLOCKED' },
];

/** The input of the only ApplyGuardrail call made. */
function sentInput() {
  const calls = bedrockMock.commandCalls(ApplyGuardrailCommand);
  expect(calls).toHaveLength(1);
  return calls[0]?.args[0].input;
}

/** The text of the sent block with the given qualifier. */
function sentText(qualifier: string): string {
  const block = sentInput()?.content?.find((c) => c.text?.qualifiers?.includes(qualifier as never));
  return block?.text?.text ?? '';
}

beforeEach(() => bedrockMock.reset());

describe('GroundingScorer request', () => {
  it('sends the passages, the last user turn and the answer as qualified OUTPUT blocks to the guardrail version', async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves(grounded(BOTH));
    await scorer.score(item(), answer());
    expect(sentInput()).toEqual({
      guardrailIdentifier: 'gr-ground',
      guardrailVersion: '3',
      source: 'OUTPUT',
      content: [
        {
          text: {
            text: '[1] Refunds are accepted within 30 days of delivery.\n\n[2] Shipping is free over 50 EUR.',
            qualifiers: ['grounding_source'],
          },
        },
        { text: { text: 'How long is the refund window?', qualifiers: ['query'] } },
        { text: { text: 'Refunds are accepted within 30 days of delivery.', qualifiers: ['guard_content'] } },
      ],
    });
  });

  it("grounds in the item's own passages when none were retrieved with the answer, leaving blank ones out", async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves(grounded(BOTH));
    await scorer.score(
      item({ contexts: ['Refunds take 30 days.', '   ', 'Returns need a receipt.'] }),
      answer({ contexts: undefined }),
    );
    expect(sentText('grounding_source')).toBe('[1] Refunds take 30 days.\n\n[2] Returns need a receipt.');
  });

  it('uses a default client when none is given', async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves(grounded(BOTH));
    const scores = await new GroundingScorer({ guardrail, retry: fastRetry }).score(item(), answer());
    expect(scores.map((s) => s.value)).toEqual([0.93, 0.41]);
    expect(bedrockMock.commandCalls(ApplyGuardrailCommand)).toHaveLength(1);
  });

  it('refuses a guardrail without an id or version', () => {
    expect(() => new GroundingScorer({ client, guardrail: { id: ' ', version: '1' } })).toThrow(
      ValidationError,
    );
    expect(() => new GroundingScorer({ client, guardrail: { id: 'gr', version: '' } })).toThrow(
      ValidationError,
    );
  });
});

describe('GroundingScorer scores', () => {
  it("scores grounding and relevance with the service's scores, thresholds and actions", async () => {
    bedrockMock
      .on(ApplyGuardrailCommand)
      .resolves(grounded(BOTH, { usage: { contextualGroundingPolicyUnits: 1 } as never }));
    const scores = await scorer.score(item(), answer());
    const details = {
      scorer: GROUNDING_SCORER,
      guardrailId: 'gr-ground',
      guardrailVersion: '3',
      passages: 2,
      truncated: false,
      contextualGroundingUnits: 1,
    };
    expect(scores).toEqual([
      { metric: GROUNDING_METRIC, value: 0.93, details: { ...details, threshold: 0.7, action: 'NONE' } },
      {
        metric: GROUNDING_RELEVANCE_METRIC,
        value: 0.41,
        details: { ...details, threshold: 0.5, action: 'BLOCKED' },
      },
    ]);
    expect(GROUNDING_SCORER).toBe('bedrock-guardrail-contextual-grounding');
    expect([GROUNDING_METRIC, GROUNDING_RELEVANCE_METRIC]).toEqual(['grounding', 'grounding_relevance']);
  });

  it('reads the filters whatever their order and keeps a score of 0 as 0', async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves(
      grounded([
        { type: 'RELEVANCE', score: 1, threshold: 0.5, action: 'NONE' },
        { type: 'GROUNDING', score: 0, threshold: 0.7, action: 'BLOCKED' },
      ]),
    );
    const [grounding, relevance] = await scorer.score(item(), answer());
    expect(grounding).toMatchObject({ metric: 'grounding', value: 0, details: { action: 'BLOCKED' } });
    expect(relevance).toMatchObject({ metric: 'grounding_relevance', value: 1 });
  });

  it('is an error score for a filter the policy does not have, and scores the other', async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves(grounded([BOTH[0] as Filter]));
    const [grounding, relevance] = await scorer.score(item(), answer());
    expect(grounding?.value).toBe(0.93);
    expect(relevance).toMatchObject({ value: null, error: expect.stringContaining('no RELEVANCE filter') });
  });

  it('is an error score, never 0, when the response has no contextualGroundingPolicy assessment', async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves({
      action: 'NONE',
      outputs: [],
      assessments: [{ contentPolicy: { filters: [] } }],
      usage: undefined,
      ...meta,
    });
    const scores = await scorer.score(item(), answer());
    expect(scores).toHaveLength(2);
    for (const score of scores) {
      expect(score.value).toBeNull();
      expect(score.error).toMatch(/no contextualGroundingPolicy assessment/);
      expect(score.error).toMatch(/gr-ground version 3/);
    }
  });

  it('is an error score for a score outside [0, 1]', async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves(
      grounded([
        { type: 'GROUNDING', score: 1.5, threshold: 0.7, action: 'NONE' },
        { type: 'RELEVANCE', score: 0.8, threshold: 0.5, action: 'NONE' },
      ]),
    );
    const [grounding, relevance] = await scorer.score(item(), answer());
    expect(grounding).toMatchObject({
      value: null,
      error: 'the GROUNDING filter returned no score in [0, 1]',
    });
    expect(relevance?.value).toBe(0.8);
  });
});

describe('GroundingScorer limits', () => {
  it('cuts the grounding source to 100,000 characters: whole passages first, then the start of the one that crosses', async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves(grounded(BOTH));
    const passages = ['a'.repeat(60_000), 'b'.repeat(60_000), 'c'.repeat(10)];
    const [score] = await scorer.score(item(), answer({ contexts: passages.map((text) => ({ text })) }));
    const source = sentText('grounding_source');
    expect(source).toHaveLength(GROUNDING_LIMITS.groundingSource);
    expect(source.startsWith(`[1] ${'a'.repeat(60_000)}\n\n[2] bbb`)).toBe(true);
    expect(source).not.toContain('[3]');
    expect(score?.details).toMatchObject({
      truncated: true,
      truncatedInputs: ['grounding_source'],
      passages: 2,
    });
  });

  it('leaves out a passage when not even its label fits', async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves(grounded(BOTH));
    const first = 'a'.repeat(GROUNDING_LIMITS.groundingSource - 6);
    const [score] = await scorer.score(item(), answer({ contexts: [{ text: first }, { text: 'more' }] }));
    expect(sentText('grounding_source')).toBe(`[1] ${first}`);
    expect(score?.details).toMatchObject({ truncated: true, passages: 1 });
  });

  it('cuts the query to 1,000 and the answer to 5,000 characters, and says which were cut', async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves(grounded(BOTH));
    const question = `${'q'.repeat(1_200)}?`;
    const long = 'x'.repeat(7_000);
    const scores = await scorer.score(
      item({ messages: [{ role: 'user', content: question }] }),
      answer({ answer: long }),
    );
    expect(sentText('query')).toBe('q'.repeat(GROUNDING_LIMITS.query));
    expect(sentText('guard_content')).toBe('x'.repeat(GROUNDING_LIMITS.guardContent));
    for (const score of scores) {
      expect(score.details).toMatchObject({ truncated: true, truncatedInputs: ['query', 'guard_content'] });
    }
  });

  it('sends inputs exactly at the limits as they are', () => {
    const request = groundingRequest(
      item({ messages: [{ role: 'user', content: 'q'.repeat(1_000) }] }),
      answer({ answer: 'x'.repeat(5_000), contexts: [{ text: 'p'.repeat(100_000 - 4) }] }),
      guardrail,
    );
    expect(request.truncated).toEqual([]);
    expect(request.input.content?.map((c) => c.text?.text?.length)).toEqual([100_000, 1_000, 5_000]);
  });

  it('never cuts inside a surrogate pair', () => {
    expect(truncateChars('ab😀cd', 3)).toBe('ab');
    expect(truncateChars('ab😀cd', 4)).toBe('ab😀');
    expect(truncateChars('short', 10)).toBe('short');
  });

  it('has the documented limits', () => {
    expect(GROUNDING_LIMITS).toEqual({ groundingSource: 100_000, query: 1_000, guardContent: 5_000 });
  });
});

describe('GroundingScorer not applicable', () => {
  const cases: [string, EvalItem, EvalAnswer, string][] = [
    ['no passages', item(), answer({ contexts: [] }), 'no context passages to check the answer against'],
    [
      'only blank passages',
      item({ contexts: [' '] }),
      answer({ contexts: undefined }),
      'no context passages to check the answer against',
    ],
    ['the answer failed', item(), answer({ answer: '', error: 'timed out' }), 'the answer failed: timed out'],
    [
      'no question',
      item({ messages: [{ role: 'system', content: 'Be brief.' }] }),
      answer(),
      'the item has no question',
    ],
    ['an empty answer', item(), answer({ answer: '  ' }), 'the answer is empty'],
  ];

  for (const [name, it_, ans, reason] of cases) {
    it(`is not applicable, without a call, when there is ${name}`, async () => {
      const scores = await scorer.score(it_, ans);
      expect(scores).toEqual(
        [GROUNDING_METRIC, GROUNDING_RELEVANCE_METRIC].map((metric) => ({
          metric,
          value: null,
          error: `not applicable: ${reason}`,
          details: {
            scorer: GROUNDING_SCORER,
            guardrailId: 'gr-ground',
            guardrailVersion: '3',
            notApplicable: true,
            reason,
          },
        })),
      );
      expect(bedrockMock.commandCalls(ApplyGuardrailCommand)).toHaveLength(0);
    });
  }
});

describe('GroundingScorer failures', () => {
  it('retries throttling and scores the answer once the service answers', async () => {
    bedrockMock
      .on(ApplyGuardrailCommand)
      .rejectsOnce(new ThrottlingException({ message: 'slow down', ...meta }))
      .rejectsOnce(new InternalServerException({ message: 'oops', ...meta }))
      .resolves(grounded(BOTH));
    const scores = await scorer.score(item(), answer());
    expect(scores.map((s) => s.value)).toEqual([0.93, 0.41]);
    expect(bedrockMock.commandCalls(ApplyGuardrailCommand)).toHaveLength(3);
  });

  it('is an error score, never 0, when throttled on every attempt', async () => {
    bedrockMock.on(ApplyGuardrailCommand).rejects(new ThrottlingException({ message: 'slow', ...meta }));
    const scores = await scorer.score(item(), answer());
    expect(bedrockMock.commandCalls(ApplyGuardrailCommand)).toHaveLength(3);
    for (const score of scores) {
      expect(score.value).toBeNull();
      expect(score.error).toMatch(/^Bedrock Guardrails contextual grounding check failed: ThrottledError/);
      expect(score.details).toMatchObject({ scorer: GROUNDING_SCORER, truncated: false });
    }
  });

  it('is an error score naming the cause of a client error, without retrying it', async () => {
    bedrockMock
      .on(ApplyGuardrailCommand)
      .rejects(new ValidationException({ message: 'guardrail version not found', ...meta }));
    const scores = await scorer.score(item(), answer());
    expect(bedrockMock.commandCalls(ApplyGuardrailCommand)).toHaveLength(1);
    for (const score of scores) {
      expect(score.value).toBeNull();
      expect(score.error).toContain('ModelProviderError');
      expect(score.error).toContain('ValidationException: guardrail version not found');
    }
  });

  it("rejects when the caller's signal aborts", async () => {
    bedrockMock.on(ApplyGuardrailCommand).resolves(grounded(BOTH));
    const controller = new AbortController();
    controller.abort();
    const error = await errorOf(scorer.score(item(), answer(), controller.signal));
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).toMatch(/cancelled by the caller/);
  });
});
