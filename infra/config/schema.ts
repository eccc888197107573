/**
 * The shape and the rules of the app's configuration, slice by slice, in one Zod schema: the types are
 * inferred from it (`AppConfig`), never written twice. A rule that ties two fields of one slice together
 * sits on that slice (`dataPrep.maxRecordBytes < dataPrep.partSizeBytes`), so that every error names the
 * field it is about.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { DRIFT_SIGNALS } from '#contracts/drift/baseline.ts';
import { EVAL_PROMPT_REF, JUDGE_RUBRIC_METRICS } from '#contracts/evaluation/run.ts';
import { ACCESS_PATTERN, DENY_ALL } from '#contracts/http/access.ts';
import { catalogModel } from '#contracts/models/catalog.ts';
import { driftAlarmPolicy } from '#core/drift/alarm-policy.ts';
import { fineTuningSchema } from './finetune.ts';

/** The deployment profiles this app knows. */
export const PROFILES = ['dev', 'prod'] as const;
export type Profile = (typeof PROFILES)[number];

/** Where RAG chunks and their embeddings are stored. */
export const VECTOR_STORES = ['opensearch', 's3vectors'] as const;
export type VectorStoreKind = (typeof VECTOR_STORES)[number];

/** Longest timeout of the chat function, in seconds: the regional API Gateway idle timeout of a stream. */
export const CHAT_FUNCTION_TIMEOUT_SECONDS = 300;
/** Headroom left in the chat function after `models.chatTimeoutMs`, to answer and record. */
const CHAT_HEADROOM_MS = 15_000;
/**
 * Timeout of the chat function, in seconds, for an answer deadline of `chatTimeoutMs`: the deadline plus
 * the headroom to end the stream with an error event and record the call, so that Lambda never cuts a
 * stream short without a word.
 */
export function chatFunctionTimeoutSeconds(chatTimeoutMs: number): number {
  return Math.ceil((chatTimeoutMs + CHAT_HEADROOM_MS) / 1000);
}
/**
 * Most concurrency a profile may reserve for the chat function: Lambda refuses a reservation that leaves
 * fewer than 100 unreserved executions in the account, an account's default concurrency is 1000, and the
 * closed loop's function reserves one ({@link LOOP_RESERVED_CONCURRENCY}).
 */
export const MAX_CHAT_RESERVED_CONCURRENCY = 899;
/** The closed loop decides one event at a time: its function reserves exactly one execution. */
export const LOOP_RESERVED_CONCURRENCY = 1;
/** Lambda allows 4 KiB of environment per function; the catalog seed travels in one variable. */
export const MAX_CATALOG_SEED_BYTES = 2_560;
/**
 * What `CATALOG_SEED` and `APP_ACCESS` (every app's access, as JSON) may take together in the chat
 * function's 4 KiB environment, where the other variables take about 1.2 KiB; each app beyond the first
 * also adds its key id to `APP_KEYS` ({@link APP_KEY_ENTRY_BYTES}).
 */
export const MAX_SEED_AND_ACCESS_BYTES = 2_800;
/** What one more app adds to `APP_KEYS`, counted against {@link MAX_SEED_AND_ACCESS_BYTES}. */
export const APP_KEY_ENTRY_BYTES = 96;

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

const MiB = 1024 * 1024;

const RETENTION_VALUES = new Set<number>(
  Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number'),
);

const positiveInt = z.number().int().positive();

/** An IAM role or user ARN (what `aws:PrincipalArn` holds for a role session or a user). */
const ADMIN_PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/;

/** App names become construct ids, output names and metric dimensions. */
const APP_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** A name pattern of an app's access: `*` matches any run of characters. */
const accessPatterns = (what: string) =>
  z
    .array(
      z
        .string({ error: `must be a ${what} pattern (a string)` })
        .regex(
          ACCESS_PATTERN,
          'must be 1-200 printable characters without spaces ("*" matches any run of them)',
        ),
      { error: `must be a list of ${what} patterns, e.g. ["*"] for all or [] for none` },
    )
    .max(100, 'must list at most 100 patterns');

/**
 * What an app may use (the API functions get every app's as `APP_ACCESS`, see
 * `contracts/http/access.ts`): prompts, models and RAG collections by name pattern (`*` matches any
 * run of characters: `support-*`, `nova-*`, `dataset:*`; `["*"]` all, `[]` none), chat without a
 * prompt, and a daily token budget.
 */
export const appAccessSchema = z.strictObject({
  /** Prompt names the app may read and chat through. */
  prompts: accessPatterns('prompt name'),
  /** Catalog model ids the app may list, pick and call. */
  models: accessPatterns('catalog model id'),
  /** RAG collections (`upload`, `dataset:<name>`) the app's searches may return. */
  collections: accessPatterns('RAG collection'),
  /** Whether the app may chat without a prompt reference, with its own system prompt and messages. */
  rawChat: z.boolean({ error: 'must be true or false' }),
  /** Tenant ids (`x-tenant-id`) the app may act for; absent: any tenant. */
  tenants: accessPatterns('tenant id').optional(),
  /** Input and output tokens of its chat calls per UTC day; `null`: no limit. */
  tokensPerDay: z
    .number({ error: 'must be a whole number of tokens per UTC day, or null for no limit' })
    .int('must be a whole number of tokens per UTC day, or null for no limit')
    .min(0, 'must be at least 0')
    .nullable(),
});

