import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EnvironmentShape, environmentVariables } from '#contracts/env.ts';
import { ENTRY_METADATA, HOUSE_ENVIRONMENT_NAMES } from '#infra/constructs/llmops-function.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { type CfnTemplate, resourcesOfType, synth } from './support/synth.ts';

/**
 * Every function of the stack reads its configuration from the environment at cold start, with the
 * shape its handler module exports (`environment`). For each function of each synthesized variant, the
 * handler module is loaded with exactly the variables the template gives it (intrinsics stand in as
 * placeholders) and nothing else: it must start, need no variable the template lacks, and the template
 * must set no variable the handler does not read.
 */

const VARIANTS = {
  dev: { profile: 'dev' },
  prod: { profile: 'prod' },
  'dev with OpenSearch': { profile: 'dev', vectorStore: 'opensearch' },
  'prod with S3 Vectors': { profile: 'prod', vectorStore: 's3vectors' },
} as const;

/** What Lambda itself puts in every function's environment (and the test's own credentials). */
const RUNTIME_ENVIRONMENT = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_EC2_METADATA_DISABLED: 'true',
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_TRACE_ENABLED: 'false',
};

interface FunctionUnderTest {
  readonly variant: string;
  readonly logicalId: string;
  readonly entry: string;
  readonly variables: Record<string, string>;
}

/** A CloudFormation value as a string, with a placeholder for what only CloudFormation can resolve. */
function placeholderOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const intrinsic = value as Record<string, unknown>;
  if (Array.isArray(intrinsic['Fn::Join'])) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map(placeholderOf).join(separator);
  }
  if (typeof intrinsic['Fn::Sub'] === 'string') {
    // A nested stack's asset locations (`s3://cdk-…-assets-${AWS::AccountId}-${AWS::Region}/…`).
    return (intrinsic['Fn::Sub'] as string).replace(/\$\{([^}]+)\}/g, (_m, name: string) => `sub-${name}`);
  }
  if (Array.isArray(intrinsic['Fn::FindInMap'])) {
    // A region's registry account (the DlcRegistries mapping of the container images).
    const [map, key, attribute] = intrinsic['Fn::FindInMap'] as [string, unknown, string];
    return `map-${map}-${placeholderOf(key)}-${attribute}`;
  }
  if (typeof intrinsic.Ref === 'string') return `ref-${intrinsic.Ref}`;
  if (Array.isArray(intrinsic['Fn::GetAtt']))
    return `getatt-${(intrinsic['Fn::GetAtt'] as string[]).join('-')}`;
  throw new Error(`no placeholder for ${JSON.stringify(value)}`);
}

function functionsOf(variant: string, json: CfnTemplate): FunctionUnderTest[] {
  return resourcesOfType(json, 'AWS::Lambda::Function').flatMap(([logicalId, resource]) => {
    const entry = resource.Metadata?.[ENTRY_METADATA];
    if (typeof entry !== 'string') return [];
    const props = resource.Properties as { Environment?: { Variables?: Record<string, unknown> } };
    const variables = Object.fromEntries(
      Object.entries(props.Environment?.Variables ?? {}).map(([name, value]) => [name, placeholderOf(value)]),
    );
    return [{ variant, logicalId, entry, variables }];
  });
}

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

let functions: FunctionUnderTest[] = [];
beforeAll(() => {
  functions = Object.entries(VARIANTS).flatMap(([variant, context]) =>
    functionsOf(variant, synth(context, { nag: false, cfnValidation: false }).json),
  );
});

/** Loads a fresh instance of the handler module with exactly `variables` in the environment. */
async function loadWith(fn: FunctionUnderTest): Promise<{ environment?: EnvironmentShape }> {
  process.env = { ...RUNTIME_ENVIRONMENT, ...fn.variables };
  const url = `${pathToFileURL(join(REPO_ROOT, fn.entry)).href}?variant=${encodeURIComponent(fn.variant)}`;
  return import(/* @vite-ignore */ url);
}

describe('function environments', () => {
  it('covers every function of every variant', () => {
    const entries = new Set(functions.map((fn) => fn.entry));
    expect(entries.size).toBeGreaterThanOrEqual(25);
    expect(functions.length).toBe(entries.size * Object.keys(VARIANTS).length);
  });

  it('start each function with exactly the variables its handler reads', async () => {
    const problems: string[] = [];
    for (const fn of functions) {
      const where = `${fn.variant}: ${fn.logicalId} (${fn.entry})`;
      let module: { environment?: EnvironmentShape };
      try {
        module = await loadWith(fn);
      } catch (error) {
        problems.push(`${where} does not start: ${(error as Error).message}`);
        continue;
      }
      if (module.environment === undefined) {
        problems.push(`${where} exports no environment shape`);
        continue;
      }
      const { required, optional } = environmentVariables(module.environment);
      const set = Object.keys(fn.variables).filter((name) => !HOUSE_ENVIRONMENT_NAMES.includes(name));
      const missing = required.filter((name) => !(name in fn.variables));
      const unread = set.filter((name) => !required.includes(name) && !optional.includes(name));
      if (missing.length > 0)
        problems.push(`${where} needs ${missing.join(', ')}, which the stack does not set`);
      if (unread.length > 0)
        problems.push(`${where} is given ${unread.join(', ')}, which its handler never reads`);
    }
    expect(problems).toEqual([]);
  });
});
