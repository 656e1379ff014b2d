import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis } from '../support/security-kit.js';
import { type ChaosMesh, startChaosMesh } from './support/chaos-mesh.js';
import { type ChaosTarget, startChaosTarget } from './support/chaos-target.js';
import { faultMidBurst } from './support/kill-scenario.js';
import { startPrivatePostgres } from './support/private-postgres.js';
import { recordResult } from './support/results.js';

// Issue 14: the shared stores go away mid-burst. Redis (a private redis-server on its own port, never the
// shared one) is SIGKILLed and restarted; Postgres (a private cluster made with initdb, never the shared
// server) is stopped with `pg_ctl -m immediate` (a crash) and started again. Meanwhile the ingester must
// answer 503 with Retry-After (internal calls fail closed), lose nothing it accepted, and resume by itself.
const EVENTS = Number(process.env.ZENMESH_CHAOS_EVENTS ?? 200);
const DOWN_MS = 4000;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Redis stopped and restarted mid-burst (replicas on)', () => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let cm: ChaosMesh;
  let target: ChaosTarget;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    target = await startChaosTarget();
    cm = await startChaosMesh({
      dbPrefix: 'zm_chaos_redis',
      replicas: 'ingester=2,backend=2,egress=2',
      env: { REDIS_URL: redis.url },
    });
    target.setSecret((await cm.addEndpoint(target.url)).signingSecret);
  }, 180_000);
  afterAll(async () => {
    const code = await cm?.stop();
    await target?.close();
    await redis?.kill();
    expect(code).toBe(0);
  }, 90_000);

  it('503 with Retry-After while it is down, nothing accepted lost, resumes by itself', async () => {
    const r = await faultMidBurst(cm, target, {
      scenario: 'Redis killed and restarted (replicas on)',
      load: `${EVENTS} events, 8 in flight, ingester=2,backend=2,egress=2`,
      fault: `redis-server SIGKILLed after {at} accepted, restarted ${DOWN_MS / 1000} s later (empty)`,
      keyPrefix: 'redis',
      events: EVENTS,
      concurrency: 8,
      seed: 1420,
      inject: async () => {
        await redis.kill();
        await pause(DOWN_MS);
        const restoredAt = performance.now();
        await redis.start();
        return { restoredAt };
      },
    });
    recordResult(r);
    expect(r.accepted).toBe(EVENTS);
    expect(r.lost).toBe(0);
    expect(r.recoveryMs).not.toBeNull();
    expect(r.notes).toMatch(/^[1-9]\d* answers 503\/429/);
    // Every "come back later" carried Retry-After.
    const [, answers, withRetryAfter] =
      /^(\d+) answers 503\/429 \((\d+) with Retry-After\)/.exec(r.notes ?? '') ?? [];
    expect(withRetryAfter).toBe(answers);
    expect(target.unverified()).toBe(0);
  }, 300_000);
});

describe('Postgres crashed and restarted mid-burst', () => {
  let pg: Awaited<ReturnType<typeof startPrivatePostgres>>;
  let cm: ChaosMesh;
  let target: ChaosTarget;
  beforeAll(async () => {
    pg = await startPrivatePostgres();
    target = await startChaosTarget();
    cm = await startChaosMesh({ dbPrefix: 'zm_chaos_pg', env: { DATABASE_URL: pg.url } });
    target.setSecret((await cm.addEndpoint(target.url)).signingSecret);
  }, 180_000);
  afterAll(async () => {
    const code = await cm?.stop();
    await target?.close();
    await pg?.destroy();
    expect(code).toBe(0);
  }, 90_000);

  it('503 with Retry-After while it is down, nothing accepted lost, resumes by itself', async () => {
    const r = await faultMidBurst(cm, target, {
      scenario: 'Postgres crashed and restarted',
      load: `${EVENTS} events, 8 in flight, one of each service`,
      fault: `pg_ctl stop -m immediate after {at} accepted, started ${DOWN_MS / 1000} s later`,
      keyPrefix: 'pg',
      events: EVENTS,
      concurrency: 8,
      seed: 1421,
      inject: async () => {
        await pg.crash();
        await pause(DOWN_MS);
        const restoredAt = performance.now();
        await pg.start();
        return { restoredAt };
      },
    });
    recordResult(r);
    expect(r.accepted).toBe(EVENTS);
    expect(r.lost).toBe(0);
    expect(r.recoveryMs).not.toBeNull();
    expect(target.unverified()).toBe(0);
  }, 300_000);
});