/** One app that calls the API: it gets its own API key and usage plan. */
export const apiAppSchema = z.strictObject({
  /** App name (lowercase letters, digits and `-`), reported as `app` in metrics and interaction records. */
  name: z.string().regex(APP_NAME, 'must be 1-32 lowercase letters, digits or "-", starting with a letter'),
  /** Steady-state requests per second allowed to the app's key. */
  rateLimit: z.number().positive().max(10_000),
  /** Burst of requests allowed to the app's key. */
  burstLimit: positiveInt.max(5_000),
  /** Requests per day allowed to the app's key. */
  quotaPerDay: positiveInt,
  /**
   * What the app may use.
   *
   * @default - nothing: every prompt, model, collection and chat call is refused (403) until it is set
   */
  access: appAccessSchema.optional(),
  /**
   * US dollars of model calls a day above which an alarm pages (`OpsMonitoring`): it refuses nothing
   * (`access.tokensPerDay` does). Not part of `access`, so it takes no room in `APP_ACCESS`.
   *
   * @default - no budget alarm for the app
   */
  dailyCostBudgetUsd: z
    .number({ error: 'must be a number of US dollars a day' })
    .positive('must be greater than 0 US dollars a day')
    .max(1_000_000)
    .optional(),
});

/** How resources that hold data behave on `cdk destroy`. The RAW bucket is RETAIN in every profile. */
const removalSchema = z.object({
  /** Removal policy of curated/artifacts buckets, DynamoDB tables and the vector store. */
  data: z.enum(RemovalPolicy),
  /** Removal policy of log groups. */
  logs: z.enum(RemovalPolicy),
  /** Whether buckets with `data: DESTROY` are emptied on delete (CDK auto-delete custom resource). */
  autoDeleteObjects: z.boolean(),
  /** DynamoDB point-in-time recovery. */
  pointInTimeRecovery: z.boolean(),
  /** DynamoDB deletion protection. */
  deletionProtection: z.boolean(),
});

/** Where pages go. */
const alertsSchema = z.object({
  /** E-mail addresses subscribed to the paging topic. */
  emails: z.array(z.email()),
  /** HTTPS endpoints (e.g. an incident tool's webhook) subscribed to the paging topic. */
  httpsEndpoints: z.array(z.url({ protocol: /^https$/ })),
});

/** The data preparation pipeline. */
const dataPrepSchema = z
  .object({
    /** Size of one part of a raw upload processed by one ProcessPart invocation. */
    partSizeBytes: positiveInt.min(5 * MiB, 'must be at least 5 MiB (the S3 multipart minimum)'),
    /**
     * Upper bound on the number of parts of one upload; beyond `maxParts × partSizeBytes` bytes the parts
     * grow instead. Each part is a child execution of the Distributed Map, its result a line of the Map
     * Run's result files and its staged file one that Finalize merges in order.
     */
    maxParts: positiveInt.max(
      10_000,
      'must be at most 10000 (each part is a child execution, and Finalize merges every one in order)',
    ),
    /** Parts processed at once (child executions of the Distributed Map). */
    maxConcurrency: positiveInt.max(10_000, 'must be at most 10000 (the Distributed Map limit)'),
    /** Records larger than this are quarantined. */
    maxRecordBytes: positiveInt,
    /** Share of records put in the validation split. */
    validationRatio: z.number().gt(0).lt(1),
    /** Jaccard similarity at or above which two records are near duplicates. */
    nearDuplicateThreshold: z.number().gt(0).max(1),
    /** Use Amazon Comprehend DetectPiiEntities on top of the built-in regex redaction. */
    comprehendPii: z.boolean(),
    /** Memory of the ProcessPart function, in MB. */
    processMemoryMb: positiveInt.min(128).max(10_240),
    /**
     * Memory of the Finalize function, which holds the cross-file dedupe index (about 300 bytes per unique
     * record): 2048 MB is enough for about 5 million unique records per upload, 4096 MB for about 12 million.
     */
    finalizeMemoryMb: positiveInt.min(128).max(10_240),
    /**
     * Days after which the quarantine files (the original bad lines, PII not redacted, under `quarantine/`
     * in the artifacts bucket) expire. Kept short: long enough for an operator to look at a rejected upload.
     */
    quarantineExpirationDays: positiveInt.max(30, 'must be at most 30: quarantine files hold unredacted PII'),
  })
  .superRefine((dp, ctx) => {
    if (dp.maxRecordBytes >= dp.partSizeBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxRecordBytes'],
        message: 'must be smaller than dataPrep.partSizeBytes',
      });
    }
  });

