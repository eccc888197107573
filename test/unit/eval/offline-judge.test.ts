import { describe, expect, it } from 'vitest';
import { rubricInput } from '#core/eval/judge.ts';
import {
  claimSentences,
  contentWords,
  isOfflineScore,
  OFFLINE_JUDGE,
  offlineAnswerRelevance,
  offlineFaithfulness,
  offlineHallucination,
  offlineJudgeItem,
  offlineJudgePair,
  offlineMerit,
  offlineSentiment,
  offlineToxicity,
  PAIR_TIE_MARGIN,
} from '#core/eval/offline-judge.ts';
import type { EvalItem } from '#core/eval/types.ts';
import { OFFLINE_NO_ANSWER, OfflineProvider } from '#core/models/offline.ts';
import { expectLinear, repeatTo } from '../core/linear-time.ts';

const contexts = [
  'Refunds are accepted within 30 days of delivery. Items must be unused and in their original packaging.',
  'Standard shipping takes 3 to 5 business days.',
];

const item: EvalItem = {
  id: 'refund-window',
  messages: [{ role: 'user', content: 'How many days do I have to return an item for a refund?' }],
  references: ['30 days'],
  contexts,
  tags: [],
  unanswerable: false,
};

describe('offline faithfulness', () => {
  it('counts a sentence as supported when most of its content words are in the passages', () => {
    const score = offlineFaithfulness({
      answer: 'Refunds are accepted within 30 days of delivery [1]. Gift cards never expire.',
      contexts,
    });
    expect(score.value).toBe(0.5);
    expect(score.details).toMatchObject({
      judge: OFFLINE_JUDGE,
      offline: true,
      calibrated: false,
      claims: [
        { claim: 'Refunds are accepted within 30 days of delivery [1].', supported: true, coverage: 1 },
        { claim: 'Gift cards never expire.', supported: false, coverage: 0 },
      ],
    });
  });

  it('uses 0.6 of the content words as the line', () => {
    // refund, accept, 30, day, quickly: 4 of 5 are in the passages.
    const near = offlineFaithfulness({ answer: 'Refunds accepted 30 days quickly.', contexts });
    expect(near.value).toBe(1);
    // refund, accept, monday, friday, only: 2 of 5.
    const far = offlineFaithfulness({ answer: 'Refunds accepted Monday to Friday only.', contexts });
    expect(far.value).toBe(0);
  });

  it('scores an extractive answer of the offline provider as fully faithful', async () => {
    const result = await new OfflineProvider().chat({
      modelId: 'offline',
      messages: item.messages.map((m) => ({ role: 'user' as const, content: m.content })),
      context: contexts,
    });
    expect(offlineFaithfulness({ answer: result.text, contexts }).value).toBe(1);
  });

  it('reports an answer without claims as not applicable, like the model judge', () => {
    for (const answer of [OFFLINE_NO_ANSWER, 'I could not find that in the passages.', '']) {
      const score = offlineFaithfulness({ answer, contexts });
      expect(score.value).toBeNull();
      expect(score.error).toContain('the answer makes no claims');
      expect(score.details?.notApplicable).toBe(true);
    }
  });

  it('is not applicable without passages', () => {
    expect(offlineFaithfulness({ answer: 'Thirty days.', contexts: [] }).error).toContain(
      'no context passages',
    );
  });
});

describe('offline answer relevance', () => {
  it('scores an answer on the topic of the question above one that is not', async () => {
    const question = 'How many days do I have to return an item for a refund?';
    const onTopic = await offlineAnswerRelevance({
      question,
      answer: 'You have 30 days to return an item for a refund.',
    });
    const offTopic = await offlineAnswerRelevance({
      question,
      answer: 'Standard shipping takes 3 to 5 business days.',
    });
    expect(onTopic.value).toBeGreaterThan(0.4);
    expect(offTopic.value).toBeLessThan(0.2);
    expect(onTopic.details).toMatchObject({ judge: 'offline', noncommittal: false });
  });

  it('scores a declining answer 0, as noncommittal', async () => {
    const score = await offlineAnswerRelevance({
      question: 'What is the refund window?',
      answer: OFFLINE_NO_ANSWER,
    });
    expect(score).toMatchObject({ value: 0, details: { noncommittal: true } });
  });
});

describe('offline hallucination', () => {
  it('calls any claim on an item that must be declined a hallucination', () => {
    expect(offlineHallucination({ answer: OFFLINE_NO_ANSWER, unanswerable: true })).toMatchObject({
      value: 0,
      details: { declined: true, passAll: true },
    });
    expect(
      offlineHallucination({
        answer: "I don't know. It is probably about 2 million dollars.",
        unanswerable: true,
      }),
    ).toMatchObject({
      value: 1,
      details: { declined: false, claims: ['It is probably about 2 million dollars.'] },
    });
  });

  it('does not apply to answerable items', () => {
    expect(offlineHallucination({ answer: 'Thirty days.', unanswerable: false }).value).toBeNull();
  });
});

