import type { ServerResponse } from 'node:http';
import { newId } from '@zenmesh/crypto';
import type { LeasedDelivery } from '@zenmesh/proto';
import { createRateLimiter } from '@zenmesh/shared-state';
import { createLogger } from '@zenmesh/telemetry';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createDeliveryEngine, type DeliveryEngine } from './delivery-engine.js';
import { createEndpointSlots } from './endpoint-slots.js';
import { createFakeBackend, leased, secret, startTarget } from './test-fixtures.js';

// Issue 14 (one endpoint must not take every slot of an egress) and issue 16 (outbound throttle per
// endpoint, shared by egress replicas through Redis). The backend side (share and rooms in the lease, the
// throttled release) is tested against real Postgres in services/backend/src/delivery-controls.test.ts.
const LOOPBACK = { allow: ['127.0.0.0/8'] };
const logger = createLogger('egress', { level: 'silent' });
const engines: DeliveryEngine[] = [];
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop(500)));
  for (const c of closers.splice(0).reverse()) await c();
});

const forEndpoint = (endpointId: string, url: string, rate?: { perSecond: number; burst: number }) => {
  const item = leased(url, [secret()]);
  if (item.delivery) item.delivery.endpointId = endpointId;
  if (rate) {
    item.ratePerSecond = rate.perSecond;
    item.rateBurst = rate.burst;
  }
  return item;
};

describe('fair share per endpoint', () => {
  it('computes rooms: the share minus what is held, zero while throttled, then about one second of rate', () => {
    const slots = createEndpointSlots(4, 16);
    slots.add('a', 0);
    slots.add('a', 0);
    slots.throttled('b', 1_000, 2);
    expect(slots.rooms(500)).toEqual([
      { endpointId: 'b', room: 0 },
      { endpointId: 'a', room: 2 },
    ]);
    expect(slots.rooms(1_500)).toEqual([
      { endpointId: 'a', room: 2 },
      { endpointId: 'b', room: 2 },
    ]);
    // Forgotten five seconds after its wait: the plain share again (no entry).
    expect(slots.rooms(6_001)).toEqual([{ endpointId: 'a', room: 2 }]);
    expect(() => createEndpointSlots(0)).toThrow(TypeError);
  });

  it('lets a fast endpoint use every slot, and caps it again once an attempt hangs; hand-backs are not speed', () => {
    const slots = createEndpointSlots(2, 8);
    slots.add('f', 0);
    slots.remove('f', 0, 10);
    slots.add('f', 100);
    expect(slots.rooms(200)).toEqual([{ endpointId: 'f', room: 7 }]);
    // In flight for over a second: slow at once, back to the share (2 - 1 held).
    expect(slots.rooms(1_200)).toEqual([{ endpointId: 'f', room: 1 }]);
    const handedBack = createEndpointSlots(2, 8);
    handedBack.add('x', 0);
    handedBack.remove('x', 0, 1, false);
    handedBack.add('x', 5);
    expect(handedBack.rooms(10)).toEqual([{ endpointId: 'x', room: 1 }]);
  });

  it('a fast endpoint alone is not held to the share', async () => {
    const quick = await startTarget((res) => setTimeout(() => res.writeHead(204).end(), 20));
    closers.push(() => quick.close());
    const backend = createFakeBackend();
    closers.push(backend.close);
    for (let i = 0; i < 60; i++) backend.queue.push(forEndpoint('ep_quick', quick.url));
    const engine = createDeliveryEngine({
      deliveries: backend.client,
      logger,
      pollMs: 20,
      concurrency: 8,
      targetPolicy: LOOPBACK,
    });
    engines.push(engine);
    engine.start();
    await expect.poll(() => quick.received.length, { timeout: 10_000 }).toBe(60);
    expect(quick.maxActive).toBeGreaterThan(2);
    expect(quick.maxActive).toBeLessThanOrEqual(8);
  });

  it('a black-hole endpoint holds at most its share; a healthy endpoint queued behind it still flows', async () => {
    const hung: ServerResponse[] = [];
    const hole = await startTarget((res) => hung.push(res));
    const healthy = await startTarget((res) => res.writeHead(204).end());
    closers.push(
      () => hole.close(),
      () => healthy.close(),
    );
    const backend = createFakeBackend();
    closers.push(backend.close);
    // The black hole's deliveries are first in line (as the oldest due deliveries would be).
    for (let i = 0; i < 20; i++) backend.queue.push(forEndpoint('ep_hole', hole.url));
    for (let i = 0; i < 20; i++) backend.queue.push(forEndpoint('ep_ok', healthy.url));
    const engine = createDeliveryEngine({
      deliveries: backend.client,
      logger,
      pollMs: 20,
      concurrency: 8,
      timeoutMs: 30_000,
      targetPolicy: LOOPBACK,
    });
    engines.push(engine);
    engine.start();
    await expect.poll(() => healthy.received.length, { timeout: 10_000 }).toBe(20);
    // The default share is a quarter of the slots: 2 of 8, never more, although 20 were due.
    expect(hole.maxActive).toBe(2);
    expect(backend.leaseCalls.every((c) => c.share === 2)).toBe(true);
    for (const res of hung) res.destroy();
  });
});

