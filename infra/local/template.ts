/**
 * A synthesized CloudFormation template, read for the local runner: every resource gets a deterministic
 * local physical name/ARN, and intrinsic functions resolve against them the way CloudFormation would.
 * The template is the single source of truth: nothing here repeats what the stack declares.
 */
import { createHash } from 'node:crypto';
import type {
  AttributeDefinition,
  CreateTableCommandInput,
  GlobalSecondaryIndex,
  KeySchemaElement,
  LocalSecondaryIndex,
  Projection,
  ProvisionedThroughput,
} from '@aws-sdk/client-dynamodb';
import { validatePattern } from './event-pattern.ts';

/** Base class of every error raised while reading or resolving a template. */
export class TemplateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TemplateError';
  }
}

/** An intrinsic function that cannot be resolved locally (unknown resource, unsupported function, ...). */
export class UnresolvableIntrinsicError extends TemplateError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnresolvableIntrinsicError';
  }
}

/** `Fn::GetAtt` of an attribute the local runner does not model for that resource type. */
export class UnsupportedAttributeError extends UnresolvableIntrinsicError {
  readonly logicalId: string;
  readonly attribute: string;
  constructor(logicalId: string, type: string, attribute: string, known: readonly string[]) {
    super(
      `Fn::GetAtt ${logicalId}.${attribute}: attribute '${attribute}' of ${type} is not available locally` +
        (known.length > 0 ? ` (known: ${known.join(', ')})` : '') +
        `; pass a value through LocalTemplate's 'overrides' option if the runner needs it`,
    );
    this.name = 'UnsupportedAttributeError';
    this.logicalId = logicalId;
    this.attribute = attribute;
  }
}

/** A Lambda function without the `llmops:entry` metadata that maps it to its handler module. */
export class MissingLambdaMetadataError extends TemplateError {
  readonly logicalIds: readonly string[];
  constructor(logicalIds: readonly string[]) {
    super(
      `Lambda function(s) without 'llmops:entry' metadata: ${logicalIds.join(', ')}. Every function the ` +
        `runner invokes must record its handler module when it is defined (Metadata 'llmops:entry'); list ` +
        `functions that are not the project's (e.g. CDK custom-resource providers) in 'ignoreFunctions'.`,
    );
    this.name = 'MissingLambdaMetadataError';
    this.logicalIds = logicalIds;
  }
}

/** One resource as it appears in the template. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
  readonly Condition?: string;
}

/** The parts of a template the runner reads. */
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { readonly Value: unknown; readonly Condition?: string }>;
  readonly Conditions?: Record<string, unknown>;
  readonly Parameters?: Record<string, { readonly Type?: string; readonly Default?: unknown }>;
  readonly Mappings?: Record<string, Record<string, Record<string, unknown>>>;
}

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

/** A Lambda function as the local runner invokes it. */
export interface LocalLambdaFunction {
  readonly logicalId: string;
  readonly arn: string;
  readonly name: string;
  /** Handler module, relative to the repository root (Metadata `llmops:entry`). */
  readonly entry: string;
  /** Exported handler name (Metadata `llmops:handler`, else the part after the dot of `Handler`). */
  readonly handler: string;
  /** Environment variables, resolved to strings. */
  readonly environment: Readonly<Record<string, string>>;
  /** @default 3 (Lambda's default) */
  readonly timeoutSeconds: number;
  /** @default 128 (Lambda's default) */
  readonly memoryMb: number;
}

/** A state machine with its definition parsed and every token resolved. */
export interface LocalStateMachine {
  readonly logicalId: string;
  readonly arn: string;
  readonly name: string;
  /** Metadata `llmops:pipeline`, when present. */
  readonly pipeline: string | undefined;
  /** `STANDARD` or `EXPRESS`. */
  readonly type: string;
  readonly definition: Record<string, unknown>;
}

/** One target of a rule, with intrinsics resolved. */
export interface LocalRuleTarget {
  readonly Id: string;
  readonly Arn: string;
  /** Logical id of the target resource, when it is declared in this template. */
  readonly targetLogicalId: string | undefined;
  /** CloudFormation type of the target resource, when it is declared in this template. */
  readonly targetType: string | undefined;
  readonly Input?: string;
  readonly InputPath?: string;
  readonly InputTransformer?: {
    readonly InputPathsMap?: Record<string, string>;
    readonly InputTemplate: string;
  };
  readonly DeadLetterConfig?: { readonly Arn?: string };
  readonly RetryPolicy?: {
    readonly MaximumRetryAttempts?: number;
    readonly MaximumEventAgeInSeconds?: number;
  };
  readonly RoleArn?: string;
  /** Any other target property, resolved. */
  readonly [other: string]: unknown;
}

/** An EventBridge rule as the local router needs it. */
export interface LocalRule {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** `'default'` or the resolved name of the custom bus. */
  readonly busName: string;
  /** The event pattern (validated), or undefined for a schedule-only rule. */
  readonly pattern: Record<string, unknown> | undefined;
  readonly scheduleExpression: string | undefined;
  readonly state: 'ENABLED' | 'DISABLED';
  readonly targets: readonly LocalRuleTarget[];
}

/** How API Gateway hands a request to a method's backend. */
export interface LocalApiIntegration {
  /** `AWS_PROXY` (Lambda proxy), `MOCK`, `HTTP_PROXY`, `AWS` or `HTTP`. */
  readonly type: string;
  /** The resolved integration URI (Lambda: `arn:aws:apigateway:<region>:lambda:path/.../invocations`). */
  readonly uri: string | undefined;
  /** ARN of the Lambda function a Lambda integration invokes (with its qualifier, if any). */
  readonly functionArn: string | undefined;
  /** Logical id of that function, when it is declared in this template. */
  readonly functionLogicalId: string | undefined;
  /** `ResponseTransferMode: STREAM` (the URI then ends in `/response-streaming-invocations`). */
  readonly streaming: boolean;
  /** Integration timeout. @default 29000 */
  readonly timeoutMs: number;
  /** `IntegrationResponses`, resolved (what a MOCK integration answers). */
  readonly integrationResponses: ReadonlyArray<Readonly<Record<string, unknown>>>;
  /** `RequestTemplates`, resolved. */
  readonly requestTemplates: Readonly<Record<string, string>>;
}

