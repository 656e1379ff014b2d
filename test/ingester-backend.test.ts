import { randomBytes } from 'node:crypto';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { sign as githubSign } from '@octokit/webhooks-methods';
import type { Db } from '@zenmesh/db';
import { createIngester, type Ingester, toCloudEvent } from '@zenmesh/ingester';
import { type Event, EventService, SourceService, TenantService } from '@zenmesh/proto';
import type { MeshChannel } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { CloudEvent } from 'cloudevents';
import { Redis } from 'ioredis';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshFixture, type MeshFixture } from './support/mesh-fixture.js';

// The real backend (gRPC over mTLS, real Postgres with its unique constraint) behind two ingester
// instances that share the real Redis, as two replicas would.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `zm:test:ingest:${randomBytes(6).toString('hex')}:`;
const logger = createLogger('ingester-test', { level: 'silent' });

let fixture: MeshFixture;
let db: Db;
let redis: Redis;
const ingesters: Ingester[] = [];
const urls: string[] = [];
let bff: MeshChannel;
let tenantId: string;
const dispatched: string[] = [];
let recordCalls = 0;

beforeAll(async () => {
  fixture = await createMeshFixture('ingester-backend', { logger });
  const backend = await fixture.startBackend();
  db = backend.db;
  const channel = (service: string) => fixture.channel(service, 'backend', backend.address);
  bff = await channel('bff');
  redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  for (let i = 0; i < 2; i++) {
    const ch = await channel('ingester');
    const ingester = createIngester({
      sources: ch.client(SourceService),
      // Counted on the way through, to show Redis spared the backend the retries.
      events: {
        recordEvent: (request) => {
          recordCalls += 1;
          return ch.client(EventService).recordEvent(request);
        },
      },
      egress: { dispatch: async ({ eventId }) => dispatched.push(eventId) },
      logger,
      redis,
      keyPrefix: PREFIX,
      rateLimit: { perSecond: 1, burst: 1000 },
    });
    ingesters.push(ingester);
    urls.push(await ingester.listen('127.0.0.1:0'));
  }
  const name = `ingest-${randomBytes(3).toString('hex')}`;
  tenantId = (await bff.client(TenantService).createTenant({ name })).tenant?.id ?? '';
});

