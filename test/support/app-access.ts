import type { AppAccess } from '#contracts/http/access.ts';

/**
 * App access for tests that are not about access: every prompt, model and collection, chat without a
 * prompt, no token budget (what `apiHandler`'s `appAccess` gives a test's app, which otherwise may use
 * nothing).
 */
export const FULL_ACCESS: AppAccess = {
  prompts: ['*'],
  models: ['*'],
  collections: ['*'],
  rawChat: true,
  tokensPerDay: null,
};
