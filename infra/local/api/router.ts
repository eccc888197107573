/** Request routing: which resource of the template's tree a request path names. */

interface RouteNode {
  readonly literal: Map<string, RouteNode>;
  param?: { readonly name: string; readonly node: RouteNode };
  greedy?: { readonly name: string; readonly node: RouteNode };
  path?: string;
}

/** A matched route: the resource path and its path parameters. */
export interface RouteMatch {
  readonly resourcePath: string;
  readonly pathParameters: Readonly<Record<string, string>>;
}

/**
 * Resource-path matcher with API Gateway's precedence: at each segment a literal part wins over
 * `{param}`, which wins over a greedy `{name+}` (which takes the rest of the path, at least one segment).
 */
export class ApiRouter {
  readonly #root: RouteNode = { literal: new Map() };

  constructor(resourcePaths: Iterable<string>) {
    for (const path of resourcePaths) this.#add(path);
  }

  /** Matches a request path (percent-encoded, as sent). Path parameters are decoded. */
  match(requestPath: string): RouteMatch | undefined {
    const trimmed = requestPath.length > 1 ? requestPath.replace(/\/+$/, '') : requestPath;
    const segments = trimmed.split('/').filter((s) => s !== '');
    let decoded: string[];
    try {
      decoded = segments.map((s) => decodeURIComponent(s));
    } catch {
      return undefined;
    }
    return this.#walk(this.#root, decoded, 0, {});
  }

  #add(path: string): void {
    let node = this.#root;
    for (const part of path.split('/').filter((s) => s !== '')) {
      const variable = /^\{([^}]+)\}$/.exec(part)?.[1];
      if (variable?.endsWith('+')) {
        node.greedy ??= { name: variable.slice(0, -1), node: { literal: new Map() } };
        node = node.greedy.node;
      } else if (variable !== undefined) {
        node.param ??= { name: variable, node: { literal: new Map() } };
        node = node.param.node;
      } else {
        let next = node.literal.get(part);
        if (!next) {
          next = { literal: new Map() };
          node.literal.set(part, next);
        }
        node = next;
      }
    }
    node.path = path;
  }

  #walk(
    node: RouteNode,
    segments: readonly string[],
    index: number,
    params: Record<string, string>,
  ): RouteMatch | undefined {
    if (index === segments.length) {
      return node.path === undefined ? undefined : { resourcePath: node.path, pathParameters: params };
    }
    const segment = segments[index] ?? '';
    const literal = node.literal.get(segment);
    if (literal) {
      const found = this.#walk(literal, segments, index + 1, params);
      if (found) return found;
    }
    if (node.param) {
      const found = this.#walk(node.param.node, segments, index + 1, {
        ...params,
        [node.param.name]: segment,
      });
      if (found) return found;
    }
    if (node.greedy?.node.path !== undefined) {
      return {
        resourcePath: node.greedy.node.path,
        pathParameters: { ...params, [node.greedy.name]: segments.slice(index).join('/') },
      };
    }
    return undefined;
  }
}
