/**
 * The deployment profiles. `dev` declares every setting; `prod` is dev plus the settings it changes, so
 * that the difference between the two reads in one place. A profile decides everything but the few
 * values that context may override (see `context.ts`), so a deploy is reproducible from its name.
 *
 * Cost: dev keeps nothing that bills while idle (S3 Vectors instead of an OpenSearch Serverless
 * collection, no WAF web ACL); prod runs OpenSearch Serverless with standby replicas, and WAF.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { BEDROCK_CATALOG } from './bedrock-catalog.ts';
import { SERVING_IMAGE, TRAINING_IMAGE } from './finetune.ts';
import { type Overrides, withOverrides } from './merge.ts';
import type { Profile, ProfileConfig } from './schema.ts';

const MiB = 1024 * 1024;

/** The development profile: cheap when idle, easy to tear down, verbose logs. */
export const DEV: ProfileConfig = {
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
  alerts: { emails: [], httpsEndpoints: [] },
  dataPrep: {
    partSizeBytes: 64 * MiB,
    // Parts are child executions of a Distributed Map: 10,000 parts of 64 MiB before parts grow.
    maxParts: 10_000,
    maxConcurrency: 4,
    maxRecordBytes: 1 * MiB,
    validationRatio: 0.1,
    nearDuplicateThreshold: 0.8,
    comprehendPii: false,
    processMemoryMb: 1024,
    finalizeMemoryMb: 2048,
    quarantineExpirationDays: 7,
  },
  eventArchiveRetentionDays: 7,
  stagingExpirationDays: 7,
  observability: {
    powertoolsLogLevel: 'INFO',
    stateMachineLogLevel: 'ALL',
    stateMachineIncludeExecutionData: true,
    // Shown on the dashboard, not paged: development traffic is too sparse and bursty for a band
    // learned from it to mean much. Three 5-minute periods in a row above a 3-sigma band.
    anomaly: { band: 3, evaluationPeriods: 3, datapointsToAlarm: 3, page: false },
  },
  api: {
    apps: [
      {
        name: 'default',
        rateLimit: 10,
        burstLimit: 20,
        quotaPerDay: 10_000,
        // Development: every prompt, model and collection, chat without a prompt, and a budget that
        // still stops a runaway loop within a day.
        access: { prompts: ['*'], models: ['*'], collections: ['*'], rawChat: true, tokensPerDay: 200_000 },
        // Pages when a day of the app's calls costs $5. Its 200,000 tokens a UTC day cost at most about
        // $3 (all output, the dearest catalog model), so this fires only when the token budget does not
        // hold (raised, or its counter failing open) or a day's window spans two full budgets.
        dailyCostBudgetUsd: 5,
      },
    ],
    waf: false,
    wafIpRateLimit: 1_000,
    maxRequestBytes: 256 * 1024,
    throttling: { rateLimit: 20, burstLimit: 40 },
    // Each answer may hold a chat function for up to models.chatTimeoutMs: bursts stay within its reservation.
    chatThrottling: { rateLimit: 5, burstLimit: 10 },
    // None named: the stack creates AdminRole (assumable by the account root) for the admin routes.
    adminPrincipals: [],
  },
  models: {
    catalog: BEDROCK_CATALOG,
    embeddingModelId: 'titan-embed-text-v2',
    // One answer, streamed or not, ends within a minute (the chat function times out at 75 s).
    chatTimeoutMs: 60_000,
    promptCacheTtlSeconds: 30,
    // Ten answers at once: enough to develop with, and 1% of an account's default concurrency.
    chatReservedConcurrency: 10,
  },
  guardrail: {
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
  },
  interactions: {
    payloadSampleRate: 1,
    retentionDays: 30,
    bufferingIntervalSeconds: 60,
    bufferingSizeMiB: 5,
  },
  rag: {
    // No idle charge: S3 Vectors bills per request and per GB stored (`-c vectorStore=opensearch` for hybrid search).
    vectorStore: 's3vectors',
    standbyReplicas: false,
    chunkMaxTokens: 512,
    chunkOverlapTokens: 64,
    embedBatchSize: 16,
    embedConcurrency: 4,
    maxConcurrency: 4,
    maxDocumentBytes: 50 * MiB,
  },
  evaluation: {
    judgeModel: 'claude-haiku-4-5',
    judgeRepeats: 3,
    // A development run stops at $2 (the daily sample below costs cents).
    runBudgetUsd: 2,
    itemBatchSize: 10,
    maxConcurrency: 2,
    toxicity: 'comprehend',
    // The grounded answer prompt moves to production only past the golden suite, answered with passages.
    promotionSuites: { 'rag-answer': { suite: 'golden', rag: { k: 5 } } },
    // Once a day, a 20-item sample of the golden suite through production, judged once per item.
    // Skipped (nothing billed) until a golden dataset named "golden" is registered and the prompt exists.
    schedules: [
      {
        name: 'golden-daily',
        suite: 'golden',
        prompt: 'rag-answer@production',
        expression: 'cron(0 6 * * ? *)',
        maxItems: 20,
        k: 1,
        ragK: 5,
      },
    ],
  },
  drift: {
    // Four checks a day: each reads the sampled calls of the last six hours.
    cadenceMinutes: 360,
    falsePagesPerMonth: 1,
    effect: 0.5,
    power: 0.8,
    maxWindowRecords: 500,
    permutations: 200,
    // Every app's calls but the evaluation runs' own (which Generate records as app "evaluation").
    checks: [{ name: 'all-traffic' }],
    // A drift alarm evaluates production on the golden suite, as the daily schedule does.
    onDrift: { suite: 'golden', prompt: 'rag-answer@production', maxItems: 20, k: 1, ragK: 5 },
    // The judge (evaluation.judgeModel) scores 10% of each window's answers, at most 20 calls a window.
    onlineJudge: { share: 0.1, maxPerWindow: 20, minJudged: 10 },
  },
  // One small open-weight model, LoRA adapters trained on spot capacity, and an endpoint that holds no
  // GPU while nothing calls it (the first call after an idle spell waits for a scale-out: a 503 with
  // Retry-After, or the fallback model's answer). Prices: us-east-1 list prices, spot about 70% off.
  fineTuning: {
    enabled: true,
    servedModel: 'tuned-assistant',
    baseModel: {
      catalogId: 'qwen2-5-1-5b-instruct',
      hfModelId: 'Qwen/Qwen2.5-1.5B-Instruct',
      contextWindow: 32_768,
      maxOutputTokens: 2048,
    },
    recipes: { finetune: 'sft-lora', preference: 'dpo-lora' },
    hyperparameters: { epochs: 1, max_seq_length: 2048, lora_r: 16, lora_alpha: 32 },
    training: {
      image: TRAINING_IMAGE,
      instanceType: 'ml.g5.2xlarge',
      volumeSizeGb: 100,
      spot: true,
      maxRuntimeHours: 4,
      maxWaitHours: 8,
      onDemandPricePerHourUsd: 1.515,
      spotPricePerHourUsd: 0.455,
    },
    gate: { suite: 'golden', maxItems: 20, k: 1, approval: 'auto', readyTimeoutMinutes: 30 },
    serving: {
      image: SERVING_IMAGE,
      instanceType: 'ml.g5.xlarge',
      minInstances: 0,
      maxInstances: 1,
      minCopies: 0,
      maxCopies: 1,
      acceleratorsPerCopy: 1,
      memoryPerCopyMb: 8192,
      targetConcurrentRequestsPerCopy: 4,
      scaleInCooldownMinutes: 15,
      retryAfterSeconds: 300,
      fallbackModel: 'nova-micro',
      onDemandPricePerHourUsd: 1.408,
    },
    canary: {
      share: 0.2,
      bakeMinutes: 30,
      checkMinutes: 5,
      minCalls: 0,
      maxErrorRate: 0.05,
      maxLatencyP90Ms: 20_000,
      maxGuardrailRate: 0.1,
    },
  },
  feedback: {
    // A week to rate an answer; a small export (the demo's feedback crosses it) every six hours.
    interactionTtlDays: 7,
    pairThreshold: 8,
    exportEveryHours: 6,
    datasetName: 'feedback',
    // A fifth of the prompts held out, so that the demo's few judge the candidate on some it never saw.
    holdOutShare: 0.2,
    annotatorAgreement: { minAgreement: 0.6, minReviewed: 5 },
  },
  closedLoop: { enabled: true, mode: 'act', coolDownHours: 6 },
};

