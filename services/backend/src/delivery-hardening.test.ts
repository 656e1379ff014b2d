import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '@zenmesh/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from './audit-verify.js';
import { createBackend } from './backend.js';
import { MAX_ATTEMPTS } from './backoff.js';
import { leaseDeliveries } from './delivery-lease.js';
import { reportAttempt } from './delivery-report.js';
import { createEndpoint, listEndpoints, rotateEndpointSecret, updateEndpoint } from './endpoints.js';
import { recordEvent } from './event-batch.js';
import { replayDelivery, replayEndpoint, replayEvent } from './replay.js';
import { searchDeliveries } from './search.js';
import { createSecretBoxes } from './secrets.js';
import { createSource } from './sources.js';
import { createTenant } from './tenants.js';
import { DATABASE_KINDS } from './test-support/databases.js';

const masterKey = randomBytes(32);
const boxes = createSecretBoxes(masterKey);
const data = new TextEncoder().encode('{"n":1}');

/** A self-signed client identity made by openssl, as a customer would bring one. */
function clientIdentity(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'zm-client-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=zenmesh-client',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const backends = DATABASE_KINDS;

describe.each(backends)('durable delivery on $name (as zenmesh_app)', ({ open }) => {
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

  const setup = async (endpoint: { maxConcurrency?: number; cloudeventsMode?: string } = {}) => {
    const tenant = await createTenant(db, `d-${randomBytes(4).toString('hex')}`);
    const source = await createSource(db, boxes, {
      tenant: tenant.id,
      provider: 'generic',
      name: 's',
      secret: 'x',
    });
    const ep = await createEndpoint(db, boxes, {
      tenant: tenant.id,
      url: 'https://t.example/h',
      ...endpoint,
    });
    const send = async () => recordEvent(db, { sourceId: source.id, type: 'order.created', data });
    return { tenant, source, endpoint: ep.endpoint, signingSecret: ep.signingSecret, send };
  };
  /** Stands in for waiting out the backoff: the tenant's waiting deliveries become due now. */
  const makeDue = (tenantId: string) =>
    db.withTenant(tenantId, (tx) =>
      tx.query(
        `update core.deliveries set next_attempt_at = now() - interval '1 second'
                 where tenant_id = $1 and state in ('pending', 'retrying')`,
        [tenantId],
      ),
    );
  const leaseAll = (tenantId: string) =>
    db.withTenant(tenantId, async () => undefined).then(() => leaseDeliveries(db, boxes, { max: 100 }));
  const fail = async (tenantId: string, status: number) => {
    await makeDue(tenantId);
    const leased = (await leaseAll(tenantId)).filter((l) => l.delivery.tenantId === tenantId);
    return Promise.all(
      leased.map((l) =>
        reportAttempt(db, { deliveryId: l.delivery.id, leaseToken: l.leaseToken, statusCode: status }),
      ),
    );
  };

  it('never leases more deliveries of an endpoint than its concurrency limit, even across lease calls', async () => {
    const t = await setup({ maxConcurrency: 3 });
    for (let i = 0; i < 8; i++) await t.send();
    const first = (await leaseAll(t.tenant.id)).filter((l) => l.delivery.tenantId === t.tenant.id);
    const second = (await leaseAll(t.tenant.id)).filter((l) => l.delivery.tenantId === t.tenant.id);
    expect([first.length, second.length]).toEqual([3, 0]);
    const one = first[0];
    await reportAttempt(db, {
      deliveryId: one?.delivery.id ?? '',
      leaseToken: one?.leaseToken ?? '',
      statusCode: 200,
    });
    const third = (await leaseAll(t.tenant.id)).filter((l) => l.delivery.tenantId === t.tenant.id);
    expect(third.length).toBe(1);
  });

  it('hands egress the endpoint mode and its mTLS identity, the key opened from its sealed form', async () => {
    const id = clientIdentity();
    const t = await setup({ cloudeventsMode: 'structured' });
    await updateEndpoint(db, boxes, {
      tenant: t.tenant.id,
      endpointId: t.endpoint.id,
      clientCertPem: id.cert,
      clientKeyPem: id.key,
    });
    const rec = await t.send();
    const [leased] = await leaseDeliveries(db, boxes, { eventId: rec.event.id });
    expect(leased).toMatchObject({
      cloudeventsMode: 'structured',
      clientCertPem: id.cert,
      clientKeyPem: id.key,
    });
    const stored = await db.withTenant(t.tenant.id, (tx) =>
      tx.query<{ k: string }>('select client_key_sealed as k from core.endpoints where id = $1', [
        t.endpoint.id,
      ]),
    );
    expect(stored.rows[0]?.k).not.toContain('PRIVATE KEY');
    expect((await listEndpoints(db, t.tenant.id))[0]?.hasClientCert).toBe(true);
  });

  it.each([
    [{ clientCertPem: 'x' }, 'client_cert_and_key_required'],
    [{ clientCertPem: 'not a pem', clientKeyPem: 'not a pem' }, 'invalid_client_cert'],
    [{ maxConcurrency: 1001 }, 'invalid_max_concurrency'],
    [{ cloudeventsMode: 'batch' }, 'invalid_cloudevents_mode'],
  ])('refuses endpoint settings %j with %s', async (settings, reason) => {
    const t = await setup();
    await expect(
      createEndpoint(db, boxes, { tenant: t.tenant.id, url: 'https://x.example/', ...settings }),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      reason,
    });
  });

  it('refuses a client key that does not match the certificate: client_key_mismatch', async () => {
    const a = clientIdentity();
    const b = clientIdentity();
    const t = await setup();
    await expect(
      createEndpoint(db, boxes, {
        tenant: t.tenant.id,
        url: 'https://x.example/',
        clientCertPem: a.cert,
        clientKeyPem: b.key,
      }),
    ).rejects.toMatchObject({ reason: 'client_key_mismatch' });
  });

  it('410 Gone disables the endpoint at once (audited); its deliveries are kept and resume on enable', async () => {
    const t = await setup();
    await t.send();
    await t.send();
    await makeDue(t.tenant.id);
    const leased = (await leaseAll(t.tenant.id)).filter((l) => l.delivery.tenantId === t.tenant.id);
    const first = leased[0];
    await reportAttempt(db, {
      deliveryId: first?.delivery.id ?? '',
      leaseToken: first?.leaseToken ?? '',
      statusCode: 410,
    });
    const [endpoint] = await listEndpoints(db, t.tenant.id);
    expect(endpoint).toMatchObject({ enabled: false, disabledReason: 'gone' });
    const audit = await listAudit(db, t.tenant.id);
    expect(audit.at(-1)).toMatchObject({
      action: 'endpoint.disable',
      actor: 'system',
      after: expect.objectContaining({ disabledReason: 'gone' }),
    });
    // The other lease still reports; then nothing more is leased while disabled, and nothing is dropped.
    const other = leased[1];
    await reportAttempt(db, {
      deliveryId: other?.delivery.id ?? '',
      leaseToken: other?.leaseToken ?? '',
      statusCode: 500,
    });
    await makeDue(t.tenant.id);
    expect((await leaseAll(t.tenant.id)).filter((l) => l.delivery.tenantId === t.tenant.id)).toHaveLength(0);
    expect((await searchDeliveries(db, t.tenant.id)).items.map((d) => d.state)).toEqual([
      'retrying',
      'retrying',
    ]);
    await expect(
      replayEndpoint(db, { tenant: t.tenant.id, endpointId: t.endpoint.id, since: new Date(0) }),
    ).rejects.toMatchObject({
      code: 'ERR_FAILED_PRECONDITION',
      reason: 'endpoint_disabled',
    });
    await updateEndpoint(db, boxes, { tenant: t.tenant.id, endpointId: t.endpoint.id, enabled: true });
    expect((await listEndpoints(db, t.tenant.id))[0]).toMatchObject({
      enabled: true,
      disabledReason: null,
      consecutiveFailures: 0,
    });
    expect((await leaseAll(t.tenant.id)).filter((l) => l.delivery.tenantId === t.tenant.id)).toHaveLength(2);
  });

  it('disables an endpoint that keeps failing (streak long and old enough), keeping its deliveries', async () => {
    const t = await setup();
    await t.send();
    const health = { disableAfterMs: 0, disableAfterFailures: 3 };
    for (let i = 0; i < 3; i++) {
      await makeDue(t.tenant.id);
      const [l] = (await leaseAll(t.tenant.id)).filter((x) => x.delivery.tenantId === t.tenant.id);
      await reportAttempt(
        db,
        { deliveryId: l?.delivery.id ?? '', leaseToken: l?.leaseToken ?? '', statusCode: 503 },
        { health },
      );
    }
    expect((await listEndpoints(db, t.tenant.id))[0]).toMatchObject({
      enabled: false,
      disabledReason: 'failing',
      consecutiveFailures: 3,
    });
    expect((await searchDeliveries(db, t.tenant.id)).items[0]).toMatchObject({
      state: 'retrying',
      attempts: 3,
    });
  });

  it('a success clears the failure streak', async () => {
    const t = await setup();
    await t.send();
    await fail(t.tenant.id, 500);
    expect((await listEndpoints(db, t.tenant.id))[0]?.consecutiveFailures).toBe(1);
    await makeDue(t.tenant.id);
    const [l] = (await leaseAll(t.tenant.id)).filter((x) => x.delivery.tenantId === t.tenant.id);
    await reportAttempt(db, {
      deliveryId: l?.delivery.id ?? '',
      leaseToken: l?.leaseToken ?? '',
      statusCode: 204,
    });
    expect((await listEndpoints(db, t.tenant.id))[0]).toMatchObject({
      consecutiveFailures: 0,
      failingSince: null,
    });
  });

  it('replays a dead delivery with a fresh schedule, keeping attempt numbering and history', async () => {
    const t = await setup();
    await t.send();
    const health = { disableAfterMs: Number.MAX_SAFE_INTEGER, disableAfterFailures: 1000 };
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      await makeDue(t.tenant.id);
      const [l] = (await leaseAll(t.tenant.id)).filter((x) => x.delivery.tenantId === t.tenant.id);
      await reportAttempt(
        db,
        { deliveryId: l?.delivery.id ?? '', leaseToken: l?.leaseToken ?? '', statusCode: 500 },
        { health },
      );
    }
    const [dead] = (await searchDeliveries(db, t.tenant.id)).items;
    expect(dead).toMatchObject({ state: 'dead', attempts: MAX_ATTEMPTS, deadAt: expect.any(Date) });
    const replayed = await replayDelivery(db, {
      tenant: t.tenant.id,
      deliveryId: dead?.id ?? '',
      audit: { actor: 'api_key:k' },
    });
    expect(replayed).toMatchObject({ state: 'pending', attempts: MAX_ATTEMPTS, replays: 1, deadAt: null });
    // One more failure is attempt MAX+1 but only the first of the new schedule: retrying, not dead.
    const [l] = (await leaseAll(t.tenant.id)).filter((x) => x.delivery.tenantId === t.tenant.id);
    const after = await reportAttempt(
      db,
      { deliveryId: l?.delivery.id ?? '', leaseToken: l?.leaseToken ?? '', statusCode: 500 },
      { health },
    );
    expect(after).toMatchObject({ state: 'retrying', attempts: MAX_ATTEMPTS + 1 });
    expect((await listAudit(db, t.tenant.id)).at(-1)).toMatchObject({
      action: 'delivery.replay',
      actor: 'api_key:k',
      before: { state: 'dead', attempts: MAX_ATTEMPTS, replays: 0 },
    });
  });

  it('refuses to replay a delivery in flight (delivery_in_flight) or one that does not exist', async () => {
    const t = await setup();
    const rec = await t.send();
    await leaseDeliveries(db, boxes, { eventId: rec.event.id });
    await expect(
      replayDelivery(db, { tenant: t.tenant.id, deliveryId: rec.deliveryIds[0] ?? '' }),
    ).rejects.toMatchObject({
      code: 'ERR_FAILED_PRECONDITION',
      reason: 'delivery_in_flight',
    });
    await expect(replayDelivery(db, { tenant: t.tenant.id, deliveryId: 'dlv_nope' })).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
      reason: 'delivery_not_found',
    });
    const other = await setup();
    // Another tenant's delivery id is simply not found in this tenant.
    await expect(
      replayDelivery(db, { tenant: other.tenant.id, deliveryId: rec.deliveryIds[0] ?? '' }),
    ).rejects.toMatchObject({
      reason: 'delivery_not_found',
    });
  });

  it('replays every dead delivery of an endpoint whose event arrived since a time, and only those', async () => {
    const t = await setup();
    const old = await t.send();
    // Events are immutable for the application role, so "older" is made by waiting a few ms.
    await new Promise((r) => setTimeout(r, 5));
    const recent = await t.send();
    const alive = await t.send();
    expect(recent.event.receivedAt.getTime()).toBeGreaterThan(old.event.receivedAt.getTime());
    await db.withTenant(t.tenant.id, async (tx) => {
      await tx.query(
        `update core.deliveries set state = 'dead', dead_at = now(), next_attempt_at = null where event_id = any($1)`,
        [[old.event.id, recent.event.id]],
      );
    });
    await expect(
      replayEndpoint(db, { tenant: t.tenant.id, endpointId: t.endpoint.id, since: undefined }),
    ).rejects.toMatchObject({
      reason: 'since_required',
    });
    const res = await replayEndpoint(db, {
      tenant: t.tenant.id,
      endpointId: t.endpoint.id,
      since: new Date(old.event.receivedAt.getTime() + 1),
    });
    expect(res.deliveryIds).toEqual(recent.deliveryIds);
    const states = Object.fromEntries(
      (await searchDeliveries(db, t.tenant.id)).items.map((d) => [d.eventId, d.state]),
    );
    expect(states).toEqual({
      [old.event.id]: 'dead',
      [recent.event.id]: 'pending',
      [alive.event.id]: 'pending',
    });
  });

  it('replays an event to every endpoint that matches now, creating deliveries for new endpoints', async () => {
    const t = await setup();
    const rec = await t.send();
    const [l] = await leaseDeliveries(db, boxes, { eventId: rec.event.id });
    await reportAttempt(db, {
      deliveryId: l?.delivery.id ?? '',
      leaseToken: l?.leaseToken ?? '',
      statusCode: 200,
    });
    const added = await createEndpoint(db, boxes, { tenant: t.tenant.id, url: 'https://second.example/' });
    await createEndpoint(db, boxes, {
      tenant: t.tenant.id,
      url: 'https://other.example/',
      eventTypes: ['other.type'],
    });
    const res = await replayEvent(db, { tenant: t.tenant.id, eventId: rec.event.id });
    expect(res.deliveryIds).toHaveLength(2);
    expect(res.skippedInFlight).toEqual([]);
    const byEndpoint = Object.fromEntries(
      (await searchDeliveries(db, t.tenant.id, { eventId: rec.event.id })).items.map((d) => [
        d.endpointId,
        [d.state, d.replays],
      ]),
    );
    expect(byEndpoint).toEqual({ [t.endpoint.id]: ['pending', 1], [added.endpoint.id]: ['pending', 0] });
    await expect(replayEvent(db, { tenant: t.tenant.id, eventId: 'evt_nope' })).rejects.toMatchObject({
      reason: 'event_not_found',
    });
  });

  it('rotates the signing secret: both sign until the previous one expires', async () => {
    const t = await setup();
    const rotated = await rotateEndpointSecret(db, boxes, {
      tenant: t.tenant.id,
      endpointId: t.endpoint.id,
      previousValidS: 60,
    });
    expect(rotated.signingSecret).toMatch(/^whsec_/);
    const rec = await t.send();
    const [l] = await leaseDeliveries(db, boxes, { eventId: rec.event.id });
    expect(l?.signingSecrets).toEqual([rotated.signingSecret, t.signingSecret]);
    await db.withTenant(t.tenant.id, (tx) =>
      tx.query(
        `update core.endpoints set previous_secret_expires_at = now() - interval '1 second' where id = $1`,
        [t.endpoint.id],
      ),
    );
    await reportAttempt(db, {
      deliveryId: l?.delivery.id ?? '',
      leaseToken: l?.leaseToken ?? '',
      statusCode: 500,
    });
    await makeDue(t.tenant.id);
    const [again] = await leaseDeliveries(db, boxes, { eventId: rec.event.id });
    expect(again?.signingSecrets).toEqual([rotated.signingSecret]);
  });
});
