/**
 * A local stand-in for the SageMaker control plane: training jobs, the model registry (model package groups
 * and versioned packages), models, endpoints and inference components, and tags, held in memory.
 *
 * Nothing trains and nothing is served. CreateTrainingJob checks the request against the documented limits,
 * records it exactly, writes a placeholder `model.tar.gz` (which says it is not a model) where SageMaker would
 * write the trained model, and completes at once, emitting the "SageMaker Training Job State Change" events
 * SageMaker sends to the default bus. Inference components go InService at once without loading anything.
 * The stand-in invents no metrics: a job's FinalMetricDataList is empty unless `trainingMetrics` supplies it.
 *
 * Errors carry SageMaker's error codes as `name` (`ValidationException`, `ResourceNotFound`,
 * `ResourceInUse`, `ConflictException`) and, where SageMaker answers a missing model, endpoint or inference
 * component with a ValidationException ("Could not find ..."), so does this.
 */
import { randomUUID } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type {
  AddTagsCommandInput,
  AddTagsCommandOutput,
  CreateInferenceComponentCommandInput,
  CreateInferenceComponentCommandOutput,
  CreateModelCommandInput,
  CreateModelCommandOutput,
  CreateModelPackageCommandInput,
  CreateModelPackageCommandOutput,
  CreateModelPackageGroupCommandInput,
  CreateModelPackageGroupCommandOutput,
  CreateTrainingJobCommandInput,
  CreateTrainingJobCommandOutput,
  DeleteInferenceComponentCommandInput,
  DeleteInferenceComponentCommandOutput,
  DeleteModelCommandInput,
  DeleteModelCommandOutput,
  DescribeEndpointCommandInput,
  DescribeEndpointCommandOutput,
  DescribeInferenceComponentCommandInput,
  DescribeInferenceComponentCommandOutput,
  DescribeModelCommandInput,
  DescribeModelCommandOutput,
  DescribeModelPackageCommandInput,
  DescribeModelPackageCommandOutput,
  DescribeTrainingJobCommandInput,
  DescribeTrainingJobCommandOutput,
  InferenceComponentSpecification,
  InferenceComponentSpecificationSummary,
  ListInferenceComponentsCommandInput,
  ListInferenceComponentsCommandOutput,
  ListModelPackagesCommandInput,
  ListModelPackagesCommandOutput,
  ListTagsCommandInput,
  ListTagsCommandOutput,
  ModelApprovalStatus,
  StopTrainingJobCommandInput,
  StopTrainingJobCommandOutput,
  Tag,
  UpdateInferenceComponentCommandInput,
  UpdateInferenceComponentCommandOutput,
  UpdateInferenceComponentRuntimeConfigCommandInput,
  UpdateInferenceComponentRuntimeConfigCommandOutput,
  UpdateModelPackageCommandInput,
  UpdateModelPackageCommandOutput,
} from '@aws-sdk/client-sagemaker';
import { MODEL_ARTIFACT_NAME, placeholderModelArtifact } from './placeholder-artifact.ts';
import { checkTags, validateCreateTrainingJob } from './training-limits.ts';

/** SageMaker error codes the stand-in answers with. */
export type SageMakerErrorCode =
  | 'ValidationException'
  | 'ResourceNotFound'
  | 'ResourceInUse'
  | 'ConflictException'
  | 'UnknownOperationException';

/** An error as SageMaker reports it: `name` is the error code. */
export class SageMakerError extends Error {
  readonly code: SageMakerErrorCode;
  constructor(code: SageMakerErrorCode, message: string) {
    super(message);
    this.name = code;
    this.code = code;
  }
}

/** An EventBridge event as SageMaker puts it on the default bus. */
export interface SageMakerEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: 'aws.sagemaker';
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
}

/** An endpoint the template declares. */
export interface LocalEndpointDeclaration {
  readonly name: string;
  readonly variants: readonly string[];
  /** @default the endpoint's name */
  readonly endpointConfigName?: string;
}

/** An inference component the template declares. */
export interface LocalInferenceComponentDeclaration {
  readonly name: string;
  readonly endpointName: string;
  readonly variantName: string;
  readonly specification: InferenceComponentSpecification;
  /** @default 1 */
  readonly copyCount?: number;
}

/** A metric value a training job reports. */
export interface TrainingMetric {
  readonly MetricName: string;
  readonly Value: number;
}

