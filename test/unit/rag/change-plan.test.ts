import { describe, expect, it } from 'vitest';
import { type ChangePlanPorts, type ChangeSet, planChanges } from '#core/rag/change-plan.ts';
import type { ParsedDocument } from '#core/rag/parse/document.ts';

const doc = (id: string, text = `text of ${id}`): ParsedDocument => ({
  id,
  text,
  format: 'text',
  metadata: {},
});

function memoryPorts(options: { unchanged?: string[]; stale?: string[]; live?: string[] } = {}) {
  const claims: string[] = [];
  const failures: string[] = [];
  const staged: unknown[][] = [];
  const ports: ChangePlanPorts = {
    claim: async (request) => {
      claims.push(request.docId);
      if (options.unchanged?.includes(request.docId)) return 'unchanged';
      if (options.stale?.includes(request.docId)) return 'stale';
      return 'claimed';
    },
    liveDocuments: async () => (options.live ?? []).map((docId) => ({ docId })),
    recordFailure: async (d, error) => {
      failures.push(`${d.docId}: ${(error as Error).message}`);
      return true;
    },
    stageBatch: async (index, items) => {
      staged[index] = [...items];
      return { bucket: 'artifacts', key: `staging/rag/run/batch-${index}.jsonl` };
    },
  };
  return { ports, claims, failures, staged };
}

const settings = {
  runId: 'run',
  embeddingModelId: 'titan-embed-text-v2',
  chunkMaxTokens: 512,
  chunkOverlapTokens: 64,
  batchSize: 2,
  now: new Date(0),
};

const changeSet = (overrides: Partial<ChangeSet>): ChangeSet => ({
  trigger: 'dataset',
  origin: 'dataset:faq@v2',
  collection: 'dataset:faq',
  documents: [],
  deletions: [],
  replacesCollection: true,
  ...overrides,
});

describe('planChanges', () => {
  it('queues claimed versions, skips unchanged and stale ones, and deletes what a dataset version dropped', async () => {
    const { ports, staged } = memoryPorts({
      unchanged: ['faq/b'],
      stale: ['faq/c'],
      live: ['faq/a', 'faq/gone'],
    });
    const plan = await planChanges(
      changeSet({ documents: [doc('faq/a'), doc('faq/b'), doc('faq/c'), doc('faq/d'), doc('faq/e')] }),
      ports,
      settings,
    );
    expect(plan.counts).toEqual({ queued: 3, unchanged: 1, stale: 1, failed: 0, deletions: 1 });
    expect(plan.batches.map((b) => [b.kind, b.index, b.count])).toEqual([
      ['ingest', 0, 2],
      ['ingest', 1, 1],
      ['delete', 2, 1],
    ]);
    expect(staged[2]).toEqual([{ docId: 'faq/gone', collection: 'dataset:faq' }]);
    expect((staged[0] as { docId: string; version: string }[]).map((d) => d.docId)).toEqual([
      'faq/a',
      'faq/d',
    ]);
  });

  it('gives the same document the same version, and another text another version', async () => {
    const first = memoryPorts();
    const second = memoryPorts();
    await planChanges(changeSet({ documents: [doc('a'), doc('b', 'other')] }), first.ports, settings);
    await planChanges(changeSet({ documents: [doc('a'), doc('b', 'changed')] }), second.ports, settings);
    const versions = (staged: unknown[][]) => (staged[0] as { version: string }[]).map((d) => d.version);
    expect(versions(second.staged)[0]).toBe(versions(first.staged)[0]);
    expect(versions(second.staged)[1]).not.toBe(versions(first.staged)[1]);
  });

  it('records a file that could not be parsed as a failed document', async () => {
    const { ports, failures } = memoryPorts();
    const plan = await planChanges(
      changeSet({
        trigger: 'upload',
        replacesCollection: false,
        parseFailure: { docId: 'x.pdf', version: 'raw:etag', source: 'x.pdf', error: new Error('not a PDF') },
      }),
      ports,
      settings,
    );
    expect(failures).toEqual(['x.pdf: not a PDF']);
    expect(plan.counts.failed).toBe(1);
    expect(plan.batches).toEqual([]);
  });

  it('keeps the batch size whatever the number of documents (the Map reads its items from S3)', async () => {
    const { ports, staged } = memoryPorts();
    const documents = Array.from({ length: 1_501 }, (_, i) => doc(`d${i}`));
    const plan = await planChanges(changeSet({ documents, replacesCollection: false }), ports, settings);
    expect(plan.batches).toHaveLength(751);
    expect(plan.batches.map((b) => b.index)).toEqual(plan.batches.map((_, i) => i));
    expect(plan.batches.slice(0, -1).every((b) => b.count === settings.batchSize)).toBe(true);
    expect(plan.batches.at(-1)?.count).toBe(1);
    // Each batch is staged once, at its index, with the documents in their order.
    const ids = staged.flatMap((items) => (items as { docId: string }[]).map((d) => d.docId));
    expect(ids).toEqual(documents.map((d) => d.id));
  });
});
