/**
 * The offline model provider of the local run and the tests: deterministic, dependency-free and fast.
 *
 * Embeddings are signed feature hashes (the "hashing trick") of lowercased NFKC word unigrams, word
 * bigrams and character trigrams of words, with sublinear term frequency (1 + ln tf). Texts that share
 * words and word stems land close together; unrelated texts are nearly orthogonal. Chat answers are
 * extractive: the sentences of the given context that best match the last user message, in source
 * order, or an honest sentence saying that nothing matched. Nothing is generated, so nothing is made up.
 */

import { ValidationError } from '../errors.ts';
import { FNV_OFFSET, fmix32, fnv1a, fnvStep } from '../hash32.ts';
import { estimateChatTokens, estimateTokens } from './estimate.ts';
import type {
  ChatRequest,
  ChatResult,
  ChatStreamEvent,
  EmbedRequest,
  EmbedResult,
  ModelProvider,
  StopReason,
} from './types.ts';

/** Default embedding dimension, the same as Titan Text Embeddings v2. */
export const OFFLINE_DIMENSIONS = 1024;
/** What the offline model answers when no sentence of its sources matches the question. */
export const OFFLINE_NO_ANSWER = 'The offline model found nothing in the given context that answers this.';

const DEFAULT_MAX_TOKENS = 512;
const MAX_SENTENCES = 3;
/** A sentence must score at least this (cosine + term overlap, see `scoreSentence`) to be an answer. */
const MIN_SCORE = 0.15;
/** Further sentences must score at least this share of the best one. */
const RELATIVE_SCORE = 0.6;

const WORD = /[\p{L}\p{N}]+/gu;
const SENTENCE_BREAK = /(?<=[.!?。！？])\s+|\n+/u;

// Weights of each feature family. Stop words carry little meaning, so their unigrams weigh less and
// they have no character trigrams.
const UNIGRAM = 1;
const STOP_UNIGRAM = 0.2;
const BIGRAM = 0.7;
const TRIGRAM = 0.35;
// Seeds that keep the feature families apart in hash space (a word and a trigram may spell the same).
const BIGRAM_SEPARATOR = 0x20;
const TRIGRAM_SEED = 0x3;
const BOUNDARY = 0x23;

const STOP_WORDS = new Set(
  (
    'a an and are as at be been but by can could did do does for from had has have how i if in into is it ' +
    'its me my no not of on or our she so that the their them then there these they this to was we were ' +
    'what when where which who why will with would you your he his her him us than too very just about'
  ).split(' '),
);

/** A sparse feature vector: feature hash to weight. */
type Sparse = Map<number, number>;

/** A light suffix stripper, so "refunds" meets "refund" and "shipped" meets "shipping". */
export function stem(word: string): string {
  if (word.length <= 4) return word;
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('ing')) return word.slice(0, -3);
  if (word.endsWith('ed')) return word.slice(0, -2);
  if (word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

function words(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(WORD) ?? [];
}

/**
 * A text's weighted sparse features (sublinear term frequency) and its stemmed content words.
 * Character trigrams are optional: they make embeddings robust to spelling, but sentence scoring
 * does well enough without them, at a fraction of the cost.
 */
function analyze(
  text: string,
  trigramFeatures = true,
): { features: Sparse; norm: number; terms: Set<string> } {
  const terms = new Set<string>();
  // Counts first, then each count becomes its family's weight times (1 + ln tf), in place.
  const out: Sparse = new Map();
  const weights = new Map<number, number>();
  const add = (key: number, weight: number): void => {
    const count = out.get(key);
    if (count === undefined) {
      out.set(key, 1);
      weights.set(key, weight);
    } else {
      out.set(key, count + 1);
    }
  };
  let previous: number | undefined;
  for (const word of words(text)) {
    const isStopWord = STOP_WORDS.has(word);
    const term = isStopWord ? word : stem(word);
    const h = fnv1a(term);
    if (previous !== undefined) {
      let b = fnvStep(previous, BIGRAM_SEPARATOR);
      for (let i = 0; i < term.length; i++) b = fnvStep(b, term.charCodeAt(i));
      add(b, BIGRAM);
    }
    previous = h;
    if (isStopWord) {
      add(h, STOP_UNIGRAM);
      continue;
    }
    add(h, UNIGRAM);
    terms.add(term);
    if (!trigramFeatures) continue;
    // Character trigrams of the word padded with a boundary mark on each side: "#ca", "cat", "at#".
    for (let i = -1; i < word.length - 1; i++) {
      let t = fnvStep(FNV_OFFSET, TRIGRAM_SEED);
      for (let j = i; j < i + 3; j++)
        t = fnvStep(t, j < 0 || j >= word.length ? BOUNDARY : word.charCodeAt(j));
      add(t, TRIGRAM);
    }
  }
  // The families hash apart (bigrams hold a space, trigrams start with a seed); in a rare 32-bit
  // collision the first family's weight wins.
  let sum = 0;
  for (const [key, tf] of out) {
    const value = (weights.get(key) ?? 0) * (1 + Math.log(tf));
    out.set(key, value);
    sum += value * value;
  }
  return { features: out, norm: Math.sqrt(sum), terms };
}

function sparseDot(a: Sparse, b: Sparse): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let dot = 0;
  for (const [key, x] of small) {
    const y = large.get(key);
    if (y !== undefined) dot += x * y;
  }
  return dot;
}

