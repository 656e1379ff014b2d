import { type ClaimStore, createMemoryClaimStore, createRedisClaimStore } from '@zenmesh/shared-state';
import { Redis } from 'ioredis';
import { CryptoError } from './errors.js';

/**
 * Where seen nonces are remembered: a claim-once store (`@zenmesh/shared-state`, the same primitive as the
 * ingester's webhook dedup). `claim` resolves true the first time a nonce is seen and false after; it rejects
 * with ERR_NONCE_STORE_UNAVAILABLE when it cannot tell, and the caller must then refuse the message: an
 * unverifiable nonce is never waved through (fail closed). One claim is one promise and one store command,
 * so a pipelining store client can batch them.
 */
export interface NonceStore {
  readonly kind: 'memory' | 'redis';
  claim(nonce: string, ttlMs: number): Promise<boolean>;
  /** Resolves when the store can answer, or false after timeoutMs. */
  waitUntilReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** A nonce store over any claim store; a store that cannot answer becomes ERR_NONCE_STORE_UNAVAILABLE. */
export function createNonceStore(claims: ClaimStore, unavailable: string): NonceStore {
  return {
    kind: claims.kind,
    async claim(nonce, ttlMs) {
      try {
        return await claims.claim(nonce, '1', ttlMs);
      } catch (err) {
        throw new CryptoError('ERR_NONCE_STORE_UNAVAILABLE', unavailable, { cause: err });
      }
    },
    waitUntilReady: (timeoutMs) => claims.waitUntilReady(timeoutMs),
    close: () => claims.close(),
  };
}

/**
 * In-process store, for a single instance only: a second instance of the same service would not see these
 * nonces, so a request replayed to it would pass. Entries expire after their TTL; above `maxEntries` live
 * entries claims are refused rather than memory growing without bound.
 */
export const createMemoryNonceStore = (
  options: { maxEntries?: number; clock?: () => number } = {},
): NonceStore => createNonceStore(createMemoryClaimStore(options), 'in-process nonce store is full');

export interface RedisNonceStoreOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Key prefix; every key this store writes starts with it. */
  prefix: string;
  /** A command that takes longer fails (and the message is refused). Default 1000 ms. */
  commandTimeoutMs?: number;
  /** A claim waits this long for a connection being (re-)established, then fails closed. Default 1000 ms. */
  readyWaitMs?: number;
  /** Connection errors, for logging; the store reconnects by itself. */
  onError?: (err: Error) => void;
}

/**
 * Redis store: `SET <prefix><nonce> 1 NX PX <ttl>`, atomic across every instance sharing the server. Commands
 * are never queued while disconnected (`enableOfflineQueue: false`) and never retried
 * (`maxRetriesPerRequest: 0`): a claim waits at most `readyWaitMs` for a connection being established (so
 * the first calls after start do not fail), then fails closed; the connection is re-established in the
 * background, so service resumes by itself. Claims made in the same event-loop turn share one write
 * (`enableAutoPipelining`): 16 calls in flight cost one round trip, not 16.
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
    enableAutoPipelining: true,
  });
  redis.on('error', (err: Error) => options.onError?.(err));
  return createNonceStore(
    createRedisClaimStore({
      redis,
      prefix: options.prefix,
      ownsClient: true,
      readyWaitMs: options.readyWaitMs ?? 1000,
    }),
    'Redis nonce store unavailable',
  );
}
