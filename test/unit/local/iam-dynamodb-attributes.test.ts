import { describe, expect, it } from 'vitest';
import { canaryCountInput } from '#aws/model-catalog.ts';
import type { SdkCall } from '#aws/sdk-call-hooks.ts';
import { type ActionEnvironment, iamRequestsFor } from '#infra/local/iam/actions.ts';
import { expressionAttributes } from '#infra/local/iam/dynamodb-attributes.ts';

const env: ActionEnvironment = {
  partition: 'aws',
  region: 'us-east-1',
  account: '000000000000',
  bucketKey: () => undefined,
};

function context(commandName: string, input: Record<string, unknown>) {
  const call = {
    clientName: 'DynamoDBClient',
    commandName: `${commandName}Command`,
    input,
  } satisfies SdkCall;
  return iamRequestsFor(call, env).map((r) => r.context);
}

describe('dynamodb:Attributes of item writes in the local IAM evaluation', () => {
  it("names the key and `canary` for a canary count, the only attributes the chat role's UpdateItem may name", () => {
    for (const failed of [false, true]) {
      expect(context('UpdateItem', { ...canaryCountInput('Catalog', 'tuned', 'r-1', failed) })).toEqual([
        { 'dynamodb:Attributes': ['canary', 'pk'] },
      ]);
    }
  });

  it('names every top-level attribute an update sets or its condition reads, aliases resolved', () => {
    expect(
      context('UpdateItem', {
        TableName: 'Catalog',
        Key: { pk: 'nova-micro' },
        UpdateExpression: 'SET #status = :s, updatedAt = :at REMOVE fallback ADD #c.#calls :one',
        ConditionExpression: 'attribute_exists(pk) AND (#source = :config OR size(tags[0].x) > :n)',
        ExpressionAttributeNames: {
          '#status': 'status',
          '#c': 'canary',
          '#calls': 'calls',
          '#source': 'source',
        },
        ExpressionAttributeValues: { ':s': 'active', ':at': 'now', ':one': 1, ':config': 'config', ':n': 0 },
      }),
    ).toEqual([
      { 'dynamodb:Attributes': ['canary', 'fallback', 'pk', 'source', 'status', 'tags', 'updatedAt'] },
    ]);
  });

  it("names a put's item attributes (and its condition's)", () => {
    expect(
      context('PutItem', {
        TableName: 'Catalog',
        Item: { pk: 'nova-micro', id: 'nova-micro', source: 'config' },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    ).toEqual([{ 'dynamodb:Attributes': ['id', 'pk', 'source'] }]);
  });

  it('leaves out keywords, functions, values and nested path elements', () => {
    expect(
      expressionAttributes(
        'SET a = if_not_exists(b, :zero) + :one, c.d[2].e = list_append(f, :g) DELETE h :set',
        {},
      ),
    ).toEqual(['a', 'b', 'c', 'f', 'h']);
    expect(expressionAttributes('NOT contains(#n, :v) and x BETWEEN :lo AND :hi', { '#n': 'name' })).toEqual([
      'name',
      'x',
    ]);
  });
});
