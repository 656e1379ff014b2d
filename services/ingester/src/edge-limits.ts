import { createRateLimiter, type RateLimiter, rateLimitHeaders } from '@zenmesh/shared-state';
import type { Redis } from 'ioredis';
import type { Reply } from './replies.js';

export type Rate = { perSecond: number; burst: number } | false;

/** A budget taken: its X-RateLimit-* headers for the answer, or the 429 to send instead. */
export type LimitAnswer = { ok: true; headers: Record<string, string> } | { ok: false; reply: Reply };

export interface EdgeLimits {
  /** The client IP's budget: taken first, before the body is read or the backend asked anything. */
  ip(ip: string, nowMs: number): Promise<LimitAnswer>;
  /** The source's budget: taken once the source is known, before the body is read or its HMAC verified. */
  source(sourceId: string, nowMs: number): Promise<LimitAnswer>;
}

const UNLIMITED: LimitAnswer = { ok: true, headers: {} };

/** The ingester's two token buckets (one rate limiter, `@zenmesh/shared-state`; shared through Redis). */
export function createEdgeLimits(options: {
  perSource: Rate;
  perIp: Rate;
  redis: Redis | undefined;
  prefix: string;
  onError: (err: unknown) => void;
}): EdgeLimits {
  const make = (rate: Rate): RateLimiter | undefined =>
    rate === false
      ? undefined
      : createRateLimiter({
          ...rate,
          redis: options.redis,
          prefix: options.prefix,
          onError: options.onError,
        });
  const bySource = make(options.perSource);
  const byIp = make(options.perIp);
  const take = async (limiter: RateLimiter | undefined, key: string, nowMs: number): Promise<LimitAnswer> => {
    if (limiter === undefined) return UNLIMITED;
    const decision = await limiter.take(key, nowMs);
    const headers = rateLimitHeaders(decision);
    if (decision.allowed) return { ok: true, headers };
    return {
      ok: false,
      reply: { status: 429, body: { error: 'rate_limited', retry_after: decision.retryAfterS }, headers },
    };
  };
  return {
    ip: (ip, nowMs) => take(byIp, `ip:${ip}`, nowMs),
    source: (sourceId, nowMs) => take(bySource, sourceId, nowMs),
  };
}
