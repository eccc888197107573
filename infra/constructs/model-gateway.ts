/**
 * The model gateway behind the API: the prompt registry and model catalog tables, and the four API
 * functions (`functions/api/{chat,prompts,models,openapi}.ts`), each with only the grants its routes need.
 *
 * - chat: renders a prompt, calls its model (Bedrock or SageMaker) with the guardrail, streams or
 *   returns the answer, and publishes `llmops.InteractionRecorded`. Reads prompts and the catalog; at
 *   cold start it adds the seed entries the catalog lacks, with conditional puts only
 *   (`dynamodb:PutItem` held to the seed's attributes, no delete: it never removes an entry; its one
 *   update is the canary counter, held to `pk` and `canary`).
 * - prompts: prompt versions and labels (read/write on the prompts table only).
 * - models: the catalog (read/write on the catalog table only: admin edits, and seed entries whose
 *   configuration changed).
 * - rag: retrieval (`POST /v1/rag/search`) and document status; a search's query passes the
 *   guardrail's input policy (ApplyGuardrail) before it is embedded.
 * - openapi: the OpenAPI document (no data access at all).
 *
 * Model invocation is granted on what the configured catalog names, not on every model: its Bedrock
 * models and inference profiles (with the foundation models each profile routes to), its SageMaker
 * endpoints, and the SageMaker endpoints tagged for this deployment (`SAGEMAKER_INVOKE_TAG_KEY`, set by
 * the fine-tuning deployment). A Bedrock model or an untagged endpoint added to the catalog at runtime
 * (`PUT /v1/models/{id}`) is refused by IAM until it is added to the profile's `models.catalog` and the
 * stack is redeployed.
 *
 * - chat also counts each app's tokens per UTC day in the usage table (`USAGE_TABLE`: GetItem and
 *   UpdateItem only), for the daily token budgets of per-app access.
 * - chat counts the calls a rollout's candidate answers on the catalog entry (`dynamodb:UpdateItem` on
 *   the catalog table, conditioned on `dynamodb:Attributes` to `pk` and `canary`); the evaluation's
 *   Generate answers without canary routing and has no catalog write. Chat answers a SageMaker model
 *   without capacity with 503 and `Retry-After` (`SAGEMAKER_RETRY_AFTER_SECONDS`).
 *
 * `APP_KEYS` (API key id → app name) and `APP_ACCESS` (app name → what it may use) are bound by the API
 * construct, which owns the keys.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { INTERACTION_TTL_ATTRIBUTE } from '#aws/feedback/dynamo-interaction-store.ts';
import { DOCUMENTS_COLLECTION_INDEX } from '#aws/rag/documents.ts';
import { USAGE_TTL_ATTRIBUTE } from '#aws/token-budget.ts';
import type { ApiFunctionName } from '#contracts/http/routes.ts';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { LLMOPS_SOURCE } from '#events/envelope.ts';
import { INTERACTION_RECORDED } from '#events/interaction-recorded.ts';
import type { AppConfig, DeploymentConfig } from '#infra/config/index.ts';
import { chatFunctionTimeoutSeconds } from '#infra/config/schema.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import type { LlmOpsGuardrail } from './guardrail.ts';
import { grantKeyVia, LlmOpsFunction } from './llmops-function.ts';
import {
  bedrockInvokeResources,
  grantModel,
  SAGEMAKER_INVOKE_TAG_KEY,
  sageMakerEndpointArn,
  sageMakerInvokeTagValue,
} from './model-access.ts';
import { acknowledge, iam5ResourceFinding } from './nag.ts';
import { projectTable } from './project-table.ts';
import type { RagVectorStore } from './rag-store.ts';

/** The handler module of each API function. */
export const API_FUNCTION_ENTRIES: Readonly<Record<ApiFunctionName, string>> = {
  chat: 'functions/api/chat.ts',
  prompts: 'functions/api/prompts.ts',
  models: 'functions/api/models.ts',
  rag: 'functions/api/rag.ts',
  openapi: 'functions/api/openapi.ts',
  evaluations: 'functions/api/evaluations.ts',
  drift: 'functions/api/drift.ts',
  finetune: 'functions/api/finetune.ts',
  feedback: 'functions/api/feedback.ts',
};

