import { describe, expect, it } from 'vitest';
import { parsePredictions, predictedAnswer } from '#core/eval/predictions.ts';
import type { EvalItem } from '#core/eval/types.ts';

/** Bring-your-own predictions: one parser for the local command and the Evaluate runs. */
const item = (id: string): EvalItem => ({
  id,
  messages: [{ role: 'user', content: 'q' }],
  references: ['a'],
  tags: [],
  unanswerable: false,
});

describe('parsePredictions', () => {
  it('reads {id, prediction, contexts?} lines by id, skipping blank lines; contexts as texts or {id?, text}', () => {
    const parsed = parsePredictions(
      [
        '{"id":"a","prediction":"one"}',
        '',
        '{"id":"b","prediction":"two","contexts":["p1",{"id":"doc.md","text":"p2"}]}',
      ].join('\n'),
      'p.jsonl',
    );
    expect(predictedAnswer(parsed, item('a'))).toEqual({ itemId: 'a', answer: 'one' });
    expect(predictedAnswer(parsed, item('b'))).toEqual({
      itemId: 'b',
      answer: 'two',
      contexts: [{ text: 'p1' }, { id: 'doc.md', text: 'p2' }],
    });
    expect(predictedAnswer(parsed, item('c'))).toEqual({
      itemId: 'c',
      answer: '',
      error: 'no prediction for item c',
    });
  });

  it.each([
    ['not json', 'p.jsonl:1: not valid JSON'],
    ['{"id":1,"prediction":"x"}', 'p.jsonl:1: a prediction is {"id": string, "prediction": string'],
    ['{"id":"a","prediction":"x","contexts":"flat"}', 'p.jsonl:1: contexts must be a list'],
    ['{"id":"a","prediction":"x","contexts":[{"id":"d"}]}', 'p.jsonl:1: contexts must be a list'],
    ['{"id":"a","prediction":"x"}\n{"id":"a","prediction":"y"}', 'p.jsonl:2: a second prediction for id "a"'],
  ])('refuses %s, naming the line', (text, message) => {
    expect(() => parsePredictions(text, 'p.jsonl')).toThrow(message);
  });
});
