import { describe, expect, it } from 'vitest';
import { ValidationError } from '#aws/errors.ts';
import { trainingChannel } from '#contracts/pipelines/finetune.ts';
import {
  customerMetadataOf,
  hyperparameterEntries,
  type Lineage,
  metadataValue,
} from '#core/finetune/lineage.ts';
import {
  BaseModelMismatchError,
  baseModelFor,
  channelsOf,
  checkpointUriOf,
  inferenceComponentNameOf,
  jobIdInName,
  jobIdOf,
  mergeHyperparameters,
  plainDecimal,
  RecipeMismatchError,
  recipeFor,
  SAGEMAKER_NAME,
  sageMakerNameOf,
  sageMakerNamePrefix,
  TrainingDataMissingError,
  trainingHyperParameters,
  trainingJobNameOf,
} from '#core/finetune/plan.ts';

const served = { catalogId: 'llama-3-1-8b-instruct', hfModelId: 'meta-llama/Llama-3.1-8B-Instruct' };
const base = {
  dataset: { name: 'support-chats', version: 3 },
  recipe: 'sft-lora' as const,
  baseModel: served.hfModelId,
  hyperparameters: { epochs: 3, lora_r: 16 },
};

describe('jobIdOf', () => {
  it('names a job ft- and 16 hex digits, the same for the same inputs whatever the key order', () => {
    const id = jobIdOf(base);
    expect(id).toMatch(/^ft-[0-9a-f]{16}$/);
    expect(jobIdOf({ ...base, hyperparameters: { lora_r: 16, epochs: 3 } })).toBe(id);
  });

  it('gives another id for another dataset version, recipe, hyperparameter or API request', () => {
    const id = jobIdOf(base);
    expect(jobIdOf({ ...base, dataset: { name: 'support-chats', version: 4 } })).not.toBe(id);
    expect(jobIdOf({ ...base, recipe: 'sft-qlora' })).not.toBe(id);
    expect(jobIdOf({ ...base, hyperparameters: { epochs: 2, lora_r: 16 } })).not.toBe(id);
    expect(jobIdOf({ ...base, requestId: 'req-1' })).not.toBe(jobIdOf({ ...base, requestId: 'req-2' }));
  });
});

describe('SageMaker names', () => {
  it('names the training job <lowercase stack>-<jobId>', () => {
    expect(trainingJobNameOf('LlmOps-dev', 'ft-3f9c2a7be1d04c58')).toBe('llmops-dev-ft-3f9c2a7be1d04c58');
  });

  it('cuts a long stack name so that the name fits 63 characters and keeps the job id whole', () => {
    const name = inferenceComponentNameOf(`${'Very-Long_Stack.Name'.repeat(5)}-`, 'ft-3f9c2a7be1d04c58');
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(SAGEMAKER_NAME);
    expect(name.endsWith('-ft-3f9c2a7be1d04c58')).toBe(true);
    expect(jobIdInName(name)).toBe('ft-3f9c2a7be1d04c58');
  });

  it('gives the prefix every name of a deployment starts with, a long stack name included', () => {
    expect(sageMakerNamePrefix('LlmOps-dev')).toBe('llmops-dev-');
    for (const stack of ['LlmOps-dev', `${'Very-Long_Stack.Name'.repeat(5)}-`]) {
      const prefix = sageMakerNamePrefix(stack);
      for (const name of [
        trainingJobNameOf(stack, 'ft-3f9c2a7be1d04c58'),
        sageMakerNameOf(stack, 'base'),
        sageMakerNameOf(stack, 'llm'),
      ]) {
        expect(name.startsWith(prefix), name).toBe(true);
      }
    }
  });

  it('replaces characters SageMaker refuses and never starts with a hyphen', () => {
    const name = trainingJobNameOf('__My Stack!!', 'ft-0000000000000000');
    expect(name).toBe('my-stack-ft-0000000000000000');
    expect(name).toMatch(SAGEMAKER_NAME);
  });
});

