import { afterEach, describe, expect, it, vi } from 'vitest';
import { ModelProviderError } from '#aws/errors.ts';
import { BedrockContentGuard, createContentGuard } from '#aws/models/guardrail.ts';
import { addSdkCallHook, type SdkCall } from '#aws/sdk-call-hooks.ts';
import { OfflineContentGuard } from '#core/models/offline-guard.ts';
import { errorOf } from '../../support/async.ts';

describe('createContentGuard', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('is the offline guard when models run offline, even when the template names a guardrail', () => {
    const created = createContentGuard({ offline: true, guardrail: { id: 'g', version: '1' } });
    expect(created).toBeInstanceOf(OfflineContentGuard);
  });

  it('is none without a guardrail online', () => {
    expect(createContentGuard({ offline: false })).toBeUndefined();
  });

  it('is the Bedrock guard on a hooked client, so the local IAM simulation sees ApplyGuardrail', async () => {
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const seen: SdkCall[] = [];
    const denied = new Error('denied by the simulation');
    denied.name = 'AccessDeniedException';
    const remove = addSdkCallHook((call) => {
      seen.push(call);
      throw denied;
    });
    try {
      const created = createContentGuard({ offline: false, guardrail: { id: 'g-9', version: '2' } });
      expect(created).toBeInstanceOf(BedrockContentGuard);
      const error = await errorOf((created as BedrockContentGuard).checkInput(['hello']));
      expect(error).toBeInstanceOf(ModelProviderError);
      expect((error as Error).cause).toBe(denied);
    } finally {
      remove();
    }
    expect(seen).toEqual([
      {
        clientName: 'BedrockRuntimeClient',
        commandName: 'ApplyGuardrailCommand',
        input: expect.objectContaining({
          guardrailIdentifier: 'g-9',
          guardrailVersion: '2',
          source: 'INPUT',
        }),
      },
    ]);
  });
});
