import {
  ComprehendClient,
  DetectToxicContentCommand,
  type DetectToxicContentCommandInput,
  TextSizeLimitExceededException,
} from '@aws-sdk/client-comprehend';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  COMPREHEND_CLASSIFIER,
  ComprehendToxicityScorer,
  MAX_SEGMENT_BYTES,
  MAX_SEGMENTS_PER_CALL,
  toxicitySegments,
} from '#aws/eval/toxicity-comprehend.ts';
import { OBSCENITY_CLASSIFIER, toxicityScore } from '#core/eval/metrics/toxicity.ts';
import { expectLinear, repeatTo } from '../core/linear-time.ts';

describe('offline toxicity (obscenity lexicon)', () => {
  it('scores 1 with the matched categories and words, through leetspeak and repeated letters', () => {
    expect(toxicityScore('You are a b1tch and this is sh1t, fuuuuck.')).toEqual({
      metric: 'toxicity',
      value: 1,
      details: {
        classifier: OBSCENITY_CLASSIFIER,
        offline: true,
        categories: ['INSULT', 'PROFANITY'],
        terms: ['bitch', 'fuck', 'shit'],
      },
    });
  });

  it('scores 0 for clean text, including words that merely contain a listed one', () => {
    for (const text of [
      'Refunds are accepted within 30 days.',
      'Scunthorpe is a town.',
      'Pass the class assignment.',
    ]) {
      expect(toxicityScore(text)).toMatchObject({ value: 0, details: { categories: [], terms: [] } });
    }
  });

  it('labels itself as the offline lexicon', () => {
    expect(toxicityScore('hello').details?.classifier).toBe('obscenity (offline lexicon)');
  });

  it('matches in linear time, even on text full of matches and near-matches', () => {
    expectLinear('toxicity: matches', (n) => repeatTo(n, 'shit '), toxicityScore);
    expectLinear('toxicity: near-matches', (n) => repeatTo(n, 'fuuuuuuuu'), toxicityScore);
  });
});

describe('toxicitySegments', () => {
  it('cuts at whitespace into segments of at most the byte limit', () => {
    const text = `${'word '.repeat(500)}end`;
    const segments = toxicitySegments(text);
    expect(segments.length).toBe(3);
    for (const s of segments) expect(Buffer.byteLength(s, 'utf8')).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
    expect(segments.join(' ')).toBe(text);
  });

  it('counts bytes of UTF-8 and never splits a character', () => {
    const text = '😀'.repeat(600); // 4 bytes each, no whitespace
    const segments = toxicitySegments(text);
    expect(segments.map((s) => Buffer.byteLength(s, 'utf8'))).toEqual([1000, 1000, 400]);
    expect(segments.join('')).toBe(text);
    expect(toxicitySegments('é'.repeat(10), 5)).toEqual(['éé', 'éé', 'éé', 'éé', 'éé']);
  });

  it('gives nothing for blank text', () => {
    expect(toxicitySegments('  \n\t ')).toEqual([]);
  });

  it('cuts in linear time', () => {
    expectLinear('segments: no whitespace', (n) => repeatTo(n, 'a'), toxicitySegments);
    expectLinear('segments: long words', (n) => repeatTo(n, `${'a'.repeat(999)} `), toxicitySegments);
  });
});

describe('ComprehendToxicityScorer', () => {
  const comprehend = mockClient(ComprehendClient);
  const scorer = new ComprehendToxicityScorer({ client: new ComprehendClient({ region: 'us-east-1' }) });
  const meta = { $metadata: {} };
  beforeEach(() => comprehend.reset());

  /** Answers each segment from its text: `toxic` segments score 0.9, others 0.05. */
  const byText = (input: DetectToxicContentCommandInput) => ({
    ResultList: (input.TextSegments ?? []).map((s) =>
      s.Text?.includes('toxic')
        ? {
            Toxicity: 0.9,
            Labels: [
              { Name: 'INSULT' as const, Score: 0.85 },
              { Name: 'PROFANITY' as const, Score: 0.4 },
            ],
          }
        : { Toxicity: 0.05, Labels: [{ Name: 'INSULT' as const, Score: 0.02 }] },
    ),
    ...meta,
  });

  it('scores a text by its most toxic segment, with the highest score of each category', async () => {
    comprehend.on(DetectToxicContentCommand).callsFake(byText);
    const long = `${'calm words here. '.repeat(100)} toxic remark. ${'calm again. '.repeat(10)}`;
    const score = await scorer.score(long);
    expect(score).toEqual({
      metric: 'toxicity',
      value: 0.9,
      details: {
        classifier: COMPREHEND_CLASSIFIER,
        languageCode: 'en',
        segments: 2,
        categories: { INSULT: 0.85, PROFANITY: 0.4 },
      },
    });
    const sent = comprehend.commandCalls(DetectToxicContentCommand)[0]?.args[0].input;
    expect(sent?.LanguageCode).toBe('en');
    for (const s of sent?.TextSegments ?? []) {
      expect(Buffer.byteLength(s.Text ?? '', 'utf8')).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
    }
  });

  it('packs the segments of many texts ten to a call and gives each text its own score', async () => {
    comprehend.on(DetectToxicContentCommand).callsFake(byText);
    const texts = Array.from({ length: 23 }, (_, i) => (i === 17 ? 'a toxic one' : `answer ${i}`));
    const scores = await scorer.scoreAll(texts);
    const calls = comprehend.commandCalls(DetectToxicContentCommand);
    expect(calls.map((c) => c.args[0].input.TextSegments?.length)).toEqual([10, 10, 3]);
    expect(calls.every((c) => (c.args[0].input.TextSegments?.length ?? 0) <= MAX_SEGMENTS_PER_CALL)).toBe(
      true,
    );
    expect(scores.map((s) => s.value)).toEqual(texts.map((_, i) => (i === 17 ? 0.9 : 0.05)));
  });

  it('scores blank text 0 without a call', async () => {
    expect(await scorer.score('   ')).toMatchObject({ value: 0, details: { segments: 0, categories: {} } });
    expect(comprehend.commandCalls(DetectToxicContentCommand)).toHaveLength(0);
  });

  it('fails only the texts of a failed call, with the error, never as 0', async () => {
    comprehend
      .on(DetectToxicContentCommand)
      .rejectsOnce(new TextSizeLimitExceededException({ message: 'Input text size exceeds limit', ...meta }))
      .callsFake(byText);
    const texts = Array.from({ length: 12 }, (_, i) => `answer ${i}`);
    const scores = await scorer.scoreAll(texts);
    expect(scores.slice(0, 10).every((s) => s.value === null)).toBe(true);
    expect(scores[0]?.error).toBe(
      'Comprehend DetectToxicContent failed: TextSizeLimitExceededException: Input text size exceeds limit',
    );
    expect(scores.slice(10).map((s) => s.value)).toEqual([0.05, 0.05]);
  });

  it('treats a result list of the wrong length as a failure of the call', async () => {
    comprehend.on(DetectToxicContentCommand).resolves({ ResultList: [], ...meta });
    const score = await scorer.score('hello');
    expect(score.value).toBeNull();
    expect(score.error).toContain('returned 0 results for 1 segments');
  });

  it('rejects when the caller aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(scorer.score('hello', controller.signal)).rejects.toThrow();
  });
});