describe('recipeFor and baseModelFor', () => {
  const profile = { finetune: 'sft-lora', preference: 'dpo-lora' } as const;

  it("takes the profile's recipe for the purpose when none is asked for", () => {
    expect(recipeFor('preference', undefined, profile)).toBe('dpo-lora');
    expect(recipeFor('finetune', 'sft-qlora', profile)).toBe('sft-qlora');
  });

  it('refuses a recipe that does not train on the purpose, naming the recipes that do', () => {
    const error = (() => {
      try {
        recipeFor('preference', 'sft-lora', profile);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(RecipeMismatchError);
    expect((error as RecipeMismatchError).field).toBe('recipe');
    expect((error as Error).message).toContain('use dpo-lora');
  });

  it('accepts the served base model by its Hugging Face or catalog id, and refuses any other', () => {
    expect(baseModelFor(undefined, served)).toBe(served.hfModelId);
    expect(baseModelFor(served.catalogId, served)).toBe(served.hfModelId);
    expect(() => baseModelFor('mistralai/Mistral-7B', served)).toThrow(BaseModelMismatchError);
    expect(() => baseModelFor('mistralai/Mistral-7B', served)).toThrow(/the model the endpoint serves/);
  });
});

describe('mergeHyperparameters', () => {
  it("lets the request's values win over the profile's, sorted by name", () => {
    expect(mergeHyperparameters({ epochs: 3, lora_r: 16 }, { epochs: 1, seed: 7 }, 'sft-lora')).toEqual({
      epochs: 1,
      lora_r: 16,
      seed: 7,
    });
  });

  it('reads numbers written as text (an event may carry them so) and drops dpo_beta for SFT', () => {
    expect(mergeHyperparameters({ dpo_beta: 0.1 }, { epochs: '2' }, 'sft-lora')).toEqual({ epochs: 2 });
    expect(mergeHyperparameters({ dpo_beta: 0.1 }, {}, 'dpo-lora')).toEqual({ dpo_beta: 0.1 });
  });

  it('refuses an unknown name or a value out of range, naming the hyperparameter', () => {
    expect(() => mergeHyperparameters({}, { warmup: 1 }, 'sft-lora')).toThrow(ValidationError);
    try {
      mergeHyperparameters({}, { lora_dropout: 1 }, 'sft-lora');
    } catch (error) {
      expect((error as ValidationError).field).toBe('hyperparameters.lora_dropout');
    }
    expect(() => mergeHyperparameters({}, { epochs: 'many' }, 'sft-lora')).toThrow(/must be a number/);
  });
});

describe('trainingHyperParameters', () => {
  it('writes numbers as plain decimals and adds the script-mode entries', () => {
    expect(
      trainingHyperParameters({
        baseModel: served.hfModelId,
        recipe: 'sft-lora',
        hyperparameters: { learning_rate: 0.0000002, epochs: 3 },
        sourceUri: 's3://a/source.tar.gz',
        region: 'eu-west-1',
      }),
    ).toEqual({
      base_model: served.hfModelId,
      recipe: 'sft-lora',
      epochs: '3',
      learning_rate: '0.0000002',
      sagemaker_program: 'train.py',
      sagemaker_submit_directory: 's3://a/source.tar.gz',
      sagemaker_region: 'eu-west-1',
    });
  });

  it('never writes an exponent', () => {
    expect(plainDecimal(2e-4)).toBe('0.0002');
    expect(plainDecimal(1.5e-7)).toBe('0.00000015');
    expect(plainDecimal(1e21)).toBe('1000000000000000000000');
    expect(plainDecimal(-1)).toBe('-1');
  });
});

describe('channelsOf', () => {
  const files = {
    train: { bucket: 'curated', key: 'datasets/finetune/support-chats/v3/train.jsonl' },
    validation: { bucket: 'curated', key: 'datasets/finetune/support-chats/v3/validation.jsonl' },
  };

  it('makes a train and a validation channel in the CreateTrainingJob shape', () => {
    const channels = channelsOf(base.dataset, files, { train: 90, validation: 10 });
    expect(channels.map((c) => c.ChannelName)).toEqual(['train', 'validation']);
    for (const c of channels) expect(trainingChannel.parse(c)).toEqual(c);
    expect(channels[0]?.DataSource.S3DataSource.S3Uri).toBe(`s3://curated/${files.train.key}`);
  });

  it('leaves out a validation split that DataPrep wrote empty', () => {
    expect(channelsOf(base.dataset, files, { train: 5, validation: 0 })).toHaveLength(1);
    expect(channelsOf(base.dataset, { train: files.train })).toHaveLength(1);
  });

  it('refuses a dataset version without a train file', () => {
    expect(() => channelsOf(base.dataset, { data: files.train })).toThrow(TrainingDataMissingError);
  });

  it('puts checkpoints under finetune/checkpoints/<jobId>/', () => {
    expect(checkpointUriOf('art', 'ft-1')).toBe('s3://art/finetune/checkpoints/ft-1/');
  });
});

describe('lineage metadata', () => {
  const lineage: Lineage = {
    jobId: 'ft-3f9c2a7be1d04c58',
    dataset: {
      name: 'support-chats',
      version: 3,
      purpose: 'finetune',
      contentHash: `sha256:${'b'.repeat(64)}`,
    },
    baseModel: served.hfModelId,
    recipe: 'sft-lora',
    hyperparameters: { epochs: 3, learning_rate: 0.0002 },
    trainingJob: { name: 't', arn: 'arn:t', spot: true, billableSeconds: 10, metrics: {} },
    artifact: { bucket: 'art', key: 'finetune/output/t/output/model.tar.gz' },
    servedModel: 'support-assistant',
    candidateModel: 'support-assistant-v4',
    inferenceComponent: 'llmops-dev-ft-3f9c2a7be1d04c58',
    modelPackageGroup: 'g',
    placeholder: false,
    createdAt: '2026-11-22T00:00:00.000Z',
  };

  it('carries what the console filters by, within SageMaker limits and pattern', () => {
    const metadata = customerMetadataOf(lineage);
    expect(metadata).toMatchObject({
      jobId: lineage.jobId,
      datasetName: 'support-chats',
      datasetVersion: '3',
      candidateModel: 'support-assistant-v4',
      hyperparameters: 'epochs=3 learning_rate=0.0002',
      placeholder: 'false',
    });
    expect(Object.keys(metadata).length).toBeLessThanOrEqual(50);
    for (const [key, value] of Object.entries(metadata)) {
      expect(key.length).toBeLessThanOrEqual(128);
      expect([...value].length).toBeLessThanOrEqual(256);
      expect(value).toMatch(/^[\p{L}\p{Z}\p{N}_.:/=+\-@…]*$/u);
    }
  });

  it('splits hyperparameters longer than one value at pair boundaries', () => {
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`max_seq_length_${i}`, 131072]));
    const entries = hyperparameterEntries(many);
    expect(Object.keys(entries)[0]).toBe('hyperparameters.1');
    for (const value of Object.values(entries)) expect(value.length).toBeLessThanOrEqual(256);
    expect(Object.values(entries).join(' ').split(' ')).toHaveLength(40);
  });

  it('cuts a long value with an ellipsis and replaces characters SageMaker refuses', () => {
    expect(metadataValue('a{b}"c')).toBe('a_b__c');
    const cut = metadataValue('x'.repeat(300));
    expect([...cut]).toHaveLength(256);
    expect(cut.endsWith('…')).toBe(true);
  });
});
