/**
 * Named errors shared by every handler. Each carries a stable `name` (Step Functions Retry/Catch match on
 * it), an optional `cause`, and `expose`: whether its message is safe to show to an API caller.
 */
export class LlmOpsError extends Error {
  /** Whether the message may be shown to a caller (4xx) or must be hidden behind a generic 5xx. */
  readonly expose: boolean;
  constructor(message: string, options?: { cause?: unknown; expose?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.expose = options?.expose ?? false;
  }
}

/** An environment variable is missing or malformed: raised at cold start, so the function fails fast. */
export class ConfigError extends LlmOpsError {}

/** The incoming event does not match its schema. Not retried: the same event would fail the same way. */
export class InvalidEventError extends LlmOpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, expose: true });
  }
}

/** The uploaded object cannot become a dataset (bad location, no valid record, ...). Not retried. */
export class InvalidDatasetError extends LlmOpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, expose: true });
  }
}

/** Every record of an upload was quarantined. The quarantine file says why, line by line. */
export class NoValidRecordsError extends InvalidDatasetError {}

/** The source object changed or vanished while it was being processed (its ETag no longer matches). */
export class SourceChangedError extends LlmOpsError {}

/**
 * A failure worth retrying (throttling, a conflicting concurrent writer). Step Functions retries this
 * name with backoff.
 */
export class TransientError extends LlmOpsError {}

/** A write conflicts with an immutable record that holds different content. */
export class ConflictError extends LlmOpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, expose: true });
  }
}
