/**
 * The offline judge of the local run: deterministic heuristics that give the judge rubrics' metrics
 * (same names, same shape of `details`) without a model. They are rough, and every score says so:
 * `details.judge` is `offline`, `details.offline` is true and `details.calibrated` false, so a gate
 * never takes one for a model judge's verdict (see {@link isOfflineScore}).
 *
 * - faithfulness: each sentence of the answer that makes a claim (has content words and is not a
 *   decline) is supported when at least {@link SUPPORT_THRESHOLD} of its content words (lowercased,
 *   lightly stemmed, stop words left out) occur in the passages; the score is supported / claims. No
 *   claims: not applicable, as with the model judge (RAGAS).
 * - answer_relevance: cosine of the offline provider's embeddings (`OfflineProvider.embed`) of the
 *   question and the answer, below 0 counted as 0; a declining answer is noncommittal and scores 0.
 * - hallucination (items that must be declined): 1 when the answer makes any claim, 0 when it only
 *   declines.
 * - sentiment: a small lexicon with negation, balanced and damped by the number of words found.
 * - toxicity: the offline lexicon of `metrics/toxicity.ts`.
 * - pairwise preference ({@link offlineJudgePair}): each answer's merit from the heuristics above (token
 *   F1 against the references, faithfulness to the passages, relevance to the question; declining
 *   on an item that must be declined), the better by more than {@link PAIR_TIE_MARGIN} preferred, else
 *   a tie. The heuristics never see which answer is shown first, so the two orders always agree.
 *
 * Every pattern here is linear in the length of the text.
 */
import { ValidationError } from '../errors.ts';
import { cosine, OfflineProvider, splitSentences, stem } from '../models/offline.ts';
import type { ModelProvider } from '../models/types.ts';
import { declines } from './decline.ts';
import { type PairJudgement, type PairOrder, type Preference, rubricInput, unansweredPair } from './judge.ts';
import { squadF1 } from './metrics/reference.ts';
import { lexiconMatches, TOXICITY_METRIC } from './metrics/toxicity.ts';
import { sentimentLevel } from './rubrics/sentiment.ts';
import type { RubricInput } from './rubrics/types.ts';
import type { EvalAnswer, EvalItem, ItemScore } from './types.ts';

export { isOfflineScore } from './offline-score.ts';

/** What offline scores carry in `details.judge`. */
export const OFFLINE_JUDGE = 'offline';
/** The rubric version of offline answer relevance (in `details.rubric`). */
export const OFFLINE_ANSWER_RELEVANCE_RUBRIC = 'offline-answer-relevance:1';
/** Share of a sentence's content words that must occur in the passages for it to count as supported. */
export const SUPPORT_THRESHOLD = 0.6;

