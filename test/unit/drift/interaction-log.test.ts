import { gzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from 'vitest';
import { deliveredAt, partitionsOf, readInteractions } from '#aws/drift/interaction-log.ts';
import { cpuMs } from '../../support/cpu-time.ts';
import { memoryS3 } from '../functions/drift/support.ts';

/** Two keys a page, to walk the listing's continuation. */
const s3 = memoryS3({ pageSize: 2 });
const BUCKET = 'artifacts';
/** Six hours across midnight. */
const WINDOW = { start: new Date('2026-12-01T21:00:00.000Z'), end: new Date('2026-12-02T03:00:00.000Z') };

const jsonl = (records: readonly unknown[]) => records.map((r) => `${JSON.stringify(r)}\n`).join('');
const listed = () => s3.mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.Prefix);
const read = () => s3.mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key);

describe('partitionsOf', () => {
  it('is every day from the window’s start to its end plus the delivery delay', () => {
    expect(partitionsOf(WINDOW, 20)).toEqual(['2026-12-01', '2026-12-02']);
    const evening = { start: new Date('2026-12-01T18:00:00Z'), end: new Date('2026-12-01T23:50:00Z') };
    expect(partitionsOf(evening, 0)).toEqual(['2026-12-01']);
    // Records of the last calls reach the log after midnight.
    expect(partitionsOf(evening, 20)).toEqual(['2026-12-01', '2026-12-02']);
    const month = { start: new Date('2026-11-29T00:00:00Z'), end: new Date('2026-12-02T00:00:00Z') };
    expect(partitionsOf(month, 0)).toEqual(['2026-11-29', '2026-11-30', '2026-12-01', '2026-12-02']);
  });
});

