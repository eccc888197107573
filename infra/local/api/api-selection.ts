/** Which REST API of the template is served, and whether the local API can serve everything it uses. */
import type { LocalRestApi } from '../template.ts';
import { LocalApiError } from './errors.ts';

/** The RestApi with logical id `logicalId`, else the template's only one. */
export function selectApi(apis: readonly LocalRestApi[], logicalId: string | undefined): LocalRestApi {
  if (logicalId !== undefined) {
    const api = apis.find((a) => a.logicalId === logicalId);
    if (!api) {
      throw new LocalApiError(
        `No RestApi '${logicalId}' in the template (found: ${apis.map((a) => a.logicalId).join(', ') || 'none'})`,
      );
    }
    return api;
  }
  const [only, ...more] = apis;
  if (!only) throw new LocalApiError('The template declares no AWS::ApiGateway::RestApi');
  if (more.length > 0) {
    throw new LocalApiError(
      `The template declares several REST APIs (${apis.map((a) => a.logicalId).join(', ')}); choose one with 'restApi'`,
    );
  }
  return only;
}

/**
 * Refuses, at start and all at once, what the local API cannot emulate: key sources other than the
 * header and a Lambda authorizer, authorizers other than NONE, AWS_IAM and Lambda (TOKEN, REQUEST),
 * integrations other than Lambda proxy and MOCK.
 */
export function checkSupported(api: LocalRestApi): void {
  const problems: string[] = [];
  if (api.apiKeySourceType !== 'HEADER' && api.apiKeySourceType !== 'AUTHORIZER') {
    problems.push(`ApiKeySourceType ${api.apiKeySourceType} (only HEADER and AUTHORIZER)`);
  }
  for (const method of api.methods) {
    const where = `${method.httpMethod} ${method.path} (${method.logicalId})`;
    if (method.authorizationType === 'CUSTOM') {
      const authorizer = api.authorizers.find((a) => a.id === method.authorizerId);
      if (authorizer === undefined) {
        problems.push(`${where}: AuthorizationType CUSTOM without an authorizer of this API`);
      } else if (authorizer.type !== 'TOKEN' && authorizer.type !== 'REQUEST') {
        problems.push(`${where}: authorizer type ${authorizer.type} (only Lambda TOKEN and REQUEST)`);
      } else if (authorizer.functionArn === undefined) {
        problems.push(`${where}: authorizer ${authorizer.logicalId} invokes no Lambda function`);
      }
    } else if (method.authorizationType !== 'NONE' && method.authorizationType !== 'AWS_IAM') {
      problems.push(
        `${where}: AuthorizationType ${method.authorizationType} (only NONE, AWS_IAM and CUSTOM)`,
      );
    }
    if (
      method.apiKeyRequired &&
      api.apiKeySourceType === 'AUTHORIZER' &&
      method.authorizationType !== 'CUSTOM'
    ) {
      problems.push(`${where}: requires an API key taken from an authorizer, but has none`);
    }
    const { integration } = method;
    if (integration.type === 'AWS_PROXY') {
      if (integration.functionArn === undefined)
        problems.push(`${where}: AWS_PROXY integration without a Lambda function`);
    } else if (integration.type !== 'MOCK') {
      problems.push(`${where}: integration type ${integration.type} (only AWS_PROXY with Lambda, and MOCK)`);
    }
  }
  if (problems.length > 0) {
    throw new LocalApiError(
      `RestApi ${api.logicalId} uses what the local API cannot serve:\n  - ${problems.join('\n  - ')}`,
    );
  }
}
