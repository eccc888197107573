/** API keys: which of the template's keys the local key stands for, and how a presented key is checked. */
import { timingSafeEqual } from 'node:crypto';
import type { LocalApiKey, LocalUsagePlan } from '../template.ts';
import { LocalApiError } from './errors.ts';

/**
 * The ApiKey the local key stands for: the key of `appName` (by Name, Name suffix `-<appName>`,
 * Description or logical id) or, without one, the first enabled key of a usage plan of the served stage.
 * Throws {@link LocalApiError} when no key matches `appName`.
 */
export function selectKey(
  keys: readonly LocalApiKey[],
  plans: readonly LocalUsagePlan[],
  appName: string | undefined,
): LocalApiKey | undefined {
  if (appName !== undefined) {
    const word = new RegExp(`\\b${escapeRegExp(appName)}\\b`);
    const matchers: Array<(k: LocalApiKey) => boolean> = [
      (k) => k.name === appName || k.logicalId === appName,
      (k) => k.name?.endsWith(`-${appName}`) === true,
      (k) => k.description?.includes(`"${appName}"`) === true,
      (k) => k.description !== undefined && word.test(k.description),
    ];
    let key: LocalApiKey | undefined;
    for (const matches of matchers) {
      key = keys.find(matches);
      if (key) break;
    }
    if (!key) {
      throw new LocalApiError(
        `No ApiKey for app '${appName}' (keys: ${keys.map((k) => `${k.logicalId}${k.name ? ` "${k.name}"` : ''}`).join(', ') || 'none'})`,
      );
    }
    return key;
  }
  const planned = new Set(plans.flatMap((p) => p.apiKeyIds));
  return keys.find((k) => k.enabled && planned.has(k.id)) ?? keys.find((k) => k.enabled) ?? keys[0];
}

/** Compares a presented key with the expected one in constant time. */
export function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
