import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetRegistry } from '#aws/dataset-registry.ts';
import { datasetReadyDetail } from '#events/dataset-ready.ts';
import { pipelineFailedDetail } from '#events/pipeline-failed.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';
import { generateDataset } from '../../bench/generate.ts';

/**
 * The synthesized DataPrep state machine, run by aws-local-stepfunctions against the real handler
 * modules, with real SDK clients talking to dynalite and s3rver on 127.0.0.1. Parts are 5 MiB so that
 * multi-part behaviour shows on small files.
 */
let stack: LocalRunner;
let raw: string;
let curated: string;
let artifacts: string;
let bus: string;
let registry: DatasetRegistry;

beforeAll(async () => {
  stack = await LocalRunner.start({ context: { dataPrepPartSizeMiB: 5 } });
  raw = stack.output('RawBucketName');
  curated = stack.output('CuratedBucketName');
  artifacts = stack.template.buckets().find((b) => b.logicalId.startsWith('StorageArtifacts'))?.name ?? '';
  bus = stack.output('EventBusName');
  const tableName = stack.template.tables()[0]?.TableName ?? '';
  registry = new DatasetRegistry(DynamoDBDocumentClient.from(stack.dynamo), tableName);
});

afterAll(async () => {
  await stack?.stop();
});

async function upload(key: string, body: string | Buffer): Promise<void> {
  await stack.s3.send(new PutObjectCommand({ Bucket: raw, Key: key, Body: body }));
  await stack.idle();
}

async function text(bucket: string, key: string): Promise<string> {
  const response = await stack.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await response.Body?.transformToString('utf8')) ?? '';
}

async function keysOf(bucket: string, prefix: string): Promise<string[]> {
  const listed = await stack.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '');
}

/** Whether the synthesized role of the function with this entry may make an S3 object request. */
async function mayAccess(entry: string, action: string, bucket: string, key: string): Promise<boolean> {
  const fn = stack.template.lambdaFunctions().find((f) => f.entry === entry);
  if (!fn || !stack.iam) throw new Error(`no function ${entry}, or IAM is not evaluated`);
  const decision = await stack.iam.evaluate(fn.logicalId, {
    action,
    resource: `arn:${stack.template.partition}:s3:::${bucket}/${key}`,
    context: {},
  });
  return decision.allowed;
}

/** Functions that read curated data (or the API that serves what was built from it). */
const CURATED_READERS = ['functions/rag/plan.ts', 'functions/dataprep/register.ts', 'functions/api/rag.ts'];

const eventsOf = (detailType: string, key: string) =>
  stack.events.filter(
    (e) => e.event['detail-type'] === detailType && JSON.stringify(e.event.detail).includes(`"key":"${key}"`),
  );

const executionsFor = (key: string) =>
  stack.deliveries.filter(
    (d) => (d.execution?.input as { detail?: { object?: { key?: string } } })?.detail?.object?.key === key,
  );

/** Delivers the first "Object Created" event of a key again (at-least-once delivery, archive replay). */
async function redeliver(key: string, id: string): Promise<void> {
  const original = stack.events.find(
    (e) =>
      e.event['detail-type'] === 'Object Created' &&
      JSON.stringify(e.event.detail).includes(`"key":"${key}"`),
  );
  if (!original) throw new Error(`no Object Created event was routed for ${key}`);
  stack.publish(original.bus, { ...original.event, id });
  await stack.idle();
}

const chat = (user: string, assistant: string) =>
  JSON.stringify({
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: assistant },
    ],
  });

