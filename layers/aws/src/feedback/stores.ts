/**
 * What the feedback capability keeps, as ports: the interactions the gateway answered (open to feedback
 * for `feedback.interactionTtlDays`), and people's verdicts on them with what the export has made of
 * them. The Dynamo implementations (`./dynamo-interaction-store.ts`, `./dynamo-feedback-store.ts`) keep
 * them in two tables; the handlers depend on these interfaces only.
 */
import type { StoredFeedback, StoredInteraction } from '#contracts/feedback/feedback.ts';

export interface InteractionStore {
  /** Keeps an answered call (a retried put of the same id replaces it with the same content). */
  put(record: StoredInteraction): Promise<void>;
  /** The interaction, or undefined when it was never kept or has expired (`expiresAt` passed). */
  get(interactionId: string): Promise<StoredInteraction | undefined>;
  /** Several interactions by id (absent and expired ones are left out). */
  getMany(interactionIds: readonly string[]): Promise<Map<string, StoredInteraction>>;
}

/** A page of feedback, oldest change first. */
export interface FeedbackPage {
  readonly items: readonly StoredFeedback[];
  /** Opaque cursor of the next page (validated when it comes back); absent on the last page. */
  readonly nextToken?: string;
}

/** A verdict the export has used, at the version it used (a later change makes it pending again). */
export interface ExportedFeedback {
  readonly interactionId: string;
  readonly user: string;
  readonly updatedAt: string;
}

export interface FeedbackStore {
  /**
   * Creates a user's verdict on an interaction, or replaces it (one per interaction and user): `created`
   * says which, `previous` is what it replaced. Either way the verdict is pending for the export.
   */
  upsert(
    feedback: StoredFeedback,
  ): Promise<{ readonly created: boolean; readonly previous?: StoredFeedback }>;
  /** One verdict, or undefined. */
  get(interactionId: string, user: string): Promise<StoredFeedback | undefined>;
  /** Verdicts written or changed since the export last used them, oldest change first. */
  pending(options: { readonly limit: number; readonly nextToken?: string }): Promise<FeedbackPage>;
  /** Every verdict on interactions whose rendered input has this hash (the siblings a pair is made of). */
  byPromptHash(promptHash: string): Promise<StoredFeedback[]>;
  /** Which of these record ids (pairs, unpaired records, held-out prompts) an export already wrote. */
  exportedIds(recordIds: readonly string[]): Promise<Set<string>>;
  /**
   * Records an export: its record ids as written (once: an id already recorded stays as it was), and the
   * verdicts it used as no longer pending, unless one changed after `updatedAt` (it stays pending).
   */
  markExported(
    exportId: string,
    recordIds: readonly string[],
    used: readonly ExportedFeedback[],
  ): Promise<void>;
}
