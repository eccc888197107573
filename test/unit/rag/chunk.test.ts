import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countTokens } from '#core/dataprep/tokens.ts';
import { ValidationError } from '#core/errors.ts';
import { type Chunk, type ChunkableDocument, chunkDocument, isTokenBoundary } from '#core/rag/chunk.ts';

/** A cheap stand-in for a tokenizer: one token per ASCII word and per other non-space code point. */
const cheapCount = (s: string): number => s.match(/[A-Za-z0-9]+|\S/gu)?.length ?? 0;

const md = (text: string): ChunkableDocument => ({ id: 'doc', text, format: 'markdown' });

const graphemeBounds = (text: string): Set<number> => {
  const bounds = new Set<number>([text.length]);
  for (const { index } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text))
    bounds.add(index);
  return bounds;
};

const LONE_SURROGATE = /\p{Surrogate}/u;

function expectTiles(text: string, chunks: Chunk[]): void {
  expect(chunks.map((c) => text.slice(c.start, c.end)).join('')).toBe(text);
  for (const c of chunks) {
    expect(c.text).toBe(text.slice(c.overlapStart, c.end));
    expect(c.text.endsWith(text.slice(c.start, c.end))).toBe(true);
    expect(c.overlapStart).toBeLessThanOrEqual(c.start);
    expect(c.start).toBeLessThan(c.end);
  }
}

const paragraph = (n: number, seed = 0): string =>
  Array.from({ length: n }, (_, i) => `word${(i * 7 + seed) % 13}${i % 9 === 8 ? '.' : ''}`).join(' ');

