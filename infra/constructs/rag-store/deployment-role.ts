/**
 * The role CloudFormation deploys the stack with, and the key policy statements the store adds for it
 * and for the store's service: creating the collection or vector bucket with the project key, and the
 * OpenSearch index under the data access policy, both happen with that role's credentials.
 */
import { Fn, Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { DefaultStackSynthesizer } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';

/** The `DefaultStackSynthesizer`'s CloudFormation execution role, as the template must name it. */
export function defaultDeploymentRoleArn(scope: Construct): string {
  const synthesizer = Stack.of(scope).synthesizer;
  if (!(synthesizer instanceof DefaultStackSynthesizer)) {
    throw new Error(
      `RagVectorStore: the stack does not use the DefaultStackSynthesizer; pass deploymentRoleArn (the role CloudFormation deploys with)`,
    );
  }
  // The synthesizer's ARN carries `${AWS::AccountId}`-style placeholders meant for the CLI; in the template
  // they must go through Fn::Sub.
  return Fn.sub(synthesizer.cloudFormationExecutionRoleArn);
}

/**
 * Adds a statement to the key's policy.
 *
 * @throws Error when the key is imported (its policy cannot be changed), naming the statement
 */
export function addKeyPolicy(scope: Construct, key: kms.IKey, statement: iam.PolicyStatement): void {
  const { statementAdded } = key.addToResourcePolicy(statement, true);
  if (!statementAdded) {
    throw new Error(
      `RagVectorStore ${scope.node.path}: the encryption key's policy cannot be changed (imported key); the store needs statement ${statement.sid}`,
    );
  }
}
