/**
 * A Distributed Map over items a pipeline's Plan step staged in S3 (JSON Lines, one item per line), whose
 * results go to S3 (the ResultWriter's `manifest.json` and result files, read back by the closing step)
 * instead of the execution state. The execution state then carries two locations whatever the number of
 * items: the inline Map's limits (its results within the 256 KiB state, 40 iterations at once) no longer
 * bound a run.
 *
 * Least privilege: CDK's own item reader and result writer grant the state machine `s3:GetObject` and
 * `s3:PutObject` on every object of the bucket. These grant, instead, GetObject on the items prefix and
 * the result writer's actions on the results prefix only, and the bucket key's use through S3 only.
 */
import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { acknowledge, iam5ResourceFinding } from './nag.ts';

/** Most child executions a Distributed Map runs at once (its `MaxConcurrency` limit). */
export const MAX_CHILD_EXECUTIONS = 10_000;

/** What Step Functions needs to write a Map Run's results (multipart uploads included). */
export const RESULT_WRITER_ACTIONS = [
  's3:PutObject',
  's3:GetObject',
  's3:ListMultipartUploadParts',
  's3:AbortMultipartUpload',
] as const;

/** KMS actions on the bucket key, through S3 only: read the items (Decrypt), write the results (both). */
function keyStatements(bucket: s3.IBucket, actions: string[]): iam.PolicyStatement[] {
  if (!bucket.encryptionKey) return [];
  return [
    new iam.PolicyStatement({
      actions,
      resources: [bucket.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
    }),
  ];
}

/** JSON Lines items in `bucket`, at the key the state names; read access to `prefix` only. */
class StagedItemsReader extends sfn.S3JsonLItemReader {
  constructor(
    bucket: s3.IBucket,
    keyPath: string,
    private readonly prefix: string,
  ) {
    super({ bucket, key: sfn.JsonPath.stringAt(keyPath) });
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.bucket.arnForObjects(`${this.prefix}*`)],
      }),
      ...keyStatements(this.bucket, ['kms:Decrypt']),
    ];
  }
}

export interface StagedDistributedMapProps {
  /** Where the items and the results are (the artifacts bucket). */
  readonly bucket: s3.IBucket;
  /** The prefix every items object is under, ending in `/` (the only objects the state machine may read). */
  readonly itemsPrefix: string;
  /** JSONPath of the items object's key in the state, e.g. `$.items.key`. */
  readonly itemsKeyPath: string;
  /** The ResultWriter's prefix, without a trailing `/` (results land in `<prefix>/<Map Run id>/`). */
  readonly resultsPrefix: string;
  /** Child executions at once. */
  readonly maxConcurrency: number;
  /** Each child's input, from the state and `$$.Map.Item.Value`. */
  readonly itemSelector: Record<string, unknown>;
  /**
   * Share of failed children that the Map Run tolerates before it fails.
   *
   * @default 0 - any failed child fails the Map Run
   */
  readonly toleratedFailurePercentage?: number;
  /** Where the Map's output (`{MapRunArn, ResultWriterDetails: {Bucket, Key}}`) goes in the state. */
  readonly resultPath: string;
  /** The Map Run's label (in child execution names and the redrive grant). */
  readonly label: string;
}

const stagedMaps = new WeakMap<sfn.DistributedMap, StagedDistributedMapProps>();

/**
 * The Distributed Map state `id`, in a construct of its own (the ResultWriterV2 feature flag is set on it,
 * not on the whole app). Children are STANDARD workflows: EXPRESS children cost less but stop at 5
 * minutes, and a pipeline step alone may run 15 (Embed, ProcessPart), or more with its retries.
 */
