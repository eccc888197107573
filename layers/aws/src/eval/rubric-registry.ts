/**
 * The judge rubrics in the prompt registry, on AWS: seeding each rubric's prompt (its built-in text as
 * version 1, labelled `production`) at cold start, as the model catalog is seeded, and resolving the
 * rubrics a run judges with to the versions their references point at when the run starts.
 *
 * The seed writes only with conditions (`PromptRegistry.seed`): a prompt that already has its
 * `production` label is not touched, so an administrator's new version and label move survive every
 * later seed. A new rubric text is published as a new version (`POST /v1/prompts/{name}/versions`) and
 * takes effect when `production` moves to it (`PUT /v1/prompts/{name}/labels/production`).
 */
import * as z from 'zod/mini';
import type { EvaluationRubrics, JudgeRubricMetric } from '#contracts/evaluation/run.ts';
import {
  checkRubricPrompt,
  defaultRubricRef,
  RUBRIC_LABEL,
  type RubricPrompt,
  rubricSeeds,
} from '#core/eval/rubrics/registry.ts';
import { parsePromptRef } from '#core/prompts/reference.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { logger, metrics } from '../observability.ts';
import type { PromptRegistry } from '../prompt-registry.ts';

/** Who the seeded versions and label moves are recorded as. */
export const RUBRIC_SEED_AUTHOR = 'rubric-seed';

/** What the seed did to one rubric prompt. */
export interface RubricSeedOutcome {
  readonly name: string;
  readonly created: boolean;
  readonly labelled: boolean;
}

/** Seeds every judge rubric's prompt (conditional writes only; see the top of this module). */
export async function seedRubrics(registry: Pick<PromptRegistry, 'seed'>): Promise<RubricSeedOutcome[]> {
  return Promise.all(
    rubricSeeds().map(async ({ name, draft }) => ({
      name,
      ...(await registry.seed(name, draft, RUBRIC_SEED_AUTHOR, RUBRIC_LABEL)),
    })),
  );
}

/**
 * Seeds the rubric prompts once per process (a cold start): concurrent callers share one seeding; a
 * failed one is logged and counted (`RubricSeedFailures`) and tried again by the next call, and the
 * run goes on with what the registry holds (a rubric that does not resolve fails its run, by name).
 */
export function seedRubricsOnce(registry: Pick<PromptRegistry, 'seed'>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    const pending =
      done ??
      seedRubrics(registry)
        .then((outcomes) => {
          const written = outcomes.filter((o) => o.created || o.labelled).map((o) => o.name);
          if (written.length > 0) logger.info('Seeded judge rubric prompts', { written });
        })
        .catch((error: unknown) => {
          done = undefined;
          logger.warn('Judge rubric seeding failed; resolving from what the registry holds', { error });
          metrics.addMetric('RubricSeedFailures', 'Count', 1);
        });
    done = pending;
    return pending;
  };
}

/**
 * The rubric prompt of each judge metric, resolved when a run starts: the request's reference, else
 * `judge-<metric>@production`, read from the registry (a label resolves to the version it points at)
 * and checked to be usable as a rubric.
 * @throws ValidationError on `request.rubrics.<metric>` for a reference that does not resolve or a
 *   version that cannot be a rubric's prompt
 */
export async function resolveRubrics(
  registry: Pick<PromptRegistry, 'get'>,
  judged: readonly JudgeRubricMetric[],
  refs: EvaluationRubrics = {},
): Promise<Record<string, RubricPrompt>> {
  const resolved: Record<string, RubricPrompt> = {};
  for (const metric of [...new Set(judged)]) {
    const field = `request.rubrics.${metric}`;
    const ref = refs[metric] ?? defaultRubricRef(metric);
    let version: Awaited<ReturnType<PromptRegistry['get']>>;
    try {
      version = await registry.get(parsePromptRef(ref, field));
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new ValidationError(field, `the rubric ${ref} does not resolve: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
    const prompt: RubricPrompt = {
      name: version.name,
      version: version.version,
      messages: version.messages,
      variables: version.variables,
      contentHash: version.contentHash,
    };
    checkRubricPrompt(prompt, field);
    resolved[metric] = prompt;
  }
  return resolved;
}

/** The `name:version` of each resolved rubric, by metric: what the run record shows. */
export function rubricVersions(rubrics: Readonly<Record<string, RubricPrompt>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(rubrics).map(([metric, prompt]) => [metric, `${prompt.name}:${prompt.version}`]),
  );
}

/** The resolved rubric prompts as a plan stages them for the later steps (by metric). */
export const stagedRubrics = z.record(
  z.string(),
  z.object({
    name: z.string(),
    version: z.int().check(z.positive()),
    messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })),
    variables: z.record(
      z.string(),
      z.object({
        type: z.enum(['string', 'number', 'boolean', 'json']),
        required: z.optional(z.boolean()),
        description: z.optional(z.string()),
      }),
    ),
    contentHash: z.string(),
  }),
);
