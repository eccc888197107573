import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ProductionVariantInstanceType } from '@aws-sdk/client-sagemaker';
import type { Context } from 'aws-lambda';
import { createDocumentClient, createEventBridgeClient, createS3Client } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { InvalidEventError } from '#aws/errors.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import {
  baseCatalogEntry,
  type CandidateCatalog,
  candidateCatalogEntry,
  candidateModelIdOf,
} from '#aws/finetune/candidates.ts';
import { finetuneDeps } from '#aws/finetune/deps.ts';
import type { FinetuneJobStore } from '#aws/finetune/job-store.ts';
import type { ModelRegistry } from '#aws/finetune/model-registry.ts';
import { type FinetuneSettings, parseInvokeTag } from '#aws/finetune/settings.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import { type Registered, registerInput, type TrainingResult } from '#contracts/pipelines/finetune.ts';
import { customerMetadataOf, type Lineage, lineageDocument, lineageKeyOf } from '#core/finetune/lineage.ts';
import { inferenceComponentNameOf } from '#core/finetune/plan.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import { MODEL_REGISTERED, modelRegisteredDetail } from '#events/model-registered.ts';

/**
 * Register: after the training job, the trained adapter becomes a model that can be evaluated and,
 * once approved, rolled out.
 *
 * 1. Its lineage: the whole of it as JSON at `finetune/lineage/<jobId>.json` in the artifacts bucket
 *    (the model package's model-quality statistics point at it), the fields one filters by as the
 *    package's customer metadata.
 * 2. A model package version in the deployment's group, pending manual approval (`ClientToken` = the
 *    job id: a retried step gets the version the first attempt created), serving image and adapter.
 * 3. The candidate's adapter inference component on the base model's component (tagged so that the
 *    gateway may call it); one already there from an earlier attempt is fine.
 * 4. Catalog entries: the base model's when the catalog has none, and the candidate's
 *    (`<servedModel>-v<version>`, with its lineage).
 * 5. The job moves to `registered`; 6. `llmops.ModelRegistered` is put on the bus.
 *
 * The candidate is compared with the served model line when the catalog has it, else (before the first
 * rollout) with the base model. `placeholder` is true when the training job completed with zero billable
 * seconds: SageMaker bills every second a training container runs, so only a job that ran nothing (the
 * local stand-in's, which writes a placeholder artifact) reports 0; such a candidate must never be promoted.
 */
export interface RegisterDeps {
  readonly s3: S3Client;
  readonly events: EventBridgeClient;
  readonly busName: string;
  readonly store: Pick<FinetuneJobStore, 'update'>;
  readonly registry: Pick<
    ModelRegistry,
    'createModelPackage' | 'setCustomerMetadata' | 'createAdapterComponent'
  >;
  readonly catalog: Pick<CandidateCatalog, 'ensure' | 'putCandidate' | 'has'>;
  readonly settings: FinetuneSettings;
  readonly stackName: string;
  readonly artifactsBucket: string;
  readonly modelPackageGroup: string;
  readonly servingImageUri: string;
  readonly servingInstanceType: string;
  readonly endpointName: string;
  readonly baseComponent: string;
  /** The tag that lets the gateway invoke a component (`INVOKE_TAG`). */
  readonly invokeTag: { readonly Key: string; readonly Value: string };
  readonly region: string;
  readonly now?: () => Date;
}

/** `s3://bucket/key` as bucket and key. */
export function s3LocationOf(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (match === null)
    throw new InvalidEventError(
      `training.ModelArtifacts.S3ModelArtifacts: ${uri} is not an s3:// object URI`,
    );
  return { bucket: match[1] as string, key: match[2] as string };
}

/** Whether the training job trained nothing (see the module's comment). */
export function isPlaceholder(training: TrainingResult): boolean {
  return training.BillableTimeInSeconds === 0;
}

/** The final metrics of a training job by name (the last value of a name wins). */
export function metricsOf(training: TrainingResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const metric of training.FinalMetricDataList ?? []) {
    if (Number.isFinite(metric.Value)) out[metric.MetricName] = metric.Value;
  }
  return out;
}

