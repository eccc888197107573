import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '#aws/errors.ts';
import { PromptRegistry } from '#aws/prompt-registry.ts';
import { labelResponse, promptVersionList, promptVersionResponse } from '#contracts/http/schemas.ts';
import type { PromptDraft } from '#contracts/prompts/types.ts';
import { contentHash } from '#core/prompts/hash.ts';
import { renderPrompt } from '#core/prompts/template.ts';
import { createDynamoClient, type Emulators, startEmulators } from '#infra/local/emulators.ts';
import { createKeyTable, isolatedDocumentClients } from '../support/dynamo.ts';

/** The prompt registry with a real DynamoDB client against dynalite, on a `pk`/`sk` table. */
const TABLE = 'prompts-it';
let emulators: Emulators;
let dynamo: DynamoDBClient;
let doc: DynamoDBDocumentClient;

beforeAll(async () => {
  emulators = await startEmulators();
  dynamo = createDynamoClient(emulators.dynamoEndpoint);
  doc = DynamoDBDocumentClient.from(dynamo);
  await createKeyTable(dynamo, TABLE, { sortKey: true });
});

afterAll(async () => {
  isolated.destroy();
  dynamo?.destroy();
  await emulators?.stop();
});

const isolated = isolatedDocumentClients(() => emulators.dynamoEndpoint);

const draft = (text: string, commitMessage = `commit ${text}`): PromptDraft => ({
  messages: [
    { role: 'system', content: 'You answer for {{ company }}.' },
    { role: 'user', content: `${text}: {{ question }}` },
  ],
  variables: { company: { type: 'string' }, question: { type: 'string' } },
  model: { temperature: 0.2 },
  commitMessage,
});

