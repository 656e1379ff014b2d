import { Redis } from 'ioredis';
import { CryptoError } from './errors.js';

/**
 * Where seen nonces are remembered. `claim` resolves true the first time a nonce is seen and false after;
 * it rejects with ERR_NONCE_STORE_UNAVAILABLE when it cannot tell, and the caller must then refuse the
 * message: an unverifiable nonce is never waved through (fail closed).
 */
export interface NonceStore {
  readonly kind: 'memory' | 'redis';
  claim(nonce: string, ttlMs: number): Promise<boolean>;
  /** Resolves when the store can answer, or false after timeoutMs. */
  waitUntilReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * In-process store, for a single instance only: a second instance of the same service would not see these
 * nonces, so a request replayed to it would pass. Entries expire after their TTL; above `maxEntries` live
 * entries claims are refused rather than memory growing without bound.
 */
export function createMemoryNonceStore(
  options: { maxEntries?: number; clock?: () => number } = {},
): NonceStore {
  const clock = options.clock ?? Date.now;
  const maxEntries = options.maxEntries ?? 1_000_000;
  const seen = new Map<string, number>(); // nonce -> expiry; insertion order ≈ expiry order (one TTL per process)
  const sweep = (now: number) => {
    for (const [nonce, expires] of seen) {
      if (expires > now) break;
      seen.delete(nonce);
    }
  };
  return {
    kind: 'memory',
    async claim(nonce, ttlMs) {
      const now = clock();
      sweep(now);
      const expires = seen.get(nonce);
      if (expires !== undefined && expires > now) return false;
      if (seen.size >= maxEntries) {
        throw new CryptoError(
          'ERR_NONCE_STORE_UNAVAILABLE',
          `in-process nonce store is full (${maxEntries})`,
        );
      }
      seen.delete(nonce);
      seen.set(nonce, now + ttlMs);
      return true;
    },
    waitUntilReady: async () => true,
    async close() {
      seen.clear();
    },
  };
}

export interface RedisNonceStoreOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Key prefix; every key this store writes starts with it. */
  prefix: string;
  /** A command that takes longer fails (and the message is refused). Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Connection errors, for logging; the store reconnects by itself. */
  onError?: (err: Error) => void;
}

/**
 * Redis store: `SET <prefix><nonce> 1 NX PX <ttl>` (https://redis.io/docs/latest/commands/set/), atomic
 * across every instance sharing the server. Commands are never queued while disconnected
 * (`enableOfflineQueue: false`) and never retried (`maxRetriesPerRequest: 0`): while Redis is away each
 * claim fails at once, and the connection is re-established in the background, so service resumes by itself.
 */
export function createRedisNonceStore(options: RedisNonceStoreOptions): NonceStore {
  if (!/^[A-Za-z0-9:._{}-]{1,200}$/.test(options.prefix)) {
    throw new TypeError('createRedisNonceStore: prefix must be 1-200 of [A-Za-z0-9:._{}-]');
  }
  const redis = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 1000,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    // Reconnect on every error (e.g. READONLY after a failover); the claim in flight still fails closed.
    reconnectOnError: () => true,
  });
  redis.on('error', (err: Error) => options.onError?.(err));
  let closed = false;
  return {
    kind: 'redis',
    async claim(nonce, ttlMs) {
      let reply: string | null;
      try {
        reply = await redis.set(`${options.prefix}${nonce}`, '1', 'PX', Math.ceil(ttlMs), 'NX');
      } catch (err) {
        throw new CryptoError('ERR_NONCE_STORE_UNAVAILABLE', 'Redis nonce store unavailable', { cause: err });
      }
      return reply === 'OK';
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
      if (closed) return;
      closed = true;
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}
