/**
 * One typed, validated configuration for the whole CDK app.
 *
 * The profile (`dev` by default, or `prod`) is chosen with `-c profile=dev|prod`. A few values can be
 * overridden from context (`alertEmails`, `alertHttpsEndpoints`, `comprehendPii`, `dataPrepPartSizeMiB`); everything else is
 * decided by the profile so that a deploy is reproducible from the profile name alone.
 *
 * Every value is validated with Zod; a bad value fails synthesis with an error that names the context
 * key (or the configuration field) and the rule it broke.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { z } from 'zod';

/** The deployment profiles this app knows. */
export const PROFILES = ['dev', 'prod'] as const;
export type Profile = (typeof PROFILES)[number];

/** The context keys read by {@link loadConfig}. */
export const CONTEXT_KEYS = {
  profile: 'profile',
  alertEmails: 'alertEmails',
  alertHttpsEndpoints: 'alertHttpsEndpoints',
  comprehendPii: 'comprehendPii',
  partSizeMiB: 'dataPrepPartSizeMiB',
} as const;

/** How resources that hold data behave on `cdk destroy`. The RAW bucket is RETAIN in every profile. */
export interface RemovalConfig {
  /** Removal policy of curated/artifacts buckets and DynamoDB tables. */
  readonly data: RemovalPolicy;
  /** Removal policy of log groups. */
  readonly logs: RemovalPolicy;
  /** Whether buckets with `data: DESTROY` are emptied on delete (CDK auto-delete custom resource). */
  readonly autoDeleteObjects: boolean;
  /** DynamoDB point-in-time recovery. */
  readonly pointInTimeRecovery: boolean;
  /** DynamoDB deletion protection. */
  readonly deletionProtection: boolean;
}

/** Where pages go. */
export interface AlertsConfig {
  /** E-mail addresses subscribed to the paging topic. */
  readonly emails: readonly string[];
  /** HTTPS endpoints (e.g. an incident tool's webhook) subscribed to the paging topic. */
  readonly httpsEndpoints: readonly string[];
}

/** Data preparation pipeline settings. */
export interface DataPrepConfig {
  /** Size of one part of a raw upload processed by one ProcessPart invocation. */
  readonly partSizeBytes: number;
  /** Upper bound on the number of parts of one upload. */
  readonly maxParts: number;
  /** Map state concurrency (parts processed at once). */
  readonly maxConcurrency: number;
  /** Records larger than this are quarantined. */
  readonly maxRecordBytes: number;
  /** Share of records put in the validation split. */
  readonly validationRatio: number;
  /** Jaccard similarity at or above which two records are near duplicates. */
  readonly nearDuplicateThreshold: number;
  /** Use Amazon Comprehend DetectPiiEntities on top of the built-in regex redaction. */
  readonly comprehendPii: boolean;
  /** Memory of the ProcessPart function, in MB. */
  readonly processMemoryMb: number;
  /**
   * Memory of the Finalize function, which holds the cross-file dedupe index (about 300 bytes per unique
   * record): 2048 MB is enough for about 5 million unique records per upload, 4096 MB for about 12 million.
   */
  readonly finalizeMemoryMb: number;
}

/** Observability settings. */
export interface ObservabilityConfig {
  /** Powertools log level of every function. */
  readonly powertoolsLogLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** Step Functions execution log level. */
  readonly stateMachineLogLevel: 'ALL' | 'ERROR';
  /** Whether Step Functions logs include execution input/output (may hold user data). */
  readonly stateMachineIncludeExecutionData: boolean;
}

/** The configuration of one deployment of the LLMOps stack. */
export interface LlmOpsConfig {
  readonly profile: Profile;
  /** CloudFormation stack name, e.g. `LlmOps-dev`. */
  readonly stackName: string;
  /** Retention of every log group, in days (a value CloudWatch Logs accepts). */
  readonly logRetentionDays: number;
  /** {@link logRetentionDays} as the CDK enum. */
  readonly logRetention: logs.RetentionDays;
  readonly removal: RemovalConfig;
  /** Days after which S3 server access logs expire. */
  readonly accessLogExpirationDays: number;
  readonly alerts: AlertsConfig;
  readonly dataPrep: DataPrepConfig;
  /** Retention of the project event bus archive, in days. */
  readonly eventArchiveRetentionDays: number;
  /** Days after which objects under `staging/` in the artifacts bucket expire. */
  readonly stagingExpirationDays: number;
  readonly observability: ObservabilityConfig;
}

