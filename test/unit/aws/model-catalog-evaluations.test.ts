import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '#aws/errors.ts';
import { ModelCatalog } from '#aws/model-catalog.ts';
import type { CatalogEvaluation, CatalogModel } from '#contracts/models/catalog.ts';
import { catalogModel } from '../../support/gateway-fixtures.ts';

/**
 * `ModelCatalog.recordEvaluation`: the evaluation pipeline's write of a model's latest score on a suite,
 * one conditional UpdateItem (two when the model has no `evaluations` map yet).
 */
const TABLE = 'catalog-test';
const NOW = Date.parse('2026-03-01T12:00:00Z');
const docMock = mockClient(DynamoDBDocumentClient);

const haiku: CatalogModel = catalogModel('claude-haiku-4-5', {
  modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
  contextWindow: 200_000,
  maxOutputTokens: 64_000,
  pricePer1kOutputUsd: 0.005,
  features: ['streaming'],
});

const evaluation: CatalogEvaluation = {
  metric: 'f1',
  value: 0.786,
  ci: [0.741, 0.829],
  n: 114,
  runId: 'eval-1',
  at: '2026-03-01T11:59:00.000Z',
};

/** The stored item after the write (what `ReturnValues: ALL_NEW` answers). */
const storedWith = (evaluations: Record<string, CatalogEvaluation>) => ({
  ...haiku,
  pk: haiku.id,
  source: 'config',
  evaluations,
  evaluationScore: Object.values(evaluations).at(-1)?.value,
  updatedAt: new Date(NOW).toISOString(),
  updatedBy: 'evaluation-pipeline',
});

const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
const missingMap = () =>
  Object.assign(new Error('The document path provided in the update expression is invalid for update'), {
    name: 'ValidationException',
  });

function catalog(): ModelCatalog {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  return new ModelCatalog(doc, TABLE, { now: () => NOW });
}

const updates = () => docMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);

const NESTED = {
  TableName: TABLE,
  Key: { pk: haiku.id },
  UpdateExpression:
    'SET #evaluations.#suite = :score, evaluationScore = :value, updatedAt = :now, updatedBy = :by',
  ConditionExpression:
    'attribute_exists(pk) AND (attribute_not_exists(#evaluations.#suite) OR #evaluations.#suite.#at < :at)',
  ExpressionAttributeNames: { '#evaluations': 'evaluations', '#suite': 'support-qa', '#at': 'at' },
  ExpressionAttributeValues: {
    ':score': evaluation,
    ':at': evaluation.at,
    ':value': 0.786,
    ':now': '2026-03-01T12:00:00.000Z',
    ':by': 'evaluation-pipeline',
  },
  ReturnValues: 'ALL_NEW',
};

const WHOLE = {
  TableName: TABLE,
  Key: { pk: haiku.id },
  UpdateExpression:
    'SET #evaluations = :evaluations, evaluationScore = :value, updatedAt = :now, updatedBy = :by',
  ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#evaluations)',
  ExpressionAttributeNames: { '#evaluations': 'evaluations' },
  ExpressionAttributeValues: {
    ':evaluations': { 'support-qa': evaluation },
    ':value': 0.786,
    ':now': '2026-03-01T12:00:00.000Z',
    ':by': 'evaluation-pipeline',
  },
  ReturnValues: 'ALL_NEW',
};

beforeEach(() => {
  docMock.reset();
});

