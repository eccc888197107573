/**
 * Reference-based and deterministic metrics (no AWS imports). A text metric takes the answer and the
 * item, `(answer, item) => ItemScore`; a retrieval metric takes the whole {@link EvalAnswer} (it needs
 * the retrieved contexts). Each returns a value in [0, 1], or `null` with `error` when it cannot be
 * computed for that item (no reference, no schema, an unsafe pattern...), which counts as failed, never
 * as 0.
 *
 * - `exact_match`, `f1`: as the official SQuAD v1.1 evaluation script (`evaluate-v1.1.py`) defines them:
 *   `normalize_answer` lowercases, drops the characters of Python's `string.punctuation`, replaces the
 *   words a/an/the (`\b(a|an|the)\b`, Python's Unicode `\b`) by a space and collapses whitespace (Python's
 *   `str.split()` whitespace); F1 is over whitespace tokens with multiset intersection, 0 when nothing is
 *   shared (both empty included: v1.1, not v2.0); the maximum over the references.
 * - `rouge_l`: rouge-score's `rougeL` F-measure with its default tokenizer and no stemming: lowercase,
 *   every run of characters outside `[a-z0-9]` is a separator; LCS-based precision and recall,
 *   F = 2PR / (P + R), 0 when either side has no token; the maximum F over the references (`score_multi`).
 * - `json_valid`: 1 when the answer is one JSON text (RFC 8259: any value, `42` included), either as
 *   it is (surrounding whitespace aside) or as the whole content of one fenced block (```` ``` ```` or
 *   ```` ```json ````) that is the entire answer. Prose around the JSON is invalid: a program parsing the
 *   answer would fail on it.
 * - `json_schema`: 1 when that JSON validates against the item's `metadata.schema` (see `json-schema.ts`);
 *   an answer that is not JSON scores 0; an invalid schema is an error, not 0.
 * - `contains`: 1 when every string of `metadata.contains` (a string or a list) appears in the answer,
 *   as a literal, ignoring case (`toLowerCase` on both sides).
 * - `regex`: 1 when `metadata.regex` matches somewhere in the answer (`metadata.regex_flags`: any of
 *   `i`, `m`, `s`). Patterns are matched in linear time by `safe-regex.ts`; one outside its subset
 *   (backreferences, lookaround...) or over 200 characters is an error naming the reason.
 * - `abstention`: whether the answer declined when it should have: for an item that must be declined,
 *   1 when it declines; for an answerable one, 1 when it does not (declining an answerable question
 *   is the opposite failure, and a model that always declines must not score 1); `null` when the item
 *   has no reference (nobody knows what it should have done).
 * - `context_precision` (RAGAS's context precision with reference, by id): over the first k retrieved
 *   contexts, the mean of precision@i over the ranks i that hold a relevant context (its id in the
 *   item's `referenceContextIds`); 0 when none is relevant. RAGAS adds 1e-10 to the denominator (its
 *   docs show 0.9999999999 for a perfect ranking); here the mean is exact. Every retrieved context
 *   is judged on its own, so two chunks of one relevant document both count.
 * - `context_recall`: the share of the item's `referenceContextIds` among the first k retrieved ids.
 */

import { ValidationError } from '../../errors.ts';
import { DECLINE_PHRASES, declines } from '../decline.ts';
import type { EvalAnswer, EvalItem, ItemScore } from '../types.ts';
import { compileSchema, firstSchemaError } from './json-schema.ts';
import { compileSafeRegex, type SafeRegex, UnsafePatternError } from './safe-regex.ts';

/** A metric of the answer text against the item. */
export type TextMetric = (answer: string, item: EvalItem) => ItemScore;
/** A metric of the whole answer (retrieved contexts included) against the item. */
export type RetrievalMetric = (answer: EvalAnswer, item: EvalItem) => ItemScore;

