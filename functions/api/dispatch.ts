import type { APIGatewayProxyEvent } from 'aws-lambda';
import { ForbiddenError, NotFoundError } from '#aws/errors.ts';
import type { ApiRequest, ApiResponse } from '#aws/http.ts';
import { type ApiFunctionName, type ApiRouteSpec, routesOf } from '#contracts/http/route-table.ts';

/** The operations a function serves, by operation id. */
export type Operations = Readonly<Record<string, (request: ApiRequest) => Promise<ApiResponse>>>;

/**
 * Routes a request to the operation of the route table that API Gateway matched (its resource template
 * and method). Admin and reviewer routes also check, behind API Gateway's own IAM check and resource
 * policy, that a principal signed the call. It reads the table without its schemas (`route-table.ts`):
 * each function's bundle builds only the schemas its own operations parse with.
 */
export function dispatcher(fn: ApiFunctionName, operations: Operations) {
  const routes = routesOf(fn);
  for (const route of routes) {
    if (operations[route.operationId] === undefined) {
      throw new Error(`functions/api/${fn}.ts does not implement ${route.operationId}`);
    }
  }
  return async (request: ApiRequest): Promise<ApiResponse> => {
    const route = matchRoute(routes, request.event);
    if (route.auth === 'iam' && request.caller.principal === null) {
      throw new ForbiddenError(`${route.method} ${route.path} is an admin route: sign it with IAM (SigV4)`);
    }
    if (route.auth === 'reviewer' && request.caller.principal === null) {
      throw new ForbiddenError(
        `${route.method} ${route.path} is a reviewer route: sign it with IAM (SigV4) as a reviewer or admin principal`,
      );
    }
    const operation = operations[route.operationId];
    if (operation === undefined) throw new NotFoundError(`No operation ${route.operationId}`);
    return operation(request);
  };
}

function matchRoute(routes: readonly ApiRouteSpec[], event: APIGatewayProxyEvent): ApiRouteSpec {
  const route = routes.find((r) => r.method === event.httpMethod && r.path === event.resource);
  if (route === undefined) throw new NotFoundError(`No route ${event.httpMethod} ${event.resource}`);
  return route;
}
