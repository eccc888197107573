/**
 * DataPrep as the CLI shows it: files uploaded to the raw bucket (each upload starts the pipeline), then
 * what the pipeline made of each one read back from the events and the curated bucket (counts, splits,
 * redactions, tokens, quarantined lines, the manifest), printed, emitted as JSON or written to a folder.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { LocalRunner } from '../runner.ts';
import { progress } from './local-runner.ts';

/** A file to prepare, and the purpose it is prepared for. */
export interface Upload {
  readonly path: string;
  readonly purpose: string;
}

/** The contents of the uploads, read before the stack starts so that a missing file fails fast. */
export function readUploads(uploads: readonly Upload[]): Buffer[] {
  return uploads.map((u) => {
    try {
      return readFileSync(u.path);
    } catch (error) {
      throw new Error(`Cannot read ${u.path}: ${(error as Error).message}`);
    }
  });
}

/**
 * Uploads each file under `raw/<purpose>/<file name>` of the raw bucket and waits for its pipeline;
 * resolves to the source keys, in order.
 */
export async function uploadDatasets(
  stack: LocalRunner,
  uploads: readonly Upload[],
  bodies: readonly Buffer[],
): Promise<string[]> {
  const raw = stack.output('RawBucketName');
  const keys: string[] = [];
  for (const [i, upload] of uploads.entries()) {
    const key = `raw/${upload.purpose}/${basename(upload.path)}`;
    keys.push(key);
    progress(`Uploading ${basename(upload.path)} to s3://${raw}/${key}`);
    await stack.s3.send(new PutObjectCommand({ Bucket: raw, Key: key, Body: bodies[i] }));
    await stack.idle();
  }
  return keys;
}

/** A quarantined line of an upload, as the quarantine file records it. */
export interface QuarantinedLine {
  line: number;
  code: string;
  reason: string;
}

/** The summary of one upload, as printed (and as `--json` emits it). */
export interface DatasetSummary {
  status: 'READY' | 'FAILED' | 'DUPLICATE' | 'NOT_STARTED';
  source: { bucket: string; key: string };
  dataset?: { name: string; purpose: string; version: number };
  records?: number;
  blank?: number;
  kept?: number;
  quarantined?: number;
  duplicates?: { exact: number; near: number };
  splits?: Record<string, number>;
  redactions?: Record<string, number>;
  tokens?: Record<string, unknown>;
  quarantineReasons?: QuarantinedLine[];
  manifest?: string;
  event?: unknown;
  failure?: unknown;
  out?: string;
}

async function readObject(stack: LocalRunner, bucket: string, key: string): Promise<string | undefined> {
  try {
    const response = await stack.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await response.Body?.transformToString('utf8');
  } catch {
    return undefined;
  }
}

/** Finds the manifest a run wrote for a source key (also for rejected uploads, which register nothing). */
async function findManifest(
  stack: LocalRunner,
  curated: string,
  purpose: string,
  sourceKey: string,
): Promise<{ key: string; manifest: Record<string, unknown> } | undefined> {
  const listed = await stack.s3.send(
    new ListObjectsV2Command({ Bucket: curated, Prefix: `datasets/${purpose}/` }),
  );
  const keys = (listed.Contents ?? [])
    .map((o) => o.Key ?? '')
    .filter((k) => k.endsWith('/manifest.json'))
    .sort()
    .reverse();
  for (const key of keys) {
    const text = await readObject(stack, curated, key);
    const manifest = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    if ((manifest?.source as { key?: string } | undefined)?.key === sourceKey)
      return { key, manifest: manifest ?? {} };
  }
  return undefined;
}