/** One method of a REST API (`AWS::ApiGateway::Method`). */
export interface LocalApiMethod {
  readonly logicalId: string;
  /** `GET`, `POST`, ..., or `ANY`. */
  readonly httpMethod: string;
  /** Full resource path with `{param}` placeholders, e.g. `/v1/prompts/{name}` (`/` for the root). */
  readonly path: string;
  /** The API's id of the method's resource. */
  readonly resourceId: string;
  /** `NONE`, `AWS_IAM`, `CUSTOM` or `COGNITO_USER_POOLS`. */
  readonly authorizationType: string;
  readonly apiKeyRequired: boolean;
  readonly operationName: string | undefined;
  /** `RequestParameters`: `method.request.(path|querystring|header).<name>` → required. */
  readonly requestParameters: Readonly<Record<string, boolean>>;
  /** `RequestModels`: content type → model name. */
  readonly requestModels: Readonly<Record<string, string>>;
  /** The request validator the method uses, if any. */
  readonly requestValidator:
    | { readonly validateRequestBody: boolean; readonly validateRequestParameters: boolean }
    | undefined;
  readonly integration: LocalApiIntegration;
}

/** A customized gateway response (`AWS::ApiGateway::GatewayResponse`). */
export interface LocalGatewayResponse {
  readonly logicalId: string;
  /** `INVALID_API_KEY`, `MISSING_AUTHENTICATION_TOKEN`, `DEFAULT_4XX`, ... */
  readonly responseType: string;
  readonly statusCode: number | undefined;
  /** `gatewayresponse.header.<name>` → mapping expression (a quoted static value, e.g. `'*'`). */
  readonly responseParameters: Readonly<Record<string, string>>;
  /** Content type → body template. */
  readonly responseTemplates: Readonly<Record<string, string>>;
}

/** A deployment stage of a REST API. */
export interface LocalApiStage {
  readonly logicalId: string;
  readonly name: string;
  readonly variables: Readonly<Record<string, string>>;
}

/** A REST API (`AWS::ApiGateway::RestApi`) with its resource tree walked into full paths. */
export interface LocalRestApi {
  readonly logicalId: string;
  /** The API's local id (what `Ref` returns). */
  readonly id: string;
  readonly name: string;
  readonly rootResourceId: string;
  /** `HEADER` (the `x-api-key` header) or `AUTHORIZER`. */
  readonly apiKeySourceType: string;
  /** Media types sent to integrations base64-encoded (`~1` already turned back into `/`). */
  readonly binaryMediaTypes: readonly string[];
  readonly stages: readonly LocalApiStage[];
  /** Every resource (with or without methods) as `{ id, path }`, the root included. */
  readonly resources: ReadonlyArray<{ readonly id: string; readonly path: string }>;
  readonly methods: readonly LocalApiMethod[];
  readonly gatewayResponses: readonly LocalGatewayResponse[];
}

/** An API key (`AWS::ApiGateway::ApiKey`). Its value is never in the template unless `Value` is set. */
export interface LocalApiKey {
  readonly logicalId: string;
  /** The key's local id (what `Ref` returns; `requestContext.identity.apiKeyId`). */
  readonly id: string;
  readonly name: string | undefined;
  readonly description: string | undefined;
  readonly enabled: boolean;
  /** `Value`, when the template sets one. */
  readonly value: string | undefined;
}

/** Throttling of a usage plan or of one of its methods. */
export interface LocalThrottle {
  /** Steady-state requests per second. */
  readonly rateLimit: number | undefined;
  readonly burstLimit: number | undefined;
}

/** A usage plan (`AWS::ApiGateway::UsagePlan`) with the keys attached to it (`UsagePlanKey`). */
export interface LocalUsagePlan {
  readonly logicalId: string;
  readonly id: string;
  readonly name: string | undefined;
  readonly throttle: LocalThrottle | undefined;
  readonly quota:
    | { readonly limit: number; readonly period: 'DAY' | 'WEEK' | 'MONTH'; readonly offset: number }
    | undefined;
  /** API stages the plan covers, with per-method throttles keyed `<resource path>/<METHOD>`. */
  readonly apiStages: ReadonlyArray<{
    readonly apiId: string;
    readonly stage: string;
    readonly throttle: Readonly<Record<string, LocalThrottle>>;
  }>;
  /** Local ids of the API keys attached to the plan. */
  readonly apiKeyIds: readonly string[];
}

/** The S3 destination of a delivery stream, as the local runner writes to it. */
export interface LocalFirehoseS3Destination {
  readonly bucketArn: string;
  readonly bucketName: string;
  /** The raw Prefix, with its `!{namespace:...}` expressions unevaluated. */
  readonly prefix: string;
  readonly errorOutputPrefix: string | undefined;
  /** `UNCOMPRESSED`, `GZIP`, `ZIP`, `Snappy` or `HADOOP_SNAPPY`. */
  readonly compressionFormat: string;
  /** `FileExtension`, when set (otherwise `.gz` for GZIP, none for UNCOMPRESSED). */
  readonly fileExtension: string | undefined;
  readonly bufferingHints: { readonly intervalInSeconds: number; readonly sizeInMBs: number };
  /** Enabled processors, with their parameters as a name → value map. */
  readonly processors: ReadonlyArray<{
    readonly type: string;
    readonly parameters: Readonly<Record<string, string>>;
  }>;
  readonly dynamicPartitioning: boolean;
  readonly dataFormatConversion: boolean;
  /** `CustomTimeZone` (prefix and object name times), when set. @default UTC */
  readonly customTimeZone: string | undefined;
}

/** A Kinesis Data Firehose delivery stream (`AWS::KinesisFirehose::DeliveryStream`). */
export interface LocalDeliveryStream {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** `DirectPut` or `KinesisStreamAsSource`. */
  readonly type: string;
  /** The S3 destination (ExtendedS3DestinationConfiguration or S3DestinationConfiguration), if that is its destination. */
  readonly s3: LocalFirehoseS3Destination | undefined;
}

