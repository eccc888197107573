/**
 * Retrieval quality metrics (no AWS imports): recall@k and mean reciprocal rank over documents.
 *
 * A retriever returns chunks, several of which may come from one document; the metrics are computed
 * over documents. Each question's retrieved list (document ids of the chunks, in rank order) is first
 * reduced to its distinct documents, each at the rank of its best chunk; relevance is judged against
 * the question's list of relevant document ids.
 */
import { ValidationError } from '../errors.ts';

/** One question's retrieval result, as input to {@link evaluateRetrieval}. */
export interface RetrievalResult {
  /** The question's id (reported back in `perQuestion`). */
  readonly id: string;
  /** Ids of the documents that answer the question; at least one. */
  readonly relevant: readonly string[];
  /** Document ids of the retrieved chunks, best first; one document may appear more than once. */
  readonly retrieved: readonly string[];
}

/** How retrieval did on one question. */
export interface QuestionScore {
  readonly id: string;
  /** Share of the relevant documents among the first `k` distinct retrieved documents (0 to 1). */
  readonly recallAtK: number;
  /** 1 / rank of the first relevant document among the distinct retrieved ones; 0 when none was retrieved. */
  readonly reciprocalRank: number;
  /** 1-based rank of the first relevant document among the distinct retrieved ones; undefined when none. */
  readonly firstRelevantRank?: number;
  /** The distinct retrieved documents, best first (all of them, not only the first `k`). */
  readonly ranking: readonly string[];
  /** Relevant documents not among the first `k` distinct retrieved documents. */
  readonly missed: readonly string[];
}

/** Retrieval quality over a question set. */
export interface RetrievalEvaluation {
  /** The `k` of recall@k. */
  readonly k: number;
  /** Mean over questions of each question's recall@k (macro average), 0 to 1. */
  readonly recallAtK: number;
  /** Mean reciprocal rank: the mean over questions of each question's reciprocal rank, 0 to 1. */
  readonly mrr: number;
  readonly perQuestion: readonly QuestionScore[];
}

/** The distinct ids of `ids`, each at the position of its first occurrence. */
export function distinctInOrder(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new ValidationError('k', 'must be a positive whole number');
}

function checkRelevant(relevant: readonly string[], field = 'relevant'): Set<string> {
  const set = new Set(relevant);
  if (set.size === 0) throw new ValidationError(field, 'must name at least one relevant document');
  return set;
}

/**
 * Recall@k of one question: the share of its relevant documents that are among the first `k` distinct
 * documents of `retrieved` (repeats of a document count once, at their first position). A list shorter
 * than `k` is taken as it is.
 *
 * @param relevant ids of the documents that answer the question (repeats ignored); at least one
 * @param retrieved document ids in rank order, best first; repeats allowed
 * @param k how many distinct documents count; a positive whole number
 * @returns a number from 0 (none found) to 1 (all found)
 * @throws ValidationError when `k` is not a positive whole number or `relevant` is empty
 */
export function recallAtK(relevant: readonly string[], retrieved: readonly string[], k: number): number {
  checkK(k);
  const wanted = checkRelevant(relevant);
  const top = distinctInOrder(retrieved).slice(0, k);
  return top.filter((id) => wanted.has(id)).length / wanted.size;
}

/**
 * Reciprocal rank of one question: 1 / r, where r is the 1-based rank of the first relevant document
 * among the distinct documents of `retrieved` (repeats count once, at their first position); 0 when no
 * relevant document was retrieved. There is no cut-off beyond the list itself.
 *
 * @param relevant ids of the documents that answer the question; at least one
 * @param retrieved document ids in rank order, best first; repeats allowed
 * @throws ValidationError when `relevant` is empty
 */
export function reciprocalRank(relevant: readonly string[], retrieved: readonly string[]): number {
  const wanted = checkRelevant(relevant);
  const rank = distinctInOrder(retrieved).findIndex((id) => wanted.has(id));
  return rank < 0 ? 0 : 1 / (rank + 1);
}

/**
 * Scores a question set: recall@k and reciprocal rank per question (see {@link recallAtK} and
 * {@link reciprocalRank}), and their means over the questions (every question weighs the same).
 *
 * @param results one entry per question, each with at least one relevant document
 * @param k the cut-off of recall@k, in distinct documents
 * @throws ValidationError when `results` is empty, `k` is not a positive whole number or a question
 *   names no relevant document (the field says which: `results.3.relevant`)
 */
export function evaluateRetrieval(results: readonly RetrievalResult[], k: number): RetrievalEvaluation {
  checkK(k);
  if (results.length === 0) throw new ValidationError('results', 'must hold at least one question');
  const perQuestion = results.map((result, n): QuestionScore => {
    const wanted = checkRelevant(result.relevant, `results.${n}.relevant`);
    const ranking = distinctInOrder(result.retrieved);
    const top = new Set(ranking.slice(0, k));
    const first = ranking.findIndex((id) => wanted.has(id));
    return {
      id: result.id,
      recallAtK: [...wanted].filter((id) => top.has(id)).length / wanted.size,
      reciprocalRank: first < 0 ? 0 : 1 / (first + 1),
      ...(first < 0 ? {} : { firstRelevantRank: first + 1 }),
      ranking,
      missed: [...wanted].filter((id) => !top.has(id)),
    };
  });
  const mean = (values: readonly number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;
  return {
    k,
    recallAtK: mean(perQuestion.map((q) => q.recallAtK)),
    mrr: mean(perQuestion.map((q) => q.reciprocalRank)),
    perQuestion,
  };
}
