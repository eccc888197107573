import { describe, it } from 'vitest';
import * as z from 'zod/mini';
import { feedbackRequest, interactionIdOf } from '#contracts/feedback/feedback.ts';
import { redactPii } from '#core/dataprep/pii.ts';
import { renderPrompt, textIdentity } from '#core/feedback/pairs.ts';
import { expectLinear, repeatTo } from '../core/linear-time.ts';

/**
 * Hostile feedback runs in linear time: every pattern the route and the export run over a caller's text
 * (the request's id, user and category rules, the redaction of the free text, the prompt rendering and
 * the text identity of a pair), timed on adversarial inputs of growing size against a linear budget
 * (`core/linear-time.ts`: sizes × patterns, never one example).
 */
const body = (field: string, value: string) => ({ interactionId: 'a', rating: 'up', [field]: value });
const validate = (value: unknown) => z.safeParse(feedbackRequest, value);

const REQUEST_PATTERNS: Array<[string, (n: number) => string, (input: string) => unknown]> = [
  [
    'interaction id: a long run of id characters, then a space',
    (n) => repeatTo(n, 'a.', 'chatcmpl-', ' '),
    (s) => validate({ interactionId: s, rating: 'up' }),
  ],
  [
    'interaction id: repeated prefixes',
    (n) => repeatTo(n, 'chatcmpl-'),
    (s) => validate({ interactionId: s, rating: 'up' }),
  ],
  ['completion id stripped', (n) => repeatTo(n, 'chatcmpl-'), interactionIdOf],
  [
    'user: a run of allowed characters, then a space',
    (n) => repeatTo(n, 'a.+@', '', ' '),
    (s) => validate(body('user', s)),
  ],
  [
    'category: a run, then an upper-case letter',
    (n) => repeatTo(n, 'a_', '', 'A'),
    (s) => validate({ ...body('comment', ''), categories: [s] }),
  ],
  ['comment: phone-like digits, then a letter', (n) => repeatTo(n, '1', '+1', 'x'), (s) => redactPii(s)],
  ['comment: e-mail-like runs without a domain', (n) => repeatTo(n, 'a.', '', '@'), (s) => redactPii(s)],
];

describe('feedback input is checked and redacted in linear time', () => {
  it.each(REQUEST_PATTERNS)('%s', (name, make, f) => {
    expectLinear(name, make, f);
  });

  it('renders a prompt and identifies a text in linear time, whatever the turns hold', () => {
    expectLinear(
      'prompt of many short turns',
      (n) => repeatTo(n, 'x'),
      (s) =>
        renderPrompt({
          system: s,
          messages: Array.from({ length: Math.ceil(s.length / 100) }, (_, i) => ({
            role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
            content: s.slice(0, 100),
          })),
        }),
    );
    expectLinear('identity of whitespace and marks', (n) => repeatTo(n, ' \u0301\t'), textIdentity);
  });
});