/** A registry with a hand-driven clock. */
function clocked(ttlMs = 10_000) {
  const clock = { now: Date.parse('2026-03-01T12:00:00.000Z') };
  const registry = new PromptRegistry(doc, TABLE, { cacheTtlMs: ttlMs, now: () => clock.now });
  return { registry, clock };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('PromptRegistry on dynalite', () => {
  it('creates version 1, moves latest to it, and reads it back by version and by label', async () => {
    const { registry } = clocked();
    const created = await registry.createVersion('greeting', draft('v1'), 'app:support');
    expect(created).toEqual({
      name: 'greeting',
      version: 1,
      ...draft('v1'),
      author: 'app:support',
      createdAt: '2026-03-01T12:00:00.000Z',
      contentHash: contentHash(draft('v1')),
      labels: ['latest'],
    });
    expect(promptVersionResponse.safeParse(created).success).toBe(true);
    const fresh = clocked().registry;
    expect(await fresh.get({ name: 'greeting', version: 1 })).toEqual(created);
    expect(await fresh.get({ name: 'greeting', label: 'latest' })).toEqual(created);
    // The stored version renders.
    expect(renderPrompt(created, { company: 'ACME', question: 'why?' })).toEqual({
      system: 'You answer for ACME.',
      messages: [{ role: 'user', content: 'v1: why?' }],
    });
  });

  it('does not label a new prompt production, and says how to', async () => {
    const { registry } = clocked();
    await registry.createVersion('fresh', draft('x'), 'me');
    const error = await rejection(registry.get({ name: 'fresh', label: 'production' }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toBe(
      'Prompt fresh has no label "production"; move a label with PUT /v1/prompts/fresh/labels/production ' +
        'or ask for fresh@latest',
    );
  });

  it('answers clear NotFoundErrors for an unknown prompt and an unknown version', async () => {
    const { registry } = clocked();
    const unknown = await rejection(registry.get({ name: 'nope', label: 'production' }));
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect(unknown.message).toBe('Prompt nope does not exist; create it with POST /v1/prompts/nope/versions');
    expect((await rejection(registry.get({ name: 'nope', version: 1 }))).message).toContain('does not exist');
    await registry.createVersion('two', draft('a'), 'me');
    const missing = await rejection(registry.get({ name: 'two', version: 9 }));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.message).toBe('Prompt two has no version 9; its latest version is 1');
    await expect(registry.listVersions('nope')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('validates before writing anything', async () => {
    const { registry } = clocked();
    const bad: PromptDraft = { ...draft('a'), variables: { company: { type: 'string' } } };
    await expect(registry.createVersion('invalid', bad, 'me')).rejects.toMatchObject({
      name: 'ValidationError',
      field: 'messages.1.content',
    });
    await expect(registry.createVersion('Bad Name', draft('a'), 'me')).rejects.toMatchObject({
      field: 'name',
    });
    const huge: PromptDraft = {
      ...draft('a'),
      messages: Array.from({ length: 5 }, () => ({ role: 'user' as const, content: 'x'.repeat(100_000) })),
      variables: {},
    };
    await expect(registry.createVersion('invalid', huge, 'me')).rejects.toMatchObject({ field: 'messages' });
    await expect(registry.get({ name: 'invalid', label: 'latest' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('gives 25 concurrent creators the versions 1..25 exactly once, and latest ends at 25', async () => {
    const registries = Array.from({ length: 5 }, () => clocked().registry);
    const created = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        (registries[i % 5] as PromptRegistry).createVersion('busy', draft(`n${i}`), `writer-${i}`),
      ),
    );
    expect(created.map((v) => v.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    const fresh = clocked().registry;
    const latest = await fresh.get({ name: 'busy', label: 'latest' });
    expect(latest.version).toBe(25);
    // Each number holds the content of the writer that got it.
    for (const v of created) {
      const read = await fresh.get({ name: 'busy', version: v.version });
      expect(read.author).toBe(v.author);
      expect(read.messages).toEqual(v.messages);
    }
  });

  it('gives up with a ConflictError when contention outlasts its attempts', async () => {
    const impatient = new PromptRegistry(doc, TABLE, { maxAttempts: 1 });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => impatient.createVersion('contended', draft(`c${i}`), 'me')),
    );
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) expect(failure).toBeInstanceOf(ConflictError);
    const versions = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.version] : []));
    expect(new Set(versions).size).toBe(versions.length);
  });

  it('waits a short jittered backoff (under 2, then 4 ms) each time a concurrent writer takes the next number', async () => {
    // A writer that slips in before each of the registry's first two puts, taking the number it tries.
    let slipped = 0;
    const racing = {
      send: async (command: unknown) => {
        if (command instanceof PutCommand && slipped < 2) {
          slipped++;
          const { Item } = command.input;
          await doc.send(new PutCommand({ ...command.input, Item: { ...Item, author: 'the other writer' } }));
        }
        return doc.send(command as PutCommand);
      },
    } as unknown as DynamoDBDocumentClient;
    const waits: number[] = [];
    const registry = new PromptRegistry(racing, TABLE, {
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    const created = await registry.createVersion('raced', draft('mine'), 'me');
    expect(created).toMatchObject({ version: 3, author: 'me', labels: ['latest'] });
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeGreaterThanOrEqual(0);
    expect(waits[0]).toBeLessThan(2);
    expect(waits[1]).toBeLessThan(4);

    slipped = 0;
    const impatient = new PromptRegistry(racing, TABLE, {
      maxAttempts: 2,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    await expect(impatient.createVersion('raced', draft('late'), 'me')).rejects.toBeInstanceOf(ConflictError);
    expect(waits).toHaveLength(3);
  });

  it('moves labels, rolls back, and keeps a history of the moves', async () => {
    const { registry, clock } = clocked();
    for (const text of ['one', 'two', 'three']) await registry.createVersion('release', draft(text), 'dev');

    const first = await registry.moveLabel('release', 'production', 2, 'admin');
    expect(first).toEqual({ name: 'release', label: 'production', version: 2, previousVersion: null });
    expect(labelResponse.safeParse(first).success).toBe(true);
    expect(await registry.get({ name: 'release', label: 'production' })).toMatchObject({
      version: 2,
      labels: ['production'],
    });
    clock.now += 1000;
    expect(await registry.moveLabel('release', 'production', 3, 'admin')).toMatchObject({
      previousVersion: 2,
    });
    expect(await registry.get({ name: 'release', label: 'production' })).toMatchObject({
      version: 3,
      labels: ['latest', 'production'],
    });
    clock.now += 1000;
    // Rollback.
    expect(await registry.moveLabel('release', 'production', 2, 'oncall')).toMatchObject({
      previousVersion: 3,
    });
    expect((await registry.get({ name: 'release', label: 'production' })).version).toBe(2);
    expect(await registry.labelHistory('release')).toEqual([
      {
        label: 'production',
        version: 2,
        previousVersion: 3,
        updatedAt: '2026-03-01T12:00:02.000Z',
        updatedBy: 'oncall',
      },
      {
        label: 'production',
        version: 3,
        previousVersion: 2,
        updatedAt: '2026-03-01T12:00:01.000Z',
        updatedBy: 'admin',
      },
      {
        label: 'production',
        version: 2,
        previousVersion: null,
        updatedAt: '2026-03-01T12:00:00.000Z',
        updatedBy: 'admin',
      },
    ]);
  });

  it('refuses to move latest by hand, a bad label, and a label to a version that does not exist', async () => {
    const { registry } = clocked();
    await registry.createVersion('guarded', draft('g'), 'dev');
    const latest = await rejection(registry.moveLabel('guarded', 'latest', 1, 'admin'));
    expect(latest).toBeInstanceOf(ValidationError);
    expect(latest).toMatchObject({ field: 'label' });
    await expect(registry.moveLabel('guarded', 'Prod', 1, 'admin')).rejects.toMatchObject({ field: 'label' });
    await expect(registry.moveLabel('guarded', 'prod', 0, 'admin')).rejects.toMatchObject({
      field: 'version',
    });
    const missing = await rejection(registry.moveLabel('guarded', 'production', 2, 'admin'));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.message).toContain('has no version 2');
    await expect(registry.moveLabel('ghost', 'production', 1, 'admin')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists versions newest first, page by page, with the labels', async () => {
    const { registry } = clocked();
    for (let i = 1; i <= 7; i++) await registry.createVersion('paged', draft(`p${i}`), 'dev');
    await registry.moveLabel('paged', 'production', 4, 'admin');
    await registry.moveLabel('paged', 'staging', 7, 'admin');

    const seen: number[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await registry.listVersions('paged', { limit: 3, ...(token ? { nextToken: token } : {}) });
      expect(promptVersionList.safeParse(page).success).toBe(true);
      expect(page.labels).toEqual({ latest: 7, production: 4, staging: 7 });
      seen.push(...page.versions.map((v) => v.version));
      token = page.nextToken;
      pages++;
    } while (token !== undefined);
    expect(seen).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(pages).toBe(3);

    const exact = await registry.listVersions('paged', { limit: 7 });
    expect(exact.nextToken).toBeUndefined();
    const first = await registry.listVersions('paged', { limit: 2 });
    expect(first.versions).toEqual([
      expect.objectContaining({ version: 7, labels: ['latest', 'staging'], commitMessage: 'commit p7' }),
      expect.objectContaining({ version: 6, labels: [], author: 'dev' }),
    ]);
    expect(first.versions[0]).not.toHaveProperty('messages');
    expect((await registry.listVersions('paged')).versions).toHaveLength(7);
  });

  it('refuses a bad limit and a token that is not from this listing', async () => {
    const { registry } = clocked();
    await registry.createVersion('tokens', draft('t'), 'dev');
    await registry.createVersion('tokens', draft('u'), 'dev');
    await expect(registry.listVersions('tokens', { limit: 0 })).rejects.toMatchObject({ field: 'limit' });
    await expect(registry.listVersions('tokens', { limit: 101 })).rejects.toMatchObject({ field: 'limit' });
    for (const nextToken of [
      '!!!',
      'bm90IGpzb24',
      Buffer.from('{"pk":"PROMPT#other","sk":"V#0000000001"}').toString('base64url'),
    ]) {
      const error = await rejection(registry.listVersions('tokens', { nextToken }));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ field: 'nextToken' });
    }
    const page = await registry.listVersions('tokens', { limit: 1 });
    expect(page.nextToken).toBeDefined();
    await expect(
      registry.listVersions('paged', { nextToken: page.nextToken as string }),
    ).rejects.toMatchObject({
      field: 'nextToken',
    });
  });

  it('caches label resolutions for the TTL; its own moves apply at once', async () => {
    const { registry: reader, clock } = clocked(10_000);
    const writer = clocked().registry;
    await writer.createVersion('cached', draft('a'), 'dev');
    await writer.createVersion('cached', draft('b'), 'dev');
    await writer.moveLabel('cached', 'production', 1, 'admin');

    expect((await reader.get({ name: 'cached', label: 'production' })).version).toBe(1);
    await writer.moveLabel('cached', 'production', 2, 'admin');
    // Another instance's move is seen once the TTL has passed.
    clock.now += 9_999;
    expect((await reader.get({ name: 'cached', label: 'production' })).version).toBe(1);
    clock.now += 2;
    expect((await reader.get({ name: 'cached', label: 'production' })).version).toBe(2);
    // Its own move: at once.
    await reader.moveLabel('cached', 'production', 1, 'admin');
    expect((await reader.get({ name: 'cached', label: 'production' })).version).toBe(1);
    // Its own new version moves its latest at once.
    await reader.createVersion('cached', draft('c'), 'dev');
    expect((await reader.get({ name: 'cached', label: 'latest' })).version).toBe(3);
  });

  it('serves repeated reads from the cache, without DynamoDB calls', async () => {
    const { registry } = clocked();
    await registry.createVersion('hot', draft('h'), 'dev');
    await registry.get({ name: 'hot', label: 'latest' });
    let calls = 0;
    const counting = isolated.create();
    counting.middlewareStack.add(
      (next) => async (args) => {
        calls++;
        return next(args);
      },
      { step: 'initialize' },
    );
    const counted = new PromptRegistry(counting, TABLE);
    await counted.get({ name: 'hot', label: 'latest' });
    const afterFirst = calls;
    for (let i = 0; i < 20; i++) await counted.get({ name: 'hot', label: 'latest' });
    await Promise.all(Array.from({ length: 20 }, () => counted.get({ name: 'hot', version: 1 })));
    expect(afterFirst).toBe(2);
    expect(calls).toBe(afterFirst);
  });

  it('returns read-only versions, so that a caller cannot corrupt the cache', async () => {
    const { registry } = clocked();
    await registry.createVersion('frozen', draft('f'), 'dev');
    const read = await registry.get({ name: 'frozen', version: 1 });
    expect(() => {
      (read.messages[0] as { content: string }).content = 'changed';
    }).toThrow(TypeError);
    expect((await registry.get({ name: 'frozen', version: 1 })).messages[0]?.content).toBe(
      'You answer for {{ company }}.',
    );
  });

  it('never moves latest backwards', async () => {
    const { registry } = clocked();
    await registry.createVersion('ordered', draft('1'), 'dev');
    // As if a writer of a higher number had moved latest before this one got there.
    await doc.send(
      new PutCommand({
        TableName: TABLE,
        Item: { pk: 'PROMPT#ordered', sk: 'LABEL#latest', label: 'latest', version: 99 },
      }),
    );
    const second = await registry.createVersion('ordered', draft('2'), 'dev');
    expect(second).toMatchObject({ version: 2, labels: [] });
    expect((await registry.listVersions('ordered')).labels).toEqual({ latest: 99 });
  });
});
