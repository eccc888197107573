/**
 * CDK context (`-c key=value`, `cdk.json`) that may change a profile's settings: which profile, where
 * alerts go, and a few switches. Each key has one row: its parser (CLI context is always a string) and
 * the settings it overrides. Every key is validated, and all bad keys are reported at once, each named.
 */
import { Construct } from 'constructs';
import { z } from 'zod';
import type { Overrides } from './merge.ts';
import { apiAppSchema, PROFILES, type ProfileConfig, VECTOR_STORES } from './schema.ts';

/** The context keys read by `loadConfig`. */
export const CONTEXT_KEYS = {
  profile: 'profile',
  alertEmails: 'alertEmails',
  alertHttpsEndpoints: 'alertHttpsEndpoints',
  comprehendPii: 'comprehendPii',
  partSizeMiB: 'dataPrepPartSizeMiB',
  apiApps: 'apiApps',
  guardrail: 'guardrail',
  fineTuning: 'fineTuning',
  interactionSampleRate: 'interactionSampleRate',
  vectorStore: 'vectorStore',
  chatReservedConcurrency: 'chatReservedConcurrency',
  closedLoop: 'closedLoop',
} as const;

const MiB = 1024 * 1024;

/** ", got <value>" for error messages. */
const got = (input: unknown): string => (input === undefined ? '' : `, got ${JSON.stringify(input)}`);

/** A comma-separated context string (as `-c key=a,b` gives) or an array of strings. */
const csvList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0));

/** A boolean, or the strings `true` / `false` (context from the CLI is always a string). */
const contextBoolean = z
  .union([z.boolean(), z.enum(['true', 'false'])], {
    error: (iss) => `expected true or false${got(iss.input)}`,
  })
  .transform((v) => v === true || v === 'true');

/** `apiApps`: a JSON array (a string, as `-c apiApps='[...]'` gives) or an array. */
const contextApiApps = z
  .union([z.string(), z.array(z.unknown())])
  .transform((v, ctx) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: 'must be a JSON array of {"name","rateLimit","burstLimit","quotaPerDay"}',
      });
      return z.NEVER;
    }
  })
  .pipe(z.array(apiAppSchema).min(1, 'must name at least one app'));

const sampleRate = z.coerce
  .number({ error: (iss) => `expected a number from 0 to 1${got(iss.input)}` })
  .min(0, 'expected a number from 0 to 1')
  .max(1, 'expected a number from 0 to 1');

/** One context key: how its value is parsed, and which settings it overrides. */
interface ContextOverride<S extends z.ZodType> {
  readonly schema: S;
  readonly apply: (value: z.output<S>) => Overrides<ProfileConfig>;
}

const override = <S extends z.ZodType>(
  schema: S,
  apply: (value: z.output<S>) => Overrides<ProfileConfig>,
): ContextOverride<S> => ({ schema, apply });

/** Every context key but `profile`, and what it overrides. */
const OVERRIDES = {
  [CONTEXT_KEYS.alertEmails]: override(
    csvList.pipe(z.array(z.email({ error: (iss) => `not a valid e-mail address${got(iss.input)}` }))),
    (emails) => ({ alerts: { emails } }),
  ),
  [CONTEXT_KEYS.alertHttpsEndpoints]: override(
    csvList.pipe(
      z.array(z.url({ protocol: /^https$/, error: (iss) => `must be an https:// URL${got(iss.input)}` })),
    ),
    (httpsEndpoints) => ({ alerts: { httpsEndpoints } }),
  ),
  [CONTEXT_KEYS.comprehendPii]: override(contextBoolean, (comprehendPii) => ({
    dataPrep: { comprehendPii },
  })),
  [CONTEXT_KEYS.partSizeMiB]: override(
    z.coerce
      .number({ error: (iss) => `expected a whole number of MiB${got(iss.input)}` })
      .int({ error: 'expected a whole number of MiB' }),
    (mib) => ({ dataPrep: { partSizeBytes: mib * MiB } }),
  ),
  [CONTEXT_KEYS.apiApps]: override(contextApiApps, (apps) => ({ api: { apps } })),
  [CONTEXT_KEYS.guardrail]: override(contextBoolean, (enabled) => ({ guardrail: { enabled } })),
  [CONTEXT_KEYS.fineTuning]: override(contextBoolean, (enabled) => ({ fineTuning: { enabled } })),
  // `act`, `recommend` (page with the proposed rollback only) or `off` (no closed loop).
  [CONTEXT_KEYS.closedLoop]: override(
    z.enum(['act', 'recommend', 'off'], {
      error: (iss) => `expected act, recommend or off${got(iss.input)}`,
    }),
    (mode) => ({ closedLoop: mode === 'off' ? { enabled: false } : { enabled: true, mode } }),
  ),
  [CONTEXT_KEYS.interactionSampleRate]: override(sampleRate, (payloadSampleRate) => ({
    interactions: { payloadSampleRate },
  })),
  [CONTEXT_KEYS.vectorStore]: override(
    z.enum(VECTOR_STORES, { error: (iss) => `expected one of ${VECTOR_STORES.join(', ')}${got(iss.input)}` }),
    (vectorStore) => ({ rag: { vectorStore } }),
  ),
  // 1 to 900, the most an account with the default quota of 1000 concurrent executions can reserve.
  [CONTEXT_KEYS.chatReservedConcurrency]: override(
    z.coerce
      .number({ error: (iss) => `expected a whole number of concurrent executions${got(iss.input)}` })
      .int({ error: 'expected a whole number of concurrent executions' }),
    (chatReservedConcurrency) => ({ models: { chatReservedConcurrency } }),
  ),
} as const;

const profileKey = z
  .enum(PROFILES, { error: (iss) => `expected one of ${PROFILES.join(', ')}${got(iss.input)}` })
  .default('dev');

const ContextSchema = z.object({
  [CONTEXT_KEYS.profile]: profileKey,
  ...(Object.fromEntries(Object.entries(OVERRIDES).map(([key, o]) => [key, o.schema.optional()])) as {
    [K in keyof typeof OVERRIDES]: z.ZodOptional<(typeof OVERRIDES)[K]['schema']>;
  }),
});

/** The context values that are set (unset, `null` and `''` are left out). */
function readContext(source: Construct | Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.values(CONTEXT_KEYS)) {
    const value = Construct.isConstruct(source) ? source.node.tryGetContext(key) : source[key];
    if (value !== undefined && value !== null && value !== '') out[key] = value;
  }
  return out;
}

/** What the context asks for: a profile and the settings to override in it. */
export interface ContextSettings {
  readonly profile: (typeof PROFILES)[number];
  readonly overrides: readonly Overrides<ProfileConfig>[];
}

/**
 * Reads and validates the context.
 *
 * @returns the profile and the overrides, or the issues (paths start with the context key)
 */
export function parseContext(
  source: Construct | Record<string, unknown>,
): { success: true; data: ContextSettings } | { success: false; issues: readonly z.core.$ZodIssue[] } {
  const parsed = ContextSchema.safeParse(readContext(source));
  if (!parsed.success) return { success: false, issues: parsed.error.issues };
  const overrides: Overrides<ProfileConfig>[] = [];
  for (const [key, o] of Object.entries(OVERRIDES) as [
    keyof typeof OVERRIDES,
    ContextOverride<z.ZodType>,
  ][]) {
    const value = parsed.data[key];
    if (value !== undefined) overrides.push(o.apply(value));
  }
  return { success: true, data: { profile: parsed.data.profile, overrides } };
}
