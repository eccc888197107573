/** Step Functions state machines with their definitions parsed and every token resolved to local ARNs. */
import type { LocalTemplate } from '../template.ts';
import { isRecord, mapStrings } from './cfn.ts';
import { TemplateError } from './errors.ts';

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

/** State machines with parsed, fully resolved definitions. */
export function readStateMachines(t: LocalTemplate): LocalStateMachine[] {
  return t.resourcesOfType('AWS::StepFunctions::StateMachine').map(({ logicalId, resource }) => {
    const props = resource.Properties ?? {};
    const substitutions = t.resolve(props.DefinitionSubstitutions);
    const substitute = (text: string): string =>
      isRecord(substitutions)
        ? text.replace(/\$\{([^}]+)\}/g, (whole, key: string) => {
            const value = substitutions[key];
            return value === undefined ? whole : String(value);
          })
        : text;
    let definition: unknown;
    if (props.DefinitionString !== undefined) {
      const text = substitute(t.resolveString(props.DefinitionString, `DefinitionString of ${logicalId}`));
      try {
        definition = JSON.parse(text);
      } catch (error) {
        throw new TemplateError(`DefinitionString of ${logicalId} is not valid JSON`, { cause: error });
      }
    } else if (props.Definition !== undefined) {
      definition = mapStrings(t.resolve(props.Definition), substitute);
    } else {
      throw new TemplateError(
        `State machine ${logicalId} has no DefinitionString or Definition (DefinitionS3Location is not supported locally)`,
      );
    }
    if (!isRecord(definition)) throw new TemplateError(`Definition of ${logicalId} is not a JSON object`);
    const pipeline = resource.Metadata?.['llmops:pipeline'];
    const type = t.resolve(props.StateMachineType);
    return {
      logicalId,
      arn: t.ref(logicalId),
      name: t.getAtt(logicalId, 'Name'),
      pipeline: typeof pipeline === 'string' ? pipeline : undefined,
      type: typeof type === 'string' ? type : 'STANDARD',
      definition,
    };
  });
}
