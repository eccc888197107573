import * as z from 'zod/mini';
import { finetuneRecipe, hyperparameters } from '#contracts/finetune/job.ts';
import { catalogModelId } from '#contracts/models/catalog.ts';
import { parseJsonVariable } from '../config.ts';
import { ConfigError } from '../errors.ts';

/**
 * `FINETUNE_SETTINGS`: the slice of the profile's `fineTuning` settings that the fine-tuning functions
 * read (JSON, built by the stack at synthesis and parsed once at cold start with `parseJsonVariable`).
 * The stack builds it from `FineTuningConfig`:
 * `{servedModel, baseModel, recipes, hyperparameters, gate: {suite, maxItems, k, approval}, spot: training.spot}`.
 */
export const finetuneSettings = z.strictObject({
  /** The catalog id apps call for the fine-tuned model line. */
  servedModel: catalogModelId,
  baseModel: z.strictObject({
    catalogId: catalogModelId,
    hfModelId: z.string().check(z.minLength(1)),
    contextWindow: z.int().check(z.positive()),
    maxOutputTokens: z.int().check(z.positive()),
  }),
  recipes: z.strictObject({ finetune: finetuneRecipe, preference: finetuneRecipe }),
  hyperparameters,
  gate: z.strictObject({
    suite: z.string().check(z.regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be a suite name')),
    maxItems: z.int().check(z.positive(), z.lte(2000)),
    k: z.int().check(z.positive(), z.lte(5)),
    approval: z.enum(['auto', 'manual']),
  }),
  /** Managed spot training (the job record says whether its training ran on spot). */
  spot: z.boolean(),
  /** Answers for the endpoint's models while their component has no copy (scale to zero); absent: a 503. */
  fallbackModel: z.optional(catalogModelId),
});
export type FinetuneSettings = z.infer<typeof finetuneSettings>;

/** The name of the variable, for `parseJsonVariable` and the stack. */
export const FINETUNE_SETTINGS_VARIABLE = 'FINETUNE_SETTINGS';

/** `FINETUNE_SETTINGS` parsed and checked (at cold start). @throws ConfigError naming what is wrong */
export function readFinetuneSettings(raw: string): FinetuneSettings {
  return parseJsonVariable(FINETUNE_SETTINGS_VARIABLE, finetuneSettings, raw);
}

/**
 * `INVOKE_TAG` (`key=value`): the tag that lets this deployment's gateway call an inference component
 * (`aws:ResourceTag/<key>` in its policy), set on each candidate component.
 */
export function parseInvokeTag(raw: string): { Key: string; Value: string } {
  const at = raw.indexOf('=');
  if (at <= 0 || at === raw.length - 1) {
    throw new ConfigError(`INVOKE_TAG must be "key=value" (got ${JSON.stringify(raw)})`);
  }
  return { Key: raw.slice(0, at), Value: raw.slice(at + 1) };
}
