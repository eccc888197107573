/**
 * Usage plan enforcement: API Gateway's token-bucket throttling (RateLimit/BurstLimit, per-method
 * overrides) and period quotas, counted per plan and API key.
 */
import type { LocalApiMethod, LocalThrottle, LocalUsagePlan } from '../template.ts';

/** Token bucket (API Gateway throttling) and period quota counters, per key. */
export class UsageLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #quotas = new Map<string, { used: number; periodStart: number }>();

  /** Takes one token; false when the bucket is empty. */
  take(key: string, throttle: LocalThrottle, now: number): boolean {
    const rate = throttle.rateLimit ?? Number.POSITIVE_INFINITY;
    const burst = Math.max(1, throttle.burstLimit ?? Math.ceil(rate));
    if (!Number.isFinite(rate) && throttle.burstLimit === undefined) return true;
    const bucket = this.#buckets.get(key) ?? { tokens: burst, at: now };
    const refilled = Math.min(
      burst,
      bucket.tokens + ((now - bucket.at) / 1000) * (Number.isFinite(rate) ? rate : burst),
    );
    if (refilled < 1) {
      this.#buckets.set(key, { tokens: refilled, at: now });
      return false;
    }
    this.#buckets.set(key, { tokens: refilled - 1, at: now });
    return true;
  }

  /** Counts one request against a quota; false when the period's limit is used up. */
  count(key: string, quota: { limit: number; period: 'DAY' | 'WEEK' | 'MONTH' }, now: Date): boolean {
    const start = periodStart(quota.period, now);
    const entry = this.#quotas.get(key);
    const used = entry && entry.periodStart === start ? entry.used : 0;
    if (used >= quota.limit) return false;
    this.#quotas.set(key, { used: used + 1, periodStart: start });
    return true;
  }
}

function periodStart(period: 'DAY' | 'WEEK' | 'MONTH', now: Date): number {
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  if (period === 'DAY') return day;
  if (period === 'MONTH') return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  // API Gateway weeks start on Monday.
  return day - ((now.getUTCDay() + 6) % 7) * 86_400_000;
}

/** Which served stage and key a request counts against. */
export interface UsageScope {
  readonly apiId: string;
  readonly stage: string;
  readonly apiKeyId: string;
  readonly plans: readonly LocalUsagePlan[];
  readonly limiter: UsageLimiter;
}

/** Counts one request to `method`; names the gateway response when a plan refuses it. */
export function checkUsage(
  scope: UsageScope,
  method: LocalApiMethod,
): 'THROTTLED' | 'QUOTA_EXCEEDED' | undefined {
  const now = Date.now();
  for (const plan of scope.plans) {
    const stage = plan.apiStages.find((s) => s.apiId === scope.apiId && s.stage === scope.stage);
    const methodThrottle = stage?.throttle[`${method.path}/${method.httpMethod}`];
    const throttle = methodThrottle ?? plan.throttle;
    const bucketKey = `${plan.id}:${scope.apiKeyId}:${methodThrottle ? `${method.path}/${method.httpMethod}` : '*'}`;
    if (throttle && !scope.limiter.take(bucketKey, throttle, now)) return 'THROTTLED';
    if (plan.quota && !scope.limiter.count(`${plan.id}:${scope.apiKeyId}`, plan.quota, new Date(now))) {
      return 'QUOTA_EXCEEDED';
    }
  }
  return undefined;
}
