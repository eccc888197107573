import { DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';

/**
 * DynamoDB as the API's tables see it, at the SDK client level: every command of every document client
 * is answered here, and what DynamoDB would refuse with a `ValidationException` is refused the same way
 * (a key or start key that does not match the table's or index's key schema, a key attribute that is
 * empty or over its size limit, a query whose start key is outside the queried partition). Reads find
 * nothing unless `items` holds rows for the table; queries and scans return `lastKey` when asked to.
 */
interface KeySchema {
  readonly partition: string;
  readonly sort?: string;
}

interface TableSchema extends KeySchema {
  readonly indexes?: Readonly<Record<string, KeySchema>>;
}

export const TABLES: Readonly<Record<string, TableSchema>> = {
  'prompts-test': { partition: 'pk', sort: 'sk' },
  'catalog-test': { partition: 'pk' },
  'documents-test': { partition: 'pk', indexes: { gsi1: { partition: 'gsi1pk', sort: 'gsi1sk' } } },
  'evaluations-test': {
    partition: 'pk',
    sort: 'sk',
    indexes: { gsi1: { partition: 'gsi1pk', sort: 'gsi1sk' } },
  },
  'drift-test': { partition: 'pk', sort: 'sk' },
  'interactions-test': { partition: 'pk' },
  'feedback-test': {
    partition: 'pk',
    sort: 'sk',
    indexes: { gsi1: { partition: 'gsi1pk', sort: 'gsi1sk' } },
  },
  'finetune-test': {
    partition: 'pk',
    sort: 'sk',
    indexes: { gsi1: { partition: 'gsi1pk', sort: 'gsi1sk' } },
  },
  'datasets-test': {
    partition: 'pk',
    sort: 'sk',
    indexes: { gsi1: { partition: 'gsi1pk', sort: 'gsi1sk' } },
  },
};

export class ValidationException extends DynamoDBServiceException {
  constructor(message: string) {
    super({ name: 'ValidationException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message });
  }
}

const invalid = (message: string) => new ValidationException(message);

function checkValue(name: string, value: unknown, maxBytes: number): void {
  if (typeof value !== 'string') {
    throw invalid(`One or more parameter values were invalid: Type mismatch for key ${name}`);
  }
  if (value === '') {
    throw invalid(
      `One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: ${name}`,
    );
  }
  if (Buffer.byteLength(value, 'utf8') > maxBytes) {
    throw invalid(
      `One or more parameter values were invalid: Size of key ${name} has exceeded the maximum size limit of ${maxBytes} bytes`,
    );
  }
}

function checkKey(key: unknown, schemas: readonly KeySchema[], what: string): Record<string, unknown> {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) {
    throw invalid(`The provided ${what} is invalid`);
  }
  const record = key as Record<string, unknown>;
  const names = new Set(schemas.flatMap((s) => (s.sort ? [s.partition, s.sort] : [s.partition])));
  if (Object.keys(record).length !== names.size || Object.keys(record).some((k) => !names.has(k))) {
    throw invalid(`The provided ${what} is invalid: The provided key element does not match the schema`);
  }
  for (const schema of schemas) {
    checkValue(schema.partition, record[schema.partition], 2048);
    if (schema.sort) checkValue(schema.sort, record[schema.sort], 1024);
  }
  return record;
}

function tableOf(name: unknown): TableSchema {
  const table = TABLES[String(name)];
  if (table === undefined) throw invalid(`Requested resource not found: ${String(name)}`);
  return table;
}

export interface FakeDynamo {
  /** Rows returned by queries and scans of a table, and by gets whose key matches. */
  readonly items: Record<string, Record<string, unknown>[]>;
  /** The `LastEvaluatedKey` queries and scans answer with, by table. */
  readonly lastKey: Record<string, Record<string, unknown> | undefined>;
  readonly mock: ReturnType<typeof mockClient>;
}

export function fakeDynamo(): FakeDynamo {
  const mock = mockClient(DynamoDBDocumentClient);
  const fake: FakeDynamo = { items: {}, lastKey: {}, mock };
  const listing = (input: Record<string, unknown>, partitionValue?: unknown) => {
    const table = tableOf(input.TableName);
    const index = input.IndexName === undefined ? undefined : table.indexes?.[String(input.IndexName)];
    if (input.IndexName !== undefined && index === undefined)
      throw invalid('The table does not have the specified index');
    if (input.ExclusiveStartKey !== undefined) {
      const start = checkKey(input.ExclusiveStartKey, index ? [table, index] : [table], 'starting key');
      const partition = (index ?? table).partition;
      if (partitionValue !== undefined && start[partition] !== partitionValue) {
        throw invalid('The provided starting key is outside query boundaries based on provided conditions');
      }
    }
    const limit = input.Limit;
    if (limit !== undefined && (typeof limit !== 'number' || limit < 1))
      throw invalid('Limit must be at least 1');
    const name = String(input.TableName);
    const lastKey = fake.lastKey[name];
    const condition = String(input.KeyConditionExpression ?? '');
    const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
    const equal = /(\w+) = (:\w+)/.exec(condition);
    const prefix = /begins_with\((\w+), (:\w+)\)/.exec(condition);
    const items = (fake.items[name] ?? []).filter(
      (row) =>
        (equal === null || row[equal[1] as string] === values[equal[2] as string]) &&
        (prefix === null ||
          String(row[prefix[1] as string] ?? '').startsWith(String(values[prefix[2] as string]))),
    );
    return { Items: items, ...(lastKey ? { LastEvaluatedKey: lastKey } : {}) };
  };
  mock.on(GetCommand).callsFake((input) => {
    const table = tableOf(input.TableName);
    const key = checkKey(input.Key, [table], 'key');
    const item = (fake.items[String(input.TableName)] ?? []).find((row) =>
      Object.entries(key).every(([k, v]) => row[k] === v),
    );
    return item ? { Item: item } : {};
  });
  mock.on(QueryCommand).callsFake((input) => {
    const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
    const partitionValue = values[':pk'] ?? values[':collection'];
    if (typeof partitionValue === 'string') checkValue('partition key', partitionValue, 2048);
    return listing(input, partitionValue);
  });
  mock.on(ScanCommand).callsFake((input) => listing(input));
  mock.on(PutCommand).callsFake((input) => {
    const table = tableOf(input.TableName);
    const item = (input.Item ?? {}) as Record<string, unknown>;
    checkKey(
      Object.fromEntries(
        [table.partition, table.sort].filter((k): k is string => k !== undefined).map((k) => [k, item[k]]),
      ),
      [table],
      'key',
    );
    return {};
  });
  mock.on(UpdateCommand).callsFake((input) => {
    const key = checkKey(input.Key, [tableOf(input.TableName)], 'key');
    if (input.ReturnValues !== 'ALL_NEW') return {};
    const values = Object.entries((input.ExpressionAttributeValues ?? {}) as Record<string, unknown>);
    return { Attributes: { ...key, ...Object.fromEntries(values.map(([k, v]) => [k.slice(1), v])) } };
  });
  return fake;
}
