import { LlmOpsError } from '../../errors.ts';

/** The named errors of the OpenSearch adapter: what a refusal was, and whether it may be retried. */
export const LABEL = 'OpenSearch';

/** Failure of an OpenSearch request that retrying would not fix (a refusal, a malformed answer). */
export class OpenSearchRequestError extends LlmOpsError {
  /** The HTTP status OpenSearch answered with, when it answered. */
  readonly statusCode: number | undefined;
  /** OpenSearch's error type (`mapper_parsing_exception`, ...), when it gave one. */
  readonly errorType: string | undefined;
  constructor(
    message: string,
    options: { cause?: unknown; statusCode?: number | undefined; errorType?: string | undefined } = {},
  ) {
    super(message, { cause: options.cause });
    this.statusCode = options.statusCode;
    this.errorType = options.errorType;
  }
}

/** OpenSearch answered 403: the collection's data access policy (or the role's IAM policy) lacks a grant. */
export class OpenSearchAccessDeniedError extends OpenSearchRequestError {}

/** The index does not exist in the collection (404 `index_not_found_exception`). */
export class OpenSearchIndexNotFoundError extends OpenSearchRequestError {}

/** Backoff and attempts for requests and failed bulk items; tests inject an instant `sleep`. */
