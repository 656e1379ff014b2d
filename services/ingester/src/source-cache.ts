import type { ResolveSourceResponse } from '@zenmesh/proto';
import { Code } from '@zenmesh/rpc';
import { LRUCache } from 'lru-cache';

/** The slice of the backend's SourceService the ingester uses. */
export interface SourcesClient {
  resolveSource(request: { sourceId: string }): Promise<ResolveSourceResponse>;
}

export type ResolvedSource = ResolveSourceResponse;

export interface SourceCache {
  /** The source's verification material, or undefined when the backend says it does not exist. */
  resolve(sourceId: string): Promise<ResolvedSource | undefined>;
}

export interface SourceCacheOptions {
  sources: SourcesClient;
  /** How long a resolved source is reused; rotation of a source secret takes effect within this time. */
  ttlMs?: number;
  /**
   * How long "no such source" is remembered (default 5 s), so a flood of unknown ids costs the backend one
   * ResolveSource per id per this time. A source created meanwhile is found once it expires.
   */
  negativeTtlMs?: number;
  max?: number;
  /** Unknown ids remembered at most; kept apart so a flood of them never evicts a real source. */
  maxNegative?: number;
  /** The clock the TTLs run on (milliseconds), injectable for tests. */
  now?: () => number;
}

type Entry = { found: true; value: ResolvedSource } | { found: false };
const NOT_FOUND: Entry = { found: false };

/** Two bounded LRUs in front of ResolveSource; concurrent misses for one id share a single call. */
export function createSourceCache(options: SourceCacheOptions): SourceCache {
  const { sources, ttlMs = 30_000, negativeTtlMs = 5_000, max = 10_000, maxNegative = 100_000 } = options;
  const perf = { now: options.now ?? performance.now.bind(performance) };
  const cache = new LRUCache<string, Entry>({ max, ttl: ttlMs, perf });
  const unknown = new LRUCache<string, Entry>({ max: maxNegative, ttl: negativeTtlMs, perf });
  const pending = new Map<string, Promise<Entry>>();

  const load = async (sourceId: string): Promise<Entry> => {
    try {
      const value = await sources.resolveSource({ sourceId });
      const entry: Entry = { found: true, value };
      cache.set(sourceId, entry);
      return entry;
    } catch (err) {
      if ((err as { code?: unknown }).code === Code.NOT_FOUND) {
        unknown.set(sourceId, NOT_FOUND);
        return NOT_FOUND;
      }
      throw err;
    }
  };

  return {
    async resolve(sourceId) {
      let entry = cache.get(sourceId) ?? unknown.get(sourceId);
      if (entry === undefined) {
        let inFlight = pending.get(sourceId);
        if (inFlight === undefined) {
          inFlight = load(sourceId).finally(() => pending.delete(sourceId));
          pending.set(sourceId, inFlight);
        }
        entry = await inFlight;
      }
      return entry.found ? entry.value : undefined;
    },
  };
}
