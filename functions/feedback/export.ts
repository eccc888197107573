import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { createDocumentClient, createEventBridgeClient, createS3Client } from '#aws/clients.ts';
import { parseJsonVariable, readConfig } from '#aws/config.ts';
import { ConflictError, TransientError } from '#aws/errors.ts';
import { DynamoEvaluationStore } from '#aws/eval/dynamo-evaluation-store.ts';
import type { EvaluationStore } from '#aws/eval/evaluation-store.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { DynamoFeedbackStore } from '#aws/feedback/dynamo-feedback-store.ts';
import { DynamoInteractionStore } from '#aws/feedback/dynamo-interaction-store.ts';
import type { ExportedFeedback, FeedbackStore, InteractionStore } from '#aws/feedback/stores.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { headObject, readText } from '#aws/s3-io.ts';
import { envVar } from '#contracts/env.ts';
import type { CalibrationLabel } from '#contracts/evaluation/review.ts';
import { annotatorRubric, heldOutSuiteOf, type StoredFeedback } from '#contracts/feedback/feedback.ts';
import {
  FEEDBACK_UNPAIRED_PREFIX,
  GOLDEN_RAW_PREFIX,
  PREFERENCE_RAW_PREFIX,
} from '#contracts/storage-layout.ts';
import { splitAnnotators } from '#core/feedback/annotators.ts';
import { annotatorPseudonym, buildFeedbackRecords, type FeedbackRecords } from '#core/feedback/pairs.ts';
import { mapLimited } from '#core/map-limited.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';
import {
  FEEDBACK_THRESHOLD_REACHED,
  type FeedbackThresholdReachedDetail,
  feedbackThresholdReachedDetail,
} from '#events/feedback-threshold-reached.ts';

/**
 * The feedback export, run by EventBridge Scheduler every `feedback.exportEveryHours` (its payload is
 * ignored: every run reads the same store). It turns people's verdicts into preference training data:
 *
 * 1. reads the pending verdicts (written or changed since an export used them), oldest change first, at
 *    most {@link MAX_VERDICTS_PER_RUN} a run;
 * 2. loads their siblings (every verdict on an interaction with the same rendered input, `promptHash`),
 *    their interactions, and each annotator's calibration pairs (`annotatorRubric(user)`), which leave out
 *    annotators the reviewers disagreed with too often;
 * 3. builds the records (`#core/feedback/pairs.ts`: DPO pairs, KTO records, held-out golden lines) and
 *    drops those an export already wrote (`exportedIds`);
 * 4. with at least `pairThreshold` new pairs, writes them (see {@link feedbackExportKeys}; the held-out
 *    prompts first, the pairs last), records the export (`markExported`: the record ids and the verdicts
 *    used) and puts `llmops.FeedbackThresholdReached`. With fewer it writes and marks nothing: the
 *    verdicts stay pending and the next run counts them again with whatever came in since.
 *
 * **A full run exports below the threshold.** When the pending verdicts are more than one run reads,
 * waiting cannot help: the next run would read the same oldest verdicts and find the same few pairs, and
 * the queue would never move. So a run that stops at its bound with verdicts still pending exports what
 * it built (the files that have records; the event only when there are pairs), and marks the verdicts it
 * read, even when that is nothing new.
 *
 * **Order, for at-least-once runs** (Scheduler and Lambda retry; a run can stop anywhere). Files first,
 * then the mark, then the event:
 * - the files' content is deterministic for the same verdicts (stable ids, sorted, normalized texts), and
 *   so is their name: the export id is the time of the newest verdict change the export used, not the
 *   time of the run. Every key is looked at before any file is written: an id is the export's when each
 *   of its keys is absent or already holds the same bytes. A run retried after writing some or all of
 *   its files comes back to the same id, finds those in place and leaves them alone (no second object
 *   version, so DataPrep, which keys its work on the object version, does not run twice), and writes the
 *   rest. A different export that falls on the same second finds a key with other content and moves its
 *   id on by a second, before it has written anything under that id. Each put is conditional
 *   (`If-None-Match: *`), so a file written between the look and the put is never overwritten;
 * - the held-out prompts before the pairs: each file's S3 event starts a DataPrep run of its own, and the
 *   pairs' leads to training and then to the candidate's evaluation, which judges the candidate on the
 *   held-out suite only when a version of it is registered by then. Written first, the suite's version
 *   starts curating first (on AWS training alone takes hours). A run that stops between the two files
 *   has written no pairs: its retry writes them under the same id, after the held-out file it finds in
 *   place;
 * - marking second means a stop before the mark loses nothing (the verdicts are still pending, the
 *   retry rebuilds the same records into the same files); marking first would lose the records of a run
 *   that stopped before writing them;
 * - the event last: it is the audit of an export that is complete. A stop between the mark and the put
 *   loses the event (the retry finds nothing new), never the data; DataPrep starts from the files' S3
 *   events, not from it.
 * What a retry cannot keep: when the verdicts change between the stop and the retry (new feedback on the
 * same prompts, an interaction expiring, an annotator crossing the agreement bar), the retry is another
 * export with another id, and the records the stopped run had written (held-out prompts, pairs) are
 * written again.
 */

