import { randomBytes } from 'node:crypto';
import { type Db, migrate } from '@zenmesh/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ATTEMPTS } from './backoff.js';
import { listAttempts } from './deliveries.js';
import { leaseDeliveries } from './delivery-lease.js';
import { reportAttempt } from './delivery-report.js';
import { createEndpoint, listEndpoints } from './endpoints.js';
import { recordEvent } from './event-batch.js';
import { CORE_MIGRATION_SCOPE, CORE_MIGRATIONS } from './migrations.js';
import { searchDeliveries, searchEvents } from './search.js';
import { createSecretBoxes } from './secrets.js';
import { createSource, listSources, resolveSource } from './sources.js';
import { createTenant, listTenants, resolveTenant } from './tenants.js';
import { DATABASE_KINDS } from './test-support/databases.js';

const boxes = createSecretBoxes(randomBytes(32));
const body = (s: string) => new TextEncoder().encode(s);
const unique = () => randomBytes(4).toString('hex');

// The store behaviour suite runs on a real Postgres (fresh database) and on embedded PGlite.
const backends = DATABASE_KINDS;

describe.each(backends)('backend store on $name', ({ open }) => {
  let db: Db;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ db, cleanup } = await open());
    expect(await migrate(db, CORE_MIGRATIONS, { scope: CORE_MIGRATION_SCOPE })).toEqual(
      CORE_MIGRATIONS.map((m) => m.id),
    );
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
  });

  /** A tenant with one generic source. */
  const setup = async () => {
    const tenant = await createTenant(db, `t-${unique()}`);
    const source = await createSource(db, boxes, {
      tenant: tenant.name,
      provider: 'generic',
      name: 'gh',
      secret: 's3cret',
    });
    return { tenant, source };
  };
  /** Makes every pending/retrying delivery of the event due now (stands in for waiting out the backoff). */
  const makeDue = (eventId: string) =>
    db.query(`update core.deliveries set next_attempt_at = now() - interval '1 second' where event_id = $1`, [
      eventId,
    ]);

  describe('tenants', () => {
    it('creates, resolves by id or name, and lists', async () => {
      const name = `acme-${unique()}`;
      const t = await createTenant(db, name);
      expect(t.id).toMatch(/^ten_[a-z2-7]{26}$/);
      expect(await resolveTenant(db, t.id)).toEqual(t);
      expect(await resolveTenant(db, name)).toEqual(t);
      expect((await listTenants(db)).map((x) => x.id)).toContain(t.id);
    });

    it('refuses a duplicate name with ALREADY_EXISTS tenant_exists', async () => {
      const name = `dup-${unique()}`;
      await createTenant(db, name);
      await expect(createTenant(db, name)).rejects.toMatchObject({
        code: 'ERR_ALREADY_EXISTS',
        reason: 'tenant_exists',
      });
    });

    it.each(['', 'Acme', '-acme', 'a_b', 'a'.repeat(64), 'acme corp'])(
      'refuses the name %j',
      async (name) => {
        await expect(createTenant(db, name)).rejects.toMatchObject({
          code: 'ERR_INVALID_ARGUMENT',
          reason: 'invalid_tenant_name',
        });
      },
    );

    it('accepts a 63-character name', async () => {
      await expect(createTenant(db, `a${unique()}${'b'.repeat(54)}`)).resolves.toMatchObject({});
    });

    it('answers NOT_FOUND tenant_not_found for an unknown tenant', async () => {
      await expect(resolveTenant(db, 'nobody')).rejects.toMatchObject({
        code: 'ERR_NOT_FOUND',
        reason: 'tenant_not_found',
      });
      await expect(listSources(db, 'ten_aaaaaaaaaaaaaaaaaaaaaaaaaa')).rejects.toMatchObject({
        reason: 'tenant_not_found',
      });
    });
  });

  describe('sources', () => {
    it('stores the secret sealed and opens it for resolveSource, with generic defaults', async () => {
      const { tenant, source } = await setup();
      expect(source).toMatchObject({
        tenantId: tenant.id,
        provider: 'generic',
        name: 'gh',
        generic: { header: 'x-signature', algorithm: 'sha256', encoding: 'hex', prefix: 'sha256=' },
      });
      const { rows } = await db.query<{ secret_sealed: string }>(
        'select secret_sealed from core.sources where id = $1',
        [source.id],
      );
      expect(rows[0]?.secret_sealed).not.toContain('s3cret');
      const resolved = await resolveSource(db, boxes, source.id);
      expect(resolved).toEqual({ source, secrets: ['s3cret'] });
      expect((await listSources(db, tenant.id)).map((s) => s.id)).toEqual([source.id]);
    });

    it('keeps the generic config given', async () => {
      const { tenant } = await setup();
      const s = await createSource(db, boxes, {
        tenant: tenant.id,
        provider: 'generic',
        name: 'custom',
        secret: 'x',
        generic: { header: 'X-Hub-Signature-256', algorithm: 'sha512', encoding: 'base64', prefix: '' },
      });
      // An explicit empty prefix means the sender puts none; it must not turn into the default.
      expect(s.generic).toEqual({
        header: 'x-hub-signature-256',
        algorithm: 'sha512',
        encoding: 'base64',
        prefix: '',
        // Not given: the default, a signed timestamp.
        timestampHeader: 'x-timestamp',
        eventTypeHeader: '',
        deliveryIdHeader: '',
      });
      const defaulted = await createSource(db, boxes, {
        tenant: tenant.id,
        provider: 'generic',
        name: '',
        secret: 'x',
        generic: { header: 'x-sig' },
      });
      expect(defaulted.generic?.prefix).toBe('sha256=');
      // Only an explicit '' signs the body alone; it is stored as such.
      const bodyOnly = await createSource(db, boxes, {
        tenant: tenant.id,
        provider: 'generic',
        name: 'body-only',
        secret: 'x',
        generic: { timestampHeader: '' },
      });
      expect(bodyOnly.generic?.timestampHeader).toBe('');
      expect((await resolveSource(db, boxes, bodyOnly.id)).source.generic?.timestampHeader).toBe('');
      // Unnamed sources are named after their id, which keeps names unique per tenant.
      expect(defaulted.name).toBe(defaulted.id);
    });

    it('refuses a sealed secret moved onto another source row', async () => {
      const a = await setup();
      const b = await setup();
      await db.query(
        'update core.sources set secret_sealed = (select secret_sealed from core.sources where id = $1) where id = $2',
        [a.source.id, b.source.id],
      );
      await expect(resolveSource(db, boxes, b.source.id)).rejects.toMatchObject({
        code: 'ERR_SECRET_BOX_OPEN',
      });
    });

    it.each([
      [{ provider: 'bitbucket' }, 'invalid_provider'],
      [{ secret: '' }, 'empty_secret'],
      [{ name: ' padded' }, 'invalid_source_name'],
      [{ generic: { algorithm: 'md5' } }, 'invalid_generic_algorithm'],
      [{ generic: { encoding: 'base32' } }, 'invalid_generic_encoding'],
      [{ generic: { header: 'bad header' } }, 'invalid_generic_header'],
    ])('refuses %j with %s', async (patch, reason) => {
      const tenant = await createTenant(db, `s-${unique()}`);
      await expect(
        createSource(db, boxes, {
          tenant: tenant.id,
          provider: 'generic',
          name: 'n',
          secret: 'x',
          ...(patch as object),
        }),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason });
    });

    it('refuses a duplicate source name in one tenant with source_exists', async () => {
      const { tenant } = await setup();
      await expect(
        createSource(db, boxes, { tenant: tenant.id, provider: 'generic', name: 'gh', secret: 'x' }),
      ).rejects.toMatchObject({ code: 'ERR_ALREADY_EXISTS', reason: 'source_exists' });
    });

    it('answers source_not_found for an unknown source', async () => {
      await expect(resolveSource(db, boxes, 'src_nope')).rejects.toMatchObject({
        code: 'ERR_NOT_FOUND',
        reason: 'source_not_found',
      });
    });
  });

  describe('endpoints', () => {
    it('returns a whsec_ signing secret once and stores it sealed', async () => {
      const { tenant } = await setup();
      const { endpoint, signingSecret } = await createEndpoint(db, boxes, {
        tenant: tenant.name,
        url: 'https://example.com/hook',
        eventTypes: ['b', 'a', 'a'],
      });
      expect(signingSecret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
      expect(Buffer.from(signingSecret.slice(6), 'base64')).toHaveLength(24);
      expect(endpoint).toMatchObject({
        tenantId: tenant.id,
        url: 'https://example.com/hook',
        eventTypes: ['a', 'b'],
        enabled: true,
      });
      const { rows } = await db.query<{ secret_sealed: string }>(
        'select secret_sealed from core.endpoints where id = $1',
        [endpoint.id],
      );
      expect(rows[0]?.secret_sealed).not.toContain(signingSecret.slice(6));
      expect(await listEndpoints(db, tenant.id)).toEqual([endpoint]);
    });

    it.each([
      ['ftp://example.com/x', 'invalid_url_scheme'],
      ['javascript:alert(1)', 'invalid_url_scheme'],
      ['https://user:pw@example.com/x', 'url_has_credentials'],
      ['https://user@example.com/x', 'url_has_credentials'],
      ['not a url', 'invalid_url'],
      ['', 'invalid_url'],
    ])('refuses the url %j with %s', async (url, reason) => {
      const { tenant } = await setup();
      await expect(createEndpoint(db, boxes, { tenant: tenant.id, url })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        reason,
      });
    });
  });

  describe('events', () => {
    it('fans out to enabled endpoints whose event types are empty or match, in the same tenant only', async () => {
      const { tenant, source } = await setup();
      const all = await createEndpoint(db, boxes, { tenant: tenant.id, url: 'https://a.example/' });
      const push = await createEndpoint(db, boxes, {
        tenant: tenant.id,
        url: 'https://b.example/',
        eventTypes: ['push'],
      });
      await createEndpoint(db, boxes, {
        tenant: tenant.id,
        url: 'https://c.example/',
        eventTypes: ['issues'],
      });
      const disabled = await createEndpoint(db, boxes, { tenant: tenant.id, url: 'https://d.example/' });
      await db.query('update core.endpoints set enabled = false where id = $1', [disabled.endpoint.id]);
      const other = await setup();
      await createEndpoint(db, boxes, { tenant: other.tenant.id, url: 'https://other.example/' });

      const res = await recordEvent(db, { sourceId: source.id, type: 'push', data: body('{"a":1}') });
      expect(res.duplicate).toBe(false);
      expect(res.event).toMatchObject({
        tenantId: tenant.id,
        sourceId: source.id,
        source: `/sources/${source.id}`,
        type: 'push',
        datacontenttype: 'application/octet-stream',
        providerDeliveryId: null,
      });
      expect(Buffer.from(res.event.data).toString()).toBe('{"a":1}');
      const deliveries = (await searchDeliveries(db, tenant.id, { eventId: res.event.id })).items;
      expect(deliveries.map((d) => d.endpointId).sort()).toEqual([all.endpoint.id, push.endpoint.id].sort());
      expect(deliveries.map((d) => d.id).sort()).toEqual([...res.deliveryIds].sort());
      expect(deliveries.every((d) => d.state === 'pending' && d.attempts === 0)).toBe(true);
      expect((await searchDeliveries(db, other.tenant.id)).items).toEqual([]);
      expect((await searchEvents(db, tenant.id)).items.map((e) => e.id)).toEqual([res.event.id]);
    });

    it('returns the original event with duplicate: true for a repeated provider delivery id', async () => {
      const { tenant, source } = await setup();
      await createEndpoint(db, boxes, { tenant: tenant.id, url: 'https://a.example/' });
      const first = await recordEvent(db, {
        sourceId: source.id,
        type: 'push',
        data: body('1'),
        providerDeliveryId: 'd-1',
      });
      const again = await recordEvent(db, {
        sourceId: source.id,
        type: 'push',
        data: body('2'),
        providerDeliveryId: 'd-1',
      });
      expect(again).toEqual({ ...first, duplicate: true });
      expect((await searchDeliveries(db, tenant.id)).items).toHaveLength(1);
    });

    it('stores one event for 20 concurrent RecordEvent calls with the same delivery id', async () => {
      const { tenant, source } = await setup();
      await createEndpoint(db, boxes, { tenant: tenant.id, url: 'https://a.example/' });
      await createEndpoint(db, boxes, { tenant: tenant.id, url: 'https://b.example/' });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          recordEvent(db, {
            sourceId: source.id,
            type: 'push',
            data: body(String(i)),
            providerDeliveryId: 'same',
          }),
        ),
      );
      expect(new Set(results.map((r) => r.event.id)).size).toBe(1);
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect((await searchEvents(db, tenant.id)).items).toHaveLength(1);
      expect((await searchDeliveries(db, tenant.id)).items).toHaveLength(2);
    });

    it('stores separate events when no provider delivery id is given', async () => {
      const { tenant, source } = await setup();
      await recordEvent(db, { sourceId: source.id, type: 'push', data: body('1') });
      await recordEvent(db, { sourceId: source.id, type: 'push', data: body('1') });
      expect((await searchEvents(db, tenant.id)).items).toHaveLength(2);
    });

    it('refuses an unknown source and an empty type', async () => {
      const { source } = await setup();
      await expect(
        recordEvent(db, { sourceId: 'src_x', type: 'push', data: body('') }),
      ).rejects.toMatchObject({
        code: 'ERR_NOT_FOUND',
        reason: 'source_not_found',
      });
      await expect(recordEvent(db, { sourceId: source.id, type: '', data: body('') })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        reason: 'invalid_event_type',
      });
    });
  });

  describe('leases and attempts', () => {
    /** A tenant with one endpoint and one recorded event (so one due delivery). */
    const oneDelivery = async () => {
      const { tenant, source } = await setup();
      const ep = await createEndpoint(db, boxes, { tenant: tenant.id, url: 'https://target.example/hook' });
      const rec = await recordEvent(db, {
        sourceId: source.id,
        type: 'push',
        data: body('{}'),
        providerDeliveryId: unique(),
      });
      return { tenant, ep, rec };
    };
    const leaseOne = async (eventId: string) => {
      const leased = await leaseDeliveries(db, boxes, {
        eventId,
        owner: 'spiffe://zenmesh.local/ns/zenmesh/sa/egress',
      });
      expect(leased).toHaveLength(1);
      return leased[0] as NonNullable<(typeof leased)[0]>;
    };

    it('leases a due delivery with its event, endpoint url and opened signing secret, once', async () => {
      const { ep, rec } = await oneDelivery();
      const leased = await leaseOne(rec.event.id);
      expect(leased).toMatchObject({
        delivery: { id: rec.deliveryIds[0], state: 'pending', attempts: 0 },
        event: { id: rec.event.id, type: 'push' },
        endpointUrl: 'https://target.example/hook',
        signingSecrets: [ep.signingSecret],
      });
      expect(leased.leaseToken).toMatch(/^[0-9a-f]{32}$/);
      expect(await leaseDeliveries(db, boxes, { eventId: rec.event.id })).toEqual([]);
    });

    it('hands disjoint deliveries to concurrent leasers', async () => {
      const { tenant, source } = await setup();
      for (let i = 0; i < 5; i++)
        await createEndpoint(db, boxes, { tenant: tenant.id, url: `https://t${i}.example/` });
      const rec = await recordEvent(db, { sourceId: source.id, type: 'push', data: body('{}') });
      const batches = await Promise.all(
        Array.from({ length: 4 }, () => leaseDeliveries(db, boxes, { eventId: rec.event.id, max: 2 })),
      );
      const ids = batches.flat().map((l) => l.delivery.id);
      // A leaser that finds another lease round under way gets nothing rather than waiting (try-lock);
      // the ones left are handed out by the next calls. Never one delivery twice.
      for (let round = 0; round < 10 && ids.length < 5; round++) {
        ids.push(
          ...(await leaseDeliveries(db, boxes, { eventId: rec.event.id, max: 2 })).map((l) => l.delivery.id),
        );
      }
      expect(ids).toHaveLength(5);
      expect(new Set(ids).size).toBe(5);
    });

    it('marks a delivery succeeded on 2xx and records the attempt', async () => {
      const { tenant, rec } = await oneDelivery();
      const leased = await leaseOne(rec.event.id);
      const done = await reportAttempt(db, {
        deliveryId: leased.delivery.id,
        leaseToken: leased.leaseToken,
        statusCode: 204,
        durationMs: 12,
      });
      expect(done).toMatchObject({
        state: 'succeeded',
        attempts: 1,
        lastStatusCode: 204,
        nextAttemptAt: null,
      });
      expect(await listAttempts(db, tenant.id, leased.delivery.id)).toMatchObject([
        { attempt: 1, statusCode: 204, durationMs: 12, error: '' },
      ]);
      // The lease was consumed: the same token cannot report again.
      await expect(
        reportAttempt(db, { deliveryId: leased.delivery.id, leaseToken: leased.leaseToken, statusCode: 200 }),
      ).rejects.toMatchObject({ code: 'ERR_FAILED_PRECONDITION', reason: 'lease_lost' });
    });

    it.each([500, 410, 301, 0])('schedules a retry after status %i, 5 s ±20 % later', async (statusCode) => {
      const { rec } = await oneDelivery();
      const leased = await leaseOne(rec.event.id);
      const d = await reportAttempt(db, {
        deliveryId: leased.delivery.id,
        leaseToken: leased.leaseToken,
        statusCode,
        error: 'boom',
      });
      expect(d).toMatchObject({ state: 'retrying', attempts: 1, lastError: 'boom' });
      const delayMs = (d.nextAttemptAt?.getTime() ?? 0) - d.updatedAt.getTime();
      expect(delayMs).toBeGreaterThanOrEqual(4000);
      expect(delayMs).toBeLessThanOrEqual(6000);
      expect(await leaseDeliveries(db, boxes, { eventId: rec.event.id })).toEqual([]);
    });

    it('honours Retry-After as a floor, capped at 24 h', async () => {
      const { rec } = await oneDelivery();
      let leased = await leaseOne(rec.event.id);
      let d = await reportAttempt(
        db,
        { deliveryId: leased.delivery.id, leaseToken: leased.leaseToken, statusCode: 429, retryAfterS: 3600 },
        { random: () => 0.5 },
      );
      expect((d.nextAttemptAt?.getTime() ?? 0) - d.updatedAt.getTime()).toBe(3_600_000);
      await makeDue(rec.event.id);
      leased = await leaseOne(rec.event.id);
      d = await reportAttempt(
        db,
        {
          deliveryId: leased.delivery.id,
          leaseToken: leased.leaseToken,
          statusCode: 503,
          retryAfterS: 9_999_999,
        },
        { random: () => 0.5 },
      );
      expect((d.nextAttemptAt?.getTime() ?? 0) - d.updatedAt.getTime()).toBe(86_400_000);
    });

    it('refuses a stale lease token with lease_lost after the lease expired and was re-issued', async () => {
      const { rec } = await oneDelivery();
      const first = await leaseOne(rec.event.id);
      await db.query(
        `update core.deliveries set lease_expires_at = now() - interval '1 second' where id = $1`,
        [first.delivery.id],
      );
      // Expired but not yet re-leased: already refused.
      await expect(
        reportAttempt(db, { deliveryId: first.delivery.id, leaseToken: first.leaseToken, statusCode: 200 }),
      ).rejects.toMatchObject({ code: 'ERR_FAILED_PRECONDITION', reason: 'lease_lost' });
      const second = await leaseOne(rec.event.id);
      expect(second.leaseToken).not.toBe(first.leaseToken);
      await expect(
        reportAttempt(db, { deliveryId: first.delivery.id, leaseToken: first.leaseToken, statusCode: 200 }),
      ).rejects.toMatchObject({ code: 'ERR_FAILED_PRECONDITION', reason: 'lease_lost' });
      await expect(
        reportAttempt(db, { deliveryId: first.delivery.id, leaseToken: 'f'.repeat(32), statusCode: 200 }),
      ).rejects.toMatchObject({ code: 'ERR_FAILED_PRECONDITION', reason: 'lease_lost' });
      await expect(
        reportAttempt(db, { deliveryId: second.delivery.id, leaseToken: second.leaseToken, statusCode: 200 }),
      ).resolves.toMatchObject({ state: 'succeeded', attempts: 1 });
    });

    it('answers delivery_not_found for an unknown delivery', async () => {
      await expect(
        reportAttempt(db, { deliveryId: 'dlv_nope', leaseToken: 'x', statusCode: 200 }),
      ).rejects.toMatchObject({
        code: 'ERR_NOT_FOUND',
        reason: 'delivery_not_found',
      });
    });

    it('marks the delivery dead after the last attempt fails, with every attempt recorded', async () => {
      const { tenant, rec } = await oneDelivery();
      let last: Awaited<ReturnType<typeof reportAttempt>> | undefined;
      for (let i = 1; i <= MAX_ATTEMPTS; i++) {
        await makeDue(rec.event.id);
        const leased = await leaseOne(rec.event.id);
        last = await reportAttempt(db, {
          deliveryId: leased.delivery.id,
          leaseToken: leased.leaseToken,
          statusCode: 500,
        });
        expect(last.attempts).toBe(i);
        expect(last.state).toBe(i < MAX_ATTEMPTS ? 'retrying' : 'dead');
      }
      expect(last).toMatchObject({ state: 'dead', attempts: 15, nextAttemptAt: null });
      await makeDue(rec.event.id);
      expect(await leaseDeliveries(db, boxes, { eventId: rec.event.id })).toEqual([]);
      const attempts = await listAttempts(db, tenant.id, rec.deliveryIds[0] ?? '');
      expect(attempts.map((a) => a.attempt)).toEqual(Array.from({ length: MAX_ATTEMPTS }, (_, i) => i + 1));
    });
  });

  describe('row-level security', () => {
    const role = 'zm_backend_rls_probe';
    beforeAll(async () => {
      // Superusers bypass RLS, so the probe runs as a plain role (cluster-wide: may exist from a previous run).
      await db.exec(
        `do $$ begin create role ${role} nologin; exception when duplicate_object then null; end $$`,
      );
      await db.exec(
        `grant usage on schema core to ${role}; grant select, insert on all tables in schema core to ${role};`,
      );
    });

    it("with tenant A's setting, tenant B's rows are invisible and cannot be written", async () => {
      const a = await setup();
      const b = await setup();
      for (const t of [a, b]) {
        await createEndpoint(db, boxes, { tenant: t.tenant.id, url: 'https://x.example/' });
        await recordEvent(db, { sourceId: t.source.id, type: 'push', data: body('{}') });
      }
      const seen = await db.withTenant(a.tenant.id, async (tx) => {
        await tx.exec(`set local role ${role}`);
        const out: Record<string, string[]> = {};
        for (const table of ['tenants', 'sources', 'endpoints', 'events', 'deliveries']) {
          const col = table === 'tenants' ? 'id' : 'tenant_id';
          out[table] = (
            await tx.query<{ t: string }>(`select distinct ${col} as t from core.${table}`)
          ).rows.map((r) => r.t);
        }
        return out;
      });
      for (const ids of Object.values(seen)) expect(ids).toEqual([a.tenant.id]);

      const err = await db
        .withTenant(a.tenant.id, async (tx) => {
          await tx.exec(`set local role ${role}`);
          await tx.query(
            `insert into core.endpoints (id, tenant_id, url, secret_sealed) values ('ep_probe', $1, 'https://x/', 'x')`,
            [b.tenant.id],
          );
        })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_PERMISSION_DENIED', sqlState: '42501' });
    });

    it('shows nothing at all without a tenant setting', async () => {
      await setup();
      const count = await db.transaction(async (tx) => {
        await tx.exec(`set local role ${role}`);
        return (await tx.query<{ n: number }>('select count(*)::int as n from core.sources')).rows[0]?.n;
      });
      expect(count).toBe(0);
    });

    it('keeps the cross-tenant functions away from PUBLIC', async () => {
      const err = await db
        .transaction(async (tx) => {
          await tx.exec(`set local role ${role}`);
          await tx.query('select * from core.list_tenants()');
        })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_PERMISSION_DENIED' });
    });
  });
});