describe('ModelCatalog.recordEvaluation', () => {
  it('sets the suite key of the evaluations map and the score in one conditional UpdateItem', async () => {
    const after = storedWith({ 'rag-faq': { ...evaluation, value: 0.6 }, 'support-qa': evaluation });
    docMock.on(UpdateCommand).resolves({ Attributes: after });

    const result = await catalog().recordEvaluation(
      haiku.id,
      'support-qa',
      evaluation,
      'evaluation-pipeline',
    );

    expect(result.recorded).toBe(true);
    expect(result.model).toEqual({
      ...haiku,
      evaluationScore: 0.786,
      evaluations: { 'rag-faq': { ...evaluation, value: 0.6 }, 'support-qa': evaluation },
    });
    expect(updates()).toEqual([NESTED]);
    expect(docMock.commandCalls(GetCommand)).toEqual([]);
  });

  it('writes the whole map, only while it is still absent, when the model has never been evaluated', async () => {
    docMock
      .on(UpdateCommand)
      .rejectsOnce(missingMap())
      .resolves({ Attributes: storedWith({ 'support-qa': evaluation }) });

    const result = await catalog().recordEvaluation(
      haiku.id,
      'support-qa',
      evaluation,
      'evaluation-pipeline',
    );

    expect(result).toMatchObject({ recorded: true, model: { evaluations: { 'support-qa': evaluation } } });
    expect(updates()).toEqual([NESTED, WHOLE]);
  });

  it('sets the suite key after all when a concurrent evaluation created the map first', async () => {
    docMock
      .on(UpdateCommand)
      .rejectsOnce(missingMap())
      .rejectsOnce(conditionFailed())
      .resolves({ Attributes: storedWith({ 'rag-faq': evaluation, 'support-qa': evaluation }) });

    const result = await catalog().recordEvaluation(
      haiku.id,
      'support-qa',
      evaluation,
      'evaluation-pipeline',
    );

    expect(result.recorded).toBe(true);
    expect(updates()).toEqual([NESTED, WHOLE, NESTED]);
  });

  it('changes nothing for an evaluation no more recent than the stored one, and says so', async () => {
    const newer = { ...evaluation, runId: 'eval-2', value: 0.8, at: '2026-03-01T11:59:30.000Z' };
    docMock.on(UpdateCommand).rejects(conditionFailed());
    docMock.on(GetCommand).resolves({ Item: storedWith({ 'support-qa': newer }) });

    const result = await catalog().recordEvaluation(
      haiku.id,
      'support-qa',
      evaluation,
      'evaluation-pipeline',
    );

    expect(result).toEqual({
      recorded: false,
      model: { ...haiku, evaluationScore: 0.8, evaluations: { 'support-qa': newer } },
    });
    expect(updates()).toHaveLength(1);
    expect(docMock.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: haiku.id },
      ConsistentRead: true,
    });
  });

  it('throws NotFoundError for a model the catalog does not hold', async () => {
    docMock.on(UpdateCommand).rejects(conditionFailed());
    docMock.on(GetCommand).resolves({});

    const error = await catalog()
      .recordEvaluation('gpt-x', 'support-qa', evaluation, 'evaluation-pipeline')
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe('Model gpt-x is not in the catalog; GET /v1/models lists them');
    expect((error as Error).cause).toBeInstanceOf(ConditionalCheckFailedException);
  });

  it('throws NotFoundError when the model vanished between the two writes of a first evaluation', async () => {
    docMock.on(UpdateCommand).rejectsOnce(missingMap()).rejects(conditionFailed());
    docMock.on(GetCommand).resolves({});

    await expect(
      catalog().recordEvaluation(haiku.id, 'support-qa', evaluation, 'evaluation-pipeline'),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect(updates()).toEqual([NESTED, WHOLE, NESTED]);
  });

  it('rethrows any other failure as it is (the handler maps transient ones)', async () => {
    const throttled = Object.assign(new Error('Rate of requests exceeds the allowed throughput'), {
      name: 'ProvisionedThroughputExceededException',
    });
    docMock.on(UpdateCommand).rejects(throttled);
    await expect(
      catalog().recordEvaluation(haiku.id, 'support-qa', evaluation, 'evaluation-pipeline'),
    ).rejects.toBe(throttled);

    docMock.reset();
    const otherValidation = Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
      name: 'ValidationException',
    });
    docMock.on(UpdateCommand).rejects(otherValidation);
    await expect(
      catalog().recordEvaluation(haiku.id, 'support-qa', evaluation, 'evaluation-pipeline'),
    ).rejects.toBe(otherValidation);
    expect(updates()).toHaveLength(1);
  });

  it('stores `at` in one format (milliseconds, UTC), so that it compares as a string', async () => {
    docMock.on(UpdateCommand).resolves({ Attributes: storedWith({ 'support-qa': evaluation }) });

    await catalog().recordEvaluation(
      haiku.id,
      'support-qa',
      { ...evaluation, at: '2026-03-01T11:59:00Z' },
      'evaluation-pipeline',
    );

    expect(updates()[0]?.ExpressionAttributeValues).toMatchObject({
      ':at': '2026-03-01T11:59:00.000Z',
      ':score': { at: '2026-03-01T11:59:00.000Z' },
    });
  });

  it.each([
    ['a suite name that is not one', 'Support QA', evaluation, 'suite'],
    ['a value above 1', 'support-qa', { ...evaluation, value: 1.2 }, 'evaluations.support-qa.value'],
    ['an interval upside down', 'support-qa', { ...evaluation, ci: [0.9, 0.1] }, 'evaluations.support-qa.ci'],
    ['a fractional n', 'support-qa', { ...evaluation, n: 1.5 }, 'evaluations.support-qa.n'],
    [
      'a time that is not ISO 8601',
      'support-qa',
      { ...evaluation, at: 'yesterday' },
      'evaluations.support-qa.at',
    ],
  ])(
    'refuses %s with a ValidationError naming the field, writing nothing',
    async (_, suite, score, field) => {
      const error = await catalog()
        .recordEvaluation(haiku.id, suite, score as CatalogEvaluation, 'evaluation-pipeline')
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ field });
      expect(updates()).toEqual([]);
    },
  );

  it('drops the cached list once an evaluation is recorded, so the next read sees it', async () => {
    docMock.on(ScanCommand).resolves({ Items: [{ ...haiku, pk: haiku.id }] });
    docMock.on(UpdateCommand).resolves({ Attributes: storedWith({ 'support-qa': evaluation }) });
    const models = catalog();

    await models.list();
    await models.list();
    expect(docMock.commandCalls(ScanCommand)).toHaveLength(1);
    await models.recordEvaluation(haiku.id, 'support-qa', evaluation, 'evaluation-pipeline');
    await models.list();
    expect(docMock.commandCalls(ScanCommand)).toHaveLength(2);
  });
});

