/**
 * Nested stacks, flattened into their parent's template for the local run: each nested stack's
 * resources (and mappings and conditions) join the parent's, its parameters are replaced by the values
 * the parent passes, and the parent's `Fn::GetAtt [<nested stack>, Outputs.<name>]` by the output's
 * value. The result is the template CloudFormation would deploy, as one: the runner reads it as it
 * reads any template. A logical id both templates use, a parameter the parent does not pass, or a
 * nested stack inside a nested stack is refused by name.
 */
import { TemplateError } from './errors.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Template = { [key: string]: Json };

/** A nested stack of the parent: the logical id of its `AWS::CloudFormation::Stack` and its template. */
export interface NestedTemplate {
  readonly logicalId: string;
  readonly template: unknown;
}

function isObject(value: unknown): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function section(template: Template, name: string): { [key: string]: Json } {
  const value = template[name];
  return isObject(value) ? value : {};
}

/** Deeply replaces every node `replace` answers for (a replaced node is not visited again). */
function rewrite(value: Json, replace: (node: Json) => Json | undefined): Json {
  const replaced = replace(value);
  if (replaced !== undefined) return replaced;
  if (Array.isArray(value)) return value.map((v) => rewrite(v, replace));
  if (isObject(value)) {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = rewrite(v, replace);
    return out;
  }
  return value;
}

/** Merges `from` into `into` (a section of the parent), refusing a key both hold with different values. */
function merge(
  into: { [key: string]: Json },
  from: { [key: string]: Json },
  what: string,
  stack: string,
): void {
  for (const [key, value] of Object.entries(from)) {
    if (key in into && JSON.stringify(into[key]) !== JSON.stringify(value)) {
      throw new TemplateError(`${what} ${key} of nested stack ${stack} is also in its parent`);
    }
    into[key] = value;
  }
}

/** The parent template with each of `nested` flattened into it (the inputs are not changed). */
export function flattenNestedStacks(parent: unknown, nested: readonly NestedTemplate[]): Template {
  if (!isObject(parent)) throw new TemplateError('The parent template is not an object');
  let out = structuredClone(parent) as Template;
  for (const { logicalId, template } of nested) {
    if (!isObject(template))
      throw new TemplateError(`The template of nested stack ${logicalId} is not an object`);
    const resources = section(out, 'Resources');
    const stackResource = resources[logicalId];
    if (!isObject(stackResource) || stackResource.Type !== 'AWS::CloudFormation::Stack') {
      throw new TemplateError(`${logicalId} is not a nested stack of the parent template`);
    }
    const passed = isObject(stackResource.Properties)
      ? section(stackResource.Properties as Template, 'Parameters')
      : {};
    const declared = section(template, 'Parameters');
    const parameterValue = (name: string): Json => {
      const value =
        name in passed ? passed[name] : (declared[name] as { Default?: Json } | undefined)?.Default;
      if (value === undefined) {
        throw new TemplateError(
          `Nested stack ${logicalId} declares parameter ${name}, which its parent does not pass`,
        );
      }
      return value;
    };
    const resolved = rewrite(structuredClone(template) as Json, (node) => {
      if (
        isObject(node) &&
        Object.keys(node).length === 1 &&
        typeof node.Ref === 'string' &&
        node.Ref in declared
      ) {
        return parameterValue(node.Ref);
      }
      return undefined;
    }) as Template;
    for (const [name, value] of Object.entries(section(resolved, 'Resources'))) {
      if (isObject(value) && value.Type === 'AWS::CloudFormation::Stack') {
        throw new TemplateError(
          `Nested stack ${logicalId} holds nested stack ${name}: one level is supported`,
        );
      }
    }
    const outputs = section(resolved, 'Outputs');
    delete resources[logicalId];
    merge(resources, section(resolved, 'Resources'), 'Resource', logicalId);
    for (const name of ['Mappings', 'Conditions'] as const) {
      const into = section(out, name);
      merge(into, section(resolved, name), name.slice(0, -1), logicalId);
      if (Object.keys(into).length > 0) out[name] = into;
    }
    out.Resources = resources;
    const replace = (node: Json): Json | undefined => {
      if (!isObject(node)) return undefined;
      const getAtt = node['Fn::GetAtt'];
      if (Array.isArray(getAtt) && getAtt[0] === logicalId && typeof getAtt[1] === 'string') {
        const name = getAtt[1].replace(/^Outputs\./, '');
        const output = outputs[name];
        if (!isObject(output)) throw new TemplateError(`Nested stack ${logicalId} has no output ${name}`);
        return output.Value as Json;
      }
      const dependsOn = node.DependsOn;
      if (dependsOn === logicalId || (Array.isArray(dependsOn) && dependsOn.includes(logicalId))) {
        const rest = { ...node };
        const kept = Array.isArray(dependsOn) ? dependsOn.filter((d) => d !== logicalId) : [];
        if (kept.length > 0) rest.DependsOn = kept;
        else delete rest.DependsOn;
        return rewrite(rest, replace);
      }
      return undefined;
    };
    out = rewrite(out, replace) as Template;
  }
  return out;
}
