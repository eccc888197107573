/** The payload limits the local API enforces as API Gateway and Lambda do. */

/** API Gateway's limit on a request payload. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** Lambda's limit on a synchronous (buffered) response payload. */
export const MAX_BUFFERED_RESPONSE_BYTES = 6 * 1024 * 1024;