/**
 * Pending verdicts a run reads at most. Each verdict brings its interaction (the rendered prompt with
 * retrieved passages: tens of KiB at worst) and its siblings; 2,000 keeps a run within a 1 GiB function
 * and a few minutes, and is four times the largest threshold a profile sets (prod: 500 pairs).
 */
export const MAX_VERDICTS_PER_RUN = 2_000;
/** Pending verdicts per page (the store takes at most 1,000). */
const PENDING_PAGE = 500;
/** Sibling, interaction and calibration reads at once. */
const READ_CONCURRENCY = 8;
/** Seconds an export id moves on at most to find a name no other export wrote. */
const MAX_ID_SHIFTS = 60;

/** `FEEDBACK_EXPORT`: the profile's `feedback` settings the export reads. */
export const feedbackExportSettings = z.object({
  /** New pairs an export waits for. */
  pairThreshold: z.int().check(z.positive()),
  /** The dataset DataPrep registers the pairs as (and, with `-holdout`, the held-out suite). */
  datasetName: z
    .string()
    .check(z.regex(/^[a-z][a-z0-9-]{0,47}$/, 'must be 1-48 lowercase letters, digits or "-"')),
  /** Share of prompts held out of training, in [0, 0.5]. */
  holdOutShare: z.number().check(z.gte(0), z.lte(0.5)),
  annotatorAgreement: z.object({
    minAgreement: z.number().check(z.gte(0), z.lte(1)),
    minReviewed: z.int().check(z.positive()),
  }),
});
export type FeedbackExportSettings = z.infer<typeof feedbackExportSettings>;

/** Parses `FEEDBACK_EXPORT`. @throws ConfigError naming the variable and the field */
export const parseExportSettings = (raw: string): FeedbackExportSettings =>
  parseJsonVariable('FEEDBACK_EXPORT', feedbackExportSettings, raw);

/**
 * An export's id: the dataset name and a UTC time to the second, `feedback-20261205t060040z`. Lowercase,
 * so that it reads the same wherever a name is lowercased (DataPrep's dataset names), and a valid file
 * name of DataPrep (letters, digits and `-`).
 */
export function exportIdOf(datasetName: string, at: Date): string {
  const stamp = at.toISOString().slice(0, 19).replace(/[-:]/g, '').toLowerCase();
  return `${datasetName}-${stamp}z`;
}

/**
 * Where an export writes:
 * - the pairs, `raw/preference/<datasetName>/<exportId>.jsonl` in the raw bucket: DataPrep names the
 *   dataset after the folder, so each export is a new version of `<datasetName>`;
 * - the unpaired (KTO) records, `feedback/unpaired/<exportId>.jsonl` in the artifacts bucket: not DataPrep
 *   input, kept for a KTO recipe;
 * - the held-out prompts, `raw/golden/<datasetName>-holdout/<exportId>.jsonl` in the raw bucket: a new
 *   version of the golden suite `<datasetName>-holdout`, on which a candidate trained on the dataset is
 *   judged against production (its win rate on prompts it never trained on).
 */
export const feedbackExportKeys = {
  pairs: (datasetName: string, exportId: string) =>
    `${PREFERENCE_RAW_PREFIX}${datasetName}/${exportId}.jsonl`,
  unpaired: (exportId: string) => `${FEEDBACK_UNPAIRED_PREFIX}${exportId}.jsonl`,
  heldOut: (datasetName: string, exportId: string) =>
    `${GOLDEN_RAW_PREFIX}${heldOutSuiteOf(datasetName)}/${exportId}.jsonl`,
};

