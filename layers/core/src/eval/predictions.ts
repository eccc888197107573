/**
 * Bring-your-own predictions: answers made elsewhere, one JSON object per line, `{id, prediction,
 * contexts?}` (contexts as texts or `{id?, text}`), scored as if the target had answered them. Used by
 * the local `evaluate --predictions` and by an Evaluate run's `predictions` object.
 */
import { ValidationError } from '../errors.ts';
import type { EvalAnswer, EvalItem } from './types.ts';

/** One prediction line. */
export interface PredictionLine {
  readonly id: string;
  readonly prediction: string;
  readonly contexts?: readonly (string | { readonly id?: string; readonly text: string })[];
}

/**
 * The predictions of a JSONL text by item id.
 * @throws ValidationError naming `<source>:<line>` for a line that is not JSON, not a prediction, or a
 *   second prediction of an id
 */
export function parsePredictions(text: string, source: string): Map<string, PredictionLine> {
  const byId = new Map<string, PredictionLine>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const where = `${source}:${i + 1}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new ValidationError(where, 'not valid JSON', { message: `${where}: not valid JSON` });
    }
    const p = parsed as Partial<PredictionLine>;
    if (typeof p !== 'object' || p === null || typeof p.id !== 'string' || typeof p.prediction !== 'string') {
      throw new ValidationError(
        where,
        'a prediction is {"id": string, "prediction": string, "contexts"?: [...]}',
        {
          message: `${where}: a prediction is {"id": string, "prediction": string, "contexts"?: [...]}`,
        },
      );
    }
    const contexts = p.contexts;
    if (
      contexts !== undefined &&
      (!Array.isArray(contexts) ||
        !contexts.every(
          (c) => typeof c === 'string' || (typeof c === 'object' && c !== null && typeof c.text === 'string'),
        ))
    ) {
      throw new ValidationError(where, 'contexts must be a list of texts or {id?, text} objects', {
        message: `${where}: contexts must be a list of texts or {id?, text} objects`,
      });
    }
    if (byId.has(p.id)) {
      throw new ValidationError(where, 'a second prediction for the same id', {
        message: `${where}: a second prediction for id ${JSON.stringify(p.id)}`,
      });
    }
    byId.set(p.id, p as PredictionLine);
  }
  return byId;
}

/** An item's answer from the predictions: failed (named) when there is none, never a zero. */
export function predictedAnswer(
  predictions: ReadonlyMap<string, PredictionLine>,
  item: EvalItem,
): EvalAnswer {
  const p = predictions.get(item.id);
  if (p === undefined) return { itemId: item.id, answer: '', error: `no prediction for item ${item.id}` };
  return {
    itemId: item.id,
    answer: p.prediction,
    ...(p.contexts ? { contexts: p.contexts.map((c) => (typeof c === 'string' ? { text: c } : c)) } : {}),
  };
}