describe('outbound throttle per endpoint', () => {
  const redisUrl = process.env.REDIS_URL;
  const clients: Redis[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit()));
  });

  it.skipIf(redisUrl === undefined)(
    'two egress instances sharing Redis send at most burst + rate × t, and throttling spends no attempt',
    async () => {
      const arrivals: number[] = [];
      const target = await startTarget((res) => {
        arrivals.push(performance.now());
        res.writeHead(204).end();
      });
      closers.push(() => target.close());
      const backend = createFakeBackend();
      closers.push(backend.close);
      const rate = { perSecond: 5, burst: 3 };
      const endpointId = newId('ep');
      const items: LeasedDelivery[] = Array.from({ length: 25 }, () =>
        forEndpoint(endpointId, target.url, rate),
      );
      backend.queue.push(...items);
      const prefix = `zm-test-${newId('tst')}:`;
      for (let i = 0; i < 2; i++) {
        const redis = new Redis(redisUrl as string, { maxRetriesPerRequest: 1 });
        clients.push(redis);
        const engine = createDeliveryEngine({
          deliveries: backend.client,
          logger,
          pollMs: 20,
          concurrency: 8,
          targetPolicy: LOOPBACK,
          limiter: createRateLimiter({ perSecond: 1, burst: 1, redis, prefix }),
        });
        engines.push(engine);
        engine.start();
      }
      await expect.poll(() => arrivals.length, { timeout: 20_000 }).toBe(25);
      // Every window between two arrivals holds at most burst + rate × its length (+1 for the window's ends
      // and the 1 ms resolution of Redis's clock).
      for (let i = 0; i < arrivals.length; i++) {
        for (let j = i; j < arrivals.length; j++) {
          const span = ((arrivals[j] as number) - (arrivals[i] as number)) / 1000;
          expect(j - i + 1).toBeLessThanOrEqual(rate.burst + rate.perSecond * span + 1);
        }
      }
      // 25 requests need at least (25 - burst) / rate = 4.4 s.
      expect(((arrivals.at(-1) as number) - (arrivals[0] as number)) / 1000).toBeGreaterThan(4);
      const throttled = backend.reports.filter((r) => (r.throttledMs ?? 0) > 0);
      const attempts = backend.reports.filter((r) => !((r.throttledMs ?? 0) > 0));
      expect(throttled.length).toBeGreaterThan(0);
      expect(throttled.every((r) => r.statusCode === 0 && r.error === '')).toBe(true);
      // One attempt per delivery: a throttled lease went back, it did not fail.
      expect(attempts.map((r) => r.statusCode)).toEqual(items.map(() => 204));
      expect(new Set(attempts.map((r) => r.deliveryId)).size).toBe(25);
    },
    30_000,
  );
});
