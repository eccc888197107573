import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { type CfnElement, NestedStack } from 'aws-cdk-lib';
import { clearEmbeddedVectorStores } from '#aws/rag/embedded-store.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { buildApp } from '../stacks/llmops-stack.ts';
import { LocalApi } from './api/server.ts';
import {
  type AlarmPage,
  type AlarmTransition,
  LocalAlarms,
  type UnevaluatedAlarm,
} from './cloudwatch/alarms.ts';
import { captureEmf } from './cloudwatch/emf-capture.ts';
import { LocalMetricStore } from './cloudwatch/metric-store.ts';
import {
  createDynamoClient,
  createS3Client,
  type Emulators,
  localAwsEnv,
  provision,
  startEmulators,
} from './emulators.ts';
import { matchesPattern } from './event-pattern.ts';
import { LocalFirehose } from './firehose.ts';
import { LocalIam } from './iam/evaluator.ts';
import { LocalLambdas } from './lambda-registry.ts';
import { installAwsLambdaGlobal } from './lambda-streaming.ts';
import {
  deliverToFirehose,
  deliverToQueue,
  type EventEnvelope,
  type LocalEventBridge,
  startLocalEventBridge,
  targetInput,
  toEventEnvelope,
} from './local-eventbridge.ts';
import { LocalPipes, pipeRoleAuthorizer } from './pipes.ts';
import {
  LocalSageMaker,
  type LocalSageMakerServer,
  startLocalSageMaker,
  trainingJobSyncStandIn,
} from './sagemaker/index.ts';
import {
  type ExecutionResult,
  executionStatusChangeEvent,
  runStateMachine,
  type TransitionInfo,
} from './state-machines.ts';
import { flattenNestedStacks } from './template/nested-stacks.ts';
import { type LocalRule, type LocalRuleTarget, LocalTemplate } from './template.ts';

/**
 * The local runner: the synthesized stack on one machine, offline. It synthesizes the CDK app, starts
 * DynamoDB and S3 emulators on 127.0.0.1, creates what the template declares, turns S3 writes into the
 * "Object Created" events S3 sends to EventBridge, routes every event by the synthesized rules'
 * patterns, runs state machines, Lambda and Firehose targets with the real handler modules in this
 * process, and (with `api`) serves the template's REST API on 127.0.0.1. Every function runs with
 * `MODEL_PROVIDER=offline`, so model calls go to the offline provider.
 * The EMF metrics the functions print go to a local metric store (not to the terminal), and
 * `evaluateAlarms()` evaluates the template's CloudWatch alarms on them, putting each state change on the
 * default bus and recording the pages CloudWatch would send to the template's SNS topics.
 * Nothing here knows the stack's names: buckets, tables, rules, definitions, environment variables and
 * entry points all come from the template.
 */
export type { AlarmPage, AlarmTransition, UnevaluatedAlarm } from './cloudwatch/alarms.ts';
export type { MetricDatapoint } from './cloudwatch/emf.ts';
export type { MetricDatapointInput, MetricQuery } from './cloudwatch/metric-store.ts';
export { targetInput } from './local-eventbridge.ts';

/** Every event the local buses saw, in order. */
export interface RoutedEvent {
  readonly bus: string;
  readonly event: EventEnvelope;
  readonly matchedRules: readonly string[];
}

/** What happened to one rule target delivery. */
export interface Delivery {
  readonly rule: string;
  readonly target: string;
  readonly targetType: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly execution?: ExecutionResult;
}

