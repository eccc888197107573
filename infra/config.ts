/**
 * One typed, validated configuration for the whole CDK app.
 *
 * The profile (`dev` by default, or `prod`) is chosen with `-c profile=dev|prod`. A few values can be
 * overridden from context (`alertEmails`, `alertHttpsEndpoints`, `comprehendPii`, `dataPrepPartSizeMiB`,
 * `apiApps`, `guardrail`, `interactionSampleRate`, `vectorStore`); everything else is decided by the profile so that a
 * deploy is reproducible from the profile name alone.
 *
 * Every value is validated with Zod; a bad value fails synthesis with an error that names the context
 * key (or the configuration field) and the rule it broke.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { z } from 'zod';
import { type CatalogModel, catalogModel } from '#contracts/models/catalog.ts';

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
  apiApps: 'apiApps',
  guardrail: 'guardrail',
  interactionSampleRate: 'interactionSampleRate',
  vectorStore: 'vectorStore',
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

/** One app that calls the API: it gets its own API key and usage plan. */
export interface ApiAppConfig {
  /** App name (lowercase letters, digits and `-`), reported as `app` in metrics and interaction records. */
  readonly name: string;
  /** Steady-state requests per second allowed to the app's key. */
  readonly rateLimit: number;
  /** Burst of requests allowed to the app's key. */
  readonly burstLimit: number;
  /** Requests per day allowed to the app's key. */
  readonly quotaPerDay: number;
}

/** The HTTPS API (API Gateway REST API). */
export interface ApiConfig {
  /** One API key and usage plan per app. */
  readonly apps: readonly ApiAppConfig[];
  /** Put an AWS WAF web ACL in front of the stage (managed rule groups, per-IP rate limit, body size). */
  readonly waf: boolean;
  /** Requests per 5 minutes from one IP address above which WAF blocks that address (when `waf`). */
  readonly wafIpRateLimit: number;
  /** Largest request body accepted, in bytes (checked by the handlers, and by WAF when on). */
  readonly maxRequestBytes: number;
  /** Stage-wide throttling: all apps together never exceed it. */
  readonly throttling: { readonly rateLimit: number; readonly burstLimit: number };
}

/** The model gateway: catalog seed and call settings. */
export interface ModelsConfig {
  /** Catalog seed, written to the catalog table at cold start (entries already there are kept). */
  readonly catalog: readonly CatalogModel[];
  /** Catalog id of the default embedding model (must be in the catalog, kind `embedding`). */
  readonly embeddingModelId: string;
  /** Budget of one chat call (model call included), in milliseconds. */
  readonly chatTimeoutMs: number;
  /** How long the handlers cache prompt versions and labels, in seconds (0: no cache). */
  readonly promptCacheTtlSeconds: number;
}

/** Bedrock guardrail filter strength. */
export type GuardrailStrength = 'NONE' | 'LOW' | 'MEDIUM' | 'HIGH';
/** The harmful-content categories of a Bedrock guardrail's content policy (prompt attacks apart). */
export const GUARDRAIL_CONTENT_FILTERS = ['SEXUAL', 'VIOLENCE', 'HATE', 'INSULTS', 'MISCONDUCT'] as const;
export type GuardrailContentFilter = (typeof GUARDRAIL_CONTENT_FILTERS)[number];
/** PII entity types a Bedrock guardrail detects. */
export const GUARDRAIL_PII_ENTITIES = [
  'ADDRESS',
  'AGE',
  'AWS_ACCESS_KEY',
  'AWS_SECRET_KEY',
  'CA_HEALTH_NUMBER',
  'CA_SOCIAL_INSURANCE_NUMBER',
  'CREDIT_DEBIT_CARD_CVV',
  'CREDIT_DEBIT_CARD_EXPIRY',
  'CREDIT_DEBIT_CARD_NUMBER',
  'DRIVER_ID',
  'EMAIL',
  'INTERNATIONAL_BANK_ACCOUNT_NUMBER',
  'IP_ADDRESS',
  'LICENSE_PLATE',
  'MAC_ADDRESS',
  'NAME',
  'PASSWORD',
  'PHONE',
  'PIN',
  'SWIFT_CODE',
  'UK_NATIONAL_HEALTH_SERVICE_NUMBER',
  'UK_NATIONAL_INSURANCE_NUMBER',
  'UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER',
  'URL',
  'USERNAME',
  'US_BANK_ACCOUNT_NUMBER',
  'US_BANK_ROUTING_NUMBER',
  'US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER',
  'US_PASSPORT_NUMBER',
  'US_SOCIAL_SECURITY_NUMBER',
  'VEHICLE_IDENTIFICATION_NUMBER',
] as const;
export type GuardrailPiiEntity = (typeof GUARDRAIL_PII_ENTITIES)[number];

