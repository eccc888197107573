import { vi } from 'vitest';
import {
  type ClaimOutcome,
  type ClaimRequest,
  type DocumentItem,
  type DocumentStatus,
  orderableSequencer,
} from '#aws/rag/documents.ts';

export type Row = DocumentItem & { sequencer?: string };

/** The status table in memory, with the conditions of the real one (version and sequencer). */
export class FakeDocuments {
  readonly rows = new Map<string, Row>();

  seed(row: Partial<Row> & Pick<Row, 'docId' | 'version' | 'status'>): void {
    this.rows.set(row.docId, {
      collection: 'upload',
      chunkCount: 0,
      runId: 'earlier',
      createdAt: 'c',
      updatedAt: 'u',
      ...row,
    });
  }

  readonly get = vi.fn(async (docId: string): Promise<DocumentItem | undefined> => {
    const row = this.rows.get(docId);
    return row ? { ...row } : undefined;
  });

  readonly claim = vi.fn(async (request: ClaimRequest): Promise<ClaimOutcome> => {
    const current = this.rows.get(request.docId);
    if (
      current?.status === 'indexed' &&
      current.indexedVersion === request.version &&
      current.embeddingModelId === request.embeddingModelId
    ) {
      return 'unchanged';
    }
    const sequencer = request.sequencer !== undefined ? orderableSequencer(request.sequencer) : undefined;
    if (sequencer !== undefined && current?.sequencer !== undefined && current.sequencer > sequencer) {
      return 'stale';
    }
    this.rows.set(request.docId, {
      ...current,
      docId: request.docId,
      collection: request.collection,
      status: 'queued',
      version: request.version,
      runId: request.runId,
      embeddingModelId: request.embeddingModelId,
      chunkCount: current?.chunkCount ?? 0,
      createdAt: current?.createdAt ?? request.now.toISOString(),
      updatedAt: request.now.toISOString(),
      ...(request.title !== undefined ? { title: request.title } : {}),
      ...(request.source !== undefined ? { source: request.source } : {}),
      ...(request.format !== undefined ? { format: request.format } : {}),
      ...(sequencer !== undefined ? { sequencer } : {}),
    });
    return 'claimed';
  });

  private transition(docId: string, version: string, change: Partial<Row>): boolean {
    const current = this.rows.get(docId);
    if (current?.version !== version) return false;
    this.rows.set(docId, { ...current, ...change });
    return true;
  }

  readonly advance = vi.fn(
    async (
      docId: string,
      version: string,
      status: 'chunked' | 'embedded',
      _now: Date,
      chunkCount?: number,
    ) => {
      const max = this.rows.get(docId)?.maxChunkCount;
      const raise = chunkCount !== undefined && (max === undefined || max <= chunkCount);
      return this.transition(docId, version, { status, ...(raise ? { maxChunkCount: chunkCount } : {}) });
    },
  );

  readonly markIndexed = vi.fn(async (docId: string, version: string, chunkCount: number, _now: Date) =>
    this.transition(docId, version, {
      status: 'indexed',
      indexedVersion: version,
      chunkCount,
      maxChunkCount: chunkCount,
    }),
  );

  readonly markFailed = vi.fn(
    async (docId: string, version: string, failure: { code: string; message: string }, _now: Date) =>
      this.rows.get(docId)?.status === 'indexed'
        ? false
        : this.transition(docId, version, {
            status: 'failed',
            reason: `${failure.code}: ${failure.message}`,
          }),
  );

  readonly noteChunkWrite = vi.fn(async (docId: string, chunkCount: number) => {
    const current = this.rows.get(docId);
    if (current && (current.maxChunkCount ?? 0) < chunkCount) {
      this.rows.set(docId, { ...current, maxChunkCount: chunkCount });
    }
  });

  readonly markDeleted = vi.fn(
    async (
      docId: string,
      options: { runId: string; now: Date; sequencer?: string; collection?: string },
    ): Promise<boolean> => {
      const current = this.rows.get(docId);
      const sequencer = options.sequencer !== undefined ? orderableSequencer(options.sequencer) : undefined;
      if (sequencer !== undefined && current?.sequencer !== undefined && current.sequencer > sequencer) {
        return false;
      }
      const { indexedVersion: _i, reason: _r, ...rest } = current ?? ({} as Row);
      this.rows.set(docId, {
        ...rest,
        docId,
        collection: current?.collection ?? options.collection ?? 'upload',
        status: 'deleted',
        version: 'deleted',
        chunkCount: 0,
        runId: options.runId,
        createdAt: current?.createdAt ?? options.now.toISOString(),
        updatedAt: options.now.toISOString(),
        ...(sequencer !== undefined ? { sequencer } : {}),
      });
      return true;
    },
  );

  readonly liveDocuments = vi.fn(async (collection: string) =>
    [...this.rows.values()]
      .filter((row) => row.collection === collection && row.status !== 'deleted')
      .map((row) => ({ docId: row.docId, chunkCount: row.chunkCount })),
  );

  status(docId: string): DocumentStatus | undefined {
    return this.rows.get(docId)?.status;
  }

  /** What Index does when a run ends well: every queued version becomes the indexed one. */
  indexAll(): void {
    for (const [docId, row] of this.rows) {
      if (row.status === 'queued')
        this.rows.set(docId, { ...row, status: 'indexed', indexedVersion: row.version });
    }
  }
}