/** Longest answer `regex` and `json_schema` run on (their work grows with the answer's length). */
export const MAX_MATCHED_ANSWER_CHARS = 100_000;
/** Longest `metadata.regex`. */
export const MAX_REGEX_PATTERN_CHARS = 200;
/** Largest LCS table `rouge_l` fills (answer tokens x reference tokens). */
export const MAX_LCS_CELLS = 25_000_000;

const failed = (metric: string, error: string): ItemScore => ({ metric, value: null, error });

function noReference(metric: string, item: EvalItem): ItemScore {
  return failed(
    metric,
    item.unanswerable
      ? 'the item has no reference answer: it must be declined (see abstention)'
      : 'the item has no reference answer',
  );
}

// ---------------------------------------------------------------------------------------------------
// SQuAD v1.1

/** Python's `string.punctuation`. */
const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
/** Python's `\w` on `str` (`_` and `str.isalnum()`): identical to it on every assigned code point. */
const WORD_RUN = /[\p{L}\p{N}_]+/gu;
/** Python's `str.split()` whitespace (`str.isspace()`): JavaScript's `\s` differs (U+001C-1F, U+0085, U+FEFF). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+001C-U+001F are whitespace to Python's str.split()
const PY_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;
const ARTICLES = new Set(['a', 'an', 'the']);

/** Python's `s.split()`: the non-empty runs between whitespace. */
function pySplit(s: string): string[] {
  return s.split(PY_WHITESPACE).filter((token) => token !== '');
}

/**
 * SQuAD v1.1's `normalize_answer`. `\b(a|an|the)\b` matches exactly the maximal word runs equal to an
 * article, so each such run is replaced by a space.
 */
export function normalizeSquadAnswer(s: string): string {
  const noPunctuation = s.toLowerCase().replace(PUNCTUATION, '');
  const noArticles = noPunctuation.replace(WORD_RUN, (word) => (ARTICLES.has(word) ? ' ' : word));
  return pySplit(noArticles).join(' ');
}

function bestOver<R, T extends { value: number }>(references: readonly R[], score: (ref: R) => T) {
  let best: (T & { reference: number }) | undefined;
  for (const [k, reference] of references.entries()) {
    const scored = score(reference);
    if (best === undefined || scored.value > best.value) best = { ...scored, reference: k };
  }
  return best as T & { reference: number };
}

/** SQuAD v1.1 exact match: 1 when the normalized answer equals a normalized reference. */
export const exactMatch: TextMetric = (answer, item) => {
  if (item.references.length === 0) return noReference('exact_match', item);
  const normal = normalizeSquadAnswer(answer);
  const best = bestOver(item.references, (ref) => ({ value: normalizeSquadAnswer(ref) === normal ? 1 : 0 }));
  return { metric: 'exact_match', value: best.value, details: { reference: best.reference } };
};

/** SQuAD v1.1 token F1 of one answer against one reference, with its precision and recall. */
export function squadF1(
  prediction: string,
  reference: string,
): { f1: number; precision: number; recall: number } {
  const predicted = pySplit(normalizeSquadAnswer(prediction));
  const expected = pySplit(normalizeSquadAnswer(reference));
  const counts = new Map<string, number>();
  for (const token of expected) counts.set(token, (counts.get(token) ?? 0) + 1);
  let same = 0;
  for (const token of predicted) {
    const left = counts.get(token) ?? 0;
    if (left > 0) {
      same++;
      counts.set(token, left - 1);
    }
  }
  if (same === 0) return { f1: 0, precision: 0, recall: 0 };
  // The same operations, in the same order, as the script: bit-identical floats.
  const precision = (1.0 * same) / predicted.length;
  const recall = (1.0 * same) / expected.length;
  return { f1: (2 * precision * recall) / (precision + recall), precision, recall };
}

