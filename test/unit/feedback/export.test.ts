// The functions' environments, set before their handler modules are imported (they read them at import).
import '../../support/env/feedback-export.ts';
import '../../support/env/dataprep.ts';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '#aws/errors.ts';
import { metrics } from '#aws/observability.ts';
import {
  annotatorRubric,
  type StoredFeedback,
  type StoredInteraction,
} from '#contracts/feedback/feedback.ts';
import { goldenRecordSchema, preferenceRecordSchema } from '#core/dataprep/records.ts';
import { annotatorPseudonym } from '#core/feedback/pairs.ts';
import { feedbackThresholdReachedDetail } from '#events/feedback-threshold-reached.ts';
import { datasetFromKey } from '#functions/dataprep/plan.ts';
import {
  type ExportDeps,
  environment,
  exportIdOf,
  feedbackExportKeys,
  makeHandler,
  parseExportSettings,
} from '#functions/feedback/export.ts';
import {
  at,
  interaction,
  MemoryCalibration,
  MemoryFeedbackStore,
  MemoryInteractionStore,
  memoryS3,
  promptHashWhere,
  verdict,
} from './export-fixtures.ts';

const s3 = memoryS3();
const eb = mockClient(EventBridgeClient);
const RAW = 'raw';
const ARTIFACTS = 'artifacts';
const SHARE = 0.5;
const SETTINGS = {
  pairThreshold: 3,
  datasetName: 'feedback',
  holdOutShare: SHARE,
  annotatorAgreement: { minAgreement: 0.6, minReviewed: 5 },
};

/** Distinct prompts kept for training, and one held out. */
const TRAINING = Array.from({ length: 6 }, (_, i) => promptHashWhere(false, SHARE, i * 1000));
const HELD = promptHashWhere(true, SHARE);
const prompt = (n: number) => TRAINING[n] as string;

const ask = (id: string, promptHash: string, answer: string, overrides: Partial<StoredInteraction> = {}) =>
  interaction(id, answer, {
    promptHash,
    messages: [{ role: 'user', content: `Question of ${id}?` }],
    ...overrides,
  });

function world(
  interactions: StoredInteraction[],
  verdicts: StoredFeedback[],
  overrides: Partial<ExportDeps> = {},
) {
  const feedback = new MemoryFeedbackStore(verdicts);
  const calibration = new MemoryCalibration();
  const deps: ExportDeps = {
    feedback,
    interactions: new MemoryInteractionStore(interactions),
    evaluations: calibration,
    s3: s3.client,
    events: new EventBridgeClient({ region: 'us-east-1' }),
    rawBucket: RAW,
    artifactsBucket: ARTIFACTS,
    busName: 'bus',
    settings: SETTINGS,
    ...overrides,
  };
  return { feedback, calibration, deps, run: () => makeHandler(deps)({ source: 'scheduler' }) };
}

/** Three corrected answers (3 pairs), a liked one (a KTO record), and a held-out prompt. */
function exportable() {
  const corrected = [0, 1, 2].map((n) => ask(`i-${n}`, prompt(n), `Wrong answer ${n}.`));
  const liked = ask('i-liked', prompt(3), 'A good answer.');
  const held = ask('i-held', HELD, 'Held answer.', { system: 'Answer briefly.' });
  const verdicts = [
    ...corrected.map((i, n) =>
      verdict(i, 'ann', 'down', { correction: `Right answer ${n}.`, updatedAt: at(10 + n) }),
    ),
    verdict(liked, 'bob', 'up', { updatedAt: at(20) }),
    verdict(held, 'cat', 'down', { correction: 'Held correction.', updatedAt: at(40.5) }),
  ];
  return { interactions: [...corrected, liked, held], verdicts };
}

const EXPORT_ID = 'feedback-20261205t060040z';
const keys = {
  pairs: feedbackExportKeys.pairs('feedback', EXPORT_ID),
  unpaired: feedbackExportKeys.unpaired(EXPORT_ID),
  heldOut: feedbackExportKeys.heldOut('feedback', EXPORT_ID),
};

function sentEvents() {
  return eb
    .commandCalls(PutEventsCommand)
    .map((call) => call.args[0].input.Entries?.[0])
    .map((entry) => ({
      ...entry,
      detail: feedbackThresholdReachedDetail.parse(JSON.parse(entry?.Detail ?? '{}')),
    }));
}

