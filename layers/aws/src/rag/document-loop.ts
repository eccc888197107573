import { asRetryable, isRetryable } from '../retryable.ts';
import type { DocumentTable } from './documents.ts';
import type { DocumentReporter } from './reporter.ts';

/** A document of a RagIngest batch, as much as a failure record needs. */
export interface BatchDocument {
  readonly docId: string;
  readonly version: string;
  readonly collection: string;
  readonly title?: string | undefined;
  readonly source?: string | undefined;
}

/** What became of the documents a step worked on, beyond those it finished. */
export interface DocumentLoopCounts {
  /** Failed alone, recorded as `failed` and announced. */
  readonly failed: number;
  /** A newer version of the document took over meanwhile: nothing recorded. */
  readonly superseded: number;
}

export interface DocumentLoopContext {
  readonly table: Pick<DocumentTable, 'markFailed'>;
  readonly reporter: Pick<DocumentReporter, 'fail'>;
  readonly runId: string;
  readonly now: () => Date;
}

/**
 * The per-document loop of the RagIngest steps (Chunk, Embed, Index): `work` runs for each document in
 * turn and says whether it finished it or found it superseded. A retryable error (throttling, transient
 * failures) is rethrown under a name the state machine's `Retry` matches, so the whole step is retried;
 * any other error fails only that document, which is recorded and announced unless a newer version took
 * over. Nothing is swallowed: every document ends counted once.
 */
export async function forEachDocument<D extends BatchDocument>(
  docs: readonly D[],
  context: DocumentLoopContext,
  work: (doc: D) => Promise<'done' | 'superseded'>,
): Promise<DocumentLoopCounts> {
  let failed = 0;
  let superseded = 0;
  for (const doc of docs) {
    try {
      if ((await work(doc)) === 'superseded') superseded += 1;
    } catch (error) {
      if (isRetryable(error)) throw asRetryable(error);
      if (await context.reporter.fail(context.table, doc, error, context.runId, context.now())) failed += 1;
      else superseded += 1;
    }
  }
  return { failed, superseded };
}