describe('chunkDocument examples', () => {
  it('gives each chunk its heading path and never mixes sections', () => {
    const text = [
      '# Lambda quotas<a name="quotas"></a>',
      '',
      'Quotas apply per Region.',
      '',
      '## Memory',
      '',
      'From 128 MB to 10,240 MB.',
      '',
      '## Timeout',
      '',
      'Up to 900 seconds.',
      '',
    ].join('\n');
    const chunks = chunkDocument(md(text), { maxTokens: 512, overlapTokens: 0, countTokens: cheapCount });
    expect(chunks.map((c) => c.headings)).toEqual([
      ['Lambda quotas'],
      ['Lambda quotas', 'Memory'],
      ['Lambda quotas', 'Timeout'],
    ]);
    expect(chunks.map((c) => c.text)).toEqual([
      '# Lambda quotas<a name="quotas"></a>\n\nQuotas apply per Region.\n\n',
      '## Memory\n\nFrom 128 MB to 10,240 MB.\n\n',
      '## Timeout\n\nUp to 900 seconds.\n',
    ]);
    expect(chunks.map((c) => c.id)).toEqual(['doc#0', 'doc#1', 'doc#2']);
  });

  it('joins a heading with no content of its own to the sub-section under it', () => {
    const text = '# Guide\n\n## Setup\n\nInstall it.\n\n## Use\n\nRun it.\n';
    const chunks = chunkDocument(md(text), { countTokens: cheapCount });
    expect(chunks.map((c) => [c.headings, c.text])).toEqual([
      [['Guide', 'Setup'], '# Guide\n\n## Setup\n\nInstall it.\n\n'],
      [['Guide', 'Use'], '## Use\n\nRun it.\n'],
    ]);
  });

  it('packs small paragraphs of one section together and ends a section with its own chunk', () => {
    const text = `# A\n\n${paragraph(10)}\n\n${paragraph(10, 1)}\n\n${paragraph(10, 2)}\n\n# B\n\ntail\n`;
    const chunks = chunkDocument(md(text), { maxTokens: 30, overlapTokens: 0, countTokens: cheapCount });
    expect(chunks.map((c) => c.headings[0])).toEqual(['A', 'A', 'B']);
    const firstB = text.indexOf('# B');
    for (const c of chunks) {
      expect(c.start >= firstB || c.end <= firstB).toBe(true);
      expect(c.overlapStart >= firstB || c.end <= firstB).toBe(true);
    }
    expectTiles(text, chunks);
  });

  it('keeps a fenced code block whole and ignores # lines inside it', () => {
    const code =
      '```bash\n# not a heading\naws lambda invoke \\\n\n  --function-name my-function out.json\n```\n';
    const text = `## Invoke\n\n${paragraph(25)}\n\n${code}\n${paragraph(25, 3)}\n\n~~~\n# still code\n~~~\n`;
    const chunks = chunkDocument(md(text), { maxTokens: 40, overlapTokens: 5, countTokens: cheapCount });
    expect(chunks.some((c) => c.text.includes(code))).toBe(true);
    expect(chunks.every((c) => c.headings.length === 1 && c.headings[0] === 'Invoke')).toBe(true);
    expectTiles(text, chunks);
  });

  it('treats # lines of plain text as text', () => {
    const text = '# not a heading\n\nplain text\n';
    const chunks = chunkDocument({ id: 't', text, format: 'text' }, { countTokens: cheapCount });
    expect(chunks).toHaveLength(1);
    expect(chunks[0]?.headings).toEqual([]);
  });

  it('leads each later chunk of a section with an overlap that starts at a word', () => {
    const text = `# Long\n\n${paragraph(300)}\n`;
    const chunks = chunkDocument(md(text), { maxTokens: 50, overlapTokens: 10, countTokens: cheapCount });
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks[0]?.overlapStart).toBe(chunks[0]?.start);
    for (const c of chunks.slice(1)) {
      expect(c.overlapStart).toBeLessThan(c.start);
      expect(text[c.overlapStart - 1]).toMatch(/\s/);
      expect(text[c.overlapStart]).toMatch(/\S/);
      const overlap = cheapCount(text.slice(c.overlapStart, c.start));
      expect(overlap).toBeGreaterThan(0);
      expect(overlap).toBeLessThanOrEqual(10);
      expect(c.tokens).toBeLessThanOrEqual(50);
    }
    expectTiles(text, chunks);
  });

  it.each([
    ['one huge word', 'a'.repeat(20_000)],
    ['emoji ZWJ sequences', '👩‍👩‍👧‍👦🏳️‍🌈👍🏽'.repeat(300)],
    ['CJK without spaces', '漢字かな交じり文の例です'.repeat(400)],
    ['combining marks', 'e\u0301a\u0308o\u0302'.repeat(2_000)],
  ])('cuts %s only at grapheme boundaries, with the o200k counter', (_name, text) => {
    const chunks = chunkDocument(md(text), { maxTokens: 64, overlapTokens: 8 });
    expect(chunks.length).toBeGreaterThan(1);
    const bounds = graphemeBounds(text);
    for (const c of chunks) {
      expect(bounds.has(c.start) && bounds.has(c.end) && bounds.has(c.overlapStart)).toBe(true);
      expect(c.tokens).toBe(countTokens(c.text));
      expect(c.tokens).toBeLessThanOrEqual(64);
      expect(LONE_SURROGATE.test(c.text)).toBe(false);
    }
    expectTiles(text, chunks);
  });

  it('cuts a grapheme cluster with more tokens than a chunk holds between code points, never in a surrogate pair', () => {
    const family = '👩‍👩‍👧‍👦'; // 7 code points, 7 tokens for the cheap counter
    const chunks = chunkDocument(md(family.repeat(3)), {
      maxTokens: 4,
      overlapTokens: 1,
      countTokens: cheapCount,
    });
    for (const c of chunks) {
      expect(c.tokens).toBeLessThanOrEqual(4);
      expect(LONE_SURROGATE.test(c.text)).toBe(false);
    }
    expectTiles(family.repeat(3), chunks);
  });

  it('drops the overlap before a code point with more tokens than the overlap leaves room for', () => {
    const text = 'lambda\n𐀀 '; // 𐀀 is 4 o200k tokens
    const chunks = chunkDocument(md(text), { maxTokens: 5, overlapTokens: 2 });
    for (const c of chunks) {
      expect(c.tokens).toBe(countTokens(c.text));
      expect(c.tokens).toBeLessThanOrEqual(5);
    }
    expectTiles(text, chunks);
  });

  it('counts with the exact o200k counter by default, within 512 tokens', () => {
    const sections = Array.from(
      { length: 6 },
      (_, s) =>
        `## Part ${s}\n\n${Array.from({ length: 40 }, (_, i) => `Lambda runs code ${i} times, scaling to ${s * i} requests per second.`).join(' ')}\n\n` +
        `\`\`\`json\n{ "memory": ${s * 128}, "timeout": 900 }\n\`\`\`\n`,
    );
    const text = `# Guide\n\nIntro.\n\n${sections.join('\n')}`;
    const doc: ChunkableDocument = {
      id: 'guide.md',
      text,
      format: 'markdown',
      title: 'Guide',
      source: 's3://bucket/guide.md',
      metadata: { lang: 'en', version: 2, draft: false, owner: null },
    };
    const chunks = chunkDocument(doc);
    expect(chunks.length).toBeGreaterThan(6);
    for (const c of chunks) {
      expect(c.tokens).toBe(countTokens(c.text));
      expect(c.tokens).toBeLessThanOrEqual(512);
      expect(countTokens(text.slice(c.overlapStart, c.start))).toBeLessThanOrEqual(64);
      expect(c).toMatchObject({ docId: 'guide.md', title: 'Guide', source: 's3://bucket/guide.md' });
      expect(c.metadata).toEqual(doc.metadata);
    }
    expect(chunks.some((c) => c.overlapStart < c.start)).toBe(true);
    expectTiles(text, chunks);
  });

  it('returns no chunk for an empty document and one for whitespace only', () => {
    expect(chunkDocument(md(''))).toEqual([]);
    expect(chunkDocument(md('\n\n  \n')).map((c) => c.text)).toEqual(['\n\n  \n']);
  });

  it('rejects sizes that cannot work', () => {
    expect(() => chunkDocument(md('x'), { maxTokens: 3, overlapTokens: 0 })).toThrow(ValidationError);
    expect(() => chunkDocument(md('x'), { maxTokens: 100, overlapTokens: 50 })).toThrow(ValidationError);
    expect(() => chunkDocument(md('x'), { maxTokens: 100, overlapTokens: -1 })).toThrow(/overlapTokens/);
  });
});