/** Period of the operations anomaly alarms (`OpsMonitoring`), in minutes. */
export const ANOMALY_PERIOD_MINUTES = 5;
/** Most evaluation periods of an alarm: CloudWatch evaluates at most one day of periods. */
const MAX_ANOMALY_EVALUATION_PERIODS = (24 * 60) / ANOMALY_PERIOD_MINUTES;

/**
 * The operations anomaly alarms (`OpsMonitoring`): p99 latency and cost per answer of each catalog chat
 * model, against a CloudWatch anomaly detection band, on {@link ANOMALY_PERIOD_MINUTES}-minute periods.
 */
const anomalySchema = z
  .strictObject({
    /** Width of the band, in standard deviations of the model CloudWatch learns (wider: fewer alarms). */
    band: z.number().gt(0, 'must be greater than 0 (standard deviations)').max(10).default(3),
    /** Periods the alarm looks at. */
    evaluationPeriods: positiveInt.max(
      MAX_ANOMALY_EVALUATION_PERIODS,
      `must be at most ${MAX_ANOMALY_EVALUATION_PERIODS} (one day of ${ANOMALY_PERIOD_MINUTES}-minute periods)`,
    ),
    /** Periods of those above the band that raise the alarm (M of N). */
    datapointsToAlarm: positiveInt,
    /** Whether the alarms page on-call; unpaged, they still show on the dashboard. */
    page: z.boolean(),
  })
  .superRefine((a, ctx) => {
    if (a.datapointsToAlarm > a.evaluationPeriods) {
      ctx.addIssue({
        code: 'custom',
        path: ['datapointsToAlarm'],
        message: `must not exceed evaluationPeriods (${a.evaluationPeriods})`,
      });
    }
  });

/** Logging of the functions and the state machines, and the operations anomaly alarms. */
const observabilitySchema = z.object({
  /** Powertools log level of every function. */
  powertoolsLogLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']),
  /** Step Functions execution log level. */
  stateMachineLogLevel: z.enum(['ALL', 'ERROR']),
  /** Whether Step Functions logs include execution input/output (may hold user data). */
  stateMachineIncludeExecutionData: z.boolean(),
  /** The anomaly alarms on each chat model's p99 latency and cost per answer. */
  anomaly: anomalySchema,
});

/** The HTTPS API (API Gateway REST API). */
const apiSchema = z
  .object({
    /** One API key and usage plan per app. */
    apps: z.array(apiAppSchema).min(1, 'must name at least one app'),
    /** Put an AWS WAF web ACL in front of the stage (managed rule groups, per-IP rate limit, body size). */
    waf: z.boolean(),
    /** Requests per 5 minutes from one IP address above which WAF blocks that address (when `waf`). */
    wafIpRateLimit: positiveInt.min(10, 'must be at least 10 (the WAF minimum)'),
    /** Largest request body accepted, in bytes (checked by the handlers, and by WAF when on). */
    maxRequestBytes: positiveInt
      .min(1024, 'must be at least 1024 bytes')
      .max(10 * MiB, 'must be at most 10 MiB (the API Gateway payload limit)'),
    /** Stage-wide throttling: all apps together never exceed it. */
    throttling: z.object({ rateLimit: z.number().positive(), burstLimit: positiveInt }),
    /**
     * Throttling of the chat routes, whose answers hold a chat function instance for up to
     * `models.chatTimeoutMs`: all apps together (stage method settings), and each app's key (its usage
     * plan, never above the app's own limits).
     */
    chatThrottling: z.object({ rateLimit: z.number().positive(), burstLimit: positiveInt }),
    /**
     * IAM roles and users allowed to call the admin routes (the API's resource policy denies them to
     * every other principal). Empty: the stack creates `AdminRole`, assumable by the account root, and
     * outputs its ARN (`AdminRoleArn`).
     */
    adminPrincipals: z
      .array(
        z
          .string()
          .regex(
            ADMIN_PRINCIPAL_ARN,
            'must be the ARN of an IAM role or user, e.g. arn:aws:iam::123456789012:role/llmops-admin',
          ),
      )
      .default([]),
    /**
     * IAM roles and users allowed to call the reviewer routes (the human review queue, `/v1/reviews`),
     * besides the admin principals; the API's resource policy denies those routes to every other principal.
     * A reviewer's id is the last segment of the signing principal's ARN (an assumed role's session name).
     */
    reviewerPrincipals: z
      .array(
        z
          .string()
          .regex(
            ADMIN_PRINCIPAL_ARN,
            'must be the ARN of an IAM role or user, e.g. arn:aws:iam::123456789012:role/llmops-reviewer',
          ),
      )
      .default([]),
  })
  .superRefine((api, ctx) => {
    const seen = new Set<string>();
    for (const [i, app] of api.apps.entries()) {
      if (seen.has(app.name)) {
        ctx.addIssue({ code: 'custom', path: ['apps', i, 'name'], message: `duplicate app "${app.name}"` });
      }
      seen.add(app.name);
      if (app.rateLimit > api.throttling.rateLimit) {
        ctx.addIssue({
          code: 'custom',
          path: ['apps', i, 'rateLimit'],
          message: `must not exceed the stage rate limit api.throttling.rateLimit (${api.throttling.rateLimit})`,
        });
      }
      if (app.burstLimit > api.throttling.burstLimit) {
        ctx.addIssue({
          code: 'custom',
          path: ['apps', i, 'burstLimit'],
          message: `must not exceed the stage burst limit api.throttling.burstLimit (${api.throttling.burstLimit})`,
        });
      }
    }
    for (const limit of ['rateLimit', 'burstLimit'] as const) {
      if (api.chatThrottling[limit] > api.throttling[limit]) {
        ctx.addIssue({
          code: 'custom',
          path: ['chatThrottling', limit],
          message: `must not exceed the stage limit api.throttling.${limit} (${api.throttling[limit]})`,
        });
      }
    }
  });