describe('readInteractions', () => {
  beforeEach(() => s3.install());

  it('reads the partitions of a window across midnight, GZIP or plain, in object then line order', async () => {
    const after = new Date('2026-12-01T21:30:00Z');
    s3.put(BUCKET, 'interactions/dt=2026-12-01/a.gz', gzipSync(jsonl([{ n: 1 }, { n: 2 }])), after);
    s3.put(BUCKET, 'interactions/dt=2026-12-01/b.json', jsonl([{ n: 3 }]), after);
    s3.put(BUCKET, 'interactions/dt=2026-12-01/c.gz', gzipSync(jsonl([{ n: 4 }])), after);
    s3.put(
      BUCKET,
      'interactions/dt=2026-12-02/a.gz',
      gzipSync(jsonl([{ n: 5 }, { n: 6 }])),
      new Date('2026-12-02T03:10:00Z'),
    );
    // Days outside the window (and the delay) are not listed.
    s3.put(BUCKET, 'interactions/dt=2026-11-30/a.gz', gzipSync(jsonl([{ n: 0 }])), after);
    s3.put(BUCKET, 'interactions/dt=2026-12-03/a.gz', gzipSync(jsonl([{ n: 7 }])), after);

    const out = await readInteractions(s3.client, BUCKET, WINDOW);
    expect(out).toEqual({
      records: [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }, { n: 6 }],
      objects: 4,
      unparsable: 0,
    });
    // Each day's listing walked to its end (three keys on two pages of two).
    expect(listed()).toEqual([
      'interactions/dt=2026-12-01/',
      'interactions/dt=2026-12-01/',
      'interactions/dt=2026-12-02/',
    ]);
    expect(s3.mock.commandCalls(ListObjectsV2Command)[1]?.args[0].input.ContinuationToken).toBe('2');
  });

  it('skips objects written before the window began', async () => {
    s3.put(
      BUCKET,
      'interactions/dt=2026-12-01/early.gz',
      gzipSync(jsonl([{ n: 'early' }])),
      new Date('2026-12-01T20:59:59Z'),
    );
    s3.put(BUCKET, 'interactions/dt=2026-12-01/edge.gz', gzipSync(jsonl([{ n: 'edge' }])), WINDOW.start);
    s3.put(
      BUCKET,
      'interactions/dt=2026-12-01/late.gz',
      gzipSync(jsonl([{ n: 'late' }])),
      new Date('2026-12-01T22:00:00Z'),
    );
    const out = await readInteractions(s3.client, BUCKET, WINDOW);
    expect(out.records).toEqual([{ n: 'edge' }, { n: 'late' }]);
    expect(out.objects).toBe(2);
    expect(read()).toEqual(['interactions/dt=2026-12-01/edge.gz', 'interactions/dt=2026-12-01/late.gz']);
  });

  it('reads only objects Firehose delivered while calls of the window could arrive, by the time in their key', async () => {
    // The window is 21:00 on 2026-12-01 to 03:00 on 2026-12-02; calls may arrive until 03:20.
    const key = (day: string, time: string) =>
      `interactions/dt=${day}/llmops-interactions-1-${day}-${time}-0f8e2d4c-1a2b-4c3d-8e9f-0123456789ab.gz`;
    const modified = new Date('2026-12-05T00:00:00Z'); // copied later: the key's time counts
    s3.put(BUCKET, key('2026-12-01', '20-59-00'), gzipSync(jsonl([{ n: 'before' }])), modified);
    s3.put(BUCKET, key('2026-12-01', '21-30-00'), gzipSync(jsonl([{ n: 'during' }])), modified);
    s3.put(BUCKET, key('2026-12-02', '03-19-00'), gzipSync(jsonl([{ n: 'late' }])), modified);
    s3.put(BUCKET, key('2026-12-02', '03-30-00'), gzipSync(jsonl([{ n: 'after' }])), modified);
    const out = await readInteractions(s3.client, BUCKET, WINDOW);
    expect(out.records).toEqual([{ n: 'during' }, { n: 'late' }]);
  });

  it('takes the delivery time from a Firehose key, else from LastModified', () => {
    const modified = new Date('2026-12-01T10:00:00Z');
    expect(deliveredAt('p/s-1-2026-12-01-21-30-05-0f8e2d4c-1a2b-4c3d-8e9f-0123456789ab.gz', modified)).toBe(
      Date.UTC(2026, 11, 1, 21, 30, 5),
    );
    expect(deliveredAt('p/dropped-by-hand.jsonl', modified)).toBe(modified.getTime());
    expect(deliveredAt('p/dropped-by-hand.jsonl', undefined)).toBeUndefined();
    // Linear on a hostile key: a long run of digit groups that never completes the pattern.
    const hostile = `${'-2026-12'.repeat(50_000)}x`;
    let delivered: ReturnType<typeof deliveredAt> | 'not run' = 'not run';
    const cpu = cpuMs(() => {
      delivered = deliveredAt(hostile, undefined);
    });
    expect(delivered).toBeUndefined();
    expect(cpu).toBeLessThan(1000);
  });

  it('counts lines that are not JSON objects, never failing on them', async () => {
    const at = new Date('2026-12-01T22:00:00Z');
    const body = ['{"n":1}', 'not json', '', '   ', '[1,2]', '42', 'null', '"text"', '{"n":2}', '{"n":'].join(
      '\n',
    );
    s3.put(BUCKET, 'interactions/dt=2026-12-01/mixed.gz', gzipSync(body), at);
    s3.put(BUCKET, 'interactions/dt=2026-12-02/plain.txt', 'oops\n{"n":3}\r\n', at);
    const out = await readInteractions(s3.client, BUCKET, WINDOW);
    expect(out.records).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(out.unparsable).toBe(7);
    expect(out.objects).toBe(2);
  });

  it('reads an empty log as no records', async () => {
    s3.put(BUCKET, 'interactions/dt=2026-12-01/empty.gz', gzipSync(''), new Date('2026-12-01T22:00:00Z'));
    expect(await readInteractions(s3.client, BUCKET, WINDOW)).toEqual({
      records: [],
      objects: 1,
      unparsable: 0,
    });
    s3.install();
    expect(await readInteractions(s3.client, BUCKET, WINDOW)).toEqual({
      records: [],
      objects: 0,
      unparsable: 0,
    });
  });

  it('takes another prefix and delivery delay', async () => {
    const window = { start: new Date('2026-12-01T18:00:00Z'), end: new Date('2026-12-01T23:50:00Z') };
    s3.put(BUCKET, 'log/dt=2026-12-02/a.gz', gzipSync(jsonl([{ n: 1 }])), new Date('2026-12-02T00:05:00Z'));
    expect(
      (await readInteractions(s3.client, BUCKET, window, { prefix: 'log/', lateMinutes: 0 })).records,
    ).toEqual([]);
    expect(listed()).toEqual(['log/dt=2026-12-01/']);
    expect((await readInteractions(s3.client, BUCKET, window, { prefix: 'log/' })).records).toEqual([
      { n: 1 },
    ]);
  });
});
