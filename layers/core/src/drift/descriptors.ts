import { emptyPiiCounts, PII_KINDS, redactPii } from '../dataprep/pii.ts';
import { ValidationError } from '../errors.ts';
import { declines } from '../eval/decline.ts';
import { estimateTokens } from '../models/estimate.ts';

/**
 * Text descriptors of a window of records (no AWS imports): cheap numbers and categories per record
 * whose distribution the drift check compares between a reference window and a current one, each
 * with the test its kind calls for ({@link DESCRIPTORS}: KS or Wasserstein for a continuous one,
 * chi-squared or PSI for a categorical one).
 *
 * Every function here runs in time linear in its text, adversarial text included: each regex is a
 * single character class under one quantifier (nothing nested, no alternation retried from each
 * position), and the detectors reused from elsewhere (token estimate, PII, decline) are linear by
 * their own tests.
 */

/** One record of a window: the user's text (the question), the answer given, retrieval's best score. */
export interface TextRecord {
  readonly text?: string;
  readonly answer?: string;
  /** The top retrieval score of the request (absent when it used no retrieval). */
  readonly retrievalTopScore?: number;
}

/** The script categories of {@link scriptCategory}. */
export const SCRIPT_CATEGORIES = ['latin', 'cyrillic', 'cjk', 'arabic', 'other'] as const;
export type ScriptCategory = (typeof SCRIPT_CATEGORIES)[number];

/**
 * Each descriptor's values over a window, one array per descriptor. A record contributes to a
 * descriptor only when it has the field the descriptor reads (`text`, `answer`, `retrievalTopScore`),
 * so the arrays can differ in length and are not aligned record by record: each is a sample of its
 * own, which is what a two-sample test compares.
 */
export interface Descriptors {
  /** Estimated tokens of the text (`estimateTokens`). */
  readonly tokens: number[];
  /** Share of the text's characters that are neither letters nor whitespace. */
  readonly nonLetterShare: number[];
  /** The text's majority script. */
  readonly language: ScriptCategory[];
  /** Share of the text's words missing from the reference vocabulary (texts with no word: none). */
  readonly oovRate: number[];
  /** Whether the text holds PII or a secret; its rate over the window is what a test compares. */
  readonly piiRate: boolean[];
  /** Whether the answer declines to answer. */
  readonly refusal: boolean[];
  /** Estimated tokens of the answer. */
  readonly answerTokens: number[];
  /** The record's top retrieval score. */
  readonly retrievalTopScore: number[];
  /** Whether the answer is the gateway's no-context answer (only with `notFoundAnswer`, else empty). */
  readonly notFound: boolean[];
}

export type DescriptorName = keyof Descriptors;
/** `continuous`: compare with KS / Wasserstein; `categorical`: with chi-squared / PSI. */
export type DescriptorKind = 'continuous' | 'categorical';

export interface DescriptorSpec {
  readonly kind: DescriptorKind;
  /** The record field it is computed from. */
  readonly source: 'text' | 'answer' | 'retrievalTopScore';
}

/** Every descriptor, with its kind (which test family fits it) and the field it reads. */
export const DESCRIPTORS: { readonly [K in DescriptorName]: DescriptorSpec } = {
  tokens: { kind: 'continuous', source: 'text' },
  nonLetterShare: { kind: 'continuous', source: 'text' },
  language: { kind: 'categorical', source: 'text' },
  oovRate: { kind: 'continuous', source: 'text' },
  piiRate: { kind: 'categorical', source: 'text' },
  refusal: { kind: 'categorical', source: 'answer' },
  answerTokens: { kind: 'continuous', source: 'answer' },
  retrievalTopScore: { kind: 'continuous', source: 'retrievalTopScore' },
  notFound: { kind: 'categorical', source: 'answer' },
};

/** The number of code points of `s` (a surrogate pair counts once). */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

const LETTERS_OR_SPACE = /[\p{L}\p{M}\s]+/gu;

/**
 * The share of the text's characters (code points) that are neither letters nor whitespace: digits,
 * punctuation, symbols, emoji, controls. Unicode-aware: letters of every script count as letters, and
 * so do combining marks (the accent of a decomposed "é" belongs to its letter). An empty text: 0.
 */
export function nonLetterShare(text: string): number {
  const total = codePoints(text);
  if (total === 0) return 0;
  return codePoints(text.replace(LETTERS_OR_SPACE, '')) / total;
}

const NON_LETTERS = /\P{L}+/gu;
const NOT_LATIN = /\P{Script=Latin}+/gu;
const NOT_CYRILLIC = /\P{Script=Cyrillic}+/gu;
const NOT_CJK =
  /[^\p{Script_Extensions=Han}\p{Script_Extensions=Hiragana}\p{Script_Extensions=Katakana}\p{Script_Extensions=Hangul}]+/gu;
const NOT_ARABIC = /\P{Script=Arabic}+/gu;

/**
 * The majority Unicode script of the text's letters: `latin`, `cyrillic`, `cjk` (Han, Hiragana,
 * Katakana and Hangul, with the letters they share such as the prolonged-sound mark), `arabic`, or
 * `other` (any other script, or no letter at all). A tie goes to the first in that order. This is a
 * script, not a language identifier: English and French are both `latin`, Russian and Ukrainian
 * both `cyrillic`; what it catches is a window whose traffic moves to another writing system.
 */