describe('DataPrep on the emulators', () => {
  it('curates a good upload: redacted, deduplicated, split, registered and announced', async () => {
    const key = 'raw/finetune/support-chats.jsonl';
    const body = readFileSync(join(REPO_ROOT, 'infra/local/samples/support-chats.jsonl'));
    await upload(key, body);

    const [ready, ...more] = eventsOf('llmops.DatasetReady', key);
    expect(more).toHaveLength(0);
    expect(ready?.bus).toBe(bus);
    const detail = datasetReadyDetail.parse(ready?.event.detail);
    expect(detail).toMatchObject({ name: 'support-chats', purpose: 'finetune', version: 1 });
    expect(detail.counts).toMatchObject({ records: 23, blank: 1, quarantined: 4, duplicates: { exact: 2 } });
    expect(detail.counts.kept).toBe(
      detail.counts.records -
        detail.counts.quarantined -
        detail.counts.duplicates.exact -
        detail.counts.duplicates.near,
    );
    expect((detail.counts.splits.train ?? 0) + (detail.counts.splits.validation ?? 0)).toBe(
      detail.counts.kept,
    );

    const curatedText =
      (await text(curated, detail.files.train?.key ?? '')) +
      (await text(curated, detail.files.validation?.key ?? ''));
    expect(curatedText).toContain('[EMAIL]');
    expect(curatedText).toContain('[CREDIT_CARD]');
    expect(curatedText).not.toContain('jane.doe@example.com');
    expect(curatedText).not.toContain('4111 1111 1111 1111');
    expect(curatedText).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(curatedText).toContain('2024-01-15'); // a date is not a phone number
    expect(curatedText.trim().split('\n')).toHaveLength(detail.counts.kept);

    const manifest = JSON.parse(await text(detail.manifest.bucket, detail.manifest.key));
    expect(manifest).toMatchObject({
      status: 'READY',
      contentHash: detail.contentHash,
      source: { bucket: raw, key, etag: expect.stringMatching(/^[0-9a-f]{32}$/) },
      tokens: { tokenizer: 'o200k_base', records: detail.counts.kept },
    });
    expect(manifest.redactions).toMatchObject({ EMAIL: 2, CREDIT_CARD: 1, AWS_ACCESS_KEY: 1 });

    // The quarantined lines (unredacted) are no file of the dataset: they are kept apart, under quarantine/
    // in the artifacts bucket, where no reader of curated data can read them, and expire.
    expect(Object.keys(detail.files).sort()).toEqual(['train', 'validation']);
    expect(Object.keys(manifest.files).sort()).toEqual(['train', 'validation']);
    const quarantineKey = 'quarantine/dataprep/datasets/finetune/support-chats/v000001/quarantine.jsonl';
    expect(manifest.quarantine).toMatchObject({
      byCode: { INVALID_JSON: 1, SCHEMA: 1, EMPTY_TEXT: 1, NOT_AN_OBJECT: 1 },
      file: { bucket: artifacts, key: quarantineKey, records: 4 },
      unredacted: true,
      expiresAfterDays: 7,
    });
    expect((await keysOf(curated, 'datasets/')).filter((k) => k.includes('quarantine'))).toEqual([]);
    expect(await mayAccess('functions/dataprep/finalize.ts', 's3:PutObject', artifacts, quarantineKey)).toBe(
      true,
    );
    // Register reads no object at all; RagIngest Plan reads curated rag datasets (so the check below is
    // not vacuous), not the quarantine.
    expect(
      await mayAccess('functions/dataprep/register.ts', 's3:GetObject', curated, detail.manifest.key),
    ).toBe(false);
    expect(
      await mayAccess(
        'functions/rag/plan.ts',
        's3:GetObject',
        curated,
        'datasets/rag/faq/v000001/train.jsonl',
      ),
    ).toBe(true);
    for (const entry of [...CURATED_READERS, 'functions/dataprep/finalize.ts']) {
      expect(await mayAccess(entry, 's3:GetObject', artifacts, quarantineKey), entry).toBe(false);
    }
    const quarantine = (await text(artifacts, quarantineKey))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(quarantine.map((q) => [q.line, q.code])).toEqual([
      [21, 'INVALID_JSON'],
      [22, 'SCHEMA'],
      [23, 'EMPTY_TEXT'],
      [24, 'NOT_AN_OBJECT'],
    ]);
    // The quarantined line is kept exactly as uploaded.
    const lines = body
      .toString('utf8')
      .replace(/^\uFEFF/, '')
      .split('\r\n');
    expect(quarantine[0].raw).toBe(lines[20]);

    const versions = await registry.listVersions('finetune', 'support-chats');
    expect(versions.map((v) => v.version)).toEqual([1]);
    expect(versions[0]).toMatchObject({ contentHash: detail.contentHash, source: { key } });
    expect((await registry.listByPurpose('finetune')).map((v) => v.name)).toContain('support-chats');
    // Raw data is never modified.
    const stored = await stack.s3.send(new GetObjectCommand({ Bucket: raw, Key: key }));
    expect(Buffer.from((await stored.Body?.transformToByteArray()) ?? [])).toEqual(body);
  });

  it('a redelivered event changes nothing', async () => {
    const key = 'raw/finetune/support-chats.jsonl';
    await redeliver(key, 'replayed-from-archive');
    const runs = executionsFor(key);
    expect(runs).toHaveLength(2);
    expect(runs[1]?.execution?.status).toBe('SUCCEEDED');
    expect(runs[1]?.execution?.output).toMatchObject({
      status: 'DUPLICATE',
      existing: { version: 1, state: 'REGISTERED' },
    });
    expect(eventsOf('llmops.DatasetReady', key)).toHaveLength(1);
    expect((await registry.listVersions('finetune', 'support-chats')).map((v) => v.version)).toEqual([1]);
  });

  it('new content under the same key becomes the next immutable version', async () => {
    const key = 'raw/finetune/support-chats.jsonl';
    await upload(
      key,
      `${chat('What is a dataset version?', 'An immutable, registered snapshot of curated records.')}\n`,
    );
    const ready = eventsOf('llmops.DatasetReady', key);
    expect(ready).toHaveLength(2);
    expect(datasetReadyDetail.parse(ready[1]?.event.detail)).toMatchObject({
      version: 2,
      counts: { kept: 1 },
    });
    const versions = await registry.listVersions('finetune', 'support-chats');
    expect(versions.map((v) => v.version)).toEqual([1, 2]);
    expect(versions[0]?.contentHash).not.toBe(versions[1]?.contentHash);
  });

  it('fails clearly, pages and keeps the quarantine when no line is valid', async () => {
    const key = 'raw/preference/broken.jsonl';
    await upload(key, '{"prompt": "only"}\nnot json\n\n{"prompt":"a","chosen":"same","rejected":"same"}\n');
    const [run] = executionsFor(key);
    expect(run?.execution).toMatchObject({ status: 'FAILED', error: 'NoValidRecordsError' });
    const [failed] = eventsOf('llmops.PipelineFailed', key);
    expect(failed?.bus).toBe(bus);
    const detail = pipelineFailedDetail.parse(failed?.event.detail);
    expect(detail).toMatchObject({
      status: 'FAILED',
      error: 'NoValidRecordsError',
      inputReference: { bucket: raw, key },
    });
    expect(detail.cause).toMatch(/has no valid record: 3 line\(s\) quarantined/);
    const quarantineKey = 'quarantine/dataprep/datasets/preference/broken/v000001/quarantine.jsonl';
    expect(detail.cause).toContain(`s3://${artifacts}/${quarantineKey}`);
    const quarantine = (await text(artifacts, quarantineKey))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(quarantine.map((q) => [q.line, q.code])).toEqual([
      [1, 'SCHEMA'],
      [2, 'INVALID_JSON'],
      [4, 'SCHEMA'],
    ]);
    expect(await registry.listVersions('preference', 'broken')).toEqual([]);
    expect(eventsOf('llmops.DatasetReady', key)).toHaveLength(0);

    // The failed run released its claim: a redelivery of the same upload is processed again (and fails
    // the same way), rather than being taken for a run still in progress.
    await redeliver(key, 'redelivered');
    const runs = executionsFor(key);
    expect(runs).toHaveLength(2);
    expect(runs[1]?.execution).toMatchObject({ status: 'FAILED', error: 'NoValidRecordsError' });
    expect(eventsOf('llmops.PipelineFailed', key)).toHaveLength(2);
  });

  it('rejects an object outside the known purposes with a named error', async () => {
    const key = 'raw/training/data.jsonl';
    await upload(key, `${chat('a', 'b')}\n`);
    const [run] = executionsFor(key);
    expect(run?.execution).toMatchObject({ status: 'FAILED', error: 'InvalidDatasetError' });
    const cause = JSON.parse(run?.execution?.cause ?? '{}') as { errorType?: string; errorMessage?: string };
    expect(cause).toMatchObject({ errorType: 'InvalidDatasetError' });
    expect(cause.errorMessage).toContain('unknown purpose "training"');
    expect(eventsOf('llmops.PipelineFailed', key)).toHaveLength(1);
  });

  it('processes byte ranges in parallel parts with absolute line numbers and cross-part dedupe', async () => {
    // Golden (evaluation) records: a rag dataset would go on to RagIngest, which is not under test here.
    const key = 'raw/golden/multipart.jsonl';
    const lines: string[] = [];
    const filler =
      'Lambda scales each function by running more execution environments as requests arrive. '.repeat(4);
    for (let i = 0, size = 0; size < 12 * 1024 * 1024; i++) {
      lines.push(
        JSON.stringify({ id: `item-${i}`, input: `Question ${i}. ${filler} Unique marker ${i * 7919}.` }),
      );
      size += (lines[i]?.length ?? 0) + 1;
    }
    const badAt = [Math.floor(lines.length / 2), lines.length - 1]; // near the middle part and the very end
    for (const at of badAt) lines[at] = '{"id": "broken"';
    lines.push(lines[10] ?? ''); // an exact duplicate of a record in the first part, at the end of the last
    await upload(key, `${lines.join('\n')}\n`);

    const [run] = executionsFor(key);
    expect(run?.execution?.status).toBe('SUCCEEDED');
    const [ready] = eventsOf('llmops.DatasetReady', key);
    const detail = datasetReadyDetail.parse(ready?.event.detail);
    expect(detail.counts).toMatchObject({ records: lines.length, quarantined: 2, duplicates: { exact: 1 } });
    const manifest = JSON.parse(await text(detail.manifest.bucket, detail.manifest.key));
    expect(manifest.pipeline.parts).toBe(3);
    const quarantine = (await text(artifacts, manifest.quarantine.file.key))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(quarantine.map((q) => q.line)).toEqual(badAt.map((at) => at + 1));
  });

  it('prepares a 100 MB multipart upload with bounded memory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmops-100mb-'));
    try {
      const file = join(dir, 'big.jsonl');
      const { records } = await generateDataset(file, 100 * 1000 * 1000, 7);
      const key = 'raw/finetune/big.jsonl';
      await new Upload({
        client: stack.s3,
        params: { Bucket: raw, Key: key, Body: createReadStream(file) },
        partSize: 16 * 1024 * 1024,
        queueSize: 2,
      }).done();
      global.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 25);
      await stack.idle();
      clearInterval(sampler);
      const [ready] = eventsOf('llmops.DatasetReady', key);
      const detail = datasetReadyDetail.parse(ready?.event.detail);
      const c = detail.counts;
      expect(c.records).toBe(records);
      expect(c.kept + c.quarantined + c.duplicates.exact + c.duplicates.near).toBe(records);
      expect(c.duplicates.exact).toBeGreaterThan(records * 0.02);
      expect(c.duplicates.near).toBeGreaterThan(0);
      const growthMb = (peak - baseline) / 1024 / 1024;
      console.info(
        `100 MB upload (${statSync(file).size} bytes, ${records} records): RSS growth ${growthMb.toFixed(0)} MB`,
      );
      // Streaming keeps growth to the dedupe index (~300 bytes per unique record, ~45 MB here), write
      // buffers and GC slack (80-130 MB seen, with the emulators in this process). Reading the object
      // whole would cost at least 300 MB: a 100 MB Buffer plus its 200 MB UTF-16 string.
      expect(growthMb).toBeLessThan(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