/** The model gateway: catalog seed and call settings. */
const modelsSchema = z
  .object({
    /** Catalog seed, written to the catalog table at cold start (entries already there are kept). */
    catalog: z.array(catalogModel).min(1, 'must list at least one model').readonly(),
    /** Catalog id of the default embedding model (must be in the catalog, kind `embedding`). */
    embeddingModelId: z.string().min(1),
    /**
     * Deadline of one chat answer, streamed or not, in milliseconds: retrieval and the model call
     * included. When it passes the model call is cut off and a stream ends with an `error` event
     * (`answer_deadline_exceeded`); the chat function's timeout is this plus headroom.
     */
    chatTimeoutMs: positiveInt
      .min(1000, 'must be at least 1000 ms')
      .max(
        CHAT_FUNCTION_TIMEOUT_SECONDS * 1000 - CHAT_HEADROOM_MS,
        `must leave ${CHAT_HEADROOM_MS / 1000} s of the chat function's ${CHAT_FUNCTION_TIMEOUT_SECONDS} s timeout`,
      ),
    /** How long the handlers cache prompt versions and labels, in seconds (0: no cache). */
    promptCacheTtlSeconds: z.number().int().min(0).max(3600),
    /**
     * Reserved concurrency of the chat function: at most this many answers at once, kept for chat and
     * taken from the account's unreserved pool, so chat can neither starve the other functions nor be
     * starved by them.
     */
    chatReservedConcurrency: positiveInt.max(
      MAX_CHAT_RESERVED_CONCURRENCY,
      `must be at most ${MAX_CHAT_RESERVED_CONCURRENCY}: Lambda keeps 100 of an account's default 1000 concurrent executions unreserved, and the closed loop reserves one`,
    ),
  })
  .superRefine((models, ctx) => {
    const ids = new Set<string>();
    for (const [i, model] of models.catalog.entries()) {
      if (model.provider === 'offline') {
        ctx.addIssue({
          code: 'custom',
          path: ['catalog', i, 'provider'],
          message: 'must not be "offline": the local runner forces the offline provider itself',
        });
      }
      if (ids.has(model.id)) {
        ctx.addIssue({ code: 'custom', path: ['catalog', i, 'id'], message: `duplicate id "${model.id}"` });
      }
      ids.add(model.id);
      if (model.canary !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['catalog', i, 'canary'],
          message: 'must not be set: a canary belongs to the rollout pipeline, not to the seed',
        });
      }
      if (model.kind === 'embedding' && model.dimensions === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['catalog', i, 'dimensions'],
          message: 'is required for an embedding model',
        });
      }
    }
    const embedding = models.catalog.find((m) => m.id === models.embeddingModelId);
    if (embedding?.kind !== 'embedding') {
      ctx.addIssue({
        code: 'custom',
        path: ['embeddingModelId'],
        message: `must be the id of an embedding model of models.catalog, got "${models.embeddingModelId}"`,
      });
    }
    const seedBytes = Buffer.byteLength(JSON.stringify(models.catalog));
    if (seedBytes > MAX_CATALOG_SEED_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['catalog'],
        message: `is ${seedBytes} bytes as JSON; at most ${MAX_CATALOG_SEED_BYTES} fit in the CATALOG_SEED variable (add models at runtime with PUT /v1/models/{id})`,
      });
    }
  });

/** Bedrock guardrail filter strength. */
const strength = z.enum(['NONE', 'LOW', 'MEDIUM', 'HIGH']);
export type GuardrailStrength = z.infer<typeof strength>;
const piiEntity = z.enum(GUARDRAIL_PII_ENTITIES);

