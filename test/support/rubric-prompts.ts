import type { PromptRef, PromptVersion } from '#contracts/prompts/types.ts';
import { NotFoundError } from '#core/errors.ts';
import { rubricSeeds } from '#core/eval/rubrics/index.ts';
import { contentHash } from '#core/prompts/hash.ts';

/**
 * A prompt registry holding only the seeded judge rubrics (each at version 1, labelled `production`
 * and `latest`), for tests of the Evaluate steps that resolve rubrics and nothing else.
 */
export function seededRubricPrompts(): { get(ref: PromptRef): Promise<PromptVersion> } {
  const versions = rubricSeeds().map(
    ({ name, draft }): PromptVersion => ({
      ...draft,
      name,
      version: 1,
      author: 'rubric-seed',
      createdAt: '2026-11-26T00:00:00.000Z',
      contentHash: contentHash(draft),
      labels: ['latest', 'production'],
    }),
  );
  return { get: async (ref) => findPrompt(versions, ref) };
}

/** The version of `versions` that `ref` names (its number, or the label it carries), as the registry finds it. */
export function findPrompt(versions: readonly PromptVersion[], ref: PromptRef): PromptVersion {
  const found = versions.find(
    (v) =>
      v.name === ref.name && ('version' in ref ? v.version === ref.version : v.labels.includes(ref.label)),
  );
  if (found === undefined) throw new NotFoundError(`Prompt ${ref.name} has no such version or label`);
  return found;
}
