/**
 * A synthesized CloudFormation template, read for the local runner: every resource gets a deterministic
 * local physical name/ARN, and intrinsic functions resolve against them the way CloudFormation would.
 * The template is the single source of truth: nothing here repeats what the stack declares.
 *
 * This file loads the template, evaluates its conditions and resolves intrinsics. What each resource is
 * called locally is `template/physical-names.ts`; each kind of resource the runner uses is read by one
 * module under `template/` (Lambda functions, state machines, event rules, REST API with keys and usage
 * plans, delivery streams, DynamoDB tables) or `cloudwatch/template-alarms.ts` (metric and composite
 * alarms), and the methods below hand over to them.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import {
  compositeAlarmIdentity,
  type LocalCompositeAlarm,
  type LocalMetricAlarm,
  readCompositeAlarms,
  readMetricAlarms,
} from './cloudwatch/template-alarms.ts';
import {
  type CfnResource,
  type CfnTemplate,
  describe,
  isRecord,
  parseTemplate,
  scalarText,
} from './template/cfn.ts';
import { type LocalDeliveryStream, readDeliveryStreams } from './template/delivery-streams.ts';
import { readTables } from './template/dynamodb-tables.ts';
import { TemplateError, UnresolvableIntrinsicError, UnsupportedAttributeError } from './template/errors.ts';
import { type LocalRule, readRules } from './template/event-rules.ts';
import { type LocalLambdaFunction, readLambdaFunctions } from './template/lambda-functions.ts';
import { fakeUuid, type Physical, physicalIdentity } from './template/physical-names.ts';
import {
  type LocalApiKey,
  type LocalRestApi,
  type LocalUsagePlan,
  readApiKeys,
  readRestApis,
  readUsagePlans,
} from './template/rest-api.ts';
import { type LocalStateMachine, readStateMachines } from './template/state-machines.ts';

export type {
  LocalAlarmAction,
  LocalCompositeAlarm,
  LocalDimension,
  LocalMetricAlarm,
  LocalMetricDataQuery,
} from './cloudwatch/template-alarms.ts';
export type { CfnResource, CfnTemplate } from './template/cfn.ts';
export type { LocalDeliveryStream, LocalFirehoseS3Destination } from './template/delivery-streams.ts';
export {
  MissingLambdaMetadataError,
  TemplateError,
  UnresolvableIntrinsicError,
  UnsupportedAttributeError,
} from './template/errors.ts';
export type { LocalRule, LocalRuleTarget } from './template/event-rules.ts';
export type { LocalLambdaFunction } from './template/lambda-functions.ts';
export type {
  LocalApiIntegration,
  LocalApiKey,
  LocalApiMethod,
  LocalApiStage,
  LocalAuthorizer,
  LocalGatewayResponse,
  LocalRestApi,
  LocalThrottle,
  LocalUsagePlan,
} from './template/rest-api.ts';
export type { LocalStateMachine } from './template/state-machines.ts';

/** Options of {@link LocalTemplate}. */
export interface LocalTemplateOptions {
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly account?: string;
  /** Prefix of generated bucket names. @default 'local' */
  readonly namePrefix?: string;
  /** Value of `AWS::StackName`. @default 'llmops-local' */
  readonly stackName?: string;
  /** Values for template Parameters (otherwise their Default is used). */
  readonly parameters?: Readonly<Record<string, string>>;
  /**
   * Local values for resources the runner cannot model, by logical id: `Ref` and/or attribute names
   * (e.g. `{ Collection: { CollectionEndpoint: 'http://127.0.0.1:9200' } }`). Checked before anything else.
   */
  readonly overrides?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Lambda functions that are not the project's (no `llmops:entry`), skipped by `lambdaFunctions()`. */
  readonly ignoreFunctions?: readonly string[] | ((logicalId: string, resource: CfnResource) => boolean);
}

const NO_VALUE: unique symbol = Symbol('AWS::NoValue');
type Resolved = unknown;

