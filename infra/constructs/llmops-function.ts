/**
 * The house Lambda function: Node.js 24 on arm64, bundled locally with esbuild (minified ESM with source
 * maps, AWS SDK v3 bundled so its version is pinned), X-Ray active tracing, an explicit (encrypted) log
 * group with the profile's retention, a least-privilege role of its own, and bind helpers that grant
 * access AND set the matching environment variable in one call.
 *
 * The CloudFormation resource records where its code comes from (`llmops:entry`, `llmops:handler`
 * metadata), so the local runner and the tests map a synthesized function back to its handler module
 * without keeping a list of their own.
 */

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Aws, Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { buildSync, version as esbuildVersion } from 'esbuild';
import { PDF_PARSER_FILE, PDF_PARSER_PACKAGE } from '#core/rag/parse/pdf.ts';
import { O200K_RANKS_FILE, o200kRanksJson } from '#core/tokenizer/o200k.ts';
import type { DeploymentConfig, VectorStoreKind } from '#infra/config/index.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { LlmOpsDeadLetterQueue } from './dead-letter-queue.ts';
import { acknowledge, arnInFinding, iam5ResourceFinding } from './nag.ts';

/** Metadata keys recorded on every function's CloudFormation resource. */
export const ENTRY_METADATA = 'llmops:entry';
export const HANDLER_METADATA = 'llmops:handler';

/** The Lambda runtime of every house function. */
export const LLMOPS_RUNTIME = lambda.Runtime.NODEJS_24_X;

export type BucketAccess = 'read' | 'write' | 'readwrite';
export type TableAccess = 'read' | 'readwrite';

/** The events a function puts on a bus: every `source` and every `detail-type` its code publishes. */
export interface EventPublications {
  /** The `source` of its events, e.g. `['llmops']` (`LLMOPS_SOURCE`). */
  readonly sources: readonly string[];
  /** The `detail-type` of its events, e.g. `['llmops.DatasetReady']`. */
  readonly detailTypes: readonly string[];
}

/**
 * Where a function runs inside a VPC (for example beside a private OpenSearch Serverless endpoint, see
 * `RagVectorStore.networkPlacement()`).
 */
export interface LlmOpsFunctionNetwork {
  /** The VPC. */
  readonly vpc: ec2.IVpc;
  /** The subnets of the function's network interfaces (private or isolated: never public). */
  readonly subnets: ec2.SubnetSelection;
  /** The security groups of the function's network interfaces (at least one). */
  readonly securityGroups: readonly ec2.ISecurityGroup[];
}

export interface LlmOpsFunctionProps {
  /** Handler module, relative to the repository root with forward slashes, e.g. `functions/dataprep/plan.ts`. */
  readonly entry: string;
  /**
   * Name of the exported handler function.
   *
   * @default 'handler'
   */
  readonly handler?: string;
  /** What the function does (shown in the console). */
  readonly description: string;
  /** The deployment (log level, profile, log retention, removal). */
  readonly config: DeploymentConfig;
  /**
   * The vector store whose adapter the bundle carries, for functions that open the RAG vector store
   * (`RagVectorStore` grants only functions bundled for its kind): the other adapters and their clients
   * stay out of the bundle.
   *
   * @default - every adapter is bundled (for functions that never open the store, nothing changes)
   */
  readonly vectorStore?: VectorStoreKind;
  /**
   * Memory in MB.
   *
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Timeout.
   *
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Extra environment variables (prefer the bind helpers, which also grant access).
   *
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * The function is invoked asynchronously (EventBridge, S3...): failed events are retried twice and then
   * land in an encrypted dead-letter queue whose visible messages page on-call. Requires `alerts`.
   *
   * @default false
   */
  readonly async?: boolean;
  /**
   * Pages for the async dead-letter queue.
   *
   * @default - none (required when `async` is true)
   */
  readonly alerts?: LlmOpsAlerts;
  /**
   * Key that encrypts the log group and the async dead-letter queue.
   *
   * @default - log group: CloudWatch Logs default encryption; dead-letter queue: SSE-SQS
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Ship a source map and turn on `--enable-source-maps`, so that stack traces in the logs point at the
   * TypeScript sources. Node parses the map when it loads the bundle (the map holds the mappings only, not
   * the sources' text: for a 480 KiB bundle, 0.8 MB instead of 2.4 MB, about 7 ms of CPU at cold start
   * instead of 15), so latency-sensitive API functions turn it off and log minified frames (error names
   * and messages are unchanged).
   *
   * @default true
   */
  readonly sourceMaps?: boolean;
  /**
   * Run the function in a VPC. Its role then gets the EC2 network-interface actions Lambda needs to attach
   * the function to the subnets (an inline policy of its own, instead of the AWSLambdaVPCAccessExecutionRole
   * managed policy).
   *
   * @default - not in a VPC
   */
  readonly network?: LlmOpsFunctionNetwork;
}

