export {
  type ClaimStore,
  ClaimStoreError,
  type ClaimStoreErrorCode,
  createMemoryClaimStore,
  createRedisClaimStore,
  type MemoryClaimStoreOptions,
  type RedisClaimStoreOptions,
} from './claim-store.js';
export {
  createRateLimiter,
  type RateDecision,
  type RateLimiter,
  type RateLimitOptions,
  type RateShape,
  rateLimitHeaders,
} from './rate-limiter.js';
