/**
 * Structure-aware chunking of one document for retrieval (no AWS imports).
 *
 * A Markdown document is cut into sections at its ATX headings (never inside a fenced code block);
 * each section is cut recursively, only as far as needed, into blocks (paragraphs, whole fenced code
 * blocks), lines, sentences, words and, for one overlong word, grapheme clusters. Adjacent pieces of
 * one section are packed greedily up to `maxTokens`; chunks never mix sections. Every chunk after the
 * first of its section starts with the tail of the previous chunk (at most `overlapTokens`, cut at a
 * word start). `start`/`end` give each chunk's own new content, so the contents tile the document.
 */
import { countTokens as countO200k } from '../dataprep/tokens.ts';
import { ValidationError } from '../errors.ts';
import { TokenIndex } from './pretokens.ts';

export type ChunkMetadata = Readonly<Record<string, string | number | boolean | null>>;

export interface ChunkableDocument {
  readonly id: string;
  readonly text: string;
  readonly title?: string;
  readonly source?: string;
  readonly format: 'markdown' | 'text';
  readonly metadata?: ChunkMetadata;
}

export interface ChunkOptions {
  /** Most tokens in a chunk's `text`, overlap included. @default 512 */
  readonly maxTokens?: number;
  /** Most tokens of the previous chunk repeated at the start of the next one; below `maxTokens / 2`. @default 64 */
  readonly overlapTokens?: number;
  /** Token counter; one code point must count at most MIN_MAX_TOKENS. @default the exact o200k_base count of `dataprep/tokens.ts` */
  readonly countTokens?: (text: string) => number;
}

export interface Chunk {
  /** `${docId}#${index}` */
  readonly id: string;
  readonly docId: string;
  /** Position of the chunk in the document, from 0. */
  readonly index: number;
  /** `doc.text.slice(overlapStart, end)`: the overlap followed by the chunk's own content. */
  readonly text: string;
  /** Tokens in `text`; never more than `maxTokens`. */
  readonly tokens: number;
  /** UTF-16 offset in `doc.text` where the overlap begins (`start` when there is none). */
  readonly overlapStart: number;
  /** UTF-16 offset in `doc.text` of the chunk's own content. */
  readonly start: number;
  /** UTF-16 offset in `doc.text` just past the chunk's content. */
  readonly end: number;
  /** The Markdown heading path of the chunk's section, outermost first (empty for plain text). */
  readonly headings: readonly string[];
  readonly title?: string;
  readonly source?: string;
  readonly metadata?: ChunkMetadata;
}

export const DEFAULT_MAX_TOKENS = 512;
export const DEFAULT_OVERLAP_TOKENS = 64;
/**
 * The least `maxTokens`: one code point is at most 4 bytes, so at most 4 o200k tokens, and a chunk can
 * always hold the smallest piece that may not be cut (a code point of a grapheme cluster too long for a
 * chunk; clusters that fit are never cut).
 */
export const MIN_MAX_TOKENS = 4;

const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });
const wordSegmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
const graphemeSegmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Split levels below the block level, in the order they are tried (then words, then grapheme clusters). */
const LINE = 0;
const SENTENCE = 1;
const GRAPHEME = 3;

/** A section whose text is at most this many UTF-16 units per token of budget is counted whole first. */
const WHOLE_SECTION_CHARS_PER_TOKEN = 3;

/** Cuts `doc` into chunks of at most `maxTokens` tokens each; see the module comment. */
export function chunkDocument(doc: ChunkableDocument, options: ChunkOptions = {}): Chunk[] {
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  const overlapTokens = options.overlapTokens ?? DEFAULT_OVERLAP_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < MIN_MAX_TOKENS) {
    throw new ValidationError('options.maxTokens', `must be an integer of at least ${MIN_MAX_TOKENS}`);
  }
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens * 2 >= maxTokens) {
    throw new ValidationError('options.overlapTokens', 'must be an integer from 0 to below maxTokens / 2');
  }
  const chunker = new Chunker(doc, maxTokens, overlapTokens, options.countTokens ?? countO200k);
  for (const section of mergeEmptySections(findSections(doc.text, doc.format === 'markdown'))) {
    chunker.chunkSection(section);
  }
  return chunker.chunks;
}

/** A run of the document under one heading path, with the offsets where its blocks start. */
export interface Section {
  start: number;
  end: number;
  headings: string[];
  /** Start of each block; block i ends where block i + 1 starts, the last one at `end`. */
  blocks: number[];
  /** Whether the section holds nothing but its heading line and whitespace. */
  empty: boolean;
}