export function stagedDistributedMap(
  scope: Construct,
  id: string,
  props: StagedDistributedMapProps,
): sfn.DistributedMap {
  if (props.maxConcurrency < 1 || props.maxConcurrency > MAX_CHILD_EXECUTIONS) {
    throw new Error(
      `${scope.node.path}/${id}: maxConcurrency must be 1..${MAX_CHILD_EXECUTIONS}, got ${props.maxConcurrency}`,
    );
  }
  if (!props.itemsPrefix.endsWith('/') || props.resultsPrefix.endsWith('/')) {
    throw new Error(
      `${scope.node.path}/${id}: itemsPrefix must end in "/" and resultsPrefix must not (got "${props.itemsPrefix}", "${props.resultsPrefix}")`,
    );
  }
  const holder = new Construct(scope, `${id}DistributedMap`);
  holder.node.setContext(cxapi.STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2, true);
  const { bucket, resultsPrefix } = props;
  const resultWriter = new (class extends sfn.ResultWriterV2 {
    override providePolicyStatements(): iam.PolicyStatement[] {
      return [
        new iam.PolicyStatement({
          actions: [...RESULT_WRITER_ACTIONS],
          resources: [bucket.arnForObjects(`${resultsPrefix}/*`)],
        }),
        ...keyStatements(bucket, ['kms:GenerateDataKey', 'kms:Decrypt']),
      ];
    }
  })({ bucket, prefix: resultsPrefix });
  const map = new sfn.DistributedMap(holder, id, {
    stateName: id,
    itemReader: new StagedItemsReader(bucket, props.itemsKeyPath, props.itemsPrefix),
    itemSelector: props.itemSelector,
    maxConcurrency: props.maxConcurrency,
    mapExecutionType: sfn.StateMachineType.STANDARD,
    ...(props.toleratedFailurePercentage
      ? { toleratedFailurePercentage: props.toleratedFailurePercentage }
      : {}),
    resultWriterV2: resultWriter,
    resultPath: props.resultPath,
    label: props.label,
  });
  stagedMaps.set(map, props);
  return map;
}

/**
 * Acknowledges, on the state machine's policies, the wildcards a staged Distributed Map needs: the items
 * and results prefixes (object ARNs under one prefix of one bucket), and the child executions that
 * CDK's Distributed Map policy lets the state machine describe, stop and redrive (their names are made
 * by Step Functions at run time).
 */
export function acknowledgeStagedMap(stateMachine: sfn.StateMachine, map: sfn.DistributedMap): void {
  const props = stagedMaps.get(map);
  if (!props) throw new Error(`${map.node.path} is not a staged Distributed Map`);
  const rolePolicy = stateMachine.role.node.tryFindChild('DefaultPolicy');
  if (rolePolicy) {
    acknowledge(
      rolePolicy,
      iam5ResourceFinding(stateMachine, props.bucket.arnForObjects(`${props.itemsPrefix}*`)),
      `The Distributed Map reads its items object (s3:GetObject), named per run, under the ${props.itemsPrefix} prefix of this one bucket only.`,
    );
    acknowledge(
      rolePolicy,
      iam5ResourceFinding(stateMachine, props.bucket.arnForObjects(`${props.resultsPrefix}/*`)),
      `The Distributed Map's ResultWriter writes each Map Run's manifest and result files (${RESULT_WRITER_ACTIONS.join(', ')}) under ${props.resultsPrefix}/<Map Run id>/ of this one bucket only.`,
    );
  }
  // CDK's policy for the Map's child executions: DescribeExecution and StopExecution on this state
  // machine's executions, RedriveExecution on those of this Map Run label.
  const mapPolicy = stateMachine.node.tryFindChild('DistributedMapPolicy');
  if (mapPolicy instanceof iam.Policy) {
    const document = Stack.of(stateMachine).resolve(mapPolicy.document.toJSON()) as {
      Statement: { Resource: unknown }[];
    };
    const wildcards = document.Statement.flatMap((statement) => [statement.Resource].flat()).filter(
      (resource) => JSON.stringify(resource).includes('*'),
    );
    for (const resource of new Set(wildcards.map((r) => JSON.stringify(r)))) {
      acknowledge(
        mapPolicy,
        iam5ResourceFinding(stateMachine, JSON.parse(resource)),
        'The Distributed Map describes, stops and redrives its child executions, which Step Functions names at run time: executions of this one state machine only.',
      );
    }
  }
}