/** A resource's local identity: what `Ref` returns and the attributes `Fn::GetAtt` can read. */
interface Physical {
  readonly ref: string;
  readonly attributes: Readonly<Record<string, string>>;
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
    const missing: string[] = [];
    const out: LocalLambdaFunction[] = [];
    for (const { logicalId, resource } of this.resourcesOfType('AWS::Lambda::Function')) {
      if (this.isIgnoredFunction(logicalId, resource)) continue;
      const entry = resource.Metadata?.['llmops:entry'];
      if (typeof entry !== 'string' || entry.length === 0) {
        missing.push(logicalId);
        continue;
      }
      const props = resource.Properties ?? {};
      const environment: Record<string, string> = {};
      const variables = this.resolve(getPath(props, ['Environment', 'Variables']));
      if (isRecord(variables)) {
        for (const [key, value] of Object.entries(variables)) {
          if (typeof value === 'string') environment[key] = value;
          else if (typeof value === 'number' || typeof value === 'boolean') environment[key] = String(value);
          else {
            throw new TemplateError(
              `Environment variable ${key} of ${logicalId} resolves to ${describe(value)}, not a string`,
            );
          }
        }
      }
      const metaHandler = resource.Metadata?.['llmops:handler'];
      const cfnHandler = props.Handler;
      const handler =
        typeof metaHandler === 'string' && metaHandler
          ? metaHandler
          : typeof cfnHandler === 'string' && cfnHandler.includes('.')
            ? cfnHandler.slice(cfnHandler.lastIndexOf('.') + 1)
            : 'handler';
      out.push({
        logicalId,
        arn: this.getAtt(logicalId, 'Arn'),
        name: this.ref(logicalId),
        entry,
        handler,
        environment,
        timeoutSeconds: numberOr(this.resolve(props.Timeout), 3),
        memoryMb: numberOr(this.resolve(props.MemorySize), 128),
      });
    }
    if (missing.length > 0) throw new MissingLambdaMetadataError(missing);
    return out;
  }

  /** State machines with parsed, fully resolved definitions. */
  stateMachines(): LocalStateMachine[] {
    return this.resourcesOfType('AWS::StepFunctions::StateMachine').map(({ logicalId, resource }) => {
      const props = resource.Properties ?? {};
      const substitutions = this.resolve(props.DefinitionSubstitutions);
      const substitute = (text: string): string =>
        isRecord(substitutions)
          ? text.replace(/\$\{([^}]+)\}/g, (whole, key: string) => {
              const value = substitutions[key];
              return value === undefined ? whole : String(value);
            })
          : text;
      let definition: unknown;
      if (props.DefinitionString !== undefined) {
        const text = substitute(
          this.resolveString(props.DefinitionString, `DefinitionString of ${logicalId}`),
        );
        try {
          definition = JSON.parse(text);
        } catch (error) {
          throw new TemplateError(`DefinitionString of ${logicalId} is not valid JSON`, { cause: error });
        }
      } else if (props.Definition !== undefined) {
        definition = mapStrings(this.resolve(props.Definition), substitute);
      } else {
        throw new TemplateError(
          `State machine ${logicalId} has no DefinitionString or Definition (DefinitionS3Location is not supported locally)`,
        );
      }
      if (!isRecord(definition)) throw new TemplateError(`Definition of ${logicalId} is not a JSON object`);
      const pipeline = resource.Metadata?.['llmops:pipeline'];
      const type = this.resolve(props.StateMachineType);
      return {
        logicalId,
        arn: this.ref(logicalId),
        name: this.getAtt(logicalId, 'Name'),
        pipeline: typeof pipeline === 'string' ? pipeline : undefined,
        type: typeof type === 'string' ? type : 'STANDARD',
        definition,
      };
    });
  }

  /** EventBridge rules with validated patterns and resolved targets. */
  rules(): LocalRule[] {
    return this.resourcesOfType('AWS::Events::Rule').map(({ logicalId, resource }) => {
      const props = resource.Properties ?? {};
      let pattern = this.resolve(props.EventPattern);
      if (typeof pattern === 'string') {
        try {
          pattern = JSON.parse(pattern);
        } catch (error) {
          throw new TemplateError(`EventPattern of rule ${logicalId} is not valid JSON`, { cause: error });
        }
      }
      if (pattern !== undefined) {
        if (!isRecord(pattern)) throw new TemplateError(`EventPattern of rule ${logicalId} is not an object`);
        validatePattern(pattern);
      }
      const schedule = this.resolve(props.ScheduleExpression);
      const state = this.resolve(props.State);
      const rawTargets = this.resolve(props.Targets);
      const targets = (Array.isArray(rawTargets) ? rawTargets : []).map((target, i): LocalRuleTarget => {
        if (!isRecord(target) || typeof target.Arn !== 'string' || typeof target.Id !== 'string') {
          throw new TemplateError(`Target ${i} of rule ${logicalId} needs a string Id and Arn`);
        }
        const targetLogicalId = this.logicalIdForArn(target.Arn);
        return {
          ...target,
          Id: target.Id,
          Arn: target.Arn,
          targetLogicalId,
          targetType: targetLogicalId !== undefined ? this.resource(targetLogicalId).Type : undefined,
        };
      });
      return {
        logicalId,
        name: this.physical(logicalId).attributes.Name ?? logicalId,
        arn: this.getAtt(logicalId, 'Arn'),
        busName: this.ruleBusName(logicalId),
        pattern,
        scheduleExpression: typeof schedule === 'string' ? schedule : undefined,
        state: state === 'DISABLED' ? 'DISABLED' : 'ENABLED',
        targets,
      };
    });
  }

  /**
   * REST APIs with every method's full path (the Resource ParentId chain walked up to the API's root),
   * auth, integration and request settings.
   * @throws TemplateError for an API defined by an OpenAPI `Body`, a resource whose parent is not in the
   * template, or a Lambda integration whose URI names no function or disagrees with its transfer mode.
   */
  restApis(): LocalRestApi[] {
    const resources = this.resourcesOfType('AWS::ApiGateway::Resource').map(({ logicalId, resource }) => {
      const props = resource.Properties ?? {};
      return {
        logicalId,
        id: this.ref(logicalId),
        apiId: this.resolveString(props.RestApiId, `RestApiId of ${logicalId}`),
        parentId: this.resolveString(props.ParentId, `ParentId of ${logicalId}`),
        pathPart: this.resolveString(props.PathPart, `PathPart of ${logicalId}`),
      };
    });
    const validators = new Map<
      string,
      { validateRequestBody: boolean; validateRequestParameters: boolean }
    >();
    for (const { logicalId, resource } of this.resourcesOfType('AWS::ApiGateway::RequestValidator')) {
      const props = resource.Properties ?? {};
      validators.set(this.ref(logicalId), {
        validateRequestBody: this.resolve(props.ValidateRequestBody) === true,
        validateRequestParameters: this.resolve(props.ValidateRequestParameters) === true,
      });
    }

    return this.resourcesOfType('AWS::ApiGateway::RestApi').map(({ logicalId, resource }) => {
      const props = resource.Properties ?? {};
      if (props.Body !== undefined || props.BodyS3Location !== undefined) {
        throw new TemplateError(
          `RestApi ${logicalId} is defined by an OpenAPI document (Body/BodyS3Location), which the local ` +
            'runner does not read: define its Resources and Methods in the template',
        );
      }
      const id = this.ref(logicalId);
      const rootResourceId = this.getAtt(logicalId, 'RootResourceId');
      const own = new Map(resources.filter((r) => r.apiId === id).map((r) => [r.id, r]));
      const paths = new Map<string, string>([[rootResourceId, '/']]);
      const pathOf = (resourceId: string, seen: Set<string>): string => {
        const known = paths.get(resourceId);
        if (known !== undefined) return known;
        const node = own.get(resourceId);
        if (!node) {
          throw new TemplateError(
            `Resource id '${resourceId}' of RestApi ${logicalId} is neither its root nor one of its resources`,
          );
        }
        if (seen.has(resourceId)) throw new TemplateError(`Resource ${node.logicalId} is its own ancestor`);
        seen.add(resourceId);
        const parent = pathOf(node.parentId, seen);
        const path = `${parent === '/' ? '' : parent}/${node.pathPart}`;
        paths.set(resourceId, path);
        return path;
      };
      for (const node of own.values()) pathOf(node.id, new Set());

      const methods = this.resourcesOfType('AWS::ApiGateway::Method')
        .filter(({ resource: m }) => this.resolve(m.Properties?.RestApiId) === id)
        .map(({ logicalId: methodId, resource: m }): LocalApiMethod => {
          const mp = m.Properties ?? {};
          const resourceId = this.resolveString(mp.ResourceId, `ResourceId of ${methodId}`);
          const validatorId = this.resolve(mp.RequestValidatorId);
          const requestModels: Record<string, string> = {};
          const rawModels = this.resolve(mp.RequestModels);
          if (isRecord(rawModels)) {
            for (const [contentType, model] of Object.entries(rawModels)) {
              requestModels[contentType] = String(model);
            }
          }
          const requestParameters: Record<string, boolean> = {};
          const rawParameters = this.resolve(mp.RequestParameters);
          if (isRecord(rawParameters)) {
            for (const [name, required] of Object.entries(rawParameters)) {
              requestParameters[name] = required === true || required === 'true';
            }
          }
          const operationName = this.resolve(mp.OperationName);
          return {
            logicalId: methodId,
            httpMethod: this.resolveString(mp.HttpMethod, `HttpMethod of ${methodId}`).toUpperCase(),
            path: pathOf(resourceId, new Set()),
            resourceId,
            authorizationType:
              mp.AuthorizationType === undefined
                ? 'NONE'
                : this.resolveString(mp.AuthorizationType, `AuthorizationType of ${methodId}`),
            apiKeyRequired:
              this.resolve(mp.ApiKeyRequired) === true || this.resolve(mp.ApiKeyRequired) === 'true',
            operationName: typeof operationName === 'string' ? operationName : undefined,
            requestParameters,
            requestModels,
            requestValidator: typeof validatorId === 'string' ? validators.get(validatorId) : undefined,
            integration: this.apiIntegration(methodId, mp.Integration),
          };
        });

      const stages: LocalApiStage[] = this.resourcesOfType('AWS::ApiGateway::Stage')
        .filter(({ resource: s }) => this.resolve(s.Properties?.RestApiId) === id)
        .map(({ logicalId: stageId, resource: s }) => ({
          logicalId: stageId,
          name: this.ref(stageId),
          variables: stringRecord(this.resolve(s.Properties?.Variables)),
        }));
      for (const { logicalId: deploymentId, resource: d } of this.resourcesOfType(
        'AWS::ApiGateway::Deployment',
      )) {
        const stageName = this.resolve(d.Properties?.StageName);
        if (this.resolve(d.Properties?.RestApiId) === id && typeof stageName === 'string') {
          if (!stages.some((s) => s.name === stageName)) {
            stages.push({ logicalId: deploymentId, name: stageName, variables: {} });
          }
        }
      }

      const gatewayResponses = this.resourcesOfType('AWS::ApiGateway::GatewayResponse')
        .filter(({ resource: g }) => this.resolve(g.Properties?.RestApiId) === id)
        .map(({ logicalId: responseId, resource: g }): LocalGatewayResponse => {
          const gp = g.Properties ?? {};
          const status = this.resolve(gp.StatusCode);
          return {
            logicalId: responseId,
            responseType: this.resolveString(gp.ResponseType, `ResponseType of ${responseId}`),
            statusCode: status === undefined ? undefined : Number(status),
            responseParameters: stringRecord(this.resolve(gp.ResponseParameters)),
            responseTemplates: stringRecord(this.resolve(gp.ResponseTemplates)),
          };
        });

      const binary = this.resolve(props.BinaryMediaTypes);
      const sourceType = this.resolve(props.ApiKeySourceType);
      const name = this.resolve(props.Name);
      return {
        logicalId,
        id,
        name: typeof name === 'string' ? name : logicalId,
        rootResourceId,
        apiKeySourceType: typeof sourceType === 'string' ? sourceType : 'HEADER',
        binaryMediaTypes: (Array.isArray(binary) ? binary : []).map((t) => String(t).replaceAll('~1', '/')),
        stages,
        resources: [...paths.entries()].map(([resourceId, path]) => ({ id: resourceId, path })),
        methods,
        gatewayResponses,
      };
    });
  }

  /** API keys (`AWS::ApiGateway::ApiKey`). */
  apiKeys(): LocalApiKey[] {
    return this.resourcesOfType('AWS::ApiGateway::ApiKey').map(({ logicalId, resource }) => {
      const props = resource.Properties ?? {};
      const name = this.resolve(props.Name);
      const description = this.resolve(props.Description);
      const value = this.resolve(props.Value);
      const enabled = this.resolve(props.Enabled);
      return {
        logicalId,
        id: this.ref(logicalId),
        name: typeof name === 'string' ? name : undefined,
        description: typeof description === 'string' ? description : undefined,
        // CloudFormation creates keys disabled unless Enabled is true.
        enabled: enabled === true || enabled === 'true',
        value: typeof value === 'string' ? value : undefined,
      };
    });
  }

  /** Usage plans (`AWS::ApiGateway::UsagePlan`) with their throttles, quotas and attached keys. */
  usagePlans(): LocalUsagePlan[] {
    const planKeys = this.resourcesOfType('AWS::ApiGateway::UsagePlanKey').map(({ logicalId, resource }) => ({
      planId: this.resolveString(resource.Properties?.UsagePlanId, `UsagePlanId of ${logicalId}`),
      keyId: this.resolveString(resource.Properties?.KeyId, `KeyId of ${logicalId}`),
    }));
    return this.resourcesOfType('AWS::ApiGateway::UsagePlan').map(({ logicalId, resource }) => {
      const props = this.resolve(resource.Properties ?? {});
      if (!isRecord(props))
        throw new TemplateError(`Properties of usage plan ${logicalId} are not an object`);
      const id = this.ref(logicalId);
      const quota = isRecord(props.Quota) ? props.Quota : undefined;
      const period = quota?.Period;
      const stages = Array.isArray(props.ApiStages) ? props.ApiStages : [];
      return {
        logicalId,
        id,
        name: typeof props.UsagePlanName === 'string' ? props.UsagePlanName : undefined,
        throttle: throttleOf(props.Throttle),
        quota:
          quota && (period === 'DAY' || period === 'WEEK' || period === 'MONTH')
            ? { limit: numberOr(quota.Limit, 0), period, offset: numberOr(quota.Offset, 0) }
            : undefined,
        apiStages: stages.filter(isRecord).map((stage) => {
          const throttle: Record<string, LocalThrottle> = {};
          if (isRecord(stage.Throttle)) {
            for (const [method, value] of Object.entries(stage.Throttle)) {
              const parsed = throttleOf(value);
              if (parsed) throttle[method] = parsed;
            }
          }
          return { apiId: String(stage.ApiId), stage: String(stage.Stage), throttle };
        }),
        apiKeyIds: planKeys.filter((k) => k.planId === id).map((k) => k.keyId),
      };
    });
  }

  /** Kinesis Data Firehose delivery streams, with their S3 destination when they have one. */
  deliveryStreams(): LocalDeliveryStream[] {
    return this.resourcesOfType('AWS::KinesisFirehose::DeliveryStream').map(({ logicalId, resource }) => {
      const props = resource.Properties ?? {};
      const type = this.resolve(props.DeliveryStreamType);
      const config = this.resolve(
        props.ExtendedS3DestinationConfiguration ?? props.S3DestinationConfiguration,
      );
      let s3: LocalFirehoseS3Destination | undefined;
      if (isRecord(config)) {
        const bucketArn = String(config.BucketARN ?? '');
        const bucket = /^arn:[^:]+:s3:::([^/]+)$/.exec(bucketArn)?.[1];
        if (bucket === undefined) {
          throw new TemplateError(
            `BucketARN of delivery stream ${logicalId} is not a bucket ARN: '${bucketArn}'`,
          );
        }
        const processing = isRecord(config.ProcessingConfiguration) ? config.ProcessingConfiguration : {};
        const processors =
          processing.Enabled === false || processing.Enabled === 'false'
            ? []
            : (Array.isArray(processing.Processors) ? processing.Processors : [])
                .filter(isRecord)
                .map((p) => ({
                  type: String(p.Type),
                  parameters: Object.fromEntries(
                    (Array.isArray(p.Parameters) ? p.Parameters : [])
                      .filter(isRecord)
                      .map((parameter) => [
                        String(parameter.ParameterName),
                        String(parameter.ParameterValue),
                      ]),
                  ),
                }));
        const hints = isRecord(config.BufferingHints) ? config.BufferingHints : {};
        const enabledFlag = (value: unknown) =>
          isRecord(value) && (value.Enabled === true || value.Enabled === 'true');
        s3 = {
          bucketArn,
          bucketName: bucket,
          prefix: typeof config.Prefix === 'string' ? config.Prefix : '',
          errorOutputPrefix:
            typeof config.ErrorOutputPrefix === 'string' ? config.ErrorOutputPrefix : undefined,
          compressionFormat:
            typeof config.CompressionFormat === 'string' ? config.CompressionFormat : 'UNCOMPRESSED',
          fileExtension: typeof config.FileExtension === 'string' ? config.FileExtension : undefined,
          bufferingHints: {
            intervalInSeconds: numberOr(hints.IntervalInSeconds, 300),
            sizeInMBs: numberOr(hints.SizeInMBs, 5),
          },
          processors,
          dynamicPartitioning: enabledFlag(config.DynamicPartitioningConfiguration),
          dataFormatConversion: enabledFlag(config.DataFormatConversionConfiguration),
          customTimeZone: typeof config.CustomTimeZone === 'string' ? config.CustomTimeZone : undefined,
        };
      }
      return {
        logicalId,
        name: this.ref(logicalId),
        arn: this.getAtt(logicalId, 'Arn'),
        type: typeof type === 'string' ? type : 'DirectPut',
        s3,
      };
    });
  }

  /** CreateTable inputs for every DynamoDB table (streams, TTL, SSE and PITR are left out: local only). */
  tables(): CreateTableCommandInput[] {
    const tables = this.resourcesOfType('AWS::DynamoDB::Table').map(({ logicalId, resource }) =>
      this.tableInput(logicalId, resource, false),
    );
    const globals = this.resourcesOfType('AWS::DynamoDB::GlobalTable').map(({ logicalId, resource }) =>
      this.tableInput(logicalId, resource, true),
    );
    return [...tables, ...globals];
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
      const computed = this.computePhysical(logicalId, resource);
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

  private computePhysical(logicalId: string, resource: CfnResource): Physical {
    const props = resource.Properties ?? {};
    const { region, account, partition } = this;
    const named = (property: string, fallback: string): string =>
      props[property] === undefined
        ? fallback
        : this.resolveString(props[property], `${property} of ${logicalId}`);
    switch (resource.Type) {
      case 'AWS::S3::Bucket': {
        const name = named('BucketName', this.bucketName(logicalId));
        return {
          ref: name,
          attributes: {
            Arn: `arn:${partition}:s3:::${name}`,
            DomainName: `${name}.s3.amazonaws.com`,
            RegionalDomainName: `${name}.s3.${region}.amazonaws.com`,
            DualStackDomainName: `${name}.s3.dualstack.${region}.amazonaws.com`,
          },
        };
      }
      case 'AWS::DynamoDB::Table':
      case 'AWS::DynamoDB::GlobalTable': {
        const name = named('TableName', logicalId);
        return {
          ref: name,
          attributes: { Arn: `arn:${partition}:dynamodb:${region}:${account}:table/${name}` },
        };
      }
      case 'AWS::Lambda::Function': {
        const name = named('FunctionName', logicalId);
        return {
          ref: name,
          attributes: { Arn: `arn:${partition}:lambda:${region}:${account}:function:${name}` },
        };
      }
      case 'AWS::StepFunctions::StateMachine': {
        const name = named('StateMachineName', logicalId);
        const arn = `arn:${partition}:states:${region}:${account}:stateMachine:${name}`;
        return { ref: arn, attributes: { Arn: arn, Name: name, StateMachineRevisionId: arn } };
      }
      case 'AWS::Events::EventBus': {
        if (props.Name === undefined) throw new TemplateError(`Event bus ${logicalId} has no Name`);
        const name = named('Name', logicalId);
        return {
          ref: name,
          attributes: { Arn: `arn:${partition}:events:${region}:${account}:event-bus/${name}`, Name: name },
        };
      }
      case 'AWS::Events::Rule': {
        const name = named('Name', logicalId);
        const bus = this.ruleBusName(logicalId);
        const path = bus === 'default' ? name : `${bus}/${name}`;
        return {
          ref: bus === 'default' ? name : `${bus}|${name}`,
          attributes: { Arn: `arn:${partition}:events:${region}:${account}:rule/${path}`, Name: name },
        };
      }
      case 'AWS::SNS::Topic': {
        const fifo = this.resolve(props.FifoTopic) === true || this.resolve(props.FifoTopic) === 'true';
        const name = named('TopicName', fifo ? `${logicalId}.fifo` : logicalId);
        const arn = `arn:${partition}:sns:${region}:${account}:${name}`;
        return { ref: arn, attributes: { TopicArn: arn, TopicName: name } };
      }
      case 'AWS::SQS::Queue': {
        const fifo = this.resolve(props.FifoQueue) === true || this.resolve(props.FifoQueue) === 'true';
        const name = named('QueueName', fifo ? `${logicalId}.fifo` : logicalId);
        const url = `https://sqs.${region}.amazonaws.com/${account}/${name}`;
        return {
          ref: url,
          attributes: {
            Arn: `arn:${partition}:sqs:${region}:${account}:${name}`,
            QueueName: name,
            QueueUrl: url,
          },
        };
      }
      case 'AWS::KMS::Key': {
        const id = fakeUuid(`${this.stackName}/${logicalId}`);
        return {
          ref: id,
          attributes: { Arn: `arn:${partition}:kms:${region}:${account}:key/${id}`, KeyId: id },
        };
      }
      case 'AWS::KMS::Alias':
        return { ref: named('AliasName', `alias/${logicalId}`), attributes: {} };
      case 'AWS::IAM::Role': {
        const name = named('RoleName', logicalId);
        const path = props.Path === undefined ? '/' : this.resolveString(props.Path, `Path of ${logicalId}`);
        return {
          ref: name,
          attributes: {
            Arn: `arn:${partition}:iam::${account}:role${path}${name}`,
            RoleId: `AROA${hash(logicalId, 17).toUpperCase()}`,
          },
        };
      }
      case 'AWS::IAM::ManagedPolicy': {
        const name = named('ManagedPolicyName', logicalId);
        const arn = `arn:${partition}:iam::${account}:policy/${name}`;
        return { ref: arn, attributes: { PolicyArn: arn } };
      }
      case 'AWS::Logs::LogGroup': {
        const name = named('LogGroupName', logicalId);
        return {
          ref: name,
          attributes: { Arn: `arn:${partition}:logs:${region}:${account}:log-group:${name}:*` },
        };
      }
      case 'AWS::SSM::Parameter': {
        const name = named('Name', logicalId);
        const value =
          props.Value === undefined ? '' : this.resolveString(props.Value, `Value of ${logicalId}`);
        const type =
          props.Type === undefined ? 'String' : this.resolveString(props.Type, `Type of ${logicalId}`);
        return { ref: name, attributes: { Type: type, Value: value } };
      }
      case 'AWS::CloudWatch::Alarm': {
        const name = named('AlarmName', logicalId);
        return {
          ref: name,
          attributes: { Arn: `arn:${partition}:cloudwatch:${region}:${account}:alarm:${name}` },
        };
      }
      case 'AWS::Scheduler::Schedule': {
        const name = named('Name', logicalId);
        const group =
          props.GroupName === undefined ? 'default' : this.resolveString(props.GroupName, 'GroupName');
        return {
          ref: name,
          attributes: { Arn: `arn:${partition}:scheduler:${region}:${account}:schedule/${group}/${name}` },
        };
      }
      case 'AWS::ApiGateway::RestApi': {
        const id = apiGatewayId(logicalId, 10);
        return { ref: id, attributes: { RestApiId: id, RootResourceId: apiGatewayId(`${logicalId}/`, 10) } };
      }
      case 'AWS::ApiGateway::Resource': {
        const id = apiGatewayId(logicalId, 6);
        return { ref: id, attributes: { ResourceId: id } };
      }
      case 'AWS::ApiGateway::Stage':
        return { ref: named('StageName', logicalId), attributes: {} };
      case 'AWS::ApiGateway::Deployment': {
        const id = apiGatewayId(logicalId, 6);
        return { ref: id, attributes: { DeploymentId: id } };
      }
      case 'AWS::ApiGateway::ApiKey': {
        const id = apiGatewayId(logicalId, 10);
        return { ref: id, attributes: { APIKeyId: id } };
      }
      case 'AWS::ApiGateway::UsagePlan': {
        const id = apiGatewayId(logicalId, 6);
        return { ref: id, attributes: { Id: id } };
      }
      case 'AWS::ApiGateway::RequestValidator': {
        const id = apiGatewayId(logicalId, 6);
        return { ref: id, attributes: { RequestValidatorId: id } };
      }
      case 'AWS::ApiGateway::Model':
        return { ref: named('Name', logicalId), attributes: {} };
      case 'AWS::KinesisFirehose::DeliveryStream': {
        const name = named('DeliveryStreamName', logicalId);
        return {
          ref: name,
          attributes: { Arn: `arn:${partition}:firehose:${region}:${account}:deliverystream/${name}` },
        };
      }
      case 'AWS::OpenSearchServerless::Collection': {
        const id = apiGatewayId(logicalId, 20).toLowerCase();
        return {
          ref: id,
          attributes: {
            Id: id,
            Arn: `arn:${partition}:aoss:${region}:${account}:collection/${id}`,
            CollectionEndpoint: `https://${id}.${region}.aoss.amazonaws.com`,
            DashboardEndpoint: `https://${id}.${region}.aoss.amazonaws.com/_dashboards`,
          },
        };
      }
      case 'AWS::OpenSearchServerless::VpcEndpoint': {
        const id = `vpce-${apiGatewayId(logicalId, 17).toLowerCase()}`;
        return { ref: id, attributes: { Id: id } };
      }
      case 'AWS::S3Vectors::VectorBucket': {
        const name = named('VectorBucketName', logicalId.toLowerCase());
        const arn = `arn:${partition}:s3vectors:${region}:${account}:bucket/${name}`;
        return { ref: arn, attributes: { VectorBucketArn: arn, CreationTime: '2026-01-01T00:00:00Z' } };
      }
      case 'AWS::S3Vectors::Index': {
        const name = named('IndexName', logicalId.toLowerCase());
        const arn = `arn:${partition}:s3vectors:${region}:${account}:bucket/local/index/${name}`;
        return { ref: arn, attributes: { IndexArn: arn, CreationTime: '2026-01-01T00:00:00Z' } };
      }
      case 'AWS::EC2::VPC': {
        const id = `vpc-${apiGatewayId(logicalId, 17).toLowerCase()}`;
        return { ref: id, attributes: { VpcId: id, CidrBlock: '10.0.0.0/16' } };
      }
      case 'AWS::EC2::Subnet': {
        const id = `subnet-${apiGatewayId(logicalId, 17).toLowerCase()}`;
        return { ref: id, attributes: { SubnetId: id } };
      }
      case 'AWS::EC2::SecurityGroup': {
        const id = `sg-${apiGatewayId(logicalId, 17).toLowerCase()}`;
        return { ref: id, attributes: { GroupId: id } };
      }
      case 'AWS::Bedrock::Guardrail': {
        const id = apiGatewayId(logicalId, 12);
        const arn = `arn:${partition}:bedrock:${region}:${account}:guardrail/${id}`;
        return {
          ref: arn,
          attributes: { GuardrailArn: arn, GuardrailId: id, Version: 'DRAFT', Status: 'READY' },
        };
      }
      case 'AWS::Bedrock::GuardrailVersion': {
        const target = this.resolveString(props.GuardrailIdentifier, `GuardrailIdentifier of ${logicalId}`);
        const id = /guardrail\/([^/|]+)$/.exec(target)?.[1] ?? target;
        const arn = `arn:${partition}:bedrock:${region}:${account}:guardrail/${id}`;
        return { ref: `${arn}|1`, attributes: { GuardrailArn: arn, GuardrailId: id, Version: '1' } };
      }
      case 'AWS::SecretsManager::Secret': {
        const name = named('Name', logicalId);
        const arn = `arn:${partition}:secretsmanager:${region}:${account}:secret:${name}-${hash(logicalId, 6)}`;
        return { ref: arn, attributes: { Id: arn } };
      }
      default:
        return { ref: logicalId, attributes: {} };
    }
  }

  private apiIntegration(methodId: string, raw: unknown): LocalApiIntegration {
    const integration = this.resolve(raw);
    if (!isRecord(integration)) throw new TemplateError(`Method ${methodId} has no Integration`);
    const type = typeof integration.Type === 'string' ? integration.Type : '';
    const uri = typeof integration.Uri === 'string' ? integration.Uri : undefined;
    const mode =
      typeof integration.ResponseTransferMode === 'string' ? integration.ResponseTransferMode : 'BUFFERED';
    const streaming = mode === 'STREAM';
    let functionArn: string | undefined;
    if ((type === 'AWS_PROXY' || type === 'AWS') && uri?.includes(':lambda:path/')) {
      const match =
        /^arn:[^:]+:apigateway:[^:]*:lambda:path\/[^/]+\/functions\/(.+)\/(invocations|response-streaming-invocations)$/.exec(
          uri,
        );
      if (!match?.[1]) {
        throw new TemplateError(`Integration Uri of ${methodId} names no Lambda function: '${uri}'`);
      }
      functionArn = match[1];
      const expected = streaming ? 'response-streaming-invocations' : 'invocations';
      if (match[2] !== expected) {
        throw new TemplateError(
          `Integration of ${methodId}: ResponseTransferMode ${mode} needs a Uri ending in /${expected} ` +
            `(got '${uri}')`,
        );
      }
    }
    const responses = Array.isArray(integration.IntegrationResponses) ? integration.IntegrationResponses : [];
    return {
      type,
      uri,
      functionArn,
      functionLogicalId: functionArn === undefined ? undefined : this.logicalIdForArn(functionArn),
      streaming,
      timeoutMs: numberOr(integration.TimeoutInMillis, 29_000),
      integrationResponses: responses.filter(isRecord),
      requestTemplates: stringRecord(integration.RequestTemplates),
    };
  }

  private ruleBusName(logicalId: string): string {
    const raw = this.resource(logicalId).Properties?.EventBusName;
    if (raw === undefined) return 'default';
    const value = this.resolveString(raw, `EventBusName of ${logicalId}`);
    const arn = /^arn:[^:]+:events:[^:]*:[^:]*:event-bus\/(.+)$/.exec(value);
    return arn?.[1] ?? value;
  }

  private bucketName(logicalId: string): string {
    let name = `${this.namePrefix}-${logicalId}`
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^-+|-+$/g, '');
    if (name.length > 63) name = `${name.slice(0, 54).replace(/-+$/, '')}-${hash(logicalId, 8)}`;
    return name;
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
  // Tables

  private tableInput(logicalId: string, resource: CfnResource, global: boolean): CreateTableCommandInput {
    const props = this.resolve(resource.Properties ?? {});
    if (!isRecord(props)) throw new TemplateError(`Properties of table ${logicalId} are not an object`);
    const keySchema = asArray<KeySchemaElement>(props.KeySchema, `KeySchema of ${logicalId}`);
    const attributes = asArray<AttributeDefinition>(
      props.AttributeDefinitions,
      `AttributeDefinitions of ${logicalId}`,
    );
    const payPerRequest = props.BillingMode === 'PAY_PER_REQUEST';
    const tableThroughput = this.throughput(props, global);
    const input: CreateTableCommandInput = {
      TableName: this.ref(logicalId),
      KeySchema: keySchema,
      AttributeDefinitions: attributes,
      BillingMode: payPerRequest ? 'PAY_PER_REQUEST' : 'PROVISIONED',
      ...(payPerRequest ? {} : { ProvisionedThroughput: tableThroughput }),
    };
    if (props.GlobalSecondaryIndexes !== undefined) {
      input.GlobalSecondaryIndexes = asArray<Record<string, unknown>>(
        props.GlobalSecondaryIndexes,
        `GlobalSecondaryIndexes of ${logicalId}`,
      ).map(
        (gsi): GlobalSecondaryIndex => ({
          IndexName: String(gsi.IndexName),
          KeySchema: asArray<KeySchemaElement>(
            gsi.KeySchema,
            `KeySchema of ${logicalId}.${String(gsi.IndexName)}`,
          ),
          Projection: (gsi.Projection as Projection | undefined) ?? { ProjectionType: 'ALL' },
          ...(payPerRequest
            ? {}
            : { ProvisionedThroughput: this.throughput(gsi, global) ?? tableThroughput }),
        }),
      );
    }
    if (props.LocalSecondaryIndexes !== undefined) {
      input.LocalSecondaryIndexes = asArray<Record<string, unknown>>(
        props.LocalSecondaryIndexes,
        `LocalSecondaryIndexes of ${logicalId}`,
      ).map(
        (lsi): LocalSecondaryIndex => ({
          IndexName: String(lsi.IndexName),
          KeySchema: asArray<KeySchemaElement>(
            lsi.KeySchema,
            `KeySchema of ${logicalId}.${String(lsi.IndexName)}`,
          ),
          Projection: (lsi.Projection as Projection | undefined) ?? { ProjectionType: 'ALL' },
        }),
      );
    }
    return input;
  }

  private throughput(props: Record<string, unknown>, global: boolean): ProvisionedThroughput {
    const pt = props.ProvisionedThroughput;
    if (isRecord(pt)) {
      return {
        ReadCapacityUnits: numberOr(pt.ReadCapacityUnits, 5),
        WriteCapacityUnits: numberOr(pt.WriteCapacityUnits, 5),
      };
    }
    if (global) {
      const write = getPath(props, [
        'WriteProvisionedThroughputSettings',
        'WriteCapacityAutoScalingSettings',
        'MinCapacity',
      ]);
      return { ReadCapacityUnits: 5, WriteCapacityUnits: numberOr(write, 5) };
    }
    return { ReadCapacityUnits: 5, WriteCapacityUnits: 5 };
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

// ---------------------------------------------------------------------------------------------
// Helpers

function parseTemplate(template: unknown): CfnTemplate {
  if (!isRecord(template) || !isRecord(template.Resources)) {
    throw new TemplateError('A template must be an object with a Resources object');
  }
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isRecord(resource) || typeof resource.Type !== 'string') {
      throw new TemplateError(`Resource '${logicalId}' has no Type`);
    }
  }
  for (const section of ['Outputs', 'Conditions', 'Parameters', 'Mappings'] as const) {
    if (template[section] !== undefined && !isRecord(template[section])) {
      throw new TemplateError(`Template section ${section} must be an object`);
    }
  }
  return template as unknown as CfnTemplate;
}