const ENV_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const RESERVED_ENV = /^(AWS_|LAMBDA_|_)/;
const ENTRY = /^[A-Za-z0-9_-][A-Za-z0-9_./-]*\.(ts|mts|js|mjs)$/;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const PREFIX = /^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*\/$/;

/**
 * What Lambda does with the execution role to attach a function to a VPC: the EC2 actions of the
 * AWSLambdaVPCAccessExecutionRole managed policy, without its CloudWatch Logs actions (the house log
 * group grant covers logging). EC2 supports no resource-level permissions for the Describe actions, and
 * Lambda creates the interfaces with names and ids unknown at deploy time, hence resource `*`.
 */
export const VPC_ACCESS_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
] as const;

const S3_READ = ['s3:GetObject', 's3:GetObjectVersion'];
const S3_WRITE = ['s3:PutObject', 's3:AbortMultipartUpload'];
const DDB_READ = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
];
const DDB_WRITE = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];

function validate(props: LlmOpsFunctionProps, id: string): void {
  const where = `LlmOpsFunction ${id}`;
  if (!ENTRY.test(props.entry) || props.entry.split('/').includes('..')) {
    throw new Error(
      `${where}: entry must be a repo-relative path with forward slashes ending in .ts/.mts/.js/.mjs, got "${props.entry}"`,
    );
  }
  if (!existsSync(join(REPO_ROOT, 'node_modules', 'esbuild', 'package.json'))) {
    // NodejsFunction silently falls back to Docker when esbuild is missing; this project never does.
    throw new Error(
      `${where}: esbuild is not installed under ${join(REPO_ROOT, 'node_modules')} (run npm ci); bundling never uses Docker`,
    );
  }
  if (!existsSync(join(REPO_ROOT, props.entry))) {
    throw new Error(`${where}: entry "${props.entry}" does not exist under ${REPO_ROOT}`);
  }
  if (props.handler !== undefined && !IDENTIFIER.test(props.handler)) {
    throw new Error(`${where}: handler must be the name of an exported function, got "${props.handler}"`);
  }
  if (props.description.trim().length === 0) throw new Error(`${where}: description must not be empty`);
  const memory = props.memorySize;
  if (memory !== undefined && (!Number.isInteger(memory) || memory < 128 || memory > 10_240)) {
    throw new Error(`${where}: memorySize must be an integer from 128 to 10240 MB, got ${memory}`);
  }
  const timeout = props.timeout;
  if (timeout && !timeout.isUnresolved() && (timeout.toSeconds() < 1 || timeout.toSeconds() > 900)) {
    throw new Error(`${where}: timeout must be 1 second to 15 minutes, got ${timeout.toHumanString()}`);
  }
  if (props.async && !props.alerts) {
    throw new Error(
      `${where}: async functions need alerts, to page when events land in the dead-letter queue`,
    );
  }
  if (props.network && props.network.securityGroups.length === 0) {
    throw new Error(`${where}: network.securityGroups must name at least one security group`);
  }
}

/**
 * Grants use of a KMS key only through one AWS service (`kms:ViaService`): the role can have S3 or
 * DynamoDB decrypt data for it, but cannot call KMS with the project key directly.
 */
