// Issue 12, defect 4: /api/v1 is limited per client IP before authentication and per API key after it,
// shared through the real Redis by two bff replicas. Keys are real (the token service's store over a scratch
// Postgres); the app trusts 127.0.0.1 as a proxy, so X-Forwarded-For stands in for distinct addresses.
import { randomBytes } from 'node:crypto';
import { type BffApp, createBffApp } from '@zenmesh/bff';
import { createDatabase, createScratchDatabase, type Db, type ScratchDatabase } from '@zenmesh/db';
import { createLogger } from '@zenmesh/telemetry';
import { createApiKeyVerifier, generateApiKey, openTokenStore } from '@zenmesh/token';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend } from './support/bff-test-backend.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `zm:test:bff-rl:${randomBytes(6).toString('hex')}:`;

let scratch: ScratchDatabase;
let db: Db;
let redis: Redis;
const apps: BffApp[] = [];
const bases: string[] = [];
let verifyCalls = 0;
const keys = { a: '', b: '', c: '' };

beforeAll(async () => {
  scratch = await createScratchDatabase(process.env.DATABASE_URL ?? '', 'zm_test_bff_rl');
  db = await createDatabase({ url: scratch.url });
  const store = await openTokenStore({ db, logger: createLogger('token', { level: 'silent' }) });
  for (const name of ['a', 'b', 'c'] as const) {
    keys[name] = (await store.create({ name, scopes: ['admin'] })).apiKey;
  }
  const verify = createApiKeyVerifier(store);
  redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  for (let i = 0; i < 2; i++) {
    const app = createBffApp({
      backend: createTestBackend([]).backend,
      verifyApiKey: async (key) => {
        verifyCalls += 1;
        return verify(key);
      },
      logger: createLogger('bff', { level: 'silent' }),
      trustedProxies: ['127.0.0.1'],
      rateLimit: {
        perCaller: { points: 3, durationSec: 60 },
        perIp: { points: 5, durationSec: 60 },
        redis,
        prefix: PREFIX,
      },
    });
    apps.push(app);
    bases.push(await app.listen('127.0.0.1:0'));
  }
});

afterAll(async () => {
  for (const app of apps) await app.close();
  const found = await redis.keys(`${PREFIX}*`);
  if (found.length > 0) await redis.del(...found);
  redis.disconnect();
  await db?.close();
  await scratch?.drop();
});

const get = (replica: number, key: string, ip: string) =>
  fetch(`${bases[replica]}/api/v1/tenants`, {
    headers: { authorization: `Bearer ${key}`, 'x-forwarded-for': ip },
  });

async function expectLimited(res: Response, limit: number): Promise<void> {
  const body = (await res.json()) as { error: string; retry_after: number };
  expect([res.status, body.error]).toEqual([429, 'rate_limited']);
  expect(body.retry_after).toBeGreaterThan(0);
  expect(res.headers.get('retry-after')).toBe(String(body.retry_after));
  expect(res.headers.get('x-ratelimit-limit')).toBe(String(limit));
  expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
  expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
}

describe('/api/v1 rate limits (issue 12, defect 4)', () => {
  it('limits each API key on its own budget, from any address and across replicas (shared in Redis)', async () => {
    const first = await get(0, keys.a, '198.51.100.1');
    expect(first.status).toBe(200);
    expect([first.headers.get('x-ratelimit-limit'), first.headers.get('x-ratelimit-remaining')]).toEqual([
      '3',
      '2',
    ]);
    expect((await get(1, keys.a, '198.51.100.2')).status).toBe(200);
    expect((await get(0, keys.a, '198.51.100.3')).status).toBe(200);
    await expectLimited(await get(1, keys.a, '198.51.100.4'), 3);
    // Another key from the same addresses is untouched.
    const other = await get(0, keys.b, '198.51.100.4');
    expect([other.status, other.headers.get('x-ratelimit-remaining')]).toEqual([200, '2']);
  });

  it('made-up keys spend only their sender’s IP budget, never a real key’s, and stop costing verifications', async () => {
    const stranger = '203.0.113.50';
    for (let i = 0; i < 5; i++) {
      const refused = await get(i % 2, generateApiKey(), stranger);
      // Refused before authentication, the answer reports the stranger's IP budget (shared by the replicas).
      expect([refused.status, refused.headers.get('x-ratelimit-remaining')]).toEqual([401, String(4 - i)]);
    }
    const before = verifyCalls;
    await expectLimited(await get(0, generateApiKey(), stranger), 5);
    await expectLimited(await get(1, keys.c, stranger), 5);
    // Refused before authentication: the token service was not asked.
    expect(verifyCalls).toBe(before);
    // Key c, from its own address, has its whole budget.
    const real = await get(1, keys.c, '198.51.100.9');
    expect([real.status, real.headers.get('x-ratelimit-remaining')]).toEqual([200, '2']);
  });
});
