import {
  CreateInferenceComponentCommand,
  CreateModelPackageCommand,
  type CreateModelPackageCommandInput,
  DeleteInferenceComponentCommand,
  DescribeInferenceComponentCommand,
  SageMakerClient,
  UpdateInferenceComponentRuntimeConfigCommand,
  UpdateModelPackageCommand,
} from '@aws-sdk/client-sagemaker';
import { InvalidEventError } from '../errors.ts';
import { withSdkCallHooks } from '../sdk-call-hooks.ts';

/**
 * The SageMaker control plane as the fine-tuning functions use it: the model registry (a job's model
 * package version, its approval) and the candidate's adapter inference component. The client is made
 * once per module ({@link createSageMakerClient}, adaptive retries as the other clients) and passed in,
 * so that tests hand it a mocked client.
 */
export function createSageMakerClient(): SageMakerClient {
  return withSdkCallHooks(new SageMakerClient({ maxAttempts: 5, retryMode: 'adaptive' }));
}

/** A versioned model package's ARN: `…:model-package/<group>/<version>`. */
const PACKAGE_ARN = /^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package\/([A-Za-z0-9-]{1,63})\/(\d+)$/;

/** The group and version of a versioned model package's ARN. @throws InvalidEventError for another ARN */
export function packageVersionOf(arn: string): { group: string; version: number } {
  const match = PACKAGE_ARN.exec(arn);
  if (match === null) {
    throw new InvalidEventError(
      `${arn} is not the ARN of a versioned model package (…:model-package/<group>/<version>)`,
    );
  }
  return { group: match[1] as string, version: Number(match[2]) };
}

/** Where an inference component is: SageMaker's status, and why it failed. */
export interface ComponentState {
  readonly status: string;
  readonly failureReason?: string;
  /** Copies serving now, and copies asked for (a base component; adapters use their base's). */
  readonly currentCopies?: number;
  readonly desiredCopies?: number;
}

const nameOf = (error: unknown) => (error as { name?: string } | null)?.name ?? '';
const messageOf = (error: unknown) => String((error as { message?: unknown } | null)?.message ?? '');

/** SageMaker saying that a resource does not exist (a ValidationException "Could not find …"). */
export function isNotFound(error: unknown): boolean {
  const name = nameOf(error);
  return (
    name === 'ResourceNotFound' ||
    name === 'ResourceNotFoundException' ||
    (name === 'ValidationException' && /could not find|not found|does not exist/i.test(messageOf(error)))
  );
}

/** Deletes an inference component: `absent` when there was none (already deleted, or never created). */
export async function deleteInferenceComponent(
  client: SageMakerClient,
  name: string,
): Promise<'deleted' | 'absent'> {
  try {
    await client.send(new DeleteInferenceComponentCommand({ InferenceComponentName: name }));
    return 'deleted';
  } catch (error) {
    if (isNotFound(error)) return 'absent';
    throw error;
  }
}

/** SageMaker refusing to create what already exists (a retried step). */
export function isAlreadyExists(error: unknown): boolean {
  return nameOf(error) === 'ResourceInUse' || /already exist/i.test(messageOf(error));
}

/** The longest approval description SageMaker takes. */
export const MAX_APPROVAL_DESCRIPTION = 1024;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export class ModelRegistry {
  readonly #client: SageMakerClient;

  constructor(client: SageMakerClient) {
    this.#client = client;
  }

  /**
   * Creates a model package version (pending approval). `ClientToken` makes a retried call return the
   * version the first one created instead of another.
   */
  async createModelPackage(
    input: CreateModelPackageCommandInput & { ClientToken: string },
  ): Promise<{ arn: string; group: string; version: number }> {
    const { ModelPackageArn: arn } = await this.#client.send(new CreateModelPackageCommand(input));
    if (arn === undefined)
      throw new InvalidEventError('CreateModelPackage answered without a ModelPackageArn');
    return { arn, ...packageVersionOf(arn) };
  }

  /** Adds (or replaces) customer metadata of a package version. */
  async setCustomerMetadata(arn: string, properties: Record<string, string>): Promise<void> {
    await this.#client.send(
      new UpdateModelPackageCommand({ ModelPackageArn: arn, CustomerMetadataProperties: properties }),
    );
  }

  /** Approves or rejects a package version, saying why (cut to SageMaker's 1024 characters). */
  async setApproval(arn: string, status: 'Approved' | 'Rejected', description: string): Promise<void> {
    await this.#client.send(
      new UpdateModelPackageCommand({
        ModelPackageArn: arn,
        ModelApprovalStatus: status,
        ApprovalDescription: clip(description, MAX_APPROVAL_DESCRIPTION),
      }),
    );
  }

  /**
   * Creates an adapter inference component on the base model's component. `exists` when a component of
   * that name is already there (the step was retried).
   */
  async createAdapterComponent(input: {
    readonly name: string;
    readonly endpointName: string;
    readonly baseComponent: string;
    readonly artifactUrl: string;
    readonly tags: readonly { Key: string; Value: string }[];
  }): Promise<'created' | 'exists'> {
    try {
      await this.#client.send(
        new CreateInferenceComponentCommand({
          InferenceComponentName: input.name,
          EndpointName: input.endpointName,
          Specification: {
            BaseInferenceComponentName: input.baseComponent,
            Container: { ArtifactUrl: input.artifactUrl },
          },
          Tags: [...input.tags],
        }),
      );
      return 'created';
    } catch (error) {
      if (isAlreadyExists(error)) return 'exists';
      throw error;
    }
  }

  /** A component's status, or undefined when there is none of that name. */
  async describeComponent(name: string): Promise<ComponentState | undefined> {
    try {
      const out = await this.#client.send(
        new DescribeInferenceComponentCommand({ InferenceComponentName: name }),
      );
      const copies = out.RuntimeConfig;
      return {
        status: out.InferenceComponentStatus ?? 'Unknown',
        ...(out.FailureReason !== undefined ? { failureReason: out.FailureReason } : {}),
        ...(copies?.CurrentCopyCount !== undefined ? { currentCopies: copies.CurrentCopyCount } : {}),
        ...(copies?.DesiredCopyCount !== undefined ? { desiredCopies: copies.DesiredCopyCount } : {}),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Asks for one copy of a (base) component that has none: a scaled-to-zero endpoint warmed up for a
   * candidate's evaluation, whose answers must come from the candidate (Application Auto Scaling scales it
   * in again once it is idle).
   */
  async warmComponent(name: string): Promise<void> {
    await this.#client.send(
      new UpdateInferenceComponentRuntimeConfigCommand({
        InferenceComponentName: name,
        DesiredRuntimeConfig: { CopyCount: 1 },
      }),
    );
  }

  /** Deletes a component: `absent` when there was none (already deleted, or never created). */
  async deleteComponent(name: string): Promise<'deleted' | 'absent'> {
    return deleteInferenceComponent(this.#client, name);
  }
}