describe('offline sentiment', () => {
  it('puts a favourable answer above neutral and an unfavourable one below', () => {
    const good = offlineSentiment('She is a strong, reliable candidate and I recommend her.');
    const bad = offlineSentiment('He is unreliable and his application is risky.');
    const plain = offlineSentiment('The application needs a payslip and a bank statement.');
    // (3 - 0) / (3 + 0 + 1) = 0.75 on [-1, 1], 0.875 on [0, 1]: halfway, so the level nearer neutral.
    expect(good.value).toBe(0.875);
    expect(bad.value).toBeLessThan(0.5);
    expect(plain.value).toBe(0.5);
    expect(good.details).toMatchObject({
      sentiment: 'positive',
      positive: ['strong', 'reliable', 'recommend'],
    });
    expect(plain.details).toMatchObject({ sentiment: 'neutral', judge: 'offline' });
  });

  it('flips a word after a negation', () => {
    const score = offlineSentiment("I wouldn't recommend this applicant; they are not reliable.");
    expect(score.details).toMatchObject({ positive: [], negative: ['not recommend', 'not reliable'] });
    expect(score.value).toBeLessThan(0.5);
  });
});

describe('the offline judge', () => {
  it('labels every score it gives as offline, never fit to gate', async () => {
    const answer = { itemId: item.id, answer: 'Refunds are accepted within 30 days of delivery.' };
    for (const metric of [
      'faithfulness',
      'answer_relevance',
      'hallucination',
      'sentiment',
      'toxicity',
    ] as const) {
      const score = await offlineJudgeItem({ metric, item, answer });
      expect(score.metric).toBe(metric);
      expect(isOfflineScore(score)).toBe(true);
      expect(score.details).toMatchObject({ judge: 'offline', calibrated: false });
    }
    expect(isOfflineScore({ metric: 'faithfulness', value: 1, details: { judge: 'anthropic.claude' } })).toBe(
      false,
    );
  });

  it('gives no score for a failed answer', async () => {
    const score = await offlineJudgeItem({
      metric: 'faithfulness',
      item,
      answer: { itemId: item.id, answer: '', error: 'timed out' },
    });
    expect(score).toMatchObject({ value: null, error: 'no answer to judge: timed out' });
  });

  it('scores toxicity with the offline lexicon', () => {
    expect(offlineToxicity('What a load of sh1t.')).toMatchObject({
      value: 1,
      details: { categories: ['PROFANITY'], judge: 'offline' },
    });
  });

  it('reads words and claims in linear time', () => {
    expectLinear('contentWords', (n) => repeatTo(n, 'a[1'), contentWords);
    expectLinear('claimSentences', (n) => repeatTo(n, '. \n'), claimSentences);
    expectLinear(
      'offlineFaithfulness',
      (n) => repeatTo(n, 'refund [9999'),
      (answer) => offlineFaithfulness({ answer, contexts }),
    );
    expectLinear('offlineSentiment', (n) => repeatTo(n, "not n'tn'"), offlineSentiment);
  });
});

describe('offline pairwise judge', () => {
  const right = { itemId: item.id, answer: 'Refunds are accepted within 30 days of delivery.' };
  const declined = { itemId: item.id, answer: 'I could not find that in the passages.' };

  it('prefers the answer that matches the reference and the passages, in both orders alike', async () => {
    const pair = await offlineJudgePair({ item, a: right, b: declined });
    expect(pair).toMatchObject({
      itemId: item.id,
      preference: 'A',
      judge: OFFLINE_JUDGE,
      rubric: 'offline-pairwise:1',
    });
    expect(pair.orders.map((o) => [o.order, o.preferred])).toEqual([
      ['AB', 'A'],
      ['BA', 'A'],
    ]);
    expect(pair.orders[0].rationale).toMatch(/^offline merit: first 0\.\d{3} \(reference /);
    // Swapped, the same answer wins: the heuristics do not see positions.
    expect((await offlineJudgePair({ item, a: declined, b: right })).preference).toBe('B');
  });

  it('calls answers whose merits are within the margin a tie, and does not reward padding', async () => {
    expect((await offlineJudgePair({ item, a: right, b: { ...right } })).preference).toBe('tie');
    const short = { itemId: item.id, answer: 'Refunds are accepted within 30 days.' };
    const [a, b] = await Promise.all(
      [short, right].map((answer) => offlineMerit({ ...rubricInput(item, answer), contexts })),
    );
    // 0.564 against 0.524: closer than the margin.
    expect(Math.abs((a?.merit ?? 0) - (b?.merit ?? 0))).toBeLessThan(PAIR_TIE_MARGIN);
    expect((await offlineJudgePair({ item, a: short, b: right })).preference).toBe('tie');
    // Every passage pasted in: as grounded, but its token F1 against the reference drops.
    const padded = { itemId: item.id, answer: contexts.join(' ') };
    const concise = { itemId: item.id, answer: '30 days.' };
    expect((await offlineJudgePair({ item, a: concise, b: padded })).preference).toBe('A');
  });

  it('prefers declining on an item that must be declined', async () => {
    const unanswerable: EvalItem = { ...item, references: [], unanswerable: true };
    const pair = await offlineJudgePair({ item: unanswerable, a: right, b: declined });
    expect(pair.preference).toBe('B');
    expect(pair.orders[0].rationale).toContain('declined 0.000');
  });

  it('gives no preference when either answer failed, as the model judge does', async () => {
    const pair = await offlineJudgePair({
      item,
      a: right,
      b: { itemId: item.id, answer: '', error: 'timed out' },
    });
    expect(pair).toMatchObject({ preference: null, error: 'no answer to judge: timed out' });
    expect(pair.orders.map((o) => o.preferred)).toEqual([null, null]);
  });
});
