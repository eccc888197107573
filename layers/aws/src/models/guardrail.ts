/**
 * The Bedrock guardrail as the gateway's `ContentGuard`, through ApplyGuardrail: caller-supplied texts
 * are assessed as INPUT before any model is called, and the answers of models that cannot carry the
 * guardrail themselves (SageMaker endpoints) as OUTPUT. The verdict names the intervening policies as
 * Converse traces do (`assessedPolicies`), and carries the guardrail's configured message (or, for an
 * answer whose sensitive information was masked, the masked answer) as the replacement.
 *
 * Every call goes through `withRetry`: throttling, 5xx and attempt timeouts are retried, and final
 * failures become `ThrottledError` or `ModelProviderError` like any provider call, so a guard that
 * cannot decide fails the request instead of letting it through.
 */
import {
  ApplyGuardrailCommand,
  type ApplyGuardrailCommandOutput,
  type BedrockRuntimeClient,
} from '@aws-sdk/client-bedrock-runtime';
import { BLOCKED_INPUT_MESSAGE, BLOCKED_OUTPUT_MESSAGE } from '#contracts/models/guardrail.ts';
import { OfflineContentGuard } from '#core/models/offline-guard.ts';
import type { ContentGuard, GuardrailRef, GuardVerdict } from '#core/models/types.ts';
import { assessedPolicies } from './bedrock.ts';
import { createBedrockRuntimeClient } from './clients.ts';
import { type RetryOptions, withRetry } from './retry.ts';

const LABEL = 'Bedrock Guardrails';

export interface BedrockContentGuardOptions {
  /** A client from `createBedrockRuntimeClient()` (one SDK attempt per call; `withRetry` retries). */
  readonly client: BedrockRuntimeClient;
  /** The guardrail and its published version. */
  readonly guardrail: GuardrailRef;
  /** Backoff, attempts and attempt timeout; the caller's signal comes from each check. */
  readonly retry?: Omit<RetryOptions, 'signal' | 'label'>;
}

const PASS: GuardVerdict = { action: 'NONE', policies: [] };

/**
 * The verdict of one ApplyGuardrail response.
 *
 * INPUT: only a blocking policy (or an intervention that names none) stops the request; masking alone
 * does not, since the caller's text is not what the model answers with (a Bedrock model's own
 * guardrail masks it in the call). OUTPUT: any intervention replaces the text, with the blocked
 * message or with the masked answer.
 */
export function guardVerdict(
  source: 'INPUT' | 'OUTPUT',
  response: ApplyGuardrailCommandOutput,
): GuardVerdict {
  if (response.action !== 'GUARDRAIL_INTERVENED') return PASS;
  const { policies, blocked } = assessedPolicies(response.assessments ?? []);
  if (source === 'INPUT' && !blocked && policies.length > 0) return PASS;
  const fallback = source === 'INPUT' ? BLOCKED_INPUT_MESSAGE : BLOCKED_OUTPUT_MESSAGE;
  const replacement = response.outputs?.[0]?.text;
  return {
    action: 'INTERVENED',
    policies,
    replacement: replacement === undefined || replacement === '' ? fallback : replacement,
  };
}

/** A `ContentGuard` backed by the Bedrock ApplyGuardrail API. */
export class BedrockContentGuard implements ContentGuard {
  readonly #client: BedrockRuntimeClient;
  readonly #guardrail: GuardrailRef;
  readonly #retry: Omit<RetryOptions, 'signal' | 'label'>;

  constructor(options: BedrockContentGuardOptions) {
    this.#client = options.client;
    this.#guardrail = options.guardrail;
    this.#retry = options.retry ?? {};
  }

  /** Assesses the texts together, as INPUT, in one call (blank texts are left out: nothing to assess). */
  checkInput(texts: readonly string[], signal?: AbortSignal): Promise<GuardVerdict> {
    return this.#apply('INPUT', texts, signal);
  }

  /** Assesses a model's answer, or a piece of it, as OUTPUT. */
  checkOutput(text: string, signal?: AbortSignal): Promise<GuardVerdict> {
    return this.#apply('OUTPUT', [text], signal);
  }

  async #apply(
    source: 'INPUT' | 'OUTPUT',
    texts: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<GuardVerdict> {
    const content = texts.filter((text) => text.trim() !== '').map((text) => ({ text: { text } }));
    if (content.length === 0) return PASS;
    const command = new ApplyGuardrailCommand({
      guardrailIdentifier: this.#guardrail.id,
      guardrailVersion: this.#guardrail.version,
      source,
      content,
    });
    const response = await withRetry((abortSignal) => this.#client.send(command, { abortSignal }), {
      ...this.#retry,
      signal,
      label: LABEL,
    });
    return guardVerdict(source, response);
  }
}

/**
 * The gateway's content guard for a deployment: the offline guard when models run offline (the local
 * run and the tests, where no Bedrock is reachable even if the template names a guardrail), else the
 * Bedrock guardrail through ApplyGuardrail when one is configured, else none.
 */
export function createContentGuard(options: {
  readonly offline: boolean;
  readonly guardrail?: GuardrailRef | undefined;
  /** @default `createBedrockRuntimeClient` */
  readonly client?: () => BedrockRuntimeClient;
}): ContentGuard | undefined {
  if (options.offline) return new OfflineContentGuard();
  if (options.guardrail === undefined) return undefined;
  const client = (options.client ?? createBedrockRuntimeClient)();
  return new BedrockContentGuard({ client, guardrail: options.guardrail });
}