export interface ExportDeps {
  readonly feedback: Pick<FeedbackStore, 'pending' | 'byPromptHash' | 'exportedIds' | 'markExported'>;
  readonly interactions: Pick<InteractionStore, 'getMany'>;
  readonly evaluations: Pick<EvaluationStore, 'calibrationLabels'>;
  readonly s3: S3Client;
  readonly events: EventBridgeClient;
  readonly rawBucket: string;
  readonly artifactsBucket: string;
  readonly busName: string;
  readonly settings: FeedbackExportSettings;
  /** Pending verdicts a run reads at most. @default MAX_VERDICTS_PER_RUN */
  readonly maxVerdicts?: number;
  /** The export's time when no verdict gives one. @default () => new Date() */
  readonly now?: () => Date;
}

/** What a run did. */
export interface ExportResult {
  /** Whether the run made an export: wrote its files (those with records) and marked the verdicts used. */
  readonly exported: boolean;
  readonly exportId?: string;
  /** New pairs found (never exported before), exported or not. */
  readonly pairs: number;
  /** New unpaired (KTO) records found. */
  readonly unpaired: number;
  /** New held-out prompts found. */
  readonly heldOut: number;
  /** Pending verdicts the run read. */
  readonly pending: number;
  /** What made nothing, by reason (`already_exported`: records an earlier export wrote). */
  readonly skipped: Readonly<Record<string, number>>;
}

/** A file of an export: where, and its lines. Written in the order of the export's list. */
interface ExportFile {
  readonly bucket: string;
  readonly key: (exportId: string) => string;
  readonly lines: readonly unknown[];
}

const jsonl = (lines: readonly unknown[]): string =>
  lines.map((line) => `${JSON.stringify(line)}\n`).join('');

/** Reads the pending verdicts, page by page, up to `max`; `more` says whether some were left unread. */
async function readPending(
  store: ExportDeps['feedback'],
  max: number,
): Promise<{ verdicts: StoredFeedback[]; more: boolean }> {
  const verdicts: StoredFeedback[] = [];
  let nextToken: string | undefined;
  do {
    const page = await store.pending({
      limit: Math.min(PENDING_PAGE, max - verdicts.length),
      ...(nextToken === undefined ? {} : { nextToken }),
    });
    verdicts.push(...page.items);
    nextToken = page.nextToken;
  } while (nextToken !== undefined && verdicts.length < max);
  return { verdicts, more: nextToken !== undefined };
}

function isPreconditionFailed(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412;
}

/** What a key holds: nothing, these bytes (a retried run wrote them), or other bytes (another export's). */
async function held(
  s3: S3Client,
  bucket: string,
  key: string,
  body: string,
): Promise<'absent' | 'same' | 'other'> {
  if ((await headObject(s3, { bucket, key })) === undefined) return 'absent';
  return (await readText(s3, bucket, key)) === body ? 'same' : 'other';
}

/**
 * Puts an object unless its key exists: `written`, or `present` when the key already holds these bytes
 * (a retried run), or `conflict` when it holds others.
 */
async function putOnce(
  s3: S3Client,
  bucket: string,
  key: string,
  body: string,
): Promise<'written' | 'present' | 'conflict'> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: 'application/x-ndjson',
        IfNoneMatch: '*',
      }),
    );
    return 'written';
  } catch (error) {
    if ((error as { name?: string }).name === 'ConditionalRequestConflict') {
      throw new TransientError(`s3://${bucket}/${key} is being written by another request`, { cause: error });
    }
    if (!isPreconditionFailed(error)) throw error;
  }
  return (await readText(s3, bucket, key)) === body ? 'present' : 'conflict';
}

/** The time of the newest verdict change, to the second; `fallback` when none parses. */
function newestChange(verdicts: readonly StoredFeedback[], fallback: () => Date): number {
  let newest = Number.NaN;
  for (const verdict of verdicts) {
    const at = Date.parse(verdict.updatedAt);
    if (!Number.isNaN(at) && (Number.isNaN(newest) || at > newest)) newest = at;
  }
  const at = Number.isNaN(newest) ? fallback().getTime() : newest;
  return Math.floor(at / 1000) * 1000;
}

/**
 * Writes the files, in order, under the first export id, from the newest verdict change on, whose keys
 * are each absent or already hold the same bytes: every key is looked at before anything is written, so
 * that no file is left under an id another export holds. Returns that id.
 */
