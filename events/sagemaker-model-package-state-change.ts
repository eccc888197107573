import * as z from 'zod';
import { eventBridgeEvent } from './envelope.ts';
import { sageMakerTags, sageMakerTimestamp } from './sagemaker-training-job-state-change.ts';

/**
 * SageMaker "Model Package State Change", sent to the default bus when a model package version is
 * created or updated, including every change of its approval status (the deployer's trigger on
 * `Approved`). The detail is the DescribeModelPackage shape; unlike training job events its timestamps
 * are ISO 8601 text (`"2021-02-24T17:00:14Z"`), parsed here to epoch milliseconds like every SageMaker
 * timestamp. `Tags` is a map when present. Loose objects: SageMaker adds fields (`ModelLifeCycle`,
 * `ModelCard`, `SecurityConfig`, …) and the inference specification varies with the container.
 */
export const SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE = 'SageMaker Model Package State Change';

export const modelApprovalStatus = z.enum(['Approved', 'Rejected', 'PendingManualApproval']);
export type ModelApprovalStatus = z.infer<typeof modelApprovalStatus>;

export const modelPackageStatus = z.enum(['Pending', 'InProgress', 'Completed', 'Failed', 'Deleting']);

/** A versioned model package's ARN: `arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>`. */
export const MODEL_PACKAGE_ARN =
  /^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package\/[A-Za-z0-9-]{1,63}(\/\d+)?$/;

/** Model package group names: 1-63 letters, digits and single hyphens. */
export const MODEL_PACKAGE_GROUP_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;

const inferenceContainer = z.looseObject({
  Image: z.string().min(1),
  ImageDigest: z.string().optional(),
  /** The model (here: the adapter) the container loads; absent when it uses `ModelDataSource`. */
  ModelDataUrl: z.string().optional(),
  ModelDataSource: z.looseObject({}).optional(),
  Environment: z.record(z.string(), z.string()).optional(),
});

export const sageMakerModelPackageStateChangeDetail = z.looseObject({
  ModelPackageGroupName: z.string().regex(MODEL_PACKAGE_GROUP_NAME),
  ModelPackageVersion: z.number().int().min(1),
  ModelPackageArn: z.string().regex(MODEL_PACKAGE_ARN),
  /** Not in the documented sample; for a versioned package it is the group's name. */
  ModelPackageName: z.string().min(1).optional(),
  ModelPackageDescription: z.string().optional(),
  CreationTime: sageMakerTimestamp,
  LastModifiedTime: sageMakerTimestamp.optional(),
  InferenceSpecification: z
    .looseObject({
      Containers: z.array(inferenceContainer).min(1),
      SupportedContentTypes: z.array(z.string()).optional(),
      SupportedResponseMIMETypes: z.array(z.string()).optional(),
      SupportedRealtimeInferenceInstanceTypes: z.array(z.string()).optional(),
    })
    .optional(),
  ModelPackageStatus: modelPackageStatus,
  ModelPackageStatusDetails: z.looseObject({}).optional(),
  CertifyForMarketplace: z.boolean().optional(),
  ModelApprovalStatus: modelApprovalStatus,
  ApprovalDescription: z.string().optional(),
  CustomerMetadataProperties: z.record(z.string(), z.string()).optional(),
  MetadataProperties: z.looseObject({}).optional(),
  ModelMetrics: z.looseObject({}).optional(),
  Tags: sageMakerTags,
});
export type SageMakerModelPackageStateChangeDetail = z.infer<typeof sageMakerModelPackageStateChangeDetail>;

export const sageMakerModelPackageStateChangeEvent = eventBridgeEvent(
  SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE,
  sageMakerModelPackageStateChangeDetail,
);
export type SageMakerModelPackageStateChangeEvent = z.infer<typeof sageMakerModelPackageStateChangeEvent>;