/** Thrown when the configuration is invalid; the message names every bad key. */
export class ConfigError extends Error {
  /** One line per problem, each starting with the key it is about. */
  public readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid LLMOps configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const MiB = 1024 * 1024;

const PROFILE_DEFAULTS: Record<Profile, Omit<LlmOpsConfig, 'alerts' | 'logRetention'>> = {
  dev: {
    profile: 'dev',
    stackName: 'LlmOps-dev',
    logRetentionDays: 14,
    removal: {
      data: RemovalPolicy.DESTROY,
      logs: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
      pointInTimeRecovery: false,
      deletionProtection: false,
    },
    accessLogExpirationDays: 30,
    dataPrep: {
      partSizeBytes: 64 * MiB,
      maxParts: 256,
      maxConcurrency: 4,
      maxRecordBytes: 1 * MiB,
      validationRatio: 0.1,
      nearDuplicateThreshold: 0.8,
      comprehendPii: false,
      processMemoryMb: 1024,
      finalizeMemoryMb: 2048,
    },
    eventArchiveRetentionDays: 7,
    stagingExpirationDays: 7,
    observability: {
      powertoolsLogLevel: 'INFO',
      stateMachineLogLevel: 'ALL',
      stateMachineIncludeExecutionData: true,
    },
  },
  prod: {
    profile: 'prod',
    stackName: 'LlmOps-prod',
    logRetentionDays: 365,
    removal: {
      data: RemovalPolicy.RETAIN,
      logs: RemovalPolicy.RETAIN,
      autoDeleteObjects: false,
      pointInTimeRecovery: true,
      deletionProtection: true,
    },
    accessLogExpirationDays: 90,
    dataPrep: {
      partSizeBytes: 64 * MiB,
      maxParts: 256,
      maxConcurrency: 16,
      maxRecordBytes: 1 * MiB,
      validationRatio: 0.1,
      nearDuplicateThreshold: 0.8,
      comprehendPii: false,
      processMemoryMb: 2048,
      finalizeMemoryMb: 4096,
    },
    eventArchiveRetentionDays: 90,
    stagingExpirationDays: 7,
    observability: {
      powertoolsLogLevel: 'INFO',
      stateMachineLogLevel: 'ERROR',
      stateMachineIncludeExecutionData: false,
    },
  },
};

/** ", got <value>" for error messages. */
const got = (input: unknown): string => (input === undefined ? '' : `, got ${JSON.stringify(input)}`);

/** A comma-separated context string (as `-c key=a,b` gives) or an array of strings. */
const csvList = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) =>
    (v === undefined ? [] : Array.isArray(v) ? v : v.split(','))
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

/** A boolean, or the strings `true` / `false` (context from the CLI is always a string). */
const contextBoolean = z
  .union([z.boolean(), z.enum(['true', 'false'])], {
    error: (iss) => `expected true or false${got(iss.input)}`,
  })
  .optional()
  .transform((v) => (v === undefined ? undefined : v === true || v === 'true'));

const ContextSchema = z.object({
  [CONTEXT_KEYS.profile]: z
    .enum(PROFILES, { error: (iss) => `expected one of ${PROFILES.join(', ')}${got(iss.input)}` })
    .default('dev'),
  [CONTEXT_KEYS.alertEmails]: csvList.pipe(
    z.array(z.email({ error: (iss) => `not a valid e-mail address${got(iss.input)}` })),
  ),
  [CONTEXT_KEYS.alertHttpsEndpoints]: csvList.pipe(
    z.array(z.url({ protocol: /^https$/, error: (iss) => `must be an https:// URL${got(iss.input)}` })),
  ),
  [CONTEXT_KEYS.comprehendPii]: contextBoolean,
  [CONTEXT_KEYS.partSizeMiB]: z.coerce
    .number({ error: (iss) => `expected a whole number of MiB${got(iss.input)}` })
    .int({ error: 'expected a whole number of MiB' })
    .optional(),
});

const RETENTION_VALUES = new Set<number>(
  Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number'),
);

const positiveInt = z.number().int().positive();
const removalPolicy = z.enum(RemovalPolicy);