/** The Bedrock guardrail applied to every Bedrock chat call. */
const guardrailSchema = z
  .object({
    /** Create the guardrail and apply it (`-c guardrail=false` turns it off). */
    enabled: z.boolean(),
    /** Input and output strength of each harmful-content filter. */
    contentFilters: z.object(
      Object.fromEntries(
        GUARDRAIL_CONTENT_FILTERS.map((f) => [f, z.object({ input: strength, output: strength })]),
      ) as Record<GuardrailContentFilter, z.ZodObject<{ input: typeof strength; output: typeof strength }>>,
    ),
    /** Input strength of the prompt-attack (jailbreak, prompt injection) filter; it never applies to outputs. */
    promptAttack: strength,
    /** PII masked with a placeholder (`{EMAIL}`) in inputs and outputs. */
    piiAnonymize: z.array(piiEntity),
    /** PII that blocks the call (secrets that must never reach a model or leave it). */
    piiBlock: z.array(piiEntity),
    /** Contextual grounding: answers less grounded in the retrieved sources than this are blocked (Bedrock: 0 to 0.99). */
    groundingThreshold: z.number().min(0).max(0.99),
    /** Contextual grounding: answers less relevant to the question than this are blocked (Bedrock: 0 to 0.99). */
    relevanceThreshold: z.number().min(0).max(0.99),
  })
  .superRefine((guardrail, ctx) => {
    const blocked = new Set(guardrail.piiBlock);
    for (const [i, entity] of guardrail.piiAnonymize.entries()) {
      if (blocked.has(entity)) {
        ctx.addIssue({
          code: 'custom',
          path: ['piiAnonymize', i],
          message: `${entity} is also in guardrail.piiBlock: an entity is either anonymized or blocked`,
        });
      }
    }
  });

/** The inference log: every interaction, delivered to S3 through Firehose. */
const interactionsSchema = z.object({
  /** Share of calls whose (PII-redacted) payload is recorded; metadata is always recorded. */
  payloadSampleRate: z.number().min(0).max(1),
  /** Days after which interaction records expire. */
  retentionDays: positiveInt,
  /** Firehose buffering: deliver at least this often, in seconds (0 to 900). */
  bufferingIntervalSeconds: z.number().int().min(0).max(900),
  /** Firehose buffering: deliver when this much has arrived, in MiB (1 to 128). */
  bufferingSizeMiB: positiveInt.max(128),
});

/** RAG: the vector store, ingestion (chunk, embed, index) and retrieval. */
const ragSchema = z
  .object({
    /**
     * `opensearch`: an OpenSearch Serverless VECTORSEARCH collection (kNN + BM25 hybrid), reached only from
     * the project's VPC; it bills for capacity every hour, even idle. `s3vectors`: an Amazon S3 Vectors
     * index (kNN with metadata filters, no keyword search), billed per request and per GB stored.
     */
    vectorStore: z.enum(VECTOR_STORES),
    /** OpenSearch Serverless standby replicas (on: availability across zones, twice the idle OCUs). */
    standbyReplicas: z.boolean(),
    /** Largest chunk, in o200k tokens. */
    chunkMaxTokens: positiveInt.min(32).max(8_000),
    /** Tokens repeated from the end of one chunk at the start of the next. */
    chunkOverlapTokens: z.number().int().min(0),
    /** Texts per embedding request. */
    embedBatchSize: positiveInt.max(96),
    /** Embedding requests in flight at once, per document. */
    embedConcurrency: positiveInt.max(16),
    /** Batches of documents ingested at once (child executions of the Distributed Map). */
    maxConcurrency: positiveInt.max(10_000, 'must be at most 10000 (the Distributed Map limit)'),
    /** Largest document accepted, in bytes (larger uploads fail with a reason). */
    maxDocumentBytes: positiveInt.max(512 * MiB),
  })
  .superRefine((rag, ctx) => {
    if (rag.chunkOverlapTokens >= rag.chunkMaxTokens / 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['chunkOverlapTokens'],
        message: 'must be less than half of rag.chunkMaxTokens',
      });
    }
  });

/** Prompt names and suite names, as the prompt registry and the suite registry spell them. */
const PROMPT_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const SUITE_NAME_RULE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * What an evaluation of production runs, as a schedule and a drift alarm describe it: a suite answered
 * by a prompt (at a label) and/or a model.
 */
const evaluationRunFields = {
  suite: z
    .string()
    .regex(SUITE_NAME_RULE, 'must be a suite name (1-64 lowercase letters, digits, "_" or "-")'),
  /** `name@label`: the version the label points at when the run starts. */
  prompt: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9_-]{0,63}@[a-z][a-z0-9_-]{0,31}$/,
      'must be "name@label", e.g. support-answer@production',
    )
    .optional(),
  model: z.string().min(1).optional(),
  /** Items per run: a seeded sample, the same items every run (so that runs pair up). */
  maxItems: positiveInt.max(2000),
  /** Judge repeats per judged item. */
  k: positiveInt.max(5),
  /** Answer with retrieval (k passages). */
  ragK: positiveInt.max(50).optional(),
};
/** A run names a prompt, a model or both. */
const namesPromptOrModel = (s: { prompt?: string; model?: string }) =>
  s.prompt !== undefined || s.model !== undefined;
const PROMPT_OR_MODEL = { message: 'name a prompt, a model or both', path: ['prompt'] };

