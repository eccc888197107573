import { gzipSync } from 'node:zlib';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import type { DriftStore } from '#aws/drift/drift-store.ts';
import type { DriftBaseline, DriftWindowResult } from '#contracts/drift/baseline.ts';
import type { DriftRecord } from '#core/drift/check.ts';
import type { InteractionRecordedDetail } from '#events/interaction-recorded.ts';
import type { DriftPolicy } from '#functions/drift/shared.ts';

/**
 * Fakes of the drift step tests: S3 as a map of objects (bytes, content type, last-modified time) behind
 * `aws-sdk-client-mock`, listing by prefix in key order a page of `pageSize` at a time; the drift store
 * port in memory, with the port's rules (versions only grow, a window is recorded once); and builders of
 * interaction records and events.
 */
export function memoryS3(options: { pageSize?: number } = {}) {
  const mock = mockClient(S3Client);
  const objects = new Map<string, { body: Uint8Array; contentType?: string; lastModified: Date }>();
  const at = (bucket: string | undefined, key: string | undefined) => `${bucket}/${key}`;
  const pageSize = options.pageSize ?? 1000;
  const install = () => {
    mock.reset();
    objects.clear();
    mock.on(PutObjectCommand).callsFake((input) => {
      const body = input.Body;
      objects.set(at(input.Bucket, input.Key), {
        body: typeof body === 'string' ? new TextEncoder().encode(body) : (body as Uint8Array),
        ...(input.ContentType ? { contentType: input.ContentType } : {}),
        lastModified: new Date(),
      });
      return {};
    });
    mock.on(GetObjectCommand).callsFake((input) => {
      const object = objects.get(at(input.Bucket, input.Key));
      if (!object) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
      return {
        LastModified: object.lastModified,
        Body: {
          transformToByteArray: async () => object.body,
          transformToString: async () => new TextDecoder().decode(object.body),
        },
      };
    });
    mock.on(ListObjectsV2Command).callsFake((input) => {
      const bucket = `${input.Bucket}/`;
      const keys = [...objects.keys()]
        .filter((k) => k.startsWith(`${bucket}${input.Prefix ?? ''}`))
        .map((k) => k.slice(bucket.length))
        .sort();
      const from = input.ContinuationToken === undefined ? 0 : Number(input.ContinuationToken);
      const page = keys.slice(from, from + pageSize);
      const more = from + pageSize < keys.length;
      return {
        Contents: page.map((Key) => ({
          Key,
          LastModified: objects.get(at(input.Bucket, Key))?.lastModified,
        })),
        KeyCount: page.length,
        IsTruncated: more,
        ...(more ? { NextContinuationToken: String(from + pageSize) } : {}),
      };
    });
  };
  const get = (bucket: string, key: string) => {
    const object = objects.get(at(bucket, key));
    if (!object) throw new Error(`no object s3://${bucket}/${key}`);
    return object;
  };
  return {
    mock,
    objects,
    install,
    client: new S3Client({ region: 'us-east-1' }),
    put: (bucket: string, key: string, body: string | Uint8Array, lastModified = new Date()) =>
      objects.set(at(bucket, key), {
        body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
        lastModified,
      }),
    has: (bucket: string, key: string) => objects.has(at(bucket, key)),
    text: (bucket: string, key: string): string => new TextDecoder().decode(get(bucket, key).body),
    contentType: (bucket: string, key: string) => get(bucket, key).contentType,
    keys: () => [...objects.keys()].sort(),
  };
}

/** Puts interaction records as one GZIP JSON-lines object of the log, as Firehose delivers them. */
export function putLog(
  s3: ReturnType<typeof memoryS3>,
  bucket: string,
  key: string,
  records: readonly unknown[],
  lastModified: Date,
): void {
  s3.put(bucket, key, gzipSync(records.map((r) => `${JSON.stringify(r)}\n`).join('')), lastModified);
}

/** The drift store port in memory. */
export class FakeDriftStore implements DriftStore {
  readonly baselines: DriftBaseline[] = [];
  readonly windows = new Map<string, DriftWindowResult>();
  readonly calls: string[] = [];

  async createBaseline(baseline: Omit<DriftBaseline, 'version'>): Promise<DriftBaseline> {
    this.calls.push('createBaseline');
    const version = this.baselines.filter((b) => b.check === baseline.check).length + 1;
    const created = { ...baseline, version };
    this.baselines.push(created);
    return created;
  }

  async getBaseline(check: string, version?: number): Promise<DriftBaseline | undefined> {
    return this.baselines
      .filter((b) => b.check === check && (version === undefined || b.version === version))
      .sort((a, b) => b.version - a.version)[0];
  }

  async recordWindow(result: DriftWindowResult): Promise<'created' | 'exists'> {
    this.calls.push('recordWindow');
    const key = `${result.check}#${result.window.end}`;
    if (this.windows.has(key)) return 'exists';
    this.windows.set(key, result);
    return 'created';
  }

  async getWindow(check: string, end: string): Promise<DriftWindowResult | undefined> {
    return this.windows.get(`${check}#${end}`);
  }

  async recentWindows(check: string, limit: number): Promise<DriftWindowResult[]> {
    return [...this.windows.values()]
      .filter((w) => w.check === check)
      .sort((a, b) => (a.window.end < b.window.end ? 1 : -1))
      .slice(0, limit);
  }
}

/** The policy of the dev profile (as `test/support/env/drift.ts` sets it). */
export const TEST_POLICY: DriftPolicy = {
  alpha: 0.05,
  datapointsToAlarm: 2,
  evaluationPeriods: 2,
  cadenceMinutes: 360,
  effect: 0.5,
  power: 0.8,
  permutations: 200,
  maxWindowRecords: 500,
};

/** A sampled, answered call of app `web` with prompt `support`; each test overrides what it is about. */
export function interaction(
  n: number,
  question: string,
  overrides: Partial<InteractionRecordedDetail> = {},
): InteractionRecordedDetail {
  return {
    schemaVersion: '1.0',
    interactionId: `call-${n}`,
    occurredAt: '2026-12-01T08:00:00.000Z',
    requestId: `req-${n}`,
    app: 'web',
    tenant: null,
    route: 'chat',
    stream: false,
    prompt: { name: 'support', version: 3, ref: 'support:3' },
    model: { id: 'nova-lite', provider: 'offline', modelId: 'offline.nova-lite' },
    usage: { inputTokens: 20, outputTokens: 10, costUsd: 0.0001 },
    latencyMs: 120,
    modelLatencyMs: 100,
    status: 'ok',
    errorCode: null,
    stopReason: 'end_turn',
    guardrail: null,
    payload: {
      system: null,
      messages: [{ role: 'user', content: { text: question, truncated: false } }],
      answer: { text: `Answer to: ${question}`, truncated: false },
      redactions: {},
    },
    ...overrides,
  };
}

/** An `llmops.DriftCheckRequested` event with this detail (schema version added). */
export function driftCheckRequested(detail: Record<string, unknown>) {
  return {
    version: '0',
    id: 'event-1',
    'detail-type': 'llmops.DriftCheckRequested',
    source: 'llmops',
    account: '111122223333',
    time: '2026-12-01T12:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: { schemaVersion: '1.0', check: 'support', requestedBy: 'schedule:drift-support', ...detail },
  };
}

/** Reads a JSON-lines corpus of drift records (`corpus/drift/*.jsonl`). */
export async function corpus(name: string): Promise<DriftRecord[]> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(new URL(`../../../../corpus/drift/${name}`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as DriftRecord);
}