/** A deterministic API Gateway-style id (lowercase letters and digits). */
function apiGatewayId(seed: string, length: number): string {
  const digest = createHash('sha256').update(seed).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let id = '';
  for (let i = 0; i < length; i++) id += alphabet[(digest[i] ?? 0) % alphabet.length];
  return id;
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(value)) return out;
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean')
      out[key] = String(item);
  }
  return out;
}

function throttleOf(value: unknown): LocalThrottle | undefined {
  if (!isRecord(value)) return undefined;
  const rate = value.RateLimit === undefined ? undefined : Number(value.RateLimit);
  const burst = value.BurstLimit === undefined ? undefined : Number(value.BurstLimit);
  if (rate === undefined && burst === undefined) return undefined;
  return { rateLimit: rate, burstLimit: burst };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function getPath(value: unknown, keys: readonly string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}

function numberOr(value: unknown, fallback: number): number {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : fallback;
}

function asArray<T>(value: unknown, what: string): T[] {
  if (!Array.isArray(value)) throw new TemplateError(`${what} must be a list`);
  return value as T[];
}

function scalarText(value: unknown, what: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new UnresolvableIntrinsicError(`${what} must resolve to a string (got ${describe(value)})`);
}

function mapStrings(value: unknown, fn: (text: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
  }
  return value;
}

function hash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

function fakeUuid(seed: string): string {
  const h = hash(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