const ConfigSchema = z
  .object({
    profile: z.enum(PROFILES),
    stackName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be a valid CloudFormation stack name'),
    logRetentionDays: positiveInt.refine((d) => RETENTION_VALUES.has(d), {
      message: `must be one of the retention periods CloudWatch Logs accepts (${[...RETENTION_VALUES].join(', ')})`,
    }),
    logRetention: z.number(),
    removal: z.object({
      data: removalPolicy,
      logs: removalPolicy,
      autoDeleteObjects: z.boolean(),
      pointInTimeRecovery: z.boolean(),
      deletionProtection: z.boolean(),
    }),
    accessLogExpirationDays: positiveInt,
    alerts: z.object({ emails: z.array(z.email()), httpsEndpoints: z.array(z.url({ protocol: /^https$/ })) }),
    dataPrep: z.object({
      partSizeBytes: positiveInt.min(5 * MiB, 'must be at least 5 MiB (the S3 multipart minimum)'),
      maxParts: positiveInt.max(10_000, 'must be at most 10000 (the S3 multipart maximum)'),
      maxConcurrency: positiveInt.max(40, 'must be at most 40 (inline Map limit)'),
      maxRecordBytes: positiveInt,
      validationRatio: z.number().gt(0).lt(1),
      nearDuplicateThreshold: z.number().gt(0).max(1),
      comprehendPii: z.boolean(),
      processMemoryMb: positiveInt.min(128).max(10_240),
      finalizeMemoryMb: positiveInt.min(128).max(10_240),
    }),
    eventArchiveRetentionDays: positiveInt,
    stagingExpirationDays: positiveInt,
    observability: z.object({
      powertoolsLogLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']),
      stateMachineLogLevel: z.enum(['ALL', 'ERROR']),
      stateMachineIncludeExecutionData: z.boolean(),
    }),
  })
  .superRefine((c, ctx) => {
    if (c.dataPrep.maxRecordBytes >= c.dataPrep.partSizeBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['dataPrep', 'maxRecordBytes'],
        message: 'must be smaller than dataPrep.partSizeBytes',
      });
    }
    if (c.profile === 'prod' && c.removal.data !== RemovalPolicy.RETAIN) {
      ctx.addIssue({ code: 'custom', path: ['removal', 'data'], message: 'must be RETAIN in prod' });
    }
  });

function formatIssues(issues: readonly z.core.$ZodIssue[], describe: (path: string) => string): string[] {
  return issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.');
    return `${describe(path.replace(/\.\[/g, '['))}: ${issue.message}`;
  });
}

function readContext(source: Construct | Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.values(CONTEXT_KEYS)) {
    const value = Construct.isConstruct(source) ? source.node.tryGetContext(key) : source[key];
    if (value !== undefined && value !== null && value !== '') out[key] = value;
  }
  return out;
}

/**
 * Loads and validates the configuration.
 *
 * @param source an App (or any construct) whose context is read, or a plain record of context values
 * @throws ConfigError naming each bad key
 */
export function loadConfig(source: Construct | Record<string, unknown>): LlmOpsConfig {
  const context = ContextSchema.safeParse(readContext(source));
  if (!context.success) {
    throw new ConfigError(formatIssues(context.error.issues, (key) => `context key "${key}"`));
  }
  const ctx = context.data;
  const defaults = PROFILE_DEFAULTS[ctx.profile];
  const candidate: LlmOpsConfig = {
    ...defaults,
    logRetention: defaults.logRetentionDays as logs.RetentionDays,
    alerts: { emails: ctx.alertEmails, httpsEndpoints: ctx.alertHttpsEndpoints },
    dataPrep: {
      ...defaults.dataPrep,
      comprehendPii: ctx.comprehendPii ?? defaults.dataPrep.comprehendPii,
      partSizeBytes:
        ctx.dataPrepPartSizeMiB !== undefined
          ? ctx.dataPrepPartSizeMiB * MiB
          : defaults.dataPrep.partSizeBytes,
    },
  };
  const checked = ConfigSchema.safeParse(candidate);
  if (!checked.success) {
    throw new ConfigError(
      formatIssues(checked.error.issues, (key) => `config "${key}" (profile ${ctx.profile})`),
    );
  }
  return candidate;
}