export function makeHandler(deps: RegisterDeps) {
  const now = deps.now ?? (() => new Date());

  async function writeLineage(lineage: Lineage): Promise<string> {
    const key = lineageKeyOf(lineage.jobId);
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.artifactsBucket,
        Key: key,
        Body: `${JSON.stringify(lineageDocument(lineage), null, 2)}\n`,
        ContentType: 'application/json',
      }),
    );
    return `s3://${deps.artifactsBucket}/${key}`;
  }

  return async (input: unknown, _context?: Context): Promise<Registered> => {
    const { plan, training } = parseInput(registerInput, input, 'Register input ({plan, training})');
    if (plan.status !== 'planned') {
      throw new InvalidEventError(`plan.status: Register runs after a planned job, got ${plan.status}`);
    }
    const { jobId } = plan;
    logger.appendKeys({ jobId, trainingJob: training.TrainingJobName });
    if (training.TrainingJobStatus !== 'Completed') {
      throw new InvalidEventError(
        `training.TrainingJobStatus: the training job ${training.TrainingJobName} is ${training.TrainingJobStatus}, not Completed`,
      );
    }
    const artifactUri = training.ModelArtifacts.S3ModelArtifacts;
    const artifact = s3LocationOf(artifactUri);
    const placeholder = isPlaceholder(training);
    const metrics_ = metricsOf(training);
    const inferenceComponent = inferenceComponentNameOf(deps.stackName, jobId);
    const spot = training.EnableManagedSpotTraining ?? deps.settings.spot;
    const billableSeconds = training.BillableTimeInSeconds ?? null;
    const hyperparameters = Object.fromEntries(
      Object.entries(plan.hyperParameters)
        .filter(([name]) => !name.startsWith('sagemaker_') && name !== 'base_model' && name !== 'recipe')
        .map(([name, value]) => [name, Number(value)]),
    );
    const lineage: Lineage = {
      jobId,
      dataset: plan.dataset,
      baseModel: plan.baseModel,
      recipe: plan.recipe,
      hyperparameters,
      trainingJob: {
        name: training.TrainingJobName,
        arn: training.TrainingJobArn,
        spot,
        billableSeconds,
        metrics: metrics_,
      },
      artifact,
      servedModel: deps.settings.servedModel,
      inferenceComponent,
      modelPackageGroup: deps.modelPackageGroup,
      placeholder,
      createdAt: now().toISOString(),
    };

    // (1) + (2): the lineage document, then the package version that points at it.
    const statisticsUri = await writeLineage(lineage);
    const pkg = await deps.registry.createModelPackage({
      ModelPackageGroupName: deps.modelPackageGroup,
      ModelPackageDescription: `${plan.recipe} adapter on ${plan.baseModel}, trained on ${plan.dataset.name} v${plan.dataset.version} (job ${jobId})${placeholder ? ' - PLACEHOLDER, not a model' : ''}`,
      ModelApprovalStatus: 'PendingManualApproval',
      ClientToken: jobId,
      InferenceSpecification: {
        Containers: [
          {
            Image: deps.servingImageUri,
            ModelDataUrl: artifactUri,
            Environment: { HF_MODEL_ID: plan.baseModel },
          },
        ],
        SupportedContentTypes: ['application/json'],
        SupportedResponseMIMETypes: ['application/json'],
        SupportedRealtimeInferenceInstanceTypes: [deps.servingInstanceType as ProductionVariantInstanceType],
      },
      ModelMetrics: {
        ModelQuality: { Statistics: { ContentType: 'application/json', S3Uri: statisticsUri } },
      },
      MetadataProperties: { GeneratedBy: training.TrainingJobArn },
      CustomerMetadataProperties: customerMetadataOf(lineage),
      Tags: plan.tags,
    });
    const candidateModel = candidateModelIdOf(deps.settings.servedModel, pkg.version);
    const complete: Lineage = { ...lineage, candidateModel, modelPackageArn: pkg.arn };
    // The candidate's id is known once the version is: it joins the metadata and the document.
    await deps.registry.setCustomerMetadata(pkg.arn, customerMetadataOf(complete));
    await writeLineage(complete);
    logger.appendKeys({ modelPackageArn: pkg.arn, candidateModel });

    // (3) the adapter component on the endpoint.
    const component = await deps.registry.createAdapterComponent({
      name: inferenceComponent,
      endpointName: deps.endpointName,
      baseComponent: deps.baseComponent,
      artifactUrl: artifactUri,
      tags: [...plan.tags, deps.invokeTag],
    });

    // (4) catalog entries.
    await deps.catalog.ensure(
      baseCatalogEntry({
        settings: deps.settings,
        endpointName: deps.endpointName,
        baseComponent: deps.baseComponent,
        region: deps.region,
      }),
    );
    await deps.catalog.putCandidate(
      candidateCatalogEntry({
        id: candidateModel,
        settings: deps.settings,
        endpointName: deps.endpointName,
        inferenceComponent,
        region: deps.region,
        lineage: {
          jobId,
          modelPackageArn: pkg.arn,
          baseModel: plan.baseModel,
          recipe: plan.recipe,
          dataset: { name: plan.dataset.name, version: String(plan.dataset.version) },
          placeholder,
        },
      }),
    );
    const baselineModel = (await deps.catalog.has(deps.settings.servedModel))
      ? deps.settings.servedModel
      : deps.settings.baseModel.catalogId;

    // (5) the job.
    await deps.store.update(
      jobId,
      {
        status: 'registered',
        modelPackageArn: pkg.arn,
        candidateModel,
        trainingJob: {
          name: training.TrainingJobName,
          arn: training.TrainingJobArn,
          spot,
          billableSeconds,
          metrics: metrics_,
        },
      },
      { expectStatus: ['training', 'registered'] },
    );

    // (6) the event.
    await publishEvent(deps.events, {
      busName: deps.busName,
      source: LLMOPS_SOURCE,
      detailType: MODEL_REGISTERED,
      schema: modelRegisteredDetail,
      detail: {
        schemaVersion: SCHEMA_VERSION,
        jobId,
        modelPackageArn: pkg.arn,
        modelPackageGroup: pkg.group,
        modelPackageVersion: pkg.version,
        candidateModel,
        baseModel: plan.baseModel,
        recipe: plan.recipe,
        dataset: plan.dataset,
        trainingJob: {
          name: training.TrainingJobName,
          arn: training.TrainingJobArn,
          billableSeconds,
          spot,
        },
        metrics: metrics_,
        artifact,
        placeholder,
      },
      resources: [pkg.arn],
    });
    metrics.addMetric('FinetuneModelsRegistered', 'Count', 1);
    if (placeholder) metrics.addMetric('FinetunePlaceholderModels', 'Count', 1);
    logger.info('Candidate registered', { component, baselineModel, placeholder });
    return {
      jobId,
      modelPackageArn: pkg.arn,
      modelPackageVersion: pkg.version,
      candidateModel,
      inferenceComponent,
      baselineModel,
      artifact,
      placeholder,
    };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  FINETUNE_TABLE: envVar.string(),
  CATALOG_TABLE: envVar.string(),
  ARTIFACTS_BUCKET: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  STACK_NAME: envVar.string(),
  MODEL_PACKAGE_GROUP: envVar.string(),
  /** The serving container (the model package's inference image). */
  SERVING_IMAGE_URI: envVar.string(),
  SERVING_INSTANCE_TYPE: envVar.string(),
  ENDPOINT_NAME: envVar.string(),
  /** The base model's inference component, which adapter components attach to. */
  BASE_INFERENCE_COMPONENT: envVar.string(),
  /** `key=value`: the tag that lets this deployment's gateway invoke a component. */
  INVOKE_TAG: envVar.string(),
  FINETUNE_SETTINGS: envVar.string(),
};

const config = readConfig(environment);
const documents = createDocumentClient();

export const handler = withObservability(
  makeHandler({
    s3: createS3Client(),
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
    ...finetuneDeps(config, documents),
    artifactsBucket: config.ARTIFACTS_BUCKET,
    modelPackageGroup: config.MODEL_PACKAGE_GROUP,
    servingImageUri: config.SERVING_IMAGE_URI,
    servingInstanceType: config.SERVING_INSTANCE_TYPE,
    endpointName: config.ENDPOINT_NAME,
    baseComponent: config.BASE_INFERENCE_COMPONENT,
    invokeTag: parseInvokeTag(config.INVOKE_TAG),
    // Set by Lambda itself (a reserved variable), so not part of the environment contract.
    region: process.env.AWS_REGION ?? 'us-east-1',
  }),
);