/**
 * An opening or closing code fence. The look-aheads keep the marker run from giving back characters
 * when the rest of the line cannot match (a `\r` inside it): without them every shorter run would
 * rescan the line, which is quadratic in its length.
 */
export const FENCE = /^ {0,3}(`{3,}(?!`)|~{3,}(?!~))(.*)$/;
const MARKDOWN_ESCAPE = /\\([\\`*_{}[\]()#+\-.!|])/g;

/** A heading's text as a reader sees it: inline HTML (anchors) removed, Markdown escapes undone. */
export function plainHeading(heading: string): string {
  return stripTags(heading).replace(MARKDOWN_ESCAPE, '$1').trim();
}

/**
 * `text` without its `<...>` tags: what `text.replace(/<[^>]*>/g, '')` returns, in one pass (the regex
 * rescans the rest of the text from every `<` that no `>` follows, which is quadratic).
 */
export function stripTags(text: string): string {
  let open = text.indexOf('<');
  if (open < 0) return text;
  let out = '';
  let from = 0;
  while (open >= 0) {
    const close = text.indexOf('>', open + 1);
    // No `>` after this `<`: none after any later `<` either.
    if (close < 0) break;
    out += text.slice(from, open);
    from = close + 1;
    open = text.indexOf('<', from);
  }
  return out + text.slice(from);
}

/** An ATX heading line: its level, and its text (undefined when the line ends right after the `#` run). */
export interface AtxHeading {
  level: number;
  text: string | undefined;
}

/**
 * Reads an ATX heading line: up to 3 spaces, 1-6 `#`, then the end of the line or blanks and the text;
 * a closing `#` run after a blank and the trailing blanks are not part of the text. Undefined when the
 * line is not a heading, or when its text holds a line terminator (`\r`, U+2028, U+2029).
 *
 * The same result as `/^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/` (groups 1 and 2), in
 * linear time: that regex retries the optional closing sequence at every length of the lazy text, which
 * is quadratic on a line with a long run of blanks.
 */
export function atxHeading(line: string): AtxHeading | undefined {
  let i = 0;
  while (i < 3 && line.charCodeAt(i) === 0x20) i++;
  let level = 0;
  while (line.charCodeAt(i + level) === 0x23) level++;
  if (level === 0 || level > 6) return undefined;
  i += level;
  if (i === line.length) return { level, text: undefined };
  if (!isSpaceOrTab(line.charCodeAt(i))) return undefined;
  while (i < line.length && isSpaceOrTab(line.charCodeAt(i))) i++;
  for (let j = i; j < line.length; j++) {
    const c = line.charCodeAt(j);
    if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) return undefined;
  }
  // The longest suffix of blanks, or of blanks, a `#` run and blanks, comes off (the text is the shortest).
  let end = line.length;
  while (end > i && isSpaceOrTab(line.charCodeAt(end - 1))) end--;
  let hashes = end;
  while (hashes > i && line.charCodeAt(hashes - 1) === 0x23) hashes--;
  if (hashes < end && hashes > i && isSpaceOrTab(line.charCodeAt(hashes - 1))) {
    end = hashes - 1;
    while (end > i && isSpaceOrTab(line.charCodeAt(end - 1))) end--;
  }
  return { level, text: line.slice(i, end) };
}

function isSpaceOrTab(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * One pass over the lines of `text`: sections at ATX headings (Markdown only, outside fenced code),
 * and block starts after blank lines, around fenced code blocks and after heading lines.
 */
export function findSections(text: string, markdown: boolean): Section[] {
  const sections: Section[] = [];
  if (text.length === 0) return sections;
  const stack: { level: number; text: string }[] = [];
  let section: Section = { start: 0, end: text.length, headings: [], blocks: [0], empty: true };
  sections.push(section);
  let blockStart = 0;
  let pendingBreak = false;
  let fence: { char: string; length: number } | undefined;
  const startBlock = (at: number): void => {
    if (at !== blockStart) {
      section.blocks.push(at);
      blockStart = at;
    }
  };
  let lineStart = 0;
  while (lineStart < text.length) {
    const newline = text.indexOf('\n', lineStart);
    const lineEnd = newline < 0 ? text.length : newline + 1;
    const contentEnd =
      newline < 0 ? text.length : newline > lineStart && text[newline - 1] === '\r' ? newline - 1 : newline;
    const first = firstNonBlank(text, lineStart, contentEnd);
    if (fence !== undefined) {
      if (first < contentEnd && text[first] === fence.char) {
        const line = text.slice(lineStart, contentEnd);
        const m = FENCE.exec(line);
        if (
          m?.[1] !== undefined &&
          m[1][0] === fence.char &&
          m[1].length >= fence.length &&
          m[2]?.trim() === ''
        ) {
          fence = undefined;
          pendingBreak = true;
        }
      }
      lineStart = lineEnd;
      continue;
    }
    if (first === contentEnd) {
      pendingBreak = true; // a blank line: it stays with the block before it
      lineStart = lineEnd;
      continue;
    }
    const ch = text[first];
    if (markdown && first - lineStart <= 3 && (ch === '`' || ch === '~' || ch === '#')) {
      const line = text.slice(lineStart, contentEnd);
      if (ch === '#') {
        const heading = atxHeading(line);
        if (heading !== undefined) {
          const level = heading.level;
          while (stack.length > 0 && (stack[stack.length - 1]?.level ?? 0) >= level) stack.pop();
          stack.push({ level, text: plainHeading(heading.text ?? '') });
          if (lineStart > section.start) {
            section.end = lineStart;
            section = { start: lineStart, end: text.length, headings: [], blocks: [lineStart], empty: true };
            sections.push(section);
            blockStart = lineStart;
          } else {
            startBlock(lineStart);
          }
          section.headings = stack.map((h) => h.text);
          pendingBreak = true;
          lineStart = lineEnd;
          continue;
        }
      } else {
        const m = FENCE.exec(line);
        const marker = m?.[1];
        if (marker !== undefined && !(marker[0] === '`' && m?.[2]?.includes('`'))) {
          fence = { char: marker[0] ?? '`', length: marker.length };
          startBlock(lineStart);
          pendingBreak = false;
          section.empty = false;
          lineStart = lineEnd;
          continue;
        }
      }
    }
    if (pendingBreak) startBlock(lineStart);
    pendingBreak = false;
    section.empty = false;
    lineStart = lineEnd;
  }
  return sections;
}

function firstNonBlank(text: string, from: number, to: number): number {
  let i = from;
  while (i < to) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0b && c !== 0x0c) break;
    i++;
  }
  return i;
}

