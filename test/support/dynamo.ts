import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDynamoClient, waitForTable } from '#infra/local/emulators.ts';

/**
 * Creates an on-demand table keyed as the stack's gateway tables are: a string partition key `pk` and,
 * for the prompts table, a string sort key `sk`. Resolves once the table is ACTIVE: CreateTable answers
 * while it is still CREATING, and a call on it before then fails with ResourceNotFoundException.
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
  await waitForTable(dynamo, name);
  return name;
}

/**
 * Document clients each on a DynamoDB client of its own, for tests that add middleware: a document
 * client shares the middleware stack of the client it wraps, so middleware added to a shared one would
 * leak into every later test. `destroy()` closes them all (call it in `afterAll`).
 */
export function isolatedDocumentClients(endpoint: () => string) {
  const clients: DynamoDBClient[] = [];
  return {
    create(): DynamoDBDocumentClient {
      const client = createDynamoClient(endpoint());
      clients.push(client);
      return DynamoDBDocumentClient.from(client);
    },
    destroy(): void {
      for (const client of clients) client.destroy();
    },
  };
}

/**
 * Creates an on-demand table shaped as the house project table with an index: string `pk` and `sk`, and
 * `indexName` on `gsi1pk`/`gsi1sk` (projection ALL), as the evaluations table. Resolves once ACTIVE.
 */
export async function createIndexedTable(
  dynamo: DynamoDBClient,
  name: string,
  indexName: string,
): Promise<string> {
  await dynamo.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: indexName,
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await waitForTable(dynamo, name);
  return name;
}
