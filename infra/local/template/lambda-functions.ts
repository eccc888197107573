/** The project's Lambda functions as the local runner invokes them: handler module, environment, limits. */
import type { LocalTemplate } from '../template.ts';
import { type CfnResource, describe, getPath, isRecord, numberOr } from './cfn.ts';
import { MissingLambdaMetadataError, TemplateError } from './errors.ts';

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

/**
 * The project's Lambda functions, with resolved environments.
 * @throws MissingLambdaMetadataError naming every function that lacks `llmops:entry`.
 */
export function readLambdaFunctions(
  t: LocalTemplate,
  isIgnored: (logicalId: string, resource: CfnResource) => boolean,
): LocalLambdaFunction[] {
  const missing: string[] = [];
  const out: LocalLambdaFunction[] = [];
  for (const { logicalId, resource } of t.resourcesOfType('AWS::Lambda::Function')) {
    if (isIgnored(logicalId, resource)) continue;
    const entry = resource.Metadata?.['llmops:entry'];
    if (typeof entry !== 'string' || entry.length === 0) {
      missing.push(logicalId);
      continue;
    }
    const props = resource.Properties ?? {};
    const environment: Record<string, string> = {};
    const variables = t.resolve(getPath(props, ['Environment', 'Variables']));
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
      arn: t.getAtt(logicalId, 'Arn'),
      name: t.ref(logicalId),
      entry,
      handler,
      environment,
      timeoutSeconds: numberOr(t.resolve(props.Timeout), 3),
      memoryMb: numberOr(t.resolve(props.MemorySize), 128),
    });
  }
  if (missing.length > 0) throw new MissingLambdaMetadataError(missing);
  return out;
}