/**
 * events:PutEvents on `bus` for exactly the events a principal publishes: every entry of a PutEvents call
 * must have one of `sources` and one of `detailTypes` (`events:source` and `events:detail-type`, both
 * multivalued keys: `ForAllValues:StringEquals`, with a `Null` check so that a request without them is
 * not allowed by an empty set). For functions (`bindEventBus`) and service roles alike.
 */
export function putEventsStatement(bus: events.IEventBus, publishes: EventPublications): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['events:PutEvents'],
    resources: [bus.eventBusArn],
    conditions: {
      'ForAllValues:StringEquals': {
        'events:source': [...new Set(publishes.sources)].sort(),
        'events:detail-type': [...new Set(publishes.detailTypes)].sort(),
      },
      Null: { 'events:source': 'false', 'events:detail-type': 'false' },
    },
  });
}

/** KMS actions on `key` for `role`, only through `service` (`kms:ViaService`). */
export function grantKeyVia(
  role: iam.IRole,
  key: kms.IKey,
  service: 's3' | 'dynamodb' | 'sqs',
  actions: string[],
): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions,
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `${service}.${Aws.REGION}.amazonaws.com` } },
    }),
  );
}

/**
 * The `service` dimension Powertools adds to every dimension set of every function's EMF metrics
 * (`POWERTOOLS_SERVICE_NAME`): a metric alarm names it among the dimensions of the series it watches.
 */
export const METRICS_SERVICE = 'llmops';

/** Variables the house sets on every function for the runtime and Powertools (not read by handler code). */
export const HOUSE_ENVIRONMENT_NAMES: readonly string[] = [
  'NODE_OPTIONS',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'POWERTOOLS_LOG_LEVEL',
  'LLMOPS_PROFILE',
];

function houseEnvironment(config: DeploymentConfig, sourceMaps: boolean): Record<string, string> {
  return {
    ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
    POWERTOOLS_SERVICE_NAME: METRICS_SERVICE,
    POWERTOOLS_METRICS_NAMESPACE: 'LLMOps',
    POWERTOOLS_LOG_LEVEL: config.observability.powertoolsLogLevel,
    LLMOPS_PROFILE: config.profile,
  };
}

/** ESM bundles of CommonJS packages call `require`: the banner gives them one. */
const BUNDLE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

const DATA_CACHE = join(REPO_ROOT, 'node_modules', '.cache', 'llmops');

/**
 * A data file written once per content under node_modules/.cache: named by the hash of what determines
 * its bytes, so a new package version never reuses a stale file, written through a temporary name so that
 * concurrent synths never read a partial one.
 */
function cachedFile(name: string, key: string, write: (file: string) => void): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  const dot = name.indexOf('.');
  const file = join(DATA_CACHE, `${name.slice(0, dot)}.${hash}${name.slice(dot)}`);
  if (!existsSync(file)) {
    mkdirSync(DATA_CACHE, { recursive: true });
    const partial = `${file}.${process.pid}.partial`;
    write(partial);
    renameSync(partial, file);
  }
  return file;
}

/** The o200k_base ranks as the tokenizer reads them in a bundle (layers/core/src/tokenizer/o200k.ts). */
let o200kRanksCache: string | undefined;
function o200kRanksFile(): string {
  if (o200kRanksCache === undefined) {
    const json = o200kRanksJson();
    o200kRanksCache = cachedFile(O200K_RANKS_FILE, json, (file) => writeFileSync(file, json));
  }
  return o200kRanksCache;
}

/**
 * The PDF parser as the PDF module imports it in a bundle (layers/core/src/rag/parse/pdf.ts): the
 * installed unpdf and its pdf.js build, bundled into one minified ESM file, keyed by unpdf's version and
 * esbuild's.
 */