/** Options of {@link LocalSageMaker}. */
export interface LocalSageMakerOptions {
  readonly region: string;
  readonly account: string;
  /** An S3 client pointed at the local S3 emulator: the placeholder artifacts are written through it. */
  readonly s3: S3Client;
  /** Puts an event on the local default bus. */
  readonly emit: (event: SageMakerEvent) => Promise<void>;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** Model package groups that exist from the start (the template's). */
  readonly packageGroups?: readonly string[];
  /** Endpoints that exist from the start (the template's), InService. */
  readonly endpoints?: readonly LocalEndpointDeclaration[];
  /** Inference components that exist from the start (the template's), InService. */
  readonly inferenceComponents?: readonly LocalInferenceComponentDeclaration[];
  /** Final metrics a job reports. @default none: the stand-in invents no metrics */
  readonly trainingMetrics?: (request: CreateTrainingJobCommandInput) => readonly TrainingMetric[];
  /** A failure reason for jobs that should fail (to exercise failure paths). @default every job completes */
  readonly failTraining?: (request: CreateTrainingJobCommandInput) => string | undefined;
}

type TrainingJobStatus = 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped';

interface TrainingJob {
  readonly request: CreateTrainingJobCommandInput;
  readonly arn: string;
  status: TrainingJobStatus;
  secondaryStatus: string;
  readonly creationTime: Date;
  lastModifiedTime: Date;
  startTime?: Date;
  endTime?: Date;
  failureReason?: string;
  modelArtifacts?: string;
  metrics: { MetricName: string; Value: number; Timestamp: Date }[];
  transitions: { Status: string; StartTime: Date; EndTime?: Date; StatusMessage: string }[];
}

interface PackageGroup {
  readonly name: string;
  readonly arn: string;
  readonly description?: string | undefined;
  readonly creationTime: Date;
  nextVersion: number;
}

interface ModelPackage {
  readonly arn: string;
  readonly group: string;
  readonly version: number;
  readonly request: CreateModelPackageCommandInput;
  readonly creationTime: Date;
  lastModifiedTime: Date;
  approvalStatus: ModelApprovalStatus;
  approvalDescription?: string;
  customerMetadata?: Record<string, string>;
}

interface Model {
  readonly arn: string;
  readonly request: CreateModelCommandInput;
  readonly creationTime: Date;
}

interface Endpoint {
  readonly name: string;
  readonly arn: string;
  readonly configName: string;
  readonly variants: readonly string[];
  readonly creationTime: Date;
}

interface InferenceComponent {
  readonly name: string;
  readonly arn: string;
  readonly endpointName: string;
  readonly variantName: string;
  specification: InferenceComponentSpecification;
  copyCount: number;
  readonly creationTime: Date;
  lastModifiedTime: Date;
}

const APPROVAL_STATUSES: readonly string[] = ['Approved', 'Rejected', 'PendingManualApproval'];
const NAME_PATTERN = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;

/** The operations {@link LocalSageMaker.call} dispatches. */
export const LOCAL_SAGEMAKER_OPERATIONS = [
  'CreateTrainingJob',
  'DescribeTrainingJob',
  'StopTrainingJob',
  'CreateModelPackageGroup',
  'CreateModelPackage',
  'DescribeModelPackage',
  'ListModelPackages',
  'UpdateModelPackage',
  'CreateModel',
  'DescribeModel',
  'DeleteModel',
  'CreateInferenceComponent',
  'DescribeInferenceComponent',
  'UpdateInferenceComponent',
  'UpdateInferenceComponentRuntimeConfig',
  'DeleteInferenceComponent',
  'ListInferenceComponents',
  'DescribeEndpoint',
  'AddTags',
  'ListTags',
] as const;

/** One operation the stand-in implements. */
export type LocalSageMakerOperation = (typeof LOCAL_SAGEMAKER_OPERATIONS)[number];

const METADATA = { $metadata: {} } as const;

/** The SageMaker control plane, in memory. */
export class LocalSageMaker {
  readonly region: string;
  readonly account: string;
  readonly #s3: S3Client;
  readonly #emit: (event: SageMakerEvent) => Promise<void>;
  readonly #clock: () => Date;
  readonly #trainingMetrics: LocalSageMakerOptions['trainingMetrics'];
  readonly #failTraining: LocalSageMakerOptions['failTraining'];
  readonly #jobs = new Map<string, TrainingJob>();
  readonly #trainingRequests: CreateTrainingJobCommandInput[] = [];
  readonly #groups = new Map<string, PackageGroup>();
  readonly #packages = new Map<string, ModelPackage>();
  readonly #models = new Map<string, Model>();
  readonly #endpoints = new Map<string, Endpoint>();
  readonly #components = new Map<string, InferenceComponent>();
  readonly #componentRequests: CreateInferenceComponentCommandInput[] = [];
  /** Tags by resource ARN, in insertion order. */
  readonly #tags = new Map<string, Map<string, string>>();

