/**
 * The local physical identity of each resource type: what `Ref` returns and which attributes `Fn::GetAtt`
 * can read, shaped like CloudFormation's (names, ARNs, ids), deterministic for a template and its options.
 */
import { createHash } from 'node:crypto';
import type { LocalTemplate } from '../template.ts';
import type { CfnResource } from './cfn.ts';
import { TemplateError } from './errors.ts';
import { ruleBusName } from './event-rules.ts';

/** A resource's local identity: what `Ref` returns and the attributes `Fn::GetAtt` can read. */
export interface Physical {
  readonly ref: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/** The identity CloudFormation would give `resource`, with local names and the template's region/account. */
export function physicalIdentity(t: LocalTemplate, logicalId: string, resource: CfnResource): Physical {
  const props = resource.Properties ?? {};
  const { region, account, partition } = t;
  const named = (property: string, fallback: string): string =>
    props[property] === undefined
      ? fallback
      : t.resolveString(props[property], `${property} of ${logicalId}`);
  switch (resource.Type) {
    case 'AWS::S3::Bucket': {
      const name = named('BucketName', bucketName(t, logicalId));
      return {
        ref: name,
        attributes: {
          Arn: `arn:${partition}:s3:::${name}`,
          DomainName: `${name}.s3.amazonaws.com`,
          RegionalDomainName: `${name}.s3.${region}.amazonaws.com`,
          DualStackDomainName: `${name}.s3.dualstack.${region}.amazonaws.com`,
        },
      };
    }
    case 'AWS::DynamoDB::Table':
    case 'AWS::DynamoDB::GlobalTable': {
      const name = named('TableName', logicalId);
      return {
        ref: name,
        attributes: { Arn: `arn:${partition}:dynamodb:${region}:${account}:table/${name}` },
      };
    }
    case 'AWS::Lambda::Function': {
      const name = named('FunctionName', logicalId);
      return {
        ref: name,
        attributes: { Arn: `arn:${partition}:lambda:${region}:${account}:function:${name}` },
      };
    }
    case 'AWS::StepFunctions::StateMachine': {
      const name = named('StateMachineName', logicalId);
      const arn = `arn:${partition}:states:${region}:${account}:stateMachine:${name}`;
      return { ref: arn, attributes: { Arn: arn, Name: name, StateMachineRevisionId: arn } };
    }
    case 'AWS::Events::EventBus': {
      if (props.Name === undefined) throw new TemplateError(`Event bus ${logicalId} has no Name`);
      const name = named('Name', logicalId);
      return {
        ref: name,
        attributes: { Arn: `arn:${partition}:events:${region}:${account}:event-bus/${name}`, Name: name },
      };
    }
    case 'AWS::Events::Rule': {
      const name = named('Name', logicalId);
      const bus = ruleBusName(t, logicalId);
      const path = bus === 'default' ? name : `${bus}/${name}`;
      return {
        ref: bus === 'default' ? name : `${bus}|${name}`,
        attributes: { Arn: `arn:${partition}:events:${region}:${account}:rule/${path}`, Name: name },
      };
    }
    case 'AWS::SNS::Topic': {
      const fifo = t.resolve(props.FifoTopic) === true || t.resolve(props.FifoTopic) === 'true';
      const name = named('TopicName', fifo ? `${logicalId}.fifo` : logicalId);
      const arn = `arn:${partition}:sns:${region}:${account}:${name}`;
      return { ref: arn, attributes: { TopicArn: arn, TopicName: name } };
    }
    case 'AWS::SQS::Queue': {
      const fifo = t.resolve(props.FifoQueue) === true || t.resolve(props.FifoQueue) === 'true';
      const name = named('QueueName', fifo ? `${logicalId}.fifo` : logicalId);
      const url = `https://sqs.${region}.amazonaws.com/${account}/${name}`;
      return {
        ref: url,
        attributes: {
          Arn: `arn:${partition}:sqs:${region}:${account}:${name}`,
          QueueName: name,
          QueueUrl: url,
        },
      };
    }
    case 'AWS::KMS::Key': {
      const id = fakeUuid(`${t.stackName}/${logicalId}`);
      return {
        ref: id,
        attributes: { Arn: `arn:${partition}:kms:${region}:${account}:key/${id}`, KeyId: id },
      };
    }
    case 'AWS::KMS::Alias':
      return { ref: named('AliasName', `alias/${logicalId}`), attributes: {} };
    case 'AWS::IAM::Role': {
      const name = named('RoleName', logicalId);
      const path = props.Path === undefined ? '/' : t.resolveString(props.Path, `Path of ${logicalId}`);
      return {
        ref: name,
        attributes: {
          Arn: `arn:${partition}:iam::${account}:role${path}${name}`,
          RoleId: `AROA${hash(logicalId, 17).toUpperCase()}`,
        },
      };
    }
    case 'AWS::IAM::ManagedPolicy': {
      const name = named('ManagedPolicyName', logicalId);
      const arn = `arn:${partition}:iam::${account}:policy/${name}`;
      return { ref: arn, attributes: { PolicyArn: arn } };
    }
    case 'AWS::Logs::LogGroup': {
      const name = named('LogGroupName', logicalId);
      return {
        ref: name,
        attributes: { Arn: `arn:${partition}:logs:${region}:${account}:log-group:${name}:*` },
      };
    }
    case 'AWS::SSM::Parameter': {
      const name = named('Name', logicalId);
      const value = props.Value === undefined ? '' : t.resolveString(props.Value, `Value of ${logicalId}`);
      const type = props.Type === undefined ? 'String' : t.resolveString(props.Type, `Type of ${logicalId}`);
      return { ref: name, attributes: { Type: type, Value: value } };
    }
    case 'AWS::CloudWatch::Alarm': {
      const name = named('AlarmName', logicalId);
      return {
        ref: name,
        attributes: { Arn: `arn:${partition}:cloudwatch:${region}:${account}:alarm:${name}` },
      };
    }
    case 'AWS::Scheduler::Schedule': {
      const name = named('Name', logicalId);
      const group = props.GroupName === undefined ? 'default' : t.resolveString(props.GroupName, 'GroupName');
      return {
        ref: name,
        attributes: { Arn: `arn:${partition}:scheduler:${region}:${account}:schedule/${group}/${name}` },
      };
    }
    case 'AWS::ApiGateway::RestApi': {
      const id = apiGatewayId(logicalId, 10);
      return { ref: id, attributes: { RestApiId: id, RootResourceId: apiGatewayId(`${logicalId}/`, 10) } };
    }
    case 'AWS::ApiGateway::Resource': {
      const id = apiGatewayId(logicalId, 6);
      return { ref: id, attributes: { ResourceId: id } };
    }
    case 'AWS::ApiGateway::Stage':
      return { ref: named('StageName', logicalId), attributes: {} };
    case 'AWS::ApiGateway::Deployment': {
      const id = apiGatewayId(logicalId, 6);
      return { ref: id, attributes: { DeploymentId: id } };
    }
    case 'AWS::ApiGateway::ApiKey': {
      const id = apiGatewayId(logicalId, 10);
      return { ref: id, attributes: { APIKeyId: id } };
    }
    case 'AWS::ApiGateway::UsagePlan': {
      const id = apiGatewayId(logicalId, 6);
      return { ref: id, attributes: { Id: id } };
    }
    case 'AWS::ApiGateway::RequestValidator': {
      const id = apiGatewayId(logicalId, 6);
      return { ref: id, attributes: { RequestValidatorId: id } };
    }
    case 'AWS::ApiGateway::Model':
      return { ref: named('Name', logicalId), attributes: {} };
    case 'AWS::KinesisFirehose::DeliveryStream': {
      const name = named('DeliveryStreamName', logicalId);
      return {
        ref: name,
        attributes: { Arn: `arn:${partition}:firehose:${region}:${account}:deliverystream/${name}` },
      };
    }
    case 'AWS::OpenSearchServerless::Collection': {
      const id = apiGatewayId(logicalId, 20).toLowerCase();
      return {
        ref: id,
        attributes: {
          Id: id,
          Arn: `arn:${partition}:aoss:${region}:${account}:collection/${id}`,
          CollectionEndpoint: `https://${id}.${region}.aoss.amazonaws.com`,
          DashboardEndpoint: `https://${id}.${region}.aoss.amazonaws.com/_dashboards`,
        },
      };
    }
    case 'AWS::OpenSearchServerless::VpcEndpoint': {
      const id = `vpce-${apiGatewayId(logicalId, 17).toLowerCase()}`;
      return { ref: id, attributes: { Id: id } };
    }
    case 'AWS::S3Vectors::VectorBucket': {
      const name = named('VectorBucketName', logicalId.toLowerCase());
      const arn = `arn:${partition}:s3vectors:${region}:${account}:bucket/${name}`;
      return { ref: arn, attributes: { VectorBucketArn: arn, CreationTime: '2026-01-01T00:00:00Z' } };
    }
    case 'AWS::S3Vectors::Index': {
      const name = named('IndexName', logicalId.toLowerCase());
      const arn = `arn:${partition}:s3vectors:${region}:${account}:bucket/local/index/${name}`;
      return { ref: arn, attributes: { IndexArn: arn, CreationTime: '2026-01-01T00:00:00Z' } };
    }
    case 'AWS::EC2::VPC': {
      const id = `vpc-${apiGatewayId(logicalId, 17).toLowerCase()}`;
      return { ref: id, attributes: { VpcId: id, CidrBlock: '10.0.0.0/16' } };
    }
    case 'AWS::EC2::Subnet': {
      const id = `subnet-${apiGatewayId(logicalId, 17).toLowerCase()}`;
      return { ref: id, attributes: { SubnetId: id } };
    }
    case 'AWS::EC2::SecurityGroup': {
      const id = `sg-${apiGatewayId(logicalId, 17).toLowerCase()}`;
      return { ref: id, attributes: { GroupId: id } };
    }
    case 'AWS::Bedrock::Guardrail': {
      const id = apiGatewayId(logicalId, 12);
      const arn = `arn:${partition}:bedrock:${region}:${account}:guardrail/${id}`;
      return {
        ref: arn,
        attributes: { GuardrailArn: arn, GuardrailId: id, Version: 'DRAFT', Status: 'READY' },
      };
    }
    case 'AWS::Bedrock::GuardrailVersion': {
      const target = t.resolveString(props.GuardrailIdentifier, `GuardrailIdentifier of ${logicalId}`);
      const id = /guardrail\/([^/|]+)$/.exec(target)?.[1] ?? target;
      const arn = `arn:${partition}:bedrock:${region}:${account}:guardrail/${id}`;
      return { ref: `${arn}|1`, attributes: { GuardrailArn: arn, GuardrailId: id, Version: '1' } };
    }
    case 'AWS::SageMaker::Model': {
      const name = named('ModelName', `${logicalId.toLowerCase().slice(0, 50)}-model`);
      return {
        ref: `arn:${partition}:sagemaker:${region}:${account}:model/${name.toLowerCase()}`,
        attributes: { ModelName: name, ModelId: name },
      };
    }
    case 'AWS::SageMaker::EndpointConfig': {
      const name = named('EndpointConfigName', `${logicalId.toLowerCase().slice(0, 50)}-config`);
      return {
        ref: name,
        attributes: { EndpointConfigName: name },
      };
    }
    case 'AWS::SageMaker::Endpoint': {
      const name = named('EndpointName', logicalId.toLowerCase());
      return {
        ref: `arn:${partition}:sagemaker:${region}:${account}:endpoint/${name.toLowerCase()}`,
        attributes: { EndpointName: name },
      };
    }
    case 'AWS::SageMaker::InferenceComponent': {
      const name = named('InferenceComponentName', logicalId.toLowerCase());
      const arn = `arn:${partition}:sagemaker:${region}:${account}:inference-component/${name.toLowerCase()}`;
      return { ref: arn, attributes: { InferenceComponentArn: arn, InferenceComponentName: name } };
    }
    case 'AWS::SageMaker::ModelPackageGroup': {
      const name = named('ModelPackageGroupName', logicalId);
      const arn = `arn:${partition}:sagemaker:${region}:${account}:model-package-group/${name.toLowerCase()}`;
      return { ref: arn, attributes: { ModelPackageGroupArn: arn } };
    }
    case 'AWS::SecretsManager::Secret': {
      const name = named('Name', logicalId);
      const arn = `arn:${partition}:secretsmanager:${region}:${account}:secret:${name}-${hash(logicalId, 6)}`;
      return { ref: arn, attributes: { Id: arn } };
    }
    default:
      return { ref: logicalId, attributes: {} };
  }
}

/** A bucket name from the logical id: lowercase, DNS-safe, prefixed, at most 63 characters. */
function bucketName(t: LocalTemplate, logicalId: string): string {
  let name = `${t.namePrefix}-${logicalId}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (name.length > 63) name = `${name.slice(0, 54).replace(/-+$/, '')}-${hash(logicalId, 8)}`;
  return name;
}

/** A deterministic API Gateway-style id (lowercase letters and digits). */
function apiGatewayId(seed: string, length: number): string {
  const digest = createHash('sha256').update(seed).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let id = '';
  for (let i = 0; i < length; i++) id += alphabet[(digest[i] ?? 0) % alphabet.length];
  return id;
}

/** The first `length` hex digits of the SHA-256 of `text`. */
function hash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** A deterministic UUID-shaped id derived from `seed`. */
export function fakeUuid(seed: string): string {
  const h = hash(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
