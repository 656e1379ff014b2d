import { Redis } from 'ioredis';

/**
 * The HTTP faces' connection to the shared store (rate-limit buckets, dedup claims, console sessions) when
 * `REDIS_URL` is set, closed by `defer`; undefined otherwise (each instance then keeps its own). A one-second
 * command timeout and one retry keep a slow Redis from holding requests: the callers fall back to their
 * per-instance budgets (and the backend's unique constraint still decides duplicates).
 */
export function openSharedRedis(
  url: string | undefined,
  defer: (step: () => Promise<void>) => void,
): Redis | undefined {
  if (!url) return undefined;
  const redis = new Redis(url, { commandTimeout: 1000, maxRetriesPerRequest: 1 });
  defer(() => redis.quit().then(() => undefined));
  return redis;
}
