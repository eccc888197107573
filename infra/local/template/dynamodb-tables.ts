/** DynamoDB tables as CreateTable inputs for the local emulator. */
import type {
  AttributeDefinition,
  CreateTableCommandInput,
  GlobalSecondaryIndex,
  KeySchemaElement,
  LocalSecondaryIndex,
  Projection,
  ProvisionedThroughput,
} from '@aws-sdk/client-dynamodb';
import type { LocalTemplate } from '../template.ts';
import { asArray, type CfnResource, getPath, isRecord, numberOr } from './cfn.ts';
import { TemplateError } from './errors.ts';

/** CreateTable inputs for every DynamoDB table (streams, TTL, SSE and PITR are left out: local only). */
export function readTables(t: LocalTemplate): CreateTableCommandInput[] {
  const tables = t
    .resourcesOfType('AWS::DynamoDB::Table')
    .map(({ logicalId, resource }) => tableInput(t, logicalId, resource, false));
  const globals = t
    .resourcesOfType('AWS::DynamoDB::GlobalTable')
    .map(({ logicalId, resource }) => tableInput(t, logicalId, resource, true));
  return [...tables, ...globals];
}

function tableInput(
  t: LocalTemplate,
  logicalId: string,
  resource: CfnResource,
  global: boolean,
): CreateTableCommandInput {
  const props = t.resolve(resource.Properties ?? {});
  if (!isRecord(props)) throw new TemplateError(`Properties of table ${logicalId} are not an object`);
  const keySchema = asArray<KeySchemaElement>(props.KeySchema, `KeySchema of ${logicalId}`);
  const attributes = asArray<AttributeDefinition>(
    props.AttributeDefinitions,
    `AttributeDefinitions of ${logicalId}`,
  );
  const payPerRequest = props.BillingMode === 'PAY_PER_REQUEST';
  const tableThroughput = throughput(props, global);
  const input: CreateTableCommandInput = {
    TableName: t.ref(logicalId),
    KeySchema: keySchema,
    AttributeDefinitions: attributes,
    BillingMode: payPerRequest ? 'PAY_PER_REQUEST' : 'PROVISIONED',
    ...(payPerRequest ? {} : { ProvisionedThroughput: tableThroughput }),
  };
  if (props.GlobalSecondaryIndexes !== undefined) {
    input.GlobalSecondaryIndexes = asArray<Record<string, unknown>>(
      props.GlobalSecondaryIndexes,
      `GlobalSecondaryIndexes of ${logicalId}`,
    ).map(
      (gsi): GlobalSecondaryIndex => ({
        IndexName: String(gsi.IndexName),
        KeySchema: asArray<KeySchemaElement>(
          gsi.KeySchema,
          `KeySchema of ${logicalId}.${String(gsi.IndexName)}`,
        ),
        Projection: (gsi.Projection as Projection | undefined) ?? { ProjectionType: 'ALL' },
        ...(payPerRequest ? {} : { ProvisionedThroughput: throughput(gsi, global) ?? tableThroughput }),
      }),
    );
  }
  if (props.LocalSecondaryIndexes !== undefined) {
    input.LocalSecondaryIndexes = asArray<Record<string, unknown>>(
      props.LocalSecondaryIndexes,
      `LocalSecondaryIndexes of ${logicalId}`,
    ).map(
      (lsi): LocalSecondaryIndex => ({
        IndexName: String(lsi.IndexName),
        KeySchema: asArray<KeySchemaElement>(
          lsi.KeySchema,
          `KeySchema of ${logicalId}.${String(lsi.IndexName)}`,
        ),
        Projection: (lsi.Projection as Projection | undefined) ?? { ProjectionType: 'ALL' },
      }),
    );
  }
  return input;
}

function throughput(props: Record<string, unknown>, global: boolean): ProvisionedThroughput {
  const pt = props.ProvisionedThroughput;
  if (isRecord(pt)) {
    return {
      ReadCapacityUnits: numberOr(pt.ReadCapacityUnits, 5),
      WriteCapacityUnits: numberOr(pt.WriteCapacityUnits, 5),
    };
  }
  if (global) {
    const write = getPath(props, [
      'WriteProvisionedThroughputSettings',
      'WriteCapacityAutoScalingSettings',
      'MinCapacity',
    ]);
    return { ReadCapacityUnits: 5, WriteCapacityUnits: numberOr(write, 5) };
  }
  return { ReadCapacityUnits: 5, WriteCapacityUnits: 5 };
}
