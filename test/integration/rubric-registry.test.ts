import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '#aws/errors.ts';
import {
  RUBRIC_SEED_AUTHOR,
  resolveRubrics,
  seedRubrics,
  seedRubricsOnce,
} from '#aws/eval/rubric-registry.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import type { PromptDraft } from '#contracts/prompts/types.ts';
import { FAITHFULNESS_RUBRIC, rubricSeeds } from '#core/eval/rubrics/index.ts';
import { contentHash } from '#core/prompts/hash.ts';
import { createDynamoClient, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import { createKeyTable } from '../support/dynamo.ts';

/**
 * The judge rubrics in the prompt registry on dynalite: the seed writes each rubric's built-in text as
 * version 1 with `production` (conditional writes only, so concurrent cold starts agree), never undoes an
 * administrator's version or label move, and a run resolves each rubric to the version its label
 * points at.
 */
let emulators: Emulators;
let dynamo: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tables = 0;

beforeAll(async () => {
  emulators = await startEmulators();
  dynamo = createDynamoClient(emulators.dynamoEndpoint);
  doc = DynamoDBDocumentClient.from(dynamo);
});

afterAll(async () => {
  dynamo?.destroy();
  await emulators?.stop();
});

/** A fresh prompts table and a registry reading it without a label cache (as Plan does). */
async function freshRegistry(): Promise<{ table: string; registry: () => PromptRegistry }> {
  const table = `prompts-rubrics-${++tables}`;
  await createKeyTable(dynamo, table, { sortKey: true });
  return { table, registry: () => new PromptRegistry(doc, table, { cacheTtlMs: 0 }) };
}

const seedOf = (name: string): PromptDraft => {
  const seed = rubricSeeds().find((s) => s.name === name);
  if (seed === undefined) throw new Error(`no seed ${name}`);
  return seed.draft;
};

const STRICTER: PromptDraft = {
  ...seedOf('judge-faithfulness'),
  messages: [
    { role: 'system', content: `${FAITHFULNESS_RUBRIC.instructions}\nA number in a claim must be quoted.` },
    { role: 'user', content: FAITHFULNESS_RUBRIC.template },
  ],
  commitMessage: 'stricter about numbers',
};

describe('judge rubrics in the prompt registry (dynalite)', () => {
  it('seeds every rubric as version 1 with production and latest, records the move, and writes nothing the second time', async () => {
    const { registry } = await freshRegistry();
    const first = await seedRubrics(registry());
    expect(first.every((o) => o.created && o.labelled)).toBe(true);
    const faithfulness = await registry().get({ name: 'judge-faithfulness', label: 'production' });
    expect(faithfulness).toMatchObject({
      version: 1,
      labels: ['latest', 'production'],
      author: RUBRIC_SEED_AUTHOR,
      contentHash: contentHash(seedOf('judge-faithfulness')),
    });
    expect(faithfulness.messages[0]?.content).toBe(FAITHFULNESS_RUBRIC.instructions);
    expect(await registry().labelHistory('judge-faithfulness')).toEqual([
      expect.objectContaining({ label: 'production', version: 1, previousVersion: null, reason: 'seeded' }),
    ]);
    const again = await seedRubrics(registry());
    expect(again.some((o) => o.created || o.labelled)).toBe(false);
    expect((await registry().listVersions('judge-pairwise')).versions).toHaveLength(1);
  });

  it('gives cold starts that seed at once one version 1 and one production label per rubric', async () => {
    const { registry } = await freshRegistry();
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => seedRubrics(registry())));
    for (const { name } of rubricSeeds()) {
      const mine = outcomes.flat().filter((o) => o.name === name);
      expect(mine.filter((o) => o.created)).toHaveLength(1);
      expect(mine.filter((o) => o.labelled)).toHaveLength(1);
      const page = await registry().listVersions(name);
      expect(page.versions.map((v) => v.version)).toEqual([1]);
      expect(page.labels).toEqual({ latest: 1, production: 1 });
      expect(await registry().labelHistory(name)).toHaveLength(1);
    }
  });

  it("keeps an administrator's new version and label move through every later seed, and resolves to it", async () => {
    const { registry } = await freshRegistry();
    await seedRubricsOnce(registry())();
    const v2 = await registry().createVersion('judge-faithfulness', STRICTER, 'arn:aws:iam::1:user/admin');
    await registry().moveLabel('judge-faithfulness', 'production', v2.version, 'arn:aws:iam::1:user/admin');
    const outcomes = await seedRubrics(registry());
    expect(outcomes.find((o) => o.name === 'judge-faithfulness')).toEqual({
      name: 'judge-faithfulness',
      created: false,
      labelled: false,
    });
    const resolved = await resolveRubrics(registry(), ['faithfulness', 'answer_relevance']);
    expect(resolved.faithfulness).toMatchObject({ name: 'judge-faithfulness', version: 2 });
    expect(resolved.faithfulness?.messages[0]?.content).toContain('A number in a claim must be quoted.');
    expect(resolved.answer_relevance).toMatchObject({ name: 'judge-answer-relevance', version: 1 });
    // A request may still name the earlier version.
    const pinned = await resolveRubrics(registry(), ['faithfulness'], {
      faithfulness: 'judge-faithfulness:1',
    });
    expect(pinned.faithfulness?.version).toBe(1);
  });

  it('labels the seeded version 1 a seed left unlabelled, and leaves a hand-made version 1 unlabelled', async () => {
    const { registry } = await freshRegistry();
    // A seed that stopped after its version 1: the next one labels it.
    await registry().createVersion('judge-toxicity', seedOf('judge-toxicity'), RUBRIC_SEED_AUTHOR);
    // Created by hand before any seed, with other content: not the seed's to label.
    await registry().createVersion('judge-sentiment', STRICTER, 'arn:aws:iam::1:user/admin');
    const outcomes = await seedRubrics(registry());
    expect(outcomes.find((o) => o.name === 'judge-toxicity')).toMatchObject({
      created: false,
      labelled: true,
    });
    expect(outcomes.find((o) => o.name === 'judge-sentiment')).toMatchObject({
      created: false,
      labelled: false,
    });
    expect((await registry().get({ name: 'judge-toxicity', label: 'production' })).version).toBe(1);
    const error = await resolveRubrics(registry(), ['sentiment']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'request.rubrics.sentiment' });
    expect((error as Error).message).toContain(
      'the rubric judge-sentiment@production does not resolve: Prompt judge-sentiment has no label "production"',
    );
  });
});
