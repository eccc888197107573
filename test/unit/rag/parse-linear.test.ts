import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { atxHeading, FENCE, findSections, plainHeading, stripTags } from '#core/rag/chunk.ts';
import { htmlToMarkdown, longestBacktickRun } from '#core/rag/parse/html.ts';
import {
  FRONT_MATTER_KEY,
  firstH1,
  h1Text,
  singleQuoted,
  splitFrontMatter,
  withoutComment,
} from '#core/rag/parse/markdown.ts';
import { cleanPageText } from '#core/rag/parse/pdf.ts';
import { OLD_FENCE, OLD_FRONT_MATTER_KEY, OLD_H1_LINE, OLD_HEADING } from '../../support/replaced-regexes.ts';
import { bestTime, expectLinear, repeatTo } from '../core/linear-time.ts';

/** What ingestion runs over a Markdown file: front matter, the title, then the sections of the chunker. */
function markdownPipeline(text: string): void {
  const { body } = splitFrontMatter(text);
  firstH1(body);
  findSections(body, true);
}

/** Adversarial Markdown (sizes × patterns, see `core/linear-time.ts`). */
const MARKDOWN_PATTERNS: Array<[string, (n: number) => string]> = [
  // The finding: a heading line with a long run of spaces.
  ['heading, spaces, letter', (n) => repeatTo(n, ' ', '# a', 'b')],
  ['heading, tabs and spaces', (n) => repeatTo(n, ' \t', '# a', 'b\n')],
  ['heading, blank-hash pairs', (n) => repeatTo(n, ' #', '# a', 'b\n')],
  ['heading, spaces, closing run, letter', (n) => repeatTo(n, ' ', '## a', ' ##b')],
  ['heading, spaces, carriage return', (n) => repeatTo(n, ' ', '#', '\rb')],
  ['level-6 heading, spaces, U+2028', (n) => repeatTo(n, ' ', '###### a', '\u2028b')],
  ['many headings with trailing blanks', (n) => repeatTo(n, '# a    b  \n')],
  ['heading of unclosed tags', (n) => repeatTo(n, '<', '# ')],
  ['heading of tags', (n) => repeatTo(n, '<a>', '# ')],
  ['fence run, carriage return', (n) => repeatTo(n, '`', '', '\rx')],
  ['tilde fence run, carriage return', (n) => repeatTo(n, '~', '', '\rx')],
  ['closing fence near-miss', (n) => repeatTo(n, '`', '```\nx\n', '\rx')],
  ['front matter key, spaces, carriage return', (n) => repeatTo(n, ' ', '---\na:', '\rx\n---\n')],
  ['front matter value, spaces, letter', (n) => repeatTo(n, ' ', '---\na: b', 'c\n---\n')],
  ['front matter single quotes', (n) => repeatTo(n, "a''", "---\na: '", '\n---\n')],
  ['front matter number near-miss', (n) => repeatTo(n, '1', '---\na: 1e', 'x\n---\n')],
  ['front matter key run', (n) => repeatTo(n, 'a', '---\n', '\n---\n')],
  ['front matter separator blanks', (n) => repeatTo(n, ' ', '---', 'x\n---\n')],
];

describe('Markdown parsing and sectioning run in linear time', () => {
  it.each(MARKDOWN_PATTERNS)('%s', (name, make) => {
    expectLinear(name, make, markdownPipeline);
  });

  it('a 1 MB heading line of spaces parses in well under a second', () => {
    const line = repeatTo(1_000_000, ' ', '# a', 'b');
    expect(bestTime(markdownPipeline, line, 1)).toBeLessThan(1000);
  });

  it('random repetitions of Markdown fragments stay within the budget (fuzz)', () => {
    const fragment = fc.constantFrom(
      '#',
      '###',
      ' ',
      '\t',
      'a',
      '\r',
      '\u2028',
      '\n',
      '`',
      '```',
      '~',
      '<',
      '>',
      ':',
      "'",
      '"',
      '\\',
      '---\n',
      '-',
      '.',
      '1',
    );
    fc.assert(
      fc.property(
        fc.array(fragment, { minLength: 1, maxLength: 6 }),
        fc.array(fragment, { maxLength: 3 }),
        (unit, head) => {
          // 200 KB: the linear code takes a few ms; the quadratic regexes took tens of seconds.
          for (const prefix of ['', '# ', '---\na: ']) {
            const input = repeatTo(200_000, unit.join(''), prefix + head.join(''), '\n---\n');
            const ms = bestTime(markdownPipeline, input, 1);
            expect(ms, `${JSON.stringify([prefix, head, unit])} took ${ms.toFixed(0)} ms`).toBeLessThan(600);
          }
        },
      ),
      { numRuns: 20 },
    );
  });
});