/** One scheduled evaluation: a suite answered by a prompt (at a label) and/or a model, on a cron. */
const evaluationScheduleSchema = z
  .object({
    /** Names the schedule (and its runs' `requestedBy`): 1-32 lowercase letters, digits or "-". */
    name: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,31}$/,
        'must be 1-32 lowercase letters, digits or "-", starting with a letter',
      ),
    ...evaluationRunFields,
    /**
     * The rubric version each judge metric of this suite's runs is judged with, by metric (`name@label`
     * or `name:version` in the prompt registry). @default each rubric's `production` label
     */
    rubrics: z
      .partialRecord(
        z.enum(JUDGE_RUBRIC_METRICS),
        z.string().regex(EVAL_PROMPT_REF, 'must be "name@label" or "name:version"'),
      )
      .optional(),
    /** An EventBridge Scheduler expression: `cron(...)` or `rate(...)`, in UTC. */
    expression: z.string().regex(/^(cron|rate)\([^()]{1,200}\)$/, 'must be cron(...) or rate(...)'),
  })
  .refine(namesPromptOrModel, PROMPT_OR_MODEL);

/** Evaluation: the judge, budgets, the gate on prompt promotions, and the scheduled runs. */
const evaluationSchema = z
  .object({
    /** Catalog id of the LLM-as-judge model (a Bedrock chat model of the catalog). */
    judgeModel: z.string().min(1),
    /** Repeats per judged item when a request does not say. */
    judgeRepeats: positiveInt.max(5),
    /** A run whose estimated cost is above this is refused (US dollars), unless its request sets its own. */
    runBudgetUsd: z.number().positive().max(10_000),
    /** Items per Map iteration (answered, then scored, by one function invocation). */
    itemBatchSize: positiveInt.max(100),
    /** Batches answered and scored at once (inline Map). */
    maxConcurrency: positiveInt.max(40),
    /** Toxicity on AWS: Amazon Comprehend DetectToxicContent, or the offline lexicon. */
    toxicity: z.enum(['comprehend', 'offline']),
    /**
     * The suite that gates each prompt's `production` label: prompt name → the suite's name, or
     * `{suite, rag}` for a prompt answered with retrieval (its evaluation answers with those options).
     */
    promotionSuites: z.record(
      z.string().regex(PROMPT_NAME, 'must be a prompt name'),
      z.union([
        z.string().regex(SUITE_NAME_RULE, 'must be a suite name'),
        z.strictObject({
          suite: z.string().regex(SUITE_NAME_RULE, 'must be a suite name'),
          rag: z
            .strictObject({
              k: positiveInt.max(50).optional(),
              hybrid: z.boolean().optional(),
              minScore: z.number().min(0).max(1).optional(),
            })
            .optional(),
        }),
      ]),
    ),
    schedules: z.array(evaluationScheduleSchema),
  })
  .superRefine((e, ctx) => {
    const names = new Set<string>();
    for (const [i, s] of e.schedules.entries()) {
      if (names.has(s.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['schedules', i, 'name'],
          message: `"${s.name}" is used twice`,
        });
      }
      names.add(s.name);
    }
  });

/** What a drift alarm starts: an evaluation of production, as a scheduled one is described. */
const driftEvaluationSchema = z.strictObject(evaluationRunFields).refine(namesPromptOrModel, PROMPT_OR_MODEL);

/** One drift check: a slice of the watched traffic compared with its own baseline. */
const driftCheckSchema = z.strictObject({
  /** Names the check (its metrics' `Check` dimension, its alarms, its baselines). */
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 lowercase letters, digits or "-", starting with a letter'),
  /** Only this app's calls. @default every app's */
  app: z.string().regex(APP_NAME, 'must be an app name').optional(),
  /** Only calls of this prompt (any version). @default every prompt's and none */
  prompt: z.string().regex(PROMPT_NAME, 'must be a prompt name').optional(),
  /**
   * The evaluation this check's drift alarm starts (the suites and the prompt or model of its slice of
   * traffic, e.g. a served line `{model: 'tuned-assistant'}`). @default `drift.onDrift`
   */
  onDrift: driftEvaluationSchema.optional(),
});

/**
 * The online judge of the drift checks' quality signal: the judge (`evaluation.judgeModel`) scores the
 * answer relevance of a small share of each window's answers, one call each, capped per window, and the
 * scores are compared with the baseline's (judged once per baseline).
 */
const onlineJudgeSchema = z
  .strictObject({
    /** The share of a window's answers judged, in (0, 1]. */
    share: z.number().gt(0).max(1),
    /** At most this many judge calls a window (the cost bound). */
    maxPerWindow: positiveInt.max(200),
    /** The fewest scores each window needs for the judge's test (else insufficient, not "no change"). */
    minJudged: positiveInt.min(5).max(200),
  })
  .refine((j) => j.minJudged <= j.maxPerWindow, {
    message: 'must be at most drift.onlineJudge.maxPerWindow (a window never judges more)',
    path: ['minJudged'],
  });

/**
 * Drift: how often the DriftCheck state machine runs, what it watches, and the false-page target that
 * calibrates every drift alarm (the per-window alpha and the alarm's M of N; `driftAlarmPolicy`).
 */