let pdfParserCache: string | undefined;
function pdfParserFile(): string {
  if (pdfParserCache === undefined) {
    const manifest = join(REPO_ROOT, 'node_modules', PDF_PARSER_PACKAGE, 'package.json');
    const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
    pdfParserCache = cachedFile(
      PDF_PARSER_FILE,
      `${PDF_PARSER_PACKAGE}@${version} esbuild@${esbuildVersion}`,
      (file) => {
        buildSync({
          stdin: {
            contents: `export * from '${PDF_PARSER_PACKAGE}';`,
            resolveDir: dirname(manifest),
            loader: 'js',
          },
          outfile: file,
          bundle: true,
          minify: true,
          format: 'esm',
          platform: 'node',
          target: 'node24',
          mainFields: ['module', 'main'],
          banner: { js: BUNDLE_BANNER },
          logLevel: 'silent',
        });
      },
    );
  }
  return pdfParserCache;
}

/** Characters that a path may not hold to be passed to the bundling shell in double quotes. */
const UNQUOTABLE = /["$`\\%!\n]/;

/**
 * Shell commands run after esbuild (`afterBundling`): the data files that modules of the bundle read at
 * run time, copied beside `index.mjs` when the bundle contains such a module. Each module names its
 * file in its code (the tokenizer: {@link O200K_RANKS_FILE}; the PDF parser: {@link PDF_PARSER_FILE}), so
 * a bundle that contains the name needs the file and no function has to declare it: the data reaches
 * exactly the functions whose code can read it, never the others (the API functions, whose bundles
 * contain neither).
 */
export function bundledDataCommands(outputDir: string): string[] {
  const files: [source: string, name: string][] = [
    [o200kRanksFile(), O200K_RANKS_FILE],
    [pdfParserFile(), PDF_PARSER_FILE],
  ];
  for (const path of [outputDir, ...files.map(([source]) => source)]) {
    if (UNQUOTABLE.test(path)) throw new Error(`LlmOpsFunction: cannot bundle data into or from ${path}`);
  }
  const copyIfNamed =
    "const f=require('fs'),p=require('path'),[,o,...a]=process.argv,b=f.readFileSync(p.join(o,'index.mjs'),'utf8');" +
    'for(let i=0;i<a.length;i+=2)if(b.includes(a[i+1]))f.copyFileSync(a[i],p.join(o,a[i+1]))';
  const args = files.map(([source, name]) => `"${source}" "${name}"`).join(' ');
  return [`"${process.execPath}" -e "${copyIfNamed}" "${outputDir}" ${args}`];
}

/** A Lambda function with the house defaults and bind helpers. */
export class LlmOpsFunction extends NodejsFunction {
  /** Repo-relative handler module. */
  public readonly entry: string;
  /** Exported handler name. */
  public readonly handlerName: string;
  /** The function's own role (no managed policies). */
  public readonly serviceRole: iam.Role;
  /** The function's log group. */
  public readonly functionLogGroup: logs.LogGroup;
  /** Dead-letter queue of asynchronous invocations (only when `async`). */
  public readonly asyncDeadLetterQueue?: LlmOpsDeadLetterQueue;
  /** The vector store whose adapter the bundle carries (undefined: every adapter). */
  public readonly vectorStore?: VectorStoreKind;
  private readonly boundEnv: Map<string, string>;

  constructor(scope: Construct, id: string, props: LlmOpsFunctionProps) {
    validate(props, id);
    const { config } = props;
    const handlerName = props.handler ?? 'handler';
    const sourceMaps = props.sourceMaps ?? true;
    const environment = { ...houseEnvironment(config, sourceMaps) };
    for (const [name, value] of Object.entries(props.environment ?? {})) {
      if (!ENV_NAME.test(name) || RESERVED_ENV.test(name) || name in environment) {
        throw new Error(
          `LlmOpsFunction ${id}: environment variable ${name} is invalid, reserved or set by the house`,
        );
      }
      environment[name] = value;
    }

    // Role, log group and DLQ are created beside the function: a subclass cannot create children
    // before super(), and the function's props need them.
    const role = new iam.Role(scope, `${id}ServiceRole`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}: only the grants bound to it`,
    });
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: config.logRetention,
      removalPolicy: config.removal.logs,
      encryptionKey: props.encryptionKey,
    });
    const asyncDlq =
      props.async && props.alerts
        ? new LlmOpsDeadLetterQueue(scope, `${id}AsyncDeadLetterQueue`, {
            alerts: props.alerts,
            description: `async invocations of ${id}`,
            encryptionKey: props.encryptionKey,
          })
        : undefined;

    super(scope, id, {
      entry: join(REPO_ROOT, props.entry),
      handler: handlerName,
      description: props.description,
      runtime: LLMOPS_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: lambda.Tracing.ACTIVE,
      role,
      logGroup,
      environment,
      ...(asyncDlq
        ? { deadLetterQueue: asyncDlq.queue, retryAttempts: 2, maxEventAge: Duration.hours(6) }
        : {}),
      ...(props.network
        ? {
            vpc: props.network.vpc,
            vpcSubnets: props.network.subnets,
            securityGroups: [...props.network.securityGroups],
            allowPublicSubnet: false,
          }
        : {}),
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      awsSdkConnectionReuse: false,
      bundling: {
        format: OutputFormat.ESM,
        minify: true,
        sourceMap: sourceMaps,
        // Stack traces need the mappings only: without the sources' text the map is about a third of
        // the size, and Node parses it at every cold start (about half of the maps' cost there).
        sourcesContent: false,
        target: 'node24',
        mainFields: ['module', 'main'],
        banner: BUNDLE_BANNER,
        // usearch is a native addon used only by the local run's embedded vector store, which loads it
        // lazily (dynamic import); no Lambda code path loads it, and esbuild cannot bundle a .node binary.
        externalModules: ['usearch'],
        bundleAwsSDK: true,
        // Lambda gives functions their credentials in the environment: bundle only that provider instead
        // of the SDK's whole default chain (see layers/aws/src/lambda-credentials.ts), and no SSO token
        // lookup (see layers/aws/src/lambda-token-providers.ts).
        // Functions that open the vector store carry only the adapter of the stack's store (see
        // layers/aws/src/rag/vector-store.ts): the others and their clients stay out of the bundle.
        ...(props.vectorStore
          ? { define: { 'process.env.LLMOPS_BUNDLED_VECTOR_STORE': JSON.stringify(props.vectorStore) } }
          : {}),
        esbuildArgs: {
          '--alias:@aws-sdk/credential-provider-node': './layers/aws/src/lambda-credentials.ts',
          '--alias:@aws-sdk/token-providers': './layers/aws/src/lambda-token-providers.ts',
        },
        // Large static tables (the tokenizer's ranks) ship as data beside the bundle, read on first use,
        // instead of being compiled as JavaScript at every cold start.
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir, outputDir) => bundledDataCommands(outputDir),
        },
        forceDockerBundling: false,
      },
    });
    this.entry = props.entry;
    this.vectorStore = props.vectorStore;
    this.handlerName = handlerName;
    this.serviceRole = role;
    this.functionLogGroup = logGroup;
    this.boundEnv = new Map(Object.entries(environment));
    this.asyncDeadLetterQueue = asyncDlq;

    const cfn = this.node.defaultChild as lambda.CfnFunction;
    cfn.addMetadata(ENTRY_METADATA, props.entry);
    cfn.addMetadata(HANDLER_METADATA, handlerName);

    logGroup.grantWrite(role);
    const defaultPolicy = role.node.tryFindChild('DefaultPolicy');
    if (defaultPolicy) {
      acknowledge(
        defaultPolicy,
        'AwsSolutions-IAM5[Resource::*]',
        'Only xray:PutTraceSegments/PutTelemetryRecords use "*": X-Ray has no resource-level permissions (see test/infra IAM allowlist).',
      );
    }

    if (props.network) {
      // Lambda creates the function's network interfaces with the execution role while the function is
      // created, so the policy must exist first.
      const vpcAccess = new iam.Policy(this, 'VpcAccessPolicy', {
        statements: [new iam.PolicyStatement({ actions: [...VPC_ACCESS_ACTIONS], resources: ['*'] })],
      });
      vpcAccess.attachToRole(role);
      this.node.defaultChild?.node.addDependency(vpcAccess);
      acknowledge(
        vpcAccess,
        'AwsSolutions-IAM5[Resource::*]',
        'Lambda attaches the function to its VPC subnets with these EC2 network-interface actions; the Describe actions have no resource-level permissions and the interfaces are created by Lambda with ids unknown at deploy time.',
      );
    }

    if (asyncDlq && props.encryptionKey) {
      grantKeyVia(role, props.encryptionKey, 'sqs', ['kms:GenerateDataKey', 'kms:Decrypt']);
    }
  }

  /** Sets an environment variable; setting the same name twice to different values is an error. */
  public bindString(envName: string, value: string): this {
    if (!ENV_NAME.test(envName) || RESERVED_ENV.test(envName)) {
      throw new Error(`${this.node.path}: invalid or reserved environment variable name "${envName}"`);
    }
    const existing = this.boundEnv.get(envName);
    if (existing !== undefined) {
      if (Stack.of(this).resolve(existing) === Stack.of(this).resolve(value)) return this;
      throw new Error(`${this.node.path}: environment variable ${envName} is already bound to another value`);
    }
    this.boundEnv.set(envName, value);
    this.addEnvironment(envName, value);
    return this;
  }

  /**
   * Grants access to a bucket (optionally only under a prefix) and sets `envName` to its name.
   *
   * - read: GetObject/GetObjectVersion (HeadObject included) on the objects, ListBucket on the bucket
   *   (limited to the prefix), kms:Decrypt.
   * - write: PutObject/AbortMultipartUpload, kms:GenerateDataKey + kms:Decrypt (multipart uploads).
   * - readwrite: both, plus DeleteObject (under the prefix).
   *
   * KMS permissions on the bucket key are conditioned on `kms:ViaService` = S3.
   *
   * @param prefix key prefix ending in `/`, e.g. `staging/`
   */
  public bindBucket(bucket: s3.IBucket, envName: string, access: BucketAccess, prefix?: string): this {
    return this.grantBucket(bucket, access, prefix).bindString(envName, bucket.bucketName);
  }

  /**
   * Grants access to a bucket's objects (under `prefix`), as {@link bindBucket} does, without setting a
   * variable: for functions that learn the bucket from their event or state rather than their environment.
   */
  public grantBucket(bucket: s3.IBucket, access: BucketAccess, prefix?: string): this {
    if (prefix !== undefined && !PREFIX.test(prefix)) {
      throw new Error(
        `${this.node.path}: bucket prefix must be a relative key prefix ending in "/", got "${prefix}"`,
      );
    }
    const objects = bucket.arnForObjects(`${prefix ?? ''}*`);
    const read = access === 'read' || access === 'readwrite';
    const write = access === 'write' || access === 'readwrite';
    const objectActions = [...(read ? S3_READ : []), ...(write ? S3_WRITE : [])];
    if (access === 'readwrite') objectActions.push('s3:DeleteObject');
    this.serviceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: objectActions, resources: [objects] }),
    );
    if (read) {
      this.serviceRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [bucket.bucketArn],
          ...(prefix ? { conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } } : {}),
        }),
      );
    }
    const key = bucket.encryptionKey;
    if (key) {
      grantKeyVia(
        this.serviceRole,
        key,
        's3',
        write ? ['kms:GenerateDataKey', 'kms:Decrypt'] : ['kms:Decrypt'],
      );
    }
    const cfnBucket = bucket.node.defaultChild;
    const finding =
      cfnBucket instanceof s3.CfnBucket && Stack.of(cfnBucket) !== Stack.of(this)
        ? `AwsSolutions-IAM5[Resource::${arnInFinding(this, cfnBucket)}/${prefix ?? ''}*]`
        : iam5ResourceFinding(this, objects);
    acknowledge(
      this.serviceRole.node.findChild('DefaultPolicy'),
      finding,
      `Object-level S3 actions (${objectActions.join(', ')}) need an object ARN pattern; it is limited to ${prefix ? `the ${prefix} prefix of` : 'the objects of'} this one bucket.`,
    );
    return this;
  }

  /**
   * Grants item-level access to a table (and the named indexes) and sets `envName` to its name.
   *
   * KMS permissions on the table key are conditioned on `kms:ViaService` = DynamoDB.
   *
   * @param indexNames global/local secondary indexes the function queries (explicit ARNs, no wildcard)
   * @param options `scan: true` adds `dynamodb:Scan` (reads every item: granted only where the code scans);
   *   `putItem: true` adds `dynamodb:PutItem` alone to a `read` binding (no UpdateItem, DeleteItem or
   *   BatchWriteItem), for a function that only inserts items with a condition (`attribute_not_exists`);
   *   `updateItem: true` adds `dynamodb:UpdateItem` alone, for a function that only updates attributes
   */
  public bindTable(
    table: dynamodb.ITable,
    envName: string,
    access: TableAccess,
    indexNames: readonly string[] = [],
    options: { readonly scan?: boolean; readonly putItem?: boolean; readonly updateItem?: boolean } = {},
  ): this {
    this.bindString(envName, table.tableName);
    const putOnly = access === 'read' && options.putItem === true;
    const updateOnly = access === 'read' && options.updateItem === true;
    const actions = [
      ...DDB_READ,
      ...(access === 'readwrite' ? DDB_WRITE : []),
      ...(putOnly ? ['dynamodb:PutItem'] : []),
      ...(updateOnly ? ['dynamodb:UpdateItem'] : []),
      ...(options.scan === true ? ['dynamodb:Scan'] : []),
    ];
    this.serviceRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions,
        resources: [table.tableArn, ...indexNames.map((name) => `${table.tableArn}/index/${name}`)],
      }),
    );
    const key = table.encryptionKey;
    if (key) {
      const keyActions =
        access === 'readwrite' || putOnly || updateOnly
          ? ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']
          : ['kms:Decrypt', 'kms:DescribeKey'];
      grantKeyVia(this.serviceRole, key, 'dynamodb', keyActions);
    }
    return this;
  }

  /**
   * Grants events:PutEvents on the bus for exactly the events the function publishes
   * ({@link putEventsStatement}), and sets `envName` to the bus name.
   *
   * @param publishes the `source` values and the `detail-type` values of the events the code publishes
   */
  public bindEventBus(bus: events.IEventBus, envName: string, publishes: EventPublications): this {
    const { sources, detailTypes } = publishes;
    if (sources.length === 0 || detailTypes.length === 0 || [...sources, ...detailTypes].some((v) => !v)) {
      throw new Error(
        `${this.node.path}: bindEventBus needs the sources and detail-types the function publishes`,
      );
    }
    this.bindString(envName, bus.eventBusName);
    this.serviceRole.addToPrincipalPolicy(putEventsStatement(bus, publishes));
    return this;
  }

  /**
   * Grants actions of a service that has no resource-level permissions (resource `*`), in a policy of
   * their own so the cdk-nag acknowledgement covers exactly these actions.
   *
   * @param id construct id of the policy
   * @param actions the actions, e.g. `['comprehend:DetectPiiEntities']` (no wildcards)
   * @param reason why `*` is unavoidable (at least 20 characters)
   */
  public addUnscopedPolicy(id: string, actions: readonly string[], reason: string): iam.Policy {
    if (actions.length === 0 || actions.some((a) => a.includes('*') || !a.includes(':'))) {
      throw new Error(
        `${this.node.path}: addUnscopedPolicy needs explicit service:Action names, got ${actions.join(', ')}`,
      );
    }
    const policy = new iam.Policy(this, id, {
      statements: [new iam.PolicyStatement({ actions: [...actions], resources: ['*'] })],
    });
    policy.attachToRole(this.serviceRole);
    acknowledge(policy, 'AwsSolutions-IAM5[Resource::*]', reason);
    return policy;
  }
}
