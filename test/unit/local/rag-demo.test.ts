import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { citedFiles, describeAnswer, documentFiles, readQuestions } from '#infra/local/rag-demo.ts';

const dir = mkdtempSync(join(tmpdir(), 'llmops-rag-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('documentFiles', () => {
  it('lists the parseable documents of a folder tree, sorted, with forward slashes, less exclusions', () => {
    const docs = join(dir, 'docs');
    mkdirSync(join(docs, 'guides'), { recursive: true });
    for (const name of [
      'b.md',
      'a.TXT',
      'guides/intro.html',
      'guides/manual.pdf',
      'notes.jsonl',
      'image.png',
      'SOURCE.md',
    ]) {
      writeFileSync(join(docs, name), 'x');
    }
    expect(documentFiles(docs, ['SOURCE.md'])).toEqual([
      'a.TXT',
      'b.md',
      'guides/intro.html',
      'guides/manual.pdf',
    ]);
  });
});

describe('readQuestions', () => {
  it('reads {"id", "question"} lines, skipping blank ones; numeric ids become strings', () => {
    const file = join(dir, 'q.jsonl');
    writeFileSync(file, '{"id":"a","question":"Why?"}\n\n{"id":2,"question":"How?"}\n');
    expect(readQuestions(file)).toEqual([
      { id: 'a', question: 'Why?' },
      { id: '2', question: 'How?' },
    ]);
  });

  it.each([
    ['{"id":"a","question":"Why?"}\nnot json\n', 'line 2: not valid JSON'],
    ['{"id":"a"}\n', 'line 1: expected {"id": string, "question": non-empty string}'],
    ['{"id":"a","question":"  "}\n', 'line 1: expected {"id": string, "question": non-empty string}'],
    ['\n\n', 'holds no questions'],
  ])('names the problem: %j', (content, message) => {
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, content);
    expect(() => readQuestions(file)).toThrow(message);
  });
});

describe('answers', () => {
  const answer = {
    question: 'How do I avoid cold starts?',
    answer: 'Use  provisioned\nconcurrency.',
    stopReason: 'end_turn',
    citations: [
      {
        n: 1,
        docId: 'pc.pdf',
        chunkId: 'pc.pdf#0',
        title: 'Provisioned',
        source: 'pc.pdf',
        score: 0.7,
        similarity: 0.61,
        headings: ['Provisioned', 'Setup'],
        page: 2,
      },
      {
        n: 2,
        docId: 'pc.pdf',
        chunkId: 'pc.pdf#3',
        title: 'Provisioned',
        source: 'pc.pdf',
        score: 0.6,
        similarity: 0.6,
        headings: [],
      },
      {
        n: 3,
        docId: 'scaling.md',
        chunkId: 'scaling.md#1',
        title: null,
        source: null,
        score: 0.5,
        similarity: 0.58,
        headings: [],
      },
    ],
  };

  it('cites each file once, in citation order', () => {
    expect(citedFiles(answer)).toEqual(['pc.pdf', 'scaling.md']);
  });

  it('prints the answer on one line and each citation with its page and similarity', () => {
    expect(describeAnswer(answer)).toEqual([
      '  Q: How do I avoid cold starts?',
      '  A: Use provisioned concurrency.',
      '     [1] pc.pdf p.2 — Provisioned › Setup (similarity 0.610)',
      '     [2] pc.pdf — Provisioned (similarity 0.600)',
      '     [3] scaling.md (similarity 0.580)',
    ]);
    expect(describeAnswer({ ...answer, citations: [] }).at(-1)).toBe(
      '     (no passage was relevant enough: nothing cited)',
    );
  });
});
