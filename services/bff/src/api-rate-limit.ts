import { createRateLimiter, type RateLimiter, rateLimitHeaders } from '@zenmesh/shared-state';
import type { Redis } from 'ioredis';
import { ApiRefusal } from './api-errors.js';

export type ApiRate = { points: number; durationSec: number } | false;

export interface ApiRateLimitOptions {
  /** Per API key (or bearer token principal), spent after authentication; default 600 per 60 s. */
  perCaller?: ApiRate | undefined;
  /** Per client IP, spent before authentication (a flood of made-up keys); default 1200 per 60 s. */
  perIp?: ApiRate | undefined;
  /** Shares both budgets across bff replicas when given; in process otherwise. */
  redis?: Redis | undefined;
  prefix?: string | undefined;
  onError?: (err: unknown) => void;
  now?: () => number;
}

export interface ApiRateLimits {
  /** X-RateLimit-* of the budget spent; throws 429 `rate_limited` (with Retry-After) when it is empty. */
  ip(ip: string): Promise<Record<string, string>>;
  caller(actor: string): Promise<Record<string, string>>;
}

/** The /api/v1 budgets, on the one rate limiter of the HTTP faces (`@zenmesh/shared-state`). */
export function createApiRateLimits(options: ApiRateLimitOptions = {}): ApiRateLimits {
  const now = options.now ?? Date.now;
  const prefix = options.prefix ?? 'zenmesh:bff:';
  const make = (name: string, rate: ApiRate): RateLimiter | undefined =>
    rate === false
      ? undefined
      : createRateLimiter({
          perSecond: rate.points / rate.durationSec,
          burst: rate.points,
          redis: options.redis,
          prefix: `${prefix}${name}:`,
          ...(options.onError === undefined ? {} : { onError: options.onError }),
        });
  const byCaller = make('caller', options.perCaller ?? { points: 600, durationSec: 60 });
  const byIp = make('ip', options.perIp ?? { points: 1200, durationSec: 60 });
  const spend = async (limiter: RateLimiter | undefined, key: string): Promise<Record<string, string>> => {
    if (limiter === undefined) return {};
    const d = await limiter.take(key, now());
    const headers = rateLimitHeaders(d);
    if (d.allowed) return headers;
    throw new ApiRefusal(429, 'rate_limited', undefined, { headers, body: { retry_after: d.retryAfterS } });
  };
  return {
    ip: (ip) => spend(byIp, ip),
    caller: (actor) => spend(byCaller, actor),
  };
}