/**
 * A section with no content of its own (a heading followed directly by a sub-heading, or leading
 * blank lines) joins the next section when that one lies under it; consecutive sections with the same
 * heading path become one. Sections with content under different paths are never mixed.
 */
function mergeEmptySections(sections: Section[]): Section[] {
  const joined: Section[] = [];
  for (const s of sections) {
    const previous = joined[joined.length - 1];
    if (previous !== undefined && samePath(previous.headings, s.headings)) {
      previous.end = s.end;
      previous.blocks.push(...s.blocks);
      previous.empty &&= s.empty;
    } else {
      joined.push(s);
    }
  }
  const result: Section[] = [];
  let carry: Section | undefined;
  for (let i = 0; i < joined.length; i++) {
    let s = joined[i] as Section;
    if (carry !== undefined) {
      s = { ...s, start: carry.start, blocks: [...carry.blocks, ...s.blocks] };
      carry = undefined;
    }
    const next = joined[i + 1];
    if (s.empty && next !== undefined && isPrefix(s.headings, next.headings)) {
      carry = s;
      continue;
    }
    result.push(s);
  }
  return result;
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && isPrefix(a, b);
}

function isPrefix(prefix: readonly string[], path: readonly string[]): boolean {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== path[i]) return false;
  return true;
}

class Chunker {
  readonly chunks: Chunk[] = [];
  private readonly text: string;
  /** Most tokens of one piece: a piece always fits after the longest overlap. */
  private readonly pieceBudget: number;
  /** Whether counts add up exactly across the cuts that `isTokenBoundary` accepts (the o200k counter). */
  private readonly additive: boolean;
  /** Exact o200k counts of the document's ranges, when that is the counter. */
  private readonly index: TokenIndex | undefined;
  // The pieces of the current section, as parallel arrays.
  private starts: number[] = [];
  private ends: number[] = [];
  private counts: number[] = [];

  constructor(
    private readonly doc: ChunkableDocument,
    private readonly maxTokens: number,
    private readonly overlapTokens: number,
    private readonly count: (text: string) => number,
  ) {
    this.text = doc.text;
    this.pieceBudget = maxTokens - overlapTokens;
    this.additive = count === countO200k;
    this.index = this.additive ? new TokenIndex(this.text) : undefined;
  }

