/**
 * The Bedrock guardrail of the model gateway: harmful-content and prompt-attack filters, PII masked or
 * blocked, contextual grounding for RAG answers, encrypted with the project key, plus a published
 * version that the chat function pins.
 *
 * A guardrail version is an immutable snapshot. Its description carries a hash of the configuration,
 * and a new description replaces the version resource, so every configuration change publishes a new
 * version and moves the chat function onto it in the same deployment.
 */
import { createHash } from 'node:crypto';
import { Aws, Stack } from 'aws-cdk-lib';
import * as bedrock from 'aws-cdk-lib/aws-bedrock';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { BLOCKED_INPUT_MESSAGE, BLOCKED_OUTPUT_MESSAGE } from '#contracts/models/guardrail.ts';
import { type AppConfig, type DeploymentConfig, GUARDRAIL_CONTENT_FILTERS } from '#infra/config/index.ts';

export interface LlmOpsGuardrailProps {
  /** The deployment (the guardrail is named after the stack). */
  readonly deployment: DeploymentConfig;
  /** The guardrail's policies. */
  readonly config: AppConfig['guardrail'];
  /** Encrypts the guardrail's configuration at rest. */
  readonly encryptionKey: kms.IKey;
}

// The blocked messages live with the contracts: the gateway answers with them too.
export { BLOCKED_INPUT_MESSAGE, BLOCKED_OUTPUT_MESSAGE };

/** The guardrail's CloudFormation properties for a configuration (pure; exported for tests). */
export function guardrailPolicies(
  guardrail: AppConfig['guardrail'],
): Pick<
  bedrock.CfnGuardrailProps,
  'contentPolicyConfig' | 'sensitiveInformationPolicyConfig' | 'contextualGroundingPolicyConfig'
> {
  return {
    contentPolicyConfig: {
      filtersConfig: [
        ...GUARDRAIL_CONTENT_FILTERS.map((type) => ({
          type,
          inputStrength: guardrail.contentFilters[type].input,
          outputStrength: guardrail.contentFilters[type].output,
        })),
        // Prompt attacks only exist in inputs: Bedrock requires the output strength to be NONE.
        { type: 'PROMPT_ATTACK', inputStrength: guardrail.promptAttack, outputStrength: 'NONE' },
      ],
    },
    sensitiveInformationPolicyConfig: {
      piiEntitiesConfig: [
        ...guardrail.piiAnonymize.map((type) => ({ type, action: 'ANONYMIZE' })),
        ...guardrail.piiBlock.map((type) => ({ type, action: 'BLOCK' })),
      ],
    },
    contextualGroundingPolicyConfig: {
      filtersConfig: [
        { type: 'GROUNDING', threshold: guardrail.groundingThreshold },
        { type: 'RELEVANCE', threshold: guardrail.relevanceThreshold },
      ],
    },
  };
}

/** A Bedrock guardrail and its published version. */
export class LlmOpsGuardrail extends Construct {
  public readonly guardrail: bedrock.CfnGuardrail;
  public readonly version: bedrock.CfnGuardrailVersion;
  /** The guardrail id (`GuardrailId` attribute). */
  public readonly guardrailId: string;
  /** The published version number the chat function uses. */
  public readonly guardrailVersion: string;
  /** The guardrail ARN: the resource of `bedrock:ApplyGuardrail`. */
  public readonly guardrailArn: string;
  private readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: LlmOpsGuardrailProps) {
    super(scope, id);
    const { deployment, config, encryptionKey } = props;
    if (!config.enabled) {
      throw new Error(
        'LlmOpsGuardrail: config.guardrail.enabled is false; do not create the guardrail (-c guardrail=false)',
      );
    }
    this.encryptionKey = encryptionKey;
    const name = `${deployment.stackName}-gateway`;
    if (name.length > 50) {
      throw new Error(`LlmOpsGuardrail: guardrail name "${name}" is longer than Bedrock's 50 characters`);
    }
    const policies = guardrailPolicies(config);

    this.guardrail = new bedrock.CfnGuardrail(this, 'Guardrail', {
      // A guardrail needs a name; it is unique per stack (one stack per profile and account/region).
      name,
      description: `${deployment.stackName}: content, prompt-attack, PII and grounding policies of the model gateway`,
      blockedInputMessaging: BLOCKED_INPUT_MESSAGE,
      blockedOutputsMessaging: BLOCKED_OUTPUT_MESSAGE,
      kmsKeyArn: encryptionKey.keyArn,
      ...policies,
    });

    const fingerprint = createHash('sha256')
      .update(JSON.stringify(Stack.of(this).resolve(policies)))
      .update(BLOCKED_INPUT_MESSAGE)
      .update(BLOCKED_OUTPUT_MESSAGE)
      .digest('hex')
      .slice(0, 16);
    this.version = new bedrock.CfnGuardrailVersion(this, 'Version', {
      guardrailIdentifier: this.guardrail.attrGuardrailId,
      description: `Published by ${deployment.stackName}; configuration ${fingerprint}`,
    });

    this.guardrailId = this.guardrail.attrGuardrailId;
    this.guardrailVersion = this.version.attrVersion;
    this.guardrailArn = this.guardrail.attrGuardrailArn;
  }

  /**
   * Lets a principal apply this guardrail (alone with ApplyGuardrail, or in Converse/InvokeModel calls):
   * `bedrock:ApplyGuardrail` on this guardrail only, and `kms:Decrypt` of the project key through Bedrock
   * (the guardrail's configuration is encrypted with it).
   */
  public grantApply(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['bedrock:ApplyGuardrail'], resources: [this.guardrailArn] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [this.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `bedrock.${Aws.REGION}.amazonaws.com` } },
      }),
    );
  }
}