/** SQuAD v1.1 F1: the best token F1 over the references. */
export const f1: TextMetric = (answer, item) => {
  if (item.references.length === 0) return noReference('f1', item);
  const best = bestOver(item.references, (ref) => {
    const { f1: value, precision, recall } = squadF1(answer, ref);
    return { value, precision, recall };
  });
  return {
    metric: 'f1',
    value: best.value,
    details: { precision: best.precision, recall: best.recall, reference: best.reference },
  };
};

// ---------------------------------------------------------------------------------------------------
// ROUGE-L

const ROUGE_TOKEN = /[a-z0-9]+/g;

/** rouge-score's default tokenizer without stemming. */
export function rougeTokens(text: string): string[] {
  return text.toLowerCase().match(ROUGE_TOKEN) ?? [];
}

/** Length of the longest common subsequence of two token lists; O(|a| x |b|) time, O(|b|) memory. */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  const ids = new Map<string, number>();
  const idOf = (token: string) => {
    let id = ids.get(token);
    if (id === undefined) {
      id = ids.size;
      ids.set(token, id);
    }
    return id;
  };
  const x = Int32Array.from(a, idOf);
  const y = Int32Array.from(b, idOf);
  let previous = new Int32Array(y.length + 1);
  let current = new Int32Array(y.length + 1);
  for (let i = 1; i <= x.length; i++) {
    const xi = x[i - 1];
    for (let j = 1; j <= y.length; j++) {
      current[j] =
        xi === y[j - 1]
          ? (previous[j - 1] as number) + 1
          : Math.max(previous[j] as number, current[j - 1] as number);
    }
    [previous, current] = [current, previous];
  }
  return previous[y.length] as number;
}

