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

const RELEASE_COMMAND = 'zenmeshReleaseClaim';

const PREFIX = /^[A-Za-z0-9:._{}-]{1,200}$/;

export interface RedisClaimStoreOptions {
  /** The connection; its owner decides timeouts and retries (and closes it, unless `ownsClient`). */
  redis: Redis;
  /** Every key this store writes starts with it: 1-200 of [A-Za-z0-9:._{}-]. */
  prefix: string;
  /** `close()` quits the connection too. Default false. */
  ownsClient?: boolean;
  /**
   * How long an operation waits for a connection that is still being (re-)established before it fails.
   * A claim made in the first milliseconds after start, or during a reconnect, waits for the connection
   * instead of failing at once; after this bound it rejects (and a nonce claim fails closed). Default 1000.
   */
  readyWaitMs?: number;
}

export function createRedisClaimStore(options: RedisClaimStoreOptions): ClaimStore {
  const { redis, prefix } = options;
  if (!PREFIX.test(prefix))
    throw new TypeError('createRedisClaimStore: prefix must be 1-200 of [A-Za-z0-9:._{}-]');
  const readyWaitMs = options.readyWaitMs ?? 1000;
  let closed = false;
  // EVALSHA with a fallback to EVAL on NOSCRIPT (ioredis defineCommand): the script text is sent once.
  if (!(RELEASE_COMMAND in redis)) redis.defineCommand(RELEASE_COMMAND, { numberOfKeys: 1, lua: RELEASE });
  const release = (key: string, value: string) =>
    (redis as unknown as Record<string, (k: string, v: string) => Promise<unknown>>)[RELEASE_COMMAND]?.call(
      redis,
      key,
      value,
    );
  const waitUntilReady = (timeoutMs: number): Promise<boolean> => {
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
  };
  /** Runs `op` once the connection is ready, waiting at most `readyWaitMs` for it. */
  const whenReady = async <T>(op: () => Promise<T>): Promise<T> => {
    // A closed connection never becomes ready: fail at once rather than after the bound.
    if (redis.status !== 'ready' && (redis.status === 'end' || !(await waitUntilReady(readyWaitMs)))) {
      throw new Error(`Redis not ready after ${readyWaitMs} ms (status ${redis.status})`);
    }
    return op();
  };
  return {
    kind: 'redis',
    claim: (key, value, ttlMs) =>
      whenReady(
        async () => (await redis.set(`${prefix}${key}`, value, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK',
      ),
    get: (key) => whenReady(() => redis.get(`${prefix}${key}`)),
    set: (key, value, ttlMs) =>
      whenReady(async () => {
        await redis.set(`${prefix}${key}`, value, 'PX', Math.ceil(ttlMs));
      }),
    release: (key, value) =>
      whenReady(async () => {
        await release(`${prefix}${key}`, value);
      }),
    waitUntilReady,
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