describe('HTML and PDF text clean-up run in linear time', () => {
  it.each<[string, (n: number) => string]>([
    ['pre with inner runs of spaces', (n) => `<pre>${repeatTo(n - 11, ' ', 'a', 'b')}</pre>`],
    ['pre of backtick runs', (n) => `<pre>${repeatTo(n - 11, '`a')}</pre>`],
    ['inline code of backtick runs', (n) => `<p><code>${repeatTo(n - 20, '`a')}</code></p>`],
  ])('%s', (name, make) => {
    expectLinear(name, make, (s) => htmlToMarkdown(s));
  });

  it.each<[string, (n: number) => string]>([
    ['page with a run of spaces', (n) => repeatTo(n, ' ', 'a', 'b')],
    ['page of blank lines', (n) => repeatTo(n, ' \t \n')],
  ])('%s', (name, make) => {
    expectLinear(name, make, cleanPageText);
  });
});

// ---------------------------------------------------------------------------------------------------
// The rewrites find exactly what the regexes they replace found.

/** Short lines over the characters these parsers read (the old regexes are fast on short input). */
const line = (chars: string[]) =>
  fc.array(fc.constantFrom(...chars), { maxLength: 24 }).map((a) => a.join(''));
const headingLine = line([
  '#',
  '#',
  '##',
  ' ',
  ' ',
  '\t',
  'a',
  'b c',
  '\r',
  '\u2028',
  '\u2029',
  '\n',
  '<',
  '>',
  '\\#',
]);

describe('heading, fence and front matter parsing: the same results as the regexes', () => {
  it('atxHeading matches the heading regex', () => {
    fc.assert(
      fc.property(headingLine, (s) => {
        const m = OLD_HEADING.exec(s);
        const expected = m === null ? undefined : { level: m[1]?.length, text: m[2] };
        expect(atxHeading(s)).toEqual(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('h1Text matches the H1 regex', () => {
    fc.assert(
      fc.property(headingLine, (s) => {
        expect(h1Text(s)).toBe(OLD_H1_LINE.exec(s)?.[1]);
      }),
      { numRuns: 5000 },
    );
  });

  it('heading examples', () => {
    expect(atxHeading('# Title')).toEqual({ level: 1, text: 'Title' });
    expect(atxHeading('  ## Title ##  ')).toEqual({ level: 2, text: 'Title' });
    expect(atxHeading('### Title #not-closing')).toEqual({ level: 3, text: 'Title #not-closing' });
    expect(atxHeading('# ##')).toEqual({ level: 1, text: '##' });
    expect(atxHeading('#')).toEqual({ level: 1, text: undefined });
    expect(atxHeading('#hashtag')).toBeUndefined();
    expect(atxHeading('####### seven')).toBeUndefined();
    expect(atxHeading('    # code')).toBeUndefined();
    expect(atxHeading('# a\rb')).toBeUndefined();
    expect(h1Text('## Two')).toBeUndefined();
    expect(h1Text('# One #')).toBe('One');
  });

  it('FENCE matches the fence regex', () => {
    fc.assert(
      fc.property(line(['`', '```', '~', '~~~', ' ', 'a', '\r', '\u2028', '#']), (s) => {
        expect(FENCE.exec(s)?.slice(1)).toEqual(OLD_FENCE.exec(s)?.slice(1));
      }),
      { numRuns: 5000 },
    );
  });

  it('FRONT_MATTER_KEY matches the key regex', () => {
    fc.assert(
      fc.property(line(['a', '_', '.', '-', '1', ':', ' ', '\t', 'v', '\r', '\u2028', '#']), (s) => {
        expect(FRONT_MATTER_KEY.exec(s)?.slice(1)).toEqual(OLD_FRONT_MATTER_KEY.exec(s)?.slice(1));
      }),
      { numRuns: 5000 },
    );
  });

  it('withoutComment matches the comment regex', () => {
    fc.assert(
      fc.property(line([' ', '\t', '#', 'a', '\r', '\n', '\u2028', '\u2029', '"']), (s) => {
        expect(withoutComment(s)).toBe(s.replace(/[ \t]+#.*$/, ''));
      }),
      { numRuns: 5000 },
    );
  });

  it('singleQuoted matches the single-quote regex', () => {
    fc.assert(
      fc.property(line(["'", "''", 'a', ' ', '\n', '#']), (rest) => {
        const s = `'${rest}`;
        expect(singleQuoted(s)).toBe(/^'((?:[^']|'')*)'/.exec(s)?.[1]);
      }),
      { numRuns: 5000 },
    );
  });

  it('a long single-quoted value parses where the regex ran out of stack', () => {
    const { metadata } = splitFrontMatter(`---\ntitle: '${'a'.repeat(10_000_000)}'\n---\nbody`);
    expect((metadata.title as string).length).toBe(10_000_000);
  });
});

describe('tag stripping, backtick runs and page clean-up: the same results as before', () => {
  it('stripTags matches the tag regex', () => {
    fc.assert(
      fc.property(line(['<', '>', 'a', '<b>', ' ', '</a>', '\n']), (s) => {
        expect(stripTags(s)).toBe(s.replace(/<[^>]*>/g, ''));
      }),
      { numRuns: 5000 },
    );
    expect(plainHeading('<a id="x"></a>Intro \\# <b>one</b>')).toBe('Intro # one');
  });

  it('longestBacktickRun matches the spread over the runs', () => {
    fc.assert(
      fc.property(line(['`', '``', 'a', ' ']), (s) => {
        expect(longestBacktickRun(s)).toBe(Math.max(0, ...(s.match(/`+/g) ?? []).map((r) => r.length)));
      }),
      { numRuns: 2000 },
    );
  });

  it('HTML code with more backtick runs than a spread can take still renders', () => {
    const code = repeatTo(600_000, '`a');
    expect(htmlToMarkdown(`<p><code>${code}</code></p>`).startsWith('``')).toBe(true);
    expect(htmlToMarkdown(`<pre>${code}</pre>`).startsWith('```\n')).toBe(true);
  });

  it('cleanPageText matches the former clean-up', () => {
    fc.assert(
      fc.property(line([' ', '\t', '\n', '\r', '\r\n', 'a']), (s) => {
        const before = s
          .replace(/\r\n?/g, '\n')
          .replace(/[ \t]+\n/g, '\n')
          .trim();
        expect(cleanPageText(s)).toBe(before);
      }),
      { numRuns: 3000 },
    );
  });
});