const driftSchema = z
  .object({
    /** Minutes between checks; each check reads the window since the previous one. */
    cadenceMinutes: positiveInt.min(15).max(1440),
    /** At most this many false pages a month across every drift alarm, at the cadence. */
    falsePagesPerMonth: z.number().gt(0).max(31),
    /** The standardized shift a window must be large enough to detect (else: insufficient data). */
    effect: z.number().gt(0).max(5),
    /** The probability of detecting `effect` a sufficient window gives. */
    power: z.number().gt(0).lt(1),
    /** Most sampled calls read per window (a seeded subsample beyond it). */
    maxWindowRecords: positiveInt.min(50).max(10_000),
    /** Label permutations of the MMD and centroid tests. */
    permutations: positiveInt.min(50).max(2000),
    /** The checks; none: no DriftCheck is deployed. */
    checks: z.array(driftCheckSchema),
    /**
     * The evaluation a drift alarm starts, for the checks without an `onDrift` of their own; absent
     * (and none of their own): a drift alarm pages and is put on the bus only.
     */
    onDrift: driftEvaluationSchema.optional(),
    /** Judge scores of a sample of live answers in the quality signal; absent: the outcome rates alone. */
    onlineJudge: onlineJudgeSchema.optional(),
  })
  .superRefine((d, ctx) => {
    // Schedules fire on the cadence's boundaries (cron), so that each window is one alarm period.
    const aligned =
      d.cadenceMinutes < 60
        ? 60 % d.cadenceMinutes === 0
        : d.cadenceMinutes % 60 === 0 && 1440 % d.cadenceMinutes === 0;
    if (!aligned) {
      ctx.addIssue({
        code: 'custom',
        path: ['cadenceMinutes'],
        message:
          'must divide an hour (15, 20, 30) or a day in whole hours (60, 120, 180, 240, 360, 480, 720, 1440)',
      });
    }
    // The false-page target must be reachable at this cadence with this many permutations.
    if (aligned && d.checks.length > 0) {
      try {
        driftAlarmPolicy({
          cadenceMinutes: d.cadenceMinutes,
          falsePagesPerMonth: d.falsePagesPerMonth,
          signals: d.checks.length * DRIFT_SIGNALS.length,
          permutations: d.permutations,
        });
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['falsePagesPerMonth'], message: (error as Error).message });
      }
    }
    const names = new Set<string>();
    for (const [i, c] of d.checks.entries()) {
      if (names.has(c.name)) {
        ctx.addIssue({ code: 'custom', path: ['checks', i, 'name'], message: `"${c.name}" is used twice` });
      }
      names.add(c.name);
    }
  });

/**
 * Human feedback (`POST /v1/feedback`) and its export as preference data: how long answered calls stay
 * open to feedback, how many new pairs an export waits for, how often it looks, and which annotators'
 * feedback it trusts.
 */
const feedbackSchema = z.object({
  /** Days an answered call can receive feedback (the interactions table's TTL); later: 404. */
  interactionTtlDays: positiveInt.max(400),
  /** New preference pairs an export waits for before it writes `raw/preference/<datasetName>/<export>.jsonl`. */
  pairThreshold: positiveInt.max(1_000_000),
  /** Hours between the export's looks (EventBridge Scheduler, a rate). */
  exportEveryHours: positiveInt.max(168),
  /**
   * The dataset the exports make: `raw/preference/<datasetName>/<export>.jsonl` (each export a version of
   * dataset `<datasetName>`), held-out prompts under `raw/golden/<datasetName>-holdout/`.
   */
  datasetName: z.string().regex(/^[a-z][a-z0-9-]{0,47}$/, 'must be 1-48 lowercase letters, digits or "-"'),
  /** Share of feedback prompts held out of training for the win-rate report (by a hash of the prompt). */
  holdOutShare: z.number().min(0).max(0.5),
  /**
   * An annotator whose negative feedback reviewers labelled at least `minReviewed` times is left out
   * when reviewers agreed with fewer than `minAgreement` of those verdicts; one reviewed less is kept.
   */
  annotatorAgreement: z.object({
    minAgreement: z.number().min(0).max(1),
    minReviewed: positiveInt.max(1000),
  }),
});

/**
 * The closed loop: a drift alarm's evaluation of production that regressed against production's last
 * passing run moves production back (`act`) or proposes it (`recommend`), at most once per target per
 * cool-down.
 */
const closedLoopSchema = z.object({
  enabled: z.boolean(),
  /** `act`: move production back and page; `recommend`: page with the proposed rollback only. */
  mode: z.enum(['act', 'recommend']),
  /** Hours after an automatic rollback of a target during which it is not rolled back again. */
  coolDownHours: positiveInt.max(24 * 30),
});

