/**
 * What the Rollout function asks SageMaker about serving: an inference component's status and the
 * artifact it loads, the endpoint's status, the adapter artifact a model package registered, deleting a
 * rolled-back candidate's component, and rejecting its package. A component or package that does not
 * exist is an answer (`undefined`, `absent`), not an error: SageMaker says so with `ResourceNotFound`
 * or with a `ValidationException` "Could not find …". Every other error passes through unchanged, for the
 * handler's error mapping (throttling becomes a retried TransientError).
 *
 * SDK commands (the function's IAM): DescribeInferenceComponent, DeleteInferenceComponent,
 * DescribeEndpoint, DescribeModelPackage, UpdateModelPackage.
 */
import {
  DescribeEndpointCommand,
  DescribeInferenceComponentCommand,
  DescribeModelPackageCommand,
  type SageMakerClient,
  UpdateModelPackageCommand,
} from '@aws-sdk/client-sagemaker';
import { deleteInferenceComponent, isNotFound } from './model-registry.ts';

export { isNotFound };

export interface ComponentState {
  readonly name: string;
  /** `InService`, `Creating`, `Updating`, `Failed`, `Deleting`. */
  readonly status: string;
  /** `Specification.Container.ArtifactUrl`: the adapter (or model) the component loads; null when none. */
  readonly artifactUrl: string | null;
  readonly endpointName: string | null;
  /** An adapter component's base component. */
  readonly baseComponent: string | null;
}

export interface Verification {
  readonly inferenceComponent: string;
  /** The component's status (`NotFound` when it does not exist). */
  readonly status: string;
  readonly artifactUrl: string | null;
  /** The package's adapter artifact (`InferenceSpecification.Containers[0].ModelDataUrl`). */
  readonly expectedArtifactUrl: string | null;
  /** The endpoint's status (`NotFound` when it does not exist). */
  readonly endpointStatus: string;
  /** Component and endpoint InService, and the component loads the package's artifact. */
  readonly matches: boolean;
  /** What does not match, one sentence each (empty when it matches). */
  readonly problems: string[];
}

export class SageMakerServing {
  readonly #client: SageMakerClient;

  constructor(client: SageMakerClient) {
    this.#client = client;
  }

  /** The component's state, or undefined when it does not exist. */
  async describeComponent(name: string): Promise<ComponentState | undefined> {
    try {
      const out = await this.#client.send(
        new DescribeInferenceComponentCommand({ InferenceComponentName: name }),
      );
      return {
        name,
        status: out.InferenceComponentStatus ?? 'Unknown',
        artifactUrl: out.Specification?.Container?.ArtifactUrl ?? null,
        endpointName: out.EndpointName ?? null,
        baseComponent: out.Specification?.BaseInferenceComponentName ?? null,
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Deletes a component: `absent` when it was already gone. */
  async deleteComponent(name: string): Promise<'deleted' | 'absent'> {
    return deleteInferenceComponent(this.#client, name);
  }

  /** The endpoint's status, or undefined when it does not exist. */
  async endpointStatus(name: string): Promise<string | undefined> {
    try {
      const out = await this.#client.send(new DescribeEndpointCommand({ EndpointName: name }));
      return out.EndpointStatus ?? 'Unknown';
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The adapter artifact a package registered (its first container's `ModelDataUrl`); null when none. */
  async packageArtifact(modelPackageArn: string): Promise<string | null> {
    const out = await this.#client.send(
      new DescribeModelPackageCommand({ ModelPackageName: modelPackageArn }),
    );
    return out.InferenceSpecification?.Containers?.[0]?.ModelDataUrl ?? null;
  }

  /** Rejects a package, saying why (the approval description holds at most 1024 characters). */
  async rejectPackage(modelPackageArn: string, description: string): Promise<void> {
    await this.#client.send(
      new UpdateModelPackageCommand({
        ModelPackageArn: modelPackageArn,
        ModelApprovalStatus: 'Rejected',
        ApprovalDescription: description.length > 1024 ? `${description.slice(0, 1023)}…` : description,
      }),
    );
  }

  /** Which configuration actually serves: the component and endpoint, against the package's artifact. */
  async verify(
    inferenceComponent: string,
    modelPackageArn: string,
    endpointName: string,
  ): Promise<Verification> {
    const [component, expected, endpoint] = await Promise.all([
      this.describeComponent(inferenceComponent),
      this.packageArtifact(modelPackageArn),
      this.endpointStatus(endpointName),
    ]);
    const problems: string[] = [];
    const status = component?.status ?? 'NotFound';
    const endpointStatus = endpoint ?? 'NotFound';
    if (status !== 'InService') problems.push(`inference component ${inferenceComponent} is ${status}`);
    if (expected === null) problems.push(`model package ${modelPackageArn} names no adapter artifact`);
    else if (component !== undefined && component.artifactUrl !== expected) {
      problems.push(
        `inference component ${inferenceComponent} loads ${component.artifactUrl ?? 'no artifact'}, not ${expected}`,
      );
    }
    if (component?.endpointName && component.endpointName !== endpointName) {
      problems.push(
        `inference component ${inferenceComponent} is on endpoint ${component.endpointName}, not ${endpointName}`,
      );
    }
    if (endpointStatus !== 'InService') problems.push(`endpoint ${endpointName} is ${endpointStatus}`);
    return {
      inferenceComponent,
      status,
      artifactUrl: component?.artifactUrl ?? null,
      expectedArtifactUrl: expected,
      endpointStatus,
      matches: problems.length === 0,
      problems,
    };
  }
}