async function writeFiles(deps: ExportDeps, files: readonly ExportFile[], base: number): Promise<string> {
  const { datasetName } = deps.settings;
  const bodies = files.map((file) => jsonl(file.lines));
  for (let shift = 0; shift < MAX_ID_SHIFTS; shift++) {
    const exportId = exportIdOf(datasetName, new Date(base + shift * 1000));
    const holds: ('absent' | 'same' | 'other')[] = [];
    for (const [i, file] of files.entries()) {
      holds.push(await held(deps.s3, file.bucket, file.key(exportId), bodies[i] as string));
    }
    if (holds.includes('other')) {
      logger.warn('Export id taken by another export: moving on a second', { exportId });
      continue;
    }
    for (const [i, file] of files.entries()) {
      if (holds[i] === 'same') continue;
      const key = file.key(exportId);
      // Written since the look: another run of the same export (the same bytes), or another export.
      if ((await putOnce(deps.s3, file.bucket, key, bodies[i] as string)) === 'conflict') {
        throw new ConflictError(`s3://${file.bucket}/${key} holds another export's records`);
      }
    }
    return exportId;
  }
  throw new ConflictError(
    `No free export id in the ${MAX_ID_SHIFTS} seconds from ${exportIdOf(datasetName, new Date(base))}`,
  );
}

export function makeHandler(deps: ExportDeps) {
  const maxVerdicts = deps.maxVerdicts ?? MAX_VERDICTS_PER_RUN;
  const now = deps.now ?? (() => new Date());
  const { settings } = deps;

  return async (_event?: unknown, _context?: Context): Promise<ExportResult> => {
    const { verdicts: pending, more } = await readPending(deps.feedback, maxVerdicts);
    if (pending.length === 0) {
      metrics.addMetric('FeedbackPairsPending', 'Count', 0);
      metrics.addMetric('FeedbackExports', 'Count', 0);
      logger.info('No pending feedback');
      return { exported: false, pairs: 0, unpaired: 0, heldOut: 0, pending: 0, skipped: {} };
    }

    const hashes = [...new Set(pending.map((v) => v.promptHash))].sort();
    const siblings = await mapLimited(hashes, READ_CONCURRENCY, (hash) => deps.feedback.byPromptHash(hash));
    const verdicts = [...pending, ...siblings.flat()];
    const interactions = await deps.interactions.getMany(
      [...new Set(verdicts.map((v) => v.interactionId))].sort(),
    );
    const users = [...new Set(verdicts.map((v) => v.user))].sort();
    const labels = await mapLimited(users, READ_CONCURRENCY, (user) =>
      deps.evaluations.calibrationLabels(annotatorRubric(user)),
    );
    const annotators = splitAnnotators(
      users,
      new Map<string, readonly CalibrationLabel[]>(users.map((user, i) => [user, labels[i] ?? []])),
      settings.annotatorAgreement,
    );
    const built = buildFeedbackRecords({
      verdicts,
      interactions,
      excluded: new Set(annotators.excluded.map((a) => a.user)),
      holdOutShare: settings.holdOutShare,
    });

    const fresh = await newRecords(deps.feedback, built);
    const skipped = { ...built.skipped, ...(fresh.already > 0 ? { already_exported: fresh.already } : {}) };
    const counts = {
      pairs: fresh.pairs.length,
      unpaired: fresh.unpaired.length,
      heldOut: fresh.heldOut.length,
      pending: pending.length,
    };
    metrics.addMetric('FeedbackPairsPending', 'Count', counts.pairs);
    // Who was left out, as pseudonyms: user ids may be e-mail addresses, and logs and the bus (with its
    // archive) keep what they are given. An operator matches a pseudonym against the feedback table.
    const excluded = annotators.excluded.map((a) => ({ ...a, user: annotatorPseudonym(a.user) }));
    const log = {
      ...counts,
      more,
      threshold: settings.pairThreshold,
      skipped,
      excluded,
    };

    if (counts.pairs < settings.pairThreshold && !more) {
      metrics.addMetric('FeedbackExports', 'Count', 0);
      logger.info('Feedback below the export threshold: nothing written', log);
      return { exported: false, ...counts, skipped };
    }

    const { datasetName } = settings;
    const pairsFile: ExportFile = {
      bucket: deps.rawBucket,
      key: (id: string) => feedbackExportKeys.pairs(datasetName, id),
      // DataPrep's preference record: no id (its schema is closed), provenance in metadata.
      lines: fresh.pairs.map(({ prompt, chosen, rejected, metadata }) => ({
        prompt,
        chosen,
        rejected,
        metadata,
      })),
    };
    const unpairedFile: ExportFile = {
      bucket: deps.artifactsBucket,
      key: feedbackExportKeys.unpaired,
      lines: fresh.unpaired,
    };
    const heldOutFile: ExportFile = {
      bucket: deps.rawBucket,
      key: (id: string) => feedbackExportKeys.heldOut(datasetName, id),
      lines: fresh.heldOut,
    };
    // The pairs last: their DataPrep run leads to training, and the candidate trained on them is judged
    // on the held-out suite only once a version of it is registered.
    const written = [heldOutFile, unpairedFile, pairsFile].filter((file) => file.lines.length > 0);
    const exportId = await writeFiles(deps, written, newestChange(built.verdicts, now));
    logger.appendKeys({ exportId });

    const used: ExportedFeedback[] = built.verdicts.map(({ interactionId, user, updatedAt }) => ({
      interactionId,
      user,
      updatedAt,
    }));
    const recordIds = [...fresh.pairs, ...fresh.unpaired, ...fresh.heldOut].map((r) => r.id);
    await deps.feedback.markExported(exportId, recordIds, used);

    if (counts.pairs > 0) {
      const where = (file: ExportFile) => ({ bucket: file.bucket, key: file.key(exportId) });
      const detail: FeedbackThresholdReachedDetail = {
        schemaVersion: SCHEMA_VERSION,
        exportId,
        pairs: counts.pairs,
        threshold: settings.pairThreshold,
        location: where(pairsFile),
        unpaired: { records: counts.unpaired, location: counts.unpaired > 0 ? where(unpairedFile) : null },
        heldOut: { prompts: counts.heldOut, location: counts.heldOut > 0 ? where(heldOutFile) : null },
        annotators: { included: annotators.included.length, excluded },
      };
      await publishEvent(deps.events, {
        busName: deps.busName,
        source: LLMOPS_SOURCE,
        detailType: FEEDBACK_THRESHOLD_REACHED,
        schema: feedbackThresholdReachedDetail,
        detail,
      });
    }
    metrics.addMetric('FeedbackExports', 'Count', 1);
    logger.info(
      counts.pairs >= settings.pairThreshold
        ? 'Feedback exported'
        : 'Feedback exported below the threshold: more is pending than one run reads',
      { ...log, files: written.map((file) => file.key(exportId)), verdictsUsed: used.length },
    );
    return { exported: true, exportId, ...counts, skipped };
  };
}