/** The Bedrock guardrail applied to every Bedrock chat call. */
export interface GuardrailConfig {
  /** Create the guardrail and apply it (`-c guardrail=false` turns it off). */
  readonly enabled: boolean;
  /** Input and output strength of each harmful-content filter. */
  readonly contentFilters: Readonly<
    Record<GuardrailContentFilter, { readonly input: GuardrailStrength; readonly output: GuardrailStrength }>
  >;
  /** Input strength of the prompt-attack (jailbreak, prompt injection) filter; it never applies to outputs. */
  readonly promptAttack: GuardrailStrength;
  /** PII masked with a placeholder (`{EMAIL}`) in inputs and outputs. */
  readonly piiAnonymize: readonly GuardrailPiiEntity[];
  /** PII that blocks the call (secrets that must never reach a model or leave it). */
  readonly piiBlock: readonly GuardrailPiiEntity[];
  /** Contextual grounding: answers less grounded in the retrieved sources than this are blocked. */
  readonly groundingThreshold: number;
  /** Contextual grounding: answers less relevant to the question than this are blocked. */
  readonly relevanceThreshold: number;
}

/** The inference log: every interaction, delivered to S3 through Firehose. */
export interface InteractionsConfig {
  /** Share of calls whose (PII-redacted) payload is recorded; metadata is always recorded. */
  readonly payloadSampleRate: number;
  /** Days after which interaction records expire. */
  readonly retentionDays: number;
  /** Firehose buffering: deliver at least this often, in seconds (0 to 900). */
  readonly bufferingIntervalSeconds: number;
  /** Firehose buffering: deliver when this much has arrived, in MiB (1 to 128). */
  readonly bufferingSizeMiB: number;
}

/** Where RAG chunks and their embeddings are stored. */
export const VECTOR_STORES = ['opensearch', 's3vectors'] as const;
export type VectorStoreKind = (typeof VECTOR_STORES)[number];