describe('the feedback export', () => {
  beforeEach(() => {
    s3.install();
    eb.reset();
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
  });
  afterEach(() => vi.restoreAllMocks());

  it('writes nothing and marks nothing below the threshold: the verdicts stay pending', async () => {
    const { interactions, verdicts } = exportable();
    const { feedback, run } = world(interactions, verdicts, { settings: { ...SETTINGS, pairThreshold: 4 } });
    const added = vi.spyOn(metrics, 'addMetric');
    const result = await run();
    expect(result).toEqual({ exported: false, pairs: 3, unpaired: 1, heldOut: 1, pending: 5, skipped: {} });
    expect(s3.mock.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(eb.commandCalls(PutEventsCommand)).toHaveLength(0);
    expect(feedback.calls).not.toContain('markExported');
    expect(feedback.pendingNow()).toHaveLength(5);
    expect(added.mock.calls).toEqual([
      ['FeedbackPairsPending', 'Count', 3],
      ['FeedbackExports', 'Count', 0],
    ]);
  });

  it('at the threshold writes the pairs, the KTO records and the held-out prompts, then marks, then emits once', async () => {
    const { interactions, verdicts } = exportable();
    const { feedback, calibration, run } = world(interactions, verdicts);
    const mark = feedback.markExported.bind(feedback);
    feedback.markExported = async (...args) => {
      // Files first, the event last.
      expect([...s3.objects.keys()].sort()).toEqual(
        [`${ARTIFACTS}/${keys.unpaired}`, `${RAW}/${keys.heldOut}`, `${RAW}/${keys.pairs}`].sort(),
      );
      expect(eb.commandCalls(PutEventsCommand)).toHaveLength(0);
      return mark(...args);
    };
    const added = vi.spyOn(metrics, 'addMetric');

    const result = await run();
    expect(result).toEqual({
      exported: true,
      exportId: EXPORT_ID,
      pairs: 3,
      unpaired: 1,
      heldOut: 1,
      pending: 5,
      skipped: {},
    });
    expect(added.mock.calls).toEqual([
      ['FeedbackPairsPending', 'Count', 3],
      ['FeedbackExports', 'Count', 1],
    ]);
    expect(calibration.asked.sort()).toEqual(['ann', 'bob', 'cat'].map(annotatorRubric));

    // DataPrep's preference records, with provenance and nothing else.
    const pairs = s3.lines(RAW, keys.pairs) as Record<string, unknown>[];
    expect(pairs).toHaveLength(3);
    for (const line of pairs) {
      expect(Object.keys(line)).toEqual(['prompt', 'chosen', 'rejected', 'metadata']);
      expect(preferenceRecordSchema.safeParse(line).success).toBe(true);
    }
    expect(pairs.map((p) => [p.prompt, p.chosen, p.rejected]).sort()).toEqual([
      ['Question of i-0?', 'Right answer 0.', 'Wrong answer 0.'],
      ['Question of i-1?', 'Right answer 1.', 'Wrong answer 1.'],
      ['Question of i-2?', 'Right answer 2.', 'Wrong answer 2.'],
    ]);
    expect(datasetFromKey(keys.pairs)).toEqual({ purpose: 'preference', name: 'feedback' });

    expect(s3.lines(ARTIFACTS, keys.unpaired)).toEqual([
      expect.objectContaining({ prompt: 'Question of i-liked?', completion: 'A good answer.', label: true }),
    ]);

    const [golden] = s3.lines(RAW, keys.heldOut) as Record<string, unknown>[];
    expect(golden).toMatchObject({
      messages: [
        { role: 'system', content: 'Answer briefly.' },
        { role: 'user', content: 'Question of i-held?' },
      ],
      reference: 'Held correction.',
      tags: ['feedback'],
    });
    expect(goldenRecordSchema.safeParse(golden).success).toBe(true);
    expect(datasetFromKey(keys.heldOut)).toEqual({ purpose: 'golden', name: 'feedback-holdout' });

    // Marked: every record id written, every verdict used; nothing pending.
    expect(feedback.exported.size).toBe(5);
    expect(new Set(feedback.exported.values())).toEqual(new Set([EXPORT_ID]));
    expect(feedback.pendingNow()).toEqual([]);

    const events = sentEvents();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      EventBusName: 'bus',
      Source: 'llmops',
      DetailType: 'llmops.FeedbackThresholdReached',
    });
    expect(events[0]?.detail).toEqual({
      schemaVersion: '1.0',
      exportId: EXPORT_ID,
      pairs: 3,
      threshold: 3,
      location: { bucket: RAW, key: keys.pairs },
      unpaired: { records: 1, location: { bucket: ARTIFACTS, key: keys.unpaired } },
      heldOut: { prompts: 1, location: { bucket: RAW, key: keys.heldOut } },
      annotators: { included: 3, excluded: [] },
    });
  });

  it('exports nothing on a second run with nothing new, nor for new verdicts that make only records already written', async () => {
    const { interactions, verdicts } = exportable();
    const { feedback, run } = world(interactions, verdicts);
    await run();
    s3.mock.resetHistory();
    eb.resetHistory();

    expect(await run()).toEqual({
      exported: false,
      pairs: 0,
      unpaired: 0,
      heldOut: 0,
      pending: 0,
      skipped: {},
    });
    // Another annotator agrees with a correction already exported: the same pair, not a new one.
    feedback.add(verdict(interactions[0] as StoredInteraction, 'dan', 'down', { updatedAt: at(100) }));
    expect(await run()).toEqual({
      exported: false,
      pairs: 0,
      unpaired: 0,
      heldOut: 0,
      pending: 1,
      skipped: { already_exported: 1 },
    });
    expect(s3.mock.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(eb.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('drops the records of an annotator the reviewers disagreed with, and lists them in the event', async () => {
    const answers = [0, 1, 2, 3].map((n) => ask(`i-${n}`, prompt(n), `Answer ${n}.`));
    const verdicts = [
      ...answers.slice(0, 3).map((i, n) => verdict(i, 'ann', 'down', { correction: `Better ${n}.` })),
      ...answers.map((i, n) => verdict(i, 'troll', 'down', { correction: `Spam ${n}.` })),
    ];
    const { calibration, run, feedback } = world(answers, verdicts);
    calibration.set(annotatorRubric('troll'), 10, 1);
    calibration.set(annotatorRubric('ann'), 10, 9);

    const result = await run();
    expect(result).toMatchObject({ exported: true, pairs: 3, skipped: { excluded_annotator: 4 } });
    const pairs = s3.lines(RAW, feedbackExportKeys.pairs('feedback', result.exportId as string)) as {
      chosen: string;
      metadata: { annotators: string };
    }[];
    expect(pairs.map((p) => p.chosen).sort()).toEqual(['Better 0.', 'Better 1.', 'Better 2.']);
    expect(pairs.every((p) => p.metadata.annotators === annotatorPseudonym('ann'))).toBe(true);
    // The bus and its archive keep no user id: the excluded annotator is named by its pseudonym.
    expect(sentEvents()[0]?.detail.annotators).toEqual({
      included: 1,
      excluded: [{ user: annotatorPseudonym('troll'), agreement: 0.1, reviewed: 10 }],
    });
    expect(JSON.stringify(sentEvents())).not.toContain('troll');
    // The excluded annotator's verdicts were looked at: they leave the queue too.
    expect(feedback.pendingNow()).toEqual([]);
  });

  it('skips truncated interactions, counting them', async () => {
    const { interactions, verdicts } = exportable();
    const cut = ask('i-cut', prompt(4), 'Half an ans', { truncated: true });
    const { run } = world(
      [...interactions, cut],
      [...verdicts, verdict(cut, 'ann', 'down', { correction: 'The whole answer.' })],
    );
    const result = await run();
    expect(result).toMatchObject({ exported: true, pairs: 3, pending: 6, skipped: { truncated: 1 } });
    const pairs = s3.lines(RAW, keys.pairs) as { metadata: { rejectedInteraction: string } }[];
    expect(pairs.map((p) => p.metadata.rejectedInteraction)).not.toContain('i-cut');
  });

  it('writes nothing twice when a run that stopped after its files is retried: same files, then the mark and the event', async () => {
    const { interactions, verdicts } = exportable();
    const { feedback, run } = world(interactions, verdicts);
    feedback.failNextMark = true;
    await expect(run()).rejects.toThrow('the table went away');
    expect(s3.puts()).toBe(3);
    expect(eb.commandCalls(PutEventsCommand)).toHaveLength(0);
    expect(feedback.pendingNow()).toHaveLength(5);
    const files = new Map(s3.objects);

    const retried = await run();
    expect(retried).toMatchObject({ exported: true, exportId: EXPORT_ID, pairs: 3 });
    // The retry found its files in place (the same bytes under its keys) and wrote none again.
    expect(s3.puts()).toBe(3);
    expect(new Map(s3.objects)).toEqual(files);
    expect(feedback.pendingNow()).toEqual([]);
    expect(sentEvents()).toHaveLength(1);
  });

  it('writes the held-out prompts before the pairs, so that their suite is curated first', async () => {
    const { interactions, verdicts } = exportable();
    await world(interactions, verdicts).run();
    expect(s3.mock.commandCalls(PutObjectCommand).map((call) => call.args[0].input.Key)).toEqual([
      keys.heldOut,
      keys.unpaired,
      keys.pairs,
    ]);
  });

  it('writes the pairs under the same id on the retry of a run that stopped after the held-out file', async () => {
    const { interactions, verdicts } = exportable();
    const { feedback, run } = world(interactions, verdicts);
    s3.failPutOnce(RAW, keys.pairs);
    await expect(run()).rejects.toThrow('the connection was reset');
    // No pairs yet, so nothing trains: the held-out file waits alone, and nothing is marked.
    expect(s3.get(RAW, keys.pairs)).toBeUndefined();
    expect(s3.lines(RAW, keys.heldOut)).toHaveLength(1);
    expect(feedback.pendingNow()).toHaveLength(5);
    const heldOut = s3.get(RAW, keys.heldOut);

    expect(await run()).toMatchObject({ exported: true, exportId: EXPORT_ID, pairs: 3, heldOut: 1 });
    expect(s3.get(RAW, keys.heldOut)).toBe(heldOut);
    expect(s3.lines(RAW, keys.pairs)).toHaveLength(3);
    expect(s3.puts()).toBe(3);
    expect(sentEvents()).toHaveLength(1);
  });

  it('moves its id on by a second when another export already holds that name, writing nothing under it', async () => {
    const { interactions, verdicts } = exportable();
    // Another export of the same second, without held-out prompts: its pairs only.
    s3.put(RAW, keys.pairs, '{"prompt":"p","chosen":"c","rejected":"r"}\n');
    const result = await world(interactions, verdicts).run();
    expect(result.exportId).toBe('feedback-20261205t060041z');
    expect(s3.get(RAW, keys.pairs)).toBe('{"prompt":"p","chosen":"c","rejected":"r"}\n');
    expect(s3.lines(RAW, feedbackExportKeys.pairs('feedback', 'feedback-20261205t060041z'))).toHaveLength(3);
    // Every key was looked at before any was written: no held-out file under the other export's id.
    expect(s3.get(RAW, keys.heldOut)).toBeUndefined();
    expect(s3.get(ARTIFACTS, keys.unpaired)).toBeUndefined();
    expect(s3.lines(RAW, feedbackExportKeys.heldOut('feedback', 'feedback-20261205t060041z'))).toHaveLength(
      1,
    );
  });

  it('exports below the threshold when more is pending than a run reads, so the queue always moves', async () => {
    const answers = [0, 1, 2].map((n) => ask(`i-${n}`, prompt(n), `Answer ${n}.`));
    const verdicts = answers.map((i, n) =>
      verdict(i, 'ann', 'down', { correction: `Better ${n}.`, updatedAt: at(n) }),
    );
    const { feedback, run } = world(answers, verdicts, {
      maxVerdicts: 2,
      settings: { ...SETTINGS, pairThreshold: 10 },
    });
    const first = await run();
    expect(first).toMatchObject({ exported: true, pairs: 2, pending: 2 });
    expect(feedback.pendingNow().map((v) => v.interactionId)).toEqual(['i-2']);
    expect(sentEvents()[0]?.detail).toMatchObject({ pairs: 2, threshold: 10 });
    // The rest fits one run: below the threshold it waits again.
    expect(await run()).toMatchObject({ exported: false, pairs: 1, pending: 1 });
  });

  it('reads exactly its environment, and names a bad FEEDBACK_EXPORT', () => {
    expect(Object.keys(environment).sort()).toEqual(
      [
        'ARTIFACTS_BUCKET',
        'EVALUATIONS_TABLE',
        'EVENT_BUS_NAME',
        'FEEDBACK_EXPORT',
        'FEEDBACK_INDEX',
        'FEEDBACK_TABLE',
        'INTERACTIONS_TABLE',
        'RAW_BUCKET',
      ].sort(),
    );
    expect(parseExportSettings(process.env.FEEDBACK_EXPORT as string)).toEqual({
      pairThreshold: 8,
      datasetName: 'feedback',
      holdOutShare: 0.1,
      annotatorAgreement: { minAgreement: 0.6, minReviewed: 5 },
    });
    expect(() => parseExportSettings(JSON.stringify({ ...SETTINGS, holdOutShare: 0.9 }))).toThrow(
      ConfigError,
    );
    expect(() => parseExportSettings('{')).toThrow('FEEDBACK_EXPORT is not JSON');
  });

  it('names an export by its dataset and a UTC time, lowercase', () => {
    expect(exportIdOf('feedback', new Date('2026-12-05T06:00:40.999Z'))).toBe('feedback-20261205t060040z');
  });
});
