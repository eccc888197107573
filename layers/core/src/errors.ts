/**
 * Named errors shared by the core logic and every handler (no AWS imports). Each carries a stable `name` (Step Functions Retry/Catch match on
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

/**
 * A configuration is missing or malformed: an environment variable at cold start (so the function fails
 * fast), or the CDK app's configuration at synthesis. `problems` lists each fault on a line of its own,
 * starting with the key it is about (one entry, the message, when the fault was reported as one line).
 */
export class ConfigError extends LlmOpsError {
  readonly problems: readonly string[];
  constructor(message: string, options?: { cause?: unknown; problems?: readonly string[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.problems = options?.problems ?? [message];
  }
}

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

/** What a refused promotion says about the evaluation that gates it (`error.evaluation` of the 409). */
export interface GateRefusalDetails {
  readonly runId: string;
  readonly status: 'queued' | 'running' | 'succeeded' | 'failed' | 'skipped';
  /** The metrics that failed the gate (empty unless the run succeeded with a failing verdict). */
  readonly failing: readonly {
    readonly name: string;
    readonly verdict: 'pass' | 'fail' | 'uncalibrated' | 'insufficient';
    readonly diff: number | null;
    readonly margin: number;
    readonly reason: string;
  }[];
}

/**
 * A prompt's `production` label move that its promotion gate refused: the evaluation failed, is still
 * going, or has just been started. The API answers 409 with `code` and the evaluation in
 * `error.evaluation`, so that a client can follow the run (`GET /v1/evaluations/{id}`) and retry.
 */
export class GateRefusedError extends ConflictError {
  readonly code: 'evaluation_failed' | 'evaluation_pending' | 'evaluation_required';
  readonly details: GateRefusalDetails;
  constructor(
    code: GateRefusedError['code'],
    message: string,
    details: GateRefusalDetails,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

/**
 * A request field broke a rule. `field` is the dotted path (`variables.customer`, `body.messages.0.role`);
 * the API answers 400 naming both.
 */
export class ValidationError extends LlmOpsError {
  readonly field: string;
  readonly rule: string;
  constructor(field: string, rule: string, options?: { cause?: unknown; message?: string }) {
    super(options?.message ?? `${field}: ${rule}`, { cause: options?.cause, expose: true });
    this.field = field;
    this.rule = rule;
  }
}

/** A template could not be rendered: a required variable is missing, or an undeclared one was given. */
export class PromptRenderError extends ValidationError {}

/** The request body is larger than the API accepts. */
export class PayloadTooLargeError extends ValidationError {}

/** The input would not fit the chosen model's context window: refused before any token is paid for. */
export class ContextWindowExceededError extends ValidationError {}

/**
 * The content policy refused a caller's text (`ContentGuard.checkInput` intervened) where there is no
 * answer to replace it with (embeddings): the API answers 400 `content_blocked`, naming the field.
 */
export class ContentBlockedError extends ValidationError {}

/** The named prompt, version, label or model does not exist. */
export class NotFoundError extends LlmOpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, expose: true });
  }
}

/** No catalog model meets the requested constraints. */
export class NoModelAvailableError extends LlmOpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, expose: true });
  }
}

/** The caller is authenticated but not allowed to do this. */
export class ForbiddenError extends LlmOpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, expose: true });
  }
}

/**
 * The model provider is still throttling after every retry. The API answers 429 with `Retry-After`.
 */
export class ThrottledError extends LlmOpsError {
  /** Seconds the caller should wait before trying again. */
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, options?: { cause?: unknown }) {
    super(message, { ...options, expose: true });
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

/**
 * The app has spent its daily token budget (`tokensPerDay` of its access). The API answers 429
 * `token_budget_exceeded` with `Retry-After`: the seconds until the budget renews at 00:00 UTC.
 */
export class TokenBudgetExceededError extends LlmOpsError {
  /** Seconds until 00:00 UTC, when the next day's budget starts. */
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, options?: { cause?: unknown }) {
    super(message, { ...options, expose: true });
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

/**
 * The model provider failed or refused the call (not throttling): an upstream validation error, an
 * endpoint that is down, a timeout after retries. The API answers 502/504 without the provider's details.
 */
export class ModelProviderError extends LlmOpsError {
  /** Whether the provider timed out (504) rather than failed (502). */
  readonly timedOut: boolean;
  constructor(message: string, options?: { cause?: unknown; timedOut?: boolean }) {
    super(message, { cause: options?.cause });
    this.timedOut = options?.timedOut ?? false;
  }
}

/**
 * An evaluation run whose estimated cost (answers and judge calls, from catalog prices) is above its
 * budget (the request's `budgetUsd`, else the profile's): refused before any model is called. The
 * message gives the estimate, the budget, the items, the judge repeats and the models.
 */
export class EvaluationBudgetExceededError extends LlmOpsError {
  readonly estimateUsd: number;
  readonly budgetUsd: number;
  constructor(message: string, estimateUsd: number, budgetUsd: number, options?: { cause?: unknown }) {
    super(message, { ...options, expose: true });
    this.estimateUsd = estimateUsd;
    this.budgetUsd = budgetUsd;
  }
}