/** RAG: ingestion (chunk, embed, index) and retrieval. */
export interface RagConfig {
  /**
   * `opensearch`: an OpenSearch Serverless VECTORSEARCH collection (kNN + BM25 hybrid), reached only from
   * the project's VPC; it bills for capacity every hour, even idle. `s3vectors`: an Amazon S3 Vectors
   * index (kNN with metadata filters, no keyword search), billed per request and per GB stored.
   */
  readonly vectorStore: VectorStoreKind;
  /** OpenSearch Serverless standby replicas (prod: on, for availability; dev: off, half the idle OCUs). */
  readonly standbyReplicas: boolean;
  /** Largest chunk, in o200k tokens. */
  readonly chunkMaxTokens: number;
  /** Tokens repeated from the end of one chunk at the start of the next. */
  readonly chunkOverlapTokens: number;
  /** Texts per embedding request. */
  readonly embedBatchSize: number;
  /** Embedding requests in flight at once, per document. */
  readonly embedConcurrency: number;
  /** Documents ingested at once (inline Map). */
  readonly maxConcurrency: number;
  /** Largest document accepted, in bytes (larger uploads fail with a reason). */
  readonly maxDocumentBytes: number;
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
  readonly api: ApiConfig;
  readonly models: ModelsConfig;
  readonly guardrail: GuardrailConfig;
  readonly interactions: InteractionsConfig;
  readonly rag: RagConfig;
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

/** Timeout of the chat function, in seconds: the regional API Gateway idle timeout of a stream. */
export const CHAT_FUNCTION_TIMEOUT_SECONDS = 300;
/** Headroom left in the chat function after {@link ModelsConfig.chatTimeoutMs}, to answer and record. */
const CHAT_HEADROOM_MS = 15_000;
/** Lambda allows 4 KiB of environment per function; the catalog seed travels in one variable. */
export const MAX_CATALOG_SEED_BYTES = 2_560;

const US_REGIONS = ['us-east-1', 'us-east-2', 'us-west-2'];

/**
 * The catalog seed: Bedrock models through US cross-region inference profiles (`us.`), priced at the
 * on-demand US rates (USD per 1,000 tokens). The offline model is not listed: the local runner forces
 * the offline provider itself.
 */
const BEDROCK_CATALOG: readonly CatalogModel[] = [
  {
    id: 'nova-micro',
    provider: 'bedrock',
    modelId: 'us.amazon.nova-micro-v1:0',
    kind: 'chat',
    contextWindow: 128_000,
    maxOutputTokens: 10_000,
    pricePer1kInputUsd: 0.000035,
    pricePer1kOutputUsd: 0.00014,
    features: ['streaming', 'toolUse', 'systemPrompt'],
    regions: US_REGIONS,
    status: 'active',
  },
  {
    id: 'nova-lite',
    provider: 'bedrock',
    modelId: 'us.amazon.nova-lite-v1:0',
    kind: 'chat',
    contextWindow: 300_000,
    maxOutputTokens: 10_000,
    pricePer1kInputUsd: 0.00006,
    pricePer1kOutputUsd: 0.00024,
    features: ['streaming', 'toolUse', 'systemPrompt'],
    regions: US_REGIONS,
    status: 'active',
  },
  {
    id: 'nova-pro',
    provider: 'bedrock',
    modelId: 'us.amazon.nova-pro-v1:0',
    kind: 'chat',
    contextWindow: 300_000,
    maxOutputTokens: 10_000,
    pricePer1kInputUsd: 0.0008,
    pricePer1kOutputUsd: 0.0032,
    features: ['streaming', 'toolUse', 'systemPrompt'],
    regions: US_REGIONS,
    status: 'active',
  },
  {
    id: 'claude-haiku-4-5',
    provider: 'bedrock',
    modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
    kind: 'chat',
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    pricePer1kInputUsd: 0.001,
    pricePer1kOutputUsd: 0.005,
    features: ['streaming', 'toolUse', 'systemPrompt'],
    regions: US_REGIONS,
    status: 'active',
  },
  {
    id: 'claude-sonnet-4-5',
    provider: 'bedrock',
    modelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
    kind: 'chat',
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    pricePer1kInputUsd: 0.003,
    pricePer1kOutputUsd: 0.015,
    features: ['streaming', 'toolUse', 'systemPrompt'],
    regions: US_REGIONS,
    status: 'active',
  },
  {
    id: 'llama-3-3-70b',
    provider: 'bedrock',
    modelId: 'us.meta.llama3-3-70b-instruct-v1:0',
    kind: 'chat',
    contextWindow: 128_000,
    maxOutputTokens: 8_192,
    pricePer1kInputUsd: 0.00072,
    pricePer1kOutputUsd: 0.00072,
    features: ['streaming', 'systemPrompt'],
    regions: US_REGIONS,
    status: 'active',
  },
  {
    id: 'titan-embed-text-v2',
    provider: 'bedrock',
    modelId: 'amazon.titan-embed-text-v2:0',
    kind: 'embedding',
    contextWindow: 8_192,
    maxOutputTokens: 0,
    dimensions: 1024,
    pricePer1kInputUsd: 0.00002,
    pricePer1kOutputUsd: 0,
    features: [],
    regions: US_REGIONS,
    status: 'active',
  },
];

/** Shared by both profiles: what the guardrail filters does not depend on where it runs. */
const GUARDRAIL_DEFAULTS: GuardrailConfig = {
  enabled: true,
  contentFilters: {
    SEXUAL: { input: 'HIGH', output: 'HIGH' },
    VIOLENCE: { input: 'MEDIUM', output: 'MEDIUM' },
    HATE: { input: 'HIGH', output: 'HIGH' },
    INSULTS: { input: 'MEDIUM', output: 'MEDIUM' },
    MISCONDUCT: { input: 'MEDIUM', output: 'MEDIUM' },
  },
  promptAttack: 'HIGH',
  piiAnonymize: ['EMAIL', 'PHONE', 'NAME', 'US_SOCIAL_SECURITY_NUMBER', 'CREDIT_DEBIT_CARD_NUMBER'],
  piiBlock: ['AWS_ACCESS_KEY', 'AWS_SECRET_KEY', 'PASSWORD'],
  groundingThreshold: 0.75,
  relevanceThreshold: 0.5,
};

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
    api: {
      apps: [{ name: 'default', rateLimit: 10, burstLimit: 20, quotaPerDay: 10_000 }],
      waf: false,
      wafIpRateLimit: 1_000,
      maxRequestBytes: 256 * 1024,
      throttling: { rateLimit: 20, burstLimit: 40 },
    },
    models: {
      catalog: BEDROCK_CATALOG,
      embeddingModelId: 'titan-embed-text-v2',
      chatTimeoutMs: 120_000,
      promptCacheTtlSeconds: 30,
    },
    guardrail: GUARDRAIL_DEFAULTS,
    interactions: {
      payloadSampleRate: 1,
      retentionDays: 30,
      bufferingIntervalSeconds: 60,
      bufferingSizeMiB: 5,
    },
    rag: {
      vectorStore: 'opensearch',
      standbyReplicas: false,
      chunkMaxTokens: 512,
      chunkOverlapTokens: 64,
      embedBatchSize: 16,
      embedConcurrency: 4,
      maxConcurrency: 4,
      maxDocumentBytes: 50 * MiB,
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
    api: {
      apps: [{ name: 'default', rateLimit: 50, burstLimit: 100, quotaPerDay: 1_000_000 }],
      waf: true,
      wafIpRateLimit: 3_000,
      maxRequestBytes: 256 * 1024,
      throttling: { rateLimit: 200, burstLimit: 400 },
    },
    models: {
      catalog: BEDROCK_CATALOG,
      embeddingModelId: 'titan-embed-text-v2',
      chatTimeoutMs: 120_000,
      promptCacheTtlSeconds: 300,
    },
    guardrail: GUARDRAIL_DEFAULTS,
    interactions: {
      payloadSampleRate: 0.1,
      retentionDays: 400,
      bufferingIntervalSeconds: 300,
      bufferingSizeMiB: 64,
    },
    rag: {
      vectorStore: 'opensearch',
      standbyReplicas: true,
      chunkMaxTokens: 512,
      chunkOverlapTokens: 64,
      embedBatchSize: 16,
      embedConcurrency: 4,
      maxConcurrency: 10,
      maxDocumentBytes: 50 * MiB,
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

/** App names become construct ids, output names and metric dimensions. */
const APP_NAME = /^[a-z][a-z0-9-]{0,31}$/;

const apiAppSchema = z.strictObject({
  name: z.string().regex(APP_NAME, 'must be 1-32 lowercase letters, digits or "-", starting with a letter'),
  rateLimit: z.number().positive().max(10_000),
  burstLimit: z.number().int().positive().max(5_000),
  quotaPerDay: z.number().int().positive(),
});

/** `apiApps`: a JSON array (a string, as `-c apiApps='[...]'` gives) or an array. */
const contextApiApps = z
  .union([z.string(), z.array(z.unknown())])
  .optional()
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
  .pipe(z.array(apiAppSchema).min(1, 'must name at least one app').optional());

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
  [CONTEXT_KEYS.apiApps]: contextApiApps,
  [CONTEXT_KEYS.guardrail]: contextBoolean,
  [CONTEXT_KEYS.interactionSampleRate]: z.coerce
    .number({ error: (iss) => `expected a number from 0 to 1${got(iss.input)}` })
    .min(0, 'expected a number from 0 to 1')
    .max(1, 'expected a number from 0 to 1')
    .optional(),
  [CONTEXT_KEYS.vectorStore]: z
    .enum(VECTOR_STORES, { error: (iss) => `expected one of ${VECTOR_STORES.join(', ')}${got(iss.input)}` })
    .optional(),
});

const RETENTION_VALUES = new Set<number>(
  Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number'),
);

const positiveInt = z.number().int().positive();
const removalPolicy = z.enum(RemovalPolicy);
const strength = z.enum(['NONE', 'LOW', 'MEDIUM', 'HIGH']);
const piiEntity = z.enum(GUARDRAIL_PII_ENTITIES);

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
    api: z.object({
      apps: z.array(apiAppSchema).min(1, 'must name at least one app'),
      waf: z.boolean(),
      wafIpRateLimit: positiveInt.min(10, 'must be at least 10 (the WAF minimum)'),
      maxRequestBytes: positiveInt
        .min(1024, 'must be at least 1024 bytes')
        .max(10 * MiB, 'must be at most 10 MiB (the API Gateway payload limit)'),
      throttling: z.object({ rateLimit: z.number().positive(), burstLimit: positiveInt }),
    }),
    models: z.object({
      // Each entry is checked against the core catalog schema below, with the path of the bad field.
      catalog: z.array(z.unknown()).min(1, 'must list at least one model'),
      embeddingModelId: z.string().min(1),
      chatTimeoutMs: positiveInt
        .min(1000, 'must be at least 1000 ms')
        .max(
          CHAT_FUNCTION_TIMEOUT_SECONDS * 1000 - CHAT_HEADROOM_MS,
          `must leave ${CHAT_HEADROOM_MS / 1000} s of the chat function's ${CHAT_FUNCTION_TIMEOUT_SECONDS} s timeout`,
        ),
      promptCacheTtlSeconds: z.number().int().min(0).max(3600),
    }),
    guardrail: z.object({
      enabled: z.boolean(),
      contentFilters: z.object(
        Object.fromEntries(
          GUARDRAIL_CONTENT_FILTERS.map((f) => [f, z.object({ input: strength, output: strength })]),
        ) as Record<GuardrailContentFilter, z.ZodObject<{ input: typeof strength; output: typeof strength }>>,
      ),
      promptAttack: strength,
      piiAnonymize: z.array(piiEntity),
      piiBlock: z.array(piiEntity),
      // Bedrock accepts grounding and relevance thresholds from 0 to 0.99.
      groundingThreshold: z.number().min(0).max(0.99),
      relevanceThreshold: z.number().min(0).max(0.99),
    }),
    interactions: z.object({
      payloadSampleRate: z.number().min(0).max(1),
      retentionDays: positiveInt,
      bufferingIntervalSeconds: z.number().int().min(0).max(900),
      bufferingSizeMiB: positiveInt.max(128),
    }),
    rag: z.object({
      vectorStore: z.enum(VECTOR_STORES),
      standbyReplicas: z.boolean(),
      chunkMaxTokens: positiveInt.min(32).max(8_000),
      chunkOverlapTokens: z.number().int().min(0),
      embedBatchSize: positiveInt.max(96),
      embedConcurrency: positiveInt.max(16),
      maxConcurrency: positiveInt.max(40),
      maxDocumentBytes: positiveInt.max(512 * MiB),
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
    if (c.rag.chunkOverlapTokens >= c.rag.chunkMaxTokens / 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['rag', 'chunkOverlapTokens'],
        message: 'must be less than half of rag.chunkMaxTokens',
      });
    }
    if (c.profile === 'prod' && c.removal.data !== RemovalPolicy.RETAIN) {
      ctx.addIssue({ code: 'custom', path: ['removal', 'data'], message: 'must be RETAIN in prod' });
    }
    checkApi(c.api, ctx);
    checkCatalog(c.models, ctx);
    const blocked = new Set(c.guardrail.piiBlock);
    for (const [i, entity] of c.guardrail.piiAnonymize.entries()) {
      if (blocked.has(entity)) {
        ctx.addIssue({
          code: 'custom',
          path: ['guardrail', 'piiAnonymize', i],
          message: `${entity} is also in guardrail.piiBlock: an entity is either anonymized or blocked`,
        });
      }
    }
  });