/** rouge-score's `_score_lcs(target, prediction)`. */
export function rougeLScore(
  target: readonly string[],
  prediction: readonly string[],
): { precision: number; recall: number; fmeasure: number } {
  if (target.length === 0 || prediction.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const lcs = lcsLength(target, prediction);
  const precision = lcs / prediction.length;
  const recall = lcs / target.length;
  const fmeasure = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0.0;
  return { precision, recall, fmeasure };
}

/** ROUGE-L F-measure, the best over the references. */
export const rougeL: TextMetric = (answer, item) => {
  if (item.references.length === 0) return noReference('rouge_l', item);
  const prediction = rougeTokens(answer);
  const targets = item.references.map(rougeTokens);
  const longest = Math.max(...targets.map((t) => t.length));
  if (prediction.length * longest > MAX_LCS_CELLS) {
    return failed(
      'rouge_l',
      `answer (${prediction.length} tokens) x reference (${longest} tokens) is over ${MAX_LCS_CELLS} LCS cells`,
    );
  }
  const best = bestOver(targets, (target) => {
    const score = rougeLScore(target, prediction);
    return { value: score.fmeasure, precision: score.precision, recall: score.recall };
  });
  return {
    metric: 'rouge_l',
    value: best.value,
    details: { precision: best.precision, recall: best.recall, reference: best.reference },
  };
};

// ---------------------------------------------------------------------------------------------------
// JSON

/** The JSON value of an answer (see `json_valid` above), or why it is not JSON. */
export function extractJson(
  answer: string,
):
  | { readonly ok: true; readonly value: unknown; readonly fenced: boolean }
  | { readonly ok: false; readonly reason: string } {
  const trimmed = answer.trim();
  let body = trimmed;
  let fenced = false;
  if (trimmed.startsWith('```')) {
    const newline = trimmed.indexOf('\n');
    const info = newline < 0 ? '' : trimmed.slice(3, newline).trim().toLowerCase();
    if (newline < 0 || !trimmed.endsWith('```') || trimmed.length - 3 < newline) {
      return { ok: false, reason: 'a fenced block must open with ``` on its own line and close with ```' };
    }
    if (info !== '' && info !== 'json') return { ok: false, reason: `the fenced block is ${info}, not json` };
    body = trimmed.slice(newline + 1, trimmed.length - 3);
    fenced = true;
  }
  if (body.trim() === '') return { ok: false, reason: 'empty' };
  try {
    return { ok: true, value: JSON.parse(body), fenced };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

/** 1 when the answer is one JSON text (as it is, or as one fenced block that is the whole answer). */
export const jsonValid: TextMetric = (answer) => {
  const json = extractJson(answer);
  return json.ok
    ? { metric: 'json_valid', value: 1, details: { fenced: json.fenced } }
    : { metric: 'json_valid', value: 0, details: { reason: json.reason } };
};

/** 1 when the answer's JSON validates against `metadata.schema`. */
export const jsonSchema: TextMetric = (answer, item) => {
  const metric = 'json_schema';
  const schema = item.metadata?.schema;
  if (schema === undefined) return failed(metric, 'the item has no metadata.schema');
  const compiled = compileSchema(schema);
  if ('error' in compiled) return failed(metric, `metadata.schema: invalid JSON Schema (${compiled.error})`);
  if (answer.length > MAX_MATCHED_ANSWER_CHARS) {
    return failed(metric, `the answer is longer than ${MAX_MATCHED_ANSWER_CHARS} characters`);
  }
  const json = extractJson(answer);
  if (!json.ok) return { metric, value: 0, details: { reason: `not JSON: ${json.reason}` } };
  return compiled.validate(json.value)
    ? { metric, value: 1 }
    : { metric, value: 0, details: { reason: firstSchemaError(compiled.validate) } };
};

// ---------------------------------------------------------------------------------------------------
// contains, regex

/** 1 when every string of `metadata.contains` appears in the answer, ignoring case. */
export const contains: TextMetric = (answer, item) => {
  const metric = 'contains';
  const raw = item.metadata?.contains;
  const needles = typeof raw === 'string' ? [raw] : raw;
  if (needles === undefined) return failed(metric, 'the item has no metadata.contains');
  if (
    !Array.isArray(needles) ||
    needles.length === 0 ||
    !needles.every((n) => typeof n === 'string' && n !== '')
  ) {
    return failed(metric, 'metadata.contains: must be a non-empty string or a non-empty list of them');
  }
  const haystack = answer.toLowerCase();
  const missing = (needles as string[]).filter((needle) => !haystack.includes(needle.toLowerCase()));
  return missing.length === 0 ? { metric, value: 1 } : { metric, value: 0, details: { missing } };
};

const MAX_CACHED_PATTERNS = 256;
const patterns = new Map<string, SafeRegex | string>();

/** `metadata.regex` compiled once per pattern and flags; a string says why it was refused. */
function compiledPattern(pattern: string, flags: string): SafeRegex | string {
  const key = `${flags}/${pattern}`;
  let compiled = patterns.get(key);
  if (compiled === undefined) {
    try {
      compiled = compileSafeRegex(pattern, flags, { maxLength: MAX_REGEX_PATTERN_CHARS });
    } catch (error) {
      if (!(error instanceof UnsafePatternError)) throw error;
      compiled = error.rule;
    }
    if (patterns.size >= MAX_CACHED_PATTERNS) patterns.delete(patterns.keys().next().value as string);
    patterns.set(key, compiled);
  }
  return compiled;
}

/** 1 when `metadata.regex` (flags: `metadata.regex_flags`) matches somewhere in the answer. */
export const regex: TextMetric = (answer, item) => {
  const metric = 'regex';
  const pattern = item.metadata?.regex;
  const flags = item.metadata?.regex_flags ?? '';
  if (pattern === undefined) return failed(metric, 'the item has no metadata.regex');
  if (typeof pattern !== 'string') return failed(metric, 'metadata.regex: must be a string');
  if (typeof flags !== 'string') return failed(metric, 'metadata.regex_flags: must be a string');
  const compiled = compiledPattern(pattern, flags);
  if (typeof compiled === 'string') return failed(metric, `metadata.regex: ${compiled}`);
  if (answer.length > MAX_MATCHED_ANSWER_CHARS) {
    return failed(metric, `the answer is longer than ${MAX_MATCHED_ANSWER_CHARS} characters`);
  }
  return { metric, value: compiled.test(answer) ? 1 : 0 };
};

// ---------------------------------------------------------------------------------------------------
// Abstention

export { DECLINE_PHRASES, declines };

/** 1 when the answer declined exactly when the item must be declined. */
export const abstention: TextMetric = (answer, item) => {
  const metric = 'abstention';
  if (!item.unanswerable && item.references.length === 0) {
    return failed(metric, 'the item has no reference: whether it should be declined is unknown');
  }
  const declined = declines(answer);
  const expected = item.unanswerable ? 'decline' : 'answer';
  return { metric, value: declined === item.unanswerable ? 1 : 0, details: { declined, expected } };
};

// ---------------------------------------------------------------------------------------------------
// Retrieval

/** Options of the retrieval metrics. */
export interface RetrievalMetricOptions {
  /** Judge only the first k retrieved contexts (a positive whole number, else a ValidationError). @default all of them */
  readonly k?: number;
}

type Judged = { ids: string[]; relevant: Set<string> } | { error: string };

function judge(answer: EvalAnswer, item: EvalItem, options: RetrievalMetricOptions): Judged {
  const k = options.k;
  if (k !== undefined && (!Number.isInteger(k) || k < 1))
    throw new ValidationError('k', 'must be a positive whole number');
  if (item.referenceContextIds === undefined || item.referenceContextIds.length === 0) {
    return { error: 'the item has no reference_context_ids' };
  }
  if (answer.contexts === undefined) return { error: 'the answer carries no retrieved contexts' };
  const top = answer.contexts.slice(0, k ?? answer.contexts.length);
  const ids: string[] = [];
  for (const [rank, context] of top.entries()) {
    if (context.id === undefined)
      return { error: `retrieved context ${rank + 1} has no id: relevance is judged by id` };
    ids.push(context.id);
  }
  return { ids, relevant: new Set(item.referenceContextIds) };
}

/** RAGAS context precision with reference (by id) at k. */
export function contextPrecision(
  answer: EvalAnswer,
  item: EvalItem,
  options: RetrievalMetricOptions = {},
): ItemScore {
  const metric = 'context_precision';
  const judged = judge(answer, item, options);
  if ('error' in judged) return failed(metric, judged.error);
  let hits = 0;
  let sum = 0;
  for (const [rank, id] of judged.ids.entries()) {
    if (judged.relevant.has(id)) {
      hits++;
      sum += hits / (rank + 1);
    }
  }
  return {
    metric,
    value: hits === 0 ? 0 : sum / hits,
    details: { k: judged.ids.length, relevantRetrieved: hits },
  };
}

/** Share of the item's reference context ids among the first k retrieved. */
export function contextRecall(
  answer: EvalAnswer,
  item: EvalItem,
  options: RetrievalMetricOptions = {},
): ItemScore {
  const metric = 'context_recall';
  const judged = judge(answer, item, options);
  if ('error' in judged) return failed(metric, judged.error);
  const retrieved = new Set(judged.ids);
  const missed = [...judged.relevant].filter((id) => !retrieved.has(id));
  return {
    metric,
    value: (judged.relevant.size - missed.length) / judged.relevant.size,
    details: { k: judged.ids.length, missed },
  };
}

/** The text metrics of this module, by name. */
export const REFERENCE_METRICS = {
  exact_match: exactMatch,
  f1,
  rouge_l: rougeL,
  json_valid: jsonValid,
  json_schema: jsonSchema,
  contains,
  regex,
  abstention,
} as const satisfies Record<string, TextMetric>;

/** The retrieval metrics of this module, by name (all retrieved contexts judged). */
export const RETRIEVAL_METRICS = {
  context_precision: (answer, item) => contextPrecision(answer, item),
  context_recall: (answer, item) => contextRecall(answer, item),
} as const satisfies Record<string, RetrievalMetric>;
