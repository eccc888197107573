/**
 * The lines of a feedback file (`npm start -- feedback FILE.jsonl`), read and checked before any stack
 * starts: each names the interaction it rates, or the prompt call that makes it; the feedback fields
 * themselves are checked by the API, which names what is wrong.
 */
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from '#infra/repo-root.ts';

/** The bundled feedback: ratings, corrections and preferred answers on the API demo's prompt. */
export const FEEDBACK_SAMPLE = `${REPO_ROOT}/infra/local/samples/feedback.jsonl`;

/** The fields of a line that say which interaction it rates; every other field is the feedback. */
const TARGET_FIELDS = ['interactionId', 'prompt', 'variables', 'model'] as const;

/** One line of a feedback file: the interaction it rates (or how to create it) and the feedback. */
export interface FeedbackLine {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly interactionId?: string;
  readonly prompt?: string;
  readonly variables?: Readonly<Record<string, string>>;
  readonly model?: string;
  /** What `POST /v1/feedback` receives, less the interaction id (rating, correction, user, ...). */
  readonly feedback: Readonly<Record<string, unknown>>;
}

/** A feedback file that cannot be read as feedback lines: names the file and the line. */
export class FeedbackFileError extends Error {}

/**
 * Parses a feedback file: one JSON object per line (blank lines skipped), each with either
 * `interactionId` or `prompt` (and optionally `variables`, `model`). The feedback fields themselves are
 * checked by the API, which names what is wrong.
 */
export function parseFeedbackLines(text: string, file: string): FeedbackLine[] {
  const lines: FeedbackLine[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const where = `${file} line ${index + 1}`;
    if (raw.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new FeedbackFileError(`${where}: not JSON (${(error as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new FeedbackFileError(`${where}: must be a JSON object`);
    }
    const record = value as Record<string, unknown>;
    const { interactionId, prompt, variables, model } = record;
    if ((interactionId === undefined) === (prompt === undefined)) {
      throw new FeedbackFileError(`${where}: must have either "interactionId" or "prompt" (not both)`);
    }
    if (interactionId !== undefined && typeof interactionId !== 'string') {
      throw new FeedbackFileError(`${where}: "interactionId" must be a string`);
    }
    if (prompt !== undefined && typeof prompt !== 'string') {
      throw new FeedbackFileError(
        `${where}: "prompt" must be a prompt reference (name, name@label, name:version)`,
      );
    }
    if (
      variables !== undefined &&
      (typeof variables !== 'object' ||
        variables === null ||
        Array.isArray(variables) ||
        Object.values(variables).some((v) => typeof v !== 'string'))
    ) {
      throw new FeedbackFileError(`${where}: "variables" must be an object of strings`);
    }
    if (model !== undefined && typeof model !== 'string') {
      throw new FeedbackFileError(`${where}: "model" must be a catalog model id`);
    }
    if (interactionId !== undefined && (variables !== undefined || model !== undefined)) {
      throw new FeedbackFileError(`${where}: "variables" and "model" go with "prompt", not "interactionId"`);
    }
    const feedback = Object.fromEntries(
      Object.entries(record).filter(([key]) => !(TARGET_FIELDS as readonly string[]).includes(key)),
    );
    lines.push({
      line: index + 1,
      ...(interactionId !== undefined ? { interactionId: interactionId as string } : {}),
      ...(prompt !== undefined ? { prompt: prompt as string } : {}),
      ...(variables !== undefined ? { variables: variables as Record<string, string> } : {}),
      ...(model !== undefined ? { model: model as string } : {}),
      feedback,
    });
  }
  if (lines.length === 0) throw new FeedbackFileError(`${file}: no feedback line`);
  return lines;
}

/** Reads and parses a feedback file. */
export function readFeedbackFile(path: string): FeedbackLine[] {
  return parseFeedbackLines(readFileSync(path, 'utf8'), path);
}
