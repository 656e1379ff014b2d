import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

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
 * A fixed-window limiter (rate-limiter-flexible, in process) for the credential endpoints. One instance per
 * process: behind several replicas each enforces its own budget, so the effective limit is N times this.
 */
export function createRateLimiter(options: { points: number; durationSec: number }): RateLimiter {
  const limiter = new RateLimiterMemory({ points: options.points, duration: options.durationSec });
  const headers = (res: RateLimiterRes) => {
    const reset = Math.ceil((Date.now() + res.msBeforeNext) / 1000);
    return {
      'x-ratelimit-limit': String(options.points),
      'x-ratelimit-remaining': String(Math.max(res.remainingPoints, 0)),
      // Epoch seconds at which the window resets (the GitHub convention).
      'x-ratelimit-reset': String(reset),
    };
  };
  return {
    async consume(key) {
      try {
        const res = await limiter.consume(key);
        return { allowed: true, headers: headers(res), retryAfterSec: 0 };
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        const retryAfterSec = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
        return {
          allowed: false,
          headers: { ...headers(err), 'retry-after': String(retryAfterSec) },
          retryAfterSec,
        };
      }
    },
  };
}

/**
 * The address of the real client: the TCP peer, unless that peer is a configured trusted proxy, in which
 * case the right-most X-Forwarded-For entry that is not itself a trusted proxy (what a client cannot forge).
 */
export function clientIp(req: IncomingMessage, trustedProxies: ReadonlySet<string>): string {
  const peer = (req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
  if (!trustedProxies.has(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((s) => s.trim().replace(/^::ffff:/, ''))
    .filter((s) => isIP(s) !== 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i];
    if (hop !== undefined && !trustedProxies.has(hop)) return hop;
  }
  return peer;
}
