/**
 * Which resources a function that calls a catalog model must be allowed to invoke, derived from the
 * catalog entries the configuration declares (never a wildcard over every model):
 *
 * - a Bedrock foundation model id (`amazon.titan-embed-text-v2:0`): that model in the stack's region;
 * - a cross-region inference profile id (`us.amazon.nova-lite-v1:0`): the profile in the stack's region,
 *   plus the foundation model in every region of the profile's geography (the `us.`, `eu.`, `apac.`,
 *   ... prefix; `global.` routes to any commercial region), which Bedrock authorizes too when it routes
 *   the request there;
 * - a Bedrock ARN: that ARN (and, for a system inference profile ARN, its foundation models likewise);
 * - a SageMaker endpoint name: that endpoint in the stack's account and region.
 *
 * SageMaker endpoints deployed later (by the fine-tuning pipeline) are named at runtime, so the model
 * gateway reaches them by tag instead: {@link SAGEMAKER_INVOKE_TAG_KEY} = {@link sageMakerInvokeTagValue}.
 */
import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { CatalogModel } from '#contracts/models/catalog.ts';
import type { LlmOpsFunction } from './llmops-function.ts';
import { acknowledge, iam5ResourceFinding } from './nag.ts';

/**
 * Tag that makes a SageMaker endpoint (and its inference components) callable by a deployment's model
 * gateway: the endpoint construct of the fine-tuning deployment sets it, with the value
 * {@link sageMakerInvokeTagValue} of the same deployment, on the endpoint and on each inference component.
 */
export const SAGEMAKER_INVOKE_TAG_KEY = 'llmops:invoked-by';

/**
 * The value of {@link SAGEMAKER_INVOKE_TAG_KEY} for a deployment: its stack name, so that the dev and
 * prod deployments of one account cannot call each other's endpoints.
 */
export function sageMakerInvokeTagValue(stackName: string): string {
  return stackName;
}

/**
 * Regions (as an ARN region pattern) that a cross-region inference profile of each geography prefix
 * routes to. `global.` profiles route to any commercial region, and name the model with a region-less
 * ARN too, which `*` also matches.
 */
export const INFERENCE_PROFILE_GEOGRAPHIES: Readonly<Record<string, string>> = {
  us: 'us-*',
  'us-gov': 'us-gov-*',
  eu: 'eu-*',
  apac: 'ap-*',
  jp: 'ap-northeast-*',
  au: 'ap-southeast-*',
  ca: 'ca-*',
  global: '*',
};

const PROFILE_ID = /^([a-z-]+)\.(.+)$/;
const PROFILE_ARN = /^arn:([^:]+):bedrock:([^:]*):(\d{12}):inference-profile\/(.+)$/;

/** The geography and the foundation model id of a system (cross-region) inference profile id. */
export function inferenceProfileOf(
  modelId: string,
): { readonly geography: string; readonly regions: string; readonly foundationModelId: string } | undefined {
  const match = PROFILE_ID.exec(modelId);
  if (!match) return undefined;
  const [, geography = '', foundationModelId = ''] = match;
  const regions = INFERENCE_PROFILE_GEOGRAPHIES[geography];
  return regions === undefined ? undefined : { geography, regions, foundationModelId };
}

/** What to grant for a set of Bedrock models. */
export interface BedrockInvokeResources {
  /** Foundation models called directly, inference profiles and other Bedrock ARNs: granted as they are. */
  readonly direct: string[];
  /**
   * The foundation models the inference profiles route to, in the regions of each profile's geography:
   * granted only through those profiles (`bedrock:InferenceProfileArn`).
   */
  readonly routed: string[];
  /** The inference profiles of `direct` (the values of the `bedrock:InferenceProfileArn` condition). */
  readonly profiles: string[];
}

/**
 * The Bedrock ARNs that invoking `models` needs (see the module comment); models of other providers are
 * ignored. Each list is sorted and free of duplicates.
 */
export function bedrockInvokeResources(models: readonly CatalogModel[]): BedrockInvokeResources {
  const direct = new Set<string>();
  const routed = new Set<string>();
  const profiles = new Set<string>();
  const foundationModel = (region: string, id: string) =>
    `arn:${Aws.PARTITION}:bedrock:${region}::foundation-model/${id}`;
  for (const model of models) {
    if (model.provider !== 'bedrock') continue;
    const arn = PROFILE_ARN.exec(model.modelId);
    if (model.modelId.startsWith('arn:')) {
      direct.add(model.modelId);
      const profile = arn ? inferenceProfileOf(arn[4] ?? '') : undefined;
      if (profile) {
        profiles.add(model.modelId);
        routed.add(foundationModel(profile.regions, profile.foundationModelId));
      }
      continue;
    }
    const profile = inferenceProfileOf(model.modelId);
    if (profile) {
      const profileArn = `arn:${Aws.PARTITION}:bedrock:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-profile/${model.modelId}`;
      direct.add(profileArn);
      profiles.add(profileArn);
      routed.add(foundationModel(profile.regions, profile.foundationModelId));
    } else {
      direct.add(foundationModel(Aws.REGION, model.modelId));
    }
  }
  return { direct: [...direct].sort(), routed: [...routed].sort(), profiles: [...profiles].sort() };
}

/** ARN of a SageMaker endpoint of the stack's account and region (endpoint names are case-insensitive). */
export function sageMakerEndpointArn(endpointName: string): string {
  return `arn:${Aws.PARTITION}:sagemaker:${Aws.REGION}:${Aws.ACCOUNT_ID}:endpoint/${endpointName.toLowerCase()}`;
}

/**
 * Lets a function call exactly one catalog model, in a policy of its own (`<function id><use>Policy`):
 * a Bedrock foundation model or inference profile (with the foundation models the profile routes to,
 * only through it), or a SageMaker endpoint. `use` names the grant: `Embedding` (RagIngest Embed, the
 * rag API, the evaluation scorer's embedder), `Judge` (the evaluation judge). Offline models need none.
 */
export function grantModel(
  scope: Construct,
  fn: LlmOpsFunction,
  model: CatalogModel,
  use: 'Embedding' | 'Judge',
): void {
  if (model.provider === 'offline') return;
  const statements: iam.PolicyStatement[] = [];
  if (model.provider === 'sagemaker') {
    statements.push(
      new iam.PolicyStatement({
        sid: `Invoke${use}Model`,
        actions: ['sagemaker:InvokeEndpoint'],
        resources: [sageMakerEndpointArn(model.modelId)],
      }),
    );
  } else {
    const bedrock = bedrockInvokeResources([model]);
    statements.push(
      new iam.PolicyStatement({
        sid: `Invoke${use}Model`,
        actions: ['bedrock:InvokeModel'],
        resources: bedrock.direct,
      }),
    );
    if (bedrock.routed.length > 0) {
      statements.push(
        new iam.PolicyStatement({
          sid: `Invoke${use}ProfileFoundationModels`,
          actions: ['bedrock:InvokeModel'],
          resources: bedrock.routed,
          conditions: { ArnLike: { 'bedrock:InferenceProfileArn': bedrock.profiles } },
        }),
      );
    }
  }
  const policy = new iam.Policy(scope, `${fn.node.id}${use}Policy`, { statements });
  policy.attachToRole(fn.serviceRole);
  if (model.provider === 'bedrock') {
    for (const resource of bedrockInvokeResources([model]).routed) {
      acknowledge(
        policy,
        iam5ResourceFinding(scope, resource),
        `The ${use.toLowerCase()} model is called through an inference profile, which routes to this one foundation model in any region of its geography; granted only through that profile (bedrock:InferenceProfileArn).`,
      );
    }
  }
}