afterAll(async () => {
  for (const i of ingesters) await i.close();
  if (redis !== undefined) {
    const keys = await redis.keys(`${PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
  await fixture?.stop();
});

/**
 * A source of any provider with a current and a previous secret, made the way an operator does: created with
 * the old secret, then rotated to the new one (the old stays accepted for the rotation window), through the
 * backend's SourceService as the bff calls it.
 */
async function providerSource(provider: string, secret: string, previous?: string): Promise<string> {
  const sources = bff.client(SourceService);
  const { source } = await sources.createSource({
    tenant: tenantId,
    provider,
    name: '',
    secret: previous ?? secret,
  });
  const sourceId = source?.id ?? '';
  if (previous !== undefined) {
    await sources.rotateSourceSecret({ tenant: tenantId, sourceId, secret, previousValidS: 3600 });
  }
  return sourceId;
}

// The backend runs as zenmesh_app after migrate(): row-level security applies, so count inside the tenant.
const countEvents = async (sourceId: string) =>
  db.withTenant(tenantId, async (tx) =>
    Number(
      (
        await tx.query<{ n: number }>('select count(*)::int as n from core.events where source_id = $1', [
          sourceId,
        ])
      ).rows[0]?.n,
    ),
  );

describe('deduplication across two ingester instances sharing Redis, over the real backend', () => {
  it('records 100 concurrent copies of one GitHub delivery as one event; every copy gets its id', async () => {
    const id = await providerSource('github', 'gh-new', 'gh-old');
    const body = '{"action":"created","comment":{"id":1}}';
    const headers = {
      'content-type': 'application/json',
      'x-hub-signature-256': await githubSign('gh-old', body),
      'x-github-event': 'issue_comment',
      'x-github-delivery': 'dedup-100-concurrent',
    };
    recordCalls = 0;
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        fetch(`${urls[i % 2]}/v1/webhooks/${id}`, { method: 'POST', body, headers }).then(async (r) => ({
          status: r.status,
          body: (await r.json()) as { id: string; duplicate: boolean },
        })),
      ),
    );
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([202]));
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => !a.body.duplicate)).toHaveLength(1);
    expect(await countEvents(id)).toBe(1);
    // One claim in Redis for both instances: the other 99 waited for its answer instead of calling.
    expect(recordCalls).toBe(1);

    // A later retry on either instance: the original answer, still nothing new.
    const again = await fetch(`${urls[1]}/v1/webhooks/${id}`, { method: 'POST', body, headers });
    expect(await again.json()).toEqual({ id: [...ids][0], duplicate: true });
    expect(await countEvents(id)).toBe(1);
  });

  it('falls back on the backend constraint when the Redis answer is gone', async () => {
    const id = await providerSource('github', 'gh-secret');
    const body = '{}';
    const headers = {
      'x-hub-signature-256': await githubSign('gh-secret', body),
      'x-github-event': 'ping',
      'x-github-delivery': 'dedup-after-expiry',
    };
    const first = (await (
      await fetch(`${urls[0]}/v1/webhooks/${id}`, { method: 'POST', body, headers })
    ).json()) as { id: string };
    // Both answers: the delivery id's and the body digest's (GitHub's delivery id is unsigned).
    const keys = [
      ...(await redis.keys(`${PREFIX}dedup:${id}:*`)),
      ...(await redis.keys(`${PREFIX}dedup-body:${id}:*`)),
    ];
    expect(keys).toHaveLength(2);
    await redis.del(...keys);
    const second = await fetch(`${urls[1]}/v1/webhooks/${id}`, { method: 'POST', body, headers });
    expect(await second.json()).toEqual({ id: first.id, duplicate: true });
    expect(await countEvents(id)).toBe(1);
  });
});

describe('replay through an unsigned delivery id (issue 12, defect 2)', () => {
  it('answers a captured GitHub webhook resent with a new X-GitHub-Delivery as a duplicate; one event', async () => {
    const id = await providerSource('github', 'gh-replay');
    const body = JSON.stringify({ action: 'opened', pull_request: { number: 7, title: 'captured' } });
    // What a provider sent and an attacker captured: GitHub's own signing code, over these bytes.
    const captured = {
      'content-type': 'application/json',
      'x-hub-signature-256': await githubSign('gh-replay', body),
      'x-github-event': 'pull_request',
      'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    };
    recordCalls = 0;
    const original = await fetch(`${urls[0]}/v1/webhooks/${id}`, { method: 'POST', body, headers: captured });
    const first = (await original.json()) as { id: string; duplicate: boolean };
    expect([original.status, first.duplicate]).toEqual([202, false]);
    // The replay: same signed bytes, a fresh delivery id (the signature does not cover it), the other instance.
    const replays = await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        fetch(`${urls[1]}/v1/webhooks/${id}`, {
          method: 'POST',
          body,
          headers: { ...captured, 'x-github-delivery': `forged-${n}-${randomBytes(4).toString('hex')}` },
        }).then(async (r) => ({ status: r.status, body: await r.json() })),
      ),
    );
    for (const r of replays) expect(r).toEqual({ status: 202, body: { id: first.id, duplicate: true } });
    expect(await countEvents(id)).toBe(1);
    expect(recordCalls).toBe(1);
    // The store holds a digest of (source, body), never the body.
    const [key] = await redis.keys(`${PREFIX}dedup-body:${id}:*`);
    expect(key).toMatch(/:[A-Za-z0-9_-]{43}$/);
    expect(await redis.get(key ?? '')).toBe(`e:${first.id}`);
    expect(await redis.pttl(key ?? '')).toBeGreaterThan(23 * 3600_000);
    // A genuinely new webhook (other bytes) is still a new event.
    const next = JSON.stringify({ action: 'closed', pull_request: { number: 7 } });
    const other = await fetch(`${urls[1]}/v1/webhooks/${id}`, {
      method: 'POST',
      body: next,
      headers: {
        ...captured,
        'x-hub-signature-256': await githubSign('gh-replay', next),
        'x-github-delivery': 'n-2',
      },
    });
    expect(await other.json()).toMatchObject({ duplicate: false });
    expect(await countEvents(id)).toBe(2);
  });
});

describe('CloudEvents', () => {
  it('stores each accepted webhook as an event that the cloudevents package validates', async () => {
    const stripeId = await providerSource('stripe', 'whsec_ce');
    const payload = JSON.stringify({
      id: 'evt_ce_1',
      object: 'event',
      type: 'charge.succeeded',
      created: 1_700_000_000,
    });
    const res = await fetch(`${urls[0]}/v1/webhooks/${stripeId}`, {
      method: 'POST',
      body: payload,
      headers: {
        'content-type': 'application/json',
        'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_ce' }),
      },
    });
    expect(res.status).toBe(202);
    const binary = await providerSource('github', 'gh-bin');
    const bytes = Buffer.from([0xff, 0x00, 0x7b]);
    const signature = `sha256=${(await import('node:crypto')).createHmac('sha256', 'gh-bin').update(bytes).digest('hex')}`;
    const res2 = await fetch(`${urls[1]}/v1/webhooks/${binary}`, {
      method: 'POST',
      body: bytes,
      headers: { 'x-hub-signature-256': signature, 'x-github-event': 'push', 'x-github-delivery': 'bin-1' },
    });
    expect(res2.status).toBe(202);

    const { events } = await bff.client(EventService).listEvents({ tenant: tenantId, limit: 500 });
    const mine = events.filter((e) => e.sourceId === stripeId || e.sourceId === binary);
    expect(mine).toHaveLength(2);
    const asCloudEvent = (e: Event) => {
      if (e.time === undefined) throw new Error(`event ${e.id} has no time`);
      return toCloudEvent({ ...e, time: timestampDate(e.time) });
    };
    for (const e of events) {
      // strict: throws a ValidationError for anything CloudEvents 1.0 forbids.
      const ce = new CloudEvent(asCloudEvent(e) as never, true);
      expect(ce.validate()).toBe(true);
    }
    const byId = (sourceId: string) => {
      const found = mine.find((e) => e.sourceId === sourceId);
      if (found === undefined) throw new Error('missing event');
      return asCloudEvent(found);
    };
    expect(byId(stripeId)).toMatchObject({
      specversion: '1.0',
      source: `/sources/${stripeId}`,
      type: 'com.stripe.charge.succeeded',
      time: '2023-11-14T22:13:20.000Z',
      datacontenttype: 'application/json',
      data: JSON.parse(payload),
      providerdeliveryid: 'evt_ce_1',
    });
    expect(byId(binary)).toMatchObject({
      type: 'com.github.push',
      datacontenttype: 'application/octet-stream',
      data_base64: bytes.toString('base64'),
    });
  });
});

describe('rate limit shared through Redis', () => {
  it('spends one bucket per source across both instances, then answers 429 with Retry-After', async () => {
    const id = await providerSource('gitlab', 'gl-token');
    const bucket = `${PREFIX}rate:${id}`;
    // Leave two tokens in this source's bucket, as if 998 had just been spent.
    await redis.hset(bucket, 't', '2', 'ts', String(Date.now()));
    const send = (i: number) =>
      fetch(`${urls[i % 2]}/v1/webhooks/${id}`, {
        method: 'POST',
        // Distinct bodies: GitLab signs no delivery id, so equal bytes would be one event (body dedup).
        body: JSON.stringify({ i }),
        headers: {
          'x-gitlab-token': 'gl-token',
          'x-gitlab-event': 'Push Hook',
          'idempotency-key': `rl-${i}`,
        },
      });
    const a = await send(0);
    expect(a.status).toBe(202);
    expect(a.headers.get('x-ratelimit-limit')).toBe('1000');
    expect(a.headers.get('x-ratelimit-remaining')).toBe('1');
    expect((await send(1)).status).toBe(202);
    const refused = await send(2);
    expect({ status: refused.status, body: await refused.json() }).toEqual({
      status: 429,
      body: { error: 'rate_limited', retry_after: 1 },
    });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(await countEvents(id)).toBe(2);
  });
});

describe('per-source tolerance through the real backend (issue 12, defect 5)', () => {
  it('verifies with the tolerance set at creation and changed by UpdateSource, as ResolveSource hands it over', async () => {
    const secret = 'whsec_tolerance-test';
    const sources = bff.client(SourceService);
    const tight = (
      await sources.createSource({
        tenant: tenantId,
        provider: 'stripe',
        name: '',
        secret,
        toleranceSeconds: 60,
      })
    ).source ?? { id: '' };
    const widened = (await sources.createSource({ tenant: tenantId, provider: 'stripe', name: '', secret }))
      .source ?? { id: '' };
    const { source } = await bff
      .client(SourceService)
      .updateSource({ tenant: tenantId, sourceId: widened.id, toleranceSeconds: 1200 });
    expect(source?.toleranceSeconds).toBe(1200);
    let n = 0;
    const send = async (id: string, ageS: number) => {
      const t = Math.floor(Date.now() / 1000) - ageS;
      const payload = JSON.stringify({ id: `evt_tol_${n++}`, type: 'charge.succeeded', created: t });
      const res = await fetch(`${urls[0]}/v1/webhooks/${id}`, {
        method: 'POST',
        body: payload,
        headers: {
          'content-type': 'application/json',
          'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: t }),
        },
      });
      return res.status;
    };
    expect(await send(tight.id, 30)).toBe(202);
    expect(await send(tight.id, 120)).toBe(401);
    expect(await send(widened.id, 900)).toBe(202);
    expect(await send(widened.id, 1300)).toBe(401);
  });
});