/** The CloudWatch namespace of the functions' EMF metrics (`POWERTOOLS_METRICS_NAMESPACE`). */
export const LLMOPS_METRICS_NAMESPACE = 'LLMOps';

/** Why the SageMaker grant names an ARN pattern (with a tag condition) rather than endpoints. */
const RUNTIME_ENDPOINTS_REASON =
  'The fine-tuning pipeline deploys SageMaker endpoints after this stack, with names chosen at runtime, so the gateway functions (chat, evaluation answers) reach them by tag: invoke actions only, on';

export interface ModelGatewayProps {
  /** The deployment (names, log retention, removal, logging). */
  readonly deployment: DeploymentConfig;
  /** The catalog seed and the call settings. */
  readonly config: AppConfig['models'];
  /** Largest request body the API functions accept, in bytes (`api.maxRequestBytes`). */
  readonly maxRequestBytes: number;
  /** Share of chat calls whose payload is recorded (`interactions.payloadSampleRate`). */
  readonly interactionSampleRate: number;
  /** Days an answered call is kept for feedback (`feedback.interactionTtlDays`). */
  readonly interactionTtlDays: number;
  /** The project key (tables, log groups). */
  readonly encryptionKey: kms.IKey;
  /** The project bus, where the chat function publishes `llmops.InteractionRecorded`. */
  readonly eventBus: events.IEventBus;
  /** Pages on chat errors and sustained model throttling. */
  readonly alerts: LlmOpsAlerts;
  /**
   * The guardrail applied to Bedrock calls.
   *
   * @default - none: Bedrock calls go out without a guardrail (`-c guardrail=false`)
   */
  readonly guardrail?: LlmOpsGuardrail;
  /** RAG: the vector store (chat with `rag` and the search route read it) and the document status table. */
  readonly rag: {
    readonly store: RagVectorStore;
    readonly documentsTable: dynamodb.ITable;
  };
  /**
   * `Retry-After` (seconds) of the chat API's 503 while a SageMaker model has no capacity (its
   * inference component scaled to zero) and no fallback (`fineTuning.serving.retryAfterSeconds`).
   *
   * @default - the chat function's own default, 60 s
   */
  readonly retryAfterSeconds?: number;
  /**
   * The fine-tuning pipeline rolls models out by canary on this catalog: the chat function may count a
   * canary's candidate calls on its catalog entry (UpdateItem of `pk` and `canary` only).
   *
   * @default false
   */
  readonly rollouts?: boolean;
}

/** The catalog table's key attribute (`pk`, the model id). */
const CATALOG_KEY = ['pk'] as const;
/** What a seed entry holds besides the model's fields (`seedItem` of `#aws/model-catalog.ts`). */
const SEED_BOOKKEEPING = ['seedHash', 'source', 'updatedAt', 'updatedBy'] as const;
/** The top-level attributes a canary count names (`canaryCountInput` of `#aws/model-catalog.ts`). */
const CANARY_COUNTER_ATTRIBUTES = [...CATALOG_KEY, 'canary'] as const;

