/**
 * What callers see when the content policy of this API intervenes: the guardrail's configured blocked
 * messages (the Bedrock guardrail is created with them), which the gateway also answers with when its
 * own content guard blocks a request or withholds an answer, whichever provider serves the model.
 */

/** What callers see when the guardrail blocks their prompt. */
export const BLOCKED_INPUT_MESSAGE =
  'This request was blocked by the content policy of this API (guardrail). Rephrase it and try again.';
/** What callers see when the guardrail blocks the model's answer. */
export const BLOCKED_OUTPUT_MESSAGE =
  'The answer was withheld by the content policy of this API (guardrail).';
