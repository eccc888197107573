import { describe, expect, it } from 'vitest';
import { contextBlock } from '#aws/rag/retriever.ts';
import type { RetrievedChunk } from '#core/rag/store.ts';
import { expectLinear, repeatTo } from '../core/linear-time.ts';

const chunk = (text: string, attribute = 'a.md'): RetrievedChunk => ({
  chunkId: 'a#0',
  docId: 'a',
  docVersion: 'v1',
  index: 0,
  text,
  title: attribute,
  source: attribute,
  headings: [],
  metadata: {},
  score: 1,
  similarity: 1,
});

/**
 * Adversarial passages for the regexes that delimit passages (the delimiter look-alikes in the text, the
 * escapes of the attributes): near-misses of `</passage` repeated (sizes × patterns, see
 * `core/linear-time.ts`).
 */
const TEXT_PATTERNS: Array<[string, (n: number) => string]> = [
  ['< then blanks, no tag', (n) => repeatTo(n, ' ', '<', 'x')],
  ['< then format characters and blanks', (n) => repeatTo(n, '\u200b ', '<', 'x')],
  ['< / then blanks', (n) => repeatTo(n, ' ', '< /', 'x')],
  ['< repeated', (n) => repeatTo(n, '<')],
  ['< blank repeated', (n) => repeatTo(n, '< ')],
  ['</pas repeated', (n) => repeatTo(n, '</pas')],
  ['tags repeated', (n) => repeatTo(n, '</passage><passage>')],
];

const ATTRIBUTE_PATTERNS: Array<[string, (n: number) => string]> = [
  ['quotes and brackets', (n) => repeatTo(n, '"<>&')],
  ['line breaks', (n) => repeatTo(n, '\r\n\t')],
];

describe('passage delimiting runs in linear time', () => {
  it.each(TEXT_PATTERNS)('text: %s', (name, make) => {
    expectLinear(name, make, (s) => contextBlock([chunk(s)]));
  });

  it.each(ATTRIBUTE_PATTERNS)('attributes: %s', (name, make) => {
    expectLinear(name, make, (s) => contextBlock([chunk('x', s)]));
  });

  it('still neutralises a closing tag after a megabyte of near-misses', () => {
    const text = repeatTo(1_000_000, '< ', '', '</passage>');
    expect(contextBlock([chunk(text)]).endsWith('&lt;/passage>\n</passage>')).toBe(true);
  });
});
