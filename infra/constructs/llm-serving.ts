/**
 * The GPU endpoint that serves the open-weight base model and its fine-tuned LoRA adapters:
 *
 *   endpoint (inference components; managed instance scaling, min `serving.minInstances`)
 *     └ base component: the base model on the vLLM serving container, `acceleratorsPerCopy` GPUs a copy
 *         └ adapter components (one per fine-tuned candidate, created at run time by the fine-tuning
 *           pipeline on the base component's copies)
 *   copies: target tracking on concurrent requests per copy, min `serving.minCopies` (0 in dev: scale to
 *   zero), and a step policy that adds a copy when a call finds none (`NoCapacityInvocationFailures`),
 *   the documented way out of zero.
 *   rolling updates of the base component roll back on its 5xx and latency alarms.
 *
 * The endpoint and base component have names derived from the stack name (the catalog and the gateway
 * address them by name), and carry the invoke tag that the gateway's IAM grant is conditioned on.
 */
import { Aws, Duration, Fn } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwactions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import { MAX_LORA_RANK } from '#contracts/finetune/job.ts';
import { FINETUNE_OUTPUT_PREFIX } from '#contracts/storage-layout.ts';
import { sageMakerNameOf } from '#core/finetune/plan.ts';
import type { FineTuningConfig } from '#infra/config/finetune.ts';
import type { DeploymentConfig } from '#infra/config/index.ts';
import type { LlmOpsAlerts } from './alerts.ts';
import { dlcImageUri } from './dlc-images.ts';
import { SAGEMAKER_INVOKE_TAG_KEY, sageMakerInvokeTagValue } from './model-access.ts';
import { acknowledge, arnInFinding } from './nag.ts';

/** The endpoint's one production variant. */
export const SERVING_VARIANT = 'AllTraffic';

/** The endpoint's name for a deployment (lowercase: SageMaker ARNs lowercase names). */
export function servingEndpointName(stackName: string): string {
  return sageMakerNameOf(stackName, 'llm');
}

/** The base model's inference component name for a deployment. */
export function baseComponentName(stackName: string): string {
  return sageMakerNameOf(stackName, 'base');
}

export interface LlmServingProps {
  readonly deployment: DeploymentConfig;
  readonly config: FineTuningConfig;
  /** Adapters are read from `finetune/output/` here. */
  readonly artifactsBucket: s3.IBucket;
  readonly encryptionKey: kms.IKey;
  readonly alerts: LlmOpsAlerts;
}

export class LlmServing extends Construct {
  public readonly endpointName: string;
  public readonly baseComponentName: string;
  /** The role SageMaker runs the endpoint's containers as. */
  public readonly executionRole: iam.Role;
  public readonly model: sagemaker.CfnModel;
  public readonly endpointConfig: sagemaker.CfnEndpointConfig;
  public readonly endpoint: sagemaker.CfnEndpoint;
  public readonly baseComponent: sagemaker.CfnInferenceComponent;
  /** Copies of the base component: min `serving.minCopies`, max `serving.maxCopies`. */
  public readonly scalableTarget: appscaling.ScalableTarget;
  /** ALARM when a call found no copy: adds one (scale-out from zero). Absent when copies never reach 0. */
  public readonly noCapacityAlarm?: cloudwatch.Alarm;
  /** The base component's rolling updates roll back on these. */
  public readonly rollbackAlarms: readonly cloudwatch.Alarm[];
  /** The serving container image (per region). */
  public readonly imageUri: string;

