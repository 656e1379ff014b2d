import { createRateLimiter as createBucket, rateLimitHeaders } from '@zenmesh/shared-state';
import type { Redis } from 'ioredis';

export interface RateLimitDecision {
  allowed: boolean;
  /** X-RateLimit-* headers for the answer, and Retry-After when refused. */
  headers: Record<string, string>;
  retryAfterSec: number;
}

export interface RateLimiter {
  consume(key: string): Promise<RateLimitDecision>;
}

export interface TokenRateLimitOptions {
  points: number;
  durationSec: number;
  /** Shared by every token-service replica when given (one budget per key across them); in process otherwise. */
  redis?: Redis | undefined;
  /** Key namespace of this limiter in Redis; limiters with different budgets need different ones. */
  prefix?: string;
  onError?: (err: unknown) => void;
}

/**
 * The credential endpoints' limits: `points` per `durationSec` per key, on the one token bucket of the HTTP
 * faces (`@zenmesh/shared-state`: `points` at once, refilled at `points / durationSec`). With Redis the budget
 * is shared by every replica; without it each replica enforces its own, so N replicas allow N times this.
 */
export function createRateLimiter(options: TokenRateLimitOptions, now: () => number = Date.now): RateLimiter {
  const bucket = createBucket({
    perSecond: options.points / options.durationSec,
    burst: options.points,
    redis: options.redis,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
  });
  return {
    async consume(key) {
      const at = now();
      const d = await bucket.take(key, at);
      return {
        allowed: d.allowed,
        headers: rateLimitHeaders(d),
        retryAfterSec: d.allowed ? 0 : d.retryAfterS,
      };
    },
  };
}