  chunkSection(section: Section): void {
    const { start, end, blocks } = section;
    if (end - start <= this.maxTokens * WHOLE_SECTION_CHARS_PER_TOKEN) {
      const tokens = this.countRange(start, end);
      if (tokens <= this.maxTokens) {
        this.emit(section.headings, start, start, end, tokens);
        return;
      }
    }
    this.starts = [];
    this.ends = [];
    this.counts = [];
    for (let b = 0; b < blocks.length; b++) {
      const blockStart = blocks[b] as number;
      const blockEnd = blocks[b + 1] ?? end;
      this.addRange(blockStart, blockEnd, LINE, undefined);
    }
    this.pack(section.headings);
  }

  /**
   * Tokens of `text.slice(a, b)`. With the o200k counter, from the document's pre-token index: the
   * same count, without counting any text twice.
   */
  private countRange(a: number, b: number): number {
    if (this.index === undefined) return this.count(this.text.slice(a, b));
    return this.index.count(a, b);
  }

  /** Adds [a, b) as one piece when it fits the piece budget, else the pieces of its split at `level`. */
  private addRange(a: number, b: number, level: number, known: number | undefined): void {
    if (a >= b) return;
    const tokens = known ?? this.countRange(a, b);
    if (tokens <= this.pieceBudget) {
      this.starts.push(a);
      this.ends.push(b);
      this.counts.push(tokens);
      return;
    }
    if (level === GRAPHEME) {
      this.addGraphemes(a, b);
      return;
    }
    const cuts = (level === LINE ? lineCuts : level === SENTENCE ? sentenceCuts : wordCuts)(this.text, a, b);
    if (cuts.length === 0) {
      this.addRange(a, b, level + 1, tokens);
      return;
    }
    let from = a;
    for (const cut of cuts) {
      this.addRange(from, cut, level + 1, undefined);
      from = cut;
    }
    this.addRange(from, b, level + 1, undefined);
  }

  /** Packs the grapheme clusters of [a, b) into pieces as long as the budget allows. */
  private addGraphemes(a: number, b: number): void {
    const bounds: number[] = [];
    for (const { index } of graphemeSegmenter.segment(this.text.slice(a, b))) bounds.push(a + index);
    bounds.push(b);
    this.packBounds(bounds, true);
  }