describe('chunkDocument properties', () => {
  const word = fc.oneof(
    fc.constantFrom('lambda', 'the', 'function', 'S3', '128', 'a', 'x.y', '—', '👍🏽', '漢字', 'e\u0301'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  );
  const line = fc.array(word, { minLength: 0, maxLength: 25 }).map((ws) => ws.join(' '));
  const block = fc.oneof(
    { weight: 4, arbitrary: line },
    { weight: 2, arbitrary: fc.array(line, { maxLength: 6 }).map((ls) => ls.join('\n')) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 1, max: 6 }), line)
        .map(([level, title]) => `${'#'.repeat(level)} ${title}`),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('```', '~~~'), fc.array(line, { maxLength: 5 }))
        .map(([fence, ls]) => `${fence}\n${ls.join('\n')}\n# in code\n${fence}`),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 80 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme-composite', maxLength: 40 }) },
  );
  const docText = fc
    .tuple(fc.array(block, { maxLength: 14 }), fc.constantFrom('\n\n', '\n', '\r\n\r\n', '\n\n\n'))
    .map(([blocks, sep]) => blocks.join(sep));
  const sizes = fc.integer({ min: 4, max: 60 }).chain((maxTokens) =>
    fc.record({
      maxTokens: fc.constant(maxTokens),
      overlapTokens: fc.integer({ min: 0, max: Math.ceil(maxTokens / 2) - 1 }),
    }),
  );
  const format = fc.constantFrom<'markdown' | 'text'>('markdown', 'text');
  const params = { numRuns: 150 };

  it('loses no text and gives each chunk its overlap and content', () => {
    fc.assert(
      fc.property(docText, sizes, format, (text, size, fmt) => {
        const chunks = chunkDocument({ id: 'p', text, format: fmt }, { ...size, countTokens: cheapCount });
        expectTiles(text, chunks);
        chunks.forEach((c, i) => {
          expect(c.index).toBe(i);
          expect(c.id).toBe(`p#${i}`);
        });
      }),
      params,
    );
  });

  it('bounds every chunk by maxTokens, counted exactly, and every overlap by overlapTokens', () => {
    fc.assert(
      fc.property(docText, sizes, format, (text, size, fmt) => {
        const chunks = chunkDocument({ id: 'p', text, format: fmt }, { ...size, countTokens: cheapCount });
        for (const c of chunks) {
          expect(c.tokens).toBe(cheapCount(c.text));
          expect(c.tokens).toBeLessThanOrEqual(size.maxTokens);
          expect(cheapCount(text.slice(c.overlapStart, c.start))).toBeLessThanOrEqual(size.overlapTokens);
        }
      }),
      params,
    );
  });

  it('counts exactly with the o200k counter too, summing counts only across token boundaries', () => {
    fc.assert(
      fc.property(docText, sizes, format, (text, size, fmt) => {
        const chunks = chunkDocument({ id: 'p', text, format: fmt }, size);
        expectTiles(text, chunks);
        for (const c of chunks) {
          expect(c.tokens).toBe(countTokens(c.text));
          expect(c.tokens).toBeLessThanOrEqual(size.maxTokens);
          expect(countTokens(text.slice(c.overlapStart, c.start))).toBeLessThanOrEqual(size.overlapTokens);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('never cuts a surrogate pair, nor a grapheme cluster that fits the budget', () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    fc.assert(
      fc.property(docText, sizes, (text, size) => {
        const chunks = chunkDocument(md(text), { ...size, countTokens: cheapCount });
        const bounds = graphemeBounds(text);
        const budget = size.maxTokens - size.overlapTokens;
        const clustersFit = [...segmenter.segment(text)].every(
          ({ segment }) => cheapCount(segment) <= budget,
        );
        for (const c of chunks) {
          expect(LONE_SURROGATE.test(c.text)).toBe(false);
          if (clustersFit)
            expect(bounds.has(c.start) && bounds.has(c.end) && bounds.has(c.overlapStart)).toBe(true);
        }
      }),
      params,
    );
  });

  it('is deterministic', () => {
    fc.assert(
      fc.property(docText, sizes, format, (text, size, fmt) => {
        const doc: ChunkableDocument = { id: 'p', text, format: fmt };
        const options = { ...size, countTokens: cheapCount };
        expect(chunkDocument(doc, options)).toEqual(chunkDocument(doc, options));
      }),
      { numRuns: 50 },
    );
  });

  it('keeps every chunk within one heading path', () => {
    fc.assert(
      fc.property(docText, sizes, (text, size) => {
        const chunks = chunkDocument(md(text), { ...size, countTokens: cheapCount });
        const whole = chunkDocument(md(text), {
          maxTokens: 1_000_000,
          overlapTokens: 0,
          countTokens: cheapCount,
        });
        // With room for everything, there is one chunk per section; smaller chunks stay inside one of them.
        for (const c of chunks) {
          const section = whole.find((s) => s.start <= c.overlapStart && c.end <= s.end);
          expect(section?.headings).toEqual(c.headings);
        }
      }),
      params,
    );
  });
});

describe('isTokenBoundary', () => {
  it('cuts text where o200k token counts add up exactly', () => {
    const piece = fc.oneof(
      fc.constantFrom(
        ' ',
        '  ',
        '\n',
        '\n\n',
        '\r\n',
        '\t',
        '/',
        '.',
        "'s",
        ').',
        '\u00a0',
        '\u3000',
        '12345',
      ),
      fc.string({ unit: 'grapheme', maxLength: 6 }),
      fc.string({
        unit: fc.constantFrom('a', 'B', ' ', '\n', '.', '/', '1', "'", 'é', '漢', '👍'),
        maxLength: 8,
      }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const text = parts.join('');
        const whole = countTokens(text);
        for (let at = 1; at < text.length; at++) {
          if (isTokenBoundary(text, at)) {
            expect(countTokens(text.slice(0, at)) + countTokens(text.slice(at))).toBe(whole);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
