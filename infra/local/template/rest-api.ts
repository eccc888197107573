/** REST APIs (resource tree, methods, integrations, gateway responses) and their API keys and usage plans. */
import type { LocalTemplate } from '../template.ts';
import { isRecord, numberOr, stringRecord } from './cfn.ts';
import { TemplateError } from './errors.ts';

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
  /** The method's Lambda authorizer (`AuthorizationType: CUSTOM`), by its local id. */
  readonly authorizerId: string | undefined;
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

/** A Lambda authorizer of a REST API (`AWS::ApiGateway::Authorizer`, type TOKEN or REQUEST). */
export interface LocalAuthorizer {
  readonly logicalId: string;
  /** The authorizer's local id (what `Ref` returns, and a method's `AuthorizerId`). */
  readonly id: string;
  /** `TOKEN`, `REQUEST` or `COGNITO_USER_POOLS`. */
  readonly type: string;
  /** ARN of the Lambda function it invokes. */
  readonly functionArn: string | undefined;
  /** `IdentitySource`, e.g. `method.request.header.Authorization` (may be empty for REQUEST without cache). */
  readonly identitySource: string | undefined;
  /** `AuthorizerResultTtlInSeconds` (0: no cache). */
  readonly resultTtlSeconds: number;
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
  readonly authorizers: readonly LocalAuthorizer[];
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

/**
 * REST APIs with every method's full path (the Resource ParentId chain walked up to the API's root),
 * auth, integration and request settings.
 * @throws TemplateError for an API defined by an OpenAPI `Body`, a resource whose parent is not in the
 * template, or a Lambda integration whose URI names no function or disagrees with its transfer mode.
 */
export function readRestApis(t: LocalTemplate): LocalRestApi[] {
  const resources = t.resourcesOfType('AWS::ApiGateway::Resource').map(({ logicalId, resource }) => {
    const props = resource.Properties ?? {};
    return {
      logicalId,
      id: t.ref(logicalId),
      apiId: t.resolveString(props.RestApiId, `RestApiId of ${logicalId}`),
      parentId: t.resolveString(props.ParentId, `ParentId of ${logicalId}`),
      pathPart: t.resolveString(props.PathPart, `PathPart of ${logicalId}`),
    };
  });
  const validators = new Map<string, { validateRequestBody: boolean; validateRequestParameters: boolean }>();
  for (const { logicalId, resource } of t.resourcesOfType('AWS::ApiGateway::RequestValidator')) {
    const props = resource.Properties ?? {};
    validators.set(t.ref(logicalId), {
      validateRequestBody: t.resolve(props.ValidateRequestBody) === true,
      validateRequestParameters: t.resolve(props.ValidateRequestParameters) === true,
    });
  }

  return t.resourcesOfType('AWS::ApiGateway::RestApi').map(({ logicalId, resource }) => {
    const props = resource.Properties ?? {};
    if (props.Body !== undefined || props.BodyS3Location !== undefined) {
      throw new TemplateError(
        `RestApi ${logicalId} is defined by an OpenAPI document (Body/BodyS3Location), which the local ` +
          'runner does not read: define its Resources and Methods in the template',
      );
    }
    const id = t.ref(logicalId);
    const rootResourceId = t.getAtt(logicalId, 'RootResourceId');
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

    const methods = t
      .resourcesOfType('AWS::ApiGateway::Method')
      .filter(({ resource: m }) => t.resolve(m.Properties?.RestApiId) === id)
      .map(({ logicalId: methodId, resource: m }): LocalApiMethod => {
        const mp = m.Properties ?? {};
        const resourceId = t.resolveString(mp.ResourceId, `ResourceId of ${methodId}`);
        const validatorId = t.resolve(mp.RequestValidatorId);
        const requestModels: Record<string, string> = {};
        const rawModels = t.resolve(mp.RequestModels);
        if (isRecord(rawModels)) {
          for (const [contentType, model] of Object.entries(rawModels)) {
            requestModels[contentType] = String(model);
          }
        }
        const requestParameters: Record<string, boolean> = {};
        const rawParameters = t.resolve(mp.RequestParameters);
        if (isRecord(rawParameters)) {
          for (const [name, required] of Object.entries(rawParameters)) {
            requestParameters[name] = required === true || required === 'true';
          }
        }
        const operationName = t.resolve(mp.OperationName);
        const authorizerId = t.resolve(mp.AuthorizerId);
        return {
          logicalId: methodId,
          httpMethod: t.resolveString(mp.HttpMethod, `HttpMethod of ${methodId}`).toUpperCase(),
          path: pathOf(resourceId, new Set()),
          resourceId,
          authorizationType:
            mp.AuthorizationType === undefined
              ? 'NONE'
              : t.resolveString(mp.AuthorizationType, `AuthorizationType of ${methodId}`),
          apiKeyRequired: t.resolve(mp.ApiKeyRequired) === true || t.resolve(mp.ApiKeyRequired) === 'true',
          authorizerId: typeof authorizerId === 'string' ? authorizerId : undefined,
          operationName: typeof operationName === 'string' ? operationName : undefined,
          requestParameters,
          requestModels,
          requestValidator: typeof validatorId === 'string' ? validators.get(validatorId) : undefined,
          integration: apiIntegration(t, methodId, mp.Integration),
        };
      });

    const stages: LocalApiStage[] = t
      .resourcesOfType('AWS::ApiGateway::Stage')
      .filter(({ resource: s }) => t.resolve(s.Properties?.RestApiId) === id)
      .map(({ logicalId: stageId, resource: s }) => ({
        logicalId: stageId,
        name: t.ref(stageId),
        variables: stringRecord(t.resolve(s.Properties?.Variables)),
      }));
    for (const { logicalId: deploymentId, resource: d } of t.resourcesOfType('AWS::ApiGateway::Deployment')) {
      const stageName = t.resolve(d.Properties?.StageName);
      if (t.resolve(d.Properties?.RestApiId) === id && typeof stageName === 'string') {
        if (!stages.some((s) => s.name === stageName)) {
          stages.push({ logicalId: deploymentId, name: stageName, variables: {} });
        }
      }
    }

    const gatewayResponses = t
      .resourcesOfType('AWS::ApiGateway::GatewayResponse')
      .filter(({ resource: g }) => t.resolve(g.Properties?.RestApiId) === id)
      .map(({ logicalId: responseId, resource: g }): LocalGatewayResponse => {
        const gp = g.Properties ?? {};
        const status = t.resolve(gp.StatusCode);
        return {
          logicalId: responseId,
          responseType: t.resolveString(gp.ResponseType, `ResponseType of ${responseId}`),
          statusCode: status === undefined ? undefined : Number(status),
          responseParameters: stringRecord(t.resolve(gp.ResponseParameters)),
          responseTemplates: stringRecord(t.resolve(gp.ResponseTemplates)),
        };
      });

    const authorizers = t
      .resourcesOfType('AWS::ApiGateway::Authorizer')
      .filter(({ resource: a }) => t.resolve(a.Properties?.RestApiId) === id)
      .map(({ logicalId: authorizerLogicalId, resource: a }): LocalAuthorizer => {
        const ap = a.Properties ?? {};
        const uri = t.resolve(ap.AuthorizerUri);
        const identitySource = t.resolve(ap.IdentitySource);
        const match =
          typeof uri === 'string'
            ? /^arn:[^:]+:apigateway:[^:]*:lambda:path\/[^/]+\/functions\/(.+)\/invocations$/.exec(uri)
            : null;
        return {
          logicalId: authorizerLogicalId,
          id: t.ref(authorizerLogicalId),
          type: t.resolveString(ap.Type, `Type of ${authorizerLogicalId}`),
          functionArn: match?.[1],
          identitySource:
            typeof identitySource === 'string' && identitySource !== '' ? identitySource : undefined,
          resultTtlSeconds: numberOr(t.resolve(ap.AuthorizerResultTtlInSeconds), 300),
        };
      });

    const binary = t.resolve(props.BinaryMediaTypes);
    const sourceType = t.resolve(props.ApiKeySourceType);
    const name = t.resolve(props.Name);
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
      authorizers,
      gatewayResponses,
    };
  });
}

