import { createRateLimiter as createBucket } from '@zenmesh/shared-state';

export interface RateLimitDecision {
  allowed: boolean;
  /** X-RateLimit-* headers for the answer, and Retry-After when refused. */
  headers: Record<string, string>;
  retryAfterSec: number;
}

export interface RateLimiter {
  consume(key: string): Promise<RateLimitDecision>;
}

/**
 * The credential endpoints' limits: `points` per `durationSec` per key, on the one token bucket of the HTTP
 * faces (`@zenmesh/shared-state`: `points` at once, refilled at `points / durationSec`). In process: behind
 * several replicas each enforces its own budget, so the effective limit is N times this.
 */
export function createRateLimiter(
  options: { points: number; durationSec: number },
  now: () => number = Date.now,
): RateLimiter {
  const bucket = createBucket({ perSecond: options.points / options.durationSec, burst: options.points });
  return {
    async consume(key) {
      const at = now();
      const d = await bucket.take(key, at);
      const headers: Record<string, string> = {
        'x-ratelimit-limit': String(d.limit),
        'x-ratelimit-remaining': String(d.remaining),
        // Epoch seconds at which the budget is whole again (the GitHub convention).
        'x-ratelimit-reset': String(Math.ceil(at / 1000) + d.resetS),
      };
      if (d.allowed) return { allowed: true, headers, retryAfterSec: 0 };
      return {
        allowed: false,
        headers: { ...headers, 'retry-after': String(d.retryAfterS) },
        retryAfterSec: d.retryAfterS,
      };
    },
  };
}
