import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidDatasetError, InvalidEventError } from '#aws/errors.ts';
import type { DatasetReadyDetail } from '#events/dataset-ready.ts';
import { rawSample } from '#events/samples.ts';
import { makeHandler, suiteFile } from '#functions/evaluation/register-suite.ts';
import { errorOf } from '../../../support/async.ts';
import { FakeEvaluationStore, memoryS3 } from './support.ts';

// The function's environment, set before its handler module is imported (it reads it at import).
vi.hoisted(() => {
  process.env.EVALUATIONS_TABLE ??= 'evaluations-test';
});

const s3 = memoryS3();
const CURATED = 'llmops-dev-curated-example';
const DATA = 'datasets/golden/support-golden/v000002/data.jsonl';
const NOW = new Date('2026-12-01T10:00:00.000Z');

type Sample = { detail: DatasetReadyDetail };

/** A golden `llmops.DatasetReady` for `support-golden` v2, edited. */
function event(edit: (detail: DatasetReadyDetail) => void = () => {}): Sample {
  const sample = structuredClone(rawSample('dataset-ready')) as Sample;
  Object.assign(sample.detail, {
    name: 'support-golden',
    version: 2,
    purpose: 'golden',
    files: {
      data: { bucket: CURATED, key: DATA },
      quarantine: { bucket: CURATED, key: 'datasets/golden/support-golden/v000002/quarantine.jsonl' },
    },
  });
  edit(sample.detail);
  return sample;
}

// Curated golden records keep their own fields (DataPrep redacts text, never wraps a record).
const CURATED_LINES = [
  { id: 'g1', input: 'How much memory can a function have?', references: ['10,240 MB'], tags: ['limits'] },
  { id: 'g2', input: 'What is the capital of Mars?', references: [], tags: ['Trick Questions'] },
  { messages: [{ role: 'user', content: 'Who pays for reserved concurrency?' }], reference: 'nobody' },
  { id: 'g3', input: 'Contradictory', references: ['x'], tags: ['unanswerable'] },
]
  .map((line) => JSON.stringify(line))
  .join('\n');

describe('register-suite handler', () => {
  let store: FakeEvaluationStore;
  let handler: ReturnType<typeof makeHandler>;

  beforeEach(() => {
    s3.install();
    store = new FakeEvaluationStore();
    handler = makeHandler({ s3: s3.client, store, now: () => NOW });
  });

  it('registers a golden dataset version as a suite: its valid items, distinct tags and content hash', async () => {
    s3.put(CURATED, DATA, CURATED_LINES);
    const result = await handler(event());
    expect(result).toEqual({ outcome: 'created', name: 'support-golden', version: 2, items: 3, tags: 3 });
    expect(await store.getSuite('support-golden')).toEqual({
      name: 'support-golden',
      version: 2,
      items: 3,
      tags: ['limits', 'trick-questions', 'unanswerable'],
      location: { bucket: CURATED, key: DATA },
      contentHash: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      registeredAt: NOW.toISOString(),
    });
  });

  it('changes nothing when the event is delivered again', async () => {
    s3.put(CURATED, DATA, CURATED_LINES);
    await handler(event());
    const first = await store.getSuite('support-golden', 2);
    const again = await handler(event());
    expect(again).toMatchObject({ outcome: 'exists', items: 3 });
    expect(await store.getSuite('support-golden', 2)).toEqual(first);
  });

  it('leaves a dataset of another purpose, and a name that cannot be a suite name, alone', async () => {
    const finetune = await handler(event((d) => Object.assign(d, { purpose: 'finetune' })));
    expect(finetune).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('finetune') });
    const dotted = await handler(event((d) => Object.assign(d, { name: 'qa.set' })));
    expect(dotted).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('"qa.set"') });
    expect(store.calls).toEqual([]);
  });

  it('fails a curated file without one valid item, naming the lines', async () => {
    s3.put(
      CURATED,
      DATA,
      JSON.stringify({ id: 'bad', input: 'x', references: ['y'], tags: ['unanswerable'] }),
    );
    const error = await errorOf(handler(event()));
    expect(error).toBeInstanceOf(InvalidDatasetError);
    expect(String(error)).toMatch(
      /holds no valid suite item \(line 1: references: an item tagged unanswerable/,
    );
    expect(store.suites.size).toBe(0);
  });

  it('refuses an event that is not a DatasetReady event, or a golden version without its data file', async () => {
    await expect(handler({ detail: {} })).rejects.toThrow(InvalidEventError);
    expect(() =>
      suiteFile({
        name: 'g',
        version: 1,
        files: { a: { bucket: 'b', key: 'a' }, c: { bucket: 'b', key: 'c' } },
      }),
    ).toThrow(/must have a "data" file \(got a, c\)/);
  });
});
