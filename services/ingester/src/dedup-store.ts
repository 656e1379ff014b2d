import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';

/**
 * The outcome of claiming a (source, delivery id):
 * - `claimed`: this request records the event, then commits the answer (or releases on failure);
 * - `answered`: an earlier request already recorded it — answer with that event id;
 * - `unclaimed`: no answer within the wait, or the store failed — go to the backend, whose unique
 *   constraint on (source, provider delivery id) stays the final word.
 */
export type Claim =
  | { kind: 'claimed'; commit(eventId: string): Promise<void>; release(): Promise<void> }
  | { kind: 'answered'; eventId: string }
  | { kind: 'unclaimed' };

export interface DedupStore {
  claim(sourceId: string, deliveryId: string): Promise<Claim>;
}

export interface DedupStoreOptions {
  /** Shared across instances when given; an in-process map otherwise (one instance only). */
  redis?: Redis | undefined;
  /** Key prefix, e.g. `zm:ingest:`; tests use a random one. */
  prefix?: string;
  /** How long a claim holds before another request may take over (a crashed holder). */
  claimTtlMs?: number;
  /** How long a committed answer is served from the store; the backend answers after that. */
  answerTtlMs?: number;
  /** How long a retry waits for the claim holder's answer before going to the backend itself. */
  waitMs?: number;
  pollMs?: number;
  onError?: (err: unknown) => void;
}

// Deletes the claim only if it is still ours: a claim that expired and was taken over stays.
const RELEASE =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

interface Backend {
  setNx(key: string, value: string, ttlMs: number): Promise<boolean>;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  delIf(key: string, value: string): Promise<void>;
}

function redisBackend(redis: Redis): Backend {
  return {
    setNx: async (key, value, ttlMs) => (await redis.set(key, value, 'PX', ttlMs, 'NX')) === 'OK',
    get: (key) => redis.get(key),
    set: async (key, value, ttlMs) => {
      await redis.set(key, value, 'PX', ttlMs);
    },
    delIf: async (key, value) => {
      await redis.eval(RELEASE, 1, key, value);
    },
  };
}

function memoryBackend(): Backend {
  const entries = new Map<string, { value: string; expiresAt: number }>();
  const live = (key: string) => {
    const e = entries.get(key);
    if (e !== undefined && e.expiresAt <= performance.now()) entries.delete(key);
    return entries.get(key);
  };
  // Expired entries are dropped lazily and on each write, so the map stays bounded by live keys.
  const sweep = () => {
    if (entries.size < 10_000) return;
    for (const key of entries.keys()) live(key);
  };
  return {
    setNx: async (key, value, ttlMs) => {
      if (live(key) !== undefined) return false;
      sweep();
      entries.set(key, { value, expiresAt: performance.now() + ttlMs });
      return true;
    },
    get: async (key) => live(key)?.value ?? null,
    set: async (key, value, ttlMs) => {
      sweep();
      entries.set(key, { value, expiresAt: performance.now() + ttlMs });
    },
    delIf: async (key, value) => {
      if (live(key)?.value === value) entries.delete(key);
    },
  };
}

/**
 * Short-lived claim/answer records in front of the backend's unique constraint, so a provider's
 * retries — even many at once, on several ingester instances — produce one RecordEvent and get the
 * first answer back. Keys hold a digest of the delivery id, never the id itself.
 */
export function createDedupStore(options: DedupStoreOptions = {}): DedupStore {
  const {
    prefix = 'zm:ingest:',
    claimTtlMs = 15_000,
    answerTtlMs = 60 * 60_000,
    waitMs = 5_000,
    pollMs = 20,
    onError = () => {},
  } = options;
  const store = options.redis === undefined ? memoryBackend() : redisBackend(options.redis);

  return {
    async claim(sourceId, deliveryId) {
      const digest = createHash('sha256').update(deliveryId).digest('base64url');
      const key = `${prefix}dedup:${sourceId}:${digest}`;
      const mine = `p:${randomBytes(12).toString('base64url')}`;
      const deadline = performance.now() + waitMs;
      try {
        for (;;) {
          if (await store.setNx(key, mine, claimTtlMs)) {
            return {
              kind: 'claimed',
              commit: (eventId) => store.set(key, `e:${eventId}`, answerTtlMs).catch(onError),
              release: () => store.delIf(key, mine).catch(onError),
            };
          }
          const value = await store.get(key);
          if (value?.startsWith('e:')) return { kind: 'answered', eventId: value.slice(2) };
          if (performance.now() >= deadline) return { kind: 'unclaimed' };
          if (value !== null) await sleep(pollMs);
        }
      } catch (err) {
        onError(err);
        return { kind: 'unclaimed' };
      }
    },
  };
}