/**
 * The offline embedding of a text: signed feature hashing into `dimensions` buckets, L2-normalized
 * unless `normalize` is false. Deterministic across processes; an empty text gives the zero vector.
 */
export function hashEmbedding(text: string, dimensions = OFFLINE_DIMENSIONS, normalize = true): number[] {
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new ValidationError('dimensions', 'must be a positive whole number');
  }
  const vector = new Float64Array(dimensions);
  for (const [key, weight] of analyze(text).features) {
    const mixed = fmix32(key) >>> 0;
    // The low bits pick the bucket, the top bit the sign.
    const bucket = mixed % dimensions;
    vector[bucket] = (vector[bucket] ?? 0) + (mixed & 0x80000000 ? -weight : weight);
  }
  if (normalize) {
    let sum = 0;
    for (const x of vector) sum += x * x;
    if (sum > 0) {
      const scale = 1 / Math.sqrt(sum);
      for (let i = 0; i < dimensions; i++) vector[i] = (vector[i] ?? 0) * scale;
    }
  }
  return Array.from(vector);
}

/** Cosine similarity of two vectors of the same length; 0 when either is the zero vector. */
export function cosine(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new RangeError(`vectors differ in length: ${a.length} and ${b.length}`);
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

interface Candidate {
  readonly index: number;
  readonly text: string;
  readonly score: number;
}

/** Splits passages into trimmed, non-empty sentences, dropping exact repeats. */
export function splitSentences(passages: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const passage of passages) {
    for (const raw of passage.split(SENTENCE_BREAK)) {
      const sentence = raw.trim();
      if (sentence === '' || seen.has(sentence)) continue;
      seen.add(sentence);
      out.push(sentence);
    }
  }
  return out;
}

type Analysis = ReturnType<typeof analyze>;

/**
 * How well a sentence answers a question: the cosine of their features plus the share of the
 * question's content words the sentence contains. A sentence without any of those words scores 0.
 */
function scoreSentence(sentence: string, question: Analysis): number {
  const s = analyze(sentence, false);
  if (s.norm === 0 || question.norm === 0) return 0;
  let shared = 0;
  for (const word of s.terms) if (question.terms.has(word)) shared++;
  if (shared === 0) return 0;
  return sparseDot(s.features, question.features) / (s.norm * question.norm) + shared / question.terms.size;
}

/** Cuts `text` to at most `budget` estimated tokens, at a word boundary. */
function truncateToTokens(text: string, budget: number): string {
  let used = 0;
  let end = 0;
  for (const piece of text.matchAll(/\S+\s*/g)) {
    used += estimateTokens(piece[0]);
    if (used > budget) break;
    end = piece.index + piece[0].length;
  }
  return text.slice(0, end).trimEnd();
}