type Issues = z.core.$RefinementCtx;

function checkApi(api: ApiConfig, ctx: Issues): void {
  const seen = new Set<string>();
  for (const [i, app] of api.apps.entries()) {
    if (seen.has(app.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['api', 'apps', i, 'name'],
        message: `duplicate app "${app.name}"`,
      });
    }
    seen.add(app.name);
    if (app.rateLimit > api.throttling.rateLimit) {
      ctx.addIssue({
        code: 'custom',
        path: ['api', 'apps', i, 'rateLimit'],
        message: `must not exceed the stage rate limit api.throttling.rateLimit (${api.throttling.rateLimit})`,
      });
    }
    if (app.burstLimit > api.throttling.burstLimit) {
      ctx.addIssue({
        code: 'custom',
        path: ['api', 'apps', i, 'burstLimit'],
        message: `must not exceed the stage burst limit api.throttling.burstLimit (${api.throttling.burstLimit})`,
      });
    }
  }
}

function checkCatalog(models: { catalog: readonly unknown[]; embeddingModelId: string }, ctx: Issues): void {
  const ids = new Set<string>();
  const valid: CatalogModel[] = [];
  for (const [i, entry] of models.catalog.entries()) {
    const parsed = catalogModel.safeParse(entry);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', 'catalog', i, ...issue.path],
          message: issue.message,
        });
      }
      continue;
    }
    const model = parsed.data;
    valid.push(model);
    if (model.provider === 'offline') {
      ctx.addIssue({
        code: 'custom',
        path: ['models', 'catalog', i, 'provider'],
        message: 'must not be "offline": the local runner forces the offline provider itself',
      });
    }
    if (ids.has(model.id)) {
      ctx.addIssue({
        code: 'custom',
        path: ['models', 'catalog', i, 'id'],
        message: `duplicate id "${model.id}"`,
      });
    }
    ids.add(model.id);
    if (model.kind === 'embedding' && model.dimensions === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['models', 'catalog', i, 'dimensions'],
        message: 'is required for an embedding model',
      });
    }
  }
  const embedding = valid.find((m) => m.id === models.embeddingModelId);
  if (embedding?.kind !== 'embedding') {
    ctx.addIssue({
      code: 'custom',
      path: ['models', 'embeddingModelId'],
      message: `must be the id of an embedding model of models.catalog, got "${models.embeddingModelId}"`,
    });
  }
  const seedBytes = Buffer.byteLength(JSON.stringify(models.catalog));
  if (seedBytes > MAX_CATALOG_SEED_BYTES) {
    ctx.addIssue({
      code: 'custom',
      path: ['models', 'catalog'],
      message: `is ${seedBytes} bytes as JSON; at most ${MAX_CATALOG_SEED_BYTES} fit in the CATALOG_SEED variable (add models at runtime with PUT /v1/models/{id})`,
    });
  }
}

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
    api: { ...defaults.api, apps: ctx.apiApps ?? defaults.api.apps },
    guardrail: { ...defaults.guardrail, enabled: ctx.guardrail ?? defaults.guardrail.enabled },
    interactions: {
      ...defaults.interactions,
      payloadSampleRate: ctx.interactionSampleRate ?? defaults.interactions.payloadSampleRate,
    },
    rag: { ...defaults.rag, vectorStore: ctx.vectorStore ?? defaults.rag.vectorStore },
  };
  return validateConfig(candidate);
}

/**
 * Validates a whole configuration (what {@link loadConfig} builds from a profile and context).
 *
 * @returns the configuration, unchanged
 * @throws ConfigError naming each bad field
 */
export function validateConfig(candidate: LlmOpsConfig): LlmOpsConfig {
  const checked = ConfigSchema.safeParse(candidate);
  if (!checked.success) {
    throw new ConfigError(
      formatIssues(checked.error.issues, (key) => `config "${key}" (profile ${candidate.profile})`),
    );
  }
  return candidate;
}
