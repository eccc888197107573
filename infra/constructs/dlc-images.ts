/**
 * AWS Deep Learning Container image URIs for the deploying region. The stack is environment-agnostic,
 * so the region is a token: a CloudFormation mapping from region to the containers' registry account
 * ({@link DLC_REGISTRIES}) resolves it at deploy time, and a region it lacks fails the deployment with
 * the mapping's name rather than pulling from a guessed registry.
 */
import { Aws, CfnMapping, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DLC_REGISTRIES } from '#infra/config/finetune.ts';

const MAPPING_ID = 'DlcRegistries';

/** The stack's one region → registry mapping. */
function registries(scope: Construct): CfnMapping {
  const stack = Stack.of(scope);
  const existing = stack.node.tryFindChild(MAPPING_ID);
  if (existing instanceof CfnMapping) return existing;
  return new CfnMapping(stack, MAPPING_ID, {
    mapping: Object.fromEntries(
      Object.entries(DLC_REGISTRIES).map(([region, account]) => [region, { account }]),
    ),
  });
}

/** `<registry>.dkr.ecr.<region>.<suffix>/<repository>:<tag>` for the deploying region. */
export function dlcImageUri(
  scope: Construct,
  image: { readonly repository: string; readonly tag: string },
): string {
  const account = registries(scope).findInMap(Aws.REGION, 'account');
  return `${account}.dkr.ecr.${Aws.REGION}.${Aws.URL_SUFFIX}/${image.repository}:${image.tag}`;
}
