import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layout } from '#contracts/pipelines/dataprep.ts';
import { mapRunManifest } from '#contracts/pipelines/map-run.ts';
import { ragLayout } from '#contracts/pipelines/rag-ingest.ts';
import { datasetReadyDetail } from '#events/dataset-ready.ts';
import { LocalRunner } from '#infra/local/runner.ts';
import { withFunctionVariables } from '../support/map-run.ts';

/**
 * Runs past the inline Map's limits, on the emulators: the synthesized DataPrep and RagIngest state
 * machines, with parts and batches made tiny (in the template, as a deployment with such settings would
 * have them) so that a small upload has more parts than the inline Map's 256 and a small dataset more
 * batches than its 500. Each part and each batch is a child execution of the Distributed Map; the Map
 * Run writes its results to S3, and Finalize and Finish read them back.
 */
let stack: LocalRunner;
let raw: string;
let artifacts: string;

beforeAll(async () => {
  stack = await LocalRunner.start({
    editTemplate: (template) => {
      // 1 KiB parts (the smallest the function accepts; the profile's floor is 5 MiB) and one document per batch.
      withFunctionVariables(template, 'functions/dataprep/plan.ts', { PART_SIZE_BYTES: '1024' });
      withFunctionVariables(template, 'functions/rag/plan.ts', { DOCUMENT_BATCH_SIZE: '1' });
      return template;
    },
  });
  raw = stack.output('RawBucketName');
  artifacts = stack.template.buckets().find((b) => b.logicalId.startsWith('StorageArtifacts'))?.name ?? '';
});

afterAll(async () => {
  await stack?.stop();
});

/** The children of the Map Runs under `prefix`, from the manifests and result files in S3, by status. */
async function mapRunChildren(prefix: string): Promise<{ runs: number; byStatus: Record<string, number> }> {
  const listed = await stack.s3.send(new ListObjectsV2Command({ Bucket: artifacts, Prefix: `${prefix}/` }));
  const manifests = (listed.Contents ?? []).filter((o) => o.Key?.endsWith('/manifest.json'));
  const byStatus: Record<string, number> = {};
  for (const { Key } of manifests) {
    const text = await (
      await stack.s3.send(new GetObjectCommand({ Bucket: artifacts, Key }))
    ).Body?.transformToString();
    const manifest = mapRunManifest.parse(JSON.parse(text ?? '{}'));
    for (const [status, files] of Object.entries(manifest.ResultFiles)) {
      for (const file of files) {
        const body = await stack.s3.send(new GetObjectCommand({ Bucket: artifacts, Key: file.Key }));
        const entries = JSON.parse((await body.Body?.transformToString()) ?? '[]') as unknown[];
        byStatus[status] = (byStatus[status] ?? 0) + entries.length;
      }
    }
  }
  return { runs: manifests.length, byStatus };
}

const WORDS = (
  'lambda queue stream retry backoff batch window shard consumer producer timeout memory bucket object ' +
  'table index token model prompt answer vector chunk dataset alarm drift deploy canary rollback cost'
).split(' ');

/** About 540 bytes of words drawn for record `i` (no two records near duplicates of each other). */
function record(i: number): string {
  let seed = i + 1;
  const next = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return seed >>> 8;
  };
  const text = Array.from({ length: 76 }, () => WORDS[next() % WORDS.length]).join(' ');
  return JSON.stringify({ id: `r${String(i).padStart(4, '0')}`, title: `Record ${i}`, text });
}
const RECORDS = 510;

describe('Distributed Map runs past the inline Map limits', () => {
  it('DataPrep prepares an upload of more than 256 parts in one run, every record kept in order', async () => {
    // About 290 KB of records: more than 256 parts of 1 KiB.
    const records = Array.from({ length: RECORDS }, (_, i) => record(i));
    const body = `${records.join('\n')}\n`;
    expect(Math.ceil(body.length / 1024)).toBeGreaterThan(256);
    await stack.s3.send(new PutObjectCommand({ Bucket: raw, Key: 'raw/rag/many-parts.jsonl', Body: body }));
    await stack.idle();
    const dataPrep = stack.deliveries.filter((d) => d.execution?.stateMachineArn.includes('DataPrep'));
    expect(dataPrep.map((d) => d.execution?.status)).toEqual(['SUCCEEDED']);
    const parts = await mapRunChildren(layout.mapRunsPrefix);
    expect(parts.runs).toBe(1);
    expect(parts.byStatus).toEqual({ SUCCEEDED: Math.ceil(body.length / 1024) });
    const [ready] = stack.details<unknown>('llmops.DatasetReady').map((d) => datasetReadyDetail.parse(d));
    expect(ready?.counts).toMatchObject({ records: records.length, kept: records.length, quarantined: 0 });
    const data = ready?.files.data;
    const curated = await (
      await stack.s3.send(new GetObjectCommand({ Bucket: data?.bucket, Key: data?.key }))
    ).Body?.transformToString();
    expect(
      curated
        ?.trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { id: string }).id),
    ).toEqual(records.map((r) => (JSON.parse(r) as { id: string }).id));
    // Waiting for idle also ran the RagIngest run its DatasetReady started: several hundred children.
  }, 600_000);

  it('RagIngest indexes the dataset in one run of more than 500 batches, reading every result back', async () => {
    const runs = stack.deliveries.filter((d) => d.execution?.stateMachineArn.includes('RagIngest'));
    expect(runs.map((d) => d.execution?.status)).toEqual(['SUCCEEDED']);
    expect(runs[0]?.execution?.output).toMatchObject({ indexed: RECORDS, failed: 0, superseded: 0 });
    const batches = await mapRunChildren(ragLayout.mapRunsPrefix);
    expect(batches).toEqual({ runs: 1, byStatus: { SUCCEEDED: RECORDS } });
    const indexed = stack.details<{ status: string }>('llmops.DocumentIndexed');
    expect(indexed.filter((d) => d.status === 'indexed')).toHaveLength(RECORDS);
  });
});