/** What a profile declares: every setting of one deployment of the stack. */
export const profileConfigSchema = z
  .object({
    profile: z.enum(PROFILES),
    /** CloudFormation stack name, e.g. `LlmOps-dev`. */
    stackName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be a valid CloudFormation stack name'),
    /** Retention of every log group, in days (a value CloudWatch Logs accepts). */
    logRetentionDays: positiveInt.refine((d) => RETENTION_VALUES.has(d), {
      message: `must be one of the retention periods CloudWatch Logs accepts (${[...RETENTION_VALUES].join(', ')})`,
    }),
    removal: removalSchema,
    /** Days after which S3 server access logs expire. */
    accessLogExpirationDays: positiveInt,
    alerts: alertsSchema,
    dataPrep: dataPrepSchema,
    /** Retention of the project event bus archive, in days. */
    eventArchiveRetentionDays: positiveInt,
    /** Days after which objects under `staging/` in the artifacts bucket expire. */
    stagingExpirationDays: positiveInt,
    observability: observabilitySchema,
    api: apiSchema,
    models: modelsSchema,
    guardrail: guardrailSchema,
    interactions: interactionsSchema,
    rag: ragSchema,
    evaluation: evaluationSchema,
    drift: driftSchema,
    fineTuning: fineTuningSchema,
    feedback: feedbackSchema,
    closedLoop: closedLoopSchema,
  })
  .superRefine((c, ctx) => {
    if (c.profile === 'prod' && c.removal.data !== RemovalPolicy.RETAIN) {
      ctx.addIssue({ code: 'custom', path: ['removal', 'data'], message: 'must be RETAIN in prod' });
    }
    // The judge is a chat model of the catalog, and so is every scheduled model.
    const chatModels = new Set(c.models.catalog.filter((m) => m.kind === 'chat').map((m) => m.id));
    if (!chatModels.has(c.evaluation.judgeModel)) {
      ctx.addIssue({
        code: 'custom',
        path: ['evaluation', 'judgeModel'],
        message: `must be a chat model of models.catalog (${[...chatModels].join(', ')})`,
      });
    }
    for (const [i, schedule] of c.evaluation.schedules.entries()) {
      if (schedule.model !== undefined && !chatModels.has(schedule.model)) {
        ctx.addIssue({
          code: 'custom',
          path: ['evaluation', 'schedules', i, 'model'],
          message: `must be a chat model of models.catalog`,
        });
      }
    }
    // The fine-tuned line and its base are catalog entries the pipeline writes, so not seeded ones; the
    // fallback answers in their place, so it is a seeded chat model.
    const seeded = new Set(c.models.catalog.map((m) => m.id));
    for (const [path, id] of [
      [['fineTuning', 'servedModel'], c.fineTuning.servedModel],
      [['fineTuning', 'baseModel', 'catalogId'], c.fineTuning.baseModel.catalogId],
    ] as const) {
      if (seeded.has(id)) {
        ctx.addIssue({
          code: 'custom',
          path: [...path],
          message: `must not be a models.catalog id ("${id}"): the fine-tuning pipeline writes this entry`,
        });
      }
    }
    const fallback = c.fineTuning.serving.fallbackModel;
    if (fallback !== undefined && !chatModels.has(fallback)) {
      ctx.addIssue({
        code: 'custom',
        path: ['fineTuning', 'serving', 'fallbackModel'],
        message: `must be a chat model of models.catalog (${[...chatModels].join(', ')})`,
      });
    }
    // A burst the gateway lets through but Lambda throttles would come back as 5xx (and page), not 429.
    if (c.api.chatThrottling.burstLimit > c.models.chatReservedConcurrency) {
      ctx.addIssue({
        code: 'custom',
        path: ['api', 'chatThrottling', 'burstLimit'],
        message: `must not exceed models.chatReservedConcurrency (${c.models.chatReservedConcurrency})`,
      });
    }
    // APP_ACCESS and CATALOG_SEED share the chat function's environment, which Lambda caps at 4 KiB.
    const accessBytes = Buffer.byteLength(
      JSON.stringify(Object.fromEntries(c.api.apps.map((app) => [app.name, app.access ?? DENY_ALL]))),
    );
    const seedBytes = Buffer.byteLength(JSON.stringify(c.models.catalog));
    const keyBytes = APP_KEY_ENTRY_BYTES * Math.max(0, c.api.apps.length - 1);
    if (accessBytes + seedBytes + keyBytes > MAX_SEED_AND_ACCESS_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['api', 'apps'],
        message: `take ${accessBytes} bytes of access as JSON (APP_ACCESS) and ${keyBytes} of key ids beside the ${seedBytes}-byte catalog seed (CATALOG_SEED); together at most ${MAX_SEED_AND_ACCESS_BYTES} fit in the chat function's 4 KiB environment: shorten the pattern lists (one pattern with "*" covers many names) or the catalog seed`,
      });
    }
  });

/** The validated configuration: a profile's settings plus what is derived from them. */
export const appConfigSchema = profileConfigSchema.transform((c) => ({
  ...c,
  /** `logRetentionDays` as the CDK enum. */
  logRetention: c.logRetentionDays as logs.RetentionDays,
}));

/** What a profile declares (before validation). */
export type ProfileConfig = z.input<typeof profileConfigSchema>;
/** The configuration of one deployment of the LLMOps stack, validated. */
export type AppConfig = z.infer<typeof appConfigSchema>;
