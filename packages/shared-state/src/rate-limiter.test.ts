import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRateLimiter } from './index.js';

describe('in-process token bucket (frozen clock)', () => {
  it('allows the burst, refuses with Retry-After, refills at the rate', async () => {
    const limiter = createRateLimiter({ perSecond: 2, burst: 3 });
    const t = 1_000_000;
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await limiter.take('src', t));
    expect(seen.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    expect(seen[3]).toMatchObject({ limit: 3, retryAfterS: 1, resetS: 2 });
    expect((await limiter.take('src', t + 500)).allowed).toBe(true);
    expect((await limiter.take('other', t)).remaining).toBe(2);
  });

  it('refuses nonsense limits at construction', () => {
    expect(() => createRateLimiter({ perSecond: 0, burst: 1 })).toThrow(TypeError);
    expect(() => createRateLimiter({ perSecond: 1, burst: 0 })).toThrow(TypeError);
  });
});

describe('Redis token bucket', () => {
  it('runs on Redis time: instances whose clocks are minutes apart still share one refilling bucket', async () => {
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const prefix = `zmtest:rate:${randomBytes(6).toString('hex')}:`;
    const a = new Redis(url);
    const b = new Redis(url);
    try {
      const ahead = createRateLimiter({ perSecond: 10, burst: 1, redis: a, prefix });
      const behind = createRateLimiter({ perSecond: 10, burst: 1, redis: b, prefix });
      expect((await ahead.take('k', Date.now() + 120_000)).allowed).toBe(true);
      expect((await behind.take('k', Date.now() - 120_000)).allowed).toBe(false);
      // 10 per second: refilled within 100 ms of Redis's own clock, whatever the callers' clocks say.
      await new Promise((r) => setTimeout(r, 250));
      expect((await behind.take('k', Date.now() - 120_000)).allowed).toBe(true);
    } finally {
      await a.del(`${prefix}rate:k`);
      a.disconnect();
      b.disconnect();
    }
  });

  it('is one bucket for every limiter sharing the server, and falls back to its own when Redis fails', async () => {
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const prefix = `zmtest:rate:${randomBytes(6).toString('hex')}:`;
    const a = new Redis(url);
    const b = new Redis(url);
    try {
      const one = createRateLimiter({ perSecond: 1, burst: 2, redis: a, prefix });
      const two = createRateLimiter({ perSecond: 1, burst: 2, redis: b, prefix });
      const t = Date.now();
      expect((await one.take('k', t)).allowed).toBe(true);
      expect((await two.take('k', t)).allowed).toBe(true);
      expect(await one.take('k', t)).toMatchObject({ allowed: false, retryAfterS: 1 });
      const errors: unknown[] = [];
      const broken = new Redis('redis://127.0.0.1:1', {
        enableOfflineQueue: false,
        retryStrategy: () => null,
      });
      broken.on('error', () => {});
      const alone = createRateLimiter({
        perSecond: 1,
        burst: 2,
        redis: broken,
        prefix,
        onError: (e) => errors.push(e),
      });
      expect((await alone.take('k', t)).allowed).toBe(true);
      expect(errors).toHaveLength(1);
      broken.disconnect();
    } finally {
      await a.del(`${prefix}rate:k`);
      a.disconnect();
      b.disconnect();
    }
  });
});
