import * as z from 'zod/mini';

/** Prompt names: lowercase, URL-safe, so they travel in paths and references unescaped. */
export const PROMPT_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Label names (`production`, `staging`, anything else); `latest` is maintained by the registry. */
export const LABEL_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
/** Variable names as they appear between `{{` and `}}`. */
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export const promptName = z.string().check(z.regex(PROMPT_NAME, 'must match ^[a-z0-9][a-z0-9_-]{0,63}$'));
export const labelName = z.string().check(z.regex(LABEL_NAME, 'must match ^[a-z][a-z0-9_-]{0,31}$'));

export const promptMessage = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().check(z.minLength(1), z.maxLength(100_000)),
});
export type PromptMessage = z.infer<typeof promptMessage>;

export const variableSpec = z.object({
  type: z.enum(['string', 'number', 'boolean', 'json']),
  /** @default true */
  required: z.optional(z.boolean()),
  description: z.optional(z.string().check(z.maxLength(500))),
});
export type VariableSpec = z.infer<typeof variableSpec>;

export const promptModelParams = z.object({
  /** Catalog model id. */
  id: z.optional(z.string().check(z.minLength(1))),
  temperature: z.optional(z.number().check(z.gte(0), z.lte(1))),
  maxTokens: z.optional(z.number().check(z.int(), z.positive())),
});
export type PromptModelParams = z.infer<typeof promptModelParams>;

/** What a caller sends to create a version (`POST /v1/prompts/{name}/versions`). */
export const promptDraft = z.object({
  messages: z.array(promptMessage).check(z.minLength(1), z.maxLength(50)),
  variables: z.record(
    z.string().check(z.regex(VARIABLE_NAME, 'must be a valid variable name')),
    variableSpec,
  ),
  model: z.optional(promptModelParams),
  commitMessage: z.string().check(z.minLength(1), z.maxLength(500)),
});
export type PromptDraft = z.infer<typeof promptDraft>;

/** An immutable stored version. */
export interface PromptVersion extends PromptDraft {
  readonly name: string;
  readonly version: number;
  /** The caller's identity: API key's app, or the IAM principal for admin writes. */
  readonly author: string;
  readonly createdAt: string;
  /** SHA-256 of the canonical JSON of messages, variables and model. */
  readonly contentHash: string;
  /** Labels pointing at this version when it was read (`latest` included). */
  readonly labels: readonly string[];
}

/** A parsed `prompt` reference: `name`, `name@label` or `name:version`. */
export type PromptRef =
  | { readonly name: string; readonly label: string }
  | { readonly name: string; readonly version: number };