const PSEUDO_PARAMETERS = new Set([
  'AWS::Region',
  'AWS::AccountId',
  'AWS::Partition',
  'AWS::URLSuffix',
  'AWS::StackName',
  'AWS::StackId',
  'AWS::NoValue',
  'AWS::NotificationARNs',
]);

/**
 * A synthesized template with local physical names. Construct once per run; every method is
 * deterministic for a given template and options.
 */
export class LocalTemplate {
  readonly region: string;
  readonly account: string;
  readonly partition = 'aws';
  readonly namePrefix: string;
  readonly stackName: string;
  private readonly template: CfnTemplate;
  private readonly options: LocalTemplateOptions;
  private readonly physicalCache = new Map<string, Physical>();
  private readonly inProgress = new Set<string>();
  private readonly conditionCache = new Map<string, boolean>();
  private reverseIndex: Map<string, string> | undefined;

  constructor(template: unknown, options: LocalTemplateOptions = {}) {
    this.template = parseTemplate(template);
    this.options = options;
    this.region = options.region ?? 'us-east-1';
    this.account = options.account ?? '000000000000';
    this.namePrefix = options.namePrefix ?? 'local';
    this.stackName = options.stackName ?? 'llmops-local';
    if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(this.namePrefix)) {
      throw new TemplateError(
        `namePrefix '${this.namePrefix}' must be 1-31 lowercase letters, digits or hyphens, starting with a letter or digit`,
      );
    }
  }

  /** Deeply resolves intrinsic functions (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, ...) in `value`. */
  resolve(value: unknown): unknown {
    const out = this.resolveValue(value, '');
    return out === NO_VALUE ? undefined : out;
  }

  /** Resolves `value` and requires a string result. */
  resolveString(value: unknown, what: string): string {
    const out = this.resolve(value);
    if (typeof out === 'string') return out;
    if (typeof out === 'number' || typeof out === 'boolean') return String(out);
    throw new TemplateError(`${what} must resolve to a string (got ${describe(out)})`);
  }

  /** Resources of one CloudFormation type (those whose Condition is false are left out). */
  resourcesOfType(type: string): Array<{ readonly logicalId: string; readonly resource: CfnResource }> {
    return Object.entries(this.template.Resources)
      .filter(([logicalId, resource]) => resource.Type === type && this.isCreated(logicalId))
      .map(([logicalId, resource]) => ({ logicalId, resource }));
  }

  /** The resource declared under `logicalId`. */
  resource(logicalId: string): CfnResource {
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new UnresolvableIntrinsicError(`No resource '${logicalId}' in the template`);
    return resource;
  }

  /** What `Ref` returns for a resource. */
  ref(logicalId: string): string {
    return this.physical(logicalId).ref;
  }

  /** What `Fn::GetAtt` returns for a resource attribute. */
  getAtt(logicalId: string, attribute: string): string {
    const override = this.options.overrides?.[logicalId]?.[attribute];
    if (override !== undefined) return override;
    const physical = this.physical(logicalId);
    const value = physical.attributes[attribute];
    if (value === undefined) {
      throw new UnsupportedAttributeError(
        logicalId,
        this.resource(logicalId).Type,
        attribute,
        Object.keys(physical.attributes),
      );
    }
    return value;
  }

  /**
   * The logical id of the resource with this ARN, name or URL (Lambda ARNs may carry a version or alias
   * qualifier). Undefined when no resource of the template has it.
   */
  logicalIdForArn(arnOrName: string): string | undefined {
    const index = this.buildReverseIndex();
    const direct = index.get(arnOrName);
    if (direct !== undefined) return direct;
    const qualified = /^(arn:[^:]+:lambda:[^:]+:[^:]+:function:[^:]+):[^:]+$/.exec(arnOrName);
    return qualified?.[1] !== undefined ? index.get(qualified[1]) : undefined;
  }

  /**
   * The project's Lambda functions, with resolved environments.
   * @throws MissingLambdaMetadataError naming every function that lacks `llmops:entry`.
   */
  lambdaFunctions(): LocalLambdaFunction[] {
    return readLambdaFunctions(this, (logicalId, resource) => this.isIgnoredFunction(logicalId, resource));
  }

  /** State machines with parsed, fully resolved definitions. */
  stateMachines(): LocalStateMachine[] {
    return readStateMachines(this);
  }

  /** EventBridge rules with validated patterns and resolved targets. */
  rules(): LocalRule[] {
    return readRules(this);
  }

  /**
   * REST APIs with every method's full path (the Resource ParentId chain walked up to the API's root),
   * auth, integration and request settings.
   * @throws TemplateError for an API defined by an OpenAPI `Body`, a resource whose parent is not in the
   * template, or a Lambda integration whose URI names no function or disagrees with its transfer mode.
   */
  restApis(): LocalRestApi[] {
    return readRestApis(this);
  }

  /** API keys (`AWS::ApiGateway::ApiKey`). */
  apiKeys(): LocalApiKey[] {
    return readApiKeys(this);
  }

  /** Usage plans (`AWS::ApiGateway::UsagePlan`) with their throttles, quotas and attached keys. */
  usagePlans(): LocalUsagePlan[] {
    return readUsagePlans(this);
  }

  /** Kinesis Data Firehose delivery streams, with their S3 destination when they have one. */
  deliveryStreams(): LocalDeliveryStream[] {
    return readDeliveryStreams(this);
  }

  /** CreateTable inputs for every DynamoDB table (streams, TTL, SSE and PITR are left out: local only). */
  tables(): CreateTableCommandInput[] {
    return readTables(this);
  }

  /**
   * CloudWatch metric alarms: names as `Ref` gives them (`AlarmName`, else the logical id), every property
   * resolved, SNS topics of the template named in their actions.
   */
  metricAlarms(): LocalMetricAlarm[] {
    return readMetricAlarms(this);
  }

  /** CloudWatch composite alarms, read like {@link metricAlarms} (the rule text resolved). */
  compositeAlarms(): LocalCompositeAlarm[] {
    return readCompositeAlarms(this);
  }

  /** Buckets and their local names. */
  buckets(): Array<{ readonly logicalId: string; readonly name: string }> {
    return this.resourcesOfType('AWS::S3::Bucket').map(({ logicalId }) => ({
      logicalId,
      name: this.ref(logicalId),
    }));
  }

  /** Custom event buses and their names/ARNs. */
  eventBuses(): Array<{ readonly logicalId: string; readonly name: string; readonly arn: string }> {
    return this.resourcesOfType('AWS::Events::EventBus').map(({ logicalId }) => ({
      logicalId,
      name: this.ref(logicalId),
      arn: this.getAtt(logicalId, 'Arn'),
    }));
  }

  /** Stack outputs, resolved (outputs whose Condition is false are left out). */
  outputs(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, output] of Object.entries(this.template.Outputs ?? {})) {
      if (output.Condition !== undefined && !this.condition(output.Condition)) continue;
      out[key] = this.resolve(output.Value);
    }
    return out;
  }

  /** Evaluates a named template Condition. */
  condition(name: string): boolean {
    const cached = this.conditionCache.get(name);
    if (cached !== undefined) return cached;
    const expression = this.template.Conditions?.[name];
    if (expression === undefined)
      throw new UnresolvableIntrinsicError(`No condition '${name}' in the template`);
    if (this.inProgress.has(`condition:${name}`)) {
      throw new UnresolvableIntrinsicError(`Condition '${name}' refers to itself`);
    }
    this.inProgress.add(`condition:${name}`);
    try {
      const value = this.resolveValue(expression, `Conditions.${name}`);
      if (typeof value !== 'boolean') {
        throw new UnresolvableIntrinsicError(`Condition '${name}' does not evaluate to true or false`);
      }
      this.conditionCache.set(name, value);
      return value;
    } finally {
      this.inProgress.delete(`condition:${name}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Physical names

  private isCreated(logicalId: string): boolean {
    const condition = this.template.Resources[logicalId]?.Condition;
    return condition === undefined || this.condition(condition);
  }

  private isIgnoredFunction(logicalId: string, resource: CfnResource): boolean {
    const ignore = this.options.ignoreFunctions;
    if (ignore === undefined) return false;
    return typeof ignore === 'function' ? ignore(logicalId, resource) : ignore.includes(logicalId);
  }

  private physical(logicalId: string): Physical {
    const cached = this.physicalCache.get(logicalId);
    if (cached) return cached;
    const resource = this.resource(logicalId);
    if (!this.isCreated(logicalId)) {
      throw new UnresolvableIntrinsicError(
        `Resource '${logicalId}' is not created: its condition '${resource.Condition}' is false`,
      );
    }
    if (this.inProgress.has(logicalId)) {
      throw new UnresolvableIntrinsicError(`Circular reference while naming resource '${logicalId}'`);
    }
    this.inProgress.add(logicalId);
    try {
      const computed =
        resource.Type === 'AWS::CloudWatch::CompositeAlarm'
          ? compositeAlarmIdentity(this, logicalId, resource)
          : physicalIdentity(this, logicalId, resource);
      const override = this.options.overrides?.[logicalId];
      const physical: Physical = override
        ? { ref: override.Ref ?? computed.ref, attributes: { ...computed.attributes, ...override } }
        : computed;
      this.physicalCache.set(logicalId, physical);
      return physical;
    } finally {
      this.inProgress.delete(logicalId);
    }
  }

  private buildReverseIndex(): Map<string, string> {
    if (this.reverseIndex) return this.reverseIndex;
    const index = new Map<string, string>();
    // ARNs first (unambiguous), then names/URLs; the first resource to claim a value keeps it.
    const entries: Array<readonly [string, string, boolean]> = [];
    for (const logicalId of Object.keys(this.template.Resources)) {
      let physical: Physical;
      try {
        if (!this.isCreated(logicalId)) continue;
        physical = this.physical(logicalId);
      } catch {
        continue; // a resource that cannot be named locally cannot be the target of an ARN either
      }
      for (const value of Object.values(physical.attributes))
        entries.push([value, logicalId, value.startsWith('arn:')]);
      entries.push([physical.ref, logicalId, physical.ref.startsWith('arn:')]);
    }
    for (const [value, logicalId] of entries.filter(([, , isArn]) => isArn)) {
      if (!index.has(value)) index.set(value, logicalId);
    }
    for (const [value, logicalId] of entries.filter(([, , isArn]) => !isArn)) {
      if (!index.has(value)) index.set(value, logicalId);
    }
    this.reverseIndex = index;
    return index;
  }

  // -------------------------------------------------------------------------------------------
  // Intrinsics

  private resolveValue(value: unknown, path: string): Resolved {
    if (Array.isArray(value)) {
      return value.map((v, i) => this.resolveValue(v, `${path}[${i}]`)).filter((v) => v !== NO_VALUE);
    }
    if (!isRecord(value)) return value;
    const keys = Object.keys(value);
    const only = keys[0];
    if (
      keys.length === 1 &&
      only !== undefined &&
      (only === 'Ref' || only.startsWith('Fn::') || only === 'Condition')
    ) {
      if (only !== 'Condition' || path.startsWith('Conditions.')) {
        return this.intrinsic(only, value[only], path);
      }
    }
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const resolved = this.resolveValue(value[key], path ? `${path}.${key}` : key);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  }

  private intrinsic(fn: string, arg: unknown, path: string): Resolved {
    const where = path ? ` (at ${path})` : '';
    switch (fn) {
      case 'Ref': {
        if (typeof arg !== 'string') throw new UnresolvableIntrinsicError(`Ref takes a name${where}`);
        return this.refName(arg, where);
      }
      case 'Fn::GetAtt': {
        let logicalId: unknown;
        let attribute: unknown;
        if (typeof arg === 'string') {
          const dot = arg.indexOf('.');
          logicalId = arg.slice(0, dot);
          attribute = arg.slice(dot + 1);
        } else if (Array.isArray(arg) && arg.length === 2) {
          logicalId = arg[0];
          attribute = this.resolveValue(arg[1], path);
        }
        if (typeof logicalId !== 'string' || typeof attribute !== 'string' || !logicalId || !attribute) {
          throw new UnresolvableIntrinsicError(`Fn::GetAtt takes [logicalId, attribute]${where}`);
        }
        return this.getAtt(logicalId, attribute);
      }
      case 'Fn::Join': {
        if (!Array.isArray(arg) || arg.length !== 2) {
          throw new UnresolvableIntrinsicError(`Fn::Join takes [delimiter, list]${where}`);
        }
        const delimiter = this.resolveValue(arg[0], path);
        const list = this.resolveValue(arg[1], path);
        if (typeof delimiter !== 'string' || !Array.isArray(list)) {
          throw new UnresolvableIntrinsicError(`Fn::Join takes [delimiter, list]${where}`);
        }
        return list.map((item) => scalarText(item, `Fn::Join element${where}`)).join(delimiter);
      }
      case 'Fn::Sub':
        return this.sub(arg, path, where);
      case 'Fn::Select': {
        if (!Array.isArray(arg) || arg.length !== 2) {
          throw new UnresolvableIntrinsicError(`Fn::Select takes [index, list]${where}`);
        }
        const index = Number(this.resolveValue(arg[0], path));
        const list = this.resolveValue(arg[1], path);
        if (!Array.isArray(list) || !Number.isInteger(index) || index < 0 || index >= list.length) {
          throw new UnresolvableIntrinsicError(`Fn::Select index ${String(arg[0])} is out of range${where}`);
        }
        return list[index];
      }
      case 'Fn::Split': {
        if (!Array.isArray(arg) || arg.length !== 2) {
          throw new UnresolvableIntrinsicError(`Fn::Split takes [delimiter, string]${where}`);
        }
        const delimiter = this.resolveValue(arg[0], path);
        const source = this.resolveValue(arg[1], path);
        if (typeof delimiter !== 'string' || typeof source !== 'string') {
          throw new UnresolvableIntrinsicError(`Fn::Split takes [delimiter, string]${where}`);
        }
        return source.split(delimiter);
      }
      case 'Fn::If': {
        if (!Array.isArray(arg) || arg.length !== 3 || typeof arg[0] !== 'string') {
          throw new UnresolvableIntrinsicError(`Fn::If takes [condition, then, else]${where}`);
        }
        return this.resolveValue(this.condition(arg[0]) ? arg[1] : arg[2], path);
      }
      case 'Fn::Equals': {
        if (!Array.isArray(arg) || arg.length !== 2) {
          throw new UnresolvableIntrinsicError(`Fn::Equals takes two values${where}`);
        }
        const [a, b] = arg.map((v) => this.resolveValue(v, path));
        return JSON.stringify(a) === JSON.stringify(b);
      }
      case 'Fn::And':
      case 'Fn::Or': {
        if (!Array.isArray(arg) || arg.length < 1) {
          throw new UnresolvableIntrinsicError(`${fn} takes a list of conditions${where}`);
        }
        const values = arg.map((v) => this.booleanOf(v, path, fn));
        return fn === 'Fn::And' ? values.every(Boolean) : values.some(Boolean);
      }
      case 'Fn::Not': {
        if (!Array.isArray(arg) || arg.length !== 1) {
          throw new UnresolvableIntrinsicError(`Fn::Not takes [condition]${where}`);
        }
        return !this.booleanOf(arg[0], path, fn);
      }
      case 'Condition': {
        if (typeof arg !== 'string') throw new UnresolvableIntrinsicError(`Condition takes a name${where}`);
        return this.condition(arg);
      }
      case 'Fn::FindInMap': {
        if (!Array.isArray(arg) || arg.length < 3) {
          throw new UnresolvableIntrinsicError(`Fn::FindInMap takes [map, key, key]${where}`);
        }
        const [map, top, second] = arg.slice(0, 3).map((v) => String(this.resolveValue(v, path)));
        const value = this.template.Mappings?.[map ?? '']?.[top ?? '']?.[second ?? ''];
        if (value === undefined) {
          throw new UnresolvableIntrinsicError(
            `Fn::FindInMap ${map}/${top}/${second} is not in Mappings${where}`,
          );
        }
        return this.resolveValue(value, path);
      }
      case 'Fn::Base64': {
        const text = this.resolveValue(arg, path);
        if (typeof text !== 'string')
          throw new UnresolvableIntrinsicError(`Fn::Base64 takes a string${where}`);
        return Buffer.from(text, 'utf8').toString('base64');
      }
      case 'Fn::GetAZs':
        return [`${this.region}a`, `${this.region}b`, `${this.region}c`];
      case 'Fn::ToJsonString':
        return JSON.stringify(this.resolveValue(arg, path));
      case 'Fn::Length': {
        const list = this.resolveValue(arg, path);
        if (!Array.isArray(list)) throw new UnresolvableIntrinsicError(`Fn::Length takes a list${where}`);
        return list.length;
      }
      case 'Fn::ImportValue':
        throw new UnresolvableIntrinsicError(
          `Fn::ImportValue${where} refers to another stack's export, which does not exist locally`,
        );
      default:
        throw new UnresolvableIntrinsicError(`Intrinsic function ${fn} is not supported locally${where}`);
    }
  }

  private booleanOf(value: unknown, path: string, fn: string): boolean {
    const resolved = this.resolveValue(value, path.startsWith('Conditions.') ? path : `Conditions.${path}`);
    if (typeof resolved !== 'boolean') {
      throw new UnresolvableIntrinsicError(`${fn} needs conditions that evaluate to true/false`);
    }
    return resolved;
  }

  private refName(name: string, where: string): Resolved {
    if (PSEUDO_PARAMETERS.has(name)) return this.pseudo(name);
    if (this.template.Resources[name] !== undefined) {
      const override = this.options.overrides?.[name]?.Ref;
      return override ?? this.ref(name);
    }
    const parameter = this.template.Parameters?.[name];
    if (parameter !== undefined) {
      const supplied = this.options.parameters?.[name];
      if (supplied !== undefined) return supplied;
      if (parameter.Type?.startsWith('AWS::SSM::Parameter::Value')) {
        throw new UnresolvableIntrinsicError(
          `Ref ${name}${where}: an SSM-backed parameter has no local value; pass it in 'parameters'`,
        );
      }
      if (parameter.Default === undefined) {
        throw new UnresolvableIntrinsicError(
          `Ref ${name}${where}: parameter has no Default; pass it in 'parameters'`,
        );
      }
      return parameter.Default;
    }
    throw new UnresolvableIntrinsicError(
      `Ref ${name}${where}: no such resource, parameter or pseudo parameter`,
    );
  }

  private pseudo(name: string): Resolved {
    switch (name) {
      case 'AWS::Region':
        return this.region;
      case 'AWS::AccountId':
        return this.account;
      case 'AWS::Partition':
        return this.partition;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.stackName;
      case 'AWS::StackId':
        return `arn:${this.partition}:cloudformation:${this.region}:${this.account}:stack/${this.stackName}/${fakeUuid(this.stackName)}`;
      case 'AWS::NotificationARNs':
        return [];
      default:
        return NO_VALUE;
    }
  }

  private sub(arg: unknown, path: string, where: string): string {
    let text: unknown;
    let variables: Record<string, unknown> = {};
    if (typeof arg === 'string') {
      text = arg;
    } else if (Array.isArray(arg) && arg.length === 2 && isRecord(arg[1])) {
      text = arg[0];
      variables = arg[1];
    }
    if (typeof text !== 'string') {
      throw new UnresolvableIntrinsicError(`Fn::Sub takes a string or [string, variables]${where}`);
    }
    return text.replace(/\$\{([^}]*)\}/g, (_whole, raw: string) => {
      if (raw.startsWith('!')) return `\${${raw.slice(1)}}`;
      const name = raw.trim();
      if (Object.hasOwn(variables, name)) {
        return scalarText(this.resolveValue(variables[name], path), `Fn::Sub variable ${name}${where}`);
      }
      if (PSEUDO_PARAMETERS.has(name) || !name.includes('.')) {
        return scalarText(this.refName(name, where), `Fn::Sub \${${name}}${where}`);
      }
      const dot = name.indexOf('.');
      return this.getAtt(name.slice(0, dot), name.slice(dot + 1));
    });
  }
}
