import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';

/** Cold-start baseline of the prompt and catalog functions: a bare handler with the DynamoDB client only. */
const dynamo = new DynamoDBClient({});

export const handler = async (event: { table: string; pk: string }) =>
  dynamo.send(new GetItemCommand({ TableName: event.table, Key: { pk: { S: event.pk } } }));