export interface LocalRunnerOptions {
  /** Configuration profile to synthesize. @default 'dev' */
  readonly profile?: string;
  /** Called with progress lines (state transitions, deliveries, alarm state changes). */
  readonly onProgress?: (message: string) => void;
  /** Called with each page an alarm state change sends to an SNS topic of the template. */
  readonly onPage?: (page: AlarmPage) => void;
  /** Log level for the handlers' Powertools logger. @default 'SILENT' */
  readonly handlerLogLevel?: string;
  /** Extra CDK context for synthesis (e.g. `{ dataPrepPartSizeMiB: 5 }`). */
  readonly context?: Record<string, unknown>;
  /**
   * Evaluate every AWS SDK call a function makes against its role's policies and the resource policies
   * of the synthesized template, failing denied calls with AccessDenied as AWS would. @default true
   */
  readonly enforceIam?: boolean;
  /**
   * Changes the synthesized template before the run uses it (a what-if: "does the run still pass without
   * this grant?"). Receives a copy; returns the template to run.
   */
  readonly editTemplate?: (template: Record<string, unknown>) => Record<string, unknown>;
  /**
   * The SageMaker stand-in's failure injection: a training job this answers a reason for ends Failed with
   * it (as a spot interruption past MaxWait, or an out-of-memory error, would). @default none fail
   */
  readonly failTraining?: (request: { readonly TrainingJobName?: string | undefined }) => string | undefined;
  /**
   * How long every Wait state waits, in milliseconds (a rollout's bake is counted in waits, so its length
   * in time is this times its checks). @default 5
   */
  readonly waitMs?: number;
  /**
   * Multiplies each EventBridge Pipe's batching window (MaximumBatchingWindowInSeconds) and its queue's
   * visibility timeout: a pipe's 10 s window waits 1 s by default, so a burst of uploads forms batches as on
   * AWS without a run waiting the whole window for each; 1 waits as long as AWS. @default 0.1
   */
  readonly pipeWindowScale?: number;
  /**
   * Serve the template's REST API on 127.0.0.1 (started after the emulators). Without it, no API is served.
   * `port` 0 (the default) picks a free port; `apiKey` defaults to a random key; `accessLog` receives one
   * JSON line per request (default: none).
   */
  readonly api?: {
    readonly port?: number;
    readonly apiKey?: string;
    readonly appName?: string;
    readonly accessLog?: (line: string) => void;
  };
}

/** Environment every function gets locally, on top of the template's (the runner's env overrides). */
export const LOCAL_FUNCTION_ENV: Readonly<Record<string, string>> = {
  AWS_EC2_METADATA_DISABLED: 'true',
  // Powertools metrics stay off outside a run; while the runner runs, its EMF capture makes every Metrics
  // instance publish, and takes the documents off stdout into the local metric store (emf-capture.ts).
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_TRACE_ENABLED: 'false',
  // Model calls go to the deterministic offline provider: no Bedrock or SageMaker locally.
  MODEL_PROVIDER: 'offline',
  // RAG chunks go to the embedded vector store (usearch HNSW + BM25), shared by every function in-process.
  VECTOR_STORE_KIND: 'embedded',
};

const ACCOUNT = '000000000000';

/** The optimized integration the Train state uses. */
const TRAINING_JOB_SYNC = 'arn:aws:states:::sagemaker:createTrainingJob.sync';

/** How long a Wait state waits locally. */
const LOCAL_WAIT_MS = 5;

/** The SageMaker resources the template declares, for the stand-in: groups, endpoints, components. */
function sageMakerResources(template: LocalTemplate) {
  const str = (value: unknown, what: string) => template.resolveString(value, what);
  const configs = new Map(
    template
      .resourcesOfType('AWS::SageMaker::EndpointConfig')
      .map(({ logicalId, resource }) => [
        template.ref(logicalId),
        ((resource.Properties?.ProductionVariants ?? []) as { VariantName?: unknown }[]).map((v) =>
          str(v.VariantName, `${logicalId}.VariantName`),
        ),
      ]),
  );
  return {
    packageGroups: template
      .resourcesOfType('AWS::SageMaker::ModelPackageGroup')
      .map(({ logicalId, resource }) =>
        str(resource.Properties?.ModelPackageGroupName, `${logicalId}.ModelPackageGroupName`),
      ),
    endpoints: template.resourcesOfType('AWS::SageMaker::Endpoint').map(({ logicalId, resource }) => {
      const configName = str(resource.Properties?.EndpointConfigName, `${logicalId}.EndpointConfigName`);
      return {
        name: str(resource.Properties?.EndpointName, `${logicalId}.EndpointName`),
        endpointConfigName: configName,
        variants: configs.get(configName) ?? ['AllTraffic'],
      };
    }),
    inferenceComponents: template
      .resourcesOfType('AWS::SageMaker::InferenceComponent')
      .map(({ logicalId, resource }) => {
        const p = resource.Properties ?? {};
        const spec = (p.Specification ?? {}) as Record<string, unknown>;
        return {
          name: str(p.InferenceComponentName, `${logicalId}.InferenceComponentName`),
          endpointName: str(p.EndpointName, `${logicalId}.EndpointName`),
          variantName: str(p.VariantName, `${logicalId}.VariantName`),
          specification: { ModelName: str(spec.ModelName, `${logicalId}.Specification.ModelName`) },
        };
      }),
  };
}
const REGION = 'us-east-1';