  /**
   * Greedy longest prefixes under the piece budget over the boundaries `bounds` (exponential then
   * binary search, counting exactly). A single unit over budget is cut by code points when `units`
   * are grapheme clusters, and kept whole when they are already code points.
   */
  private packBounds(bounds: number[], graphemes: boolean): void {
    const last = bounds.length - 1;
    let g = 0;
    while (g < last) {
      const from = bounds[g] as number;
      const fits = (k: number): boolean => this.countRange(from, bounds[k] as number) <= this.pieceBudget;
      let good = g;
      let step = Math.max(1, Math.min(this.pieceBudget, last - g));
      let probe = g + step;
      // Exponential search for a prefix that does not fit.
      let bad = last + 1;
      while (probe <= last) {
        if (fits(probe)) {
          good = probe;
          if (probe === last) break;
          step *= 2;
          probe = Math.min(last, g + step);
        } else {
          bad = probe;
          break;
        }
      }
      // Binary search between the longest prefix that fits and the shortest that does not.
      while (bad - good > 1 && good < last) {
        const mid = (good + bad) >>> 1;
        if (fits(mid)) good = mid;
        else bad = mid;
      }
      if (good === g) {
        const to = bounds[g + 1] as number;
        if (graphemes) {
          const points: number[] = [];
          for (let i = from; i < to; ) {
            points.push(i);
            const c = this.text.charCodeAt(i);
            i +=
              c >= 0xd800 && c <= 0xdbff && i + 1 < to && (this.text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
                ? 2
                : 1;
          }
          points.push(to);
          this.packBounds(points, false);
        } else {
          this.starts.push(from);
          this.ends.push(to);
          this.counts.push(this.countRange(from, to));
        }
        g++;
        continue;
      }
      const to = bounds[good] as number;
      this.starts.push(from);
      this.ends.push(to);
      this.counts.push(this.countRange(from, to));
      g = good;
    }
  }

  /** Greedy packing of the current section's pieces, each chunk after the first led by an overlap. */
  private pack(headings: string[]): void {
    const { starts, ends, counts, maxTokens } = this;
    const n = starts.length;
    let i = 0;
    let overlapStart = -1;
    let overlapCount = 0;
    while (i < n) {
      const start = starts[i] as number;
      let sum = overlapCount;
      let j = i;
      // Whether the sum of counts is the exact count of the joined text (see `isTokenBoundary`).
      let additive = this.additive && (overlapStart < 0 || isTokenBoundary(this.text, start));
      while (j < n && sum + (counts[j] as number) <= maxTokens) {
        if (j > i) additive &&= isTokenBoundary(this.text, starts[j] as number);
        sum += counts[j] as number;
        j++;
      }
      if (j === i) {
        // Only a piece over the piece budget (one code point with more tokens than it) gets here; it
        // goes alone, without the overlap if need be (see below).
        sum += counts[i] as number;
        j = i + 1;
      }
      let textStart = overlapStart >= 0 ? overlapStart : start;
      let tokens =
        (j === i + 1 && textStart === start) || additive
          ? sum
          : this.countRange(textStart, ends[j - 1] as number);
      while (tokens > maxTokens) {
        // Counts of pieces do not always add up exactly: give back the last piece, or the overlap.
        if (j > i + 1) j--;
        else if (textStart !== start) textStart = start;
        else break;
        tokens = this.countRange(textStart, ends[j - 1] as number);
      }
      const end = ends[j - 1] as number;
      this.emit(headings, textStart, start, end, tokens);
      i = j;
      if (i < n && this.overlapTokens > 0) {
        overlapStart = this.overlapFrom(start, end, starts, counts, i - 1);
        overlapCount = overlapStart < end ? this.countRange(overlapStart, end) : 0;
        if (overlapStart >= end) overlapStart = -1;
      }
    }
  }

  /**
   * Start of the overlap taken from the content [from, to) of the chunk just emitted: the earliest
   * word start whose tail [start, to) has at most `overlapTokens` tokens; `to` when there is none.
   * Whole trailing pieces are taken by their known counts; the piece that does not fit whole is cut
   * at word starts (whitespace), or at word-segmenter boundaries when it has no whitespace.
   */
  private overlapFrom(
    from: number,
    to: number,
    starts: number[],
    counts: number[],
    lastPiece: number,
  ): number {
    const limit = this.overlapTokens;
    let budget = limit;
    let at = to;
    let p = lastPiece;
    while (p >= 0 && (starts[p] as number) >= from && (counts[p] as number) <= budget) {
      budget -= counts[p] as number;
      at = starts[p] as number;
      p--;
    }
    if (p >= 0 && (starts[p] as number) >= from && budget > 0) {
      at = this.wordTail(Math.max(from, starts[p] as number), at, budget);
    }
    at = skipBlank(this.text, at, to);
    if (at >= to) return to;
    // The sum of counts is an estimate: make sure of the exact count, moving to later word starts.
    while (at < to && this.countRange(at, to) > limit) {
      const next = nextWordStart(this.text, at, to);
      at = next;
    }
    return at;
  }

  /** The earliest word start in [from, to) whose tail up to `to` fits `budget` tokens, by summing words. */
  private wordTail(from: number, to: number, budget: number): number {
    const { text } = this;
    let best = to;
    let sum = 0;
    let p = to;
    let i = to - 1;
    const maxChars = budget * 64;
    let found = false;
    while (i > from && to - i <= maxChars) {
      // A cut point: whitespace that follows a non-whitespace character (the word keeps its leading space).
      if (isBlank(text.charCodeAt(i)) && !isBlank(text.charCodeAt(i - 1))) {
        found = true;
        sum += this.countRange(i, p);
        if (sum > budget) return best;
        best = i;
        p = i;
      }
      i--;
    }
    if (i <= from && p > from) {
      // The piece's own start is a cut point too.
      if (sum + this.countRange(from, p) <= budget) return from;
    }
    if (found) return best;
    // No whitespace: fall back to word-segmenter boundaries (CJK and similar scripts).
    const windowStart = Math.max(from, to - budget * 4);
    const bounds: number[] = [];
    for (const { index } of wordSegmenter.segment(text.slice(windowStart, to))) {
      if (index > 0 || windowStart === from) bounds.push(windowStart + index);
    }
    p = to;
    sum = 0;
    for (let k = bounds.length - 1; k >= 0; k--) {
      const b = bounds[k] as number;
      sum += this.countRange(b, p);
      if (sum > budget) break;
      best = b;
      p = b;
    }
    return best;
  }

  private emit(headings: string[], overlapStart: number, start: number, end: number, tokens: number): void {
    const { doc } = this;
    const index = this.chunks.length;
    const chunk: {
      -readonly [K in keyof Chunk]: Chunk[K];
    } = {
      id: `${doc.id}#${index}`,
      docId: doc.id,
      index,
      text: this.text.slice(overlapStart, end),
      tokens,
      overlapStart,
      start,
      end,
      headings: headings.slice(),
    };
    if (doc.title !== undefined) chunk.title = doc.title;
    if (doc.source !== undefined) chunk.source = doc.source;
    if (doc.metadata !== undefined) chunk.metadata = doc.metadata;
    this.chunks.push(chunk);
  }
}

/**
 * Whether the o200k pre-tokenizer necessarily splits `text` at `at`, so that the tokens of the text
 * before and after add up to those of the whole. Two cases:
 * - just after a line feed, when the next character is neither whitespace nor `/`;
 * - between a non-whitespace character and whitespace other than a line break.
 * No pre-token spans such a cut: letter runs (with their optional leading character) hold no
 * whitespace or line break after their start, digit runs are digits, a punctuation run may only go on
 * into line breaks and `/`, and whitespace runs start at whitespace and stop before a non-space. The
 * pattern has no look-behind, and its only look-ahead, `\s+(?!\S)`, never reaches past such a cut from
 * the left, so the pre-tokens of each side alone are those of the whole.
 */
export function isTokenBoundary(text: string, at: number): boolean {
  if (at <= 0 || at >= text.length) return false;
  const before = text.charCodeAt(at - 1);
  const c = text.charCodeAt(at);
  if (before === 0x0a) {
    if (c === 0x2f) return false;
    return !isWhitespace(c, text, at);
  }
  if (c === 0x0a || c === 0x0d || !isWhitespace(c, text, at)) return false;
  return !isWhitespace(before, text, at - 1);
}

function isWhitespace(c: number, text: string, at: number): boolean {
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  return WHITESPACE.test(text.slice(at, at + 1));
}

const WHITESPACE = /^\s/;

function isBlank(c: number): boolean {
  return (
    c === 0x20 ||
    c === 0x0a ||
    c === 0x09 ||
    c === 0x0d ||
    c === 0x0b ||
    c === 0x0c ||
    c === 0xa0 ||
    c === 0x3000
  );
}

/** Combining marks, joiners and variation selectors: a cut just before one would split a grapheme cluster. */
const EXTENDS = /^(?:\p{M}|\u200c|\u200d|[\ufe00-\ufe0f])/u;

/** First non-blank offset at or after `at` (before `to`), not stopping where it would split a cluster. */
function skipBlank(text: string, at: number, to: number): number {
  let i = at;
  while (i < to && isBlank(text.charCodeAt(i))) i++;
  if (i > at && i < to && EXTENDS.test(text.slice(i, i + 1))) return i - 1;
  return i;
}

/** Start of the next word after the one at `at`, or `to`. */
function nextWordStart(text: string, at: number, to: number): number {
  let i = at;
  while (i < to && !isBlank(text.charCodeAt(i))) i++;
  return skipBlank(text, i, to);
}

/** Offsets just after each line break inside (a, b). */
function lineCuts(text: string, a: number, b: number): number[] {
  const cuts: number[] = [];
  let i = text.indexOf('\n', a);
  while (i >= 0 && i + 1 < b) {
    cuts.push(i + 1);
    i = text.indexOf('\n', i + 1);
  }
  return cuts;
}

/** Sentence boundaries inside (a, b), each moved before the spaces that end its sentence. */
function sentenceCuts(text: string, a: number, b: number): number[] {
  const cuts: number[] = [];
  let previous = a;
  for (const { index } of sentenceSegmenter.segment(text.slice(a, b))) {
    if (index === 0) continue;
    let cut = a + index;
    while (cut - 1 > previous && (text.charCodeAt(cut - 1) === 0x20 || text.charCodeAt(cut - 1) === 0x09))
      cut--;
    if (cut > previous) {
      cuts.push(cut);
      previous = cut;
    }
  }
  return cuts;
}

/** Word boundaries inside (a, b); whitespace stays with the word that follows it. */
function wordCuts(text: string, a: number, b: number): number[] {
  const cuts: number[] = [];
  let previousBlank = true;
  for (const { index, segment } of wordSegmenter.segment(text.slice(a, b))) {
    const blank = isBlank(segment.charCodeAt(0));
    if (index > 0 && !previousBlank) cuts.push(a + index);
    previousBlank = blank;
  }
  return cuts;
}