/** Tables and functions of the model gateway. */
export class ModelGateway extends Construct {
  /** Prompt registry: `pk` (prompt) / `sk` (version or label). */
  public readonly promptsTable: dynamodb.Table;
  /** Model catalog: `pk` (model id). */
  public readonly catalogTable: dynamodb.Table;
  /** Each app's token count per UTC day (`pk` = `APP#<app>#<day>`, TTL on `expiresAt`): chat only. */
  public readonly usageTable: dynamodb.Table;
  /**
   * Answered calls, open to feedback: `pk` (the interaction id), TTL `expiresAt`. The chat function
   * writes them (PutItem only); the feedback functions read them.
   */
  public readonly interactionsTable: dynamodb.Table;
  public readonly chatFunction: LlmOpsFunction;
  public readonly promptsFunction: LlmOpsFunction;
  public readonly modelsFunction: LlmOpsFunction;
  /** RAG search and document status. */
  public readonly ragFunction: LlmOpsFunction;
  public readonly openApiFunction: LlmOpsFunction;
  /**
   * The function serving each route group of `API_ROUTES` but the evaluations routes (see `Evaluation`)
   * and the drift routes (see `Drift`).
   */
  public readonly functions: Readonly<
    Record<Exclude<ApiFunctionName, 'evaluations' | 'drift' | 'finetune' | 'feedback'>, LlmOpsFunction>
  >;
  /** ALARM when the chat function fails (crashes, timeouts: handlers answer every expected error). */
  public readonly chatErrorsAlarm: cloudwatch.Alarm;
  /** ALARM on sustained model throttling (all models, prompts and apps together). */
  public readonly modelThrottlesAlarm: cloudwatch.Alarm;
  /** Interaction records lost (the log) and answered calls not kept for feedback: each pages. */
  public readonly recordsLostAlarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: ModelGatewayProps) {
    super(scope, id);
    const { deployment, config, encryptionKey, alerts, guardrail } = props;

    const holds = 'disposable test prompts and catalog entries';
    this.promptsTable = projectTable(this, 'PromptsTable', {
      config: deployment,
      encryptionKey,
      sortKey: true,
      holds,
    });
    this.catalogTable = projectTable(this, 'CatalogTable', { config: deployment, encryptionKey, holds });

    // API functions answer people: no runtime source maps, which would cost every cold start ~75 ms.
    const common = { config: deployment, encryptionKey, sourceMaps: false } as const;
    const maxRequestBytes = String(props.maxRequestBytes);
    const catalogSeed = JSON.stringify(config.catalog);
    const { store, documentsTable } = props.rag;
    // Questions are embedded with the model the store's index was made for.
    const embedding = store.embeddingModel;

    // Streamed answers may run for minutes (a long completion at tens of tokens per second). Each answer
    // is bounded by CHAT_TIMEOUT_MS (the handler's deadline, after which a stream ends with an error
    // event); the function's timeout adds the headroom to say so and record the call, and stays within
    // the regional API Gateway stream idle timeout (5 minutes).
    this.chatFunction = new LlmOpsFunction(this, 'ChatFunction', {
      ...common,
      entry: API_FUNCTION_ENTRIES.chat,
      description:
        'API chat: renders a prompt, calls its model with the guardrail, streams or returns the answer',
      memorySize: 1024,
      timeout: Duration.seconds(chatFunctionTimeoutSeconds(config.chatTimeoutMs)),
      network: store.networkPlacement(),
      vectorStore: store.kind,
    })
      .bindString('CATALOG_SEED', catalogSeed)
      .bindString('MAX_REQUEST_BYTES', maxRequestBytes);
    if (props.retryAfterSeconds !== undefined) {
      if (!Number.isInteger(props.retryAfterSeconds) || props.retryAfterSeconds < 1) {
        throw new Error(`${this.node.path}: retryAfterSeconds must be a whole number of seconds, at least 1`);
      }
      this.chatFunction.bindString('SAGEMAKER_RETRY_AFTER_SECONDS', String(props.retryAfterSeconds));
    }
    this.#gateway = {
      config,
      stackName: deployment.stackName,
      eventBus: props.eventBus,
      interactionSampleRate: props.interactionSampleRate,
      ...(guardrail ? { guardrail } : {}),
      store,
      rollouts: props.rollouts === true,
    };
    // The seed adds missing catalog entries with conditional puts (attribute_not_exists(pk)) and never
    // updates or deletes one.
    this.bindGatewayCalls(this.chatFunction, {
      policyId: 'ModelInvokePolicy',
      catalogPutItem: true,
      countsCanaryCalls: true,
    });
    // At most this many answers at once, and always that many available to chat: one caller's long
    // streams cannot take the account's concurrency from the other functions (nor they from chat).
    (this.chatFunction.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions =
      config.chatReservedConcurrency;
    // The daily token budgets: chat reads an app's counter and adds to it (GetItem, UpdateItem), no more;
    // and the answered calls it keeps for feedback (PutItem, no more).
    this.usageTable = projectTable(this, 'UsageTable', {
      config: deployment,
      encryptionKey,
      timeToLiveAttribute: USAGE_TTL_ATTRIBUTE,
      holds: 'daily token counters of the apps, which expire after two days',
    });
    this.chatFunction.bindString('USAGE_TABLE', this.usageTable.tableName);
    this.chatFunction.serviceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [this.usageTable.tableArn],
      }),
    );
    this.interactionsTable = projectTable(this, 'InteractionsTable', {
      config: deployment,
      encryptionKey,
      timeToLiveAttribute: INTERACTION_TTL_ATTRIBUTE,
      holds: 'answered calls kept for feedback, which expire after feedback.interactionTtlDays',
    });
    this.chatFunction
      .bindString('INTERACTIONS_TABLE', this.interactionsTable.tableName)
      .bindString('INTERACTION_TTL_DAYS', String(props.interactionTtlDays));
    this.chatFunction.serviceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:PutItem'],
        resources: [this.interactionsTable.tableArn],
      }),
    );
    this.chatFunction.serviceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
      }),
    );

    // The other functions answer through buffered integrations, which API Gateway ends after 29 s.
    this.promptsFunction = new LlmOpsFunction(this, 'PromptsFunction', {
      ...common,
      entry: API_FUNCTION_ENTRIES.prompts,
      description: 'API prompts: immutable prompt versions and movable labels',
      timeout: Duration.seconds(29),
    })
      .bindTable(this.promptsTable, 'PROMPTS_TABLE', 'readwrite')
      .bindString('PROMPT_CACHE_TTL_SECONDS', String(config.promptCacheTtlSeconds))
      .bindString('MAX_REQUEST_BYTES', maxRequestBytes);

    this.modelsFunction = new LlmOpsFunction(this, 'ModelsFunction', {
      ...common,
      entry: API_FUNCTION_ENTRIES.models,
      description: 'API models: the model catalog, model selection and admin edits',
      timeout: Duration.seconds(29),
    })
      .bindTable(this.catalogTable, 'CATALOG_TABLE', 'readwrite', [], { scan: true })
      .bindString('CATALOG_SEED', catalogSeed)
      .bindString('MAX_REQUEST_BYTES', maxRequestBytes);

    this.ragFunction = new LlmOpsFunction(this, 'RagFunction', {
      ...common,
      entry: API_FUNCTION_ENTRIES.rag,
      description: 'API rag: retrieval results for a query, and the ingestion status of documents',
      memorySize: 1024,
      timeout: Duration.seconds(29),
      network: store.networkPlacement(),
      vectorStore: store.kind,
    })
      .bindTable(documentsTable, 'DOCUMENTS_TABLE', 'read', [DOCUMENTS_COLLECTION_INDEX])
      .bindString('EMBEDDING_MODEL', JSON.stringify(embedding))
      .bindString('MAX_REQUEST_BYTES', maxRequestBytes)
      // A search's query passes the guardrail's input policy (ApplyGuardrail) before it is embedded.
      .bindString('GUARDRAIL_ID', guardrail?.guardrailId ?? '')
      .bindString('GUARDRAIL_VERSION', guardrail?.guardrailVersion ?? '');
    guardrail?.grantApply(this.ragFunction);
    // Listing every document (no collection given) scans the status table.
    this.ragFunction.serviceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:Scan'], resources: [documentsTable.tableArn] }),
    );
    store.grantRead(this.ragFunction);
    grantModel(this, this.ragFunction, embedding, 'Embedding');

    this.openApiFunction = new LlmOpsFunction(this, 'OpenApiFunction', {
      ...common,
      entry: API_FUNCTION_ENTRIES.openapi,
      description: 'API openapi: this API as an OpenAPI 3 document',
      memorySize: 256,
      timeout: Duration.seconds(10),
    }).bindString('MAX_REQUEST_BYTES', maxRequestBytes);

    this.functions = {
      chat: this.chatFunction,
      prompts: this.promptsFunction,
      models: this.modelsFunction,
      rag: this.ragFunction,
      openapi: this.openApiFunction,
    };

    this.chatErrorsAlarm = new cloudwatch.Alarm(this, 'ChatErrorsAlarm', {
      alarmDescription:
        'The chat function failed 5 times or more in 5 minutes (crashes or timeouts: expected errors are answered, not thrown). Check its log group.',
      metric: this.chatFunction.metricErrors({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // The functions emit ModelThrottles with Model/Prompt/App dimensions; a Metrics Insights query sums
    // them all, so one alarm covers every model without enumerating dimension values.
    this.modelThrottlesAlarm = new cloudwatch.Alarm(this, 'ModelThrottlesAlarm', {
      alarmDescription:
        'Model calls were throttled 10 times or more in 5 minutes after retries (all models): raise the Bedrock quota or move traffic to another model.',
      metric: new cloudwatch.MathExpression({
        expression: `SELECT SUM(ModelThrottles) FROM "${LLMOPS_METRICS_NAMESPACE}"`,
        label: 'ModelThrottles (all models)',
        period: Duration.minutes(5),
      }),
      threshold: 10,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alerts.page(this.chatErrorsAlarm);
    alerts.page(this.modelThrottlesAlarm);
    // What an answered call leaves behind never fails the call, so losing it must page instead: the
    // interaction log's record (drift, evaluation baselines) and the call kept for feedback (a lost one
    // answers its feedback 404). Each is summed over every dimension by a Metrics Insights query.
    this.recordsLostAlarms = (
      [
        [
          'InteractionLogFailures',
          'interaction records could not be put on the bus (the inference log misses them)',
        ],
        [
          'InteractionStoreFailures',
          'answered calls could not be kept for feedback (feedback on them answers 404)',
        ],
      ] as const
    ).map(([metric, what]) => {
      const alarm = new cloudwatch.Alarm(this, `${metric}Alarm`, {
        alarmDescription: `${metric}: ${what}, 5 or more in 5 minutes. The chat function's log names each (with the interaction id).`,
        metric: new cloudwatch.MathExpression({
          expression: `SELECT SUM(${metric}) FROM "${LLMOPS_METRICS_NAMESPACE}"`,
          label: `${metric} (all models)`,
          period: Duration.minutes(5),
        }),
        threshold: 5,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alerts.page(alarm);
      return alarm;
    });
  }

  /**
   * What a function needs to answer through the gateway code path (`ModelGateway` of
   * `#aws/gateway.ts`), as the chat function does: prompts (read), the catalog (read, listed with Scan
   * for model selection; the seed's puts and the canary counter's updates only where asked, see
   * `grantCatalogWrites`), `llmops.InteractionRecorded` on the bus, the guardrail, the call settings,
   * the embedding model and the vector store (RAG), and invoke on the catalog's models. The function must
   * be bundled for the store's kind and placed in its network.
   */
  public bindGatewayCalls(
    fn: LlmOpsFunction,
    options: {
      readonly policyId?: string;
      /** Seeds the catalog at cold start (conditional puts of the entries it lacks). */
      readonly catalogPutItem?: boolean;
      /** Routes a share of calls to a rollout's candidate and counts them on the catalog entry. */
      readonly countsCanaryCalls?: boolean;
    } = {},
  ): LlmOpsFunction {
    const { config, eventBus, guardrail, store } = this.#gateway;
    const policyId = options.policyId ?? `${fn.node.id}ModelInvokePolicy`;
    fn.bindTable(this.promptsTable, 'PROMPTS_TABLE', 'read')
      // The catalog is listed with Scan (model selection, GET /v1/models); its writes are granted apart,
      // each held to the attributes it writes (`grantCatalogWrites`).
      .bindTable(this.catalogTable, 'CATALOG_TABLE', 'read', [], { scan: true })
      .bindEventBus(eventBus, 'EVENT_BUS_NAME', {
        sources: [LLMOPS_SOURCE],
        detailTypes: [INTERACTION_RECORDED],
      })
      .bindString('GUARDRAIL_ID', guardrail?.guardrailId ?? '')
      .bindString('GUARDRAIL_VERSION', guardrail?.guardrailVersion ?? '')
      .bindString('INTERACTION_SAMPLE_RATE', String(this.#gateway.interactionSampleRate))
      .bindString('CHAT_TIMEOUT_MS', String(config.chatTimeoutMs))
      .bindString('PROMPT_CACHE_TTL_SECONDS', String(config.promptCacheTtlSeconds))
      .bindString('EMBEDDING_MODEL', JSON.stringify(store.embeddingModel));
    this.grantCatalogWrites(fn, {
      seed: options.catalogPutItem === true ? config.catalog : undefined,
      canary: this.#gateway.rollouts && options.countsCanaryCalls === true,
    });
    this.grantModelInvoke(fn, config.catalog, this.#gateway.stackName, policyId);
    guardrail?.grantApply(fn);
    store.grantRead(fn);
    return fn;
  }

  readonly #gateway: {
    readonly config: AppConfig['models'];
    readonly stackName: string;
    readonly eventBus: events.IEventBus;
    readonly interactionSampleRate: number;
    readonly guardrail?: LlmOpsGuardrail;
    readonly store: RagVectorStore;
    readonly rollouts: boolean;
  };

  /**
   * The catalog writes of a gateway function, each conditioned on `dynamodb:Attributes` (every top-level
   * attribute a request names must be in the list, the key included), so that neither can rewrite what
   * admins, the evaluation pipeline or a rollout own:
   *
   * - `seed`: `PutItem` of the seed entries the table lacks (`ModelCatalog.seed` in `insert` mode, on
   *   condition `attribute_not_exists(pk)`), limited to the attributes those items hold: `pk`, the fields
   *   the configured entries set, and the seed's bookkeeping. IAM cannot require the write's own
   *   condition, so the role could still replace a configured entry, never with a `canary` or fields the
   *   configuration does not set.
   * - `canary`: `UpdateItem` of a rollout's candidate call counters (`canaryCountInput`: `ADD
   *   canary.calls`, `canary.errors`, on condition of `canary.rolloutId`), limited to `pk` and `canary`.
   */
  private grantCatalogWrites(
    fn: LlmOpsFunction,
    writes: { readonly seed: readonly CatalogModel[] | undefined; readonly canary: boolean },
  ): void {
    const statements: iam.PolicyStatement[] = [];
    if (writes.seed !== undefined) {
      const fields = writes.seed.flatMap((model) =>
        Object.entries(model).flatMap(([name, value]) => (value === undefined ? [] : [name])),
      );
      statements.push(
        new iam.PolicyStatement({
          sid: 'SeedCatalogEntries',
          actions: ['dynamodb:PutItem'],
          resources: [this.catalogTable.tableArn],
          conditions: {
            'ForAllValues:StringEquals': {
              'dynamodb:Attributes': [...new Set([...CATALOG_KEY, ...fields, ...SEED_BOOKKEEPING])].sort(),
            },
          },
        }),
      );
    }
    if (writes.canary) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'CountCanaryCalls',
          actions: ['dynamodb:UpdateItem'],
          resources: [this.catalogTable.tableArn],
          conditions: {
            'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...CANARY_COUNTER_ATTRIBUTES] },
          },
        }),
      );
    }
    if (statements.length === 0) return;
    for (const statement of statements) fn.serviceRole.addToPrincipalPolicy(statement);
    const key = this.catalogTable.encryptionKey;
    if (key) {
      grantKeyVia(fn.serviceRole, key, 'dynamodb', [
        'kms:Decrypt',
        'kms:DescribeKey',
        'kms:Encrypt',
        'kms:GenerateDataKey',
      ]);
    }
  }

  /**
   * Bedrock and SageMaker invoke actions for a gateway function, in a policy of their own: exactly the
   * Bedrock models and inference profiles of the configured catalog (see `model-access.ts`), the SageMaker
   * endpoints the catalog names, and any SageMaker endpoint or inference component of this account and
   * region tagged {@link SAGEMAKER_INVOKE_TAG_KEY} = this deployment (the fine-tuning pipeline's).
   */
  private grantModelInvoke(
    fn: LlmOpsFunction,
    catalog: readonly CatalogModel[],
    stackName: string,
    policyId: string,
  ): void {
    const bedrock = bedrockInvokeResources(catalog);
    const invokeBedrock = ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'];
    const invokeSageMaker = ['sagemaker:InvokeEndpoint', 'sagemaker:InvokeEndpointWithResponseStream'];
    const sageMakerBase = `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}`;
    const configured = catalog
      .filter((m) => m.provider === 'sagemaker')
      .flatMap((m) => [
        sageMakerEndpointArn(m.modelId),
        ...(m.inferenceComponent ? [`${sageMakerBase}:inference-component/${m.inferenceComponent}`] : []),
      ]);
    const tagged = [`${sageMakerBase}:endpoint/*`, `${sageMakerBase}:inference-component/*`];
    const statements = [
      ...(bedrock.direct.length > 0
        ? [
            new iam.PolicyStatement({
              sid: 'InvokeCatalogBedrockModels',
              actions: invokeBedrock,
              resources: bedrock.direct,
            }),
          ]
        : []),
      // "Prerequisites for inference profiles": a profile needs its foundation model in every region it
      // routes to; the condition keeps those models reachable only through the catalog's profiles.
      ...(bedrock.routed.length > 0
        ? [
            new iam.PolicyStatement({
              sid: 'InvokeProfileFoundationModels',
              actions: invokeBedrock,
              resources: bedrock.routed,
              conditions: { ArnLike: { 'bedrock:InferenceProfileArn': bedrock.profiles } },
            }),
          ]
        : []),
      ...(configured.length > 0
        ? [
            new iam.PolicyStatement({
              sid: 'InvokeCatalogSageMakerEndpoints',
              actions: invokeSageMaker,
              resources: [...new Set(configured)].sort(),
            }),
          ]
        : []),
      new iam.PolicyStatement({
        sid: 'InvokeTaggedSageMakerEndpoints',
        actions: invokeSageMaker,
        resources: tagged,
        conditions: {
          StringEquals: {
            [`aws:ResourceTag/${SAGEMAKER_INVOKE_TAG_KEY}`]: sageMakerInvokeTagValue(stackName),
          },
        },
      }),
    ];
    const policy = new iam.Policy(this, policyId, { statements });
    policy.attachToRole(fn.serviceRole);
    for (const resource of bedrock.routed) {
      acknowledge(
        policy,
        iam5ResourceFinding(this, resource),
        'An inference profile of the catalog routes to its foundation model in any region of its geography; this grant names that one model, only through the catalog profiles (bedrock:InferenceProfileArn).',
      );
    }
    for (const resource of tagged) {
      acknowledge(
        policy,
        iam5ResourceFinding(this, resource),
        `${RUNTIME_ENDPOINTS_REASON} endpoints and inference components of this account and region tagged ${SAGEMAKER_INVOKE_TAG_KEY} = this deployment (aws:ResourceTag condition).`,
      );
    }
  }
}
