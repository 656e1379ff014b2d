import { ZenMeshError } from '@zenmesh/errors';
import type { Redis } from 'ioredis';

/**
 * Keys that can be claimed once and expire: the one primitive behind the message-integrity nonce store (a
 * nonce is accepted the first time only) and the ingester's webhook deduplication (one event per provider
 * delivery id, whatever the retries). In Redis the claim is `SET key value NX PX ttl`
 * (https://redis.io/docs/latest/commands/set/), atomic across every instance sharing the server; in-process
 * it holds for one instance only.
 *
 * Every operation is one promise and one command, so callers (and later a pipelining client, e.g. ioredis
 * auto-pipelining) can batch claims without changing this interface. A store that cannot answer rejects;
 * what that means (refuse, or carry on without it) is the caller's decision.
 */
export interface ClaimStore {
  readonly kind: 'memory' | 'redis';
  /** Sets `key` to `value` for `ttlMs` unless it is held; true when this call claimed it. */
  claim(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** The value held, or null when the key is free (never claimed, expired or released). */
  get(key: string): Promise<string | null>;
  /** Sets `key` whatever it holds (e.g. the answer that replaces a claim). */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Frees `key` only if it still holds `value`: a claim that expired and was taken over stays. */
  release(key: string, value: string): Promise<void>;
  /** Resolves true once the store can answer, or false after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export type ClaimStoreErrorCode = 'ERR_CLAIM_STORE_FULL';

export class ClaimStoreError extends ZenMeshError<ClaimStoreErrorCode> {
  override readonly name = 'ClaimStoreError';
}

export interface MemoryClaimStoreOptions {
  /** Live keys at most; a claim beyond it is refused (rejects) rather than memory growing without bound. */
  maxEntries?: number;
  /** Milliseconds; injectable for expiry tests. */
  clock?: () => number;
}

/**
 * The in-process store. Entries expire after their TTL; expired ones are dropped from the oldest end as new
 * ones arrive (cheap: insertion order is close to expiry order), and all of them once the store is full.
 */
export function createMemoryClaimStore(options: MemoryClaimStoreOptions = {}): ClaimStore {
  const clock = options.clock ?? Date.now;
  const maxEntries = options.maxEntries ?? 1_000_000;
  const entries = new Map<string, { value: string; expires: number }>();
  const sweepOldest = (now: number) => {
    for (const [key, entry] of entries) {
      if (entry.expires > now) break;
      entries.delete(key);
    }
  };
  const sweepAll = (now: number) => {
    for (const [key, entry] of entries) if (entry.expires <= now) entries.delete(key);
  };
  const live = (key: string, now: number) => {
    const entry = entries.get(key);
    return entry !== undefined && entry.expires > now ? entry : undefined;
  };
  const put = (key: string, value: string, ttlMs: number, now: number) => {
    entries.delete(key);
    if (entries.size >= maxEntries) sweepAll(now);
    if (entries.size >= maxEntries) {
      throw new ClaimStoreError('ERR_CLAIM_STORE_FULL', `in-process claim store is full (${maxEntries})`);
    }
    entries.set(key, { value, expires: now + ttlMs });
  };
  return {
    kind: 'memory',
    async claim(key, value, ttlMs) {
      const now = clock();
      sweepOldest(now);
      if (live(key, now) !== undefined) return false;
      put(key, value, ttlMs, now);
      return true;
    },
    async get(key) {
      return live(key, clock())?.value ?? null;
    },
    async set(key, value, ttlMs) {
      const now = clock();
      sweepOldest(now);
      put(key, value, ttlMs, now);
    },
    async release(key, value) {
      if (live(key, clock())?.value === value) entries.delete(key);
    },
    waitUntilReady: async () => true,
    async close() {
      entries.clear();
    },
  };
}

// Deletes the key only if it still holds our value: a claim that expired and was taken over stays.
const RELEASE =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

const PREFIX = /^[A-Za-z0-9:._{}-]{1,200}$/;

export interface RedisClaimStoreOptions {
  /** The connection; its owner decides timeouts and retries (and closes it, unless `ownsClient`). */
  redis: Redis;
  /** Every key this store writes starts with it: 1-200 of [A-Za-z0-9:._{}-]. */
  prefix: string;
  /** `close()` quits the connection too. Default false. */
  ownsClient?: boolean;
}

export function createRedisClaimStore(options: RedisClaimStoreOptions): ClaimStore {
  const { redis, prefix } = options;
  if (!PREFIX.test(prefix))
    throw new TypeError('createRedisClaimStore: prefix must be 1-200 of [A-Za-z0-9:._{}-]');
  let closed = false;
  return {
    kind: 'redis',
    claim: async (key, value, ttlMs) =>
      (await redis.set(`${prefix}${key}`, value, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK',
    get: (key) => redis.get(`${prefix}${key}`),
    async set(key, value, ttlMs) {
      await redis.set(`${prefix}${key}`, value, 'PX', Math.ceil(ttlMs));
    },
    async release(key, value) {
      await redis.eval(RELEASE, 1, `${prefix}${key}`, value);
    },
    waitUntilReady(timeoutMs) {
      if (redis.status === 'ready') return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          redis.off('ready', onReady);
          resolve(ok);
        };
        const onReady = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        redis.on('ready', onReady);
      });
    },
    async close() {
      if (closed || !options.ownsClient) return;
      closed = true;
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}