  constructor(options: LocalSageMakerOptions) {
    this.region = options.region;
    this.account = options.account;
    this.#s3 = options.s3;
    this.#emit = options.emit;
    this.#clock = options.clock ?? (() => new Date());
    this.#trainingMetrics = options.trainingMetrics;
    this.#failTraining = options.failTraining;
    const now = this.#clock();
    for (const name of options.packageGroups ?? []) {
      this.#groups.set(name, {
        name,
        arn: this.arn('model-package-group', name),
        creationTime: now,
        nextVersion: 1,
      });
    }
    for (const endpoint of options.endpoints ?? []) {
      this.#endpoints.set(endpoint.name, {
        name: endpoint.name,
        arn: this.arn('endpoint', endpoint.name),
        configName: endpoint.endpointConfigName ?? endpoint.name,
        variants: [...endpoint.variants],
        creationTime: now,
      });
    }
    for (const ic of options.inferenceComponents ?? []) {
      const endpoint = this.#endpoints.get(ic.endpointName);
      if (!endpoint) {
        throw new SageMakerError(
          'ValidationException',
          `Inference component ${ic.name} is on endpoint ${ic.endpointName}, which is not declared`,
        );
      }
      this.#components.set(ic.name, {
        name: ic.name,
        arn: this.arn('inference-component', ic.name),
        endpointName: ic.endpointName,
        variantName: ic.variantName,
        specification: structuredClone(ic.specification),
        copyCount: ic.copyCount ?? 1,
        creationTime: now,
        lastModifiedTime: now,
      });
    }
    for (const ic of this.#components.values()) this.#checkBase(ic.name, ic.endpointName, ic.specification);
  }

  /**
   * Runs an operation by its SageMaker name with a JSON-shaped input (what the awsJson protocol carries).
   * @throws SageMakerError `UnknownOperationException` for an operation the stand-in does not implement.
   */
  async call(operation: string, input: unknown): Promise<unknown> {
    if (!(LOCAL_SAGEMAKER_OPERATIONS as readonly string[]).includes(operation)) {
      throw new SageMakerError(
        'UnknownOperationException',
        `The local SageMaker stand-in does not implement ${operation} (it implements ${LOCAL_SAGEMAKER_OPERATIONS.join(', ')})`,
      );
    }
    const body = typeof input === 'object' && input !== null ? input : {};
    const method = this[operation as LocalSageMakerOperation] as (input: unknown) => Promise<unknown>;
    return method.call(this, body);
  }

  // -------------------------------------------------------------------------------------------
  // Training jobs

  /**
   * Validates, records and "runs" a training job: writes the placeholder artifact and completes at once
   * (or fails, when S3 refuses the artifact or `failTraining` says so), emitting InProgress then the outcome.
   */
  async CreateTrainingJob(input: CreateTrainingJobCommandInput): Promise<CreateTrainingJobCommandOutput> {
    const problems = validateCreateTrainingJob(input);
    if (problems.length > 0) {
      throw new SageMakerError(
        'ValidationException',
        `${problems.length} validation error${problems.length === 1 ? '' : 's'} detected: ${problems.join(' ')}`,
      );
    }
    const name = input.TrainingJobName as string;
    const arn = this.arn('training-job', name);
    if (this.#jobs.has(name)) {
      throw new SageMakerError(
        'ResourceInUse',
        `Training job names must be unique within an AWS account and region, and a training job with this name already exists (${arn})`,
      );
    }
    const request = structuredClone(input);
    this.#trainingRequests.push(structuredClone(input));
    this.#setTags(arn, input.Tags ?? []);
    const created = this.#clock();
    const job: TrainingJob = {
      request,
      arn,
      status: 'InProgress',
      secondaryStatus: 'Starting',
      creationTime: created,
      lastModifiedTime: created,
      metrics: [],
      transitions: [
        {
          Status: 'Starting',
          StartTime: created,
          StatusMessage: 'Starting the training job (local stand-in: nothing is launched)',
        },
      ],
    };
    this.#jobs.set(name, job);
    await this.#emitTrainingState(job);

    const failure = this.#failTraining?.(request);
    if (failure !== undefined) {
      this.#finishJob(job, 'Failed', failure);
    } else {
      try {
        job.modelArtifacts = await this.#writeArtifact(request);
        this.#finishJob(job, 'Completed');
      } catch (error) {
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        this.#finishJob(
          job,
          'Failed',
          `Could not write the model artifact to ${request.OutputDataConfig?.S3OutputPath}: ${reason}`,
        );
      }
    }
    await this.#emitTrainingState(job);
    return { ...METADATA, TrainingJobArn: arn };
  }

  async DescribeTrainingJob(
    input: DescribeTrainingJobCommandInput,
  ): Promise<DescribeTrainingJobCommandOutput> {
    const job = this.#job(input.TrainingJobName);
    return { ...METADATA, ...this.#describeJob(job) };
  }

  /** Stops a job that is still in progress; the stand-in's jobs finish at once, so this is mostly refused. */
  async StopTrainingJob(input: StopTrainingJobCommandInput): Promise<StopTrainingJobCommandOutput> {
    const job = this.#job(input.TrainingJobName);
    if (job.status !== 'InProgress') {
      throw new SageMakerError(
        'ValidationException',
        `The training job ${job.request.TrainingJobName} is in status ${job.status} and cannot be stopped`,
      );
    }
    this.#finishJob(job, 'Stopped');
    await this.#emitTrainingState(job);
    return { ...METADATA };
  }

  /** Every CreateTrainingJob request accepted, exactly as received, oldest first. */
  recordedTrainingRequests(): readonly CreateTrainingJobCommandInput[] {
    return this.#trainingRequests.map((r) => structuredClone(r));
  }

  #job(name: unknown): TrainingJob {
    const job = typeof name === 'string' ? this.#jobs.get(name) : undefined;
    if (!job)
      throw new SageMakerError(
        'ResourceNotFound',
        `Requested resource not found: training job ${String(name)}`,
      );
    return job;
  }

  #finishJob(job: TrainingJob, status: 'Completed' | 'Failed' | 'Stopped', reason?: string): void {
    const now = this.#clock();
    for (const t of job.transitions) t.EndTime ??= now;
    if (status === 'Completed') {
      job.startTime = job.creationTime;
      job.transitions.push(
        {
          Status: 'Training',
          StartTime: job.creationTime,
          EndTime: now,
          StatusMessage: 'No training happened: the local stand-in wrote a placeholder artifact',
        },
        {
          Status: 'Completed',
          StartTime: now,
          EndTime: now,
          StatusMessage: 'Training job completed (placeholder artifact, not a model)',
        },
      );
      job.metrics = (this.#trainingMetrics?.(job.request) ?? []).map((m) => ({
        MetricName: m.MetricName,
        Value: m.Value,
        Timestamp: now,
      }));
    } else {
      job.transitions.push({
        Status: status,
        StartTime: now,
        EndTime: now,
        StatusMessage: reason ?? `Training job ${status.toLowerCase()}`,
      });
    }
    job.status = status;
    job.secondaryStatus = status;
    job.endTime = now;
    job.lastModifiedTime = now;
    if (reason !== undefined) job.failureReason = reason;
  }

  async #writeArtifact(request: CreateTrainingJobCommandInput): Promise<string> {
    const output = request.OutputDataConfig?.S3OutputPath ?? '';
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(output);
    if (!match) throw new Error(`the local stand-in writes artifacts to s3:// URIs only (got ${output})`);
    const bucket = match[1] as string;
    const prefix = (match[2] ?? '').replace(/\/+$/, '');
    const name = request.TrainingJobName as string;
    const key = `${prefix ? `${prefix}/` : ''}${name}/output/${MODEL_ARTIFACT_NAME}`;
    const body = placeholderModelArtifact({
      trainingJobName: name,
      baseModel: request.HyperParameters?.base_model,
    });
    await this.#s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: 'application/x-tar',
        ContentEncoding: 'gzip',
      }),
    );
    return `s3://${bucket}/${key}`;
  }

  #describeJob(job: TrainingJob): Omit<DescribeTrainingJobCommandOutput, '$metadata'> {
    const r = job.request;
    const training =
      job.startTime && job.endTime
        ? Math.max(0, Math.round((job.endTime.getTime() - job.startTime.getTime()) / 1000))
        : undefined;
    return stripUndefined({
      TrainingJobName: r.TrainingJobName,
      TrainingJobArn: job.arn,
      TrainingJobStatus: job.status,
      SecondaryStatus: job.secondaryStatus,
      FailureReason: job.failureReason,
      HyperParameters: r.HyperParameters,
      AlgorithmSpecification: r.AlgorithmSpecification,
      RoleArn: r.RoleArn,
      InputDataConfig: r.InputDataConfig,
      OutputDataConfig: r.OutputDataConfig,
      ResourceConfig: r.ResourceConfig,
      VpcConfig: r.VpcConfig,
      StoppingCondition: r.StoppingCondition,
      CreationTime: job.creationTime,
      TrainingStartTime: job.startTime,
      TrainingEndTime: job.endTime,
      LastModifiedTime: job.lastModifiedTime,
      SecondaryStatusTransitions: job.transitions.map((t) => ({ ...t })),
      FinalMetricDataList: job.metrics.map((m) => ({ ...m })),
      ModelArtifacts: job.modelArtifacts ? { S3ModelArtifacts: job.modelArtifacts } : undefined,
      EnableNetworkIsolation: r.EnableNetworkIsolation ?? false,
      EnableInterContainerTrafficEncryption: r.EnableInterContainerTrafficEncryption ?? false,
      EnableManagedSpotTraining: r.EnableManagedSpotTraining ?? false,
      CheckpointConfig: r.CheckpointConfig,
      Environment: r.Environment,
      RetryStrategy: r.RetryStrategy,
      TrainingTimeInSeconds: training,
      // Nothing ran, so nothing is billed.
      BillableTimeInSeconds: training === undefined ? undefined : 0,
    }) as Omit<DescribeTrainingJobCommandOutput, '$metadata'>;
  }

  async #emitTrainingState(job: TrainingJob): Promise<void> {
    const detail = {
      ...(toEventJson(this.#describeJob(job)) as Record<string, unknown>),
      Tags: this.#tagMap(job.arn),
    };
    await this.#emit(this.#event('SageMaker Training Job State Change', job.arn, detail));
  }

  // -------------------------------------------------------------------------------------------
  // Model registry

  async CreateModelPackageGroup(
    input: CreateModelPackageGroupCommandInput,
  ): Promise<CreateModelPackageGroupCommandOutput> {
    const name = input.ModelPackageGroupName;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      throw new SageMakerError(
        'ValidationException',
        `ModelPackageGroupName must match ${NAME_PATTERN.source} (got ${JSON.stringify(name)})`,
      );
    }
    this.#validateTags(input.Tags);
    if (this.#groups.has(name)) {
      throw new SageMakerError(
        'ValidationException',
        `Model Package Group already exists: ${this.arn('model-package-group', name)}`,
      );
    }
    const group: PackageGroup = {
      name,
      arn: this.arn('model-package-group', name),
      description: input.ModelPackageGroupDescription,
      creationTime: this.#clock(),
      nextVersion: 1,
    };
    this.#groups.set(name, group);
    this.#setTags(group.arn, input.Tags ?? []);
    return { ...METADATA, ModelPackageGroupArn: group.arn };
  }

  /** Registers a new version in a model package group (versions 1, 2, 3, ... per group). */
  async CreateModelPackage(input: CreateModelPackageCommandInput): Promise<CreateModelPackageCommandOutput> {
    const groupRef = input.ModelPackageGroupName;
    if (typeof groupRef !== 'string' || groupRef === '') {
      throw new SageMakerError(
        'ValidationException',
        'ModelPackageGroupName is required: the local stand-in registers versioned model packages (model registry) only',
      );
    }
    const group = this.#group(groupRef);
    const status = input.ModelApprovalStatus ?? 'PendingManualApproval';
    if (!APPROVAL_STATUSES.includes(status)) {
      throw new SageMakerError(
        'ValidationException',
        `ModelApprovalStatus must be one of ${APPROVAL_STATUSES.join(', ')} (got ${JSON.stringify(status)})`,
      );
    }
    this.#validateTags(input.Tags);
    const version = group.nextVersion++;
    const now = this.#clock();
    const arn = this.arn('model-package', `${group.name}/${version}`);
    const pkg: ModelPackage = {
      arn,
      group: group.name,
      version,
      request: structuredClone(input),
      creationTime: now,
      lastModifiedTime: now,
      approvalStatus: status,
      ...(input.CustomerMetadataProperties
        ? { customerMetadata: { ...input.CustomerMetadataProperties } }
        : {}),
    };
    this.#packages.set(arn, pkg);
    this.#setTags(arn, input.Tags ?? []);
    await this.#emitPackageState(pkg);
    return { ...METADATA, ModelPackageArn: arn };
  }

  async DescribeModelPackage(
    input: DescribeModelPackageCommandInput,
  ): Promise<DescribeModelPackageCommandOutput> {
    return { ...METADATA, ...this.#describePackage(this.#package(input.ModelPackageName)) };
  }

  /** The versions of a group, sorted by CreationTime (default, ascending) or Name. */
  async ListModelPackages(input: ListModelPackagesCommandInput): Promise<ListModelPackagesCommandOutput> {
    let packages = [...this.#packages.values()];
    if (input.ModelPackageGroupName !== undefined) {
      const group = this.#group(input.ModelPackageGroupName);
      packages = packages.filter((p) => p.group === group.name);
    }
    if (input.ModelApprovalStatus !== undefined) {
      packages = packages.filter((p) => p.approvalStatus === input.ModelApprovalStatus);
    }
    if (input.NameContains !== undefined) {
      const needle = input.NameContains.toLowerCase();
      packages = packages.filter((p) => p.group.toLowerCase().includes(needle));
    }
    const byName = input.SortBy === 'Name';
    packages.sort((a, b) =>
      byName
        ? a.group.localeCompare(b.group) || a.version - b.version
        : a.creationTime.getTime() - b.creationTime.getTime() || a.version - b.version,
    );
    if (input.SortOrder === 'Descending') packages.reverse();
    const { page, next } = paginate(packages, input.MaxResults, input.NextToken);
    return {
      ...METADATA,
      ModelPackageSummaryList: page.map((p) =>
        stripUndefined({
          ModelPackageName: p.group,
          ModelPackageGroupName: p.group,
          ModelPackageVersion: p.version,
          ModelPackageArn: p.arn,
          ModelPackageDescription: p.request.ModelPackageDescription,
          CreationTime: p.creationTime,
          ModelPackageStatus: 'Completed' as const,
          ModelApprovalStatus: p.approvalStatus,
        }),
      ),
      ...(next ? { NextToken: next } : {}),
    };
  }

  /**
   * Changes the approval status and description and merges CustomerMetadataProperties; a changed approval
   * status emits "SageMaker Model Package State Change".
   */
  async UpdateModelPackage(input: UpdateModelPackageCommandInput): Promise<UpdateModelPackageCommandOutput> {
    const pkg = this.#package(input.ModelPackageArn);
    const status = input.ModelApprovalStatus;
    if (status !== undefined && !APPROVAL_STATUSES.includes(status)) {
      throw new SageMakerError(
        'ValidationException',
        `ModelApprovalStatus must be one of ${APPROVAL_STATUSES.join(', ')} (got ${JSON.stringify(status)})`,
      );
    }
    const changed = status !== undefined && status !== pkg.approvalStatus;
    if (status !== undefined) pkg.approvalStatus = status;
    if (input.ApprovalDescription !== undefined) pkg.approvalDescription = input.ApprovalDescription;
    if (
      input.CustomerMetadataProperties !== undefined ||
      input.CustomerMetadataPropertiesToRemove !== undefined
    ) {
      const merged = { ...(pkg.customerMetadata ?? {}), ...(input.CustomerMetadataProperties ?? {}) };
      for (const key of input.CustomerMetadataPropertiesToRemove ?? []) delete merged[key];
      pkg.customerMetadata = merged;
    }
    pkg.lastModifiedTime = this.#clock();
    if (changed) await this.#emitPackageState(pkg);
    return { ...METADATA, ModelPackageArn: pkg.arn };
  }

  #group(ref: string): PackageGroup {
    const name = ref.startsWith('arn:') ? ref.slice(ref.lastIndexOf('/') + 1) : ref;
    const group =
      this.#groups.get(name) ?? [...this.#groups.values()].find((g) => g.arn === ref.toLowerCase());
    if (!group) {
      throw new SageMakerError('ValidationException', `Model Package Group ${ref} does not exist`);
    }
    return group;
  }

  #package(arn: unknown): ModelPackage {
    const pkg = typeof arn === 'string' ? this.#packages.get(arn.toLowerCase()) : undefined;
    if (!pkg) {
      throw new SageMakerError('ValidationException', `ModelPackage ${String(arn)} does not exist`);
    }
    return pkg;
  }

  #describePackage(pkg: ModelPackage): Omit<DescribeModelPackageCommandOutput, '$metadata'> {
    const r = pkg.request;
    return stripUndefined({
      ModelPackageName: pkg.group,
      ModelPackageGroupName: pkg.group,
      ModelPackageVersion: pkg.version,
      ModelPackageArn: pkg.arn,
      ModelPackageDescription: r.ModelPackageDescription,
      CreationTime: pkg.creationTime,
      LastModifiedTime: pkg.lastModifiedTime,
      InferenceSpecification: r.InferenceSpecification,
      ModelPackageStatus: 'Completed' as const,
      ModelPackageStatusDetails: { ValidationStatuses: [], ImageScanStatuses: [] },
      CertifyForMarketplace: r.CertifyForMarketplace ?? false,
      ModelApprovalStatus: pkg.approvalStatus,
      ApprovalDescription: pkg.approvalDescription,
      MetadataProperties: r.MetadataProperties,
      ModelMetrics: r.ModelMetrics,
      Domain: r.Domain,
      Task: r.Task,
      SamplePayloadUrl: r.SamplePayloadUrl,
      CustomerMetadataProperties: pkg.customerMetadata,
      DriftCheckBaselines: r.DriftCheckBaselines,
      SourceUri: r.SourceUri,
    }) as Omit<DescribeModelPackageCommandOutput, '$metadata'>;
  }

  /** Model package events carry timestamps as ISO 8601 text (unlike training job events). */
  async #emitPackageState(pkg: ModelPackage): Promise<void> {
    const detail = mapDates(
      stripUndefined({
        ModelPackageGroupName: pkg.group,
        ModelPackageVersion: pkg.version,
        ModelPackageArn: pkg.arn,
        ModelPackageName: pkg.group,
        ModelPackageDescription: pkg.request.ModelPackageDescription,
        ModelPackageStatus: 'Completed',
        ModelPackageStatusDetails: { ValidationStatuses: [], ImageScanStatuses: [] },
        ModelApprovalStatus: pkg.approvalStatus,
        ApprovalDescription: pkg.approvalDescription,
        CreationTime: pkg.creationTime,
        LastModifiedTime: pkg.lastModifiedTime,
        InferenceSpecification: pkg.request.InferenceSpecification,
        CustomerMetadataProperties: pkg.customerMetadata,
        CertifyForMarketplace: pkg.request.CertifyForMarketplace ?? false,
        Tags: this.#tagMap(pkg.arn),
      }),
      isoSeconds,
    ) as Record<string, unknown>;
    await this.#emit(this.#event('SageMaker Model Package State Change', pkg.arn, detail));
  }

  // -------------------------------------------------------------------------------------------
  // Models

  async CreateModel(input: CreateModelCommandInput): Promise<CreateModelCommandOutput> {
    const name = input.ModelName;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      throw new SageMakerError(
        'ValidationException',
        `ModelName must match ${NAME_PATTERN.source} (got ${JSON.stringify(name)})`,
      );
    }
    this.#validateTags(input.Tags);
    const arn = this.arn('model', name);
    if (this.#models.has(name)) {
      throw new SageMakerError('ValidationException', `Cannot create already existing model "${arn}".`);
    }
    if (input.PrimaryContainer === undefined && (input.Containers ?? []).length === 0) {
      throw new SageMakerError('ValidationException', 'CreateModel needs PrimaryContainer or Containers');
    }
    this.#models.set(name, { arn, request: structuredClone(input), creationTime: this.#clock() });
    this.#setTags(arn, input.Tags ?? []);
    return { ...METADATA, ModelArn: arn };
  }

  async DescribeModel(input: DescribeModelCommandInput): Promise<DescribeModelCommandOutput> {
    const model = this.#model(input.ModelName);
    const r = model.request;
    return {
      ...METADATA,
      ...stripUndefined({
        ModelName: r.ModelName,
        ModelArn: model.arn,
        PrimaryContainer: r.PrimaryContainer,
        Containers: r.Containers,
        InferenceExecutionConfig: r.InferenceExecutionConfig,
        ExecutionRoleArn: r.ExecutionRoleArn,
        VpcConfig: r.VpcConfig,
        EnableNetworkIsolation: r.EnableNetworkIsolation ?? false,
        CreationTime: model.creationTime,
      }),
    } as DescribeModelCommandOutput;
  }

  async DeleteModel(input: DeleteModelCommandInput): Promise<DeleteModelCommandOutput> {
    const model = this.#model(input.ModelName);
    this.#models.delete(model.request.ModelName as string);
    this.#tags.delete(model.arn);
    return { ...METADATA };
  }

  #model(name: unknown): Model {
    const model = typeof name === 'string' ? this.#models.get(name) : undefined;
    if (!model) {
      throw new SageMakerError(
        'ValidationException',
        `Could not find model "${this.arn('model', String(name))}".`,
      );
    }
    return model;
  }

  // -------------------------------------------------------------------------------------------
  // Endpoints and inference components

  async DescribeEndpoint(input: DescribeEndpointCommandInput): Promise<DescribeEndpointCommandOutput> {
    const endpoint = this.#endpoint(input.EndpointName);
    return {
      ...METADATA,
      EndpointName: endpoint.name,
      EndpointArn: endpoint.arn,
      EndpointConfigName: endpoint.configName,
      EndpointStatus: 'InService',
      ProductionVariants: endpoint.variants.map((variant) => ({
        VariantName: variant,
        CurrentWeight: 1,
        DesiredWeight: 1,
        CurrentInstanceCount: 1,
        DesiredInstanceCount: 1,
      })),
      CreationTime: endpoint.creationTime,
      LastModifiedTime: endpoint.creationTime,
    };
  }

  /**
   * Creates an inference component, InService at once (the stand-in loads nothing). An adapter's
   * `Specification.BaseInferenceComponentName` must exist on the same endpoint.
   */
  async CreateInferenceComponent(
    input: CreateInferenceComponentCommandInput,
  ): Promise<CreateInferenceComponentCommandOutput> {
    const name = input.InferenceComponentName;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      throw new SageMakerError(
        'ValidationException',
        `InferenceComponentName must match ${NAME_PATTERN.source} (got ${JSON.stringify(name)})`,
      );
    }
    this.#validateTags(input.Tags);
    const endpoint = this.#endpoint(input.EndpointName);
    const arn = this.arn('inference-component', name);
    if (this.#components.has(name)) {
      throw new SageMakerError(
        'ResourceInUse',
        `Cannot create already existing inference component "${arn}".`,
      );
    }
    const specification = input.Specification;
    if (!specification) throw new SageMakerError('ValidationException', 'Specification is required');
    const variant = input.VariantName ?? endpoint.variants[0];
    if (variant === undefined || !endpoint.variants.includes(variant)) {
      throw new SageMakerError(
        'ValidationException',
        `Variant ${String(variant)} does not exist on endpoint ${endpoint.name} (variants: ${endpoint.variants.join(', ')})`,
      );
    }
    this.#checkBase(name, endpoint.name, specification);
    const now = this.#clock();
    this.#components.set(name, {
      name,
      arn,
      endpointName: endpoint.name,
      variantName: variant,
      specification: structuredClone(specification),
      copyCount: input.RuntimeConfig?.CopyCount ?? 1,
      creationTime: now,
      lastModifiedTime: now,
    });
    this.#componentRequests.push(structuredClone(input));
    this.#setTags(arn, input.Tags ?? []);
    return { ...METADATA, InferenceComponentArn: arn };
  }

  async DescribeInferenceComponent(
    input: DescribeInferenceComponentCommandInput,
  ): Promise<DescribeInferenceComponentCommandOutput> {
    const ic = this.#component(input.InferenceComponentName);
    const endpoint = this.#endpoint(ic.endpointName);
    return {
      ...METADATA,
      InferenceComponentName: ic.name,
      InferenceComponentArn: ic.arn,
      EndpointName: ic.endpointName,
      EndpointArn: endpoint.arn,
      VariantName: ic.variantName,
      InferenceComponentStatus: 'InService',
      Specification: this.#specificationSummary(ic),
      RuntimeConfig: { DesiredCopyCount: ic.copyCount, CurrentCopyCount: ic.copyCount },
      CreationTime: ic.creationTime,
      LastModifiedTime: ic.lastModifiedTime,
    };
  }

  /** Replaces the specification and/or copy count; the component stays InService. */
  async UpdateInferenceComponent(
    input: UpdateInferenceComponentCommandInput,
  ): Promise<UpdateInferenceComponentCommandOutput> {
    const ic = this.#component(input.InferenceComponentName);
    if (input.Specification) {
      this.#checkBase(ic.name, ic.endpointName, input.Specification);
      ic.specification = structuredClone(input.Specification);
    }
    if (input.RuntimeConfig?.CopyCount !== undefined) ic.copyCount = input.RuntimeConfig.CopyCount;
    ic.lastModifiedTime = this.#clock();
    return { ...METADATA, InferenceComponentArn: ic.arn };
  }

  /** Sets the copy count (what Application Auto Scaling or a warm-up asks); the copies are there at once. */
  async UpdateInferenceComponentRuntimeConfig(
    input: UpdateInferenceComponentRuntimeConfigCommandInput,
  ): Promise<UpdateInferenceComponentRuntimeConfigCommandOutput> {
    const ic = this.#component(input.InferenceComponentName);
    const copies = input.DesiredRuntimeConfig?.CopyCount;
    if (copies === undefined || !Number.isInteger(copies) || copies < 0) {
      throw new SageMakerError(
        'ValidationException',
        'DesiredRuntimeConfig.CopyCount must be a whole number, 0 or more',
      );
    }
    if (ic.specification.BaseInferenceComponentName !== undefined) {
      throw new SageMakerError(
        'ValidationException',
        `Inference component ${ic.name} is an adapter: its copies are its base component's`,
      );
    }
    ic.copyCount = copies;
    ic.lastModifiedTime = this.#clock();
    return { ...METADATA, InferenceComponentArn: ic.arn };
  }

  /** Deletes a component; a base component that adapters still use is refused. */
  async DeleteInferenceComponent(
    input: DeleteInferenceComponentCommandInput,
  ): Promise<DeleteInferenceComponentCommandOutput> {
    const ic = this.#component(input.InferenceComponentName);
    const adapters = [...this.#components.values()]
      .filter((c) => c.specification.BaseInferenceComponentName === ic.name)
      .map((c) => c.name);
    if (adapters.length > 0) {
      throw new SageMakerError(
        'ValidationException',
        `Inference component ${ic.name} is the base of adapter inference components ${adapters.join(', ')}; delete them first`,
      );
    }
    this.#components.delete(ic.name);
    this.#tags.delete(ic.arn);
    return { ...METADATA };
  }

  async ListInferenceComponents(
    input: ListInferenceComponentsCommandInput,
  ): Promise<ListInferenceComponentsCommandOutput> {
    let components = [...this.#components.values()];
    if (input.EndpointNameEquals !== undefined) {
      components = components.filter((c) => c.endpointName === input.EndpointNameEquals);
    }
    if (input.VariantNameEquals !== undefined) {
      components = components.filter((c) => c.variantName === input.VariantNameEquals);
    }
    if (input.StatusEquals !== undefined && input.StatusEquals !== 'InService') components = [];
    if (input.NameContains !== undefined) {
      const needle = input.NameContains.toLowerCase();
      components = components.filter((c) => c.name.toLowerCase().includes(needle));
    }
    const byName = input.SortBy === 'Name';
    components.sort((a, b) =>
      byName
        ? a.name.localeCompare(b.name)
        : a.creationTime.getTime() - b.creationTime.getTime() || a.name.localeCompare(b.name),
    );
    // SageMaker lists newest first unless asked otherwise.
    if (input.SortOrder !== 'Ascending') components.reverse();
    const { page, next } = paginate(components, input.MaxResults, input.NextToken);
    return {
      ...METADATA,
      InferenceComponents: page.map((c) => ({
        InferenceComponentName: c.name,
        InferenceComponentArn: c.arn,
        EndpointName: c.endpointName,
        EndpointArn: this.arn('endpoint', c.endpointName),
        VariantName: c.variantName,
        InferenceComponentStatus: 'InService' as const,
        CreationTime: c.creationTime,
        LastModifiedTime: c.lastModifiedTime,
      })),
      ...(next ? { NextToken: next } : {}),
    };
  }

  /** Every CreateInferenceComponent request accepted (with its `Specification.Container.ArtifactUrl`). */
  recordedInferenceComponentRequests(): readonly CreateInferenceComponentCommandInput[] {
    return this.#componentRequests.map((r) => structuredClone(r));
  }

  #endpoint(name: unknown): Endpoint {
    const endpoint = typeof name === 'string' ? this.#endpoints.get(name) : undefined;
    if (!endpoint) {
      throw new SageMakerError(
        'ValidationException',
        `Could not find endpoint "${this.arn('endpoint', String(name))}".`,
      );
    }
    return endpoint;
  }

  #component(name: unknown): InferenceComponent {
    const ic = typeof name === 'string' ? this.#components.get(name) : undefined;
    if (!ic) {
      throw new SageMakerError(
        'ValidationException',
        `Could not find inference component "${this.arn('inference-component', String(name))}".`,
      );
    }
    return ic;
  }

  #checkBase(name: string, endpointName: string, specification: InferenceComponentSpecification): void {
    const baseName = specification.BaseInferenceComponentName;
    if (baseName === undefined) return;
    const base = this.#components.get(baseName);
    if (!base) {
      throw new SageMakerError(
        'ValidationException',
        `Adapter inference component ${name} names base inference component ${baseName}, which does not exist`,
      );
    }
    if (base.endpointName !== endpointName) {
      throw new SageMakerError(
        'ValidationException',
        `Adapter inference component ${name} is on endpoint ${endpointName} but its base ${baseName} is on endpoint ${base.endpointName}; they must share an endpoint`,
      );
    }
  }

  #specificationSummary(ic: InferenceComponent): InferenceComponentSpecificationSummary {
    const { Container, ...rest } = ic.specification;
    const summary: InferenceComponentSpecificationSummary = structuredClone(
      rest,
    ) as InferenceComponentSpecificationSummary;
    if (Container) {
      summary.Container = stripUndefined({
        DeployedImage: Container.Image
          ? {
              SpecifiedImage: Container.Image,
              ResolvedImage: Container.Image,
              ResolutionTime: ic.creationTime,
            }
          : undefined,
        ArtifactUrl: Container.ArtifactUrl,
        Environment: Container.Environment ? { ...Container.Environment } : undefined,
      });
    }
    return summary;
  }

  // -------------------------------------------------------------------------------------------
  // Tags

  async AddTags(input: AddTagsCommandInput): Promise<AddTagsCommandOutput> {
    const arn = this.#taggable(input.ResourceArn);
    this.#validateTags(input.Tags);
    this.#setTags(arn, input.Tags ?? []);
    return { ...METADATA, Tags: this.#tagList(arn) };
  }

  async ListTags(input: ListTagsCommandInput): Promise<ListTagsCommandOutput> {
    const arn = this.#taggable(input.ResourceArn);
    const { page, next } = paginate(this.#tagList(arn), input.MaxResults, input.NextToken);
    return { ...METADATA, Tags: page, ...(next ? { NextToken: next } : {}) };
  }

  #taggable(ref: unknown): string {
    const arn = typeof ref === 'string' ? ref.toLowerCase() : '';
    const known =
      [...this.#jobs.values()].some((j) => j.arn === arn) ||
      this.#packages.has(arn) ||
      [...this.#groups.values()].some((g) => g.arn === arn) ||
      [...this.#models.values()].some((m) => m.arn === arn) ||
      [...this.#endpoints.values()].some((e) => e.arn === arn) ||
      [...this.#components.values()].some((c) => c.arn === arn);
    if (!known) throw new SageMakerError('ResourceNotFound', `Resource ${String(ref)} does not exist`);
    return arn;
  }

  #validateTags(tags: unknown): void {
    const problems: string[] = [];
    checkTags(tags, 'Tags', (p) => problems.push(p));
    if (problems.length > 0) throw new SageMakerError('ValidationException', problems.join(' '));
  }

  #setTags(arn: string, tags: readonly Tag[]): void {
    const map = this.#tags.get(arn) ?? new Map<string, string>();
    for (const tag of tags) if (tag.Key !== undefined) map.set(tag.Key, tag.Value ?? '');
    this.#tags.set(arn, map);
  }

  #tagList(arn: string): Tag[] {
    return [...(this.#tags.get(arn) ?? new Map<string, string>())].map(([Key, Value]) => ({ Key, Value }));
  }

  #tagMap(arn: string): Record<string, string> {
    return Object.fromEntries(this.#tags.get(arn) ?? []);
  }

  // -------------------------------------------------------------------------------------------

  /** A SageMaker ARN; SageMaker lowercases resource names in ARNs. */
  arn(type: string, name: string): string {
    return `arn:aws:sagemaker:${this.region}:${this.account}:${type}/${name.toLowerCase()}`;
  }

  #event(detailType: string, resource: string, detail: Record<string, unknown>): SageMakerEvent {
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source: 'aws.sagemaker',
      account: this.account,
      time: isoSeconds(this.#clock()),
      region: this.region,
      resources: [resource],
      detail,
    };
  }
}

/** A copy of a response with Dates as epoch milliseconds, as SageMaker's events carry them. */
export function toEventJson(value: unknown): unknown {
  return mapDates(value, (date) => date.getTime());
}

/** A deep copy of `value` with every Date replaced by `convert(date)` and undefined members dropped. */
export function mapDates(value: unknown, convert: (date: Date) => unknown): unknown {
  if (value instanceof Date) return convert(value);
  if (Array.isArray(value)) return value.map((v) => mapDates(v, convert));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = mapDates(v, convert);
    return out;
  }
  return value;
}

/** ISO 8601 to the second, as EventBridge writes event times: `2021-02-24T17:00:14Z`. */
function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function stripUndefined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function paginate<T>(items: readonly T[], maxResults: number | undefined, token: string | undefined) {
  const start = token === undefined ? 0 : Number.parseInt(token, 10);
  if (!Number.isInteger(start) || start < 0) {
    throw new SageMakerError(
      'ValidationException',
      `NextToken '${token}' is not a token this listing returned`,
    );
  }
  const size = maxResults ?? 100;
  const page = items.slice(start, start + size);
  const next = start + size < items.length ? String(start + size) : undefined;
  return { page, next };
}