/** API keys (`AWS::ApiGateway::ApiKey`). */
export function readApiKeys(t: LocalTemplate): LocalApiKey[] {
  return t.resourcesOfType('AWS::ApiGateway::ApiKey').map(({ logicalId, resource }) => {
    const props = resource.Properties ?? {};
    const name = t.resolve(props.Name);
    const description = t.resolve(props.Description);
    const value = t.resolve(props.Value);
    const enabled = t.resolve(props.Enabled);
    return {
      logicalId,
      id: t.ref(logicalId),
      name: typeof name === 'string' ? name : undefined,
      description: typeof description === 'string' ? description : undefined,
      // CloudFormation creates keys disabled unless Enabled is true.
      enabled: enabled === true || enabled === 'true',
      value: typeof value === 'string' ? value : undefined,
    };
  });
}

/** Usage plans (`AWS::ApiGateway::UsagePlan`) with their throttles, quotas and attached keys. */
export function readUsagePlans(t: LocalTemplate): LocalUsagePlan[] {
  const planKeys = t.resourcesOfType('AWS::ApiGateway::UsagePlanKey').map(({ logicalId, resource }) => ({
    planId: t.resolveString(resource.Properties?.UsagePlanId, `UsagePlanId of ${logicalId}`),
    keyId: t.resolveString(resource.Properties?.KeyId, `KeyId of ${logicalId}`),
  }));
  return t.resourcesOfType('AWS::ApiGateway::UsagePlan').map(({ logicalId, resource }) => {
    const props = t.resolve(resource.Properties ?? {});
    if (!isRecord(props)) throw new TemplateError(`Properties of usage plan ${logicalId} are not an object`);
    const id = t.ref(logicalId);
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

/** How a method hands its request to the backend, with the Lambda function it invokes, if any. */
function apiIntegration(t: LocalTemplate, methodId: string, raw: unknown): LocalApiIntegration {
  const integration = t.resolve(raw);
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
    functionLogicalId: functionArn === undefined ? undefined : t.logicalIdForArn(functionArn),
    streaming,
    timeoutMs: numberOr(integration.TimeoutInMillis, 29_000),
    integrationResponses: responses.filter(isRecord),
    requestTemplates: stringRecord(integration.RequestTemplates),
  };
}

function throttleOf(value: unknown): LocalThrottle | undefined {
  if (!isRecord(value)) return undefined;
  const rate = value.RateLimit === undefined ? undefined : Number(value.RateLimit);
  const burst = value.BurstLimit === undefined ? undefined : Number(value.BurstLimit);
  if (rate === undefined && burst === undefined) return undefined;
  return { rateLimit: rate, burstLimit: burst };
}
