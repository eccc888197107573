import { App, RemovalPolicy } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { parseAppAccess } from '#contracts/http/access.ts';
import { catalogModel } from '#contracts/models/catalog.ts';
import { ConfigError as CoreConfigError } from '#core/errors.ts';
import {
  type AppConfig,
  CHAT_FUNCTION_TIMEOUT_SECONDS,
  ConfigError,
  loadConfig,
  MAX_CATALOG_SEED_BYTES,
  PROFILE_CONFIGS,
  validateConfig,
} from '#infra/config/index.ts';
import { withOverrides } from '#infra/config/merge.ts';
import { DEV, PROD_OVERRIDES } from '#infra/config/profiles.ts';
import { chatFunctionTimeoutSeconds, profileConfigSchema } from '#infra/config/schema.ts';
import { synth } from './support/synth.ts';

const MiB = 1024 * 1024;

describe('loadConfig', () => {
  it('defaults to the dev profile', () => {
    const config = loadConfig({});
    expect(config.profile).toBe('dev');
    expect(config.stackName).toBe('LlmOps-dev');
    expect(config.logRetentionDays).toBe(14);
    expect(config.logRetention).toBe(logs.RetentionDays.TWO_WEEKS);
    expect(config.removal).toEqual({
      data: RemovalPolicy.DESTROY,
      logs: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
      pointInTimeRecovery: false,
      deletionProtection: false,
    });
    expect(config.alerts).toEqual({ emails: [], httpsEndpoints: [] });
    expect(config.dataPrep).toEqual({
      partSizeBytes: 64 * MiB,
      maxParts: 10_000,
      maxConcurrency: 4,
      maxRecordBytes: 1 * MiB,
      validationRatio: 0.1,
      nearDuplicateThreshold: 0.8,
      comprehendPii: false,
      processMemoryMb: 1024,
      finalizeMemoryMb: 2048,
      quarantineExpirationDays: 7,
    });
    expect(config.eventArchiveRetentionDays).toBe(7);
    expect(config.stagingExpirationDays).toBe(7);
    expect(config.observability.powertoolsLogLevel).toBe('INFO');
  });

  it('prod retains data for a year, with PITR and deletion protection', () => {
    const config = loadConfig({ profile: 'prod' });
    expect(config.stackName).toBe('LlmOps-prod');
    expect(config.logRetention).toBe(logs.RetentionDays.ONE_YEAR);
    expect(config.removal).toEqual({
      data: RemovalPolicy.RETAIN,
      logs: RemovalPolicy.RETAIN,
      autoDeleteObjects: false,
      pointInTimeRecovery: true,
      deletionProtection: true,
    });
    expect(config.dataPrep.maxConcurrency).toBe(16);
    expect(config.dataPrep.processMemoryMb).toBe(2048);
    expect(config.dataPrep.finalizeMemoryMb).toBe(4096);
    expect(config.dataPrep.comprehendPii).toBe(false);
    expect(config.dataPrep.quarantineExpirationDays).toBe(14);
    expect(config.eventArchiveRetentionDays).toBe(90);
    expect(config.observability).toMatchObject({
      stateMachineLogLevel: 'ERROR',
      stateMachineIncludeExecutionData: false,
    });
  });

  it('reads context from an App (as the CLI sets it) and parses comma-separated lists and booleans', () => {
    const app = new App({
      context: {
        profile: 'prod',
        alertEmails: ' a@example.com,b@example.org ,',
        alertHttpsEndpoints: 'https://hooks.example.com/x',
        comprehendPii: 'true',
      },
    });
    const config = loadConfig(app);
    expect(config.profile).toBe('prod');
    expect(config.alerts).toEqual({
      emails: ['a@example.com', 'b@example.org'],
      httpsEndpoints: ['https://hooks.example.com/x'],
    });
    expect(config.dataPrep.comprehendPii).toBe(true);
    expect(loadConfig({ comprehendPii: false }).dataPrep.comprehendPii).toBe(false);
    expect(loadConfig({ alertEmails: ['x@example.com'] }).alerts.emails).toEqual(['x@example.com']);
  });

  it.each([
    [{ profile: 'staging' }, /context key "profile": expected one of dev, prod, got "staging"/],
    [{ profile: 42 }, /context key "profile"/],
    [
      { alertEmails: 'ok@example.com,not-an-email' },
      /context key "alertEmails\[1\]": not a valid e-mail address, got "not-an-email"/,
    ],
    [
      { alertHttpsEndpoints: 'http://insecure.example.com' },
      /context key "alertHttpsEndpoints\[0\]": must be an https:\/\/ URL/,
    ],
    [{ comprehendPii: 'yes' }, /context key "comprehendPii": expected true or false, got "yes"/],
  ])('rejects %j naming the key', (context, message) => {
    expect(() => loadConfig(context)).toThrow(ConfigError);
    expect(() => loadConfig(context)).toThrow(message);
  });

  it('reports every bad key at once', () => {
    try {
      loadConfig({ profile: 'qa', comprehendPii: 'maybe' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems).toHaveLength(2);
    }
  });
});

describe('gateway configuration', () => {
  it('dev: one default app, no WAF, every payload sampled, 30 days of interactions', () => {
    const config = loadConfig({});
    expect(config.api).toEqual({
      apps: [
        {
          name: 'default',
          rateLimit: 10,
          burstLimit: 20,
          quotaPerDay: 10_000,
          access: { prompts: ['*'], models: ['*'], collections: ['*'], rawChat: true, tokensPerDay: 200_000 },
          dailyCostBudgetUsd: 5,
        },
      ],
      waf: false,
      wafIpRateLimit: 1_000,
      maxRequestBytes: 262_144,
      throttling: { rateLimit: 20, burstLimit: 40 },
      chatThrottling: { rateLimit: 5, burstLimit: 10 },
      // None named: the stack creates AdminRole for the admin routes.
      adminPrincipals: [],
      // None named: only the admin principals may call the reviewer routes.
      reviewerPrincipals: [],
    });
    expect(config.guardrail.enabled).toBe(true);
    expect(config.interactions).toEqual({
      payloadSampleRate: 1,
      retentionDays: 30,
      bufferingIntervalSeconds: 60,
      bufferingSizeMiB: 5,
    });
  });

  it('api.reviewerPrincipals takes IAM role and user ARNs only, like api.adminPrincipals', () => {
    const withReviewers = (reviewerPrincipals: string[]) =>
      profileConfigSchema.safeParse({ ...DEV, api: { ...DEV.api, reviewerPrincipals } });
    expect(
      withReviewers([
        'arn:aws:iam::123456789012:role/llmops-reviewer',
        'arn:aws:iam::123456789012:user/alice',
      ]).success,
    ).toBe(true);
    for (const bad of [
      '*',
      'arn:aws:sts::123456789012:assumed-role/llmops-reviewer/alice',
      'arn:aws:iam::123456789012:root',
    ]) {
      const result = withReviewers([bad]);
      expect(result.success, bad).toBe(false);
      expect(result.error?.issues[0]?.path, bad).toEqual(['api', 'reviewerPrincipals', 0]);
    }
  });

  it('prod: WAF, larger limits, 10% payload sampling, 400 days of interactions', () => {
    const config = loadConfig({ profile: 'prod' });
    expect(config.api.waf).toBe(true);
    expect(config.api.apps).toEqual([
      {
        name: 'default',
        rateLimit: 50,
        burstLimit: 100,
        quotaPerDay: 1_000_000,
        // Conservative: published prompts only, the inexpensive chat models, uploaded documents.
        access: {
          prompts: ['*'],
          models: ['nova-*', 'claude-haiku-4-5'],
          collections: ['upload'],
          rawChat: false,
          tokensPerDay: 2_000_000,
        },
        dailyCostBudgetUsd: 25,
      },
    ]);
    expect(config.interactions.payloadSampleRate).toBe(0.1);
    expect(config.interactions.retentionDays).toBe(400);
    expect(config.guardrail.enabled).toBe(true);
  });

  it('the catalog seed: valid entries, real Bedrock models, no offline model, the embedding model has 1024 dims', () => {
    const { models } = loadConfig({});
    for (const model of models.catalog) {
      expect(catalogModel.safeParse(model).success, model.id).toBe(true);
      expect(model.provider, model.id).toBe('bedrock');
      expect(model.pricePer1kInputUsd, model.id).toBeGreaterThan(0);
      if (model.kind === 'chat') {
        expect(model.modelId, model.id).toMatch(/^us\./);
        expect(model.pricePer1kOutputUsd, model.id).toBeGreaterThan(0);
        expect(model.features, model.id).toContain('streaming');
      }
    }
    expect(models.catalog.map((m) => m.id)).toEqual(
      expect.arrayContaining([
        'nova-micro',
        'nova-lite',
        'nova-pro',
        'claude-haiku-4-5',
        'claude-sonnet-4-5',
      ]),
    );
    const embedding = models.catalog.find((m) => m.id === models.embeddingModelId);
    expect(embedding).toMatchObject({
      kind: 'embedding',
      modelId: 'amazon.titan-embed-text-v2:0',
      dimensions: 1024,
    });
    expect(Buffer.byteLength(JSON.stringify(models.catalog))).toBeLessThanOrEqual(MAX_CATALOG_SEED_BYTES);
    expect(models.chatTimeoutMs).toBeLessThan(CHAT_FUNCTION_TIMEOUT_SECONDS * 1000);
  });

  it('the guardrail: PII anonymized or blocked (never both), grounding 0.75, relevance 0.5', () => {
    const { guardrail } = loadConfig({});
    expect(guardrail.piiAnonymize).toEqual(
      expect.arrayContaining(['EMAIL', 'PHONE', 'CREDIT_DEBIT_CARD_NUMBER']),
    );
    expect(guardrail.piiBlock).toEqual(expect.arrayContaining(['AWS_ACCESS_KEY', 'AWS_SECRET_KEY']));
    expect(guardrail.piiAnonymize.filter((e) => guardrail.piiBlock.includes(e))).toEqual([]);
    expect(guardrail.groundingThreshold).toBe(0.75);
    expect(guardrail.relevanceThreshold).toBe(0.5);
    expect(guardrail.promptAttack).toBe('HIGH');
  });

  it('context overrides: apiApps (JSON), guardrail=false, interactionSampleRate', () => {
    const apps = [
      { name: 'web', rateLimit: 5, burstLimit: 10, quotaPerDay: 1000 },
      { name: 'batch-jobs', rateLimit: 1, burstLimit: 2, quotaPerDay: 100 },
    ];
    const config = loadConfig(
      new App({
        context: { apiApps: JSON.stringify(apps), guardrail: 'false', interactionSampleRate: '0.25' },
      }),
    );
    expect(config.api.apps).toEqual(apps);
    expect(config.guardrail.enabled).toBe(false);
    expect(config.interactions.payloadSampleRate).toBe(0.25);
    expect(loadConfig({ apiApps: apps }).api.apps).toEqual(apps);
  });

  it.each([
    [{ apiApps: 'not json' }, /context key "apiApps": must be a JSON array/],
    [{ apiApps: '[]' }, /context key "apiApps": must name at least one app/],
    [
      { apiApps: '[{"name":"Web","rateLimit":1,"burstLimit":1,"quotaPerDay":1}]' },
      /context key "apiApps\[0\]\.name": must be 1-32 lowercase letters/,
    ],
    [{ apiApps: '[{"name":"web","rateLimit":1,"burstLimit":1}]' }, /context key "apiApps\[0\]\.quotaPerDay"/],
    [{ guardrail: 'maybe' }, /context key "guardrail": expected true or false, got "maybe"/],
    [{ interactionSampleRate: '1.5' }, /context key "interactionSampleRate": expected a number from 0 to 1/],
    [
      { apiApps: '[{"name":"web","rateLimit":1000,"burstLimit":1,"quotaPerDay":1}]' },
      /config "api\.apps\[0\]\.rateLimit" \(profile dev\): must not exceed the stage rate limit/,
    ],
    [
      {
        apiApps:
          '[{"name":"web","rateLimit":1,"burstLimit":1,"quotaPerDay":1},{"name":"web","rateLimit":1,"burstLimit":1,"quotaPerDay":1}]',
      },
      /config "api\.apps\[1\]\.name" \(profile dev\): duplicate app "web"/,
    ],
  ])('rejects %j naming the key', (context, message) => {
    expect(() => loadConfig(context)).toThrow(ConfigError);
    expect(() => loadConfig(context)).toThrow(message);
  });

  it('validateConfig names bad catalog entries, an offline model, a missing embedding model and PII in both lists', () => {
    const base = loadConfig({});
    const bad = {
      ...base,
      models: {
        ...base.models,
        embeddingModelId: 'nova-lite',
        catalog: [
          ...base.models.catalog,
          { ...base.models.catalog[0], id: 'Bad Id' },
          { ...base.models.catalog[0], id: 'local', provider: 'offline' },
          { ...base.models.catalog[0] },
        ],
      },
      guardrail: { ...base.guardrail, piiBlock: [...base.guardrail.piiBlock, 'EMAIL'] },
    } as AppConfig;
    try {
      validateConfig(bad);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const problems = (e as ConfigError).problems.join('\n');
      expect(problems).toMatch(/config "models\.catalog\[7\]\.id" \(profile dev\): must be 1-100 lowercase/);
      expect(problems).toMatch(/config "models\.catalog\[8\]\.provider".*must not be "offline"/);
      expect(problems).toMatch(/config "models\.catalog\[9\]\.id".*duplicate id "nova-micro"/);
      expect(problems).toMatch(/config "models\.embeddingModelId".*must be the id of an embedding model/);
      expect(problems).toMatch(/config "guardrail\.piiAnonymize\[0\]".*EMAIL is also in guardrail\.piiBlock/);
    }
    expect(validateConfig(base)).toBe(base);
  });
});

describe('quarantine retention', () => {
  it('keeps the unredacted quarantine for days, not months', () => {
    const base = loadConfig({});
    for (const days of [0, 31]) {
      const bad = { ...base, dataPrep: { ...base.dataPrep, quarantineExpirationDays: days } } as AppConfig;
      expect(() => validateConfig(bad)).toThrow(/dataPrep\.quarantineExpirationDays/);
    }
  });
});

describe('chat bounds', () => {
  it.each([
    ['dev', { reserved: 10, throttle: { rateLimit: 5, burstLimit: 10 }, deadlineMs: 60_000 }],
    ['prod', { reserved: 100, throttle: { rateLimit: 20, burstLimit: 50 }, deadlineMs: 120_000 }],
  ] as const)('%s: reserved concurrency, chat throttle and answer deadline', (profile, bounds) => {
    const config = loadConfig({ profile });
    expect(config.models.chatReservedConcurrency).toBe(bounds.reserved);
    expect(config.api.chatThrottling).toEqual(bounds.throttle);
    expect(config.models.chatTimeoutMs).toBe(bounds.deadlineMs);
    expect(chatFunctionTimeoutSeconds(config.models.chatTimeoutMs)).toBe(bounds.deadlineMs / 1000 + 15);
    expect(chatFunctionTimeoutSeconds(config.models.chatTimeoutMs)).toBeLessThanOrEqual(
      CHAT_FUNCTION_TIMEOUT_SECONDS,
    );
  });

  it('-c chatReservedConcurrency overrides the reservation, within what an account can reserve', () => {
    expect(loadConfig({ chatReservedConcurrency: '50' }).models.chatReservedConcurrency).toBe(50);
    expect(() => loadConfig({ chatReservedConcurrency: 'many' })).toThrow(
      /context key "chatReservedConcurrency": expected a whole number of concurrent executions/,
    );
    // 900 with the closed loop's one would leave 99 of 1000 unreserved: Lambda refuses that.
    expect(() => loadConfig({ chatReservedConcurrency: '900' })).toThrow(
      /config "models\.chatReservedConcurrency" \(profile dev\): must be at most 899/,
    );
    // A reservation below the chat burst would turn admitted bursts into Lambda throttles (5xx).
    expect(() => loadConfig({ chatReservedConcurrency: '4' })).toThrow(
      /config "api\.chatThrottling\.burstLimit" \(profile dev\): must not exceed models\.chatReservedConcurrency \(4\)/,
    );
  });

  it('the chat throttle stays within the stage throttle', () => {
    const base = loadConfig({});
    const bad = {
      ...base,
      api: { ...base.api, chatThrottling: { rateLimit: 21, burstLimit: 41 } },
      models: { ...base.models, chatReservedConcurrency: 100 },
    } as AppConfig;
    try {
      validateConfig(bad);
      expect.unreachable();
    } catch (e) {
      const problems = (e as ConfigError).problems.join('\n');
      expect(problems).toMatch(/config "api\.chatThrottling\.rateLimit".*must not exceed the stage limit/);
      expect(problems).toMatch(/config "api\.chatThrottling\.burstLimit".*must not exceed the stage limit/);
    }
  });
});

describe('profiles and the vector store', () => {
  it('dev defaults to S3 Vectors (no idle charge); prod keeps OpenSearch Serverless with standby replicas', () => {
    expect(loadConfig({}).rag).toMatchObject({ vectorStore: 's3vectors', standbyReplicas: false });
    expect(loadConfig({ profile: 'prod' }).rag).toMatchObject({
      vectorStore: 'opensearch',
      standbyReplicas: true,
    });
  });

  it('-c vectorStore chooses the store in either profile, and names the key when it is unknown', () => {
    expect(loadConfig({ vectorStore: 'opensearch' }).rag.vectorStore).toBe('opensearch');
    expect(
      loadConfig(new App({ context: { profile: 'prod', vectorStore: 's3vectors' } })).rag.vectorStore,
    ).toBe('s3vectors');
    expect(() => loadConfig({ vectorStore: 'pinecone' })).toThrow(
      /context key "vectorStore": expected one of opensearch, s3vectors, got "pinecone"/,
    );
  });

  it('-c dataPrepPartSizeMiB sets the part size in MiB, and is checked against the S3 multipart minimum', () => {
    expect(loadConfig({ dataPrepPartSizeMiB: '16' }).dataPrep.partSizeBytes).toBe(16 * MiB);
    expect(() => loadConfig({ dataPrepPartSizeMiB: '1.5' })).toThrow(
      /context key "dataPrepPartSizeMiB": expected a whole number of MiB/,
    );
    expect(() => loadConfig({ dataPrepPartSizeMiB: '4' })).toThrow(
      /config "dataPrep\.partSizeBytes" \(profile dev\): must be at least 5 MiB/,
    );
  });

  it('prod is dev plus its overrides: every setting it does not override is dev’s', () => {
    const dev = PROFILE_CONFIGS.dev;
    const prod = PROFILE_CONFIGS.prod;
    expect(prod).toEqual(withOverrides(dev, PROD_OVERRIDES));
    expect(prod.guardrail).toEqual(dev.guardrail);
    expect(prod.models.catalog).toBe(dev.models.catalog);
    expect(prod.dataPrep).toEqual({
      ...dev.dataPrep,
      maxConcurrency: 16,
      processMemoryMb: 2048,
      finalizeMemoryMb: 4096,
      quarantineExpirationDays: 14,
    });
    expect(prod.rag).toEqual({
      ...dev.rag,
      vectorStore: 'opensearch',
      standbyReplicas: true,
      maxConcurrency: 10,
    });
  });

  it('a context override replaces one setting and leaves its siblings', () => {
    const config = loadConfig({ profile: 'prod', comprehendPii: 'true', guardrail: 'false' });
    const prod = loadConfig({ profile: 'prod' });
    expect(config.dataPrep).toEqual({ ...prod.dataPrep, comprehendPii: true });
    expect(config.guardrail).toEqual({ ...prod.guardrail, enabled: false });
  });
});

describe('the closed loop (-c closedLoop)', () => {
  it('acts in both profiles by default, with a cool-down of 6 h in dev and 24 h in prod', () => {
    expect(loadConfig({}).closedLoop).toEqual({ enabled: true, mode: 'act', coolDownHours: 6 });
    expect(loadConfig({ profile: 'prod' }).closedLoop).toEqual({
      enabled: true,
      mode: 'act',
      coolDownHours: 24,
    });
  });

  it('-c closedLoop=recommend only proposes; off turns the loop off; each keeps the profile’s cool-down', () => {
    expect(loadConfig({ closedLoop: 'recommend' }).closedLoop).toEqual({
      enabled: true,
      mode: 'recommend',
      coolDownHours: 6,
    });
    expect(loadConfig({ closedLoop: 'off' }).closedLoop).toMatchObject({ enabled: false, coolDownHours: 6 });
    expect(loadConfig(new App({ context: { profile: 'prod', closedLoop: 'off' } })).closedLoop).toMatchObject(
      { enabled: false, coolDownHours: 24 },
    );
    expect(loadConfig({ profile: 'prod', closedLoop: 'act' }).closedLoop).toEqual(
      loadConfig({ profile: 'prod' }).closedLoop,
    );
  });

  it('refuses any other value with a ConfigError naming the key, the values it takes and the value given', () => {
    for (const value of ['auto', 'true', 'ACT', 'none']) {
      expect(() => loadConfig({ closedLoop: value }), value).toThrow(ConfigError);
      expect(() => loadConfig({ closedLoop: value }), value).toThrow(
        `context key "closedLoop": expected act, recommend or off`,
      );
    }
    expect(() => loadConfig({ closedLoop: 'auto' })).toThrow(/, got "auto"/);
    // An empty value is an unset one, as for every context key: the profile's mode.
    expect(loadConfig({ closedLoop: '' }).closedLoop.mode).toBe('act');
  });

  it('-c closedLoop=off synthesizes no part of the loop: no function, table, rule or queue, and the description says so', () => {
    const { json, stack } = synth({ closedLoop: 'off' }, { nag: false, cfnValidation: false });
    const resources = Object.entries(json.Resources);
    expect(resources.filter(([id]) => id.startsWith('ClosedLoop')).map(([id]) => id)).toEqual([]);
    expect(
      resources.filter(([, r]) => r.Metadata?.['llmops:entry'] === 'functions/loop/on-event.ts'),
    ).toEqual([]);
    expect(stack.templateOptions.description).not.toContain('closed loop');
    // The rest of the improvement stack stays: feedback still runs.
    expect(resources.some(([id]) => id.startsWith('Feedback'))).toBe(true);
  });
});

describe('withOverrides', () => {
  const base = { a: 1, nested: { b: 2, c: [1, 2] }, list: ['x', 'y'] };

  it('merges objects key by key; arrays and scalars replace; undefined keeps the base value', () => {
    expect(withOverrides(base, { nested: { c: [3] } }, { list: ['z'], a: undefined })).toEqual({
      a: 1,
      nested: { b: 2, c: [3] },
      list: ['z'],
    });
  });

  it('does not modify the base', () => {
    const copy = structuredClone(base);
    withOverrides(base, { nested: { b: 9 } });
    expect(base).toEqual(copy);
  });
});

describe('ConfigError', () => {
  it('is the one class: the core ConfigError that the functions throw at cold start', () => {
    expect(ConfigError).toBe(CoreConfigError);
    try {
      loadConfig({ profile: 'qa' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CoreConfigError);
      expect((e as ConfigError).name).toBe('ConfigError');
    }
  });
});

describe('per-app access (api.apps[].access)', () => {
  const app = { name: 'web', rateLimit: 1, burstLimit: 1, quotaPerDay: 1 };
  const access = {
    prompts: ['support-*'],
    models: ['nova-*'],
    collections: ['upload', 'dataset:faq-*'],
    rawChat: false,
    tokensPerDay: 50_000,
  };
  const withAccess = (value: unknown) => ({ apiApps: JSON.stringify([{ ...app, access: value }]) });

  it('takes allowlists and a budget per app; an app without access keeps none (it may use nothing)', () => {
    expect(loadConfig(withAccess(access)).api.apps).toEqual([{ ...app, access }]);
    expect(
      loadConfig(withAccess({ ...access, tokensPerDay: null })).api.apps[0]?.access?.tokensPerDay,
    ).toBeNull();
    expect(loadConfig({ apiApps: JSON.stringify([app]) }).api.apps[0]?.access).toBeUndefined();
  });

  it("the profiles' access is what the functions parse from APP_ACCESS", () => {
    for (const profile of ['dev', 'prod'] as const) {
      const apps = loadConfig({ profile }).api.apps;
      const env = JSON.stringify(Object.fromEntries(apps.map((a) => [a.name, a.access])));
      expect(parseAppAccess(env), profile).toEqual(Object.fromEntries(apps.map((a) => [a.name, a.access])));
    }
  });

  it.each([
    [
      'a pattern with a space',
      { ...access, prompts: ['support *'] },
      /context key "apiApps\[0\]\.access\.prompts\[0\]": must be 1-200 printable characters without spaces/,
    ],
    [
      'a pattern that is not in a list',
      { ...access, models: 'nova-*' },
      /context key "apiApps\[0\]\.access\.models": must be a list of catalog model id patterns/,
    ],
    [
      'a pattern that is not a string',
      { ...access, collections: [7] },
      /context key "apiApps\[0\]\.access\.collections\[0\]": must be a RAG collection pattern/,
    ],
    [
      'a rawChat that is not a boolean',
      { ...access, rawChat: 'yes' },
      /context key "apiApps\[0\]\.access\.rawChat": must be true or false/,
    ],
    [
      'a negative budget',
      { ...access, tokensPerDay: -1 },
      /context key "apiApps\[0\]\.access\.tokensPerDay": must be at least 0/,
    ],
    [
      'a fractional budget',
      { ...access, tokensPerDay: 1.5 },
      /context key "apiApps\[0\]\.access\.tokensPerDay": must be a whole number of tokens/,
    ],
    [
      'no budget at all (null is no limit, and must be said)',
      { ...access, tokensPerDay: undefined },
      /context key "apiApps\[0\]\.access\.tokensPerDay"/,
    ],
    ['an unknown rule', { ...access, admin: true }, /context key "apiApps\[0\]\.access": .*admin/],
    [
      'more than 100 patterns',
      { ...access, prompts: Array.from({ length: 101 }, (_, i) => `p${i}`) },
      /context key "apiApps\[0\]\.access\.prompts": must list at most 100 patterns/,
    ],
  ])('rejects %s, naming the key', (_case, value, message) => {
    expect(() => loadConfig(withAccess(value))).toThrow(ConfigError);
    expect(() => loadConfig(withAccess(value))).toThrow(message);
  });
});

describe('per-app access in the 4 KiB environment', () => {
  it('refuses apps whose access (APP_ACCESS) would not fit beside the catalog seed, naming api.apps', () => {
    const access = {
      prompts: Array.from({ length: 40 }, (_, i) => `support-team-${i}-*`),
      models: ['*'],
      collections: ['*'],
      rawChat: false,
      tokensPerDay: null,
    };
    const apps = [{ name: 'web', rateLimit: 1, burstLimit: 1, quotaPerDay: 1, access }];
    expect(() => loadConfig({ apiApps: JSON.stringify(apps) })).toThrow(
      /config "api\.apps" \(profile dev\): take \d+ bytes of access as JSON \(APP_ACCESS\) .* at most 2800 fit in the chat function's 4 KiB environment/,
    );
    // A few apps with short lists fit.
    const short = { ...access, prompts: ['support-*'] };
    const three = ['web', 'mobile', 'batch'].map((name) => ({ ...apps[0], name, access: short }));
    expect(loadConfig({ apiApps: JSON.stringify(three) }).api.apps).toHaveLength(3);
  });
});

describe('operations monitoring (observability.anomaly, api.apps[].dailyCostBudgetUsd)', () => {
  it('dev shows the anomaly alarms without paging; prod pages on 3 of 5 periods; each default app has a budget', () => {
    const dev = loadConfig({});
    const prod = loadConfig({ profile: 'prod' });
    expect(dev.observability.anomaly).toEqual({
      band: 3,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      page: false,
    });
    expect(prod.observability.anomaly).toEqual({
      band: 3,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      page: true,
    });
    expect(dev.api.apps.map((a) => [a.name, a.dailyCostBudgetUsd])).toEqual([['default', 5]]);
    expect(prod.api.apps.map((a) => [a.name, a.dailyCostBudgetUsd])).toEqual([['default', 25]]);
  });

  it('the band defaults to 3 standard deviations', () => {
    const { band: _band, ...rest } = DEV.observability.anomaly;
    const parsed = profileConfigSchema.parse({
      ...DEV,
      observability: { ...DEV.observability, anomaly: rest },
    });
    expect(parsed.observability.anomaly.band).toBe(3);
  });

  it.each([
    ['a band of 0', { band: 0 }, /observability\.anomaly\.band".*must be greater than 0/],
    ['a negative band', { band: -1 }, /observability\.anomaly\.band".*must be greater than 0/],
    [
      'more datapoints than periods',
      { evaluationPeriods: 3, datapointsToAlarm: 4 },
      /observability\.anomaly\.datapointsToAlarm".*must not exceed evaluationPeriods \(3\)/,
    ],
    [
      'more than a day of periods',
      { evaluationPeriods: 289, datapointsToAlarm: 3 },
      /observability\.anomaly\.evaluationPeriods".*at most 288 \(one day of 5-minute periods\)/,
    ],
    ['no datapoints', { datapointsToAlarm: 0 }, /observability\.anomaly\.datapointsToAlarm"/],
  ])('refuses %s, naming the field', (_case, change, message) => {
    const base = loadConfig({});
    const bad = {
      ...base,
      observability: { ...base.observability, anomaly: { ...base.observability.anomaly, ...change } },
    } as AppConfig;
    expect(() => validateConfig(bad)).toThrow(ConfigError);
    expect(() => validateConfig(bad)).toThrow(message);
  });

  it.each([
    ['negative', -5],
    ['zero', 0],
  ])('refuses a %s daily cost budget, in the profile and in -c apiApps', (_case, budget) => {
    const base = loadConfig({});
    const apps = base.api.apps.map((a) => ({ ...a, dailyCostBudgetUsd: budget }));
    expect(() => validateConfig({ ...base, api: { ...base.api, apps } })).toThrow(
      /config "api\.apps\[0\]\.dailyCostBudgetUsd" \(profile dev\): must be greater than 0 US dollars a day/,
    );
    const app = { name: 'web', rateLimit: 1, burstLimit: 1, quotaPerDay: 1, dailyCostBudgetUsd: budget };
    expect(() => loadConfig({ apiApps: JSON.stringify([app]) })).toThrow(
      /context key "apiApps\[0\]\.dailyCostBudgetUsd": must be greater than 0 US dollars a day/,
    );
  });

  it('an app without a budget has none; a budget takes no room in the 4 KiB environment (it is not access)', () => {
    const access = {
      prompts: Array.from({ length: 40 }, (_, i) => `support-team-${i}-*`),
      models: ['*'],
      collections: ['*'],
      rawChat: false,
      tokensPerDay: null,
    };
    const app = { name: 'web', rateLimit: 1, burstLimit: 1, quotaPerDay: 1, access };
    const refusal = (apps: readonly object[]): string => {
      try {
        loadConfig({ apiApps: JSON.stringify(apps) });
      } catch (e) {
        return (e as ConfigError).message;
      }
      return 'accepted';
    };
    // The same bytes are counted with and without a budget, whether the apps fit or not.
    expect(refusal([app])).toMatch(/take \d+ bytes of access as JSON \(APP_ACCESS\)/);
    expect(refusal([{ ...app, dailyCostBudgetUsd: 1_000_000 }])).toBe(refusal([app]));
    const short = { ...access, prompts: ['support-*'] };
    const three = ['web', 'mobile', 'batch'].map((name, i) => ({
      ...app,
      name,
      access: short,
      ...(i > 0 ? { dailyCostBudgetUsd: 10 * i } : {}),
    }));
    expect(loadConfig({ apiApps: JSON.stringify(three) }).api.apps.map((a) => a.dailyCostBudgetUsd)).toEqual([
      undefined,
      10,
      20,
    ]);
  });
});

describe('drift (drift.cadenceMinutes, drift.checks)', () => {
  it.each([45, 90])(
    'refuses a cadence of %i minutes (not on the hour or day boundaries the schedules fire on), naming drift.cadenceMinutes',
    (cadenceMinutes) => {
      const base = loadConfig({});
      const bad = { ...base, drift: { ...base.drift, cadenceMinutes } } as AppConfig;
      expect(() => validateConfig(bad)).toThrow(ConfigError);
      expect(() => validateConfig(bad)).toThrow(
        /config "drift\.cadenceMinutes" \(profile dev\): must divide an hour \(15, 20, 30\) or a day in whole hours/,
      );
      const parsed = profileConfigSchema.safeParse({ ...DEV, drift: { ...DEV.drift, cadenceMinutes } });
      expect(parsed.error?.issues.map((i) => i.path)).toEqual([['drift', 'cadenceMinutes']]);
    },
  );

  it('accepts every cadence that divides an hour or a day in whole hours', () => {
    const base = loadConfig({});
    for (const cadenceMinutes of [15, 20, 30, 60, 120, 180, 240, 360, 480, 720]) {
      const config = { ...base, drift: { ...base.drift, cadenceMinutes } } as AppConfig;
      expect(validateConfig(config), String(cadenceMinutes)).toBe(config);
    }
  });

  it('refuses a false-page target the policy cannot meet, naming it; more permutations meet it', () => {
    const base = loadConfig({});
    // Daily checks: one window per alarm, 30 a month, and 200 permutations reach alpha 0.02 at best.
    const daily = { ...base, drift: { ...base.drift, cadenceMinutes: 1440 } } as AppConfig;
    expect(() => validateConfig(daily)).toThrow(
      /config "drift\.falsePagesPerMonth" \(profile dev\): .*cannot be met/,
    );
    const finer = {
      ...base,
      drift: { ...base.drift, cadenceMinutes: 1440, permutations: 1000 },
    } as AppConfig;
    expect(validateConfig(finer)).toBe(finer);
  });

  it('the online judge: a share in (0, 1], at most 200 calls a window, a minimum it can reach', () => {
    const base = loadConfig({});
    expect(base.drift.onlineJudge).toEqual({ share: 0.1, maxPerWindow: 20, minJudged: 10 });
    expect(loadConfig({ profile: 'prod' }).drift.onlineJudge).toEqual({
      share: 0.05,
      maxPerWindow: 50,
      minJudged: 20,
    });
    const judged = (onlineJudge: unknown) =>
      ({ ...base, drift: { ...base.drift, onlineJudge } }) as AppConfig;
    const ok = judged({ share: 1, maxPerWindow: 200, minJudged: 200 });
    expect(validateConfig(ok)).toBe(ok);
    const { onlineJudge: _, ...withoutJudge } = base.drift;
    const off = { ...base, drift: withoutJudge } as AppConfig;
    expect(validateConfig(off)).toBe(off);
    for (const [onlineJudge, field] of [
      [{ share: 0, maxPerWindow: 20, minJudged: 10 }, 'share'],
      [{ share: 1.5, maxPerWindow: 20, minJudged: 10 }, 'share'],
      [{ share: 0.1, maxPerWindow: 201, minJudged: 10 }, 'maxPerWindow'],
      [{ share: 0.1, maxPerWindow: 0, minJudged: 10 }, 'maxPerWindow'],
      [{ share: 0.1, maxPerWindow: 20, minJudged: 4 }, 'minJudged'],
      [{ share: 0.1, maxPerWindow: 20, minJudged: 2.5 }, 'minJudged'],
    ] as const) {
      expect(() => validateConfig(judged(onlineJudge)), field).toThrow(
        new RegExp(`config "drift\\.onlineJudge\\.${field}" \\(profile dev\\)`),
      );
    }
    expect(() => validateConfig(judged({ share: 0.1, maxPerWindow: 20, minJudged: 21 }))).toThrow(
      /config "drift\.onlineJudge\.minJudged" \(profile dev\): must be at most drift\.onlineJudge\.maxPerWindow/,
    );
    expect(() => validateConfig(judged({ share: 0.1, maxPerWindow: 20, minJudged: 10, k: 3 }))).toThrow(
      ConfigError,
    );
  });

  it('refuses a check name used twice, naming the second', () => {
    const base = loadConfig({});
    const checks = [{ name: 'all-traffic' }, { name: 'support', app: 'default' }, { name: 'all-traffic' }];
    const bad = { ...base, drift: { ...base.drift, checks } } as AppConfig;
    expect(() => validateConfig(bad)).toThrow(ConfigError);
    expect(() => validateConfig(bad)).toThrow(
      /config "drift\.checks\[2\]\.name" \(profile dev\): "all-traffic" is used twice/,
    );
  });
});