/** The built records no export wrote yet, and how many an earlier one did. */
async function newRecords(store: ExportDeps['feedback'], built: FeedbackRecords) {
  const ids = [...built.pairs, ...built.unpaired, ...built.heldOut].map((r) => r.id);
  const done = ids.length === 0 ? new Set<string>() : await store.exportedIds(ids);
  const fresh = <T extends { readonly id: string }>(records: readonly T[]) =>
    records.filter((r) => !done.has(r.id));
  return {
    pairs: fresh(built.pairs),
    unpaired: fresh(built.unpaired),
    heldOut: fresh(built.heldOut),
    already: ids.filter((id) => done.has(id)).length,
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = {
  FEEDBACK_TABLE: envVar.string(),
  /** The feedback table's index of pending verdicts. */
  FEEDBACK_INDEX: envVar.string(),
  INTERACTIONS_TABLE: envVar.string(),
  /** The annotators' calibration pairs (the reviewers' labels of their feedback). */
  EVALUATIONS_TABLE: envVar.string(),
  RAW_BUCKET: envVar.string(),
  ARTIFACTS_BUCKET: envVar.string(),
  EVENT_BUS_NAME: envVar.string(),
  /** JSON {@link feedbackExportSettings}. */
  FEEDBACK_EXPORT: envVar.string(),
};

const config = readConfig(environment);
const documents = createDocumentClient();

export const handler = withObservability(
  makeHandler({
    feedback: new DynamoFeedbackStore(documents, config.FEEDBACK_TABLE, { index: config.FEEDBACK_INDEX }),
    interactions: new DynamoInteractionStore(documents, config.INTERACTIONS_TABLE),
    evaluations: new DynamoEvaluationStore(documents, config.EVALUATIONS_TABLE),
    s3: createS3Client(),
    events: createEventBridgeClient(),
    rawBucket: config.RAW_BUCKET,
    artifactsBucket: config.ARTIFACTS_BUCKET,
    busName: config.EVENT_BUS_NAME,
    settings: parseExportSettings(config.FEEDBACK_EXPORT),
  }),
);