describe('the canary: the rollout pipeline writes it, the gateway counts on it', () => {
  const canary = {
    model: 'support-ft-v3',
    inferenceComponent: 'ic-support-v3',
    share: 0.1,
    rolloutId: 'rollout-7',
    calls: 0,
    errors: 0,
  };

  it('refuses an admin edit that sets canary, naming the field, and writes nothing', async () => {
    const error = await catalog()
      .put({ ...haiku, canary }, 'arn:aws:iam::1:user/admin')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'canary' });
    expect(updates()).toEqual([]);
  });

  it('keeps the stored canary (and its counters) on an admin edit without it', async () => {
    docMock.on(UpdateCommand).resolves({ Attributes: { ...haiku, pk: haiku.id, canary } });
    const stored = await catalog().put({ ...haiku, fallback: 'nova-micro' }, 'arn:aws:iam::1:user/admin');
    const input = updates()[0];
    expect(input?.UpdateExpression).not.toMatch(/#canary/);
    expect(input?.ExpressionAttributeNames).not.toHaveProperty('#canary');
    expect(stored.canary).toEqual(canary);
  });

  it('refuses a seed entry that sets canary', () => {
    expect(() => ModelCatalog.parseSeed(JSON.stringify([{ ...haiku, canary }]))).toThrow(
      /\[0\] \(claude-haiku-4-5\)\.canary: is written by the rollout pipeline/,
    );
  });

  it('accepts fallback and lineage in an admin edit', async () => {
    const lineage = {
      jobId: 'ft-1',
      modelPackageArn: 'arn:aws:sagemaker:us-east-1:1:model-package/support/3',
      baseModel: 'llama-3-2-3b',
      recipe: 'sft-lora',
      dataset: { name: 'support', version: '2026-03-01' },
      placeholder: false,
    };
    const model = { ...haiku, fallback: 'nova-micro', lineage };
    docMock.on(UpdateCommand).resolves({ Attributes: { ...model, pk: haiku.id } });
    const stored = await catalog().put(model, 'arn:aws:iam::1:user/admin');
    expect(stored).toMatchObject({ fallback: 'nova-micro', lineage });
  });

  it('counts a call with ADD on condition of the rollout id', async () => {
    docMock.on(UpdateCommand).resolves({});
    expect(await catalog().countCanaryCall(haiku.id, 'rollout-7', false)).toBe(true);
    expect(updates()).toEqual([
      {
        TableName: TABLE,
        Key: { pk: haiku.id },
        UpdateExpression: 'ADD #canary.#calls :one',
        ConditionExpression: '#canary.#rolloutId = :rid',
        ExpressionAttributeNames: { '#canary': 'canary', '#calls': 'calls', '#rolloutId': 'rolloutId' },
        ExpressionAttributeValues: { ':one': 1, ':rid': 'rollout-7' },
      },
    ]);
  });

  it('answers false when the rollout has ended, and rethrows any other failure', async () => {
    docMock.on(UpdateCommand).rejectsOnce(conditionFailed()).rejectsOnce(new Error('network'));
    expect(await catalog().countCanaryCall(haiku.id, 'rollout-7', true)).toBe(false);
    await expect(catalog().countCanaryCall(haiku.id, 'rollout-7', true)).rejects.toThrow('network');
  });
});
