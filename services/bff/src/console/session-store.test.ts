import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ConsoleSession,
  createMemorySessionStore,
  createRedisSessionStore,
  type SessionStore,
} from './session-store.js';

const TIMEOUTS = { idleMs: 30 * 60_000, absoluteMs: 12 * 3600_000 };
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const prefix = `zm-test-console-${randomBytes(4).toString('hex')}:`;
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const session = (at: number): ConsoleSession => ({
  subject: 'usr_a',
  username: 'alice',
  tenantId: 'ten_a',
  scopes: ['events:read'],
  accessToken: 'at',
  accessExpiresAt: at + 600_000,
  refreshToken: 'zmr_x',
  csrfToken: 'csrf',
  createdAt: at,
  lastSeenAt: at,
});

const stores: Array<[string, (now: () => number) => SessionStore]> = [
  ['in-process', (now) => createMemorySessionStore(TIMEOUTS, now)],
  ['Redis', (now) => createRedisSessionStore(redis, TIMEOUTS, { prefix, now })],
];

describe.each(stores)('the %s session store', (_name, make) => {
  it('keeps a used session alive, and drops it after the idle timeout', async () => {
    let now = 1_000_000;
    const store = make(() => now);
    const id = await store.create(session(now));
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    now += TIMEOUTS.idleMs - 1000;
    expect(await store.touch(id)).toMatchObject({ username: 'alice', lastSeenAt: now });
    now += TIMEOUTS.idleMs - 1000; // used just before: still alive
    expect(await store.touch(id)).not.toBeNull();
    now += TIMEOUTS.idleMs;
    expect(await store.touch(id)).toBeNull();
    expect(await store.touch(id)).toBeNull();
  });

  it('drops a busy session at the absolute timeout', async () => {
    let now = 5_000_000;
    const store = make(() => now);
    const id = await store.create(session(now));
    while (now < 5_000_000 + TIMEOUTS.absoluteMs - TIMEOUTS.idleMs) {
      now += TIMEOUTS.idleMs - 1;
      expect(await store.touch(id)).not.toBeNull();
    }
    now = 5_000_000 + TIMEOUTS.absoluteMs;
    expect(await store.touch(id)).toBeNull();
  });

  it('knows no other id, forgets a destroyed one, and takes a pending login once', async () => {
    const store = make(Date.now);
    const id = await store.create(session(Date.now()));
    expect(await store.touch(`${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`)).toBeNull();
    expect(await store.destroy(id)).toMatchObject({ refreshToken: 'zmr_x' });
    expect(await store.touch(id)).toBeNull();
    const pid = await store.savePending({ state: 's', nonce: 'n', codeVerifier: 'v', returnTo: '/console/' });
    expect(await store.takePending(pid)).toMatchObject({ state: 's' });
    expect(await store.takePending(pid)).toBeNull();
  });
});

describe('the Redis session store', () => {
  it('stores ids only as their SHA-256 and expires keys at the nearer timeout', async () => {
    const store = createRedisSessionStore(redis, TIMEOUTS, { prefix });
    const id = await store.create(session(Date.now()));
    const keys = await redis.keys(`${prefix}s:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.some((k) => k.includes(id))).toBe(false);
    const ttls = await Promise.all(keys.map((k) => redis.pttl(k)));
    for (const ttl of ttls) expect(ttl).toBeLessThanOrEqual(TIMEOUTS.idleMs);
    // The tokens are sealed under the id: Redis alone yields neither.
    const stored = JSON.stringify(await Promise.all(keys.map((k) => redis.hgetall(k))));
    expect(stored).not.toContain('zmr_x');
    expect(stored).not.toContain('csrf');
  });
});