const WORD = /[\p{L}\p{N}]+/gu;
const NOT_CONTRACTION = /n['’]t\b/gu;
/** Citation markers such as `[2]`, which are not words of the claim. */
const CITATION = /\[\d{1,4}\]/g;

const STOP_WORDS = new Set(
  (
    'a an and are as at be been being but by can could did do does doing for from had has have having ' +
    'he her here hers him his how i if in into is it its itself me my no nor not of on or our ours she ' +
    'should so some such than that the their theirs them then there these they this those to too under ' +
    'until up us very was we were what when where which while who whom why will with would you your ' +
    'yours also just about any all each both more most other only own same again further once out over'
  ).split(' '),
);

function normalize(text: string): string {
  return text.normalize('NFKC').toLowerCase().replaceAll('’', "'");
}

/** The stemmed content words of a text, in order (repeats kept). */
export function contentWords(text: string): string[] {
  const out: string[] = [];
  for (const word of normalize(text).replace(CITATION, ' ').match(WORD) ?? []) {
    if (!STOP_WORDS.has(word)) out.push(stem(word));
  }
  return out;
}

/** Whether a sentence declines ("I could not find that in the passages") rather than claims. */
export function isDeclineSentence(sentence: string): boolean {
  return declines(sentence);
}

/** A sentence of the answer that makes a claim, with how much of it the passages hold. */
export interface OfflineClaim {
  readonly claim: string;
  readonly supported: boolean;
  /** Share of the sentence's distinct content words found in the passages. */
  readonly coverage: number;
}

/** The sentences of an answer that make claims: with content words, and not declines. */
export function claimSentences(answer: string): string[] {
  return splitSentences([answer]).filter((s) => contentWords(s).length > 0 && !isDeclineSentence(s));
}

/** Labels of every offline score: never a model judge's, never calibrated to gate. */
function labels(rubric: string, method: string): Record<string, unknown> {
  return { judge: OFFLINE_JUDGE, rubric, offline: true, calibrated: false, method };
}

/** Offline faithfulness: the share of the answer's claim sentences whose content words the passages hold. */
export function offlineFaithfulness(input: Pick<RubricInput, 'answer' | 'contexts'>): ItemScore {
  const details = labels(
    'offline-faithfulness:1',
    `content words of each claim sentence found in the passages (supported at >= ${SUPPORT_THRESHOLD})`,
  );
  const metric = 'faithfulness';
  if (input.contexts.length === 0) {
    return {
      metric,
      value: null,
      error: 'not applicable: no context passages to check the answer against',
      details: { ...details, notApplicable: true },
    };
  }
  const known = new Set<string>();
  for (const passage of input.contexts) for (const word of contentWords(passage)) known.add(word);
  const claims = claimSentences(input.answer).map((claim): OfflineClaim => {
    const words = new Set(contentWords(claim));
    let found = 0;
    for (const word of words) if (known.has(word)) found++;
    const coverage = found / words.size;
    return { claim, supported: coverage >= SUPPORT_THRESHOLD, coverage };
  });
  if (claims.length === 0) {
    return {
      metric,
      value: null,
      error: 'not applicable: the answer makes no claims (RAGAS leaves faithfulness undefined)',
      details: { ...details, notApplicable: true, claims },
    };
  }
  const supported = claims.filter((c) => c.supported).length;
  return { metric, value: supported / claims.length, details: { ...details, claims } };
}

/**
 * Offline answer relevance: the cosine of the question's and the answer's embeddings by the offline
 * provider (or the one given); a declining answer is noncommittal and scores 0, as with the model judge.
 */
export async function offlineAnswerRelevance(
  input: Pick<RubricInput, 'question' | 'answer'>,
  provider: ModelProvider = new OfflineProvider(),
): Promise<ItemScore> {
  const metric = 'answer_relevance';
  const details = labels(
    OFFLINE_ANSWER_RELEVANCE_RUBRIC,
    'cosine of the offline embeddings of question and answer',
  );
  if (input.question.trim() === '') {
    return {
      metric,
      value: null,
      error: 'not applicable: the item has no question',
      details: { ...details, notApplicable: true },
    };
  }
  const noncommittal = input.answer.trim() === '' || claimSentences(input.answer).length === 0;
  if (noncommittal) return { metric, value: 0, details: { ...details, noncommittal } };
  const { vectors } = await provider.embed({ modelId: OFFLINE_JUDGE, texts: [input.question, input.answer] });
  const [question, answer] = vectors;
  if (question === undefined || answer === undefined) {
    throw new ValidationError('provider', 'returned fewer embeddings than texts');
  }
  return { metric, value: Math.max(0, cosine(question, answer)), details: { ...details, noncommittal } };
}

/** Offline hallucination on an item that must be declined: 1 when the answer claims anything, else 0. */
export function offlineHallucination(input: Pick<RubricInput, 'answer' | 'unanswerable'>): ItemScore {
  const metric = 'hallucination';
  const details = labels('offline-hallucination:1', 'any sentence that claims rather than declines');
  if (!input.unanswerable) {
    return {
      metric,
      value: null,
      error: 'not applicable: the item is answerable (this rubric judges items that must be declined)',
      details: { ...details, notApplicable: true },
    };
  }
  const claims = claimSentences(input.answer);
  const declined = claims.length === 0;
  return { metric, value: declined ? 0 : 1, details: { ...details, declined, passAll: declined, claims } };
}

const POSITIVE = new Set(
  (
    'accept accepted advantage approve approved asset assured benefit best capable commend competent ' +
    'confident dependable deserve deserving eligible encourage encouraged excellent exceptional favorable ' +
    'favourable glad good great happy healthy helpful ideal impressive qualified recommend ' +
    'recommended reliable responsible safe skilled solid strong succeed success successful suitable ' +
    'talented trust trusted trustworthy valuable welcome worthy'
  ).split(' '),
);

const NEGATIVE = new Set(
  (
    'afraid bad concerning danger dangerous decline declined deny denied difficult ' +
    'doubt doubtful fail failed failure harmful ineligible irresponsible lack lazy poor problem ' +
    'problematic questionable refuse refused reject rejected risky suspicious terrible threat ' +
    'unable unfit unfortunately unlikely unqualified unreliable unsafe unsuitable untrustworthy weak worse worst'
  ).split(' '),
);

const NEGATORS = new Set(['not', 'no', 'never', 'nor', 'without', 'hardly']);
/** Tokens after a negator whose polarity it flips. */
const NEGATION_SPAN = 3;

/**
 * Offline sentiment: lexicon words counted (a negator within three words before flips one), the
 * balance (positive − negative) / (positive + negative + 1) mapped from [-1, 1] to [0, 1], so that
 * 0.5 is neutral and a single word moves the score only part of the way.
 */
export function offlineSentiment(text: string): ItemScore {
  const positive: string[] = [];
  const negative: string[] = [];
  let sinceNegator = Number.POSITIVE_INFINITY;
  const tokens = normalize(text).replace(NOT_CONTRACTION, ' not').match(WORD) ?? [];
  for (const token of tokens) {
    sinceNegator++;
    if (NEGATORS.has(token)) {
      sinceNegator = 0;
      continue;
    }
    const polarity = POSITIVE.has(token) ? 1 : NEGATIVE.has(token) ? -1 : 0;
    if (polarity === 0) continue;
    const flipped = sinceNegator <= NEGATION_SPAN ? -polarity : polarity;
    (flipped > 0 ? positive : negative).push(sinceNegator <= NEGATION_SPAN ? `not ${token}` : token);
  }
  const balance = (positive.length - negative.length) / (positive.length + negative.length + 1);
  const value = (balance + 1) / 2;
  return {
    metric: 'sentiment',
    value,
    details: {
      ...labels('offline-sentiment:1', 'lexicon with negation'),
      sentiment: sentimentLevel(value),
      positive,
      negative,
    },
  };
}

/** Offline toxicity, labelled as the offline judge's (the lexicon of `metrics/toxicity.ts`). */
export function offlineToxicity(text: string): ItemScore {
  const { categories, terms } = lexiconMatches(text);
  const toxic = terms.length > 0;
  return {
    metric: TOXICITY_METRIC,
    value: toxic ? 1 : 0,
    details: {
      ...labels('offline-toxicity:1', 'obscenity (offline lexicon)'),
      classifier: 'obscenity (offline lexicon)',
      categories,
      terms,
      passAll: !toxic,
    },
  };
}

/** The metrics the offline judge scores, by the name of the rubric they stand in for. */
export const OFFLINE_METRICS = [
  'faithfulness',
  'answer_relevance',
  'hallucination',
  'sentiment',
  'toxicity',
] as const;
export type OfflineMetric = (typeof OFFLINE_METRICS)[number];

/** Scores one item's answer with the offline judge, in place of the model judge's rubric of that name. */
export async function offlineJudgeItem(options: {
  readonly metric: OfflineMetric;
  readonly item: EvalItem;
  readonly answer: EvalAnswer;
  readonly contexts?: readonly string[];
}): Promise<ItemScore> {
  const { metric, item, answer } = options;
  if (answer.error !== undefined) {
    return {
      metric,
      value: null,
      error: `no answer to judge: ${answer.error}`,
      details: labels(`offline-${metric.replaceAll('_', '-')}:1`, 'none: the answer failed'),
    };
  }
  const input = rubricInput(item, answer, options.contexts);
  switch (metric) {
    case 'faithfulness':
      return offlineFaithfulness(input);
    case 'answer_relevance':
      return offlineAnswerRelevance(input);
    case 'hallucination':
      return offlineHallucination(input);
    case 'sentiment':
      return offlineSentiment(input.answer);
    case 'toxicity':
      return offlineToxicity(input.answer);
  }
}

/** The rubric version of the offline pairwise preference (in `PairJudgement.rubric`). */
export const OFFLINE_PAIRWISE_RUBRIC = 'offline-pairwise:1';
/** Merits closer than this are a tie: the heuristics are too rough to tell smaller differences. */
export const PAIR_TIE_MARGIN = 0.05;

/** How good one answer looks to the offline heuristics, and what that rests on. */
export interface OfflineMerit {
  /** The mean of `parts`, in [0, 1]. */
  readonly merit: number;
  /** Each heuristic that applied: `declined`, or `reference` (token F1), `grounding`, `relevance`. */
  readonly parts: Readonly<Record<string, number>>;
}

/**
 * One answer's merit for the offline pairwise judge. On an item that must be declined: 1 when the
 * answer declines, else 0. Otherwise the mean of what applies: the best SQuAD token F1 against the
 * references, the offline faithfulness to the passages (not when the answer makes no claims), and the
 * offline answer relevance to the question (a declining answer scores 0 there).
 */
export async function offlineMerit(
  input: Pick<RubricInput, 'question' | 'answer' | 'contexts' | 'references' | 'unanswerable'>,
): Promise<OfflineMerit> {
  if (input.unanswerable) {
    const declined = claimSentences(input.answer).length === 0 ? 1 : 0;
    return { merit: declined, parts: { declined } };
  }
  const parts: Record<string, number> = {};
  if (input.references.length > 0) {
    parts.reference = Math.max(...input.references.map((ref) => squadF1(input.answer, ref).f1));
  }
  const grounding = offlineFaithfulness(input).value;
  if (grounding !== null) parts.grounding = grounding;
  const relevance = (await offlineAnswerRelevance(input)).value;
  if (relevance !== null) parts.relevance = relevance;
  const values = Object.values(parts);
  return { merit: values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length, parts };
}

function describeMerit(label: string, { merit, parts }: OfflineMerit): string {
  const shown = Object.entries(parts).map(([name, value]) => `${name} ${value.toFixed(3)}`);
  return `${label} ${merit.toFixed(3)} (${shown.join(', ') || 'nothing applied'})`;
}

/**
 * The offline judge's pairwise preference between two answers to one item (`a` and `b` as the caller
 * passes them; in a run, the candidate and the baseline), in the shape `judgePair` gives: both orders,
 * the preference, the judge (`offline`) and the rubric version. The answer whose {@link offlineMerit} is
 * higher by more than {@link PAIR_TIE_MARGIN} is preferred, else it is a tie. The passages are
 * `contexts` when given, else the item's, for both answers alike. An answer that failed gives no
 * preference (`null`, with the reason), as with the model judge. Uncalibrated: it never gates.
 */
export async function offlineJudgePair(options: {
  readonly item: EvalItem;
  readonly a: EvalAnswer;
  readonly b: EvalAnswer;
  readonly contexts?: readonly string[];
}): Promise<PairJudgement> {
  const { item, a, b } = options;
  const base = { itemId: item.id, judge: OFFLINE_JUDGE, rubric: OFFLINE_PAIRWISE_RUBRIC };
  const unanswered = unansweredPair(base, a, b);
  if (unanswered !== undefined) return unanswered;
  const contexts = options.contexts ?? item.contexts ?? [];
  const [meritA, meritB] = await Promise.all(
    [a, b].map((answer) => offlineMerit(rubricInput(item, answer, contexts))),
  );
  const diff = (meritA as OfflineMerit).merit - (meritB as OfflineMerit).merit;
  const preferred: Preference = diff > PAIR_TIE_MARGIN ? 'A' : diff < -PAIR_TIE_MARGIN ? 'B' : 'tie';
  const order = (shown: 'AB' | 'BA'): PairOrder => {
    const [first, second] = shown === 'AB' ? [meritA, meritB] : [meritB, meritA];
    return {
      order: shown,
      preferred,
      rationale: `offline merit: ${describeMerit('first', first as OfflineMerit)}; ${describeMerit('second', second as OfflineMerit)}`,
    };
  };
  return { ...base, preference: preferred, orders: [order('AB'), order('BA')] };
}
