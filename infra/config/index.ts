/**
 * The configuration of the CDK app: `loadConfig(app)` picks the profile (`-c profile=dev|prod`, default
 * dev), applies the context overrides and validates the result against the one schema, failing synthesis
 * with a `ConfigError` that names each bad context key or configuration field and the rule it broke.
 *
 * - `schema.ts`: the shape and rules; the types (`AppConfig`) are inferred from it
 * - `profiles.ts`: dev, and prod as dev plus overrides (`merge.ts`: the typed deep merge)
 * - `bedrock-catalog.ts`: the model catalog seed of both profiles
 * - `context.ts`: the `-c key=value` overrides
 * - `slices.ts`: the part of the configuration each construct takes
 */
import type { z } from 'zod';
import { ConfigError } from '#core/errors.ts';
import { parseContext } from './context.ts';
import { withOverrides } from './merge.ts';
import { PROFILE_CONFIGS } from './profiles.ts';
import { type AppConfig, appConfigSchema, type ProfileConfig } from './schema.ts';

export { ConfigError } from '#core/errors.ts';
export { CONTEXT_KEYS } from './context.ts';
export type { Overrides } from './merge.ts';
export { PROFILE_CONFIGS } from './profiles.ts';
export {
  type AppConfig,
  CHAT_FUNCTION_TIMEOUT_SECONDS,
  GUARDRAIL_CONTENT_FILTERS,
  GUARDRAIL_PII_ENTITIES,
  type GuardrailContentFilter,
  type GuardrailPiiEntity,
  type GuardrailStrength,
  MAX_CATALOG_SEED_BYTES,
  PROFILES,
  type Profile,
  type ProfileConfig,
  VECTOR_STORES,
  type VectorStoreKind,
} from './schema.ts';
export {
  type DeploymentConfig,
  deploymentOf,
  type EventBusConfig,
  type StorageConfig,
  storageOf,
} from './slices.ts';

function formatIssues(issues: readonly z.core.$ZodIssue[], describe: (path: string) => string): string[] {
  return issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.');
    return `${describe(path.replace(/\.\[/g, '['))}: ${issue.message}`;
  });
}

function configError(problems: readonly string[]): ConfigError {
  return new ConfigError(`Invalid LLMOps configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
    problems,
  });
}

function parse(candidate: ProfileConfig | AppConfig): AppConfig {
  const checked = appConfigSchema.safeParse(candidate);
  if (!checked.success) {
    throw configError(
      formatIssues(checked.error.issues, (key) => `config "${key}" (profile ${String(candidate.profile)})`),
    );
  }
  return checked.data;
}

/**
 * Loads and validates the configuration: the profile's settings, with the context overrides applied.
 *
 * @param source an App (or any construct) whose context is read, or a plain record of context values
 * @throws ConfigError naming each bad context key or configuration field
 */
export function loadConfig(source: Parameters<typeof parseContext>[0]): AppConfig {
  const context = parseContext(source);
  if (!context.success) {
    throw configError(formatIssues(context.issues, (key) => `context key "${key}"`));
  }
  const { profile, overrides } = context.data;
  return parse(withOverrides(PROFILE_CONFIGS[profile], ...overrides));
}

/**
 * Validates a whole configuration (what {@link loadConfig} builds from a profile and context).
 *
 * @returns the configuration, unchanged
 * @throws ConfigError naming each bad field
 */
export function validateConfig(candidate: AppConfig): AppConfig {
  parse(candidate);
  return candidate;
}