export function scriptCategory(text: string): ScriptCategory {
  const letters = text.replace(NON_LETTERS, '');
  const total = codePoints(letters);
  if (total === 0) return 'other';
  const latin = codePoints(letters.replace(NOT_LATIN, ''));
  const cyrillic = codePoints(letters.replace(NOT_CYRILLIC, ''));
  const cjk = codePoints(letters.replace(NOT_CJK, ''));
  const arabic = codePoints(letters.replace(NOT_ARABIC, ''));
  const other = Math.max(0, total - latin - cyrillic - cjk - arabic);
  const counts: [ScriptCategory, number][] = [
    ['latin', latin],
    ['cyrillic', cyrillic],
    ['cjk', cjk],
    ['arabic', arabic],
    ['other', other],
  ];
  let best: ScriptCategory = 'other';
  let most = 0;
  // Strictly more: a tie keeps the earlier category.
  for (const [category, count] of counts) {
    if (count > most) {
      best = category;
      most = count;
    }
  }
  return best;
}

const WORD_SEPARATORS = /[^\p{L}\p{M}\p{N}]+/u;

/**
 * The text's words, lowercased: maximal runs of letters (with their combining marks) and digits, split
 * on everything else. Scripts written without spaces (Chinese, Japanese) give one word per run, so
 * their OOV rate is coarse.
 */
export function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(WORD_SEPARATORS)
    .filter((w) => w.length > 0);
}

/** The reference vocabulary: the set of lowercased words ({@link words}) of the reference texts. */
export function vocabulary(referenceTexts: Iterable<string>): Set<string> {
  const vocab = new Set<string>();
  for (const text of referenceTexts) for (const w of words(text)) vocab.add(w);
  return vocab;
}

/**
 * The share of the text's words (occurrences, not distinct words) missing from `vocab`; `null` when
 * the text has no word.
 */
export function oovRate(text: string, vocab: ReadonlySet<string>): number | null {
  const ws = words(text);
  if (ws.length === 0) return null;
  let missing = 0;
  for (const w of ws) if (!vocab.has(w)) missing++;
  return missing / ws.length;
}

/**
 * Whether the text holds PII or a secret, by the dataset pipeline's own detectors (`redactPii`: the
 * same kinds, shapes and checks, no second copy of its regexes).
 */
export function containsPii(text: string): boolean {
  const counts = emptyPiiCounts();
  redactPii(text, counts);
  return PII_KINDS.some((kind) => counts[kind] > 0);
}

const WHITESPACE = /\s+/g;

/** An answer as {@link describe} compares it with the no-context answer: trimmed, lowercase, spaces collapsed. */
export function normalizeAnswer(answer: string): string {
  return answer.replace(WHITESPACE, ' ').trim().toLowerCase();
}

export interface DescribeOptions {
  /**
   * The gateway's answer when retrieval finds nothing (`NO_CONTEXT_ANSWER` in layers/aws, which core
   * may not import: the caller passes it). An answer equal to it (ignoring case, surrounding space
   * and runs of whitespace) is `notFound`. Absent: `notFound` is left empty. Such answers also count
   * as `refusal` (the decline detector knows the phrase); `notFound` tells them apart from the
   * model's own refusals.
   */
  readonly notFoundAnswer?: string;
}

/**
 * The descriptors of a window of records (see {@link Descriptors}); `vocab` is the reference
 * window's {@link vocabulary}. Throws a `ValidationError` naming the record and field when a `text`
 * or `answer` is not a string or a `retrievalTopScore` not a finite number.
 */
export function describe(
  records: readonly TextRecord[],
  vocab: ReadonlySet<string>,
  opts: DescribeOptions = {},
): Descriptors {
  const out: Descriptors = {
    tokens: [],
    nonLetterShare: [],
    language: [],
    oovRate: [],
    piiRate: [],
    refusal: [],
    answerTokens: [],
    retrievalTopScore: [],
    notFound: [],
  };
  const notFound = opts.notFoundAnswer === undefined ? undefined : normalizeAnswer(opts.notFoundAnswer);
  records.forEach((record, i) => {
    const { text, answer, retrievalTopScore } = record;
    if (text !== undefined) {
      if (typeof text !== 'string') throw new ValidationError(`records.${i}.text`, 'must be a string');
      out.tokens.push(estimateTokens(text));
      out.nonLetterShare.push(nonLetterShare(text));
      out.language.push(scriptCategory(text));
      const oov = oovRate(text, vocab);
      if (oov !== null) out.oovRate.push(oov);
      out.piiRate.push(containsPii(text));
    }
    if (answer !== undefined) {
      if (typeof answer !== 'string') throw new ValidationError(`records.${i}.answer`, 'must be a string');
      out.refusal.push(declines(answer));
      out.answerTokens.push(estimateTokens(answer));
      if (notFound !== undefined) out.notFound.push(normalizeAnswer(answer) === notFound);
    }
    if (retrievalTopScore !== undefined) {
      if (typeof retrievalTopScore !== 'number' || !Number.isFinite(retrievalTopScore)) {
        throw new ValidationError(`records.${i}.retrievalTopScore`, 'must be a finite number');
      }
      out.retrievalTopScore.push(retrievalTopScore);
    }
  });
  return out;
}