/** What production changes: data kept, a year of logs, WAF, more capacity, OpenSearch with standby replicas. */
export const PROD_OVERRIDES: Overrides<ProfileConfig> = {
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
    maxConcurrency: 16,
    processMemoryMb: 2048,
    finalizeMemoryMb: 4096,
    quarantineExpirationDays: 14,
  },
  eventArchiveRetentionDays: 90,
  // Production pages on an anomaly that lasts 3 of 5 five-minute periods.
  observability: {
    stateMachineLogLevel: 'ERROR',
    stateMachineIncludeExecutionData: false,
    anomaly: { evaluationPeriods: 5, datapointsToAlarm: 3, page: true },
  },
  api: {
    apps: [
      {
        name: 'default',
        rateLimit: 50,
        burstLimit: 100,
        quotaPerDay: 1_000_000,
        // Production: the prompts admins publish (no raw chat, so system prompts stay under review), the
        // inexpensive chat models, uploaded documents only (not curated datasets), 2 million tokens a day.
        // Give each real app its own entry with narrower lists (docs/model-gateway.md, "Per-app access").
        access: {
          prompts: ['*'],
          models: ['nova-*', 'claude-haiku-4-5'],
          collections: ['upload'],
          rawChat: false,
          tokensPerDay: 2_000_000,
        },
        // Pages when a day of the app's calls costs $25. Its 2 million tokens a UTC day of these models
        // cost at most about $10 (all output, Claude Haiku 4.5), $20 over a window spanning two UTC
        // days, so this fires only when the token budget does not hold. Set each real app's budget
        // from its expected spend.
        dailyCostBudgetUsd: 25,
      },
    ],
    waf: true,
    wafIpRateLimit: 3_000,
    throttling: { rateLimit: 200, burstLimit: 400 },
    chatThrottling: { rateLimit: 20, burstLimit: 50 },
  },
  // Two minutes per answer (function timeout 135 s); 100 answers at once, which leaves 800 of an
  // account's default 1000 concurrent executions to everything else (Lambda keeps 100 unreserved).
  models: { promptCacheTtlSeconds: 300, chatTimeoutMs: 120_000, chatReservedConcurrency: 100 },
  interactions: {
    payloadSampleRate: 0.1,
    retentionDays: 400,
    bufferingIntervalSeconds: 300,
    bufferingSizeMiB: 64,
  },
  rag: { vectorStore: 'opensearch', standbyReplicas: true, maxConcurrency: 10 },
  evaluation: {
    runBudgetUsd: 50,
    maxConcurrency: 8,
    schedules: [
      {
        name: 'golden-daily',
        suite: 'golden',
        prompt: 'rag-answer@production',
        expression: 'cron(0 6 * * ? *)',
        maxItems: 200,
        k: 3,
        ragK: 5,
      },
    ],
  },
  // Hourly checks of up to 2,000 sampled calls; a drift alarm evaluates 200 items, judged three times;
  // the online judge scores 5% of each window's answers, at most 50 calls a window. 1,000 permutations
  // reach alpha 0.01 (each embedding test at 0.0033, the smallest p-value 1/1001), which 720 windows a
  // month need at 2 of 2 once runs are bounded with the shared-baseline factor (docs/drift.md).
  drift: {
    cadenceMinutes: 60,
    maxWindowRecords: 2000,
    permutations: 1000,
    onDrift: { suite: 'golden', prompt: 'rag-answer@production', maxItems: 200, k: 3, ragK: 5 },
    onlineJudge: { share: 0.05, maxPerWindow: 50, minJudged: 20 },
  },
  // A 7B base on one always-on GPU instance (one copy; up to four under load), QLoRA training, a longer
  // gate, an admin's approval, and a two-hour canary that needs 200 answers before it may promote.
  fineTuning: {
    baseModel: {
      catalogId: 'qwen2-5-7b-instruct',
      hfModelId: 'Qwen/Qwen2.5-7B-Instruct',
      contextWindow: 32_768,
      maxOutputTokens: 4096,
    },
    recipes: { finetune: 'sft-qlora' },
    training: { maxRuntimeHours: 12, maxWaitHours: 24 },
    gate: { maxItems: 200, k: 3, approval: 'manual', readyTimeoutMinutes: 45 },
    serving: {
      instanceType: 'ml.g5.2xlarge',
      minInstances: 1,
      maxInstances: 4,
      minCopies: 1,
      maxCopies: 4,
      memoryPerCopyMb: 24_576,
      scaleInCooldownMinutes: 30,
      onDemandPricePerHourUsd: 1.515,
    },
    canary: { share: 0.1, bakeMinutes: 120, checkMinutes: 10, minCalls: 200, maxErrorRate: 0.02 },
  },
  // A month to rate an answer; a DPO round needs a few hundred pairs.
  feedback: { interactionTtlDays: 30, pairThreshold: 500, exportEveryHours: 24, holdOutShare: 0.1 },
  closedLoop: { coolDownHours: 24 },
};

/** Every profile's settings, before context overrides. */
export const PROFILE_CONFIGS: Readonly<Record<Profile, ProfileConfig>> = {
  dev: DEV,
  prod: withOverrides(DEV, PROD_OVERRIDES),
};
