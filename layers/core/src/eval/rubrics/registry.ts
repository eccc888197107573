/**
 * The judge rubrics as prompts of the prompt registry. Each judge metric's rubric is a prompt
 * (`judge-faithfulness`, `judge-answer-relevance`, ..., `judge-pairwise`) whose version 1 is the
 * built-in text below, labelled `production` by the seed; a run resolves each metric's rubric by
 * reference (`judge-<metric>@production` unless the request names another), checks that the version can
 * be a rubric's prompt ({@link checkRubricPrompt}) and judges with it ({@link withPrompt}). The version
 * travels with every score as the rubric's `name:version`, and human calibration is kept per version,
 * so a new version starts uncalibrated.
 */
import { JUDGE_RUBRIC_METRICS, type JudgeRubricMetric } from '#contracts/evaluation/run.ts';
import type { PromptDraft } from '#contracts/prompts/types.ts';
import { ValidationError } from '../../errors.ts';
import { parsePromptRef } from '../../prompts/reference.ts';
import type { RenderablePrompt } from '../../prompts/template.ts';
import { ANSWER_RELEVANCE_RUBRIC } from './answer-relevance.ts';
import { FAITHFULNESS_RUBRIC } from './faithfulness.ts';
import { HALLUCINATION_RUBRIC } from './hallucination.ts';
import { PAIRWISE_RUBRIC } from './pairwise.ts';
import { SENTIMENT_RUBRIC } from './sentiment.ts';
import { TOXICITY_RUBRIC } from './toxicity.ts';
import type { PairRubric, Rubric } from './types.ts';

/** The label a run resolves a rubric by unless told otherwise; the seed puts it on version 1. */
export const RUBRIC_LABEL = 'production';
/** The variable of a rubric prompt that receives what the judge assesses, as JSON. */
export const RUBRIC_INPUT_VARIABLE = 'input';

/** A rubric's prompt as a run resolved it: a registry version, as the judge renders it. */
export type RubricPrompt = RenderablePrompt;
/** The rubric prompts a run resolved, by judge metric. */
export type RubricPrompts = Readonly<Partial<Record<string, RubricPrompt>>>;

/** The built-in rubric of each judge metric: its output schema, scoring and seed text. */
const BUILT_IN: { readonly [M in JudgeRubricMetric]: Rubric | PairRubric } = {
  faithfulness: FAITHFULNESS_RUBRIC,
  answer_relevance: ANSWER_RELEVANCE_RUBRIC,
  hallucination: HALLUCINATION_RUBRIC,
  toxicity: TOXICITY_RUBRIC,
  sentiment: SENTIMENT_RUBRIC,
  preference: PAIRWISE_RUBRIC,
};

/** Whether a metric is judged with a rubric of the registry. */
export function isRubricMetric(metric: string): metric is JudgeRubricMetric {
  return (JUDGE_RUBRIC_METRICS as readonly string[]).includes(metric);
}

/** The registry prompt of a metric's rubric (`judge-faithfulness`). */
export function rubricPromptName(metric: JudgeRubricMetric): string {
  return parsePromptRef(BUILT_IN[metric].version).name;
}

/** The reference a run resolves a metric's rubric by unless told otherwise: `judge-faithfulness@production`. */
export function defaultRubricRef(metric: JudgeRubricMetric): string {
  return `${rubricPromptName(metric)}@${RUBRIC_LABEL}`;
}

/** A rubric's built-in text as a prompt-registry draft: what the seed stores as version 1. */
export function rubricPromptDraft(
  rubric: Pick<Rubric, 'version' | 'instructions' | 'template'>,
): PromptDraft {
  return {
    messages: [
      { role: 'system', content: rubric.instructions },
      { role: 'user', content: rubric.template },
    ],
    variables: {
      [RUBRIC_INPUT_VARIABLE]: {
        type: 'json',
        description: 'What the judge assesses, as the rubric shows it',
      },
    },
    model: { temperature: 0 },
    commitMessage: `Built-in judge rubric ${rubric.version}`,
  };
}

/** What seeds the registry: each judge metric's rubric prompt, with its built-in text. */
export function rubricSeeds(): {
  readonly metric: JudgeRubricMetric;
  readonly name: string;
  readonly draft: PromptDraft;
}[] {
  return JUDGE_RUBRIC_METRICS.map((metric) => ({
    metric,
    name: rubricPromptName(metric),
    draft: rubricPromptDraft(BUILT_IN[metric]),
  }));
}

/**
 * Checks that a registry version can be a rubric's prompt: it declares `input` as a `json` variable
 * (the judge's payload), every other variable is optional (the judge fills only `input`), and it has
 * a user turn to ask the judge with.
 * @throws ValidationError on `field`, naming the version and what it lacks
 */
export function checkRubricPrompt(prompt: RubricPrompt, field: string): void {
  const ref = `${prompt.name}:${prompt.version}`;
  const input = prompt.variables[RUBRIC_INPUT_VARIABLE];
  if (input?.type !== 'json') {
    throw new ValidationError(
      field,
      `${ref} cannot be a judge rubric: it must declare the variable "${RUBRIC_INPUT_VARIABLE}" of type json, which receives what the judge assesses`,
    );
  }
  for (const [name, spec] of Object.entries(prompt.variables)) {
    if (name !== RUBRIC_INPUT_VARIABLE && spec.required !== false) {
      throw new ValidationError(
        field,
        `${ref} cannot be a judge rubric: it requires the variable "${name}", which a judge does not fill (make it optional, or use {{ ${RUBRIC_INPUT_VARIABLE} }})`,
      );
    }
  }
  if (!prompt.messages.some((m) => m.role === 'user')) {
    throw new ValidationError(
      field,
      `${ref} cannot be a judge rubric: it has no user message to ask the judge with`,
    );
  }
}

/**
 * A rubric that judges with a registry version: the rubric's output schema and scoring, the version's
 * messages, and the version's `name:version` as the rubric version every score records.
 */
export function withPrompt<R extends Rubric | PairRubric>(rubric: R, prompt: RubricPrompt): R {
  return { ...rubric, version: `${prompt.name}:${prompt.version}`, prompt };
}

/** The rubric a run judges a single-answer metric with: its resolved version, else the built-in one. */
export function rubricFor(metric: string, prompts?: RubricPrompts): Rubric | undefined {
  if (!isRubricMetric(metric) || metric === 'preference') return undefined;
  const rubric = BUILT_IN[metric] as Rubric;
  const prompt = prompts?.[metric];
  return prompt === undefined ? rubric : withPrompt(rubric, prompt);
}

/** The pairwise rubric a run judges with: its resolved version, else the built-in one. */
export function pairRubricFor(prompts?: RubricPrompts): PairRubric {
  const prompt = prompts?.preference;
  return prompt === undefined ? PAIRWISE_RUBRIC : withPrompt(PAIRWISE_RUBRIC, prompt);
}

/** The rubric version (`name:version`) a run judges a metric with; undefined for a metric without a rubric. */
export function rubricVersionFor(metric: string, prompts?: RubricPrompts): string | undefined {
  const prompt = prompts?.[metric];
  if (prompt !== undefined) return `${prompt.name}:${prompt.version}`;
  return isRubricMetric(metric) ? BUILT_IN[metric].version : undefined;
}
