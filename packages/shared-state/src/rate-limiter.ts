import type { Redis } from 'ioredis';

/** The answer for one request, with what the X-RateLimit-* headers report. */
export interface RateDecision {
  allowed: boolean;
  /** Bucket size (X-RateLimit-Limit). */
  limit: number;
  /** Whole tokens left after this request (X-RateLimit-Remaining). */
  remaining: number;
  /** Seconds until the bucket is full again (X-RateLimit-Reset, delta-seconds). */
  resetS: number;
  /** Seconds until one token is available (Retry-After), when refused. */
  retryAfterS: number;
  /** The same in milliseconds (at least 1), when refused; 0 when allowed. */
  retryAfterMs: number;
}

/** A bucket's shape: `burst` at once, refilled at `perSecond`. */
export interface RateShape {
  perSecond: number;
  burst: number;
}

export interface RateLimiter {
  /**
   * `nowMs` is this process's clock, used by the in-process buckets; a shared bucket runs on Redis's.
   * `shape` replaces the limiter's own rate for this key (e.g. one per endpoint, egress).
   */
  take(key: string, nowMs: number, shape?: RateShape): Promise<RateDecision>;
}

export interface RateLimitOptions {
  /** Sustained requests per second per key. */
  perSecond: number;
  /** Bucket size: how many may arrive at once. */
  burst: number;
  /** Shared across instances when given; in-process otherwise. */
  redis?: Redis | undefined;
  prefix?: string;
  onError?: (err: unknown) => void;
}

// Token bucket in one atomic step, so instances sharing Redis share the bucket, on Redis's clock: instances
// whose clocks disagree would otherwise starve each other (one ahead stores a time the others never reach,
// and they stop refilling). Tokens are returned as text: Lua numbers would be truncated to integers.
const TAKE = `
local rate = tonumber(ARGV[1]); local burst = tonumber(ARGV[2])
local clock = redis.call('time'); local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local s = redis.call('hmget', KEYS[1], 't', 'ts')
local tokens = tonumber(s[1]); local ts = tonumber(s[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000); ts = now end
tokens = math.min(burst, tokens)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('hset', KEYS[1], 't', tostring(tokens), 'ts', tostring(ts))
redis.call('pexpire', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, tostring(tokens)}`;

function decide(allowed: boolean, tokens: number, perSecond: number, burst: number): RateDecision {
  return {
    allowed,
    limit: burst,
    remaining: Math.max(0, Math.floor(tokens)),
    resetS: Math.ceil((burst - tokens) / perSecond),
    retryAfterS: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / perSecond)),
    retryAfterMs: allowed ? 0 : Math.max(1, Math.ceil(((1 - tokens) * 1000) / perSecond)),
  };
}

const checkShape = ({ perSecond, burst }: RateShape): void => {
  if (!(perSecond > 0) || !(burst >= 1)) throw new TypeError('rate limit: perSecond > 0 and burst >= 1');
};

/** An in-process token bucket per key; buckets that are full again are forgotten. */
function createLocalBuckets() {
  const buckets = new Map<string, { tokens: number; ts: number; perSecond: number; burst: number }>();
  return (key: string, nowMs: number, { perSecond, burst }: RateShape): RateDecision => {
    if (buckets.size > 10_000) {
      for (const [k, b] of buckets)
        if (b.tokens + ((nowMs - b.ts) * b.perSecond) / 1000 >= b.burst) buckets.delete(k);
    }
    const b = buckets.get(key) ?? { tokens: burst, ts: nowMs, perSecond, burst };
    b.perSecond = perSecond;
    b.burst = burst;
    b.tokens = Math.min(b.tokens, burst);
    if (nowMs > b.ts) {
      b.tokens = Math.min(burst, b.tokens + ((nowMs - b.ts) * perSecond) / 1000);
      b.ts = nowMs;
    }
    const allowed = b.tokens >= 1;
    if (allowed) b.tokens -= 1;
    buckets.set(key, b);
    return decide(allowed, b.tokens, perSecond, burst);
  };
}

/**
 * The `X-RateLimit-*` headers of a decision, one convention for every HTTP face (ingester, token service,
 * bff): Limit = bucket size, Remaining = whole tokens left, Reset = delta-seconds until the bucket is full
 * (as in the IETF RateLimit header draft), plus `Retry-After` when the request was refused.
 */
export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'x-ratelimit-limit': String(d.limit),
    'x-ratelimit-remaining': String(d.remaining),
    'x-ratelimit-reset': String(d.resetS),
  };
  if (!d.allowed) headers['retry-after'] = String(d.retryAfterS);
  return headers;
}

/**
 * The one rate limiter of the HTTP faces (ingester per source, token service per client and IP): a per-key
 * token bucket, `burst` at once, refilled at `perSecond`. With Redis the bucket is shared by
 * every instance; if Redis fails, this instance falls back to its own bucket rather than refusing
 * (or waving through) all traffic.
 */
export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const { redis, prefix = 'zm:', onError = () => {} } = options;
  const own: RateShape = { perSecond: options.perSecond, burst: options.burst };
  checkShape(own);
  const local = createLocalBuckets();
  return {
    async take(key, nowMs, shape = own) {
      if (shape !== own) checkShape(shape);
      const { perSecond, burst } = shape;
      if (redis === undefined) return local(key, nowMs, shape);
      try {
        const [allowed, tokens] = (await redis.eval(TAKE, 1, `${prefix}rate:${key}`, perSecond, burst)) as [
          number,
          string,
        ];
        return decide(allowed === 1, Number(tokens), perSecond, burst);
      } catch (err) {
        onError(err);
        return local(key, nowMs, shape);
      }
    },
  };
}
