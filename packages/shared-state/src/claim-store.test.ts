import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type ClaimStore, createMemoryClaimStore, createRedisClaimStore } from './index.js';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `zmtest:claims:${randomBytes(6).toString('hex')}:`;
const raw = new Redis(url);
afterAll(async () => {
  const keys = await raw.keys(`${prefix}*`);
  if (keys.length) await raw.del(...keys);
  raw.disconnect();
});

/** What both kinds of store must do, run against each. */
function behaves(
  name: string,
  make: (clock: () => number) => ClaimStore,
  advance: (ms: number) => Promise<void>,
) {
  describe(name, () => {
    it('the first claim wins; a second claim of a held key loses; get reads the holder', async () => {
      const store = make(Date.now);
      expect(await store.claim('k1', 'mine', 60_000)).toBe(true);
      expect(await store.claim('k1', 'theirs', 60_000)).toBe(false);
      expect(await store.get('k1')).toBe('mine');
      expect(await store.get('never')).toBeNull();
      await store.close();
    });

    it('release frees only the holder’s claim; set replaces whatever is there', async () => {
      const store = make(Date.now);
      await store.claim('k2', 'mine', 60_000);
      await store.release('k2', 'not-mine');
      expect(await store.get('k2')).toBe('mine');
      await store.set('k2', 'answer', 60_000);
      await store.release('k2', 'mine');
      expect(await store.get('k2')).toBe('answer');
      await store.release('k2', 'answer');
      expect(await store.get('k2')).toBeNull();
      expect(await store.claim('k2', 'again', 60_000)).toBe(true);
      await store.close();
    });

    it('a claim expires after its TTL and can be claimed again', async () => {
      const store = make(Date.now);
      expect(await store.claim('k3', 'a', 50)).toBe(true);
      await advance(80);
      expect(await store.get('k3')).toBeNull();
      expect(await store.claim('k3', 'b', 50)).toBe(true);
      await store.close();
    });
  });
}

let now = 0;
behaves(
  'in-process claim store',
  () => createMemoryClaimStore({ clock: () => now }),
  async (ms) => {
    now += ms;
  },
);
behaves(
  'Redis claim store',
  () => createRedisClaimStore({ redis: new Redis(url), prefix, ownsClient: true }),
  (ms) => new Promise((r) => setTimeout(r, ms)),
);

describe('claim stores, kind by kind', () => {
  it('in-process: a full store sweeps expired keys first, then refuses with ERR_CLAIM_STORE_FULL', async () => {
    let t = 0;
    const store = createMemoryClaimStore({ clock: () => t, maxEntries: 2 });
    await store.claim('long', '1', 1000);
    await store.claim('short', '1', 10);
    t = 20; // 'short' expired behind an unexpired older key: only the full sweep finds it
    expect(await store.claim('third', '1', 1000)).toBe(true);
    await expect(store.claim('fourth', '1', 1000)).rejects.toMatchObject({ code: 'ERR_CLAIM_STORE_FULL' });
  });

  it('Redis: one claim across two connections, with the TTL asked for', async () => {
    const one = createRedisClaimStore({ redis: new Redis(url), prefix, ownsClient: true });
    const two = createRedisClaimStore({ redis: new Redis(url), prefix, ownsClient: true });
    try {
      expect(await one.waitUntilReady(5000)).toBe(true);
      expect(await one.claim('shared', 'one', 600_000)).toBe(true);
      expect(await two.claim('shared', 'two', 600_000)).toBe(false);
      expect(await raw.pttl(`${prefix}shared`)).toBeGreaterThan(590_000);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('Redis: refuses a key prefix outside [A-Za-z0-9:._{}-]', () => {
    expect(() => createRedisClaimStore({ redis: raw, prefix: 'a b' })).toThrow(TypeError);
  });

  it('Redis unreachable: operations reject (the caller decides what that means)', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', () => {});
    const store = createRedisClaimStore({ redis: down, prefix, ownsClient: true });
    await expect(store.claim('k', 'v', 1000)).rejects.toBeInstanceOf(Error);
    await store.close();
  });

  it('Redis: a claim made before the connection is ready waits for it (no offline queue, no flake)', async () => {
    const fresh = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const store = createRedisClaimStore({ redis: fresh, prefix, ownsClient: true });
    try {
      expect(fresh.status).not.toBe('ready');
      expect(await store.claim('early', '1', 60_000)).toBe(true);
      expect(await store.claim('early', '1', 60_000)).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('Redis never ready: an operation waits at most readyWaitMs, then rejects (fail closed)', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 50,
    });
    down.on('error', () => {});
    const store = createRedisClaimStore({ redis: down, prefix, ownsClient: true, readyWaitMs: 300 });
    const started = Date.now();
    await expect(store.claim('k', 'v', 1000)).rejects.toThrow(/not ready after 300 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    down.disconnect();
  });

  it('Redis: release frees only a claim that still holds its value (EVALSHA script)', async () => {
    const store = createRedisClaimStore({ redis: new Redis(url), prefix, ownsClient: true });
    try {
      expect(await store.claim('rel', 'mine', 60_000)).toBe(true);
      await store.release('rel', 'theirs');
      expect(await store.get('rel')).toBe('mine');
      await store.release('rel', 'mine');
      expect(await store.get('rel')).toBeNull();
    } finally {
      await store.close();
    }
  });
});
