/**
 * What a judge rubric is: a prompt (instructions and a task template), the shape of the judge's output
 * (a zod/mini schema, sent to the model as a JSON Schema for structured output), and how an output
 * becomes a score. The prompt lives in the prompt registry: each built-in rubric's text is version 1
 * of the prompt its reference names (`judge-faithfulness:1`; `registry.ts` seeds it), and a run judges
 * with the version it resolves (`withPrompt`). The output schema and the scoring stay in code: a new
 * prompt version changes what the judge is told, never how its output is read.
 */
import type * as z from 'zod/mini';
import type { RenderablePrompt } from '../../prompts/template.ts';
import type { EvalMessage } from '../types.ts';

/** What a rubric judges: one item's question and answer, with the passages the answer should rest on. */
export interface RubricInput {
  /** The last user turn of the item's conversation. */
  readonly question: string;
  /** The whole conversation the answer replies to. */
  readonly conversation: readonly EvalMessage[];
  readonly answer: string;
  /** The passages the answer is judged against (retrieved, or given with the item). */
  readonly contexts: readonly string[];
  /** The item's acceptable answers (empty for an item that must be declined). */
  readonly references: readonly string[];
  /** The item is answered correctly only by declining. */
  readonly unanswerable: boolean;
}

/** A score that does not apply to this output, and why (RAGAS faithfulness of an answer without claims). */
export interface NotApplicable {
  readonly notApplicable: string;
}

/** What a rubric's scoring may use beyond the judge's output. */
export interface ScoreContext {
  readonly input: RubricInput;
  /** Embeds texts with the judge's embedding model, one vector per text, in order. */
  embed(texts: readonly string[]): Promise<number[][]>;
}

/** Which way a rubric's score is better: `none` for a description such as sentiment. */
export type ScoreDirection = 'higher' | 'lower' | 'none';

/** A judge rubric whose judge outputs `T`. */
export interface Rubric<T = unknown> {
  /** The metric it scores (`faithfulness`); also names the structured-output tool, so `[a-z0-9_]`. */
  readonly name: string;
  /** Prompt reference with a version, `name:version` (`judge-faithfulness:1`), reported with every score. */
  readonly version: string;
  /** One line on what the judge records, for the model (the structured-output description). */
  readonly description: string;
  /** The judge's system prompt (the built-in text: version 1 of the registry prompt). */
  readonly instructions: string;
  /** The user turn: a template whose `{{ input }}` receives {@link Rubric.payload} as JSON. */
  readonly template: string;
  /**
   * The registry version the judge renders (its `{{ input }}` receives the payload as JSON), whose
   * `name:version` is {@link Rubric.version}. @default the built-in text, as version `version`
   */
  readonly prompt?: RenderablePrompt;
  /** The judge's output: parsed and checked, never trusted as it comes. */
  readonly outputSchema: z.ZodMiniType<T>;
  readonly better: ScoreDirection;
  /** Why the rubric does not apply to this input (no passages for faithfulness), or undefined. */
  notApplicable?(input: RubricInput): string | undefined;
  /** What the judge sees of the input (only what it needs: answer relevance hides the question). */
  payload(input: RubricInput): Record<string, unknown>;
  /** The score of one output, in [0, 1], or why it does not apply. */
  toScore(output: T, context: ScoreContext): number | NotApplicable | Promise<number | NotApplicable>;
  /** The pass/fail verdict of one output, for rubrics that have one (pass^k over the repeats). */
  verdict?(output: T): boolean;
  /** The judge's reason, as shown in reports. */
  rationale(output: T): string;
}

/** The output every pairwise rubric has: which of the two answers, as shown, is better. */
export interface PairOutput {
  readonly preferred: 'first' | 'second' | 'tie';
  readonly rationale: string;
}

/** What a pairwise rubric judges: one question and two answers, shown as `first` and `second`. */
export interface PairInput {
  readonly question: string;
  readonly conversation: readonly EvalMessage[];
  readonly contexts: readonly string[];
  readonly references: readonly string[];
  readonly first: string;
  readonly second: string;
}

/** A rubric that compares two answers to one question. */
export interface PairRubric {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly instructions: string;
  readonly template: string;
  readonly prompt?: RenderablePrompt;
  readonly outputSchema: z.ZodMiniType<PairOutput>;
  payload(input: PairInput): Record<string, unknown>;
}
