// Issue 12, defect 4: the token endpoints' limits, attacked. Limits are keyed on the client IP before
// authentication and on the authenticated client after it, and shared through the real Redis. The harness
// trusts 127.0.0.1 as a proxy, so X-Forwarded-For stands in for distinct client addresses.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OAuthClient } from './clients.js';
import { startTokenHarness, type TokenHarness } from './test-kit/token-harness.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `zm:test:token-rl:${randomBytes(6).toString('hex')}:`;

let redis: Redis;
let a: TokenHarness;
let b: TokenHarness;
let real: { client: OAuthClient; secret: string };

beforeAll(async () => {
  redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  // Two replicas sharing one Redis (their databases differ; the IP budget does not depend on them).
  const config = {
    trustedProxies: ['127.0.0.1'],
    rateLimit: { points: 3, durationSec: 60 },
    ipRateLimit: { points: 5, durationSec: 60 },
    redis,
    redisPrefix: PREFIX,
  };
  a = await startTokenHarness('token_rl_a', config);
  b = await startTokenHarness('token_rl_b', config);
  real = await a.worker();
}, 60_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

// client_secret_basic, the method the harness's workers register.
const token = (h: TokenHarness, ip: string, clientId: string, secret: string) =>
  fetch(`${h.issuer}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-forwarded-for': ip,
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });

/** Every limited answer: 429, `rate_limited` with `retry_after`, Retry-After and the X-RateLimit-* trio. */
async function expectLimited(res: Response, limit: number): Promise<void> {
  const body = (await res.json()) as { error: string; retry_after: number };
  expect([res.status, body.error]).toEqual([429, 'rate_limited']);
  expect(body.retry_after).toBeGreaterThan(0);
  expect(res.headers.get('retry-after')).toBe(String(body.retry_after));
  expect(res.headers.get('x-ratelimit-limit')).toBe(String(limit));
  expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
  // Delta-seconds until the budget is whole again, as on the ingester and the bff.
  expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
  expect(Number(res.headers.get('x-ratelimit-reset'))).toBeLessThanOrEqual(60);
}

describe('token endpoint limits (issue 12, defect 4)', () => {
  it("a stranger sending a real client's id spends only its own IP's budget, not the client's", async () => {
    const stranger = '203.0.113.9';
    for (let i = 0; i < 5; i++) {
      const refused = await token(a, stranger, real.client.id, 'guessed-secret');
      // Refused before the client is known, the answer reports the stranger's IP budget.
      expect([refused.status, refused.headers.get('x-ratelimit-remaining')]).toEqual([401, String(4 - i)]);
    }
    await expectLimited(await token(a, stranger, real.client.id, 'guessed-secret'), 5);
    // The real client, from its own address, still has its whole budget.
    const ok = await token(a, '198.51.100.7', real.client.id, real.secret);
    expect(ok.status).toBe(200);
    expect([ok.headers.get('x-ratelimit-limit'), ok.headers.get('x-ratelimit-remaining')]).toEqual([
      '3',
      '2',
    ]);
  });

  it('rotating client ids does not escape the per-IP limit', async () => {
    const rotator = '203.0.113.10';
    for (let i = 0; i < 5; i++) {
      const res = await token(a, rotator, `cli_${randomBytes(8).toString('hex')}`, 'x');
      expect(res.status).toBe(401);
    }
    await expectLimited(await token(a, rotator, `cli_${randomBytes(8).toString('hex')}`, 'x'), 5);
    // Nor does the limit care which endpoint: introspection and revocation share the IP budget.
    for (const path of ['/oauth/introspect', '/oauth/revoke']) {
      const res = await fetch(`${a.issuer}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': rotator },
        body: new URLSearchParams({ token: 'x', client_id: 'cli_other', client_secret: 'x' }),
      });
      await expectLimited(res, 5);
    }
  });

  it('an authenticated client is limited on its own budget from any address', async () => {
    const { client, secret } = await a.worker();
    for (let i = 0; i < 3; i++) {
      expect((await token(a, `198.51.100.${20 + i}`, client.id, secret)).status).toBe(200);
    }
    await expectLimited(await token(a, '198.51.100.30', client.id, secret), 3);
  });

  it('shares the per-IP budget between replicas through Redis', async () => {
    const ip = '203.0.113.11';
    expect((await token(a, ip, 'cli_x', 'x')).status).toBe(401);
    expect((await token(b, ip, 'cli_x', 'x')).status).toBe(401);
    expect((await token(a, ip, 'cli_x', 'x')).status).toBe(401);
    expect((await token(b, ip, 'cli_x', 'x')).status).toBe(401);
    expect((await token(a, ip, 'cli_x', 'x')).status).toBe(401);
    // Five spent across two replicas: the sixth is refused on either.
    await expectLimited(await token(b, ip, 'cli_x', 'x'), 5);
    expect(await redis.exists(`${PREFIX}oauth-ip:rate:ip:${ip}`)).toBe(1);
  });
});
