import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Creates an on-demand table keyed as the stack's gateway tables are: a string partition key `pk` and,
 * for the prompts table, a string sort key `sk`.
 */
export async function createKeyTable(
  dynamo: DynamoDBClient,
  name: string,
  options: { sortKey: boolean },
): Promise<string> {
  await dynamo.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        ...(options.sortKey ? [{ AttributeName: 'sk', KeyType: 'RANGE' as const }] : []),
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        ...(options.sortKey ? [{ AttributeName: 'sk', AttributeType: 'S' as const }] : []),
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  return name;
}