/** What the pipeline made of the upload at `sourceKey`: its events, manifest and quarantine. */
export async function summarize(
  stack: LocalRunner,
  sourceKey: string,
  rawBucket: string,
): Promise<DatasetSummary> {
  const source = { bucket: rawBucket, key: sourceKey };
  const ready = stack.events.find(
    (e) =>
      e.event['detail-type'] === 'llmops.DatasetReady' &&
      (e.event.detail as { source?: { key?: string } }).source?.key === sourceKey,
  );
  const failed = stack.events.find(
    (e) =>
      e.event['detail-type'] === 'llmops.PipelineFailed' &&
      (e.event.detail as { inputReference?: { key?: string } | null }).inputReference?.key === sourceKey,
  );
  const execution = stack.deliveries.find(
    (d) =>
      (d.execution?.input as { detail?: { object?: { key?: string } } } | undefined)?.detail?.object?.key ===
      sourceKey,
  )?.execution;
  const curated = stack.output('CuratedBucketName');
  const purpose = sourceKey.split('/')[1] ?? '';
  const found = await findManifest(stack, curated, purpose, sourceKey);
  const summary: DatasetSummary = {
    status: ready ? 'READY' : failed ? 'FAILED' : execution ? 'DUPLICATE' : 'NOT_STARTED',
    source,
  };
  if (found) {
    const m = found.manifest as {
      dataset: { name: string; purpose: string; version: number };
      counts: {
        records: number;
        blank: number;
        kept: number;
        quarantined: number;
        duplicates: { exact: number; near: number };
        splits: Record<string, number>;
      };
      redactions: Record<string, number>;
      tokens: Record<string, unknown>;
      quarantine?: { file?: { bucket: string; key: string } | null };
    };
    Object.assign(summary, {
      dataset: m.dataset,
      ...m.counts,
      redactions: Object.fromEntries(Object.entries(m.redactions).filter(([, n]) => n > 0)),
      tokens: m.tokens,
      manifest: `s3://${curated}/${found.key}`,
    });
    // The quarantine is kept apart from the curated files (unredacted, for operators): the manifest says where.
    const quarantine = m.quarantine?.file;
    if (quarantine) {
      const text = (await readObject(stack, quarantine.bucket, quarantine.key)) ?? '';
      summary.quarantineReasons = text
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const entry = JSON.parse(line) as QuarantinedLine;
          return { line: entry.line, code: entry.code, reason: entry.reason };
        });
    }
  }
  if (ready) summary.event = ready.event;
  if (failed) summary.failure = failed.event.detail;
  return summary;
}

/**
 * Writes the manifest, every curated file it lists and the quarantine file (the original bad lines, PII
 * not redacted: the local run's operator is the one who asked for them) to `dir`.
 */
export async function writeOut(stack: LocalRunner, summary: DatasetSummary, dir: string): Promise<void> {
  if (!summary.manifest) return;
  mkdirSync(dir, { recursive: true });
  const [, , bucket = '', ...rest] = summary.manifest.split('/');
  const manifestText = (await readObject(stack, bucket, rest.join('/'))) ?? '{}';
  writeFileSync(join(dir, 'manifest.json'), manifestText);
  type Location = { bucket: string; key: string };
  const manifest = JSON.parse(manifestText) as {
    files?: Record<string, Location>;
    quarantine?: { file?: Location | null };
  };
  const files: Record<string, Location> = { ...manifest.files };
  if (manifest.quarantine?.file) files.quarantine = manifest.quarantine.file;
  for (const [name, location] of Object.entries(files)) {
    writeFileSync(join(dir, `${name}.jsonl`), (await readObject(stack, location.bucket, location.key)) ?? '');
  }
  summary.out = resolve(dir);
}

/** Prints a summary as the human-readable block of `npm start`. */
export function printSummary(summary: DatasetSummary): void {
  const name = summary.dataset
    ? `${summary.dataset.purpose}/${summary.dataset.name} v${summary.dataset.version}`
    : summary.source.key;
  console.log(`\n● ${name}  [${summary.status}]  from s3://${summary.source.bucket}/${summary.source.key}`);
  if (summary.records !== undefined) {
    const splits = Object.entries(summary.splits ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    console.log(
      `  records ${summary.records} (+${summary.blank} blank) → kept ${summary.kept} (${splits}), ` +
        `quarantined ${summary.quarantined}, duplicates ${summary.duplicates?.exact} exact + ${summary.duplicates?.near} near`,
    );
  }
  const redactions = Object.entries(summary.redactions ?? {});
  console.log(
    `  redactions: ${redactions.length ? redactions.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`,
  );
  if (summary.tokens) {
    const t = summary.tokens as {
      tokenizer?: string;
      total?: number;
      mean?: number;
      p95?: number;
      max?: number;
    };
    console.log(
      `  tokens (${t.tokenizer}): total ${t.total}, mean ${t.mean?.toFixed(1)}, p95 ${t.p95}, max ${t.max}`,
    );
  }
  for (const q of summary.quarantineReasons ?? [])
    console.log(`  quarantined line ${q.line}: ${q.code} — ${q.reason}`);
  if (summary.manifest) console.log(`  manifest: ${summary.manifest}`);
  if (summary.event) {
    const e = summary.event as {
      'detail-type': string;
      detail: { name: string; version: number; contentHash: string };
    };
    console.log(
      `  event: ${e['detail-type']} ${e.detail.name} v${e.detail.version} ${e.detail.contentHash.slice(0, 23)}…`,
    );
  }
  if (summary.failure) {
    const f = summary.failure as { error?: string; cause?: string };
    console.log(`  event: llmops.PipelineFailed ${f.error}: ${f.cause}`);
  }
  if (summary.out) console.log(`  written to ${summary.out}`);
}