function lastUserMessage(request: ChatRequest): { question: string; earlier: readonly string[] } {
  const messages = request.messages;
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message?.role === 'user') {
      return { question: message.content, earlier: messages.slice(0, i).map((m) => m.content) };
    }
  }
  return { question: '', earlier: messages.map((m) => m.content) };
}

/** The extractive answer to a chat request and why it stopped. */
export function extractiveAnswer(request: ChatRequest): { text: string; stopReason: StopReason } {
  const { question, earlier } = lastUserMessage(request);
  const sources =
    request.context !== undefined && request.context.length > 0
      ? request.context
      : [...(request.system === undefined ? [] : [request.system]), ...earlier];
  const q = analyze(question, false);
  const candidates: Candidate[] = [];
  if (q.terms.size > 0) {
    splitSentences(sources).forEach((text, index) => {
      const score = scoreSentence(text, q);
      if (score >= MIN_SCORE) candidates.push({ index, text, score });
    });
  }
  const maxTokens = request.maxTokens ?? DEFAULT_MAX_TOKENS;
  let text: string;
  let stopReason: StopReason = 'end_turn';
  if (candidates.length === 0) {
    text = OFFLINE_NO_ANSWER;
  } else {
    candidates.sort((a, b) => b.score - a.score || a.index - b.index);
    const best = candidates[0] as Candidate;
    const chosen: Candidate[] = [best];
    let used = estimateTokens(best.text);
    for (const c of candidates.slice(1, MAX_SENTENCES)) {
      const cost = estimateTokens(c.text);
      if (c.score < best.score * RELATIVE_SCORE || used + cost > maxTokens) break;
      chosen.push(c);
      used += cost;
    }
    chosen.sort((a, b) => a.index - b.index);
    text = chosen.map((c) => c.text).join(' ');
  }
  if (estimateTokens(text) > maxTokens) {
    text = truncateToTokens(text, maxTokens);
    stopReason = 'max_tokens';
  }
  for (const stop of request.stopSequences ?? []) {
    const at = stop === '' ? -1 : text.indexOf(stop);
    if (at >= 0) {
      text = text.slice(0, at).trimEnd();
      stopReason = 'stop_sequence';
    }
  }
  return { text, stopReason };
}

/**
 * The offline `ModelProvider`: extractive chat over the request's context (or its system prompt and
 * earlier turns), word-by-word streaming of the same answer, and hashed embeddings. Token counts are
 * `estimateTokens` estimates, and every result says `provider: 'offline'`.
 */
export class OfflineProvider implements ModelProvider {
  readonly name = 'offline' as const;

  async chat(request: ChatRequest): Promise<ChatResult> {
    request.signal?.throwIfAborted();
    const { text, stopReason } = extractiveAnswer(request);
    let inputTokens = estimateChatTokens(request.system, request.messages);
    for (const passage of request.context ?? []) inputTokens += estimateTokens(passage);
    return {
      text,
      usage: { inputTokens, outputTokens: estimateTokens(text) },
      stopReason,
      provider: 'offline',
      modelId: request.modelId,
    };
  }

  async *chatStream(request: ChatRequest): AsyncGenerator<ChatStreamEvent> {
    const result = await this.chat(request);
    // Each delta is a word with the whitespace that follows it, so the deltas concatenate to the text.
    for (const piece of result.text.match(/\s*\S+\s*/g) ?? []) {
      request.signal?.throwIfAborted();
      yield { type: 'delta', text: piece };
    }
    yield { type: 'done', result };
  }

  async embed(request: EmbedRequest): Promise<EmbedResult> {
    request.signal?.throwIfAborted();
    const dimensions = request.dimensions ?? OFFLINE_DIMENSIONS;
    const normalize = request.normalize ?? true;
    let inputTokens = 0;
    const vectors = request.texts.map((text) => {
      inputTokens += estimateTokens(text);
      return hashEmbedding(text, dimensions, normalize);
    });
    return { vectors, dimensions, usage: { inputTokens }, provider: 'offline', modelId: request.modelId };
  }
}