  constructor(scope: Construct, id: string, props: LlmServingProps) {
    super(scope, id);
    const { deployment, config, encryptionKey } = props;
    const serving = config.serving;
    this.endpointName = servingEndpointName(deployment.stackName);
    this.baseComponentName = baseComponentName(deployment.stackName);
    this.imageUri = dlcImageUri(this, serving.image);
    const tags = [{ key: SAGEMAKER_INVOKE_TAG_KEY, value: sageMakerInvokeTagValue(deployment.stackName) }];

    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: `${deployment.stackName}: runs the serving containers (image pull, adapters, logs, metrics)`,
    });
    const registry = Fn.select(0, Fn.split('.', this.imageUri));
    const policy = new iam.Policy(this, 'ExecutionPolicy', {
      statements: [
        new iam.PolicyStatement({
          sid: 'PullServingImage',
          actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
          resources: [
            `arn:${Aws.PARTITION}:ecr:${Aws.REGION}:${registry}:repository/${serving.image.repository}`,
          ],
        }),
        new iam.PolicyStatement({
          sid: 'EcrToken',
          actions: ['ecr:GetAuthorizationToken'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'ReadAdapters',
          actions: ['s3:GetObject'],
          resources: [props.artifactsBucket.arnForObjects(`${FINETUNE_OUTPUT_PREFIX}*`)],
        }),
        new iam.PolicyStatement({
          sid: 'DecryptAdapters',
          actions: ['kms:Decrypt'],
          resources: [encryptionKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
        }),
        new iam.PolicyStatement({
          sid: 'ContainerLogs',
          actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [`arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/*`],
        }),
        new iam.PolicyStatement({
          sid: 'ContainerMetrics',
          actions: ['cloudwatch:PutMetricData'],
          resources: ['*'],
          conditions: { StringLike: { 'cloudwatch:namespace': ['/aws/sagemaker/*', 'AWS/SageMaker'] } },
        }),
      ],
    });
    policy.attachToRole(this.executionRole);
    acknowledge(
      policy,
      'AwsSolutions-IAM5[Resource::*]',
      'ecr:GetAuthorizationToken has no resource type; cloudwatch:PutMetricData has none either and is limited to the SageMaker namespaces by condition.',
    );
    acknowledge(
      policy,
      `AwsSolutions-IAM5[Resource::${arnInFinding(this, props.artifactsBucket.node.defaultChild as s3.CfnBucket)}/${FINETUNE_OUTPUT_PREFIX}*]`,
      'The fine-tuned adapters: every training job writes its model.tar.gz under finetune/output/<job>/, and an adapter component may load any of them.',
    );
    acknowledge(
      policy,
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/*]',
      'SageMaker names the container log groups /aws/sagemaker/Endpoints/<endpoint> and /aws/sagemaker/InferenceComponents/<component>, created at run time.',
    );

    this.model = new sagemaker.CfnModel(this, 'BaseModel', {
      executionRoleArn: this.executionRole.roleArn,
      primaryContainer: {
        image: this.imageUri,
        environment: {
          SM_VLLM_MODEL: config.baseModel.hfModelId,
          SM_VLLM_MAX_MODEL_LEN: String(config.baseModel.contextWindow),
          // Adapter components load LoRA adapters on the base model's copies.
          SM_VLLM_ENABLE_LORA: 'true',
          SM_VLLM_MAX_LORAS: '4',
          // The API and the training script refuse a higher lora_r: every adapter trained here loads.
          SM_VLLM_MAX_LORA_RANK: String(MAX_LORA_RANK),
        },
      },
      tags,
    });
    this.model.node.addDependency(policy);

    this.endpointConfig = new sagemaker.CfnEndpointConfig(this, 'EndpointConfig', {
      executionRoleArn: this.executionRole.roleArn,
      productionVariants: [
        {
          variantName: SERVING_VARIANT,
          instanceType: serving.instanceType,
          initialInstanceCount: Math.max(1, serving.minInstances),
          managedInstanceScaling: {
            status: 'ENABLED',
            minInstanceCount: serving.minInstances,
            maxInstanceCount: serving.maxInstances,
          },
          routingConfig: { routingStrategy: 'LEAST_OUTSTANDING_REQUESTS' },
        },
      ],
      tags,
    });
    this.endpointConfig.node.addDependency(policy);
    acknowledge(
      this.endpointConfig,
      'AwsSolutions-SM2',
      'GPU instances with local NVMe instance storage (g5, g6, p4, p5) refuse a KMS key for the ML storage volume; their instance store is encrypted at rest by the hardware.',
    );

    this.endpoint = new sagemaker.CfnEndpoint(this, 'Endpoint', {
      endpointName: this.endpointName,
      endpointConfigName: this.endpointConfig.attrEndpointConfigName,
      tags,
    });

    // Rolling updates of the base component roll back on these (AWS/SageMaker, per component).
    const componentMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName,
        dimensionsMap: { InferenceComponentName: this.baseComponentName },
        statistic,
        period: Duration.minutes(1),
      });
    const errors = new cloudwatch.Alarm(this, 'BaseComponentErrors', {
      alarmDescription: `${this.baseComponentName}: 5xx answers from the model container; a rolling update of the base component rolls back on it`,
      metric: componentMetric('Invocation5XXErrors', cloudwatch.Stats.SUM),
      threshold: 5,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const latency = new cloudwatch.Alarm(this, 'BaseComponentLatency', {
      alarmDescription: `${this.baseComponentName}: p90 model latency above ${config.canary.maxLatencyP90Ms} ms; a rolling update of the base component rolls back on it`,
      // ModelLatency is in microseconds.
      metric: componentMetric('ModelLatency', cloudwatch.Stats.p(90)),
      threshold: config.canary.maxLatencyP90Ms * 1000,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.rollbackAlarms = [errors, latency];
    // They watch the live base component too, not only its updates: both page.
    for (const alarm of this.rollbackAlarms) props.alerts.page(alarm);

    this.baseComponent = new sagemaker.CfnInferenceComponent(this, 'BaseComponent', {
      inferenceComponentName: this.baseComponentName,
      endpointName: this.endpointName,
      variantName: SERVING_VARIANT,
      specification: {
        modelName: this.model.attrModelName,
        computeResourceRequirements: {
          numberOfAcceleratorDevicesRequired: serving.acceleratorsPerCopy,
          minMemoryRequiredInMb: serving.memoryPerCopyMb,
        },
        startupParameters: {
          modelDataDownloadTimeoutInSeconds: 1800,
          containerStartupHealthCheckTimeoutInSeconds: 1800,
        },
      },
      // One copy to come into service (CloudFormation waits for it); scaling takes it from there.
      runtimeConfig: { copyCount: 1 },
      deploymentConfig: {
        rollingUpdatePolicy: {
          maximumBatchSize: { type: 'COPY_COUNT', value: 1 },
          rollbackMaximumBatchSize: { type: 'COPY_COUNT', value: 1 },
          waitIntervalInSeconds: 300,
          maximumExecutionTimeoutInSeconds: 3600,
        },
        autoRollbackConfiguration: { alarms: this.rollbackAlarms.map((a) => ({ alarmName: a.alarmName })) },
      },
      tags,
    });
    this.baseComponent.addResourceDependency(this.endpoint);

    this.scalableTarget = new appscaling.ScalableTarget(this, 'Copies', {
      serviceNamespace: appscaling.ServiceNamespace.SAGEMAKER,
      scalableDimension: 'sagemaker:inference-component:DesiredCopyCount',
      resourceId: `inference-component/${this.baseComponentName}`,
      minCapacity: serving.minCopies,
      maxCapacity: serving.maxCopies,
    });
    this.scalableTarget.node.addDependency(this.baseComponent);
    this.scalableTarget.scaleToTrackMetric('ConcurrentRequestsPerCopy', {
      targetValue: serving.targetConcurrentRequestsPerCopy,
      predefinedMetric:
        appscaling.PredefinedMetric
          .SAGEMAKER_INFERENCE_COMPONENT_CONCURRENT_REQUESTS_PER_COPY_HIGH_RESOLUTION,
      scaleInCooldown: Duration.minutes(serving.scaleInCooldownMinutes),
      scaleOutCooldown: Duration.minutes(1),
    });

    if (serving.minCopies === 0) {
      // Target tracking cannot leave zero (no copy, no requests per copy): a call that finds no copy
      // fails with NoCapacityInvocationFailures, and this adds the first copy.
      const scaleOut = new appscaling.StepScalingAction(this, 'ScaleOutFromZero', {
        scalingTarget: this.scalableTarget,
        adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        cooldown: Duration.minutes(1),
        metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
      });
      scaleOut.addAdjustment({ adjustment: 1, lowerBound: 0 });
      this.noCapacityAlarm = new cloudwatch.Alarm(this, 'NoCapacity', {
        alarmDescription: `${this.baseComponentName} has no copy and a call arrived: adds one (scale-out from zero takes minutes; the gateway answers 503 with Retry-After or the fallback model meanwhile)`,
        metric: componentMetric('NoCapacityInvocationFailures', cloudwatch.Stats.MAXIMUM),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.noCapacityAlarm.addAlarmAction(new cwactions.ApplicationScalingAction(scaleOut));
    }
  }
}
