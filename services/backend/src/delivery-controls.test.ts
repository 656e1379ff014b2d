import { randomBytes } from 'node:crypto';
import type { Db } from '@zenmesh/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend } from './backend.js';
import { MAX_ATTEMPTS } from './backoff.js';
import { type LeasedDeliveryRecord, leaseDeliveries } from './delivery-lease.js';
import { reportAttempt, reportAttempts } from './delivery-report.js';
import { createEndpoint, listEndpoints, updateEndpoint } from './endpoints.js';
import { recordEvent } from './event-batch.js';
import { createSecretBoxes } from './secrets.js';
import { createSource } from './sources.js';
import { createTenant } from './tenants.js';
import { DATABASE_KINDS } from './test-support/databases.js';

const masterKey = randomBytes(32);
const boxes = createSecretBoxes(masterKey);
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe.each(DATABASE_KINDS)('delivery controls on $name (as zenmesh_app)', ({ open }) => {
  let db: Db;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ db, cleanup } = await open());
    await createBackend({ db, masterKey }).migrate();
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
  });

  const setup = async (endpoint: { orderingKey?: string; maxConcurrency?: number } = {}) => {
    const tenant = await createTenant(db, `c-${randomBytes(4).toString('hex')}`);
    const source = await createSource(db, boxes, {
      tenant: tenant.id,
      provider: 'generic',
      name: 's',
      secret: 'x',
    });
    const ep = (
      await createEndpoint(db, boxes, { tenant: tenant.id, url: 'https://t.example/h', ...endpoint })
    ).endpoint;
    const send = async (body: unknown, headers: Record<string, string> = {}) =>
      (
        await recordEvent(db, {
          sourceId: source.id,
          type: 'order.created',
          datacontenttype: 'application/json',
          data: json(body),
          headers,
        })
      ).event.id;
    // Only this tenant's work (other tests' endpoints are disabled when they end).
    const lease = async (options: Parameters<typeof leaseDeliveries>[2] = {}) =>
      (await leaseDeliveries(db, boxes, { max: 100, ...options })).filter(
        (l) => l.delivery.tenantId === tenant.id,
      );
    const done = () => updateEndpoint(db, boxes, { tenant: tenant.id, endpointId: ep.id, enabled: false });
    return { tenant, source, endpoint: ep, send, lease, done };
  };
  const makeDue = (tenantId: string) =>
    db.withTenant(tenantId, (tx) =>
      tx.query(
        `update core.deliveries set next_attempt_at = now() - interval '1 second'
          where tenant_id = $1 and state in ('pending', 'retrying')`,
        [tenantId],
      ),
    );
  const report = (l: LeasedDeliveryRecord, statusCode: number) =>
    reportAttempt(db, { deliveryId: l.delivery.id, leaseToken: l.leaseToken, statusCode });
  const body = (l: LeasedDeliveryRecord) =>
    JSON.parse(Buffer.from(l.event.data).toString()) as { c: string; n: number };

  describe('refusals', () => {
    it.each([
      [{ ratePerSecond: 0.001 }, 'invalid_rate_limit: perSecond must be between 0.01 and 10000'],
      [{ ratePerSecond: 10_001 }, 'invalid_rate_limit: perSecond must be between 0.01 and 10000'],
      [{ ratePerSecond: Number.NaN }, 'invalid_rate_limit: perSecond must be between 0.01 and 10000'],
      [{ ratePerSecond: -5 }, 'invalid_rate_limit: perSecond must be between 0.01 and 10000'],
      [
        { ratePerSecond: 5, rateBurst: 1.5 },
        'invalid_rate_limit: burst must be a whole number between 1 and 10000',
      ],
      [
        { ratePerSecond: 5, rateBurst: 10_001 },
        'invalid_rate_limit: burst must be a whole number between 1 and 10000',
      ],
      [{ rateBurst: 5 }, 'invalid_rate_limit: a burst needs a rate'],
      [
        { orderingKey: 'customer.id' },
        'invalid_ordering_key: starts with "$." (a JSON path) or "header:" (a header)',
      ],
      [{ orderingKey: '$' }, 'invalid_ordering_key: the path names no member ("$" alone is the whole body)'],
      [{ orderingKey: '$..id' }, 'invalid_ordering_key: expected a member name at 3'],
      [{ orderingKey: '$.a[x]' }, 'invalid_ordering_key: expected [index] at 4'],
      [{ orderingKey: '$.a*' }, 'invalid_ordering_key: unexpected "*" at 4'],
      [
        { orderingKey: 'header:X Customer' },
        'invalid_ordering_key: a header name in lower case, e.g. header:x-customer-id',
      ],
      [{ orderingKey: `$.${'a'.repeat(300)}` }, 'invalid_ordering_key: 1 to 256 characters'],
    ])('create and update refuse %j', async (bad, reason) => {
      const t = await setup();
      await expect(
        createEndpoint(db, boxes, { tenant: t.tenant.id, url: 'https://t.example/x', ...bad }),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason });
      await expect(
        updateEndpoint(db, boxes, { tenant: t.tenant.id, endpointId: t.endpoint.id, ...bad }),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason });
      // Nothing was stored: one endpoint, unchanged.
      const listed = await listEndpoints(db, t.tenant.id);
      expect(listed.map((e) => [e.id, e.rateLimit, e.orderingKey])).toEqual([[t.endpoint.id, null, null]]);
      await t.done();
    });

    it('stores, changes and removes a throttle and an ordering key (burst defaults to ceil(rate))', async () => {
      const t = await setup();
      const a = await updateEndpoint(db, boxes, {
        tenant: t.tenant.id,
        endpointId: t.endpoint.id,
        ratePerSecond: 2.5,
        orderingKey: '$["customer-id"]',
      });
      expect([a.rateLimit, a.orderingKey]).toEqual([{ perSecond: 2.5, burst: 3 }, '$["customer-id"]']);
      const b = await updateEndpoint(db, boxes, {
        tenant: t.tenant.id,
        endpointId: t.endpoint.id,
        ratePerSecond: 0,
        orderingKey: '',
      });
      expect([b.rateLimit, b.orderingKey]).toEqual([null, null]);
      await t.done();
    });
  });

  describe('FIFO per ordering key', () => {
    it('leases only the head of each key; a retrying head blocks only its key; success releases the next', async () => {
      const t = await setup({ orderingKey: '$.c' });
      for (const [c, n] of [
        ['a', 1],
        ['b', 1],
        ['a', 2],
        ['a', 3],
        ['b', 2],
      ] as const)
        await t.send({ c, n });
      let leased = await t.lease();
      expect(leased.map(body).sort((x, y) => x.c.localeCompare(y.c))).toEqual([
        { c: 'a', n: 1 },
        { c: 'b', n: 1 },
      ]);
      const headA = leased.find((l) => body(l).c === 'a') as LeasedDeliveryRecord;
      const headB = leased.find((l) => body(l).c === 'b') as LeasedDeliveryRecord;
      // a's head fails: retrying, not due yet. b's head is still in flight: nothing more of either key.
      expect((await report(headA, 500)).state).toBe('retrying');
      expect(await t.lease()).toEqual([]);
      // b's head succeeds: b's next flows although a's head still waits for its retry.
      await report(headB, 204);
      leased = await t.lease();
      expect(leased.map(body)).toEqual([{ c: 'b', n: 2 }]);
      await report(leased[0] as LeasedDeliveryRecord, 204);
      // a's retry comes due: the head again (not a#2), then a#2 and a#3 one at a time.
      await makeDue(t.tenant.id);
      const order: number[] = [];
      for (let i = 0; i < 3; i++) {
        leased = await t.lease();
        expect(leased).toHaveLength(1);
        const one = leased[0] as LeasedDeliveryRecord;
        order.push(body(one).n);
        await report(one, 204);
      }
      expect(order).toEqual([1, 2, 3]);
      await t.done();
    });

    it('keeps order per key under many keys, random failures and retries', async () => {
      const t = await setup({ orderingKey: 'header:x-key', maxConcurrency: 50 });
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
      const sent = new Map(keys.map((k) => [k, [] as number[]]));
      for (let n = 0; n < 40; n++) {
        const k = keys[(n * 7) % keys.length] as string;
        sent.get(k)?.push(n);
        await t.send({ c: k, n }, { 'x-key': k });
      }
      // A fixed sequence of outcomes (no Math.random): every third attempt fails.
      let attempts = 0;
      const delivered = new Map(keys.map((k) => [k, [] as number[]]));
      for (let round = 0; round < 200 && [...delivered.values()].flat().length < 40; round++) {
        const leased = await t.lease();
        const perKey = leased.map((l) => body(l).c);
        expect(new Set(perKey).size).toBe(perKey.length);
        const outcomes = leased.map(() => (++attempts % 3 === 0 ? 503 : 200));
        const answers = await reportAttempts(
          db,
          leased.map((l, i) => ({
            deliveryId: l.delivery.id,
            leaseToken: l.leaseToken,
            statusCode: outcomes[i] as number,
          })),
        );
        answers.forEach((a, i) => {
          const l = leased[i] as LeasedDeliveryRecord;
          if (!(a instanceof Error) && a.state === 'succeeded') delivered.get(body(l).c)?.push(body(l).n);
        });
        await makeDue(t.tenant.id);
      }
      expect(delivered).toEqual(sent);
      expect(attempts).toBeGreaterThan(40);
      await t.done();
    });

    it('two egress workers leasing concurrently never have two of one key in flight, and keep its order', async () => {
      const t = await setup({ orderingKey: '$.c', maxConcurrency: 50 });
      const keys = ['p', 'q', 'r'];
      for (let n = 0; n < 30; n++) await t.send({ c: keys[n % 3] as string, n });
      const inFlight = new Set<string>();
      const delivered: Record<string, number[]> = { p: [], q: [], r: [] };
      let overlaps = 0;
      const worker = async (id: number) => {
        for (let round = 0; round < 300 && Object.values(delivered).flat().length < 30; round++) {
          const leased = await t.lease({ max: 5 });
          await Promise.all(
            leased.map(async (l, i) => {
              const { c, n } = body(l);
              if (inFlight.has(c)) overlaps += 1;
              inFlight.add(c);
              await new Promise((r) => setTimeout(r, 2 + ((id + i + n) % 4) * 3));
              inFlight.delete(c);
              delivered[c]?.push(n);
              await report(l, 204);
            }),
          );
          if (leased.length === 0) await new Promise((r) => setTimeout(r, 2));
        }
      };
      await Promise.all([worker(0), worker(1)]);
      expect(overlaps).toBe(0);
      for (const [i, k] of keys.entries()) {
        expect(delivered[k]).toEqual(Array.from({ length: 10 }, (_, j) => j * 3 + i));
      }
      await t.done();
    });

    it('a nudge for an event that is not its key head leases nothing; for the head it does', async () => {
      const t = await setup({ orderingKey: '$.c' });
      const first = await t.send({ c: 'a', n: 1 });
      const second = await t.send({ c: 'a', n: 2 });
      expect(await t.lease({ eventId: second })).toEqual([]);
      expect((await t.lease({ eventId: first })).map(body)).toEqual([{ c: 'a', n: 1 }]);
      await t.done();
    });

    it('a dead-lettered head releases its key; a missing key is a queue of its own', async () => {
      const t = await setup({ orderingKey: '$.c' });
      await t.send({ c: 'a', n: 1 });
      await t.send({ c: 'a', n: 2 });
      await t.send({ n: 3 });
      await t.send({ n: 4 });
      let leased = await t.lease();
      expect(
        leased
          .map(body)
          .map((b) => b.n)
          .sort(),
      ).toEqual([1, 3]);
      const head = leased.find((l) => body(l).n === 1) as LeasedDeliveryRecord;
      // Its last attempt: the state machine moves it to dead on this failure.
      await db.withTenant(t.tenant.id, (tx) =>
        tx.query('update core.deliveries set attempts = $2 where id = $1', [
          head.delivery.id,
          MAX_ATTEMPTS - 1,
        ]),
      );
      expect((await report(head, 500)).state).toBe('dead');
      await report(leased.find((l) => body(l).n === 3) as LeasedDeliveryRecord, 204);
      leased = await t.lease();
      expect(
        leased
          .map(body)
          .map((b) => b.n)
          .sort(),
      ).toEqual([2, 4]);
      await t.done();
    });

    it('refuses an attempt report on a stale lease, and the key stays blocked while the new lease lives', async () => {
      const t = await setup({ orderingKey: '$.c' });
      await t.send({ c: 'a', n: 1 });
      await t.send({ c: 'a', n: 2 });
      const [first] = await t.lease({ leaseMs: 1000 });
      expect(first && body(first).n).toBe(1);
      await new Promise((r) => setTimeout(r, 1200));
      // The lease expired: the same head is leased again (not n=2), with a new token.
      const [again] = await t.lease();
      expect(again?.delivery.id).toBe(first?.delivery.id);
      expect(again?.leaseToken).not.toBe(first?.leaseToken);
      await expect(report(first as LeasedDeliveryRecord, 204)).rejects.toMatchObject({
        code: 'ERR_FAILED_PRECONDITION',
        reason: 'lease_lost',
      });
      expect(await t.lease()).toEqual([]);
      await report(again as LeasedDeliveryRecord, 204);
      expect((await t.lease()).map(body)).toEqual([{ c: 'a', n: 2 }]);
      await t.done();
    });

    it('turning ordering on makes the waiting deliveries one queue in the order they were made', async () => {
      const t = await setup();
      for (let n = 1; n <= 3; n++) await t.send({ n });
      await updateEndpoint(db, boxes, { tenant: t.tenant.id, endpointId: t.endpoint.id, orderingKey: '$.c' });
      await t.send({ c: 'z', n: 4 });
      const order: number[] = [];
      for (let i = 0; i < 4; i++) {
        const leased = await t.lease();
        order.push(...leased.map((l) => body(l).n));
        await Promise.all(leased.map((l) => report(l, 204)));
      }
      expect(order.slice(0, 2).sort()).toEqual([1, 4]);
      expect(order).toEqual(expect.arrayContaining([1, 2, 3, 4]));
      expect(order.indexOf(1) < order.indexOf(2) && order.indexOf(2) < order.indexOf(3)).toBe(true);
      await t.done();
    });
  });

  describe("the caller's share and throttled releases", () => {
    it('takes at most the share, or the room given per endpoint', async () => {
      const t = await setup({ maxConcurrency: 10 });
      for (let n = 0; n < 8; n++) await t.send({ n });
      expect(await t.lease({ share: 3 })).toHaveLength(3);
      expect(await t.lease({ share: 3, rooms: [{ endpointId: t.endpoint.id, room: 0 }] })).toHaveLength(0);
      expect(await t.lease({ share: 3, rooms: [{ endpointId: t.endpoint.id, room: 2 }] })).toHaveLength(2);
      // No share: up to max_concurrency (10) minus the 5 in flight.
      expect(await t.lease()).toHaveLength(3);
      await expect(t.lease({ rooms: [{ endpointId: '', room: 1 }] })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        reason: 'invalid_rooms: an endpoint id and a room of 0 or more each',
      });
      await t.done();
    });

    it('a throttled release spends no attempt and makes the delivery due after the wait; a stale one is refused', async () => {
      const t = await setup();
      await t.send({ n: 1 });
      const [l] = await t.lease();
      if (l === undefined) throw new Error('nothing leased');
      const answers = await reportAttempts(db, [
        { deliveryId: l.delivery.id, leaseToken: l.leaseToken, statusCode: 0, throttledMs: 60_000 },
        { deliveryId: l.delivery.id, leaseToken: l.leaseToken, statusCode: 0, throttledMs: 60_000 },
      ]);
      // The same lease twice in one batch: one release, one lease_lost (which one is not promised).
      const released = answers.find((a) => !(a instanceof Error));
      expect(released).toMatchObject({ state: 'pending', attempts: 0 });
      expect(answers.filter((a) => a instanceof Error)).toMatchObject([
        { code: 'ERR_FAILED_PRECONDITION', reason: 'lease_lost' },
      ]);
      const next = (released as { nextAttemptAt: Date }).nextAttemptAt.getTime();
      expect(next - Date.now()).toBeGreaterThan(55_000);
      expect(await t.lease()).toEqual([]);
      const rows = await db.withTenant(t.tenant.id, (tx) =>
        tx.query<{ n: number }>('select count(*)::int as n from core.attempts where delivery_id = $1', [
          l.delivery.id,
        ]),
      );
      expect(rows.rows[0]?.n).toBe(0);
      await t.done();
    });
  });
});