/** Synthesizes the stack's template without bundling (the runner imports handler sources directly). */
export function synthesizeTemplate(
  profile = 'dev',
  context: Record<string, unknown> = {},
): { template: unknown; stackName: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'llmops-synth-'));
  try {
    const { app, stack } = buildApp({
      context: { ...context, profile, 'aws:cdk:bundling-stacks': [] },
      outdir,
    });
    const assembly = app.synth();
    // Nested stacks are flattened into the one template the runner reads.
    const nested = stack.node
      .findAll()
      .filter((c): c is NestedStack => NestedStack.isNestedStack(c))
      .map((n) => ({
        logicalId: stack.getLogicalId(n.nestedStackResource as CfnElement),
        template: JSON.parse(readFileSync(join(assembly.directory, n.templateFile), 'utf8')) as unknown,
      }));
    const template = flattenNestedStacks(assembly.getStackByName(stack.stackName).template, nested);
    return { template, stackName: stack.stackName };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

let lastSequencer = 0n;

/**
 * S3 sequencers order the events of one key (hex, compared after left-padding). s3rver sends none, so
 * the runner makes strictly increasing ones from the clock.
 */
function nextSequencer(): string {
  const now = BigInt(Date.now()) * 1000n;
  lastSequencer = now > lastSequencer ? now : lastSequencer + 1n;
  return lastSequencer.toString(16).toUpperCase();
}

function busNameOf(value: string | undefined): string {
  if (!value) return 'default';
  const arn = /^arn:[^:]+:events:[^:]+:[^:]+:event-bus\/(.+)$/.exec(value);
  return arn?.[1] ?? value;
}

export class LocalRunner {
  readonly events: RoutedEvent[] = [];
  readonly deliveries: Delivery[] = [];
  readonly s3: S3Client;
  readonly dynamo: DynamoDBClient;
  /** Delivery streams of the template, writing to the S3 emulator. */
  readonly firehose: LocalFirehose;
  /** The template's SQS queues (in memory) and the EventBridge Pipes that drain them into executions. */
  readonly pipes: LocalPipes;
  /** The REST API server, when started with `api` and the template declares one. */
  api: LocalApi | undefined;
  /** CloudWatch metrics: what the functions emitted as EMF during the run (and what tests put). */
  readonly metrics = new LocalMetricStore();
  /** The template's CloudWatch alarms, with their states. */
  readonly alarms: LocalAlarms;
  /**
   * The SageMaker control plane stand-in: training jobs (recorded and validated, a labelled placeholder
   * adapter, no training), model packages, the template's endpoint and inference components.
   */
  readonly sagemaker: LocalSageMaker;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #rules: LocalRule[];
  readonly #progress: (message: string) => void;
  readonly #eventBridgeBuckets: Set<string>;
  readonly #waitMs: number;
  #unsubscribe: (() => void) | undefined;
  #stopEmfCapture: (() => void) | undefined;

  private constructor(
    readonly template: LocalTemplate,
    readonly emulators: Emulators,
    readonly eventBridge: LocalEventBridge,
    readonly lambdas: LocalLambdas,
    /** The IAM evaluator that judges every SDK call of the functions (undefined with `enforceIam: false`). */
    readonly iam: LocalIam | undefined,
    sagemaker: LocalSageMaker,
    readonly sagemakerServer: LocalSageMakerServer,
    options: LocalRunnerOptions,
  ) {
    this.sagemaker = sagemaker;
    this.s3 = createS3Client(emulators.s3Endpoint);
    this.dynamo = createDynamoClient(emulators.dynamoEndpoint);
    this.firehose = new LocalFirehose(template.deliveryStreams(), this.s3);
    this.pipes = new LocalPipes(template, {
      region: REGION,
      ...(options.pipeWindowScale !== undefined ? { windowScale: options.pipeWindowScale } : {}),
      track: (work) => this.#track(work),
      // A pipe starts its state machine as a rule does (the pipe stands as the rule), without waiting for it.
      startExecution: (pipe, records) => {
        this.#track(this.#deliver(pipe.rule, pipe.target, records as unknown as EventEnvelope));
      },
      ...(options.enforceIam === false ? {} : { authorize: pipeRoleAuthorizer(template) }),
      onProgress: (message) => this.#progress(message),
      onQueueDepth: (queue, visible) =>
        this.metrics.put({
          namespace: 'AWS/SQS',
          metricName: 'ApproximateNumberOfMessagesVisible',
          dimensions: { QueueName: queue.name },
          value: visible,
        }),
    });
    this.#rules = template.rules().filter((rule) => rule.state === 'ENABLED' && rule.pattern !== undefined);
    this.#progress = options.onProgress ?? (() => undefined);
    this.#waitMs = options.waitMs ?? LOCAL_WAIT_MS;
    this.alarms = new LocalAlarms({
      metricAlarms: template.metricAlarms(),
      compositeAlarms: template.compositeAlarms(),
      metrics: this.metrics,
      account: ACCOUNT,
      region: REGION,
      publish: (event) => this.publish('default', event),
      ...(options.onPage ? { onPage: options.onPage } : {}),
    });
    this.#eventBridgeBuckets = new Set(
      template
        .resourcesOfType('AWS::S3::Bucket')
        .filter(({ resource }) => {
          const config = (resource.Properties?.NotificationConfiguration ?? {}) as {
            EventBridgeConfiguration?: { EventBridgeEnabled?: boolean };
          };
          return config.EventBridgeConfiguration?.EventBridgeEnabled === true;
        })
        .map(({ logicalId }) => template.ref(logicalId)),
    );
  }

  /**
   * Synthesizes, starts the emulators and the local EventBridge endpoint, provisions the template and, with
   * `api`, serves its REST API.
   */
  static async start(options: LocalRunnerOptions = {}): Promise<LocalRunner> {
    // Handler modules use the Lambda runtime's `awslambda` global at import time.
    installAwsLambdaGlobal();
    // A fresh run starts with an empty embedded vector store, as its emulators start empty.
    clearEmbeddedVectorStores();
    const { template: synthesized, stackName } = synthesizeTemplate(
      options.profile ?? 'dev',
      options.context,
    );
    const raw = options.editTemplate
      ? options.editTemplate(structuredClone(synthesized) as Record<string, unknown>)
      : synthesized;
    const template = new LocalTemplate(raw, {
      region: REGION,
      account: ACCOUNT,
      namePrefix: 'llmops-local',
      stackName,
      // CDK's own custom-resource providers (auto-delete objects, ...) have no part in the local run.
      ignoreFunctions: (_id, resource) => resource.Metadata?.['llmops:entry'] === undefined,
    });
    const emulators = await startEmulators();
    let stack: LocalRunner | undefined;
    const eventBridge = await startLocalEventBridge((entries) => {
      for (const entry of entries) {
        const envelope = toEventEnvelope(entry, { account: ACCOUNT, region: REGION });
        stack?.publish(busNameOf(entry.EventBusName), envelope);
      }
    });
    // Events the SageMaker stand-in sends (training job and model package state changes) go to the
    // default bus, as SageMaker's do.
    const sagemaker = new LocalSageMaker({
      region: REGION,
      account: ACCOUNT,
      s3: createS3Client(emulators.s3Endpoint),
      emit: async (event) => stack?.publish('default', event as unknown as EventEnvelope),
      ...sageMakerResources(template),
      ...(options.failTraining ? { failTraining: options.failTraining } : {}),
    });
    const sagemakerServer = await startLocalSageMaker(sagemaker);
    try {
      await provision(template, {
        s3: createS3Client(emulators.s3Endpoint),
        dynamo: createDynamoClient(emulators.dynamoEndpoint),
      });
      const iam = options.enforceIam === false ? undefined : new LocalIam(template);
      const lambdas = new LocalLambdas(template.lambdaFunctions(), {
        repoRoot: REPO_ROOT,
        baseEnv: {
          ...localAwsEnv(emulators, eventBridge.endpoint, sagemakerServer.endpoint),
          ...LOCAL_FUNCTION_ENV,
          POWERTOOLS_LOG_LEVEL: options.handlerLogLevel ?? 'SILENT',
        },
        ...(iam ? { authorizer: iam } : {}),
      });
      stack = new LocalRunner(
        template,
        emulators,
        eventBridge,
        lambdas,
        iam,
        sagemaker,
        sagemakerServer,
        options,
      );
      stack.#captureEmf();
      stack.#subscribeToS3();
      if (options.api && template.restApis().length > 0) {
        const accessLog = options.api.accessLog;
        stack.api = await LocalApi.start({
          template,
          lambdas,
          port: options.api.port ?? 0,
          ...(options.api.apiKey !== undefined ? { apiKey: options.api.apiKey } : {}),
          ...(options.api.appName !== undefined ? { appName: options.api.appName } : {}),
          accessLog: accessLog ? (line) => accessLog(line) : () => undefined,
        });
      }
      return stack;
    } catch (error) {
      if (stack !== undefined) stack.#stopEmfCapture?.();
      await stack?.api?.stop();
      await sagemakerServer.close();
      await eventBridge.stop();
      await emulators.stop();
      throw error;
    }
  }

  /** The base URL of the local REST API (`http://127.0.0.1:<port>`), when it is served. */
  get apiUrl(): string | undefined {
    return this.api?.url;
  }

  /** The physical (local) value of a stack output, e.g. `RawBucketName`. */
  output(name: string): string {
    const value = this.template.outputs()[name];
    if (typeof value !== 'string') throw new Error(`The template has no output ${name}`);
    return value;
  }

  /**
   * Pages sent to SNS topics of the template, oldest first: by alarm state changes, and by rules whose
   * target is a topic (the closed loop's `llmops.RolledBack`).
   */
  get pages(): readonly AlarmPage[] {
    return this.alarms.pages;
  }

  /** Alarms the local run does not evaluate (metric math, anomaly detection, ...): AWS evaluates them. */
  get unevaluatedAlarms(): readonly UnevaluatedAlarm[] {
    return this.alarms.unevaluated;
  }

  /**
   * Evaluates every alarm of the template at `at` on the metrics so far, as CloudWatch would; each state
   * change is put on the default bus and reported as progress, and pages SNS topics among its actions.
   */
  async evaluateAlarms(at: Date = new Date()): Promise<AlarmTransition[]> {
    const transitions = this.alarms.evaluate(at);
    for (const t of transitions) this.#progress(`alarm ${t.alarmName}: ${t.from} -> ${t.to} (${t.reason})`);
    return transitions;
  }

  /** EMF the functions print becomes datapoints of {@link metrics}, as CloudWatch Logs extracts it. */
  #captureEmf(): void {
    this.#stopEmfCapture = captureEmf({
      onDocument: (document) => {
        if (document.problems.length > 0) {
          this.#progress(`EMF document ignored: ${document.problems.join('; ')}`);
        }
        this.metrics.put(...document.datapoints);
      },
    });
  }

  /** S3 sends "Object Created" to EventBridge for buckets that enable it; s3rver tells us of each write. */
  #subscribeToS3(): void {
    this.#unsubscribe = this.emulators.onS3Event((notification) => {
      const records = (notification as { Records?: unknown[] }).Records ?? [];
      for (const record of records) {
        const r = record as {
          eventName?: string;
          eventTime?: string;
          s3?: {
            bucket?: { name?: string };
            object?: { key?: string; size?: number; eTag?: string; sequencer?: string; versionId?: string };
          };
        };
        const bucket = r.s3?.bucket?.name;
        if (!bucket || !this.#eventBridgeBuckets.has(bucket)) continue;
        const object = r.s3?.object ?? {};
        const key = decodeURIComponent((object.key ?? '').replace(/\+/g, ' '));
        if (r.eventName?.startsWith('ObjectRemoved')) {
          this.publish('default', {
            version: '0',
            id: randomUUID(),
            'detail-type': 'Object Deleted',
            source: 'aws.s3',
            account: ACCOUNT,
            time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
            region: REGION,
            resources: [`arn:aws:s3:::${bucket}`],
            detail: {
              version: '0',
              bucket: { name: bucket },
              object: { key, sequencer: object.sequencer ?? nextSequencer() },
              'request-id': randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase(),
              requester: ACCOUNT,
              'source-ip-address': '127.0.0.1',
              reason: 'DeleteObject',
              'deletion-type': 'Permanently Deleted',
            },
          });
          continue;
        }
        if (!r.eventName?.startsWith('ObjectCreated')) continue;
        this.publish('default', {
          version: '0',
          id: randomUUID(),
          'detail-type': 'Object Created',
          source: 'aws.s3',
          account: ACCOUNT,
          time: r.eventTime
            ? new Date(r.eventTime).toISOString().replace(/\.\d{3}Z$/, 'Z')
            : new Date().toISOString(),
          region: REGION,
          resources: [`arn:aws:s3:::${bucket}`],
          detail: {
            version: '0',
            bucket: { name: bucket },
            object: {
              key,
              size: object.size ?? 0,
              etag: (object.eTag ?? '').replace(/"/g, ''),
              ...(object.versionId ? { 'version-id': object.versionId } : {}),
              sequencer: object.sequencer ?? nextSequencer(),
            },
            'request-id': randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase(),
            requester: ACCOUNT,
            'source-ip-address': '127.0.0.1',
            reason:
              r.eventName === 'ObjectCreated:CompleteMultipartUpload'
                ? 'CompleteMultipartUpload'
                : 'PutObject',
          },
        });
      }
    });
  }

  /**
   * The details of the events of one detail type put on any bus so far (from the `from`-th event routed),
   * oldest first: what a demo or a test reads back of what happened.
   */
  details<T>(detailType: string, from = 0): T[] {
    return this.events
      .slice(from)
      .filter((e) => e.event['detail-type'] === detailType)
      .map((e) => e.event.detail as T);
  }

  /** Puts an event on a bus: recorded, then routed to every matching rule in the background. */
  publish(bus: string, event: EventEnvelope): void {
    const matched = this.#rules.filter((rule) => rule.busName === bus && matchesPattern(rule.pattern, event));
    this.events.push({ bus, event, matchedRules: matched.map((r) => r.logicalId) });
    for (const rule of matched) {
      for (const target of rule.targets) this.#track(this.#deliver(rule, target, event));
    }
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  async #deliver(rule: LocalRule, target: LocalRuleTarget, event: EventEnvelope): Promise<void> {
    const input = targetInput(target, event);
    const base = {
      rule: rule.logicalId,
      target: target.targetLogicalId ?? target.Arn,
      targetType: target.targetType ?? 'unknown',
    };
    if (target.targetType === 'AWS::StepFunctions::StateMachine') {
      const machine = this.template.stateMachines().find((sm) => sm.arn === target.Arn);
      if (!machine) throw new Error(`Rule ${rule.logicalId} targets an unknown state machine ${target.Arn}`);
      const name = randomUUID();
      this.#progress(`${machine.pipeline ?? machine.logicalId}: execution ${name.slice(0, 8)} started`);
      const execution = await runStateMachine(machine, input, {
        lambdas: this.lambdas,
        executionName: name,
        // Distributed Maps read their items from, and write their results to, the S3 emulator.
        s3: this.s3,
        // Nothing trains locally: the stand-in records the request the Train state renders.
        resourceOverrides: {
          [TRAINING_JOB_SYNC]: (parameters) =>
            trainingJobSyncStandIn(this.sagemaker)(parameters as Readonly<Record<string, unknown>>),
        },
        // Waits (a candidate coming into service, a canary's bake) pass at once: the stand-in's
        // components are in service as soon as they exist, and a bake is counted in checks.
        waitTimeOverrides: this.#waitOverrides(machine.definition),
        onTransition: (info: TransitionInfo) => {
          if (info.type === 'StateEntered' && info.stateName) {
            this.#progress(
              `${machine.pipeline ?? machine.logicalId}: ${info.stateName}${info.index !== undefined ? ` [${info.index}]` : ''}`,
            );
          }
        },
      });
      this.deliveries.push({ ...base, ok: execution.status === 'SUCCEEDED', execution });
      this.#progress(
        `${machine.pipeline ?? machine.logicalId}: execution ${name.slice(0, 8)} ${execution.status}`,
      );
      // Step Functions reports every status change on the default bus.
      this.publish(
        'default',
        executionStatusChangeEvent(execution, {
          account: ACCOUNT,
          region: REGION,
        }) as unknown as EventEnvelope,
      );
      return;
    }
    if (target.targetType === 'AWS::SQS::Queue') {
      try {
        deliverToQueue(this.pipes, target, event);
        this.deliveries.push({ ...base, ok: true });
      } catch (error) {
        this.deliveries.push({ ...base, ok: false, error: (error as Error).message });
      }
      return;
    }
    if (target.targetType === 'AWS::KinesisFirehose::DeliveryStream') {
      try {
        await deliverToFirehose(this.firehose, target, event);
        this.deliveries.push({ ...base, ok: true });
      } catch (error) {
        this.deliveries.push({ ...base, ok: false, error: (error as Error).message });
        this.#progress(`${rule.logicalId}: delivery to ${base.target} failed: ${(error as Error).message}`);
      }
      return;
    }
    if (target.targetType === 'AWS::SNS::Topic' && target.targetLogicalId !== undefined) {
      // EventBridge publishes the target's input as the message, with SNS's default subject.
      this.alarms.recordPage({
        topicArn: target.Arn,
        topicLogicalId: target.targetLogicalId,
        subject: 'AWS Notification Message',
        message: typeof input === 'string' ? input : JSON.stringify(input),
      });
      this.deliveries.push({ ...base, ok: true });
      this.#progress(`${rule.logicalId}: paged ${target.targetLogicalId}`);
      return;
    }
    if (target.targetType === 'AWS::Lambda::Function') {
      try {
        await this.lambdas.invoke(target.Arn, input);
        this.deliveries.push({ ...base, ok: true });
      } catch (error) {
        // On AWS the event would be retried, then sent to the target's dead-letter queue.
        this.deliveries.push({ ...base, ok: false, error: (error as Error).message });
      }
      return;
    }
    this.deliveries.push({ ...base, ok: true });
  }

  /** Every Wait state of a definition, waiting `waitMs` ({@link LOCAL_WAIT_MS} by default). */
  #waitOverrides(definition: unknown): Record<string, number> {
    const out: Record<string, number> = {};
    const states = (definition as { States?: Record<string, { Type?: string }> }).States ?? {};
    for (const [name, state] of Object.entries(states)) if (state.Type === 'Wait') out[name] = this.#waitMs;
    return out;
  }

  /** Waits until every event routed so far, and everything it caused, has been handled. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async stop(): Promise<void> {
    await this.api?.stop();
    await this.idle();
    await this.sagemakerServer.close();
    this.#stopEmfCapture?.();
    this.#unsubscribe?.();
    await this.eventBridge.stop();
    await this.emulators.stop();
    this.s3.destroy();
    this.dynamo.destroy();
  }
}
